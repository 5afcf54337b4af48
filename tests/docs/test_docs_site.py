"""The documentation site builds with `mkdocs build --strict`: no warning, every page in the nav,
every link and anchor resolved (mkdocs.yml's `validation`), the README as its home page and the
reference reports beside the pages that link to them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from markdown_pages import DOCS, ROOT


def build(root: Path, site: Path) -> subprocess.CompletedProcess:
    # Not --quiet: it drops warnings before strict mode counts them, and the build passes.
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict"]
    cmd += ["--config-file", str(root / "mkdocs.yml"), "--site-dir", str(site)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=root)


def test_the_site_builds_strict_without_a_warning(tmp_path):
    done = build(ROOT, tmp_path / "site")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "WARNING" not in done.stderr, done.stderr[-3000:]
    site = tmp_path / "site"
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "Can this architecture track state" in home  # the README is the home page
    for page in DOCS.glob("*.md"):
        name = page.stem
        assert (site / "docs" / name / "index.html").exists() or name == "index", name
    assert (site / "docs" / "index.html").exists()
    assert (site / "results/reference/quick/figures/accuracy.png").exists()
    assert (site / "results/reference/quick/report/index.html").exists()
    tasks = (site / "docs/tasks/index.html").read_text(encoding="utf-8")
    assert 'href="../critical-time/' in (site / "docs/plots/index.html").read_text()
    assert "<table>" in tasks and "Our definition" in tasks


def _copy(tmp_path: Path) -> Path:
    """The site's sources in a temporary folder; results/reference is linked, not copied."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("mkdocs.yml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, root / name)
    for name in ("docs", "examples"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "results").mkdir()
    os.symlink(ROOT / "results" / "reference", root / "results" / "reference")
    return root


def test_a_broken_anchor_or_an_unlisted_page_fails_the_build(tmp_path):
    root = _copy(tmp_path)
    tasks = root / "docs" / "tasks.md"
    tasks.write_text(tasks.read_text() + "\n[gone](critical-time.md#no-such-heading)\n")
    (root / "docs" / "orphan.md").write_text("# Orphan\n")
    done = build(root, tmp_path / "site")
    assert done.returncode != 0
    assert "#no-such-heading" in done.stderr
    assert "orphan.md" in done.stderr  # a page missing from the nav is an error too

"""Every relative link and anchor of the README and of docs/ resolves in the repository, as GitHub
resolves it (the mkdocs build checks the same links on the site, tests/docs/test_docs_site.py);
and the README stays a landing page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_pages import README, ROOT, anchors, github_slug, links, pages, rel

README_LIMIT = 15 * 1024  # bytes: a landing page; every other topic lives in docs/


def _broken(page: Path, root: Path = ROOT) -> list[str]:
    """'target: why' for each relative link of `page` that does not resolve inside `root`."""
    bad = []
    for target in links(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.is_relative_to(root):
            bad.append(f"{target}: leaves the repository")
        elif not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix != ".md":
            bad.append(f"{target}: an anchor into a file that has no headings")
        elif anchor and anchor not in anchors(dest):
            bad.append(f"{target}: {dest.relative_to(root)} has no heading with that anchor")
    return bad


@pytest.mark.parametrize("page", pages(), ids=rel)
def test_every_relative_link_and_anchor_resolves(page):
    assert _broken(page) == []


def test_the_link_check_finds_broken_links_and_anchors(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## A `code` heading: t\\*\n")
    page.write_text(
        "[ok](other.md#a-code-heading-t) [gone](missing.md) [no anchor](other.md#nope)\n"
        "`[in code](missing.md)`\n\n```bash\n[in a block](missing.md)\n```\n"
    )
    found = [b.split(":")[0] for b in _broken(page, root=tmp_path)]
    assert found == ["missing.md", "other.md#nope"]


def test_github_slugs_of_the_headings_these_pages_use():
    assert github_slug("Critical time t\\*") == "critical-time-t"
    assert github_slug("The `[probe]` table") == "the-probe-table"
    assert github_slug("DeltaNet's chunked delta rule") == "deltanets-chunked-delta-rule"
    assert github_slug("Scaling out") == "scaling-out"


def test_the_readme_is_a_landing_page():
    size = README.stat().st_size
    assert size < README_LIMIT, f"README.md is {size} bytes; move a topic to docs/"


def test_the_readme_links_every_docs_page():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in links(README.read_text())}
    missing = [rel(p) for p in pages()[1:] if p.resolve() not in linked]
    assert missing == []


@pytest.mark.parametrize("page", pages(), ids=rel)
def test_lists_start_after_a_blank_line(page):
    """GitHub starts a list right after a paragraph line; mkdocs' Markdown runs it into the
    paragraph, so a list needs a blank line before it to render on the site."""
    lines, fence, bad = page.read_text(encoding="utf-8").split("\n"), False, []
    for i, line in enumerate(lines):
        fence ^= line.startswith("```")
        starts_list = re.match(r"(- |\* |\d+\. )", line) and not fence
        before = lines[i - 1] if i else ""
        if starts_list and before.strip() and not re.match(r"(- |\* |\d+\. |  )", before):
            bad.append(f"line {i + 1}: {line[:50]}")
    assert bad == []

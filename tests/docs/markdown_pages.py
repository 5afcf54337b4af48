"""Reading the README and the docs/ pages as GitHub shows them: code blocks, links, anchors.

A plain module (not a conftest) so the docs tests can import it; the tests that run code out of a
page (tests/models/test_readme_adapter.py, tests/tasks/test_outside_task.py) read their page
themselves.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
# [text](target) and ![alt](target); the text may run over a line break.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"`[^`]+`")


def pages() -> list[Path]:
    """The README and every page of docs/."""
    return [README, *sorted(DOCS.glob("*.md"))]


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def fenced_blocks(text: str, lang: str | None = None) -> list[str]:
    """The bodies of the fenced code blocks (of one language when `lang` is given)."""
    return [body for tag, body in FENCE.findall(text) if lang is None or tag == lang]


def prose(text: str) -> str:
    """The text outside fenced blocks and inline code, where links and headings live."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def headings(text: str) -> list[str]:
    """The text of every ATX heading outside fenced blocks."""
    return [m.group(2) for m in re.finditer(r"^(#{1,6}) +(.+?) *#*$", FENCE.sub("", text), re.M)]


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: markup dropped, lower case, punctuation removed,
    spaces to hyphens (mkdocs' toc gives the same for the headings these pages use)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("\\", "").replace("`", "").strip().lower()
    kept = "".join(
        c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN"
    )  # letters, numbers, spaces, hyphens, underscores
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor of a page; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    out = set()
    for heading in headings(path.read_text(encoding="utf-8")):
        slug = github_slug(heading)
        n = seen.get(slug, 0)
        out.add(slug if n == 0 else f"{slug}-{n}")
        seen[slug] = n + 1
    return out


def links(text: str) -> list[str]:
    """The target of every markdown link and image in the prose."""
    return LINK.findall(prose(text))


def section(path: Path, title: str) -> str:
    """The text under `## title`, up to the next heading of level 2."""
    text = path.read_text(encoding="utf-8")
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]

"""Rendering report blocks: markdown with PNG figures beside it, or one self-contained HTML page.

Every value that comes from a run (labels, names, errors, the manifest's run id) is rendered
inert: escaped HTML in the page, and in markdown no tag, link, image or code span of its own,
so a label cannot run a script or load a remote image where the report is viewed.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd
from statebench.bench.plots import figure_bytes, save_figure
from statebench.bench.report.blocks import Block


def markdown_text(value: object) -> str:
    """A value from a run (label, name, error) as inert markdown: no HTML tag or autolink
    (`<` written as `&lt;`), no link or image (`[` `]` escaped), no code span (`` ` ``), no
    table cell break (`|`), on one line."""
    text = str(value).replace("\\", "\\\\").replace("\n", " ").replace("\r", " ")
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    for mark in "[]`|":
        text = text.replace(mark, "\\" + mark)
    return text


def _prose(text: str) -> str:
    """The report's own text, whose `code` spans are meant: outside them, as markdown_text
    (a label quoted in it stays inert); inside them, untouched (a code span shows any text)."""
    pieces = text.split("`")
    if len(pieces) % 2 == 0:  # an odd backtick: no span is trusted
        return markdown_text(text)
    return "`".join(
        p if i % 2 else markdown_text(p).replace("\\`", "`") for i, p in enumerate(pieces)
    )


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in `text`, so the text cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def markdown_table(table: pd.DataFrame) -> str:
    def cell(value) -> str:
        return markdown_text(value)

    header = "| " + " | ".join(cell(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(False)]
    return "\n".join([header, rule, *body])


def render_markdown(blocks: list[Block], out_file: Path) -> str:
    """Markdown text; figures are written to figures/<name>.png (+ .svg) beside out_file."""
    parts = []
    for block in blocks:
        if block.kind == "heading":
            parts.append("#" * block.level + " " + markdown_text(block.text))
        elif block.kind == "text":
            parts.append(_prose(block.text))
        elif block.kind == "table":
            parts.append(markdown_table(block.table))
        elif block.kind == "code":
            fence = _fence(block.text)
            parts.append(f"{fence}{block.name}\n{block.text.rstrip()}\n{fence}")
        elif block.kind == "figure":
            save_figure(block.figure, out_file.parent / "figures" / block.name)
            caption = block.text.replace("*", "\\*")  # t* must not open an emphasis
            parts.append(f"![{block.name}](figures/{block.name}.png)\n\n*{caption}*")
    return "\n\n".join(parts) + "\n"


HTML_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; color: #222;
       line-height: 1.45; padding: 0 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.7em; text-align: left; }
th { border-bottom: 2px solid #888; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; }
figcaption { font-size: 0.9em; color: #555; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 0.85em; }
"""


def html_table(table: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in table.itertuples(False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _inline_markdown(text: str) -> str:
    """The two inline marks the report text uses (**bold**, `code`), after escaping."""
    out = html.escape(text)
    for mark, tag in (("**", "strong"), ("`", "code")):
        pieces = out.split(mark)
        out = "".join(p if i % 2 == 0 else f"<{tag}>{p}</{tag}>" for i, p in enumerate(pieces))
    return out


def render_html(blocks: list[Block]) -> str:
    """One self-contained page: styles inline, figures embedded as base64 PNG."""
    title = next((b.text for b in blocks if b.kind == "heading"), "statebench report")
    parts = []
    for block in blocks:
        if block.kind == "heading":
            parts.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif block.kind == "text":
            parts.append(f"<p>{_inline_markdown(block.text)}</p>")
        elif block.kind == "table":
            parts.append(html_table(block.table))
        elif block.kind == "code":
            parts.append(f"<pre><code>{html.escape(block.text)}</code></pre>")
        elif block.kind == "figure":
            data = base64.b64encode(figure_bytes(block.figure, "png")).decode("ascii")
            parts.append(
                f'<figure><img alt="{html.escape(block.name)}" '
                f'src="data:image/png;base64,{data}"><figcaption>'
                f"{html.escape(block.text)}</figcaption></figure>"
            )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{HTML_STYLE}</style></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )

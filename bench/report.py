"""The report of a run: leaderboard, figures, config, provenance and failures, in md or html.

The report is built as a list of blocks (headings, paragraphs, tables, figures, code) from
DataFrames, then rendered: markdown with the figures as PNG files beside it, or one
self-contained HTML file with the figures embedded. `build_report` takes preloaded tables (so
it is testable without a store); `report` loads a run directory through `bench.store`.
`plot_command` and `report_command` are what the CLI calls.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from statebench.bench.analysis.scores import HEADLINE_DEFINITION, prepare, summarize_headline
from statebench.bench.errors import UserError
from statebench.bench.plots import (
    FIGURE_CAPTIONS,
    FIGURES,
    figure_applies,
    figure_bytes,
    make_figure,
    save_figure,
)
from statebench.bench.plots.critical_time import prepare_probes, probe_outcomes
from statebench.bench.plots.size import size_table
from statebench.bench.plots.style import arch_order, format_count, format_length, task_order

log = logging.getLogger(__name__)

REPORT_FORMATS = ("md", "html")
FIGURE_FORMATS = ("png", "svg", "pdf")
PROVENANCE_COLUMNS = (
    "statebench_version",
    "git_sha",
    "torch_version",
    "cuda_version",
    "device_name",
    "hostname",
)
NOT_RUN = "—"


# --- loading --------------------------------------------------------------------------------


@dataclass
class RunTables:
    """What a report reads from a run directory."""

    results: pd.DataFrame
    probes: pd.DataFrame
    manifest: dict[str, Any]


def load_run(run_dir: str | Path) -> RunTables:
    """Result rows, probe rows (empty if none) and the manifest, through `bench.store`."""
    from statebench.bench import (
        store,  # imported here: the report is usable (and testable) from frames
    )

    run_dir = Path(run_dir)
    manifest = store.require_manifest(run_dir)  # a directory that holds no run is refused
    results = store.load(run_dir)
    if results.empty:
        raise store.RunDirError(
            f"{str(run_dir)!r} holds no results yet (none of its "
            f"{len(manifest.get('cells') or [])} cells is stored); `statebench status` says "
            "where it stands"
        )
    probes = store.load_probes(run_dir)
    return RunTables(results, probes, manifest)


# --- tables ---------------------------------------------------------------------------------


def _mean_cell(row: pd.Series) -> str:
    if row["n_seeds"] == 0:
        return str(row["status"]) if row["status"] != "ok" else "n/a"
    text = f"{row['mean']:.2f}" + ("†" if row["partial"] else "")
    text += f" ± {(row['hi'] - row['lo']) / 2:.2f}" if row["n_seeds"] > 1 else " (1 seed)"
    if row["n_failed"]:
        text += f" ({row['n_seeds']}/{row['n_cells']} ok)"
    return text


def _best_cell(row: pd.Series) -> str:
    if row["n_seeds"] == 0:
        return str(row["status"]) if row["status"] != "ok" else "n/a"
    return (
        f"{row['best']:.2f}"
        + ("†" if row["partial"] else "")
        + (f" ({row['n_seeds']}/{row['n_cells']} ok)" if row["n_failed"] else "")
    )


def leaderboards(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two arch x task tables of the headline score: mean ± 95% CI, and best-of-N.

    Rows are sorted by the average over the tasks each arch ran (a failed cell counts as 0 in
    that average, so failing is never better than scoring low); columns are params, state
    size, one per task, then the average. Pairs never run show an em dash.
    """
    summary = summarize_headline(results)
    if summary.empty:
        return pd.DataFrame(), pd.DataFrame()
    tasks = task_order(summary["task"])
    sizes = size_table(results)
    tables = []
    for value, render in (("mean", _mean_cell), ("best", _best_cell)):
        summary = summary.assign(_text=summary.apply(render, axis=1))
        wide = summary.pivot(index="arch", columns="task", values="_text").reindex(columns=tasks)
        score = summary.assign(_v=summary[value].fillna(0.0)).groupby("arch")["_v"].mean()
        wide = wide.fillna(NOT_RUN)
        wide.insert(
            0,
            "state size",
            [format_count(sizes["state_size"].get(a, math.nan)) for a in wide.index],
        )
        wide.insert(
            0, "params", [format_count(sizes["params"].get(a, math.nan)) for a in wide.index]
        )
        wide["average"] = [f"{score[a]:.2f}" for a in wide.index]
        rank = {a: i for i, a in enumerate(arch_order(wide.index))}
        order = sorted(wide.index, key=lambda a: (-score[a], rank[a]))
        tables.append(wide.loc[order].rename_axis("arch").reset_index())
    return tables[0], tables[1]


def critical_time_table(probes: pd.DataFrame) -> pd.DataFrame:
    """Arch x task: median t* over seeds at the default threshold; '>L' where all censored."""
    rows = prepare_probes(probes)
    if rows.empty:
        return pd.DataFrame()

    def cell(group: pd.DataFrame) -> str:
        measured, censored = probe_outcomes(group)
        if not measured.any() and not censored.any():
            return "/".join(sorted(set(group["status"])))
        if not measured.any():
            bounds = group[censored]
            reached = bounds["reached_len"].where(bounds["reached_len"] > 0, bounds["max_len"])
            why = sorted({s for s in bounds["stopped_by"] if s})
            return f">{format_length(reached.max())}" + (f" ({', '.join(why)})" if why else "")
        text = f"{group['t_star'][measured].median():.0f}"
        return text + (f" (+{censored.sum()} censored)" if censored.any() else "")

    records = [
        {"arch": a, "task": t, "t*": cell(g)} for (a, t), g in rows.groupby(["arch", "task"])
    ]
    wide = pd.DataFrame(records).pivot(index="arch", columns="task", values="t*")
    wide = wide.reindex(index=arch_order(wide.index), columns=task_order(wide.columns))
    return wide.fillna(NOT_RUN).rename_axis("arch").reset_index()


def _error_summary(error: str, limit: int = 240) -> str:
    """The informative line of an error (a traceback's last line), shortened for a table."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failures_table(results: pd.DataFrame, probes: pd.DataFrame) -> pd.DataFrame:
    """Every failed, diverged, oom, timeout or skipped cell (train or probe), with its error."""
    frames = []
    rows = prepare(results)
    bad = rows[rows["status"] != "ok"]
    if not bad.empty:
        first = bad.drop_duplicates(
            ["arch", "task", "seed", "lr", "d_model", "n_layers", "status", "error"]
        )
        frames.append(
            first.assign(
                stage="train/eval",
                length=[format_length(v) if v > 0 else "" for v in first["eval_len"]],
            )
        )
    if probes is not None and not probes.empty:
        prows = prepare(probes)
        bad = prows[prows["status"] != "ok"].drop_duplicates(["arch", "task", "seed", "status"])
        frames.append(bad.assign(stage="probe", length=""))
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    out["seed"] = [f"{s:.0f}" if np.isfinite(s) else "" for s in out["seed"]]
    out["error"] = out["error"].map(_error_summary)
    return out[["stage", "arch", "task", "seed", "length", "status", "error"]]


def provenance_tables(results: pd.DataFrame, manifest: dict) -> list[tuple[str, pd.DataFrame]]:
    """Environment from the manifest, versions seen on result rows, and kernels per arch."""
    tables = []
    env = _flatten(manifest.get("environment") or {})
    if env:
        tables.append(
            (
                "Environment (manifest)",
                pd.DataFrame({"field": list(env), "value": [str(v) for v in env.values()]}),
            )
        )
    rows = prepare(results)
    seen = {}
    for col in PROVENANCE_COLUMNS:
        if col in results:
            values = sorted({str(v) for v in results[col] if not _missing(v)})
            if values:
                seen[col] = ", ".join(values)
    if seen:
        tables.append(
            (
                "Versions on result rows",
                pd.DataFrame({"field": list(seen), "value": list(seen.values())}),
            )
        )
    if not rows.empty:
        records = []
        for arch in arch_order(rows["arch"]):
            group = rows[rows["arch"] == arch]
            records.append(
                {
                    "arch": arch,
                    "kernels": ", ".join(sorted(set(group["kernel"]) - {""})) or "n/a",
                    "devices": ", ".join(sorted(set(group["device"]) - {""})) or "n/a",
                }
            )
        tables.append(("Kernels per arch", pd.DataFrame.from_records(records)))
    return tables


def _missing(value) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _toml_ready(value):
    """TOML has no null: drop None; tuples become lists; keys become strings."""
    if isinstance(value, dict):
        return {str(k): _toml_ready(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_toml_ready(v) for v in value if v is not None]
    return value


def config_text(config: dict) -> tuple[str, str]:
    """The resolved config as TOML (what users write), else JSON; returns (language, text)."""
    try:
        import tomli_w

        return "toml", tomli_w.dumps(_toml_ready(config))
    except Exception as e:  # tomli_w missing, or a value TOML cannot hold
        log.info("config not representable as TOML (%s); showing JSON", e)
        return "json", json.dumps(config, indent=2, sort_keys=True, default=str)


# --- blocks ---------------------------------------------------------------------------------


@dataclass
class Block:
    """One piece of the report: kind is heading | text | table | figure | code."""

    kind: str
    text: str = ""
    level: int = 2
    table: pd.DataFrame | None = None
    figure: Any = None
    name: str = ""


def _run_summary(results: pd.DataFrame, manifest: dict) -> str:
    rows = prepare(results)
    cells = rows.drop_duplicates(["arch", "task", "seed", "lr", "d_model", "n_layers"])
    statuses = cells["status"].value_counts()
    parts = [
        f"{len(cells)} cells ({rows['arch'].nunique()} archs x {rows['task'].nunique()} tasks x "
        f"{rows['seed'].nunique()} seeds), {len(rows)} result rows",
        "status: " + ", ".join(f"{k} {v}" for k, v in statuses.items()) if len(statuses) else "",
    ]
    created = [v for v in results.get("created_at", []) if not _missing(v)]
    if created:
        parts.append(f"written {min(created)} to {max(created)}")
    return "; ".join(p for p in parts if p) + "."


def _protocol_blocks(results: pd.DataFrame, manifest: dict) -> list:
    """The protocol's own score when the config asks for one (e.g. Deletang: max over seeds)."""
    from statebench.bench.analysis.protocol import protocol_scores, protocol_table

    config = manifest.get("config") or {}
    score_cfg = config.get("score") or {}
    if (
        not score_cfg
        or results.empty
        or (score_cfg.get("aggregate", "mean") == "mean" and not score_cfg.get("min_len"))
    ):
        return []
    train_max = int((config.get("train") or {}).get("len_max", 0))
    scores = protocol_scores(results, score_cfg, train_max)
    if scores.empty:
        return []
    min_len = scores.attrs.get("min_len")
    blocks = [Block("heading", "Protocol score")]
    blocks.append(
        Block(
            "text",
            f"Mean accuracy (%) over every eval length >= {min_len}, one number per trained "
            "model; then the **maximum over seeds and learning rates** (as Deletang et al. "
            "2023 report it) and the **mean** over them.",
        )
    )
    blocks.append(Block("heading", "Max over seeds and learning rates", level=3))
    blocks.append(Block("table", table=protocol_table(scores, "max")))
    blocks.append(Block("heading", "Mean over seeds and learning rates", level=3))
    blocks.append(Block("table", table=protocol_table(scores, "mean")))
    return blocks


def report_blocks(results: pd.DataFrame, probes: pd.DataFrame | None, manifest: dict) -> list:
    """Everything the report says, in order, independent of the output format."""
    probes = probes if probes is not None else pd.DataFrame()
    run_id = manifest.get("run_id") or next(
        (str(v) for v in results.get("run_id", []) if not _missing(v)), "run"
    )
    blocks = [Block("heading", f"statebench report: {run_id}", level=1)]
    blocks.append(
        Block(
            "text",
            _run_summary(results, manifest) if len(results) else "This run has no result rows yet.",
        )
    )

    blocks.append(Block("heading", "Leaderboard"))
    blocks.append(
        Block(
            "text",
            HEADLINE_DEFINITION + " Two summaries over seeds follow: the "
            "**mean with a 95% Student-t confidence interval** (typical behaviour), "
            "and the **best of N seeds** (what the architecture can learn at all). "
            "Rows are sorted by the average over tasks (failed cells count as 0); † marks "
            "cells where some eval lengths failed (the score averages the lengths that ran). "
            "Params: median over cells; state size: floats per sequence at the "
            "longest eval length. With a sweep, each arch x task shows its "
            "best-scoring configuration.",
        )
    )
    mean_table, best_table = leaderboards(results)
    if mean_table.empty:
        blocks.append(Block("text", "No cells to rank."))
    else:
        blocks.append(Block("heading", "Mean over seeds ± 95% CI", level=3))
        blocks.append(Block("table", table=mean_table))
        blocks.append(Block("heading", "Best of N seeds", level=3))
        blocks.append(Block("table", table=best_table))

    blocks.extend(_protocol_blocks(results, manifest))

    blocks.append(Block("heading", "Critical time t*"))
    t_table = critical_time_table(probes) if not probes.empty else pd.DataFrame()
    if t_table.empty:
        blocks.append(
            Block(
                "text",
                "No probe results in this run, so no critical time t* "
                "was measured; the critical-time figure is empty.",
            )
        )
    else:
        blocks.append(
            Block(
                "text",
                "Median t* over seeds (tokens) at the threshold halfway "
                "between chance and perfect accuracy; `>L`: no drop up to the "
                "longest length reached (censored).",
            )
        )
        blocks.append(Block("table", table=t_table))

    blocks.append(Block("heading", "Figures"))
    for kind in FIGURES:
        if not figure_applies(kind, results):
            continue
        try:
            fig = make_figure(kind, results, probes)
        except Exception as e:  # one bad figure must not cost the whole report
            log.exception("figure %s failed", kind)
            blocks.append(Block("text", f"Figure `{kind}` could not be drawn: {e}"))
            continue
        blocks.append(Block("figure", FIGURE_CAPTIONS.get(kind, kind), figure=fig, name=kind))

    blocks.append(Block("heading", "Failed, diverged and skipped cells"))
    failures = failures_table(results, probes)
    if failures.empty:
        blocks.append(Block("text", "None: every cell finished with status ok."))
    else:
        blocks.append(Block("table", table=failures))

    blocks.append(Block("heading", "Configuration"))
    config = manifest.get("config")
    if config:
        language, text = config_text(config)
        blocks.append(Block("code", text, name=language))
    else:
        blocks.append(Block("text", "No resolved config in the manifest."))

    blocks.append(Block("heading", "Provenance"))
    for title, table in provenance_tables(results, manifest):
        blocks.append(Block("heading", title, level=3))
        blocks.append(Block("table", table=table))
    return blocks


# --- rendering ------------------------------------------------------------------------------


def markdown_table(table: pd.DataFrame) -> str:
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(False)]
    return "\n".join([header, rule, *body])


def render_markdown(blocks: list[Block], out_file: Path) -> str:
    """Markdown text; figures are written to figures/<name>.png (+ .svg) beside out_file."""
    parts = []
    for block in blocks:
        if block.kind == "heading":
            parts.append("#" * block.level + " " + block.text)
        elif block.kind == "text":
            parts.append(block.text)
        elif block.kind == "table":
            parts.append(markdown_table(block.table))
        elif block.kind == "code":
            parts.append(f"```{block.name}\n{block.text.rstrip()}\n```")
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


# --- entry points ---------------------------------------------------------------------------


def _check_format(fmt: str) -> None:
    if fmt not in REPORT_FORMATS:
        raise UserError(
            f"unknown report format {fmt!r}; choose one of: {', '.join(REPORT_FORMATS)}"
        )


def _report_path(out: str | Path, fmt: str) -> Path:
    """`out` is the report file if it ends in .md/.html, else the folder to write into."""
    out = Path(out)
    return out if out.suffix in (".md", ".html") else out / f"report.{fmt}"


def build_report(
    results: pd.DataFrame,
    probes: pd.DataFrame | None,
    manifest: dict | None,
    out: str | Path,
    fmt: str = "md",
) -> Path:
    """Write the report from preloaded tables; returns the report file's path.

    md: report.md plus figures/*.png (and .svg) beside it. html: one self-contained file.
    """
    _check_format(fmt)
    path = _report_path(out, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks = report_blocks(results, probes, manifest or {})
    text = render_markdown(blocks, path) if fmt == "md" else render_html(blocks)
    path.write_text(text, encoding="utf-8")
    log.info("wrote report %s", path)
    return path


def report(run_dir: str | Path, fmt: str = "md", out: str | Path | None = None) -> Path:
    """Load a run directory and write its report (default: RUN_DIR/report/report.<fmt>)."""
    _check_format(fmt)
    tables = load_run(run_dir)
    return build_report(
        tables.results,
        tables.probes,
        tables.manifest,
        out if out is not None else Path(run_dir) / "report",
        fmt,
    )


def report_command(run_dir: str | Path, fmt: str = "md", out: str | Path | None = None) -> Path:
    """`statebench report RUN_DIR [--format md|html] [--out PATH]`: returns the written file."""
    return report(run_dir, fmt, out)


def plot_command(run_dir: str | Path, kind: str, out: str | Path | None = None) -> list[Path]:
    """`statebench plot RUN_DIR --kind NAME [--out FILE]`: returns the written files.

    out ending in .png/.svg/.pdf: exactly that file; any other out: a path without extension
    that gets .png and .svg; none: RUN_DIR/figures/<kind>.{png,svg}. kind "all" writes every
    figure into the folder `out` (default RUN_DIR/figures). Unknown kinds raise ValueError
    listing the known ones, before anything is loaded.
    """
    if kind != "all" and kind not in FIGURES:
        raise UserError(
            f"unknown figure kind {kind!r}; choose one of: {', '.join([*FIGURES, 'all'])}"
        )
    tables = load_run(run_dir)
    if kind == "all":
        folder = Path(out) if out is not None else Path(run_dir) / "figures"
        return [
            path
            for name in FIGURES
            if figure_applies(name, tables.results)
            for path in save_figure(make_figure(name, tables.results, tables.probes), folder / name)
        ]
    fig = make_figure(kind, tables.results, tables.probes)
    if out is None:
        return save_figure(fig, Path(run_dir) / "figures" / kind)
    out = Path(out)
    if out.suffix.lstrip(".") in FIGURE_FORMATS:
        return save_figure(fig, out.with_suffix(""), formats=(out.suffix.lstrip("."),))
    return save_figure(fig, out)

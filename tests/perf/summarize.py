"""Turn a `nox -s perf` JSON into the markdown tables of docs/performance.md.

    python tests/perf/summarize.py results/perf/cpu.json [> table.md]

Reads what the perf suite recorded in each benchmark's extra_info (CPU-time minima and ratios)
and the `statebench` section (fitted exponents, peers that do not apply); benchmarks of other
files are listed with whatever ratio they recorded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from perfkit import scaling_exponents  # noqa: E402


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _ms(seconds: float) -> str:
    return f"{1e3 * seconds:.1f}" if seconds < 10 else f"{seconds:.1f} s"


def scaling(rows: list[dict], exponents: dict) -> str:
    out = []
    titles = {"fwd_bwd": "forward + backward", "stream": "streaming step (chunks of 256)"}
    for mode, title in titles.items():
        pts = [r["extra_info"] for r in rows if r["extra_info"].get("mode") == mode]
        if not pts:
            continue
        lengths = sorted({p["T"] for p in pts})
        by_arch: dict[str, dict] = {}
        for p in pts:
            by_arch.setdefault(p["arch"], {"p": p})[p["T"]] = p["cpu_s"]
        body = []
        for arch, cells in sorted(by_arch.items()):
            times = [_ms(cells[t]) if t in cells else "—" for t in lengths]
            k = exponents.get(mode, {}).get(arch, float("nan"))
            body.append([arch, cells["p"]["params"], cells["p"]["kernel"], *times, f"{k:.2f}"])
        header = ["arch", "params", "kernel", *[f"T={t} ms" for t in lengths], "exponent"]
        out.append(f"**{title}**, batch 1, CPU ms (min)\n\n" + _table(header, body))
    return "\n\n".join(out)


def peers(rows: list[dict]) -> str:
    body = [
        [i["ours"], i["peer"], i["shape"], _ms(i["ours_s"]), _ms(i["peer_s"]), f"{i['ratio']:.2f}"]
        for i in (r["extra_info"] for r in rows)
    ]
    header = ["ours", "peer", "shape", "ours ms", "peer ms", "ours / peer"]
    return "**peers**, forward + backward, CPU ms (min)\n\n" + _table(header, body)


def harness(rows: list[dict]) -> str:
    body = []
    for i in (r["extra_info"] for r in rows):
        if "ratio" in i:
            body.append(
                [
                    f"train_model vs bare loop ({i['arch']})",
                    f"{i['harness_steps_per_s']:.1f} vs {i['bare_steps_per_s']:.1f} steps/s",
                    f"{i['ratio']:.3f}",
                    "<= 1.10",
                ]
            )
        else:
            body.append(
                [
                    f"data generation share ({i['task']}, {i['arch']} step)",
                    f"{i['sample_ms_per_step']:.3f} of {i['step_ms']:.2f} ms per step",
                    f"{100 * i['share']:.2f}%",
                    "< 5%",
                ]
            )
    return "**harness**\n\n" + _table(["measure", "figures", "ratio", "goal"], body)


def batched(rows: list[dict]) -> str:
    body, support = [], {}
    for i in (r["extra_info"] for r in rows):
        body.append(
            [
                f"{i['seeds']} x {i['arch']} ({i['device']})",
                i["lengths"],
                f"{i['sequential_steps_per_s']:.1f}",
                f"{i['batched_steps_per_s']:.1f}",
                f"{i['padded_token_ratio']:.2f}",
                f"{i['speedup']:.2f}",
            ]
        )
        support.update(i.get("vmap_support", {}))
    header = ["seeds", "lengths", "sequential steps/s", "batched steps/s", "tokens x", "speedup"]
    text = "**seeds batched with vmap vs one by one**\n\n" + _table(header, body)
    if support:
        bad = ", ".join(a for a, v in support.items() if v != "ok")
        text += f"\n\nvmap cannot batch: {bad or 'none'}"
    return text


def others(rows: list[dict]) -> str:
    body = []
    for r in rows:
        keys = {
            k: v
            for k, v in r["extra_info"].items()
            if any(word in k for word in ("ratio", "speedup", "per_second"))
        }
        figures = ", ".join(f"{k}={v:.3g}" for k, v in keys.items() if isinstance(v, float))
        body.append([r["fullname"].removeprefix("tests/"), _ms(r["stats"]["min"]), figures or "—"])
    header = ["benchmark", "ms", "recorded figures"]
    return "**other benchmarks** (wall ms, min)\n\n" + _table(header, body)


def summarize(data: dict) -> str:
    rows = data["benchmarks"]
    families: dict[str, list[dict]] = {}
    for r in rows:
        families.setdefault(r["extra_info"].get("family", "other"), []).append(r)
    extra = data.get("statebench", {})
    exponents = extra.get("exponents") or scaling_exponents(rows)
    cpu = data["machine_info"].get("cpu", {}).get("brand_raw", "?")
    parts = [f"Machine: {cpu}, torch {extra.get('torch', '?')}, clock: {extra.get('clock', '?')}"]
    makers = {"scaling": lambda r: scaling(r, exponents), "peers": peers, "harness": harness}
    makers |= {"batched": batched, "other": others}
    parts += [make(families[name]) for name, make in makers.items() if name in families]
    if extra.get("not_applicable"):
        na = [[peer, reason] for peer, reason in extra["not_applicable"].items()]
        parts.append("**not applicable**\n\n" + _table(["peer", "why"], na))
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/perf/summarize.py results/perf/cpu.json")
    print(summarize(json.loads(Path(sys.argv[1]).read_text())), end="")

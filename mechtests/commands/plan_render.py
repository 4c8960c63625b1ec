"""`mechtests plan`'s table: one line per hypothesis, then the run's total and how the time was
reckoned (JSON, with every measurement, under --json)."""

from __future__ import annotations

from typing import Any


def size(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def duration(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else (f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h")


def _figure(seconds: float, first: float, sequential: bool) -> str:
    """The full-sample figure, and with sequential decisions the likely one before it."""
    return f"{duration(first)} likely, {duration(seconds)} at most" if sequential and first < seconds else duration(seconds)


def render(report: dict[str, Any]) -> str:
    out = [f"pair {report['pair']}:"]
    for role, m in report["models"].items():
        out.append(f"  {role.upper()} {m['path']}: {m['layers']} layers x {m['heads']} heads, d_model {m['d_model']}, "
                   f"{m['parameters'] / 1e6:.1f}M parameters")
    kept = "measured now" if report["throughput_fresh"] else f"kept, measured {report['throughput_measured_at']}"
    out.append(f"run budget {report['budget']}; device {report['device']} ({report['dtype']}), {report['threads']} torch thread(s), "
               f"memory budget {size(report['memory_budget_bytes'])}, matmul {report['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s ({kept})")
    sequential = report["sequential"]
    head = ("hypothesis", "measurements", "cached", "rows fwd", "rows fwd+bwd", "time alone, cold")
    rows = [head]
    for test, h in report["hypotheses"].items():
        cached = sum(line["cached"] for line in h["lines"])
        rows.append((test + (" (partly counted)" if h["partly_counted"] else ""), str(len(h["lines"])), str(cached),
                     str(h["rows_forward"]), str(h["rows_forward_backward"]), _figure(h["seconds"], h["seconds_first_look"], sequential)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    t = report["total"]
    out.append(f"the run: {len(report['hypotheses'])} test(s), {t['passes']} passes, about "
               f"{_figure(t['seconds'], t['seconds_first_look'], sequential)} (each shared measurement counted once), "
               f"peak memory about {size(t['peak_bytes'])}")
    for test, h in report["hypotheses"].items():
        if h["partly_counted"]:
            out.append(f"partly counted, {test}: the dry run stopped at {h['partly_counted']}")
    if sequential:
        out.append(f"likely: every verdict decided at its first look ({report['first_round']} examples, the first control draws); "
                   "at most: the whole sample (--mech-sequential=off).")
    out.append("Counted by running the hypotheses on stand-in models (mechtests.commands.plan); time: the kept throughput "
               "x the cost model (mechtests.commands.plan_models); `--measure` measures the throughput again; --json lists every measurement.")
    return "\n".join(out)


__all__ = ["duration", "render", "size"]

"""The compact matrix printed at the end of a pytest run; in a multi-seed run, a line under each
seed-dependent result says what each seed gave (the headline counts them)."""

from __future__ import annotations

from typing import Any

from mechtests.claims.outcomes import WARNING
from mechtests.reports.matrix import cell_text, columns, headline, needs_attention, seed_dependent, seed_note, status

MAX_KEY = 48


def render_terminal(results: dict[str, Any]) -> list[str]:
    cols = columns(results)
    rows = [(_clip(h["key"]), [h["results"].get(c) for c in cols]) for h in results["hypotheses"]]
    key_w = max([len("hypothesis")] + [len(k) for k, _ in rows])
    widths = [max([len(c)] + [len(cell_text(cells[i])) for _, cells in rows]) for i, c in enumerate(cols)]
    lines = [headline(results), "  ".join(["hypothesis".ljust(key_w), *(c.ljust(w) for c, w in zip(cols, widths))]).rstrip()]
    for key, cells in rows:
        marks = "  ".join(cell_text(r).ljust(w) for r, w in zip(cells, widths))
        flag = "  <--" if any(needs_attention(r) and status(r) != WARNING for r in cells) else \
            "  <-?" if any(status(r) == WARNING for r in cells) else ""
        lines.append(f"{key.ljust(key_w)}  {marks}".rstrip() + flag)
        lines += [f"    [{c}] {seed_note(r)}" for c, r in zip(cols, cells) if seed_dependent(r)]
    return lines


def _clip(text: str) -> str:
    return text if len(text) <= MAX_KEY else text[: MAX_KEY - 3] + "..."

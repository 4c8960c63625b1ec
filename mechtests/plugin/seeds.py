"""Multi-seed runs: `--mech-seeds=0-3` (or `0,1,2,3`) runs every hypothesis at each evaluation
seed and reports, per hypothesis, the verdict at each seed and how far they agree.

An evaluation seed changes the prompts (task resampling), the control draws and the bootstrap;
the models do not depend on it and load once per process. Each seed is a parameter of the
session-scoped `mech_seed` fixture, so everything built from it (the task sets, the pools) is
built once per seed, and the node ids gain `seed<N>` (`test_x[arm-seed2]`). Under xdist each
(model, seed) is its own group, so the seeds of one model spread over the workers.

The plugin wires this in with a few calls:
- options: `--mech-seeds` parsed by mechtests.run.parsing.parse_seeds;
- pytest_generate_tests: `parametrize(metafunc, seeds)`;
- the `mech_seed` fixture: `getattr(request, "param", settings["seed"])`;
- pytest_runtest_setup and the notes under a surprise: `seed_of(item, default)`;
- collection: `group(name, item)` for the xdist group;
- the rerun command: `single_seed(nodeid, default)`, the node id and `--mech-seed` to rerun it;
- the controller, before writing results.json: `combine(hypotheses, strict)`.

`combine` folds the per-seed entries of one hypothesis (keys `id[seed0]`, `id[seed1]`, ...) into
one entry whose results hold, per model, the combined outcome, the verdict at each seed
("seeds") and whether they all agree ("agreement"; false flags the hypothesis seed-dependent),
the fields results.json's schema version 2 reserves. The combined outcome is the common verdict
when every seed agrees; when they differ it is `inconclusive`: a verdict that does not
replicate across evaluation seeds is not a decision. An error at any seed makes it `error`.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from mechtests.claims.outcomes import ERROR, INCONCLUSIVE, grade
from mechtests.plugin.collect import matched

SEED_FIXTURE = "mech_seed"
_SEED_ID = re.compile(r"^seed(\d+)$")


def seed_id(seed: int) -> str:
    return f"seed{seed}"


def parametrize(metafunc: Any, seeds: Sequence[int] | None) -> None:
    """Run a test once per seed when a multi-seed run is asked for and the test depends on the
    seed (takes `mech_seed`, directly or through `tasks`)."""
    if not seeds or SEED_FIXTURE not in metafunc.fixturenames:
        return
    metafunc.parametrize(SEED_FIXTURE, list(seeds), indirect=True, ids=[seed_id(s) for s in seeds], scope="session")


def seed_of(item: Any, default: int) -> int:
    """The evaluation seed a collected test runs at: its `mech_seed` parameter, else `default`."""
    callspec = getattr(item, "callspec", None)
    return int(callspec.params.get(SEED_FIXTURE, default)) if callspec is not None else default


def group(name: str, item: Any) -> str:
    """The xdist group of a test: per (model, seed) in a multi-seed run, so seeds spread over workers."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or SEED_FIXTURE not in callspec.params:
        return name
    return f"{name}-{seed_id(int(callspec.params[SEED_FIXTURE]))}"


def single_seed(nodeid: str, default: int) -> tuple[str, int]:
    """The node id of a per-seed case in a single-seed run, and its seed:
    ('t.py::test_x[arm-seed2]', 0) -> ('t.py::test_x[arm]', 2); ('t.py::test_x[seed2]', 0) -> ('t.py::test_x', 2)."""
    head, bracket, params = nodeid.partition("[")
    if not bracket or not params.endswith("]"):
        return nodeid, default
    rest, seed = _split_variant(params[:-1])
    if seed is None:
        return nodeid, default
    return (f"{head}[{rest}]" if rest else head), seed


def _split_variant(variant: str | None) -> tuple[str | None, int | None]:
    """'ioi-seed2' -> ('ioi', 2); 'seed0' -> (None, 0); 'ioi' -> ('ioi', None)."""
    if not variant:
        return variant, None
    parts = variant.split("-")
    seeds = [i for i, p in enumerate(parts) if _SEED_ID.match(p)]
    if not seeds:
        return variant, None
    i = seeds[-1]
    rest = "-".join(parts[:i] + parts[i + 1:])
    return rest or None, int(parts[i][4:])


def combined_outcome(outcomes: Sequence[str]) -> str:
    """One outcome for the verdicts at several seeds: theirs when all agree; `error` when any
    seed erred; otherwise `inconclusive` (the verdict depends on the seed)."""
    distinct = set(outcomes)
    if ERROR in distinct:
        return ERROR
    return distinct.pop() if len(distinct) == 1 else INCONCLUSIVE


def combine(hypotheses: list[dict[str, Any]], strict: bool = False) -> list[dict[str, Any]]:
    """Fold results.json's per-seed entries into one entry per hypothesis.

    Entries whose variant names a seed (`id[seed0]`, `id[ioi-seed0]`) are merged under the key
    without it. Each model's result keeps the lowest seed's fields (evidence, message, rerun)
    under the combined outcome (`combined_outcome`), with "seeds": [{"seed", "outcome",
    "message", "evidence"}] in seed order and "agreement": true when every seed gave the same
    verdict (false: the hypothesis is seed-dependent). "grade" and "matched" are recomputed for
    the combined outcome. Entries without a seed (hypotheses that do not depend on it) are kept
    as they are.
    """
    merged: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for entry in hypotheses:
        variant, seed = _split_variant(entry.get("variant"))
        if seed is None:
            out.append(entry)
            continue
        key = entry["id"] + (f"[{variant}]" if variant else "")
        target = merged.get(key)
        if target is None:
            target = merged[key] = {**entry, "key": key, "variant": variant, "results": {}, "_seeds": {}}
            out.append(target)
        for model, result in entry["results"].items():
            target["_seeds"].setdefault(model, {})[seed] = result
    for target in merged.values():
        for model, by_seed in target.pop("_seeds").items():
            ordered = [(s, by_seed[s]) for s in sorted(by_seed)]
            outcome = combined_outcome([r["outcome"] for _, r in ordered])
            first = ordered[0][1]
            target["results"][model] = {
                **first,
                "outcome": outcome,
                "grade": grade(outcome, first["expected"], strict),
                "matched": matched(outcome, first["expected"]),
                "seeds": [{"seed": s, "outcome": r["outcome"], "message": r.get("message"), "evidence": r.get("evidence", [])}
                          for s, r in ordered],
                "agreement": len({r["outcome"] for _, r in ordered}) == 1,
            }
    return out


__all__ = ["combine", "combined_outcome", "group", "parametrize", "seed_id", "seed_of", "single_seed"]

"""What each measurement costs, declared once, beside the stand-in result the plan's dry run
returns for it (mechtests.commands.plan_dryrun).

Every function of the package that runs a model for the suites has one `Stand` here: where the
real function lives, the rows it sends through the model given the very arguments the suite
passed (examples, steps, denoising steps, circuits, control draws), and a result of the right
shape and kind that lets the hypothesis go on. The rows are those of the real function's code:

- answers (queries.evaluate, queries.answer_logits): one forward row per example.
- attention patterns (detect.attention_patterns, under every head detector): one row per sequence.
- logit lens: one traced row per example (the components' outputs).
- EAP-IG (attribution.attribute): per denoising step, a clean+corrupted pass (2 rows per example,
  through the per-head engine) and `steps` forward+backward rows per example; an MDM first runs
  its denoising schedule, one answer read per example and step.
- edge patching (circuits.stacked_metrics): per denoising step, the corrupted reference captured
  (a row per example) and a patched row per example and circuit, but for a curve's two ends.
- targeted ablation: the clean answers, one run per control set and one for the targets, and
  one caching pass each time a set brings components whose ablated values are not yet known
  (replayed with the real control_sets, so the count follows the draws).

`first` is what a sequential decision spends at its first look (the budget's `first_round`
examples and the first batch of control draws); `full` what the whole sample spends (the pool,
and control draws up to the cap): the bound.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from mechtests.measure.ablations import AblationComparison, control_sets
from mechtests.measure.attribution import Attribution, graph_for
from mechtests.measure.circuits import unpatched_ends
from mechtests.measure.contrasts import LogitLens
from mechtests.measure.detect import induction_targets
from mechtests.queries import Posed
from mechtests.run import budget as run_budget


@dataclass(frozen=True)
class Runs:
    """`calls` model runs of `rows` rows each (split into passes as the memory budget allows)."""

    rows: int
    calls: int = 1
    grad: bool = False  # forward+backward (EAP-IG's gradient passes)
    per_head: bool = False  # through the per-head graph engine (more memory per row)
    patched: bool = False  # edge-patched: every head reads its own mix of upstream outputs (more time per row)


@dataclass
class Work:
    """One measurement a hypothesis asks for: on which model, its rows in full and at a first look."""

    kind: str
    model: str
    seq_len: int
    examples: int
    full: tuple[Runs, ...]
    first: tuple[Runs, ...]
    key: str | None = None  # the measurement cache's key, for one that is cached
    task: str = ""
    cached: bool = False

    def rows(self, first: bool = False) -> tuple[int, int]:
        """(forward-only rows, forward+backward rows)."""
        runs = self.first if first else self.full
        return (sum(r.rows * r.calls for r in runs if not r.grad), sum(r.rows * r.calls for r in runs if r.grad))


@dataclass(frozen=True)
class Stand:
    """A model-running function (module.name), its rows (`runs(first, *args, **kwargs)`) and a stand-in result."""

    module: str
    name: str
    kind: str
    runs: Callable[..., tuple[tuple[Runs, ...], int, int]]  # (runs, seq_len, examples)
    result: Callable[..., Any]


def _first(n: int, first: bool) -> int:
    return min(n, run_budget.active().first_round) if first and run_budget.active().sequential else n


def _pairs(data: Any) -> bool:
    """Explicit (clean, corrupted) Posed pairs, one per denoising step (mechtests.queries.StepPairs)."""
    return isinstance(data, (list, tuple)) and bool(data) and isinstance(data[0], tuple)


def _count(data: Any) -> int:
    """Examples: of pairs per step, of one (clean, corrupted) pair, or of a list."""
    if _pairs(data):
        return len(data[0][0])
    return len(data[0]) if isinstance(data, tuple) and data and isinstance(data[0], Posed) else len(data)


def _length(data: Any) -> int:
    if _pairs(data):
        return int(data[0][0].input_ids.shape[1])
    if isinstance(data, tuple) and data and isinstance(data[0], Posed):
        data = data[0]
    if isinstance(data, Posed):
        return int(data.input_ids.shape[1])
    if isinstance(data, torch.Tensor):
        return int(data.shape[-1])
    return max((len(ex.tokens) for ex in data), default=1)


def _denoising(subject: Any, data: Any, steps: int) -> int:
    """Denoising steps a measurement replays: one per pair given, else min(steps, answer tokens)
    for an MDM and 1 for an ARM."""
    if _pairs(data):
        return len(data)
    return min(steps, len(data[0].answer_positions)) if subject.is_mdm else 1


def _schedule(subject: Any, data: Any, n: int, steps: int) -> tuple[Runs, ...]:
    """An MDM's denoising schedule: one answer read per example and step (mechtests.queries.denoise);
    none for pairs posed by the caller."""
    return (Runs(n, steps),) if subject.is_mdm and not _pairs(data) else ()


def _generator(*parts: Any) -> torch.Generator:
    return torch.Generator().manual_seed(zlib.crc32(repr(parts).encode()))


# --- rows of each measurement, from the arguments it was called with ---------------------------------
def reads_runs(first: bool, subject: Any, data: Any, *args: Any, **kwargs: Any) -> tuple[tuple[Runs, ...], int, int]:
    n = _count(data)
    return (Runs(_first(n, first)),), _length(data), n


def answers_runs(first: bool, subject: Any, examples: Sequence[Any], *args: Any, **kwargs: Any) -> tuple[tuple[Runs, ...], int, int]:
    """Answers to every example: a pool is chosen from them, so no look takes fewer."""
    return (Runs(len(examples)),), _length(examples), len(examples)


def patterns_runs(first: bool, subject: Any, input_ids: torch.Tensor, *args: Any) -> tuple[tuple[Runs, ...], int, int]:
    n = int(input_ids.shape[0])
    return (Runs(_first(n, first)),), int(input_ids.shape[1]), n


def eap_ig_runs(first: bool, subject: Any, data: Sequence[Any], steps: int = 32, method: str = "eap-ig", denoise_steps: int = 1,
                batch_size: int | None = None) -> tuple[tuple[Runs, ...], int, int]:
    n, k = _first(_count(data), first), _denoising(subject, data, denoise_steps)
    steps = 1 if method == "eap" else steps
    runs = (*_schedule(subject, data, n, k), Runs(2 * n, k, per_head=True), Runs(n, steps * k, grad=True, per_head=True))
    return runs, _length(data), _count(data)


def stacked_runs(first: bool, subject: Any, data: Sequence[Any], keeps: torch.Tensor, reference: str = "corrupted",
                 denoise_steps: int = 1, rows_per_pass: int | None = None) -> tuple[tuple[Runs, ...], int, int]:
    """Circuits side by side: the reference captured, a patched row per example and circuit but
    for the ends (circuits.unpatched_ends): a plain row for every edge's, none for no edge's."""
    n, k = _first(_count(data), first), _denoising(subject, data, denoise_steps)
    ends = unpatched_ends(graph_for(subject), keeps, reference)
    plain = (Runs(n, k),) if "clean" in ends.values() else ()
    patched = Runs(n * (int(keeps.shape[0]) - len(ends)), k, per_head=True, patched=True)
    return (*_schedule(subject, data, n, k), Runs(n, k, per_head=True), *plain, patched), _length(data), _count(data)


def posed_runs(first: bool, subject: Any, posed: Posed, *args: Any, **kwargs: Any) -> tuple[tuple[Runs, ...], int, int]:
    """One traced pass over a posed batch (an intervention, a read of activations)."""
    n = len(posed)
    return (Runs(_first(n, first)),), int(posed.input_ids.shape[1]), n


def ablation_runs(first: bool, subject: Any, data: Sequence[Any], targets: Sequence[Any], method: str = "zero", n_controls: int = 10,
                  band: tuple[int, int] | None = None, seed: int = 0, precision: float = 0.1, max_controls: int | None = None,
                  controls: Sequence[str] = ("random", "same_depth")) -> tuple[tuple[Runs, ...], int, int]:
    """Control draws: the cap in full, the first batch at a first look (the precision target
    stops somewhere between); the caching passes replayed on the sets the real code draws."""
    n = _first(_count(data), first)
    cap = run_budget.active().control_cap if max_controls is None else max_controls
    draws = n_controls if first and run_budget.active().sequential else cap
    families = list(dict.fromkeys([*controls, *(["band"] if band is not None else [])]))
    known: set[Any] = set()
    values, runs, drawn = 0, 0, 0
    while drawn < draws:
        previous, drawn = drawn, min(drawn + n_controls, draws)
        sets = control_sets(subject, targets, drawn, seed, band)
        for family in families:
            for sites in sets[family][previous:drawn]:
                values += bool(set(sites) - known)
                known |= set(sites)
                runs += 1
    values += bool(set(targets) - known)
    return (Runs(n), Runs(n, runs + 1 + values)), _length(data), _count(data)


# --- stand-in results: the right shapes, values that let a hypothesis run to its end -----------------
def answers_result(subject: Any, examples: Sequence[Any], batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(metric, correct): every example answered (the pool's bound)."""
    return torch.ones(len(examples)), torch.ones(len(examples), dtype=torch.bool)


def answer_logits_result(subject: Any, examples: Any, corrupted: bool = False, batch_size: int | None = None) -> torch.Tensor:
    """(B, A, V) logits that name each example's answer."""
    answers = (examples.answer_ids if isinstance(examples, Posed)
               else torch.tensor([[ex.tokens[p] for p in ex.answer_positions] for ex in examples]))
    return torch.nn.functional.one_hot(answers.long(), subject.vocab_size).float()


def patterns_result(subject: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
    """One induction head (the middle layer's first head) attends to the token after the query's
    previous occurrence; every other head to the query itself."""
    target = induction_targets(input_ids, attention_mask.bool())
    eye = torch.eye(input_ids.shape[1], dtype=torch.bool).expand_as(target)
    induction = torch.where(target.any(-1, keepdim=True), target, eye).float()[:, None]
    itself = eye.float()[:, None].expand(-1, subject.n_heads, -1, -1)
    layer = itself.clone()
    layer[:, :1] = induction
    middle = subject.n_layers // 2
    return [layer if l == middle else itself for l in range(subject.n_layers)]


def eap_ig_result(subject: Any, data: Sequence[Any], steps: int = 32, method: str = "eap-ig", denoise_steps: int = 1,
                  batch_size: int | None = None) -> Attribution:
    """Seeded random scores of the model's graph, one row repeated for every example (no memory per
    example). All negative: a curve's top edges by signed score and by |score| then differ at
    every size short of the whole graph, so the plan counts the most distinct circuits a curve
    can patch (mechtests.measure.curves.measure_curve runs coinciding ones once): the bound."""
    graph, n = graph_for(subject), _count(data)
    scores = -torch.randn(graph.edge_mask.shape, generator=_generator(subject.kind, n, _length(data))).abs() * graph.edge_mask
    return Attribution(graph, scores, scores[None].expand(n, -1, -1), torch.ones(n), torch.zeros(n), method, steps,
                       _denoising(subject, data, denoise_steps))


def stacked_result(subject: Any, data: Sequence[Any], keeps: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    """(B, S): each circuit recovers its share of the graph's edges, to the power 1/4 (a curve that
    rises fast, as real ones do, from 0 for no edge to 1 for all)."""
    share = keeps.flatten(1).float().sum(1) / max(1, int(graph_for(subject).edge_mask.sum()))
    return share.clamp(0, 1).pow(0.25)[None].expand(_count(data), -1).clone()


def intervened_result(subject: Any, posed: Posed, *args: Any, **kwargs: Any) -> torch.Tensor:
    """(B, A, V) answer logits of an intervened pass: seeded noise (controls never reach their precision: the cap)."""
    shape = (len(posed), posed.answer_ids.shape[1], subject.vocab_size)
    return torch.randn(shape, generator=_generator(subject.kind, len(posed), len(args)))


def activations_result(subject: Any, posed: Posed, sites: Sequence[Any], rows: int | None = None) -> dict[Any, torch.Tensor]:
    """{site: (B, T, 1)} zeros, one storage for all (an ablation's values are never read by the stand-in passes)."""
    zeros = torch.zeros(1, 1, 1).expand(len(posed), posed.input_ids.shape[1], 1)
    return {site: zeros for site in sites}


def ablation_result(subject: Any, data: Sequence[Any], targets: Sequence[Any], method: str = "zero", n_controls: int = 10,
                    band: tuple[int, int] | None = None, seed: int = 0, precision: float = 0.1, max_controls: int | None = None,
                    controls: Sequence[str] = ("random", "same_depth")) -> AblationComparison:
    """The targets' effect 1, each control family's effects around 0.5, at the cap's draws."""
    n, cap = _count(data), run_budget.active().control_cap if max_controls is None else max_controls
    families = set(controls) | ({"band"} if band is not None else set())
    gen = _generator(subject.kind, n, seed)
    drawn = {name: 0.5 + 0.1 * torch.randn(cap, n, generator=gen) if name in families else None for name in ("random", "same_depth", "band")}
    return AblationComparison(torch.ones(n), drawn["random"], drawn["same_depth"], drawn["band"], seed)


def lens_result(subject: Any, data: Sequence[Any], sites: Sequence[Any] | None = None) -> LogitLens:
    names = [str(s) for s in sites] if sites is not None else [f"a{l}.h{h}" for l in range(subject.n_layers) for h in range(subject.n_heads)]
    n = _count(data)
    return LogitLens(names, torch.randn(n, len(names), generator=_generator(subject.kind, n)))


STANDS: tuple[Stand, ...] = (
    Stand("mechtests.queries.read", "evaluate", "answers", answers_runs, answers_result),
    Stand("mechtests.queries.read", "answer_logits", "answer reads", reads_runs, answer_logits_result),
    Stand("mechtests.measure.detect", "attention_patterns", "attention patterns", patterns_runs, patterns_result),
    Stand("mechtests.measure.contrasts", "logit_lens", "logit lens", reads_runs, lens_result),
    Stand("mechtests.measure.attribution.eap", "attribute", "EAP-IG", eap_ig_runs, eap_ig_result),
    Stand("mechtests.measure.circuits", "stacked_metrics", "edge patching", stacked_runs, stacked_result),
    Stand("mechtests.measure.interventions.core", "run_with", "intervened pass", posed_runs, intervened_result),
    Stand("mechtests.measure.interventions.core", "cache", "activations", posed_runs, activations_result),
    Stand("mechtests.measure.ablations", "targeted_ablation", "ablation", ablation_runs, ablation_result),
)


def passes(runs: Runs, rows_per_pass: int) -> int:
    """Passes of one Runs when a pass holds `rows_per_pass` rows."""
    return runs.calls * math.ceil(runs.rows / max(1, rows_per_pass))


__all__ = ["STANDS", "Runs", "Stand", "Work", "passes"]

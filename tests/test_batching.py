"""Memory-budgeted batches: parsing the budget, rows from the model's shape, and halving on out-of-memory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import mechtests
from mechtests.run import batching
from mechtests.measure.attribution import eap_ig
from mechtests.measure.attribution import Layout
from mechtests.run.batching import BatchWarning, MemoryLimit, in_batches, parse_max_memory
from mechtests.measure.circuits import edge_effects, edge_patched_metric, stacked_metrics
from mechtests.errors import MechtestsError
from mechtests.measure import detect
from mechtests.measure.interventions import ablation_values, cache, head_sweep, run_with
from mechtests.models.components import Site
from mechtests.queries import answer_logits, evaluate, pose

sys.path.insert(0, str(Path(__file__).parent / "measure"))  # the measurement tests' seeded examples
from measure_helpers import copy_examples  # noqa: E402


@pytest.fixture
def examples():
    return copy_examples(8)


@pytest.mark.parametrize("text,amount,share", [
    ("auto", None, None), ("8GiB", 8 * 2**30, None), ("512MB", 512 * 10**6, None), ("2g", 2 * 2**30, None),
    ("1.5 GiB", int(1.5 * 2**30), None), ("30%", None, 0.3), ("100%", None, 1.0),
])
def test_the_memory_budget_parses_amounts_and_shares(text, amount, share):
    assert parse_max_memory(text) == MemoryLimit(amount=amount, share=share)


@pytest.mark.parametrize("text", ["lots", "8 parsecs", "0%", "150%", "12", "-1GiB", ""])
def test_a_bad_memory_budget_is_a_one_line_error_that_names_the_option(text):
    with pytest.raises(MechtestsError) as err:
        parse_max_memory(text)
    assert "\n" not in str(err.value) and "--mech-max-memory" in str(err.value)


def test_rows_follow_the_budget_and_the_models_shape(tiny_paths):
    subject = mechtests.load_subject(tiny_paths["llama", "arm"])
    per_row = batching.row_bytes(subject, 16, grad=True, per_head_inputs=True)
    assert per_row > batching.row_bytes(subject, 16, grad=True) > batching.row_bytes(subject, 16)
    assert batching.row_bytes(subject, 32) > batching.row_bytes(subject, 16)
    assert batching.rows_for(subject, 16, MemoryLimit(amount=10 * per_row), grad=True, per_head_inputs=True) == 10
    assert batching.rows_for(subject, 16, MemoryLimit(amount=2**20 // 4), grad=True, per_head_inputs=True) >= 1

def test_a_share_of_the_cpu_memory_is_split_among_xdist_workers(monkeypatch):
    for workers in (1, 2):
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(workers))
        expected = 0.5 * batching.available_bytes("cpu") / workers
        assert MemoryLimit(share=0.5).bytes_for("cpu") == pytest.approx(expected, rel=0.2)
        assert MemoryLimit().bytes_for("cpu") == pytest.approx(min(expected, batching.CPU_CAP), rel=0.2)


def test_an_out_of_memory_chunk_is_halved_and_the_result_is_unchanged():
    seen = []

    def fn(start, stop, rows):
        seen.append(stop - start)
        if stop - start > 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return list(range(start, stop))

    with pytest.warns(BatchWarning, match="out of memory at 10 rows per pass; halved the batch to 5 rows"):
        parts = in_batches(fn, 23, 10, "toy")
    assert sum(parts, []) == list(range(23)) and max(len(p) for p in parts) <= 3
    assert seen[:3] == [10, 5, 2]


def test_cpu_allocator_failures_count_as_out_of_memory_and_other_errors_pass_through():
    assert batching.is_out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"))
    assert not batching.is_out_of_memory(RuntimeError("shape mismatch"))
    with pytest.raises(ValueError):
        in_batches(lambda *a: (_ for _ in ()).throw(ValueError("bug")), 4, 2, "toy")
    with pytest.raises(MechtestsError, match="single row per pass.*--mech-device"):
        in_batches(lambda *a: (_ for _ in ()).throw(MemoryError()), 4, 2, "toy")


def _fail_once_above(module: torch.nn.Module, rows: int):
    """A forward pre-hook that raises out-of-memory the first time a pass has more than `rows` rows."""
    state = {"raised": 0}

    def hook(mod, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None and ids.shape[0] > rows and not state["raised"]:
            state["raised"] += 1
            raise torch.OutOfMemoryError("CUDA out of memory (forced by the test)")

    return module.register_forward_pre_hook(hook, with_kwargs=True), state


def test_eap_ig_out_of_memory_in_one_batch_halves_it_and_keeps_the_result(tiny_paths, examples):
    subject = mechtests.load_subject(tiny_paths["llama", "mdm"])
    reference = eap_ig(subject, examples, steps=4, batch_size=32)  # 8 examples x 4 steps: one pass
    handle, state = _fail_once_above(subject.model, 16)
    try:
        with pytest.warns(BatchWarning, match="halved the batch to 16 rows"):
            halved = eap_ig(subject, examples, steps=4, batch_size=32)
    finally:
        handle.remove()
    assert state["raised"] == 1
    torch.testing.assert_close(halved.per_example, reference.per_example, rtol=1e-5, atol=1e-5 * reference.per_example.abs().max().item())
    torch.testing.assert_close(halved.metric_clean, reference.metric_clean, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("batch_size", [1, 3, 8, 20, 64])
def test_eap_ig_does_not_depend_on_the_batch_size(tiny_paths, examples, batch_size):
    subject = mechtests.load_subject(tiny_paths["llama", "arm"])
    reference = eap_ig(subject, examples, steps=4, batch_size=32)
    other = eap_ig(subject, examples, steps=4, batch_size=batch_size)
    scale = reference.per_example.abs().max().item()
    torch.testing.assert_close(other.per_example, reference.per_example, rtol=1e-5, atol=1e-5 * scale)


def test_head_sweep_out_of_memory_halves_the_heads_per_pass(tiny_paths, examples):
    subject = mechtests.load_subject(tiny_paths["llama", "arm"])
    clean = pose(subject, examples)
    reference = head_sweep(subject, examples, rows_per_pass=64)  # 8 heads per pass
    handle, state = _fail_once_above(subject.model, 4 * len(clean))
    try:
        with pytest.warns(BatchWarning, match="head sweep.*halved"):
            halved = head_sweep(subject, examples, rows_per_pass=64)
    finally:
        handle.remove()
    assert state["raised"] == 1
    torch.testing.assert_close(halved.per_example, reference.per_example, rtol=1e-5, atol=1e-6)


def _close(other: torch.Tensor, reference: torch.Tensor) -> None:
    """Within 1e-5 relative (of the largest value, for values near zero); NaN (an example a head
    detector cannot score) where the reference has NaN."""
    scale = max(reference.nan_to_num().abs().max().item(), 1e-6)
    torch.testing.assert_close(other, reference, rtol=1e-5, atol=1e-5 * scale, equal_nan=True)


@pytest.mark.parametrize("model", ["arm", "mdm"])
def test_reads_detectors_ablations_and_edge_effects_do_not_depend_on_the_batch_size(tiny_paths, examples, model):
    """Every batched measurement, at 1 and 3 rows per pass and at the budget's choice (here all
    rows in one pass): the same values within 1e-5 relative."""
    subject = mechtests.load_subject(tiny_paths["llama", model])
    clean, corrupt = pose(subject, examples), pose(subject, examples, corrupted=True)
    sites = [Site("head", 0, 1), Site("mlp_out", 1)]
    edges = torch.zeros_like(Layout(subject).graph.edge_mask)
    edges[:4] = True
    per_row = torch.rand(len(examples), *edges.shape, generator=torch.Generator().manual_seed(0)) < 0.5  # a circuit per example
    reference = {
        "answer logits": answer_logits(subject, examples),
        "metric": evaluate(subject, examples)[0],
        "induction": detect.induction(subject, examples).per_example,
        "cached": torch.cat([a.flatten(1) for a in cache(subject, corrupt, sites).values()], 1),
        "patched": run_with(subject, clean, cache(subject, corrupt, sites)),
        "mean-ablated": run_with(subject, clean, ablation_values(subject, clean, sites, "mean")),
        "edge effects": edge_effects(subject, examples, edges),
        "posed answer logits": answer_logits(subject, clean),
        "edge-patched (mean)": torch.stack(edge_patched_metric(subject, examples, edges, reference="mean")),
        "edge-patched per row": torch.stack(edge_patched_metric(subject, examples, per_row)),
    }
    for rows in (1, 3):
        batched = {
            "answer logits": answer_logits(subject, examples, batch_size=rows),
            "metric": evaluate(subject, examples, batch_size=rows)[0],
            "induction": detect.induction(subject, examples, batch_size=rows).per_example,
            "cached": torch.cat([a.flatten(1) for a in cache(subject, corrupt, sites, rows=rows).values()], 1),
            "patched": run_with(subject, clean, cache(subject, corrupt, sites, rows=rows), rows=rows),
            "mean-ablated": run_with(subject, clean, ablation_values(subject, clean, sites, "mean"), rows=rows),
            "edge effects": edge_effects(subject, examples, edges, rows_per_pass=rows * len(examples)),
            "posed answer logits": answer_logits(subject, clean, batch_size=rows),
            "edge-patched (mean)": torch.stack(edge_patched_metric(subject, examples, edges, reference="mean", rows_per_pass=rows)),
            "edge-patched per row": torch.stack(edge_patched_metric(subject, examples, per_row, rows_per_pass=rows)),
        }
        for name, value in batched.items():
            _close(value, reference[name])


def test_edge_patching_keeps_every_pass_within_the_row_budget_when_the_circuits_exceed_it(tiny_paths, examples):
    """Three circuits (none of them a curve's unpatched ends) on a budget of two rows: one
    example's circuits are split over passes instead of one pass of three rows."""
    subject = mechtests.load_subject(tiny_paths["llama", "arm"])
    edges = Layout(subject).graph.edge_mask
    keeps = torch.rand(3, *edges.shape, generator=torch.Generator().manual_seed(0)) < 0.5
    rows = []
    handle = subject.model.register_forward_pre_hook(lambda module, args, kwargs: rows.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
    try:
        stacked_metrics(subject, examples, keeps, rows_per_pass=2)
    finally:
        handle.remove()
    assert rows and max(rows) <= 2 and sum(rows) == 4 * len(examples)  # per example: its reference, then 3 patched rows


def test_an_intervened_pass_out_of_memory_is_halved_with_the_result_unchanged(tiny_paths, examples):
    subject = mechtests.load_subject(tiny_paths["llama", "arm"])
    clean, corrupt = pose(subject, examples), pose(subject, examples, corrupted=True)
    values = cache(subject, corrupt, [Site("head", 1, 0)])
    reference = run_with(subject, clean, values, rows=8)
    handle, state = _fail_once_above(subject.model, 4)
    try:
        with pytest.warns(BatchWarning, match="intervened passes.*halved the batch to 4 rows"):
            halved = run_with(subject, clean, values, rows=8)
    finally:
        handle.remove()
    assert state["raised"] == 1
    _close(halved, reference)

"""Placement: device and dtype choices, GPU pinning per xdist worker, spreading, threads (CPU-only checks)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from mechtests import load_subject
from mechtests.models import placement
from mechtests.errors import MechtestsError
from mechtests.models.placement import parse_device, parse_dtype, resolve_device, resolve_dtype, spread, worker_devices

GiB = 2**30


@pytest.mark.parametrize("text,parsed", [("auto", "auto"), ("CPU", "cpu"), ("cuda", "cuda"), ("cuda:3", "cuda:3"), ("mps", "mps")])
def test_device_choices_parse(text, parsed):
    assert parse_device(text) == parsed


@pytest.mark.parametrize("text", ["gpu", "cuda:", "cuda:-1", "mps0", ""])
def test_a_bad_device_is_a_one_line_error_naming_the_option(text):
    with pytest.raises(MechtestsError, match="--mech-device auto, cpu, cuda or cuda:N") as err:
        parse_device(text)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("choice,gpus,device", [
    ("auto", 0, "cpu"), ("auto", 2, "cuda:0"), ("cpu", 4, "cpu"), ("cuda", 1, "cuda:0"), ("cuda:1", 2, "cuda:1"),
])
def test_devices_resolve_against_the_gpus_visible(choice, gpus, device):
    assert resolve_device(choice, gpus) == torch.device(device)


@pytest.mark.parametrize("choice,gpus,seen", [("cuda", 0, "no CUDA GPU is visible"), ("cuda:2", 2, "only 2 GPU")])
def test_asking_for_a_missing_gpu_names_the_fix(choice, gpus, seen):
    with pytest.raises(MechtestsError, match=f"{seen}.*--mech-device cpu or auto"):
        resolve_device(choice, gpus)


@pytest.mark.parametrize("choice,device,bf16,dtype", [
    ("auto", "cpu", None, "float32"), ("auto", "cuda:0", True, "bfloat16"), ("auto", "cuda:0", False, "float16"),
    ("bf16", "cpu", None, "bfloat16"), ("fp32", "cuda:0", True, "float32"), ("float16", "cuda:1", True, "float16"),
])
def test_dtype_auto_is_bf16_on_gpu_and_fp32_on_cpu(choice, device, bf16, dtype):
    assert resolve_dtype(choice, device, bf16_supported=bf16) == dtype


def test_a_bad_dtype_names_the_choices():
    with pytest.raises(MechtestsError, match="--mech-dtype auto or one of float32, bfloat16, float16"):
        parse_dtype("int8")


def test_xdist_workers_get_their_own_gpus_and_a_pair_gets_one_per_model():
    assert worker_devices(None, 4) == [torch.device("cuda", 0)]
    assert [worker_devices(f"gw{k}", 4)[0].index for k in range(6)] == [0, 1, 2, 3, 0, 1]
    assert worker_devices("gw1", 4, models=2) == [torch.device("cuda", 2), torch.device("cuda", 3)]
    assert worker_devices("gw0", 1, models=2) == [torch.device("cuda", 0)] * 2  # one GPU: both models share it
    assert worker_devices("gw3", 0, models=2) == [torch.device("cpu")] * 2
    assert placement.worker_index("master") is None and placement.worker_index("gw12") == 12


def test_a_model_larger_than_one_gpu_is_spread_with_device_map():
    cuda0 = [torch.device("cuda", 0)]
    assert spread(10 * GiB, cuda0, {0: 40 * GiB, 1: 40 * GiB}) is None  # fits one GPU
    kwargs = spread(15 * GiB, cuda0, {0: 12 * GiB, 1: 12 * GiB})  # a 7B model in bf16 on two 12 GiB cards
    assert kwargs["device_map"] == "auto" and kwargs["max_memory"] == {0: int(0.9 * 12 * GiB), 1: int(0.9 * 12 * GiB)}
    assert placement.Placement(cuda0[0], "bfloat16", kwargs).load_kwargs() == kwargs
    with pytest.raises(MechtestsError, match="exceed the free memory of every visible GPU.*--mech-dtype bfloat16"):
        spread(30 * GiB, cuda0, {0: 12 * GiB, 1: 12 * GiB})
    assert spread(30 * GiB, [torch.device("cpu")], {}) is None  # the CPU never spreads


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only path")
def test_on_a_cpu_only_machine_auto_places_on_the_cpu_in_fp32():
    chosen = placement.place("auto", "auto", n_params=1_000_000, worker="gw1", models=2, model=1)
    assert chosen == placement.Placement(torch.device("cpu"), "float32", None)
    with pytest.raises(MechtestsError, match="no CUDA GPU"):
        placement.place("cuda", "auto", n_params=1)


@pytest.mark.parametrize("env,cores,load,threads", [
    ({}, 2, 0.0, 2),  # idle 2-core box, -n 0
    ({"PYTEST_XDIST_WORKER_COUNT": "2"}, 2, 0.1, 1),  # idle, -n 2: one each
    ({}, 2, 1.2, 1),  # a training job on one core
    ({}, 2, 5.0, 1),  # overloaded: never below 1
    ({}, 16, 3.6, 12),
    ({"PYTEST_XDIST_WORKER_COUNT": "4"}, 16, 0.0, 4),
    ({"OMP_NUM_THREADS": "3"}, 2, 9.0, 3),  # the user's setting wins
])
def test_default_threads_come_from_the_free_cores(env, cores, load, threads):
    assert placement.default_threads(env, cores=cores, load=load) == threads


BUNDLED = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-pair"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only path")
def test_load_subject_resolves_auto_and_aliases_as_the_plugin_does():
    """A pair table or a script may say auto or bf16: load_subject resolves them (mechtests.models.placement)."""
    assert load_subject(BUNDLED / "arm", device="auto", dtype="auto").spec.dtype == "float32"
    subject = load_subject(BUNDLED / "arm", device="auto", dtype="bf16")
    assert (subject.spec.device, subject.spec.dtype) == ("cpu", "bfloat16")
    with pytest.raises(MechtestsError, match="no CUDA GPU is visible"):
        load_subject(BUNDLED / "arm", device="cuda")


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_the_bundled_pair_loads_in_half_precision_on_the_cpu(dtype):
    """The load-time checks (probabilities summing to 1, attention direction) allow the dtype's
    rounding, so `--mech-dtype bfloat16` loads what float32 loads, and measures the same direction."""
    for role, direction in (("arm", "causal"), ("mdm", "bidirectional")):
        subject = load_subject(BUNDLED / role, dtype=dtype, device="cpu")
        assert next(subject.model.parameters()).dtype == getattr(torch, dtype)
        assert subject.direction == direction


def test_the_loader_sizes_a_gpu_model_from_its_headers_and_asks_placement_to_spread_it(monkeypatch):
    """On a GPU the loader hands placement the parameter count (from the safetensors headers,
    before any weight is read) and passes what it returns to from_pretrained."""
    from mechtests.models import loading
    from mechtests.models.checkpoint import tensor_sizes

    asked = []
    monkeypatch.setattr(placement, "place", lambda device, dtype, n: asked.append((device, dtype, n)) or placement.Placement(
        torch.device(device), dtype, {"device_map": "auto", "max_memory": {0: GiB, 1: GiB}}))
    spec = load_subject(BUNDLED / "arm").spec
    weights = sorted((BUNDLED / "arm").glob("*.safetensors"))
    n_params = sum(tensor_sizes(weights).values())
    assert n_params == sum(p.numel() for p in load_subject(BUNDLED / "arm").model.parameters())
    assert loading._spread(dataclasses.replace(spec, device="cuda:1"), weights) == {"device_map": "auto", "max_memory": {0: GiB, 1: GiB}}
    assert asked == [("cuda:1", "float32", n_params)]
    assert loading._spread(spec, weights) == {} and len(asked) == 1  # the CPU never spreads


def test_a_spread_model_loads_through_accelerate_and_stays_where_it_was_put(monkeypatch):
    """The device_map path end to end on the CPU: from_pretrained gets placement's device_map,
    accelerate places the modules, and the model gives a plain load's logits."""
    from mechtests.models import loading

    plain = load_subject(BUNDLED / "arm")
    seen = []
    auto_class = loading._auto_class

    class Spy:
        def __init__(self, config):
            self.cls = auto_class(config)

        def from_pretrained(self, *args, **kwargs):
            seen.append(kwargs.get("device_map"))
            return self.cls.from_pretrained(*args, **kwargs)

    monkeypatch.setattr(loading, "_auto_class", Spy)
    monkeypatch.setattr(loading, "_spread", lambda spec, weights: {"device_map": {"": "cpu"}})
    spread_model = load_subject(BUNDLED / "arm")
    assert seen == [{"": "cpu"}]
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        assert torch.equal(plain.model(ids).logits, spread_model.model(ids).logits)


def test_a_spread_load_without_accelerate_names_the_package_not_the_config(monkeypatch):
    """transformers refuses a device_map when accelerate cannot be imported; the loader's one-line
    error says to install accelerate, instead of blaming config.json (issue #30)."""
    import transformers.integrations.accelerate as hf_accelerate

    from mechtests.models import loading

    monkeypatch.setattr(hf_accelerate, "is_accelerate_available", lambda: False)
    monkeypatch.setattr(loading, "_spread", lambda spec, weights: {"device_map": {"": "cpu"}})
    with pytest.raises(MechtestsError) as caught:
        load_subject(BUNDLED / "arm")
    message = str(caught.value)
    assert "needs the package accelerate" in message and "pip install 'accelerate'" in message
    assert "config.json" not in message and "\n" not in message

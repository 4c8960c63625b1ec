"""The card of a post-trained MDM: card.json (the source of truth) and CARD.md rendered from it."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mechtests.posttrain.data import ASKS, TOPICS, CorpusSpec


def describe_data(spec: CorpusSpec) -> dict[str, Any]:
    """What the training text was, in words and settings."""
    if spec.source == "files":
        what = f"the user's text files {list(spec.files)}, tokenized, joined by end-of-text, cut into rows"
    else:
        what = (f"self-distillation: {spec.rows + spec.heldout_rows} rows sampled from the ARM itself "
                f"(temperature {spec.temperature}, top-p {spec.top_p}, end-of-text suppressed), each the answer "
                f"to a writing request from a fixed grid of {len(ASKS)} asks x {len(TOPICS)} topics when the "
                "tokenizer has a chat template, else an unconditional continuation of the text prefix; "
                "the prompt itself is not trained on; the task prompts are never used")
    return {"what": what, "heldout": f"the first {spec.heldout_rows} rows, never trained on", **asdict(spec)}


def write(folder: Path, card: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("card.json", json.dumps(card, indent=2) + "\n"), ("CARD.md", render(card))):
        tmp = folder / (name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, folder / name)


def evaluation_table(result: dict[str, Any]) -> list[str]:
    """The lines of a Markdown table of evaluate_run's result."""
    lines = [result["heldout"] + ".", "", "| measure | model / condition | value | 95% interval |", "| --- | --- | --- | --- |"]
    for group in ("masked_token_accuracy", "infilling", "later_token_effect"):
        for name, e in result[group].items():
            lines.append(f"| {group} | {name} | {e['value']:.4f} | [{e['lo']:.4f}, {e['hi']:.4f}] |")
    return lines


def render(card: dict[str, Any]) -> str:
    r, p = card["recipe"], card["progress"]
    mask = card["mask_token"]
    mode = f"a rank-{r['rank']} delta (alpha {r['alpha']}) on every decoder projection, plus the mask row" \
        if r["rank"] else "all weights"
    steps = f"{p['step']} of {card['total_steps']} steps ({p['step'] * r['batch_size'] * r['seq_len']:,} tokens)"
    lines = [
        "# A masked diffusion LM post-trained from an ARM (mechtests posttrain)", "",
        f"ARM: `{card['source']['path']}`" + (f" (`{card['source']['gguf_file']}`)" if card["source"].get("gguf_file") else "")
        + f", weights sha256 `{card['source']['sha256']}`.", "", f"Command: `{card.get('command', 'see the recipe')}`", "",
        "## Recipe (DiffuGPT / DiffuLLaMA adaptation, Gong et al. 2024)", "",
        f"- Trained: {mode}; AdamW, peak lr {r['lr'] if r['lr'] is not None else ('1e-3' if r['rank'] else '1e-4')}, "
        f"{r['warmup_steps']} warmup steps, cosine to a tenth; batch {r['batch_size']} x {r['seq_len']} tokens; seed {r['seed']}.",
        "- Mask rate t ~ U(0.001, 1) per row; each token but the first masked with probability t; cross-entropy "
        "on masked tokens weighted by 1/t.",
        "- Shift kept: the logits at position i-1 predict the token at i (prediction: shifted).",
        f"- Attention annealed from causal to bidirectional over the first {r['anneal_fraction']:.0%} of the steps "
        "(each future key visible with a probability rising from 0 to 1), fully bidirectional after.",
        f"- Mask token: `{mask['text']}` id {mask['id']}, "
        + ("added; its embedding starts as the mean of all embedding rows." if mask["added"] else "the tokenizer's own."), "",
        "## Data", "", card["data"]["what"] + ".", f"Held-out: {card['data']['heldout']}. "
        f"Rows made so far: {card['data'].get('rows_made', 'not recorded')} (sampled rows are made as training reaches them).", "",
        "## Progress", "", f"{steps}; {p['seconds'] / 3600:.2f} h of training compute on {card.get('device', 'cpu')} "
        f"({p['step'] * r['batch_size'] * r['seq_len'] / max(p['seconds'], 1e-9):.0f} tokens/s; torch "
        f"{card['versions']['torch']}, transformers {card['versions']['transformers']}).", "",
        "| step | tokens | loss (1/t-weighted) | masked-token CE | mask rate | openness |", "| --- | --- | --- | --- | --- | --- |",
    ]
    curve = p["loss_curve"]
    shown = curve[:: max(1, len(curve) // 12)] + ([curve[-1]] if curve and len(curve) % 12 else [])
    seen = set()
    for point in shown:
        if point["step"] not in seen:
            seen.add(point["step"])
            lines.append(f"| {point['step']} | {point['tokens']:,} | {point['loss']} | {point['masked_ce']} | "
                         f"{point['mask_rate']} | {point['openness']} |")
    lines += ["", "Held-out one-step masked-token accuracy (15-50% of tokens masked, seeded masks; step 0 is the "
              "untrained weights run bidirectionally), 95% bootstrap interval over rows:", "",
              "| step | accuracy | interval | masked-token CE | interval |", "| --- | --- | --- | --- | --- |"]
    for h in p["heldout_curve"]:
        acc, ce = h["accuracy"], h["masked_ce"]
        lines.append(f"| {h['step']} | {acc['value']:.4f} | [{acc['lo']:.4f}, {acc['hi']:.4f}] | {ce['value']:.4f} | "
                     f"[{ce['lo']:.4f}, {ce['hi']:.4f}] |")
    if card.get("evaluation"):
        lines += ["", "## Evaluation (`mechtests posttrain ARM --out DIR --evaluate`)", ""]
        lines += evaluation_table(card["evaluation"])
        lines += ["", "masked_token_accuracy: one step on the masked tokens (the MDM; the untrained weights run "
                  "bidirectionally) or next-token prediction of the same tokens from the left context (the causal "
                  "ARM). infilling: per row, 4 spans of 1-3 tokens in the middle half, each in its own pass, with "
                  "the text to its right present or masked; the gain is the paired difference on the same tokens. "
                  "later_token_effect: mean |change| of the logits before the last position when the last "
                  "token changes (0 for a causal model)."]
    lines += ["", "## Weights", "", f"model.safetensors sha256 `{card['sha256']}`" if card["sha256"] else
              "not written yet (the run is in progress)", ""]
    return "\n".join(lines)

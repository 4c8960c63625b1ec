"""`mechtests posttrain ARM_PATH --out DIR`: adapt an ARM into an MDM (see mechtests.posttrain.recipe)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mechtests.models.placement import parse_device
from mechtests.posttrain import Recipe, posttrain
from mechtests.posttrain.card import evaluation_table
from mechtests.posttrain.evaluate import evaluate_run

DEFAULTS = Recipe()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("arm_path", metavar="ARM_PATH", help="a Hugging Face ARM folder, or a .gguf file")
    parser.add_argument("--out", required=True, metavar="DIR", help="where the MDM folder, its card and train/ go")
    parser.add_argument("--gguf-file", metavar="F", help="load the ARM from this GGUF file inside ARM_PATH")
    parser.add_argument("--minutes", type=float, metavar="M", help="stop after M minutes (checkpointed; --resume continues)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, metavar="S", help=f"default: {DEFAULTS.seed}")
    parser.add_argument("--rank", type=int, default=DEFAULTS.rank, metavar="R",
                        help="train a rank-R delta instead of all weights (default: 0, all weights)")
    parser.add_argument("--text", nargs="+", default=[], metavar="FILE",
                        help="train on these UTF-8 text files (default: text sampled from the ARM itself)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--evaluate", action="store_true",
                        help="do not train: measure the finished MDM in --out against ARM_PATH on its held-out text "
                             "(masked-token accuracy vs the causal ARM and the untrained weights, right context, "
                             "bidirectionality) and add the numbers to its card")
    parser.add_argument("--tokens", type=int, default=DEFAULTS.train_tokens, metavar="N",
                        help=f"training tokens of the whole schedule (default: {DEFAULTS.train_tokens:,})")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, metavar="B", help=f"default: {DEFAULTS.batch_size}")
    parser.add_argument("--seq-len", type=int, default=DEFAULTS.seq_len, metavar="T", help=f"default: {DEFAULTS.seq_len}")
    parser.add_argument("--lr", type=float, metavar="LR", help="peak learning rate (default: 1e-3 with --rank, else 1e-4)")
    parser.add_argument("--corpus-rows", type=int, metavar="N",
                        help="rows of self-distilled text (default: a quarter of --tokens / --seq-len)")
    parser.add_argument("--device", type=parse_device, default=DEFAULTS.device, metavar="D",
                        help="cpu (default), cuda, cuda:N or auto: where the model trains and samples its corpus; "
                             "the masks and data order are drawn on the CPU, so only float rounding depends on it")
    parser.add_argument("--save-every", type=int, metavar="N",
                        help="also write an MDM folder every N steps under OUT/checkpoints/step-NNNNNN, for "
                             "`mechtests timeline` (default: off)")
    parser.add_argument("--checkpoint-minutes", type=float, default=DEFAULTS.checkpoint_minutes, metavar="M",
                        help=f"default: {DEFAULTS.checkpoint_minutes}")


def run(args: argparse.Namespace) -> int:
    if args.arm_path.endswith(".gguf") and args.gguf_file is None:  # a GGUF file: its folder holds the checkpoint
        args.arm_path, args.gguf_file = str(Path(args.arm_path).parent), Path(args.arm_path).name
    if args.evaluate:
        return _evaluate(args)
    recipe = Recipe(seed=args.seed, rank=args.rank, lr=args.lr, batch_size=args.batch_size, seq_len=args.seq_len,
                    train_tokens=args.tokens, corpus_rows=args.corpus_rows, minutes=args.minutes,
                    checkpoint_minutes=args.checkpoint_minutes, text_files=tuple(args.text),
                    device=args.device)
    card = posttrain(args.arm_path, args.out, recipe, gguf_file=args.gguf_file, resume=args.resume, save_every=args.save_every)
    progress = card["progress"]
    print(f"{args.out}: step {progress['step']} of {card['total_steps']}, sha256 {card['sha256']}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    result = evaluate_run(args.out, args.arm_path, gguf_file=args.gguf_file, seed=args.seed, device=args.device)
    print("\n".join(evaluation_table(result)))
    return 0

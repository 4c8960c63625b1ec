"""`posttrain`: adapt a Hugging Face ARM into a masked diffusion LM (MDM) with the published recipe.

    from mechtests.posttrain import Recipe, posttrain
    posttrain("fixtures/tiny-pair/arm", "/tmp/mdm", Recipe(minutes=0.5, train_tokens=200_000))
    posttrain(smollm2_folder, "/work/smollm2-train", Recipe(rank=8), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")

The settings and the seeded schedule are in recipe.py, the objective in objective.py. A run trains
until the recipe says stop, writes a checkpoint every `checkpoint_minutes` and at the stop, and at
the stop writes the MDM folder and its card.

Out folder: the MDM (config.json with the mechtests block, model.safetensors, tokenizer,
CARD.md, card.json), train/ (state.safetensors to resume, delta.safetensors to ship,
corpus.safetensors, the training text) and, with `save_every`, checkpoints/step-NNNNNN/: an MDM
folder every that many steps, for a timeline of the mechanisms over training.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import platform
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable

import torch
import transformers
from tqdm import tqdm

from mechtests.errors import MechtestsError
from mechtests.models import load_subject
from mechtests.models.checkpoint import read_config
from mechtests.models.placement import resolve_device
from mechtests.posttrain import card as cards
from mechtests.posttrain.adapter import Adapter
from mechtests.posttrain.checkpoint import load_state, save_state
from mechtests.posttrain.data import Corpus, CorpusSpec, rows_from_files, save_corpus
from mechtests.posttrain.evaluate import masked_scores
from mechtests.posttrain.folder import mdm_block, save_delta, sha256_of, write_folder
from mechtests.posttrain.masktoken import ensure_mask_token
from mechtests.posttrain.objective import StepLoss, masked_diffusion_loss
from mechtests.posttrain.recipe import Recipe, batch_rows, step_generator

CHECKPOINTS = "checkpoints"  # out/checkpoints/step-NNNNNN: the MDM every --save-every steps


def check_is_arm(arm_path: Path, gguf_file: str | None) -> None:
    """Refuse a checkpoint whose config.json declares it an MDM (a GGUF file declares nothing): an
    MDM adapted again would be loaded as a causal model and trained as if it were one."""
    config = arm_path / "config.json"
    if gguf_file is not None or not config.is_file():
        return  # load_subject reports a missing folder or config
    block = read_config(config).get("mechtests")
    if isinstance(block, dict) and block.get("kind") == "mdm":
        raise MechtestsError(f"{arm_path} is an MDM (its config.json's mechtests block says kind mdm)",
                             "pass the ARM to adapt: posttrain turns an ARM into an MDM")


def make_out_folder(folder: Path) -> None:
    """Create --out/train, before anything is loaded: a folder that cannot be made is a one-line error."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MechtestsError(f"cannot write --out {folder.parent}: {err.strerror or err}",
                             "pass --out a folder you can write to") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise MechtestsError(f"cannot write --out {folder.parent}: permission denied", "pass --out a folder you can write to")


class StopRequest:
    """Ctrl-C or SIGTERM during training asks the loop to stop after the current step, so the run
    ends with a consistent checkpoint and its MDM folder instead of losing the steps since the last."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self.previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():  # signal handlers only install there
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._request)

    def _request(self, signum: int, frame: Any) -> None:
        self.requested = signal.Signals(signum).name

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def device_name(device: torch.device) -> str:
    """What trained it, for the card: the CPU, or the GPU's name."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


class Run:
    """One invocation of posttrain: loads, builds the corpus, trains, checkpoints, writes."""

    def __init__(self, arm_path: str | Path, out: str | Path, recipe: Recipe, gguf_file: str | None = None,
                 resume: bool = False, log: Callable[[str], None] = tqdm.write, save_every: int | None = None) -> None:
        if save_every is not None and save_every < 1:
            raise MechtestsError(f"save_every must be a positive number of steps, got {save_every}", "pass e.g. --save-every 50")
        self.save_every = save_every
        if recipe.minutes == 0 and not resume:
            raise MechtestsError("posttrain got minutes=0 for a new run: it would train zero steps and write the ARM's own "
                                 "weights as the MDM", "pass --minutes above 0, or --resume to write the folder of the run in --out")
        check_is_arm(Path(arm_path), gguf_file)
        self.recipe, self.out, self.log = recipe, Path(out), log
        self.train_dir = self.out / "train"
        self.state_path = self.train_dir / "state.safetensors"
        if self.state_path.is_file() and not resume:
            raise MechtestsError(f"{self.out} already holds a training run", "pass --resume to continue it, or pick a fresh --out")
        if resume and not self.state_path.is_file():
            raise MechtestsError(f"nothing to resume in {self.out} (no train/state.safetensors)", "drop --resume to start a run")
        torch.set_num_threads(recipe.threads)
        torch.manual_seed(recipe.seed)
        make_out_folder(self.train_dir)
        self.device = resolve_device(recipe.device)
        self.arm = load_subject(arm_path, gguf_file=gguf_file, kind="arm")
        self.source = {"path": str(arm_path), "gguf_file": gguf_file, "sha256": self.arm.weights_sha256}
        self.model, self.tokenizer = self.arm.model.to(self.device), self.arm.tokenizer
        longest = getattr(self.model.config, "max_position_embeddings", None)
        if longest is not None and recipe.seq_len > longest:
            raise MechtestsError(f"--seq-len {recipe.seq_len} is longer than {arm_path} allows ({longest} positions)",
                                 f"pass --seq-len {longest} or less")
        self.model.set_attn_implementation("sdpa")  # speed; the written folder says eager
        self.corpus = self._corpus()
        self.heldout = self.corpus.heldout
        self.mask = ensure_mask_token(self.model, self.tokenizer)
        self.adapter = Adapter(self.model, self.mask, recipe.rank, recipe.alpha, recipe.seed).to(self.device).train()
        self.params = self.adapter.trainable()
        self.optimizer = torch.optim.AdamW(self.params.values(), lr=recipe.learning_rate, betas=(0.9, 0.98),
                                           weight_decay=recipe.weight_decay)
        self.progress: dict[str, Any] = {"step": 0, "seconds": 0.0, "loss_curve": [], "heldout_curve": [],
                                         "recipe": recipe.schedule_fields(), "source": self.source}
        if resume:
            saved = load_state(self.state_path, self.params, self.optimizer)
            if saved["recipe"] != self.progress["recipe"] or saved["source"]["sha256"] != self.source["sha256"]:
                raise MechtestsError(f"{self.out} was trained with other settings or another ARM",
                                     "resume with the same ARM and settings (see its card.json), or pick a fresh --out")
            self.progress = saved
            self.log(f"resumed at step {saved['step']} of {recipe.total_steps}")

    def _corpus(self) -> Corpus:
        r, path = self.recipe, self.train_dir / "corpus.safetensors"
        if r.text_files:
            rows = rows_from_files(self.tokenizer, r.text_files, r.seq_len)
            held = min(r.heldout_rows, len(rows) // 10)
            spec = CorpusSpec("files", len(rows) - held, held, r.seq_len, r.seed, files=tuple(map(str, r.text_files)))
            save_corpus(rows, spec, path)  # what evaluate_run reads back
            return Corpus(spec, path, rows)
        n = r.corpus_rows if r.corpus_rows is not None else max(1, r.train_tokens // (4 * r.seq_len))
        spec = CorpusSpec("self-distillation", n, r.heldout_rows, r.seq_len, r.seed, r.temperature, r.top_p)
        sampler = copy.deepcopy(self.model).eval()  # the ARM as it is, causal, however training changes the model
        return Corpus(spec, path, sampler=sampler, tokenizer=self.tokenizer, log=self.log)

    def out_of_time(self) -> bool:
        return self.recipe.minutes is not None and time.time() - self.started > 60 * self.recipe.minutes

    def train(self, max_steps: int | None = None) -> dict[str, Any]:
        """Train to the end of the schedule, the time budget or `max_steps` more steps; returns the card."""
        r, p = self.recipe, self.progress
        stop_at = r.total_steps if max_steps is None else min(r.total_steps, p["step"] + max_steps)
        self.started = time.time()
        if p["step"] == 0 and not p["heldout_curve"]:
            self._evaluate()  # step 0: the untrained weights, run bidirectionally
        last_checkpoint = time.time()
        window = p.setdefault("window", [])  # the log interval in progress: checkpointed, so a resume logs the same
        bar = tqdm(total=r.total_steps, initial=p["step"], desc="posttrain", dynamic_ncols=True, mininterval=5)
        stop = StopRequest()
        while p["step"] < stop_at and not self.out_of_time() and not stop.requested:
            step = p["step"]
            result = self._step(step)
            window.append([result.loss.item(), result.masked_ce, result.mask_rate])
            tokens_per_s = p["step"] * r.batch_size * r.seq_len / max(p["seconds"], 1e-9)
            bar.update(1)
            bar.set_postfix(loss=f"{window[-1][0]:.3f}", mask_rate=f"{result.mask_rate:.2f}",
                            open=f"{r.openness_at(step):.2f}", tok_s=f"{tokens_per_s:.0f}", refresh=False)
            if p["step"] % r.log_every == 0 or p["step"] == r.total_steps:
                self._log_window(window, step, tokens_per_s)
                window.clear()
            if p["step"] % r.eval_every == 0:
                self._evaluate()
            if self.save_every and p["step"] % self.save_every == 0:
                self.snapshot()
            if time.time() - last_checkpoint > 60 * r.checkpoint_minutes:
                self.checkpoint()
                last_checkpoint = time.time()
        bar.close()
        stop.restore()
        if stop.requested:
            self.log(f"stopping at step {p['step']} on {stop.requested}; --resume continues")
        if not p["heldout_curve"] or p["heldout_curve"][-1]["step"] != p["step"]:
            self._evaluate()
        self.checkpoint()
        return self.finish()

    def _step(self, step: int) -> StepLoss:
        """One optimizer step on the step's rows and masks (both fixed by the seed and the step)."""
        r, t0 = self.recipe, time.time()
        for group in self.optimizer.param_groups:
            group["lr"] = r.lr_at(step)
        x = self.corpus.train_rows(batch_rows(step, r.batch_size, self.corpus.spec.rows, r.seed))  # (B, T)
        result = masked_diffusion_loss(self.adapter, x, r.openness_at(step), step_generator(r.seed, step))
        self.optimizer.zero_grad(set_to_none=True)
        result.loss.backward()
        torch.nn.utils.clip_grad_norm_(list(self.params.values()), r.grad_clip)
        self.optimizer.step()
        self.progress["step"] += 1
        self.progress["seconds"] += time.time() - t0
        return result

    def _log_window(self, window: list[list[float]], step: int, tokens_per_s: float) -> None:
        r, p = self.recipe, self.progress
        loss, ce, rate = (sum(v) / len(window) for v in zip(*window))
        p["loss_curve"].append({"step": p["step"], "tokens": p["step"] * r.batch_size * r.seq_len,
                                "loss": round(loss, 4), "masked_ce": round(ce, 4), "mask_rate": round(rate, 3),
                                "openness": round(r.openness_at(step), 3), "lr": r.lr_at(step)})
        self.log(f"step {p['step']}/{r.total_steps}: loss {loss:.4f}, masked-token CE {ce:.4f}, "
                 f"mask rate {rate:.2f}, openness {r.openness_at(step):.2f}, {tokens_per_s:.0f} tokens/s")

    def _evaluate(self) -> None:
        self.adapter.eval()
        scores = masked_scores(self.adapter.logits_of, self.heldout, self.mask.id, self.recipe.seed)
        self.adapter.train()
        acc, ce = scores.accuracy(self.recipe.seed), scores.cross_entropy(self.recipe.seed)
        self.progress["heldout_curve"].append({"step": self.progress["step"], "accuracy": acc.as_dict(),
                                               "masked_ce": ce.as_dict()})
        self.log(f"held-out at step {self.progress['step']}: masked-token accuracy {acc.value:.4f} "
                 f"[{acc.lo:.4f}, {acc.hi:.4f}], cross-entropy {ce.value:.4f} [{ce.lo:.4f}, {ce.hi:.4f}]")

    def delta_meta(self) -> dict[str, Any]:
        return {"rank": self.recipe.rank, "alpha": self.recipe.alpha, "targets": self.adapter.targets,
                "mask_token": dataclasses.asdict(self.mask), "source": self.source, "step": self.progress["step"]}

    def checkpoint(self) -> None:
        """Resumable state, the shippable delta and a card whose sha256 is that of the delta merged."""
        save_state(self.state_path, self.params, self.optimizer, self.progress)
        if self.recipe.rank > 0:
            save_delta(self.adapter.delta(), self.delta_meta(), self.train_dir / "delta.safetensors")
        cards.write(self.train_dir, self.card(sha256=sha256_of(self.adapter.merged_state())))
        self.log(f"checkpoint at step {self.progress['step']} -> {self.state_path}")

    def snapshot(self) -> Path:
        """An MDM folder of the weights as they are now, under checkpoints/step-NNNNNN: what a timeline
        over training (mechtests timeline) judges. A step before the attention is fully open
        (`openness` in its card) is still judged as an MDM, bidirectionally, as a user would load it."""
        step = self.progress["step"]
        folder = self.out / CHECKPOINTS / f"step-{step:06d}"
        sha = write_folder(self.adapter.merged_state(), self.model.config, self.tokenizer, folder, mdm_block(self.mask.id))
        cards.write(folder, {**self.card(sha256=sha), "snapshot": {"step": step, "openness": self.recipe.openness_at(step)}})
        self.log(f"saved the MDM at step {step} -> {folder}")
        return folder

    def card(self, sha256: str | None) -> dict[str, Any]:
        r = self.recipe
        return {"command": r.command(self.source["path"], str(self.out), self.source["gguf_file"]),
                "recipe": dataclasses.asdict(r), "total_steps": r.total_steps, "source": self.source,
                "mask_token": dataclasses.asdict(self.mask), "data": {**cards.describe_data(self.corpus.spec), "rows_made": len(self.corpus.made)},
                "progress": self.progress, "sha256": sha256,
                "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                             "python": platform.python_version()}, "device": device_name(self.device)}

    def finish(self) -> dict[str, Any]:
        """Write the MDM folder (the merged weights) and its card."""
        sha = write_folder(self.adapter.merged_state(), self.model.config, self.tokenizer, self.out, mdm_block(self.mask.id))
        card = self.card(sha256=sha)
        cards.write(self.out, card)
        self.log(f"wrote the MDM to {self.out} (sha256 {sha[:12]}), step {self.progress['step']} of {self.recipe.total_steps}")
        return card


def posttrain(arm_path: str | Path, out: str | Path, recipe: Recipe | None = None, gguf_file: str | None = None,
              resume: bool = False, save_every: int | None = None) -> dict[str, Any]:
    """Adapt the ARM at `arm_path` into an MDM written to `out`, with an MDM folder every `save_every`
    steps under out/checkpoints/; returns the card (see module doc)."""
    return Run(arm_path, out, recipe or Recipe(), gguf_file, resume, save_every=save_every).train()

"""Layer 2: examples in, model input and answer logits out; the one place ARM and MDM differ."""

from mechtests.queries.denoise import StepPairs, denoise_schedule, posed_steps, step_pairs
from mechtests.queries.example import Example
from mechtests.queries.keep import read_only_answers
from mechtests.queries.pose import Posed, length_batches, pose, view_for
from mechtests.queries.read import answer_logits, answer_metric, correct, evaluate, forward_logits, gather_answer_logits, metric

__all__ = [
    "Example", "Posed", "StepPairs", "answer_logits", "answer_metric", "correct", "denoise_schedule", "evaluate",
    "forward_logits", "gather_answer_logits", "length_batches", "metric", "pose", "posed_steps", "read_only_answers",
    "step_pairs", "view_for",
]

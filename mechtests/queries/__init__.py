"""Layer 2: examples in, model input and answer logits out; the one place ARM and MDM differ."""

from mechtests.queries.denoise import denoise_schedule, posed_steps
from mechtests.queries.example import Example
from mechtests.queries.keep import read_only_answers
from mechtests.queries.pose import Posed, length_batches, pose, view_for
from mechtests.queries.read import answer_logits, correct, evaluate, forward_logits, gather_answer_logits, metric

__all__ = [
    "Example", "Posed", "answer_logits", "correct", "denoise_schedule", "evaluate", "forward_logits",
    "gather_answer_logits", "length_batches", "metric", "pose", "posed_steps", "read_only_answers", "view_for",
]

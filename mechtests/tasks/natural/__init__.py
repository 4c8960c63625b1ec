"""The paper's tasks posed in natural language for any Hugging Face tokenizer (plain text, no chat
template): induction, IOI, Greater-Than, Countdown and Semantic Infilling, with the same names and
regimes as the bundled tasks. Each drops and counts the candidates a tokenizer cannot express."""

from __future__ import annotations

from mechtests.tasks.base import Task
from mechtests.tasks.natural.countdown import NaturalCountdown
from mechtests.tasks.natural.greater_than import NaturalGreaterThan
from mechtests.tasks.natural.induction import NaturalInduction
from mechtests.tasks.natural.infilling import NaturalInfilling
from mechtests.tasks.natural.ioi import NaturalIOI

NATURAL_TASKS: dict[str, Task] = {
    t.name: t for t in (NaturalInduction(), NaturalIOI(), NaturalGreaterThan(), NaturalCountdown(), NaturalInfilling())
}

__all__ = ["NATURAL_TASKS"]

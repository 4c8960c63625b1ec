"""The paper's tasks posed in natural language for any Hugging Face tokenizer (plain text, no chat
template): induction, IOI, Greater-Than, Countdown and Semantic Infilling, with the same names and
regimes as the bundled tasks, and `repeat_text` (repeated sentences), which only a real tokenizer
can pose. Each drops and counts the candidates a tokenizer cannot express."""

from __future__ import annotations

from functools import lru_cache

from mechtests.run.budget import DEFAULT
from mechtests.tasks.base import Task
from mechtests.tasks.natural.countdown import NaturalCountdown
from mechtests.tasks.natural.greater_than import NaturalGreaterThan
from mechtests.tasks.natural.induction import NaturalInduction
from mechtests.tasks.natural.infilling import NaturalInfilling
from mechtests.tasks.natural.ioi import NaturalIOI
from mechtests.tasks.natural.repeat_text import NaturalRepeatText

# One instance each, so that a tokenizer's vocabulary is read once whatever the difficulty.
_INDUCTION, _IOI, _GREATER_THAN, _REPEAT_TEXT = NaturalInduction(), NaturalIOI(), NaturalGreaterThan(), NaturalRepeatText()


@lru_cache(maxsize=None)
def natural_tasks(infilling_facts: int, countdown_operands: int) -> dict[str, Task]:
    """The natural-language generators at one difficulty (the run budget's), the same dict for the same one."""
    return {t.name: t for t in (_INDUCTION, _IOI, _GREATER_THAN, NaturalCountdown(countdown_operands),
                                NaturalInfilling(infilling_facts), _REPEAT_TEXT)}


NATURAL_TASKS = natural_tasks(DEFAULT.infilling_facts, DEFAULT.countdown_operands)

__all__ = ["NATURAL_TASKS", "natural_tasks"]

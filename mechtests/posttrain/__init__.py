"""posttrain: turn a Hugging Face ARM into a masked diffusion LM with the published adaptation recipe.

Beside fixtures/build_pair.py, it uses only the models layer of mechtests (and mechtests.stats
for its bootstrap intervals): it trains checkpoints, it does not test hypotheses.
"""

from mechtests.posttrain.assemble import assemble
from mechtests.posttrain.evaluate import evaluate_run
from mechtests.posttrain.recipe import Recipe
from mechtests.posttrain.training import posttrain

__all__ = ["Recipe", "assemble", "evaluate_run", "posttrain"]

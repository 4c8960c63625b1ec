"""posttrain: turn a Hugging Face ARM into a masked diffusion LM with the published adaptation recipe.

Beside fixtures/build_pair.py, it uses only the models and tasks layers of mechtests.
"""

from mechtests.posttrain.recipe import Recipe, posttrain

__all__ = ["Recipe", "posttrain"]

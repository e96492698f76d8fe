"""Built-in recipes. Importing this package registers each of them by name.

A new model adds a module here (a :class:`~napari_medsynth.train.recipe.Recipe` subclass
decorated with ``@register_recipe("name")``) and imports it below.
"""

from . import dcgan  # noqa: F401
from . import pggan  # noqa: F401
from . import classifier  # noqa: F401
from . import segmenter  # noqa: F401
from . import spade  # noqa: F401

"""``python -m napari_medsynth.cli`` (and ``torchrun -m napari_medsynth.cli``): the command line."""

import sys

from . import main

sys.exit(main())

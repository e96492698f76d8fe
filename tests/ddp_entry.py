"""torchrun entry for the DDP test: each rank works in its own folder, then runs the CLI.

The output folder is passed as a relative path, so a rank that wrote anything would leave it under
``BASE/rank<R>/``; the test checks that only ``rank0`` holds files.
Usage: ddp_entry.py BASE <napari-medsynth arguments...>
"""

import os
import sys

rank_dir = os.path.join(sys.argv[1], f"rank{os.environ['RANK']}")
os.makedirs(rank_dir, exist_ok=True)
os.chdir(rank_dir)

from napari_medsynth.cli import main  # noqa: E402

sys.exit(main(sys.argv[2:]))

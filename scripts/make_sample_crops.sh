#!/usr/bin/env bash
# Build the SAGE crop dataset of the shipped sample cases (default settings: 64 px crops,
# 256 px tumor-free slices): the 8 simulated tumor cases (T1-Gd + BraTS labels, class "tumor")
# and the 2 tumor-free cases (PHI only, class "healthy").
#   usage: scripts/make_sample_crops.sh [OUT_DIR]   (default: ~/.cache/napari-medsynth/sample_crops)
set -euo pipefail
python -m napari_medsynth.sage.sample_crops "$@"

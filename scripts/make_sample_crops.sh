#!/usr/bin/env bash
# Build the SAGE crop dataset of the shipped sample cases (default settings: 64 px crops,
# 256 px tumor-free slices): the 8 simulated tumor cases (T1-Gd + BraTS labels, class "tumor")
# and the 2 tumor-free cases (PHI only, class "healthy").
#   usage: scripts/make_sample_crops.sh [OUT_DIR]   (default: sage_crops)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-sage_crops}"
run() { python -m napari_medsynth.cli crops "$@"; }
for case in MSYN-001 MSYN-002 MSYN-003 MSYN-004 MSYN-005 MSYN-006 MSYN-007 MSYN-008; do
  run --image "$here/sample_data/$case/${case}_t1ce.nii.gz" --labels "$here/sample_data/$case/${case}_seg.nii.gz" \
      --class tumor --patient "$case" --out "$out" --replace
done
for case in MSYN-H01 MSYN-H02; do
  run --image "$here/sample_data/$case/${case}_t1ce.nii.gz" --class healthy --patient "$case" --out "$out" --replace
done

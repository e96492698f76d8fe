"""PGGAN label-map (and MR) generation: growth schedule, sampling from checkpoints, cleaning.

The networks live in :mod:`napari_medsynth.pggan.network`, training in the ``pggan-labels`` and
``pggan-mr`` recipes of the one trainer (:mod:`napari_medsynth.pggan.recipe`).
"""

"""PGGAN label-map (and MR) generation: growth schedule, sampling from checkpoints, cleaning.

The networks live in :mod:`napari_medsynth.models.pggan`, training in the ``pggan-labels`` and
``pggan-mr`` recipes of the one trainer (:mod:`napari_medsynth.train.recipes.pggan`).
"""

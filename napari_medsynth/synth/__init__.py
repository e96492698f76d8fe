"""Inference pipelines: turning trained generators into images (label map -> MR, provenance)."""

"""napari-medsynth: synthetic brain-tumor MR images you can inspect, steer and evaluate."""

__version__ = "0.1.0"

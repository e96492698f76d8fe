"""Neural networks as plain ``nn.Module`` classes; training logic lives in :mod:`napari_medsynth.train`."""

from .dcgan import DCGANDiscriminator, DCGANGenerator

__all__ = ["DCGANDiscriminator", "DCGANGenerator"]

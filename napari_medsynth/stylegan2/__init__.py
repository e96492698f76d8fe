"""StyleGAN2 with adaptive discriminator augmentation: networks, recipe and sampler."""

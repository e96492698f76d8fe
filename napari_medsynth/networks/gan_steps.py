"""The non-saturating GAN update (Goodfellow et al.) that several recipes share.

The discriminator learns real -> ``real_label`` (1, or less for one-sided label smoothing) and
fake -> 0 with binary cross-entropy on logits; then the generator learns to make the discriminator
call the same fakes real (``-log D(G(z))``). Each forward is followed by its own backward, which
is what ``DistributedDataParallel`` supports and what keeps batch-norm statistics per source.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class GANStep:
    loss_real: torch.Tensor
    loss_fake: torch.Tensor
    loss_g: torch.Tensor
    logit_real: torch.Tensor
    logit_fake: torch.Tensor

    @property
    def loss_d(self) -> float:
        return float(self.loss_real.detach() + self.loss_fake.detach())


def nonsaturating_step(amp, D, real: torch.Tensor, fake: torch.Tensor, opt_d, opt_g, real_label: float = 1.0,
                       g_weight: float = 1.0) -> GANStep:
    """One discriminator and one generator update on ``real`` and ``fake`` (still attached to the
    generator's graph); ``amp`` is the trainer's :class:`~napari_medsynth.train.device.Precision`."""
    opt_d.zero_grad(set_to_none=True)
    with amp.autocast():
        logit_real = D(real)
        loss_real = F.binary_cross_entropy_with_logits(logit_real, torch.full_like(logit_real, real_label))
    amp.backward(loss_real)
    with amp.autocast():
        logit_fake = D(fake.detach())
        loss_fake = F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake))
    amp.backward(loss_fake)
    amp.step(opt_d)

    opt_g.zero_grad(set_to_none=True)
    with amp.autocast():
        logit_gen = D(fake)
        loss_g = F.binary_cross_entropy_with_logits(logit_gen, torch.ones_like(logit_gen))
    amp.backward(loss_g if g_weight == 1.0 else g_weight * loss_g)
    amp.step(opt_g)
    return GANStep(loss_real, loss_fake, loss_g, logit_real, logit_fake)

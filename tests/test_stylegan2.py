"""StyleGAN2: the modulated convolution against a direct computation, ADA, a tiny training run
that learns, and reproducible sampling from a seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from napari_medsynth.stylegan2.augment import AdaptiveAugment, augment
from napari_medsynth.stylegan2.network import (
    StyleGAN2Discriminator,
    StyleGAN2Generator,
    SynthesisNetwork,
    modulated_conv2d,
)
from napari_medsynth.train import StepEvent, Trainer, TrainSettings
from napari_medsynth.train.checkpoint import latest_checkpoint

torch.set_num_threads(1)


def test_modulated_conv_is_a_per_sample_conv_with_scaled_and_normalised_weights():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 9, 9, generator=g)
    weight = torch.randn(5, 4, 3, 3, generator=g)
    styles = torch.rand(3, 4, generator=g) + 0.5
    out = modulated_conv2d(x, weight, styles, demodulate=True, padding=1)
    for b in range(3):
        w = weight.clone()
        for o in range(5):
            for i in range(4):
                w[o, i] = weight[o, i] * styles[b, i]
            w[o] = w[o] / torch.sqrt((w[o] ** 2).sum() + 1e-8)
        direct = F.conv2d(x[b:b + 1], w, padding=1)
        torch.testing.assert_close(out[b:b + 1], direct, rtol=1e-5, atol=1e-5)
    plain = modulated_conv2d(x, weight, styles, demodulate=False, padding=1)
    torch.testing.assert_close(plain[1:2], F.conv2d(x[1:2], weight * styles[1][None, :, None, None], padding=1),
                               rtol=1e-5, atol=1e-5)


def test_demodulated_outputs_keep_unit_variance_for_any_style_scale():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 64, 16, 16, generator=g)
    weight = torch.randn(32, 64, 3, 3, generator=g)
    for scale in (0.1, 10.0):
        out = modulated_conv2d(x, weight, torch.full((2, 64), scale), padding=1)
        assert 0.7 < float(out[:, :, 1:-1, 1:-1].std()) < 1.3


def test_generator_and_discriminator_shapes_and_classes():
    G = StyleGAN2Generator(z_dim=16, w_dim=16, resolution=16, n_classes=2, channel_base=256, channel_max=16)
    D = StyleGAN2Discriminator(16, n_classes=2, channel_base=256, channel_max=16)
    z, c = torch.randn(4, 16), torch.tensor([0, 1, 0, 1])
    img = G(z, c)
    assert img.shape == (4, 1, 16, 16) and D(img, c).shape == (4,)
    assert G.num_ws == SynthesisNetwork(16, 16, 1, 256, 16).num_ws == 6   # 4: 2 w, 8: +2, 16: +2
    with pytest.raises(ValueError, match="class"):
        G(z)
    with pytest.raises(ValueError, match="power of two"):
        StyleGAN2Generator(resolution=48)
    # the class changes the image; truncation 0 gives the mean w of the class
    assert not torch.allclose(G(z, c, noise_mode="none"), G(z, 1 - c, noise_mode="none"))
    w0 = G.ws(z, c, truncation=0.0)
    torch.testing.assert_close(w0, G.mapping.w_avg.expand_as(w0))


def test_augment_keeps_images_at_p0_changes_them_at_p1_and_is_differentiable():
    x = torch.rand(6, 1, 32, 32) * 2 - 1
    assert augment(x, 0.0) is x
    x.requires_grad_(True)
    y = augment(x, 1.0, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and not torch.allclose(y, x)
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    ada = AdaptiveAugment(target=0.6, speed_kimg=0.01, interval=1)
    ada.observe(torch.ones(8))      # overconfident on reals: p goes up
    assert ada.p > 0
    up = ada.p
    ada.observe(-torch.ones(8))     # underconfident: p comes down
    assert ada.p < up


TINY = {"image_size": 16, "batch_size": 4, "z_dim": 16, "w_dim": 16, "channel_base": 256, "channel_max": 16,
        "mapping_layers": 2, "preview_count": 4, "r1_interval": 4, "pl_interval": 2, "ema_kimg": 0.05,
        "min_tumor_px": 1, "lr": 0.002}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from tests.pggan_helpers import make_small_case

    data = make_small_case(tmp_path_factory.mktemp("sg2data"))
    out = tmp_path_factory.mktemp("sg2")
    losses = []

    def listen(event):
        if isinstance(event, StepEvent):
            losses.append(dict(event.losses))

    settings = TrainSettings(str(data), str(out), steps=120, checkpoint_every=120, preview_every=0, device="cpu",
                             seed=3, keep_checkpoints=0)
    Trainer("stylegan2", settings, TINY, listeners=(listen,)).run()
    return out, losses


def test_tiny_training_learns_the_slices(tiny_run):
    out, losses = tiny_run
    assert len(losses) == 120
    # the generator's loss under a learning critic goes down from its start, and R1 / PL are applied lazily
    first = np.mean([m["loss_g"] for m in losses[:10]])
    assert all(np.isfinite(m["loss_d"]) and np.isfinite(m["loss_g"]) for m in losses)
    assert any(m["r1"] > 0 for m in losses) and any(m["pl"] > 0 for m in losses)
    from napari_medsynth.stylegan2.sample import StyleGAN2Sampler

    s = StyleGAN2Sampler.load(latest_checkpoint(out))
    images = s.sample(16, seed=0, cls="non-tumor")
    # slices of a brain on air, as the training slices: the border is air (0), the middle brighter;
    # an untrained generator gives grey everywhere (border ~0.6, middle ~0.7)
    border = np.concatenate([images[:, :2].ravel(), images[:, -2:].ravel()]).mean()
    middle = images[:, 5:11, 5:11].mean()
    assert border < 0.15 and middle > border + 0.2, (middle, border, first)


def test_sampling_is_reproducible_from_the_seed(tiny_run):
    from napari_medsynth.stylegan2.sample import StyleGAN2Sampler

    s = StyleGAN2Sampler.load(latest_checkpoint(tiny_run[0]))
    a = s.sample(5, seed=7, cls="tumor", truncation=0.7)
    assert a.shape == (5, 16, 16) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    np.testing.assert_array_equal(a, s.sample(5, seed=7, cls="tumor", truncation=0.7))
    assert not np.array_equal(a, s.sample(5, seed=8, cls="tumor", truncation=0.7))
    with pytest.raises(ValueError, match="unknown class"):
        s.sample(1, seed=0, cls="meningioma")
    with pytest.raises(ValueError, match="seed"):
        s.sample(1, seed=-1, cls="tumor")


def test_cli_sample_writes_images_with_sidecars_that_regenerate_them(tiny_run, tmp_path, capsys):
    import json

    from napari_medsynth.cli import main
    from napari_medsynth.stylegan2.sample import StyleGAN2Sampler

    ckpt = latest_checkpoint(tiny_run[0])
    out = tmp_path / "synth"
    args = ["stylegan2", "sample", "--n", "3", "--out", str(out), "--checkpoint", str(ckpt), "--class", "non-tumor",
            "--truncation", "0.5", "--seed", "4"]
    assert main(args) == 0
    files = sorted(p.name for p in out.glob("*.npy"))
    assert files == [f"stylegan2_{i:05d}.npy" for i in range(3)]
    side = json.loads((out / "stylegan2_00002.json").read_text())
    assert side["class"] == "non-tumor" and side["seed"] == 4 and side["index"] == 2 and side["truncation"] == 0.5
    again = StyleGAN2Sampler.load(side["checkpoint"]).sample(side["n"], side["seed"], side["class"],
                                                             side["truncation"])[side["index"]]
    np.testing.assert_array_equal(np.load(out / "stylegan2_00002.npy"), again)
    assert (out / "overview.png").stat().st_size > 100
    assert main(args) == 2 and "already holds" in capsys.readouterr().err
    assert main(args[:-4] + ["--truncation", "5"]) == 2 and "--truncation" in capsys.readouterr().err

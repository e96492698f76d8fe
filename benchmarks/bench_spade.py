"""SPADE label -> MR speed at the scan's own resolution, beside MONAI's SPADENet in the same run.

    python benchmarks/bench_spade.py [--checkpoint models/spade.pt] [--threads 1] [--repeats 30]

* Live render: ``SpadeRenderer.render_all`` of one 240 x 240 7-class map (a slice of the shipped
  real sample case TCGA-DU-7294, all four sequences in one pass) on the label grid, end to end;
  median and 95th percentile over ``--repeats`` calls after two warm-up calls. Beside it the
  forward pass of MONAI's ``SPADENet`` (VAE mode, z from N(0, I)) at the same widths on the same
  map (240 x 240 needs its five levels to divide 240: input_shape 240 with 4 levels of 16).
* Volume render: ``napari-medsynth spade render`` of the case's 155-slice label volume, one
  sequence and all four, as a user runs it (process start, torch import, model load included),
  ``--threads`` threads.
* Training throughput: images per second of the ``spade`` recipe's ``train_step`` at the
  checkpoint's configuration (random full-resolution crops of the sample case's slices), and of
  the same step with MONAI's SPADENet as the generator (same widths, same discriminator and
  losses), after two warm-up steps each.

The numbers depend on what else runs on the machine; the 1-minute load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import cpu_name  # noqa: E402

CASE = "TCGA-DU-7294"


def timed(fn, repeats: int) -> np.ndarray:
    for _ in range(2):
        fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return 1000 * np.array(out)


def monai_spadenet(config, size: int):
    from monai.networks.nets import SPADENet

    from napari_medsynth.labels import N_CLASSES
    from napari_medsynth.spade.recipe import parse_channels

    widths = list(parse_channels(config.channels))  # coarsest -> finest, as the decoder runs
    return SPADENet(spatial_dims=2, in_channels=len(config.modality_list), out_channels=len(config.modality_list),
                    label_nc=N_CLASSES, input_shape=(size, size), channels=widths[::-1], z_dim=config.z_dim,
                    is_vae=True, spade_intermediate_channels=config.spade_hidden)


def spadenet_train_step(G, D, opt_g, opt_d, adv, batch, m: int, lambda_l1: float) -> None:
    import torch
    import torch.nn.functional as F

    from napari_medsynth.labels import one_hot

    real, seg = batch[:, :m], one_hot(batch[:, m])
    n = real.shape[0]
    opt_g.zero_grad(set_to_none=True)
    fake, mu, logvar = G(seg, real)
    logits, feats = D(torch.cat([torch.cat([seg, fake], 1), torch.cat([seg, real], 1)], 0))
    g_adv = adv([o[:n] for o in logits], target_is_real=True, for_discriminator=False)
    fm = sum(F.l1_loss(f[:n], f[n:].detach()) for per_d in feats for f in per_d) / len(feats)
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / n
    (g_adv + 10 * fm + 0.05 * kld + lambda_l1 * F.l1_loss(fake, real)).backward()
    opt_g.step()
    opt_d.zero_grad(set_to_none=True)
    logits, _ = D(torch.cat([torch.cat([seg, fake.detach()], 1), torch.cat([seg, real], 1)], 0))
    (adv([o[:n] for o in logits], target_is_real=False, for_discriminator=True)
     + adv([o[n:] for o in logits], target_is_real=True, for_discriminator=True)).backward()
    opt_d.step()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--train-steps", type=int, default=6)
    args = ap.parse_args(argv)

    import torch
    from monai.losses import PatchAdversarialLoss

    from napari_medsynth.data.native_crops import NativeCrops
    from napari_medsynth.io import read_volume
    from napari_medsynth.labels import one_hot
    from napari_medsynth.spade import SpadeRenderer
    from napari_medsynth.spade.network import build_discriminator
    from napari_medsynth.spade.recipe import SpadeConfig, SpadeRecipe
    from napari_medsynth.train.device import Precision

    torch.set_num_threads(args.threads)
    labels_path = ROOT / "sample_data" / CASE / f"{CASE}_labels7.nii.gz"
    volume = np.asarray(read_volume(labels_path, kind="labels").data)
    z = int(np.argmax((volume > 0).sum(axis=(1, 2))))
    labels = volume[z].astype(np.int64)
    renderer = SpadeRenderer.load(args.checkpoint)
    ours = timed(lambda: renderer.render_all(labels), args.repeats)

    size = labels.shape[0]
    net = monai_spadenet(renderer.config, size).eval()
    seg = one_hot(torch.from_numpy(labels[None]))
    with torch.no_grad():
        theirs = timed(lambda: net.decoder(seg, torch.randn(1, renderer.config.z_dim)), args.repeats)

    volume_s = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        for modality in ("t1ce", "all"):
            cmd = [sys.executable, "-m", "napari_medsynth.cli", "spade", "render", str(labels_path), "--out",
                   str(Path(tmp) / "mr.nii.gz"), "--modality", modality, "--threads", str(args.threads), "--quiet"]
            if args.checkpoint:
                cmd += ["--checkpoint", str(args.checkpoint)]
            t = time.perf_counter()
            subprocess.run(cmd, check=True, env=env, capture_output=True)
            volume_s[modality] = time.perf_counter() - t

    cpu = torch.device("cpu")
    config = SpadeConfig(**renderer.config.to_dict())
    data = NativeCrops(str(ROOT / "sample_data"), config.image_size, config.modality_list, include=CASE)
    rng = np.random.default_rng(0)

    def batch():
        idx = rng.choice(len(data), config.batch_size, replace=False)
        return data.batch([(int(i), (int(i), 7)) for i in idx])

    recipe = SpadeRecipe(config, cpu, Precision("fp32", cpu), seed=0)
    recipe.build()
    rate = {}
    batches = [batch() for _ in range(args.train_steps + 2)]
    for b in batches[:2]:
        recipe.train_step(b)
    t = time.perf_counter()
    for b in batches[2:]:
        recipe.train_step(b)
    rate["ours"] = args.train_steps * config.batch_size / (time.perf_counter() - t)

    G = monai_spadenet(config, config.image_size)
    D = build_discriminator(config.image_size, 7, config.d_channels, config.num_d, config.d_layers,
                            image_channels=len(config.modality_list))
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=4e-4, betas=(0.0, 0.9))
    adv = PatchAdversarialLoss(criterion="hinge")
    m = len(config.modality_list)
    for b in batches[:2]:
        spadenet_train_step(G, D, opt_g, opt_d, adv, b, m, config.lambda_l1)
    t = time.perf_counter()
    for b in batches[2:]:
        spadenet_train_step(G, D, opt_g, opt_d, adv, b, m, config.lambda_l1)
    rate["monai"] = args.train_steps * config.batch_size / (time.perf_counter() - t)

    n_params = sum(p.numel() for p in renderer.generator.parameters())
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, Python "
          f"{platform.python_version()}, {args.threads} thread(s), load average {os.getloadavg()[0]:.1f}")
    print(f"live render of one {size}x{size} map, all {m} sequences, at the map's resolution: median "
          f"{np.median(ours):.1f} ms, p95 {np.percentile(ours, 95):.1f} ms ({args.repeats} calls; "
          f"generator {n_params / 1e6:.2f} M parameters)")
    print(f"MONAI SPADENet at the same widths, same map: median {np.median(theirs):.1f} ms, p95 "
          f"{np.percentile(theirs, 95):.1f} ms")
    print(f"spade render of the {volume.shape[0]}-slice volume: {volume_s['t1ce']:.1f} s (one sequence), "
          f"{volume_s['all']:.1f} s (all four), wall clock of the command")
    print(f"training: spade recipe {rate['ours']:.2f} img/s, MONAI SPADENet generator {rate['monai']:.2f} img/s "
          f"(batch {config.batch_size}, {config.image_size} px crops, {m} sequences, {args.train_steps} steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

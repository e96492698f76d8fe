"""Loss curves of the shipped SPADE run, from the progress output of ``napari-medsynth train spade``.

    napari-medsynth train spade ... 2> train.log
    python docs/plot_spade_training.py train.log      # -> docs/spade_training.csv, docs/spade_training.png

The CLI prints every step's losses in its progress line; this collects them into a CSV and plots
the running means (window 25 steps).
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from napari_medsynth.io.atomic import atomic_write_bytes, atomic_write_text  # noqa: E402

STEP = re.compile(r"\|\s*(\d+)/(\d+) \[[^\]]*\b([\d.]+)(?:s/step|step/s), (.*?)\]")
PAIR = re.compile(r"(\w+)=([-\d.e]+)")


def parse(text: str) -> tuple[list[str], np.ndarray]:
    rows: dict[int, dict[str, float]] = {}
    for chunk in re.split(r"[\r\n]", text):
        m = STEP.search(chunk)
        if m:
            rows[int(m.group(1))] = {k: float(v) for k, v in PAIR.findall(m.group(4))}
    if not rows:
        raise SystemExit("no progress lines with losses found")
    names = sorted({k for r in rows.values() for k in r})
    steps = sorted(rows)
    table = np.array([[s] + [rows[s].get(n, np.nan) for n in names] for s in steps])
    return ["step"] + names, table


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit(__doc__)
    header, table = parse(Path(argv[0]).read_text(errors="replace"))
    docs = ROOT / "docs"
    csv = ",".join(header) + "\n" + "\n".join(",".join(f"{v:g}" for v in row) for row in table) + "\n"
    atomic_write_text(docs / "spade_training.csv", csv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = header[1:]
    fig, axes = plt.subplots(1, len(names), figsize=(3.0 * len(names), 2.6))
    k = 25
    for ax, i in zip(axes, range(1, len(header))):
        y = table[:, i]
        ax.plot(table[:, 0], y, color="0.8", lw=0.6)
        if len(y) > k:
            ax.plot(table[k - 1:, 0], np.convolve(y, np.ones(k) / k, mode="valid"), color="C0", lw=1.2)
        ax.set_title(header[i], fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("SPADE training of the shipped model (grey: every step; blue: 25-step mean)", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(docs / "spade_training.png", buf.getvalue())
    print(f"{len(table)} steps -> {docs / 'spade_training.csv'}, {docs / 'spade_training.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

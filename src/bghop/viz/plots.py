"""Plots of training logs."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from bghop.viz.render import save_figure

__all__ = ["plot_loss_curves"]


def plot_loss_curves(metrics_csv: str | os.PathLike | list, path: str | os.PathLike) -> Path:
    """Plot every ``train/*`` and ``val/*`` column of Lightning ``metrics.csv`` file(s) against the step (PNG, atomic).

    Several files (the versions of a resumed run) are concatenated in the order given.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    files = metrics_csv if isinstance(metrics_csv, list) else [metrics_csv]
    rows: list[dict] = []
    for name in files:
        with open(name, newline="") as f:
            rows += list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{metrics_csv} is empty")
    cols = sorted({c for r in rows for c in r if c.startswith(("train/", "val/")) and not c.endswith("_epoch")})
    if not cols:
        raise ValueError(f"{metrics_csv} has no train/ or val/ columns")
    fig, axes = plt.subplots(1, len(cols), figsize=(3.2 * len(cols), 2.8), squeeze=False)
    for ax, c in zip(axes[0], cols):
        pts = [(int(r["step"]), float(r[c])) for r in rows if r.get(c) not in (None, "")]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker="." if c.startswith("val/") else None, lw=1)
        ax.set_title(c, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        if c.endswith(("loss", "l1")) and pts and min(ys) > 0:
            ax.set_yscale("log")
    fig.tight_layout()
    return save_figure(fig, path)

"""Pictures of the benchmark: per-method bars of the main metrics and per-object bars."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bghop.bench.tables import BenchResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["comparison_figures"]

_COLORS = {"bghop": "#4c72b0", "prior-init": "#8172b3", "single-prior": "#dd8452", "energy": "#55a868", "random": "#8c8c8c"}


def comparison_figures(result: BenchResult) -> dict[str, Figure]:
    """``{"comparison": per-method bars of the main metrics, "comparison_per_object": per object}``."""
    from matplotlib.figure import Figure

    methods = [r.method for r in result.rows]
    colors = [_COLORS.get(m, "#937860") for m in methods]
    panels = [("both hands in contact", "contact_both_rate", True), ("stable (6 directions)", "stability_rate", True),
              ("max penetration, mean (mm)", "penetration_max_mm", False),
              ("hand–hand intersection (cm³)", "hand_hand_cm3", False),
              ("object displacement, mean (cm)", "displacement_cm", False),
              ("grasps per minute (this CPU)", "grasps_per_minute", False)]
    fig = Figure(figsize=(12.0, 6.4), layout="constrained")
    axes = fig.subplots(2, 3)
    x = np.arange(len(methods))
    for ax, (title, attr, rate) in zip(axes.flat, panels):
        vals = [getattr(r, attr) for r in result.rows]
        v = np.array([np.nan if a is None else a for a in vals], dtype=float)
        shown = 100 * v if rate else v
        ax.bar(x, np.nan_to_num(shown), color=colors)
        for xi, vi in zip(x, shown):
            ax.text(xi, 0 if np.isnan(vi) else vi, "n/a" if np.isnan(vi) else (f"{vi:.0f}%" if rate else f"{vi:.2g}"),
                    ha="center", va="bottom", fontsize=8)
        ax.set_title(title, fontsize=9)
        if rate:
            ax.set_ylim(0, 110)
        ax.set_xticks(x, methods, fontsize=8)
    n = result.rows[0].grasps if result.rows else 0
    fig.suptitle(f"grasp synthesis baselines: {len(result.objects)} objects, {n} grasps per method", fontsize=10)
    figs = {"comparison": fig}

    objs = result.objects
    by = {(r.object, r.method): r for r in result.per_object}
    fig2 = Figure(figsize=(min(26.0, max(8.0, 0.9 * len(objs) + 3)), 10.0), layout="constrained")
    axes2 = fig2.subplots(4, 1, sharex=True)
    xo = np.arange(len(objs))
    w = 0.8 / max(1, len(methods))
    rows2 = [("stable grasps (fraction of N)", lambda r: None if r.stable_of_n is None or not r.grasps
              else r.stable_of_n / r.grasps),
             ("both hands in contact (fraction of N)", lambda r: r.contact_of_n / r.grasps if r.grasps else None),
             ("hand–hand intersection, batch mean (cm³)", lambda r: r.hand_hand_cm3_mean),
             ("best-of-N grasp: max penetration (mm)", lambda r: r.best_penetration_max_mm)]
    for ax, (title, get) in zip(axes2, rows2):
        for k, (m, c) in enumerate(zip(methods, colors)):
            vals = [by.get((o, m)) for o in objs]
            v = np.array([np.nan if r is None or get(r) is None else get(r) for r in vals], dtype=float)
            ax.bar(xo + (k - (len(methods) - 1) / 2) * w, np.nan_to_num(v), width=w, color=c, label=m)
        ax.set_title(title, fontsize=9)
    for ax in axes2[:2]:
        ax.set_ylim(0, 1.05)
    handles, labels = axes2[0].get_legend_handles_labels()
    fig2.legend(handles, labels, fontsize=8, ncols=len(methods), loc="outside upper right")
    axes2[-1].set_xticks(xo, objs, rotation=35, ha="right", fontsize=8)
    fig2.suptitle(f"per object (N = {result.settings.get('config', {}).get('n')} grasps per method)", fontsize=10)
    figs["comparison_per_object"] = fig2
    return figs

"""Figures of an :class:`~bghop.eval.report.EvalReport`: metric histograms and a per-object bar chart.

The figures are built with matplotlib's object API (no pyplot state, no display needed); saving
them is the caller's business (the CLI uses :func:`bghop.viz.render.save_figure`, which writes
atomically), so this module stays below ``viz/``.
"""

from __future__ import annotations

import logging

import numpy as np
from matplotlib.figure import Figure

from bghop.eval.report import EvalReport

logger = logging.getLogger(__name__)

__all__ = ["HISTOGRAMS", "report_figures"]

#: histogram name → (column of :meth:`SampleReport.to_row`, axis label)
HISTOGRAMS: dict[str, tuple[str, str]] = {
    "hist_penetration_max_mm": ("penetration_max_mm", "max penetration depth (mm)"),
    "hist_intersection_volume_cm3": ("intersection_volume_cm3", "hand-object intersection volume (cm³)"),
    "hist_hand_hand_volume_cm3": ("hand_hand_volume_cm3", "hand-hand intersection volume (cm³)"),
    "hist_displacement_max_cm": ("displacement_max_cm", "max object displacement over 6 directions (cm)"),
}


def _histogram(values: np.ndarray, label: str, n: int) -> Figure:
    fig = Figure(figsize=(5.0, 3.4), layout="constrained")
    ax = fig.add_subplot()
    finite = values[np.isfinite(values)]
    bins = min(30, max(5, int(np.sqrt(len(finite))) + 1))
    if len(finite) and np.ptp(finite) == 0:
        ax.bar([finite[0]], [len(finite)], width=max(abs(finite[0]) * 0.1, 0.1), color="#4c72b0")
    else:
        ax.hist(finite, bins=bins, color="#4c72b0", edgecolor="white")
    n_inf = len(values) - len(finite)
    extra = f", {n_inf} infinite" if n_inf else ""
    ax.set_xlabel(label)
    ax.set_ylabel("samples")
    ax.set_title(f"{label.split(' (')[0]} — {n} samples{extra}, mean {np.mean(finite):.2f}" if len(finite)
                 else f"{label} — no values", fontsize=9)
    return fig


def _per_object(report: EvalReport) -> Figure:
    groups = [g for g in report.groups if g.num_samples > 0]
    names = [g.group for g in groups]
    series = [
        ("contact rate (both hands)", [g.contact_both_rate for g in groups], "#55a868", "rate"),
        ("stability success rate", [g.stability_rate for g in groups], "#4c72b0", "rate"),
        ("mean max penetration (mm)", [None if g.penetration_max_m_mean is None else g.penetration_max_m_mean * 1e3
                                       for g in groups], "#c44e52", "mm"),
    ]
    width = min(24.0, max(6.0, 0.6 * len(names) + 2.0))
    fig = Figure(figsize=(width, 7.5), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    x = np.arange(len(names))
    for ax, (title, vals, color, unit) in zip(axes, series):
        v = np.array([np.nan if a is None else a for a in vals], dtype=float)
        ax.bar(x, np.nan_to_num(v), color=color)
        for xi, vi in zip(x, v):
            if np.isnan(vi):
                ax.text(xi, 0, "n/a", ha="center", va="bottom", fontsize=7)
        ax.set_title(title, fontsize=9)
        if unit == "rate":
            ax.set_ylim(0, 1.05)
    axes[-1].set_xticks(x, names, rotation=45 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center")
    fig.suptitle(f"per object ({report.overall.num_samples} samples)", fontsize=10)
    return fig


def report_figures(report: EvalReport) -> dict[str, Figure]:
    """Figures for a report, keyed by file stem (``hist_<metric>``, ``per_object``).

    Histograms are made for the metrics that have at least one value (no displacement histogram
    without physics); ``per_object`` always.
    """
    rows = [s.to_row() for s in report.samples if s.ok]
    figs: dict[str, Figure] = {}
    for name, (col, label) in HISTOGRAMS.items():
        vals = np.array([r[col] for r in rows if r[col] is not None], dtype=float)
        if len(vals) == 0:
            logger.debug("no values for %s; no histogram", col)
            continue
        figs[name] = _histogram(vals, label, len(vals))
    figs["per_object"] = _per_object(report)
    return figs

"""``bghop eval``'s files and terminal tables: ``metrics.csv``, ``metrics_groups.csv``, ``metrics.json``,
``metrics_categories.csv`` and the plain-text tables (through :mod:`bghop.core.tables`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from bghop.core.io import write_text_atomic
from bghop.core.tables import cell, csv_text, json_safe, text_table

if TYPE_CHECKING:
    from bghop.eval.report import EvalReport, GroupReport

__all__ = ["write_report", "format_table"]

#: per prompted category statistics, written only when some sample has a prompted category
CATEGORIES_FILE = "metrics_categories.csv"


def write_report(report: EvalReport, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``metrics.csv`` (one row per sample), ``metrics_groups.csv`` (per group and ``all``),
    ``metrics.json`` (everything) and, when samples have prompted categories, ``metrics_categories.csv``
    (per prompted category and ``all``) into ``out_dir``, each atomically (temp file, then rename).

    Returns:
        ``{"csv": path, "groups_csv": path, "json": path}`` plus ``"categories_csv"`` when written.
    """
    out = Path(out_dir)
    paths = {
        "csv": write_text_atomic(out / "metrics.csv", csv_text([s.to_row() for s in report.samples])),
        "groups_csv": write_text_atomic(out / "metrics_groups.csv",
                                         csv_text([g.to_row() for g in [*report.groups, report.overall]])),
        "json": write_text_atomic(out / "metrics.json", json.dumps(json_safe(report.to_dict()), indent=1)),
    }
    if report.categories:
        paths["categories_csv"] = write_text_atomic(
            out / CATEGORIES_FILE, csv_text([c.to_row() for c in _category_rows(report)]))
    return paths


def _category_rows(report: EvalReport) -> list[GroupReport]:
    return [*report.categories, *([report.categories_overall] if report.categories_overall else [])]


def format_table(report: EvalReport, max_rows: int = 40) -> str:
    """The report as plain-text tables: samples (up to ``max_rows``), then groups and ``all``, then (when
    samples have prompted categories) the per-category table with the text-faithfulness rate."""
    out = []
    faith = any(s.predicted_category is not None for s in report.samples)
    sh = ["sample", "group", "pen max mm", "hand/obj mm", "h-o cm3", "h-h cm3", "contact R/L/both", "stable",
          "valid", "disp max cm", "sds", "s"]
    if faith:
        sh[-1:-1] = ["prompt", "predicted (p)", "faithful"]
    srows = []
    for s in report.samples[:max_rows]:
        if not s.ok:
            srows.append([s.name, s.group, f"ERROR: {s.error}"[:60], *([""] * (len(sh) - 3))])
            continue
        r = s.to_row()
        contact = "/".join(cell(x) for x in (s.contact_right, s.contact_left, s.contact_both))
        parts = f"{cell(r['penetration_hand_max_mm'])}/{cell(r['penetration_object_max_mm'])}"
        row = [s.name, s.group, cell(r["penetration_max_mm"]), parts,
               cell(s.intersection_volume_cm3), cell(s.hand_hand_volume_cm3), contact, cell(s.stable),
               cell(s.valid), cell(r["displacement_max_cm"]), cell(s.sds_score, 3), cell(s.seconds, 1)]
        if faith:
            pred = "-" if s.predicted_category is None else f"{s.predicted_category} ({s.predicted_probability:.2f})"
            row[-1:-1] = [cell(s.prompt_category), pred, cell(s.text_faithful)]
        srows.append(row)
    out.append(text_table(sh, srows))
    if len(report.samples) > max_rows:
        out.append(f"... {len(report.samples) - max_rows} more samples in metrics.csv")
    gh = ["group", "n", "err", "pen max mm", "h-o cm3", "h-h cm3", "contact both", "stable", "valid", "disp cm",
          "sds", "k", "entropy nats", "mean cluster"]
    grows = []
    for g in [*report.groups, report.overall]:
        r = g.to_row()
        grows.append([g.group, str(g.num_samples), str(g.num_errors), cell(r["penetration_max_mm"]),
                      cell(r["intersection_volume_cm3"]), cell(r["hand_hand_volume_cm3"]),
                      _pct(g.contact_both_rate), _pct(g.stability_rate), _pct(g.valid_rate),
                      cell(r["displacement_max_cm"]),
                      cell(r["sds_score"], 3), cell(r["diversity_clusters"]), cell(r["diversity_entropy_nats"]),
                      cell(r["diversity_mean_cluster_size"])])
    out.append("")
    out.append(text_table(gh, grows))
    if report.categories:
        ch = ["prompted category", "n", "err", "faithful", "p(prompt)", "contact both", "pen max mm", "h-o cm3",
              "stable", "disp cm", "k", "entropy nats", "mean cluster"]
        crows = []
        for g in _category_rows(report):
            r = g.to_row()
            crows.append([g.group, str(g.num_samples), str(g.num_errors), _pct(g.faithfulness_rate),
                          cell(g.prompt_probability_mean), _pct(g.contact_both_rate),
                          cell(r["penetration_max_mm"]), cell(r["intersection_volume_cm3"]),
                          _pct(g.stability_rate), cell(r["displacement_max_cm"]), cell(r["diversity_clusters"]),
                          cell(r["diversity_entropy_nats"]), cell(r["diversity_mean_cluster_size"])])
        out.append("")
        out.append(text_table(ch, crows))
    return "\n".join(out)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"

"""The benchmark's results: rows per method and per object, and the tables and files that show them."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bghop.core.io import write_json_atomic, write_text_atomic
from bghop.core.tables import cell, csv_text, json_safe, markdown_table
from bghop.eval.ranking import BEST_OF_N, rank_score
from bghop.eval.report import EvalReport, SampleReport

__all__ = ["JobRecord", "MethodRow", "ObjectRow", "BenchResult", "METHOD_COLUMNS", "object_rows", "method_row",
           "comparison_table", "per_object_table", "comparison_markdown", "write_comparison"]


@dataclass
class JobRecord:
    """One (method, object) run.

    Attributes:
        method / object: what ran.
        folder: its result folder (None when it failed).
        grasps: grasps written.
        dropped: grasps lost (non-finite values, or unpaired for ``single-prior``).
        seconds: synthesis wall time (read back from the folder when resumed).
        resumed: the folder was complete already and was not recomputed.
        error: why it failed (None when it did not).
    """

    method: str
    object: str
    folder: str | None
    grasps: int = 0
    dropped: int = 0
    seconds: float = 0.0
    resumed: bool = False
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class MethodRow:
    """One method over all objects (means over evaluated grasps unless said otherwise).

    Attributes:
        method: its name.
        objects: objects with a result folder.
        grasps: grasps evaluated.
        errors: grasps that could not be evaluated + (method, object) runs that failed.
        contact_both_rate: fraction with both hands within 5 mm of the surface.
        penetration_mean_mm: mean depth of the hand vertices inside the object, mm.
        penetration_max_mm: mean over grasps of the deepest penetration either way, mm.
        intersection_cm3 / hand_hand_cm3: hand–object / hand–hand intersection volume, cm³.
        stability_rate: fraction held in all six gravity directions and ≤ 5 mm deep both ways
            (None without physics).
        valid_rate: fraction valid: stable, both hands in contact, ≤ 5 mm deep both ways, hands
            apart (:mod:`bghop.eval.validity`; None without physics).
        displacement_cm: mean of the largest object displacement over six directions, cm.
        sds_score: plausibility under the bimanual prior (lower = more plausible; None if off).
        entropy_nats / cluster_size: diversity per object (k-means entropy of the cluster
            sizes, mean cluster size), averaged over objects.
        best_stable / best_valid / best_contact: fraction of objects whose best-of-N grasp is
            stable / valid / has both hands in contact.
        seconds: synthesis time summed over objects.
        grasps_per_minute: grasps written per minute of synthesis.
    """

    method: str
    objects: int = 0
    grasps: int = 0
    errors: int = 0
    contact_both_rate: float | None = None
    penetration_mean_mm: float | None = None
    penetration_max_mm: float | None = None
    intersection_cm3: float | None = None
    hand_hand_cm3: float | None = None
    stability_rate: float | None = None
    valid_rate: float | None = None
    displacement_cm: float | None = None
    sds_score: float | None = None
    entropy_nats: float | None = None
    cluster_size: float | None = None
    best_stable: float | None = None
    best_valid: float | None = None
    best_contact: float | None = None
    seconds: float = 0.0
    grasps_per_minute: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ObjectRow:
    """One (object, method): batch rates and its best-of-N grasp (:data:`bghop.eval.ranking.BEST_OF_N`).

    Attributes:
        object / method: which.
        grasps: grasps evaluated.
        contact_of_n / stable_of_n / valid_of_n: grasps with both hands in contact / held /
            valid (the last two None without physics).
        hand_hand_cm3_mean: mean hand–hand intersection volume of the batch, cm³.
        best: the best grasp's sample name (``<object>/<k>``).
        best_stable / best_valid / best_contact / best_penetration_max_mm / best_hand_hand_cm3 /
            best_displacement_cm / best_sds_score: its metrics.
        entropy_nats: diversity of the batch.
        seconds: synthesis time.
    """

    object: str
    method: str
    grasps: int = 0
    contact_of_n: int = 0
    stable_of_n: int | None = None
    valid_of_n: int | None = None
    hand_hand_cm3_mean: float | None = None
    best: str | None = None
    best_stable: bool | None = None
    best_valid: bool | None = None
    best_contact: bool | None = None
    best_penetration_max_mm: float | None = None
    best_hand_hand_cm3: float | None = None
    best_displacement_cm: float | None = None
    best_sds_score: float | None = None
    entropy_nats: float | None = None
    seconds: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class BenchResult:
    """Everything :func:`bghop.bench.run_benchmark` measured.

    Attributes:
        rows: one per method, in :attr:`BenchConfig.methods <bghop.bench.BenchConfig>` order.
        per_object: one per (object, method) with a result folder.
        jobs: one per (method, object) run.
        reports: each method's evaluation report.
        objects: the objects, in order (names).
        settings: configuration, models, device, threads.
        notes: remarks for the reader.
        seconds: total wall time.
    """

    rows: list[MethodRow]
    per_object: list[ObjectRow]
    jobs: list[JobRecord]
    reports: dict[str, EvalReport]
    objects: list[str]
    settings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"settings": self.settings, "notes": self.notes, "seconds": self.seconds, "objects": self.objects,
                "methods": [r.to_dict() for r in self.rows], "per_object": [r.to_dict() for r in self.per_object],
                "jobs": [j.to_dict() for j in self.jobs]}


# ----------------------------------------------------------------------------------------------
# aggregation


def _best_score(s: SampleReport) -> float:
    """Best-of-N ordering (lower is better), the same rule for every method."""
    return rank_score(s.stable, s.contact_both, s.penetration_max_m, s.hand_hand_volume_cm3, weights=BEST_OF_N,
                      max_displacement_m=s.max_displacement_m)


def _mean(xs: Sequence[float | None]) -> float | None:
    v = [float(x) for x in xs if x is not None and math.isfinite(float(x))]
    return float(np.mean(v)) if v else None


def _scaled(x: float | None, f: float) -> float | None:
    return None if x is None else x * f


def object_rows(method: str, report: EvalReport, jobs: dict[str, JobRecord]) -> list[ObjectRow]:
    """One :class:`ObjectRow` per object group of a method's evaluation."""
    rows = []
    for g in report.groups:
        ok = [s for s in report.samples if s.group == g.group and s.ok]
        row = ObjectRow(object=g.group, method=method, grasps=len(ok),
                        contact_of_n=sum(bool(s.contact_both) for s in ok),
                        stable_of_n=None if all(s.stable is None for s in ok) else sum(bool(s.stable) for s in ok),
                        valid_of_n=None if all(s.valid is None for s in ok) else sum(bool(s.valid) for s in ok),
                        hand_hand_cm3_mean=g.hand_hand_volume_cm3_mean,
                        entropy_nats=g.diversity.entropy_nats if g.diversity else None,
                        seconds=jobs[g.group].seconds if g.group in jobs else None)
        if ok:
            b = min(ok, key=_best_score)  # first of equals: the method's own order
            row.best = b.name
            row.best_stable, row.best_valid, row.best_contact = b.stable, b.valid, b.contact_both
            row.best_penetration_max_mm = _scaled(b.penetration_max_m, 1e3)
            row.best_hand_hand_cm3 = b.hand_hand_volume_cm3
            row.best_displacement_cm = _scaled(b.max_displacement_m, 1e2)
            row.best_sds_score = b.sds_score
        rows.append(row)
    return rows


def method_row(method: str, report: EvalReport | None, objects: list[ObjectRow], jobs: list[JobRecord]) -> MethodRow:
    """The :class:`MethodRow` of a method from its evaluation, object rows and jobs."""
    done = [j for j in jobs if j.error is None]
    seconds = float(sum(j.seconds for j in done))
    grasps_out = sum(j.grasps for j in done)
    row = MethodRow(method=method, objects=len(done), seconds=seconds, errors=sum(j.error is not None for j in jobs),
                    grasps_per_minute=60.0 * grasps_out / seconds if seconds > 0 else None)
    if report is None:
        return row
    o = report.overall
    row.grasps = o.num_samples
    row.errors += o.num_errors
    row.contact_both_rate = o.contact_both_rate
    row.penetration_mean_mm = _scaled(o.penetration_mean_m_mean, 1e3)
    row.penetration_max_mm = _scaled(o.penetration_max_m_mean, 1e3)
    row.intersection_cm3 = o.intersection_volume_cm3_mean
    row.hand_hand_cm3 = o.hand_hand_volume_cm3_mean
    row.stability_rate = o.stability_rate
    row.valid_rate = o.valid_rate
    row.displacement_cm = _scaled(o.max_displacement_m_mean, 1e2)
    row.sds_score = o.sds_score_mean
    divs = [g.diversity for g in report.groups if g.diversity is not None]
    row.entropy_nats = _mean([d.entropy_nats for d in divs])
    row.cluster_size = _mean([d.mean_cluster_size for d in divs])
    with_best = [r for r in objects if r.best is not None]
    if with_best:
        if any(r.best_stable is not None for r in with_best):
            row.best_stable = float(np.mean([bool(r.best_stable) for r in with_best]))
        if any(r.best_valid is not None for r in with_best):
            row.best_valid = float(np.mean([bool(r.best_valid) for r in with_best]))
        row.best_contact = float(np.mean([bool(r.best_contact) for r in with_best]))
    return row


# ----------------------------------------------------------------------------------------------
# tables and files

#: columns of the method table: (header, MethodRow attribute, digits or "pct")
METHOD_COLUMNS: tuple[tuple[str, str, Any], ...] = (
    ("grasps", "grasps", 0),
    ("both hands in contact", "contact_both_rate", "pct"),
    ("pen. mean mm", "penetration_mean_mm", 2),
    ("pen. max mm", "penetration_max_mm", 2),
    ("hand–obj. cm³", "intersection_cm3", 2),
    ("hand–hand cm³", "hand_hand_cm3", 2),
    ("stable (6 dir.)", "stability_rate", "pct"),
    ("valid", "valid_rate", "pct"),
    ("displ. cm", "displacement_cm", 1),
    ("prior score ↓", "sds_score", 5),
    ("entropy nats", "entropy_nats", 2),
    ("cluster size", "cluster_size", 2),
    ("best-of-N stable", "best_stable", "pct"),
    ("best-of-N valid", "best_valid", "pct"),
    ("grasps/min", "grasps_per_minute", 1),
)


def comparison_table(result: BenchResult) -> str:
    """The per-method table (Markdown; :data:`METHOD_COLUMNS`)."""
    header = ["method", *(h for h, _, _ in METHOD_COLUMNS)]
    rows = []
    for r in result.rows:
        cells = [r.method]
        for _, attr, d in METHOD_COLUMNS:
            v = getattr(r, attr)
            cells.append(cell(v, pct=True, missing="–") if d == "pct" else
                         (str(v) if isinstance(v, int) and not isinstance(v, bool) else cell(v, d, missing="–")))
        rows.append(cells)
    return markdown_table(header, rows)


def _object_cell(r: ObjectRow | None) -> str:
    if r is None or r.best is None:
        return "–"
    verdict = "" if r.best_stable is None else ("valid" if r.best_valid else "stable" if r.best_stable else "unstable")
    parts = [verdict,
             "" if r.best_contact else "no contact", f"{cell(r.best_penetration_max_mm, 1, missing='–')} mm",
             f"{cell(r.best_hand_hand_cm3, 2, missing='–')} cm³"]
    text = " · ".join(p for p in parts if p)
    if r.stable_of_n is not None:
        text += f" ({r.valid_of_n if r.valid_of_n is not None else '–'} valid, {r.stable_of_n} stable / {r.grasps})"
    return text


def per_object_table(result: BenchResult) -> str:
    """Best of N per object and method (Markdown): the best grasp's verdict (valid / stable /
    unstable), contact, max penetration both ways, hand–hand volume, and (valid, stable / N) of the batch."""
    methods = [r.method for r in result.rows]
    by = {(r.object, r.method): r for r in result.per_object}
    rows = [[o, *(_object_cell(by.get((o, m))) for m in methods)] for o in result.objects]
    return markdown_table(["object", *methods], rows, right_from=len(methods) + 2)


def comparison_markdown(result: BenchResult) -> str:
    """``comparison.md``: both tables, what the columns mean, notes and settings."""
    cfg = result.settings.get("config", {})
    lines = ["# Grasp synthesis baselines side by side", "",
             f"{len(result.objects)} objects, N = {cfg.get('n')} grasps per object and method, seed {cfg.get('seed')}, "
             f"{cfg.get('hand_kind')} hand, device {result.settings.get('device')}, "
             f"{result.settings.get('threads')} torch thread(s).", "",
             comparison_table(result), "",
             "Means over all grasps; contact within 5 mm; stability: MuJoCo, hands fixed, gravity along ±x/±y/±z for "
             "1 s, success when the object moves < 2 cm in every direction and the grasp is ≤ 5 mm deep both ways; "
             "valid: stable, both hands in contact, ≤ 5 mm deep both ways, hand–hand ≤ 0.5 cm³; pen. max: the "
             "deeper of hand vertices in the object and object surface in the hands; pen. mean: hand vertices "
             "in the object; intersection volumes on 5 mm voxels; "
             "entropy and cluster size: k-means diversity per object, averaged over objects; grasps/min: synthesis "
             "only (ranking included, writing and evaluation excluded).", "",
             "## Best of N per object", "",
             "The best grasp of each batch by the same rule for every method (valid grasps first, then stable, "
             "then by displacement, depth and hand–hand volume; bghop.eval.ranking with no prior): verdict · "
             "max penetration both ways · hand–hand volume (valid, stable grasps / N).", "",
             per_object_table(result), ""]
    if result.notes:
        lines += ["## Notes", "", *(f"* {n}" for n in result.notes), ""]
    return "\n".join(lines)


def write_comparison(result: BenchResult, out_dir: str | os.PathLike, plots: bool = True) -> dict[str, Path]:
    """Write ``comparison.md``, ``comparison.csv`` (per method), ``comparison_per_object.csv``,
    ``comparison.json`` (everything) and, with ``plots``, ``comparison.png`` and
    ``comparison_per_object.png`` into ``out_dir`` (each atomically)."""
    out = Path(out_dir)
    paths = {
        "md": write_text_atomic(out / "comparison.md", comparison_markdown(result)),
        "csv": write_text_atomic(out / "comparison.csv", csv_text([r.to_dict() for r in result.rows])),
        "per_object_csv": write_text_atomic(out / "comparison_per_object.csv",
                                            csv_text([r.to_dict() for r in result.per_object])),
        "json": write_json_atomic(out / "comparison.json", json_safe(result.to_dict())),
    }
    if plots:
        from bghop.bench.figures import comparison_figures
        from bghop.viz.render import save_figure

        for name, fig in comparison_figures(result).items():
            paths[name] = save_figure(fig, out / f"{name}.png", dpi=110)
    return paths

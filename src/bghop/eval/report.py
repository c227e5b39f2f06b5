"""Metrics reports for result folders (DESIGN.md §4): per sample, per object group and overall.

For every sample folder ``DIR/<k>/`` (``object.obj``, ``hands.json`` and the hand meshes, all in
the object's frame, metres) this computes, reusing :mod:`bghop.eval.metrics` and
:mod:`bghop.eval.physics`:

* penetration depth of the hand vertices into the object (max and mean, GraspTTA);
* hand–object and hand–hand intersection volume (5 mm voxels, cm³);
* per-hand and both-hands contact (a vertex within 5 mm);
* MuJoCo stability: six gravity directions, object displacement, success under 2 cm;
* optionally a plausibility score under the prior (a ``scorer`` callable given by the caller);
* for generated samples, **text faithfulness**: the category a classifier trained on the procedural
  object categories predicts for ``object.obj`` (:mod:`bghop.eval.faithfulness`), and whether it is
  the prompted one;

and, per group of samples (the object) and over everything, the means/rates of those plus the
k-means **diversity** of :mod:`bghop.eval.diversity`; and, when samples carry a prompt whose
category the classifier knows, the same statistics per prompted category (the per-category
table of generation runs, with the faithfulness rate).

Units: metres (and cm³ for volumes, as :class:`~bghop.eval.metrics.GraspMetrics` has them) in the
dataclasses; the table rows (:meth:`SampleReport.to_row`, ``metrics.csv``) use millimetres for
penetration and centimetres for displacement and say so in the column names.

A sample that cannot be read or measured (e.g. a broken ``object.obj``) gets a row with its
``error`` and is left out of the group statistics; the others are evaluated.

What a sample is (its object group, prompt, category) comes from its run's record
(:mod:`bghop.eval.runs`); one sample is measured by :func:`bghop.eval.sample_eval.evaluate_sample`,
which reuses the stability and prior score the run stored for exactly these hands unless
``recompute``; the files and terminal tables are :mod:`bghop.eval.tables`.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from bghop.eval.diversity import DEFAULT_MAX_CLUSTERS, DiversityResult, diversity
from bghop.eval.faithfulness import ClassifierSource, is_category_classifier
from bghop.eval.physics import PhysicsConfig
from bghop.eval.runs import RunFolderError, RunRecord, find_sample_folders, natural_key, read_run
from bghop.eval.sample_eval import (
    SampleInputs,
    SampleJob,
    SampleReport,
    Scorer,
    _Faithfulness,
    _Layers,
    _scale,
    evaluate_sample,
)

logger = logging.getLogger(__name__)

__all__ = [
    "EvalInputError",
    "SampleInputs",
    "SampleReport",
    "GroupReport",
    "EvalReport",
    "Scorer",
    "find_sample_folders",
    "evaluate_folders",
    "write_report",
    "format_table",
    "OVERALL_GROUP",
    "SUMMARY_FILE",
    "CATEGORIES_FILE",
]

#: name of the group that holds every evaluated sample
OVERALL_GROUP = "all"
#: run-level file of a result folder
SUMMARY_FILE = "summary.json"
#: per prompted category statistics, written only when some sample has a prompted category
CATEGORIES_FILE = "metrics_categories.csv"

#: a folder that cannot be evaluated (missing, not a folder, no samples); the same class as
#: :class:`bghop.eval.runs.RunFolderError`
EvalInputError = RunFolderError


@dataclass
class GroupReport:
    """Statistics of a group of samples (one object, or :data:`OVERALL_GROUP`).

    Means are over the evaluated samples of the group; rates are fractions in [0, 1] over the
    samples where the quantity exists (e.g. ``contact_left_rate`` over bimanual samples).

    Attributes:
        group: its name.
        num_samples: samples evaluated.
        num_errors: samples skipped because of an error.
        penetration_max_m_mean: mean of the two-sided maximum depth, metres.
        penetration_hand_max_m_mean / penetration_object_max_m_mean: means of its two parts (hand
            vertices in the object / object surface in the hands), metres.
        penetration_mean_m_mean: metres.
        intersection_volume_cm3_mean / hand_hand_volume_cm3_mean: cm³.
        contact_right_rate / contact_left_rate / contact_both_rate: fractions.
        stability_rate: fraction of simulated samples that are stable (held and ≤ 5 mm deep both
            ways; None without physics).
        valid_rate: fraction of simulated samples that are valid (:mod:`bghop.eval.validity`).
        max_displacement_m_mean: metres (None without physics).
        sds_score_mean: None without a scorer.
        diversity: k-means diversity of the group's grasps.
        faithfulness_rate: fraction of the samples with a faithfulness verdict that are text faithful.
        prompt_probability_mean: mean probability of the prompted category.
    """

    group: str
    num_samples: int
    num_errors: int
    penetration_max_m_mean: float | None = None
    penetration_hand_max_m_mean: float | None = None
    penetration_object_max_m_mean: float | None = None
    penetration_mean_m_mean: float | None = None
    intersection_volume_cm3_mean: float | None = None
    hand_hand_volume_cm3_mean: float | None = None
    contact_right_rate: float | None = None
    contact_left_rate: float | None = None
    contact_both_rate: float | None = None
    stability_rate: float | None = None
    valid_rate: float | None = None
    max_displacement_m_mean: float | None = None
    sds_score_mean: float | None = None
    diversity: DiversityResult | None = None
    faithfulness_rate: float | None = None
    prompt_probability_mean: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def to_row(self) -> dict[str, Any]:
        """Flat row for ``metrics_groups.csv`` and the terminal table (mm, cm³, cm in the names)."""
        d = self.diversity
        return {
            "group": self.group,
            "samples": self.num_samples,
            "errors": self.num_errors,
            "penetration_max_mm": _scale(self.penetration_max_m_mean, 1e3),
            "penetration_hand_max_mm": _scale(self.penetration_hand_max_m_mean, 1e3),
            "penetration_object_max_mm": _scale(self.penetration_object_max_m_mean, 1e3),
            "penetration_mean_mm": _scale(self.penetration_mean_m_mean, 1e3),
            "intersection_volume_cm3": self.intersection_volume_cm3_mean,
            "hand_hand_volume_cm3": self.hand_hand_volume_cm3_mean,
            "contact_right_rate": self.contact_right_rate,
            "contact_left_rate": self.contact_left_rate,
            "contact_both_rate": self.contact_both_rate,
            "stability_rate": self.stability_rate,
            "valid_rate": self.valid_rate,
            "displacement_max_cm": _scale(self.max_displacement_m_mean, 1e2),
            "sds_score": self.sds_score_mean,
            "diversity_clusters": d.num_clusters if d else None,
            "diversity_entropy_nats": d.entropy_nats if d else None,
            "diversity_entropy_bits": d.entropy_bits if d else None,
            "diversity_mean_cluster_size": d.mean_cluster_size if d else None,
            "faithfulness_rate": self.faithfulness_rate,
            "prompt_probability": self.prompt_probability_mean,
        }


@dataclass
class EvalReport:
    """Everything :func:`evaluate_folders` measured.

    Attributes:
        samples: one per sample folder, in input order (errors included).
        groups: one per object group, sorted by name.
        overall: every evaluated sample together (group :data:`OVERALL_GROUP`).
        settings: how it was computed (physics config, clusters, folders, …).
        notes: remarks for the user (e.g. "no prior given").
        seconds: total wall time.
        categories: one per prompted category (samples whose prompt names a category the
            classifier knows), sorted by name; empty otherwise.
        categories_overall: those samples together (group :data:`OVERALL_GROUP`), or None.
    """

    samples: list[SampleReport]
    groups: list[GroupReport]
    overall: GroupReport
    settings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    categories: list[GroupReport] = field(default_factory=list)
    categories_overall: GroupReport | None = None

    @property
    def num_evaluated(self) -> int:
        return sum(s.ok for s in self.samples)

    def to_dict(self) -> dict:
        return {"settings": self.settings, "notes": self.notes, "seconds": self.seconds,
                "overall": self.overall.to_dict(), "groups": [g.to_dict() for g in self.groups],
                "categories": [c.to_dict() for c in self.categories],
                "categories_overall": self.categories_overall.to_dict() if self.categories_overall else None,
                "samples": [s.to_dict() for s in self.samples]}


def _mean(xs: Iterable[float | None]) -> float | None:
    v = [float(x) for x in xs if x is not None and math.isfinite(float(x))]
    return float(np.mean(v)) if v else None


def _rate(xs: Iterable[bool | None]) -> float | None:
    v = [bool(x) for x in xs if x is not None]
    return float(np.mean(v)) if v else None


def _group_report(name: str, reps: Sequence[SampleReport], feats: Sequence[np.ndarray], clusters: int | None,
                  max_clusters: int, seed: int) -> GroupReport:
    ok = [r for r in reps if r.ok]
    div = diversity(np.stack(feats), clusters=clusters, max_clusters=max_clusters, seed=seed) if feats else None
    return GroupReport(
        group=name, num_samples=len(ok), num_errors=len(reps) - len(ok),
        penetration_max_m_mean=_mean(r.penetration_max_m for r in ok),
        penetration_hand_max_m_mean=_mean(r.penetration_hand_max_m for r in ok),
        penetration_object_max_m_mean=_mean(r.penetration_object_max_m for r in ok),
        penetration_mean_m_mean=_mean(r.penetration_mean_m for r in ok),
        intersection_volume_cm3_mean=_mean(r.intersection_volume_cm3 for r in ok),
        hand_hand_volume_cm3_mean=_mean(r.hand_hand_volume_cm3 for r in ok),
        contact_right_rate=_rate(r.contact_right for r in ok),
        contact_left_rate=_rate(r.contact_left for r in ok),
        contact_both_rate=_rate(r.contact_both for r in ok),
        stability_rate=_rate(r.stable for r in ok),
        valid_rate=_rate(r.valid for r in ok),
        max_displacement_m_mean=_mean(r.max_displacement_m for r in ok),
        sds_score_mean=_mean(r.sds_score for r in ok),
        diversity=div,
        faithfulness_rate=_rate(r.text_faithful for r in ok),
        prompt_probability_mean=_mean(r.prompt_probability for r in ok),
    )


def evaluate_folders(folders: Sequence[str | os.PathLike], physics: bool = True,
                     physics_config: PhysicsConfig = PhysicsConfig(), clusters: int | None = None,
                     max_clusters: int = DEFAULT_MAX_CLUSTERS, scorer: Scorer | None = None,
                     device: str | torch.device = "cpu", mano_dir: str | os.PathLike | None = None,
                     seed: int = 0, progress: bool = True, faithfulness: bool | None = None,
                     classifier: ClassifierSource | None = None, tta: int = 8, recompute: bool = False) -> EvalReport:
    """Evaluate every sample of one or more result folders.

    The **group** (object) of a sample is its record's ``group``, else its run's (the object of a
    ``bghop grasp`` run, a benchmark object), else the result folder's name (folders without a
    ``summary.json``). Its **prompt** is its record's or its run's ``text``.

    **Text faithfulness** (:mod:`bghop.eval.faithfulness`): the **prompted category** of a sample is
    its record's ``category``, else the object name of its prompt ("grasp a {name} with both hands" /
    "... with the right hand", as ``bghop generate`` records it) or a bare name; it counts when the
    classifier knows it. Such samples get the classifier's category for ``object.obj`` and
    ``text_faithful``; the report then also holds one :class:`GroupReport` per prompted category
    (:attr:`EvalReport.categories`).

    Args:
        folders: result folders (``DIR/<k>/``) or single sample folders.
        physics: run the MuJoCo stability test (about a second per sample for convex objects;
            non-convex objects are decomposed with CoACD once per distinct mesh).
        physics_config: simulation settings.
        clusters: k for the diversity k-means; default ``max(2, min(max_clusters, n // 2))`` per set.
        max_clusters: cap of the default k (20, GraspTTA).
        scorer: optional plausibility scorer, called once per sample with :class:`SampleInputs`.
        device: torch device of the hand layers.
        mano_dir: folder of the MANO files for samples with ``kind: "mano"`` hands.
        seed: k-means seed.
        progress: show a tqdm progress bar.
        faithfulness: None (default): text faithfulness for every sample with a known prompted
            category except those of ``bghop grasp`` runs (``summary.json`` kind ``"grasp"``: the
            object is the user's input); True: also those; False: never.
        classifier: the category classifier, injected by the caller (eval cannot load models): an
            object with ``categories`` and ``predict_mesh(mesh, tta)``
            (:class:`~bghop.eval.faithfulness.CategoryClassifierLike`), or a zero-argument callable
            that loads one. A loader is called once, only when some sample has a prompted category
            (with ``faithfulness=True``: at once, to fail before any work); in auto mode a failure
            to load becomes a note and the report goes on without faithfulness. None: no
            faithfulness (``bghop eval`` passes a loader of the shipped classifier).
        tta: cube rotations the classifier averages over (1-24).
        recompute: simulate and score every sample here, even where its run stored the stability
            (same hands and physics settings) or the prior score (same hands, scorer identity and
            prompt) that this evaluation would compute.
    Returns:
        :class:`EvalReport`.
    Raises:
        EvalInputError: a folder is missing or holds no samples (checked before any work).
        ValueError: ``faithfulness=True`` without a ``classifier``.
        TypeError: ``classifier`` is neither a classifier nor a callable (e.g. a folder path).
        Exception: ``faithfulness=True`` and the classifier loader fails (its own error).
    """
    t_start = time.perf_counter()
    if not folders:
        raise EvalInputError("no result folder given")
    jobs: list[SampleJob] = []
    runs: dict[Path, RunRecord | None] = {}
    for f in folders:
        f = Path(f)
        subs = find_sample_folders(f)
        result_dir = f.parent if subs == [f] else f
        if result_dir not in runs:
            runs[result_dir] = read_run(result_dir)
        jobs += [SampleJob(s, result_dir, runs[result_dir]) for s in subs]
    layers = _Layers(torch.device(device), mano_dir)
    if faithfulness is True and classifier is None:
        raise ValueError("faithfulness=True needs a category classifier: pass classifier= (a classifier, or a "
                         "zero-argument callable that loads one)")
    faith = _Faithfulness(faithfulness, classifier, tta)
    if faithfulness is True:
        _ = faith.model  # fail early, before any work
    reps: list[SampleReport] = []
    feats: dict[int, np.ndarray] = {}
    for job in tqdm(jobs, desc="evaluating", unit="sample", disable=not progress):
        rep, f = evaluate_sample(job, layers, physics, physics_config, scorer, faith, recompute)
        if f is not None:
            feats[len(reps)] = f
        reps.append(rep)

    def feats_of(idx: Iterable[int]) -> list[np.ndarray]:
        return [feats[i] for i in idx if i in feats]

    names = sorted({r.group for r in reps}, key=natural_key)
    groups = []
    for g in names:
        idx = [i for i, r in enumerate(reps) if r.group == g]
        groups.append(_group_report(g, [reps[i] for i in idx], feats_of(idx), clusters, max_clusters, seed))
    overall = _group_report(OVERALL_GROUP, reps, feats_of(range(len(reps))), clusters, max_clusters, seed)
    categories, categories_overall = [], None
    for c in sorted({r.prompt_category for r in reps if r.prompt_category is not None}, key=natural_key):
        idx = [i for i, r in enumerate(reps) if r.prompt_category == c]
        categories.append(_group_report(c, [reps[i] for i in idx], feats_of(idx), clusters, max_clusters, seed))
    if categories:
        idx = [i for i, r in enumerate(reps) if r.prompt_category is not None]
        categories_overall = _group_report(OVERALL_GROUP, [reps[i] for i in idx], feats_of(idx), clusters,
                                           max_clusters, seed)
    settings = {
        "folders": [str(Path(f)) for f in folders],
        "physics": physics,
        "physics_config": physics_config.to_dict() if physics else None,
        "clusters": clusters,
        "max_clusters": max_clusters,
        "seed": seed,
        "entropy_unit": "nats (natural log); *_bits in bits",
        "scorer": scorer is not None,
        "faithfulness": {None: "auto", True: "on", False: "off"}[faithfulness],
        "classifier": (None if classifier is None else "given" if is_category_classifier(classifier) else "loader"),
        "tta": tta,
        "recompute": recompute,
    }
    notes = []
    if faith.error is not None:
        notes.append(f"no text faithfulness: the category classifier could not be loaded ({faith.error})")
    reused = {w: sum(w in r.reused for r in reps) for w in ("stability", "prior score")}
    if any(reused.values()):
        notes.append("reused from the run records (the same hands, settings and models; recompute to measure "
                     "again): " + ", ".join(f"{w} of {n} samples" for w, n in reused.items() if n))
    n_err = sum(not r.ok for r in reps)
    if n_err:
        notes.append(f"{n_err} of {len(reps)} samples could not be evaluated (see the error column)")
    report = EvalReport(samples=reps, groups=groups, overall=overall, settings=settings, notes=notes,
                        seconds=time.perf_counter() - t_start, categories=categories,
                        categories_overall=categories_overall)
    ok = [r.seconds for r in reps if r.ok]
    logger.info("evaluated %d samples in %.1f s (%.2f s per sample)", len(ok), report.seconds,
                float(np.mean(ok)) if ok else 0.0)
    return report


def write_report(report: EvalReport, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``metrics.csv``, ``metrics_groups.csv``, ``metrics.json`` and, with prompted categories,
    ``metrics_categories.csv`` (:func:`bghop.eval.tables.write_report`)."""
    from bghop.eval.tables import write_report as write

    return write(report, out_dir)


def format_table(report: EvalReport, max_rows: int = 40) -> str:
    """The report as plain-text tables (:func:`bghop.eval.tables.format_table`)."""
    from bghop.eval.tables import format_table as fmt

    return fmt(report, max_rows)

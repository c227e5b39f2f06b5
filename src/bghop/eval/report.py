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
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import trimesh
from tqdm.auto import tqdm

from bghop.core.io import write_text_atomic
from bghop.eval.diversity import (
    DEFAULT_MAX_CLUSTERS,
    DiversityResult,
    HandPlacement,
    diversity,
    grasp_features,
)
from bghop.eval.faithfulness import (
    CategoryClassifierLike,
    ClassifierSource,
    is_category_classifier,
    prompt_category,
)
from bghop.eval.metrics import grasp_metrics
from bghop.eval.runs import RunFolderError, find_sample_folders, natural_key
from bghop.eval.physics import (
    DIRECTIONS,
    PhysicsConfig,
    hand_pieces,
    simulate_stability,
)
from bghop.geometry.mesh_io import load_mesh
from bghop.hands import HandModel
from bghop.hands.params import Hands, load_hands_json
from bghop.hands.posing import HandLayers, pose_hands

logger = logging.getLogger(__name__)

__all__ = [
    "EvalInputError",
    "SampleInputs",
    "SampleReport",
    "GroupReport",
    "EvalReport",
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

#: keys that name the object of a sample, in order of preference
_GROUP_KEYS = ("group", "object", "object_name", "category", "object_id")

#: a scorer: sample in, plausibility score out (higher = more plausible, by the scorer's convention)
Scorer = Callable[["SampleInputs"], float]


#: a folder that cannot be evaluated (missing, not a folder, no samples); the same class as
#: :class:`bghop.eval.runs.RunFolderError`
EvalInputError = RunFolderError
_natural_key = natural_key


# ----------------------------------------------------------------------------------------------
# dataclasses


@dataclass
class SampleInputs:
    """One sample as read from disk (what a :data:`Scorer` receives).

    Attributes:
        folder: the sample folder.
        group: its object group.
        text: the run's prompt when the folder records one, else None.
        object_mesh: metres, object frame.
        hands: :class:`~bghop.hands.params.Hands` (batch 1), object frame.
    """

    folder: Path
    group: str
    text: str | None
    object_mesh: trimesh.Trimesh
    hands: Hands


@dataclass
class SampleReport:
    """Metrics of one sample (None where not computed).

    Attributes:
        name: ``<result folder>/<sample>``.
        folder: path of the sample folder.
        group: object group (see :func:`evaluate_folders`).
        hands: ``"right+left"`` or ``"right"``.
        penetration_max_m / penetration_mean_m: depth of hand vertices inside the object, metres.
        intersection_volume_cm3: hand–object, summed over hands, cm³.
        hand_hand_volume_cm3: right ∩ left, cm³.
        contact_right / contact_left / contact_both: contact within 5 mm.
        stable: held in all six gravity directions (None without physics).
        displacement_m: ``{"+x": d, ...}`` object displacement per direction, metres.
        max_displacement_m: the largest of those, metres.
        sds_score: plausibility under the prior (None without a scorer).
        prompt_category: the prompted object category when the classifier knows it (else None).
        predicted_category: the classifier's category for ``object.obj`` (None when not computed).
        predicted_probability: its probability.
        prompt_probability: the probability the classifier gives the prompted category.
        text_faithful: ``predicted_category == prompt_category`` (None when not computed).
        seconds: wall time spent on this sample.
        error: why the sample was skipped (None when it was evaluated).
        note: non-fatal remarks (e.g. physics unavailable for this sample).
    """

    name: str
    folder: str
    group: str
    hands: str = ""
    penetration_max_m: float | None = None
    penetration_mean_m: float | None = None
    intersection_volume_cm3: float | None = None
    hand_hand_volume_cm3: float | None = None
    contact_right: bool | None = None
    contact_left: bool | None = None
    contact_both: bool | None = None
    stable: bool | None = None
    displacement_m: dict[str, float] | None = None
    max_displacement_m: float | None = None
    sds_score: float | None = None
    prompt_category: str | None = None
    predicted_category: str | None = None
    predicted_probability: float | None = None
    prompt_probability: float | None = None
    text_faithful: bool | None = None
    seconds: float = 0.0
    error: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the sample was evaluated (no error)."""
        return self.error is None

    def to_dict(self) -> dict:
        return asdict(self)

    def to_row(self) -> dict[str, Any]:
        """Flat row for ``metrics.csv`` and the terminal table (mm, cm³, cm; units in the names)."""
        disp = self.displacement_m or {}
        row: dict[str, Any] = {
            "name": self.name,
            "group": self.group,
            "hands": self.hands,
            "penetration_max_mm": _scale(self.penetration_max_m, 1e3),
            "penetration_mean_mm": _scale(self.penetration_mean_m, 1e3),
            "intersection_volume_cm3": self.intersection_volume_cm3,
            "hand_hand_volume_cm3": self.hand_hand_volume_cm3,
            "contact_right": self.contact_right,
            "contact_left": self.contact_left,
            "contact_both": self.contact_both,
            "stable": self.stable,
            "displacement_max_cm": _scale(self.max_displacement_m, 1e2),
        }
        for d in DIRECTIONS:
            row[f"displacement_{d}_cm"] = _scale(disp.get(d), 1e2)
        row.update(sds_score=self.sds_score, prompt_category=self.prompt_category,
                   predicted_category=self.predicted_category, predicted_probability=self.predicted_probability,
                   prompt_probability=self.prompt_probability, text_faithful=self.text_faithful,
                   seconds=round(self.seconds, 3), error=self.error, note=self.note, folder=self.folder)
        return row


@dataclass
class GroupReport:
    """Statistics of a group of samples (one object, or :data:`OVERALL_GROUP`).

    Means are over the evaluated samples of the group; rates are fractions in [0, 1] over the
    samples where the quantity exists (e.g. ``contact_left_rate`` over bimanual samples).

    Attributes:
        group: its name.
        num_samples: samples evaluated.
        num_errors: samples skipped because of an error.
        penetration_max_m_mean / penetration_mean_m_mean: metres.
        intersection_volume_cm3_mean / hand_hand_volume_cm3_mean: cm³.
        contact_right_rate / contact_left_rate / contact_both_rate: fractions.
        stability_rate: fraction of simulated samples that are stable (None without physics).
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
    penetration_mean_m_mean: float | None = None
    intersection_volume_cm3_mean: float | None = None
    hand_hand_volume_cm3_mean: float | None = None
    contact_right_rate: float | None = None
    contact_left_rate: float | None = None
    contact_both_rate: float | None = None
    stability_rate: float | None = None
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
            "penetration_mean_mm": _scale(self.penetration_mean_m_mean, 1e3),
            "intersection_volume_cm3": self.intersection_volume_cm3_mean,
            "hand_hand_volume_cm3": self.hand_hand_volume_cm3_mean,
            "contact_right_rate": self.contact_right_rate,
            "contact_left_rate": self.contact_left_rate,
            "contact_both_rate": self.contact_both_rate,
            "stability_rate": self.stability_rate,
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


def _scale(x: float | None, factor: float) -> float | None:
    return None if x is None else float(x) * factor


# ----------------------------------------------------------------------------------------------
# reading


def _read_json(path: Path) -> Any:
    """Content of a JSON file, or None (with a warning) when absent or unreadable."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        logger.warning("ignoring %s: %s", path, e)
        return None


def _named(d: Any) -> str | None:
    """The first non-empty group key of a dict (also inside ``meta``/``metadata``)."""
    if not isinstance(d, dict):
        return None
    for k in _GROUP_KEYS:
        v = d.get(k)
        if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v).strip():
            return str(v).strip()
    for sub in ("meta", "metadata"):
        v = _named(d.get(sub))
        if v:
            return v
    return None


@dataclass
class _RunInfo:
    """What a result folder's ``summary.json`` says about its samples."""

    per_sample: dict[str, dict]
    group: str | None
    text: str | None
    kind: str | None = None


def _run_info(result_dir: Path) -> _RunInfo:
    s = _read_json(result_dir / SUMMARY_FILE)
    if not isinstance(s, dict):
        return _RunInfo({}, None, None)
    per = {}
    if isinstance(s.get("samples"), list):
        for i, e in enumerate(s["samples"]):
            if isinstance(e, dict):
                per[str(e.get("name", i))] = e
    group = _named(s)
    settings = s.get("settings")
    if group is None and isinstance(settings, dict):
        group = _named(settings)
        mesh = settings.get("mesh")
        if group is None and isinstance(mesh, str) and mesh:
            group = Path(mesh).stem
    text = s.get("text") if isinstance(s.get("text"), str) else None
    kind = s.get("kind") if isinstance(s.get("kind"), str) else None
    return _RunInfo(per, group, text, kind)


def _sample_group(sample_dir: Path, result_dir: Path, run: _RunInfo, hands_json: Any) -> tuple[str, str | None]:
    """(group, text) of a sample: summary.json per-sample entry → hands.json → summary run level → folder name."""
    entry = run.per_sample.get(sample_dir.name)
    group = _named(entry) or _named(hands_json) or run.group or result_dir.name or "results"
    text = None
    for src in (entry, hands_json):
        if isinstance(src, dict) and isinstance(src.get("text"), str):
            text = src["text"]
            break
    return group, text or run.text


class _Layers(HandLayers):
    """:class:`~bghop.hands.posing.HandLayers` that answer None (once warned) where a layer cannot be
    built (e.g. no MANO files): such samples are measured on their stored hand meshes."""

    def __init__(self, device: torch.device, mano_dir: str | os.PathLike | None) -> None:
        super().__init__(mano_dir, device)
        self.failures: dict[tuple[str, str], str] = {}

    def get(self, kind: str, side: str) -> HandModel | None:  # type: ignore[override]
        key = (kind, side)
        if key in self.failures:
            return None
        try:
            return super().get(kind, side)
        except Exception as e:  # noqa: BLE001 - any failure means: use the stored meshes
            logger.warning("cannot build the %s %s hand (%s); using the stored hand meshes", kind, side, e)
            self.failures[key] = str(e)
            return None


class _Faithfulness:
    """Text-faithfulness of samples: the injected category classifier, loaded on first use.

    ``mode``: True (every sample with a known prompted category), None (the same, except samples of
    ``bghop grasp`` runs, whose object is the user's input, not generated) or False (never).
    ``classifier``: a :class:`~bghop.eval.faithfulness.CategoryClassifierLike`, a zero-argument
    loader of one (called at most once, when first needed), or None (no faithfulness).
    """

    def __init__(self, mode: bool | None, classifier: ClassifierSource | None, tta: int) -> None:
        self.mode = mode
        self.tta = tta
        given = is_category_classifier(classifier)
        if not (given or classifier is None or callable(classifier)):
            raise TypeError(f"classifier must be a category classifier or a zero-argument callable that loads one, "
                            f"got a {type(classifier).__name__} (a folder is loaded by the caller)")
        self._model: CategoryClassifierLike | None = classifier if given else None
        self._loader = None if given else classifier
        self.error: str | None = None

    @property
    def model(self) -> CategoryClassifierLike | None:
        """The classifier, or None: none given, mode False, or (with :attr:`error`) the loader failed in auto mode.

        Raises:
            Exception: whatever the loader raised, when faithfulness was asked for (mode True).
        """
        if self._model is None and self._loader is not None and self.error is None and self.mode is not False:
            try:
                model = self._loader()
                if not is_category_classifier(model):
                    raise TypeError(f"the classifier loader returned a {type(model).__name__}, not a classifier "
                                    "(categories and predict_mesh(mesh, tta))")
                self._model = model
            except Exception as e:
                if self.mode is True:
                    raise
                self.error = f"{type(e).__name__}: {e}"
                logger.warning("no text faithfulness: %s", self.error)
        return self._model

    def category(self, run: _RunInfo, text: str | None, metas: list[Any]) -> str | None:
        """The prompted category of a sample if faithfulness applies to it, else None."""
        if self.mode is False or (self.mode is None and run.kind == "grasp"):
            return None

        def names_one(d: Any) -> bool:
            return isinstance(d, dict) and ("prompt_category" in d or "category" in d or names_one(d.get("meta")))

        if text is None and not any(names_one(m) for m in metas):
            return None  # nothing to go on: do not even load the classifier
        model = self.model
        return None if model is None else prompt_category(text, metas, model.categories)


@dataclass
class _Hand:
    mesh: trimesh.Trimesh
    weights: np.ndarray | None
    placement: HandPlacement


def _pose_hand(side: str, hands: Hands, folder: Path, layers: _Layers) -> _Hand:
    """Posed hand (metres, object frame) from ``hands.json``; the stored ``<side>_hand.obj`` if no layer."""
    p = hands[side].to(dtype=torch.float32)
    if layers.get(hands.kind, side) is not None:
        posed = pose_hands(hands, layers, sides=[side])[side]
        mesh, weights, wrist = posed.mesh, posed.weights, posed.joints[0]
    else:
        mesh = load_mesh(folder / f"{side}_hand.obj", check_units=False)
        wrist = p.transl[0].double().cpu().numpy()
        weights = None
    return _Hand(mesh, weights, HandPlacement(pose=p.pose[0].double().cpu().numpy(),
                                              global_orient=p.global_orient[0].double().cpu().numpy(), wrist=wrist))


# ----------------------------------------------------------------------------------------------
# evaluation


def _evaluate_sample(sample_dir: Path, result_dir: Path, run: _RunInfo, layers: _Layers, physics: bool,
                     physics_config: PhysicsConfig, scorer: Scorer | None,
                     faith: _Faithfulness | None = None) -> tuple[SampleReport, np.ndarray | None]:
    t0 = time.perf_counter()
    hands_json = _read_json(sample_dir / "hands.json")
    group, text = _sample_group(sample_dir, result_dir, run, hands_json)
    rep = SampleReport(name=f"{result_dir.name}/{sample_dir.name}" if sample_dir != result_dir else sample_dir.name,
                       folder=str(sample_dir), group=group)
    if faith is not None:
        rep.prompt_category = faith.category(run, text, [run.per_sample.get(sample_dir.name), hands_json])
    feats = None
    try:
        obj = load_mesh(sample_dir / "object.obj", check_units=False)
        hands = load_hands_json(sample_dir / "hands.json")
        rep.hands = "+".join(s for s in ("right", "left") if s in hands)
        posed = {s: _pose_hand(s, hands, sample_dir, layers) for s in hands.sides}
        m = grasp_metrics(obj, {s: h.mesh for s, h in posed.items()})
    except Exception as e:  # noqa: BLE001 - a bad sample is reported, the others go on
        rep.error = f"{type(e).__name__}: {e}"
        rep.seconds = time.perf_counter() - t0
        logger.warning("skipping %s: %s", sample_dir, rep.error)
        return rep, None
    rep.penetration_max_m = m.penetration_max_m
    rep.penetration_mean_m = m.penetration_mean_m
    rep.intersection_volume_cm3 = m.intersection_volume_cm3
    rep.hand_hand_volume_cm3 = m.hand_hand_volume_cm3
    rep.contact_right, rep.contact_left, rep.contact_both = m.contact_right, m.contact_left, m.contact_both
    notes = []
    if physics:
        if all(h.weights is not None for h in posed.values()):
            try:
                pieces = [pc for h in posed.values() for pc in hand_pieces(np.asarray(h.mesh.vertices), h.weights)]
                stab = simulate_stability(obj, pieces, physics_config)
                rep.stable, rep.displacement_m = stab.success, dict(stab.displacement)
                rep.max_displacement_m = stab.max_displacement
            except Exception as e:  # noqa: BLE001
                notes.append(f"physics failed: {type(e).__name__}: {e}")
        else:
            notes.append("physics skipped: no skinning weights (hand layer unavailable)")
    if scorer is not None:
        try:
            rep.sds_score = float(scorer(SampleInputs(sample_dir, group, text, obj, hands)))
        except Exception as e:  # noqa: BLE001
            notes.append(f"plausibility score failed: {type(e).__name__}: {e}")
    if rep.prompt_category is not None and faith is not None and faith.model is not None:
        try:
            pred = faith.model.predict_mesh(obj, tta=faith.tta)
            rep.predicted_category, rep.predicted_probability = pred.category, pred.probability
            rep.prompt_probability = pred.probabilities[rep.prompt_category]
            rep.text_faithful = pred.category == rep.prompt_category
        except Exception as e:  # noqa: BLE001
            notes.append(f"faithfulness failed: {type(e).__name__}: {e}")
    rep.note = "; ".join(notes) or None
    for n in notes:
        logger.warning("%s: %s", sample_dir, n)
    feats = grasp_features(posed["right"].placement, posed["left"].placement if "left" in posed else None,
                           np.asarray(obj.centroid))
    rep.seconds = time.perf_counter() - t0
    return rep, feats


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
        penetration_mean_m_mean=_mean(r.penetration_mean_m for r in ok),
        intersection_volume_cm3_mean=_mean(r.intersection_volume_cm3 for r in ok),
        hand_hand_volume_cm3_mean=_mean(r.hand_hand_volume_cm3 for r in ok),
        contact_right_rate=_rate(r.contact_right for r in ok),
        contact_left_rate=_rate(r.contact_left for r in ok),
        contact_both_rate=_rate(r.contact_both for r in ok),
        stability_rate=_rate(r.stable for r in ok),
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
                     classifier: ClassifierSource | None = None, tta: int = 8) -> EvalReport:
    """Evaluate every sample of one or more result folders.

    The **group** (object) of a sample is, in order: a group key (``group``, ``object``,
    ``object_name``, ``category``, ``object_id``) of its entry in ``DIR/summary.json``'s
    ``samples`` list (matched by ``name``); the same keys in its ``hands.json`` (also under
    ``meta``); the run-level keys of ``summary.json`` (or the stem of ``settings.mesh``, as
    ``bghop grasp`` writes it); else the result folder's name.

    **Text faithfulness** (:mod:`bghop.eval.faithfulness`): the **prompted category** of a sample is
    a ``prompt_category``/``category`` entry of its ``summary.json`` entry or ``hands.json`` (also
    under ``meta``), else the object name of its prompt ("grasp a {name} with both hands" /
    "... with the right hand", as ``bghop generate`` records it in ``hands.json`` and
    ``summary.json``) or a bare name; it counts when the classifier knows it. Such samples get
    the classifier's category for ``object.obj`` and ``text_faithful``; the report then also
    holds one :class:`GroupReport` per prompted category (:attr:`EvalReport.categories`).

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
    jobs: list[tuple[Path, Path]] = []
    for f in folders:
        f = Path(f)
        subs = find_sample_folders(f)
        result_dir = f.parent if subs == [f] else f
        jobs += [(s, result_dir) for s in subs]
    runs = {rd: _run_info(rd) for rd in {rd for _, rd in jobs}}
    layers = _Layers(torch.device(device), mano_dir)
    if faithfulness is True and classifier is None:
        raise ValueError("faithfulness=True needs a category classifier: pass classifier= (a classifier, or a "
                         "zero-argument callable that loads one)")
    faith = _Faithfulness(faithfulness, classifier, tta)
    if faithfulness is True:
        _ = faith.model  # fail early, before any work
    reps: list[SampleReport] = []
    feats: dict[int, np.ndarray] = {}
    for sample_dir, result_dir in tqdm(jobs, desc="evaluating", unit="sample", disable=not progress):
        rep, f = _evaluate_sample(sample_dir, result_dir, runs[result_dir], layers, physics, physics_config, scorer,
                                  faith)
        if f is not None:
            feats[len(reps)] = f
        reps.append(rep)

    def feats_of(idx: Iterable[int]) -> list[np.ndarray]:
        return [feats[i] for i in idx if i in feats]

    names = sorted({r.group for r in reps}, key=_natural_key)
    groups = []
    for g in names:
        idx = [i for i, r in enumerate(reps) if r.group == g]
        groups.append(_group_report(g, [reps[i] for i in idx], feats_of(idx), clusters, max_clusters, seed))
    overall = _group_report(OVERALL_GROUP, reps, feats_of(range(len(reps))), clusters, max_clusters, seed)
    categories, categories_overall = [], None
    for c in sorted({r.prompt_category for r in reps if r.prompt_category is not None}, key=_natural_key):
        idx = [i for i, r in enumerate(reps) if r.prompt_category == c]
        categories.append(_group_report(c, [reps[i] for i in idx], feats_of(idx), clusters, max_clusters, seed))
    if categories:
        idx = [i for i, r in enumerate(reps) if r.prompt_category is not None]
        categories_overall = _group_report(OVERALL_GROUP, [reps[i] for i in idx], feats_of(idx), clusters,
                                           max_clusters, seed)
    settings = {
        "folders": [str(Path(f)) for f in folders],
        "physics": physics,
        "physics_config": asdict(physics_config) if physics else None,
        "clusters": clusters,
        "max_clusters": max_clusters,
        "seed": seed,
        "entropy_unit": "nats (natural log); *_bits in bits",
        "scorer": scorer is not None,
        "faithfulness": {None: "auto", True: "on", False: "off"}[faithfulness],
        "classifier": (None if classifier is None else "given" if is_category_classifier(classifier) else "loader"),
        "tta": tta,
    }
    notes = []
    if faith.error is not None:
        notes.append(f"no text faithfulness: the category classifier could not be loaded ({faith.error})")
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


# ----------------------------------------------------------------------------------------------
# writing and printing


def _write_text_atomic(path: Path, text: str) -> Path:
    return write_text_atomic(path, text)


def _csv_text(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if v is None else v for k, v in r.items()})
    return buf.getvalue()


def _json_safe(o: Any) -> Any:
    """Replace non-finite floats (e.g. an infinite displacement) by None so the JSON stays standard."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _json_safe(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_json_safe(v) for v in o]
    return o


def write_report(report: EvalReport, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``metrics.csv`` (one row per sample), ``metrics_groups.csv`` (per group and ``all``),
    ``metrics.json`` (everything) and, when samples have prompted categories, ``metrics_categories.csv``
    (per prompted category and ``all``) into ``out_dir``, each atomically (temp file, then rename).

    Returns:
        ``{"csv": path, "groups_csv": path, "json": path}`` plus ``"categories_csv"`` when written.
    """
    out = Path(out_dir)
    paths = {
        "csv": _write_text_atomic(out / "metrics.csv", _csv_text([s.to_row() for s in report.samples])),
        "groups_csv": _write_text_atomic(out / "metrics_groups.csv",
                                         _csv_text([g.to_row() for g in [*report.groups, report.overall]])),
        "json": _write_text_atomic(out / "metrics.json", json.dumps(_json_safe(report.to_dict()), indent=1)),
    }
    if report.categories:
        paths["categories_csv"] = _write_text_atomic(
            out / CATEGORIES_FILE, _csv_text([c.to_row() for c in _category_rows(report)]))
    return paths


def _category_rows(report: EvalReport) -> list[GroupReport]:
    return [*report.categories, *([report.categories_overall] if report.categories_overall else [])]


def _cell(v: Any, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if math.isfinite(v) else "inf"
    return str(v)


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def format_table(report: EvalReport, max_rows: int = 40) -> str:
    """The report as plain-text tables: samples (up to ``max_rows``), then groups and ``all``, then (when
    samples have prompted categories) the per-category table with the text-faithfulness rate."""
    out = []
    faith = any(s.predicted_category is not None for s in report.samples)
    sh = ["sample", "group", "pen max mm", "pen mean mm", "h-o cm3", "h-h cm3", "contact R/L/both", "stable",
          "disp max cm", "sds", "s"]
    if faith:
        sh[-1:-1] = ["prompt", "predicted (p)", "faithful"]
    srows = []
    for s in report.samples[:max_rows]:
        if not s.ok:
            srows.append([s.name, s.group, f"ERROR: {s.error}"[:60], *([""] * (len(sh) - 3))])
            continue
        r = s.to_row()
        contact = "/".join(_cell(x) for x in (s.contact_right, s.contact_left, s.contact_both))
        row = [s.name, s.group, _cell(r["penetration_max_mm"]), _cell(r["penetration_mean_mm"]),
               _cell(s.intersection_volume_cm3), _cell(s.hand_hand_volume_cm3), contact, _cell(s.stable),
               _cell(r["displacement_max_cm"]), _cell(s.sds_score, 3), _cell(s.seconds, 1)]
        if faith:
            pred = "-" if s.predicted_category is None else f"{s.predicted_category} ({s.predicted_probability:.2f})"
            row[-1:-1] = [_cell(s.prompt_category), pred, _cell(s.text_faithful)]
        srows.append(row)
    out.append(_table(srows, sh))
    if len(report.samples) > max_rows:
        out.append(f"... {len(report.samples) - max_rows} more samples in metrics.csv")
    gh = ["group", "n", "err", "pen max mm", "h-o cm3", "h-h cm3", "contact both", "stable", "disp cm", "sds",
          "k", "entropy nats", "mean cluster"]
    grows = []
    for g in [*report.groups, report.overall]:
        r = g.to_row()
        grows.append([g.group, str(g.num_samples), str(g.num_errors), _cell(r["penetration_max_mm"]),
                      _cell(r["intersection_volume_cm3"]), _cell(r["hand_hand_volume_cm3"]),
                      _pct(g.contact_both_rate), _pct(g.stability_rate), _cell(r["displacement_max_cm"]),
                      _cell(r["sds_score"], 3), _cell(r["diversity_clusters"]), _cell(r["diversity_entropy_nats"]),
                      _cell(r["diversity_mean_cluster_size"])])
    out.append("")
    out.append(_table(grows, gh))
    if report.categories:
        ch = ["prompted category", "n", "err", "faithful", "p(prompt)", "contact both", "pen max mm", "h-o cm3",
              "stable", "disp cm", "k", "entropy nats", "mean cluster"]
        crows = []
        for g in _category_rows(report):
            r = g.to_row()
            crows.append([g.group, str(g.num_samples), str(g.num_errors), _pct(g.faithfulness_rate),
                          _cell(g.prompt_probability_mean), _pct(g.contact_both_rate),
                          _cell(r["penetration_max_mm"]), _cell(r["intersection_volume_cm3"]),
                          _pct(g.stability_rate), _cell(r["displacement_max_cm"]), _cell(r["diversity_clusters"]),
                          _cell(r["diversity_entropy_nats"]), _cell(r["diversity_mean_cluster_size"])])
        out.append("")
        out.append(_table(crows, ch))
    return "\n".join(out)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"

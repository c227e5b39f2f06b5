"""Evaluating one sample folder: its metrics, MuJoCo stability, prior score and text faithfulness.

What a sample is comes from its run record (:mod:`bghop.eval.runs`): its object group, prompt and
category. The MuJoCo stability and the prior's score that the run already measured on exactly these
hands (same hand parameters by digest, same physics settings, same scorer identity) are reused
unless ``recompute`` is asked for; everything else is measured here.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import trimesh

from bghop.eval.diversity import HandPlacement, grasp_features
from bghop.eval.faithfulness import CategoryClassifierLike, ClassifierSource, is_category_classifier, prompt_category
from bghop.eval.metrics import grasp_metrics
from bghop.eval.physics import DIRECTIONS, PhysicsConfig, hand_pieces, simulate_stability
from bghop.eval.runs import RunRecord, SampleRecord, hands_digest
from bghop.eval.validity import credit_stability, is_valid
from bghop.geometry.mesh_io import MAX_EXTENT_M, MIN_EXTENT_M, MeshError, load_mesh
from bghop.hands import HandModel
from bghop.hands.params import Hands, load_hands_json
from bghop.hands.posing import HandLayers, pose_hand

logger = logging.getLogger(__name__)

__all__ = ["SampleInputs", "SampleReport", "Scorer", "SampleJob", "evaluate_sample", "check_result_object"]

#: a scorer: sample in, plausibility score out. A scorer with an ``identity`` dict (and a
#: ``prompt(sample)`` method) can have its stored scores reused (:attr:`RunRecord.prior <bghop.eval.runs.RunRecord>`).
Scorer = Callable[["SampleInputs"], float]


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
        penetration_max_m: deepest penetration either way, metres (the larger of the two below).
        penetration_hand_max_m: deepest hand vertex inside the object, metres (GraspTTA's one-sided figure).
        penetration_object_max_m: deepest object surface point inside a hand, metres.
        penetration_mean_m: mean depth of the hand vertices inside the object, metres.
        intersection_volume_cm3: hand–object, summed over hands, cm³.
        hand_hand_volume_cm3: right ∩ left, cm³.
        contact_right / contact_left / contact_both: contact within 5 mm.
        stable: held in all six gravity directions and no deeper than 5 mm either way
            (:func:`bghop.eval.validity.credited_stable`; None without physics).
        valid: stable, both hands in contact, ≤ 5 mm deep both ways, hands apart
            (:func:`bghop.eval.validity.is_valid`; None without physics).
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
        reused: what was taken from the run record instead of measured here (``"stability"``,
            ``"prior score"``).
    """

    name: str
    folder: str
    group: str
    hands: str = ""
    penetration_max_m: float | None = None
    penetration_hand_max_m: float | None = None
    penetration_object_max_m: float | None = None
    penetration_mean_m: float | None = None
    intersection_volume_cm3: float | None = None
    hand_hand_volume_cm3: float | None = None
    contact_right: bool | None = None
    contact_left: bool | None = None
    contact_both: bool | None = None
    stable: bool | None = None
    valid: bool | None = None
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
    reused: list[str] = field(default_factory=list)

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
            "penetration_hand_max_mm": _scale(self.penetration_hand_max_m, 1e3),
            "penetration_object_max_mm": _scale(self.penetration_object_max_m, 1e3),
            "penetration_mean_mm": _scale(self.penetration_mean_m, 1e3),
            "intersection_volume_cm3": self.intersection_volume_cm3,
            "hand_hand_volume_cm3": self.hand_hand_volume_cm3,
            "contact_right": self.contact_right,
            "contact_left": self.contact_left,
            "contact_both": self.contact_both,
            "stable": self.stable,
            "valid": self.valid,
            "displacement_max_cm": _scale(self.max_displacement_m, 1e2),
        }
        for d in DIRECTIONS:
            row[f"displacement_{d}_cm"] = _scale(disp.get(d), 1e2)
        row.update(sds_score=self.sds_score, prompt_category=self.prompt_category,
                   predicted_category=self.predicted_category, predicted_probability=self.predicted_probability,
                   prompt_probability=self.prompt_probability, text_faithful=self.text_faithful,
                   seconds=round(self.seconds, 3), reused="+".join(self.reused), error=self.error, note=self.note,
                   folder=self.folder)
        return row


def _scale(x: float | None, factor: float) -> float | None:
    return None if x is None else float(x) * factor


@dataclass
class SampleJob:
    """One sample to evaluate: its folder, the run folder it belongs to, and the run's record.

    Attributes:
        folder: the sample folder.
        run_dir: its run folder (the parent, or the folder itself for a lone sample).
        run: the run's record (None: the folder has no ``summary.json``).
    """

    folder: Path
    run_dir: Path
    run: RunRecord | None

    @property
    def record(self) -> SampleRecord | None:
        return None if self.run is None else self.run.sample(self.folder.name)

    @property
    def name(self) -> str:
        return f"{self.run_dir.name}/{self.folder.name}" if self.folder != self.run_dir else self.folder.name

    def group_and_text(self) -> tuple[str, str | None]:
        """The sample's object group (its record's, else its run's, else the run folder's name) and prompt."""
        rec = self.record
        group = (rec.group if rec else None) or (self.run.group if self.run else None) or self.run_dir.name \
            or "results"
        text = (rec.text if rec else None) or (self.run.text if self.run else None)
        return group, text


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

    def category(self, kind: str | None, text: str | None, category: str | None) -> str | None:
        """The prompted category of a sample (its run's ``kind``, its prompt, the category its record
        names) if faithfulness applies to it, else None."""
        if self.mode is False or (self.mode is None and kind == "grasp"):
            return None
        if text is None and category is None:
            return None  # nothing to go on: do not even load the classifier
        model = self.model
        meta = [{"category": category}] if category is not None else []
        return None if model is None else prompt_category(text, meta, model.categories)


@dataclass
class _Hand:
    mesh: trimesh.Trimesh
    weights: np.ndarray | None
    placement: HandPlacement


def _pose_hand(side: str, hands: Hands, folder: Path, layers: _Layers) -> _Hand:
    """Posed hand (metres, object frame) from ``hands.json``; the stored ``<side>_hand.obj`` if no layer."""
    p = hands[side].to(dtype=torch.float32)
    layer = layers.get(hands.kind, side)
    if layer is not None:
        posed = pose_hand(layer, p)
        mesh, weights, wrist = posed.mesh, posed.weights, posed.joints[0]
    else:
        mesh = load_mesh(folder / f"{side}_hand.obj", check_units=False)
        wrist = p.transl[0].double().cpu().numpy()
        weights = None
    return _Hand(mesh, weights, HandPlacement(pose=p.pose[0].double().cpu().numpy(),
                                              global_orient=p.global_orient[0].double().cpu().numpy(), wrist=wrist))


def _stored_stability(job: SampleJob, digest: str, cfg: PhysicsConfig):
    """The run's stability of these very hands simulated with ``cfg``, or None."""
    rec = job.record
    if rec is None or rec.stability is None or rec.hands_digest != digest or job.run.physics_config() != cfg:
        return None
    return rec.stability


def _stored_score(job: SampleJob, digest: str, scorer: Scorer, inputs: SampleInputs) -> float | None:
    """The run's prior score of these very hands under this scorer and prompt, or None."""
    rec = job.record
    identity = getattr(scorer, "identity", None)
    prompt = getattr(scorer, "prompt", None)
    if rec is None or rec.prior_score is None or rec.hands_digest != digest or identity is None or prompt is None:
        return None
    if json.loads(json.dumps(identity)) != job.run.prior or prompt(inputs) != rec.text:
        return None
    return float(rec.prior_score)


def _length(metres: float) -> str:
    """A length for a message: ``"2.1 km"``, ``"40 m"``, ``"3.2 mm"``, ``"12 µm"``."""
    for unit, size in (("km", 1e3), ("m", 1.0), ("mm", 1e-3)):
        if metres >= size:
            return f"{metres / size:.3g} {unit}"
    return f"{metres * 1e6:.3g} µm"


def check_result_object(mesh: trimesh.Trimesh, path: str | os.PathLike) -> float:
    """The size check of ``bghop grasp`` (:data:`~bghop.geometry.mesh_io.MIN_EXTENT_M` ..
    :data:`~bghop.geometry.mesh_io.MAX_EXTENT_M` across) for a result folder's ``object.obj``.

    Result folders are written in metres; an object far outside that range was written in other
    units, and every metric of the sample would be off by the same factor (a millimetre object
    reads as 1000× too big: 40 m penetrations that look valid).

    Args:
        mesh: the object as read (no scale).
        path: its file, for the message.
    Returns:
        its size: the largest side of its bounding box, metres.
    Raises:
        MeshError: too big or too small; the message says which units it is probably in.
    """
    extent = float(np.ptp(np.asarray(mesh.vertices)[np.unique(np.asarray(mesh.faces))], axis=0).max())
    if extent > MAX_EXTENT_M:
        raise MeshError(f"{path}: the object is {_length(extent)} across, larger than any object hands can hold "
                        f"(limit {MAX_EXTENT_M:g} m): result folders are in metres, so this one was written in other "
                        f"units (millimetres? it would be {_length(extent * 1e-3)} across). Write the folder again "
                        "with the object and hands in metres (e.g. `bghop grasp OBJECT --scale 0.001`)")
    if extent < MIN_EXTENT_M:
        raise MeshError(f"{path}: the object is only {_length(extent)} across, smaller than a fingertip (limit "
                        f"{MIN_EXTENT_M * 1e3:g} mm): result folders are in metres, so this one was written in other "
                        "units (kilometres?). Write the folder again with the object and hands in metres")
    return extent


def evaluate_sample(job: SampleJob, layers: _Layers, physics: bool, physics_config: PhysicsConfig,
                    scorer: Scorer | None, faith: _Faithfulness | None = None,
                    recompute: bool = False) -> tuple[SampleReport, np.ndarray | None]:
    """Measure one sample.

    Args:
        job: the sample.
        layers: hand layers (a sample whose layer cannot be built is measured on its stored meshes).
        physics: run (or reuse) the MuJoCo stability test.
        physics_config: its settings.
        scorer: the prior's plausibility scorer, or None.
        faith: text faithfulness, or None.
        recompute: measure the stability and the score here even where the run stored them.
    Returns:
        the sample's report and its diversity features (None when it could not be read).
    """
    t0 = time.perf_counter()
    group, text = job.group_and_text()
    rec = job.record
    rep = SampleReport(name=job.name, folder=str(job.folder), group=group)
    if faith is not None:
        rep.prompt_category = faith.category(job.run.kind if job.run else None, text, rec.category if rec else None)
    try:
        obj = load_mesh(job.folder / "object.obj", check_units=False)
        check_result_object(obj, job.folder / "object.obj")
        hands = load_hands_json(job.folder / "hands.json")
        digest = hands_digest(hands.to_json_dict())
        rep.hands = "+".join(hands.sides)
        posed = {s: _pose_hand(s, hands, job.folder, layers) for s in hands.sides}
        m = grasp_metrics(obj, {s: h.mesh for s, h in posed.items()})
    except Exception as e:  # noqa: BLE001 - a bad sample is reported, the others go on
        rep.error = f"{type(e).__name__}: {e}"
        rep.seconds = time.perf_counter() - t0
        logger.warning("skipping %s: %s", job.folder, rep.error)
        return rep, None
    rep.penetration_max_m = m.penetration_max_m
    rep.penetration_hand_max_m, rep.penetration_object_max_m = m.penetration_hand_max_m, m.penetration_object_max_m
    rep.penetration_mean_m = m.penetration_mean_m
    rep.intersection_volume_cm3 = m.intersection_volume_cm3
    rep.hand_hand_volume_cm3 = m.hand_hand_volume_cm3
    rep.contact_right, rep.contact_left, rep.contact_both = m.contact_right, m.contact_left, m.contact_both
    notes, remarks = [], []  # notes are warnings; remarks only go into the report
    if physics:
        stab = None if recompute else _stored_stability(job, digest, physics_config)
        rep.reused = ["stability"] if stab is not None else []
        if stab is None and all(h.weights is not None for h in posed.values()):
            try:
                pieces = [pc for h in posed.values() for pc in hand_pieces(np.asarray(h.mesh.vertices), h.weights)]
                stab = simulate_stability(obj, pieces, physics_config)
            except Exception as e:  # noqa: BLE001
                notes.append(f"physics failed: {type(e).__name__}: {e}")
        elif stab is None:
            notes.append("physics skipped: no skinning weights (hand layer unavailable)")
        stab = credit_stability(stab, m.penetration_max_m)
        if stab is not None:
            rep.stable, rep.displacement_m = stab.success, dict(stab.displacement)
            rep.max_displacement_m = stab.max_displacement
            rep.valid = is_valid(stab.success, m.contact_both, m.penetration_max_m, m.hand_hand_volume_cm3)
            if "rejected" in stab.extra:
                remarks.append(f"held in simulation but {stab.extra['rejected']}")
    if scorer is not None:
        inputs = SampleInputs(job.folder, group, text, obj, hands)
        try:
            stored = None if recompute else _stored_score(job, digest, scorer, inputs)
            if stored is not None:
                rep.reused.append("prior score")
            rep.sds_score = stored if stored is not None else float(scorer(inputs))
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
    for n in notes:
        logger.warning("%s: %s", job.folder, n)
    rep.note = "; ".join(notes + remarks) or None
    feats = grasp_features(posed["right"].placement, posed["left"].placement if "left" in posed else None,
                           np.asarray(obj.centroid))
    rep.seconds = time.perf_counter() - t0
    return rep, feats

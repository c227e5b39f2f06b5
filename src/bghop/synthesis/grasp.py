"""Bimanual (or single-hand) grasp synthesis for a given object with the interaction prior.

Pipeline (G-HOP §4.3 / BG-HOP, adapted to a CPU budget):

1. **Checks** before any optimisation: the object must fit the prior's grid (a
   ``2·extent/scale`` = 0.6 m cube around the right hand) and be larger than a fingertip (1 cm).
2. **Initialisation**: ``N`` diverse starts — relaxed hands whose palms face the object centre
   from random directions, ``init_offset`` off the bounding box; the left hand starts on the
   opposite side with its own random roll.
3. **Score distillation** (:class:`~bghop.synthesis.sds.SDSGuidance`) on all ``N`` grasps in
   one batch: both hands' articulation, the right hand's pose relative to the object and the
   left hand's pose relative to the right (:mod:`bghop.synthesis.hoi`). The object block is
   re-encoded every ``object_every`` iterations (the autoencoder pass is the costliest part on
   a CPU); in between only the hand fields move.
4. **Refinement** with contact attraction (finger pads and palm to the surface), penetration
   (hand–object and hand–hand), joint limits (penalty + projection), an opposition term and a
   damping term that keeps the result close to the SDS solution
   (:mod:`bghop.contact.energies`).
5. **Ranking** of the surviving grasps by physics and prior: MuJoCo six-direction stability
   and both-hands contact first, then penetration, hand–hand intersection and the prior's
   denoising score (:meth:`SDSGuidance.score`).

Non-finite values are caught per grasp after every step: the grasp is frozen at its last finite
state, dropped from the results and reported (:class:`DroppedGrasp`); the others finish.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
import trimesh
from torch import Tensor
from tqdm.auto import tqdm

from bghop.contact.energies import ObjectSDF, contact_energy, hand_hand_energy, hand_regions, penetration_energy
from bghop.core.rotations import axis_angle_to_matrix, matrix_to_rot6d
from bghop.eval.grip import GripConfig, check_grip
from bghop.eval.metrics import GraspMetrics
from bghop.eval.physics import PhysicsConfig, StabilityResult
from bghop.fields.frame import FrameConfig
from bghop.hands import HandModel, load_hand
from bghop.hands.frames import palm_center, palm_frame, place_hand
from bghop.hands.params import HandParams, Hands
from bghop.hands.poses import named_pose
from bghop.models.autoencoder import ObjectAutoencoder
from bghop.models.prior import InteractionPrior
from bghop.synthesis.hoi import GraspVariables, InteractionGridBuilder, params_from_rigid, rigid_from_params
from bghop.synthesis.prompts import expand_prompt
from bghop.synthesis.sds import SDSConfig, SDSGuidance

logger = logging.getLogger(__name__)

__all__ = [
    "GraspError",
    "SDSStageConfig",
    "RefineConfig",
    "RankConfig",
    "GraspConfig",
    "Grasp",
    "DroppedGrasp",
    "GraspSynthesisResult",
    "GraspSynthesizer",
    "check_object",
    "initial_grasps",
    "MIN_OBJECT_EXTENT_M",
    "grasp_summary",
    "save_grasps",
    "with_iterations",
]

#: smallest object worth grasping: about a fingertip's width
MIN_OBJECT_EXTENT_M = 0.01
#: objects wider than this fraction of the grid get a warning (parts fall outside the grid)
_WARN_GRID_FRACTION = 0.7



def _adam(v: GraspVariables, cfg: "SDSStageConfig | RefineConfig") -> torch.optim.Adam:
    """Adam over the hands' pose, rotation and translation, each with its stage's learning rate."""
    sides = ("right", "left") if v.bimanual else ("right",)
    return torch.optim.Adam([{"params": [getattr(v, f"{s}_{k}")], "lr": getattr(cfg, f"lr_{k}")}
                             for s in sides for k in ("pose", "rot", "transl")])

class GraspError(ValueError):
    """Input that grasp synthesis cannot use; the message says what to do."""


@dataclass(frozen=True)
class SDSStageConfig:
    """The score-distillation stage.

    Attributes:
        iterations: Adam steps with SDS.
        object_every: re-encode the object (gradient to the right hand's rigid pose) every this
            many iterations; 1 = always.
        lr_pose / lr_rot / lr_transl: learning rates (radians, 6D units, metres).
        w_limits: joint-limit penalty weight (radians²) during SDS.
        precision: ``"fp32"``, ``"bf16"`` (autocast of the autoencoder and UNet passes; about
            1.5–2× faster on CPUs with native bfloat16, and SDS gradients are noisy anyway) or
            ``"auto"`` (bf16 on a CPU that supports it natively, else fp32).
        guidance: the SDS module's settings.
    """

    iterations: int = 20
    object_every: int = 1
    lr_pose: float = 0.03
    lr_rot: float = 0.02
    lr_transl: float = 0.004
    w_limits: float = 10.0
    precision: str = "auto"
    guidance: SDSConfig = SDSConfig()

    def __post_init__(self) -> None:
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {self.precision!r}")


@dataclass(frozen=True)
class RefineConfig:
    """The contact refinement after SDS (weights as in :class:`bghop.contact.optimizer.EnergyConfig`).

    Attributes:
        iterations: Adam steps.
        lr_pose / lr_rot / lr_transl: learning rates.
        w_contact / w_penetration / w_hand_hand / w_limits / w_opposition: energy weights
            (energies in metres² or radians²).
        w_damping: weight of the damping term ``|Δpose|² + |Δrot6d|² + |Δtransl / damping_length|²``
            to the SDS result.
        damping_length: metres that count as one unit of translation in the damping term.
        press_depth: metres the pads aim to press into the surface (soft pads); vertices up
            to this deep are not penalised.
        contact_weights: per contact region.
    """

    iterations: int = 150
    lr_pose: float = 0.02
    lr_rot: float = 0.01
    lr_transl: float = 0.002
    w_contact: float = 1000.0
    w_penetration: float = 3000.0
    w_hand_hand: float = 3000.0
    w_limits: float = 10.0
    w_opposition: float = 0.05
    w_damping: float = 0.02
    damping_length: float = 0.05
    press_depth: float = 0.002
    contact_weights: tuple[tuple[str, float], ...] = (("thumb", 1.0), ("index", 1.0), ("middle", 1.0),
                                                      ("ring", 0.5), ("pinky", 0.3), ("palm", 0.5))


@dataclass(frozen=True)
class RankConfig:
    """How grasps are ordered (lower ``rank_score`` first).

    ``rank_score = w_unstable·[not stable] + w_no_contact·[a hand not in contact]
    + penetration_max / penetration_unit + w_hand_hand·hand–hand cm³ + w_sds·Δ``, where ``Δ`` is
    how much worse (in percent) the grasp's prior denoising score is than the run's best. The
    score is not standardised: the object dominates it, so grasps of one object often differ by
    a fraction of a percent, and that should not outweigh a physical failure.

    Attributes:
        physics: run the MuJoCo stability test (≈0.3 s per grasp; the first call on a
            non-convex object also pays for its convex decomposition).
        physics_config: simulation settings.
        squeeze: finger closures (fractions of the way to the fist) tried in turn on a grasp that
            does not hold, keeping the first that does without going deeper than
            ``max_penetration_m`` (:func:`bghop.eval.grip.check_grip`); empty to keep grasps as
            optimised. Needs ``physics``.
        max_penetration_m: the deepest a squeeze may press, metres.
        score_levels: noise levels (fractions of ``T``) of the prior's denoising score.
    """

    physics: bool = True
    physics_config: PhysicsConfig = PhysicsConfig()
    squeeze: tuple[float, ...] = (0.04, 0.08, 0.12)
    max_penetration_m: float = 0.005
    score_levels: tuple[float, ...] = (0.35, 0.65)
    w_unstable: float = 4.0
    w_no_contact: float = 4.0
    penetration_unit: float = 0.005
    w_hand_hand: float = 1.0
    w_sds: float = 1.0


@dataclass(frozen=True)
class GraspConfig:
    """Everything grasp synthesis does.

    Attributes:
        sds: score-distillation stage.
        refine: contact refinement.
        rank: ranking.
        init_offset: metres between the bounding box and each palm at initialisation.
        init_pose_noise: std (radians) of the articulation noise added to the relaxed pose.
        sdf_resolution: resolution of the object SDF grid computed once around the object.
        sdf_margin: metres around the object's bounding box covered by that grid (must exceed
            the autoencoder's truncation, 0.2 n = 4 cm).
    """

    sds: SDSStageConfig = SDSStageConfig()
    refine: RefineConfig = RefineConfig()
    rank: RankConfig = RankConfig()
    init_offset: float = 0.02
    init_pose_noise: float = 0.1
    sdf_resolution: int = 64
    sdf_margin: float = 0.06

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Grasp:
    """One synthesised grasp (object frame, metres).

    Attributes:
        index: which initialisation it came from.
        hands: :class:`~bghop.hands.params.Hands` (batch 1), on the run's device.
        sds_score: the prior's denoising score (lower = more plausible).
        energy: final refinement energy.
        metrics: geometric metrics.
        stability: MuJoCo result, or None when physics is off.
        rank_score: the ranking score (lower is better).
        squeeze: how far the fingers were closed towards the fist to make it hold (0 = as optimised).
    """

    index: int
    hands: Hands
    sds_score: float
    energy: float
    metrics: GraspMetrics
    stability: StabilityResult | None
    rank_score: float = 0.0
    squeeze: float = 0.0

    def to_dict(self) -> dict:
        """Metrics and scores (no hand parameters) for ``summary.json``."""
        return {"init_index": self.index, "rank_score": self.rank_score, "sds_score": self.sds_score,
                "energy": self.energy, "squeeze": self.squeeze, "metrics": self.metrics.to_dict(),
                "stability": None if self.stability is None else self.stability.to_dict()}


@dataclass
class DroppedGrasp:
    """A grasp that produced non-finite values.

    Attributes:
        index: its initialisation index.
        stage: ``"sds"`` or ``"refine"``.
        iteration: the step at which it was caught.
        reason: what was non-finite.
    """

    index: int
    stage: str
    iteration: int
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GraspSynthesisResult:
    """Output of :class:`GraspSynthesizer`.

    Attributes:
        object_mesh: the object (metres, its own frame; everything else is in this frame).
        grasps: best first.
        dropped: grasps lost to non-finite values.
        text: the prompt used.
        settings: run settings (for ``summary.json``).
        timings: seconds per stage.
        warnings: warnings about the input.
        sds_error: mean prior denoising error ``|ε̂ − ε|²`` over the live grasps at each SDS
            iteration (noisy: the timestep and noise change every iteration).
    """

    object_mesh: trimesh.Trimesh
    grasps: list[Grasp]
    dropped: list[DroppedGrasp]
    text: str
    settings: dict
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    sds_error: list[float] = field(default_factory=list)


def check_object(mesh: trimesh.Trimesh, frame: FrameConfig = FrameConfig()) -> list[str]:
    """Refuse objects that cannot be grasped with the prior; return warnings for borderline ones.

    Args:
        mesh: the object, metres.
        frame: the prior's normalised frame (grid size ``2·extent/scale`` metres).
    Raises:
        GraspError: empty mesh, non-finite vertices, larger than the grid, smaller than a fingertip.
    """
    if len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        raise GraspError("the object mesh has no triangles")
    v = np.asarray(mesh.vertices)
    if not np.isfinite(v).all():
        raise GraspError("the object mesh has NaN or infinite vertices: repair it and export it again")
    ext = float(np.ptp(v, axis=0).max())
    grid = 2 * frame.extent / frame.scale
    if ext > grid:
        raise GraspError(
            f"the object is {ext:.3f} m across, larger than the prior's grid ({grid:.2f} m cube around the right "
            f"hand): it cannot be represented. If the mesh is not in metres pass --scale (0.001 for millimetres, "
            f"0.01 for centimetres)")
    if ext < MIN_OBJECT_EXTENT_M:
        raise GraspError(
            f"the object is only {ext * 1000:.1f} mm across, smaller than a fingertip "
            f"({MIN_OBJECT_EXTENT_M * 1000:.0f} mm): nothing to grasp. If the mesh is not in metres pass --scale")
    warnings = []
    if ext > _WARN_GRID_FRACTION * grid:
        warnings.append(f"the object is {ext:.2f} m across: parts of it far from the right hand fall outside the "
                        f"prior's {grid:.2f} m grid and are not seen by the prior")
    merged = trimesh.Trimesh(v, np.asarray(mesh.faces), process=True)  # STL-style meshes repeat vertices
    if not merged.is_watertight:
        logger.info("the object mesh is not watertight; inside/outside comes from the winding number")
    for w in warnings:
        logger.warning(w)
    return warnings


def _random_directions(n: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _place(hand: HandModel, mesh: trimesh.Trimesh, dirs: np.ndarray, rng: np.random.Generator, offset: float,
           noise: float, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Relaxed hands ``(pose (n, 45), orient (n, 3), transl (n, 3))`` facing the object from ``dirs``."""
    n = len(dirs)
    g = torch.Generator().manual_seed(int(rng.integers(1 << 31)))
    pose = named_pose("relaxed", side=hand.side)[None].repeat(n, 1) + noise * torch.randn(n, 45, generator=g)
    lim = hand.joint_limits
    if lim is not None:
        pose = lim.clamp(pose)
    pose = pose.to(device)
    d = torch.tensor(dirs, dtype=torch.float32, device=device)
    center = torch.tensor(mesh.bounds.mean(0), dtype=torch.float32, device=device)
    half = torch.tensor(mesh.extents / 2, dtype=torch.float32, device=device)
    reach = (half / d.abs().clamp_min(1e-6)).min(dim=1).values
    anchor = center + d * (reach[:, None] + offset)
    roll = torch.tensor(_random_directions(n, rng), dtype=torch.float32, device=device)
    finger = roll - (roll * d).sum(-1, keepdim=True) * d
    with torch.no_grad():
        pl = place_hand(hand, pose, finger, -d, anchor, offset=0.0)
    return pose, pl.global_orient, pl.transl


def initial_grasps(layers: dict[str, HandModel], mesh: trimesh.Trimesh, n: int, seed: int = 0,
                   offset: float = 0.02, pose_noise: float = 0.1,
                   device: torch.device | str = "cpu") -> GraspVariables:
    """``n`` diverse starting grasps around the object (palms facing its centre from random directions).

    Args:
        layers: hand layers (``"right"``, optionally ``"left"``).
        mesh: the object, metres.
        n: number of grasps.
        seed: random seed.
        offset: metres between the bounding box and each palm.
        pose_noise: articulation noise std, radians.
        device: torch device.
    Returns:
        :class:`GraspVariables` (left hand relative to the right hand's frame).
    """
    device = torch.device(device)
    rng = np.random.default_rng(seed)
    dirs = _random_directions(n, rng)
    zeros45 = torch.zeros(1, 45, device=device)
    j0 = {s: h(zeros45, zeros45[:, :3], zeros45[:, :3]).joints[0, 0].detach() for s, h in layers.items()}
    pose, orient, transl = _place(layers["right"], mesh, dirs, rng, offset, pose_noise, device)
    R = axis_angle_to_matrix(orient)
    v = GraspVariables(pose, matrix_to_rot6d(R), transl)
    if "left" in layers:
        lp, lo, lt = _place(layers["left"], mesh, -dirs, rng, offset, pose_noise, device)
        oTh = rigid_from_params(v.right_rot, v.right_transl, j0["right"])
        oTl = rigid_from_params(matrix_to_rot6d(axis_angle_to_matrix(lo)), lt, j0["left"])
        l6, ltr = params_from_rigid(torch.linalg.inv(oTh) @ oTl, j0["left"])
        v.left_pose, v.left_rot, v.left_transl = lp, l6, ltr
    return v


def _cpu_has_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class _NaNGuard:
    """Per-grasp non-finite detection: freezes bad grasps at a finite state and records them."""

    def __init__(self, v: GraspVariables, dropped: list[DroppedGrasp], offset_ids: list[int]) -> None:
        self.alive = v.finite()
        self.dropped = dropped
        self.ids = offset_ids
        safe = v.clone()
        for k, t in safe.tensors().items():
            t[~self.alive] = 0.0
            if k.endswith("rot"):
                t[~self.alive] = torch.tensor([1.0, 0, 0, 0, 1.0, 0], device=t.device)
        self.safe = safe
        for i in torch.nonzero(~self.alive).flatten().tolist():
            self.dropped.append(DroppedGrasp(self.ids[i], "init", 0, "non-finite initial parameters"))
        self._restore(v)

    def _restore(self, v: GraspVariables) -> None:
        with torch.no_grad():
            for k, t in v.tensors().items():
                t[~self.alive] = getattr(self.safe, k)[~self.alive]

    def mask_grads(self, v: GraspVariables) -> None:
        for t in v.tensors().values():
            if t.grad is not None:
                t.grad[~self.alive] = 0.0
                t.grad.nan_to_num_(0.0, 0.0, 0.0)

    def check(self, v: GraspVariables, loss: Tensor, stage: str, it: int) -> None:
        """After a step: drop grasps whose loss or parameters became non-finite."""
        bad = self.alive & (~v.finite() | ~torch.isfinite(loss.detach()))
        if bad.any():
            for i in torch.nonzero(bad).flatten().tolist():
                what = "loss" if not bool(torch.isfinite(loss[i])) else "parameters"
                self.dropped.append(DroppedGrasp(self.ids[i], stage, it, f"non-finite {what}"))
                logger.warning("grasp %d dropped: non-finite %s at %s iteration %d", self.ids[i], what, stage, it)
            self.alive &= ~bad
        # keep the batch finite: alive grasps' last good state for everything else is not needed
        with torch.no_grad():
            for k, t in v.tensors().items():
                t[~self.alive] = getattr(self.safe, k)[~self.alive]


class GraspSynthesizer:
    """Grasps for a user's object from the interaction prior.

    Args:
        prior: the interaction prior (bimanual for two hands, single-hand for one).
        autoencoder: its object autoencoder.
        hand_kind: ``"open"`` (default) or ``"mano"``.
        mano_dir: MANO folder for ``hand_kind="mano"``.
        config: settings.
        device: torch device for all computation.
    """

    def __init__(self, prior: InteractionPrior, autoencoder: ObjectAutoencoder, hand_kind: str = "open",
                 mano_dir: str | os.PathLike | None = None, config: GraspConfig = GraspConfig(),
                 device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.prior = prior.to(self.device).eval()
        self.autoencoder = autoencoder.to(self.device).eval()
        self.config = config
        self.hand_kind = hand_kind
        self.mano_dir = mano_dir
        self.bimanual = prior.config.bimanual
        self.sides = ("right", "left") if self.bimanual else ("right",)
        self.layers = {s: load_hand(hand_kind, side=s, model_dir=mano_dir).to(self.device) for s in self.sides}
        if hand_kind != prior.config.hand_kind:
            logger.warning("the prior was trained on %r hands, synthesising with %r hands", prior.config.hand_kind,
                           hand_kind)
        self.guidance = SDSGuidance(self.prior, config.sds.guidance)
        self._regions = {s: hand_regions(self.layers[s], self.device) for s in self.sides}

    def _autocast(self):
        """bf16 autocast context for the network passes of SDS (see :attr:`SDSStageConfig.precision`)."""
        p = self.config.sds.precision
        if p == "auto":
            p = "bf16" if self.device.type == "cpu" and _cpu_has_bf16() else "fp32"
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=p == "bf16")

    # -- stages --------------------------------------------------------------------------------
    def _sds(self, builder: InteractionGridBuilder, v: GraspVariables, texts: list[str], guard: _NaNGuard,
             generator: torch.Generator, progress: bool, trace: list[float]) -> GraspVariables:
        cfg = self.config.sds
        v = v.clone(requires_grad=True)
        opt = _adam(v, cfg)
        latent = None
        its = cfg.iterations
        for it in tqdm(range(its), desc="SDS", disable=not progress, leave=False):
            opt.zero_grad()
            fresh = latent is None or it % max(1, cfg.object_every) == 0
            with self._autocast():
                grid, lat = builder(v, None if fresh else latent)
                latent = lat.detach()
                x0 = self.prior.normalize(grid).float()
                out = self.guidance(x0, texts, progress=it / max(1, its - 1), generator=generator)
            per = 0.5 * (out.grad.float().pow(2)).flatten(1).sum(1)  # (B,) for NaN detection only
            if guard.alive.any():
                trace.append(float(out.error[guard.alive].mean()))
            reg = torch.zeros(v.batch_size, device=self.device)
            for side, pose in (("right", v.right_pose), ("left", v.left_pose)):
                lim = self.layers[side].joint_limits if side in self.layers else None
                if pose is not None and lim is not None:
                    reg = reg + cfg.w_limits * lim.violation(pose)
            reg = torch.where(guard.alive, reg, torch.zeros_like(reg))
            (out.loss + reg.sum()).backward()
            guard.mask_grads(v)
            opt.step()
            guard.check(v, per + reg + torch.where(torch.isfinite(x0).flatten(1).all(1), 0.0, float("nan")), "sds", it)
        return v.clone()

    def _energy(self, builder: InteractionGridBuilder, v: GraspVariables, anchor: GraspVariables,
                sdf: ObjectSDF, center: Tensor) -> Tensor:
        cfg = self.config.refine
        hands = builder.pose_hands(v, vertices=True)
        cw = dict(cfg.contact_weights)
        total = torch.zeros(v.batch_size, device=self.device)
        poses = {"right": v.right_pose, "left": v.left_pose}
        for side in self.sides:
            s = sdf(hands.vertices_o[side])
            regions = self._regions[side]
            total = total + cfg.w_contact * contact_energy(s, regions, cw, target=-cfg.press_depth)
            total = total + cfg.w_penetration * penetration_energy(s, tolerance=cfg.press_depth)
            lim = self.layers[side].joint_limits
            if lim is not None:
                total = total + cfg.w_limits * lim.violation(poses[side])
        j = hands.joints_o
        if self.bimanual:
            total = total + cfg.w_hand_hand * hand_hand_energy(j["right"], j["left"])
            n_r = palm_frame(j["right"], "right")[..., 1]
            n_l = palm_frame(j["left"], "left")[..., 1]
            c_r, c_l = palm_center(j["right"]), palm_center(j["left"])
            across = torch.nn.functional.normalize(c_l - c_r, dim=-1)
            total = total + cfg.w_opposition * ((1 + (n_r * n_l).sum(-1)) + (1 - (n_r * across).sum(-1))
                                                + torch.relu(((center - c_r) * (center - c_l)).sum(-1)) * 100)
        else:
            jr = j["right"]
            thumb = torch.nn.functional.normalize(jr[:, 4] - jr[:, 3], dim=-1)
            fingers = torch.nn.functional.normalize(0.5 * (jr[:, 8] + jr[:, 12]) - jr[:, 4], dim=-1)
            total = total + cfg.w_opposition * (1 - (thumb * fingers).sum(-1))
        damp = torch.zeros_like(total)
        a = anchor.tensors()
        for k, t in v.tensors().items():
            d = t - a[k]
            if k.endswith("transl"):
                d = d / cfg.damping_length
            damp = damp + d.pow(2).sum(-1)
        return total + cfg.w_damping * damp

    def _refine(self, builder: InteractionGridBuilder, v0: GraspVariables, sdf: ObjectSDF, center: Tensor,
                guard: _NaNGuard, progress: bool) -> tuple[GraspVariables, Tensor]:
        cfg = self.config.refine
        anchor = v0.clone()
        v = v0.clone(requires_grad=True)
        opt = _adam(v, cfg)
        for it in tqdm(range(cfg.iterations), desc="refine", disable=not progress, leave=False):
            opt.zero_grad()
            e = self._energy(builder, v, anchor, sdf, center)
            torch.where(guard.alive, e, torch.zeros_like(e)).sum().backward()
            guard.mask_grads(v)
            opt.step()
            with torch.no_grad():
                for side, pose in (("right", v.right_pose), ("left", v.left_pose)):
                    lim = self.layers[side].joint_limits if side in self.layers else None
                    if pose is not None and lim is not None:
                        pose.copy_(lim.clamp(pose))
            guard.check(v, e, "refine", it)
        with torch.no_grad():
            e = self._energy(builder, v, anchor, sdf, center)
        return v.clone(), e

    def _rank(self, mesh: trimesh.Trimesh, hands: dict[str, HandParams], keep: list[int], ids: list[int],
              sds_scores: Tensor, energy: Tensor, progress: bool) -> list[Grasp]:
        rcfg = self.config.rank
        grasps = []
        grip = GripConfig(squeeze=rcfg.squeeze, max_penetration_m=rcfg.max_penetration_m, max_hand_hand_cm3=math.inf,
                          require_contact=False, physics=rcfg.physics, physics_config=rcfg.physics_config)
        layers = {s: self.layers[s] for s in self.sides}
        for i in tqdm(keep, desc="rank", disable=not progress, leave=False):
            hp = {s: hands[s].index(i) for s in self.sides}
            c = check_grip(mesh, hp, layers, grip)
            grasps.append(Grasp(index=ids[i], hands=Hands.from_params(c.hands, self.hand_kind),
                                sds_score=float(sds_scores[i]), energy=float(energy[i]), metrics=c.metrics,
                                stability=c.stability, squeeze=c.squeeze))
        if grasps:
            sc = np.array([g.sds_score for g in grasps])
            z = 100.0 * (sc - sc.min()) / max(abs(float(sc.min())), 1e-12)
            for g, zi in zip(grasps, z):
                g.rank_score = float(
                    rcfg.w_unstable * (g.stability is not None and not g.stability.success)
                    + rcfg.w_no_contact * (not g.metrics.contact_both)
                    + g.metrics.penetration_max_m / rcfg.penetration_unit
                    + rcfg.w_hand_hand * g.metrics.hand_hand_volume_cm3
                    + rcfg.w_sds * zi)
            grasps.sort(key=lambda g: g.rank_score)
        return grasps

    # -- entry point ---------------------------------------------------------------------------
    def __call__(self, mesh: trimesh.Trimesh, text: str, n: int = 8, seed: int = 0,
                 init: GraspVariables | None = None, progress: bool = True) -> GraspSynthesisResult:
        """Synthesise ``n`` grasps of ``mesh`` in one batch and rank them.

        Args:
            mesh: the object, metres (its frame is the output frame).
            text: object name or prompt ("box" → "grasp a box with both hands").
            n: number of grasps (one batch).
            seed: random seed (initialisations, SDS noise).
            init: starting state instead of :func:`initial_grasps` (``n`` is then its batch size).
            progress: tqdm progress bars.
        Returns:
            :class:`GraspSynthesisResult` with the grasps best first.
        Raises:
            GraspError: unusable object (before any optimisation).
        """
        if n < 1:
            raise GraspError(f"the number of grasps must be at least 1, got {n}")
        settings = self.prior.config.grid_settings
        warnings = check_object(mesh, settings.field.frame)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        prompt = expand_prompt(text, self.bimanual)
        cfg = self.config
        sdf = ObjectSDF(mesh, resolution=cfg.sdf_resolution, margin=cfg.sdf_margin, device=self.device)
        timings["object_sdf"] = time.perf_counter() - t0
        builder = InteractionGridBuilder(self.layers, settings, sdf, self.autoencoder)
        if init is None:
            v = initial_grasps(self.layers, mesh, n, seed, cfg.init_offset, cfg.init_pose_noise, self.device)
        else:
            if init.bimanual != self.bimanual:
                raise GraspError("the initial grasps' hand count does not match the prior")
            v = init.clone()
            n = v.batch_size
        ids = list(range(n))
        dropped: list[DroppedGrasp] = []
        guard = _NaNGuard(v, dropped, ids)
        texts = [prompt] * n
        gen = torch.Generator().manual_seed(seed)
        t1 = time.perf_counter()
        trace: list[float] = []
        v = self._sds(builder, v, texts, guard, gen, progress, trace)
        timings["sds"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        center = torch.tensor(mesh.bounds.mean(0), dtype=torch.float32, device=self.device)
        v, energy = self._refine(builder, v, sdf, center, guard, progress)
        timings["refine"] = time.perf_counter() - t2
        t3 = time.perf_counter()
        with torch.no_grad():
            grid, _ = builder(v)
            scores = self.guidance.score(self.prior.normalize(grid), texts, levels=cfg.rank.score_levels,
                                         seed=seed).cpu()
        hands = builder.hand_params(v)
        keep = [i for i in range(n) if bool(guard.alive[i]) and math.isfinite(float(scores[i]))
                and math.isfinite(float(energy[i]))]
        for i in range(n):
            if bool(guard.alive[i]) and i not in keep:
                dropped.append(DroppedGrasp(ids[i], "rank", 0, "non-finite score or energy"))
        timings["score"] = time.perf_counter() - t3
        t4 = time.perf_counter()
        grasps = self._rank(mesh, hands, keep, ids, scores, energy.cpu(), progress)
        timings["rank"] = time.perf_counter() - t4
        timings["total"] = time.perf_counter() - t0
        run = {"text": prompt, "n": n, "seed": seed, "bimanual": self.bimanual, "hand": self.hand_kind,
               "device": str(self.device), "config": cfg.to_dict()}
        logger.info("grasp synthesis: %d grasps (%d dropped) in %.1f s", len(grasps), len(dropped), timings["total"])
        return GraspSynthesisResult(object_mesh=mesh, grasps=grasps, dropped=dropped, text=prompt, settings=run,
                                    timings=timings, warnings=warnings, sds_error=trace)


def with_iterations(config: GraspConfig, sds: int | None = None, refine: int | None = None) -> GraspConfig:
    """A copy of ``config`` with other iteration counts (None keeps the value)."""
    s = config.sds if sds is None else replace(config.sds, iterations=sds)
    r = config.refine if refine is None else replace(config.refine, iterations=refine)
    return replace(config, sds=s, refine=r)


def grasp_summary(result: GraspSynthesisResult) -> dict:
    """``summary.json`` content: run settings, timings, per-grasp metrics (best first) and dropped grasps."""
    samples = []
    for k, g in enumerate(result.grasps):
        samples.append({"name": str(k), "rank": k, **g.to_dict()})
    return {"kind": "grasp", "text": result.text, "settings": result.settings, "timings_s": result.timings,
            "warnings": result.warnings, "sds_error_per_iteration": result.sds_error, "samples": samples,
            "dropped": [d.to_dict() for d in result.dropped]}


def _title(k: int, g: Grasp) -> str:
    parts = [f"#{k}"]
    if g.stability is not None:
        parts.append("stable" if g.stability.success else "unstable")
    parts.append("contact" if g.metrics.contact_both else "no contact")
    parts.append(f"pen {g.metrics.penetration_max_m * 1000:.1f} mm")
    return " · ".join(parts)


def save_grasps(result: GraspSynthesisResult, out_dir: str | os.PathLike, layers: dict[str, HandModel] | None = None,
                mano_dir: str | os.PathLike | None = None, render: bool = True, progress: bool = True):
    """Write the grasps best first as result folders ``DIR/<k>/``, a contact sheet and ``summary.json``.

    Args:
        result: from :class:`GraspSynthesizer`.
        out_dir: run folder.
        layers: hand layers to reuse (loaded by kind otherwise).
        mano_dir: MANO folder for MANO hands.
        render: write renders and the contact sheet.
        progress: tqdm progress bar.
    Returns:
        the folder (:class:`pathlib.Path`).
    """
    from bghop.synthesis.output import write_run
    from bghop.viz.results import ResultSample

    samples = []
    for k, g in enumerate(result.grasps):
        extra = {"rank": k, "rank_score": g.rank_score, "sds_score": g.sds_score, "text": result.text}
        samples.append(ResultSample(result.object_mesh, g.hands, title=_title(k, g), extra=extra))
    return write_run(out_dir, samples, grasp_summary(result), layers=layers, mano_dir=mano_dir, render=render,
                     progress=progress)

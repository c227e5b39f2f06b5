"""Bimanual (or single-hand) grasp synthesis for a given object with the interaction prior.

Pipeline (G-HOP §4.3 / BG-HOP, adapted to a CPU budget):

1. **Checks** before any optimisation (:func:`~bghop.synthesis.checks.check_object`): the object
   must fit the prior's grid (a ``2·extent/scale`` = 0.6 m cube around the right hand) and be
   larger than a fingertip (1 cm).
2. **Initialisation** (:func:`bghop.contact.init.initial_hands`): ``N`` diverse starts, relaxed
   hands whose palms face the object centre from random directions, ``offset`` off the bounding
   box; the left hand starts on the opposite side with its own random roll.
3. **Score distillation** (:class:`~bghop.synthesis.sds.SDSGuidance`) on all ``N`` grasps in
   one batch: both hands' articulation, the right hand's pose relative to the object and the
   left hand's pose relative to the right (:mod:`bghop.synthesis.hoi`). The object block is
   re-encoded every ``object_every`` iterations; in between only the hand fields move.
4. **Refinement** on the grasp objective (:class:`bghop.contact.objective.GraspObjective`, the
   data builder's objective with the refinement's weights :data:`~bghop.contact.objective.REFINE_OBJECTIVE`:
   contact, penetration, hand–hand, joint limits (penalty + projection), opposition and damping
   towards the SDS result).
5. **Ranking** (:func:`bghop.eval.ranking.rank_score`): MuJoCo six-direction stability (with the
   finger squeeze of :func:`bghop.eval.grip.check_grip`) and both-hands contact first, then
   penetration, hand–hand intersection and the prior's denoising score.

Non-finite values are caught per grasp after every step (:class:`~bghop.synthesis.guard.NaNGuard`):
the grasp is frozen, dropped from the results and reported; the others finish.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field, replace

import torch
import trimesh
from torch import Tensor
from tqdm.auto import tqdm

from bghop.contact.energies import ObjectSDF
from bghop.contact.init import InitConfig
from bghop.contact.objective import REFINE_OBJECTIVE, GraspObjective, ObjectiveConfig, ObjectiveValue
from bghop.contact.optimizer import adam_groups
from bghop.core.config import legacy_parts
from bghop.eval.grip import GripConfig, check_grip
from bghop.eval.metrics import GraspMetrics
from bghop.eval.physics import PhysicsConfig, StabilityResult
from bghop.eval.ranking import RankWeights, prior_excess_percent, rank_score
from bghop.hands import load_hand
from bghop.hands.params import HandParams, Hands
from bghop.hands.posing import PosedHand
from bghop.models.autoencoder import ObjectAutoencoder
from bghop.models.prior import InteractionPrior
from bghop.synthesis.checks import MIN_OBJECT_EXTENT_M, GraspError, check_object
from bghop.synthesis.guard import DroppedGrasp, NaNGuard
from bghop.synthesis.hoi import GraspVariables, InteractionGridBuilder, initial_grasps
from bghop.synthesis.output import grasp_summary, save_grasps
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
    "PRECISIONS",
]

#: numeric precisions of the SDS network passes
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class SDSStageConfig:
    """The score-distillation stage.

    Attributes:
        iterations: Adam steps with SDS.
        object_every: re-encode the object (gradient to the right hand's rigid pose) every this
            many iterations; 1 = always.
        lr_pose / lr_rot / lr_transl: learning rates (radians, 6D units, metres).
        w_limits: joint-limit penalty weight (radians²) during SDS.
        precision: ``"fp32"`` (default) or ``"bf16"``: autocast of the autoencoder and UNet passes
            to bfloat16, about 1.5–2× faster on CPUs with native bfloat16 (SDS gradients are noisy
            anyway); only when asked. ``"auto"`` of earlier versions means fp32 (deprecated).
        guidance: the SDS module's settings.
    """

    iterations: int = 20
    object_every: int = 1
    lr_pose: float = 0.03
    lr_rot: float = 0.02
    lr_transl: float = 0.004
    w_limits: float = 10.0
    precision: str = "fp32"
    guidance: SDSConfig = SDSConfig()

    def __post_init__(self) -> None:
        if self.precision == "auto":
            warnings.warn("SDSStageConfig(precision='auto') is deprecated and means 'fp32'; ask for 'bf16' "
                          "explicitly", DeprecationWarning, stacklevel=3)
            object.__setattr__(self, "precision", "fp32")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")


#: flat ``RefineConfig`` keywords of earlier versions → the objective's fields
_REFINE_LEGACY = {k: ("objective", k) for k in ("w_contact", "w_penetration", "w_hand_hand", "w_limits",
                                                "w_opposition", "w_damping", "damping_length", "press_depth",
                                                "contact_weights")}


@dataclass(frozen=True, init=False)
class RefineConfig:
    """The contact refinement after SDS.

    Attributes:
        iterations: Adam steps.
        lr_pose / lr_rot / lr_transl: learning rates.
        objective: the grasp objective's weights (:data:`~bghop.contact.objective.REFINE_OBJECTIVE`:
            every hand vertex, damping to the SDS result, no natural-pose or wrench term). The flat
            keywords of earlier versions (``w_contact=``, ``w_damping=``, …) still work, deprecated.
    """

    iterations: int
    lr_pose: float
    lr_rot: float
    lr_transl: float
    objective: ObjectiveConfig

    def __init__(self, iterations: int = 150, lr_pose: float = 0.02, lr_rot: float = 0.01, lr_transl: float = 0.002,
                 objective: ObjectiveConfig = REFINE_OBJECTIVE, **legacy) -> None:
        parts = legacy_parts("RefineConfig", legacy, _REFINE_LEGACY)
        for name, value in (("iterations", iterations), ("lr_pose", lr_pose), ("lr_rot", lr_rot),
                            ("lr_transl", lr_transl), ("objective", replace(objective, **parts.get("objective", {})))):
            object.__setattr__(self, name, value)


_RANK_LEGACY = {"w_unstable": ("weights", "unstable"), "w_no_contact": ("weights", "no_contact"),
                "penetration_unit": ("weights", "penetration_unit_m"), "w_hand_hand": ("weights", "hand_hand_per_cm3"),
                "w_sds": ("weights", "prior_per_percent")}


@dataclass(frozen=True, init=False)
class RankConfig:
    """How grasps are checked and ordered (lower :func:`~bghop.eval.ranking.rank_score` first).

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
        weights: the ranking weights (:class:`~bghop.eval.ranking.RankWeights`; the flat ``w_*``
            keywords of earlier versions still work, deprecated).
    """

    physics: bool
    physics_config: PhysicsConfig
    squeeze: tuple[float, ...]
    max_penetration_m: float
    score_levels: tuple[float, ...]
    weights: RankWeights

    def __init__(self, physics: bool = True, physics_config: PhysicsConfig = PhysicsConfig(),
                 squeeze: tuple[float, ...] = (0.04, 0.08, 0.12), max_penetration_m: float = 0.005,
                 score_levels: tuple[float, ...] = (0.35, 0.65), weights: RankWeights = RankWeights(), **legacy) -> None:
        parts = legacy_parts("RankConfig", legacy, _RANK_LEGACY)
        for name, value in (("physics", physics), ("physics_config", physics_config), ("squeeze", tuple(squeeze)),
                            ("max_penetration_m", max_penetration_m), ("score_levels", tuple(score_levels)),
                            ("weights", replace(weights, **parts.get("weights", {})))):
            object.__setattr__(self, name, value)


_GRASP_LEGACY = {"init_offset": ("init", "offset"), "init_pose_noise": ("init", "pose_noise")}


@dataclass(frozen=True, init=False)
class GraspConfig:
    """Everything grasp synthesis does.

    Attributes:
        sds: score-distillation stage.
        refine: contact refinement.
        rank: checks and ranking.
        init: how the starts are drawn (:class:`~bghop.contact.init.InitConfig`; ``init_offset=`` /
            ``init_pose_noise=`` of earlier versions still work, deprecated).
        sdf_resolution: resolution of the object SDF grid computed once around the object.
        sdf_margin: metres around the object's bounding box covered by that grid (must exceed
            the autoencoder's truncation, 0.2 n = 4 cm).
    """

    sds: SDSStageConfig
    refine: RefineConfig
    rank: RankConfig
    init: InitConfig
    sdf_resolution: int
    sdf_margin: float

    def __init__(self, sds: SDSStageConfig = SDSStageConfig(), refine: RefineConfig = RefineConfig(),
                 rank: RankConfig = RankConfig(), init: InitConfig = InitConfig(), sdf_resolution: int = 64,
                 sdf_margin: float = 0.06, **legacy) -> None:
        parts = legacy_parts("GraspConfig", legacy, _GRASP_LEGACY)
        for name, value in (("sds", sds), ("refine", refine), ("rank", rank),
                            ("init", replace(init, **parts.get("init", {}))), ("sdf_resolution", sdf_resolution),
                            ("sdf_margin", sdf_margin)):
            object.__setattr__(self, name, value)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Grasp:
    """One synthesised grasp (object frame, metres).

    Attributes:
        index: which initialisation it came from.
        hands: the hands (batch 1, on the run's device), squeezed if ``squeeze > 0``.
        sds_score: the prior's denoising score of the optimised grasp (lower = more plausible).
        energy: final refinement energy.
        metrics: geometric metrics.
        stability: MuJoCo result, or None when physics is off.
        rank_score: the ranking score (lower is better).
        squeeze: how far the fingers were closed towards the fist to make it hold (0 = as optimised).
        energy_terms: the final refinement energy's terms (:data:`bghop.contact.objective.TERM_NAMES`).
        posed: ``hands`` posed (what the checks measured; writers reuse them).
    """

    index: int
    hands: Hands
    sds_score: float
    energy: float
    metrics: GraspMetrics
    stability: StabilityResult | None
    rank_score: float = 0.0
    squeeze: float = 0.0
    energy_terms: dict[str, float] = field(default_factory=dict)
    posed: dict[str, PosedHand] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Metrics and scores (no hand parameters) for ``summary.json``."""
        return {"init_index": self.index, "rank_score": self.rank_score, "sds_score": self.sds_score,
                "energy": self.energy, "energy_terms": dict(self.energy_terms), "squeeze": self.squeeze,
                "metrics": self.metrics.to_dict(),
                "stability": None if self.stability is None else self.stability.to_dict()}


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

    @property
    def precision(self) -> str:
        """The precision of the SDS network passes (``"fp32"`` or ``"bf16"``)."""
        return self.config.sds.precision

    def _autocast(self):
        """bf16 autocast of the SDS network passes when asked for (:attr:`SDSStageConfig.precision`)."""
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def _limits_penalty(self, v: GraspVariables, weight: float) -> Tensor:
        reg = torch.zeros(v.batch_size, device=self.device)
        for side, pose in (("right", v.right_pose), ("left", v.left_pose)):
            lim = self.layers[side].joint_limits if side in self.layers else None
            if pose is not None and lim is not None:
                reg = reg + weight * lim.violation(pose)
        return reg

    def _project_limits(self, v: GraspVariables) -> None:
        with torch.no_grad():
            for side, pose in (("right", v.right_pose), ("left", v.left_pose)):
                lim = self.layers[side].joint_limits if side in self.layers else None
                if pose is not None and lim is not None:
                    pose.copy_(lim.clamp(pose))

    # -- stages --------------------------------------------------------------------------------
    def _sds(self, builder: InteractionGridBuilder, v: GraspVariables, texts: list[str], guard: NaNGuard,
             generator: torch.Generator, progress: bool, trace: list[float]) -> GraspVariables:
        cfg = self.config.sds
        v = v.clone(requires_grad=True)
        opt = torch.optim.Adam(adam_groups(v.groups(), cfg.lr_pose, cfg.lr_rot, cfg.lr_transl))
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
            reg = self._limits_penalty(v, cfg.w_limits)
            reg = torch.where(guard.alive, reg, torch.zeros_like(reg))
            (out.loss + reg.sum()).backward()
            guard.mask_grads(v)
            opt.step()
            guard.check(v, per + reg + torch.where(torch.isfinite(x0).flatten(1).all(1), 0.0, float("nan")), "sds", it)
        return v.clone()

    def _energy(self, objective: GraspObjective, builder: InteractionGridBuilder, v: GraspVariables,
                anchor: GraspVariables) -> ObjectiveValue:
        hands = builder.pose_hands(v, vertices=True, vertex_ids=objective.vertex_ids)
        poses = {"right": v.right_pose, "left": v.left_pose}
        return objective({s: poses[s] for s in self.sides}, hands.vertices_o, hands.joints_o,
                         damping=(v.tensors(), anchor.tensors()))

    def _refine(self, builder: InteractionGridBuilder, v0: GraspVariables, objective: GraspObjective,
                guard: NaNGuard, progress: bool) -> tuple[GraspVariables, ObjectiveValue]:
        cfg = self.config.refine
        anchor = v0.clone()
        v = v0.clone(requires_grad=True)
        opt = torch.optim.Adam(adam_groups(v.groups(), cfg.lr_pose, cfg.lr_rot, cfg.lr_transl))
        for it in tqdm(range(cfg.iterations), desc="refine", disable=not progress, leave=False):
            opt.zero_grad()
            e = self._energy(objective, builder, v, anchor).total
            torch.where(guard.alive, e, torch.zeros_like(e)).sum().backward()
            guard.mask_grads(v)
            opt.step()
            self._project_limits(v)
            guard.check(v, e, "refine", it)
        with torch.no_grad():
            value = self._energy(objective, builder, v, anchor)
        return v.clone(), value

    def _rank(self, mesh: trimesh.Trimesh, hands: dict[str, HandParams], keep: list[int], ids: list[int],
              sds_scores: Tensor, value: ObjectiveValue, progress: bool) -> list[Grasp]:
        rcfg = self.config.rank
        grasps = []
        grip = GripConfig(squeeze=rcfg.squeeze, max_penetration_m=rcfg.max_penetration_m, max_hand_hand_cm3=math.inf,
                          require_contact=False, physics=rcfg.physics, physics_config=rcfg.physics_config)
        energy = value.total.cpu()
        terms = {k: t.detach().cpu() for k, t in value.terms.items()}
        for i in tqdm(keep, desc="rank", disable=not progress, leave=False):
            c = check_grip(mesh, {s: hands[s].index(i) for s in self.sides}, self.layers, grip)
            grasps.append(Grasp(index=ids[i], hands=Hands.from_params(c.hands, self.hand_kind),
                                sds_score=float(sds_scores[i]), energy=float(energy[i]), metrics=c.metrics,
                                stability=c.stability, squeeze=c.squeeze,
                                energy_terms={k: float(t[i]) for k, t in terms.items()}, posed=c.posed))
        if grasps:
            excess = prior_excess_percent([g.sds_score for g in grasps])
            for g, zi in zip(grasps, excess):
                g.rank_score = rank_score(None if g.stability is None else g.stability.success, g.metrics.contact_both,
                                          g.metrics.penetration_max_m, g.metrics.hand_hand_volume_cm3, float(zi),
                                          rcfg.weights)
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
        warns = check_object(mesh, settings.field.frame)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        prompt = expand_prompt(text, self.bimanual)
        cfg = self.config
        sdf = ObjectSDF(mesh, resolution=cfg.sdf_resolution, margin=cfg.sdf_margin, device=self.device)
        timings["object_sdf"] = time.perf_counter() - t0
        builder = InteractionGridBuilder(self.layers, settings, sdf, self.autoencoder)
        if init is None:
            v = initial_grasps(self.layers, mesh, n, seed, cfg.init, self.device)
        else:
            if init.bimanual != self.bimanual:
                raise GraspError("the initial grasps' hand count does not match the prior")
            v = init.clone()
            n = v.batch_size
        ids = list(range(n))
        dropped: list[DroppedGrasp] = []
        guard = NaNGuard(v, dropped, ids)
        texts = [prompt] * n
        gen = torch.Generator().manual_seed(seed)
        t1 = time.perf_counter()
        trace: list[float] = []
        v = self._sds(builder, v, texts, guard, gen, progress, trace)
        timings["sds"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        objective = GraspObjective(sdf, self.layers, mesh, cfg.refine.objective, self.device)
        v, value = self._refine(builder, v, objective, guard, progress)
        timings["refine"] = time.perf_counter() - t2
        t3 = time.perf_counter()
        with torch.no_grad():
            grid, _ = builder(v)
            scores = self.guidance.score(self.prior.normalize(grid), texts, levels=cfg.rank.score_levels,
                                         seed=seed).cpu()
        hands = builder.hand_params(v)
        energy = value.total.cpu()
        keep = [i for i in range(n) if bool(guard.alive[i]) and math.isfinite(float(scores[i]))
                and math.isfinite(float(energy[i]))]
        for i in range(n):
            if bool(guard.alive[i]) and i not in keep:
                dropped.append(DroppedGrasp(ids[i], "rank", 0, "non-finite score or energy"))
        timings["score"] = time.perf_counter() - t3
        t4 = time.perf_counter()
        grasps = self._rank(mesh, hands, keep, ids, scores, value, progress)
        timings["rank"] = time.perf_counter() - t4
        timings["total"] = time.perf_counter() - t0
        run = {"text": prompt, "n": n, "seed": seed, "bimanual": self.bimanual, "hand": self.hand_kind,
               "device": str(self.device), "precision": self.precision, "config": cfg.to_dict()}
        logger.info("grasp synthesis: %d grasps (%d dropped) in %.1f s", len(grasps), len(dropped), timings["total"])
        return GraspSynthesisResult(object_mesh=mesh, grasps=grasps, dropped=dropped, text=prompt, settings=run,
                                    timings=timings, warnings=warns, sds_error=trace)


def with_iterations(config: GraspConfig, sds: int | None = None, refine: int | None = None) -> GraspConfig:
    """A copy of ``config`` with other iteration counts (None keeps the value)."""
    s = config.sds if sds is None else replace(config.sds, iterations=sds)
    r = config.refine if refine is None else replace(config.refine, iterations=refine)
    return replace(config, sds=s, refine=r)

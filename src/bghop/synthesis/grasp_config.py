"""Settings of grasp synthesis (:class:`~bghop.synthesis.grasp.GraspSynthesizer`): one dataclass per stage.

The refinement's objective is the grasp objective of :mod:`bghop.contact.objective` (one
:class:`~bghop.contact.objective.ObjectiveConfig`), the ranking's rule is
:class:`bghop.eval.ranking.RankWeights`, the start is :class:`bghop.contact.init.InitConfig`. The
flat keywords of earlier versions (``RefineConfig(w_contact=…)``, ``RankConfig(w_unstable=…)``,
``GraspConfig(init_offset=…)``) still work for one release, with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, replace

from bghop.contact.init import InitConfig
from bghop.contact.objective import REFINE_OBJECTIVE, ObjectiveConfig
from bghop.core.config import legacy_parts, set_fields
from bghop.eval.physics import PhysicsConfig
from bghop.eval.ranking import RankWeights
from bghop.synthesis.sds import SDSConfig

__all__ = ["PRECISIONS", "SDSStageConfig", "RefineConfig", "RankConfig", "GraspConfig", "with_iterations",
           "WIDE_OBJECT_M", "WIDE_SPAN", "default_span"]

#: numeric precisions of the SDS network passes
PRECISIONS = ("fp32", "bf16")
#: objects at least this long along their longest principal axis get spanning two-hand starts by default
#: (`bghop grasp`; every YCB object of the bench sets is shorter: the hammer, the longest, is 0.33 m)
WIDE_OBJECT_M = 0.35
#: the share of spanning starts they get (``InitConfig.span``)
WIDE_SPAN = 0.5


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
        set_fields(self, iterations=iterations, lr_pose=lr_pose, lr_rot=lr_rot, lr_transl=lr_transl,
                   objective=replace(objective, **parts.get("objective", {})))


_RANK_LEGACY = {"w_sds": ("weights", "prior_tie_break")}
#: flat ranking weights of the additive score of earlier versions: the ranking is lexicographic now
_RANK_RETIRED = ("w_unstable", "w_no_contact", "penetration_unit", "w_hand_hand")


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
        weights: the ranking rule (:class:`~bghop.eval.ranking.RankWeights`: valid first, then
            physical margins, the prior only breaking ties); of the flat ``w_*`` keywords of earlier
            versions ``w_sds`` still works (0 = no prior tie-break), the others are ignored, with a
            :class:`DeprecationWarning`.
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
        retired = sorted(k for k in _RANK_RETIRED if legacy.pop(k, None) is not None)
        if retired:
            warnings.warn(f"RankConfig: {', '.join(retired)} no longer have an effect: grasps are ranked valid "
                          "first, then by physical margins, the prior only breaking ties (bghop.eval.ranking)",
                          DeprecationWarning, stacklevel=2)
        parts = legacy_parts("RankConfig", legacy, _RANK_LEGACY)
        if "prior_tie_break" in parts.get("weights", {}):
            parts["weights"]["prior_tie_break"] = bool(parts["weights"]["prior_tie_break"])
        set_fields(self, physics=physics, physics_config=physics_config, squeeze=tuple(squeeze),
                   max_penetration_m=max_penetration_m, score_levels=tuple(score_levels),
                   weights=replace(weights, **parts.get("weights", {})))


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
        set_fields(self, sds=sds, refine=refine, rank=rank, init=replace(init, **parts.get("init", {})),
                   sdf_resolution=sdf_resolution, sdf_margin=sdf_margin)

    def to_dict(self) -> dict:
        """JSON-ready; the start's ``span`` only when set, so runs written before it keep their identity."""
        d = asdict(self)
        if not d["init"].get("span"):
            d["init"].pop("span", None)
        return d


def with_iterations(config: GraspConfig, sds: int | None = None, refine: int | None = None) -> GraspConfig:
    """A copy of ``config`` with other iteration counts (None keeps the value)."""
    s = config.sds if sds is None else replace(config.sds, iterations=sds)
    r = config.refine if refine is None else replace(config.refine, iterations=refine)
    return replace(config, sds=s, refine=r)


def default_span(vertices, faces) -> float:
    """``bghop grasp``'s default share of spanning two-hand starts for an object: :data:`WIDE_SPAN` when
    it is at least :data:`WIDE_OBJECT_M` long along its longest principal axis
    (:func:`bghop.geometry.axes.principal_extents`), else 0.

    Args:
        vertices: ``(V, 3)`` metres; faces: ``(F, 3)``.
    """
    import numpy as np

    from bghop.geometry.axes import principal_extents, principal_frame

    v, f = np.asarray(vertices, dtype=np.float64), np.asarray(faces)
    return WIDE_SPAN if float(principal_extents(v, principal_frame(v, f)).max()) >= WIDE_OBJECT_M else 0.0

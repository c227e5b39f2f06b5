"""Prior-free energy grasp optimiser for one or two hands (a BimanGrasp-style baseline).

Many random initialisations (:func:`bghop.contact.init.initial_hands`) are optimised in one batch
with Adam on the grasp objective (:class:`bghop.contact.objective.GraspObjective`: contact,
penetration, hand–hand penetration, joint limits, natural pose, opposition and, for one hand,
wrench balance). Hands are parameterised in the object frame: articulation ``pose``, a 6D global
rotation and a translation per hand. This is what builds the synthetic training set
(:mod:`bghop.data.synthetic`) and the ``energy`` baseline of ``bghop bench grasp``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import trimesh
from torch import Tensor

from bghop.contact.energies import ObjectSDF
from bghop.contact.init import InitConfig, initial_hands
from bghop.contact.objective import GraspObjective, ObjectiveConfig
from bghop.core.config import legacy_parts, set_fields
from bghop.core.rotations import axis_angle_to_matrix, matrix_to_axis_angle, matrix_to_rot6d, rot6d_to_matrix
from bghop.hands.base import HandModel
from bghop.hands.params import HandParams
from bghop.hands.poses import squeeze_pose

logger = logging.getLogger(__name__)

__all__ = ["EnergyConfig", "GraspBatch", "optimize_grasps", "squeeze_pose", "adam_groups"]

#: the data builder's start: no clamping of the noisy pose, one hand half-wrapped
_ENERGY_INIT = InitConfig(offset=0.02, pose_noise=0.1, clamp_to_limits=False, wrap_single=True, wrap_curl=0.4)

#: flat ``EnergyConfig`` keys of earlier versions (and of the synthetic set's ``config.json``) → where they live now
#: (in the order of the flat layout)
_LEGACY: dict[str, tuple[str, str]] = {
    "w_contact": ("objective", "w_contact"), "w_penetration": ("objective", "w_penetration"),
    "w_hand_hand": ("objective", "w_hand_hand"), "w_limits": ("objective", "w_limits"),
    "w_prior": ("objective", "w_natural_pose"), "w_opposition": ("objective", "w_opposition"),
    "w_wrench": ("objective", "w_wrench"), "w_wrench_single": ("objective", "w_wrench_single"),
    "init_offset": ("init", "offset"), "press_depth": ("objective", "press_depth"),
    "wrap_curl": ("init", "wrap_curl"), "skin_stride": ("objective", "skin_stride"),
    "thin_depth": ("objective", "thin_depth"), "contact_weights": ("objective", "contact_weights"),
    "w_object_in_hand": ("objective", "w_object_in_hand"), "init_back_off": ("init", "back_off"),
    "init_span": ("init", "span"),
}
#: keys of the flat layout written only when they differ from this value, the value of the
#: versions before them (so the identity of a set made then is unchanged)
_OLD_VALUES: dict[str, float] = {"w_object_in_hand": 0.0, "init_back_off": 0.0, "init_span": 0.0}


@dataclass(frozen=True, init=False)
class EnergyConfig:
    """Schedule, start and objective of the energy optimiser.

    Attributes:
        iterations: Adam steps.
        lr_pose / lr_rot / lr_transl: learning rates (radians, 6D units, metres).
        objective: the grasp objective's weights (:class:`~bghop.contact.objective.ObjectiveConfig`).
        init: how the starts are drawn (:class:`~bghop.contact.init.InitConfig`; the noisy pose is
            not clamped, one hand starts wrapped).

    :meth:`to_dict` writes the flat layout of earlier versions (the synthetic set's identity:
    shipped grasp records are matched against it); :meth:`from_dict` reads it. The old flat
    keywords and attributes (``w_contact``, ``w_prior``, ``init_offset``, ``skin_stride``, …) still
    work, with a :class:`DeprecationWarning`.
    """

    iterations: int
    lr_pose: float
    lr_rot: float
    lr_transl: float
    objective: ObjectiveConfig
    init: InitConfig

    def __init__(self, iterations: int = 300, lr_pose: float = 0.03, lr_rot: float = 0.02, lr_transl: float = 0.003,
                 objective: ObjectiveConfig | None = None, init: InitConfig | None = None, **legacy) -> None:
        parts = legacy_parts("EnergyConfig", legacy, _LEGACY)
        objective = ObjectiveConfig() if objective is None else objective
        init = _ENERGY_INIT if init is None else init
        set_fields(self, iterations=iterations, lr_pose=lr_pose, lr_rot=lr_rot, lr_transl=lr_transl,
                   objective=replace(objective, **parts.get("objective", {})),
                   init=replace(init, **parts.get("init", {})))

    def __getattr__(self, name: str):
        if name in _LEGACY:
            part, key = _LEGACY[name]
            warnings.warn(f"EnergyConfig.{name} is deprecated; use EnergyConfig.{part}.{key}", DeprecationWarning,
                          stacklevel=2)
            return getattr(object.__getattribute__(self, part), key)
        raise AttributeError(name)

    def to_dict(self) -> dict:
        """The flat layout: the schedule, then the keys of :data:`_LEGACY`."""
        d = {k: getattr(self, k) for k in ("iterations", "lr_pose", "lr_rot", "lr_transl")}
        for k, (part, key) in _LEGACY.items():
            v = getattr(object.__getattribute__(self, part), key)
            if k not in _OLD_VALUES or v != _OLD_VALUES[k]:
                d[k] = v
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "EnergyConfig":
        """Read :meth:`to_dict`'s layout; unknown keys fail."""
        sched = {"iterations", "lr_pose", "lr_rot", "lr_transl"}
        unknown = set(d) - sched - set(_LEGACY)
        if unknown:
            raise ValueError(f"unknown EnergyConfig keys {sorted(unknown)}")
        base = cls(**{k: d[k] for k in sched if k in d})
        parts: dict[str, dict] = {"objective": {}, "init": {}}
        for k, (part, key) in _LEGACY.items():
            if k in d:
                parts[part][key] = tuple(tuple(x) for x in d[k]) if k == "contact_weights" else d[k]
            elif k in _OLD_VALUES:
                parts[part][key] = _OLD_VALUES[k]
        return cls(base.iterations, base.lr_pose, base.lr_rot, base.lr_transl,
                   replace(base.objective, **parts["objective"]), replace(base.init, **parts["init"]))


@dataclass
class GraspBatch:
    """Optimised grasps in the object frame.

    Attributes:
        hands: ``{"right": HandParams (B), "left": HandParams (B)}`` (left absent for one hand).
        energy: ``(B,)`` final total energy (lower is better).
        skin_stride: the hand-vertex stride the energies used (1 for thin objects, see
            :attr:`ObjectiveConfig.thin_depth <bghop.contact.objective.ObjectiveConfig>`).
        terms: ``{name: (B,)}`` the final energy's terms.
    """

    hands: dict[str, HandParams]
    energy: Tensor
    skin_stride: int = 1
    terms: dict[str, Tensor] = field(default_factory=dict)


def adam_groups(params: dict[str, list[Tensor]], lr_pose: float, lr_rot: float, lr_transl: float) -> list[dict]:
    """Adam parameter groups: per side (in the order given) its pose, rotation and translation tensors."""
    groups = []
    for p, r, t in params.values():
        groups += [{"params": [p], "lr": lr_pose}, {"params": [r], "lr": lr_rot}, {"params": [t], "lr": lr_transl}]
    return groups


def optimize_grasps(mesh: trimesh.Trimesh, hands: dict[str, HandModel], n: int, cfg: EnergyConfig = EnergyConfig(),
                    seed: int = 0, device: torch.device | str = "cpu", obj_sdf: ObjectSDF | None = None) -> GraspBatch:
    """Optimise ``n`` grasps of ``mesh`` with one hand (``{"right": layer}``) or two.

    Args:
        mesh: the object, metres, object frame.
        hands: hand layers by side; ``"right"`` required.
        n: batch size (number of initialisations).
        cfg: schedule, start and objective.
        seed: random seed (initial directions, rolls, pose noise).
        device: torch device.
        obj_sdf: a precomputed :class:`ObjectSDF` (built from ``mesh`` if None).
    Returns:
        :class:`GraspBatch` in the object frame.
    """
    device = torch.device(device)
    rng = np.random.default_rng(seed)
    sdf = obj_sdf or ObjectSDF(mesh, device=device)
    starts = initial_hands(hands, mesh, n, rng, cfg.init, device)
    sides = list(starts)
    params = {s: [st.pose.detach().clone().requires_grad_(),
                  matrix_to_rot6d(axis_angle_to_matrix(st.global_orient)).detach().clone().requires_grad_(),
                  st.transl.detach().clone().requires_grad_()] for s, st in starts.items()}
    opt = torch.optim.Adam(adam_groups(params, cfg.lr_pose, cfg.lr_rot, cfg.lr_transl))
    objective = GraspObjective(sdf, hands, mesh, cfg.objective, device)

    def energies():
        poses, verts, joints = {}, {}, {}
        for side in sides:
            pose, r6, t = params[side]
            orient = rot6d_to_matrix(r6)  # the layer takes the rotation matrix
            ids = objective.vertex_ids[side]
            out = hands[side](pose, orient, t) if ids is None else hands[side].forward_subset(ids, pose, orient, t)
            poses[side], verts[side], joints[side] = pose, out.vertices, out.joints
        return objective(poses, verts, joints)

    for _ in range(cfg.iterations):
        opt.zero_grad()
        energies().total.sum().backward()
        opt.step()
    with torch.no_grad():
        value = energies()
        out = {}
        for side in sides:
            pose, r6, t = params[side]
            out[side] = HandParams(pose.detach(), matrix_to_axis_angle(rot6d_to_matrix(r6)).detach(), t.detach(),
                                   torch.zeros(n, 10, device=device))
    return GraspBatch(hands=out, energy=value.total.detach(), skin_stride=objective.skin_stride,
                      terms={k: v.detach() for k, v in value.terms.items()})

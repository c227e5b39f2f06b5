"""Check a grasp, squeezing its fingers a little when it does not hold yet.

A rigidly held hand in simulation grips only where its pads press into the object; an
optimiser that stops at the surface leaves many grasps that touch but do not hold. Closing the
fingers a few percent of the way to a fist presses the pads in by a few millimetres, as a real
hand tightens its grip (DexGraspNet squeezes its grasps before simulating them the same way).
:func:`check_grip` tries the grasp as it is, then each squeeze in turn, and stops at the first
version that passes every check, or as soon as the hands go too deep.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from collections.abc import Mapping

import trimesh

from bghop.eval.metrics import GraspMetrics, grasp_metrics, object_intersection_cm3
from bghop.eval.physics import PhysicsConfig, StabilityResult, hand_pieces, simulate_stability
from bghop.eval.validity import MAX_DEPTH_M, MAX_HAND_HAND_CM3, credit_stability
from bghop.hands.base import HandModel
from bghop.hands.params import HandParams
from bghop.hands.poses import squeeze_pose
from bghop.hands.posing import PosedHand, pose_hand

__all__ = ["GripConfig", "GripCheck", "check_grip", "hand_meshes_of"]


@dataclass(frozen=True)
class GripConfig:
    """What a grasp must satisfy, and how far it may be squeezed.

    Attributes:
        squeeze: finger closures (fractions of the way to the fist) tried in turn after the
            grasp as it is; empty to only check.
        max_penetration_m: deepest allowed penetration either way (hand vertices in the object,
            object surface in the hands), metres; a simulation of a deeper grasp is never credited
            as stable (:func:`bghop.eval.validity.credit_stability`).
        max_hand_hand_cm3: largest allowed hand–hand intersection.
        require_contact: every hand must touch the object.
        physics: run the MuJoCo six-direction test (else "holds" means the geometric checks).
        physics_config: simulation settings.
        simulate_failures: simulate the grasp as given even when it fails the geometric checks
            (so that its stability is reported); False skips that simulation (filtering).
    """

    squeeze: tuple[float, ...] = (0.04, 0.08, 0.12, 0.16)
    max_penetration_m: float = MAX_DEPTH_M
    max_hand_hand_cm3: float = MAX_HAND_HAND_CM3
    require_contact: bool = True
    physics: bool = True
    physics_config: PhysicsConfig = PhysicsConfig()
    simulate_failures: bool = True


@dataclass
class GripCheck:
    """The version of a grasp that was kept, and its checks.

    Attributes:
        hands: parameters per side (squeezed if ``squeeze > 0``), batch of one.
        squeeze: the closure applied (0 = as given).
        metrics: its geometric metrics.
        stability: its MuJoCo result (None without physics).
        passed: it satisfies every check of the :class:`GripConfig`.
        posed: those hands posed (what the checks measured), by side.
    """

    hands: dict[str, HandParams]
    squeeze: float
    metrics: GraspMetrics
    stability: StabilityResult | None
    passed: bool
    posed: dict[str, PosedHand]


def _posed(hands: Mapping[str, HandParams], layers: Mapping[str, HandModel]) -> dict[str, PosedHand]:
    """Batch element 0 of each side posed by its layer."""
    return {s: pose_hand(layers[s], p) for s, p in hands.items()}


def hand_meshes_of(hands: Mapping[str, HandParams], layers: Mapping[str, HandModel]) -> dict[str, trimesh.Trimesh]:
    """Posed hand meshes (batch element 0 of each side), metres."""
    return {s: h.mesh for s, h in _posed(hands, layers).items()}


def check_grip(mesh: trimesh.Trimesh, hands: Mapping[str, HandParams], layers: Mapping[str, HandModel],
               cfg: GripConfig = GripConfig()) -> GripCheck:
    """Check one grasp (batch of one per side), squeezing it while it does not hold.

    Args:
        mesh: the object, metres, object frame.
        hands: the grasp's hand parameters per side, object frame.
        layers: hand layers per side.
        cfg: checks and squeezes.
    Returns:
        the first version that passes (``passed`` True), else the grasp as given with its
        checks (``passed`` False).
    """
    first: GripCheck | None = None
    for curl in (0.0, *cfg.squeeze):
        hp = {s: HandParams(squeeze_pose(p.pose, s, curl), p.global_orient, p.transl, p.betas) for s, p in hands.items()}
        posed = _posed(hp, layers)
        meshes = {s: h.mesh for s, h in posed.items()}
        m = grasp_metrics(mesh, meshes, object_volume=False)  # filled in below for the version returned
        too_deep = m.penetration_max_m > cfg.max_penetration_m or m.hand_hand_volume_cm3 > cfg.max_hand_hand_cm3
        touching = m.contact_both or not cfg.require_contact
        stab = None
        if cfg.physics and ((touching and not too_deep) or (first is None and cfg.simulate_failures)):
            pieces = [pc for h in posed.values() for pc in hand_pieces(h.vertices, h.weights)]
            # the grasp as given is reported in full (unless filtering); a squeeze only needs to know
            # whether it holds
            stab = credit_stability(simulate_stability(mesh, pieces, cfg.physics_config,
                                                       stop_early=first is not None or not cfg.simulate_failures),
                                    m.penetration_max_m)
        ok = touching and not too_deep and (stab is None or stab.success)
        check = GripCheck(hp, curl, m, stab, ok, posed)
        if ok:
            return _with_volume(check, mesh, meshes)
        if first is None:
            first, first_meshes = check, meshes
        if too_deep:
            break  # closing further only goes deeper
    assert first is not None
    return _with_volume(first, mesh, first_meshes)


def _with_volume(check: GripCheck, mesh: trimesh.Trimesh, meshes: dict[str, trimesh.Trimesh]) -> GripCheck:
    """``check`` with its hand–object intersection volume computed (screening leaves it out)."""
    check.metrics = replace(check.metrics, intersection_volume_cm3=object_intersection_cm3(mesh, meshes))
    return check

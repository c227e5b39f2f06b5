"""What counts as a valid grasp: the one rule for the data filter, ranking, ``bghop eval`` and the bench.

A grasp is **valid** when it is stable (MuJoCo, six gravity directions), every hand touches the
object, it is at most :data:`MAX_DEPTH_M` deep *both ways* (hand vertices inside the object and
the object's surface inside the hands, :func:`bghop.eval.metrics.grasp_metrics`), and the two
hands do not overlap (at most :data:`MAX_HAND_HAND_CM3`).

Physics never credits a grasp that interpenetrates: a simulation of hands that sit deeper than
the limit in the object "holds" it by the solver pushing the pieces apart, not by friction, so
such a grasp is reported as not stable (:func:`credited_stable`) whatever the simulation said.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bghop.eval.physics import StabilityResult

__all__ = ["MAX_DEPTH_M", "MAX_HAND_HAND_CM3", "Limits", "LIMITS", "credited_stable", "credit_stability", "is_valid",
           "grasp_class", "CLASS_NAMES"]

#: deepest allowed penetration either way, metres
MAX_DEPTH_M = 0.005
#: largest hand–hand intersection that still counts as "hands apart", cm³ (a voxel of 5 mm is 0.125 cm³)
MAX_HAND_HAND_CM3 = 0.5

#: the ranking classes of :func:`grasp_class`, best first
CLASS_NAMES = ("valid", "stable, not valid", "unstable, shallow and apart", "deep, overlapping or unstable")


@dataclass(frozen=True)
class Limits:
    """The thresholds of validity.

    Attributes:
        max_depth_m: deepest allowed penetration either way, metres.
        max_hand_hand_cm3: largest allowed hand–hand intersection, cm³.
    """

    max_depth_m: float = MAX_DEPTH_M
    max_hand_hand_cm3: float = MAX_HAND_HAND_CM3


#: the default limits
LIMITS = Limits()


def credited_stable(stable: bool | None, penetration_max_m: float | None, limits: Limits = LIMITS) -> bool | None:
    """The stability a grasp is credited with: the simulation's verdict, False when deeper than the limit.

    Args:
        stable: the MuJoCo verdict (None: not simulated).
        penetration_max_m: two-sided penetration, metres (None: not measured, not held against it).
    Returns:
        None when not simulated, else whether it holds *and* is shallow enough.
    """
    if stable is None:
        return None
    return bool(stable) and (penetration_max_m is None or penetration_max_m <= limits.max_depth_m)


def credit_stability(result: StabilityResult | None, penetration_max_m: float | None,
                     limits: Limits = LIMITS) -> StabilityResult | None:
    """``result`` with ``success`` False when the grasp is deeper than the limit (the simulated verdict
    kept in ``extra["simulated_success"]``, the reason in ``extra["rejected"]``); else ``result`` itself."""
    if result is None or not result.success or credited_stable(True, penetration_max_m, limits):
        return result
    why = f"{penetration_max_m * 1e3:.1f} mm deep (limit {limits.max_depth_m * 1e3:.0f} mm): not credited as stable"
    return replace(result, success=False, extra={**result.extra, "simulated_success": True, "rejected": why})


def _geometry_ok(contact_both: bool | None, penetration_max_m: float | None, hand_hand_cm3: float | None,
                 limits: Limits) -> bool:
    return (bool(contact_both) and (penetration_max_m or 0.0) <= limits.max_depth_m
            and (hand_hand_cm3 or 0.0) <= limits.max_hand_hand_cm3)


def is_valid(stable: bool | None, contact_both: bool | None, penetration_max_m: float | None,
             hand_hand_cm3: float | None, limits: Limits = LIMITS) -> bool | None:
    """Whether a grasp is valid (module docstring); None when it was not simulated."""
    if stable is None:
        return None
    return bool(credited_stable(stable, penetration_max_m, limits)) and _geometry_ok(
        contact_both, penetration_max_m, hand_hand_cm3, limits)


def grasp_class(stable: bool | None, contact_both: bool | None, penetration_max_m: float | None,
                hand_hand_cm3: float | None, limits: Limits = LIMITS) -> int:
    """The ranking class of a grasp, 0 best (:data:`CLASS_NAMES`).

    0: valid; 1: stable (credited) but a hand off the object or the hands overlapping; 2: not
    stable, but in contact, shallow and apart; 3: the rest. A grasp that was not simulated
    (``stable`` None) is classed by its geometry alone (0 or 1).
    """
    holds = credited_stable(stable, penetration_max_m, limits) is not False
    geometry = _geometry_ok(contact_both, penetration_max_m, hand_hand_cm3, limits)
    if holds:
        return 0 if geometry else 1
    return 2 if geometry else 3

"""How grasps are ordered: one score for grasp synthesis' ranking and the benchmark's best of N.

The order is **lexicographic** (lower :func:`rank_score` first):

1. the grasp's class (:func:`bghop.eval.validity.grasp_class`): valid grasps (stable, every hand in
   contact, ≤ 5 mm deep both ways, hands apart) before stable ones that are not valid, before
   unstable ones that are shallow and apart, before the rest — so a stable grasp is never ranked
   below an unstable one, whatever the prior says;
2. within a class, the physical margin ``displacement / 2 cm + depth / 5 mm + hand–hand / 0.5 cm³
   (+ 1 for a hand off the object)``, in steps of :attr:`RankWeights.margin_step` (0.1: 2 mm of
   displacement, 0.5 mm of depth);
3. the prior's score only breaks the ties left: a grasp ``Δ`` percent worse under the prior than
   the best of its batch adds ``step · Δ / (Δ + 100)``, always less than one step.

``rank_score = 100 · class + step · ⌊margin / step⌋ + step · Δ / (Δ + 100)`` (margin capped below 100).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from bghop.eval.validity import MAX_DEPTH_M, MAX_HAND_HAND_CM3, Limits, grasp_class

__all__ = ["RankWeights", "BEST_OF_N", "rank_score", "prior_excess_percent", "DISPLACEMENT_UNIT_M"]

#: displacement that adds 1 to the margin: the stability threshold (2 cm)
DISPLACEMENT_UNIT_M = 0.02


@dataclass(frozen=True)
class RankWeights:
    """The ranking rule's limits and resolution (module docstring).

    Attributes:
        max_depth_m: validity's depth limit (either way), metres; also the depth that adds 1 to the margin.
        max_hand_hand_cm3: validity's hand–hand limit, cm³; also the volume that adds 1.
        displacement_unit_m: displacement that adds 1 to the margin, metres.
        margin_step: resolution of the margin; grasps whose margins fall in one step are ordered by the prior.
        prior_tie_break: let the prior break ties (False: physics only, the benchmark's best of N).
    """

    max_depth_m: float = MAX_DEPTH_M
    max_hand_hand_cm3: float = MAX_HAND_HAND_CM3
    displacement_unit_m: float = DISPLACEMENT_UNIT_M
    margin_step: float = 0.1
    prior_tie_break: bool = True

    @property
    def limits(self) -> Limits:
        return Limits(self.max_depth_m, self.max_hand_hand_cm3)

    def to_dict(self) -> dict:
        return asdict(self)


#: the benchmark's best of N: the same rule for every method, from the physics only
BEST_OF_N = RankWeights(prior_tie_break=False)

_MAX_MARGIN = 99.0


def rank_score(stable: bool | None, contact_both: bool | None, penetration_max_m: float | None,
               hand_hand_cm3: float | None, prior_excess: float = 0.0, weights: RankWeights = RankWeights(),
               max_displacement_m: float | None = None) -> float:
    """The score of one grasp (lower is better; module docstring).

    Args:
        stable: the stability verdict (None: not simulated; classed by geometry).
        contact_both: every hand touches the object (None counts as no contact).
        penetration_max_m: deepest penetration either way, metres (None counts 0).
        hand_hand_cm3: hand–hand intersection (None counts 0).
        prior_excess: percent by which its prior score exceeds the batch's best (:func:`prior_excess_percent`).
        weights: the rule.
        max_displacement_m: the largest of the six simulated displacements, metres (None counts 0).
    """
    cls = grasp_class(stable, contact_both, penetration_max_m, hand_hand_cm3, weights.limits)
    margin = ((max_displacement_m or 0.0) / weights.displacement_unit_m
              + (penetration_max_m or 0.0) / weights.max_depth_m
              + (hand_hand_cm3 or 0.0) / weights.max_hand_hand_cm3 + (not contact_both))
    margin = min(margin, _MAX_MARGIN) if math.isfinite(margin) else _MAX_MARGIN
    step = weights.margin_step
    score = 100.0 * cls + step * math.floor(margin / step + 1e-9)
    if weights.prior_tie_break and prior_excess > 0:  # NaN: no tie-break
        excess = min(float(prior_excess), 1e12)
        score += step * excess / (excess + 100.0)
    return float(score)


def prior_excess_percent(scores: Sequence[float]) -> np.ndarray:
    """``100 (s − min s) / |min s|`` per grasp: how much worse each prior score is than the best one."""
    sc = np.asarray(scores, dtype=np.float64)
    return 100.0 * (sc - sc.min()) / max(abs(float(sc.min())), 1e-12)

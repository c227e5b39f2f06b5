"""How grasps are ordered: one score for grasp synthesis' ranking and the benchmark's best of N.

``rank_score = unstable·[not stable] + no_contact·[a hand not in contact]
+ penetration_max / penetration_unit + hand_hand·(hand–hand cm³) + prior·Δ`` (lower is better),
where ``Δ`` is how much worse, in percent, a grasp's prior denoising score is than the best of its
batch. The prior's score is not standardised: the object dominates it, so grasps of one object
often differ by a fraction of a percent, and that should not outweigh a physical failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["RankWeights", "BEST_OF_N", "rank_score", "prior_excess_percent"]


@dataclass(frozen=True)
class RankWeights:
    """Weights of :func:`rank_score`.

    Attributes:
        unstable: cost of failing the MuJoCo stability test.
        no_contact: cost of a hand that does not touch the object.
        penetration_unit_m: penetration that costs 1, metres.
        hand_hand_per_cm3: cost per cm³ of hand–hand intersection.
        prior_per_percent: cost per percent of prior-score excess over the batch's best.
    """

    unstable: float = 4.0
    no_contact: float = 4.0
    penetration_unit_m: float = 0.005
    hand_hand_per_cm3: float = 1.0
    prior_per_percent: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)


#: the benchmark's best of N: the same rule for every method, from the physics only
BEST_OF_N = RankWeights(prior_per_percent=0.0)


def rank_score(stable: bool | None, contact_both: bool | None, penetration_max_m: float | None,
               hand_hand_cm3: float | None, prior_excess: float = 0.0, weights: RankWeights = RankWeights()) -> float:
    """The score of one grasp (lower is better; module docstring).

    Args:
        stable: the stability verdict (None: not simulated, no cost).
        contact_both: every hand touches the object (None counts as no contact).
        penetration_max_m: deepest penetration, metres (None counts 0).
        hand_hand_cm3: hand–hand intersection (None counts 0).
        prior_excess: percent by which its prior score exceeds the batch's best (:func:`prior_excess_percent`).
        weights: the weights.
    """
    return float(weights.unstable * (stable is False) + weights.no_contact * (not contact_both)
                 + (penetration_max_m or 0.0) / weights.penetration_unit_m
                 + weights.hand_hand_per_cm3 * (hand_hand_cm3 or 0.0)
                 + weights.prior_per_percent * prior_excess)


def prior_excess_percent(scores: Sequence[float]) -> np.ndarray:
    """``100 (s − min s) / |min s|`` per grasp: how much worse each prior score is than the best one."""
    sc = np.asarray(scores, dtype=np.float64)
    return 100.0 * (sc - sc.min()) / max(abs(float(sc.min())), 1e-12)

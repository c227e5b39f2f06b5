"""The one ranking score (grasp synthesis and the benchmark's best of N): what outranks what."""

from __future__ import annotations

import numpy as np
import pytest

from bghop.eval.ranking import BEST_OF_N, RankWeights, prior_excess_percent, rank_score


def test_physics_outranks_penetration_and_the_prior():
    held = rank_score(True, True, 0.004, 0.0)          # 4 mm deep but held: 0.8
    dropped = rank_score(False, True, 0.0, 0.0)        # clean but dropped: 4
    untouched = rank_score(True, False, 0.0, 0.0)      # held, one hand off the object: 4
    assert held == pytest.approx(0.8) and dropped == pytest.approx(4.0) and untouched == pytest.approx(4.0)
    assert held < dropped and held < untouched
    # a few percent worse under the prior does not outweigh a physical failure
    assert rank_score(True, True, 0.0, 0.0, prior_excess=3.0) < dropped
    # hand-hand volume and penetration add up; no physics (None) costs nothing, no contact (None) does
    assert rank_score(True, True, 0.005, 2.0) == pytest.approx(3.0)
    assert rank_score(None, True, 0.0, None) == 0.0 and rank_score(None, None, None, None) == pytest.approx(4.0)


def test_weights_and_best_of_n():
    w = RankWeights(unstable=10.0, penetration_unit_m=0.001)
    assert rank_score(False, True, 0.002, 0.0, weights=w) == pytest.approx(12.0)
    assert rank_score(True, True, 0.0, 0.0, prior_excess=50.0, weights=BEST_OF_N) == 0.0  # physics only


def test_prior_excess_is_percent_over_the_best():
    e = prior_excess_percent([0.0200, 0.0202, 0.0210])
    np.testing.assert_allclose(e, [0.0, 1.0, 5.0], atol=1e-9)
    assert prior_excess_percent([0.5])[0] == 0.0

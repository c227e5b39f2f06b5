"""The one ranking (grasp synthesis and the benchmark's best of N): valid first, physics before the prior."""

from __future__ import annotations

import numpy as np
import pytest

from bghop.eval.physics import StabilityResult
from bghop.eval.ranking import BEST_OF_N, RankWeights, prior_excess_percent, rank_score
from bghop.eval.validity import credit_stability, credited_stable, grasp_class, is_valid


def test_classes_valid_then_stable_then_shallow_then_the_rest():
    assert grasp_class(True, True, 0.004, 0.0) == 0            # valid
    assert grasp_class(True, False, 0.0, 0.0) == 1             # held, one hand off the object
    assert grasp_class(True, True, 0.0, 2.0) == 1              # held, hands overlapping
    assert grasp_class(False, True, 0.0, 0.0) == 2             # clean but dropped
    assert grasp_class(True, True, 0.006, 0.0) == 3            # "held" 6 mm deep: not credited
    assert grasp_class(False, False, 0.0, 0.0) == 3
    assert grasp_class(None, True, 0.0, 0.0) == 0 and grasp_class(None, True, 0.01, 0.0) == 1  # no physics


def test_interpenetration_is_never_credited():
    assert credited_stable(True, 0.0049) and not credited_stable(True, 0.0051) and credited_stable(None, 1.0) is None
    assert is_valid(True, True, 0.003, 0.4) and not is_valid(True, True, 0.003, 0.6)
    assert is_valid(None, True, 0.0, 0.0) is None
    held = StabilityResult({"+x": 0.001}, True, 0.1)
    deep = credit_stability(held, 0.008)
    assert not deep.success and deep.extra["simulated_success"] and "8.0 mm" in deep.extra["rejected"]
    assert credit_stability(held, 0.004) is held and credit_stability(None, 0.01) is None


def test_the_prior_never_outranks_physics():
    """The prior's order disagrees with physics: physics wins; the prior only breaks ties."""
    #            stable, contact, depth,  hh,  prior excess %, displacement
    grasps = {"valid but the prior dislikes it": (True, True, 0.002, 0.0, 50.0, 0.004),
              "stable, one hand off": (True, False, 0.0, 0.0, 0.0, 0.001),
              "unstable, the prior's favourite": (False, True, 0.0, 0.0, 0.0, 0.3),
              "deep and 'held'": (True, True, 0.009, 0.0, 0.0, 0.0)}
    scores = {k: rank_score(*v[:4], prior_excess=v[4], max_displacement_m=v[5]) for k, v in grasps.items()}
    assert sorted(scores, key=scores.get) == list(grasps)
    # inside a class: the physical margin (displacement, depth) orders, not the prior
    steady = rank_score(True, True, 0.001, 0.0, prior_excess=80.0, max_displacement_m=0.002)
    shaky = rank_score(True, True, 0.001, 0.0, prior_excess=0.0, max_displacement_m=0.015)
    assert steady < shaky
    # equal margins: the prior breaks the tie, and never by a whole margin step
    a = rank_score(True, True, 0.001, 0.0, prior_excess=1.0, max_displacement_m=0.002)
    b = rank_score(True, True, 0.001, 0.0, prior_excess=30.0, max_displacement_m=0.002)
    assert a < b < a + RankWeights().margin_step
    assert rank_score(True, True, 0.001, 0.0, prior_excess=1e9, max_displacement_m=0.002) < a + 0.1


def test_a_stable_grasp_is_never_ranked_below_an_unstable_one():
    rng = np.random.default_rng(0)
    for _ in range(500):
        stable = bool(rng.random() < 0.5)
        args = (stable, bool(rng.random() < 0.7), float(rng.uniform(0, 0.01)), float(rng.uniform(0, 1)))
        s = rank_score(*args, prior_excess=float(rng.uniform(0, 100)), max_displacement_m=float(rng.uniform(0, 1)))
        cls = grasp_class(*args)
        assert 100 * cls <= s < 100 * (cls + 1)
        credited = credited_stable(args[0], args[2])
        if credited:
            assert cls <= 1
        else:
            assert cls >= 2


def test_best_of_n_uses_physics_only():
    a = rank_score(True, True, 0.001, 0.0, prior_excess=50.0, weights=BEST_OF_N)
    assert a == rank_score(True, True, 0.001, 0.0, weights=BEST_OF_N)
    assert rank_score(None, None, None, None) == pytest.approx(101.0)  # no physics, no contact: class 1, margin 1


def test_prior_excess_is_percent_over_the_best():
    e = prior_excess_percent([0.0200, 0.0202, 0.0210])
    np.testing.assert_allclose(e, [0.0, 1.0, 5.0], atol=1e-9)
    assert prior_excess_percent([0.5])[0] == 0.0


def test_retired_rank_weights_warn_and_w_sds_still_works():
    from bghop.synthesis.grasp_config import RankConfig

    with pytest.warns(DeprecationWarning, match="w_unstable"):
        RankConfig(w_unstable=10.0)
    with pytest.warns(DeprecationWarning):
        assert RankConfig(w_sds=0.0).weights.prior_tie_break is False

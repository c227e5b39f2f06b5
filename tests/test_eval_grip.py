"""check_grip: the grasp as given, then squeezed while it does not hold; stops when too deep."""

import pytest
import torch
import trimesh

import bghop.eval.grip as grip
from bghop.eval.metrics import GraspMetrics
from bghop.eval.physics import StabilityResult
from bghop.hands import load_hand
from bghop.hands.params import HandParams
from bghop.hands.poses import named_pose


@pytest.fixture
def fakes(monkeypatch):
    state = {"depth": 0.001, "contact": True, "holds_after": 2, "sims": 0, "volumes": 0}

    def metrics(mesh, meshes, object_volume=True):
        assert not object_volume, "screening leaves out the slow hand-object volume"
        return GraspMetrics(penetration_max_m=state["depth"], penetration_mean_m=0.0,
                            intersection_volume_cm3=float("nan"),
                            hand_hand_volume_cm3=0.0, contact_right=state["contact"], contact_left=None,
                            contact_both=state["contact"])

    def physics(mesh, pieces, cfg, stop_early=False):
        state["sims"] += 1
        return StabilityResult({"+x": 0.0}, state["sims"] > state["holds_after"], 1.0)

    def volume(mesh, meshes):
        state["volumes"] += 1
        return 1.5

    monkeypatch.setattr(grip, "grasp_metrics", metrics)
    monkeypatch.setattr(grip, "object_intersection_cm3", volume)
    monkeypatch.setattr(grip, "simulate_stability", physics)
    return state


LAYERS = {"right": load_hand("open", side="right")}
HP = {"right": HandParams(named_pose("relaxed")[None], torch.zeros(1, 3), torch.zeros(1, 3), torch.zeros(1, 10))}
BOX = trimesh.creation.box(extents=(0.05, 0.05, 0.05))


def test_squeezed_until_it_holds(fakes):
    cfg = grip.GripConfig()
    c = grip.check_grip(BOX, HP, LAYERS, cfg)
    assert c.passed and c.squeeze == cfg.squeeze[1] and fakes["sims"] == 3  # as given, 1st, 2nd squeeze
    assert not torch.equal(c.hands["right"].pose, HP["right"].pose)  # the kept pose is the squeezed one
    # the volume is computed once, for the version returned
    assert fakes["volumes"] == 1 and c.metrics.intersection_volume_cm3 == 1.5


def test_a_grasp_that_never_holds_is_reported_as_given(fakes):
    fakes["holds_after"] = 99
    c = grip.check_grip(BOX, HP, LAYERS, grip.GripConfig(squeeze=(0.05,)))
    assert not c.passed and c.squeeze == 0 and torch.equal(c.hands["right"].pose, HP["right"].pose)
    assert c.stability is not None and not c.stability.success
    assert fakes["volumes"] == 1 and c.metrics.intersection_volume_cm3 == 1.5


def test_too_deep_stops_and_filtering_skips_the_simulation(fakes):
    fakes["depth"] = 0.02
    c = grip.check_grip(BOX, HP, LAYERS, grip.GripConfig())
    assert not c.passed and fakes["sims"] == 1  # simulated once, to report its stability, then given up
    fakes["sims"] = 0
    c = grip.check_grip(BOX, HP, LAYERS, grip.GripConfig(simulate_failures=False))
    assert not c.passed and c.stability is None and fakes["sims"] == 0


def test_real_meshes_and_no_physics():
    # a real hand far from the box: no contact, nothing to squeeze into holding
    far = {"right": HandParams(HP["right"].pose, torch.zeros(1, 3), torch.tensor([[0.5, 0.0, 0.0]]),
                               torch.zeros(1, 10))}
    c = grip.check_grip(BOX, far, LAYERS, grip.GripConfig(physics=False))
    assert not c.passed and c.metrics.contact_right is False and c.stability is None
    assert c.metrics.intersection_volume_cm3 == 0.0  # filled in (screening leaves it NaN)
    assert len(grip.hand_meshes_of(far, LAYERS)["right"].vertices) == LAYERS["right"].num_vertices

"""Text → HOI generation with tiny random models: samples decoded (or reported), result folders written.

A random autoencoder's SDF may have no zero crossing, and then nothing would be decoded and nothing
checked. The decodable cases therefore use :class:`SphereAutoencoder`, whose decoder always yields a
sphere (radius set by the latent, so samples still differ): every sample has a surface by construction,
and the tests assert that all of them are decoded. The failure path has its own test, with a decoder that
leaves some samples without a surface.
"""

from __future__ import annotations

import json

import pytest
import torch

from grid_data import SphereAutoencoder, tiny_prior

from bghop.fields.fit import FitConfig
from bghop.hands import Hands
from bghop.hands.params import HandParams
from bghop.synthesis.generate import GenerateConfig, generate, save_generation

#: field -> hand fitting dominates decoding time; a few iterations are enough to exercise the path
FAST = GenerateConfig(steps=2, fit=FitConfig(keypoint_iters=3, field_iters=0))


@pytest.mark.parametrize("bimanual", [True, False])
def test_generate_decodes_and_writes(tmp_path, bimanual):
    res = generate(tiny_prior(bimanual), SphereAutoencoder(), "box", n=2, config=FAST, seed=0, progress=False)
    assert res.text == ("grasp a box with both hands" if bimanual else "grasp a box with the right hand")
    assert len(res.samples) == 2 and res.failed == []
    assert [s.index for s in res.samples] == [0, 1]
    for s in res.samples:
        assert isinstance(s.hands, Hands) and isinstance(s.hands["right"], HandParams)
        assert set(s.hands) == ({"right", "left"} if bimanual else {"right"})
        assert s.hands["right"].pose.shape == (1, 45) and torch.isfinite(s.hands["right"].pose).all()
        assert len(s.object_mesh.faces) > 0
        # the sphere comes back in metres: radius 0.4–0.6 n-units at scale 5 n/m is 8–12 cm
        assert 2 * 0.08 - 0.01 < max(s.object_mesh.extents) < 2 * 0.12 + 0.01
        assert (s.left_residual is not None) == bimanual
    out = save_generation(res, tmp_path / "gen", render=False, progress=False)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["config"]["steps"] == 2 and summary["settings"]["config"]["guidance"] == 4.0
    assert len(summary["samples"]) == 2
    assert (out / "0" / "hands.json").is_file() and (out / "1" / "hands.json").is_file()


def test_samples_without_a_surface_are_reported_as_failed(tmp_path):
    res = generate(tiny_prior(True), SphereAutoencoder(empty=(0,)), "box", n=2, config=FAST, seed=0, progress=False)
    assert [s.index for s in res.samples] == [1]  # batch order kept, the failed one skipped
    assert [f["index"] for f in res.failed] == [0]
    assert "SDFError" in res.failed[0]["reason"] and "no surface" in res.failed[0]["reason"]
    out = save_generation(res, tmp_path / "gen", render=False, progress=False)
    # one folder per decoded sample (how summary.json lists the failures belongs to the run-record schema)
    assert len(json.loads((out / "summary.json").read_text())["samples"]) == 1
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["0"]


def test_same_seed_same_samples():
    prior, ae = tiny_prior(True), SphereAutoencoder()
    a = generate(prior, ae, "mug", n=1, config=FAST, seed=5, progress=False)
    b = generate(prior, ae, "mug", n=1, config=FAST, seed=5, progress=False)
    c = generate(prior, ae, "mug", n=1, config=FAST, seed=6, progress=False)
    assert len(a.samples) == len(b.samples) == len(c.samples) == 1
    for side in ("right", "left"):
        assert torch.equal(a.samples[0].hands[side].pose, b.samples[0].hands[side].pose)
        assert torch.equal(a.samples[0].hands[side].transl, b.samples[0].hands[side].transl)
    assert (a.samples[0].object_mesh.vertices == b.samples[0].object_mesh.vertices).all()
    # another seed, other samples: the equalities above are not between constants
    assert not torch.equal(a.samples[0].hands["right"].pose, c.samples[0].hands["right"].pose)

"""Text → HOI generation with tiny random models: samples decoded (or reported), result folders written."""

from __future__ import annotations

import json

import pytest
import torch

from grid_data import tiny_prior

from bghop.fields.fit import FitConfig
from bghop.models.autoencoder import AutoencoderConfig, ObjectAutoencoder
from bghop.synthesis.generate import GenerateConfig, generate, save_generation

#: field -> hand fitting dominates decoding time; a few iterations are enough to exercise the path
FAST = GenerateConfig(steps=2, fit=FitConfig(keypoint_iters=3, field_iters=0))


@pytest.mark.parametrize("bimanual", [True, False])
def test_generate_decodes_and_writes(tmp_path, bimanual):
    torch.manual_seed(0)
    ae = ObjectAutoencoder(AutoencoderConfig(channels=(4, 8, 8)))
    res = generate(tiny_prior(bimanual), ae, "box", n=2, config=FAST, seed=0, progress=False)
    assert res.text == ("grasp a box with both hands" if bimanual else "grasp a box with the right hand")
    assert len(res.samples) + len(res.failed) == 2
    for s in res.samples:
        assert set(s.hands) == ({"right", "left"} if bimanual else {"right"})
        assert len(s.object_mesh.faces) > 0
    if res.samples:
        out = save_generation(res, tmp_path / "gen", render=False, progress=False)
        summary = json.loads((out / "summary.json").read_text())
        assert summary["settings"]["config"]["steps"] == 2 and summary["settings"]["config"]["guidance"] == 4.0
        assert (out / "0" / "hands.json").is_file()


def test_same_seed_same_samples():
    torch.manual_seed(0)
    ae = ObjectAutoencoder(AutoencoderConfig(channels=(4, 8, 8)))
    prior = tiny_prior(True)
    a = generate(prior, ae, "mug", n=1, config=FAST, seed=5, progress=False)
    b = generate(prior, ae, "mug", n=1, config=FAST, seed=5, progress=False)
    if a.samples:
        assert torch.equal(a.samples[0].hands["right"].pose, b.samples[0].hands["right"].pose)

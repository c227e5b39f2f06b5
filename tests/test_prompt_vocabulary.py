"""A prompt outside the prior's training vocabulary still gives samples and grasps, and says so (issue 21)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest
from grid_data import SphereAutoencoder, tiny_prior

from bghop.core.prompts import training_vocabulary, vocabulary_note
from bghop.fields.fit import FitConfig
from bghop.models.prior import InteractionPrior, PriorConfig
from bghop.synthesis.generate import GenerateConfig, generate, save_generation

FAST = GenerateConfig(steps=2, fit=FitConfig(keypoint_iters=3, field_iters=0))


def test_training_vocabulary_and_notes():
    texts = ["grasp a mug with both hands", "grasp a Mug with the right hand", "grasp an apple with both hands",
             "", "grasp the teapot with both hands.", "grasp it any way you like"]
    vocab = training_vocabulary(texts)
    assert vocab == ("apple", "mug", "teapot")
    assert vocabulary_note("grasp a mug with both hands", vocab) is None
    assert vocabulary_note("Teapot", vocab) is None
    assert vocabulary_note("", vocab) is None
    assert vocabulary_note("laptop", None) is None  # a model without a recorded vocabulary: unknown, no note
    note = vocabulary_note("grasp a mugg with both hands", vocab)
    assert note is not None and "'mugg'" in note and "closest: mug" in note and "3 object names" in note
    far = vocabulary_note("laptop", vocab)
    assert far is not None and "e.g. apple, mug, teapot" in far


def test_prior_config_keeps_its_vocabulary(tmp_path):
    prior = tiny_prior(True)
    prior.config = replace(prior.config, vocabulary=["mug", "box", "mug"])
    assert prior.config.vocabulary == ("box", "mug")
    assert PriorConfig.from_dict(json.loads(json.dumps(prior.config.to_dict()))) == prior.config
    old = prior.config.to_dict()
    del old["vocabulary"]  # a model saved before vocabularies were recorded
    assert PriorConfig.from_dict(old).vocabulary is None


@pytest.mark.parametrize("text,outside", [("box", False), ("teapot", True)])
def test_generation_says_when_the_prompt_is_outside(tmp_path, caplog, text, outside):
    prior = tiny_prior(True)
    prior.config = replace(prior.config, vocabulary=("box", "mug"))
    with caplog.at_level(logging.WARNING, logger="bghop"):
        res = generate(prior, SphereAutoencoder(), text, n=2, config=FAST, seed=0, progress=False)
    assert len(res.samples) == 2  # a sample either way
    assert res.settings["outside_vocabulary"] is outside
    assert bool(res.warnings) is outside
    assert ("outside the prior's training vocabulary" in caplog.text) is outside
    summary = json.loads((save_generation(res, tmp_path / "g", render=False, progress=False) / "summary.json")
                         .read_text())
    assert summary["settings"]["outside_vocabulary"] is outside
    assert any("teapot" in w for w in summary["warnings"]) is outside


def test_a_model_without_vocabulary_does_not_guess():
    prior = tiny_prior(True)
    assert prior.config.vocabulary is None
    res = generate(prior, SphereAutoencoder(), "teapot", n=1, config=FAST, seed=0, progress=False)
    assert res.settings["outside_vocabulary"] is None and res.warnings == []
    assert isinstance(prior, InteractionPrior)


def test_grasp_synthesis_says_when_the_prompt_is_outside():
    import trimesh

    from bghop.synthesis.grasp import GraspSynthesizer
    from bghop.synthesis.grasp_config import GraspConfig, with_iterations

    prior = tiny_prior(True)
    prior.config = replace(prior.config, vocabulary=("box", "mug"))
    cfg = with_iterations(GraspConfig(sdf_resolution=40), sds=1, refine=1)
    cfg = replace(cfg, rank=replace(cfg.rank, physics=False))
    syn = GraspSynthesizer(prior, SphereAutoencoder(), config=cfg)
    box = trimesh.creation.box((0.12, 0.08, 0.2))
    res = syn(box, "teapot", n=1, progress=False)
    assert len(res.grasps) == 1 and any("'teapot' is outside" in w for w in res.warnings)
    assert not any("outside the prior's" in w for w in syn(box, "box", n=1, progress=False).warnings)

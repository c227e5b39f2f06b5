"""SDS guidance: its loss carries exactly the clipped SDS gradient, timesteps anneal inside the window."""

from __future__ import annotations

import pytest
import torch

from grid_data import tiny_prior

from bghop.synthesis.prompts import expand_prompt
from bghop.synthesis.sds import SDSConfig, SDSGuidance


@pytest.fixture(scope="module")
def prior():
    return tiny_prior(bimanual=True)


def test_loss_gradient_is_the_clipped_sds_gradient(prior):
    g = SDSGuidance(prior, SDSConfig(grad_clip=0.05))
    x0 = torch.randn(2, 43, 16, 16, 16, requires_grad=True)
    out = g(x0, ["grasp a box with both hands"] * 2, progress=0.3, generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    assert torch.allclose(x0.grad, out.grad, atol=1e-6)
    assert out.grad.abs().max() <= 0.05 + 1e-7
    assert out.error.shape == (2,) and torch.isfinite(out.error).all()
    # the prior is frozen: nothing of it receives a gradient
    assert all(p.grad is None and not p.requires_grad for p in prior.parameters())


def test_same_generator_same_result(prior):
    g = SDSGuidance(prior)
    x0 = torch.randn(1, 43, 16, 16, 16)
    a = g(x0, ["grasp a mug with both hands"], 0.5, torch.Generator().manual_seed(3))
    b = g(x0, ["grasp a mug with both hands"], 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(a.grad, b.grad) and torch.equal(a.timesteps, b.timesteps)


def test_timesteps_anneal_from_high_to_low_within_window(prior):
    g = SDSGuidance(prior, SDSConfig(t_min=0.25, t_max=0.75, jitter=0.0))
    gen = torch.Generator().manual_seed(0)
    early = g.timesteps(64, 0.0, gen)
    late = g.timesteps(64, 1.0, gen)
    assert early.float().mean() > late.float().mean()
    assert int(early.max()) <= round(0.75 * 999) and int(late.min()) >= round(0.25 * 999)
    un = SDSGuidance(prior, SDSConfig(anneal=False)).timesteps(256, 0.0, gen)
    assert un.min() >= 249 and un.max() <= 750 and un.float().std() > 50


def test_score_is_deterministic(prior):
    g = SDSGuidance(prior)
    x0 = torch.randn(3, 43, 16, 16, 16)
    texts = ["grasp a box with both hands"] * 3
    assert torch.equal(g.score(x0, texts, seed=1), g.score(x0, texts, seed=1))


def test_config_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match="unknown"):
        SDSConfig.from_dict({"guidance": 4.0, "guidance_scale": 7})
    with pytest.raises(ValueError):
        SDSConfig(t_min=0.8, t_max=0.2)
    with pytest.raises(ValueError):
        SDSConfig(weighting="fancy")
    assert SDSConfig.from_dict(SDSConfig().to_dict()) == SDSConfig()


def test_expand_prompt():
    assert expand_prompt("box") == "grasp a box with both hands"
    assert expand_prompt("apple", bimanual=False) == "grasp an apple with the right hand"
    assert expand_prompt("  the  mug ") == "grasp the mug with both hands"
    assert expand_prompt("grasp a kettle by its handle") == "grasp a kettle by its handle"
    with pytest.raises(ValueError):
        expand_prompt("   ")

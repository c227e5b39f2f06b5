"""SDS guidance: its loss carries exactly the clipped SDS gradient, timesteps anneal inside the window."""

from __future__ import annotations

import pytest
import torch

from grid_data import GaussianOracle, tiny_prior, use_oracle

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


# -- SDS under an analytic prior -------------------------------------------------------------------------------
#
# Prior x0 ~ N(μ, σ² I). Its exact ε-prediction (grid_data.GaussianOracle; conditional mean of jointly
# Gaussian ε and x_t = √ᾱ x0 + √(1 − ᾱ) ε, i.e. Tweedie's formula) is
#     ε̂(x_t) = √(1 − ᾱ) (x_t − √ᾱ μ) / v,   v = ᾱ σ² + 1 − ᾱ.
# Substituting x_t, the SDS gradient ε̂ − ε at a point x0 is
#     ε̂ − ε = c (x0 − μ) − (ᾱ σ² / v) ε,   c = √(ᾱ (1 − ᾱ)) / v > 0,
# so its mean points from μ to x0: descent contracts x0 − μ by (1 − lr c) per step (c ≈ 1.0 at t = 0.25 T,
# ≈ 0.06 at 0.75 T), up to the ±0.5 clip far away, and the noise keeps a residual of std ≈ lr ᾱ σ² / v ≈ σ²
# (for lr = 1) per element once there. With σ = 0.1 the residual is ≈ 0.01 per element; from a start 3 away in
# every element the distance shrinks ~300×; the test asks for 50× (and an RMS under 5× the residual).
# A wrong sign (ascent) makes (x0 − μ) grow by (1 + lr c) per step, so the distance grows instead (×17 in
# 100 steps) and every assertion below fails.

SIGMA = 0.1


def _gaussian_sds(seed: int = 0) -> tuple[SDSGuidance, torch.Tensor]:
    prior = tiny_prior(True)
    mu = 0.5 * torch.randn((43, 4, 4, 4), generator=torch.Generator().manual_seed(seed))
    use_oracle(prior, GaussianOracle(prior.alphas_cumprod, mu, SIGMA))
    return SDSGuidance(prior), mu  # the upstream settings: guidance 4, t in [0.25, 0.75] T annealed, clip 0.5


def test_sds_descent_under_a_gaussian_prior_moves_to_its_mean():
    g, mu = _gaussian_sds()
    texts = ["grasp a box with both hands"] * 2
    away = torch.sign(torch.randn((2, *mu.shape), generator=torch.Generator().manual_seed(1)))
    x0 = (mu + 3.0 * away).requires_grad_(True)  # 3 from μ in every element (a distance of 157)
    opt = torch.optim.SGD([x0], lr=1.0)
    gen = torch.Generator().manual_seed(0)
    start = (x0 - mu).detach().flatten(1).norm(dim=1)
    score_start = g.score(x0.detach(), texts)
    n = 100
    for i in range(n):
        opt.zero_grad()
        g(x0, texts, progress=i / (n - 1), generator=gen).loss.backward()
        opt.step()
    end = (x0 - mu).detach().flatten(1).norm(dim=1)
    assert (end < start / 50).all(), (start, end)
    assert float((x0 - mu).detach().pow(2).mean().sqrt()) < 5 * SIGMA**2
    score_end = g.score(x0.detach(), texts)
    assert (score_end < score_start).all() and (score_end < 0.01 * score_start).all()


def test_sds_gradient_under_a_gaussian_prior_points_away_from_the_mean():
    # one step, no clipping, at a fixed timestep: the batch-mean gradient is c (x0 − μ) up to the noise term
    g, mu = _gaussian_sds()
    g.config = SDSConfig(grad_clip=None, anneal=False, t_min=0.25, t_max=0.25)
    x0 = mu + torch.randn((64, *mu.shape), generator=torch.Generator().manual_seed(2))
    out = g(x0, ["grasp a box with both hands"] * 64, generator=torch.Generator().manual_seed(3))
    a = float(g.prior.alphas_cumprod[out.timesteps[0]])
    v = a * SIGMA**2 + 1 - a
    expected = (a * (1 - a)) ** 0.5 / v * (x0 - mu)
    # residual = −(ᾱ σ² / v) ε: compare through the correlation, which a sign error would make −1
    cos = torch.nn.functional.cosine_similarity(out.grad.flatten(), expected.flatten(), dim=0)
    assert cos > 0.99
    assert torch.allclose(out.grad, expected, atol=6 * a * SIGMA**2 / v)  # |ε| < 6 for every element here


def test_config_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match="unknown"):
        SDSConfig.from_dict({"guidance": 4.0, "guidance_scale": 7})
    with pytest.raises(ValueError):
        SDSConfig(t_min=0.8, t_max=0.2)
    with pytest.raises(ValueError):
        SDSConfig(weighting="fancy")
    assert SDSConfig.from_dict(SDSConfig().to_dict()) == SDSConfig()


def test_expand_prompt():
    import bghop.synthesis
    from bghop.core.prompts import expand_prompt as core_expand

    assert expand_prompt is core_expand and bghop.synthesis.expand_prompt is core_expand  # one implementation
    assert expand_prompt("box") == "grasp a box with both hands"
    assert expand_prompt("apple", bimanual=False) == "grasp an apple with the right hand"
    assert expand_prompt("  the  mug ") == "grasp the mug with both hands"
    assert expand_prompt("grasp a kettle by its handle") == "grasp a kettle by its handle"
    assert expand_prompt("a mug") == "grasp a mug with both hands"
    assert expand_prompt("An apple", bimanual=False) == "grasp An apple with the right hand"
    assert expand_prompt("  box  ") == "grasp a box with both hands"
    assert expand_prompt("grasp the pot with both hands") == "grasp the pot with both hands"
    assert expand_prompt("Umbrella") == "grasp an Umbrella with both hands"
    with pytest.raises(ValueError):
        expand_prompt("   ")

"""``InteractionPrior.sample`` against analytic oracles: with the exact ε of a point mass it returns the point.

If the data is a point mass at x*, then x0 = x* surely and ε = (x_t − √ᾱ_t x*) / √(1 − ᾱ_t) is a function of
x_t, so an oracle returning it is the exact network (see ``grid_data.PointMassOracle``). Both samplers then
land on x*, up to float32 rounding:

* every step's x0-prediction (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t equals x* identically, whatever x_t is, so errors of
  earlier steps do not carry over;
* DDIM (η = 0, ``set_alpha_to_one``): x_prev = √ᾱ_prev x̂0 + √(1 − ᾱ_prev) ε̂, and the last step (t = 0) has
  ᾱ_prev = 1, so it returns x̂0 = x*;
* DDPM: the posterior mean at t = 0 has coefficient 1 on x̂0 and 0 on x_t (ᾱ_prev = 1, β̃ = 0), and no
  noise is added at t = 0, so the stochastic sampler also returns x̂0 = x*, for every seed.

The only error left is the rounding of the last step's x̂0 in float32: a few ulp of |x_t| / √ᾱ_0 with
ᾱ_0 = 1 − 1e-4, i.e. ~1e-6 for |x_t| of a few units. ``ATOL = 1e-4`` leaves two orders of magnitude of margin
and is still 100× smaller than the smallest wrong answer checked below (an oracle for a point 0.01 away).
"""

from __future__ import annotations

import pytest
import torch

from grid_data import MixtureOracle, PointMassOracle, tiny_prior, use_oracle

from bghop.models.prior import InteractionPrior, make_scheduler

#: float32 rounding of the last x0-prediction (~1e-6), with margin; see the module docstring
ATOL = 1e-4
#: a small grid: the oracle does not care about the UNet's architecture, so any resolution works
RES = 4
TEXTS = ["grasp a box with both hands", "grasp a mug with both hands"]


def _point(seed: int, scale: float = 0.7) -> torch.Tensor:
    """A fixed x* ``(43, RES, RES, RES)`` in the normalised space (roughly its unit range)."""
    return scale * torch.randn((43, RES, RES, RES), generator=torch.Generator().manual_seed(seed))


def _sample(prior: InteractionPrior, sampler: str, guidance: float, seed: int = 0, steps: int = 20) -> torch.Tensor:
    return prior.sample(TEXTS, steps=steps, guidance=guidance, generator=torch.Generator().manual_seed(seed),
                        sampler=sampler, progress=False, resolution=RES)


def _error(prior: InteractionPrior, target: torch.Tensor, sampler: str, guidance: float, seed: int = 0) -> float:
    """Largest deviation of a batch of samples from ``target``."""
    return float((_sample(prior, sampler, guidance, seed) - target[None]).abs().max())


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
@pytest.mark.parametrize("guidance", [1.0, 4.0])
def test_exact_eps_of_a_point_mass_samples_the_point(sampler, guidance):
    x_star = _point(1)
    prior = tiny_prior(True)
    use_oracle(prior, PointMassOracle(prior.alphas_cumprod, x_star))
    # the oracle ignores the text, so guidance (ε_u + s (ε_c − ε_u) = ε) changes nothing; two seeds for DDPM's noise
    for seed in (0, 1):
        assert _error(prior, x_star, sampler, guidance, seed) < ATOL


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_guidance_extrapolates_between_the_branches(sampler):
    # conditional branch: point x_c, unconditional (empty prompt): x_u. The guided ε is affine in the points,
    # ε_u + s (ε_c − ε_u) = (x_t − √ᾱ (x_u + s (x_c − x_u))) / √(1 − ᾱ), i.e. the exact ε of the point
    # x_u + s (x_c − x_u): the sampler must land there (and not on x_c), which checks the CFG wiring.
    x_c, x_u, s = _point(2), _point(3), 3.0
    prior = tiny_prior(True)
    use_oracle(prior, PointMassOracle(prior.alphas_cumprod, x_c, uncond_target=x_u))
    assert _error(prior, x_u + s * (x_c - x_u), sampler, s) < ATOL
    assert _error(prior, x_c, sampler, s) > 1.0
    assert _error(prior, x_c, sampler, 1.0) < ATOL  # no guidance: the conditional branch alone


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_the_check_fails_for_a_wrong_network(sampler):
    x_star = _point(1)
    # a network that predicts no noise at all
    prior = use_oracle(tiny_prior(True), lambda x_t, *_: torch.zeros_like(x_t))
    assert _error(prior, x_star, sampler, 4.0) > 100 * ATOL
    # the exact ε of a point 0.01 away: it lands there, 0.01 = 100 ATOL from x*, so the tolerance resolves it
    prior = tiny_prior(True)
    use_oracle(prior, PointMassOracle(prior.alphas_cumprod, x_star + 0.01))
    err = _error(prior, x_star, sampler, 4.0)
    assert err > 50 * ATOL and err == pytest.approx(0.01, abs=ATOL)


# -- sample() keeps every step on the model's device; on the CPU nothing changed ---------------------------------


@torch.no_grad()
def _sample_with_cpu_round_trips(prior: InteractionPrior, texts: list[str], steps: int, guidance: float,
                                 generator: torch.Generator, sampler: str, resolution: int) -> torch.Tensor:
    """The former ``sample()`` loop, kept as the reference: every scheduler step on CPU copies."""
    b = len(texts)
    sched = make_scheduler(prior.config.diffusion, sampler)
    sched.set_timesteps(steps)
    cond, uncond = prior.encode_text(list(texts)), prior.encode_text([""] * b)
    x = torch.randn((b, prior.layout.num_channels, resolution, resolution, resolution),
                    generator=generator).to(prior.device)
    for t in sched.timesteps:
        tt = torch.full((b,), int(t), device=prior.device, dtype=torch.long)
        eps = prior.guided_eps(x, tt, cond, uncond, guidance)
        kw = {"generator": generator} if sampler == "ddpm" else {}
        x = sched.step(eps.cpu(), int(t), x.cpu(), **kw).prev_sample.to(prior.device)
    return x


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_cpu_samples_are_bit_identical_to_the_former_loop(sampler):
    prior = tiny_prior(True).eval()  # the real (tiny, random) UNet
    kw = dict(steps=3, guidance=4.0, sampler=sampler, progress=False, resolution=RES)
    new = prior.sample(TEXTS, generator=torch.Generator().manual_seed(7), **kw)
    old = _sample_with_cpu_round_trips(prior, TEXTS, 3, 4.0, torch.Generator().manual_seed(7), sampler, RES)
    assert torch.equal(new, old)
    again = prior.sample(TEXTS, generator=torch.Generator().manual_seed(8), **kw)
    assert not torch.equal(new, again)  # the seed matters (the comparison is not between constants)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_cuda_sampling_stays_on_the_device_and_matches_the_cpu(sampler, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # compare float32 with float32
    cpu = tiny_prior(True).eval()
    gpu = tiny_prior(True).eval().to("cuda")
    kw = dict(steps=3, guidance=4.0, sampler=sampler, progress=False, resolution=RES)
    a = cpu.sample(TEXTS, generator=torch.Generator().manual_seed(7), **kw)
    b = gpu.sample(TEXTS, generator=torch.Generator().manual_seed(7), **kw)
    assert b.device.type == "cuda"
    # same start and step noise (drawn from the CPU generator); only kernel rounding differs
    assert torch.allclose(a, b.cpu(), rtol=1e-3, atol=1e-3)
    x_star = _point(1)
    use_oracle(gpu, PointMassOracle(gpu.alphas_cumprod, x_star))
    assert _error(gpu, x_star.cuda(), sampler, 4.0) < ATOL


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_held_object_channels_pick_the_hands_that_go_with_them(sampler):
    """Conditioning on held channels (``known=``): the data is one of two grids whose blocks agree (object and
    hands all +1, or all −1). Unconditioned, samples land on both; with the object held at +1 (or −1) and
    reconstruction guidance, every sample's hands land on +1 (or −1), and the object channels come back
    exactly as given. (Replacement alone leaves half of them on the wrong mode here: the 40 hand channels
    settle before the 3 object channels, noised, can steer them.)"""
    prior = tiny_prior(True)
    ones = torch.ones((43, RES, RES, RES))
    use_oracle(prior, MixtureOracle(prior.alphas_cumprod, torch.stack([ones, -ones])))
    texts = TEXTS * 8
    free = prior.sample(texts, steps=20, guidance=1.0, generator=torch.Generator().manual_seed(0), sampler=sampler,
                        progress=False, resolution=RES)
    modes = free.flatten(1).mean(1)
    assert bool((modes > 0.9).any()) and bool((modes < -0.9).any())
    obj = prior.layout.slice("object")
    for sign in (1.0, -1.0):
        known = torch.zeros((1, 43, RES, RES, RES))
        known[:, obj] = sign
        x = prior.sample(texts, steps=20, guidance=1.0, generator=torch.Generator().manual_seed(0), sampler=sampler,
                         progress=False, resolution=RES, known=known, known_guidance=1000.0)
        assert torch.equal(x[:, obj], known[:, obj].expand(len(texts), -1, -1, -1, -1))
        hands = torch.cat([x[:, prior.layout.slice("right")], x[:, prior.layout.slice("left")]], 1)
        assert float((hands - sign).abs().max()) < 1e-3
    with pytest.raises(ValueError, match="does not match"):
        prior.sample(TEXTS, steps=2, progress=False, resolution=RES, known=torch.zeros((1, 43, 2, 2, 2)))

"""Per-block loss shares of the prior (issue 21, item 1): the object's 3 latent channels can carry more than
3/43 of the training loss; validation stays the plain ε-MSE so runs compare."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from grid_data import tiny_prior

from bghop.models.prior import PriorConfig, widen_to_bimanual
from bghop.train.modules import fixed_noise_loss

TEXTS = ["grasp a box with both hands", "grasp a mug with both hands"]


def _errors(prior, x0, seed):
    """Per-channel mean squared ε error of the same draw training_loss makes."""
    g = torch.Generator().manual_seed(seed)
    b = x0.shape[0]
    torch.rand(b, generator=g)  # the dropout draw
    t = torch.randint(0, prior.config.diffusion.num_train_timesteps, (b,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    with torch.no_grad():
        eps = prior(prior.add_noise(x0, noise, t), t, prior.encode_text(TEXTS))
    return (eps - noise).pow(2).mean(dim=(0, 2, 3, 4))


def test_shares_weigh_the_blocks_and_validation_stays_plain():
    prior = tiny_prior(True).eval()
    x0 = torch.randn(2, 43, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    per_c = _errors(prior, x0, 5)
    plain = prior.training_loss(x0, TEXTS, generator=torch.Generator().manual_seed(5), cfg_dropout=0.0)
    assert torch.allclose(plain, per_c.mean(), atol=1e-6)
    prior.config = replace(prior.config, loss_shares=(2, 1, 1))  # normalised to 0.5 / 0.25 / 0.25
    assert prior.config.loss_shares == (0.5, 0.25, 0.25)
    weighted = prior.training_loss(x0, TEXTS, generator=torch.Generator().manual_seed(5), cfg_dropout=0.0)
    want = 0.5 * per_c[:3].mean() + 0.25 * per_c[3:23].mean() + 0.25 * per_c[23:].mean()
    assert torch.allclose(weighted, want, atol=1e-6) and not torch.allclose(weighted, plain)
    val = fixed_noise_loss(prior, x0, TEXTS, 0)
    prior.config = replace(prior.config, loss_shares=None)
    assert torch.allclose(val, fixed_noise_loss(prior, x0, TEXTS, 0))


def test_shares_round_trip_widen_and_refuse_bad_values():
    cfg = PriorConfig(loss_shares=(1, 1, 1))
    assert PriorConfig.from_dict(cfg.to_dict()) == cfg
    assert PriorConfig.from_dict({k: v for k, v in cfg.to_dict().items() if k != "loss_shares"}).loss_shares is None
    with pytest.raises(ValueError, match="3 positive"):
        PriorConfig(loss_shares=(1, 1))
    single = tiny_prior(False)
    single.config = replace(single.config, loss_shares=(1, 3))
    assert widen_to_bimanual(single).config.loss_shares == pytest.approx((1 / 7, 3 / 7, 3 / 7))  # left as right

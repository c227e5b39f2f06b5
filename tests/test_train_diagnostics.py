"""bghop.train.diagnostics.text_use: known answers with analytic ε-predictors standing in for the UNet."""

from __future__ import annotations

import pytest
import torch

from bghop.train.diagnostics import text_use
from grid_data import GaussianOracle, PointMassOracle, tiny_prior, use_oracle

BOX, SPHERE = "grasp a box with both hands", "grasp a sphere with both hands"


class PromptOracle:
    """Exact ε when each prompt names one point: the box prompt's grids are +1, the sphere prompt's −1, and the
    empty prompt's (unconditional) guess is 0. The word ``box`` is told from ``sphere`` by its token."""

    def __init__(self, prior, shape) -> None:
        self.prior = prior
        self.box = prior.encode_text([BOX]).tokens[0, 3]  # <s> grasp a box ...: the object word is token 3
        self.point = {1.0: PointMassOracle(prior.alphas_cumprod, torch.ones(shape)),
                      -1.0: PointMassOracle(prior.alphas_cumprod, -torch.ones(shape)),
                      0.0: PointMassOracle(prior.alphas_cumprod, torch.zeros(shape))}

    def __call__(self, x_t, t, tokens, mask, pooled=None):
        out = torch.empty_like(x_t)
        for i in range(x_t.shape[0]):
            if int(mask[i].sum()) == 1:
                key = 0.0
            else:
                key = 1.0 if torch.allclose(tokens[i, 3], self.box) else -1.0
            out[i] = self.point[key](x_t[i:i + 1], t[i:i + 1], tokens[i:i + 1], mask[i:i + 1])[0]
        return out


def _data(prior, n=8):
    shape = (prior.layout.num_channels, 4, 4, 4)
    x0 = torch.cat([torch.ones(n // 2, *shape), -torch.ones(n // 2, *shape)])
    return x0, [BOX] * (n // 2) + [SPHERE] * (n // 2), shape


def test_a_prior_that_reads_its_prompt_gains_everything():
    prior = tiny_prior(bimanual=True)
    x0, texts, shape = _data(prior)
    use_oracle(prior, PromptOracle(prior, shape))
    res = text_use(prior, x0, texts, timesteps=(250, 500), batch_size=3)
    assert res.samples == 8 and res.timesteps == [250, 500]
    assert max(res.mse["own"]["object"]) < 1e-8 and max(res.mse["own"]["left"]) < 1e-8
    assert min(res.mse["other"]["object"]) > 0.1 and min(res.mse["empty"]["right"]) > 0.01
    assert res.gain == pytest.approx(1.0, abs=1e-6)
    assert res.gain_of("right", "empty") == pytest.approx(1.0, abs=1e-6)
    assert res.to_dict()["gain"] == pytest.approx(res.gain)


def test_a_prior_that_ignores_its_prompt_gains_nothing():
    prior = tiny_prior(bimanual=False)
    x0, texts, shape = _data(prior)
    use_oracle(prior, GaussianOracle(prior.alphas_cumprod, torch.zeros(shape), 1.0))
    res = text_use(prior, x0, texts, timesteps=(250, 500, 750))
    assert set(res.mse["own"]) == {"object", "right"}
    assert res.mse["own"]["object"][0] > 0.01  # a real error, the same for every prompt
    assert res.mse["own"] == res.mse["other"] == res.mse["empty"]
    assert res.gain == 0.0


def test_own_prompt_alone_and_bad_arguments():
    prior = tiny_prior(bimanual=True)
    x0, texts, shape = _data(prior)
    res = text_use(prior, x0, texts, timesteps=(500,), kinds=("own",))
    assert set(res.mse) == {"own"} and res.to_dict()["gain"] is None
    with pytest.raises(ValueError, match="unknown prompt kinds"):
        text_use(prior, x0, texts, kinds=("own", "shuffled"))
    with pytest.raises(ValueError, match="at least two grids"):
        text_use(prior, x0[:1], texts[:1])
    with pytest.raises(ValueError, match="one prompt each"):
        text_use(prior, x0, texts[:3])

"""Tiny shard folders for model/training tests: boxes and spheres with hand fields from the open hand.

The samples are cheap but real: the object SDF is analytic (box or sphere) on the 64³ grid and
the fields are skeletal fields of open-hand keypoints in named poses, so the autoencoder and
the prior see the same value ranges as on the synthetic set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from bghop.data.shards import Manifest, Sample, shard_path, write_shard
from bghop.fields.encode import GridSettings
from bghop.fields.skeletal import skeletal_field
from bghop.geometry.grid import grid_coordinates
from bghop.models.autoencoder import AutoencoderConfig, ObjectAutoencoder
from bghop.models.prior import InteractionPrior, PriorConfig
from bghop.models.text import TextEncoder
from bghop.models.unet import UNetConfig


def _object_sdf(kind: str, size: float, settings: GridSettings) -> np.ndarray:
    spec = settings.sdf_spec
    pts = grid_coordinates(spec.resolution, spec.lo, spec.hi).reshape(-1, 3).numpy()
    if kind == "sphere":
        d = np.linalg.norm(pts, axis=1) - size
    else:
        q = np.abs(pts) - size
        d = np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0)
    r = settings.sdf_resolution
    return d.reshape(r, r, r).astype(np.float32)


def _field(rng: np.random.Generator, settings: GridSettings) -> np.ndarray:
    kp = torch.tensor(rng.uniform(-0.6, 0.6, size=(1, 20, 3)), dtype=torch.float32)
    return skeletal_field(kp, settings.field)[0].numpy()


def make_grid_data(folder: Path, n: int, bimanual: bool, seed: int = 0, shard_size: int = 8) -> Path:
    """Write ``n`` samples (half boxes, half spheres) into ``folder`` with a manifest."""
    settings = GridSettings()
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    m = Manifest(settings={"source": "test", "grid": settings.to_dict()})
    samples = []
    for i in range(n):
        kind = "box" if i % 2 == 0 else "sphere"
        text = f"grasp a {kind} with {'both hands' if bimanual else 'the right hand'}"
        samples.append(Sample(object_sdf=_object_sdf(kind, float(rng.uniform(0.3, 0.6)), settings),
                              right_field=_field(rng, settings),
                              left_field=_field(rng, settings) if bimanual else None,
                              text=text, object_id=f"{kind}-{i}", hands={}, nTo=np.eye(4)))
    for k in range(0, n, shard_size):
        idx = len(m.shards)
        sha = write_shard(shard_path(folder, idx), samples[k:k + shard_size])
        m.shards.append({"file": shard_path(folder, idx).name, "count": len(samples[k:k + shard_size]), "sha1": sha,
                         "bimanual": bimanual})
    m.save(folder)
    return folder


TINY_UNET = dict(base_channels=8, channel_mult=(1, 2), attention_levels=(1,), heads=2, context_dim=16)


class WordHashEncoder(TextEncoder):
    """A deterministic stand-in for the sentence encoder (tests only): one pseudo-random vector per word."""

    name, dim = "test-words", 16

    def _encode_uncached(self, texts):
        words = [t.split() or [""] for t in texts]
        n = max(len(w) for w in words) + 1
        tok = torch.zeros(len(texts), n, self.dim)
        mask = torch.zeros(len(texts), n, dtype=torch.bool)
        for i, ws in enumerate(words):
            for j, w in enumerate(["<s>", *ws] if ws != [""] else ["<s>"]):
                g = torch.Generator().manual_seed(sum(ord(c) * 31 ** k for k, c in enumerate(w)) % (2 ** 31))
                tok[i, j] = torch.randn(self.dim, generator=g)
                mask[i, j] = True
        return tok, mask


def tiny_prior(bimanual: bool, seed: int = 0, input_skip: bool = True) -> InteractionPrior:
    torch.manual_seed(seed)
    cfg = PriorConfig(bimanual=bimanual, unet=UNetConfig(in_channels=43 if bimanual else 23, input_skip=input_skip,
                                                         **TINY_UNET),
                      latent_shift=0.1, latent_scale=2.0)
    prior = InteractionPrior(cfg, text_encoder=WordHashEncoder())
    _unzero(prior)
    return prior


def _unzero(module: torch.nn.Module) -> None:
    """Zero-initialised output layers make an untrained net ignore its inputs: give them weights."""
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() > 1 and p.abs().sum() == 0:
                p.normal_(0, 0.05)


# -- analytic ε-predictions ("oracles") standing in for the UNet -------------------------------------------------------
#
# Both are the exact minimum-MSE ε-prediction E[ε | x_t] for data whose distribution is known in closed form, under
# the forward process x_t = √ᾱ_t x0 + √(1 − ᾱ_t) ε, ε ~ N(0, I). They take the UNet's arguments
# ``(x_t, t, tokens, mask, pooled)``; :func:`use_oracle` puts one in place of ``prior.unet``'s forward.


def _abar(alphas_cumprod: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """ᾱ_t as float64, shaped to broadcast against ``like`` ``(B, …)``."""
    return alphas_cumprod.to(like.device, torch.float64)[t].view(-1, *([1] * (like.dim() - 1)))


class PointMassOracle:
    """The exact ε-prediction when the data is a point mass at ``target``.

    x0 = x* surely, so ε = (x_t − √ᾱ_t x*) / √(1 − ᾱ_t) is a function of x_t: the prediction is exact, not
    only optimal. ``uncond_target`` (optional) is the point the *unconditional* branch (the empty prompt,
    recognised by its single ``<s>`` token under :class:`WordHashEncoder`) believes in; by default both
    branches share ``target`` and the oracle ignores the text.

    Args:
        alphas_cumprod: ``(T,)`` ᾱ of the prior's schedule.
        target: ``(C, r, r, r)`` the point, in the prior's normalised space.
        uncond_target: ``(C, r, r, r)`` the unconditional branch's point, or None.
    """

    def __init__(self, alphas_cumprod: torch.Tensor, target: torch.Tensor,
                 uncond_target: torch.Tensor | None = None) -> None:
        self.alphas_cumprod = alphas_cumprod
        self.target = target
        self.uncond_target = target if uncond_target is None else uncond_target

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor,
                 pooled: torch.Tensor | None = None) -> torch.Tensor:
        a = _abar(self.alphas_cumprod, t, x_t)
        empty = (mask.sum(1) == 1).view(-1, *([1] * (x_t.dim() - 1))).to(x_t.device)
        x_star = torch.where(empty, self.uncond_target.to(x_t.device, torch.float64)[None],
                             self.target.to(x_t.device, torch.float64)[None])
        return ((x_t.double() - a.sqrt() * x_star) / (1 - a).sqrt()).to(x_t.dtype)


class GaussianOracle:
    """The exact ε-prediction when the data is x0 ~ N(μ, σ² I) (elementwise, independent of the text).

    x_t and ε are jointly Gaussian: E[x_t] = √ᾱ μ, Var[x_t] = (ᾱ σ² + 1 − ᾱ) I, Cov[ε, x_t] = √(1 − ᾱ) I,
    so the conditional mean of a Gaussian gives

        E[ε | x_t] = √(1 − ᾱ_t) (x_t − √ᾱ_t μ) / (ᾱ_t σ² + 1 − ᾱ_t),

    which is also Tweedie's formula ε̂ = −√(1 − ᾱ_t) ∇ log p_t(x_t) for p_t = N(√ᾱ μ, (ᾱ σ² + 1 − ᾱ) I)
    (Efron 2011; the ε-parametrisation of Ho et al. 2020 / Song et al. 2021). σ → 0 gives :class:`PointMassOracle`.

    Args:
        alphas_cumprod: ``(T,)`` ᾱ of the prior's schedule.
        mean: ``(C, r, r, r)`` μ, in the prior's normalised space.
        std: σ.
    """

    def __init__(self, alphas_cumprod: torch.Tensor, mean: torch.Tensor, std: float) -> None:
        self.alphas_cumprod = alphas_cumprod
        self.mean = mean
        self.std = float(std)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor,
                 pooled: torch.Tensor | None = None) -> torch.Tensor:
        a = _abar(self.alphas_cumprod, t, x_t)
        mu = self.mean.to(x_t.device, torch.float64)[None]
        eps = (1 - a).sqrt() * (x_t.double() - a.sqrt() * mu) / (a * self.std ** 2 + 1 - a)
        return eps.to(x_t.dtype)


class MixtureOracle:
    """The exact ε-prediction when the data is one of a few points ``x_k`` with equal probability.

    The posterior over the points given ``x_t`` has weights ``w_k ∝ exp(−|x_t − √ᾱ_t x_k|² / 2(1 − ᾱ_t))``,
    so ``E[x0 | x_t] = Σ w_k x_k`` and ``E[ε | x_t] = (x_t − √ᾱ_t E[x0 | x_t]) / √(1 − ᾱ_t)``. With two points
    whose blocks agree (object and hands both +1, or both −1) a sample's hands follow its object.

    Args:
        alphas_cumprod: ``(T,)`` ᾱ of the prior's schedule.
        points: ``(K, C, r, r, r)`` in the prior's normalised space.
    """

    def __init__(self, alphas_cumprod: torch.Tensor, points: torch.Tensor) -> None:
        self.alphas_cumprod = alphas_cumprod
        self.points = points

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor,
                 pooled: torch.Tensor | None = None) -> torch.Tensor:
        a = _abar(self.alphas_cumprod, t, x_t)  # (B, 1, 1, 1, 1)
        pts = self.points.to(x_t.device, torch.float64)  # (K, …)
        x = x_t.double()
        d2 = ((x[:, None] - a.sqrt()[:, None] * pts[None]) ** 2).flatten(2).sum(-1)  # (B, K)
        w = torch.softmax(-d2 / (2 * (1 - a.flatten())[:, None]), dim=1)
        x0 = (w.view(*w.shape, *([1] * (x.dim() - 1))) * pts[None]).sum(1)
        return ((x - a.sqrt() * x0) / (1 - a).sqrt()).to(x_t.dtype)


def use_oracle(prior: InteractionPrior, oracle) -> InteractionPrior:
    """Make ``prior``'s network compute ``oracle(x_t, t, tokens, mask, pooled)`` (in place; returns ``prior``).

    Only the UNet's ``forward`` is replaced: its weights stay, so ``prior.device``, ``.to()`` and
    ``.parameters()`` behave as before, and everything above the network (``InteractionPrior.forward``,
    ``guided_eps``, ``sample``, SDS) runs unchanged.
    """
    prior.unet.forward = oracle
    return prior


class SphereAutoencoder(ObjectAutoencoder):
    """A decoder that always yields a sphere about the grid centre, whatever the latent.

    Radius ``0.5 + 0.1 · tanh(mean(z))`` n-units, so within [0.4, 0.6]: the SDF (truncated to ±0.2 like
    the real decoder's output) is −0.2 at the centre and +0.2 at the grid's corners (extent 1.5), so it
    always crosses zero inside the grid. Sample ``i`` is left empty (SDF = +truncation everywhere, no
    surface) when ``i`` is in ``empty``.
    """

    def __init__(self, empty: tuple[int, ...] = ()) -> None:
        torch.manual_seed(0)
        super().__init__(AutoencoderConfig(channels=(4, 8, 8)))
        self.empty = empty

    def decode(self, z: Tensor) -> Tensor:
        t = self.config.truncation
        pts = GridSettings().sdf_spec.points(device=z.device, dtype=z.dtype)  # (R, R, R, 3)
        radius = 0.5 + 0.1 * torch.tanh(z.flatten(1).mean(1))  # (B,)
        sdf = (pts.norm(dim=-1)[None] - radius.view(-1, 1, 1, 1)).clamp(-t, t)
        for i in self.empty:
            sdf[i] = t
        return sdf[:, None]

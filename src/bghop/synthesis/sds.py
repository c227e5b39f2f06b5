"""Score distillation (SDS) from the interaction prior, as one pluggable guidance module.

Score distillation sampling (Poole et al., DreamFusion 2022) turns a frozen diffusion model into
a loss on anything that renders to its input space. For a clean normalised grid ``x0`` (built
differentiably from hand parameters and the object), a timestep ``t`` and noise ``ε``:

    x_t = √ᾱ_t x0 + √(1 − ᾱ_t) ε
    ∇_x0 L_SDS = w(t) · (ε̂_CFG(x_t, t, text) − ε)

with the network's Jacobian skipped (``ε̂`` is computed without gradient). Following G-HOP /
BG-HOP's grasp synthesis: classifier-free guidance scale 4, ``t`` drawn from
``[0.25, 0.75]·T`` and annealed from high to low over the optimisation, and the per-element
gradient clipped to ±0.5 (threestudio's ``grad_clip`` semantics).

The module has one narrow call, ``guidance(x0, texts, progress)``, returning an
:class:`SDSOutput` whose ``loss`` has exactly the (clipped, weighted) SDS gradient with respect
to ``x0``; the caller back-propagates it into whatever produced ``x0``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from bghop.core.config import config_from_dict
from bghop.models.prior import InteractionPrior
from bghop.models.text import TextEmbedding

__all__ = ["SDSConfig", "SDSOutput", "SDSGuidance"]

logger = logging.getLogger(__name__)

_WEIGHTINGS = ("uniform", "sds")


@dataclass(frozen=True)
class SDSConfig:
    """Settings of score distillation.

    Attributes:
        guidance: classifier-free guidance scale (4 upstream).
        t_min: lowest timestep as a fraction of ``T`` (0.25 upstream).
        t_max: highest timestep as a fraction of ``T`` (0.75 upstream).
        anneal: move ``t`` from ``t_max`` down to ``t_min`` as ``progress`` goes 0 → 1
            (coarse structure first, details later); if False, ``t`` is uniform in the window.
        jitter: with annealing, ``t`` is drawn uniformly within ``±jitter·T`` of the annealed
            value (clipped to the window), so nearby noise levels are all seen.
        grad_clip: clamp each element of the gradient to ``±grad_clip`` (None: no clipping).
        weighting: ``"uniform"`` (``w = 1``) or ``"sds"`` (``w = 1 − ᾱ_t``, DreamFusion).
    """

    guidance: float = 4.0
    t_min: float = 0.25
    t_max: float = 0.75
    anneal: bool = True
    jitter: float = 0.05
    grad_clip: float | None = 0.5
    weighting: str = "uniform"

    def __post_init__(self) -> None:
        if not 0.0 <= self.t_min <= self.t_max <= 1.0:
            raise ValueError(f"need 0 <= t_min <= t_max <= 1, got t_min={self.t_min}, t_max={self.t_max}")
        if self.weighting not in _WEIGHTINGS:
            raise ValueError(f"weighting must be one of {_WEIGHTINGS}, got {self.weighting!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be positive or None, got {self.grad_clip}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SDSConfig":
        """Build from a dict; unknown keys are an error (no silent typos)."""
        return config_from_dict(cls, d, "SDS config")


@dataclass
class SDSOutput:
    """Result of one guidance call.

    Attributes:
        loss: scalar; ``∂loss/∂x0`` is the SDS gradient (summed over the batch, so every sample
            gets its own gradient, unscaled by the batch size).
        grad: ``(B, C, r, r, r)`` the detached SDS gradient.
        timesteps: ``(B,)`` long, the timesteps used.
        error: ``(B,)`` mean squared ``ε̂ − ε`` per sample (before weighting/clipping): a
            noisy plausibility score, lower is more plausible under the prior.
    """

    loss: Tensor
    grad: Tensor
    timesteps: Tensor
    error: Tensor


class SDSGuidance(nn.Module):
    """Frozen prior → SDS gradients on normalised interaction grids.

    Args:
        prior: the interaction prior (frozen here: its parameters stop requiring gradients).
        config: SDS settings.
    """

    def __init__(self, prior: InteractionPrior, config: SDSConfig = SDSConfig()) -> None:
        super().__init__()
        self.prior = prior.eval()
        for p in self.prior.parameters():
            p.requires_grad_(False)
        self.config = config
        self._text_cache: dict[tuple[str, ...], tuple[TextEmbedding, TextEmbedding]] = {}

    @property
    def num_train_timesteps(self) -> int:
        return int(self.prior.config.diffusion.num_train_timesteps)

    def _embeddings(self, texts: list[str]) -> tuple[TextEmbedding, TextEmbedding]:
        key = tuple(texts)
        if key not in self._text_cache:
            self._text_cache[key] = (self.prior.encode_text(list(texts)), self.prior.encode_text([""] * len(texts)))
        return self._text_cache[key]

    def timesteps(self, batch: int, progress: float, generator: torch.Generator | None = None) -> Tensor:
        """Timesteps ``(B,)`` (long, CPU) for a point ``progress ∈ [0, 1]`` of the optimisation."""
        cfg, T = self.config, self.num_train_timesteps
        lo, hi = cfg.t_min * (T - 1), cfg.t_max * (T - 1)
        u = torch.rand(batch, generator=generator)
        if cfg.anneal:
            p = min(max(float(progress), 0.0), 1.0)
            centre = hi - p * (hi - lo)
            j = cfg.jitter * T
            t = centre + (2 * u - 1) * j
            t = t.clamp(lo, hi)
        else:
            t = lo + u * (hi - lo)
        return t.round().long()

    def forward(self, x0: Tensor, texts: list[str], progress: float = 0.0,
                generator: torch.Generator | None = None) -> SDSOutput:
        """One SDS evaluation.

        Args:
            x0: ``(B, C, r, r, r)`` clean grids in the prior's normalised space (from
                :meth:`InteractionPrior.normalize`), differentiable w.r.t. what is optimised.
            texts: ``B`` prompts.
            progress: fraction of the optimisation done (drives the timestep annealing).
            generator: CPU generator for timesteps and noise (reproducible runs).
        Returns:
            :class:`SDSOutput`.
        """
        if x0.shape[0] != len(texts):
            raise ValueError(f"{x0.shape[0]} grids but {len(texts)} prompts")
        b = x0.shape[0]
        dev = x0.device
        t = self.timesteps(b, progress, generator).to(dev)
        noise = torch.randn(x0.shape, generator=generator).to(dev, x0.dtype)
        cond, uncond = self._embeddings(texts)
        with torch.no_grad():
            x_t = self.prior.add_noise(x0.detach(), noise, t)
            eps = self.prior.guided_eps(x_t, t, cond, uncond, self.config.guidance)
        diff = (eps - noise).float()
        error = diff.pow(2).flatten(1).mean(1)
        grad = diff
        if self.config.weighting == "sds":
            a = self.prior.alphas_cumprod.to(dev)[t].view(-1, *([1] * (x0.dim() - 1)))
            grad = grad * (1 - a)
        grad = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
        if self.config.grad_clip is not None:
            grad = grad.clamp(-self.config.grad_clip, self.config.grad_clip)
        grad = grad.to(x0.dtype)
        # d/dx0 of 0.5 |x0 - (x0 - g)|² is g: the standard SDS re-parametrisation as a loss
        target = (x0 - grad).detach()
        loss = 0.5 * (x0 - target).pow(2).sum()
        return SDSOutput(loss=loss, grad=grad.detach(), timesteps=t, error=error.detach())

    @torch.no_grad()
    def score(self, x0: Tensor, texts: list[str], levels: tuple[float, ...] = (0.3, 0.5, 0.7),
              seed: int = 0) -> Tensor:
        """Deterministic plausibility score ``(B,)``: mean conditional denoising error over fixed noise levels.

        Lower is more plausible (the error is the per-timestep term of the diffusion model's
        variational bound, up to weights). The same noise (from ``seed``) is used for every
        sample, so scores of different grasps of one run are comparable.

        Args:
            x0: ``(B, C, r, r, r)`` normalised grids.
            texts: ``B`` prompts.
            levels: timesteps as fractions of ``T``.
            seed: noise seed.
        """
        b = x0.shape[0]
        dev = x0.device
        g = torch.Generator().manual_seed(seed)
        cond, _ = self._embeddings(texts)
        total = torch.zeros(b, device=dev)
        for lv in levels:
            t = torch.full((b,), int(round(lv * (self.num_train_timesteps - 1))), device=dev, dtype=torch.long)
            noise = torch.randn((1, *x0.shape[1:]), generator=g).to(dev, x0.dtype).expand_as(x0)
            eps = self.prior(self.prior.add_noise(x0, noise, t), t, cond)
            total = total + (eps - noise).float().pow(2).flatten(1).mean(1)
        return total / len(levels)

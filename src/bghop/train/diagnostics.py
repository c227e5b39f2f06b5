"""Does a prior use its text? Denoising error with each sample's own prompt, the empty prompt and another's.

A text-conditioned ε-predictor that has learned what its prompts say predicts the noise of a held-out
sample better with the sample's own prompt than with another sample's: the prompt narrows down the
clean grid. If the three errors are equal, the network ignores the text; generation can then not
follow a prompt, whatever the guidance scale (classifier-free guidance amplifies ``ε_c − ε_u``, which
is then zero). This is what a coarse-shape contrast of zero (:mod:`bghop.eval.shape`) looks like from
the inside, and it shows earlier in training than generation does, from a few forward passes.

    res = text_use(prior, x0, texts)               # x0: (B, C, r, r, r) normalised held-out grids
    res.gain                                       # 1 − own/other on the object block, mid timesteps
    res.mse["own"]["object"]                       # per timestep

"Other" prompts are the held-out prompts rolled by half the set, so most samples get a prompt of
another object (one of the same category now and then: the gain is, if anything, underestimated).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from torch import Tensor

from bghop.models.prior import InteractionPrior

__all__ = ["TextUse", "text_use", "held_out_text_use", "TEXT_USE_TIMESTEPS", "PROMPT_KINDS"]

#: timesteps scored by default: where the text decides most (at small t the grid itself does, at t near
#: T the error is tiny for any prompt because ε ≈ x_t)
TEXT_USE_TIMESTEPS = (250, 500, 750)
#: the prompt kinds: each sample's own prompt, the empty (unconditional) prompt, another sample's prompt
PROMPT_KINDS = ("own", "empty", "other")


@dataclass
class TextUse:
    """Held-out ε-MSE per prompt kind, channel block and timestep.

    Attributes:
        timesteps: the timesteps scored.
        mse: ``mse[prompt][block]`` is a list over ``timesteps``; prompt in ``own``/``empty``/``other``,
            block in ``object``/``right``/``left`` (``left`` only for a bimanual prior).
        samples: held-out samples scored.
    """

    timesteps: list[int]
    mse: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    samples: int = 0

    def gain_of(self, block: str = "object", against: str = "other") -> float:
        """Mean over timesteps of ``1 − mse_own / mse_against`` for one block (0: the text is ignored)."""
        own, ref = self.mse["own"][block], self.mse[against][block]
        return float(sum(1.0 - o / r if r > 0 else 0.0 for o, r in zip(own, ref)) / len(own))

    @property
    def gain(self) -> float:
        """The object block's gain from its own prompt over another sample's (:meth:`gain_of`)."""
        return self.gain_of("object", "other")

    def to_dict(self) -> dict:
        gain = self.gain if {"own", "other"} <= set(self.mse) else None
        return {"timesteps": self.timesteps, "mse": self.mse, "samples": self.samples, "gain": gain}


@torch.no_grad()
def text_use(prior: InteractionPrior, x0: Tensor, texts: list[str],
             timesteps: tuple[int, ...] = TEXT_USE_TIMESTEPS, batch_size: int = 32, seed: int = 0,
             kinds: tuple[str, ...] = PROMPT_KINDS) -> TextUse:
    """Score ``prior`` on ``x0`` with each sample's own prompt, the empty prompt and another sample's prompt.

    The three prompt kinds see the same noise at each timestep, so their errors differ only through the text.

    Args:
        prior: the prior (evaluated as it is: call ``.eval()`` first).
        x0: ``(B, C, r, r, r)`` normalised grids (:meth:`InteractionPrior.normalize`), B ≥ 2.
        texts: ``B`` prompts, one per grid.
        timesteps: diffusion timesteps to score.
        batch_size: grids per forward pass.
        seed: seed of the noise.
        kinds: which prompt kinds to score (``own`` alone is the plain held-out error per timestep).
    Returns:
        :class:`TextUse`.
    Raises:
        ValueError: fewer than two samples, or texts and grids of different lengths.
    """
    n = x0.shape[0]
    if unknown := set(kinds) - set(PROMPT_KINDS):
        raise ValueError(f"unknown prompt kinds {sorted(unknown)}: use some of {PROMPT_KINDS}")
    if n < 2 or len(texts) != n:
        raise ValueError(f"text_use needs at least two grids with one prompt each, got {n} grids, {len(texts)} prompts")
    texts = list(texts)
    prompts = {"own": texts, "empty": [""] * n, "other": texts[n // 2:] + texts[:n // 2]}
    blocks = {name: prior.layout.slice(name) for name in ("object", "right", "left")
              if prior.config.bimanual or name != "left"}
    dev = prior.device
    gen = torch.Generator().manual_seed(seed)
    out = TextUse(timesteps=[int(t) for t in timesteps], samples=n,
                  mse={p: {b: [] for b in blocks} for p in kinds})
    for tv in timesteps:
        noise = torch.randn(x0.shape, generator=gen)
        sums = {p: {b: 0.0 for b in blocks} for p in kinds}
        for i in range(0, n, batch_size):
            xb = x0[i:i + batch_size].to(dev)
            nb = noise[i:i + batch_size].to(dev, xb.dtype)
            t = torch.full((xb.shape[0],), int(tv), device=dev, dtype=torch.long)
            x_t = prior.add_noise(xb, nb, t)
            for p in kinds:
                err = (prior(x_t, t, prior.encode_text(prompts[p][i:i + batch_size])).float() - nb.float()).pow(2)
                for b, s in blocks.items():
                    sums[p][b] += float(err[:, s].mean(dim=(1, 2, 3, 4)).sum())
        for p in kinds:
            for b in blocks:
                out.mse[p][b].append(sums[p][b] / n)
    return out


def held_out_text_use(prior: str | os.PathLike | InteractionPrior, autoencoder: str | os.PathLike,
                      data: list[str], n: int = 256, **kwargs) -> TextUse:
    """:func:`text_use` on (the first ``n`` of) the held-out split that training validates on.

    Args:
        prior: an exported prior folder or a loaded prior.
        autoencoder: the autoencoder folder the prior was trained with.
        data: the run's ``--data`` sources.
        n: held-out samples to score (all if fewer).
        **kwargs: passed to :func:`text_use`.
    """
    from bghop.models.autoencoder import ObjectAutoencoder
    from bghop.train.run import held_out_grids

    model = prior if isinstance(prior, InteractionPrior) else InteractionPrior.from_pretrained(prior)
    model = model.eval()
    grid, texts = held_out_grids(ObjectAutoencoder.from_pretrained(autoencoder), data, model.config.bimanual)
    return text_use(model, model.normalize(grid)[:n], list(texts[:n]), **kwargs)

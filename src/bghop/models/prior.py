"""The BG-HOP prior: a text-conditioned DDPM over the (normalised) interaction grid.

Grid normalisation (so every channel is roughly zero-mean, unit-range for the diffusion):

* object block: autoencoder latent ``z`` → ``(z − latent_shift) · latent_scale`` (the two numbers
  are measured on the training set when training starts and stored in the config, like the
  latent scale factor of latent diffusion);
* hand blocks: skeletal field ``f ∈ [0, clamp]`` → ``2 f / clamp − 1 ∈ [−1, 1]``.

Diffusion: DDPM, 1000 steps, linear β from 1e-4 to 0.02, ε-prediction (Ho et al. 2020; the
G-HOP/BG-HOP setting). Schedulers come from ``diffusers`` (they act on any tensor shape); the
network is never held by a scheduler. Sampling uses DDIM (respaced) steps and classifier-free
guidance ``ε = ε_u + s (ε_c − ε_u)`` with the empty prompt as the unconditional input.

Single-hand → bimanual (the paper's answer to scarce bimanual data): :func:`widen_to_bimanual`
turns a single-hand prior (23 channels) into a bimanual one (43) by widening only the UNet's
first and last convolutions, copying the right-hand weights into the new left-hand channels.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, replace

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from bghop.core.config import config_from_dict
from bghop.fields.encode import GridSettings
from bghop.fields.layout import ChannelLayout, InteractionGrid
from bghop.models.checkpoint import (
    CheckpointError,
    default_model_dir,
    load_model_folder,
    read_model_config,
    save_model_folder,
)
from bghop.models.text import (
    DEFAULT_TEXT_ENCODER,
    TextEmbedding,
    TextEncoder,
    load_text_encoder,
)
from bghop.models.unet import UNet3D, UNetConfig

__all__ = ["DiffusionConfig", "PriorConfig", "InteractionPrior", "widen_to_bimanual", "make_scheduler", "io_parameters"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DiffusionConfig:
    """The noise schedule (upstream: DDPM, 1000 steps, linear β 1e-4 → 0.02, ε-prediction)."""

    num_train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    beta_schedule: str = "linear"
    prediction_type: str = "epsilon"


def make_scheduler(cfg: DiffusionConfig, kind: str = "ddpm"):
    """A ``diffusers`` scheduler for the schedule: ``"ddpm"`` (training/noising, ancestral sampling) or ``"ddim"``."""
    from diffusers import DDIMScheduler, DDPMScheduler

    common = dict(num_train_timesteps=cfg.num_train_timesteps, beta_start=cfg.beta_start, beta_end=cfg.beta_end,
                  beta_schedule=cfg.beta_schedule, prediction_type=cfg.prediction_type, clip_sample=False)
    if kind == "ddpm":
        return DDPMScheduler(**common)
    if kind == "ddim":
        return DDIMScheduler(**common, set_alpha_to_one=True)
    raise ValueError(f"unknown scheduler {kind!r} (ddpm or ddim)")


@dataclass(frozen=True)
class PriorConfig:
    """Everything that rebuilds a prior.

    Attributes:
        bimanual: 43-channel (two hands) or 23-channel (right hand only) layout.
        object_channels: autoencoder latent channels.
        unet: UNet architecture (its ``in_channels`` must match the layout).
        diffusion: noise schedule.
        text_encoder: encoder name or folder (:mod:`bghop.models.text`); ``context_dim`` must match.
        latent_shift: subtracted from the object latent.
        latent_scale: multiplies the shifted latent (≈ 1 / std on the training set).
        cfg_dropout: probability of training on the empty prompt (0.2 upstream).
        grid: the grid settings the prior was trained on (frame scale/offset/extent, resolutions, field clamp).
        hand_kind: hand model whose keypoints made the fields ("open" or "mano").
        loss_shares: the share of the training loss each channel block carries (object, right[, left]),
            spread evenly over its channels; None weighs every channel alike (the object's 3 latent
            channels then carry 3/43 of the bimanual loss). Validation losses are always unweighted.
        vocabulary: the object names of the prompts the prior was trained on, sorted
            (:func:`bghop.core.prompts.training_vocabulary`); None for models saved before it was
            recorded. Generation and grasp synthesis say when a prompt is outside it.
    """

    bimanual: bool = True
    object_channels: int = 3
    unet: UNetConfig = UNetConfig()
    diffusion: DiffusionConfig = DiffusionConfig()
    text_encoder: str = DEFAULT_TEXT_ENCODER
    latent_shift: float = 0.0
    latent_scale: float = 1.0
    cfg_dropout: float = 0.2
    grid: dict = field(default_factory=lambda: GridSettings().to_dict())
    hand_kind: str = "open"
    loss_shares: tuple[float, ...] | None = None
    vocabulary: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.vocabulary is not None:
            object.__setattr__(self, "vocabulary", tuple(sorted({str(v) for v in self.vocabulary})))
        # canonical JSON form (tuples -> lists), so a config equals itself after a save/load round trip
        object.__setattr__(self, "grid", json.loads(json.dumps(GridSettings.from_dict(self.grid).to_dict())))
        if self.loss_shares is not None:
            shares = tuple(float(x) for x in self.loss_shares)
            blocks = 3 if self.bimanual else 2
            if len(shares) != blocks or not all(x > 0 for x in shares):
                raise ValueError(f"loss_shares needs {blocks} positive numbers (object, right"
                                 f"{', left' if self.bimanual else ''}), got {list(self.loss_shares)}")
            object.__setattr__(self, "loss_shares", tuple(x / sum(shares) for x in shares))

    @property
    def layout(self) -> ChannelLayout:
        return ChannelLayout(object_channels=self.object_channels, bimanual=self.bimanual)

    @property
    def grid_settings(self) -> GridSettings:
        return GridSettings.from_dict(self.grid)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PriorConfig":
        cfg = config_from_dict(cls, d, "prior config", nested={
            "unet": UNetConfig.from_dict,
            "diffusion": lambda x: config_from_dict(DiffusionConfig, x, "diffusion config")})
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.unet.in_channels != self.layout.num_channels:
            raise ValueError(f"UNet in_channels {self.unet.in_channels} does not match the "
                             f"{'bimanual' if self.bimanual else 'single-hand'} layout "
                             f"({self.layout.num_channels} channels)")


class InteractionPrior(nn.Module):
    """ε-prediction prior over interaction grids (see module docstring).

    The text encoder is frozen, shared and never part of the state dict: it is loaded by name
    (:attr:`PriorConfig.text_encoder`) on first use, or given as ``text_encoder``.
    """

    def __init__(self, config: PriorConfig = PriorConfig(), text_encoder: TextEncoder | None = None) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.unet = UNet3D(config.unet)
        # not a submodule: frozen, shared and never saved in a checkpoint
        object.__setattr__(self, "_text_encoder", text_encoder)
        sched = make_scheduler(config.diffusion, "ddpm")
        # non-persistent: derived from the config, never saved
        self.register_buffer("alphas_cumprod", sched.alphas_cumprod.clone().float(), persistent=False)

    # -- pieces --------------------------------------------------------------------------------
    @property
    def layout(self) -> ChannelLayout:
        return self.config.layout

    @property
    def text_encoder(self) -> TextEncoder:
        if self._text_encoder is None:
            object.__setattr__(self, "_text_encoder", load_text_encoder(self.config.text_encoder))
        if self._text_encoder.dim != self.config.unet.context_dim:
            raise ValueError(f"text encoder {self._text_encoder.name!r} gives {self._text_encoder.dim}-d tokens, "
                             f"the UNet expects {self.config.unet.context_dim}")
        return self._text_encoder

    @property
    def device(self) -> torch.device:
        return self.unet.conv_in.weight.device

    def encode_text(self, texts: list[str]) -> TextEmbedding:
        """Prompts → :class:`TextEmbedding` on the model's device."""
        return self.text_encoder.encode(list(texts), self.device)

    # -- normalisation -------------------------------------------------------------------------
    def _clamp(self) -> float:
        return float(self.config.grid["field"]["clamp"])

    def normalize(self, grid: InteractionGrid) -> Tensor:
        """Latent + fields (:class:`InteractionGrid`, physical units) → network space ``(B, C, r, r, r)``."""
        c = self._clamp()
        parts = InteractionGrid(
            object=(grid.object - self.config.latent_shift) * self.config.latent_scale,
            right=grid.right * (2.0 / c) - 1.0,
            left=None if grid.left is None else grid.left * (2.0 / c) - 1.0,
        )
        if self.config.bimanual and parts.left is None:
            raise ValueError("a bimanual prior needs the left-hand field")
        if not self.config.bimanual:
            parts.left = None
        return self.layout.join(parts)

    def denormalize(self, x: Tensor) -> InteractionGrid:
        """Inverse of :meth:`normalize`: ``(B, C, r, r, r)`` → :class:`InteractionGrid` (fields clamped to ``[0, clamp]``)."""
        c = self._clamp()
        g = self.layout.split(x)
        return InteractionGrid(
            object=g.object / self.config.latent_scale + self.config.latent_shift,
            right=((g.right + 1.0) * (c / 2.0)).clamp(0.0, c),
            left=None if g.left is None else ((g.left + 1.0) * (c / 2.0)).clamp(0.0, c),
        )

    # -- the network ---------------------------------------------------------------------------
    def forward(self, x_t: Tensor, t: Tensor, text: TextEmbedding) -> Tensor:
        """Predict ε: ``x_t (B, C, r, r, r)``, ``t (B,)`` → ``(B, C, r, r, r)``."""
        return self.unet(x_t, t, text.tokens, text.mask, text.pooled)

    def guided_eps(self, x_t: Tensor, t: Tensor, cond: TextEmbedding, uncond: TextEmbedding,
                   guidance: float) -> Tensor:
        """Classifier-free guided ε (one batched pass for both branches when ``guidance != 1``)."""
        if guidance == 1.0:
            return self(x_t, t, cond)
        both = TextEmbedding.cat([cond, uncond])
        eps = self(torch.cat([x_t, x_t]), torch.cat([t, t]), both)
        e_c, e_u = eps.chunk(2)
        return e_u + guidance * (e_c - e_u)

    def add_noise(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """``x_t = √ᾱ_t x0 + √(1−ᾱ_t) ε`` for ``t (B,)`` long."""
        a = self.alphas_cumprod.to(x0.device)[t].view(-1, *([1] * (x0.dim() - 1)))
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def channel_weights(self) -> Tensor | None:
        """``(C,)`` per-channel loss weights summing to 1 from ``config.loss_shares``, or None (uniform)."""
        if self.config.loss_shares is None:
            return None
        w = torch.zeros(self.layout.num_channels)
        for (name, size), share in zip(self.layout.blocks, self.config.loss_shares):
            w[self.layout.slice(name)] = share / size
        return w

    def training_loss(self, x0: Tensor, texts: list[str], generator: torch.Generator | None = None,
                      cfg_dropout: float | None = None, weighted: bool = True) -> Tensor:
        """ε-prediction MSE with classifier-free-guidance dropout of the text.

        Args:
            x0: ``(B, C, r, r, r)`` normalised grids.
            texts: ``B`` prompts; each is replaced by ``""`` with probability ``cfg_dropout``.
            generator: CPU generator for the dropout, timesteps and noise (fixed for validation).
            cfg_dropout: overrides the config's dropout (0 for validation).
            weighted: weigh the channel blocks by ``config.loss_shares`` (validation: False).
        """
        b = x0.shape[0]
        dev = x0.device
        p_drop = self.config.cfg_dropout if cfg_dropout is None else cfg_dropout
        drop = torch.rand(b, generator=generator, device="cpu") < p_drop
        texts = ["" if d else t for t, d in zip(texts, drop.tolist())]
        t = torch.randint(0, self.config.diffusion.num_train_timesteps, (b,), generator=generator, device="cpu").to(dev)
        noise = torch.randn(x0.shape, generator=generator, device="cpu").to(dev, x0.dtype)
        eps = self(self.add_noise(x0, noise, t), t, self.encode_text(texts))
        err = (eps.float() - noise.float()).pow(2)
        w = self.channel_weights() if weighted else None
        if w is None:
            return err.mean()
        return (err.mean(dim=(0, 2, 3, 4)) * w.to(err.device)).sum()

    @torch.no_grad()
    def sample(self, texts: list[str], steps: int = 50, guidance: float = 4.0, generator: torch.Generator | None = None,
               sampler: str = "ddim", progress: bool = True, resolution: int | None = None,
               known: Tensor | None = None, known_blocks: tuple[str, ...] = ("object",), resample: int = 1,
               known_guidance: float = 0.0) -> Tensor:
        """Draw grids with classifier-free guidance, optionally with some channel blocks held to given values.

        Args:
            texts: ``B`` prompts.
            steps: respaced sampling steps.
            guidance: CFG scale (1 = no guidance).
            generator: CPU generator for reproducible noise (the start noise and, for ``"ddpm"``,
                each step's noise are drawn from it on the CPU and moved to the model's device, so a
                seed gives the same noise on every device).
            sampler: ``"ddim"`` (deterministic given the start noise) or ``"ddpm"``.
            progress: show a progress bar.
            resolution: grid points per axis (default: the prior's field resolution).
            known: ``(B, C, r, r, r)`` (or ``(1, C, r, r, r)``) network-space grid whose ``known_blocks``
                are given (e.g. an object's normalised latent): before every step those channels are
                replaced by the given values noised to the step's level, ``√ᾱ_t x0 + √(1−ᾱ_t) ε`` with
                fresh noise (replacement conditioning, as RePaint without resampling), and at the end
                by the values themselves; the other channels are sampled conditioned on them.
            known_blocks: the layout blocks ``known`` gives (``"object"``, ``"right"``, ``"left"``).
            resample: with ``known``, each step is taken this many times; between takes the sample is
                noised back to the step's level (``x_t = √(ᾱ_t/ᾱ_prev) x_prev + √(1 − ᾱ_t/ᾱ_prev) ε``), so the
                free channels harmonise with the held ones (RePaint's resampling, jumps of one step).
                Replacement alone lets the free channels settle before the held ones, which carry
                little signal at high noise, can steer them.
            known_guidance: with ``known``, reconstruction guidance (Ho et al. 2022, video diffusion):
                the free channels' x0-prediction moves by ``−w √ᾱ_t / 2 · ∇ |x0_known − x̂0_known(x_t)|²``,
                so a free block that disagrees with the held one is pulled towards what the held block
                implies (one backward pass through the network per step).
        Returns:
            ``(B, C, r, r, r)`` in network space, on the model's device; :meth:`denormalize` gives
            latent + fields.
        """
        dev = self.device
        r = resolution or int(self.config.grid["field"]["resolution"])
        b = len(texts)
        sched = make_scheduler(self.config.diffusion, sampler)
        sched.set_timesteps(steps)
        cond = self.encode_text(list(texts))
        uncond = self.encode_text([""] * b)
        shape = (b, self.layout.num_channels, r, r, r)
        x = torch.randn(shape, generator=generator).to(dev)
        held = None
        if known is not None:
            if known.shape[1:] != shape[1:] or known.shape[0] not in (1, b):
                raise ValueError(f"known grid of shape {tuple(known.shape)} does not match samples of shape {shape}")
            held = torch.zeros(self.layout.num_channels, dtype=torch.bool)
            for name in known_blocks:
                held[self.layout.slice(name)] = True
            held = held.to(dev)
            known = known.to(dev, x.dtype).expand(shape)
        # The scheduler's update stays on ``dev``: its coefficients are 0-d CPU tensors, which combine with
        # tensors on any device, and diffusers' ``randn_tensor`` draws the DDPM step noise from a CPU
        # generator on the CPU before moving it to ``dev``. On the CPU this is exactly the former
        # ``sched.step(eps.cpu(), t, x.cpu())`` (same operations, same noise).
        kw = {"generator": generator} if sampler == "ddpm" else {}
        ts = [int(t) for t in sched.timesteps]
        takes = max(1, int(resample)) if held is not None else 1
        abar = self.alphas_cumprod.to(dev)
        for i, t in enumerate(tqdm(ts, desc="sampling", disable=not progress, leave=False)):
            tt = torch.full((b,), t, device=dev, dtype=torch.long)
            for take in range(takes):
                if held is not None:
                    noisy = self.add_noise(known, torch.randn(shape, generator=generator).to(dev), tt)
                    x = torch.where(held[None, :, None, None, None], noisy, x)
                if held is not None and known_guidance > 0:
                    eps = self._reconstruction_guided_eps(x, tt, cond, uncond, guidance, known, held, known_guidance)
                else:
                    eps = self.guided_eps(x, tt, cond, uncond, guidance)
                x_prev = sched.step(eps, t, x, **kw).prev_sample
                if take + 1 < takes:  # back to level t: x_t ~ q(x_t | x_prev)
                    a_prev = abar[ts[i + 1]] if i + 1 < len(ts) else torch.ones((), device=dev)
                    ratio = abar[t] / a_prev
                    x = ratio.sqrt() * x_prev + (1 - ratio).sqrt() * torch.randn(shape, generator=generator).to(dev)
                else:
                    x = x_prev
        if held is not None:
            x = torch.where(held[None, :, None, None, None], known, x)
        return x

    def _reconstruction_guided_eps(self, x: Tensor, t: Tensor, cond: TextEmbedding, uncond: TextEmbedding,
                                   guidance: float, known: Tensor, held: Tensor, weight: float) -> Tensor:
        """ε whose free channels' x0-prediction is corrected towards the held channels' values (see :meth:`sample`)."""
        a = self.alphas_cumprod.to(x.device)[t].view(-1, 1, 1, 1, 1)
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            eps = self.guided_eps(x_in, t, cond, uncond, guidance)
            x0 = (x_in - (1 - a).sqrt() * eps) / a.sqrt()
            mask = held[None, :, None, None, None]
            err = ((known - x0) ** 2 * mask).sum()
            (grad,) = torch.autograd.grad(err, x_in)
        x0 = x0.detach() - (weight * a.sqrt() / 2) * grad * (~mask)
        return ((x - a.sqrt() * x0) / (1 - a).sqrt()).detach()

    # -- persistence ---------------------------------------------------------------------------
    def save_pretrained(self, folder: str | os.PathLike, extra: dict | None = None):
        """Write ``config.json`` + ``model.safetensors`` (UNet weights only) to ``folder`` atomically."""
        return save_model_folder(self, "prior", self.config.to_dict(), folder, extra)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike | None = None, device: torch.device | str = "cpu",
                        text_encoder: TextEncoder | None = None) -> "InteractionPrior":
        """Load a prior folder; with no argument, the default bimanual prior shipped in the package."""
        folder = default_model_dir("prior") if folder is None else folder
        meta = read_model_config(folder, "prior")
        try:
            cfg = PriorConfig.from_dict(meta["config"])
        except (TypeError, ValueError, KeyError) as e:
            raise CheckpointError(f"bad prior config in {folder}: {e}") from e
        model = cls(cfg, text_encoder=text_encoder)
        load_model_folder(model, folder)
        return model.to(device).eval()


def widen_to_bimanual(single: InteractionPrior, input_init: str = "zero", input_skip: bool = True) -> InteractionPrior:
    """A bimanual prior initialised from a single-hand one (the BG-HOP extension step).

    Only the UNet's first and last convolutions (and the input skip) change shape (23 → 43 channels). Object and
    right-hand weights are copied; the new left-hand channels get:

    * output conv: a copy of the right-hand output weights and biases (the left field starts as a
      prediction of the same kind as the right one);
    * input conv: zeros (``input_init="zero"``, default: the widened model's object and right-hand
      predictions equal the single-hand model's exactly, whatever the left channels hold, and
      training grows the dependence) or a copy of the right-hand input weights
      (``input_init="copy"``: identical predictions only when the left channels are zero).

    ``input_skip`` (:class:`~bghop.models.unet.UNetConfig`): the widened model gets the per-channel
    input skip. The single-hand model's skip rows are copied (left ← right, as for the output conv);
    a single-hand model without one gets a zero skip. The widened model then still reproduces the
    single-hand prediction exactly. Without the skip, 43 channels pass through 32 first-level
    features (see :mod:`bghop.models.unet`).

    Returns a new model (the input is unchanged).
    Raises:
        ValueError: not a single-hand prior, bad ``input_init``, or ``input_skip=False`` for a model
            that has one (its skip could not be kept).
    """
    if single.config.bimanual:
        raise ValueError("widen_to_bimanual needs a single-hand prior (23 channels)")
    if input_init not in ("zero", "copy"):
        raise ValueError(f"input_init must be 'zero' or 'copy', got {input_init!r}")
    if single.config.unet.input_skip and not input_skip:
        raise ValueError("this single-hand prior has an input skip; widen it with input_skip=True")
    new_layout = ChannelLayout(single.config.object_channels, bimanual=True)
    shares = single.config.loss_shares
    cfg = replace(single.config, bimanual=True, unet=replace(single.config.unet, in_channels=new_layout.num_channels,
                                                              input_skip=input_skip),
                  loss_shares=None if shares is None else (shares[0], shares[1], shares[1]))  # left as right
    wide = InteractionPrior(cfg, text_encoder=single._text_encoder).to(single.device)
    src = single.unet.state_dict()
    dst = wide.unet.state_dict()
    for k, v in src.items():
        if dst[k].shape == v.shape:
            dst[k] = v.clone()
    old = single.layout
    keep = [old.slice("object"), old.slice("right")]
    right, left = new_layout.slice("right"), new_layout.slice("left")
    w_in = torch.zeros_like(dst["conv_in.weight"])
    for s in keep:
        w_in[:, s] = src["conv_in.weight"][:, s]
    if input_init == "copy":
        w_in[:, left] = src["conv_in.weight"][:, old.slice("right")]
    dst["conv_in.weight"] = w_in
    # output rows per channel: object and right copied, left <- right
    rows = [(old.slice("object"), new_layout.slice("object")), (old.slice("right"), right), (old.slice("right"), left)]

    def copy_rows(names: tuple[str, ...], offsets: tuple[tuple[int, int], ...]) -> None:
        for name in names:
            w = dst[name].clone()
            for o_old, o_new in offsets:
                for s_old, s_new in rows:
                    w[o_new + s_new.start:o_new + s_new.stop] = src[name][o_old + s_old.start:o_old + s_old.stop]
            dst[name] = w

    copy_rows(("conv_out.weight", "conv_out.bias"), ((0, 0),))
    if single.config.unet.input_skip:  # rows: gains of channels [0, C), then offsets [C, 2C)
        copy_rows(("skip_gain.weight", "skip_gain.bias"), ((0, 0), (old.num_channels, new_layout.num_channels)))
    wide.unet.load_state_dict(dst)
    return wide


def io_parameters(prior: InteractionPrior) -> list[nn.Parameter]:
    """The parameters :func:`widen_to_bimanual` changed (first and last convolutions, input skip), for
    freeze-the-rest fine-tuning."""
    params = [prior.unet.conv_in.weight, prior.unet.conv_in.bias, prior.unet.conv_out.weight, prior.unet.conv_out.bias]
    if prior.config.unet.input_skip:
        params += [prior.unet.skip_gain.weight, prior.unet.skip_gain.bias]
    return params



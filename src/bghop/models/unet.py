"""Text-conditioned 3D UNet over the interaction grid: ``(B, C, 16, 16, 16)`` → ε of the same shape.

Standard DDPM UNet layout in 3D (Ho et al. 2020; Rombach et al. 2022 for cross-attention):
residual blocks with a timestep embedding (sinusoidal → MLP) that also carries the pooled
text feature, down/up sampling by 2, skip connections, and transformer blocks (self-attention
over voxels + cross-attention to the text tokens) at the coarser resolutions only (8³ and 4³
for a 16³ grid) where attention is cheap. The output convolution is zero-initialised.

The first and last convolutions and the input skip are the only layers whose shape depends on the
channel layout (23 single-hand, 43 bimanual); :func:`bghop.models.prior.widen_to_bimanual` relies on it.

Input skip (``UNetConfig.input_skip``): the output adds ``a(emb) ⊙ x + b(emb)``, a per-channel gain
and offset of the noisy input predicted from the timestep/text embedding (a linear layer, zero at
start). With it the network can pass all input channels through at full rank. Without it, every
channel has to squeeze through the ``base_channels`` features of the first level. Measured here
(bghop default width 32, 43 bimanual channels): the bimanual prior's ε-MSE stayed at ~0.25–0.42
per hand even at t = 950 (where ε ≈ x_t). That floor matches the 11/43 of the noise that 32
features cannot carry. The single-hand prior (23 < 32 channels) had a much lower floor (0.06). This is the
linear part of the ideal denoiser (per-channel Wiener gain), as in EDM's skip preconditioning
(Karras et al. 2022), but learned.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bghop.core.config import config_from_dict

__all__ = ["UNetConfig", "UNet3D", "timestep_embedding"]


@dataclass(frozen=True)
class UNetConfig:
    """UNet architecture.

    Attributes:
        in_channels: grid channels (43 bimanual, 23 single-hand).
        base_channels: channels at full resolution.
        channel_mult: channel multiplier per level (one level per entry; each but the last halves the grid).
        num_res_blocks: residual blocks per level on the way down (one more on the way up).
        attention_levels: level indices with transformer blocks (0 = full resolution).
        heads: attention heads.
        context_dim: text token width (384 for MiniLM).
        dropout: dropout inside residual blocks.
        input_skip: add the per-channel input skip (module docstring). Configs saved before it
            existed load with False.
    """

    in_channels: int = 43
    base_channels: int = 32
    channel_mult: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    attention_levels: tuple[int, ...] = (1, 2)
    heads: int = 4
    context_dim: int = 384
    dropout: float = 0.0
    input_skip: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        return config_from_dict(cls, {"input_skip": False, **d}, "UNet config")


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of (float) timesteps ``(B,)`` → ``(B, dim)``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(c, 8), c)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float) -> None:
        super().__init__()
        self.in_layers = nn.Sequential(_norm(c_in), nn.SiLU(), nn.Conv3d(c_in, c_out, 3, padding=1))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, 2 * c_out))
        self.out_norm = _norm(c_out)
        self.out_layers = nn.Sequential(nn.SiLU(), nn.Dropout(dropout), nn.Conv3d(c_out, c_out, 3, padding=1))
        nn.init.zeros_(self.out_layers[-1].weight)
        nn.init.zeros_(self.out_layers[-1].bias)
        self.skip = nn.Identity() if c_in == c_out else nn.Conv3d(c_in, c_out, 1)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.in_layers(x)
        scale, shift = self.emb(emb)[:, :, None, None, None].chunk(2, dim=1)  # FiLM
        h = self.out_norm(h) * (1 + scale) + shift
        return self.skip(x) + self.out_layers(h)


class TransformerBlock(nn.Module):
    """Self-attention over voxels, cross-attention to text tokens, feed-forward (pre-norm)."""

    def __init__(self, c: int, context_dim: int, heads: int) -> None:
        super().__init__()
        self.norm_in = _norm(c)
        self.proj_in = nn.Linear(c, c)
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(c), nn.LayerNorm(c), nn.LayerNorm(c)
        self.self_attn = nn.MultiheadAttention(c, heads, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(c, heads, kdim=context_dim, vdim=context_dim, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(c, 4 * c), nn.GELU(), nn.Linear(4 * c, c))
        self.proj_out = nn.Linear(c, c)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: Tensor, context: Tensor, context_mask: Tensor) -> Tensor:
        b, c, *spatial = x.shape
        h = self.proj_in(self.norm_in(x).flatten(2).transpose(1, 2))  # (B, N, C)
        q = self.ln1(h)
        h = h + self.self_attn(q, q, q, need_weights=False)[0]
        h = h + self.cross_attn(self.ln2(h), context, context, key_padding_mask=~context_mask,
                                need_weights=False)[0]
        h = h + self.ff(self.ln3(h))
        h = self.proj_out(h)
        return x + h.transpose(1, 2).reshape(b, c, *spatial)


class UNet3D(nn.Module):
    """ε-prediction network (see module docstring).

    Forward:
        x: ``(B, C, R, R, R)`` noisy grid (R divisible by ``2**(levels-1)``).
        t: ``(B,)`` timesteps (int or float).
        context: ``(B, L, context_dim)`` text tokens; context_mask ``(B, L)`` bool (True = token);
        pooled: ``(B, context_dim)`` pooled text feature.
    Returns ``(B, C, R, R, R)``.
    """

    def __init__(self, config: UNetConfig = UNetConfig()) -> None:
        super().__init__()
        self.config = config
        ch = config.base_channels
        emb_dim = 4 * ch
        self.time_embed = nn.Sequential(nn.Linear(ch, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.text_embed = nn.Sequential(nn.Linear(config.context_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.conv_in = nn.Conv3d(config.in_channels, ch, 3, padding=1)

        levels = len(config.channel_mult)
        self.down = nn.ModuleList()
        skips = [ch]
        c = ch
        for lvl, mult in enumerate(config.channel_mult):
            for _ in range(config.num_res_blocks):
                block = nn.ModuleList([ResBlock(c, ch * mult, emb_dim, config.dropout)])
                c = ch * mult
                if lvl in config.attention_levels:
                    block.append(TransformerBlock(c, config.context_dim, config.heads))
                self.down.append(block)
                skips.append(c)
            if lvl < levels - 1:
                self.down.append(nn.ModuleList([nn.Conv3d(c, c, 3, stride=2, padding=1)]))
                skips.append(c)
        self.mid = nn.ModuleList([ResBlock(c, c, emb_dim, config.dropout),
                                  TransformerBlock(c, config.context_dim, config.heads),
                                  ResBlock(c, c, emb_dim, config.dropout)])
        self.up = nn.ModuleList()
        for lvl in reversed(range(levels)):
            mult = config.channel_mult[lvl]
            for i in range(config.num_res_blocks + 1):
                block = nn.ModuleList([ResBlock(c + skips.pop(), ch * mult, emb_dim, config.dropout)])
                c = ch * mult
                if lvl in config.attention_levels:
                    block.append(TransformerBlock(c, config.context_dim, config.heads))
                if lvl > 0 and i == config.num_res_blocks:
                    block.append(nn.Upsample(scale_factor=2, mode="nearest"))
                    block.append(nn.Conv3d(c, c, 3, padding=1))
                self.up.append(block)
        self.out = nn.Sequential(_norm(c), nn.SiLU())
        self.conv_out = nn.Conv3d(c, config.in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)
        if config.input_skip:
            # rows [0, C): gain a, rows [C, 2C): offset b, per input channel
            self.skip_gain = nn.Linear(emb_dim, 2 * config.in_channels)
            nn.init.zeros_(self.skip_gain.weight)
            nn.init.zeros_(self.skip_gain.bias)

    def forward(self, x: Tensor, t: Tensor, context: Tensor, context_mask: Tensor, pooled: Tensor) -> Tensor:
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        emb = self.time_embed(timestep_embedding(t, self.config.base_channels)) + self.text_embed(pooled)
        h = self.conv_in(x)
        hs = [h]
        for block in self.down:
            for layer in block:
                h = self._run(layer, h, emb, context, context_mask)
            hs.append(h)
        for layer in self.mid:
            h = self._run(layer, h, emb, context, context_mask)
        for block in self.up:
            h = torch.cat([h, hs.pop()], dim=1)
            for layer in block:
                h = self._run(layer, h, emb, context, context_mask)
        out = self.conv_out(self.out(h))
        if self.config.input_skip:
            a, b = self.skip_gain(emb)[:, :, None, None, None].chunk(2, dim=1)
            out = out + a * x + b
        return out

    @staticmethod
    def _run(layer: nn.Module, h: Tensor, emb: Tensor, context: Tensor, mask: Tensor) -> Tensor:
        if isinstance(layer, ResBlock):
            return layer(h, emb)
        if isinstance(layer, TransformerBlock):
            return layer(h, context, mask)
        return layer(h)

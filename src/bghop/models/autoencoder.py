"""Object autoencoder: truncated SDF ``(B, 1, 64, 64, 64)`` ↔ latent ``(B, 3, 16, 16, 16)``.

KL-regularised (a diagonal-Gaussian posterior with a tiny KL weight, as in latent diffusion)
rather than VQ: with a few thousand training objects a codebook is easy to under-use
(collapse), while a continuous latent trains stably from scratch and gives the diffusion prior
and SDS a smooth space. The encoder's mean is the latent used by the prior.

Input convention (upstream G-HOP/SDFusion): the SDF in normalised-frame units truncated to
``±truncation`` and divided by it, so values lie in [−1, 1] (−1 deep inside, +1 far outside).
The network is deliberately light at 64³ (one 8-channel convolution each way) and does its
work at 32³ and 16³, so it trains on a 2-core CPU.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from bghop.core.config import config_from_dict
from bghop.models.checkpoint import (
    CheckpointError,
    default_model_dir,
    load_model_folder,
    read_model_config,
    save_model_folder,
)

__all__ = ["AutoencoderConfig", "ObjectAutoencoder", "LatentDistribution", "sdf_iou"]


@dataclass(frozen=True)
class AutoencoderConfig:
    """Architecture and data convention of the object autoencoder.

    Attributes:
        resolution: SDF grid points per axis (64).
        latent_channels: latent channels (3, as upstream).
        channels: feature channels at 64³, 32³, 16³.
        blocks: residual blocks at 32³ and 16³ (each side).
        truncation: SDF truncation in normalised-frame units (0.2 = 4 cm at scale 5).
        kl_weight: weight of the KL term in training.
    """

    resolution: int = 64
    latent_channels: int = 3
    channels: tuple[int, int, int] = (8, 32, 64)
    blocks: int = 1
    truncation: float = 0.2
    kl_weight: float = 1e-6

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AutoencoderConfig":
        return config_from_dict(cls, d, "autoencoder config")


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, c), c)


class _Res(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_norm(c), nn.SiLU(), nn.Conv3d(c, c, 3, padding=1),
                                  _norm(c), nn.SiLU(), nn.Conv3d(c, c, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


@dataclass
class LatentDistribution:
    """Diagonal Gaussian posterior ``q(z | sdf)``.

    Attributes:
        mean: ``(B, C, r, r, r)``.
        logvar: ``(B, C, r, r, r)``, clamped to [−30, 20].
    """

    mean: Tensor
    logvar: Tensor

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + torch.exp(0.5 * self.logvar) * noise

    def kl(self) -> Tensor:
        """KL to N(0, I), ``(B,)`` summed over latent elements."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar).flatten(1).sum(1)


class ObjectAutoencoder(nn.Module):
    """Truncated-SDF autoencoder (see module docstring)."""

    def __init__(self, config: AutoencoderConfig = AutoencoderConfig()) -> None:
        super().__init__()
        self.config = config
        c0, c1, c2 = config.channels
        z = config.latent_channels
        self.encoder = nn.Sequential(
            nn.Conv3d(1, c0, 3, padding=1), nn.SiLU(),
            nn.Conv3d(c0, c1, 4, stride=2, padding=1),  # 64 -> 32
            *[_Res(c1) for _ in range(config.blocks)],
            nn.Conv3d(c1, c2, 4, stride=2, padding=1),  # 32 -> 16
            *[_Res(c2) for _ in range(config.blocks)],
            _norm(c2), nn.SiLU(), nn.Conv3d(c2, 2 * z, 3, padding=1),
        )
        self.decoder = nn.Sequential(
            nn.Conv3d(z, c2, 3, padding=1),
            *[_Res(c2) for _ in range(config.blocks)],
            _norm(c2), nn.SiLU(), nn.ConvTranspose3d(c2, c1, 4, stride=2, padding=1),  # 16 -> 32
            *[_Res(c1) for _ in range(config.blocks)],
            _norm(c1), nn.SiLU(), nn.ConvTranspose3d(c1, c0, 4, stride=2, padding=1),  # 32 -> 64
            nn.SiLU(), nn.Conv3d(c0, 1, 3, padding=1),
        )

    @property
    def latent_resolution(self) -> int:
        return self.config.resolution // 4

    def normalize_sdf(self, sdf: Tensor) -> Tensor:
        """SDF in n-units → network input in [−1, 1] (truncate, divide)."""
        t = self.config.truncation
        return sdf.clamp(-t, t) / t

    def encode(self, sdf: Tensor) -> LatentDistribution:
        """``(B, 1, R, R, R)`` SDF in n-units (truncated or not) → posterior over ``(B, C, R/4, R/4, R/4)``."""
        if sdf.dim() != 5 or sdf.shape[1] != 1 or tuple(sdf.shape[2:]) != (self.config.resolution,) * 3:
            raise ValueError(f"expected an SDF of shape (B, 1, {self.config.resolution}, …), got {tuple(sdf.shape)}")
        h = self.encoder(self.normalize_sdf(sdf))
        mean, logvar = h.chunk(2, dim=1)
        return LatentDistribution(mean, logvar.clamp(-30.0, 20.0))

    def decode(self, z: Tensor) -> Tensor:
        """``(B, C, r, r, r)`` latent → ``(B, 1, 4r, 4r, 4r)`` SDF in n-units, within ±truncation."""
        return torch.tanh(self.decoder(z)) * self.config.truncation

    def forward(self, sdf: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, LatentDistribution]:
        """Reconstruct: returns ``(sdf_hat (B, 1, R, R, R), posterior)``."""
        post = self.encode(sdf)
        z = post.sample(generator) if self.training else post.mean
        return self.decode(z), post

    def loss(self, sdf: Tensor) -> dict[str, Tensor]:
        """Training loss: L1 on the normalised truncated SDF (surface band weighted ×4) + KL."""
        rec, post = self(sdf)
        target = self.normalize_sdf(sdf)
        pred = rec / self.config.truncation
        weight = 1.0 + 3.0 * (target.abs() < 0.5).float()
        l1 = (weight * (pred - target).abs()).mean()
        kl = post.kl().mean()
        return {"loss": l1 + self.config.kl_weight * kl, "l1": l1, "kl": kl}

    # -- persistence ---------------------------------------------------------------------------
    def save_pretrained(self, folder: str | os.PathLike, extra: dict | None = None):
        """Write ``config.json`` + ``model.safetensors`` to ``folder`` (atomic)."""
        return save_model_folder(self, "autoencoder", self.config.to_dict(), folder, extra)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike | None = None,
                        device: torch.device | str = "cpu") -> "ObjectAutoencoder":
        """Load a model folder; with no argument, the default model shipped in the package."""
        folder = default_model_dir("autoencoder") if folder is None else folder
        meta = read_model_config(folder, "autoencoder")
        try:
            cfg = AutoencoderConfig.from_dict(meta["config"])
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"bad autoencoder config in {folder}: {e}") from e
        model = cls(cfg)
        load_model_folder(model, folder)
        return model.to(device).eval()


def sdf_iou(a: Tensor, b: Tensor) -> Tensor:
    """Volumetric IoU of the insides (SDF < 0) of two ``(B, 1, R, R, R)`` grids, ``(B,)``."""
    ia, ib = a < 0, b < 0
    inter = (ia & ib).flatten(1).sum(1).float()
    union = (ia | ib).flatten(1).sum(1).float().clamp_min(1)
    return inter / union


"""Lightning modules: the object autoencoder and the interaction prior, with EMA weights.

EMA uses ``torch.optim.swa_utils.AveragedModel`` (exponential moving average of the trained
network, updated after every optimiser step); validation, sample renders and the exported
model use the EMA weights.
"""

from __future__ import annotations

import contextlib
import logging

import lightning as L
import torch
from torch.optim.swa_utils import AveragedModel

from bghop.models.autoencoder import AutoencoderConfig, ObjectAutoencoder, sdf_iou
from bghop.models.prior import InteractionPrior, PriorConfig, io_parameters

__all__ = ["AutoencoderModule", "PriorModule", "swap_unet", "random_cube_symmetry", "fixed_noise_loss"]

logger = logging.getLogger(__name__)


def _ema(module: torch.nn.Module, decay: float) -> AveragedModel:
    """EMA copy with the usual warm-up ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so short runs
    are not dominated by the initial weights."""

    def avg_fn(avg: torch.Tensor, cur: torch.Tensor, num_averaged: torch.Tensor) -> torch.Tensor:
        n = float(num_averaged)
        d = min(decay, (1.0 + n) / (10.0 + n))
        return avg * d + cur * (1.0 - d)

    ema = AveragedModel(module, avg_fn=avg_fn, use_buffers=True)
    ema.requires_grad_(False)
    return ema


def _schedule(step: int, warmup: int) -> float:
    return min(1.0, (step + 1) / max(1, warmup))


def random_cube_symmetry(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply one random symmetry of the cube (axis permutation + flips, 48 in all) to ``(B, C, R, R, R)`` grids.

    An SDF stays an exact SDF under these maps (they are isometries of the grid), so this
    multiplies the object shapes the autoencoder sees by up to 48 at no cost.
    """
    perm = torch.randperm(3, generator=generator).tolist()
    flips = [d + 2 for d in range(3) if torch.rand(1, generator=generator).item() < 0.5]
    x = x.permute(0, 1, *(p + 2 for p in perm))
    return x.flip(flips) if flips else x


class AutoencoderModule(L.LightningModule):
    """Trains :class:`ObjectAutoencoder` on ``batch["object_sdf"] (B, 1, 64, 64, 64)`` (n-units).

    ``augment``: apply a random cube symmetry to each training batch (:func:`random_cube_symmetry`).
    """

    def __init__(self, config: dict, lr: float = 2e-4, ema_decay: float = 0.999, warmup: int = 100,
                 augment: bool = True) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = ObjectAutoencoder(AutoencoderConfig.from_dict(config))
        self.ema = _ema(self.model, ema_decay)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        sdf = batch["object_sdf"]
        if self.hparams.augment:
            sdf = random_cube_symmetry(sdf)
        out = self.model.loss(sdf)
        self.log_dict({"train/loss": out["loss"], "train/l1": out["l1"], "train/kl": out["kl"]}, prog_bar=True,
                      batch_size=batch["object_sdf"].shape[0])
        return out["loss"]

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self.ema.update_parameters(self.model)

    @torch.no_grad()
    def validation_step(self, batch: dict, batch_idx: int) -> None:
        sdf = batch["object_sdf"]
        net: ObjectAutoencoder = self.ema.module
        rec = net.decode(net.encode(sdf).mean)
        l1 = (rec / net.config.truncation - net.normalize_sdf(sdf)).abs().mean()
        iou = sdf_iou(rec, sdf).mean()
        self.log_dict({"val/l1": l1, "val/iou": iou}, prog_bar=True, batch_size=sdf.shape[0], sync_dist=True)

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.hparams.lr, weight_decay=0.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _schedule(s, self.hparams.warmup))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def ema_model(self) -> ObjectAutoencoder:
        """The EMA autoencoder (what gets exported)."""
        return self.ema.module


@contextlib.contextmanager
def swap_unet(prior: InteractionPrior, unet: torch.nn.Module):
    """Temporarily run ``prior`` with another UNet (the EMA copy)."""
    old = prior.unet
    prior.unet = unet
    try:
        yield prior
    finally:
        prior.unet = old


@torch.no_grad()
def fixed_noise_loss(prior: InteractionPrior, x0: torch.Tensor, texts: list[str], batch_idx: int) -> torch.Tensor:
    """Validation ε-MSE of one batch with noise and timesteps fixed by ``batch_idx`` (no CFG dropout),
    so that losses compare across runs and models.

    Args:
        prior: the prior to score (its current UNet).
        x0: normalised grids ``(B, C, 16, 16, 16)``.
        texts: ``B`` prompts.
        batch_idx: position of the batch in the (unshuffled) validation loader.
    Returns:
        scalar loss tensor.
    """
    g = torch.Generator().manual_seed(1000 + batch_idx)
    return prior.training_loss(x0, texts, generator=g, cfg_dropout=0.0, weighted=False)


class PriorModule(L.LightningModule):
    """Trains :class:`InteractionPrior` on ``batch["x0"] (B, C, 16, 16, 16)`` (normalised grids) and ``batch["text"]``.

    Args:
        config: :class:`PriorConfig` as a dict.
        lr: AdamW learning rate.
        ema_decay: EMA decay per step.
        warmup: linear learning-rate warm-up steps.
        trainable: ``"all"`` or ``"io"`` (only the first/last convolutions and the input skip — the layers that
            :func:`~bghop.models.prior.widen_to_bimanual` changed).
        init_state: UNet state dict to start from (e.g. a widened single-hand prior).
    """

    def __init__(self, config: dict, lr: float = 2e-4, ema_decay: float = 0.999, warmup: int = 100,
                 trainable: str = "all", init_state: dict | None = None) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["init_state"])
        self.prior = InteractionPrior(PriorConfig.from_dict(config))
        if init_state is not None:
            self.prior.unet.load_state_dict(init_state)
        if trainable == "io":
            self.prior.requires_grad_(False)
            for p in io_parameters(self.prior):
                p.requires_grad_(True)
        elif trainable != "all":
            raise ValueError(f"trainable must be 'all' or 'io', got {trainable!r}")
        self.ema = _ema(self.prior.unet, ema_decay)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.prior.training_loss(batch["x0"], batch["text"])
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["x0"].shape[0])
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self.ema.update_parameters(self.prior.unet)

    @torch.no_grad()
    def validation_step(self, batch: dict, batch_idx: int) -> None:
        with swap_unet(self.prior, self.ema.module):
            loss = fixed_noise_loss(self.prior, batch["x0"], batch["text"], batch_idx)
        self.log("val/loss", loss, prog_bar=True, batch_size=batch["x0"].shape[0], sync_dist=True)

    def configure_optimizers(self):
        params = [p for p in self.prior.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.hparams.lr, weight_decay=0.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _schedule(s, self.hparams.warmup))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def ema_prior(self) -> InteractionPrior:
        """A prior holding the EMA weights (what gets exported)."""
        out = InteractionPrior(self.prior.config, text_encoder=self.prior._text_encoder)
        out.unet.load_state_dict(self.ema.module.state_dict())
        return out.eval()


"""Periodic sample renders during prior training (``OUT/samples/step_XXXXXX.png``)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from bghop.fields.encode import decode_grid
from bghop.models.autoencoder import ObjectAutoencoder
from bghop.models.decode import samples_to_grids
from bghop.train.modules import PriorModule, swap_unet
from bghop.viz.render import contact_sheet
from bghop.viz.results import ResultSample, write_result_folder

__all__ = ["SampleRenders"]

logger = logging.getLogger(__name__)


class SampleRenders(Callback):
    """Every ``every`` steps, sample one grid per prompt with the EMA weights and render it.

    Args:
        out: folder for the renders.
        autoencoder: the autoencoder folder (decodes the object).
        texts: prompts.
        every: steps between renders.
        steps: DDIM steps (few: these are progress pictures, not results).
        guidance: CFG scale.
    """

    def __init__(self, out: str | os.PathLike, autoencoder: str | os.PathLike, texts: list[str], every: int = 500,
                 steps: int = 20, guidance: float = 4.0) -> None:
        self.out, self.ae_path, self.texts = Path(out), autoencoder, texts
        self.every, self.steps, self.guidance = every, steps, guidance
        self._ae: ObjectAutoencoder | None = None

    def on_train_batch_end(self, trainer, pl_module: PriorModule, outputs, batch, batch_idx: int) -> None:
        step = trainer.global_step
        if not trainer.is_global_zero or step == 0 or step % self.every != 0 or not self.texts:
            return
        try:
            self.render(pl_module, step)
        except Exception as e:  # a failed picture must never stop training
            logger.warning("sample render at step %d failed: %s", step, e)

    @torch.no_grad()
    def render(self, module: PriorModule, step: int) -> Path | None:
        if self._ae is None:
            self._ae = ObjectAutoencoder.from_pretrained(self.ae_path, device=module.device)
        prior = module.prior
        was_training = prior.training
        prior.eval()
        try:
            with swap_unet(prior, module.ema.module):
                x = prior.sample(self.texts, steps=self.steps, guidance=self.guidance,
                                 generator=torch.Generator().manual_seed(0), progress=False)
        finally:
            prior.train(was_training)
        folder = self.out / f"step_{step:06d}"
        renders, labels = [], []
        for i, grid in enumerate(samples_to_grids(prior, self._ae, x)):
            try:
                dec = decode_grid(grid)
            except Exception as e:
                logger.info("sample %d at step %d could not be decoded: %s", i, step, e)
                continue
            f = write_result_folder(folder / str(i), ResultSample(dec.object_mesh, dec.hands, title=self.texts[i]))
            renders.append(f / "render.png")
            labels.append(self.texts[i])
        if not renders:
            return None
        return contact_sheet(renders, self.out / f"step_{step:06d}.png", cols=1, labels=labels)

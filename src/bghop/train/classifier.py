"""Training of the object-category classifier (:class:`bghop.models.classifier.CategoryClassifier`).

:func:`fit_classifier` trains the network on pooled, truncated grids (outputs of
:meth:`~bghop.models.classifier.CategoryClassifier.preprocess`) under random rigid augmentation:
an object's orientation in the interaction grid is arbitrary (generated objects sit in the right
hand's frame), so every training grid gets a uniformly random rotation and a small shift
(:func:`random_rigid_augment`, trilinear resampling by :func:`rigid_resample`). The script
``scripts/train_category_classifier.py`` builds the data set and writes the shipped model.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as nnf
from torch import Tensor
from tqdm.auto import tqdm

from bghop.core.rotations import rot6d_to_matrix
from bghop.models.classifier import CategoryClassifier

logger = logging.getLogger(__name__)

__all__ = [
    "ClassifierFitConfig",
    "FitResult",
    "fit_classifier",
    "random_rigid_augment",
    "rigid_resample",
]


# ----------------------------------------------------------------------------------------------
# augmentation


def rigid_resample(x: Tensor, R: Tensor, t: Tensor | None = None) -> Tensor:
    """Resample grids under a rigid motion about the grid centre (trilinear, border padding).

    The output at normalised point ``p`` (grid-frame ``(x, y, z)`` scaled to [-1, 1]) is the input at
    ``Rᵀ (p − t)``, i.e. the content is rotated by ``R`` and then moved by ``t``. Points that fall
    outside take the border value (``padding_mode="border"``): "outside" for a truncated SDF of an
    object that does not touch the border. Rotations by multiples of 90° are exact.

    Args:
        x: ``(B, C, r, r, r)`` grids indexed ``[b, c, i, j, k] ↔ (x_i, y_j, z_k)``.
        R: ``(B, 3, 3)`` rotations.
        t: ``(B, 3)`` shifts in normalised units (1 = half the side), or None.
    Returns:
        ``(B, C, r, r, r)``, same dtype and device as ``x``.
    """
    if x.dim() != 5:
        raise ValueError(f"expected (B, C, r, r, r) grids, got {tuple(x.shape)}")
    b = x.shape[0]
    R = R.to(torch.float64).cpu()
    t = torch.zeros(b, 3, dtype=torch.float64) if t is None else t.to(torch.float64).cpu()
    if R.shape != (b, 3, 3) or t.shape != (b, 3):
        raise ValueError(f"R must be ({b}, 3, 3) and t ({b}, 3), got {tuple(R.shape)} and {tuple(t.shape)}")
    Rt = R.transpose(1, 2)
    # grid_sample's coordinates are (k, j, i) = (z, y, x): conjugate by the axis reversal P
    P = torch.tensor([[0.0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=torch.float64)
    theta = torch.cat([P @ Rt @ P, -(P @ Rt @ t[..., None])], dim=2).to(x.device, x.dtype)
    grid = nnf.affine_grid(theta, list(x.shape), align_corners=True)
    return nnf.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


def random_rigid_augment(x: Tensor, generator: torch.Generator | None = None, max_shift: float = 0.0,
                         rotate: bool = True) -> Tensor:
    """A uniformly random rotation about the grid centre and a random shift per grid (:func:`rigid_resample`).

    Args:
        x: ``(B, C, r, r, r)`` grids (truncated SDFs: +1 outside).
        generator: torch generator (CPU) for reproducible draws.
        max_shift: largest shift per axis as a fraction of the half-extent (0.1 = 5 % of the side).
        rotate: draw a rotation (uniform on SO(3): Gram–Schmidt of a Gaussian 6D vector); False = shifts only.
    Returns:
        ``(B, C, r, r, r)``, the same shape, dtype and device.
    """
    if x.dim() != 5:
        raise ValueError(f"expected (B, C, r, r, r) grids, got {tuple(x.shape)}")
    b = x.shape[0]
    if rotate:
        R = rot6d_to_matrix(torch.randn(b, 6, generator=generator, dtype=torch.float64))
    else:
        R = torch.eye(3, dtype=torch.float64).expand(b, 3, 3)
    t = (torch.rand(b, 3, generator=generator, dtype=torch.float64) * 2 - 1) * max_shift
    return rigid_resample(x, R, t)


# ----------------------------------------------------------------------------------------------
# training


@dataclass(frozen=True)
class ClassifierFitConfig:
    """Training settings of :func:`fit_classifier` (named apart from :class:`bghop.fields.fit.FitConfig`).

    Attributes:
        steps: optimiser steps.
        batch_size: grids per step.
        lr: AdamW learning rate (cosine decay to 5 % after a 5 % warm-up).
        weight_decay: AdamW weight decay.
        label_smoothing: cross-entropy label smoothing.
        rotate: random rotations (uniform on SO(3)) of every training grid.
        max_shift: random shifts, fraction of the half-extent (see :func:`random_rigid_augment`).
        seed: seed of the batches, augmentations and dropout.
        max_seconds: stop early after this much wall time (None: no limit).
    """

    steps: int = 1500
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    rotate: bool = True
    max_shift: float = 0.15
    seed: int = 0
    max_seconds: float | None = None


@dataclass
class FitResult:
    """What :func:`fit_classifier` did.

    Attributes:
        steps: steps taken (fewer than asked when ``max_seconds`` ran out).
        seconds: wall time.
        losses: training loss per step.
        train_accuracy: accuracy on the (augmented) training batches of the last 10 % of the steps.
    """

    steps: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    train_accuracy: float = math.nan


def fit_classifier(model: CategoryClassifier, inputs: Tensor, labels: Tensor,
                   config: ClassifierFitConfig = ClassifierFitConfig(), progress: bool = True) -> FitResult:
    """Train ``model`` on pooled, truncated grids with random rigid augmentation.

    Args:
        model: the classifier (trained in place, left in eval mode).
        inputs: ``(N, 1, r, r, r)`` outputs of :meth:`CategoryClassifier.preprocess` (CPU is fine).
        labels: ``(N,)`` long indices into ``model.categories``.
        config: training settings.
        progress: tqdm progress bar.
    Returns:
        :class:`FitResult`.
    """
    r = model.pooled_resolution
    if inputs.dim() != 5 or tuple(inputs.shape[1:]) != (1, r, r, r):
        raise ValueError(f"inputs must be preprocessed grids (N, 1, {r}, {r}, {r}), got {tuple(inputs.shape)}")
    if labels.shape != (inputs.shape[0],):
        raise ValueError(f"labels must be ({inputs.shape[0]},), got {tuple(labels.shape)}")
    if labels.min() < 0 or labels.max() >= len(model.categories):
        raise ValueError("labels out of range of the model's categories")
    dev = next(model.parameters()).device
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    warm = max(1, config.steps // 20)

    def lr_at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        f = (step - warm) / max(1, config.steps - warm)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * f))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model.train()
    t0 = time.perf_counter()
    losses: list[float] = []
    hits: list[float] = []
    tail = max(1, config.steps // 10)
    n = inputs.shape[0]
    step = 0
    for step in tqdm(range(config.steps), desc="training classifier", disable=not progress, leave=False):
        idx = torch.randint(0, n, (min(config.batch_size, n),), generator=gen)
        x = inputs[idx].to(dev)
        y = labels[idx].to(dev)
        if config.rotate or config.max_shift > 0:
            x = random_rigid_augment(x, gen, max_shift=config.max_shift, rotate=config.rotate)
        logits = model.classify(x)
        loss = nnf.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step >= config.steps - tail:
            hits.append(float((logits.argmax(1) == y).float().mean()))
        if config.max_seconds is not None and time.perf_counter() - t0 > config.max_seconds:
            logger.warning("stopping after %d of %d steps: %.0f s time limit", step + 1, config.steps,
                           config.max_seconds)
            break
    model.eval()
    return FitResult(steps=step + 1 if config.steps else 0, seconds=time.perf_counter() - t0, losses=losses,
                     train_accuracy=float(np.mean(hits)) if hits else math.nan)

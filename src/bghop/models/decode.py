"""Sampled grids → :class:`~bghop.fields.encode.EncodedGrid` (object SDF decoded by the autoencoder).

The object frame of a generated sample is the grid's normalised frame expressed in metres
(``nTo`` = uniform scale ``s``; the right hand's frame, or the object's own axes when the prior's grid
is anchored to the object): the object is centred where the grid is, and
:func:`bghop.fields.encode.decode_grid` turns the result into a mesh and both hands' parameters.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from bghop.fields.encode import EncodedGrid
from bghop.models.autoencoder import ObjectAutoencoder
from bghop.models.prior import InteractionPrior

__all__ = ["samples_to_grids"]


@torch.no_grad()
def samples_to_grids(prior: InteractionPrior, autoencoder: ObjectAutoencoder, x: Tensor) -> list[EncodedGrid]:
    """Network-space samples ``(B, C, r, r, r)`` → one :class:`EncodedGrid` per sample (CPU, numpy)."""
    parts = prior.denormalize(x)
    sdf = autoencoder.decode(parts.object.to(next(autoencoder.parameters()).device))[:, 0]
    settings = prior.config.grid_settings
    s = settings.field.frame.scale
    nTo = np.diag([s, s, s, 1.0])
    out = []
    for i in range(x.shape[0]):
        out.append(EncodedGrid(
            object_sdf=sdf[i].float().cpu().numpy(),
            right_field=parts.right[i].float().cpu().numpy(),
            left_field=None if parts.left is None else parts.left[i].float().cpu().numpy(),
            nTo=nTo.copy(), settings=settings, hand_kind=prior.config.hand_kind))
    return out

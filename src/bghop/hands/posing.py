"""Posing hands for meshes, checks and pictures: one function, on the layers' device.

:class:`HandLayers` builds hand layers by (kind, side) on first use, on one device, and keeps them
(eval, the viewer, scorers and writers all pose many grasps of one or two kinds);
:func:`pose_hands` poses one grasp of a :class:`~bghop.hands.params.Hands` batch with them and
returns plain arrays (:class:`PosedHand`), crossing to the CPU once; :func:`pose_hand` does it for
one hand and its layer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
import trimesh

from bghop.hands.base import HandModel
from bghop.hands.params import HandParams, Hands

logger = logging.getLogger(__name__)

__all__ = ["HandLayers", "PosedHand", "pose_hand", "pose_hands"]


class HandLayers:
    """Hand layers by ``(kind, side)``, built on first use and kept.

    Args:
        mano_dir: folder of the MANO files for ``kind="mano"`` (``$BGHOP_MANO_DIR`` if None).
        device: where the layers live (inputs are moved there when posing).
        layers: layers that exist already, by side (their own kind), reused instead of new ones.
    """

    def __init__(self, mano_dir: str | os.PathLike | None = None, device: torch.device | str = "cpu",
                 layers: Mapping[str, HandModel] | None = None) -> None:
        self.mano_dir = mano_dir
        self.device = torch.device(device)
        self._cache: dict[tuple[str, str], HandModel] = {}
        for side, layer in (layers or {}).items():
            self._cache[(layer.kind, side)] = layer

    def get(self, kind: str, side: str) -> HandModel:
        """The layer of ``kind`` and ``side`` (built on first use).

        Raises:
            whatever :func:`bghop.hands.load_hand` raises (unknown kind, missing MANO files).
        """
        key = (kind, side)
        if key not in self._cache:
            from bghop.hands import load_hand

            self._cache[key] = load_hand(kind, side=side, model_dir=self.mano_dir).to(self.device)
        return self._cache[key]

    def for_hands(self, hands: Hands) -> dict[str, HandModel]:
        """``{side: layer}`` for the hands present."""
        return {s: self.get(hands.kind, s) for s in hands.sides}


@dataclass
class PosedHand:
    """One posed hand as arrays (CPU, float64; frame and metres of its parameters).

    Attributes:
        side: ``"right"`` or ``"left"``.
        vertices: ``(V, 3)``.
        joints: ``(21, 3)`` keypoints.
        faces: ``(F, 3)`` int64.
        weights: ``(V, K)`` skinning weights (for per-bone physics pieces), or None.
    """

    side: str
    vertices: np.ndarray
    joints: np.ndarray
    faces: np.ndarray
    weights: np.ndarray | None = None

    @property
    def mesh(self) -> trimesh.Trimesh:
        """The hand as a mesh (not processed: vertex order kept)."""
        return trimesh.Trimesh(self.vertices, self.faces, process=False)


def pose_hand(layer: HandModel, params: HandParams, i: int = 0) -> PosedHand:
    """Pose grasp ``i`` of one hand's parameters with its layer, on the layer's device.

    Args:
        layer: the hand layer (its side is the posed hand's).
        params: the hand's parameters (any device and float dtype), batch ``B > i``.
        i: which element of the batch.
    Returns:
        :class:`PosedHand` (CPU arrays).
    """
    ref = layer.faces.device
    w = getattr(layer, "weights", None)
    dtype = w.dtype if w is not None else torch.get_default_dtype()
    with torch.no_grad():
        o = layer(*(t[i:i + 1].to(ref, dtype) for t in (params.pose, params.global_orient, params.transl,
                                                         params.betas)))
    return PosedHand(side=layer.side, vertices=o.vertices[0].double().cpu().numpy(),
                     joints=o.joints[0].double().cpu().numpy(), faces=layer.faces.cpu().numpy(),
                     weights=None if w is None else w.detach().cpu().numpy())


def pose_hands(hands: Hands, layers: HandLayers | Mapping[str, HandModel], i: int = 0,
               sides: Iterable[str] | None = None) -> dict[str, PosedHand]:
    """Pose grasp ``i`` of ``hands`` (:func:`pose_hand` per side).

    Args:
        hands: the hands (any device and float dtype).
        layers: a :class:`HandLayers`, or layers by side (of ``hands.kind``).
        i: which grasp of the batch.
        sides: only these hands (default: every hand present).
    Returns:
        ``{side: PosedHand}``.
    """
    sides = hands.sides if sides is None else tuple(sides)
    get = (lambda s: layers.get(hands.kind, s)) if isinstance(layers, HandLayers) else layers.__getitem__
    return {s: pose_hand(get(s), hands[s], i) for s in sides}

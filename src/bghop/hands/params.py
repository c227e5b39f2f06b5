"""Hand parameters as data: a dataclass and the ``hands.json`` file (DESIGN.md §4).

``hands.json`` holds, per present hand, ``{"pose": [45], "global_orient": [3], "transl": [3],
"betas": [10], "kind": "open"|"mano", "side": "right"|"left"}`` under the keys ``"right"`` and
``"left"`` (the left one may be absent: single-hand). Values are in the file's frame, metres.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from bghop.core.io import write_json_atomic
from bghop.hands.base import NUM_BETAS

__all__ = ["HandParams", "HandsFileError", "load_hands_json", "save_hands_json", "HAND_PARAM_SIZES"]

#: required keys of one hand's entry and their lengths
HAND_PARAM_SIZES = {"pose": 45, "global_orient": 3, "transl": 3, "betas": NUM_BETAS}


class HandsFileError(ValueError):
    """A hands.json that cannot be used; the message says what to fix."""


@dataclass
class HandParams:
    """One hand's parameters in some frame (metres).

    Attributes:
        pose: ``(B, 45)``.
        global_orient: ``(B, 3)``.
        transl: ``(B, 3)``.
        betas: ``(B, 10)``.
    """

    pose: Tensor
    global_orient: Tensor
    transl: Tensor
    betas: Tensor

    def detach(self) -> "HandParams":
        return HandParams(*(t.detach() for t in (self.pose, self.global_orient, self.transl, self.betas)))

    def to(self, *args, **kwargs) -> "HandParams":
        return HandParams(*(t.to(*args, **kwargs) for t in (self.pose, self.global_orient, self.transl, self.betas)))

    def index(self, i: int) -> "HandParams":
        """The ``i``-th sample as a batch of one."""
        return HandParams(*(t[i : i + 1] for t in (self.pose, self.global_orient, self.transl, self.betas)))

    @property
    def batch_size(self) -> int:
        return self.pose.shape[0]

    def to_json_dict(self, kind: str, side: str, i: int = 0) -> dict:
        """Sample ``i`` as a ``hands.json`` entry."""
        d = {k: [float(x) for x in getattr(self, k)[i].detach().cpu().tolist()] for k in HAND_PARAM_SIZES}
        d.update(kind=kind, side=side)
        return d

    @classmethod
    def from_json_dict(cls, d: dict, dtype: torch.dtype = torch.float32) -> "HandParams":
        return cls(*(torch.tensor([d[k]], dtype=dtype) for k in HAND_PARAM_SIZES))


def load_hands_json(path: str | os.PathLike) -> dict[str, tuple[HandParams, str]]:
    """Read ``hands.json``.

    Returns:
        ``{"right": (HandParams (batch 1), kind), "left": ...}`` for the hands present.
    Raises:
        HandsFileError: missing file, bad JSON, no right hand, missing keys, wrong lengths,
            non-finite numbers, unknown side/kind.
    """
    path = Path(path)
    if not path.is_file():
        raise HandsFileError(f"hands file {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HandsFileError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(data, dict) or "right" not in data:
        raise HandsFileError(f"{path} must be an object with a 'right' entry (and optionally 'left'); "
                             f"found keys {sorted(data) if isinstance(data, dict) else type(data).__name__}")
    out: dict[str, tuple[HandParams, str]] = {}
    for side in ("right", "left"):
        if side not in data:
            continue
        entry = data[side]
        if not isinstance(entry, dict):
            raise HandsFileError(f"{path}: '{side}' must be an object")
        missing = [k for k in HAND_PARAM_SIZES if k not in entry]
        if missing:
            raise HandsFileError(f"{path}: '{side}' hand is missing {missing} "
                                 f"(needs {', '.join(f'{k} ({n} numbers)' for k, n in HAND_PARAM_SIZES.items())})")
        for k, n in HAND_PARAM_SIZES.items():
            v = entry[k]
            if not isinstance(v, list) or len(v) != n:
                got = len(v) if isinstance(v, list) else type(v).__name__
                raise HandsFileError(f"{path}: '{side}.{k}' must be a list of {n} numbers, got {got}")
            if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in v):
                raise HandsFileError(f"{path}: '{side}.{k}' must hold finite numbers")
        if entry.get("side", side) != side:
            raise HandsFileError(f"{path}: entry '{side}' says side={entry.get('side')!r}")
        kind = entry.get("kind", "open")
        if kind not in ("open", "mano"):
            raise HandsFileError(f"{path}: '{side}.kind' must be 'open' or 'mano', got {kind!r}")
        out[side] = (HandParams.from_json_dict(entry), kind)
    return out


def save_hands_json(path: str | os.PathLike, hands: dict[str, tuple[HandParams, str]], i: int = 0,
                    extra: dict | None = None) -> Path:
    """Write ``hands.json`` atomically for sample ``i`` of each hand's batch."""
    path = Path(path)
    data = {side: p.to_json_dict(kind, side, i) for side, (p, kind) in hands.items()}
    if extra:
        data.update(extra)
    return write_json_atomic(path, data)

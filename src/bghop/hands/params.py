"""Hand parameters as data: :class:`HandParams` (one hand), :class:`Hands` (the hands of a grasp) and
the ``hands.json`` file (DESIGN.md §4).

``hands.json`` holds, per present hand, ``{"pose": [45], "global_orient": [3], "transl": [3],
"betas": [10], "kind": "open"|"mano", "side": "right"|"left"}`` under the keys ``"right"`` and
``"left"`` (the left one may be absent: single-hand). Values are in the file's frame, metres.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from bghop.core.io import write_json_atomic
from bghop.hands.base import NUM_BETAS

__all__ = ["HandParams", "Hands", "HandsFileError", "load_hands_json", "save_hands_json", "HAND_PARAM_SIZES",
           "SIDES"]

#: required keys of one hand's entry and their lengths
HAND_PARAM_SIZES = {"pose": 45, "global_orient": 3, "transl": 3, "betas": NUM_BETAS}
#: the sides, in the order every file and loop uses
SIDES = ("right", "left")


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


@dataclass
class Hands:
    """The hands of a batch of grasps: the right hand, optionally the left, one hand kind.

    Replaces the ``{"right": (HandParams, kind), ...}`` dicts of earlier versions. Read access is
    by side (``hands["right"]``, ``"left" in hands``, ``hands.items()``); :meth:`index`, :meth:`to`
    and :meth:`detach` act on both hands at once.

    Attributes:
        kind: ``"open"`` or ``"mano"`` (both hands are of one kind).
        right: the right hand, ``(B, …)``.
        left: the left hand (same ``B``), or None for a single-hand grasp.
    """

    kind: str
    right: HandParams
    left: HandParams | None = None

    def __post_init__(self) -> None:
        if self.left is not None and self.left.batch_size != self.right.batch_size:
            raise ValueError(f"the hands have different batch sizes ({self.right.batch_size} right, "
                             f"{self.left.batch_size} left)")

    @classmethod
    def from_params(cls, params: Mapping[str, HandParams], kind: str) -> "Hands":
        """From ``{"right": HandParams, "left": HandParams}`` (left optional)."""
        if "right" not in params:
            raise ValueError("a right hand is required")
        unknown = set(params) - set(SIDES)
        if unknown:
            raise ValueError(f"unknown side(s) {sorted(unknown)}; use 'right' and 'left'")
        return cls(kind, params["right"], params.get("left"))

    @classmethod
    def coerce(cls, hands: "Hands | Mapping[str, tuple[HandParams, str]]") -> "Hands":
        """``hands`` itself, or a :class:`Hands` from the ``{side: (HandParams, kind)}`` dict of earlier
        versions (deprecated: a :class:`DeprecationWarning` says so; it goes in the next release)."""
        if isinstance(hands, Hands):
            return hands
        warnings.warn("hands as {side: (HandParams, kind)} dicts are deprecated; pass a bghop.hands.Hands",
                      DeprecationWarning, stacklevel=3)
        kinds = {k for _, k in hands.values()}
        if len(kinds) != 1:
            raise ValueError(f"both hands must be of the same kind, got {sorted(kinds)}")
        return cls.from_params({s: p for s, (p, _) in hands.items()}, kinds.pop())

    @property
    def sides(self) -> tuple[str, ...]:
        """``("right", "left")`` or ``("right",)``."""
        return SIDES if self.left is not None else SIDES[:1]

    @property
    def bimanual(self) -> bool:
        return self.left is not None

    @property
    def batch_size(self) -> int:
        return self.right.batch_size

    @property
    def params(self) -> dict[str, HandParams]:
        """``{side: HandParams}`` for the present hands."""
        return {s: self[s] for s in self.sides}

    def __getitem__(self, side: str) -> HandParams:
        p = self.right if side == "right" else self.left if side == "left" else None
        if p is None:
            raise KeyError(side)
        return p

    def __contains__(self, side: object) -> bool:
        return side in self.sides

    def __iter__(self) -> Iterator[str]:
        return iter(self.sides)

    def __len__(self) -> int:
        return len(self.sides)

    def items(self) -> list[tuple[str, HandParams]]:
        return [(s, self[s]) for s in self.sides]

    def _map(self, f) -> "Hands":
        return Hands(self.kind, f(self.right), None if self.left is None else f(self.left))

    def index(self, i: int) -> "Hands":
        """Grasp ``i`` as a batch of one."""
        return self._map(lambda p: p.index(i))

    def to(self, *args, **kwargs) -> "Hands":
        return self._map(lambda p: p.to(*args, **kwargs))

    def detach(self) -> "Hands":
        return self._map(lambda p: p.detach())

    def to_json_dict(self, i: int = 0) -> dict:
        """Grasp ``i`` as the content of ``hands.json``."""
        return {s: p.to_json_dict(self.kind, s, i) for s, p in self.items()}


def load_hands_json(path: str | os.PathLike) -> Hands:
    """Read ``hands.json``.

    Returns:
        :class:`Hands` (batch 1) with the hands present.
    Raises:
        HandsFileError: missing file, bad JSON, no right hand, missing keys, wrong lengths,
            non-finite numbers, unknown side/kind, hands of two kinds.
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
    out: dict[str, HandParams] = {}
    kinds: set[str] = set()
    for side in SIDES:
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
        out[side] = HandParams.from_json_dict(entry)
        kinds.add(kind)
    if len(kinds) != 1:
        raise HandsFileError(f"{path}: both hands must be of the same kind, got {sorted(kinds)}")
    return Hands.from_params(out, kinds.pop())


def save_hands_json(path: str | os.PathLike, hands: Hands, i: int = 0, extra: dict | None = None) -> Path:
    """Write ``hands.json`` atomically for sample ``i`` of each hand's batch."""
    path = Path(path)
    data = Hands.coerce(hands).to_json_dict(i)
    if extra:
        data.update(extra)
    return write_json_atomic(path, data)

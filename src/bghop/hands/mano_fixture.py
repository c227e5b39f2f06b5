"""Synthetic MANO model files in the official on-disk format, for tests and benchmarks.

They contain **no licensed data**: the geometry is sampled from the built-in open hand and the
blend shapes are random. What matches the official files is the *format*: a latin-1 Python
pickle of a dict with MANO's keys and shapes, ``shapedirs`` stored as a ``chumpy.ch.Ch`` object
(array in its ``x`` state), ``J_regressor`` as a ``scipy.sparse.csc_matrix``, ``kintree_table``
with the root's parent as 2³²−1 — and, as in the real MANO_LEFT.pkl, the left file's
``shapedirs`` carries the right hand's sign on x.
"""

from __future__ import annotations

import os
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from bghop.hands.base import PARENTS

__all__ = ["write_synthetic_mano", "synthetic_mano_arrays"]


def synthetic_mano_arrays(side: str = "right", seed: int = 0) -> dict[str, np.ndarray]:
    """MANO-shaped arrays (plain numpy, ``J_regressor`` sparse) for one side."""
    from bghop.hands.open_hand import _load_asset

    rng = np.random.default_rng(seed)
    d = _load_asset()
    pick = np.sort(rng.choice(len(d["v_template"]), 778, replace=False))
    # keep the open hand's fingertip vertices at smplx's tip ids so keypoints are meaningful
    v = d["v_template"][pick].astype(np.float64)
    W = d["weights"][pick].astype(np.float64)
    tips = d["v_template"][d["tip_ids"]].astype(np.float64)
    tip_w = d["weights"][d["tip_ids"]].astype(np.float64)
    for tid, tv, tw in zip((744, 320, 443, 554, 671), tips, tip_w):
        v[tid], W[tid] = tv, tw
    W = W / W.sum(1, keepdims=True)
    # faces: each vertex with two of its nearest neighbours (valid indices, local triangles)
    d2 = ((v[:, None] - v[None]) ** 2).sum(-1)
    nn = np.argsort(d2, axis=1)[:, 1:4]
    a = rng.integers(0, 778, 1538)
    f = np.stack([a, nn[a, 0], nn[a, 1 + rng.integers(0, 2, 1538)]], axis=1).astype(np.uint32)
    # J_regressor: each joint the mean of the 8 vertices closest to the open hand's joint
    rows, cols, vals = [], [], []
    for j, pj in enumerate(d["joints"].astype(np.float64)):
        near = np.argsort(((v - pj) ** 2).sum(1))[:8]
        w = rng.uniform(0.5, 1.5, 8)
        rows += [j] * 8
        cols += near.tolist()
        vals += (w / w.sum()).tolist()
    Jreg = sp.csc_matrix((vals, (rows, cols)), shape=(16, 778))
    posedirs = rng.normal(0, 2e-3, (778, 3, 135))
    shapedirs = rng.normal(0, 3e-3, (778, 3, 10))
    comps = np.linalg.qr(rng.normal(size=(45, 45)))[0]
    hands_mean = rng.normal(0, 0.15, 45)
    kintree = np.array([[2**32 - 1] + list(PARENTS[1:]), list(range(16))], dtype=np.int64)
    if side == "left":
        m = np.array([-1.0, 1.0, 1.0])
        v = v * m
        f = f[:, ::-1].copy()
        # pose blend shapes of a mirrored hand: feature (i, j) of R − I picks up m_i m_j, offsets m_d
        mij = np.tile((m[:, None] * m[None, :]).reshape(9), 15)
        posedirs = posedirs * m[None, :, None] * mij[None, None, :]
        pm = np.tile([1.0, -1.0, -1.0], 15)
        comps = comps * pm[None, :]
        hands_mean = hands_mean * pm
        # NOT mirrored: MANO_LEFT.pkl's known shapedirs sign bug on x
    return {
        "v_template": v,
        "f": f,
        "J_regressor": Jreg,
        "weights": W,
        "kintree_table": kintree,
        "posedirs": posedirs,
        "shapedirs": shapedirs,
        "hands_components": comps,
        "hands_mean": hands_mean,
        "hands_coeffs": rng.normal(size=(1554, 45)),
        "J": (Jreg @ v),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


def _with_fake_chumpy(fn):
    """Run ``fn(Ch)`` with a throw-away ``chumpy.ch.Ch`` class importable, then remove it."""
    ch_mod = types.ModuleType("chumpy.ch")
    pkg = types.ModuleType("chumpy")

    class Ch:  # pickled by reference as chumpy.ch.Ch
        def __init__(self, x):
            self.x = x
            self._dirty_vars = set()
            self._itr = None

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    ch_mod.Ch = Ch
    pkg.ch = ch_mod
    saved = {k: sys.modules.get(k) for k in ("chumpy", "chumpy.ch")}
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = pkg, ch_mod
    try:
        return fn(Ch)
    finally:
        for k, old in saved.items():
            if old is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = old


def write_synthetic_mano(model_dir: str | os.PathLike, side: str = "right", seed: int = 0, fmt: str = "pkl") -> Path:
    """Write ``MANO_RIGHT.pkl``/``MANO_LEFT.pkl`` (or ``.npz``) into ``model_dir``.

    Args:
        model_dir: output folder (created).
        side: ``"right"`` or ``"left"``.
        seed: random seed of the synthetic blend shapes.
        fmt: ``"pkl"`` (official format, chumpy objects) or ``"npz"`` (plain arrays).
    Returns:
        the written path.
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    arrays = synthetic_mano_arrays(side, seed)
    path = model_dir / f"MANO_{side.upper()}.{fmt}"
    if fmt == "npz":
        plain = {k: (v.toarray() if sp.issparse(v) else np.asarray(v)) for k, v in arrays.items()
                 if not isinstance(v, str)}
        np.savez(path, **plain)
        return path
    if fmt != "pkl":
        raise ValueError(f"fmt must be 'pkl' or 'npz', got {fmt!r}")

    def dump(Ch):
        data = dict(arrays)
        data["shapedirs"] = Ch(arrays["shapedirs"])
        with open(path, "wb") as fh:
            pickle.dump(data, fh, protocol=2)

    _with_fake_chumpy(dump)
    return path

"""Synthetic MANO model files in the official on-disk format, for tests and benchmarks.

A test helper, not part of the installed package: tests import it as ``from mano_fixture import ...``
(pytest puts ``tests/`` on ``sys.path``); ``scripts/bench_hands.py`` adds ``tests/`` itself.

They hold **no licensed data**. What matches the official ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` is
the *format*: a pickle of a dict with MANO's keys and shapes (``v_template (778, 3)``,
``f (1538, 3)`` uint32, ``J_regressor (16, 778)`` as a ``scipy.sparse.csc_matrix``,
``weights (778, 16)``, ``kintree_table (2, 16)`` with the root's parent stored as 2³²−1,
``J (16, 3)``, ``posedirs (778, 3, 135)``, ``shapedirs (778, 3, 10)`` as a ``chumpy.ch.Ch``
object whose pickled state is a dict with the array under ``"x"``, ``hands_components (45, 45)``,
``hands_mean (45,)``, ``hands_coeffs``, ``bs_style="lbs"``, ``bs_type="lrotmin"``), with the
numpy-1/py2-era module names (``numpy.core.multiarray``, ``scipy.sparse.csc``) in its globals and
byte strings written as Python-2 ``str`` (so that, like the real files, it needs
``encoding="latin1"``).
chumpy is not needed to write it: a throw-away ``chumpy.ch.Ch`` class is registered in
``sys.modules`` only while pickling.

The values are a plausible hand-shaped blob in MANO's right-hand frame (metres; fingers along −x
from a wrist at ≈ (0.096, 0.006, 0.006), thumb towards +z, palm facing −y): a rounded-box palm
and one tube per finger bone around a 16-joint skeleton at MANO-like positions, 778 surface
points (the five at smplx's fingertip ids 744, 320, 443, 554, 671 sit at the fingertips),
skinning weights dominated by the bone a point belongs to and blended across each joint,
``J_regressor`` rows = non-negative weights (sum 1) on the 12 vertices around each joint,
local triangles (valid indices, outward winding) as faces, small random blend shapes
(``shapedirs`` ≈ 1 mm noise plus a 3 %-per-unit size mode on ``β₀``; ``posedirs`` ≈ 0.5 mm),
orthonormal ``hands_components`` and a small random ``hands_mean``. The left file is the exact
mirror image (``x → −x``; pose features, components and mean mirrored accordingly) — except
``shapedirs``, which, as in the real MANO_LEFT.pkl, keeps the right hand's sign on x
(see :mod:`bghop.hands.mano`, "Left-hand shapedirs fix").
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import struct
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from bghop.hands.base import PARENTS

__all__ = ["SYNTHETIC_JOINTS", "SYNTHETIC_TIPS", "synthetic_mano_arrays", "write_synthetic_mano"]

#: rest joints of the synthetic right hand, MANO native order, metres
SYNTHETIC_JOINTS = np.array([
    [0.0957, 0.0064, 0.0062],    # wrist
    [0.0076, 0.0012, 0.0269],    # index1
    [-0.0227, 0.0028, 0.0283],   # index2
    [-0.0473, 0.0039, 0.0290],   # index3
    [0.0010, 0.0049, 0.0028],    # middle1
    [-0.0305, 0.0052, 0.0021],   # middle2
    [-0.0562, 0.0047, 0.0012],   # middle3
    [0.0269, -0.0036, -0.0370],  # pinky1
    [0.0060, -0.0030, -0.0425],  # pinky2
    [-0.0095, -0.0026, -0.0455],  # pinky3
    [0.0125, 0.0012, -0.0185],   # ring1
    [-0.0170, 0.0018, -0.0210],  # ring2
    [-0.0405, 0.0016, -0.0228],  # ring3
    [0.0716, -0.0091, 0.0320],   # thumb1
    [0.0500, -0.0160, 0.0510],   # thumb2
    [0.0290, -0.0180, 0.0670],   # thumb3
])  # fmt: skip
#: fingertip surface points (thumb, index, middle, ring, pinky), metres
SYNTHETIC_TIPS = np.array([
    [0.0080, -0.0195, 0.0800],
    [-0.0700, 0.0040, 0.0295],
    [-0.0810, 0.0040, 0.0005],
    [-0.0640, 0.0012, -0.0240],
    [-0.0285, -0.0024, -0.0480],
])  # fmt: skip
_TIP_IDS = (744, 320, 443, 554, 671)  # smplx's ids, same order as SYNTHETIC_TIPS
_DISTAL_TO_TIP = {15: 0, 3: 1, 6: 2, 12: 3, 9: 4}
#: tube radius of the bone that each native joint moves (index 0 unused: the palm is a box)
_RADII = np.array([0.0, 0.0095, 0.0085, 0.0075, 0.0098, 0.0088, 0.0078, 0.0082, 0.0074, 0.0066,
                   0.0092, 0.0083, 0.0074, 0.0120, 0.0100, 0.0090])
#: surface points per bone (index 0: the palm gets what is left of 773)
_COUNTS = np.array([0, 34, 28, 26, 34, 28, 26, 34, 28, 26, 34, 28, 26, 40, 34, 30])
_BLEND = 0.007  # metres over which skinning blends across a joint
_GOLDEN = np.pi * (3.0 - np.sqrt(5.0))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _bone_end(k: int, J: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of the bone moved by joint ``k`` (1..15); distal bones end at the tip cap centre."""
    if k in _DISTAL_TO_TIP:
        tip = SYNTHETIC_TIPS[_DISTAL_TO_TIP[k]]
        return J[k], tip - _RADII[k] * _unit(tip - J[k])
    return J[k], J[k + 1]


def _frame(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to unit ``a`` and to each other."""
    e1 = _unit(np.cross(a, [0.0, 1.0, 0.0] if abs(a[1]) < 0.9 else [1.0, 0.0, 0.0]))
    return e1, np.cross(a, e1)


def _palm_frame(J: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Palm box: centre, axial/lateral/palmar unit axes and half extents."""
    f = _unit(J[4] - J[0])
    lat = J[1] - J[7]
    lat = _unit(lat - (lat @ f) * f)
    n = np.cross(lat, f)  # palmar (−y for the right hand)
    mcp = J[[1, 4, 7, 10]]
    a_lo = -0.012
    a_hi = float(((mcp - J[0]) @ f).max()) + 0.004
    l_vals = (mcp - J[0]) @ lat
    l_lo, l_hi = float(l_vals.min()) - 0.010, float(l_vals.max()) + 0.010
    c = J[0] + f * 0.5 * (a_lo + a_hi) + lat * 0.5 * (l_lo + l_hi) + n * float(((mcp - J[0]) @ n).mean())
    half = np.array([0.5 * (a_hi - a_lo), 0.5 * (l_hi - l_lo), 0.013])
    return c, f, lat, n, half


def _surface(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sample the right-hand blob's surface (773 points + 5 tips placed at their ids).

    Returns:
        vertices ``(778, 3)``, outward directions ``(778, 3)``, owner joint ``(778,)``,
        and the position along the owner bone in metres ``(778,)`` (palm: axial from the wrist).
    """
    J = SYNTHETIC_JOINTS
    pts, out, owner, along = [], [], [], []
    for k in range(1, 16):
        s, e = _bone_end(k, J)
        a = _unit(e - s)
        L = float(np.linalg.norm(e - s))
        r = _RADII[k]
        e1, e2 = _frame(a)
        n_pts = int(_COUNTS[k])
        cap = k in _DISTAL_TO_TIP
        n_cap = int(np.rint(n_pts * r / (L + r))) if cap else 0
        i = np.arange(n_pts - n_cap)
        t = (i + rng.uniform(0.2, 0.8, len(i))) / len(i) * L
        th = i * _GOLDEN + rng.uniform(0, 0.3, len(i))
        radial = np.cos(th)[:, None] * e1 + np.sin(th)[:, None] * e2
        pts.append(s + t[:, None] * a + r * radial)
        out.append(radial)
        along.append(t)
        if n_cap:  # hemisphere beyond the tube's end, the tip itself excluded
            i = np.arange(n_cap)
            z = 0.15 + 0.75 * (i + 0.5) / n_cap  # cos of the polar angle
            th = i * _GOLDEN
            d = (np.sqrt(1 - z**2) * np.cos(th))[:, None] * e1 + (np.sqrt(1 - z**2) * np.sin(th))[:, None] * e2 \
                + z[:, None] * a
            pts.append(e + r * d)
            out.append(d)
            along.append(L + r * z)
        owner += [k] * n_pts
    n_palm = 773 - int(_COUNTS.sum())
    c, f, lat, n, half = _palm_frame(J)
    i = np.arange(n_palm)
    z = 1 - 2 * (i + 0.5) / n_palm  # Fibonacci sphere directions, pushed onto a super-ellipsoid
    th = i * _GOLDEN
    d = np.stack([np.sqrt(1 - z**2) * np.cos(th), np.sqrt(1 - z**2) * np.sin(th), z], 1)
    d = d * rng.uniform(0.97, 1.03, (n_palm, 1))
    p_exp = 4.0
    q = d / ((np.abs(d / half) ** p_exp).sum(1, keepdims=True) ** (1 / p_exp))  # local (axial, lateral, palmar)
    grad = np.sign(q) * np.abs(q / half) ** (p_exp - 1) / half
    R = np.stack([f, lat, n], 1)  # local → model
    palm = c + q @ R.T
    pts.append(palm)
    out.append(_unit(grad @ R.T))
    along.append((palm - J[0]) @ f)
    owner += [0] * n_palm
    pool_v, pool_o = np.concatenate(pts), np.concatenate(out)
    pool_owner, pool_t = np.asarray(owner), np.concatenate(along)
    perm = rng.permutation(len(pool_v))
    rest = np.setdiff1d(np.arange(778), _TIP_IDS)
    v, o = np.zeros((778, 3)), np.zeros((778, 3))
    own, t = np.zeros(778, dtype=np.int64), np.zeros(778)
    v[rest], o[rest], own[rest], t[rest] = pool_v[perm], pool_o[perm], pool_owner[perm], pool_t[perm]
    for k, slot in _DISTAL_TO_TIP.items():
        tid = _TIP_IDS[slot]
        s, e = _bone_end(k, J)
        v[tid], o[tid], own[tid] = SYNTHETIC_TIPS[slot], _unit(e - s), k
        t[tid] = float(np.linalg.norm(e - s)) + _RADII[k]
    return v, o, own, t


def _skinning_weights(v: np.ndarray, owner: np.ndarray, along: np.ndarray) -> np.ndarray:
    """``(778, 16)``: 1 on the owner bone, blended (up to 0.45) with the neighbour across a joint."""
    J = SYNTHETIC_JOINTS
    W = np.zeros((len(v), 16))
    W[np.arange(len(v)), owner] = 1.0
    children = {k: [c for c in range(16) if PARENTS[c] == k] for k in range(16)}
    for idx in range(len(v)):
        k = owner[idx]
        if k == 0:  # palm: towards the MCP of the nearest finger, and around the thumb's CMC
            f = _unit(J[4] - J[0])
            mcp = [1, 4, 7, 10]
            near = min(mcp, key=lambda m: np.linalg.norm((v[idx] - J[m]) - ((v[idx] - J[m]) @ f) * f))
            gap = (J[near] - J[0]) @ f - along[idx]
            W[idx, near] += 0.45 * np.clip(1 - gap / _BLEND, 0, 1)
            W[idx, 13] += 0.45 * np.clip(1 - (np.linalg.norm(v[idx] - J[13]) - 0.012) / _BLEND, 0, 1)
            continue
        s, e = _bone_end(k, J)
        L = float(np.linalg.norm(e - s))
        W[idx, PARENTS[k]] += 0.45 * np.clip(1 - along[idx] / _BLEND, 0, 1)
        for c in children[k]:
            W[idx, c] += 0.45 * np.clip(1 - (L - along[idx]) / _BLEND, 0, 1)
    return W / W.sum(1, keepdims=True)


def _joint_regressor(v: np.ndarray) -> sp.csc_matrix:
    """Each row: non-negative weights summing to 1 on the 12 vertices nearest the joint."""
    from scipy.optimize import nnls

    rows, cols, vals = [], [], []
    for j, pj in enumerate(SYNTHETIC_JOINTS):
        near = np.argsort(((v - pj) ** 2).sum(1))[:12]
        A = np.vstack([v[near].T, 10.0 * np.ones((1, 12))])  # position + strongly weighted sum-to-one
        w, _ = nnls(A, np.concatenate([pj, [10.0]]))
        w = w / w.sum() if w.sum() > 0 else np.full(12, 1 / 12)
        keep = w > 1e-9
        rows += [j] * int(keep.sum())
        cols += near[keep].tolist()
        vals += w[keep].tolist()
    return sp.csc_matrix((vals, (rows, cols)), shape=(16, 778))


def _faces(v: np.ndarray, outward: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1538 local triangles (each vertex with two of its nearest neighbours), wound outwards."""
    from scipy.spatial import cKDTree

    _, nn = cKDTree(v).query(v, k=5)
    a = np.concatenate([rng.permutation(778), rng.integers(0, 778, 1538 - 778)])
    b = nn[a, 1 + rng.integers(0, 2, 1538)]
    c = nn[a, 3 + rng.integers(0, 2, 1538)]
    f = np.stack([a, b, c], 1)
    normal = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    flip = (normal * outward[f].sum(1)).sum(1) < 0
    f[flip] = f[flip][:, ::-1]
    return f.astype(np.uint32)


def synthetic_mano_arrays(side: str = "right", seed: int = 0) -> dict[str, Any]:
    """MANO-shaped arrays for one side (plain numpy; ``J_regressor`` sparse; strings for ``bs_*``).

    Args:
        side: ``"right"`` or ``"left"`` (the left is the mirror image, with MANO_LEFT's
            unmirrored ``shapedirs``).
        seed: seed of the sampled surface and the random blend shapes; both sides of a seed
            are mirror images of each other.
    Returns:
        ``{key: value}`` with the official keys (module docstring).
    """
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    rng = np.random.default_rng(seed)
    v, outward, owner, along = _surface(rng)
    W = _skinning_weights(v, owner, along)
    Jreg = _joint_regressor(v)
    f = _faces(v, outward, rng)
    posedirs = rng.normal(0.0, 5e-4, (778, 3, 135))
    shapedirs = rng.normal(0.0, 1e-3, (778, 3, 10))
    shapedirs[:, :, 0] += 0.03 * (v - SYNTHETIC_JOINTS[0])  # β₀ ≈ size about the wrist
    comps = np.linalg.qr(rng.normal(size=(45, 45)))[0]  # orthonormal rows
    hands_mean = rng.normal(0.0, 0.1, 45)
    hands_coeffs = rng.normal(0.0, 0.5, (1554, 45))
    kintree = np.array([[2**32 - 1] + list(PARENTS[1:]), list(range(16))], dtype=np.int64)
    if side == "left":
        m = np.array([-1.0, 1.0, 1.0])
        v = v * m
        f = f[:, ::-1].copy()
        # R_left − I = M (R_right − I) M: pose feature (i, j) scales by m_i m_j, its offsets by m_d
        mij = np.tile((m[:, None] * m[None, :]).reshape(9), 15)
        posedirs = posedirs * m[None, :, None] * mij[None, None, :]
        pm = np.tile([1.0, -1.0, -1.0], 15)  # axis-angle under x → −x
        comps = comps * pm[None, :]
        hands_mean = hands_mean * pm
        # hands_coeffs unchanged: coefficients of mirrored components are the same numbers
        # shapedirs NOT mirrored: MANO_LEFT.pkl's known bug, reproduced on purpose
    return {
        "v_template": v,
        "f": f,
        "J_regressor": Jreg,
        "weights": W,
        "kintree_table": kintree,
        "J": np.asarray(Jreg @ v),
        "posedirs": posedirs,
        "shapedirs": shapedirs,
        "hands_components": comps,
        "hands_mean": hands_mean,
        "hands_coeffs": hands_coeffs,
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


def _with_fake_chumpy(fn: Callable[[type], Any]) -> Any:
    """Run ``fn(Ch)`` with a throw-away ``chumpy.ch.Ch`` class importable, then remove it again."""

    class Ch:
        """Pickles like chumpy's ``Ch``: by reference as ``chumpy.ch.Ch``, state = instance dict."""

        def __init__(self, x: np.ndarray) -> None:
            self.x = x
            self._dirty_vars: set = set()
            self._itr = None
            self._depends_on_deps: dict = {}

        def __getstate__(self) -> dict:
            return dict(self.__dict__)

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    pkg, ch_mod = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")
    ch_mod.Ch = Ch  # type: ignore[attr-defined]
    pkg.ch = ch_mod  # type: ignore[attr-defined]
    missing = object()
    saved = {k: sys.modules.get(k, missing) for k in ("chumpy", "chumpy.ch")}
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = pkg, ch_mod
    try:
        return fn(Ch)
    finally:
        for k, old in saved.items():
            if old is missing:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = old  # type: ignore[assignment]


class _Py2StylePickler(pickle._Pickler):  # the pure-Python pickler, whose dispatch table can be extended
    """Writes ``bytes`` and ASCII ``str`` as Python 2 ``str`` (BINSTRING opcodes), as a py2 writer did.

    Loading such a file in Python 3 needs ``encoding="latin1"`` (numpy arrays' raw data), exactly
    like the official files.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj: bytes | str) -> None:
        if isinstance(obj, str):
            if not obj.isascii():
                return pickle._Pickler.save_str(self, obj)
            data = obj.encode("ascii")
        else:
            data = obj
        n = len(data)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) + data if n < 256 else
                   pickle.BINSTRING + struct.pack("<i", n) + data)
        self.memoize(obj)
        return None

    dispatch[bytes] = _save_py2_str
    dispatch[str] = _save_py2_str


_LEGACY_MODULES = (("numpy._core", "numpy.core"), ("scipy.sparse._csc", "scipy.sparse.csc"))


def _legacy_globals(data: bytes) -> bytes:
    """Rename module paths in GLOBAL opcodes to the numpy-1/scipy-1 names official files carry."""
    out, last = io.BytesIO(), 0
    for op, arg, pos in pickletools.genops(data):
        if op.name != "GLOBAL":
            continue
        module, name = arg.split(" ", 1)
        new = module
        for cur, old in _LEGACY_MODULES:
            if new == cur or new.startswith(cur + "."):
                new = old + new[len(cur):]
        if new != module:
            end = data.index(b"\n", data.index(b"\n", pos) + 1) + 1
            out.write(data[last:pos])
            out.write(b"c" + f"{new}\n{name}\n".encode("ascii"))
            last = end
    out.write(data[last:])
    return out.getvalue()


def write_synthetic_mano(
    model_dir: str | os.PathLike,
    side: str = "right",
    seed: int = 0,
    fmt: str = "pkl",
    protocol: int = 2,
    legacy: bool = True,
) -> Path:
    """Write ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` (or ``.npz``) into ``model_dir``.

    Args:
        model_dir: output folder (created if needed).
        side: ``"right"`` or ``"left"``.
        seed: see :func:`synthetic_mano_arrays`.
        fmt: ``"pkl"`` (official format: chumpy ``shapedirs``, sparse ``J_regressor``) or
            ``"npz"`` (the same keys as plain arrays).
        protocol: pickle protocol (0..2 are what Python 2 wrote).
        legacy: write like the Python-2 / numpy-1 tools that made the official files: module
            names ``numpy.core.*`` and ``scipy.sparse.csc``, and (protocol ≥ 1) byte strings as
            py2 ``str``, so that reading needs ``encoding="latin1"``.
    Returns:
        the written path.
    """
    if fmt not in ("pkl", "npz"):
        raise ValueError(f"fmt must be 'pkl' or 'npz', got {fmt!r}")
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    arrays = synthetic_mano_arrays(side, seed)
    path = model_dir / f"MANO_{side.upper()}.{fmt}"
    if fmt == "npz":
        plain = {k: (val.toarray() if sp.issparse(val) else np.asarray(val)) for k, val in arrays.items()}
        with open(path, "wb") as fh:
            np.savez(fh, **plain)
        return path

    def dump(Ch: type) -> bytes:
        data = dict(arrays)
        data["shapedirs"] = Ch(arrays["shapedirs"])
        buf = io.BytesIO()
        pickler = _Py2StylePickler if legacy and protocol >= 1 else pickle.Pickler
        pickler(buf, protocol=protocol).dump(data)
        return buf.getvalue()

    blob = _with_fake_chumpy(dump)
    if legacy:
        blob = _legacy_globals(blob)
    path.write_bytes(blob)
    return path

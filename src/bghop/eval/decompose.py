"""Geometry helpers of the fast convex decomposition (:func:`bghop.eval.physics.decompose`):
a watertight coarse remesh of any mesh, a coverage measure of convex pieces, and a greedy
volume-based merge of convex pieces. See :mod:`bghop.eval.physics` for the strategy and figures.
"""

from __future__ import annotations

import logging

import numpy as np
import trimesh

logger = logging.getLogger(__name__)

__all__ = ["watertight_remesh", "uncovered_share", "merge_pieces", "MAX_REFINE"]

#: :func:`watertight_remesh` cells are at most this many times finer than ``longest side / resolution``
MAX_REFINE = 1.5


def watertight_remesh(mesh: trimesh.Trimesh, resolution: int, offset: float = 0.0,
                      simplify: float = 0.0) -> trimesh.Trimesh:
    """A closed, outward-facing, coarse version of any mesh (holes and overlaps allowed).

    The ``offset`` level set (metres, > 0 grows the object) of the mesh's signed distance
    (:func:`bghop.geometry.sdf.sdf_clipped`: winding-number sign, so no watertightness is
    needed; exact within a cell of the level) on a grid of cubic cells as many as ``resolution``³ over the bounding box (a cube gets
    ``resolution`` cells a side; a flat or long object finer cells, at most ``MAX_REFINE * resolution``
    along its longest side), by marching cubes (scikit-image), then simplified by manifold3d to a
    tolerance of ``simplify`` metres.

    Raises:
        ValueError: the level set is empty or not closed (the object thinner than a cell everywhere).
        ImportError: scikit-image or manifold3d missing.
    """
    from skimage.measure import marching_cubes

    from bghop.geometry.sdf import sdf_clipped

    lo, hi = np.asarray(mesh.bounds, dtype=np.float64)
    ext = np.maximum(hi - lo, 1e-9)
    # as many cells as a cube of ``resolution`` cells a side: finer on flat or long objects (their
    # thin side gets more than a few cells), at most MAX_REFINE times as fine as the longest side alone
    res = max(int(resolution), 2)
    h = max(float(ext.max()) / (MAX_REFINE * res), float(np.prod(ext)) ** (1 / 3) / res)
    pad = max(offset, 0.0) + 2.0 * h
    lo, hi = lo - pad, hi + pad
    n = np.ceil((hi - lo) / h).astype(int) + 1
    axes = [lo[i] + h * np.arange(n[i]) for i in range(3)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    # exact only within a cell of the level: the same marching-cubes surface as the exact field
    sdf = sdf_clipped(mesh, pts, offset - h, offset + h).reshape(*n) - offset
    if not (sdf < 0).any():
        raise ValueError("the remesh grid has no point inside the object")
    # grid points on (or within rounding of) the level, e.g. on the grown faces of a box whose
    # sides fall on grid planes, make zero-area triangles that break closure: move them off it
    tiny = 1e-3 * h
    near_level = np.abs(sdf) < tiny
    sdf[near_level] = np.where(sdf[near_level] < 0, -tiny, tiny)
    v, f, _, _ = marching_cubes(sdf, 0.0, spacing=(h, h, h))
    out = trimesh.Trimesh(v + lo, f, process=True)
    if out.volume < 0:
        out.invert()
    if simplify > 0:
        import manifold3d

        man = manifold3d.Manifold(manifold3d.Mesh(np.asarray(out.vertices, dtype=np.float32),
                                                  np.asarray(out.faces, dtype=np.uint32)))
        if man.status() == manifold3d.Error.NoError:
            o = man.simplify(simplify).to_mesh()
            out = trimesh.Trimesh(np.asarray(o.vert_properties, dtype=np.float64)[:, :3],
                                  np.asarray(o.tri_verts, dtype=np.int64), process=False)
    if not out.is_watertight or len(out.faces) < 4:
        raise ValueError("the remesh is not closed")
    return out


def uncovered_share(pieces: list[np.ndarray], points: np.ndarray, tolerance: float) -> float:
    """Share of ``points (N, 3)`` farther than ``tolerance`` outside the convex hulls of every piece.

    The distance outside a hull is taken as its largest face-plane distance (a lower bound on the
    true distance; exact inside and across a face), so this never overstates what is uncovered.
    """
    from scipy.spatial import ConvexHull, QhullError

    out = np.full(len(points), np.inf)
    for p in pieces:
        try:
            eq = ConvexHull(p).equations
        except (QhullError, ValueError):
            continue  # a flat piece covers nothing
        out = np.minimum(out, (points @ eq[:, :3].T + eq[:, 3]).max(1))
    return float(np.mean(out > tolerance)) if len(points) else 0.0


def _hull(points: np.ndarray):
    from scipy.spatial import ConvexHull, QhullError

    try:
        return ConvexHull(points)
    except (QhullError, ValueError):
        return None


def merge_pieces(pieces: list[np.ndarray], max_pieces: int, gap: float = 0.002) -> list[np.ndarray]:
    """Join convex pieces until at most ``max_pieces`` remain, greedily: each time the pair whose
    joint hull adds the least volume over the two hulls, among pairs whose bounding boxes come
    within ``gap`` metres (any pair when none do). Flat or degenerate pieces are dropped.

    Returns:
        the remaining pieces: those not merged as given, merged ones as their hull's vertices.
    """
    pts, vol, lo, hi = [], [], [], []
    for p in pieces:
        p = np.asarray(p, dtype=np.float64)
        h = _hull(p) if len(p) >= 4 else None
        if h is not None and h.volume > 0:
            pts.append(p)  # a piece that is not merged is returned as given
            vol.append(h.volume)
            lo.append(pts[-1].min(0))
            hi.append(pts[-1].max(0))
    alive = set(range(len(pts)))
    if max_pieces <= 0 or len(alive) <= max_pieces:
        return pts

    def near(i: int, j: int) -> bool:
        return bool(np.all(lo[i] - gap <= hi[j]) and np.all(lo[j] - gap <= hi[i]))

    cost: dict[tuple[int, int], tuple[float, np.ndarray, float]] = {}

    def add(i: int, j: int) -> None:
        h = _hull(np.vstack([pts[i], pts[j]]))
        if h is not None:
            cost[(i, j)] = (h.volume - vol[i] - vol[j], h.points[h.vertices], h.volume)

    for i in sorted(alive):
        for j in sorted(alive):
            if i < j and near(i, j):
                add(i, j)
    while len(alive) > max_pieces:
        if not cost:
            for i in sorted(alive):
                for j in sorted(alive):
                    if i < j:
                        add(i, j)
        (i, j), (_, joined, joined_volume) = min(cost.items(), key=lambda kv: (kv[1][0], kv[0]))
        new = len(pts)
        pts.append(joined)
        vol.append(joined_volume)
        lo.append(joined.min(0))
        hi.append(joined.max(0))
        alive -= {i, j}
        cost = {k: v for k, v in cost.items() if i not in k and j not in k}
        for o in sorted(alive):
            if near(o, new):
                add(o, new)
        alive.add(new)
    return [pts[i] for i in sorted(alive)]

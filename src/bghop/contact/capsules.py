"""The object inside the hands, differentiably: per-bone capsules fitted to the skin.

Hand-vertex penetration (:func:`~bghop.contact.energies.penetration_energy`) cannot see a plate
rim, a handle or a blade that passes *between* hand vertices. This term looks the other way:
fixed samples of the object's surface against capsules around the hand's bones, which follow
the 21 keypoints and so the pose, differentiably.

Capsules (:class:`HandCapsules`): one per bone of the 21-keypoint skeleton (15 finger segments,
5 wrist-to-knuckle segments across the palm) and 3 across the knuckles. Each capsule's radius is
fitted to the layer's rest skin: the vertices nearest to it are collected and the radius is their
:data:`RADIUS_QUANTILE` distance quantile, so the capsule lies inside the skin nearly everywhere
(an object point inside it is inside the hand). A fingertip segment ends its radius short of the
tip keypoint (the tip is on the skin). :func:`object_in_hand_energy` is Σ over object samples of
``relu(r − d)²`` (metres²), ``d`` the distance to the nearest capsule axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import trimesh
from torch import Tensor

from bghop.geometry.surface import surface_points
from bghop.hands.base import HandModel

__all__ = ["CAPSULE_SEGMENTS", "RADIUS_QUANTILE", "HandCapsules", "CapsuleNeighbours", "fit_capsules", "object_samples",
           "capsule_depths", "object_in_hand_energy"]

#: keypoint pairs of the capsules: finger bones, wrist-to-knuckle palm bones, the knuckle line
CAPSULE_SEGMENTS: tuple[tuple[int, int], ...] = (
    (1, 2), (2, 3), (3, 4), (5, 6), (6, 7), (7, 8), (9, 10), (10, 11), (11, 12),
    (13, 14), (14, 15), (15, 16), (17, 18), (18, 19), (19, 20),
    (0, 1), (0, 5), (0, 9), (0, 13), (0, 17),
    (5, 9), (9, 13), (13, 17),
)  # fmt: skip
#: keypoints that are fingertips (their segment ends short of them)
_TIPS = (4, 8, 12, 16, 20)
#: which quantile of the nearest skin vertices' distances is a capsule's radius
RADIUS_QUANTILE = 0.25
_MIN_RADIUS, _MAX_RADIUS = 0.003, 0.02


@dataclass(frozen=True)
class HandCapsules:
    """Capsules of one hand layer.

    Attributes:
        a / b: ``(S,)`` keypoint indices of each capsule's ends.
        radius: ``(S,)`` metres.
        tip: ``(S,)`` bool: ``b`` is a fingertip (the axis stops ``radius`` short of it).
    """

    a: Tensor
    b: Tensor
    radius: Tensor
    tip: Tensor

    def axes(self, joints: Tensor) -> tuple[Tensor, Tensor]:
        """Capsule axis ends ``(B, S, 3)`` each, from keypoints ``(B, 21, 3)``."""
        pa, pb = joints[:, self.a], joints[:, self.b]
        d = pb - pa
        short = self.radius[:, None] * d / d.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        return pa, torch.where(self.tip[:, None], pb - short, pb)


def _segment_distance(p: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Distance of points ``(..., P, 1, 3)`` to segments ``(..., 1, S, 3)`` → ``(..., P, S)``."""
    ab = b - a
    t = ((p - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-12)
    closest = a + t.clamp(0.0, 1.0)[..., None] * ab
    return (p - closest).norm(dim=-1)


def _segment_distance_bmm(p: Tensor, a: Tensor, b: Tensor, origin: Tensor) -> Tensor:
    """:func:`_segment_distance` of points ``(B, K, 3)`` to segments ``(B, S, 3)`` → ``(B, K, S)``, by
    batched matrix products (no ``(B, K, S, 3)`` temporaries); coordinates relative to ``origin``
    ``(B, 1, 3)`` (near the hand) keep float32 exact to micrometres."""
    p, a, b = p - origin, a - origin, b - origin
    u = b - a  # (B, S, 3)
    uu = (u * u).sum(-1).clamp_min(1e-12)  # (B, S)
    pa_ = torch.bmm(p, a.transpose(1, 2))  # (B, K, S)
    pu = torch.bmm(p, u.transpose(1, 2))
    au = (a * u).sum(-1)  # (B, S)
    t = ((pu - au[:, None]) / uu[:, None]).clamp(0.0, 1.0)
    pp = (p * p).sum(-1, keepdim=True)  # (B, K, 1)
    aa = (a * a).sum(-1)[:, None]  # (B, 1, S)
    d2 = pp - 2 * pa_ + aa - 2 * t * (pu - au[:, None]) + t * t * uu[:, None]
    return d2.clamp_min(0.0).sqrt()


def fit_capsules(layer: HandModel, device: torch.device | str = "cpu") -> HandCapsules:
    """Fit :data:`CAPSULE_SEGMENTS` to ``layer``'s rest skin (zero pose, mean shape; module docstring)."""
    ref = layer.faces.device
    zeros = torch.zeros(1, 3, device=ref)
    with torch.no_grad():
        out = layer(torch.zeros(1, 45, device=ref), zeros, zeros)
        v, j = out.vertices[0].double().cpu(), out.joints[0].double().cpu()
        a = torch.tensor([s for s, _ in CAPSULE_SEGMENTS])
        b = torch.tensor([e for _, e in CAPSULE_SEGMENTS])
        tip = torch.tensor([e in _TIPS for _, e in CAPSULE_SEGMENTS])
        d = _segment_distance(v[:, None], j[a][None], j[b][None])  # (V, S)
        nearest = d.argmin(1)
        radius = []
        for s in range(len(CAPSULE_SEGMENTS)):
            ds = d[nearest == s, s]
            r = float(torch.quantile(ds, RADIUS_QUANTILE)) if len(ds) else _MIN_RADIUS
            radius.append(min(max(r, _MIN_RADIUS), _MAX_RADIUS))
    dev = torch.device(device)
    return HandCapsules(a.to(dev), b.to(dev), torch.tensor(radius, dtype=torch.float32, device=dev), tip.to(dev))


#: the last few :func:`object_samples` results, by mesh content and settings (one object's samples
#: are asked for by the start's back-off of each hand and by the objective)
_SAMPLE_CACHE: dict[tuple, np.ndarray] = {}
_SAMPLE_CACHE_SIZE = 4


def object_samples(mesh: trimesh.Trimesh, spacing: float = 0.004, max_points: int = 32768,
                   device: torch.device | str = "cpu") -> Tensor:
    """Deterministic, evenly spread samples ``(P, 3)`` of the object's surface, about ``spacing``
    apart (coarser when that would take more than ``max_points``), metres: a cover of the surface
    at half the spacing (:func:`bghop.geometry.surface.surface_points`, so thin rims are covered),
    thinned to the first cover point in each ``spacing`` voxel. The last few results are kept (by
    the mesh's content), so asking again for the same object is free."""
    key = (hash(mesh), float(spacing), int(max_points))
    pts = _SAMPLE_CACHE.get(key)
    if pts is None:
        h = max(spacing, float(np.sqrt(max(float(mesh.area), 1e-12) / max_points)))
        while True:
            try:
                cover = surface_points(mesh, h / 2)
            except ValueError as e:  # the cover itself would be too large (a long, wide object): coarser
                if "needs more than" not in str(e):
                    raise
                h *= 1.25
                continue
            first = _first_per_cell(cover, h)
            if len(first) <= max_points:
                break
            h *= 1.25
        pts = cover[first]
        if len(_SAMPLE_CACHE) >= _SAMPLE_CACHE_SIZE:
            _SAMPLE_CACHE.pop(next(iter(_SAMPLE_CACHE)))
        _SAMPLE_CACHE[key] = pts
    return torch.as_tensor(pts, dtype=torch.float32, device=device)


def _first_per_cell(points: np.ndarray, h: float) -> np.ndarray:
    """Sorted indices of the first of ``points`` ``(N, 3)`` in each cube of side ``h`` (one integer
    key per cube, so one 1-D stable sort instead of a sort of rows)."""
    if not len(points):
        return np.zeros(0, dtype=np.int64)
    cell = np.floor(points / h).astype(np.int64)
    cell -= cell.min(0)
    dims = cell.max(0) + 1
    key = (cell[:, 0] * dims[1] + cell[:, 1]) * dims[2] + cell[:, 2]
    _, first = np.unique(key, return_index=True)
    return np.sort(first)


class CapsuleNeighbours:
    """The object samples near a batch of hands' capsules, kept across the steps of an optimisation
    (a Verlet list), so that a step only measures the samples near the hands.

    A rebuild lists, per grasp, the samples within ``margin`` of a capsule (more than ``margin``
    outside every capsule otherwise). Distance to a segment changes by at most the largest
    displacement of its ends, so until some capsule end has moved ``margin`` from where it was at
    the rebuild, no sample off the list can be inside a capsule: the depths are exactly those of a
    full search. Then (or for another batch or other samples) the list is rebuilt.

    Args:
        margin: metres (1 cm: a rebuild every few steps early in an optimisation, rarely later).
    """

    def __init__(self, margin: float = 0.01) -> None:
        if not margin > 0:
            raise ValueError(f"margin must be positive, got {margin}")
        self.margin = float(margin)
        self.rebuilds = 0
        self._key: tuple | None = None
        self._ends: tuple[Tensor, Tensor] | None = None
        self._ids: Tensor | None = None
        self._valid: Tensor | None = None

    def candidates(self, points: Tensor, joints: Tensor, pa: Tensor, pb: Tensor,
                   capsules: HandCapsules) -> tuple[Tensor, Tensor]:
        """Sample ids ``(B, K)`` (in sample order, padded) and which are real ``(B, K)``: a superset
        of the samples inside the capsules with axis ends ``pa``/``pb`` ``(B, S, 3)``."""
        key = (points.data_ptr(), tuple(points.shape), tuple(joints.shape), points.device)
        if self._key == key and self._ends is not None:
            moved = torch.maximum((pa - self._ends[0]).norm(dim=-1).max(), (pb - self._ends[1]).norm(dim=-1).max())
            if float(moved) < self.margin:
                return self._ids, self._valid
        ids, valid = _near_samples(points, joints, pa, pb, capsules, self.margin)
        self._key, self._ends, self._ids, self._valid = key, (pa.clone(), pb.clone()), ids, valid
        self.rebuilds += 1
        return ids, valid


def _near_samples(points: Tensor, joints: Tensor, pa: Tensor, pb: Tensor, capsules: HandCapsules,
                  margin: float) -> tuple[Tensor, Tensor]:
    """Per grasp, the samples less than ``margin`` outside some capsule: ids ``(B, K)`` in sample
    order (stable sorts, not topk: the same samples in the same order on any machine and thread
    count), padded, and which are real ``(B, K)``. Only samples inside the grasp's keypoint box
    grown by the largest radius and ``margin`` are measured."""
    B = joints.shape[0]
    pad = float(capsules.radius.max()) + margin
    lo, hi = joints.amin(1) - pad, joints.amax(1) + pad  # (B, 3)
    near = ((points[None] >= lo[:, None]) & (points[None] <= hi[:, None])).all(-1)  # (B, P)
    k = int(near.sum(1).max()) if B else 0
    if k == 0:
        return torch.zeros(B, 0, dtype=torch.long, device=joints.device), torch.zeros(B, 0, dtype=torch.bool,
                                                                                       device=joints.device)
    score, ids = near.to(torch.float32).sort(dim=1, descending=True, stable=True)
    ids, valid = ids[:, :k], score[:, :k] > 0
    if margin <= 1e-3:  # the box is the list
        return ids, valid
    d = _segment_distance_bmm(points[ids], pa, pb, joints[:, :1])  # (B, K, S)
    close = valid & ((d - capsules.radius).amin(-1) < margin)
    m = int(close.sum(1).max())
    keep, sel = close.to(torch.float32).sort(dim=1, descending=True, stable=True)
    return ids.gather(1, sel[:, :m]), keep[:, :m] > 0


def capsule_depths(points: Tensor, joints: Tensor, capsules: HandCapsules,
                   neighbours: CapsuleNeighbours | None = None) -> tuple[Tensor, Tensor]:
    """How deep object samples sit in a hand's capsules, for the samples that are inside one.

    Args:
        points: ``(P, 3)`` object samples.
        joints: ``(B, 21, 3)`` keypoints, same frame.
        capsules: the hand's capsules.
        neighbours: a list of the samples near the hands kept across calls (the steps of one
            optimisation); None searches all samples each call. The depths are the same.
    Returns:
        ``depth (B, M)`` (metres, ``relu(r − d)`` in the capsule that holds the sample deepest, 0
        for padding; differentiable in ``joints``) and the sample ids ``(B, M)``, ``M`` the most
        samples inside any grasp's capsules. Which samples are inside, and in which capsule, is
        found without gradients (only samples inside a grasp's keypoint box grown by the largest
        radius are tested), so the cost follows the overlap, not the object's size.
    """
    B = joints.shape[0]
    pa, pb = capsules.axes(joints)
    dev = joints.device
    with torch.no_grad():
        if neighbours is None:
            ids, valid = _near_samples(points, joints, pa, pb, capsules, 1e-3)
        else:
            ids, valid = neighbours.candidates(points, joints.detach(), pa.detach(), pb.detach(), capsules)
        if ids.shape[1] == 0:  # (empty depths still part of the graph, so that a sum of them can be backpropagated)
            return joints[:, :0, 0], torch.zeros(B, 0, dtype=torch.long, device=dev)
        d = _segment_distance_bmm(points[ids], pa, pb, joints[:, :1])  # (B, K, S)
        depth, which = torch.relu(capsules.radius - d).max(-1)  # (B, K)
        depth = torch.where(valid, depth, torch.zeros_like(depth))
        m = int((depth > 0).sum(1).max())
        if m == 0:
            return joints[:, :0, 0], torch.zeros(B, 0, dtype=torch.long, device=dev)
        inside, sel = depth.sort(dim=1, descending=True, stable=True)
        inside, sel = inside[:, :m], sel[:, :m]
        ids, which, valid = ids.gather(1, sel), which.gather(1, sel), inside > 0
    p = points[ids]  # (B, M, 3)
    a = pa.gather(1, which[..., None].expand(-1, -1, 3))
    b = pb.gather(1, which[..., None].expand(-1, -1, 3))
    depth = torch.relu(capsules.radius[which] - _segment_distance(p, a, b))
    return torch.where(valid, depth, torch.zeros_like(depth)), ids


def object_in_hand_energy(points: Tensor, joints: Tensor, capsules: HandCapsules,
                          neighbours: CapsuleNeighbours | None = None) -> Tensor:
    """``(B,)``: Σ over object samples of their squared depth in the hand's capsules (metres²);
    ``neighbours`` as in :func:`capsule_depths`."""
    depth, _ = capsule_depths(points, joints, capsules, neighbours)
    return depth.pow(2).sum(-1)

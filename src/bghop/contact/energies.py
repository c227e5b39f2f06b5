"""Differentiable contact and penetration energies between hands and an object.

Used by the prior-free energy grasp optimiser (the synthetic-set builder and a baseline) and,
later, by the contact refinement after score distillation.
"""

from __future__ import annotations

import numpy as np
import torch
import trimesh
from torch import Tensor

from bghop.geometry.grid import GridSpec, sample_grid
from bghop.geometry.sdf import mesh_to_sdf_grid
from bghop.hands.base import HandModel

__all__ = ["ObjectSDF", "contact_energy", "penetration_energy", "hand_hand_energy", "collision_spheres",
           "contact_points", "wrench_energy"]


class ObjectSDF:
    """An object's SDF sampled once on a grid around it, queried differentiably (trilinear).

    Args:
        mesh: the object, metres.
        resolution: grid points per axis.
        margin: metres added around the bounding box (queries beyond it are clamped to the
            border value plus the distance to the box, which keeps gradients pointing inwards).
        device: torch device of the stored grid.
    """

    def __init__(self, mesh: trimesh.Trimesh, resolution: int = 64, margin: float = 0.06,
                 device: torch.device | str = "cpu") -> None:
        lo = mesh.bounds[0] - margin
        hi = mesh.bounds[1] + margin
        self.center = torch.tensor((lo + hi) / 2, dtype=torch.float32, device=device)
        self.half = float((hi - lo).max() / 2)
        spec = GridSpec(resolution, -self.half, self.half)
        T = np.eye(4)
        T[:3, 3] = -(lo + hi) / 2
        sdf = mesh_to_sdf_grid(mesh, spec, transform=T)
        self.spec = spec
        self.grid = torch.as_tensor(sdf, device=device)[None, None]

    def __call__(self, points: Tensor) -> Tensor:
        """Signed distance ``(B, N)`` at ``(B, N, 3)`` points (metres, object frame)."""
        p = points - self.center.to(points)
        inside = p.clamp(-self.half, self.half)
        outside = (p - inside).norm(dim=-1)
        grid = self.grid.to(points).expand(points.shape[0], -1, -1, -1, -1)
        return sample_grid(grid, inside, self.spec)[:, 0] + outside

    def normals(self, points: Tensor, h: float = 0.002) -> Tensor:
        """Outward unit normals ``(B, N, 3)`` at ``(B, N, 3)`` points: the normalised SDF gradient by
        central differences of step ``h`` metres (differentiable in the points, no double backward)."""
        eye = torch.eye(3, dtype=points.dtype, device=points.device) * h
        q = torch.cat([points[:, :, None] + eye, points[:, :, None] - eye], dim=2)  # (B, N, 6, 3)
        d = self(q.reshape(points.shape[0], -1, 3)).reshape(*points.shape[:2], 6)
        return torch.nn.functional.normalize(d[..., :3] - d[..., 3:], dim=-1)


def _softmin(x: Tensor, dim: int, temperature: float = 0.002) -> Tensor:
    return -temperature * torch.logsumexp(-x / temperature, dim=dim)


def contact_energy(sdf_values: Tensor, regions: dict[str, Tensor], weights: dict[str, float],
                   target: float = 0.0) -> Tensor:
    """Σ_region w · (soft-min over the region's vertices of |sdf − target|)², per sample ``(B,)``.

    A small negative ``target`` asks the pads to press slightly into the surface, as soft finger
    pads do when they hold something (this is what makes a fixed-hand grasp carry load in simulation).

    Args:
        sdf_values: ``(B, V)`` signed distance of every hand vertex.
        regions: vertex ids per contact region (finger pads, palm).
        weights: weight per region name (missing names count 0).
    """
    e = sdf_values.new_zeros(sdf_values.shape[0])
    for name, ids in regions.items():
        w = weights.get(name, 0.0)
        if w > 0 and len(ids):
            d = _softmin((sdf_values[:, ids] - target).abs(), dim=1)
            e = e + w * d**2
    return e


def contact_points(vertices: Tensor, sdf_values: Tensor, regions: dict[str, Tensor],
                   temperature: float = 0.002) -> tuple[Tensor, Tensor]:
    """One soft contact point per region: the region's vertices averaged with weights
    ``softmax(−|sdf| / temperature)`` (the part of the pad nearest the surface).

    Args:
        vertices: ``(B, V, 3)`` hand vertices, metres.
        sdf_values: ``(B, V)`` their signed distances.
        regions: vertex ids per region.
    Returns:
        points ``(B, R, 3)`` and their distances to the surface ``(B, R)`` (soft-min of ``|sdf|``).
    """
    pts, dist = [], []
    for ids in regions.values():
        a = sdf_values[:, ids].abs()
        w = torch.softmax(-a / temperature, dim=1)
        pts.append((w[..., None] * vertices[:, ids]).sum(1))
        dist.append(_softmin(a, dim=1, temperature=temperature))
    return torch.stack(pts, 1), torch.stack(dist, 1)


def wrench_energy(points: Tensor, normals: Tensor, active: Tensor, center: Tensor, scale: float = 0.05) -> Tensor:
    """Frictionless force-closure residual ``(B,)``: squared norm of the net force and (scaled)
    net torque of unit forces pushing along the inward normals at the active contacts, the
    wrench-balance part of DexGraspNet's force-closure energy (Wang et al., ICRA 2023).

    Args:
        points: ``(B, R, 3)`` contact points, metres.
        normals: ``(B, R, 3)`` outward surface normals there.
        active: ``(B, R)`` weight of each contact in [0, 1] (1 = touching).
        center: ``(3,)`` the object's reference point for torques.
        scale: metres that turn torque into force units (about the object's half size).
    """
    f = -normals * active[..., None]
    force = f.sum(1)
    torque = torch.cross(points - center, f, dim=-1).sum(1) / scale
    return (force**2).sum(-1) + (torque**2).sum(-1)


def penetration_energy(sdf_values: Tensor, tolerance: float = 0.0) -> Tensor:
    """Σ over vertices of (depth − tolerance)² beyond ``tolerance`` inside the object ``(B,)`` (metres²)."""
    return torch.relu(-sdf_values - tolerance).pow(2).sum(-1)


#: keypoint pairs whose midpoints are added as collision spheres (bones of the 21-keypoint skeleton)
_BONES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11), (11, 12),
          (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20)]


def collision_spheres(joints: Tensor) -> Tensor:
    """Sphere centres along a hand's skeleton ``(B, 21 + 20, 3)``: keypoints and bone midpoints."""
    a = torch.tensor([i for i, _ in _BONES], device=joints.device)
    b = torch.tensor([j for _, j in _BONES], device=joints.device)
    return torch.cat([joints, 0.5 * (joints[:, a] + joints[:, b])], dim=1)


def hand_hand_energy(joints_a: Tensor, joints_b: Tensor, radius: float = 0.011) -> Tensor:
    """Penalty ``(B,)`` for overlapping collision spheres of two hands (radius ~ a finger's half width)."""
    ca, cb = collision_spheres(joints_a), collision_spheres(joints_b)
    d = torch.cdist(ca, cb)
    return torch.relu(2 * radius - d).pow(2).sum(dim=(1, 2))


def hand_regions(hand: HandModel, device: torch.device | str) -> dict[str, Tensor]:
    """The hand's contact regions on ``device``."""
    return {k: v.to(device) for k, v in hand.contact_regions.items()}

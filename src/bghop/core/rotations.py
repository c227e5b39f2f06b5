"""Rotation conversions over any leading dimensions, differentiable everywhere we can make them.

Representations
---------------
* axis-angle ``(..., 3)``: direction = axis, norm = angle in radians (MANO convention).
* rotation matrix ``(..., 3, 3)``: acts on column vectors, ``p' = R @ p``.
* 6D ``(..., 6)``: the first two *columns* of the matrix, concatenated
  (Zhou et al., "On the Continuity of Rotation Representations in Neural Networks", CVPR 2019);
  used for optimised global rotations because it is continuous.

All functions are pure, keep dtype/device of their input and broadcast over leading dims.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "rot6d_to_matrix",
    "matrix_to_rot6d",
    "axis_angle_to_rot6d",
    "rot6d_to_axis_angle",
    "skew",
]

_SMALL = 1e-6


def skew(v: Tensor) -> Tensor:
    """Cross-product matrix ``[v]_x`` with ``[v]_x @ u == v x u``.

    Args:
        v: ``(..., 3)``.
    Returns:
        ``(..., 3, 3)``.
    """
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], dim=-1).reshape(*v.shape[:-1], 3, 3)


def axis_angle_to_matrix(aa: Tensor) -> Tensor:
    """Rodrigues' formula ``R = I + sin θ/θ K + (1 - cos θ)/θ² K²`` with ``K = [aa]_x``.

    Written with the un-normalised ``K`` and Taylor expansions of the two coefficients near
    ``θ = 0`` so that values *and gradients* are finite at the identity.

    Args:
        aa: ``(..., 3)`` axis-angle.
    Returns:
        ``(..., 3, 3)`` rotation matrices.
    """
    theta2 = (aa * aa).sum(-1, keepdim=True).unsqueeze(-1)  # (..., 1, 1)
    small = theta2 < _SMALL**2 * 1e4
    theta2_safe = torch.where(small, torch.ones_like(theta2), theta2)
    theta = theta2_safe.sqrt()
    a = torch.where(small, 1.0 - theta2 / 6.0 + theta2 * theta2 / 120.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0 + theta2 * theta2 / 720.0, (1.0 - torch.cos(theta)) / theta2_safe)
    k = skew(aa)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(k)
    return eye + a * k + b * (k @ k)


def matrix_to_axis_angle(R: Tensor) -> Tensor:
    """Inverse of :func:`axis_angle_to_matrix`, returning angles in ``[0, π]``.

    Goes through a unit quaternion (robust for every angle, including π where the
    antisymmetric part of ``R`` vanishes); the quaternion is taken from the largest of the
    four candidate denominators (Shepperd's method), so no branch divides by ~0.

    Args:
        R: ``(..., 3, 3)`` rotation matrices.
    Returns:
        ``(..., 3)`` axis-angle.
    """
    return _quaternion_to_axis_angle(_matrix_to_quaternion(R))


def _matrix_to_quaternion(R: Tensor) -> Tensor:
    """``(..., 3, 3)`` → unit quaternion ``(..., 4)`` as ``(w, x, y, z)`` with ``w ≥ 0``."""
    m = R
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # 4 * q_i^2 for each component, clamped so sqrt is safe.
    q_abs2 = torch.stack(
        [1.0 + m00 + m11 + m22, 1.0 + m00 - m11 - m22, 1.0 - m00 + m11 - m22, 1.0 - m00 - m11 + m22], dim=-1
    )
    q_abs = torch.sqrt(torch.clamp(q_abs2, min=1e-12))
    # Each row is the quaternion (times 4 q_k) computed from the k-th largest component.
    cands = torch.stack(
        [
            torch.stack([q_abs[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01], dim=-1),
            torch.stack([m21 - m12, q_abs[..., 1] ** 2, m10 + m01, m02 + m20], dim=-1),
            torch.stack([m02 - m20, m10 + m01, q_abs[..., 2] ** 2, m12 + m21], dim=-1),
            torch.stack([m10 - m01, m20 + m02, m21 + m12, q_abs[..., 3] ** 2], dim=-1),
        ],
        dim=-2,
    )  # (..., 4, 4)
    cands = cands / (2.0 * q_abs[..., :, None])
    idx = q_abs.argmax(dim=-1)
    q = torch.gather(cands, -2, idx[..., None, None].expand(*idx.shape, 1, 4)).squeeze(-2)
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def _quaternion_to_axis_angle(q: Tensor) -> Tensor:
    """Unit quaternion ``(..., 4)`` (w first, w ≥ 0) → axis-angle ``(..., 3)``."""
    xyz = q[..., 1:]
    s = xyz.norm(dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(s, q[..., :1])
    small = s < _SMALL
    # angle / sin(angle/2) → 2 (1 + angle²/24) as angle → 0
    factor = torch.where(small, 2.0 + angle * angle / 12.0, angle / torch.where(small, torch.ones_like(s), s))
    return xyz * factor


def rot6d_to_matrix(d6: Tensor) -> Tensor:
    """Gram–Schmidt on the two 3-vectors of a 6D rotation.

    Args:
        d6: ``(..., 6)``: first column then second column (need not be orthonormal).
    Returns:
        ``(..., 3, 3)`` rotation matrix whose first two columns span the same plane.
    """
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rot6d(R: Tensor) -> Tensor:
    """``(..., 3, 3)`` → ``(..., 6)``: first two columns."""
    return torch.cat([R[..., :, 0], R[..., :, 1]], dim=-1)


def axis_angle_to_rot6d(aa: Tensor) -> Tensor:
    """``(..., 3)`` → ``(..., 6)``."""
    return matrix_to_rot6d(axis_angle_to_matrix(aa))


def rot6d_to_axis_angle(d6: Tensor) -> Tensor:
    """``(..., 6)`` → ``(..., 3)``."""
    return matrix_to_axis_angle(rot6d_to_matrix(d6))

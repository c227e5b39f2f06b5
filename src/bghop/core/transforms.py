"""Homogeneous transforms and rigid/similarity alignment (Kabsch / Umeyama).

Conventions (shared/DESIGN.md §2): column vectors, 4×4 matrices; ``aTb`` maps points
from frame ``b`` to frame ``a``: ``p_a = aTb @ p_b``. Any leading batch dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "make_transform",
    "split_transform",
    "invert_transform",
    "apply_transform",
    "compose",
    "scale_transform",
    "Similarity",
    "umeyama",
    "kabsch",
]


def make_transform(R: Tensor | None = None, t: Tensor | None = None, scale: Tensor | float | None = None) -> Tensor:
    """Build ``T = [[s R, t], [0, 1]]``.

    Args:
        R: ``(..., 3, 3)`` rotation (identity if None).
        t: ``(..., 3)`` translation (zero if None).
        scale: scalar or ``(...)`` uniform scale multiplying ``R`` (1 if None).
    Returns:
        ``(..., 4, 4)``.
    """
    if R is None and t is None:
        raise ValueError("make_transform needs at least R or t")
    ref = R if R is not None else t
    lead = ref.shape[:-2] if R is not None else ref.shape[:-1]
    if R is None:
        R = torch.eye(3, dtype=ref.dtype, device=ref.device).expand(*lead, 3, 3)
    if t is None:
        t = torch.zeros(*lead, 3, dtype=ref.dtype, device=ref.device)
    lead = torch.broadcast_shapes(R.shape[:-2], t.shape[:-1])
    R = R.expand(*lead, 3, 3)
    t = t.expand(*lead, 3)
    if scale is not None:
        s = torch.as_tensor(scale, dtype=R.dtype, device=R.device)
        R = R * s.reshape(*s.shape, 1, 1)
    top = torch.cat([R, t[..., None]], dim=-1)
    bottom = torch.zeros(*lead, 1, 4, dtype=R.dtype, device=R.device)
    bottom[..., 0, 3] = 1.0
    return torch.cat([top, bottom], dim=-2)


def scale_transform(s: float, center: Tensor) -> Tensor:
    """``T(p) = s (p - center)``: uniform scale about ``center``.

    Args:
        s: scale.
        center: ``(..., 3)``.
    Returns:
        ``(..., 4, 4)``.
    """
    eye = torch.eye(3, dtype=center.dtype, device=center.device).expand(*center.shape[:-1], 3, 3)
    return make_transform(eye * s, -s * center)


def split_transform(T: Tensor) -> tuple[Tensor, Tensor]:
    """``(..., 4, 4)`` → linear part ``(..., 3, 3)`` and translation ``(..., 3)``."""
    return T[..., :3, :3], T[..., :3, 3]


def invert_transform(T: Tensor) -> Tensor:
    """Inverse of a similarity transform ``[[sR, t], [0, 1]]`` without a general matrix inverse.

    Args:
        T: ``(..., 4, 4)`` with linear part ``s R`` (``s > 0``, ``R`` orthonormal).
    Returns:
        ``(..., 4, 4)``.
    """
    A, t = split_transform(T)
    s2 = (A[..., :, 0] ** 2).sum(-1)[..., None, None]  # s²
    A_inv = A.transpose(-1, -2) / s2
    return make_transform(A_inv, -(A_inv @ t[..., None])[..., 0])


def apply_transform(T: Tensor, points: Tensor) -> Tensor:
    """Apply ``(..., 4, 4)`` transforms to ``(..., N, 3)`` points (batch dims broadcast)."""
    A, t = split_transform(T)
    return points @ A.transpose(-1, -2) + t[..., None, :]


def compose(*Ts: Tensor) -> Tensor:
    """``compose(aTb, bTc, ...) = aTb @ bTc @ ...``."""
    out = Ts[0]
    for T in Ts[1:]:
        out = out @ T
    return out


@dataclass
class Similarity:
    """Result of :func:`umeyama`: ``dst ≈ scale * R @ src + t``.

    Attributes:
        R: ``(..., 3, 3)`` proper rotation (det +1).
        t: ``(..., 3)``.
        scale: ``(...)``.
    """

    R: Tensor
    t: Tensor
    scale: Tensor

    def matrix(self) -> Tensor:
        """``(..., 4, 4)`` homogeneous form."""
        return make_transform(self.R, self.t, self.scale)

    def apply(self, points: Tensor) -> Tensor:
        """``(..., N, 3)`` → ``(..., N, 3)``."""
        return self.scale[..., None, None] * points @ self.R.transpose(-1, -2) + self.t[..., None, :]


def umeyama(src: Tensor, dst: Tensor, weights: Tensor | None = None, with_scale: bool = True) -> Similarity:
    """Least-squares similarity (or rigid) transform ``dst ≈ s R src + t`` (Umeyama 1991).

    The reflection fix follows Umeyama's Eq. (39)-(43): with ``Σ = U D Vᵀ`` the SVD of the
    cross-covariance ``dst_c srcᵀ_c``, we use ``R = U S Vᵀ`` where ``S = diag(1, 1, det(U Vᵀ))`` —
    i.e. the sign flip goes on the axis of the **smallest** singular value (``torch.linalg.svd``
    returns them in descending order, so the last one). The scale uses the same ``S``.

    Args:
        src: ``(..., N, 3)``.
        dst: ``(..., N, 3)``.
        weights: ``(..., N)`` non-negative point weights (uniform if None).
        with_scale: estimate ``s`` (Umeyama) or force ``s = 1`` (Kabsch).
    Returns:
        :class:`Similarity` with batch shape ``(...)``.
    """
    if src.shape != dst.shape or src.shape[-1] != 3:
        raise ValueError(f"umeyama needs matching (..., N, 3) point sets, got {tuple(src.shape)} and {tuple(dst.shape)}")
    if weights is None:
        weights = torch.ones(src.shape[:-1], dtype=src.dtype, device=src.device)
    w = weights / weights.sum(-1, keepdim=True).clamp_min(1e-12)  # (..., N)
    mu_s = (w[..., None] * src).sum(-2)
    mu_d = (w[..., None] * dst).sum(-2)
    xs = src - mu_s[..., None, :]
    xd = dst - mu_d[..., None, :]
    cov = (w[..., None] * xd).transpose(-1, -2) @ xs  # (..., 3, 3) = Σ w dst_c src_cᵀ
    U, D, Vh = torch.linalg.svd(cov)
    d = torch.sign(torch.linalg.det(U @ Vh))
    d = torch.where(d == 0, torch.ones_like(d), d)
    S = torch.ones(*d.shape, 3, dtype=src.dtype, device=src.device)
    S = torch.cat([S[..., :2], d[..., None]], dim=-1)
    R = U @ (S[..., :, None] * Vh)
    if with_scale:
        var_s = (w * (xs * xs).sum(-1)).sum(-1)
        scale = (D * S).sum(-1) / var_s.clamp_min(1e-12)
    else:
        scale = torch.ones_like(d)
    t = mu_d - scale[..., None] * (R @ mu_s[..., None])[..., 0]
    return Similarity(R=R, t=t, scale=scale)


def kabsch(src: Tensor, dst: Tensor, weights: Tensor | None = None) -> Similarity:
    """Rigid alignment ``dst ≈ R src + t`` (``scale`` fixed to 1). See :func:`umeyama`."""
    return umeyama(src, dst, weights=weights, with_scale=False)

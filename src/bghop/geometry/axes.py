"""An object's own frame from its surface alone: principal axes and the centre of its box in them.

Used where a frame must not depend on anything but the object: the interaction grid anchored to
the object (``bghop.fields.frame``, ``anchor="object"``) and grasp starts that span an object's
long axis (``bghop.contact.init``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["principal_frame", "principal_extents"]


def principal_frame(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``oTa`` ``(4, 4)`` float64: an object's principal axes (columns) and the centre of its box in them.

    The axes are the eigenvectors of the surface's second moments about its centroid (exact per
    triangle: ``∫ x xᵀ dA = A/12 (Σ vᵢvᵢᵀ + S Sᵀ)``, ``S = Σ vᵢ``), longest spread first; each axis
    points where the surface's third moment along it is positive (an axis without skew keeps the
    sign that has a non-negative largest component), and the third is the cross product of the
    first two (right-handed). The centre is the middle of the object's box in those axes, so the
    grid sits on the object's extent, not on its mass. Deterministic for a given mesh; a rotated
    copy of a mesh gets the rotated frame (up to the ambiguity of equal spreads, e.g. a ball).

    Args:
        vertices: ``(V, 3)`` metres.
        faces: ``(F, 3)``.
    """
    v = np.asarray(vertices, dtype=np.float64)
    tri = v[np.asarray(faces, dtype=np.int64)]  # (F, 3, 3)
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    total = float(area.sum())
    if not total > 0:
        raise ValueError("the object mesh has no area: its frame is undefined")
    mean = (area[:, None] * tri.mean(1)).sum(0) / total
    t = tri - mean
    S = t.sum(1)  # (F, 3)
    second = (area[:, None, None] / 12.0 * (np.einsum("fki,fkj->fij", t, t) + np.einsum("fi,fj->fij", S, S))).sum(0)
    evals, evecs = np.linalg.eigh(second / total)
    axes = evecs[:, ::-1].copy()  # longest spread first
    # third moment along each axis from dense area samples (centroids of the triangles, by area)
    proj = (tri.mean(1) - mean) @ axes  # (F, 3)
    skew = (area[:, None] * proj**3).sum(0) / total
    scale3 = np.maximum(np.sqrt(np.maximum(evals[::-1], 0.0)) ** 3, 1e-30)
    for k in range(2):
        if abs(skew[k]) > 1e-6 * scale3[k]:
            flip = skew[k] < 0
        else:
            flip = axes[np.argmax(np.abs(axes[:, k])), k] < 0
        if flip:
            axes[:, k] = -axes[:, k]
    axes[:, 2] = np.cross(axes[:, 0], axes[:, 1])
    local = (v - mean) @ axes
    centre = mean + axes @ (0.5 * (local.min(0) + local.max(0)))
    out = np.eye(4)
    out[:3, :3] = axes
    out[:3, 3] = centre
    return out


def principal_extents(vertices: np.ndarray, oTa: np.ndarray) -> np.ndarray:
    """``(3,)`` the object's box extents along the axes of ``oTa`` (:func:`principal_frame`), metres."""
    local = (np.asarray(vertices, dtype=np.float64) - oTa[:3, 3]) @ oTa[:3, :3]
    return np.ptp(local, axis=0)

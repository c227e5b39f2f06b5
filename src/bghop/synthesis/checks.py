"""Objects that grasp synthesis refuses before any work, and warnings for borderline ones."""

from __future__ import annotations

import logging

import numpy as np
import trimesh

from bghop.fields.frame import FrameConfig, object_frame
from bghop.geometry.axes import principal_extents

logger = logging.getLogger(__name__)

__all__ = ["GraspError", "MIN_OBJECT_EXTENT_M", "check_object"]

#: smallest object worth grasping: about a fingertip's width
MIN_OBJECT_EXTENT_M = 0.01
#: objects wider than this fraction of the grid get a warning (parts fall outside the grid), for grids
#: anchored to the right hand or between the palms
_WARN_GRID_FRACTION = 0.7
#: room a hand needs beyond the object's end in a grid anchored to the object (metres, each side)
_HAND_ROOM_M = 0.1


class GraspError(ValueError):
    """Input that grasp synthesis cannot use; the message says what to do."""


def check_object(mesh: trimesh.Trimesh, frame: FrameConfig = FrameConfig()) -> list[str]:
    """Refuse objects that cannot be grasped with the prior; return warnings for borderline ones.

    Args:
        mesh: the object, metres.
        frame: the prior's normalised frame (grid size ``2·extent/scale`` metres).
    Raises:
        GraspError: empty mesh, non-finite vertices, larger than the grid, smaller than a fingertip.
    """
    if len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        raise GraspError("the object mesh has no triangles")
    v = np.asarray(mesh.vertices)
    if not np.isfinite(v).all():
        raise GraspError("the object mesh has NaN or infinite vertices: repair it and export it again")
    if frame.anchor == "object":  # the grid is centred on the object's box in its principal axes
        oTa = object_frame(v, np.asarray(mesh.faces))
        ext = float(principal_extents(v, oTa).max())
    else:
        ext = float(np.ptp(v, axis=0).max())
    grid = frame.side_m
    if ext > grid:
        raise GraspError(
            f"the object is {ext:.3f} m across, larger than the prior's grid ({grid:.2f} m cube {frame.where}): it "
            f"cannot be represented. If the mesh is not in metres pass --scale (0.001 for millimetres, 0.01 for centimetres)")
    if ext < MIN_OBJECT_EXTENT_M:
        raise GraspError(
            f"the object is only {ext * 1000:.1f} mm across, smaller than a fingertip "
            f"({MIN_OBJECT_EXTENT_M * 1000:.0f} mm): nothing to grasp. If the mesh is not in metres pass --scale")
    warnings = []
    if frame.anchor == "object":
        if ext > grid - 2 * _HAND_ROOM_M:
            warnings.append(f"the object is {ext:.2f} m across: hands at its ends reach past the prior's {grid:.2f} m "
                            f"grid (it leaves {100 * (grid - ext) / 2:.0f} cm beyond each end) and are partly unseen")
    elif ext > _WARN_GRID_FRACTION * grid:
        warnings.append(f"the object is {ext:.2f} m across: parts of it far from the hands fall outside the "
                        f"prior's {grid:.2f} m grid ({frame.where}) and are not seen by the prior")
    merged = trimesh.Trimesh(v, np.asarray(mesh.faces), process=True)  # STL-style meshes repeat vertices
    if not merged.is_watertight:
        logger.info("the object mesh is not watertight; inside/outside comes from the winding number")
    for w in warnings:
        logger.warning(w)
    return warnings

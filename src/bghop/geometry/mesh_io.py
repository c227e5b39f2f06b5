"""Loading and saving meshes with the checks a user needs (missing file, empty mesh, units).

Every mesh that enters bghop is in **metres**. A mesh whose largest bounding-box side is over
:data:`MAX_EXTENT_M` is almost certainly in millimetres (YCB/BOP/ARCTIC ship mm meshes), and
one under :data:`MIN_EXTENT_M` is smaller than a fingertip; both are refused with a message
that says what to pass.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import trimesh

logger = logging.getLogger(__name__)

__all__ = ["MeshError", "load_mesh", "save_mesh_atomic", "MAX_EXTENT_M", "MIN_EXTENT_M"]

#: largest plausible object for hands to hold, metres (a 3 m "object" is a mm mesh of a 3 mm… or a room)
MAX_EXTENT_M = 3.0
#: smallest graspable object, metres (about a fingertip's width)
MIN_EXTENT_M = 0.005


class MeshError(ValueError):
    """A mesh that cannot be used; the message says what to do."""


def load_mesh(path: str | os.PathLike, scale: float = 1.0, check_units: bool = True) -> trimesh.Trimesh:
    """Load a triangle mesh (OBJ, PLY, STL, GLB/GLTF, OFF, … anything trimesh reads).

    Scenes (GLB/GLTF, multi-object OBJ) are flattened with their node transforms applied.

    Args:
        path: mesh file.
        scale: multiply coordinates by this (``0.001`` for a millimetre mesh).
        check_units: refuse meshes whose size says they are not in metres.
    Returns:
        the mesh in metres (not repaired: holes and flipped faces are kept; the SDF code is robust to them).
    Raises:
        MeshError: missing, unreadable, empty or non-finite mesh, or implausible size.
    """
    path = Path(path)
    if not path.is_file():
        raise MeshError(f"mesh file {path} does not exist")
    try:
        loaded = trimesh.load(path, process=False)
    except Exception as e:  # trimesh raises many types for bad files
        raise MeshError(f"could not read {path} as a mesh ({type(e).__name__}: {e}); "
                        "use OBJ, PLY, STL or GLB") from e
    if isinstance(loaded, trimesh.Scene):
        geoms = [g for g in loaded.dump() if isinstance(g, trimesh.Trimesh)] if loaded.geometry else []
        mesh = trimesh.util.concatenate(geoms) if geoms else None
    else:
        mesh = loaded
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        raise MeshError(f"{path} holds no triangles (empty file, point cloud or unsupported content)")
    v = np.asarray(mesh.vertices, dtype=np.float64)
    if not np.isfinite(v).all():
        raise MeshError(f"{path} has NaN or infinite vertex coordinates")
    if scale != 1.0:
        if not (np.isfinite(scale) and scale > 0):
            raise MeshError(f"--scale must be a positive number, got {scale}")
        mesh = trimesh.Trimesh(v * scale, np.asarray(mesh.faces), process=False)
    extent = float(np.ptp(np.asarray(mesh.vertices), axis=0).max())
    if check_units and extent > MAX_EXTENT_M:
        raise MeshError(f"{path} is {extent:.1f} units across: that is {extent:.0f} m if in metres. "
                        "It is probably in millimetres: pass --scale 0.001 (or scale=0.001)")
    if check_units and extent < MIN_EXTENT_M:
        raise MeshError(f"{path} is only {extent * 1000:.2f} mm across, smaller than a fingertip. "
                        "Check its units (e.g. --scale 0.01 for centimetres, --scale 1 for metres)")
    return mesh


def save_mesh_atomic(mesh: trimesh.Trimesh, path: str | os.PathLike) -> Path:
    """Export a mesh (format from the suffix) via a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        mesh.export(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path

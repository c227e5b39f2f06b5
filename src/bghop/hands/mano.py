"""The official MANO hand model (Romero, Tzionas & Black, SIGGRAPH Asia 2017), ``kind="mano"``.

Model files
-----------
MANO is licensed and never shipped with bghop. Register at https://mano.is.tue.mpg.de, download
"Models & Code" and copy ``mano_v1_2/models/MANO_RIGHT.pkl`` and ``MANO_LEFT.pkl`` into a folder
that you pass as ``model_dir`` (``load_hand("mano", model_dir=...)``) or name in the environment
variable ``$BGHOP_MANO_DIR``. ``.npz`` files with the same keys work too. In that folder we look
for ``MANO_<SIDE>.pkl`` / ``.npz`` directly, then in ``models/``, ``mano_v1_2/models/`` and
``mano/`` (smplx's layout); ``model_dir`` may also be the file itself.

Reading without chumpy
----------------------
The official pickles are Python-2 pickles (read with ``encoding="latin1"``) holding numpy
arrays, a ``scipy.sparse.csc_matrix`` ``J_regressor`` and ``chumpy.ch.Ch`` objects (``shapedirs``;
the array is the object's ``x`` state). chumpy itself does not import on numpy ≥ 1.24 /
Python 3.11, so :class:`_MANOUnpickler` maps every ``chumpy.*`` class to :class:`_ChumpyStandIn`,
which only records its pickled state, and the array is taken from there. The unpickler also
maps the py2/numpy-1 era module names (``numpy.core.*``, ``scipy.sparse.csc``) to today's and
refuses every other global that a MANO file has no business referencing, so a stray pickle
cannot run code. Sparse matrices become dense arrays (``.toarray()``).

Keys and shapes (checked; anything else raises :class:`MANOModelError` naming the file):
``v_template (778, 3)``, ``f (1538, 3)``, ``J_regressor (16, 778)``, ``weights (778, 16)``,
``kintree_table (2, 16)`` (root parent stored as 2³²−1; must be MANO's tree,
:data:`~bghop.hands.base.PARENTS`), ``posedirs (778, 3, 135)``, ``shapedirs (778, 3, 10)``,
``hands_components (45, 45)``, ``hands_mean (45,)``.

Forward (same equations and conventions as smplx's MANO)
--------------------------------------------------------
``v_shaped = v_template + shapedirs · β``; ``J = J_regressor · v_shaped``; pose blend shapes
``posedirs.reshape(-1, 135).T`` (``(135, 778·3)``) driven by ``vec(R_k − I)`` of the 15 finger
joints; linear blend skinning with the global rotation about the rest wrist ``J_0``
(:func:`bghop.hands.lbs.articulate`); ``transl`` added last.

* ``flat_hand_mean=False``: the articulation is ``hands_mean + pose`` (MANO's mean hand at
  ``pose = 0``; this is how ARCTIC and most MANO data sets store poses). With ``True`` (the
  default) ``pose = 0`` is the flat hand.
* ``use_pca=True``: ``pose`` is ``(B, num_pca_comps)`` coefficients and the articulation is
  ``coeffs @ hands_components[:num_pca_comps]`` (plus ``hands_mean`` unless ``flat_hand_mean``);
  :meth:`MANOHand.pca_to_pose` gives the equivalent ``(B, 45)`` ``pose``.

Left-hand ``shapedirs`` fix
---------------------------
MANO_LEFT.pkl's ``shapedirs`` carries the right hand's sign on x, so a shape change does not mirror
the way the template, joints and pose blend shapes do (smplx issue #48, DexYCB issue #28, ARCTIC
issue #15). For ``side="left"`` we negate ``shapedirs[:, 0, :]`` (``fix_left_shapedirs=True``, the
default). Nothing is detected automatically: the flag is applied as given, whatever the file holds.
Turn it off to reproduce libraries that do not apply the fix (smplx, manopth) — e.g. to reuse
``betas`` fitted with them for a left hand.

Keypoints
---------
21 = the 16 regressed joints plus 5 fingertip vertices (thumb, index, middle, ring, pinky),
reordered with :data:`~bghop.hands.base.NATIVE_TO_KEYPOINT`. The tip vertex ids are smplx's
``vertex_ids["mano"]`` (``smplx/vertex_ids.py``): 744, 320, 443, 554, 671, used for both sides
(MANO_LEFT has the same topology). manopth uses 745, 317, 444, 556, 673 (manopth
``manolayer.py``; 445 for the left middle in some forks): neighbouring vertices on the same
fingertips, so keypoints from the two libraries differ by a few millimetres at the tips.

Contact regions and joint limits
--------------------------------
:attr:`MANOHand.contact_regions` is computed from the model data (:func:`mano_contact_regions`),
not from hard-coded vertex ids. ``joint_limits`` is None: MANO's joint frames are the model axes,
not anatomical axes, so per-component boxes would be misleading; optimisers that need limits
use the open hand's (``load_hand("open")``).
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from bghop.hands.base import (
    CONTACT_REGION_NAMES,
    NATIVE_TO_KEYPOINT,
    PARENTS,
    HandModel,
    HandOutput,
    JointLimits,
)
from bghop.hands.lbs import articulate

logger = logging.getLogger(__name__)

__all__ = [
    "ENV_VAR",
    "EXPECTED_SHAPES",
    "MANOPTH_TIP_IDS",
    "MANO_TIP_IDS",
    "MANO_URL",
    "MANOFileNotFoundError",
    "MANOHand",
    "MANOModelError",
    "load_mano_data",
    "mano_candidate_paths",
    "mano_contact_regions",
    "read_mano_file",
]

MANO_URL = "https://mano.is.tue.mpg.de"
#: environment variable naming the folder with MANO_RIGHT.pkl / MANO_LEFT.pkl
ENV_VAR = "BGHOP_MANO_DIR"
#: fingertip vertex ids (thumb, index, middle, ring, pinky): smplx ``vertex_ids["mano"]``, used here
MANO_TIP_IDS: tuple[int, ...] = (744, 320, 443, 554, 671)
#: manopth's fingertip ids, same order (documentation only)
MANOPTH_TIP_IDS: tuple[int, ...] = (745, 317, 444, 556, 673)
#: required keys and their shapes
EXPECTED_SHAPES: dict[str, tuple[int, ...]] = {
    "v_template": (778, 3),
    "f": (1538, 3),
    "J_regressor": (16, 778),
    "weights": (778, 16),
    "kintree_table": (2, 16),
    "posedirs": (778, 3, 135),
    "shapedirs": (778, 3, 10),
    "hands_components": (45, 45),
    "hands_mean": (45,),
}
_SUBDIRS: tuple[tuple[str, ...], ...] = ((), ("models",), ("mano_v1_2", "models"), ("mano",))
#: native index of each digit's distal joint (the joint that moves the distal phalanx)
_DISTAL_JOINT = {"thumb": 15, "index": 3, "middle": 6, "ring": 12, "pinky": 9}
#: tip id position in MANO_TIP_IDS per digit
_TIP_SLOT = {"thumb": 0, "index": 1, "middle": 2, "ring": 3, "pinky": 4}
_HOW_TO_GET = (
    f"MANO is licensed and not shipped with bghop: register at {MANO_URL}, download \"Models & Code\", "
    "and copy mano_v1_2/models/MANO_RIGHT.pkl and MANO_LEFT.pkl into that folder (pass it as model_dir / "
    f"--mano-dir), or set ${ENV_VAR} to the folder that holds them. Without MANO, use the built-in hand: "
    "load_hand(\"open\", ...)."
)


class MANOModelError(ValueError):
    """A MANO model file that cannot be used; the message names the file and the problem."""


class MANOFileNotFoundError(MANOModelError, FileNotFoundError):
    """No MANO model file where we looked; the message lists every path tried and how to get it."""


# ------------------------------------------------------------------------------------ unpickling
class _ChumpyStandIn:
    """Takes the place of every ``chumpy`` class while unpickling and keeps the pickled state.

    chumpy's ``Ch.__getstate__`` returns the instance ``__dict__`` (minus caches), whose ``"x"``
    entry is the numpy array; :meth:`array` also accepts a few other layouts.
    """

    _state: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # called by copyreg._reconstructor / NEWOBJ
        self._args = args

    def __setstate__(self, state: Any) -> None:
        self._state = state

    def array(self) -> np.ndarray:
        """The wrapped array (the state's ``x``)."""
        return _unwrap_chumpy_state(self._state, getattr(self, "_args", ()))


def _unwrap_chumpy_state(state: Any, args: tuple = ()) -> np.ndarray:
    if isinstance(state, tuple) and len(state) == 2 and (state[0] is None or isinstance(state[0], dict)):
        merged = dict(state[0] or {})  # (dict state, slot state)
        merged.update(state[1] or {})
        state = merged
    if isinstance(state, dict):
        for key in ("x", "_x", "a"):
            if key in state and state[key] is not None:
                return _to_array(state[key])
        raise MANOModelError(f"a chumpy object holds no array (its state has keys {sorted(map(str, state))})")
    if state is not None and not isinstance(state, (str, bytes)):
        return _to_array(state)  # a bare array/list as the state
    for a in args:  # constructed with the array as argument and no state
        if isinstance(a, (np.ndarray, list, tuple)):
            return _to_array(a)
    raise MANOModelError(f"a chumpy object holds no array (state of type {type(state).__name__})")


def _to_array(x: Any) -> np.ndarray:
    """chumpy stand-in / scipy sparse / numpy / nested list → ``np.ndarray``."""
    if isinstance(x, _ChumpyStandIn):
        return x.array()
    if hasattr(x, "toarray") and type(x).__module__.startswith("scipy.sparse"):
        return np.asarray(x.toarray())
    a = np.asarray(x)
    if a.dtype == object:
        raise MANOModelError(f"expected a numeric array, got an object array of {type(a.flat[0]).__name__}"
                             if a.size else "expected a numeric array, got an empty object array")
    return a


_ALLOWED_BUILTINS = {"object", "set", "frozenset", "slice", "list", "dict", "tuple", "complex", "bytearray",
                     "int", "float", "str", "bool", "bytes", "range", "long", "unicode", "xrange"}
_ALLOWED_OTHER = {("_codecs", "encode"), ("collections", "OrderedDict")}
_ALLOWED_NUMPY = {"_reconstruct", "ndarray", "dtype", "scalar", "_frombuffer", "matrix"}


class _MANOUnpickler(pickle.Unpickler):
    """Reads MANO pickles without chumpy; refuses globals a model file does not need."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyStandIn
        if module.startswith("scipy.sparse"):
            import scipy.sparse

            cls = getattr(scipy.sparse, name, None)  # scipy.sparse.csc (py2 era) → the public namespace
            if isinstance(cls, type) and issubclass(cls, (scipy.sparse.spmatrix, getattr(scipy.sparse, "sparray", scipy.sparse.spmatrix))):
                return cls
        elif module == "numpy" or module.startswith(("numpy.core", "numpy._core", "numpy.matrixlib")):
            if name not in _ALLOWED_NUMPY:
                raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
            if module.startswith("numpy.core") and hasattr(np, "_core"):
                module = "numpy._core" + module[len("numpy.core"):]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                return super().find_class(module, name)
        elif module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return super().find_class(module, name)  # py2 names are mapped by pickle's fix_imports
        elif (module in ("builtins", "__builtin__") and name in _ALLOWED_BUILTINS) or (module, name) in _ALLOWED_OTHER:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} (not part of a MANO model file)")


# ------------------------------------------------------------------------------------ finding files
def mano_candidate_paths(side: str, model_dir: str | os.PathLike | None = None) -> tuple[list[Path], str]:
    """Where :func:`load_mano_data` looks, in order, and a sentence saying why there.

    Args:
        side: ``"right"`` or ``"left"``.
        model_dir: folder (or file); ``$BGHOP_MANO_DIR`` if None.
    Returns:
        candidate paths (empty when there is no folder to look in) and a description of where
        the folder came from, including whether ``$BGHOP_MANO_DIR`` is set.
    """
    stem = f"MANO_{side.upper()}"
    env = os.environ.get(ENV_VAR) or None
    if model_dir is not None:
        folder = Path(model_dir).expanduser()
        how = (f"model_dir={str(model_dir)!r}; ${ENV_VAR} "
               + (f"is set to {env!r} but model_dir takes precedence" if env else "is not set"))
    elif env is not None:
        folder = Path(env).expanduser()
        how = f"no model_dir given; ${ENV_VAR}={env!r}"
    else:
        return [], f"no model_dir given and ${ENV_VAR} is not set, so there is no folder to look in"
    if folder.is_file():
        return [folder], how
    if not folder.exists():
        how += f"; the folder {str(folder)!r} does not exist"
    return [folder.joinpath(*sub, stem + ext) for sub in _SUBDIRS for ext in (".pkl", ".npz")], how


def read_mano_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a MANO ``.pkl`` (official format, no chumpy needed) or ``.npz`` into a raw dict.

    Args:
        path: the file.
    Returns:
        the file's top-level dict (values not yet converted or checked).
    Raises:
        MANOModelError: the file cannot be read or does not hold a dict.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
        if path.suffix == ".npz" or data[:4] == b"PK\x03\x04":
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                raw: Any = {k: z[k] for k in z.files}
        else:
            raw = _MANOUnpickler(io.BytesIO(data), encoding="latin1").load()
    except MANOModelError as e:
        raise MANOModelError(f"MANO file {path}: {e}") from e
    except Exception as e:  # a corrupt pickle/zip raises many different types
        raise MANOModelError(f"could not read MANO file {path}: {type(e).__name__}: {e}. Is it the official "
                             f"MANO_*.pkl (or an .npz with the same keys)? Download it again from {MANO_URL}.") from e
    if not isinstance(raw, dict):
        raise MANOModelError(f"MANO file {path} does not hold a dict of arrays (got {type(raw).__name__}); "
                             f"is it a MANO model file from {MANO_URL}?")
    return raw


def _validate(raw: dict[str, Any], path: Path) -> dict[str, np.ndarray]:
    """Convert and check the required arrays; every problem is reported at once."""
    missing = [k for k in EXPECTED_SHAPES if k not in raw]
    if missing:
        raise MANOModelError(f"MANO file {path} is missing {missing} (it has {sorted(map(str, raw))}); is it a MANO "
                             f"model file from {MANO_URL}?")
    out: dict[str, np.ndarray] = {}
    problems: list[str] = []
    for key, shape in EXPECTED_SHAPES.items():
        try:
            a = _to_array(raw[key])
        except MANOModelError as e:
            problems.append(f"'{key}': {e}")
            continue
        if key == "shapedirs" and a.ndim == 3 and a.shape[:2] == shape[:2] and a.shape[2] > shape[2]:
            logger.debug("%s: using the first %d of %d shape components", path, shape[2], a.shape[2])
            a = a[:, :, : shape[2]]
        if a.shape != shape:
            problems.append(f"'{key}' has shape {a.shape}, expected {shape}")
            continue
        if not np.issubdtype(a.dtype, np.number):
            problems.append(f"'{key}' has dtype {a.dtype}, expected numbers")
            continue
        if not np.isfinite(a).all():
            problems.append(f"'{key}' holds non-finite values")
            continue
        out[key] = a
    if not problems:
        f = out["f"]
        if (f < 0).any() or (f >= 778).any() or not np.all(np.equal(np.mod(f, 1), 0)):
            problems.append("'f' holds vertex indices outside 0..777")
        kt = out["kintree_table"].astype(np.int64)
        parents = kt[0].copy()
        parents[0] = -1  # stored as 2**32 - 1
        if tuple(parents.tolist()) != PARENTS or kt[1].tolist() != list(range(16)):
            problems.append(f"'kintree_table' is not MANO's joint tree (parents {parents.tolist()}, expected "
                            f"{list(PARENTS)})")
    if problems:
        raise MANOModelError(f"MANO file {path} is malformed: " + "; ".join(problems))
    for key in ("weights", "J_regressor"):
        err = np.abs(out[key].sum(-1 if key == "weights" else 1) - 1.0).max()
        if err > 1e-3:
            logger.warning("%s: rows of '%s' do not sum to 1 (max error %.2g)", path, key, err)
    return out


def load_mano_data(side: str, model_dir: str | os.PathLike | None = None) -> tuple[dict[str, np.ndarray], Path]:
    """Find, read and validate the MANO model file of one side.

    Args:
        side: ``"right"`` or ``"left"``.
        model_dir: folder with ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` (or ``.npz``), or the file
            itself; ``$BGHOP_MANO_DIR`` if None.
    Returns:
        the arrays of :data:`EXPECTED_SHAPES` (dense numpy; ``shapedirs`` as in the file, no
        left-hand fix) and the path read.
    Raises:
        MANOFileNotFoundError: no file at any candidate path (the message lists them all).
        MANOModelError: the file is unreadable, lacks keys or has wrong shapes.
    """
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    name = f"MANO_{side.upper()}.pkl"
    paths, how = mano_candidate_paths(side, model_dir)
    found = next((p for p in paths if p.is_file()), None)
    if found is None:
        looked = ("looked in: " + ", ".join(str(p) for p in paths)) if paths else "looked nowhere"
        raise MANOFileNotFoundError(f"MANO model file {name} (or .npz) not found ({looked}; {how}). {_HOW_TO_GET}")
    other = "LEFT" if side == "right" else "RIGHT"
    if f"MANO_{other}" in found.name.upper():
        raise MANOModelError(f"MANO file {found} is the {other.lower()} hand's model, but side={side!r} was asked for")
    data = _validate(read_mano_file(found), found)
    logger.debug("loaded MANO %s hand from %s", side, found)
    return data, found


# ------------------------------------------------------------------------------------ contact regions
def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def mano_contact_regions(
    v_template: np.ndarray,
    joints: np.ndarray,
    weights: np.ndarray,
    side: str,
    tip_ids: tuple[int, ...] = MANO_TIP_IDS,
    cos_min: float = 0.4,
) -> dict[str, np.ndarray]:
    """Palmar finger pads and palm, from the model's rest geometry and skinning weights.

    * Palm normal ``n``: normal of the plane through the rest wrist, index1 and pinky1 joints,
      ``(index1 − pinky1) × (middle1 − wrist)``, negated for the left hand, so it points out of
      the palm for both sides (−y in MANO's frame).
    * Finger pad (index, middle, ring, pinky): vertices whose dominant skinning weight is the
      digit's distal joint (native 3, 6, 9, 12) and whose outward direction — the offset from the
      distal bone's axis (distal joint → tip vertex), which is the surface normal for a tube-like
      phalanx but needs no clean mesh — makes an angle with ``n`` (made perpendicular to the bone)
      of cosine > ``cos_min``; the first 10 % of the bone (the DIP crease) is left out.
    * Thumb pad (distal joint 15): the same with the pad direction halfway between ``n`` and the
      direction from the thumb's distal bone towards the index proximal phalanx, since the thumb
      pad faces the fingers as much as the palm's side.
    * Palm: vertices dominated by the wrist joint (0), on the palmar side of the plane through
      the wrist/index1/pinky1 joints by more than half the 95th-percentile palmar offset, and
      between 15 % of the wrist → middle1 distance and the MCP joints along the hand's axis.

    Sets are disjoint (each vertex has one dominant joint).

    Args:
        v_template: ``(V, 3)`` rest vertices.
        joints: ``(16, 3)`` rest joints (``J_regressor @ v_template``), MANO native order.
        weights: ``(V, 16)`` skinning weights.
        side: ``"right"`` or ``"left"``.
        tip_ids: fingertip vertex ids (thumb, index, middle, ring, pinky).
        cos_min: cosine threshold for pads.
    Returns:
        ``{name: (N_name,) int64 vertex ids}`` for :data:`~bghop.hands.base.CONTACT_REGION_NAMES`.
    """
    v = np.asarray(v_template, dtype=np.float64)
    J = np.asarray(joints, dtype=np.float64)
    dom = np.asarray(weights).argmax(1)
    n = _unit(np.cross(J[1] - J[7], J[4] - J[0]))
    if side == "left":
        n = -n
    out: dict[str, np.ndarray] = {}
    for digit, j in _DISTAL_JOINT.items():
        tip = v[tip_ids[_TIP_SLOT[digit]]]
        axis = tip - J[j]
        length = max(float(np.linalg.norm(axis)), 1e-9)
        axis = axis / length
        pad = n - (n @ axis) * axis
        if digit == "thumb":
            toward = 0.5 * (J[1] + J[2]) - 0.5 * (J[j] + tip)
            toward = _unit(toward - (toward @ axis) * axis)
            pad = _unit(pad) + toward
        pad = _unit(pad)
        q = v - J[j]
        t = q @ axis
        radial = q - t[:, None] * axis
        r = np.linalg.norm(radial, axis=1)
        cos = (radial @ pad) / np.maximum(r, 1e-12)
        sel = (dom == j) & (r > 1e-6) & (cos > cos_min) & (t > 0.1 * length)
        out[digit] = np.nonzero(sel)[0]
    s = (v - J[0]) @ n  # palmar offset from the palm plane
    forward = J[4] - J[0]
    hand_len = float(np.linalg.norm(forward))
    a = (v - J[0]) @ (forward / max(hand_len, 1e-12))
    mcp = max(float((J[k] - J[0]) @ forward) / max(hand_len, 1e-12) for k in (1, 4, 7, 10))
    wrist_dom = dom == 0
    thr = 0.5 * np.percentile(s[wrist_dom], 95) if wrist_dom.any() else np.inf
    palm = wrist_dom & (s > max(thr, 0.0)) & (a > 0.15 * hand_len) & (a < mcp)
    out["palm"] = np.nonzero(palm)[0]
    for k, ids in out.items():
        if len(ids) == 0:
            logger.warning("MANO contact region %r is empty", k)
    return {k: out[k].astype(np.int64) for k in CONTACT_REGION_NAMES}


# ------------------------------------------------------------------------------------ the layer
class MANOHand(HandModel):
    """The official MANO layer (see the module docstring for files, conventions and options).

    Every asset is a non-persistent buffer, so ``state_dict()`` is empty and checkpoints never
    hold licensed data; float buffers follow ``.to(dtype/device)``.

    Args:
        side: ``"right"`` or ``"left"``.
        model_dir: folder with ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` (or ``.npz``), or the file;
            ``$BGHOP_MANO_DIR`` if None.
        flat_hand_mean: if False, the articulation is ``hands_mean + pose``.
        use_pca: ``pose`` is ``(B, num_pca_comps)`` PCA coefficients instead of ``(B, 45)``.
        num_pca_comps: number of PCA components (1..45) in PCA mode.
        fix_left_shapedirs: negate ``shapedirs[:, 0, :]`` of the left hand (module docstring).
    """

    kind = "mano"
    v_template: Tensor  # (V, 3)
    shapedirs: Tensor  # (V, 3, 10)
    J_regressor: Tensor  # (16, V)
    weights: Tensor  # (V, 16)
    posedirs: Tensor  # (135, V*3)
    hands_components: Tensor  # (45, 45), rows = components
    hands_mean: Tensor  # (45,)
    tip_ids: Tensor  # (5,) long

    def __init__(
        self,
        side: str = "right",
        model_dir: str | os.PathLike | None = None,
        flat_hand_mean: bool = True,
        use_pca: bool = False,
        num_pca_comps: int = 6,
        fix_left_shapedirs: bool = True,
    ) -> None:
        super().__init__(side)
        if use_pca and not 1 <= int(num_pca_comps) <= 45:
            raise ValueError(f"num_pca_comps must be in 1..45, got {num_pca_comps}")
        data, self.model_path = load_mano_data(side, model_dir)
        self.flat_hand_mean = bool(flat_hand_mean)
        self.use_pca = bool(use_pca)
        self.num_pca_comps = int(num_pca_comps)
        self.fix_left_shapedirs = bool(fix_left_shapedirs)
        shapedirs = data["shapedirs"].astype(np.float64, copy=True)
        if side == "left" and fix_left_shapedirs:
            shapedirs[:, 0, :] *= -1.0
        self.parents: list[int] = list(PARENTS)  # validated against the file's kintree_table
        dt = torch.get_default_dtype()

        def buf(name: str, a: np.ndarray, dtype: torch.dtype = dt) -> None:
            self.register_buffer(name, torch.tensor(np.ascontiguousarray(a), dtype=dtype), persistent=False)

        buf("v_template", data["v_template"])
        buf("shapedirs", shapedirs)
        buf("J_regressor", data["J_regressor"])
        buf("weights", data["weights"])
        buf("posedirs", data["posedirs"].reshape(-1, 135).T)  # (135, V*3): smplx's layout of the feature map
        buf("hands_components", data["hands_components"])
        buf("hands_mean", data["hands_mean"])
        buf("faces", data["f"].astype(np.int64), dtype=torch.long)  # (F, 3)
        buf("tip_ids", np.asarray(MANO_TIP_IDS, dtype=np.int64), dtype=torch.long)
        regions = mano_contact_regions(data["v_template"], data["J_regressor"] @ data["v_template"],
                                       data["weights"], side)
        self.contact_regions = {k: torch.from_numpy(ids) for k, ids in regions.items()}

    @property
    def num_vertices(self) -> int:
        """Number of skin vertices ``V`` (778)."""
        return int(self.v_template.shape[0])

    @property
    def joint_limits(self) -> JointLimits | None:
        """None: MANO's joint frames are not anatomically aligned (use the open hand's limits)."""
        return None

    def pca_to_pose(self, coeffs: Tensor) -> Tensor:
        """PCA coefficients → the equivalent ``pose``.

        Args:
            coeffs: ``(B, k)`` coefficients of the first ``k`` (1..45) rows of ``hands_components``.
        Returns:
            ``(B, 45)`` ``coeffs @ hands_components[:k]``: like ``pose``, relative to
            ``hands_mean`` when ``flat_hand_mean`` is False, so a non-PCA layer with the same
            ``flat_hand_mean`` gives the same hand for it.
        """
        if coeffs.dim() != 2 or not 1 <= coeffs.shape[1] <= 45:
            raise ValueError(f"PCA coefficients must have shape (B, k) with 1 <= k <= 45, got {tuple(coeffs.shape)}")
        return coeffs @ self.hands_components[: coeffs.shape[1]].to(coeffs)

    def forward(
        self,
        pose: Tensor,
        global_orient: Tensor,
        transl: Tensor,
        betas: Tensor | None = None,
    ) -> HandOutput:
        """As :meth:`HandModel.forward`; with ``use_pca`` ``pose`` is ``(B, num_pca_comps)`` coefficients.

        Args:
            pose: ``(B, 45)`` axis-angle, or ``(B, num_pca_comps)`` in PCA mode.
            global_orient: ``(B, 3)``.
            transl: ``(B, 3)`` metres.
            betas: ``(B, ≤10)`` or None.
        Returns:
            :class:`~bghop.hands.base.HandOutput`: ``vertices (B, 778, 3)``, ``joints (B, 21, 3)``.
        """
        return super().forward(self._full_pose(pose), global_orient, transl, betas)

    def keypoints(self, pose: Tensor, global_orient: Tensor, transl: Tensor, betas: Tensor | None = None) -> Tensor:
        """As :meth:`forward` ``.joints`` (``(B, 21, 3)``), skinning only the fingertip vertices."""
        return super().keypoints(self._full_pose(pose), global_orient, transl, betas)

    def forward_subset(self, vertex_ids: Tensor, pose: Tensor, global_orient: Tensor, transl: Tensor,
                       betas: Tensor | None = None) -> HandOutput:
        """As :meth:`HandModel.forward_subset`; ``pose`` as in :meth:`forward`."""
        return super().forward_subset(vertex_ids, self._full_pose(pose), global_orient, transl, betas)

    def _full_pose(self, pose: Tensor) -> Tensor:
        """``(B, 45)`` axis-angle from what the caller passes (PCA coefficients in PCA mode)."""
        if not self.use_pca:
            return pose
        if pose.dim() != 2 or pose.shape[1] != self.num_pca_comps:
            raise ValueError(f"in PCA mode pose must have shape (B, {self.num_pca_comps}) (coefficients), "
                             f"got {tuple(pose.shape)}")
        return self.pca_to_pose(pose)

    def _forward(self, pose: Tensor, global_orient: Tensor, transl: Tensor, betas: Tensor) -> HandOutput:
        B = pose.shape[0]
        if not self.flat_hand_mean:
            pose = pose + self.hands_mean
        v_shaped = self.v_template + torch.einsum("vdk,bk->bvd", self.shapedirs, betas)  # (B, V, 3)
        joints = torch.einsum("jv,bvd->bjd", self.J_regressor, v_shaped)  # (B, 16, 3)
        full_pose = torch.cat([global_orient, pose], dim=1).reshape(B, 16, 3)
        verts, posed = articulate(full_pose, v_shaped, joints, self.parents, self.weights, self.posedirs)
        verts = verts + transl[:, None]  # (B, V, 3)
        posed = posed + transl[:, None]  # (B, 16, 3)
        kp = torch.cat([posed, verts[:, self.tip_ids]], dim=1)[:, list(NATIVE_TO_KEYPOINT)]  # (B, 21, 3)
        return HandOutput(vertices=verts, joints=kp)

    def _pose_ids(self, ids: Tensor, pose: Tensor, global_orient: Tensor, transl: Tensor,
                  betas: Tensor) -> tuple[Tensor, Tensor]:
        """Posed vertices ``ids`` ``(B, n, 3)`` and the 16 posed joints, both with ``transl``."""
        B = pose.shape[0]
        if not self.flat_hand_mean:
            pose = pose + self.hands_mean
        v_shaped = self.v_template + torch.einsum("vdk,bk->bvd", self.shapedirs, betas)  # (B, V, 3)
        joints = torch.einsum("jv,bvd->bjd", self.J_regressor, v_shaped)  # (B, 16, 3): needs every vertex
        full_pose = torch.cat([global_orient, pose], dim=1).reshape(B, 16, 3)
        P = self.posedirs.shape[0]
        posedirs = self.posedirs.reshape(P, -1, 3)[:, ids].reshape(P, -1)
        verts, posed = articulate(full_pose, v_shaped[:, ids], joints, self.parents, self.weights[ids], posedirs)
        return verts + transl[:, None], posed + transl[:, None]

    def _keypoints(self, pose: Tensor, global_orient: Tensor, transl: Tensor, betas: Tensor) -> Tensor:
        tips, posed = self._pose_ids(self.tip_ids, pose, global_orient, transl, betas)
        return torch.cat([posed, tips], dim=1)[:, list(NATIVE_TO_KEYPOINT)]  # (B, 21, 3)

    def _forward_subset(self, ids: Tensor, pose: Tensor, global_orient: Tensor, transl: Tensor,
                        betas: Tensor) -> HandOutput:
        verts, posed = self._pose_ids(torch.cat([ids, self.tip_ids]), pose, global_orient, transl, betas)
        n = ids.shape[0]
        kp = torch.cat([posed, verts[:, n:]], dim=1)[:, list(NATIVE_TO_KEYPOINT)]  # (B, 21, 3)
        return HandOutput(vertices=verts[:, :n], joints=kp)

    def extra_repr(self) -> str:
        pca = f", use_pca=True, num_pca_comps={self.num_pca_comps}" if self.use_pca else ""
        return (f"{super().extra_repr()}, flat_hand_mean={self.flat_hand_mean}{pca}, "
                f"fix_left_shapedirs={self.fix_left_shapedirs}, model_path={str(self.model_path)!r}")

"""Reading the official MANO model files (``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl``) without chumpy.

The layer that uses them is :class:`bghop.hands.mano.MANOHand` (which re-exports every public
name of this module).

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

from bghop.hands.base import PARENTS

logger = logging.getLogger(__name__)

__all__ = [
    "ENV_VAR",
    "EXPECTED_SHAPES",
    "MANO_URL",
    "MANOFileNotFoundError",
    "MANOModelError",
    "load_mano_data",
    "mano_candidate_paths",
    "read_mano_file",
]

MANO_URL = "https://mano.is.tue.mpg.de"
#: environment variable naming the folder with MANO_RIGHT.pkl / MANO_LEFT.pkl
ENV_VAR = "BGHOP_MANO_DIR"
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


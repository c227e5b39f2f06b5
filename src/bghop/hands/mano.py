"""The official MANO hand model (Romero, Tzionas & Black, SIGGRAPH Asia 2017), ``kind="mano"``.

The model files are licensed and never shipped: register at https://mano.is.tue.mpg.de,
download "Models & Code" and put ``mano_v1_2/models/MANO_RIGHT.pkl`` and ``MANO_LEFT.pkl``
(or ``.npz`` files with the same keys) into a folder given as ``model_dir`` or
``$BGHOP_MANO_DIR``.

Loading needs **no chumpy**: the official pickles are Python-2 pickles that reference
``chumpy.ch.Ch`` objects (``shapedirs`` and others; the array is the object's ``x`` state) and a
scipy sparse ``J_regressor``. A custom unpickler maps every ``chumpy.*`` class to a stand-in that
only records its state, and the arrays are taken from there.

Conventions (as smplx): ``v_shaped = v_template + shapedirs · β``; ``J = J_regressor v_shaped``;
pose blend shapes from ``vec(R_k − I)`` of the 15 finger joints; the global rotation is about
the rest wrist; ``flat_hand_mean=False`` adds MANO's ``hands_mean`` to the articulation; PCA
mode maps coefficients through ``hands_components[:n]``.

Left-hand fix: MANO_LEFT.pkl's ``shapedirs`` has the right hand's sign on x, so shape changes
are not mirrored; we negate ``shapedirs[:, 0, :]`` for the left hand (smplx issue #48, DexYCB
issue #28, ARCTIC issue #15). ``fix_left_shapedirs=False`` turns it off (for comparisons with
libraries that do not apply it).

Keypoints: the 16 regressed joints plus 5 fingertip vertices. We use smplx's tip ids
(thumb 744, index 320, middle 443, ring 554, pinky 671; smplx ``vertex_ids['mano']``);
manopth uses 745, 317, 444, 556, 673 — they differ by a vertex or two on the same fingertips.

``joint_limits`` is None for MANO: its joint frames are the model axes, not anatomical axes, so
box limits would be misleading; optimisers that need limits use the open hand's.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from bghop.hands.base import CONTACT_REGION_NAMES, NATIVE_TO_KEYPOINT, HandModel, HandOutput
from bghop.hands.lbs import articulate

logger = logging.getLogger(__name__)

__all__ = ["MANOHand", "MANOModelError", "MANOFileNotFoundError", "load_mano_data", "MANO_TIP_IDS", "MANO_URL",
           "ENV_VAR"]

MANO_URL = "https://mano.is.tue.mpg.de"
ENV_VAR = "BGHOP_MANO_DIR"
#: fingertip vertex ids (thumb, index, middle, ring, pinky), smplx's ``vertex_ids['mano']``
MANO_TIP_IDS = (744, 320, 443, 554, 671)
#: required keys and their expected shapes (None: any length on that axis)
_SHAPES = {
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
_FINGER_DISTAL = {"index": 3, "middle": 6, "pinky": 9, "ring": 12, "thumb": 15}


class MANOModelError(ValueError):
    """A MANO file that cannot be used; the message names the file and what is wrong."""


class MANOFileNotFoundError(MANOModelError, FileNotFoundError):
    """The MANO file is not where we looked."""


class _ChumpyStandIn:
    """Replaces any ``chumpy`` class during unpickling; keeps the pickled state."""

    def __init__(self, *args, **kwargs) -> None:
        self._state = None

    def __setstate__(self, state) -> None:
        self._state = state

    def array(self) -> np.ndarray:
        s = self._state
        if isinstance(s, dict):
            for key in ("x", "a", "r"):
                if key in s and s[key] is not None and not isinstance(s[key], _ChumpyStandIn):
                    return np.asarray(s[key])
            if "x" in s and isinstance(s["x"], _ChumpyStandIn):
                return s["x"].array()
        if isinstance(s, (tuple, list)):
            for item in s:
                if isinstance(item, dict) and "x" in item:
                    return np.asarray(item["x"])
        raise MANOModelError(f"a chumpy object in the file holds no array (state type {type(s).__name__})")


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyStandIn
        return super().find_class(module, name)


def _as_array(x) -> np.ndarray:
    if isinstance(x, _ChumpyStandIn):
        return x.array()
    if hasattr(x, "toarray") and "scipy.sparse" in type(x).__module__:
        return x.toarray()
    return np.asarray(x)


def _candidates(side: str, model_dir: Path | None) -> tuple[list[Path], str]:
    name = f"MANO_{side.upper()}"
    env = os.environ.get(ENV_VAR)
    folder = model_dir if model_dir is not None else (Path(env) if env else None)
    how = (f"model_dir={model_dir}" if model_dir is not None else
           f"${ENV_VAR}={env}" if env else f"no model_dir given and ${ENV_VAR} is not set")
    if folder is None:
        return [], how
    folder = Path(folder).expanduser()
    if folder.is_file():
        return [folder], how
    return [folder / f"{name}.pkl", folder / f"{name}.npz"], how


def load_mano_data(side: str, model_dir: str | os.PathLike | None = None) -> tuple[dict[str, np.ndarray], Path]:
    """Find and read a MANO model file.

    Args:
        side: ``"right"`` or ``"left"``.
        model_dir: folder with ``MANO_RIGHT.pkl``/``MANO_LEFT.pkl`` (or ``.npz``), or a file;
            ``$BGHOP_MANO_DIR`` if None.
    Returns:
        the validated arrays (keys of ``_SHAPES``) and the path read.
    Raises:
        MANOFileNotFoundError: no file where we looked.
        MANOModelError: unreadable, missing keys, wrong shapes.
    """
    name = f"MANO_{side.upper()}.pkl"
    paths, how = _candidates(side, Path(model_dir) if model_dir is not None else None)
    found = next((p for p in paths if p.is_file()), None)
    if found is None:
        looked = ", ".join(str(p) for p in paths) if paths else "nowhere"
        raise MANOFileNotFoundError(
            f"MANO model file {name} not found (looked in: {looked}; {how}). MANO's license does not let bghop "
            f"ship it: register at {MANO_URL}, download 'Models & Code', and copy mano_v1_2/models/MANO_RIGHT.pkl "
            f"and MANO_LEFT.pkl into a folder passed as --mano-dir / model_dir, or set ${ENV_VAR}. "
            "Or use the built-in hand (kind 'open').")
    try:
        if found.suffix == ".npz":
            with np.load(found, allow_pickle=False) as z:
                raw = {k: z[k] for k in z.files}
        else:
            with open(found, "rb") as f:
                raw = _Unpickler(f, encoding="latin1").load()
    except MANOModelError:
        raise
    except Exception as e:  # corrupt pickles raise many different types
        raise MANOModelError(f"could not read MANO file {found} ({type(e).__name__}: {e}); "
                             f"download it again from {MANO_URL}") from e
    if not isinstance(raw, dict):
        raise MANOModelError(f"MANO file {found} does not hold a dict of arrays (got {type(raw).__name__})")
    missing = [k for k in _SHAPES if k not in raw]
    if missing:
        raise MANOModelError(f"MANO file {found} is missing {missing}; is it a MANO model file? ({MANO_URL})")
    data: dict[str, np.ndarray] = {}
    for k, shape in _SHAPES.items():
        try:
            a = _as_array(raw[k])
        except MANOModelError as e:
            raise MANOModelError(f"MANO file {found}: '{k}': {e}") from e
        if k == "shapedirs" and a.ndim == 3 and a.shape[:2] == (778, 3) and a.shape[2] >= 10:
            a = a[:, :, :10]
        if a.shape != shape:
            raise MANOModelError(f"MANO file {found}: '{k}' has shape {a.shape}, expected {shape}")
        data[k] = a
    return data, found


class MANOHand(HandModel):
    """The official MANO layer (see the module docstring).

    Args:
        side: ``"right"`` or ``"left"``.
        model_dir: folder with the model files (or ``$BGHOP_MANO_DIR``).
        flat_hand_mean: if False, articulation = ``hands_mean + pose``.
        use_pca: ``pose`` is ``(B, num_pca_comps)`` PCA coefficients.
        num_pca_comps: number of PCA components in PCA mode.
        fix_left_shapedirs: apply the left-hand ``shapedirs`` fix.
    """

    kind = "mano"

    def __init__(self, side: str = "right", model_dir: Path | None = None, flat_hand_mean: bool = True,
                 use_pca: bool = False, num_pca_comps: int = 6, fix_left_shapedirs: bool = True) -> None:
        super().__init__(side)
        data, self.path = load_mano_data(side, model_dir)
        if use_pca and not 1 <= num_pca_comps <= 45:
            raise ValueError(f"num_pca_comps must be in 1..45, got {num_pca_comps}")
        self.flat_hand_mean, self.use_pca, self.num_pca_comps = flat_hand_mean, use_pca, num_pca_comps
        shapedirs = data["shapedirs"].astype(np.float64).copy()
        if side == "left" and fix_left_shapedirs:
            shapedirs[:, 0, :] *= -1.0
        parents = data["kintree_table"][0].astype(np.int64)
        parents[0] = -1  # stored as 2**32 - 1
        self.parents = [int(p) for p in parents]
        f32 = torch.get_default_dtype()

        def buf(name: str, a: np.ndarray, dtype=f32) -> None:
            self.register_buffer(name, torch.as_tensor(np.ascontiguousarray(a), dtype=dtype), persistent=False)

        buf("v_template", data["v_template"])
        buf("shapedirs", shapedirs)
        buf("J_regressor", data["J_regressor"])
        buf("weights", data["weights"])
        buf("posedirs", data["posedirs"].reshape(-1, 135).T)  # (135, V*3) as smplx
        buf("hands_components", data["hands_components"])
        buf("hands_mean", data["hands_mean"])
        buf("faces", data["f"].astype(np.int64), dtype=torch.long)
        buf("tip_ids", np.array(MANO_TIP_IDS), dtype=torch.long)
        self.contact_regions = {k: torch.as_tensor(v) for k, v in self._contact_regions(data).items()}

    def _contact_regions(self, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Finger pads and palm from skinning weights and the palmar side of the rest hand.

        A pad is the set of vertices skinned mostly to a finger's distal joint that lie on the
        palmar side of that bone; the palm, vertices skinned mostly to the wrist on the palmar side
        of the plane through wrist, index MCP and pinky MCP.
        """
        v = data["v_template"].astype(np.float64)
        J = data["J_regressor"] @ v
        W = data["weights"]
        lateral = J[1] - J[7]  # index MCP − pinky MCP: towards the thumb
        finger = J[4] - J[0]  # wrist → middle MCP
        n = np.cross(lateral, finger)
        if self.side == "left":
            n = -n
        n /= np.linalg.norm(n)
        dom = W.argmax(1)
        out = {}
        for f, j in _FINGER_DISTAL.items():
            sel = (W[:, j] > 0.5) & ((v - J[j]) @ n > 0.0)
            out[f] = np.nonzero(sel)[0]
        out["palm"] = np.nonzero((dom == 0) & ((v - J[0]) @ n > 0.3 * np.abs((v - J[0]) @ n).max()))[0]
        return {k: out[k] for k in CONTACT_REGION_NAMES}

    @property
    def num_vertices(self) -> int:
        return self.v_template.shape[0]

    def pca_to_pose(self, coeffs: Tensor) -> Tensor:
        """PCA coefficients ``(B, n)`` → ``(B, 45)`` articulation (relative to the mean, as ``pose``)."""
        return coeffs @ self.hands_components[: coeffs.shape[1]]

    def forward(self, pose: Tensor, global_orient: Tensor, transl: Tensor, betas: Tensor | None = None) -> HandOutput:
        """As :meth:`HandModel.forward`; in PCA mode ``pose`` is ``(B, num_pca_comps)``."""
        if self.use_pca:
            if pose.dim() != 2 or pose.shape[1] != self.num_pca_comps:
                raise ValueError(f"in PCA mode pose must be (B, {self.num_pca_comps}), got {tuple(pose.shape)}")
            pose = self.pca_to_pose(pose)
        return super().forward(pose, global_orient, transl, betas)

    def _forward(self, pose: Tensor, global_orient: Tensor, transl: Tensor, betas: Tensor) -> HandOutput:
        B = pose.shape[0]
        if not self.flat_hand_mean:
            pose = pose + self.hands_mean
        v_shaped = self.v_template + torch.einsum("vdk,bk->bvd", self.shapedirs, betas)
        joints = torch.einsum("jv,bvd->bjd", self.J_regressor, v_shaped)
        full = torch.cat([global_orient, pose], dim=1).reshape(B, 16, 3)
        verts, posed = articulate(full, v_shaped, joints, self.parents, self.weights, self.posedirs)
        verts = verts + transl[:, None]
        posed = posed + transl[:, None]
        kp = torch.cat([posed, verts[:, self.tip_ids]], dim=1)[:, list(NATIVE_TO_KEYPOINT)]
        return HandOutput(vertices=verts, joints=kp)

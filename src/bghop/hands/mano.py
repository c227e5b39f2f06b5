"""The official MANO hand model (Romero, Tzionas & Black, SIGGRAPH Asia 2017), ``kind="mano"``.

Model files
-----------
MANO is licensed and never shipped with bghop: pass the folder with ``MANO_RIGHT.pkl`` /
``MANO_LEFT.pkl`` as ``model_dir`` or name it in ``$BGHOP_MANO_DIR``. Finding, reading (without
chumpy) and checking the files is :mod:`bghop.hands.mano_files`; its public names
(:func:`load_mano_data`, :class:`MANOModelError`, :data:`ENV_VAR`, ...) are re-exported here.

Forward (same equations and conventions as smplx's MANO)
--------------------------------------------------------
``v_shaped = v_template + shapedirs · β``; ``J = J_regressor · v_shaped``; pose blend shapes
``posedirs.reshape(-1, 135).T`` (``(135, 778·3)``) driven by ``vec(R_k − I)`` of the 15 finger
joints; linear blend skinning with the global rotation about the rest wrist ``J_0``
(:func:`bghop.hands.lbs.articulate`); ``transl`` added last. ``global_orient`` is ``(B, 3)``
axis-angle or the same rotation as a ``(B, 3, 3)`` matrix (:class:`~bghop.hands.base.HandModel`).

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

import logging
import os

import numpy as np
import torch
from torch import Tensor

from bghop.hands.base import CONTACT_REGION_NAMES, PARENTS, HandModel
from bghop.hands.lbs import articulate, joint_rotations
from bghop.hands.mano_files import (
    ENV_VAR,
    EXPECTED_SHAPES,
    MANO_URL,
    MANOFileNotFoundError,
    MANOModelError,
    load_mano_data,
    mano_candidate_paths,
    read_mano_file,
)

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

#: fingertip vertex ids (thumb, index, middle, ring, pinky): smplx ``vertex_ids["mano"]``, used here
MANO_TIP_IDS: tuple[int, ...] = (744, 320, 443, 554, 671)
#: manopth's fingertip ids, same order (documentation only)
MANOPTH_TIP_IDS: tuple[int, ...] = (745, 317, 444, 556, 673)
#: native index of each digit's distal joint (the joint that moves the distal phalanx)
_DISTAL_JOINT = {"thumb": 15, "index": 3, "middle": 6, "ring": 12, "pinky": 9}
#: tip id position in MANO_TIP_IDS per digit
_TIP_SLOT = {"thumb": 0, "index": 1, "middle": 2, "ring": 3, "pinky": 4}


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

    Called like every :class:`~bghop.hands.base.HandModel` (``global_orient`` ``(B, 3)``
    axis-angle or ``(B, 3, 3)`` matrix); with ``use_pca`` ``pose`` is ``(B, num_pca_comps)``
    PCA coefficients instead of ``(B, 45)`` axis-angle, in :meth:`forward`, :meth:`keypoints` and
    :meth:`forward_subset` alike. ``joint_limits`` is None (MANO's joint frames are not
    anatomically aligned; use the open hand's limits). Outputs have ``V = 778`` vertices.

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

    def _finger_pose(self, pose: Tensor) -> Tensor:
        """``(B, 45)`` axis-angle from what the caller passes (PCA coefficients in PCA mode)."""
        if not self.use_pca:
            return pose
        if pose.dim() != 2 or pose.shape[1] != self.num_pca_comps:
            raise ValueError(f"in PCA mode pose must have shape (B, {self.num_pca_comps}) (coefficients), "
                             f"got {tuple(pose.shape)}")
        return self.pca_to_pose(pose)

    def _pose(self, pose: Tensor, global_orient: Tensor, transl: Tensor, betas: Tensor,
              ids: Tensor | None) -> tuple[Tensor, Tensor]:
        """Posed vertices (all, or only ``ids``: ``(B, n, 3)``) and the 16 posed joints, both with ``transl``."""
        if not self.flat_hand_mean:
            pose = pose + self.hands_mean
        v_shaped = self.v_template + torch.einsum("vdk,bk->bvd", self.shapedirs, betas)  # (B, V, 3)
        joints = torch.einsum("jv,bvd->bjd", self.J_regressor, v_shaped)  # (B, 16, 3): needs every vertex
        weights, posedirs = self.weights, self.posedirs
        if ids is not None:
            P = posedirs.shape[0]
            posedirs = posedirs.reshape(P, -1, 3)[:, ids].reshape(P, -1)
            v_shaped, weights = v_shaped[:, ids], weights[ids]
        verts, posed = articulate(joint_rotations(global_orient, pose), v_shaped, joints, self.parents, weights,
                                  posedirs)
        return verts + transl[:, None], posed + transl[:, None]

    def extra_repr(self) -> str:
        pca = f", use_pca=True, num_pca_comps={self.num_pca_comps}" if self.use_pca else ""
        return (f"{super().extra_repr()}, flat_hand_mean={self.flat_hand_mean}{pca}, "
                f"fix_left_shapedirs={self.fix_left_shapedirs}, model_path={str(self.model_path)!r}")

"""The one interface every hand kind implements.

Shapes and order (shared/DESIGN.md §3):

* ``pose`` ``(B, 45)``: axis-angle of the 15 finger joints in MANO's native order
  (index 1-3, middle 1-3, pinky 1-3, ring 1-3, thumb 1-3); axes are model-frame axes at rest.
* ``global_orient`` ``(B, 3)``: axis-angle of the wrist, a rotation about the rest wrist joint
  ``J_0``; or the same rotation as a ``(B, 3, 3)`` matrix (optimisers that keep rotations as
  6D/matrices pass them as they are, with no round trip through axis-angle).
* ``transl`` ``(B, 3)`` metres, added last.
* ``betas`` ``(B, 10)`` shape coefficients (zeros if omitted).
* Output keypoints ``(B, 21, 3)`` in the "OpenPose" order :data:`KEYPOINT_NAMES`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = [
    "HandOutput",
    "JointLimits",
    "HandModel",
    "KEYPOINT_NAMES",
    "NATIVE_JOINT_NAMES",
    "PARENTS",
    "NATIVE_TO_KEYPOINT",
    "CONTACT_REGION_NAMES",
    "NUM_BETAS",
]

NUM_BETAS = 10

#: MANO's 16 native joints, in the order of its ``kintree_table`` / ``J_regressor`` rows.
NATIVE_JOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "index1", "index2", "index3",
    "middle1", "middle2", "middle3",
    "pinky1", "pinky2", "pinky3",
    "ring1", "ring2", "ring3",
    "thumb1", "thumb2", "thumb3",
)  # fmt: skip

#: Parent of each native joint (MANO's kinematic tree).
PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)

#: The 21 output keypoints ("OpenPose" order).
KEYPOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "thumb1", "thumb2", "thumb3", "thumb_tip",
    "index1", "index2", "index3", "index_tip",
    "middle1", "middle2", "middle3", "middle_tip",
    "ring1", "ring2", "ring3", "ring_tip",
    "pinky1", "pinky2", "pinky3", "pinky_tip",
)  # fmt: skip

#: Index into ``concat(native16, tips[thumb, index, middle, ring, pinky])`` for each keypoint.
NATIVE_TO_KEYPOINT: tuple[int, ...] = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)

#: Keys of :attr:`HandModel.contact_regions`.
CONTACT_REGION_NAMES: tuple[str, ...] = ("palm", "thumb", "index", "middle", "ring", "pinky")


@dataclass
class HandOutput:
    """What a hand layer returns.

    Attributes:
        vertices: ``(B, V, 3)`` skin vertices, metres.
        joints: ``(B, 21, 3)`` keypoints, metres, :data:`KEYPOINT_NAMES` order.
    """

    vertices: Tensor
    joints: Tensor


@dataclass
class JointLimits:
    """Per-DoF bounds on ``pose`` for optimisers (radians, same layout as ``pose``).

    Attributes:
        lower: ``(45,)``.
        upper: ``(45,)``.
    """

    lower: Tensor
    upper: Tensor

    def violation(self, pose: Tensor) -> Tensor:
        """Squared distance outside the box, summed per sample: ``(B, 45)`` → ``(B,)``."""
        lo = self.lower.to(pose)
        hi = self.upper.to(pose)
        return (torch.relu(lo - pose) ** 2 + torch.relu(pose - hi) ** 2).sum(-1)

    def clamp(self, pose: Tensor) -> Tensor:
        """Project ``(B, 45)`` into the box."""
        return torch.maximum(torch.minimum(pose, self.upper.to(pose)), self.lower.to(pose))


def _check_inputs(pose: Tensor, global_orient: Tensor, transl: Tensor, betas: Tensor | None) -> Tensor:
    """Validate the shapes of a hand call; returns ``betas`` as ``(B, NUM_BETAS)``."""
    B = pose.shape[0] if pose.dim() == 2 else -1
    for name, x, d in (("pose", pose, 45), ("transl", transl, 3)):
        if x.dim() != 2 or x.shape[1] != d or x.shape[0] != B:
            raise ValueError(f"{name} must have shape (B, {d}) with B={B}, got {tuple(x.shape)}")
    g = tuple(global_orient.shape)
    if not (g == (B, 3) or g == (B, 3, 3)):
        raise ValueError(f"global_orient must have shape (B, 3) (axis-angle) or (B, 3, 3) (rotation matrix) "
                         f"with B={B}, got {g}")
    if betas is None:
        return pose.new_zeros(B, NUM_BETAS)
    if betas.dim() != 2 or betas.shape[0] != B or betas.shape[1] > NUM_BETAS:
        raise ValueError(f"betas must have shape (B, <= {NUM_BETAS}) with B={B}, got {tuple(betas.shape)}")
    if betas.shape[1] < NUM_BETAS:
        betas = torch.nn.functional.pad(betas, (0, NUM_BETAS - betas.shape[1]))
    return betas


class HandModel(nn.Module, abc.ABC):
    """Base class: validates inputs, owns ``faces`` / ``side`` / ``kind``, assembles keypoints.

    Subclasses implement :meth:`_pose` (the posed skin, all of it or some vertices, and the 16
    posed joints), set ``faces`` and ``tip_ids`` (non-persistent buffers, so model assets never
    end up in checkpoints) and :attr:`contact_regions`, and may override :meth:`_finger_pose`
    to take ``pose`` in another layout (MANO's PCA coefficients).
    """

    kind: str = "base"
    faces: Tensor  # (F, 3) long
    tip_ids: Tensor  # (5,) long: fingertip vertices (thumb, index, middle, ring, pinky)

    def __init__(self, side: str) -> None:
        super().__init__()
        if side not in ("right", "left"):
            raise ValueError(f"side must be 'right' or 'left', got {side!r}")
        self.side = side
        #: vertex index sets (LongTensor) per :data:`CONTACT_REGION_NAMES` key.
        self.contact_regions: dict[str, Tensor] = {}

    @property
    def num_vertices(self) -> int:
        """Number of skin vertices ``V``."""
        raise NotImplementedError

    @property
    def joint_limits(self) -> JointLimits | None:
        """Anatomical per-DoF limits on ``pose``, or None where the model has none."""
        return None

    def forward(
        self,
        pose: Tensor,
        global_orient: Tensor,
        transl: Tensor,
        betas: Tensor | None = None,
    ) -> HandOutput:
        """Pose the hand.

        Args:
            pose: ``(B, 45)`` finger articulation, axis-angle (a layer may take another layout:
                MANO with ``use_pca`` takes ``(B, num_pca_comps)`` PCA coefficients).
            global_orient: the wrist's rotation about the rest wrist ``J_0``: ``(B, 3)``
                axis-angle, or ``(B, 3, 3)`` rotation matrix (taken as given: not checked for
                orthonormality). Both give the same hand.
            transl: ``(B, 3)`` metres.
            betas: ``(B, 10)`` shape (``(B, <= 10)`` is zero-padded), zeros if None.
        Returns:
            :class:`HandOutput` with ``vertices (B, V, 3)`` and ``joints (B, 21, 3)`` in metres.
        Raises:
            ValueError: an argument has the wrong shape.
        """
        pose = self._finger_pose(pose)
        betas = _check_inputs(pose, global_orient, transl, betas)
        verts, posed = self._pose(pose, global_orient, transl, betas, None)
        return HandOutput(vertices=verts, joints=self._assemble_keypoints(posed, verts[:, self.tip_ids]))

    def keypoints(
        self,
        pose: Tensor,
        global_orient: Tensor,
        transl: Tensor,
        betas: Tensor | None = None,
    ) -> Tensor:
        """The 21 keypoints ``(B, 21, 3)`` (metres) alone: ``forward(...).joints`` without skinning
        every vertex (only the five fingertip vertices), for fits and fields that never look at
        the skin. Same arguments as :meth:`forward`."""
        pose = self._finger_pose(pose)
        betas = _check_inputs(pose, global_orient, transl, betas)
        tips, posed = self._pose(pose, global_orient, transl, betas, self.tip_ids)
        return self._assemble_keypoints(posed, tips)

    def forward_subset(
        self,
        vertex_ids: Tensor,
        pose: Tensor,
        global_orient: Tensor,
        transl: Tensor,
        betas: Tensor | None = None,
    ) -> HandOutput:
        """:meth:`forward` for some vertices only: ``vertices`` is ``(B, len(vertex_ids), 3)``
        (``forward(...).vertices[:, vertex_ids]``), ``joints`` all 21. Optimisers that sample the
        skin sparsely skip skinning the rest. Same other arguments as :meth:`forward`."""
        pose = self._finger_pose(pose)
        betas = _check_inputs(pose, global_orient, transl, betas)
        ids = vertex_ids.to(pose.device)
        verts, posed = self._pose(pose, global_orient, transl, betas, torch.cat([ids, self.tip_ids]))
        n = ids.shape[0]
        return HandOutput(vertices=verts[:, :n], joints=self._assemble_keypoints(posed, verts[:, n:]))

    def _finger_pose(self, pose: Tensor) -> Tensor:
        """What the caller passes as ``pose`` → ``(B, 45)`` axis-angle (here: unchanged)."""
        return pose

    @abc.abstractmethod
    def _pose(self, pose: Tensor, global_orient: Tensor, transl: Tensor, betas: Tensor,
              ids: Tensor | None) -> tuple[Tensor, Tensor]:
        """Validated inputs in; the posed skin and skeleton out, both with ``transl`` added.

        Args:
            pose: ``(B, 45)`` axis-angle.
            global_orient: ``(B, 3)`` axis-angle or ``(B, 3, 3)`` matrix
                (:func:`bghop.hands.lbs.joint_rotations` turns both into what
                :func:`bghop.hands.lbs.articulate` takes).
            transl: ``(B, 3)``.
            betas: ``(B, 10)``.
            ids: ``(n,)`` vertex ids to pose, or None for every vertex.
        Returns:
            vertices ``(B, n or V, 3)`` and the 16 native joints ``(B, 16, 3)``, metres.
        """

    @staticmethod
    def _assemble_keypoints(native: Tensor, tips: Tensor) -> Tensor:
        """``(B, 16, 3)`` native joints and ``(B, 5, 3)`` fingertips → ``(B, 21, 3)`` keypoints
        in :data:`KEYPOINT_NAMES` order."""
        return torch.cat([native, tips], dim=1)[:, list(NATIVE_TO_KEYPOINT)]

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, side={self.side!r}"

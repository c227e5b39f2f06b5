"""Kinematic chain and linear-blend skinning shared by every hand kind.

Equations follow the MANO/SMPL formulation (Romero et al., SIGGRAPH Asia 2017, Eq. 1-4;
Loper et al. 2015): each joint ``k`` rotates by ``R_k`` about its rest position ``J_k`` in a
frame that is axis-aligned with the model frame at rest, so an axis-angle vector is expressed
in model-frame axes. The root (wrist, index 0) carries the global orientation, i.e. the global
rotation is about the rest wrist ``J_0`` (smplx convention), and ``transl`` is added last.
The root rotation may be given as axis-angle or as a rotation matrix (:func:`joint_rotations`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from bghop.core.rotations import axis_angle_to_matrix
from bghop.core.transforms import make_transform

__all__ = ["rigid_chain", "skin", "articulate", "joint_rotations"]


def rigid_chain(rot_mats: Tensor, joints: Tensor, parents: list[int]) -> tuple[Tensor, Tensor]:
    """Forward kinematics.

    Args:
        rot_mats: ``(B, K, 3, 3)`` local rotation of each joint (root = global orientation).
        joints: ``(B, K, 3)`` rest joint positions.
        parents: length-K parent index list, ``parents[0] == -1``; parents precede children.
    Returns:
        posed_joints ``(B, K, 3)`` and skinning transforms ``(B, K, 4, 4)`` that map rest-pose
        points to posed points for a point rigidly attached to joint ``k``.
    """
    rel = joints.clone()
    rel[:, 1:] = joints[:, 1:] - joints[:, parents[1:]]
    local = make_transform(rot_mats, rel)  # (B, K, 4, 4)
    chain = [local[:, 0]]
    for k in range(1, len(parents)):
        chain.append(chain[parents[k]] @ local[:, k])
    world = torch.stack(chain, dim=1)
    posed_joints = world[..., :3, 3]
    # Remove the rest joint location so the transform acts on rest-pose coordinates.
    offset = (world[..., :3, :3] @ joints[..., None])[..., 0]
    skinning = world.clone()
    skinning[..., :3, 3] = posed_joints - offset
    return posed_joints, skinning


def skin(vertices: Tensor, weights: Tensor, transforms: Tensor) -> Tensor:
    """Linear-blend skinning ``v' = Σ_k w_k T_k v``.

    Args:
        vertices: ``(B, V, 3)`` rest-pose vertices (shape and pose blend shapes applied).
        weights: ``(V, K)`` skinning weights, rows sum to 1.
        transforms: ``(B, K, 4, 4)`` from :func:`rigid_chain`.
    Returns:
        ``(B, V, 3)``.
    """
    T = torch.einsum("vk,bkij->bvij", weights, transforms)  # (B, V, 4, 4)
    return (T[..., :3, :3] @ vertices[..., None])[..., 0] + T[..., :3, 3]


def joint_rotations(global_orient: Tensor, pose: Tensor) -> Tensor:
    """Every joint's rotation, root first, in the form :func:`articulate` takes.

    Args:
        global_orient: ``(B, 3)`` axis-angle or ``(B, 3, 3)`` rotation matrix of the root.
        pose: ``(B, 3 (K-1))`` axis-angle of the other joints.
    Returns:
        ``(B, K, 3)`` axis-angle (``concat(global_orient, pose)``, unchanged) when
        ``global_orient`` is axis-angle, else ``(B, K, 3, 3)`` matrices: the given root matrix
        followed by the other joints' :func:`~bghop.core.rotations.axis_angle_to_matrix`.
    """
    B = pose.shape[0]
    if global_orient.dim() == 3:
        fingers = axis_angle_to_matrix(pose.reshape(B, -1, 3))  # (B, K-1, 3, 3)
        return torch.cat([global_orient[:, None], fingers], dim=1)
    return torch.cat([global_orient, pose], dim=1).reshape(B, -1, 3)


def articulate(
    full_pose: Tensor,
    v_shaped: Tensor,
    joints: Tensor,
    parents: list[int],
    weights: Tensor,
    posedirs: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Pose a shaped template.

    Args:
        full_pose: the joint rotations, row 0 the global orientation: ``(B, K, 3)`` axis-angle
            or ``(B, K, 3, 3)`` rotation matrices (see :func:`joint_rotations`).
        v_shaped: ``(B, V, 3)`` template with shape blend shapes applied.
        joints: ``(B, K, 3)`` rest joints of the shaped template.
        parents: kinematic tree.
        weights: ``(V, K)``.
        posedirs: optional ``(P, V*3)`` pose blend shapes driven by ``vec(R_k - I)`` of the
            non-root joints (``P = 9 (K-1)``), as MANO.
    Returns:
        vertices ``(B, V, 3)`` and posed joints ``(B, K, 3)`` (before ``transl``).
    """
    B = full_pose.shape[0]
    rot = full_pose if full_pose.dim() == 4 else axis_angle_to_matrix(full_pose)  # (B, K, 3, 3)
    v = v_shaped
    if posedirs is not None:
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        feat = (rot[:, 1:] - eye).reshape(B, -1)
        v = v + (feat @ posedirs).reshape(B, -1, 3)
    posed_joints, T = rigid_chain(rot, joints, parents)
    return skin(v, weights, T), posed_joints

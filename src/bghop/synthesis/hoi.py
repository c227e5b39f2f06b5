"""Differentiable hand–object state and its interaction grid (the SDS forward pass).

Grasp synthesis optimises, per grasp of a batch:

* both hands' articulation ``pose`` ``(B, 45)``;
* the right hand's rigid pose relative to the object, ``oTh_r`` (6D rotation ``(B, 6)`` and a
  translation ``(B, 3)``, metres, hand-layer convention: rotation about the rest wrist ``J0``);
* the left hand's rigid pose relative to the right hand's frame, ``h_rTh_l`` (same
  parametrisation, expressed in the right hand's own frame).

:class:`InteractionGridBuilder` turns this state into exactly the grid a training sample is
made of (:func:`bghop.fields.encode.encode_grid`), but differentiably: the object's SDF is
resampled on the 64³ grid of the normalised frame ``n`` from a grid computed once around the
object (:class:`~bghop.contact.energies.ObjectSDF`, trilinear), encoded by the object autoencoder,
and both hands' skeletal fields are computed from their keypoints in ``n``. Where ``n`` is anchored
to the object (``FrameConfig.anchor == "object"``) it does not move with the hands: the object's SDF
is computed exactly on the grid once and encoded once per builder, and only the fields change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import torch
import trimesh
from torch import Tensor

from bghop.contact.energies import ObjectSDF
from bghop.contact.init import InitConfig, initial_hands
from bghop.core.config import legacy_parts
from bghop.core.rotations import axis_angle_to_matrix, matrix_to_axis_angle, matrix_to_rot6d, rot6d_to_matrix
from bghop.core.transforms import apply_transform, invert_transform, scale_transform
from bghop.fields.encode import GridSettings, hand_params_in
from bghop.fields.frame import frame_center, nTo_from_axes, object_frame, palms_axes
from bghop.fields.layout import InteractionGrid
from bghop.fields.skeletal import skeletal_field
from bghop.geometry.grid import grid_coordinates
from bghop.geometry.sdf import mesh_to_sdf_grid
from bghop.hands.base import HandModel, HandOutput
from bghop.hands.frames import hand_transform, hand_translation, rest_wrist
from bghop.hands.params import HandParams
from bghop.models.autoencoder import ObjectAutoencoder

__all__ = ["GraspVariables", "PosedHands", "InteractionGridBuilder", "rigid_from_params", "params_from_rigid",
           "variables_from_params", "initial_grasps"]


def rigid_from_params(r6: Tensor, transl: Tensor, j0: Tensor) -> Tensor:
    """``aTh`` ``(B, 4, 4)`` of a hand placed by a 6D rotation ``(B, 6)`` and ``transl`` ``(B, 3)``
    (rotation about the rest wrist ``j0`` ``(3,)``: :func:`bghop.hands.frames.hand_transform`)."""
    return hand_transform(rot6d_to_matrix(r6), transl, j0)


def params_from_rigid(aTh: Tensor, j0: Tensor) -> tuple[Tensor, Tensor]:
    """Inverse of :func:`rigid_from_params`: ``(B, 4, 4)`` → 6D rotation ``(B, 6)``, ``transl`` ``(B, 3)``."""
    return matrix_to_rot6d(aTh[:, :3, :3]), hand_translation(aTh, j0)


@dataclass
class GraspVariables:
    """The optimised quantities of a batch of grasps (plain tensors; the optimiser owns them).

    Attributes:
        right_pose: ``(B, 45)`` right-hand articulation.
        right_rot: ``(B, 6)`` 6D rotation of the right hand in the object frame.
        right_transl: ``(B, 3)`` metres, right hand in the object frame.
        left_pose: ``(B, 45)`` or None (single hand).
        left_rot: ``(B, 6)`` left hand's rotation in the right hand's frame, or None.
        left_transl: ``(B, 3)`` metres, left hand in the right hand's frame, or None.
    """

    right_pose: Tensor
    right_rot: Tensor
    right_transl: Tensor
    left_pose: Tensor | None = None
    left_rot: Tensor | None = None
    left_transl: Tensor | None = None

    _NAMES = ("right_pose", "right_rot", "right_transl", "left_pose", "left_rot", "left_transl")

    @property
    def bimanual(self) -> bool:
        return self.left_pose is not None

    @property
    def batch_size(self) -> int:
        return self.right_pose.shape[0]

    def tensors(self) -> dict[str, Tensor]:
        """The present tensors by name."""
        return {k: getattr(self, k) for k in self._NAMES if getattr(self, k) is not None}

    def clone(self, requires_grad: bool = False) -> "GraspVariables":
        """Detached copies (optionally leaf tensors that require gradients)."""
        return GraspVariables(**{k: v.detach().clone().requires_grad_(requires_grad)
                                 for k, v in self.tensors().items()})

    def finite(self) -> Tensor:
        """``(B,)`` bool: every value of the grasp is finite."""
        ok = torch.ones(self.batch_size, dtype=torch.bool, device=self.right_pose.device)
        for v in self.tensors().values():
            ok &= torch.isfinite(v.detach()).flatten(1).all(1)
        return ok

    def groups(self) -> dict[str, list[Tensor]]:
        """``{side: [pose, rot, transl]}`` for the hands present (optimiser parameter groups)."""
        sides = ("right", "left") if self.bimanual else ("right",)
        return {s: [getattr(self, f"{s}_{k}") for k in ("pose", "rot", "transl")] for s in sides}

    def select(self, index: Tensor) -> "GraspVariables":
        """The grasps at ``index`` (long or bool ``(B,)``)."""
        return GraspVariables(**{k: v[index] for k, v in self.tensors().items()})


@dataclass
class PosedHands:
    """Hands posed from :class:`GraspVariables`.

    Attributes:
        oTh: ``(B, 4, 4)`` right hand frame in the object frame.
        joints_h: ``{"right": (B, 21, 3), "left": ...}`` keypoints in the right hand's frame, metres.
        vertices_o: ``{"right": (B, V, 3), ...}`` vertices in the object frame (when requested).
        joints_o: ``{"right": (B, 21, 3), ...}`` keypoints in the object frame.
    """

    oTh: Tensor
    joints_h: dict[str, Tensor]
    joints_o: dict[str, Tensor]
    vertices_o: dict[str, Tensor]


class InteractionGridBuilder:
    """Grasp state → interaction grid (physical units: latent + fields), differentiable.

    Args:
        layers: hand layers by side (``"right"`` required; ``"left"`` for bimanual).
        settings: the prior's grid settings (:attr:`PriorConfig.grid_settings`).
        object_sdf: the object's SDF, metres, object frame.
        autoencoder: object autoencoder (frozen here).
        mesh: the object mesh (metres, object frame); required when the grid's frame is anchored to
            the object, whose grid and latent are then computed once here.
    """

    def __init__(self, layers: dict[str, HandModel], settings: GridSettings, object_sdf: ObjectSDF,
                 autoencoder: ObjectAutoencoder, mesh: trimesh.Trimesh | None = None) -> None:
        self.layers = layers
        self.settings = settings
        self.object_sdf = object_sdf
        self.autoencoder = autoencoder.eval()
        for p in self.autoencoder.parameters():
            p.requires_grad_(False)
        dev = object_sdf.grid.device
        self.device = dev
        e = settings.field.frame.extent
        #: (R³, 3) grid points of the object SDF in n
        self._points_n = grid_coordinates(settings.sdf_resolution, -e, e, device=dev).reshape(-1, 3)
        with torch.no_grad():
            self.j0 = {s: rest_wrist(h, device=dev)[0] for s, h in layers.items()}
        frame = settings.field.frame
        self.anchor = frame.anchor
        if self.anchor == "palms" and "left" not in layers:
            raise ValueError("the 'palms' frame needs both hands")
        #: (1, 4, 4) the fixed object-anchored nTo, and the object's (1, C, r, r, r) latent in it
        self.fixed_nTo: Tensor | None = None
        self.fixed_latent: Tensor | None = None
        if self.anchor == "object":
            if mesh is None:
                raise ValueError("a grid anchored to the object needs the object mesh (mesh=...)")
            oTa = torch.as_tensor(object_frame(np.asarray(mesh.vertices), np.asarray(mesh.faces)), dtype=torch.float64)
            nTo = nTo_from_axes(oTa[None, :3, :3], oTa[None, :3, 3], frame)
            sdf = mesh_to_sdf_grid(mesh, settings.sdf_spec, transform=nTo[0].numpy(),
                                   max_distance=self.autoencoder.config.truncation)
            self.fixed_nTo = nTo.to(device=dev, dtype=torch.float32)
            with torch.no_grad():
                grid = torch.as_tensor(np.asarray(sdf), dtype=torch.float32, device=dev)[None, None]
                self.fixed_latent = self.autoencoder.encode(grid).mean

    # -- hands ---------------------------------------------------------------------------------
    def pose_hands(self, v: GraspVariables, vertices: bool = False,
                   vertex_ids: Mapping[str, Tensor | None] | None = None) -> PosedHands:
        """Pose both hands (one layer call per hand).

        Args:
            v: the grasp state.
            vertices: also return the vertices in the object frame.
            vertex_ids: with ``vertices``, only these vertices per side (None or a missing side: all).
        """
        B = v.batch_size
        zeros = v.right_pose.new_zeros(B, 3)
        args = {"right": (v.right_pose, zeros, zeros)}
        if v.bimanual:
            args["left"] = (v.left_pose, rot6d_to_matrix(v.left_rot), v.left_transl)  # the layer takes the matrix
        oTh = rigid_from_params(v.right_rot, v.right_transl, self.j0["right"])
        joints_h, verts_h = {}, {}
        for side, a in args.items():
            if vertices:
                ids = (vertex_ids or {}).get(side)
                layer = self.layers[side]
                out: HandOutput = layer(*a) if ids is None else layer.forward_subset(ids, *a)
                joints_h[side], verts_h[side] = out.joints, out.vertices
            else:  # the grid needs only the keypoints: skip skinning the whole hand
                joints_h[side] = self.layers[side].keypoints(*a)
        joints_o = {s: apply_transform(oTh, j) for s, j in joints_h.items()}
        verts_o = {s: apply_transform(oTh, x) for s, x in verts_h.items()}
        return PosedHands(oTh=oTh, joints_h=joints_h, joints_o=joints_o, vertices_o=verts_o)

    def hand_params(self, v: GraspVariables) -> dict[str, HandParams]:
        """Hand parameters in the object frame (``betas`` zero), detached."""
        with torch.no_grad():
            B = v.batch_size
            betas = v.right_pose.new_zeros(B, 10)
            R = rot6d_to_matrix(v.right_rot)
            out = {"right": HandParams(v.right_pose.detach().clone(), matrix_to_axis_angle(R),
                                       v.right_transl.detach().clone(), betas)}
            if v.bimanual:
                oTh = rigid_from_params(v.right_rot, v.right_transl, self.j0["right"])
                hTl = rigid_from_params(v.left_rot, v.left_transl, self.j0["left"])
                out["left"] = hand_params_in(self.layers["left"], oTh @ hTl, v.left_pose.detach().clone(), betas)
        return out

    # -- grid ----------------------------------------------------------------------------------
    def center_h(self, joints_h_right: Tensor) -> Tensor:
        """The normalised frame's centre ``c`` ``(B, 3)`` in the right hand's frame (index MCP + offset,
        :func:`bghop.fields.frame.frame_center`)."""
        return frame_center(joints_h_right, self.settings.field.frame)

    def object_sdf_n(self, oTh: Tensor, c: Tensor) -> Tensor:
        """The object's SDF on the ``n`` grid, n units: ``(B, 1, R, R, R)``.

        Args:
            oTh: ``(B, 4, 4)`` right hand in the object frame.
            c: ``(B, 3)`` normalised-frame centre in the hand frame.
        """
        s = self.settings.field.frame.scale
        r = self.settings.sdf_resolution
        p_h = self._points_n[None] / s + c[:, None]  # (B, N, 3) hand frame, metres
        p_o = apply_transform(oTh, p_h)
        d = self.object_sdf(p_o) * s
        return d.reshape(-1, 1, r, r, r)

    def object_latent(self, oTh: Tensor, c: Tensor) -> Tensor:
        """Autoencoder latent ``(B, C, r, r, r)`` of the object seen from the right hand."""
        return self.autoencoder.encode(self.object_sdf_n(oTh, c)).mean

    def fields(self, joints_h: dict[str, Tensor], c: Tensor) -> dict[str, Tensor]:
        """Skeletal fields ``{"right": (B, 20, r, r, r), "left": ...}`` from keypoints in the right hand's frame."""
        s = self.settings.field.frame.scale
        return {side: skeletal_field(s * (j[:, 1:] - c[:, None]), self.settings.field) for side, j in joints_h.items()}

    def nTo(self, v: GraspVariables, hands: PosedHands) -> Tensor:
        """``nTo`` ``(B, 4, 4)`` of the grid's frame for these hands (any anchor)."""
        B = v.batch_size
        frame = self.settings.field.frame
        if self.anchor == "object":
            return self.fixed_nTo.expand(B, 4, 4)
        if self.anchor == "palms":
            oTl = hands.oTh @ rigid_from_params(v.left_rot, v.left_transl, self.j0["left"])
            R, c = palms_axes(hands.oTh, hands.joints_o["right"], oTl, hands.joints_o["left"], frame)
            return nTo_from_axes(R, c, frame)
        return scale_transform(frame.scale, self.center_h(hands.joints_h["right"])) @ invert_transform(hands.oTh)

    def __call__(self, v: GraspVariables, latent: Tensor | None = None) -> tuple[InteractionGrid, Tensor]:
        """Build the grid.

        Args:
            v: the grasp state.
            latent: reuse this object latent (e.g. from a previous iteration, detached) instead
                of re-encoding the object; the right hand's rigid pose then gets no gradient
                from the object block. (An object-anchored grid always uses its fixed latent.)
        Returns:
            the :class:`InteractionGrid` (latent, fields; physical units) and the object latent used.
        """
        hands = self.pose_hands(v)
        if self.anchor == "right_hand":
            c = self.center_h(hands.joints_h["right"])
            if latent is None:
                latent = self.object_latent(hands.oTh, c)
            f = self.fields(hands.joints_h, c)
        else:
            nTo = self.nTo(v, hands)
            if self.anchor == "object":
                latent = self.fixed_latent.expand(v.batch_size, *self.fixed_latent.shape[1:])
            elif latent is None:
                latent = self.object_latent_n(nTo)
            f = {side: skeletal_field(apply_transform(nTo, j)[:, 1:], self.settings.field)
                 for side, j in hands.joints_o.items()}
        return InteractionGrid(object=latent, right=f["right"], left=f.get("left")), latent

    def object_sdf_on_grid(self, nTo: Tensor) -> Tensor:
        """The object's SDF on the grid of ``nTo`` ``(B, 4, 4)``, n units: ``(B, 1, R, R, R)`` (resampled
        from the object's SDF; differentiable in ``nTo``)."""
        s = self.settings.field.frame.scale
        r = self.settings.sdf_resolution
        p_o = apply_transform(invert_transform(nTo), self._points_n[None].expand(nTo.shape[0], -1, -1))
        return (self.object_sdf(p_o) * s).reshape(-1, 1, r, r, r)

    def object_latent_n(self, nTo: Tensor) -> Tensor:
        """Autoencoder latent ``(B, C, r, r, r)`` of the object on the grid of ``nTo`` ``(B, 4, 4)``."""
        return self.autoencoder.encode(self.object_sdf_on_grid(nTo)).mean


def variables_from_params(hands: dict[str, HandParams], j0: dict[str, Tensor]) -> GraspVariables:
    """:class:`GraspVariables` from hand parameters in the object frame.

    The inverse of :meth:`InteractionGridBuilder.hand_params`; ``j0`` holds each hand layer's
    rest wrist ``(3,)`` (:attr:`InteractionGridBuilder.j0`).
    """
    r = hands["right"]
    oTh = rigid_from_params(matrix_to_rot6d(axis_angle_to_matrix(r.global_orient)), r.transl, j0["right"])
    r6, t = params_from_rigid(oTh, j0["right"])
    v = GraspVariables(r.pose.clone(), r6, t)
    if "left" in hands:
        lp = hands["left"]
        oTl = rigid_from_params(matrix_to_rot6d(axis_angle_to_matrix(lp.global_orient)), lp.transl, j0["left"])
        hTl = invert_transform(oTh) @ oTl
        l6, lt = params_from_rigid(hTl, j0["left"])
        v.left_pose, v.left_rot, v.left_transl = lp.pose.clone(), l6, lt
    return v


def initial_grasps(layers: Mapping[str, HandModel], mesh: trimesh.Trimesh, n: int, seed: int = 0,
                   init: InitConfig = InitConfig(), device: torch.device | str = "cpu", **legacy) -> GraspVariables:
    """``n`` diverse starting grasps around the object (:func:`bghop.contact.init.initial_hands`), as
    :class:`GraspVariables` (the left hand relative to the right hand's frame).

    Args:
        layers: hand layers (``"right"``, optionally ``"left"``).
        mesh: the object, metres.
        n: number of grasps.
        seed: random seed.
        init: how the starts are drawn.
        device: torch device.
        **legacy: ``offset=`` / ``pose_noise=`` of earlier versions (deprecated: ``init=InitConfig(...)``).
    """
    parts = legacy_parts("initial_grasps", legacy, {"offset": ("init", "offset"), "pose_noise": ("init", "pose_noise")})
    init = replace(init, **parts.get("init", {}))
    device = torch.device(device)
    starts = initial_hands(layers, mesh, n, np.random.default_rng(seed), init, device)
    with torch.no_grad():
        j0 = {s: rest_wrist(h, device=device)[0] for s, h in layers.items()}
    r = starts["right"]
    v = GraspVariables(r.pose, matrix_to_rot6d(axis_angle_to_matrix(r.global_orient)), r.transl)
    if "left" in starts:
        lft = starts["left"]
        oTh = rigid_from_params(v.right_rot, v.right_transl, j0["right"])
        oTl = rigid_from_params(matrix_to_rot6d(axis_angle_to_matrix(lft.global_orient)), lft.transl, j0["left"])
        l6, ltr = params_from_rigid(torch.linalg.inv(oTh) @ oTl, j0["left"])
        v.left_pose, v.left_rot, v.left_transl = lft.pose, l6, ltr
    return v

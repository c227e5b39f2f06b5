"""The normalised frame ``n`` of the right hand (G-HOP/BG-HOP ``get_nTh``; REFERENCE.md).

``n = s · (h − c)`` where ``h`` is the hand's own (MANO) frame — the frame of the articulated
hand with zero global rotation and translation — ``s = 5`` (1 n-unit = 0.2 m) and ``c`` is
the **index MCP keypoint** of that hand shifted by ``(0, −0.08, 0)`` m. The index MCP is a
child of the wrist only, so ``c`` depends on the hand's shape (``betas``) but not on its
finger articulation. The grid spans ``[-1.5, 1.5]³`` in ``n``, a 0.6 m cube.

A hand placed in another frame ``o`` (object/world) with ``global_orient = ω`` and ``transl = t``
maps its own frame by ``oTh = [R(ω) | J0 − R J0 + t]`` (rotation about the rest wrist ``J0``,
:func:`bghop.hands.frames.hand_transform`), so ``nTo = nTh · oTh⁻¹``. :func:`frame_center` is the
one place the centre ``c`` is computed.

**Anchors** (``FrameConfig.anchor``; issue 20). G-HOP's frame above (``"right_hand"``) clips two-hand
grasps of wide objects: the left hand of a 40 cm box held at its ends falls outside a 0.6 m cube
around the right hand. Every anchor is ``n = s · Rᵀ (o − c)``, axes ``R`` and centre ``c`` in ``o``:

* ``"right_hand"`` — ``R`` the right hand's axes, ``c`` its frame centre (above); single-hand priors
  and every model saved before anchors existed;
* ``"palms"`` — ``R`` the right hand's axes, ``c`` midway between the two hands' frame centres;
* ``"object"`` — ``R`` the object's principal axes (area-weighted second moments of its surface,
  longest first, signs fixed by the third moments, right-handed) and ``c`` the centre of its box in
  those axes (:func:`object_frame` = :func:`bghop.geometry.axes.principal_frame`): the frame does not
  depend on the hands, so a fixed object has one grid and one latent whatever the hands do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import Tensor

from bghop.core.rotations import axis_angle_to_matrix
from bghop.core.transforms import invert_transform, make_transform, scale_transform
from bghop.geometry.axes import principal_frame as object_frame
from bghop.hands.base import HandModel
from bghop.hands.frames import hand_transform, rest_wrist

__all__ = ["ANCHORS", "FrameConfig", "hand_rest_joints", "frame_center", "nTh_from_joints", "compute_nTh",
           "compute_oTh", "compute_nTo", "object_frame", "nTo_from_axes", "palms_axes"]

#: where the normalised frame sits (module docstring)
ANCHORS = ("right_hand", "palms", "object")


@dataclass(frozen=True)
class FrameConfig:
    """Settings of the normalised frame (kept in model/grid configs).

    Attributes:
        scale: ``s`` in ``n = s (h − c)``; 5 upstream.
        offset: metres added to the index MCP in the hand frame to get ``c``; upstream (0, −0.08, 0).
        extent: the grid spans ``[-extent, extent]³`` n-units; 1.5 upstream.
        anchor: ``"right_hand"`` (G-HOP), ``"palms"`` or ``"object"`` (module docstring).
    """

    scale: float = 5.0
    offset: tuple[float, float, float] = (0.0, -0.08, 0.0)
    extent: float = 1.5
    anchor: str = "right_hand"

    def __post_init__(self) -> None:
        if self.anchor not in ANCHORS:
            raise ValueError(f"unknown frame anchor {self.anchor!r}; use one of {', '.join(ANCHORS)}")
        if not (self.scale > 0 and self.extent > 0):
            raise ValueError(f"frame scale and extent must be positive, got {self.scale} and {self.extent}")

    @property
    def side_m(self) -> float:
        """The grid cube's side, metres (``2 · extent / scale``)."""
        return 2.0 * self.extent / self.scale

    @property
    def where(self) -> str:
        """Where the grid sits, in words ("around the right hand", ...), for messages."""
        return {"right_hand": "around the right hand", "palms": "between the palms",
                "object": "around the object"}[self.anchor]

    def to_dict(self) -> dict:
        """JSON-ready; the anchor is left out for G-HOP's frame, so configs written before anchors
        existed (and the shipped set's identity) read and compare as before."""
        d = asdict(self)
        if self.anchor == "right_hand":
            d.pop("anchor")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FrameConfig":
        unknown = set(d) - {"scale", "offset", "extent", "anchor"}
        if unknown:
            raise ValueError(f"unknown FrameConfig keys {sorted(unknown)}")
        return cls(**{**d, "offset": tuple(d.get("offset", cls.offset))})

    @classmethod
    def with_side(cls, side_m: float, anchor: str, extent: float = 1.5) -> "FrameConfig":
        """A frame whose cube is ``side_m`` metres across (scale ``2 · extent / side_m``)."""
        return cls(scale=2.0 * extent / side_m, extent=extent, anchor=anchor)

    @classmethod
    def from_spec(cls, spec: str) -> "FrameConfig":
        """``"ANCHOR@SIDE"`` (``"object@0.8"``: anchored to the object, a 0.8 m cube) → a frame; G-HOP's
        own is ``"right_hand@0.6"`` (its scale 5 exactly).

        Raises:
            ValueError: not of that form, an unknown anchor, or a side outside 0.1–3 m.
        """
        anchor, _, side = str(spec).partition("@")
        try:
            side_m = float(side)
        except ValueError:
            raise ValueError(f"a grid frame is ANCHOR@SIDE_M (e.g. object@0.8), got {spec!r}") from None
        if anchor not in ANCHORS:
            raise ValueError(f"unknown frame anchor {anchor!r} in {spec!r}; use one of {', '.join(ANCHORS)}")
        if not 0.1 <= side_m <= 3.0:
            raise ValueError(f"the grid's side must be 0.1-3 m, got {side_m:g} in {spec!r}")
        if anchor == "right_hand" and abs(side_m - cls().side_m) < 1e-9:
            return cls()
        return cls.with_side(side_m, anchor)

    @property
    def spec(self) -> str:
        """``"ANCHOR@SIDE"`` (inverse of :meth:`from_spec`, side in metres to 3 decimals)."""
        return f"{self.anchor}@{self.side_m:.3g}"


def hand_rest_joints(hand: HandModel, pose: Tensor, betas: Tensor | None = None) -> Tensor:
    """Keypoints in the hand's own frame ``h`` (zero global rotation and translation).

    Args:
        hand: hand layer.
        pose: ``(B, 45)``.
        betas: ``(B, 10)`` or None.
    Returns:
        ``(B, 21, 3)`` metres.
    """
    zeros = pose.new_zeros(pose.shape[0], 3)
    return hand.keypoints(pose, zeros, zeros, betas)


def frame_center(joints_h: Tensor, cfg: FrameConfig = FrameConfig()) -> Tensor:
    """The normalised frame's centre ``c`` ``(B, 3)`` in the hand frame ``h``: the index MCP of the
    keypoints ``(B, 21, 3)`` (in ``h``) plus ``cfg.offset``, metres."""
    return joints_h[:, 5] + joints_h.new_tensor(cfg.offset)


def nTh_from_joints(joints_h: Tensor, cfg: FrameConfig = FrameConfig()) -> Tensor:
    """``(B, 21, 3)`` keypoints in ``h`` → ``nTh`` ``(B, 4, 4)``."""
    return scale_transform(cfg.scale, frame_center(joints_h, cfg))


def compute_nTh(hand: HandModel, pose: Tensor, betas: Tensor | None = None, cfg: FrameConfig = FrameConfig()) -> Tensor:
    """``nTh`` ``(B, 4, 4)`` for a hand's articulation and shape."""
    return nTh_from_joints(hand_rest_joints(hand, pose, betas), cfg)


def compute_oTh(hand: HandModel, global_orient: Tensor, transl: Tensor, betas: Tensor | None = None) -> Tensor:
    """``oTh`` ``(B, 4, 4)``: the hand frame placed in ``o`` by ``global_orient``/``transl``.

    Args:
        hand: hand layer (its rest wrist ``J0`` depends on ``betas``).
        global_orient: ``(B, 3)`` axis-angle.
        transl: ``(B, 3)`` metres.
        betas: ``(B, 10)`` or None.
    """
    j0 = rest_wrist(hand, betas, batch=global_orient.shape[0], device=global_orient.device, dtype=global_orient.dtype)
    return hand_transform(axis_angle_to_matrix(global_orient), transl, j0)


def compute_nTo(
    hand: HandModel,
    pose: Tensor,
    global_orient: Tensor,
    transl: Tensor,
    betas: Tensor | None = None,
    cfg: FrameConfig = FrameConfig(),
) -> Tensor:
    """``nTo`` ``(B, 4, 4)`` for a right hand given in frame ``o``."""
    return compute_nTh(hand, pose, betas, cfg) @ invert_transform(compute_oTh(hand, global_orient, transl, betas))


def nTo_from_axes(R: Tensor, c: Tensor, cfg: FrameConfig) -> Tensor:
    """``nTo`` ``(B, 4, 4)`` of ``n = s · Rᵀ (o − c)``.

    Args:
        R: ``(B, 3, 3)`` the frame's axes (columns) in ``o``.
        c: ``(B, 3)`` its centre in ``o``, metres.
        cfg: the frame (its scale).
    """
    Rt = R.transpose(-1, -2)
    return make_transform(Rt, -cfg.scale * (Rt @ c[..., None])[..., 0], scale=cfg.scale)


def palms_axes(oTh_right: Tensor, joints_right_o: Tensor, oTh_left: Tensor, joints_left_o: Tensor,
               cfg: FrameConfig) -> tuple[Tensor, Tensor]:
    """Axes ``(B, 3, 3)`` and centre ``(B, 3)`` of the ``"palms"`` frame in ``o``: the right hand's axes,
    centred midway between the two hands' frame centres. A hand's centre is its index MCP (keypoint 5,
    which moves with the hand's placement and shape only) plus ``cfg.offset`` in the hand's own axes,
    as :func:`frame_center`.

    Args:
        oTh_right, oTh_left: ``(B, 4, 4)`` each hand's frame in ``o``.
        joints_right_o, joints_left_o: ``(B, 21, 3)`` each hand's keypoints in ``o``, metres.
        cfg: the frame (its offset).
    """
    off = oTh_right.new_tensor(cfg.offset)
    c_r = joints_right_o[:, 5] + oTh_right[:, :3, :3] @ off
    c_l = joints_left_o[:, 5] + oTh_left[:, :3, :3] @ off
    return oTh_right[:, :3, :3], 0.5 * (c_r + c_l)

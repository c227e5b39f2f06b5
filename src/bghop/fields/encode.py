"""Encode an (object mesh, hands) pair into an interaction grid, and decode it back.

The object SDF is sampled on a ``sdf_resolution³`` grid (64 upstream) spanning the normalised
frame's ``[-extent, extent]³`` (G-HOP's frame around the right hand, or one anchored between the
palms or to the object: :mod:`bghop.fields.frame`); distances are in **n units** (1 n = 0.2 m at
G-HOP's scale), unclamped (models clamp at ±0.2 n and divide by 0.2 themselves). The hands' skeletal fields
are on the coarser ``FieldConfig.resolution³`` grid (16). The transform ``nTo`` from the
object's frame into ``n`` is kept, so decoding returns everything in the object's frame.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import trimesh

from bghop.core.io import write_bytes_atomic
from bghop.core.rotations import matrix_to_axis_angle
from bghop.core.transforms import invert_transform
from bghop.fields.fit import FitConfig, recover_hands
from bghop.fields.frame import compute_oTh, hand_rest_joints, nTh_from_joints, object_frame
from bghop.fields.skeletal import FieldConfig, bimanual_keypoints_n, skeletal_field
from bghop.geometry.grid import GridSpec
from bghop.geometry.sdf import mesh_to_sdf_grid, sdf_grid_to_mesh
from bghop.hands import HandModel, load_hand
from bghop.hands.frames import hand_translation, rest_wrist
from bghop.hands.params import HandParams, Hands

logger = logging.getLogger(__name__)

__all__ = ["GridSettings", "EncodedGrid", "DecodedGrid", "GridError", "encode_grid", "decode_grid", "hand_params_in"]

#: an object may poke out of the grid by this much (metres) with only a warning
OUTSIDE_TOLERANCE_M = 0.01


class GridError(ValueError):
    """Input that cannot be encoded/decoded; the message says what to do."""


@dataclass(frozen=True)
class GridSettings:
    """How a grid is built.

    Attributes:
        sdf_resolution: object SDF grid points per axis.
        field: skeletal-field settings (resolution, clamp, normalised frame).
    """

    sdf_resolution: int = 64
    field: FieldConfig = FieldConfig()

    def to_dict(self) -> dict:
        return {"sdf_resolution": self.sdf_resolution, "field": self.field.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "GridSettings":
        return cls(sdf_resolution=int(d["sdf_resolution"]), field=FieldConfig.from_dict(d["field"]))

    @property
    def sdf_spec(self) -> GridSpec:
        e = self.field.frame.extent
        return GridSpec(self.sdf_resolution, -e, e)


@dataclass
class EncodedGrid:
    """One interaction grid with everything needed to decode it.

    Attributes:
        object_sdf: ``(R, R, R)`` float32, n units, negative inside.
        right_field: ``(20, r, r, r)`` float32.
        left_field: ``(20, r, r, r)`` float32, or None (single hand).
        nTo: ``(4, 4)`` float64, object frame → normalised frame.
        settings: how it was built.
        hand_kind: ``"open"`` or ``"mano"``.
        hands: the input ``hands.json`` content (object frame), for reference.
    """

    object_sdf: np.ndarray
    right_field: np.ndarray
    left_field: np.ndarray | None
    nTo: np.ndarray
    settings: GridSettings
    hand_kind: str = "open"
    hands: dict = field(default_factory=dict)

    def save(self, path: str | os.PathLike) -> Path:
        """Write a compressed ``.npz`` atomically (temp file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"object_sdf": self.object_sdf.astype(np.float32), "right_field": self.right_field.astype(np.float32),
                  "nTo": self.nTo.astype(np.float64)}
        if self.left_field is not None:
            arrays["left_field"] = self.left_field.astype(np.float32)
        meta = {"settings": self.settings.to_dict(), "hand_kind": self.hand_kind, "hands": self.hands,
                "units": {"object_sdf": "n units (1 n = 1/scale m)", "nTo": "metres -> n units"}, "format": 1}
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        return write_bytes_atomic(path, lambda f: np.savez_compressed(f, **arrays))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "EncodedGrid":
        """Read a grid written by :meth:`save`; clear errors for missing/corrupt files."""
        path = Path(path)
        if not path.is_file():
            raise GridError(f"grid file {path} does not exist (make one with `bghop grid encode`)")
        redo = "re-create it with `bghop grid encode --object MESH --hands HANDS.json --out GRID.npz`"
        try:
            z = np.load(path, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise GridError(f"{path} is a single .npy array, not a bghop grid file (.npz); {redo}")
            with z:
                d = {k: z[k] for k in z.files}
            if not d:
                raise GridError(f"{path} is an empty archive (it holds no arrays), not a bghop grid file; {redo}")
            missing = [k for k in ("object_sdf", "right_field", "nTo", "meta") if k not in d]
            if missing:
                raise GridError(f"{path} is not a complete bghop grid file: it has no {', '.join(missing)} array; "
                                f"{redo}")
            meta = json.loads(bytes(d["meta"]).decode())
            if not isinstance(meta, dict) or not isinstance(meta.get("settings"), dict):
                raise GridError(f"{path}: its meta holds no grid settings; {redo}")
            settings = GridSettings.from_dict(meta["settings"])
            g = cls(object_sdf=d["object_sdf"], right_field=d["right_field"], left_field=d.get("left_field"),
                    nTo=d["nTo"], settings=settings, hand_kind=meta.get("hand_kind", "open"),
                    hands=meta.get("hands", {}))
        except (GridError, MemoryError):
            raise
        except EOFError as e:
            raise GridError(f"{path} is an empty file, not a bghop grid file; {redo}") from e
        except Exception as e:  # noqa: BLE001 - numpy and zipfile raise many types for damaged files
            raise GridError(f"{path} is not a bghop grid file, or a damaged one ({type(e).__name__}: {e}); "
                            f"{redo}") from e
        r, fr = settings.sdf_resolution, settings.field.resolution
        if g.object_sdf.shape != (r, r, r) or g.right_field.shape != (20, fr, fr, fr) or g.nTo.shape != (4, 4) or \
                (g.left_field is not None and g.left_field.shape != (20, fr, fr, fr)):
            raise GridError(f"{path}: array shapes do not match its settings; re-create it with `bghop grid encode`")
        return g


@dataclass
class DecodedGrid:
    """A grid decoded back into the object's frame (metres).

    Attributes:
        object_mesh: marching-cubes surface.
        hands: :class:`~bghop.hands.params.Hands` in the object frame.
        right_residual: RMS keypoint residual of the right-hand fit (n units).
        left_residual: likewise for the left, or None.
    """

    object_mesh: trimesh.Trimesh
    hands: Hands
    right_residual: float
    left_residual: float | None


def hand_params_in(hand: HandModel, aTh: torch.Tensor, pose: torch.Tensor, betas: torch.Tensor) -> HandParams:
    """Hand parameters that place a hand whose own frame ``h`` sits at ``aTh`` (rigid) in frame ``a``.

    Args:
        hand: hand layer (for its rest wrist ``J0``; rotation is about ``J0``).
        aTh: ``(B, 4, 4)`` rigid.
        pose: ``(B, 45)``.
        betas: ``(B, 10)``.
    """
    j0 = rest_wrist(hand, betas, batch=pose.shape[0], device=pose.device, dtype=pose.dtype)
    return HandParams(pose, matrix_to_axis_angle(aTh[:, :3, :3]), hand_translation(aTh, j0), betas)


def _load_layers(kind: str, mano_dir) -> dict[str, HandModel]:
    return {s: load_hand(kind, side=s, model_dir=mano_dir) for s in ("right", "left")}


def encode_grid(
    mesh: trimesh.Trimesh,
    hands: Hands,
    settings: GridSettings = GridSettings(),
    mano_dir: str | os.PathLike | None = None,
    truncate: float | None = None,
) -> EncodedGrid:
    """Build the interaction grid of an object and one or two hands (all in the object's frame).

    Args:
        mesh: object mesh, metres, object frame.
        hands: :class:`~bghop.hands.params.Hands` (left optional), batch 1.
        settings: grid settings.
        mano_dir: MANO folder when the hands are MANO.
        truncate: when given (n units), the object SDF is clamped to ``±truncate`` and exact
            distances are only computed where they can be smaller (about twice as fast; the
            stored training data is truncated at :data:`bghop.data.shards.TRUNCATION` anyway,
            and the clamped values then equal the truncated exact ones).
    Raises:
        GridError: no right hand, mixed hand kinds, or the object falls outside the grid.
    """
    try:
        hands = Hands.coerce(hands)
    except ValueError as e:
        raise GridError(str(e)) from e
    kind = hands.kind
    layers = _load_layers(kind, mano_dir)
    cfg = settings.field
    right = hands.right.to(torch.float64)
    left = hands.left.to(torch.float64) if hands.left is not None else None
    layers = {s: h.to(torch.float64) for s, h in layers.items()}
    oTa = None
    if cfg.frame.anchor == "object":
        oTa = torch.as_tensor(object_frame(np.asarray(mesh.vertices), np.asarray(mesh.faces)), dtype=torch.float64)
    if cfg.frame.anchor == "palms" and left is None:
        raise GridError("a grid with the 'palms' frame needs both hands; give a left hand or use the right-hand frame")
    with torch.no_grad():
        kp = bimanual_keypoints_n(layers["right"], right, layers["left"], left, cfg, object_oTa=oTa)
    nTo = kp.nTo[0].cpu().numpy()
    # the object must fit in the grid
    v_n = trimesh.transform_points(np.asarray(mesh.vertices, dtype=np.float64), nTo)
    outside_n = max(0.0, float(np.abs(v_n).max()) - cfg.frame.extent)
    outside_m = outside_n / cfg.frame.scale
    if outside_m > OUTSIDE_TOLERANCE_M:
        raise GridError(
            f"the object falls outside the grid by {outside_m * 100:.1f} cm (the grid is a "
            f"{cfg.frame.side_m:.2f} m cube {cfg.frame.where}); move the hands closer to the object, or check the mesh "
            "units (--scale)")
    if outside_m > 0:
        logger.warning("the object pokes out of the grid by %.1f mm; that part is cut off", outside_m * 1000)
    for side, k in (("right", kp.right), ("left", kp.left)):
        if k is None:
            continue
        inside = (k[0, 1:].abs() <= cfg.frame.extent).all(-1).float().mean().item()
        if inside < 1.0:
            logger.warning("%.0f%% of the %s hand's keypoints lie outside the grid; its field loses them",
                           100 * (1 - inside), side)
    sdf = mesh_to_sdf_grid(mesh, settings.sdf_spec, transform=nTo, max_distance=truncate)
    with torch.no_grad():
        fr = skeletal_field(kp.right[:, 1:], cfg)[0].float().cpu().numpy()
        fl = skeletal_field(kp.left[:, 1:], cfg)[0].float().cpu().numpy() if kp.left is not None else None
    hands_json = hands.to_json_dict()
    return EncodedGrid(object_sdf=sdf.astype(np.float32), right_field=fr, left_field=fl, nTo=nTo,
                       settings=settings, hand_kind=kind, hands=hands_json)


def decode_grid(grid: EncodedGrid, mano_dir: str | os.PathLike | None = None,
                fit: FitConfig = FitConfig()) -> DecodedGrid:
    """Turn a grid back into an object mesh and hand parameters in the object's frame.

    Args:
        grid: an :class:`EncodedGrid`.
        mano_dir: MANO folder when the grid was made with MANO hands.
        fit: field → hand fit settings.
    """
    cfg = grid.settings.field
    layers = {s: h.to(torch.float64) for s, h in _load_layers(grid.hand_kind, mano_dir).items()}
    oTn = invert_transform(torch.as_tensor(grid.nTo, dtype=torch.float64)[None])
    mesh = sdf_grid_to_mesh(grid.object_sdf, grid.settings.sdf_spec, level=0.0, transform=oTn[0].cpu().numpy())
    fr = torch.as_tensor(grid.right_field, dtype=torch.float64)[None]
    fl = torch.as_tensor(grid.left_field, dtype=torch.float64)[None] if grid.left_field is not None else None
    rec = recover_hands(layers["right"], fr, layers["left"] if fl is not None else None, fl, cfg, fit)
    with torch.no_grad():
        if rec.frame == "m":  # both hands were placed in the grid: m = n / s
            s = cfg.frame.scale
            oTm = oTn @ torch.diag(torch.tensor([s, s, s, 1.0], dtype=torch.float64))
            placed = {}
            for side, p in (("right", rec.right), ("left", rec.left)):
                if p is None:
                    continue
                mTh = compute_oTh(layers[side], p.global_orient, p.transl, p.betas)
                placed[side] = hand_params_in(layers[side], oTm @ mTh, p.pose, p.betas).to(torch.float32)
            hands = Hands(grid.hand_kind, placed["right"], placed.get("left"))
        else:
            j_h = hand_rest_joints(layers["right"], rec.right.pose, rec.right.betas)
            oTh = oTn @ nTh_from_joints(j_h, cfg.frame)
            # oTh carries the scale 1/s·s = 1: nTh scales by s, oTn by 1/s
            right = hand_params_in(layers["right"], oTh, rec.right.pose, rec.right.betas)
            left = None
            if rec.left is not None:
                hTl = compute_oTh(layers["left"], rec.left.global_orient, rec.left.transl, rec.left.betas)
                left = hand_params_in(layers["left"], oTh @ hTl, rec.left.pose, rec.left.betas).to(torch.float32)
            hands = Hands(grid.hand_kind, right.to(torch.float32), left)
    lr = float(rec.left_residual[0]) if rec.left_residual is not None else None
    return DecodedGrid(object_mesh=mesh, hands=hands, right_residual=float(rec.right_residual[0]), left_residual=lr)


"""Pictures of the hand layers: a gallery of poses for both sides and a two-hand pose."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from bghop.core.outputs import staged_folder
from bghop.hands import HandModel, load_hand
from bghop.hands.frames import place_hand
from bghop.hands.params import HandParams
from bghop.hands.posing import pose_hand
from bghop.hands.poses import named_pose
from bghop.viz.render import COLORS, RenderMesh, contact_sheet, render_meshes

logger = logging.getLogger(__name__)

__all__ = ["render_hand_gallery", "hand_mesh", "GALLERY_POSES"]

GALLERY_POSES = ("flat", "fist", "pinch", "relaxed")


def hand_mesh(hand: HandModel, pose: torch.Tensor, orient: torch.Tensor, transl: torch.Tensor) -> RenderMesh:
    """One posed hand as a :class:`RenderMesh` (batch of one; :func:`bghop.hands.posing.pose_hand`)."""
    posed = pose_hand(hand, HandParams(pose, orient, transl, pose.new_zeros(pose.shape[0], 10)))
    return RenderMesh(posed.vertices, posed.faces, COLORS[hand.side], label=hand.side)


def render_hand_gallery(
    out_dir: str | os.PathLike,
    kind: str = "open",
    model_dir: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
    poses: tuple[str, ...] = GALLERY_POSES,
) -> list[Path]:
    """Write PNGs of both hands in several poses, a two-hand pose and a contact sheet.

    Args:
        out_dir: output folder (created).
        kind: hand kind (``"open"`` or ``"mano"``).
        model_dir: MANO folder when ``kind == "mano"``.
        device: torch device.
        poses: names understood by :func:`bghop.hands.poses.named_pose`.
    Returns:
        written paths, contact sheet last.
    """
    device = torch.device(device)
    final = Path(out_dir)
    hands = {s: load_hand(kind, side=s, model_dir=model_dir).to(device) for s in ("right", "left")}
    with staged_folder(final, "hands render", legacy=legacy_gallery_files) as out:
        written = _gallery(hands, kind, out, device, poses)
    logger.info("wrote %d images to %s", len(written), final)
    return [final / p.name for p in written]


def legacy_gallery_files(folder: Path) -> tuple[str, set[str]] | None:
    """A gallery written before markers: its images."""
    if not (folder / "gallery.png").is_file():
        return None
    return "hands render", {p.name for p in folder.glob("*.png")}


def _gallery(hands: dict[str, HandModel], kind: str, out: Path, device: torch.device, poses: tuple[str, ...]
             ) -> list[Path]:
    mirror = torch.tensor([1.0, -1.0, -1.0], device=device)
    written: list[Path] = []
    for name in poses:
        p = named_pose(name, kind=kind).to(device)[None]
        # right hand at +x, left (mirrored pose) at -x, both palms towards the viewer (+z)
        meshes = []
        for side, x in (("right", 0.07), ("left", -0.07)):
            pose = p if side == "right" else (p.reshape(1, 15, 3) * mirror).reshape(1, 45)
            pl = place_hand(hands[side], pose, torch.tensor([0.0, 1.0, 0.0]), torch.tensor([0.0, 0.0, 1.0]),
                            torch.tensor([x, 0.0, 0.0]))
            meshes.append(hand_mesh(hands[side], pose, pl.global_orient, pl.transl))
        path = render_meshes(meshes, out / f"{name}.png", views=((10.0, 0.0), (10.0, 75.0), (50.0, -40.0)),
                             up="y", title=f"{kind} hand: {name} (right orange, left blue)")
        written.append(path)
    written.append(_two_hands(hands, kind, out / "two_hands.png", device))
    labels = [p.stem for p in written]
    written.append(contact_sheet(written, out / "gallery.png", cols=2, labels=labels))
    return written


def _two_hands(hands: dict[str, HandModel], kind: str, path: Path, device: torch.device) -> Path:
    """Both hands in a relaxed grasp, palms facing each other around a 16 cm box."""
    import trimesh

    box = trimesh.creation.box(extents=(0.16, 0.12, 0.10))
    mirror = torch.tensor([1.0, -1.0, -1.0], device=device)
    p = named_pose("relaxed", kind=kind).to(device)[None]
    meshes = [RenderMesh(np.asarray(box.vertices), np.asarray(box.faces), COLORS["object"])]
    for side, sx in (("right", 1.0), ("left", -1.0)):
        pose = p if side == "right" else (p.reshape(1, 15, 3) * mirror).reshape(1, 45)
        center = torch.tensor([sx * 0.08, 0.0, 0.0])
        pl = place_hand(hands[side], pose, torch.tensor([0.0, 0.3, 1.0]), torch.tensor([-sx, 0.0, 0.0]), center,
                        offset=0.012)
        meshes.append(hand_mesh(hands[side], pose, pl.global_orient, pl.transl))
    return render_meshes(meshes, path, views=((20.0, -70.0), (20.0, 20.0), (75.0, -90.0)), up="y",
                         title=f"{kind} hands: two-hand pose around a box")

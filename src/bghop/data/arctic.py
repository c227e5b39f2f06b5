"""ARCTIC (Fan et al., CVPR 2023) → bghop training shards.

Reads the data set as users download it (shared/REFERENCE.md "ARCTIC on disk"):

* ``raw_seqs/<subject>/<seq>.mano.npy``: a pickled dict ``{"left", "right"}`` → ``rot (F, 3)``,
  ``pose (F, 45)`` (relative to MANO's mean pose: ``flat_hand_mean=False``; we add ``hands_mean``
  so stored poses follow bghop's ``flat_hand_mean=True`` convention), ``trans (F, 3)`` m,
  ``shape (10,)``, ``fitting_err (F,)``;
* ``raw_seqs/<subject>/<seq>.object.npy``: ``(F, 7)`` = articulation (rad), axis-angle (3),
  translation (3) in **mm**;
* ``meta/object_vtemplates/<object>/mesh.obj`` (mm) and ``parts.json`` (a label per vertex).

The object is articulated as ARCTIC's code does: vertices labelled 0 in ``parts.json`` rotate
about the axis (0, 0, −1) through the object origin by the frame's angle (ARCTIC's docs say
the opposite label; its code rotates label 0, and so do we), then the global pose applies.
Frames are kept where **both** hands have more than 20 % of their 778 vertices within 1 cm of
the object (upstream BG-HOP's rule). Each kept frame becomes a sample in the object's frame,
prompt "grasp a {object} with both hands", and goes to the split of its subject: s03 → test
(held out by the ARCTIC authors), s05 → val (ARCTIC's validation subject), the rest → train.
Upstream BG-HOP splits 90/10 by sequence without a seed; a subject split keeps people unseen.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import trimesh
from tqdm import tqdm

from bghop.core.rotations import axis_angle_to_matrix
from bghop.core.transforms import invert_transform, make_transform
from bghop.fields.encode import GridSettings, encode_grid, hand_params_in
from bghop.fields.frame import compute_oTh
from bghop.geometry.sdf import sdf_at_points
from bghop.hands import load_hand
from bghop.hands.params import HandParams, Hands
from bghop.data.prompts import prompt
from bghop.data.shards import TRUNCATION, Manifest, Sample, shard_path, write_shard


logger = logging.getLogger(__name__)

__all__ = ["ArcticConfig", "ArcticError", "subject_split", "articulated_object", "convert_arctic", "OBJECTS"]

OBJECTS = ("box", "capsulemachine", "espressomachine", "ketchup", "laptop", "microwave", "mixer", "notebook",
           "phone", "scissors", "waffleiron")
#: upstream contact rule: share of a hand's vertices within CONTACT_DIST_M of the object
CONTACT_FRACTION = 0.2
CONTACT_DIST_M = 0.01


class ArcticError(ValueError):
    """ARCTIC input that cannot be converted; the message says what is missing."""


@dataclass(frozen=True)
class ArcticConfig:
    """Conversion settings.

    Attributes:
        stride: use every ``stride``-th frame (ARCTIC runs at 30 fps; neighbouring frames are near duplicates).
        shard_size: samples per shard.
        grid: interaction-grid settings.
    """

    stride: int = 10
    shard_size: int = 256
    grid: GridSettings = GridSettings()


def subject_split(subject: str) -> str:
    """``"test"`` for s03, ``"val"`` for s05, else ``"train"``."""
    return {"s03": "test", "s05": "val"}.get(subject, "train")


def _load_template(root: Path, obj: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    folder = root / "meta" / "object_vtemplates" / obj
    mesh_path, parts_path = folder / "mesh.obj", folder / "parts.json"
    for p in (mesh_path, parts_path):
        if not p.is_file():
            raise ArcticError(f"ARCTIC object template file {p} is missing; download ARCTIC's meta data "
                              "(meta/object_vtemplates) into --root")
    m = trimesh.load(mesh_path, force="mesh", process=False)
    labels = np.asarray(json.loads(parts_path.read_text()))
    if len(labels) != len(m.vertices):
        raise ArcticError(f"{parts_path} has {len(labels)} labels for {len(m.vertices)} vertices")
    return np.asarray(m.vertices, dtype=np.float64) / 1000.0, np.asarray(m.faces), labels


def articulated_object(vertices_m: np.ndarray, labels: np.ndarray, angle: float) -> np.ndarray:
    """Rotate the label-0 part about (0, 0, −1) through the origin by ``angle`` (object frame, metres)."""
    R = axis_angle_to_matrix(torch.tensor([0.0, 0.0, -angle], dtype=torch.float64)).cpu().numpy()
    out = vertices_m.copy()
    sel = labels == 0
    out[sel] = out[sel] @ R.T
    return out


def _load_seq(path: Path) -> tuple[dict, np.ndarray]:
    obj_path = path.with_name(path.name.replace(".mano.npy", ".object.npy"))
    try:
        mano = np.load(path, allow_pickle=True).item()
        obj = np.load(obj_path, allow_pickle=False)
    except Exception as e:
        raise ArcticError(f"could not read ARCTIC sequence {path} / {obj_path.name}: {e}") from e
    for side in ("left", "right"):
        if side not in mano or not {"rot", "pose", "trans", "shape"} <= set(mano[side]):
            raise ArcticError(f"{path}: '{side}' must hold rot, pose, trans, shape")
    if obj.ndim != 2 or obj.shape[1] != 7 or len(obj) != len(mano["right"]["rot"]):
        raise ArcticError(f"{obj_path}: expected ({len(mano['right']['rot'])}, 7), got {obj.shape}")
    return mano, obj


def convert_arctic(root: str | os.PathLike, mano_dir: str | os.PathLike | None, out: str | os.PathLike,
                   cfg: ArcticConfig = ArcticConfig(), subjects: list[str] | None = None) -> dict[str, Manifest]:
    """Convert ARCTIC sequences into ``out/{train,val,test}`` data folders.

    Args:
        root: ARCTIC root (with ``raw_seqs/`` and ``meta/``).
        mano_dir: official MANO files (ARCTIC's hands are MANO; required).
        out: output folder.
        cfg: settings.
        subjects: restrict to these subjects (default: every folder under ``raw_seqs``).
    Returns:
        the manifest per split.
    """
    root, out = Path(root), Path(out)
    seq_root = root / "raw_seqs"
    if not seq_root.is_dir():
        raise ArcticError(f"{seq_root} does not exist: --root must be the ARCTIC folder holding raw_seqs/ and meta/")
    # bghop stores MANO poses with flat_hand_mean=True: ARCTIC's poses get MANO's hands_mean added
    hands = {s: load_hand("mano", side=s, model_dir=mano_dir, flat_hand_mean=True).double() for s in ("left", "right")}
    subj = sorted(p.name for p in seq_root.iterdir() if p.is_dir()) if subjects is None else subjects
    seqs = [p for s in subj for p in sorted((seq_root / s).glob("*.mano.npy"))]
    if not seqs:
        raise ArcticError(f"no *.mano.npy sequences under {seq_root}")
    buffers: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
    manifests = {k: Manifest(settings={"source": "arctic", "grid": cfg.grid.to_dict(), "stride": cfg.stride,
                                       "contact": {"fraction": CONTACT_FRACTION, "distance_m": CONTACT_DIST_M}})
                 for k in buffers}
    templates: dict[str, tuple] = {}
    kept = total = 0

    def flush(split: str) -> None:
        if not buffers[split]:
            return
        m = manifests[split]
        path = shard_path(out / split, len(m.shards))
        sha = write_shard(path, buffers[split])
        m.shards.append({"file": path.name, "count": len(buffers[split]), "sha1": sha, "bimanual": True})
        m.save(out / split)
        buffers[split] = []

    for path in tqdm(seqs, desc="ARCTIC sequences", unit="seq"):
        subject, seq = path.parent.name, path.name[: -len(".mano.npy")]
        obj_name = seq.split("_")[0]
        if obj_name not in templates:
            templates[obj_name] = _load_template(root, obj_name)
        v_m, faces, labels = templates[obj_name]
        mano, obj = _load_seq(path)
        split = subject_split(subject)
        for f in range(0, len(obj), cfg.stride):
            total += 1
            v_art = articulated_object(v_m, labels, float(obj[f, 0]))
            mesh = trimesh.Trimesh(v_art, faces, process=False)
            wTo = make_transform(axis_angle_to_matrix(torch.tensor(obj[f, 1:4], dtype=torch.float64)),
                                 torch.tensor(obj[f, 4:7] / 1000.0, dtype=torch.float64))
            oTw = invert_transform(wTo)
            params: dict[str, HandParams] = {}
            ok = True
            for side in ("right", "left"):
                h = mano[side]
                p = HandParams(*(torch.tensor(np.asarray(h[k][f] if k != "shape" else h[k]), dtype=torch.float64)[None]
                                 for k in ("pose", "rot", "trans", "shape")))
                p.pose = p.pose + hands[side].hands_mean
                wTh = compute_oTh(hands[side], p.global_orient, p.transl, p.betas)
                p_o = hand_params_in(hands[side], oTw @ wTh, p.pose, p.betas)
                with torch.no_grad():
                    verts = hands[side](p_o.pose, p_o.global_orient, p_o.transl, p_o.betas).vertices[0].cpu().numpy()
                near = (sdf_at_points(mesh, verts) < CONTACT_DIST_M).mean()
                ok &= near > CONTACT_FRACTION
                params[side] = p_o.to(torch.float32)
            if not ok:
                continue
            try:
                grid = encode_grid(mesh, Hands.from_params(params, "mano"), cfg.grid, mano_dir=mano_dir, truncate=TRUNCATION)
            except ValueError as e:  # e.g. the object does not fit the grid
                logger.debug("skip %s frame %d: %s", seq, f, e)
                continue
            hands_json = grid.hands
            buffers[split].append(Sample(object_sdf=grid.object_sdf, right_field=grid.right_field,
                                         left_field=grid.left_field, text=prompt(obj_name, bimanual=True),
                                         object_id=obj_name, hands=hands_json, nTo=grid.nTo,
                                         meta={"source": "arctic", "subject": subject, "seq": seq, "frame": f}))
            kept += 1
            if len(buffers[split]) >= cfg.shard_size:
                flush(split)
    for split in buffers:
        flush(split)
    logger.info("ARCTIC: kept %d of %d frames with both hands in contact", kept, total)
    return {k: m for k, m in manifests.items() if m.shards}

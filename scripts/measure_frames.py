"""How much of two-hand grasps each candidate grid frame clips (issue 20, item 1).

    python scripts/measure_frames.py runs/two_hand                 # the set of scripts/two_hand_grasps.py
    python scripts/measure_frames.py runs/two_hand --json frames.json

For every grasp of a grid-unfiltered two-hand set and every candidate frame this measures what
falls outside the grid cube ``[-extent, extent]³`` (n-units): the share of each hand's 21
keypoints, the share of the object's surface (5 mm cover, :func:`bghop.geometry.surface.surface_points`),
and whether the grasp is whole (every keypoint and ≥ 99 % of the surface inside), plus the voxel
sizes the frame implies for the 64³ object SDF and the 16³ hand fields. Candidates:

* ``right`` — G-HOP's frame: centred 8 cm from the right index MCP in the right hand's axes
  (:mod:`bghop.fields.frame`), at its upstream scale (0.6 m cube) and larger;
* ``palms`` — the same axes, centred midway between the two hands' frame centres;
* ``object`` — the object's principal axes, centred on its box in those axes
  (:func:`bghop.fields.frame.object_frame`, as the encoder's ``"object"`` anchor).

The frames differ only by where the cube sits and how large it is; round-trip accuracy and the
prior's validation loss need the frame inside the encoder and are measured separately.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

#: cube sides (metres) tried for every frame kind
SIDES_M = (0.6, 0.8, 0.9, 1.0, 1.2)
EXTENT = 1.5  # n-units, as upstream; the side is 2 * EXTENT / scale


def _frames(hands, layers, mesh) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Candidate frame kinds → ``(R, c)``: axes (columns, in the object frame) and centre (metres)."""
    from bghop.fields.frame import compute_oTh, frame_center, hand_rest_joints, object_frame

    out, centres, R = {}, {}, None
    for side in ("right", "left"):
        p = hands[side]
        j_h = hand_rest_joints(layers[side], p.pose, p.betas)
        oTh = compute_oTh(layers[side], p.global_orient, p.transl, p.betas)[0].double()
        c_h = frame_center(j_h).double()[0]
        centres[side] = (oTh[:3, :3] @ c_h + oTh[:3, 3]).numpy()
        if side == "right":
            R = oTh[:3, :3].numpy()
    out["right"] = (R, centres["right"])
    out["palms"] = (R, (centres["right"] + centres["left"]) / 2)
    oTa = object_frame(np.asarray(mesh.vertices), np.asarray(mesh.faces))
    out["object"] = (oTa[:3, :3], oTa[:3, 3])
    return out


def measure(folder: Path) -> list[dict]:
    from bghop.data.grab import GRAB_CATEGORY_PREFIX
    from bghop.geometry.surface import surface_points
    from bghop.hands import load_hand
    from bghop.hands.params import HandParams

    sys.path.insert(0, str(Path(__file__).parent))
    from two_hand_grasps import build_object

    layers = {s: load_hand("open", side=s) for s in ("right", "left")}
    rows = []
    for path in sorted(folder.glob("object-*.json")):
        rec = json.loads(path.read_text())
        if not rec["grasps"]:
            continue
        obj = build_object(rec["spec"])
        surf = surface_points(obj.mesh, spacing=0.005)
        for g in rec["grasps"]:
            hands = {s: HandParams.from_json_dict(g["hands"][s]) for s in ("right", "left")}
            with torch.no_grad():
                kp = {s: layers[s].keypoints(h.pose, h.global_orient, h.transl, h.betas)[0].double().numpy()
                      for s, h in hands.items()}
                frames = _frames(hands, layers, obj.mesh)
            cat = rec["category"]
            row = {"object": path.stem, "category": "grab" if cat.startswith(GRAB_CATEGORY_PREFIX) else cat,
                   "longest_m": float(max(rec["extents_m"])), "palm_gap_m": float(np.linalg.norm(
                       frames["palms"][1] - frames["right"][1]) * 2), "frames": {}}
            for kind, (R, c) in frames.items():
                for side_m in SIDES_M:
                    half = side_m / 2
                    out_k = {s: float((np.abs((k - c) @ R) > half).any(1).mean()) for s, k in kp.items()}
                    out_s = float((np.abs((surf - c) @ R) > half).any(1).mean())
                    whole = max(out_k.values()) == 0 and out_s <= 0.01
                    row["frames"][f"{kind}@{side_m:g}"] = {"right_kp": out_k["right"], "left_kp": out_k["left"],
                                                          "surface": out_s, "whole": whole}
            rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| frame @ cube side (m) | SDF voxel mm (64³) | field voxel mm (16³) | grasps whole | left keypoints out | "
             "right keypoints out | object surface out (mean / worst) |", "|---|---:|---:|---:|---:|---:|---:|"]
    keys = list(rows[0]["frames"]) if rows else []
    for k in keys:
        side = float(k.split("@")[1])
        f = [r["frames"][k] for r in rows]
        lines.append(f"| {k} | {1000 * side / 63:.1f} | {1000 * side / 15:.0f} | "
                     f"{sum(x['whole'] for x in f)}/{len(f)} | {100 * np.mean([x['left_kp'] for x in f]):.1f}% | "
                     f"{100 * np.mean([x['right_kp'] for x in f]):.1f}% | "
                     f"{100 * np.mean([x['surface'] for x in f]):.1f}% / {100 * max(x['surface'] for x in f):.0f}% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="output folder of scripts/two_hand_grasps.py")
    ap.add_argument("--json", type=Path, default=None, help="write every grasp's figures here")
    args = ap.parse_args(argv)
    rows = measure(args.folder)
    if not rows:
        print(f"no grasps in {args.folder}: run scripts/two_hand_grasps.py --out {args.folder} first")
        return 1
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    gaps = np.array([r["palm_gap_m"] for r in rows])
    print(f"{len(rows)} grasps of {len({r['object'] for r in rows})} objects; longest side "
          f"{min(r['longest_m'] for r in rows):.2f}-{max(r['longest_m'] for r in rows):.2f} m; "
          f"distance between the hands' frame centres: median {np.median(gaps):.2f} m, max {gaps.max():.2f} m")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

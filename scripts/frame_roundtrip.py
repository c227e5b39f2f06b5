"""Round trip of two-hand grasps through the interaction grid in each candidate frame (issue 20, item 1).

    python scripts/frame_roundtrip.py --out runs/frame_roundtrip                       # resumes
    python scripts/frame_roundtrip.py --out runs/frame_roundtrip --frames right_hand@0.6 object@0.8

Each grasp is encoded into a grid (:func:`bghop.fields.encode.encode_grid`, exact truncated SDF and
both hands' fields, no autoencoder) and decoded back (:func:`bghop.fields.encode.decode_grid`:
marching cubes, fields → hands), once per frame ``anchor@side`` (anchor ``right_hand``, ``palms`` or
``object``; cube side in metres). Per grasp and frame it records whether the encoder refused the
object (it falls more than 1 cm outside the cube), each hand's mean keypoint error (mm) and the
object's chamfer distance (mm, mean of both directions, 20k surface samples each side).

Grasps, spanning 5–60 cm:

* the grid-unfiltered two-hand set of ``scripts/two_hand_grasps.py`` (``--two-hand``, default
  ``docs/frames/two_hand``: 25–60 cm; never filtered by any grid);
* the first ``--per-category`` two-hand samples of each category in the first ``--record-shards``
  two-hand shards of the shipped records (5–55 cm procedural objects; their grasps were kept by G-HOP's frame, so they
  say nothing about clipping — only about accuracy at smaller sizes).

Writes one JSON line per grasp to ``OUT/roundtrip.jsonl`` (resumes), prints a table by object
size and frame, and writes it to ``OUT/roundtrip.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

FRAMES = ("right_hand@0.6", "palms@0.8", "object@0.8")
SIZE_BINS = ((0.0, 0.15), (0.15, 0.25), (0.25, 0.4), (0.4, 0.61))


def _settings(frame: str):
    from bghop.fields.encode import GridSettings
    from bghop.fields.frame import FrameConfig
    from bghop.fields.skeletal import FieldConfig

    anchor, side = frame.split("@")
    return GridSettings(field=FieldConfig(frame=FrameConfig.with_side(float(side), anchor)))


def grasps(two_hand: Path, record_shards: int, per_category: int = 3):
    """``(key, source, category, mesh, hands)`` of every grasp measured (module docstring)."""
    from bghop.data.grab import GRAB_CATEGORY_PREFIX
    from bghop.data.records import builtin_records_dir, read_record, record_path, records_config
    from bghop.data.synthetic import SynthConfig, plan_jobs, recorded_samples
    from bghop.hands.params import HandParams, Hands

    sys.path.insert(0, str(Path(__file__).parent))
    from two_hand_grasps import build_object

    for path in sorted(two_hand.glob("object-*.json")):
        rec = json.loads(path.read_text())
        if not rec["grasps"]:
            continue
        obj = None
        for k, g in enumerate(rec["grasps"]):
            obj = obj or build_object(rec["spec"])
            hands = Hands("open", HandParams.from_json_dict(g["hands"]["right"]),
                          HandParams.from_json_dict(g["hands"]["left"]))
            cat = rec["category"]
            yield (f"{path.stem}/{k}", "two-hand set", "grab" if cat.startswith(GRAB_CATEGORY_PREFIX) else cat,
                   obj.mesh, hands)
    folder = builtin_records_dir()
    made = records_config(folder)
    cfg = replace(SynthConfig(), **{k: made[k] for k in ("bimanual", "single", "shard_size", "seed", "hand",
                                                         "single_max_extent", "single_max_width")})
    seen: dict[str, int] = {}
    jobs = [j for j in plan_jobs(cfg) if j.bimanual][:record_shards]
    for job in jobs:
        if not record_path(folder, job.index).is_file():
            continue
        record = read_record(record_path(folder, job.index))
        for i, obj_id, cat, obj, hands in recorded_samples(job, cfg, record):
            if seen.get(cat, 0) >= per_category:
                continue
            seen[cat] = seen.get(cat, 0) + 1
            yield f"shard-{job.index}/{i}", "shipped records", cat, obj.mesh, hands


def _chamfer_mm(a, b, n: int = 20000) -> float:
    import trimesh
    from scipy.spatial import cKDTree

    pa, _ = trimesh.sample.sample_surface(a, n, seed=0)
    pb, _ = trimesh.sample.sample_surface(b, n, seed=1)
    return 500.0 * (cKDTree(pb).query(pa)[0].mean() + cKDTree(pa).query(pb)[0].mean())


def measure(mesh, hands, frames, layers) -> dict:
    from bghop.fields.encode import GridError, decode_grid, encode_grid

    def kp(h):
        return {s: layers[s].keypoints(p.pose.float(), p.global_orient.float(), p.transl.float(),
                                       p.betas.float())[0] for s, p in h.items()}

    with torch.no_grad():
        k0 = kp(hands)
    out = {}
    for frame in frames:
        try:
            grid = encode_grid(mesh, hands, _settings(frame), truncate=0.2)
        except GridError as e:
            out[frame] = {"refused": True, "why": str(e)}
            continue
        try:
            dec = decode_grid(grid)
        except (ValueError, RuntimeError) as e:  # e.g. no surface left in the grid
            out[frame] = {"refused": False, "failed": f"{type(e).__name__}: {e}"}
            continue
        with torch.no_grad():
            k1 = kp(dec.hands)
        out[frame] = {"refused": False,
                      "joint_mm": {s: 1000.0 * float((k0[s] - k1[s]).norm(dim=-1).mean()) for s in k0},
                      "chamfer_mm": _chamfer_mm(mesh, dec.object_mesh)}
    return out


def table(rows: list[dict], frames) -> str:
    lines = ["| frame @ cube side (m) | object size (longest side) | grasps | refused | mean joint error mm: right / "
             "left (worst hand, max) | within 10 mm (both hands) | object chamfer mm (mean) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for frame in frames:
        for lo, hi in SIZE_BINS + ((0.0, 0.61),):
            sel = [r for r in rows if lo <= r["longest_m"] < hi and frame in r["frames"]]
            if not sel:
                continue
            fr = [r["frames"][frame] for r in sel]
            ok = [f for f in fr if "joint_mm" in f]
            refused = sum(f.get("refused", False) for f in fr)
            size = "all" if (lo, hi) == (0.0, 0.61) else f"{100 * lo:.0f}–{100 * hi:.0f} cm"
            if ok:
                r_mm = np.mean([f["joint_mm"]["right"] for f in ok])
                l_mm = np.mean([f["joint_mm"]["left"] for f in ok])
                worst = max(max(f["joint_mm"].values()) for f in ok)
                within = sum(max(f["joint_mm"].values()) <= 10.0 for f in ok)
                ch = np.mean([f["chamfer_mm"] for f in ok])
                lines.append(f"| {frame} | {size} | {len(sel)} | {refused} | {r_mm:.1f} / {l_mm:.1f} ({worst:.0f}) | "
                             f"{within}/{len(sel)} | {ch:.1f} |")
            else:
                lines.append(f"| {frame} | {size} | {len(sel)} | {refused} | – | 0/{len(sel)} | – |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder (resumes)")
    ap.add_argument("--two-hand", type=Path, default=Path(__file__).parents[1] / "docs" / "frames" / "two_hand",
                    help="folder of scripts/two_hand_grasps.py")
    ap.add_argument("--record-shards", type=int, default=8, help="two-hand shards of the shipped records to draw from")
    ap.add_argument("--per-category", type=int, default=3, help="record grasps per category (default 3)")
    ap.add_argument("--frames", nargs="+", default=list(FRAMES), help="anchor@side_m frames")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    from bghop.hands import load_hand

    for f in args.frames:
        _settings(f)  # unknown anchors and bad sides fail before any work
    layers = {s: load_hand("open", side=s) for s in ("right", "left")}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "roundtrip.jsonl"
    done = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            done[r["key"]] = r
    with path.open("a") as fh:
        for key, source, cat, mesh, hands in tqdm(grasps(args.two_hand, args.record_shards, args.per_category), desc="grasps"):
            row = done.get(key)
            missing = [f for f in args.frames if row is None or f not in row["frames"]]
            if not missing:
                continue
            res = measure(mesh, hands, missing, layers)
            row = row or {"key": key, "source": source, "category": cat, "longest_m": float(mesh.extents.max()),
                          "frames": {}}
            row["frames"].update(res)
            done[key] = row
            fh.write(json.dumps(row) + "\n")
            fh.flush()
    rows = list(done.values())
    text = (f"{len(rows)} grasps ({sum(r['source'] == 'two-hand set' for r in rows)} from the grid-unfiltered two-hand "
            f"set, {sum(r['source'] != 'two-hand set' for r in rows)} from the shipped records); longest side "
            f"{100 * min(r['longest_m'] for r in rows):.0f}–{100 * max(r['longest_m'] for r in rows):.0f} cm\n\n"
            + table(rows, args.frames))
    (args.out / "roundtrip.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

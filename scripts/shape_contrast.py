"""Do generated objects follow the prompt? Issue 21's coarse-shape check, with no learned model in it.

    python scripts/shape_contrast.py --library 10 --out runs/shape_lib            # the check on real library objects
    python scripts/shape_contrast.py --library 10 --autoencoder default --out runs/shape_ae   # ... after the AE round trip
    python scripts/shape_contrast.py --generate runs/shape_gen -n 6 [--prior P --autoencoder A]   # generate, then measure
    python scripts/shape_contrast.py gen/ball gen/box ... --out runs/shape                # existing `bghop generate` folders

Every object gets its coarse shape (:func:`bghop.eval.shape.coarse_shape`: flatness, elongation, fill of its
box, genus) and each of the five shape tests (ball, box, plate, ring, tube; :data:`bghop.eval.shape.SHAPE_TESTS`).
The contrast (:func:`bghop.eval.shape.shape_contrast`) is, per prompt, the share of its samples that pass
its own test minus the share of the other prompts' samples that pass it, averaged over the five.

``--library N`` measures the procedural library's own objects (N per category, seeds 10000+k, all 21
categories for the "highest other category" column): the figure a perfect generator would get, and the
check that the tests can tell the shapes apart. With ``--autoencoder`` each object first goes through the
autoencoder (its SDF on the 64³ grid in the object frame ``--frame``, encoded, decoded, marching cubes): the
most a generator with that autoencoder can reach. ``--generate OUT`` runs ``bghop generate --text C -n N`` for
the five prompts into ``OUT/C`` (kept when there) and measures them. Writes ``OUT/shape_contrast.json`` and
``OUT/shape_contrast.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import trimesh
from tqdm import tqdm

from bghop.eval.shape import SHAPE_TESTS, CoarseShape, coarse_shape, matches, shape_contrast

PROMPTS = tuple(SHAPE_TESTS)
logger = logging.getLogger("shape_contrast")


def _round_trip(mesh: trimesh.Trimesh, ae, frame: str) -> trimesh.Trimesh | None:
    """``mesh`` through the autoencoder: SDF in the object frame, encode, decode, marching cubes, metres."""
    import torch

    from bghop.data.shards import TRUNCATION
    from bghop.fields.encode import GridSettings
    from bghop.fields.frame import FrameConfig, nTo_from_axes, object_frame
    from bghop.geometry.sdf import SDFError, mesh_to_sdf_grid, sdf_grid_to_mesh

    oTa = torch.as_tensor(object_frame(np.asarray(mesh.vertices), np.asarray(mesh.faces)))
    nTo = nTo_from_axes(oTa[None, :3, :3], oTa[None, :3, 3], FrameConfig.from_spec(frame))[0].numpy()
    spec = GridSettings().sdf_spec
    sdf = mesh_to_sdf_grid(mesh, spec, transform=nTo, max_distance=TRUNCATION)
    with torch.no_grad():
        x = torch.as_tensor(sdf, dtype=torch.float32)[None, None]
        rec = ae.decode(ae.encode(x).mean)[0, 0].numpy()
    try:
        out = sdf_grid_to_mesh(rec, spec)
    except SDFError:
        return None
    out.apply_transform(np.linalg.inv(nTo))
    return out


def library_shapes(n: int, autoencoder: str | None, frame: str) -> dict[str, list[CoarseShape | None]]:
    from bghop.data.objects import category_names, make_object

    ae = None
    if autoencoder is not None:
        from bghop.models.autoencoder import ObjectAutoencoder

        ae = ObjectAutoencoder.from_pretrained(None if autoencoder == "default" else autoencoder).eval()
    out: dict[str, list[CoarseShape | None]] = {}
    cats = category_names()
    for c in tqdm(cats, desc="categories"):
        out[c] = []
        for k in range(n):
            mesh = make_object(c, 10_000 + k).mesh
            if ae is not None:
                mesh = _round_trip(mesh, ae, frame)
            out[c].append(None if mesh is None else coarse_shape(mesh))
    return out


def generate(out: Path, n: int, extra: list[str]) -> list[Path]:
    folders = []
    for c in PROMPTS:
        f = out / c
        if not (f / "summary.json").is_file():
            subprocess.run(["bghop", "generate", "--text", c, "-n", str(n), "--out", str(f), "--overwrite", *extra],
                           check=True)
        folders.append(f)
    return folders


def folder_shapes(folders: list[Path]) -> dict[str, list[CoarseShape | None]]:
    """Per prompted category (from each folder's summary.json text), the coarse shape of every sample that
    decoded (dropped samples count as ``None``: no object, so no test passes)."""
    from bghop.core.prompts import parse_object_name

    out: dict[str, list[CoarseShape | None]] = {}
    for f in folders:
        summary = json.loads((f / "summary.json").read_text())
        name = parse_object_name(summary.get("text"))
        if name not in SHAPE_TESTS:
            logger.warning("%s: prompt %r is not one of %s; skipped", f, summary.get("text"), ", ".join(PROMPTS))
            continue
        shapes = out.setdefault(name, [])
        for obj in sorted(f.glob("*/object.obj"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0):
            shapes.append(coarse_shape(trimesh.load(obj, force="mesh")))
        shapes.extend([None] * len(summary.get("dropped", [])))
    return out


def table(shapes: dict[str, list[CoarseShape | None]]) -> tuple[str, dict]:
    """The markdown table and the JSON figures. ``None`` (no object) passes no test."""
    ok = {c: [s for s in v if s is not None] for c, v in shapes.items()}
    fake = CoarseShape((0.0, 0.0, 0.0), 0.0, 0.0, 0.0, -1, 0, 0.0)  # fails every test
    five = {c: [s if s is not None else fake for s in shapes[c]] for c in PROMPTS if c in shapes}
    con = shape_contrast(five)
    lines = ["| prompt / test | samples | pass own test | others of the five passing it | highest other category "
             "| decoded | one piece |", "| --- | ---: | ---: | ---: | --- | ---: | ---: |"]
    for c in PROMPTS:
        if c not in five:
            continue
        rates = {d: float(np.mean([s is not None and matches(s, c) for s in v])) for d, v in shapes.items()
                 if d != c and v}
        top = max(rates, key=rates.get) if rates else "-"
        lines.append(f"| {c} | {len(shapes[c])} | {con.own[c]:.0%} | {con.other[c]:.0%} | "
                     f"{top} {rates.get(top, 0):.0%} | {len(ok[c]) / max(len(shapes[c]), 1):.0%} | "
                     f"{np.mean([s.pieces == 1 for s in ok[c]]) if ok[c] else 0:.0%} |")
    lines.append(f"\ncontrast {con.contrast:.2f}")
    figures = {"contrast": con.contrast, "own": con.own, "other": con.other,
               "shapes": {c: [None if s is None else s.to_dict() for s in v] for c, v in shapes.items()}}
    return "\n".join(lines), figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="*", type=Path, help="`bghop generate` folders to measure")
    ap.add_argument("--out", type=Path, default=None, help="where the table goes (default: --generate's folder)")
    ap.add_argument("--library", type=int, default=0, metavar="N", help="measure N library objects per category")
    ap.add_argument("--autoencoder", default=None, help="with --library: round-trip through this AE ('default': "
                                                        "the shipped one); with --generate: passed on")
    ap.add_argument("--frame", default="object@0.8", help="with --library --autoencoder: the grid frame")
    ap.add_argument("--generate", type=Path, default=None, metavar="OUT", help="generate the five prompts into OUT")
    ap.add_argument("-n", type=int, default=6, help="samples per prompt with --generate")
    ap.add_argument("--prior", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.library:
        shapes = library_shapes(args.library, args.autoencoder, args.frame)
    else:
        folders = list(args.folders)
        if args.generate is not None:
            extra = ["--threads", str(args.threads), "--seed", str(args.seed), "--quiet"]
            extra += ["--prior", args.prior] if args.prior else []
            extra += ["--autoencoder", args.autoencoder] if args.autoencoder else []
            folders += generate(args.generate, args.n, extra)
        if not folders:
            ap.error("give --library N, --generate OUT or generate folders")
        shapes = folder_shapes(folders)
    out = args.out or args.generate
    md, figures = table(shapes)
    print(md)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "shape_contrast.md").write_text(md + "\n")
        (out / "shape_contrast.json").write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    sys.exit(main())

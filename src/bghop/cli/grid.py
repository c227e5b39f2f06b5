"""``bghop grid encode|decode``: build an interaction grid from a mesh and hands, and back."""

from __future__ import annotations

import argparse

from bghop.cli.checks import add_overwrite, check_out_file, check_out_folder, cpu_only, float_in, frame_spec, int_in
from bghop.cli.main import add_common, command_group, user_errors


def register(sub: argparse._SubParsersAction) -> None:
    _, gs = command_group(sub, "grid", "encode an object + hands into an interaction grid, or decode one",
                           "Inspect and prepare interaction grids (object SDF + skeletal fields).")
    e = gs.add_parser("encode", help="object mesh + hands.json -> GRID.npz",
                      description="Write the object's SDF grid in the normalised frame (G-HOP's around the right "
                                  "hand by default; --frame), both hands' skeletal fields, the object->n transform "
                                  "and the settings used.")
    e.add_argument("--object", required=True, help="object mesh (OBJ, PLY, STL, GLB), metres unless --scale")
    e.add_argument("--hands", required=True, help="hands.json with the hands in the object's frame (metres)")
    e.add_argument("--out", required=True, help="output .npz")
    add_overwrite(e)
    e.add_argument("--scale", type=float_in(0.0, lo_open=True), default=1.0,
                   help="multiply mesh coordinates by this (0.001 for mm)")
    e.add_argument("--sdf-resolution", type=int_in(8, 256), default=64, help="object SDF grid size, 8-256 (default 64)")
    e.add_argument("--frame", type=frame_spec, default=None, metavar="ANCHOR@SIDE",
                   help="grid frame: right_hand@0.6 (G-HOP's, default), palms@SIDE or object@SIDE (cube side in "
                        "metres, e.g. object@0.8: two hands at the ends of objects up to 60 cm)")
    e.add_argument("--mano-dir", default=None, help="MANO folder, if hands.json uses kind 'mano'")
    e.add_argument("--allow-open", action="store_true", help="encode an open surface (no inside: its SDF is "
                                                             "meaningless); refused by default")
    add_common(e, _encode)
    d = gs.add_parser("decode", help="GRID.npz -> object.obj, right/left_hand.obj, hands.json, render.png",
                      description="Decode a grid: marching cubes on the SDF, hands fitted to their fields, "
                                  "everything back in the object's frame.")
    d.add_argument("grid", help="a .npz written by `bghop grid encode`")
    d.add_argument("--out", required=True, help="output folder")
    add_overwrite(d)
    d.add_argument("--mano-dir", default=None, help="MANO folder, if the grid was made with MANO hands")
    add_common(d, _decode)


def _encode(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from bghop.fields.encode import GridError, GridSettings, encode_grid
    from bghop.geometry.mesh_io import MeshError, check_closed, load_mesh
    from bghop.hands.params import HandsFileError, load_hands_json

    check_out_file(args.out, args, inputs=(args.object, args.hands), ours=_is_grid)
    cpu_only(args, "grid encode")
    with user_errors(MeshError, HandsFileError, GridError, FileNotFoundError):
        mesh = load_mesh(args.object, scale=args.scale)
        if not args.allow_open:
            check_closed(mesh, args.object)
        hands = load_hands_json(args.hands)
        settings = GridSettings(sdf_resolution=args.sdf_resolution)
        if args.frame is not None:
            settings = replace(settings, field=replace(settings.field, frame=args.frame))
        grid = encode_grid(mesh, hands, settings, mano_dir=args.mano_dir)
    print(grid.save(args.out))
    return 0


def _decode(args: argparse.Namespace) -> int:
    from bghop.fields.encode import EncodedGrid, GridError, decode_grid
    from bghop.geometry.sdf import SDFError
    from bghop.viz.results import ResultSample, legacy_result_files, write_result_folder

    check_out_folder(args.out, "grid decode", args, inputs=(args.grid,), legacy=legacy_result_files,
                     reserved=("object.obj", "right_hand.obj", "left_hand.obj", "hands.json", "render.png"))
    with user_errors(GridError, SDFError, FileNotFoundError):
        grid = EncodedGrid.load(args.grid)
        dec = decode_grid(grid, mano_dir=args.mano_dir)
    extra = {"fit_residual_n": {"right": dec.right_residual, "left": dec.left_residual}}
    out = write_result_folder(args.out, ResultSample(dec.object_mesh, dec.hands, title="decoded grid", extra=extra),
                              mano_dir=args.mano_dir, command="grid decode")
    print(out)
    return 0


def _is_grid(path) -> bool:
    """``path`` is a grid ``bghop grid encode`` wrote (an ``.npz`` holding its keys)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return "object_sdf.npy" in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False

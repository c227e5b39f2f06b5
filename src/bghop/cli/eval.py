"""``bghop eval DIR…``: metrics of result folders — a table, ``metrics.csv``/``metrics.json`` and plots."""

from __future__ import annotations

import argparse
import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from bghop.cli.checks import add_overwrite, int_in
from bghop.cli.main import CLIError, add_common, user_errors

if TYPE_CHECKING:
    from bghop.eval.faithfulness import ClassifierSource

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="metrics for folders of results (penetration, intersection, contact, stability, diversity)",
        description="Evaluate result folders (DIR/<k>/object.obj, hands.json, right_hand.obj, left_hand.obj; any "
                    "method that writes this layout). Per sample: penetration depth both ways (max of hand vertices in the object and object surface in "
                    "the hands, with both parts; mean of the hand vertices inside; mm), validity (stable, both hands "
                    "in contact, <= 5 mm deep both ways, hands apart), hand-object and "
                    "hand-hand intersection volume (5 mm voxels, cm3), per-hand and both-hands contact (5 mm), "
                    "MuJoCo stability (gravity along 6 directions for 1 s, object displacement in cm, success "
                    "under 2 cm) and, with --prior, a plausibility score under the prior. Per object group and "
                    "overall: means, rates and diversity (k-means over both hands' poses and placements; entropy "
                    "of the cluster sizes in nats, mean cluster size). For generated samples (bghop generate), "
                    "text faithfulness: a 3D CNN trained on the procedural object categories names the category "
                    "of object.obj; a sample is faithful when that is the prompted category ('grasp a {name} with "
                    "both hands', or a category entry in hands.json/summary.json), and a per-category table "
                    "(samples, faithfulness, contact, penetration, stability, diversity) is added. Writes "
                    "OUT/metrics.csv (per sample), OUT/metrics_groups.csv, OUT/metrics.json, "
                    "OUT/metrics_categories.csv (with prompted categories), OUT/hist_*.png and OUT/per_object.png, "
                    "and prints a table.")
    p.add_argument("folders", nargs="+", metavar="DIR", help="result folders (or single sample folders)")
    p.add_argument("--out", default=None, help="where to write the metrics and plots (default: the first DIR)")
    add_overwrite(p)
    p.add_argument("--no-physics", action="store_true", help="skip the MuJoCo stability test (faster)")
    p.add_argument("--recompute", action="store_true",
                   help="simulate and score every sample here: by default the stability and prior score that the "
                        "run stored for exactly these hands (same physics settings, same prior, noise and prompt) "
                        "are reused")
    p.add_argument("--prior", default=None, metavar="DIR",
                   help="bimanual prior folder ('default': the shipped one): also score each two-hand sample's "
                        "plausibility under it")
    p.add_argument("--autoencoder", default=None, metavar="DIR",
                   help="the prior's object autoencoder (default: the shipped one)")
    p.add_argument("--clusters", type=int_in(1, 10000), default=None, metavar="K",
                   help="k of the diversity k-means (default: max(2, min(20, n // 2)) per set of n samples)")
    p.add_argument("--mano-dir", default=None, help="folder with MANO_RIGHT.pkl / MANO_LEFT.pkl for samples with "
                                                    "MANO hands (default: $BGHOP_MANO_DIR)")
    p.add_argument("--no-plots", action="store_true", help="do not write the PNG plots")
    p.add_argument("--faithfulness", action=argparse.BooleanOptionalAction, default=None,
                   help="text faithfulness of the object to the prompted category (default: on for samples whose "
                        "prompt names a category the classifier knows, except bghop grasp runs, whose object is "
                        "the user's; --faithfulness includes those, --no-faithfulness skips it)")
    p.add_argument("--classifier", default=None, metavar="DIR",
                   help="category classifier folder (default: the one shipped in the package)")
    add_common(p, _eval)


def _make_scorer(prior: str | None, autoencoder: str | None, device: str, notes: list[str]):
    """The prior's plausibility scorer (:class:`bghop.synthesis.score.PriorScorer`), or None without --prior."""
    if prior is None:
        notes.append("no prior given (--prior DIR, or --prior default for the shipped one): "
                     "the sds_score column is left empty")
        return None
    from bghop.models.autoencoder import ObjectAutoencoder
    from bghop.models.checkpoint import CheckpointError
    from bghop.models.prior import InteractionPrior
    from bghop.synthesis.score import PriorScorer

    for name, folder in (("prior", prior), ("autoencoder", autoencoder)):
        if folder not in (None, "default") and not Path(folder).is_dir():
            raise CLIError(f"{name} folder {folder} does not exist")
    with user_errors(CheckpointError):
        p = InteractionPrior.from_pretrained(None if prior == "default" else prior, device=device)
        ae = ObjectAutoencoder.from_pretrained(None if autoencoder in (None, "default") else autoencoder,
                                               device=device)
    if not p.config.bimanual:
        raise CLIError(f"{prior} is a single-hand prior; --prior needs a bimanual one (two-hand samples are scored)")
    notes.append("sds_score: denoising error under the prior at t = 0.35, 0.65 T with fixed noise (lower is more "
                 "plausible; two-hand samples only)")
    return PriorScorer(p, ae, device=device)


def _classifier_source(folder: str | None, device: str) -> ClassifierSource:
    """What ``evaluate_folders(classifier=...)`` gets: the ``--classifier`` folder's classifier, loaded at once
    (an unreadable folder is an error before any work), or a lazy loader of the shipped one (loaded only when
    some sample has a prompted category; in auto mode a failure becomes a note).

    Raises:
        CLIError: the folder does not exist or cannot be loaded.
    """
    from bghop.models.classifier import ClassifierError, load_category_classifier

    if folder is None:
        return functools.partial(load_category_classifier, None, device=device)
    if not Path(folder).is_dir():
        raise CLIError(f"classifier folder {folder} does not exist")
    with user_errors(ClassifierError):
        return load_category_classifier(folder, device=device)


def _eval(args: argparse.Namespace) -> int:
    from bghop.eval.report import (
        EvalInputError,
        evaluate_folders,
        find_sample_folders,
        format_table,
        write_report,
    )

    for f in args.folders:  # check every input before any work or any write
        with user_errors(EvalInputError):
            find_sample_folders(f)
    out = Path(args.out) if args.out else Path(args.folders[0])
    _check_eval_out(out, args)
    if args.classifier is not None and args.faithfulness is False:
        raise CLIError("--classifier and --no-faithfulness contradict each other")
    from bghop.models.classifier import ClassifierError

    classifier = _classifier_source(args.classifier, args.device)
    notes: list[str] = []
    scorer = _make_scorer(args.prior, args.autoencoder, args.device, notes)
    with user_errors(ClassifierError):
        report = evaluate_folders(args.folders, physics=not args.no_physics, clusters=args.clusters, scorer=scorer,
                                  device=args.device, mano_dir=args.mano_dir, seed=args.seed, progress=True,
                                  faithfulness=args.faithfulness, classifier=classifier, recompute=args.recompute)
    report.notes = notes + report.notes
    report.settings["classifier"] = args.classifier if args.classifier is not None else "shipped"
    if args.no_physics:
        report.notes.append("physics skipped (--no-physics): stability columns are empty")
    report.settings["prior"] = args.prior
    ok = [s.seconds for s in report.samples if s.ok]
    failed = [s.name for s in report.samples if not s.ok]
    if not ok:
        print(format_table(report))
        raise CLIError(f"no sample could be evaluated ({report.samples[0].error if report.samples else 'none found'});"
                       f" nothing was written to {out}")
    if failed and (out / "metrics.csv").is_file() and not args.overwrite:
        print(format_table(report))
        raise CLIError(f"{len(failed)} of {len(report.samples)} samples could not be evaluated ({', '.join(failed[:5])}"
                       f"{', …' if len(failed) > 5 else ''}: see the error column above); the metrics already in "
                       f"{out} are kept. Fix those samples, or pass --overwrite to replace the metrics with this "
                       "partial table")
    from bghop.core.outputs import staged_files

    with staged_files(out) as stage:  # all of them replace the earlier ones together
        paths = write_report(report, stage)
        written = [paths["csv"], paths["groups_csv"], paths["json"], *([paths["categories_csv"]]
                                                                       if "categories_csv" in paths else [])]
        if not args.no_plots:
            from bghop.eval.plots import report_figures
            from bghop.viz.render import save_figure

            for name, fig in report_figures(report).items():
                written.append(save_figure(fig, stage / f"{name}.png"))
    written = [out / p.relative_to(stage) for p in written]
    from bghop.core.outputs import add_own_files

    add_own_files(out, [p.relative_to(out).as_posix() for p in written], "eval")
    print(format_table(report))
    print()
    print(f"{len(ok)} of {len(report.samples)} samples evaluated in {report.seconds:.1f} s"
          + (f" ({sum(ok) / len(ok):.2f} s per sample)" if ok else ""))
    for n in report.notes:
        print(f"note: {n}")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


#: the files ``bghop eval`` writes (patterns)
_EVAL_FILES = ("metrics.csv", "metrics_groups.csv", "metrics.json", "metrics_categories.csv", "hist_*.png",
               "per_object.png")


def _check_eval_out(out: Path, args: argparse.Namespace) -> None:
    """Before any work: ``out`` can take the metrics, and the metrics files already there (if any)
    are bghop's (in a bghop run folder or an earlier eval's) unless ``--overwrite``."""
    from bghop.core.outputs import OutputError, check_output, own_files, recover_files
    from bghop.viz.results import legacy_run_files

    try:
        check_output(out, "eval", overwrite=True)  # a file, not writable
    except OutputError as e:
        raise CLIError(str(e)) from e
    recover_files(out)  # what an interrupted eval left there
    if args.overwrite or not out.is_dir():
        return
    present = sorted({p.name for pat in _EVAL_FILES for p in out.glob(pat) if p.is_file()})
    _, own = own_files(out, legacy_run_files)
    foreign = [f for f in present if f not in own]
    if foreign:
        raise CLIError(f"--out {out} already holds {', '.join(foreign)}, which bghop did not write; choose another "
                       "--out, or pass --overwrite to replace them")

"""``bghop`` command line: a thin layer that parses arguments and calls the library."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable, Sequence

from bghop import __version__
from bghop.cli.ranges import int_in

logger = logging.getLogger("bghop")

#: subcommand modules; each exposes ``register(subparsers)`` and sets ``func`` on its parsers.
_COMMANDS = ("bghop.cli.hands", "bghop.cli.grid", "bghop.cli.data", "bghop.cli.train", "bghop.cli.view",
             "bghop.cli.generate", "bghop.cli.grasp", "bghop.cli.eval", "bghop.cli.bench")


class CLIError(Exception):
    """An error whose message is meant for the user (printed without a traceback)."""


def add_common(parser: argparse.ArgumentParser, func: Callable[[argparse.Namespace], int | None] | None = None) -> None:
    """Options every command has (DESIGN.md §4): ``--device`` and ``--seed``; and, given ``func``, the
    function the command runs (``parser.set_defaults(func=func)``)."""
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1 (default: cpu)")
    parser.add_argument("--seed", type=int_in(0, 2**32 - 1), default=0,
                        help="random seed for reproducible results, 0 to 2^32-1 (default: 0)")
    if func is not None:
        parser.set_defaults(func=func)


def command_group(sub: argparse._SubParsersAction, name: str, help: str, description: str,
                  metavar: str = "SUBCOMMAND") -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """A command made of subcommands (``bghop data synth``): its parser and its (required) subcommands."""
    p = sub.add_parser(name, help=help, description=description)
    group = p.add_subparsers(dest=f"{name}_command", metavar=metavar)
    group.required = True
    return p, group


@contextmanager
def user_errors(*types: type[BaseException]) -> Iterator[None]:
    """Turn the exceptions ``types`` raised inside the block into a :class:`CLIError` with the same message
    (printed to the user without a traceback)."""
    try:
        yield
    except types as e:
        raise CLIError(str(e)) from e


def add_threads(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: torch CPU threads (0 = torch's choice)."""
    parser.add_argument("--threads", type=int_in(0), default=0,
                        help="torch CPU threads (default: torch's choice, one per core; use 1 when other jobs "
                             "share the CPU: oversubscribed threads ran 5-10x slower here)")


def check_threads(args: argparse.Namespace, apply: bool = True) -> None:
    """Validate ``--threads``; set it (``apply``); warn when the CPU is already busy and it was not given.

    Torch starts one thread per core; when another job already keeps the cores busy, those threads
    fight over them, and every job gets many times slower. The warning names the fix.
    """
    if args.threads < 0:
        raise CLIError(f"--threads must be >= 0, got {args.threads}")
    if apply and args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.threads == 0 and getattr(args, "device", "cpu").startswith("cpu"):
        cores = os.cpu_count() or 1
        try:
            load = os.getloadavg()[0]
        except (OSError, AttributeError):  # not on every platform
            return
        if cores > 1 and load >= max(1.0, 0.5 * cores):
            logger.warning("the CPU is busy (load %.1f on %d cores) and torch will start a thread per core; "
                           "pass --threads 1 (or the number of idle cores) to avoid a many-fold slowdown", load, cores)


def parse_device(name: str):
    """``--device`` as a ``torch.device``; a CLIError for a bad name or a GPU that is not there."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise CLIError(f"bad --device {name!r}: {e}") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CLIError(f"--device {name} asked for a GPU but CUDA is not available here; use --device cpu")
    return device


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="bghop",
        description="BG-HOP: bimanual hand-object interaction prior — grasps for two hands.",
    )
    parser.add_argument("--version", action="version", version=f"bghop {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bghop`` console script."""
    sys.unraisablehook = _quiet_interrupts
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except SystemExit as e:  # bad options (exit 2, argparse's message printed) or --help/--version (0)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    except KeyboardInterrupt:
        print("bghop: interrupted", file=sys.stderr)
        return 130
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    func: Callable[[argparse.Namespace], int | None] = args.func
    try:
        if isinstance(getattr(args, "device", None), str):
            parse_device(args.device)  # every command: a bad --device stops it before any work
        with _mujoco_log_elsewhere():
            return int(func(args) or 0)
    except CLIError as e:
        print(f"bghop: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bghop: interrupted (nothing half-written was left behind)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head`
        return 0
    except Exception as e:  # noqa: BLE001 - the last line of defence: no traceback unless --debug
        if args.debug:
            raise
        where = _where(e)
        print(f"bghop: error: {type(e).__name__}: {e}{where}\n(this is a bug or an input bghop does not check "
              "yet; rerun with --debug for the traceback and report it)", file=sys.stderr)
        return 1


def _quiet_interrupts(unraisable) -> None:
    """``sys.unraisablehook``: a Ctrl-C that lands in a clean-up callback (during an import, say)
    is the interruption the command already reports, not a traceback to print."""
    if issubclass(unraisable.exc_type, KeyboardInterrupt):
        return
    sys.__unraisablehook__(unraisable)


def _where(e: BaseException) -> str:
    """`` (in module.function)`` of the innermost bghop frame of ``e``'s traceback."""
    import traceback

    frames = [f for f in traceback.extract_tb(e.__traceback__) if "bghop" in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    mod = f.filename.split("bghop", 1)[-1].strip("/").removesuffix(".py").replace("/", ".")
    return f" (in bghop.{mod}.{f.name})"


@contextmanager
def _mujoco_log_elsewhere() -> Iterator[None]:
    """MuJoCo writes ``MUJOCO_LOG.TXT`` into the working folder on warnings; the working folder is
    the user's, so a log file made during the command is appended to bghop's cache folder's
    (``$BGHOP_CACHE_DIR``, default ``~/.cache/bghop``) instead."""
    before = os.path.exists("MUJOCO_LOG.TXT")
    try:
        yield
    finally:
        if not before and os.path.exists("MUJOCO_LOG.TXT"):
            try:
                root = os.path.expanduser(os.environ.get("BGHOP_CACHE_DIR") or os.path.join("~", ".cache", "bghop"))
                os.makedirs(root, exist_ok=True)
                dst = os.path.join(root, "MUJOCO_LOG.TXT")
                with open("MUJOCO_LOG.TXT", encoding="utf-8", errors="replace") as src, \
                        open(dst, "a", encoding="utf-8") as out:
                    out.write(src.read())
                os.unlink("MUJOCO_LOG.TXT")
                logger.info("MuJoCo's log moved to %s", dst)
            except Exception:  # noqa: BLE001 - never fail a finished command over a log file
                pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

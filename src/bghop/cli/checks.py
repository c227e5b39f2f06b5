"""The one checker every command uses before its work: option ranges, output paths, memory.

* Option ranges are argparse types (:func:`int_in`, :func:`float_in`): a bad value stops the
  command at parsing, with exit code 2 and the option's name, before anything is loaded.
* ``--device`` is checked by :func:`bghop.cli.main.main` for every command before it runs.
* Output paths: :func:`check_out_folder` / :func:`check_out_file` (:mod:`bghop.core.outputs`: a
  folder, writable, not an input, empty or a bghop run of the same command unless ``--overwrite``).
* Memory: :func:`check_batch_memory` estimates what a batch of ``-n`` needs and refuses a batch
  that would not fit (``--force`` overrides).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from bghop.cli.main import CLIError
from bghop.cli.ranges import float_in, int_in
from bghop.core.outputs import LegacyOwner, OutputError, check_output, check_output_file

logger = logging.getLogger(__name__)

__all__ = ["cpu_only", "int_in", "float_in", "add_overwrite", "add_force", "check_out_folder", "check_out_file", "check_resumable_out",
           "available_memory_bytes", "check_batch_memory", "BATCH_BYTES"]




def frame_spec(text: str):
    """argparse type of ``--frame ANCHOR@SIDE`` (:meth:`bghop.fields.frame.FrameConfig.from_spec`)."""
    from bghop.fields.frame import FrameConfig

    try:
        return FrameConfig.from_spec(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def add_overwrite(parser: argparse.ArgumentParser) -> None:
    """``--overwrite``: write into a folder that is not a bghop run of this command."""
    parser.add_argument("--overwrite", action="store_true",
                        help="write into --out even when it holds files bghop did not write or another command's "
                             "run (bghop's own files there are replaced; yours are never deleted)")


def add_force(parser: argparse.ArgumentParser) -> None:
    """``--force``: run a batch the memory estimate says will not fit."""
    parser.add_argument("--force", action="store_true",
                        help="run even when the memory estimate says the batch will not fit")


def check_out_folder(path: str | os.PathLike, command: str, args: argparse.Namespace,
                     inputs: Iterable[str | os.PathLike] = (), legacy: LegacyOwner | None = None,
                     reserved: Iterable[str] = (), what: str = "--out") -> Path:
    """:func:`bghop.core.outputs.check_output` as a :class:`CLIError` (``args.overwrite`` when present)."""
    try:
        return check_output(path, command, overwrite=bool(getattr(args, "overwrite", False)),
                            inputs=[i for i in inputs if i is not None], legacy=legacy, reserved=reserved, what=what)
    except OutputError as e:
        raise CLIError(str(e)) from e


def check_out_file(path: str | os.PathLike, args: argparse.Namespace, inputs: Iterable[str | os.PathLike] = (),
                   ours: Callable[[Path], bool] | None = None, what: str = "--out") -> Path:
    """:func:`bghop.core.outputs.check_output_file` as a :class:`CLIError`."""
    try:
        return check_output_file(path, overwrite=bool(getattr(args, "overwrite", False)),
                                 inputs=[i for i in inputs if i is not None], ours=ours, what=what)
    except OutputError as e:
        raise CLIError(str(e)) from e


def available_memory_bytes() -> int | None:
    """Memory the system can still give (``MemAvailable``, or the cgroup limit minus use when lower)."""
    avail = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        return None
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            lim = Path(limit).read_text().strip()
            if lim != "max" and int(lim) < (1 << 60):
                free = int(lim) - int(Path(usage).read_text().strip())
                avail = free if avail is None else min(avail, free)
        except (OSError, ValueError):
            continue
    return avail


#: ``(fixed, per sample)`` peak resident memory of a batch, bytes: ``python
#: scripts/measure_batch_memory.py`` (-n 4, 16, 32 on the 2-core machine: grasp 1.10 / 2.17 / 3.22 GB,
#: generate 0.70 / 1.17 / 1.66 GB), rounded up
BATCH_BYTES: dict[str, tuple[float, float]] = {"grasp": (0.9e9, 76e6), "generate": (0.6e9, 35e6)}


def check_batch_memory(kind: str, n: int, args: argparse.Namespace) -> None:
    """Refuse a batch of ``n`` whose estimated peak memory (:data:`BATCH_BYTES`) is over 90 % of
    what is available, unless ``args.force``; say the largest ``n`` that fits."""
    avail = available_memory_bytes()
    if avail is None:
        return
    fixed, per = BATCH_BYTES[kind]
    need = fixed + per * n
    if need <= 0.9 * avail:
        return
    fits = max(0, int((0.9 * avail - fixed) // per))
    msg = (f"-n {n} needs about {need / 1e9:.1f} GB of memory and {avail / 1e9:.1f} GB are free; use -n {fits} or "
           "less (run several batches with different --seed for more)")
    if getattr(args, "force", False):
        logger.warning("%s; going on because of --force", msg)
        return
    raise CLIError(msg + ", or pass --force to try anyway")


def check_resumable_out(path: str | os.PathLike, what_kind: str, markers: Iterable[str],
                        inputs: Iterable[str | os.PathLike] = (), what: str = "--out") -> Path:
    """Check an output folder that a command fills and resumes (a data set, a training run, a
    benchmark) before its work: not a file, writable, not holding or inside one of ``inputs``, and
    new, empty, or already holding one of ``markers`` (a file that command writes there). Such commands write only their own file names
    and never delete, so a folder of theirs is safe to resume; any other folder is refused."""
    try:
        check_output(path, what_kind, overwrite=True, inputs=[i for i in inputs if i is not None], what=what)
    except OutputError as e:
        raise CLIError(str(e)) from e
    p = Path(path)
    if p.is_dir() and any(p.iterdir()) and not any((p / m).exists() for m in markers):
        raise CLIError(f"{what} {p} holds files that are not a {what_kind} of bghop's; choose a new or empty folder "
                       f"(rerun with the same folder to resume a {what_kind})")
    return p


def cpu_only(args: argparse.Namespace, command: str) -> None:
    """Say so when ``--device`` asks for an accelerator and ``command`` runs on the CPU only
    (the device itself was already checked by :func:`bghop.cli.main.main`)."""
    if str(getattr(args, "device", "cpu")) != "cpu":
        logger.warning("%s runs on the CPU only (mesh geometry and MuJoCo); --device %s is not used", command,
                       args.device)

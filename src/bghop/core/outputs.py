"""Output folders you can trust: staged, swapped in whole, and never deleting a user's files.

A command that writes a folder (a run of ``bghop grasp``, a decoded grid, …) writes it into a
fresh **staging folder** beside the destination (``.<name>.bghop-stage-*``) and swaps it in only
once it is complete (:func:`staged_folder`). The folder then carries a **marker**,
:data:`MARKER_NAME` (:class:`RunMarker`: the command and every file bghop wrote), so that bghop
can tell its own files from anyone else's:

* bghop's own files of the previous run are replaced (moved aside and deleted only after the
  new run is in place);
* any other file or folder in the destination (a user's notes in ``DIR/0/``, a file named
  ``1``) is moved into the new run at the same place; a foreign file where the new run has a file
  of its own is kept beside it as ``<name>.kept`` (with a warning). Nothing foreign is deleted.

An interrupted run never leaves a mixed folder: until the **commit flag** is written into the
staging folder (after its last file), the destination is untouched and the staging folder is
removed (on Ctrl-C at once; after SIGKILL at the next start of any command writing there). After
the flag, the swap is finished by whoever comes next (:func:`recover`): it only moves files, so
it can be repeated until it completes.

:func:`check_output` is the check every command makes *before* its work: the path is a folder
or can be made, is writable (a real probe, not permission bits), is not one of the inputs and
holds none of them, and is empty, a bghop run of the same command, or ``overwrite`` is given.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bghop.core.io import _umask, write_json_atomic

logger = logging.getLogger(__name__)

__all__ = ["MARKER_NAME", "OutputError", "RunMarker", "read_marker", "check_output", "check_output_file",
           "staged_folder", "recover", "own_files", "add_own_files", "staged_files", "recover_files"]

#: the marker file of a folder bghop wrote
MARKER_NAME = ".bghop-run.json"
_COMMIT_FLAG = ".bghop-commit"
_STAGE = ".bghop-stage-"
_OLD = ".bghop-old-"
_KEPT_SUFFIX = ".kept"

#: recognises folders written before markers existed: ``folder → (command, bghop's own files in
#: it as relative POSIX paths)``, or None when the folder is not one of them
LegacyOwner = Callable[[Path], "tuple[str, set[str]] | None"]


class OutputError(ValueError):
    """An output path bghop will not write to; the message says why and what to do."""


@dataclass(frozen=True)
class RunMarker:
    """What bghop wrote into a folder (:data:`MARKER_NAME`).

    Attributes:
        command: the command that wrote it (``"grasp"``, ``"grid decode"``, …).
        files: every file it wrote, relative POSIX paths (the marker itself excluded).
        version: the bghop version.
        written: when (UTC, ISO 8601).
    """

    command: str
    files: tuple[str, ...] = ()
    version: str = ""
    written: str = ""
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"format": 1, "command": self.command, "files": list(self.files), "version": self.version,
                "written": self.written, **({"extra": self.extra} if self.extra else {})}

    @classmethod
    def from_json(cls, d: object) -> "RunMarker":
        if not isinstance(d, dict) or not isinstance(d.get("command"), str) or not isinstance(d.get("files"), list):
            raise ValueError("not a bghop run marker")
        return cls(command=d["command"], files=tuple(str(f) for f in d["files"]), version=str(d.get("version", "")),
                   written=str(d.get("written", "")), extra=dict(d.get("extra") or {}))


def read_marker(folder: str | os.PathLike) -> RunMarker | None:
    """The marker of ``folder``, or None (no marker, or one that cannot be read)."""
    path = Path(folder) / MARKER_NAME
    try:
        return RunMarker.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        logger.warning("ignoring the unreadable bghop marker %s (%s)", path, e)
        return None


def own_files(folder: str | os.PathLike, legacy: LegacyOwner | None = None) -> tuple[str | None, set[str]]:
    """``(command, files)`` bghop wrote into ``folder``: from its marker; else what ``legacy``
    recognises (a folder of an earlier bghop); else ``(None, set())``."""
    folder = Path(folder)
    m = read_marker(folder)
    if m is not None:
        return m.command, set(m.files) | {MARKER_NAME}
    if legacy is not None and folder.is_dir():
        found = legacy(folder)
        if found is not None:
            return found[0], set(found[1])
    return None, set()


def _files(folder: Path) -> list[str]:
    """Every file (and symlink) under ``folder``, relative POSIX paths, sorted."""
    out = []
    for root, dirs, names in os.walk(folder):
        r = Path(root)
        for n in names + [d for d in dirs if (r / d).is_symlink()]:
            out.append((r / n).relative_to(folder).as_posix())
    return sorted(out)


def _empty_dirs(folder: Path) -> list[str]:
    out = []
    for root, dirs, names in os.walk(folder):
        if not dirs and not names and Path(root) != folder:
            out.append(Path(root).relative_to(folder).as_posix())
    return sorted(out)


def _inside(a: Path, b: Path) -> bool:
    """``a`` is ``b`` or lies under it (both resolved)."""
    return a == b or b in a.parents


def _probe_writable(path: Path, what: str) -> None:
    """Make sure a folder can be created at ``path``'s place (a real try in its nearest existing
    ancestor: permission bits say nothing for root, read-only mounts or ``/proc``)."""
    anc = path
    while not anc.exists():
        if anc.parent == anc:
            break
        anc = anc.parent
    if not anc.is_dir():
        raise OutputError(f"{what} {path}: {anc} is a file, so no folder can be made there; choose another path")
    try:
        probe = Path(tempfile.mkdtemp(prefix=".bghop-probe-", dir=anc))
        probe.rmdir()
    except OSError as e:
        raise OutputError(f"{what} {path}: cannot write in {anc} ({e.strerror or e}); choose a folder you can "
                          "write to") from None


def check_output(path: str | os.PathLike, command: str, overwrite: bool = False,
                 inputs: Iterable[str | os.PathLike] = (), legacy: LegacyOwner | None = None,
                 reserved: Iterable[str] = (), what: str = "--out") -> Path:
    """Check, before any work, that the folder ``path`` may receive a run of ``command``.

    Args:
        path: the output folder.
        command: the command that will write it.
        overwrite: allow a folder that is not a bghop run of ``command`` (its bghop files are
            replaced, everyone else's are kept).
        inputs: paths the command reads: none may be ``path`` or lie inside it, and ``path`` may
            not lie inside an input file's place.
        legacy: recognises runs of earlier bghop versions (no marker) as bghop's own.
        reserved: relative paths the run will write: a foreign file there is refused before the
            work (it could not be kept at its place).
        what: how the path is named in messages.
    Returns:
        the path.
    Raises:
        OutputError: with what to do.
    """
    p = Path(path)
    if str(path).strip() == "":
        raise OutputError(f"{what} is empty: give a folder to write to")
    if p.exists() and not p.is_dir():
        raise OutputError(f"{what} {p} is a file, not a folder: choose a folder name (bghop will not replace "
                          "your file)")
    res = p.resolve()
    for i in inputs:
        ir = Path(i).resolve()
        if _inside(ir, res):
            raise OutputError(f"{what} {p} holds the input {i}: writing there could replace it; choose another "
                              f"{what}")
        if _inside(res, ir):
            raise OutputError(f"{what} {p} lies inside the input {i}; choose another {what}")
    _probe_writable(p, what)
    recover(p)
    if p.is_dir() and any(p.iterdir()):
        cmd, own = own_files(p, legacy)
        if cmd != command and not overwrite:
            what_is = f"a bghop '{cmd}' run" if cmd is not None else "files that bghop did not write"
            raise OutputError(f"{what} {p} already holds {what_is}; choose an empty or new folder, or pass "
                              "--overwrite to replace bghop's own files there (yours are kept)")
        foreign = set(_files(p)) - own
        # a file of theirs exactly where the run writes a file or folder (inside the run's folders is fine)
        clash = sorted(f for f in foreign for r in reserved if f == r.rstrip("/") or r.startswith(f + "/"))
        if clash:
            raise OutputError(f"{what} {p}: your file(s) {', '.join(clash[:5])} are where this run writes its own; "
                              "move them or choose another folder")
    return p


def check_output_file(path: str | os.PathLike, overwrite: bool = False, inputs: Iterable[str | os.PathLike] = (),
                      ours: Callable[[Path], bool] | None = None, what: str = "--out") -> Path:
    """Check, before any work, that the file ``path`` may be written: not a folder, writable, not an
    input, and new or (``ours``) one bghop wrote, unless ``overwrite``.

    Raises:
        OutputError: with what to do.
    """
    p = Path(path)
    if str(path).strip() == "":
        raise OutputError(f"{what} is empty: give a file to write to")
    if p.is_dir():
        raise OutputError(f"{what} {p} is a folder: give a file name")
    res = p.resolve()
    for i in inputs:
        if Path(i).resolve() == res:
            raise OutputError(f"{what} {p} is also the input: choose another file name")
    _probe_writable(p.parent, what)
    if p.exists():
        if not os.access(p, os.W_OK):
            raise OutputError(f"{what} {p} exists and cannot be written; choose another file name")
        if not overwrite and not (ours is not None and ours(p)):
            raise OutputError(f"{what} {p} already exists and is not a file bghop wrote; choose another name or pass "
                              "--overwrite to replace it")
    return p


def _tag() -> str:
    """``host~pid~``: whose a staging folder is (so that a run never removes another's)."""
    return f"{socket.gethostname().replace('~', '-')}~{os.getpid()}~"


def _busy(folder: Path) -> bool:
    """``folder`` (a staging or old-run folder) belongs to a run that is still going: a live process
    of this host (this one included), or another host's within the last day."""
    parts = folder.name.rsplit("~", 2)
    if len(parts) < 3:
        return False
    host, pid = parts[0], parts[1]
    for kind in (_STAGE, _OLD, _FILES_STAGE):
        if kind in host:
            host = host.rsplit(kind, 1)[-1]
            break
    if host != socket.gethostname().replace("~", "-"):
        try:
            return time.time() - folder.stat().st_mtime < 86400
        except OSError:
            return False
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _siblings(out: Path, kind: str) -> list[Path]:
    parent = out.parent
    if not parent.is_dir():
        return []
    pre = f".{out.name}{kind}"
    return sorted(p for p in parent.iterdir() if p.name.startswith(pre) and p.is_dir() and not p.is_symlink())


def recover(out: str | os.PathLike, legacy: LegacyOwner | None = None) -> None:
    """Finish or undo what an interrupted write to ``out`` left: a committed staging folder is
    swapped in (:func:`_swap_in`); an uncommitted one (only bghop's files) is removed; so are the
    old runs moved aside (only bghop's files)."""
    out = Path(out)
    for st in _siblings(out, _STAGE):
        if _busy(st):
            continue
        if (st / _COMMIT_FLAG).is_file():
            logger.warning("finishing the interrupted write of %s", out)
            _swap_in(st, out, legacy)
        else:
            logger.warning("removing %s: the unfinished output of an interrupted run (%s itself was not changed "
                           "by it)", st, out)
            shutil.rmtree(st, ignore_errors=True)
    for old in _siblings(out, _OLD):
        if not _busy(old):
            shutil.rmtree(old, ignore_errors=True)


def _swap_in(stage: Path, out: Path, legacy: LegacyOwner | None) -> None:
    """Move the foreign files of ``out`` into the committed ``stage``, then swap ``stage`` in.
    Only renames until the last step (removing the old run, bghop's files only): safe to repeat."""
    ours = set(_files(stage)) - {_COMMIT_FLAG}
    if out.is_dir():
        _, own = own_files(out, legacy)
        for f in _files(out):
            if f in own:
                continue
            dst = stage / f
            if f in ours or dst.exists():
                dst = stage / (f + _KEPT_SUFFIX)
                n = 1
                while dst.exists():
                    dst, n = stage / f"{f}{_KEPT_SUFFIX}{n}", n + 1
                logger.warning("%s: your file %s is where the new run writes its own; kept as %s", out, f,
                               dst.relative_to(stage).as_posix())
            try:
                dst.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):  # a new file where the user had a folder
                dst = stage / (f.replace("/", "_") + _KEPT_SUFFIX)
            os.replace(out / f, dst)
        for d in _empty_dirs(out):
            if d not in own and not (stage / d).exists():
                (stage / d).mkdir(parents=True, exist_ok=True)
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}{_OLD}{_tag()}", dir=out.parent))
        os.replace(out, old / "run")
        os.replace(stage, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if out.is_symlink() or out.exists():  # (a dangling link, or a file that appeared meanwhile)
            raise OutputError(f"{out} is not a folder; the finished run is kept in {stage}")
        os.replace(stage, out)
    (out / _COMMIT_FLAG).unlink(missing_ok=True)


@contextmanager
def staged_folder(out: str | os.PathLike, command: str, legacy: LegacyOwner | None = None,
                  marker: bool = True, extra: dict | None = None) -> Iterator[Path]:
    """Yield an empty staging folder beside ``out``; when the block completes, it becomes ``out``
    (module docstring: bghop's previous files replaced, everyone else's kept).

    Args:
        out: the destination folder (its parents are created).
        command: recorded in the marker.
        legacy: recognises folders of earlier bghop versions as bghop's own.
        marker: write :data:`MARKER_NAME` (off for folders inside another staged folder).
        extra: stored in the marker.
    On any error or interruption inside the block the staging folder is removed and ``out`` is as
    it was.
    """
    from bghop import __version__

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    recover(out, legacy)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}{_STAGE}{_tag()}", dir=out.parent))
    committed = False
    try:
        stage.chmod(0o777 & ~_umask())  # mkdtemp makes 0700 folders
        yield stage
        if marker:
            files = tuple(f for f in _files(stage) if f not in (MARKER_NAME, _COMMIT_FLAG))
            write_json_atomic(stage / MARKER_NAME, RunMarker(
                command, files, __version__, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                extra or {}).to_json())
        (stage / _COMMIT_FLAG).write_text("")
        committed = True
        _swap_in(stage, out, legacy)
    except BaseException:
        if not committed:
            shutil.rmtree(stage, ignore_errors=True)
        raise


def add_own_files(folder: str | os.PathLike, files: Iterable[str], command: str) -> None:
    """Record ``files`` (relative POSIX paths, just written into ``folder`` by ``command``) as
    bghop's own: added to the folder's marker; a folder without one gets a marker of
    ``command`` only when nothing else is in it (a folder bghop made for them)."""
    from bghop import __version__

    folder = Path(folder)
    files = sorted(set(files))
    m = read_marker(folder)
    if m is None:
        others = set(_files(folder)) - set(files)
        if others:
            return
        m = RunMarker(command, (), __version__, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    merged = tuple(sorted(set(m.files) | set(files)))
    write_json_atomic(folder / MARKER_NAME, RunMarker(m.command, merged, m.version, m.written, m.extra).to_json())


_FILES_STAGE = ".bghop-files-"


def recover_files(folder: str | os.PathLike) -> None:
    """Finish or undo what an interrupted :func:`staged_files` left in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for st in sorted(p for p in folder.iterdir() if p.name.startswith(_FILES_STAGE) and p.is_dir()):
        if _busy(st):
            continue
        if (st / _COMMIT_FLAG).is_file():
            logger.warning("finishing the interrupted write of %s", folder)
            _move_files_in(st, folder)
        else:
            shutil.rmtree(st, ignore_errors=True)


def _move_files_in(stage: Path, folder: Path) -> None:
    for f in _files(stage):
        if f != _COMMIT_FLAG:
            (folder / f).parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / f, folder / f)
    shutil.rmtree(stage, ignore_errors=True)


@contextmanager
def staged_files(folder: str | os.PathLike) -> Iterator[Path]:
    """Yield a staging folder inside the existing ``folder``; the files written into it replace
    their namesakes in ``folder`` together once the block completes (after a commit flag, so an
    interruption during the moves is finished by :func:`recover_files`; before it, nothing in
    ``folder`` changes). For a set of files written into a folder that is also read (``bghop
    eval``'s metrics in a run folder)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    recover_files(folder)
    stage = Path(tempfile.mkdtemp(prefix=f"{_FILES_STAGE}{_tag()}", dir=folder))
    committed = False
    try:
        stage.chmod(0o777 & ~_umask())
        yield stage
        (stage / _COMMIT_FLAG).write_text("")
        committed = True
        _move_files_in(stage, folder)
    except BaseException:
        if not committed:
            shutil.rmtree(stage, ignore_errors=True)
        raise

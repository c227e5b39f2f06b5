"""Atomic file writes: every file bghop writes appears complete or not at all.

A write goes to a temporary file in the destination folder (same file system), is flushed,
given the permissions a normally created file would have (``tempfile.mkstemp`` makes ``0600``
files, which would hide shared results from other users), and renamed over the destination
with :func:`os.replace` (atomic on POSIX and Windows). On any error the temporary file is
removed and the destination is untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TextIO

__all__ = ["atomic_path", "write_bytes_atomic", "write_text_atomic", "write_json_atomic", "new_file_mode",
           "atomic_folder"]


def new_file_mode(path: str | os.PathLike) -> int:
    """Permission bits for ``path``: kept if it exists, else ``0o666`` minus the process umask."""
    path = Path(path)
    if path.exists():
        return path.stat().st_mode & 0o7777
    return 0o666 & ~_umask()


def _umask() -> int:
    umask = 0o022
    try:  # reading the umask without changing it (os.umask would race with other threads)
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    umask = int(line.split()[1], 8)
                    break
    except OSError:
        pass  # not Linux: assume the common 022
    return umask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on a clean exit it replaces ``path``.

    For writers that want a file name (``np.savez``, ``fig.savefig``, ``mesh.export``). The
    parent folder is created. The temporary name keeps ``path``'s suffix so that writers which
    infer the format from it work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, new_file_mode(path))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Call ``write(f)`` on a binary file object that becomes ``path`` once ``write`` returns."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    return path


def write_text_atomic(path: str | os.PathLike, text: str | Callable[[TextIO], Any]) -> Path:
    """Write ``text`` (or call it on a UTF-8 text file object) so that it becomes ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:  # the text exactly as given
            if callable(text):
                text(f)
            else:
                f.write(text)
    return path


def write_json_atomic(path: str | os.PathLike, data: Any, default: Callable[[Any], Any] | None = None,
                      indent: int = 1) -> Path:
    """Write ``data`` as JSON atomically; ``default`` converts objects JSON does not know."""
    return write_text_atomic(path, lambda f: json.dump(data, f, indent=indent, default=default))


@contextmanager
def atomic_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``folder``; on a clean exit it replaces ``folder``.

    The old folder (if any) is moved aside, the new one renamed into place, then the old one
    deleted, so readers see either the complete old folder or the complete new one. On any
    error (including Ctrl-C) the temporary folder is removed and ``folder`` is untouched.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700 folders
        yield tmp
        if folder.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
            os.replace(folder, trash / folder.name)
            os.replace(tmp, folder)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

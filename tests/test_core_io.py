"""Atomic writes: complete or absent, usual permissions, nothing left behind on failure."""

import json
import os
import stat

import pytest

from bghop.core.io import atomic_folder, atomic_path, write_bytes_atomic, write_json_atomic, write_text_atomic


def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_new_files_get_the_umask_permissions_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        p = write_json_atomic(tmp_path / "a" / "x.json", {"k": 1})
    finally:
        os.umask(old)
    assert json.loads(p.read_text()) == {"k": 1} and _mode(p) == 0o644
    os.chmod(p, 0o600)  # an existing file keeps its mode
    write_text_atomic(p, "{}")
    assert _mode(p) == 0o600 and p.read_text() == "{}"


def test_a_failing_writer_leaves_the_old_file_and_no_temporaries(tmp_path):
    p = tmp_path / "d.bin"
    write_bytes_atomic(p, lambda f: f.write(b"old"))

    def boom(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_bytes_atomic(p, boom)
    assert p.read_bytes() == b"old" and os.listdir(tmp_path) == ["d.bin"]


def test_atomic_path_keeps_the_suffix_for_format_sniffing_writers(tmp_path):
    with atomic_path(tmp_path / "fig.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path and not (tmp_path / "fig.png").exists()
        tmp.write_bytes(b"png")
    assert (tmp_path / "fig.png").read_bytes() == b"png" and os.listdir(tmp_path) == ["fig.png"]


def test_atomic_folder_swaps_whole_folders_and_keeps_the_old_one_on_error(tmp_path):
    dest = tmp_path / "run"
    with atomic_folder(dest) as tmp:
        (tmp / "a.txt").write_text("1")
    assert (dest / "a.txt").read_text() == "1" and stat.S_IMODE(os.stat(dest).st_mode) & 0o055  # not 0700
    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(dest) as tmp:
            (tmp / "a.txt").write_text("half")
            raise KeyboardInterrupt
    assert (dest / "a.txt").read_text() == "1" and os.listdir(tmp_path) == ["run"]
    with atomic_folder(dest) as tmp:
        (tmp / "b.txt").write_text("2")
    assert os.listdir(dest) == ["b.txt"] and os.listdir(tmp_path) == ["run"]

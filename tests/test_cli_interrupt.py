"""Issue 19, class 2: a command interrupted (SIGINT, SIGKILL) while it writes over an earlier run
leaves the earlier run complete (or the new one complete), never a mix, and no temporary folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from cli_cases import bghop

from bghop.core.outputs import recover


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_command_leaves_the_previous_run(tmp_path, sig):
    """``bghop hands render`` killed at several moments over an earlier complete run whose images
    were marked: afterwards (and after the next start's clean-up) every image is the old run's or
    every one the new run's, never a mix; the user's file stays; no temporary folder is left."""
    w = tmp_path / "w"
    w.mkdir()
    assert bghop(["hands", "render", "--out", "g"], w).returncode == 0
    for png in (w / "g").glob("*.png"):  # bghop's own files (in the marker), made recognisable
        png.write_bytes(b"OLD " + png.name.encode())
    (w / "g" / "mine.txt").write_text("mine")
    names = sorted(p.name for p in (w / "g").glob("*.png"))
    interrupted = 0
    for delay in (1.0, 2.5, 4.0, 6.0):
        p = subprocess.Popen([sys.executable, "-m", "bghop", "hands", "render", "--out", "g"],
                             cwd=w, env={**os.environ, "PYTHONWARNINGS": "ignore"}, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal
        try:
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            p.send_signal(sig)
            _, err = p.communicate(timeout=60)
            assert "Traceback" not in err
            # interrupted (a Ctrl-C that lands in a clean-up callback is lost, as in any Python program:
            # then the run completes; one that lands while the interpreter shuts down after a complete
            # run, once Python has put back the default action, ends the process by that signal)
            allowed = (130, 0, -signal.SIGINT) if sig == signal.SIGINT else (-signal.SIGKILL,)
            assert p.returncode in allowed, err
            interrupted += p.returncode in (130, -signal.SIGKILL)
        recover(w / "g")
        now = {q.name: q.read_bytes() for q in (w / "g").iterdir() if q.is_file()}
        assert now["mine.txt"] == b"mine"
        assert sorted(n for n in now if n.endswith(".png")) == names
        old = [now[n].startswith(b"OLD ") for n in names]
        assert all(old) or not any(old), f"a mixed folder after {delay} s: {old}"
        if not any(old):  # the new run landed: mark it again for the next round
            for n in names:
                (w / "g" / n).write_bytes(b"OLD " + n.encode())
        assert not [q for q in w.iterdir() if q.name.startswith(".")]
    assert interrupted >= 1

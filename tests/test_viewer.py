"""`bghop view`: the self-contained HTML viewer of result folders (library, CLI, a real headless browser)."""

import base64
import json
import re
import shutil
import subprocess
import threading
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from bghop.cli.main import main
from bghop.eval.metrics import CONTACT_THRESHOLD_M
from bghop.geometry.sdf import sdf_at_points
from bghop.eval.physics import StabilityResult
from bghop.eval.runs import RunRecord, SampleRecord, write_run_record
from bghop.hands import load_hand
from bghop.hands.frames import place_hand
from bghop.hands.params import HandParams, Hands
from bghop.hands.poses import named_pose
from bghop.viz import viewer
from bghop.viz.render import COLORS
from bghop.viz.results import ResultSample, write_result_folder

BOX = trimesh.creation.box(extents=(0.16, 0.12, 0.10))


def _hands(layers, offset: float, both: bool = True) -> dict:
    """Relaxed hands with palms facing the box's ±x faces, ``offset`` metres off the surface."""
    out = {}
    for side, sx in (("right", 1.0), ("left", -1.0)):
        if side == "left" and not both:
            continue
        p = named_pose("relaxed", side=side)[None]
        pl = place_hand(layers[side], p, torch.tensor([0.0, 0.3, 1.0]), torch.tensor([-sx, 0.0, 0.0]),
                        torch.tensor([sx * 0.08, 0.0, 0.0]), offset=offset)
        out[side] = HandParams(p, pl.global_orient, pl.transl, torch.zeros(1, 10))
    return Hands.from_params(out, "open")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """run_a: two two-hand samples (touching, far away) with a run record (per-sample numbers, stability);
    run_b: one right-hand sample written by another tool: no summary.json (extras in hands.json are not read)."""
    root = tmp_path_factory.mktemp("results")
    layers = {s: load_hand("open", side=s) for s in ("right", "left")}
    a, b = root / "run_a", root / "run_b"
    write_result_folder(a / "0", ResultSample(BOX, _hands(layers, 0.012)), layers, render=False)
    write_result_folder(a / "1", ResultSample(BOX, _hands(layers, 0.15)), layers, render=False)
    stab = {ok: StabilityResult({"+x": 0.001 if ok else 0.3}, ok, 0.1) for ok in (True, False)}
    write_run_record(a, RunRecord(kind="grasp", text="box", settings={"n": 2, "config": {"success_rate": 0.5}},
                                  samples=[SampleRecord("0", scores={"score": 0.91}, stability=stab[True]),
                                           SampleRecord("1", scores={"score": 0.42}, stability=stab[False])]))
    write_result_folder(b / "0", ResultSample(BOX, _hands(layers, 0.0, both=False),
                                              extra={"text": "a box", "metrics": {"penetration_mm": 1.5}}),
                        layers, render=False)
    return a, b


def _script_json(page: str, element_id: str):
    m = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S)
    assert m, f"no {element_id} block"
    return json.loads(m.group(1))


def _array(x) -> np.ndarray:
    """A plotly data array: a plain list, or a base64 typed array (plotly >= 6)."""
    if isinstance(x, dict):
        return np.frombuffer(base64.b64decode(x["bdata"]), dtype=np.dtype(x["dtype"]))
    return np.asarray(x)


def _points(trace) -> np.ndarray:
    return np.stack([_array(trace[c]) for c in "xyz"], axis=1).astype(np.float64).reshape(-1, 3)


@pytest.fixture(scope="module")
def page(results):
    return viewer.build_viewer_html(results)


def test_page_has_every_sample_with_its_traces_and_metrics(page):
    fig = _script_json(page, "bghop-figure")
    meta = _script_json(page, "bghop-samples")
    assert [m["label"] for m in meta] == ["run_a/0", "run_a/1", "run_b/0"]
    data = fig["data"]
    rgb = {k: "rgb({},{},{})".format(*(round(255 * x) for x in c)) for k, c in COLORS.items()}
    expected = [["object", "right hand", "left hand"], ["object", "right hand", "left hand"], ["object", "right hand"]]
    for m, names in zip(meta, expected):
        meshes = [data[i] for i in m["meshes"]]
        assert [t["type"] for t in meshes] == ["mesh3d"] * len(names)
        assert [t["name"] for t in meshes] == names
        assert [t["color"] for t in meshes] == [rgb[n.split()[0]] for n in names]
        assert len(_array(meshes[0]["x"])) == len(BOX.vertices) and len(_array(meshes[0]["i"])) == len(BOX.faces)
        assert data[m["contact"]]["name"] == "contact points" and data[m["penetration"]]["name"] == "penetration"
    # 3 + 3 + 2 meshes and two point sets per sample; only the first sample visible at first
    assert sum(t["type"] == "mesh3d" for t in data) == 8 and sum(t["type"] == "scatter3d" for t in data) == 6
    assert [t.get("visible") for t in data if t["type"] == "mesh3d"] == [True] * 3 + [False] * 5
    # coordinates are float32, rounded to 0.1 mm
    x = _array(data[meta[0]["meshes"][1]]["x"])
    assert x.dtype in (np.float32, np.float64) and np.allclose(x, np.round(x.astype(np.float64), 4), atol=1e-7)
    # stored numbers (run record), run settings, measured ones, prompt
    for text in ("scores.score", "0.91", "0.42", "stability.success", "success_rate", "n: 2", "kind: grasp",
                 "penetration max mm", "contact right", "contact points", "box"):
        assert text in page, text
    assert "metrics.penetration_mm" not in page  # hands.json extras are not guessed at
    # self-contained: plotly.js inline, nothing fetched from the network
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?https?://", page, re.I)
    assert "Plotly" in page and len(page) > 1_000_000


def test_contact_and_penetration_points_come_from_the_object_sdf(results, page):
    fig = _script_json(page, "bghop-figure")
    meta = _script_json(page, "bghop-samples")
    touching, far = meta[0], meta[1]
    contact = _points(fig["data"][touching["contact"]])
    inside = _points(fig["data"][touching["penetration"]])
    assert len(contact) > 0
    s = sdf_at_points(BOX, contact)
    assert (s > -2e-4).all() and (s < CONTACT_THRESHOLD_M + 2e-4).all()
    if len(inside):
        assert (sdf_at_points(BOX, inside) < 2e-4).all()
    # the hands 15 cm off the box touch nothing
    assert len(_points(fig["data"][far["contact"]])) == 0 and len(_points(fig["data"][far["penetration"]])) == 0
    samples, runs = viewer.load_samples(results)
    assert samples[1].computed["contact right"] is False and samples[1].computed["penetration max mm"] == 0
    assert samples[0].computed["contact points"] == len(contact)
    assert samples[0].computed["penetrating points"] == len(inside)
    assert samples[0].metrics == {"scores.score": 0.91, "stability.success": True, "stability.max_displacement_m": 0.001}
    assert samples[0].text == "box" and samples[2].metrics == {} and samples[2].text is None
    assert set(samples[2].hands) == {"right"} and "contact left" not in samples[2].computed
    assert runs["run_a"]["text"] == "box" and runs["run_a"]["kind"] == "grasp" and runs["run_b"] == {}


@pytest.mark.parametrize("summary, expected", [
    # the layout of earlier releases: per-sample numbers at the top level of each entry
    ({"kind": "grasp", "samples": [{"name": "0", "rank": 0, "sds_score": 0.3, "metrics": {"contact_both": True}}]},
     {"rank": 0, "scores.sds_score": 0.3}),
    ({"kind": "grasp", "version": 2, "samples": [{"name": "0", "prior_score": 0.2, "scores": {"energy": 1.5}}]},
     {"prior_score": 0.2, "scores.energy": 1.5}),
    ({"samples": [{"name": "0", "score": 5}]}, {}),                             # not a run record: ignored
    ("{not json", {}),                                                          # unreadable: ignored
    ([1, 2, 3], {}),                                                            # unexpected shape: ignored
    ({"kind": "grasp", "version": 99, "samples": [{"name": "0"}]}, {}),        # from a newer bghop: ignored
])
def test_stored_numbers_come_from_the_run_record(results, tmp_path, summary, expected):
    run = tmp_path / "run"
    shutil.copytree(results[0] / "0", run / "0")
    (run / "summary.json").write_text(summary if isinstance(summary, str) else json.dumps(summary))
    samples, _ = viewer.load_samples([run])
    assert samples[0].metrics == expected


def test_single_sample_folder_and_static_cli(results, tmp_path, capsys):
    samples, _ = viewer.load_samples([results[0] / "1"])
    assert [s.label for s in samples] == ["run_a/1"] and samples[0].metrics["scores.score"] == 0.42
    out = tmp_path / "share" / "view.html"
    assert main(["view", str(results[0]), str(results[1]), "--static", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    text = out.read_text()
    assert "run_b/0" in text and "bghop-figure" in text
    assert sorted(p.name for p in out.parent.iterdir()) == ["view.html"]  # no temp file left


def _bad_inputs(tmp: Path, results) -> dict[str, tuple[Path, str]]:
    empty = tmp / "empty"
    empty.mkdir()
    broken = tmp / "broken"
    shutil.copytree(results[0] / "0", broken / "0")
    (broken / "0" / "right_hand.obj").write_text("v 0 0 nan\nthis is not an obj\n")
    no_hands = tmp / "no_hands"
    shutil.copytree(results[0] / "0", no_hands / "0")
    (no_hands / "0" / "hands.json").unlink()
    bad_obj = tmp / "bad_obj"
    shutil.copytree(results[0] / "0", bad_obj / "0")
    (bad_obj / "0" / "object.obj").write_text("garbage\n")
    return {
        "missing": (tmp / "nope", "does not exist"),
        "a file": (results[0] / "summary.json", "is not a folder"),
        "empty": (empty, "holds no result samples"),
        "broken hand mesh": (broken, "cannot read mesh"),
        "no hands.json": (no_hands, "hands.json"),
        "broken object mesh": (bad_obj, "object.obj"),
    }


def test_cli_errors_are_clear_and_write_nothing(results, tmp_path, capsys):
    out = tmp_path / "out" / "view.html"
    for what, (folder, message) in _bad_inputs(tmp_path, results).items():
        rc = main(["view", str(results[0]), str(folder), "--static", str(out)])
        err = capsys.readouterr().err
        assert rc == 2, what
        assert err.startswith("bghop: error:") and message in err and "Traceback" not in err, (what, err)
        assert not out.parent.exists(), what
    assert main(["view", str(results[0]), "--static", str(tmp_path)]) == 2  # a folder is not an output file
    assert "is a folder" in capsys.readouterr().err
    assert main(["view", str(results[0]), "--port", "70000", "--no-browser"]) == 2
    assert "--port" in capsys.readouterr().err


def test_cli_serves_the_page_on_localhost_until_interrupted(results, monkeypatch, capsys):
    seen = {}

    def serve_then_interrupt(server):
        t = threading.Thread(target=ThreadingHTTPServer.serve_forever, args=(server,), daemon=True)
        t.start()
        try:
            seen["dir"] = Path(server.RequestHandlerClass.keywords["directory"])
            with urllib.request.urlopen(server.url, timeout=30) as r:
                seen["page"] = r.read().decode()
        finally:
            server.shutdown()
            t.join(10)
        raise KeyboardInterrupt

    monkeypatch.setattr(viewer.ViewerServer, "serve_forever", serve_then_interrupt)
    opened = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    assert main(["view", str(results[0]), "--port", "0"]) == 0
    out = capsys.readouterr().out
    url = re.search(r"http://127\.0\.0\.1:\d+/", out).group(0)
    assert opened == [url] and "Ctrl-C" in out
    assert "run_a/1" in seen["page"] and "bghop-figure" in seen["page"]
    assert not seen["dir"].exists(), "the temporary page folder is removed on exit"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _colour_pixels(png: Path) -> dict[str, int]:
    """Pixels of the 3D view (right of the sample list, below the legend) in each hand's colour family."""
    import matplotlib.image as mpimg

    img = (mpimg.imread(str(png))[..., :3] * 255).astype(int)
    view = img[170:, 320:]
    r, g, b = view[..., 0], view[..., 1], view[..., 2]
    return {
        "right": int(((r > 150) & (r - b > 60) & (g - b > 15)).sum()),   # warm: (237, 168, 133) shaded
        "left": int(((b > 150) & (b - r > 50) & (g - r > 15) & (r > 80)).sum()),  # cool: (140, 184, 237) shaded
        "dark": int((view.sum(-1) < 600).sum()),                          # anything drawn at all
    }


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium); "
                                              "the headless-browser check of the viewer needs it")
def test_headless_chromium_renders_the_meshes(results, tmp_path):
    html_path = viewer.write_viewer([results[0]], tmp_path / "view.html", see_through=False)
    shot = tmp_path / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--use-gl=swiftshader",
           "--enable-unsafe-swiftshader", "--hide-scrollbars", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,800", "--virtual-time-budget=15000",
           f"--screenshot={shot}", html_path.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert shot.is_file(), f"chromium wrote no screenshot (rc {proc.returncode}): {proc.stderr[-2000:]}"
    px = _colour_pixels(shot)
    # both hands of the first sample are drawn by WebGL in their colours (a blank canvas has none)
    assert px["right"] > 800 and px["left"] > 800 and px["right"] + px["left"] > 5000, px
    assert px["dark"] > 20000, px

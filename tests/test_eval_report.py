"""``bghop eval``: metrics reports on hand-made result folders with known answers.

Cases: hands far from a box (no contact, no penetration, the box falls), a hand pushed into a
box by a known depth, identical / clearly separated grasps for diversity, group resolution,
a broken sample, and the command line (files, table, exit code 2 on bad input).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from bghop.cli.main import main
from bghop.eval.diversity import HandPlacement, cluster_count, diversity, grasp_features
from bghop.eval.report import EvalInputError, evaluate_folders, find_sample_folders, format_table, write_report
from bghop.eval.runs import RunRecord, SampleRecord, write_run_record
from bghop.hands import load_hand
from bghop.hands.params import HandParams, Hands
from bghop.viz.results import ResultSample, write_result_folder

DEPTH_M = 0.006


def _params(transl=(0.0, 0.0, 0.0), orient=(0.0, 0.0, 0.0), pose=None) -> HandParams:
    p = torch.zeros(1, 45) if pose is None else torch.as_tensor(pose, dtype=torch.float32).reshape(1, 45)
    return HandParams(p, torch.tensor([orient], dtype=torch.float32), torch.tensor([transl], dtype=torch.float32),
                      torch.zeros(1, 10))


@pytest.fixture(scope="module")
def hand_min_y() -> float:
    """Lowest y of the flat open right hand at the origin (metres)."""
    h = load_hand("open", side="right")
    with torch.no_grad():
        v = h(torch.zeros(1, 45), torch.zeros(1, 3), torch.zeros(1, 3)).vertices[0]
    return float(v[:, 1].min())


def _far_sample(extra: dict | None = None) -> ResultSample:
    box = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    # off every axis through the box, so nothing stops it falling along any of the six directions
    hands = Hands("open", _params((0.6, 0.6, 0.6)), _params((-0.6, -0.6, 0.6)))
    return ResultSample(box, hands, extra=extra or {})


def _pushed_sample(min_y: float, depth: float = DEPTH_M) -> ResultSample:
    """A wide box whose top face lies ``depth`` above the hand's lowest vertex."""
    box = trimesh.creation.box(extents=(0.4, 0.2, 0.4))
    box.apply_translation([0.01, min_y + depth - 0.1, 0.02])
    return ResultSample(box, Hands("open", _params()))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, hand_min_y) -> Path:
    """``run/0`` far hands, ``run/1`` pushed hand, ``run/2`` broken object mesh."""
    root = tmp_path_factory.mktemp("eval") / "run"
    write_result_folder(root / "0", _far_sample(), render=False)
    write_result_folder(root / "1", _pushed_sample(hand_min_y), render=False)
    write_result_folder(root / "2", _far_sample(), render=False)
    (root / "2" / "object.obj").write_text("this is not a mesh\n")
    return root


@pytest.fixture(scope="module")
def report(run_dir):
    return evaluate_folders([run_dir], physics=True, progress=False)


def test_far_hands_no_contact_and_the_object_falls(report):
    s = report.samples[0]
    assert s.ok and s.hands == "right+left" and s.group == "run"
    assert s.penetration_max_m == 0.0 and s.penetration_mean_m == 0.0
    assert s.intersection_volume_cm3 == 0.0 and s.hand_hand_volume_cm3 == 0.0
    assert (s.contact_right, s.contact_left, s.contact_both) == (False, False, False)
    assert s.stable is False
    assert set(s.displacement_m) == {"+x", "-x", "+y", "-y", "+z", "-z"}
    # a free body falls 4.9 m in 1 s under 9.81 m/s^2
    assert all(d > 4.0 for d in s.displacement_m.values())


def test_pushed_hand_penetration_matches_the_depth(report):
    s = report.samples[1]
    assert s.ok and s.hands == "right"
    assert abs(s.penetration_max_m - DEPTH_M) < 1.5e-3
    assert 0 < s.penetration_mean_m <= s.penetration_max_m
    assert s.intersection_volume_cm3 > 0
    assert s.contact_right is True and s.contact_left is None and s.contact_both is True
    row = s.to_row()
    assert abs(row["penetration_max_mm"] - DEPTH_M * 1e3) < 1.5


def test_broken_sample_is_reported_and_skipped(report):
    bad = report.samples[2]
    assert not bad.ok and "MeshError" in bad.error, bad.error
    assert bad.penetration_max_m is None
    g = report.groups[0]
    assert (g.group, g.num_samples, g.num_errors) == ("run", 2, 1)
    assert g.contact_both_rate == pytest.approx(0.5)
    assert g.stability_rate == 0.0
    assert g.diversity.num_samples == 2
    assert report.overall.num_samples == 2 and any("could not be evaluated" in n for n in report.notes)


def test_write_report_files_and_units(report, tmp_path):
    paths = write_report(report, tmp_path)
    assert {p.name for p in paths.values()} == {"metrics.csv", "metrics_groups.csv", "metrics.json"}
    header, *rows = paths["csv"].read_text().splitlines()
    cols = header.split(",")
    for c in ("penetration_max_mm", "intersection_volume_cm3", "hand_hand_volume_cm3", "displacement_max_cm",
              "displacement_+x_cm", "contact_both", "stable", "sds_score", "group", "error"):
        assert c in cols
    assert len(rows) == 3
    data = json.loads(paths["json"].read_text())
    assert data["overall"]["diversity"]["num_samples"] == 2 and len(data["samples"]) == 3
    assert "all" in paths["groups_csv"].read_text()
    assert not list(tmp_path.glob(".*tmp"))
    table = format_table(report)
    assert "run/1" in table and "ERROR" in table and "entropy" in table


def test_overlapping_hands_have_hand_hand_volume(tmp_path):
    """Both hands at the same place (palms overlapping) and no object nearby."""
    box = trimesh.creation.box(extents=(0.05, 0.05, 0.05))
    box.apply_translation([0.0, 0.5, 0.0])
    write_result_folder(tmp_path / "r" / "0", ResultSample(box, Hands("open", _params(), _params())), render=False)
    s = evaluate_folders([tmp_path / "r"], physics=False, progress=False).samples[0]
    assert s.hand_hand_volume_cm3 > 10.0 and s.intersection_volume_cm3 == 0.0 and s.contact_both is False


# --------------------------------------------------------------------------------------------
# diversity


def test_cluster_count():
    assert [cluster_count(n) for n in (0, 1, 2, 3, 10, 40, 100)] == [0, 1, 2, 2, 5, 20, 20]


def test_identical_grasps_have_zero_entropy():
    X = np.tile(np.arange(10.0), (8, 1))
    d = diversity(X)
    assert d.num_clusters == 1 and d.entropy_nats == 0.0 and d.mean_cluster_size == 8.0


def test_separated_groups_have_entropy_log_k():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 6)) * 10
    exact = np.repeat(centres, 5, axis=0)  # 4 distinct grasps, 5 copies each; default k = 10 -> capped at 4
    d = diversity(exact)
    assert d.num_clusters == 4 and d.entropy_nats == pytest.approx(math.log(4))
    assert d.entropy_bits == pytest.approx(2.0) and d.mean_cluster_size == pytest.approx(5.0)
    noisy = exact + rng.normal(scale=0.01, size=exact.shape)
    d = diversity(noisy, clusters=4)
    assert d.entropy_nats == pytest.approx(math.log(4)) and sorted(d.cluster_sizes) == [5, 5, 5, 5]
    with pytest.raises(ValueError):
        diversity(np.full((3, 2), np.nan))


def test_grasp_features_are_translation_invariant():
    rng = np.random.default_rng(1)
    r = HandPlacement(rng.normal(size=45), rng.normal(size=3), rng.normal(size=3))
    left = HandPlacement(rng.normal(size=45), rng.normal(size=3), rng.normal(size=3))
    c = rng.normal(size=3)
    f = grasp_features(r, left, c)
    shift = np.array([0.3, -0.2, 1.0])
    g = grasp_features(HandPlacement(r.pose, r.global_orient, r.wrist + shift),
                       HandPlacement(left.pose, left.global_orient, left.wrist + shift), c + shift)
    assert f.shape == (108,) and np.allclose(f, g)
    assert np.all(grasp_features(r, None, c)[45:90] == 0)


@pytest.mark.parametrize("layout", ["v2", "v1"])
def test_diversity_of_folders_per_group(tmp_path, layout):
    """Two objects named in the run record: identical grasps (entropy 0) and two distinct placements. The
    record is read in this version's layout and in the one earlier releases wrote (objects under "object")."""
    root = tmp_path / "run"
    samples = []
    for k in range(4):
        x = 0.8 if k < 2 else (0.8 if k == 2 else 1.2)
        write_result_folder(root / str(k), ResultSample(trimesh.creation.box(extents=(0.1, 0.1, 0.1)),
                                                        Hands("open", _params((x, 0, 0)))), render=False)
        samples.append(SampleRecord(name=str(k), group="mug" if k < 2 else "pan"))
    if layout == "v2":
        write_run_record(root, RunRecord(kind="grasp", samples=samples))
    else:
        v1 = {"kind": "grasp", "samples": [{"name": r.name, "object": r.group, "rank": 0} for r in samples]}
        (root / "summary.json").write_text(json.dumps(v1))
    rep = evaluate_folders([root], physics=False, progress=False)
    by = {g.group: g for g in rep.groups}
    assert set(by) == {"mug", "pan"}
    assert by["mug"].diversity.entropy_nats == 0.0 and by["mug"].diversity.mean_cluster_size == 2.0
    assert by["pan"].diversity.entropy_nats == pytest.approx(math.log(2))
    assert rep.overall.diversity.num_samples == 4 and rep.samples[0].stable is None


def test_group_without_a_record_and_find_errors(tmp_path):
    """A folder another tool wrote (no summary.json): its samples belong to the run folder's name, and
    keys in hands.json are not guessed at."""
    write_result_folder(tmp_path / "r" / "0", _far_sample(extra={"meta": {"category": "box"}}), render=False)
    rep = evaluate_folders([tmp_path / "r" / "0"], physics=False, progress=False)
    assert rep.samples[0].group == "r" and rep.samples[0].name == "r/0"
    with pytest.raises(EvalInputError, match="does not exist"):
        find_sample_folders(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvalInputError, match="no result samples"):
        find_sample_folders(tmp_path / "empty")


# --------------------------------------------------------------------------------------------
# command line


def test_cli_writes_metrics_plots_and_table(run_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["eval", str(run_dir), "--out", str(out), "--no-physics"]) == 0
    text = capsys.readouterr().out
    assert "pen max mm" in text and "run/1" in text and "no prior given" in text and "--no-physics" in text
    names = {p.name for p in out.iterdir()}
    assert {"metrics.csv", "metrics.json", "metrics_groups.csv", "per_object.png", "hist_penetration_max_mm.png",
            "hist_intersection_volume_cm3.png", "hist_hand_hand_volume_cm3.png"} <= names
    assert "hist_displacement_max_cm.png" not in names  # no physics, no displacement
    assert (out / "per_object.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_prior_scores_two_hand_samples(run_dir, tmp_path, capsys):
    import math

    out = tmp_path / "o"
    assert main(["eval", str(run_dir / "0"), str(run_dir / "1"), "--out", str(out), "--no-physics", "--no-plots",
                 "--prior", "default"]) == 0
    data = json.loads((out / "metrics.json").read_text())
    two = [s for s in data["samples"] if s["hands"] == "right+left"]
    one = [s for s in data["samples"] if s["hands"] == "right"]
    assert two and one
    assert all(math.isfinite(s["sds_score"]) and s["sds_score"] > 0 for s in two)
    assert all(s["sds_score"] is None for s in one)  # the bimanual prior scores two-hand samples only
    assert "two-hand samples only" in capsys.readouterr().out


def test_cli_prior_errors(run_dir, tmp_path, capsys):
    from bghop.models.checkpoint import default_model_dir

    args = ["eval", str(run_dir / "0"), "--out", str(tmp_path / "o"), "--no-physics", "--no-plots"]
    assert main([*args, "--prior", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main([*args, "--prior", str(default_model_dir("prior_single"))]) == 2
    assert "single-hand prior" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("bad", ["missing", "empty"])
def test_cli_bad_folder_exits_2_and_writes_nothing(run_dir, tmp_path, capsys, bad):
    target = tmp_path / bad
    if bad == "empty":
        target.mkdir()
    out = tmp_path / "out"
    assert main(["eval", str(run_dir), str(target), "--out", str(out), "--no-physics"]) == 2
    err = capsys.readouterr().err
    assert "bghop: error:" in err and str(target) in err
    assert not out.exists()
    assert not (run_dir / "metrics.csv").exists()

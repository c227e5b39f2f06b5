"""Synthetic set mechanics: sharding, resume, atomicity, Dataset, `data show` (physics stubbed for speed)."""

import os
from dataclasses import replace

import pytest

import bghop.data.synthetic as synth
import bghop.eval.grip as grip
from bghop.contact.optimizer import EnergyConfig
from bghop.data.shards import Manifest, ShardDataset
from bghop.eval.physics import StabilityResult

CFG = synth.SynthConfig(bimanual=2, single=1, shard_size=1, inits=2, keep_per_object=1, max_penetration_m=1.0,
                        max_hand_hand_cm3=1e9, energy=EnergyConfig(iterations=20))


@pytest.fixture
def fast_physics(monkeypatch):
    calls = []

    def stub(mesh, pieces, cfg, stop_early=False):
        calls.append(len(pieces))
        return StabilityResult({"+x": 0.0}, True, 1.0)

    monkeypatch.setattr(grip, "simulate_stability", stub)
    return calls


def test_plan_is_fixed_by_config():
    jobs = synth.plan_jobs(replace(CFG, bimanual=130, single=64, shard_size=64))
    # interleaved in proportion: a partial run already holds both kinds
    assert [(j.bimanual, j.count) for j in jobs] == [(True, 64), (True, 64), (False, 64), (True, 2)]
    assert [j.index for j in jobs] == [0, 1, 2, 3]
    jobs = synth.plan_jobs(replace(CFG, bimanual=300, single=300, shard_size=100))
    assert [j.bimanual for j in jobs] == [True, False] * 3
    assert synth.plan_jobs(replace(CFG, bimanual=0, single=5, shard_size=2)) == [
        synth.ShardJob(0, False, 2), synth.ShardJob(1, False, 2), synth.ShardJob(2, False, 1)]


def test_a_folder_of_other_settings_is_refused(tmp_path, fast_physics):
    synth.synthesize(tmp_path, CFG, progress=False)
    with pytest.raises(ValueError, match="other settings.*inits"):
        synth.synthesize(tmp_path, replace(CFG, inits=3), progress=False)


def test_generate_resume_and_dataset(tmp_path, fast_physics):
    m = synth.synthesize(tmp_path, CFG, progress=False)
    assert m.num_samples == 3 and len(m.shards) == 3
    assert m.settings["candidates"] >= 3 and 0 < m.settings["pass_rate_before_filtering"] <= 1
    assert fast_physics, "every candidate that passes the geometric checks is simulated"
    ds = ShardDataset(tmp_path, bimanual=True)
    assert len(ds) == 2 and ds[0]["text"].endswith("with both hands") and "left_field" in ds[0]
    single = ShardDataset(tmp_path, bimanual=False)
    assert single[0]["text"].endswith("with the right hand")
    # rerun: nothing is redone
    mtimes = {p: os.path.getmtime(tmp_path / p) for p in os.listdir(tmp_path) if p.startswith("shard")}
    n_calls = len(fast_physics)
    synth.synthesize(tmp_path, CFG, progress=False)
    assert len(fast_physics) == n_calls
    assert mtimes == {p: os.path.getmtime(tmp_path / p) for p in mtimes}
    # a shard whose stats are missing (interrupted before completion) is redone, alone
    os.remove(tmp_path / "shard-00001.json")
    synth.synthesize(tmp_path, CFG, progress=False)
    assert os.path.getmtime(tmp_path / "shard-00000.npz") == mtimes["shard-00000.npz"]
    assert Manifest.load(tmp_path).num_samples == 3


def test_interrupted_run_leaves_only_complete_shards(tmp_path, fast_physics, monkeypatch):
    real = synth.write_shard
    count = {"n": 0}

    def flaky(path, samples):
        count["n"] += 1
        if count["n"] == 2:
            raise KeyboardInterrupt
        return real(path, samples)

    monkeypatch.setattr(synth, "write_shard", flaky)
    with pytest.raises(KeyboardInterrupt):
        synth.synthesize(tmp_path, CFG, progress=False)
    files = sorted(os.listdir(tmp_path))
    assert "shard-00000.npz" in files and "shard-00001.npz" not in files
    assert not [f for f in files if f.endswith(".tmp")]
    monkeypatch.setattr(synth, "write_shard", real)
    assert synth.synthesize(tmp_path, CFG, progress=False).num_samples == 3


def test_data_show(tmp_path, fast_physics):
    from bghop.cli.main import main

    synth.synthesize(tmp_path / "d", CFG, progress=False)
    assert main(["data", "show", str(tmp_path / "d"), "--out", str(tmp_path / "show"), "-k", "2"]) == 0
    assert (tmp_path / "show" / "contact_sheet.png").is_file()
    for k in ("0", "1"):
        for f in ("object.obj", "right_hand.obj", "hands.json", "render.png"):
            assert (tmp_path / "show" / k / f).is_file()


def test_one_hand_objects_are_hand_sized():
    import trimesh

    cfg = synth.SynthConfig()
    assert synth._hand_sized(trimesh.creation.cylinder(radius=0.035, height=0.2), cfg)  # a bottle
    assert not synth._hand_sized(trimesh.creation.box(extents=(0.3, 0.2, 0.02)), cfg)  # a tray: too wide to wrap
    assert not synth._hand_sized(trimesh.creation.cylinder(radius=0.02, height=0.4), cfg)  # too long


def test_progress_counts_every_kept_sample(tmp_path, fast_physics):
    class Count:
        n = 0

        def put(self, k):
            Count.n += k

    job = synth.plan_jobs(CFG)[0]
    st = synth.generate_shard(job, CFG, tmp_path, progress=Count())
    assert Count.n == st["count"] == job.count


def test_process_pool_run(tmp_path, fast_physics):
    m = synth.synthesize(tmp_path, CFG, workers=2, progress=True)  # forked workers inherit the physics stub
    assert m.num_samples == 3 and len(m.shards) == 3


def test_data_stats(tmp_path, fast_physics, capsys):
    import json

    from bghop.cli.main import main
    from bghop.data.stats import data_stats

    m = synth.synthesize(tmp_path / "d", CFG, progress=False)
    s = data_stats(tmp_path / "d")
    assert (s.bimanual.samples, s.single.samples, s.bimanual.shards, s.single.shards) == (2, 1, 2, 1)
    assert s.planned == {"bimanual": 2, "single": 1} and s.source == "synthetic"
    # per-kind generator figures add up to the manifest's totals
    assert s.bimanual.candidates + s.single.candidates == m.settings["candidates"]
    rate = (s.bimanual.passed + s.single.passed) / m.settings["candidates"]
    assert rate == pytest.approx(m.settings["pass_rate_before_filtering"])
    assert s.bimanual.worker_seconds + s.single.worker_seconds == pytest.approx(m.settings["worker_seconds"])
    assert s.bimanual.seconds_per_sample == pytest.approx(s.bimanual.worker_seconds / 2)
    assert sum(n["bimanual"] for n in s.categories.values()) == 2
    assert sum(n["single"] for n in s.categories.values()) == 1
    assert s.bimanual.penetration_max_mm is not None and s.bimanual.penetration_max_mm >= 0
    # per-category generator counts add up to the per-kind ones and to the kept samples
    assert s.generation_shards == 3
    for kind, ks in (("bimanual", s.bimanual), ("single", s.single)):
        per = [g[kind] for g in s.generation.values() if kind in g]
        assert sum(g["candidates"] for g in per) == ks.candidates and sum(g["passed"] for g in per) == ks.passed
        assert sum(g["kept"] for g in per) == ks.samples and all(g["objects"] >= 1 for g in per)
    cat = next(c for c, g in s.generation.items() if "bimanual" in g)
    assert s.category_pass_rate(cat, "bimanual") == pytest.approx(
        s.generation[cat]["bimanual"]["passed"] / s.generation[cat]["bimanual"]["candidates"])
    assert main(["data", "stats", str(tmp_path / "d"), "--json", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out
    assert "| two-hand | 2 | 2 |" in out and "| one-hand | 1 | 1 |" in out
    assert "from the 3 of 3 shards that record it" in out
    assert json.loads((tmp_path / "s.json").read_text())["single"]["samples"] == 1
    # a folder without generator stats (e.g. ARCTIC) has counts but no pass rate
    for p in (tmp_path / "d").glob("shard-*.json"):
        p.unlink()
    s = data_stats(tmp_path / "d")
    assert s.bimanual.samples == 2 and s.bimanual.pass_rate is None and s.bimanual.seconds_per_sample is None
    (tmp_path / "d" / "shard-00000.npz").unlink()
    assert main(["data", "stats", str(tmp_path / "d")]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["data", "stats", str(tmp_path / "nope")]) == 2
    assert "manifest.json" in capsys.readouterr().err


def test_ray_runs_the_same_generator(tmp_path, monkeypatch):
    """`--ray`: shards as Ray tasks give the same files as the local process pool (real physics, loosened)."""
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("BGHOP_CACHE_DIR", str(tmp_path / "cache"))  # Ray workers inherit the environment
    cfg = replace(CFG, bimanual=1, single=1, physics=replace(CFG.physics, success_threshold=10.0, duration=0.05))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        m = synth.synthesize(tmp_path / "ray", cfg, executor="ray", progress=False)
    finally:
        ray.shutdown()
    assert m.num_samples == 2 and len(m.shards) == 2
    local = synth.synthesize(tmp_path / "pool", cfg, workers=2, progress=False)
    assert [s["sha1"] for s in m.shards] == [s["sha1"] for s in local.shards]


def test_one_mixed_folder_feeds_every_training_run(tmp_path, fast_physics):
    """scripts/train_default.sh trains everything from one synth folder: both kinds, split by the flag."""
    from bghop.train.data import open_grid_data, parse_source

    synth.synthesize(tmp_path, CFG, progress=False)  # 2 two-hand + 1 one-hand samples
    d = str(tmp_path)

    def n(data):
        return len(data.train) + len(data.val)

    assert n(open_grid_data([parse_source(d)], bimanual=None)) == 3  # autoencoder: every object
    assert n(open_grid_data([parse_source(d)], bimanual=True)) == 2
    single = open_grid_data([parse_source(d), parse_source(d + "@right")], bimanual=False)
    assert n(single) == 3
    texts = sorted(single.train[i]["text"] for i in range(len(single.train)))
    assert all(t.endswith("with the right hand") for t in texts)
    assert all("left_field" not in single.train[i] for i in range(len(single.train)))


def test_synthetic_validation_holds_out_whole_objects(tmp_path, fast_physics):
    from bghop.train.data import open_grid_data, parse_source

    cfg = replace(CFG, bimanual=8, single=0, shard_size=4, keep_per_object=2)  # 2 grasps per object
    synth.synthesize(tmp_path, cfg, progress=False)
    d = open_grid_data([parse_source(str(tmp_path))], bimanual=True, val_every=2)
    train = {d.train[i]["object_id"] for i in range(len(d.train))}
    val = {d.val[i]["object_id"] for i in range(len(d.val))}
    assert len(d.train) + len(d.val) == 8 and val and train
    assert not train & val  # no object on both sides
    assert len(d.val) == 2 * len(val)  # every grasp of a held-out object is held out

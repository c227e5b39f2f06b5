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


def test_only_one_kind_makes_part_of_the_set(tmp_path, fast_physics):
    """``only="bimanual"`` makes the two-hand shards of the plan alone (readable), a later full run adds the rest
    and keeps them; an unknown kind is refused."""
    m = synth.synthesize(tmp_path, CFG, progress=False, only="bimanual")
    assert m.num_samples == 2 and all(s["bimanual"] for s in m.shards)
    assert len(ShardDataset(tmp_path, bimanual=True)) == 2
    assert len(ShardDataset(tmp_path, bimanual=False)) == 0
    before = {p: os.path.getmtime(tmp_path / p) for p in os.listdir(tmp_path) if p.endswith(".npz")}
    m = synth.synthesize(tmp_path, CFG, progress=False)
    assert m.num_samples == 3 and sum(not s["bimanual"] for s in m.shards) == 1
    assert all(os.path.getmtime(tmp_path / p) == t for p, t in before.items())
    with pytest.raises(ValueError, match="only must be"):
        synth.synthesize(tmp_path, CFG, progress=False, only="left")


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

    from bghop.data.synth_config import hand_sized

    cfg = synth.SynthConfig()
    assert hand_sized(trimesh.creation.cylinder(radius=0.035, height=0.2), cfg)  # a bottle
    assert not hand_sized(trimesh.creation.box(extents=(0.3, 0.2, 0.02)), cfg)  # a tray: too wide to wrap
    assert not hand_sized(trimesh.creation.cylinder(radius=0.02, height=0.4), cfg)  # too long


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


def test_records_rebuild_the_same_shards_without_optimising(tmp_path, fast_physics, monkeypatch):
    """`bghop data records` + `data synth --records`: same shard files, generator figures kept."""
    import json

    import numpy as np

    from bghop.cli.main import main
    from bghop.data.records import read_record, record_path
    from bghop.data.stats import data_stats

    cfg = replace(CFG, bimanual=3, single=2, shard_size=2, keep_per_object=2)
    gen = synth.synthesize(tmp_path / "gen", cfg, progress=False)
    assert main(["data", "records", str(tmp_path / "gen"), "--out", str(tmp_path / "rec")]) == 0
    rec = read_record(record_path(tmp_path / "rec", 0))
    assert rec.arrays["right"].shape == (2, 61) and rec.arrays["left"].dtype == np.float32
    assert not any(p.name.startswith("shard") for p in (tmp_path / "rec").iterdir()), "no grids in a record folder"

    calls = []
    real = synth.optimize_grasps
    monkeypatch.setattr(synth, "optimize_grasps", lambda *a, **k: calls.append(1) or real(*a, **k))
    record_path(tmp_path / "rec", 1).unlink()  # shard 1 is not recorded: it is generated
    re = synth.synthesize(tmp_path / "re", cfg, progress=False, records=tmp_path / "rec")
    assert [s["sha1"] for s in re.shards] == [s["sha1"] for s in gen.shards], "byte-identical shards"
    gen_objects = json.loads((tmp_path / "gen" / "shard-00001.json").read_text())["categories"]
    assert len(calls) == sum(c["objects"] for c in gen_objects.values()), "only shard 1 was optimised"
    for k in (0, 2):
        old = json.loads((tmp_path / "gen" / f"shard-{k:05d}.json").read_text())
        new = json.loads((tmp_path / "re" / f"shard-{k:05d}.json").read_text())
        assert new.pop("rebuilt") is True and new.pop("rebuild_seconds") >= 0
        assert new == old, "the generator's figures (pass counts, seconds) are kept"
    a, b = data_stats(tmp_path / "gen"), data_stats(tmp_path / "re")
    assert (a.bimanual.pass_rate, a.bimanual.worker_seconds) == (b.bimanual.pass_rate, b.bimanual.worker_seconds)
    assert ShardDataset(tmp_path / "re").meta(0)["hands"] == ShardDataset(tmp_path / "gen").meta(0)["hands"]

    # the CLI takes the folder too; records of other settings are refused with the differing keys
    assert main(["data", "synth", "--bimanual", "3", "--single", "2", "--shard-size", "2", "--out",
                 str(tmp_path / "cli"), "--records", str(tmp_path / "rec"), "--inits", "3"]) == 2
    with pytest.raises(ValueError, match="other settings.*inits"):
        synth.synthesize(tmp_path / "x", replace(cfg, inits=3), progress=False, records=tmp_path / "rec")
    with pytest.raises(ValueError, match="not a grasp-record folder"):
        synth.synthesize(tmp_path / "x", cfg, progress=False, records=tmp_path / "gen")


def test_bad_records_say_what_to_do(tmp_path, fast_physics):
    from bghop.data.records import RecordError, export_records, read_record, record_path

    synth.synthesize(tmp_path / "gen", CFG, progress=False)
    assert export_records(tmp_path / "gen", tmp_path / "rec") == 3
    assert export_records(tmp_path / "gen", tmp_path / "rec") == 3, "exporting again overwrites in place"
    synth.synthesize(tmp_path / "gen2", replace(CFG, seed=1), progress=False)
    with pytest.raises(RecordError, match="other settings"):
        export_records(tmp_path / "gen2", tmp_path / "rec")
    record_path(tmp_path / "rec", 0).write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(RecordError, match="export it again"):
        read_record(record_path(tmp_path / "rec", 0))
    with pytest.raises(RecordError, match="export it again"):
        synth.synthesize(tmp_path / "re", CFG, progress=False, records=tmp_path / "rec")
    assert not (tmp_path / "re" / "shard-00000.npz").exists()
    (tmp_path / "arctic").mkdir()
    Manifest(settings={"source": "arctic"}).save(tmp_path / "arctic")
    with pytest.raises(RecordError, match="not a synthetic set"):
        export_records(tmp_path / "arctic", tmp_path / "rec2")


def test_shipped_records_are_the_default_set_and_replay(tmp_path):
    """The records in the package belong to `bghop data synth`'s defaults, and their objects replay."""
    import json

    from bghop.data.records import GraspRecord, builtin_records_dir, read_record, record_path, records_config
    from bghop.data.shards import read_shard

    folder = builtin_records_dir()
    made = records_config(folder)
    assert made == json.loads(json.dumps(synth.SHIPPED_SET.to_dict())), (
        "the shipped records were made with other settings than SHIPPED_SET: a changed default makes them "
        "unused; export them again from a set made with the new defaults, or remove them")
    cfg = synth.SHIPPED_SET
    jobs = {j.index: j for j in synth.plan_jobs(cfg)}
    files = sorted(folder.glob("record-*.npz"))
    recs = [read_record(f) for f in files]
    # every shard of the shipped set is recorded, so `bghop data synth` never optimises one
    assert sorted(r.index for r in recs) == sorted(jobs)
    kinds = set()
    for f, rec in zip(files, recs):
        job = jobs[rec.index]
        assert f == record_path(folder, rec.index) and rec.stats["count"] == job.count
        assert bool(rec.stats["bimanual"]) == job.bimanual and rec.stats["passed"] >= job.count
        kinds.add(job.bimanual)
    assert kinds == {True, False}
    # replay the first samples of a two-hand and a one-hand record: the objects are found, the
    # categories agree, and the rebuilt hands are the recorded ones
    for bimanual in (True, False):
        rec = next(r for r in recs if bool(r.stats["bimanual"]) == bimanual)
        n = 2
        part = GraspRecord(rec.path, rec.index, {s: a[:n] for s, a in rec.arrays.items()}, rec.meta[:n],
                           {**rec.stats, "count": n})
        job = synth.ShardJob(rec.index, bimanual, n)
        synth._rebuild_shard(job, cfg, tmp_path, part)
        d = read_shard(synth.shard_path(tmp_path, rec.index))
        assert [m["meta"]["category"] for m in d["meta"]] == [m["meta"]["category"] for m in rec.meta[:n]]
        assert [m["object_id"].split("-")[0] for m in d["meta"]] == [m["meta"]["category"] for m in rec.meta[:n]]
        assert d["meta"][0]["hands"]["right"]["pose"] == [float(x) for x in rec.arrays["right"][0, :45]]
        assert ("left_field" in d) == bimanual

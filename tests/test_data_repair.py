"""Repairing a synthetic set (bghop.data.repair): keep what passes, refill, byte-identical where nothing failed."""

import json
from dataclasses import replace

import pytest

import bghop.data.repair as repair
import bghop.data.synthetic as synth
import bghop.eval.grip as grip
from bghop.contact.optimizer import EnergyConfig
from bghop.data.records import export_records, read_record, record_path
from bghop.data.shards import ShardDataset
from bghop.eval.physics import StabilityResult

BASE = synth.SynthConfig(bimanual=0, single=4, shard_size=2, inits=2, keep_per_object=1, max_penetration_m=1.0,
                         max_hand_hand_cm3=1e9, energy=EnergyConfig(iterations=10))
#: the repair: another energy for the new draws, a stricter depth limit for the recheck
FIX = replace(BASE, energy=EnergyConfig(iterations=12), max_penetration_m=0.5, repair_of=BASE)


def _stable(*a, **k):
    return StabilityResult({"+x": 0.0}, True, 1.0)


@pytest.fixture
def fast_physics(monkeypatch):
    monkeypatch.setattr(grip, "simulate_stability", _stable)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    """The base set (made once for the module) and its records."""
    root = tmp_path_factory.mktemp("base")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(grip, "simulate_stability", _stable)
        synth.synthesize(root / "base", BASE, progress=False)
    export_records(root / "base", root / "base_rec")
    return root


@pytest.fixture
def base_set(base_dir, fast_physics):
    return base_dir / "base_rec"


def _deep(monkeypatch, bad_ids):
    """sample_depth stubbed: the samples of ``bad_ids`` are 2 m deep (object in hand), the rest 0."""
    seen = []

    def depth(mesh, hands, layers):
        seen.append(1)
        return 0.0, 2.0 if depth.current in bad_ids else 0.0

    real = synth.recorded_samples

    def walk(job, cfg, record):
        for i, obj_id, cat, obj, hands in real(job, cfg, record):
            depth.current = obj_id
            yield i, obj_id, cat, obj, hands

    monkeypatch.setattr(repair, "sample_depth", depth)
    monkeypatch.setattr(synth, "recorded_samples", walk)
    return seen


def test_lineage_and_identity():
    assert FIX.lineage() == [FIX, BASE] and BASE.lineage() == [BASE]
    assert "repair_of" not in BASE.to_dict(), "settings without a repair keep the identity they had"
    assert FIX.to_dict()["repair_of"] == BASE.to_dict()
    # the CLI's defaults are the shipped set, which repairs the first one
    assert replace(synth.SHIPPED_SET, repair_of=None) == synth.SynthConfig()
    assert synth.SHIPPED_SET.repair_of == synth.SHIPPED_SET_V1


def test_repair_keeps_what_passes_and_refills(tmp_path, base_set, monkeypatch):
    r1 = read_record(record_path(base_set, 1))
    bad = {r1.meta[0]["object_id"]}
    _deep(monkeypatch, bad)
    m = synth.synthesize(tmp_path / "fix", FIX, progress=False, records=base_set)
    base_shards = json.loads((base_set.parent / "base" / "manifest.json").read_text())["shards"]
    assert m.shards[0]["sha1"] == base_shards[0]["sha1"], "a shard that loses nothing is byte-identical"
    assert m.shards[1]["sha1"] != base_shards[1]["sha1"] and m.num_samples == 4
    st0 = json.loads((tmp_path / "fix" / "shard-00000.json").read_text())
    assert st0["repair"]["kept"] == 2 and st0["repair"]["dropped"] == 0 and st0["repair"]["candidates"] == 0
    st1 = json.loads((tmp_path / "fix" / "shard-00001.json").read_text())
    r = st1["repair"]
    assert (r["kept"], r["dropped"], st1["count"]) == (1, 1, 2) and r["passed"] >= 1
    assert st1["candidates"] == r1.stats["candidates"] + r["candidates"]
    assert st1["passed"] == r1.stats["passed"] - 1 + r["passed"]
    assert sum(c["kept"] for c in st1["categories"].values()) == 2
    ids = [ShardDataset(tmp_path / "fix").meta(k)["object_id"] for k in (2, 3)]
    assert bad.isdisjoint(ids) and ids[0] == r1.meta[1]["object_id"], "the kept sample stays, in its place"
    assert int(ids[1].rsplit("-", 1)[1]) > r1.draws, "new samples come from objects the base had not drawn"

    # the repaired set's records rebuild it byte for byte, with no optimisation and no recheck
    export_records(tmp_path / "fix", tmp_path / "fix_rec")
    monkeypatch.setattr(synth, "optimize_grasps", lambda *a, **k: pytest.fail("optimised"))
    monkeypatch.setattr(repair, "sample_depth", lambda *a, **k: pytest.fail("re-checked"))
    again = synth.synthesize(tmp_path / "again", FIX, progress=False, records=[tmp_path / "fix_rec", base_set])
    assert [s["sha1"] for s in again.shards] == [s["sha1"] for s in m.shards]


def test_repair_without_records_generates_the_base_first(tmp_path, base_set, monkeypatch):
    r1 = read_record(record_path(base_set, 1))
    _deep(monkeypatch, {r1.meta[0]["object_id"]})
    job = synth.plan_jobs(FIX)[1]
    with_records = repair.repair_shard(job, FIX, tmp_path / "a", [base_set])
    without = synth.generate_shard(job, FIX, tmp_path / "b")
    assert without["sha1"] == with_records["sha1"], "the same shard either way"
    assert not list((tmp_path / "b" / "base").glob("shard-*")), "the generated base shard is removed"


def test_given_depths_are_used_and_checked(tmp_path, base_set, monkeypatch):
    job = synth.plan_jobs(FIX)[1]
    monkeypatch.setattr(repair, "sample_depth", lambda *a, **k: pytest.fail("measured again"))
    st = repair.repair_shard(job, FIX, tmp_path / "d", [base_set], depths=[(0.0, 0.0), (0.9, 0.0)])
    assert (st["repair"]["kept"], st["repair"]["dropped"]) == (1, 1)
    with pytest.raises(ValueError, match="2 samples"):
        repair.repair_shard(job, FIX, tmp_path / "e", [base_set], depths=[(0.0, 0.0)])
    with pytest.raises(ValueError, match="repair_of"):
        repair.repair_shard(job, BASE, tmp_path / "e", [base_set])


def test_records_of_an_unrelated_set_are_refused(tmp_path, base_set):
    with pytest.raises(ValueError, match="other settings"):
        synth.synthesize(tmp_path / "x", replace(FIX, repair_of=replace(BASE, seed=3)), progress=False,
                         records=base_set)

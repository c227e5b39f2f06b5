"""Synthetic set mechanics: sharding, resume, atomicity, Dataset, `data show` (physics stubbed for speed)."""

import os
from dataclasses import replace

import pytest

import bghop.data.synthetic as synth
from bghop.contact.optimizer import EnergyConfig
from bghop.data.shards import Manifest, ShardDataset
from bghop.eval.physics import StabilityResult

CFG = synth.SynthConfig(bimanual=2, single=1, shard_size=1, inits=2, keep_per_object=1, max_penetration_m=1.0,
                        max_hand_hand_cm3=1e9, energy=EnergyConfig(iterations=20))


@pytest.fixture
def fast_physics(monkeypatch):
    calls = []

    def stub(mesh, pieces, cfg):
        calls.append(len(pieces))
        return StabilityResult({"+x": 0.0}, True, 1.0)

    monkeypatch.setattr(synth, "simulate_stability", stub)
    return calls


def test_plan_is_fixed_by_config():
    jobs = synth.plan_jobs(replace(CFG, bimanual=130, single=64, shard_size=64))
    assert [(j.bimanual, j.count) for j in jobs] == [(True, 64), (True, 64), (True, 2), (False, 64)]
    assert [j.index for j in jobs] == [0, 1, 2, 3]


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

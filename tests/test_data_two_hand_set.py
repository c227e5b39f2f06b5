"""The two-hand set's settings (issue 20): another object library, another grid frame for the two-hand
samples, and records that rebuild the same grasps in any grid frame."""

import json
from dataclasses import replace

import numpy as np
import pytest

import bghop.data.synthetic as synth
import bghop.eval.grip as grip
from bghop.contact.optimizer import EnergyConfig
from bghop.data.library import draw_object, object_name
from bghop.data.shards import ShardDataset
from bghop.eval.physics import StabilityResult
from bghop.fields.encode import GridSettings
from bghop.fields.frame import FrameConfig
from bghop.fields.skeletal import FieldConfig

OBJECT_FRAME = GridSettings(field=FieldConfig(frame=FrameConfig.with_side(0.8, "object")))
CFG = synth.SynthConfig(bimanual=2, single=1, shard_size=1, inits=2, keep_per_object=1, max_penetration_m=1.0,
                        max_hand_hand_cm3=1e9, energy=EnergyConfig(iterations=20))


@pytest.fixture
def fast_physics(monkeypatch):
    monkeypatch.setattr(grip, "simulate_stability", lambda *a, **k: StabilityResult({"+x": 0.0}, True, 1.0))


def test_new_settings_keep_the_shipped_identity():
    d = synth.SHIPPED_SET.to_dict()
    assert "library" not in d and "bimanual_grid" not in d  # the shipped records still match
    two = replace(synth.SynthConfig(), library="two_hand", bimanual_grid=OBJECT_FRAME)
    t = two.to_dict()
    assert t["library"] == "two_hand" and t["bimanual_grid"]["field"]["frame"]["anchor"] == "object"
    assert two.grid_for(True) == OBJECT_FRAME and two.grid_for(False) == GridSettings()
    with pytest.raises(ValueError, match="library"):
        synth.SynthConfig(library="ycb")  # YCB is for evaluation only


def test_two_hand_library_draws_wide_and_grab_objects_and_names_them():
    rng = np.random.default_rng(0)
    cats = [draw_object("two_hand", rng)[0] for _ in range(18)]
    assert any(c.startswith("grab:") for c in cats) and any(not c.startswith("grab:") for c in cats)
    assert not any("ycb" in c for c in cats)
    a = [draw_object("two_hand", np.random.default_rng(5))[0] for _ in range(2)]
    assert a == [draw_object("two_hand", np.random.default_rng(5))[0] for _ in range(2)]
    cat, obj = next((c, o) for c, o in (draw_object("two_hand", rng) for _ in range(30)) if c.startswith("grab:"))
    assert object_name(cat, obj) == obj.params["name"] and object_name("carton") == "carton"
    # the base library draws exactly what it always drew
    from bghop.data.objects import category_names, make_object

    r1, r2 = np.random.default_rng(7), np.random.default_rng(7)
    cat, obj = draw_object("base", r1)
    assert cat == str(r2.choice(category_names()))
    assert np.array_equal(obj.mesh.vertices, make_object(cat, r2).mesh.vertices)


def test_records_rebuild_the_same_grasps_in_another_frame(tmp_path, fast_physics):
    from bghop.cli.main import main

    gen = synth.synthesize(tmp_path / "gen", CFG, progress=False)
    assert main(["data", "records", str(tmp_path / "gen"), "--out", str(tmp_path / "rec")]) == 0
    moved = replace(CFG, bimanual_grid=OBJECT_FRAME)
    re = synth.synthesize(tmp_path / "re", moved, progress=False, records=tmp_path / "rec")
    a, b = ShardDataset(tmp_path / "gen"), ShardDataset(tmp_path / "re")
    assert len(a) == len(b) == 3
    kinds = []
    for i in range(3):
        assert a.meta(i)["hands"] == b.meta(i)["hands"], "the same grasps"
        kinds.append(a.meta(i)["hands"].get("left") is not None)
        same = np.allclose(a.meta(i)["nTo"], b.meta(i)["nTo"])
        assert same == (not kinds[-1]), "two-hand samples moved to the object frame, one-hand ones stayed"
    stats = [json.loads(p.read_text()) for p in sorted((tmp_path / "re").glob("shard-*.json"))]
    assert all(s.get("regridded") for s, st in zip(stats, gen.shards) if st["bimanual"])
    # the settings differ only in the grid: records of other grasps are still refused
    with pytest.raises(ValueError, match="other settings"):
        synth.synthesize(tmp_path / "x", replace(moved, inits=3), progress=False, records=tmp_path / "rec")


def test_the_shipped_two_hand_records_are_found_by_the_documented_command():
    """``bghop data synth --library two_hand --bimanual 3000 --single 0 --frame object@0.8`` rebuilds the
    shipped two-hand records instead of optimising them again; the base set's command finds only its own."""
    from bghop.cli.data import synth_config
    from bghop.cli.main import build_parser
    from bghop.data.records import builtin_record_dirs, grasp_identity, records_config

    dirs = {d.name: d for d in builtin_record_dirs()}
    assert set(dirs) == {"synth_records", "synth_records_two_hand"}

    def found(argv):
        cfg = synth_config(build_parser().parse_args(["data", "synth", *argv, "--out", "x"]))
        return {n for n, d in dirs.items() if grasp_identity(records_config(d)) in cfg.grasp_lineage()}

    two = found(["--library", "two_hand", "--bimanual", "3000", "--single", "0", "--frame", "object@0.8"])
    assert two == {"synth_records_two_hand"}
    assert found(["--library", "two_hand", "--bimanual", "3000", "--single", "0"]) == {"synth_records_two_hand"}
    assert found([]) == {"synth_records"}
    assert found(["--library", "two_hand", "--bimanual", "3000", "--single", "0", "--seed", "1"]) == set()


def test_grab_objects_are_prompted_with_their_own_names(tmp_path, fast_physics):
    """A GRAB object's sample says "grasp a <its name> with both hands", never the library's category key."""
    seed = next(s for s in range(100) if draw_object("two_hand", np.random.default_rng([s, 0]))[0].startswith("grab:"))
    cat, obj = draw_object("two_hand", np.random.default_rng([seed, 0]))
    cfg = replace(CFG, library="two_hand", bimanual=1, single=0, seed=seed)
    synth.synthesize(tmp_path / "g", cfg, progress=False)
    ds = ShardDataset(tmp_path / "g")
    assert len(ds) == 1 and ds.meta(0)["object_id"].startswith(cat)
    assert ds.meta(0)["text"] == f"grasp {'an' if obj.params['name'][0] in 'aeiou' else 'a'} {obj.params['name']} " \
                                 "with both hands"
    assert "grab:" not in ds.meta(0)["text"]

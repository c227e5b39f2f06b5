"""Issue 19, bad inputs that escaped the checks: damaged data files (manifest, shards, grids) and prompts."""

import json
import logging
import zipfile

import numpy as np
import pytest
import torch

from bghop.data.shards import (
    Manifest,
    Sample,
    ShardDataset,
    ShardError,
    read_shard,
    read_shard_meta,
    shard_path,
    write_shard,
)
from bghop.data.stats import data_stats
from bghop.fields.encode import EncodedGrid, GridError, GridSettings
from bghop.models.text import TextEncoder, prompt_warnings
from bghop.train.data import grid_settings_of, open_grid_data, parse_source


def _sample(i):
    rng = np.random.default_rng(i)
    return Sample(object_sdf=rng.normal(0, 0.3, (8, 8, 8)).astype(np.float32),
                  right_field=rng.uniform(0, 0.12, (20, 4, 4, 4)).astype(np.float32),
                  left_field=rng.uniform(0, 0.12, (20, 4, 4, 4)).astype(np.float32),
                  text="grasp a mug with both hands", object_id=f"mug-{i}", hands={"right": {"pose": [0.0] * 45}},
                  nTo=np.eye(4), meta={"i": i})


@pytest.fixture
def folder(tmp_path):
    """A synthetic-style data folder with two bimanual shards of 3 samples."""
    m = Manifest(settings={"source": "synthetic", "grid": GridSettings(sdf_resolution=8).to_dict()})
    for k in range(2):
        p = shard_path(tmp_path, k)
        sha = write_shard(p, [_sample(3 * k + i) for i in range(3)])
        m.shards.append({"file": p.name, "count": 3, "sha1": sha, "bimanual": True})
    m.save(tmp_path)
    return tmp_path


def _says_what_to_do(msg: str, name: str, command: str = "bghop data synth") -> None:
    assert name in msg, msg
    assert command in msg, msg


def test_the_intact_folder_reads(folder):
    ds = ShardDataset(folder)
    assert len(ds) == 6 and ds[5]["object_id"] == "mug-5"


@pytest.mark.parametrize("content, why", [
    (b"", "empty file"),
    (b"this is not an archive" * 3, "not a readable bghop shard"),
])
def test_an_unreadable_shard_is_named_when_the_dataset_opens(folder, content, why):
    (folder / "shard-00001.npz").write_bytes(content)
    with pytest.raises(ShardError, match=why) as e:
        ShardDataset(folder)
    _says_what_to_do(str(e.value), "shard-00001.npz")
    assert "delete it" in str(e.value)


def test_an_empty_archive_and_missing_arrays(folder):
    np.savez(folder / "shard-00000.npz")  # an archive with no arrays
    with pytest.raises(ShardError, match="empty archive") as e:
        read_shard(folder / "shard-00000.npz")
    _says_what_to_do(str(e.value), "shard-00000.npz")
    np.savez(folder / "shard-00000.npz", object_tsdf=np.zeros((3, 8, 8, 8)), nTo=np.zeros((3, 4, 4)))
    with pytest.raises(ShardError, match="no right_field, meta array") as e:
        ShardDataset(folder)
    _says_what_to_do(str(e.value), "shard-00000.npz")
    with pytest.raises(ShardError, match="no right_field, meta"):
        read_shard_meta(folder / "shard-00000.npz")
    with open(folder / "shard-00000.npz", "wb") as f:
        np.save(f, np.zeros(3))  # a .npy under an .npz name
    with pytest.raises(ShardError, match="single .npy array"):
        read_shard(folder / "shard-00000.npz")


def test_a_truncated_shard(folder):
    path = folder / "shard-00000.npz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ShardError, match="BadZipFile") as e:
        ShardDataset(folder)
    _says_what_to_do(str(e.value), "shard-00000.npz")
    with pytest.raises(ShardError):
        data_stats(folder)  # `bghop data stats` reads only the metadata: the same error


def test_a_shard_damaged_inside_fails_on_reading_with_its_name(folder):
    path = folder / "shard-00001.npz"
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("object_tsdf.npy")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + 64  # inside the compressed array
    data[start:start + 64] = bytes(64)
    path.write_bytes(bytes(data))
    ds = ShardDataset(folder)  # its zip directory is intact
    assert ds[0]["object_id"] == "mug-0"
    with pytest.raises(ShardError) as e:
        ds[4]
    _says_what_to_do(str(e.value), "shard-00001.npz")


def test_a_shard_with_other_counts_than_its_manifest(folder):
    m = json.loads((folder / "manifest.json").read_text())
    m["shards"][1]["count"] = 5
    (folder / "manifest.json").write_text(json.dumps(m))
    ds = ShardDataset(folder)
    with pytest.raises(ShardError, match="holds 3 samples but .*manifest.json lists 5") as e:
        ds[4]
    _says_what_to_do(str(e.value), "shard-00001.npz")
    # inconsistent arrays inside one shard
    d = read_shard(folder / "shard-00000.npz")
    arrays = {k: v for k, v in d.items() if k != "meta"}
    arrays["right_field"] = arrays["right_field"][:2]
    arrays["meta"] = np.frombuffer(json.dumps(d["meta"]).encode(), dtype=np.uint8)
    np.savez(folder / "shard-00000.npz", **arrays)
    with pytest.raises(ShardError, match="do not match its 3 samples"):
        read_shard(folder / "shard-00000.npz")


@pytest.mark.parametrize("text, why", [
    ("{not json", "not valid JSON"),
    ("[1, 2, 3]", "a JSON list, not an object"),
    ('{"shards": {"file": "shard-00000.npz"}}', "'shards' is not a list"),
    ('{"shards": [{"file": "shard-00000.npz", "bimanual": true}]}', r"shards\[0\] has no count"),
    ('{"shards": [{"file": "../x.npz", "count": 3, "bimanual": true}]}', "not a file name"),
    ('{"shards": [{"file": "shard-00000.npz", "count": -1, "bimanual": true}]}', "not a sample count"),
    ('{"shards": [], "settings": [1]}', "'settings' is not an object"),
])
def test_a_bad_manifest(folder, text, why):
    (folder / "manifest.json").write_text(text)
    for read in (Manifest.load, ShardDataset, data_stats, grid_settings_of):
        with pytest.raises(ShardError, match=why) as e:
            read(folder)
        msg = str(e.value)
        assert "manifest.json" in msg and "delete it" in msg and "bghop data" in msg


def test_training_data_refuses_bad_folders(folder):
    settings = json.loads((folder / "manifest.json").read_text())
    settings["settings"].pop("grid")
    (folder / "manifest.json").write_text(json.dumps(settings))
    with pytest.raises(ShardError, match="does not record grid settings"):
        open_grid_data([parse_source(str(folder))], bimanual=True)
    settings["settings"]["grid"] = {"no_such_setting": 1}
    (folder / "manifest.json").write_text(json.dumps(settings))
    with pytest.raises(ShardError, match="unreadable grid settings") as e:
        open_grid_data([parse_source(str(folder))], bimanual=True)
    _says_what_to_do(str(e.value), "manifest.json")
    settings["settings"]["grid"] = GridSettings(sdf_resolution=8).to_dict()
    (folder / "manifest.json").write_text(json.dumps(settings))
    (folder / "shard-00001.npz").write_bytes(b"")
    with pytest.raises(ShardError, match="shard-00001.npz"):  # before any training step
        open_grid_data([parse_source(str(folder))], bimanual=True)


def _grid(tmp_path):
    s = GridSettings(sdf_resolution=8)
    r = s.field.resolution
    g = EncodedGrid(object_sdf=np.zeros((8, 8, 8), np.float32), right_field=np.zeros((20, r, r, r), np.float32),
                    left_field=None, nTo=np.eye(4), settings=s)
    return g.save(tmp_path / "grid.npz")


def test_damaged_grid_files(tmp_path):
    path = _grid(tmp_path)
    assert EncodedGrid.load(path).object_sdf.shape == (8, 8, 8)
    good = path.read_bytes()
    cases = {
        "empty file": b"",
        "BadZipFile": good[: len(good) // 2],
    }
    for why, content in cases.items():
        path.write_bytes(content)
        with pytest.raises(GridError, match=why) as e:
            EncodedGrid.load(path)
        assert "grid.npz" in str(e.value) and "bghop grid encode" in str(e.value)
    np.savez(path)
    with pytest.raises(GridError, match="empty archive"):
        EncodedGrid.load(path)
    np.savez(path, object_sdf=np.zeros((8, 8, 8)))
    with pytest.raises(GridError, match="no right_field, nTo, meta array") as e:
        EncodedGrid.load(path)
    assert "bghop grid encode" in str(e.value)
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))  # a .npy under an .npz name
    with pytest.raises(GridError, match="single .npy array"):
        EncodedGrid.load(path)
    np.savez(path, object_sdf=np.zeros((8, 8, 8)), right_field=np.zeros(3), nTo=np.eye(4),
             meta=np.frombuffer(b'{"settings": 3}', dtype=np.uint8))
    with pytest.raises(GridError, match="no grid settings"):
        EncodedGrid.load(path)


# -- prompts ---------------------------------------------------------------------------------------------------------

NORMAL = ["grasp a mug with both hands", "box", "grasp a box with the right hand", "grasp a spatula with both hands",
          "grasp a power drill with both hands", "grasp a toy airplane with both hands", "scissors", ""]


def test_normal_prompts_get_no_warnings():
    for text in NORMAL:
        assert prompt_warnings(text) == [], text


def test_a_long_prompt_says_how_much_was_kept():
    text = "grasp a " + " ".join(["very"] * 40) + " big mug with both hands"
    (w,) = prompt_warnings(text)
    assert "49 tokens long" in w and "limit of 32" in w and "only the first 32" in w and "last 17 are ignored" in w
    assert "Shorten it" in w


@pytest.mark.parametrize("text", ["grasp a 一个杯子 with both hands", "кружка",
                                  "grasp a κούπα with both hands", "xyzzy qwrtp", "grasp a 065 with both hands"])
def test_prompts_outside_the_training_language(text):
    (w,) = prompt_warnings(text)
    assert "outside what the model was trained on" in w and "use an English object name" in w


class _TokenizerOnly(TextEncoder):
    """An encoder whose tokens are zeros but whose prompt checks are the real tokenizer's."""

    dim = 4

    def prompt_warnings(self, text):
        return prompt_warnings(text)

    def _encode_uncached(self, texts):
        return torch.zeros(len(texts), 2, self.dim), torch.ones(len(texts), 2, dtype=torch.bool)


def test_encoding_logs_the_warnings_once_per_prompt(caplog):
    enc = _TokenizerOnly()
    with caplog.at_level(logging.WARNING, logger="bghop.models.text"):
        enc.encode(["grasp a mug with both hands", ""])
        assert not caplog.records
        enc.encode(["grasp a кружка with both hands"] * 3)
        enc.encode(["grasp a кружка with both hands"])
    assert len(caplog.records) == 1 and "кружка" in caplog.records[0].getMessage()


def test_sentences_in_other_languages_are_warned_about_and_english_names_are_not():
    for foreign in ("greif eine Tasse mit beiden Händen", "agarra una taza con ambas manos",
                    "saisir une tasse à deux mains"):
        assert prompt_warnings(foreign), foreign
    for english in ("grasp a power drill with the right hand", "tomato soup can", "large marker pen",
                    "red plastic bleach cleanser bottle", "master chef can", "mug"):
        assert not prompt_warnings(english), english

import os

import numpy as np
import pytest
import torch

from bghop.data.prompts import prompt
from bghop.data.shards import TRUNCATION, Manifest, Sample, ShardDataset, read_shard, shard_path, write_shard


def _sample(i, bimanual=True):
    rng = np.random.default_rng(i)
    return Sample(object_sdf=rng.normal(0, 0.3, (8, 8, 8)).astype(np.float32),
                  right_field=rng.uniform(0, 0.12, (20, 4, 4, 4)).astype(np.float32),
                  left_field=rng.uniform(0, 0.12, (20, 4, 4, 4)).astype(np.float32) if bimanual else None,
                  text=prompt("mug", bimanual), object_id=f"mug-{i}", hands={"right": {"pose": [0.0] * 45}},
                  nTo=np.eye(4), meta={"i": i})


def test_write_read_and_dataset(tmp_path):
    m = Manifest(settings={"source": "test"})
    for k, (lo, hi, bi) in enumerate([(0, 3, True), (3, 5, True), (5, 7, False)]):
        p = shard_path(tmp_path, k)
        sha = write_shard(p, [_sample(i, bi) for i in range(lo, hi)])
        m.shards.append({"file": p.name, "count": hi - lo, "sha1": sha, "bimanual": bi})
    m.save(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["manifest.json", "shard-00000.npz", "shard-00001.npz", "shard-00002.npz"]
    d = read_shard(tmp_path / "shard-00000.npz")
    assert d["object_tsdf"].dtype == np.float16 and d["object_tsdf"].min() >= -1 and d["object_tsdf"].max() <= 1
    s0 = _sample(0)
    np.testing.assert_allclose(d["object_tsdf"][0], np.clip(s0.object_sdf, -TRUNCATION, TRUNCATION) / TRUNCATION,
                               atol=1e-3)
    ds = ShardDataset(tmp_path, bimanual=True, cache_shards=1)
    assert len(ds) == 5
    item = ds[4]
    assert item["object_id"] == "mug-4" and item["text"] == "grasp a mug with both hands"
    assert item["object_tsdf"].shape == (1, 8, 8, 8) and item["left_field"].shape == (20, 4, 4, 4)
    torch.testing.assert_close(item["right_field"], torch.from_numpy(_sample(4).right_field), atol=1e-3, rtol=1e-3)
    assert ds.meta(4)["i"] == 4
    single = ShardDataset(tmp_path, bimanual=False)
    assert len(single) == 2 and "left_field" not in single[0]
    assert single[0]["text"] == "grasp a mug with the right hand"
    assert len(ShardDataset(tmp_path)) == 7
    with pytest.raises(IndexError):
        ds[5]


def test_shard_rules(tmp_path):
    with pytest.raises(ValueError):
        write_shard(tmp_path / "x.npz", [])
    with pytest.raises(ValueError):
        write_shard(tmp_path / "x.npz", [_sample(0, True), _sample(1, False)])
    assert not (tmp_path / "x.npz").exists()
    with pytest.raises(FileNotFoundError, match="not a bghop data folder"):
        Manifest.load(tmp_path)

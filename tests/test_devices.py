"""The whole path on every device at hand: grasp synthesis, generation and writing their result folders
(the CPU here; CUDA too wherever a GPU is present). Outputs record the device and the precision."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import trimesh

from grid_data import SphereAutoencoder, tiny_prior

from bghop.eval.runs import read_run
from bghop.fields.fit import FitConfig
from bghop.models.autoencoder import AutoencoderConfig, ObjectAutoencoder
from bghop.synthesis.generate import GenerateConfig, generate, save_generation
from bghop.synthesis.grasp import GraspConfig, GraspSynthesizer, save_grasps, with_iterations

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
BOX = trimesh.creation.box((0.12, 0.08, 0.2))


@pytest.mark.parametrize("device", DEVICES)
def test_grasp_and_save(device, tmp_path):
    torch.manual_seed(0)
    ae = ObjectAutoencoder(AutoencoderConfig(channels=(4, 8, 8)))
    cfg = with_iterations(GraspConfig(sdf_resolution=32), sds=2, refine=3)
    cfg = replace(cfg, rank=replace(cfg.rank, squeeze=(0.04,)))  # physics on: MuJoCo runs on the CPU
    syn = GraspSynthesizer(tiny_prior(bimanual=True), ae, config=cfg, device=device)
    res = syn(BOX, "box", n=2, seed=0, progress=False)
    assert len(res.grasps) == 2
    for g in res.grasps:
        assert g.hands.right.pose.device.type == device and g.stability is not None
        assert set(g.posed) == {"right", "left"} and g.prior_score is not None
    out = save_grasps(res, tmp_path / "run", layers=syn.layers, render=True, progress=False)
    rec = read_run(out)
    assert rec.settings["device"].startswith(device) and rec.settings["precision"] == "fp32"
    assert [s.name for s in rec.samples] == ["0", "1"] and all(s.stability is not None for s in rec.samples)
    assert (out / "contact_sheet.png").is_file() and (out / "1" / "render.png").is_file()


@pytest.mark.parametrize("device", DEVICES)
def test_generate_and_save(device, tmp_path):
    cfg = GenerateConfig(steps=2, fit=FitConfig(keypoint_iters=3, field_iters=0))
    res = generate(tiny_prior(True), SphereAutoencoder(), "box", n=2, config=cfg, seed=0, device=device,
                   progress=False)
    assert len(res.samples) == 2 and res.settings["device"].startswith(device)
    out = save_generation(res, tmp_path / "gen", render=False, progress=False)
    assert [s.name for s in read_run(out).samples] == ["0", "1"]


def test_bf16_only_when_asked():
    from bghop.synthesis.grasp_config import SDSStageConfig

    assert SDSStageConfig().precision == "fp32"
    assert SDSStageConfig(precision="bf16").precision == "bf16"
    with pytest.warns(DeprecationWarning):
        assert SDSStageConfig(precision="auto").precision == "fp32"
    with pytest.raises(ValueError):
        SDSStageConfig(precision="fp16")

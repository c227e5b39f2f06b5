"""Grid frames anchored between the palms or to the object (issue 20): the frame's definition, the
encode → decode round trip of a wide two-hand grasp, and the differentiable builder of grasp synthesis
against the data encoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from bghop.contact.energies import ObjectSDF
from bghop.core.rotations import axis_angle_to_matrix
from bghop.fields.encode import GridError, GridSettings, decode_grid, encode_grid
from bghop.fields.frame import FrameConfig, object_frame
from bghop.fields.skeletal import FieldConfig
from bghop.hands import Hands, load_hand
from bghop.hands.params import HandParams
from bghop.hands.poses import named_pose
from bghop.hands.frames import place_hand
from bghop.models.autoencoder import AutoencoderConfig, ObjectAutoencoder
from bghop.synthesis.hoi import InteractionGridBuilder, variables_from_params

#: a 45 cm box (the issue's done-means) with its long side along x
LONG_BOX = trimesh.creation.box((0.45, 0.12, 0.15))


@pytest.fixture(scope="module")
def layers():
    return {s: load_hand("open", side=s) for s in ("right", "left")}


def _settings(anchor: str, side: float = 0.8) -> GridSettings:
    return GridSettings(field=FieldConfig(frame=FrameConfig.with_side(side, anchor)))


def _ends_grasp(layers, mesh: trimesh.Trimesh) -> Hands:
    """Both hands on the two ends of the box's long (x) axis, palms facing it, fingers along +z."""
    half = mesh.extents[0] / 2
    out = {}
    for side, sign in (("right", 1.0), ("left", -1.0)):
        pose = torch.lerp(named_pose("relaxed", side=side), named_pose("fist", side=side), 0.2)[None]
        palm_dir = torch.tensor([[-sign, 0.0, 0.0]])
        pl = place_hand(layers[side], pose, torch.tensor([[0.0, 0.0, 1.0]]), palm_dir,
                        torch.tensor([[sign * (half + 0.01), 0.0, 0.0]]), offset=0.0)
        out[side] = HandParams(pose, pl.global_orient, pl.transl, torch.zeros(1, 10))
    return Hands("open", out["right"], out["left"])


def _keypoint_error_mm(layers, a: Hands, b: Hands) -> dict[str, float]:
    err = {}
    for side in ("right", "left"):
        pa, pb = a[side], b[side]
        ka = layers[side].keypoints(pa.pose.float(), pa.global_orient.float(), pa.transl.float(), pa.betas.float())
        kb = layers[side].keypoints(pb.pose.float(), pb.global_orient.float(), pb.transl.float(), pb.betas.float())
        err[side] = float((ka - kb).norm(dim=-1).mean()) * 1000
    return err


def test_frame_config_keeps_old_configs_and_refuses_unknown_anchors():
    d = FrameConfig().to_dict()
    assert "anchor" not in d and FrameConfig.from_dict(d) == FrameConfig()  # configs written before anchors
    obj = FrameConfig.with_side(0.8, "object")
    assert obj.to_dict()["anchor"] == "object" and FrameConfig.from_dict(obj.to_dict()) == obj
    assert obj.side_m == pytest.approx(0.8) and FrameConfig().side_m == pytest.approx(0.6)
    with pytest.raises(ValueError, match="anchor"):
        FrameConfig(anchor="left_hand")
    assert GridSettings.from_dict(_settings("palms").to_dict()) == _settings("palms")


def test_object_frame_of_a_box_is_its_edges_and_centre():
    box = trimesh.creation.box((0.1, 0.4, 0.2))
    box.apply_translation([0.3, -0.1, 0.05])
    oTa = object_frame(box.vertices, box.faces)
    R, c = oTa[:3, :3], oTa[:3, 3]
    assert np.allclose(R.T @ R, np.eye(3), atol=1e-9) and np.linalg.det(R) == pytest.approx(1.0)
    assert np.allclose(np.abs(R[:, 0]), [0, 1, 0], atol=1e-9)  # longest first
    assert np.allclose(np.abs(R[:, 1]), [0, 0, 1], atol=1e-9)
    assert np.allclose(c, [0.3, -0.1, 0.05], atol=1e-9)


def test_object_frame_follows_a_rotated_object():
    mug = trimesh.creation.cone(0.05, 0.18)  # no symmetry across its axis: the third moment fixes the signs
    mug = trimesh.util.concatenate([mug, trimesh.creation.box((0.12, 0.02, 0.02))])
    R = axis_angle_to_matrix(torch.tensor([0.3, -1.1, 0.7], dtype=torch.float64)).numpy()
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, [0.1, 0.2, -0.3]
    a = object_frame(mug.vertices, mug.faces)
    moved = mug.copy()
    moved.apply_transform(T)
    b = object_frame(moved.vertices, moved.faces)
    assert np.allclose(T @ a, b, atol=1e-7)


@pytest.mark.parametrize("anchor", ["palms", "object"])
def test_wide_grasp_survives_the_round_trip(layers, anchor):
    hands = _ends_grasp(layers, LONG_BOX)
    grid = encode_grid(LONG_BOX, hands, _settings(anchor), truncate=0.2)
    back = decode_grid(grid)
    err = _keypoint_error_mm(layers, hands, back.hands)
    assert max(err.values()) <= 10.0, err  # the bar: ≤ 10 mm mean joint error per hand
    assert back.object_mesh.extents == pytest.approx(LONG_BOX.extents, abs=0.015)


def test_right_hand_frame_loses_the_far_hand_of_the_same_grasp(layers):
    hands = _ends_grasp(layers, LONG_BOX)
    try:
        back = decode_grid(encode_grid(LONG_BOX, hands, GridSettings(), truncate=0.2))
    except GridError:
        return  # refused outright: the object does not fit around the right hand
    assert _keypoint_error_mm(layers, hands, back.hands)["left"] > 10.0


def test_palms_frame_needs_two_hands(layers):
    hands = _ends_grasp(layers, LONG_BOX)
    with pytest.raises(GridError, match="both hands"):
        encode_grid(LONG_BOX, Hands("open", hands.right, None), _settings("palms"))


@pytest.mark.parametrize("anchor", ["palms", "object"])
def test_builder_matches_the_data_encoder(layers, anchor):
    torch.manual_seed(0)
    ae = ObjectAutoencoder(AutoencoderConfig(channels=(4, 8, 8)))
    settings = _settings(anchor)
    hands = _ends_grasp(layers, LONG_BOX)
    builder = InteractionGridBuilder(layers, settings, ObjectSDF(LONG_BOX, resolution=64), ae, mesh=LONG_BOX)
    v = variables_from_params({s: hands[s] for s in ("right", "left")}, builder.j0)
    ref = encode_grid(LONG_BOX, hands, settings)
    with torch.no_grad():
        grid, latent = builder(v)
        posed = builder.pose_hands(v)
        nTo = builder.nTo(v, posed)
        ref_latent = ae.encode(torch.as_tensor(ref.object_sdf)[None, None]).mean
    assert np.allclose(nTo[0].numpy(), ref.nTo, atol=1e-5)
    assert np.allclose(grid.right[0].numpy(), ref.right_field, atol=2e-4)
    assert np.allclose(grid.left[0].numpy(), ref.left_field, atol=2e-4)
    if anchor == "object":  # the exact SDF on the grid, encoded once
        assert (latent - ref_latent).abs().max() < 1e-5
    else:  # resampled from the trilinear object grid, as in G-HOP's frame
        with torch.no_grad():
            sdf = builder.object_sdf_on_grid(nTo)[0, 0].numpy()
        band = np.abs(ref.object_sdf) < 0.2
        err = np.abs(sdf - ref.object_sdf)[band]
        assert band.sum() > 100 and np.median(err) < 0.01 and err.max() < 0.06


@pytest.mark.parametrize("anchor", ["palms", "object"])
def test_fields_give_gradients_to_both_placements(layers, anchor):
    torch.manual_seed(0)
    ae = ObjectAutoencoder(AutoencoderConfig(channels=(4, 8, 8)))
    hands = _ends_grasp(layers, LONG_BOX)
    builder = InteractionGridBuilder(layers, _settings(anchor), ObjectSDF(LONG_BOX, resolution=32), ae,
                                     mesh=LONG_BOX)
    v = variables_from_params({s: hands[s] for s in ("right", "left")}, builder.j0).clone(requires_grad=True)
    grid, _ = builder(v)
    target = torch.rand_like(grid.right)
    ((grid.right - target) ** 2).sum().add(((grid.left - target) ** 2).sum()).backward()
    for k, t in v.tensors().items():
        assert t.grad is not None and t.grad.abs().sum() > 0, k


def test_object_anchor_encodes_the_object_once(layers, monkeypatch):
    torch.manual_seed(0)
    ae = ObjectAutoencoder(AutoencoderConfig(channels=(4, 8, 8)))
    builder = InteractionGridBuilder(layers, _settings("object"), ObjectSDF(LONG_BOX, resolution=32), ae,
                                     mesh=LONG_BOX)
    calls = []
    monkeypatch.setattr(ae, "encode", lambda *a, **k: calls.append(1))
    hands = _ends_grasp(layers, LONG_BOX)
    v = variables_from_params({s: hands[s] for s in ("right", "left")}, builder.j0)
    for _ in range(3):
        builder(v)
    assert calls == []
    with pytest.raises(ValueError, match="mesh"):
        InteractionGridBuilder(layers, _settings("object"), ObjectSDF(LONG_BOX, resolution=32), ae)


def test_models_saved_before_anchors_keep_their_frame():
    import json

    from bghop.models.checkpoint import default_model_dir
    from bghop.models.prior import PriorConfig

    stored = json.loads((default_model_dir("prior") / "config.json").read_text())["config"]
    assert "anchor" not in json.dumps(stored["grid"])  # written before anchors existed
    cfg = PriorConfig.from_dict(stored)
    assert cfg.grid_settings.field.frame == FrameConfig() and cfg.grid_settings.field.frame.anchor == "right_hand"
    moved = PriorConfig.from_dict({**stored, "grid": _settings("object").to_dict()})
    assert moved.grid_settings.field.frame.anchor == "object"
    assert PriorConfig.from_dict(moved.to_dict()) == moved


def test_hands_sampled_for_a_held_object_come_back_in_its_frame(layers):
    """Known answer: a prior whose exact ε is a point mass at one grasp's grid (object latent and both hands'
    fields, object-anchored frame) gives back that grasp from `sample_grasps`, in the object's frame."""
    from dataclasses import replace

    from grid_data import PointMassOracle, tiny_prior, use_oracle

    from bghop.fields.layout import InteractionGrid
    from bghop.synthesis.conditional import ConditionalConfig, sample_grasps

    torch.manual_seed(0)
    ae = ObjectAutoencoder(AutoencoderConfig(channels=(4, 8, 8)))
    settings = _settings("object")
    prior = tiny_prior(True)
    prior.config = replace(prior.config, grid=settings.to_dict())
    hands = _ends_grasp(layers, LONG_BOX)
    builder = InteractionGridBuilder(layers, settings, ObjectSDF(LONG_BOX, resolution=64), ae, mesh=LONG_BOX)
    ref = encode_grid(LONG_BOX, hands, settings)
    target = prior.normalize(InteractionGrid(object=builder.fixed_latent, right=torch.as_tensor(ref.right_field)[None],
                                             left=torch.as_tensor(ref.left_field)[None]))[0]
    use_oracle(prior, PointMassOracle(prior.alphas_cumprod, target))
    v = sample_grasps(prior, ae, layers, LONG_BOX, "box", 2, config=ConditionalConfig(steps=10, known_guidance=0.0),
                      progress=False)
    back = builder.hand_params(v)
    for i in range(2):
        got = Hands("open", back["right"].index(i), back["left"].index(i))
        assert max(_keypoint_error_mm(layers, hands, got).values()) < 5.0
    from bghop.synthesis.checks import GraspError

    with pytest.raises(GraspError, match="anchored to the object"):
        sample_grasps(tiny_prior(True), ae, layers, LONG_BOX, "box", 1, progress=False)

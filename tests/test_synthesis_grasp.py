"""Grasp synthesis with tiny random models: the differentiable grid matches the data encoder, the
batch runs end to end, ranking and result folders, bad objects, NaNs dropped per grasp."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
import trimesh

from grid_data import tiny_prior

from bghop.contact.energies import ObjectSDF
from bghop.eval.ranking import prior_excess_percent, rank_score
from bghop.fields.encode import GridSettings, encode_grid
from bghop.hands import Hands, load_hand
from bghop.models.autoencoder import AutoencoderConfig, ObjectAutoencoder
from bghop.synthesis import example_mesh_path
from bghop.synthesis.grasp import (
    GraspConfig,
    GraspError,
    GraspSynthesizer,
    check_object,
    initial_grasps,
    save_grasps,
    with_iterations,
)
from bghop.synthesis.hoi import InteractionGridBuilder, variables_from_params

BOX = trimesh.creation.box((0.12, 0.08, 0.2))


def _fast(sds: int = 2, refine: int = 3) -> GraspConfig:
    cfg = with_iterations(GraspConfig(sdf_resolution=40), sds=sds, refine=refine)
    return replace(cfg, rank=replace(cfg.rank, physics=False))


@pytest.fixture(scope="module")
def ae():
    torch.manual_seed(0)
    return ObjectAutoencoder(AutoencoderConfig(channels=(4, 8, 8)))


@pytest.fixture(scope="module")
def layers():
    return {s: load_hand("open", side=s) for s in ("right", "left")}


def test_builder_matches_the_data_encoder(layers, ae):
    settings = GridSettings()
    v = initial_grasps(layers, BOX, 1, seed=3)
    builder = InteractionGridBuilder(layers, settings, ObjectSDF(BOX, resolution=64), ae)
    hands = builder.hand_params(v)
    ref = encode_grid(BOX, Hands.from_params(hands, "open"), settings)
    with torch.no_grad():
        posed = builder.pose_hands(v)
        c = builder.center_h(posed.joints_h["right"])
        f = builder.fields(posed.joints_h, c)
        sdf = builder.object_sdf_n(posed.oTh, c)[0, 0].numpy()
    assert np.allclose(f["right"][0].numpy(), ref.right_field, atol=2e-4)
    assert np.allclose(f["left"][0].numpy(), ref.left_field, atol=2e-4)
    band = np.abs(ref.object_sdf) < 0.2  # the autoencoder only sees ±0.2 n
    err = np.abs(sdf - ref.object_sdf)[band]
    assert band.sum() > 100 and np.median(err) < 0.01 and err.max() < 0.06
    # the data encoder's truncated SDF (what shards store) equals the exact one, clipped
    trunc = encode_grid(BOX, Hands.from_params(hands, "open"), settings, truncate=0.2)
    assert np.array_equal(trunc.object_sdf, np.clip(ref.object_sdf, -0.2, 0.2))
    assert np.array_equal(trunc.right_field, ref.right_field)


def test_hand_params_round_trip(layers, ae):
    v = initial_grasps(layers, BOX, 2, seed=1)
    builder = InteractionGridBuilder(layers, GridSettings(), ObjectSDF(BOX, resolution=24), ae)
    hands = builder.hand_params(v)
    posed = builder.pose_hands(v, vertices=True)
    for s in ("right", "left"):
        p = hands[s]
        vert = layers[s](p.pose, p.global_orient, p.transl).vertices
        assert torch.allclose(vert, posed.vertices_o[s], atol=1e-5)
    back = variables_from_params(hands, builder.j0)
    for k, t in v.tensors().items():
        assert torch.allclose(t, back.tensors()[k], atol=1e-5), k


def test_sds_gradient_reaches_every_parameter(layers, ae):
    prior = tiny_prior(bimanual=True)
    syn = GraspSynthesizer(prior, ae, config=_fast())
    builder = InteractionGridBuilder(syn.layers, prior.config.grid_settings, ObjectSDF(BOX, resolution=32), ae)
    v = initial_grasps(syn.layers, BOX, 2, seed=0).clone(requires_grad=True)
    grid, _ = builder(v)
    gen = torch.Generator().manual_seed(0)
    out = syn.guidance(prior.normalize(grid), ["grasp a box with both hands"] * 2, 0.0, gen)
    out.loss.backward()
    for k, t in v.tensors().items():
        assert t.grad is not None and t.grad.abs().sum() > 0, k


def test_batch_end_to_end_ranked_and_written(tmp_path, ae):
    syn = GraspSynthesizer(tiny_prior(bimanual=True), ae, config=_fast())
    res = syn(BOX, "box", n=3, seed=0, progress=False)
    assert res.text == "grasp a box with both hands"
    assert len(res.grasps) == 3 and not res.dropped
    # each grasp's rank score is the ranking formula of its own checks and prior score (best first)
    excess = prior_excess_percent([g.sds_score for g in res.grasps])
    for g, z in zip(res.grasps, excess):
        assert g.rank_score == pytest.approx(rank_score(None, g.metrics.contact_both, g.metrics.penetration_max_m,
                                                        g.metrics.hand_hand_volume_cm3, float(z)))
    assert [g.rank_score for g in res.grasps] == sorted(g.rank_score for g in res.grasps)
    # the refinement energy's terms are stored per grasp and add up to its total
    for g in res.grasps:
        assert {"contact", "penetration", "hand_hand", "opposition", "damping"} <= set(g.energy_terms)
        assert sum(g.energy_terms.values()) == pytest.approx(g.energy, rel=1e-5)
    assert sorted(g.index for g in res.grasps) == [0, 1, 2]
    for g in res.grasps:
        assert set(g.hands) == {"right", "left"} and g.hands["right"].pose.shape == (1, 45)
        assert np.isfinite(g.sds_score) and g.stability is None
    out = save_grasps(res, tmp_path / "run", render=False, progress=False)
    summary = json.loads((out / "summary.json").read_text())
    assert [s["name"] for s in summary["samples"]] == ["0", "1", "2"]
    assert summary["settings"]["config"]["sds"]["guidance"]["guidance"] == 4.0
    assert summary["dropped"] == []
    for k in range(3):
        files = {p.name for p in (out / str(k)).iterdir()}
        assert {"object.obj", "right_hand.obj", "left_hand.obj", "hands.json"} <= files
    # a smaller rerun into the same folder leaves no stale sample behind
    res2 = syn(BOX, "box", n=2, seed=1, progress=False)
    save_grasps(res2, out, render=False, progress=False)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["0", "1"]


def test_nan_grasp_is_dropped_and_reported(tmp_path, ae, layers):
    syn = GraspSynthesizer(tiny_prior(bimanual=True), ae, config=_fast())
    init = initial_grasps(syn.layers, BOX, 3, seed=2)
    init.left_transl[1, 0] = float("nan")
    res = syn(BOX, "box", init=init, progress=False)
    assert [d.index for d in res.dropped] == [1]
    assert sorted(g.index for g in res.grasps) == [0, 2]
    for g in res.grasps:
        for p in g.hands.params.values():
            assert all(torch.isfinite(t).all() for t in (p.pose, p.global_orient, p.transl))
    out = save_grasps(res, tmp_path / "nan", render=False, progress=False)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dropped"][0]["index"] == 1 and "non-finite" in summary["dropped"][0]["reason"]
    assert len(summary["samples"]) == 2


def test_nan_during_optimisation_freezes_only_that_grasp(layers):
    from bghop.synthesis.guard import NaNGuard as _NaNGuard

    v = initial_grasps(layers, BOX, 3, seed=0).clone(requires_grad=True)
    dropped = []
    guard = _NaNGuard(v, dropped, [10, 11, 12])
    before = v.clone()
    with torch.no_grad():
        v.right_pose[2, 5] = float("inf")
        v.left_rot += 0.01
    loss = torch.tensor([0.0, float("nan"), 1.0])
    guard.check(v, loss, "refine", 7)
    assert guard.alive.tolist() == [True, False, False]
    assert [(d.index, d.stage, d.iteration) for d in dropped] == [(11, "refine", 7), (12, "refine", 7)]
    assert "loss" in dropped[0].reason and "parameters" in dropped[1].reason
    assert v.finite().all()  # frozen grasps are reset to a finite state so the batch stays finite
    assert torch.allclose(v.left_rot[0], before.left_rot[0] + 0.01)
    (v.right_pose.sum() * float("nan")).backward()
    guard.mask_grads(v)
    assert torch.isfinite(v.right_pose.grad).all() and (v.right_pose.grad[1:] == 0).all()


def test_single_hand_same_pipeline(ae):
    syn = GraspSynthesizer(tiny_prior(bimanual=False), ae, config=_fast(refine=2))
    res = syn(trimesh.creation.box((0.06, 0.05, 0.1)), "box", n=2, progress=False)
    assert res.text == "grasp a box with the right hand"
    assert len(res.grasps) == 2 and all(set(g.hands) == {"right"} for g in res.grasps)
    assert all(g.metrics.contact_left is None for g in res.grasps)


def test_physics_ranking_puts_stable_first(ae, monkeypatch):
    """Stand-in checks: only the grasps started from odd initialisations hold. They come first whatever the
    prior says, and a squeezed grasp keeps the hands that held."""
    import bghop.synthesis.grasp as grasp_mod
    from bghop.eval.grip import GripCheck, check_grip
    from bghop.eval.physics import StabilityResult

    seen = []

    def checks(mesh, hands, layers, cfg):
        i = len(seen)
        seen.append(i)
        real = check_grip(mesh, hands, layers, replace(cfg, physics=False))
        metrics = replace(real.metrics, contact_both=True, penetration_max_m=0.001, hand_hand_volume_cm3=0.0)
        return GripCheck(real.hands, 0.0, metrics, StabilityResult({"+x": 0.0}, i % 2 == 1, 1.0), i % 2 == 1, real.posed)

    monkeypatch.setattr(grasp_mod, "check_grip", checks)
    syn = GraspSynthesizer(tiny_prior(bimanual=True), ae, config=_fast(sds=1, refine=3))
    res = syn(BOX, "box", n=4, progress=False)
    assert [g.stability.success for g in res.grasps] == [True, True, False, False]
    assert sorted(g.index for g in res.grasps[:2]) == [1, 3]


def test_official_mano_hands(tmp_path, ae):
    from mano_fixture import write_synthetic_mano

    for side in ("right", "left"):
        write_synthetic_mano(tmp_path, side=side)
    syn = GraspSynthesizer(tiny_prior(bimanual=True), ae, hand_kind="mano", mano_dir=tmp_path, config=_fast())
    res = syn(BOX, "box", n=2, progress=False)
    assert len(res.grasps) == 2 and all(g.hands.kind == "mano" for g in res.grasps)
    out = save_grasps(res, tmp_path / "run", layers=syn.layers, render=False, progress=False)
    assert json.loads((out / "0" / "hands.json").read_text())["left"]["kind"] == "mano"


@pytest.mark.parametrize("extents,match", [((0.9, 0.1, 0.1), "larger than the prior's grid"),
                                           ((0.008, 0.006, 0.004), "smaller than a fingertip")])
def test_bad_objects_fail_before_optimisation(ae, extents, match):
    mesh = trimesh.creation.box(extents)
    with pytest.raises(GraspError, match=match):
        check_object(mesh)
    syn = GraspSynthesizer(tiny_prior(bimanual=True), ae, config=_fast())
    with pytest.raises(GraspError, match=match):
        syn(mesh, "box", n=2, progress=False)


def test_example_mesh_is_shipped():
    from bghop.geometry.mesh_io import load_mesh

    m = load_mesh(example_mesh_path())
    assert m.is_watertight and np.allclose(sorted(m.extents), [0.08, 0.12, 0.2], atol=1e-6)
    assert example_mesh_path().stat().st_size < 100_000


def test_unstable_grasps_are_squeezed_when_that_makes_them_hold(ae, monkeypatch):
    import bghop.eval.grip as grip
    from bghop.eval.physics import StabilityResult

    def holds_only_when_squeezed(mesh, pieces, cfg, stop_early=False):
        # the squeezed hands close the fingers: their pieces lie nearer the palm; stand-in physics
        # that says "holds" from the second squeeze on, counted per grasp
        holds_only_when_squeezed.calls += 1
        return StabilityResult({"+x": 0.0}, holds_only_when_squeezed.calls % 3 == 0, 1.0)

    holds_only_when_squeezed.calls = 0
    monkeypatch.setattr(grip, "simulate_stability", holds_only_when_squeezed)
    cfg = with_iterations(GraspConfig(sdf_resolution=40), sds=1, refine=2)
    cfg = replace(cfg, rank=replace(cfg.rank, max_penetration_m=1.0))  # let every squeeze be tried
    res = GraspSynthesizer(tiny_prior(bimanual=True), ae, config=cfg)(BOX, "box", n=2, progress=False)
    assert [g.squeeze for g in res.grasps] == [cfg.rank.squeeze[1]] * 2 and all(g.stability.success for g in res.grasps)
    assert res.grasps[0].to_dict()["squeeze"] == cfg.rank.squeeze[1]
    # no physics: nothing is squeezed
    cfg = replace(cfg, rank=replace(cfg.rank, physics=False))
    res = GraspSynthesizer(tiny_prior(bimanual=True), ae, config=cfg)(BOX, "box", n=2, progress=False)
    assert all(g.squeeze == 0 and g.stability is None for g in res.grasps)


def test_refinement_lowers_its_energy(ae):
    """The refinement minimises the grasp objective: every grasp ends well below where it started (single
    terms may trade against each other: pads pressed onto the surface cost some penetration)."""
    from bghop.contact.energies import ObjectSDF
    from bghop.contact.objective import GraspObjective
    from bghop.synthesis.guard import NaNGuard

    syn = GraspSynthesizer(tiny_prior(bimanual=True), ae, config=_fast(sds=0, refine=40))
    sdf = ObjectSDF(BOX, resolution=40)
    builder = InteractionGridBuilder(syn.layers, syn.prior.config.grid_settings, sdf, ae)
    objective = GraspObjective(sdf, syn.layers, BOX, syn.config.refine.objective)
    v0 = initial_grasps(syn.layers, BOX, 3, seed=4)
    with torch.no_grad():
        before = syn._energy(objective, builder, v0, v0)
    _, after = syn._refine(builder, v0, objective, NaNGuard(v0, [], [0, 1, 2]), progress=False)
    assert (after.total < 0.5 * before.total).all(), (before.total, after.total)
    assert (before.terms["damping"] == 0).all() and (after.terms["damping"] > 0).all()  # it moved from its anchor

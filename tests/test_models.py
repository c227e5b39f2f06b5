"""Tiny-model tests of the autoencoder, UNet, prior, widening and model folders."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from grid_data import TINY_UNET, _unzero, tiny_prior

from bghop.fields.layout import InteractionGrid
from bghop.models.autoencoder import AutoencoderConfig, ObjectAutoencoder, sdf_iou
from bghop.models.checkpoint import WEIGHTS_NAME, CheckpointError
from bghop.models.prior import (
    InteractionPrior,
    io_parameters,
    widen_to_bimanual,
)
from bghop.models.text import TextEmbedding
from bghop.models.unet import UNet3D, UNetConfig


def test_unet_shapes_and_text_dependence():
    torch.manual_seed(0)
    net = UNet3D(UNetConfig(in_channels=23, **TINY_UNET))
    _unzero(net)
    x = torch.randn(2, 23, 16, 16, 16)
    t = torch.tensor([10, 900])
    ctx = torch.randn(2, 5, 16)
    mask = torch.ones(2, 5, dtype=torch.bool)
    y = net(x, t, ctx, mask, ctx.mean(1))
    assert y.shape == x.shape
    y2 = net(x, t, ctx + 1.0, mask, ctx.mean(1) + 1.0)
    assert not torch.allclose(y, y2)
    # padded tokens are ignored
    ctx_pad = torch.cat([ctx, torch.randn(2, 3, 16)], 1)
    mask_pad = torch.cat([mask, torch.zeros(2, 3, dtype=torch.bool)], 1)
    torch.testing.assert_close(net(x, t, ctx_pad, mask_pad, ctx.mean(1)), y, atol=1e-5, rtol=1e-4)


def test_autoencoder_shapes_loss_and_round_trip(tmp_path):
    torch.manual_seed(0)
    ae = ObjectAutoencoder(AutoencoderConfig(channels=(4, 8, 8)))
    sdf = torch.randn(2, 1, 64, 64, 64) * 0.1
    post = ae.encode(sdf)
    assert post.mean.shape == (2, 3, 16, 16, 16)
    rec = ae.decode(post.mean)
    assert rec.shape == sdf.shape and rec.abs().max() <= ae.config.truncation
    out = ae.loss(sdf)
    out["loss"].backward()
    assert all(p.grad is not None for p in ae.parameters())
    with pytest.raises(ValueError, match="expected an SDF"):
        ae.encode(torch.zeros(2, 1, 32, 32, 32))
    ae.eval()
    folder = ae.save_pretrained(tmp_path / "ae")
    back = ObjectAutoencoder.from_pretrained(folder)
    assert back.config == ae.config
    torch.testing.assert_close(back.decode(post.mean), ae.decode(post.mean))


def test_sdf_iou():
    a = torch.ones(1, 1, 4, 4, 4)
    a[..., :2] = -1
    b = torch.ones(1, 1, 4, 4, 4)
    b[..., :1] = -1
    assert sdf_iou(a, a).item() == 1.0
    assert sdf_iou(a, b).item() == pytest.approx(0.5)


def test_prior_normalisation_round_trip():
    prior = tiny_prior(True)
    g = InteractionGrid(torch.randn(2, 3, 16, 16, 16), torch.rand(2, 20, 16, 16, 16) * 0.12,
                        torch.rand(2, 20, 16, 16, 16) * 0.12)
    x = prior.normalize(g)
    assert x.shape == (2, 43, 16, 16, 16)
    assert x[:, 3:].min() >= -1 and x[:, 3:].max() <= 1
    back = prior.denormalize(x)
    for a, b in ((back.object, g.object), (back.right, g.right), (back.left, g.left)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="left-hand field"):
        prior.normalize(InteractionGrid(g.object, g.right, None))


def test_training_loss_and_cfg_dropout(monkeypatch):
    prior = tiny_prior(False)
    seen = []
    orig = prior.encode_text

    def spy(texts):
        seen.append(list(texts))
        return orig(texts)

    monkeypatch.setattr(prior, "encode_text", spy)
    x0 = torch.randn(64, 23, 8, 8, 8) * 0.5  # the UNet runs on any even grid: small for speed
    texts = ["grasp a mug with the right hand"] * 64
    loss = prior.training_loss(x0, texts, generator=torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    n_empty = sum(t == "" for t in seen[-1])
    assert 3 <= n_empty <= 25  # p = 0.2 of 64 (mean 12.8)
    prior.training_loss(x0, texts, cfg_dropout=0.0)
    assert all(t != "" for t in seen[-1])
    prior.training_loss(x0, texts, cfg_dropout=1.0)
    assert all(t == "" for t in seen[-1])
    # fixed generator -> identical loss (validation is reproducible)
    g1 = prior.training_loss(x0, texts, generator=torch.Generator().manual_seed(5), cfg_dropout=0.0)
    g2 = prior.training_loss(x0, texts, generator=torch.Generator().manual_seed(5), cfg_dropout=0.0)
    assert g1.item() == g2.item()


def test_guidance_and_sampling_shapes():
    prior = tiny_prior(True).eval()
    cond = prior.encode_text(["grasp a box with both hands"] * 2)
    unc = prior.encode_text(["", ""])
    x = torch.randn(2, 43, 16, 16, 16)
    t = torch.tensor([500, 500])
    e1 = prior.guided_eps(x, t, cond, unc, 1.0)
    e_c, e_u = prior(x, t, cond), prior(x, t, unc)
    torch.testing.assert_close(e1, e_c)
    e4 = prior.guided_eps(x, t, cond, unc, 4.0)
    torch.testing.assert_close(e4, e_u + 4.0 * (e_c - e_u), atol=1e-4, rtol=1e-3)
    s1 = prior.sample(["grasp a box with both hands"] * 2, steps=4, generator=torch.Generator().manual_seed(0),
                      progress=False)
    s2 = prior.sample(["grasp a box with both hands"] * 2, steps=4, generator=torch.Generator().manual_seed(0),
                      progress=False)
    assert s1.shape == (2, 43, 16, 16, 16) and torch.isfinite(s1).all()
    torch.testing.assert_close(s1, s2)  # DDIM is deterministic given the seed


def test_text_embedding_cat_pads():
    a = TextEmbedding(torch.ones(1, 2, 4), torch.ones(1, 2, dtype=torch.bool), torch.ones(1, 4))
    b = TextEmbedding(torch.ones(2, 5, 4), torch.ones(2, 5, dtype=torch.bool), torch.ones(2, 4))
    c = TextEmbedding.cat([a, b])
    assert c.tokens.shape == (3, 5, 4) and c.mask[0].tolist() == [True, True, False, False, False]


@pytest.mark.parametrize("input_init,single_skip", [("zero", True), ("copy", True), ("zero", False)])
def test_widening_reproduces_single_hand_prediction(input_init, single_skip):
    single = tiny_prior(False, input_skip=single_skip).eval()
    assert single.config.unet.input_skip == single_skip
    wide = widen_to_bimanual(single, input_init=input_init).eval()
    assert wide.config.unet.input_skip  # a widened model always gets the skip (zero when the single had none)
    assert wide.config.bimanual and wide.config.unet.in_channels == 43
    assert wide.config.latent_scale == single.config.latent_scale
    x1 = torch.randn(3, 23, 16, 16, 16)
    left = torch.randn(3, 20, 16, 16, 16) if input_init == "zero" else torch.zeros(3, 20, 16, 16, 16)
    x2 = torch.cat([x1, left], 1)
    t = torch.tensor([5, 400, 999])
    text = single.encode_text(["grasp a box with the right hand"] * 3)
    with torch.no_grad():
        e1, e2 = single(x1, t, text), wide(x2, t, text)
    torch.testing.assert_close(e2[:, :23], e1, atol=1e-5, rtol=1e-4)
    w = wide.unet.conv_out.weight
    torch.testing.assert_close(w[23:43], w[3:23])  # left output = copy of right
    if input_init == "zero":
        assert wide.unet.conv_in.weight[:, 23:].abs().sum() == 0
    else:
        torch.testing.assert_close(wide.unet.conv_in.weight[:, 23:], wide.unet.conv_in.weight[:, 3:23])
    g = wide.unet.skip_gain
    for half in (0, 43):  # gains, then offsets: left rows copy the right rows
        torch.testing.assert_close(g.weight[half + 23:half + 43], g.weight[half + 3:half + 23])
    if not single_skip:
        assert g.weight.abs().sum() == 0 and g.bias.abs().sum() == 0
    else:
        assert g.weight.abs().sum() > 0
        with pytest.raises(ValueError, match="input skip"):
            widen_to_bimanual(single, input_skip=False)
    assert len(io_parameters(wide)) == 6
    with pytest.raises(ValueError, match="single-hand"):
        widen_to_bimanual(wide)


def test_input_skip_passes_every_channel_and_old_configs_load_without_it():
    """The skip gives the net a full-rank path from input to output: with gain 1 and the rest of the
    network silent, the output is the input itself, in all 43 channels (32 first-level features
    could not carry them); configs saved before the skip existed load as models without it."""
    net = UNet3D(UNetConfig(in_channels=43, **TINY_UNET))
    with torch.no_grad():
        net.skip_gain.bias[:43] = 1.0  # a = 1, b = 0, conv_out is zero at start
    x = torch.randn(2, 43, 16, 16, 16)
    ctx = torch.randn(2, 5, 16)
    y = net(x, torch.tensor([3, 700]), ctx, torch.ones(2, 5, dtype=torch.bool), ctx.mean(1))
    torch.testing.assert_close(y, x)
    old = {k: v for k, v in UNetConfig(in_channels=43, **TINY_UNET).to_dict().items() if k != "input_skip"}
    cfg = UNetConfig.from_dict(old)
    assert cfg.input_skip is False and not hasattr(UNet3D(cfg), "skip_gain")
    assert UNetConfig.from_dict({**old, "input_skip": True}).input_skip


def test_prior_save_load_round_trip(tmp_path):
    prior = tiny_prior(True).eval()
    folder = prior.save_pretrained(tmp_path / "p", extra={"training": {"steps": 3}})
    meta = json.loads((folder / "config.json").read_text())
    assert meta["model_type"] == "prior" and meta["training"]["steps"] == 3
    assert not any(k.startswith("_text") or "word_embeddings" in k for k in prior.state_dict())  # encoder never saved
    assert "alphas_cumprod" not in prior.state_dict()
    back = InteractionPrior.from_pretrained(folder, text_encoder=prior.text_encoder)
    assert back.config == prior.config
    x = torch.randn(1, 43, 16, 16, 16)
    t = torch.tensor([100])
    text = prior.encode_text(["grasp a mug with both hands"])
    torch.testing.assert_close(back(x, t, text), prior(x, t, text))


def test_bad_checkpoints(tmp_path):
    prior = tiny_prior(True)
    with pytest.raises(CheckpointError, match="does not exist"):
        InteractionPrior.from_pretrained(tmp_path / "nothing")
    folder = prior.save_pretrained(tmp_path / "p")
    # wrong model type
    with pytest.raises(CheckpointError, match="not a 'autoencoder' model"):
        ObjectAutoencoder.from_pretrained(folder)
    # truncated weights
    w = folder / WEIGHTS_NAME
    data = w.read_bytes()
    w.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        InteractionPrior.from_pretrained(folder, text_encoder=prior.text_encoder)
    # weights from another architecture
    other = replace(prior.config, unet=replace(prior.config.unet, base_channels=16))
    InteractionPrior(other, text_encoder=prior.text_encoder).save_pretrained(tmp_path / "q")
    meta = json.loads((tmp_path / "q" / "config.json").read_text())
    meta["config"] = prior.config.to_dict()
    (tmp_path / "q" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="do not match"):
        InteractionPrior.from_pretrained(tmp_path / "q", text_encoder=prior.text_encoder)
    # garbled config
    (tmp_path / "q" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        InteractionPrior.from_pretrained(tmp_path / "q")
    # unknown keys
    meta["config"]["mystery"] = 1
    (tmp_path / "q" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="unknown prior config keys"):
        InteractionPrior.from_pretrained(tmp_path / "q")


def test_default_text_encoder_offline():
    from bghop.models.text import load_text_encoder

    enc = load_text_encoder()
    e = enc.encode(["grasp a mug with both hands", ""])
    assert e.tokens.shape[0] == 2 and e.tokens.shape[2] == 384
    assert e.mask[1].sum() == 2  # [CLS] [SEP] for the empty prompt
    a, b = enc.encode(["grasp a mug with both hands"]).pooled, enc.encode(["grasp a pan with both hands"]).pooled
    c = enc.encode(["grasp a cup with both hands"]).pooled
    cos = torch.nn.functional.cosine_similarity
    assert cos(a, c) > cos(a, b)  # mug is closer to cup than to pan

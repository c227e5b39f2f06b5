
import pytest
import torch

from bghop.core.rotations import axis_angle_to_matrix
from bghop.core.transforms import (
    apply_transform,
    compose,
    invert_transform,
    kabsch,
    make_transform,
    scale_transform,
    umeyama,
)


def _rand_rot(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return axis_angle_to_matrix(torch.randn(*shape, 3, generator=g, dtype=torch.float64))


def test_make_invert_apply_compose():
    R = _rand_rot(5)
    t = torch.randn(5, 3, dtype=torch.float64)
    s = torch.rand(5, dtype=torch.float64) + 0.5
    T = make_transform(R, t, s)
    Ti = invert_transform(T)
    eye = torch.eye(4, dtype=torch.float64).expand(5, 4, 4)
    torch.testing.assert_close(compose(T, Ti), eye, atol=1e-12, rtol=0)
    torch.testing.assert_close(Ti, torch.linalg.inv(T), atol=1e-12, rtol=0)
    p = torch.randn(5, 11, 3, dtype=torch.float64)
    expected = s[:, None, None] * (p @ R.transpose(-1, -2)) + t[:, None]
    torch.testing.assert_close(apply_transform(T, p), expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(apply_transform(Ti, apply_transform(T, p)), p, atol=1e-12, rtol=0)


def test_scale_transform():
    c = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)
    T = scale_transform(5.0, c)
    p = torch.tensor([[0.3, 0.0, 0.3]], dtype=torch.float64)
    torch.testing.assert_close(apply_transform(T, p), 5.0 * (p - c), atol=1e-12, rtol=0)


def test_make_transform_requires_something():
    with pytest.raises(ValueError):
        make_transform()


@pytest.mark.parametrize("with_scale", [False, True])
def test_umeyama_recovers_known_transform(with_scale):
    R = _rand_rot(8, seed=3)
    t = torch.randn(8, 3, dtype=torch.float64)
    s = (torch.rand(8, dtype=torch.float64) + 0.5) if with_scale else torch.ones(8, dtype=torch.float64)
    src = torch.randn(8, 20, 3, dtype=torch.float64)
    dst = s[:, None, None] * src @ R.transpose(-1, -2) + t[:, None]
    fit = umeyama(src, dst, with_scale=with_scale)
    torch.testing.assert_close(fit.R, R, atol=1e-9, rtol=0)
    torch.testing.assert_close(fit.t, t, atol=1e-9, rtol=0)
    torch.testing.assert_close(fit.scale, s, atol=1e-9, rtol=0)
    torch.testing.assert_close(fit.apply(src), dst, atol=1e-9, rtol=0)
    torch.testing.assert_close(apply_transform(fit.matrix(), src), dst, atol=1e-9, rtol=0)


def test_kabsch_reflection_fix():
    """A reflected target must still give a proper rotation, the best one (Umeyama 1991)."""
    g = torch.Generator().manual_seed(0)
    # nearly planar cloud: the best proper rotation flips the thin (smallest-variance) axis
    src = torch.randn(200, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 0.5, 0.01], dtype=torch.float64)
    mirror = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    R0 = _rand_rot(seed=5)
    dst = src @ (R0 @ mirror).T
    fit = kabsch(src, dst)
    assert torch.linalg.det(fit.R).item() == pytest.approx(1.0, abs=1e-9)
    # the thin axis (std 0.01) is the one flipped, so residuals stay at its scale
    resid = (fit.apply(src) - dst).norm(dim=-1).max().item()
    assert resid < 0.1
    # local optimality among proper rotations: perturbing R (and refitting t) never helps
    err = ((fit.apply(src) - dst) ** 2).sum().item()
    for a in (-0.05, -0.01, 0.01, 0.05):
        for axis in torch.eye(3, dtype=torch.float64):
            Rc = axis_angle_to_matrix(axis * a) @ fit.R
            moved = src @ Rc.T
            t = (dst - moved).mean(0)
            assert ((moved + t - dst) ** 2).sum().item() >= err - 1e-9


def test_kabsch_reflection_wrong_axis_would_be_worse():
    """Flipping the axis of the largest singular value (the upstream bug) gives a worse fit."""
    g = torch.Generator().manual_seed(1)
    src = torch.randn(100, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 0.4, 0.02], dtype=torch.float64)
    dst = src * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    fit = kabsch(src, dst)
    xs, xd = src - src.mean(0), dst - dst.mean(0)
    U, _, Vh = torch.linalg.svd(xd.T @ xs)
    wrong = U @ torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)) @ Vh
    assert torch.linalg.det(wrong).item() == pytest.approx(1.0, abs=1e-9)
    err_ok = ((fit.apply(src) - dst) ** 2).sum()
    err_wrong = ((xs @ wrong.T - xd) ** 2).sum()
    assert err_ok < 0.1 * err_wrong


def test_umeyama_weights_and_gradients():
    src = torch.randn(2, 10, 3, dtype=torch.float64)
    R = _rand_rot(2, seed=9)
    dst = src @ R.transpose(-1, -2)
    dst[:, 0] += 10.0  # outlier
    w = torch.ones(2, 10, dtype=torch.float64)
    w[:, 0] = 0.0
    fit = kabsch(src, dst, weights=w)
    torch.testing.assert_close(fit.R, R, atol=1e-9, rtol=0)
    src_g = src.clone().requires_grad_()
    out = umeyama(src_g, dst).apply(src_g)
    out.sum().backward()
    assert torch.isfinite(src_g.grad).all()


def test_umeyama_shape_error():
    with pytest.raises(ValueError):
        umeyama(torch.zeros(5, 3), torch.zeros(4, 3))

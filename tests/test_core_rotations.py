import math

import pytest
import torch

from bghop.core.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_rot6d,
    matrix_to_axis_angle,
    matrix_to_rot6d,
    rot6d_to_axis_angle,
    rot6d_to_matrix,
    skew,
)


def _random_rotations(n, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n, 4, generator=g, dtype=dtype)
    q = q / q.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ],
        -1,
    ).reshape(n, 3, 3)  # fmt: skip


def test_rodrigues_matches_matrix_exponential():
    aa = torch.randn(64, 3, dtype=torch.float64) * 2
    expected = torch.linalg.matrix_exp(skew(aa))
    torch.testing.assert_close(axis_angle_to_matrix(aa), expected, atol=1e-10, rtol=0)


def test_axis_angle_round_trip_any_leading_dims():
    aa = torch.randn(4, 5, 7, 3, dtype=torch.float64)
    aa = aa / aa.norm(dim=-1, keepdim=True) * torch.rand(4, 5, 7, 1, dtype=torch.float64) * (math.pi - 1e-3)
    back = matrix_to_axis_angle(axis_angle_to_matrix(aa))
    assert back.shape == aa.shape
    torch.testing.assert_close(back, aa, atol=1e-9, rtol=0)


def test_matrix_round_trip_random_rotations():
    R = _random_rotations(500)
    torch.testing.assert_close(axis_angle_to_matrix(matrix_to_axis_angle(R)), R, atol=1e-9, rtol=0)


@pytest.mark.parametrize("axis", [(1.0, 0, 0), (0, 1.0, 0), (0, 0, 1.0), (1.0, 1.0, 0), (1.0, -2.0, 3.0)])
def test_angle_pi(axis):
    a = torch.tensor(axis, dtype=torch.float64)
    aa = a / a.norm() * math.pi
    R = axis_angle_to_matrix(aa)
    back = matrix_to_axis_angle(R)
    assert back.norm().item() == pytest.approx(math.pi, abs=1e-9)
    # at π the axis is defined up to sign; both give the same matrix
    assert torch.allclose(back, aa, atol=1e-7) or torch.allclose(back, -aa, atol=1e-7)
    torch.testing.assert_close(axis_angle_to_matrix(back), R, atol=1e-9, rtol=0)


def test_identity_and_small_angles():
    for eps in (0.0, 1e-9, 1e-6, 1e-4):
        aa = torch.tensor([eps, -2 * eps, eps * 0.5], dtype=torch.float64)
        R = axis_angle_to_matrix(aa)
        torch.testing.assert_close(R, torch.linalg.matrix_exp(skew(aa)), atol=1e-12, rtol=0)
        torch.testing.assert_close(matrix_to_axis_angle(R), aa, atol=1e-12, rtol=0)


def test_rot6d_round_trip_and_gram_schmidt():
    R = _random_rotations(100, seed=1)
    torch.testing.assert_close(rot6d_to_matrix(matrix_to_rot6d(R)), R, atol=1e-12, rtol=0)
    d6 = torch.randn(3, 2, 6, dtype=torch.float64)
    M = rot6d_to_matrix(d6)
    eye = torch.eye(3, dtype=torch.float64).expand_as(M)
    torch.testing.assert_close(M.transpose(-1, -2) @ M, eye, atol=1e-12, rtol=0)
    torch.testing.assert_close(torch.linalg.det(M), torch.ones(3, 2, dtype=torch.float64), atol=1e-12, rtol=0)
    aa = torch.randn(10, 3, dtype=torch.float64)
    aa = aa / aa.norm(dim=-1, keepdim=True) * 2.0
    torch.testing.assert_close(rot6d_to_axis_angle(axis_angle_to_rot6d(aa)), aa, atol=1e-9, rtol=0)


def test_gradients_are_finite_and_correct():
    # at zero (Taylor branch) the derivative of R w.r.t. aa is the skew generator
    aa = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (aa,))
    aa = (torch.randn(4, 3, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (aa,))
    assert torch.autograd.gradcheck(matrix_to_axis_angle, (axis_angle_to_matrix(aa.detach()).requires_grad_(),))
    d6 = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(rot6d_to_matrix, (d6,))
    # near identity matrix_to_axis_angle must not produce NaN gradients
    R = torch.eye(3, dtype=torch.float64).repeat(2, 1, 1).requires_grad_()
    matrix_to_axis_angle(R).sum().backward()
    assert torch.isfinite(R.grad).all()


def test_dtype_device_preserved():
    aa = torch.randn(2, 3, dtype=torch.float32)
    assert axis_angle_to_matrix(aa).dtype == torch.float32
    assert matrix_to_axis_angle(axis_angle_to_matrix(aa)).dtype == torch.float32

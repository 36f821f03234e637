import numpy as np
import pytest
import torch

from edgetokens.pose.metrics import mean_velocity_error, mpjpe, n_mpjpe, p_mpjpe, procrustes_align


def random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_mpjpe_known_value_and_torch():
    target = np.zeros((2, 17, 3))
    pred = target.copy()
    pred[..., 0] = 3.0
    pred[..., 1] = 4.0
    assert mpjpe(pred, target) == pytest.approx(5.0)
    assert mpjpe(pred, target, reduce=False).shape == (2, 17)
    assert float(mpjpe(torch.tensor(pred), torch.tensor(target))) == pytest.approx(5.0)


def test_p_mpjpe_zero_for_similarity_transform_and_invariant():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(6, 17, 3))
    pred = target + rng.normal(scale=0.05, size=target.shape)
    base = p_mpjpe(pred, target)
    assert base > 0
    moved = np.stack([1.7 * f @ random_rotation(rng).T + rng.normal(size=3) for f in pred])
    assert p_mpjpe(moved, target) == pytest.approx(base, rel=1e-9)
    exact = np.stack([0.4 * f @ random_rotation(rng).T + rng.normal(size=3) for f in target])
    assert p_mpjpe(exact, target) < 1e-9
    assert mpjpe(exact, target) > 0.1


def test_p_mpjpe_does_not_allow_reflections():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(1, 17, 3))
    mirrored = target * np.array([-1, 1, 1])
    assert p_mpjpe(mirrored, target) > 0.1
    assert procrustes_align(mirrored, target).shape == target.shape


def test_n_mpjpe_removes_scale_only():
    rng = np.random.default_rng(2)
    target = rng.normal(size=(3, 17, 3))
    assert n_mpjpe(2.5 * target, target) < 1e-9
    assert n_mpjpe(target + 1.0, target) > 0.1
    assert float(n_mpjpe(torch.tensor(0.5 * target), torch.tensor(target))) < 1e-6


def test_velocity_error():
    target = np.zeros((5, 17, 3))
    pred = np.arange(5.0)[:, None, None] * np.array([0.0, 0.0, 2.0])
    pred = np.broadcast_to(pred, target.shape)
    assert mean_velocity_error(pred, target) == pytest.approx(2.0)
    assert mean_velocity_error(target + 3.0, target) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        mean_velocity_error(target[:1], target[:1])


def test_shape_mismatch():
    with pytest.raises(ValueError, match="differ"):
        mpjpe(np.zeros((2, 17, 3)), np.zeros((3, 17, 3)))

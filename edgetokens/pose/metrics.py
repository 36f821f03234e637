"""3D pose errors: MPJPE, P-MPJPE, N-MPJPE and mean per-joint velocity error.

Inputs are (..., J, 3) positions with matching shapes; results are in the inputs' units (metres
in this project: multiply by 1000 for mm). :func:`mpjpe`, :func:`n_mpjpe` and
:func:`mean_velocity_error` also accept torch tensors (and stay differentiable);
:func:`p_mpjpe` is numpy only.
"""

from __future__ import annotations

import numpy as np

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


def _check_pair(pred, target) -> None:
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(f"prediction and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if pred.ndim < 2:
        raise ValueError(f"expected (..., J, C) positions; got {tuple(pred.shape)}")


def _norm(x):
    if torch is not None and isinstance(x, torch.Tensor):
        return torch.linalg.vector_norm(x, dim=-1)
    return np.linalg.norm(x, axis=-1)


def _reduce(err, reduce: bool):
    if not reduce:
        return err
    if torch is not None and isinstance(err, torch.Tensor):
        return err.mean()
    return float(np.mean(err))


def mpjpe(pred, target, reduce: bool = True):
    """Mean per-joint position error; ``reduce=False`` returns per-joint errors (...,J)."""
    _check_pair(pred, target)
    return _reduce(_norm(pred - target), reduce)


def n_mpjpe(pred, target, reduce: bool = True):
    """MPJPE after the per-frame least-squares scale ``s = <p, t> / <p, p>`` is applied to pred."""
    _check_pair(pred, target)
    num = (pred * target).sum(-1).sum(-1)
    den = (pred * pred).sum(-1).sum(-1)
    scale = num / (den + 1e-12)
    return _reduce(_norm(scale[..., None, None] * pred - target), reduce)


def procrustes_align(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Align each frame of ``pred`` to ``target`` with the best similarity transform (Umeyama):
    scale, rotation (reflections excluded via the sign of det) and translation."""
    _check_pair(pred, target)
    shape = pred.shape
    p = np.asarray(pred, dtype=np.float64).reshape(-1, shape[-2], shape[-1])
    t = np.asarray(target, dtype=np.float64).reshape(-1, shape[-2], shape[-1])
    mu_p, mu_t = p.mean(1, keepdims=True), t.mean(1, keepdims=True)
    p0, t0 = p - mu_p, t - mu_t
    cov = np.einsum("fji,fjk->fik", t0, p0)  # sum_j t_j p_j^T
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    d[d == 0] = 1
    s[:, -1] *= d
    u[:, :, -1] *= d[:, None]
    rot = u @ vt  # maps centred pred onto centred target
    var_p = (p0**2).sum((1, 2))
    scale = s.sum(1) / np.maximum(var_p, 1e-12)
    aligned = scale[:, None, None] * np.einsum("fik,fjk->fji", rot, p0) + mu_t
    return aligned.reshape(shape)


def p_mpjpe(pred: np.ndarray, target: np.ndarray, reduce: bool = True):
    """MPJPE after per-frame similarity Procrustes alignment of pred to target (Protocol 2)."""
    if torch is not None and isinstance(pred, torch.Tensor):
        pred = pred.detach().cpu().numpy()
    if torch is not None and isinstance(target, torch.Tensor):
        target = target.detach().cpu().numpy()
    aligned = procrustes_align(pred, target)
    return _reduce(np.linalg.norm(aligned - np.asarray(target, np.float64), axis=-1), reduce)


def mean_velocity_error(pred, target, reduce: bool = True):
    """Mean per-joint error of frame-to-frame velocities; time is the axis before joints (..., T, J, C)."""
    _check_pair(pred, target)
    if pred.ndim < 3 or pred.shape[-3] < 2:
        raise ValueError(f"velocity error needs (..., T>=2, J, C) sequences; got {tuple(pred.shape)}")
    vel_p = pred[..., 1:, :, :] - pred[..., :-1, :, :]
    vel_t = target[..., 1:, :, :] - target[..., :-1, :, :]
    return _reduce(_norm(vel_p - vel_t), reduce)

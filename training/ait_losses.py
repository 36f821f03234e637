"""AiT depth training losses (specs/AIT.md §2.2, §2.5, §3, §7.2), depth in metres, target 0 = invalid pixel.

Stage 1 (VQ-VAE): mse_ignore_zero(reconstruction of mask_patches(depth), depth) + commitment.
Stage 2 (solver): token_cross_entropy + aux_weight * silog_loss(soft-decoded depth, depth) = `ait_depth_loss`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from edgetokens.vision.depth import MIN_DEPTH


def mask_patches(depth: torch.Tensor, ratio: float = 0.5, patch: int = 16,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """A copy of depth (B, 1, H, W) with ceil(ratio * n_patches) random patch x patch squares per sample set to 0.

    The mask augmentation of the depth VQ-VAE's encoder input; the reconstruction target stays unmasked.
    """
    if depth.ndim != 4 or depth.shape[2] % patch or depth.shape[3] % patch:
        raise ValueError(f"depth must be (batch, channels, H, W) with H and W multiples of {patch}, "
                         f"got {tuple(depth.shape)}")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must lie in [0, 1], got {ratio}")
    b, _, h, w = depth.shape
    rows, cols = h // patch, w // patch
    n_masked = math.ceil(ratio * rows * cols)
    order = torch.rand(b, rows * cols, generator=generator).argsort(dim=1)
    keep = torch.ones(b, rows * cols, dtype=depth.dtype)
    keep.scatter_(1, order[:, :n_masked], 0.0)
    keep = keep.reshape(b, 1, rows, 1, cols, 1).expand(b, 1, rows, patch, cols, patch).reshape(b, 1, h, w)
    return depth * keep.to(depth.device)


def _valid(target: torch.Tensor) -> torch.Tensor:
    return (target > 0).detach()


def mse_ignore_zero(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the pixels with target > 0 (0 with a graph when there are none)."""
    valid = _valid(target)
    if not valid.any():
        return pred.sum() * 0.0
    return (pred[valid] - target[valid]).square().mean()


def silog_loss(pred: torch.Tensor, target: torch.Tensor, lam: float = 0.5) -> torch.Tensor:
    """sqrt(mean d^2 - lam (mean d)^2), d = log pred - log target over target > 0, pred clipped at 1e-3.

    No x10 factor, as the official code. With lam < 1 it is not scale invariant.
    """
    valid = _valid(target)
    if not valid.any():
        return pred.sum() * 0.0
    d = torch.log(pred.clamp_min(MIN_DEPTH)[valid]) - torch.log(target[valid])
    return torch.sqrt(d.square().mean() - lam * d.mean().square())


def token_cross_entropy(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Mean CE of logits (B, L, V) over the full vocabulary against vocabulary ids (B, L); -100 is ignored.

    The official code sums CE and divides by the number of supervised tokens: the same mean.
    """
    return F.cross_entropy(logits.flatten(0, 1), ids.flatten(), ignore_index=-100)


def ait_depth_loss(logits: torch.Tensor, ids: torch.Tensor, depth_pred: torch.Tensor, depth_target: torch.Tensor,
                   aux_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """Stage-2 loss {'loss', 'ce', 'silog'}: CE on the code tokens + aux_weight * SiLog on the soft-decoded depth.

    The official loss is (sum CE + w * silog * n_tokens) / n_tokens, i.e. mean CE + w * silog.
    `ids` are vocabulary ids (code ids + the solver's code_offset, which is 0 for the depth-only vocabulary).
    """
    parts = {"ce": token_cross_entropy(logits, ids), "silog": silog_loss(depth_pred, depth_target)}
    parts["loss"] = parts["ce"] + aux_weight * parts["silog"]
    return parts

"""The HoT / MixSTE training loss (specs/HOT.md §6.1), in metres on root-relative poses.

L = weighted MPJPE + 0.5 * temporal consistency + 2.0 * mean velocity error.
"""
from __future__ import annotations

import torch

# Per-joint weights of the official code, H36M-17 order: extremities count more.
JOINT_WEIGHTS = (1, 1, 2.5, 2.5, 1, 2.5, 2.5, 1, 1, 1, 1.5, 1.5, 4, 4, 1.5, 4, 4)


def _weights(like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(JOINT_WEIGHTS, dtype=like.dtype, device=like.device)


def weighted_mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (_weights(pred) * (pred - target).norm(dim=-1)).mean()


def temporal_consistency(pred: torch.Tensor) -> torch.Tensor:
    """Smoothness of the prediction alone (not compared with the target)."""
    diff = pred[:, 1:] - pred[:, :-1]
    return (_weights(pred)[:, None] * diff.square()).mean()


def mean_velocity_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    velocity_error = (pred[:, 1:] - pred[:, :-1]) - (target[:, 1:] - target[:, :-1])
    return velocity_error.norm(dim=-1).mean()


def hot_loss(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """pred, target (B, F, J, 3) -> {'loss', 'wmpjpe', 'tc', 'mv'}."""
    parts = {
        "wmpjpe": weighted_mpjpe(pred, target),
        "tc": temporal_consistency(pred),
        "mv": mean_velocity_loss(pred, target),
    }
    parts["loss"] = parts["wmpjpe"] + 0.5 * parts["tc"] + 2.0 * parts["mv"]
    return parts

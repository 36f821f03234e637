"""The soft-token auxiliary loss of the instance masks (specs/AIT.md §2.5), as the official `loss2`."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def dice_loss(pred_probs: torch.Tensor, target_masks: torch.Tensor) -> torch.Tensor:
    """Mean over masks of 1 - (2 |p t| + 1) / (|p| + |t| + 1), p clipped to [0, 1]; (N, ...) -> scalar."""
    pred = pred_probs.clamp(0.0, 1.0).flatten(1)
    target = target_masks.to(pred.dtype).flatten(1)
    dice = (2 * (pred * target).sum(-1) + 1) / (pred.sum(-1) + target.sum(-1) + 1)
    return (1 - dice).mean()


def mask_aux_loss(pred_probs: torch.Tensor, target_masks: torch.Tensor, dice_weight: float = 1.0) -> torch.Tensor:
    """Dice + MSE between soft-decoded masks (N, 1, 64, 64), ~[0, 1] and the binary ground-truth crops.

    Apply it to the real objects only (the first slots of a training sequence, at most 100 in the paper)
    and scale it as the official code: loss weight (5.0) x the number of supervised mask tokens x the mask
    token weight (0.2), so that it sits on the scale of the summed cross-entropy. MSE is on the
    unclipped prediction; N = 0 gives 0.
    """
    if pred_probs.shape != target_masks.shape:
        raise ValueError(f"pred_probs {tuple(pred_probs.shape)} and target_masks {tuple(target_masks.shape)} "
                         "must have the same shape")
    if pred_probs.shape[0] == 0:
        return pred_probs.sum() * 0.0
    target = target_masks.to(pred_probs.dtype)
    return dice_weight * dice_loss(pred_probs, target) + F.mse_loss(pred_probs, target)

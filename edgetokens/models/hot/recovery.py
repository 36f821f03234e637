"""TRA, HoT's token recovering attention: from the kept frames back to the full clip length.

One learnable, zero-initialised query per output frame (shared by all joints) cross-attends to the
kept tokens of the same joint; the result is added onto the queries. No norm, no MLP (as official).

`interpolated=True` (config `recovery="interpolated-attention"`, the edge defaults) adds to each
query the kept tokens linearly interpolated in time at its frame. The official zero queries are all
alike, so TRA starts out giving every frame of a clip the same pose and, on our small budgets, never
learns to tell frames apart (measured: the official form's predictions did not move within a clip).
Interpolated queries start time-resolved and the attention learns a correction on top.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import CrossAttention

RECOVERY_MODES = ("attention", "interpolated-attention")


def interpolation_weights(keep_index: torch.Tensor, frames: int) -> torch.Tensor:
    """Linear interpolation in time from kept frames to all frames: (B, T) ascending -> (B, F, T).

    Row f holds the weights of the kept frames at frame f: the two kept frames around f share it
    linearly; frames before the first (after the last) kept frame copy it. Rows sum to 1. Plain
    element-wise maths, so it exports without TopK or search ops.
    """
    knots = keep_index.to(torch.float32)[:, None, :]  # (B, 1, T)
    f = torch.arange(frames, dtype=torch.float32, device=keep_index.device)[None, :, None]  # (1, F, 1)
    left = torch.cat([knots[..., :1] - 1.0, knots[..., :-1]], dim=-1)
    right = torch.cat([knots[..., 1:], knots[..., -1:] + 1.0], dim=-1)
    rising = ((f - left) / (knots - left)).clamp(0.0, 1.0)
    falling = ((right - f) / (right - knots)).clamp(0.0, 1.0)
    position = torch.arange(knots.shape[-1], device=keep_index.device)
    rising = torch.where(position == 0, torch.ones_like(rising), rising)
    falling = torch.where(position == knots.shape[-1] - 1, torch.ones_like(falling), falling)
    return torch.where(f <= knots, rising, falling)


class TokenRecoveringAttention(nn.Module):
    def __init__(self, frames: int, dim: int, heads: int, interpolated: bool = False):
        super().__init__()
        self.interpolated = interpolated
        self.queries = nn.Parameter(torch.zeros(1, frames, dim))
        self.attn = CrossAttention(dim, heads)

    def forward(self, kept: torch.Tensor, keep_index: torch.Tensor | None = None) -> torch.Tensor:
        """kept (B, T, J, C), keep_index (B, T) ascending -> (B, F, J, C)."""
        b, t, j, c = kept.shape
        frames = self.queries.shape[1]
        context = kept.transpose(1, 2).reshape(b * j, t, c)
        queries = self.queries.expand(b * j, -1, -1)
        if self.interpolated:
            if keep_index is None:
                raise ValueError("interpolated recovery needs the kept frame indices")
            weights = interpolation_weights(keep_index, frames).to(kept.dtype)  # (B, F, T)
            spread = (weights @ kept.reshape(b, t, j * c)).reshape(b, frames, j, c)
            queries = queries + spread.transpose(1, 2).reshape(b * j, frames, c)
        out = queries + self.attn(queries, context)
        return out.reshape(b, j, frames, c).transpose(1, 2)

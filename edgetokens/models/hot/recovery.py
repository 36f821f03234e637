"""TRA, HoT's token recovering attention: from the kept frames back to the full clip length.

One learnable, zero-initialised query per output frame (shared by all joints) cross-attends to the
kept tokens of the same joint; the result is added onto the queries. No norm, no MLP (as official).
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import CrossAttention


class TokenRecoveringAttention(nn.Module):
    def __init__(self, frames: int, dim: int, heads: int):
        super().__init__()
        self.queries = nn.Parameter(torch.zeros(1, frames, dim))
        self.attn = CrossAttention(dim, heads)

    def forward(self, kept: torch.Tensor) -> torch.Tensor:
        """kept (B, T, J, C) -> (B, F, J, C)."""
        b, t, j, c = kept.shape
        context = kept.transpose(1, 2).reshape(b * j, t, c)
        queries = self.queries.expand(b * j, -1, -1)
        out = queries + self.attn(queries, context)
        return out.reshape(b, j, -1, c).transpose(1, 2)

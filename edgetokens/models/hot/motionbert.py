"""MotionBERT's DSTformer (Zhu et al., ICCV 2023) and HoT-MotionBERT.

Each layer runs a spatial-then-temporal and a temporal-then-spatial block in parallel and fuses them
with learned per-token weights. With `token_num` set, TPC prunes frames before layer `layer_index`
(on the un-normalised stream) and TRA recovers all frames after the final norm.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import PoseLifter
from .config import MotionBERTConfig
from .layers import Block, spatial_to_temporal, temporal_to_spatial


class DualStreamBlock(nn.Module):
    """One DSTformer block: `spatial` and `temporal` sub-blocks applied in `order` ('st' or 'ts')."""

    def __init__(self, dim: int, heads: int, mlp_hidden: int, order: str, drop_path: float):
        super().__init__()
        self.order = order
        self.spatial = Block(dim, heads, mlp_hidden, drop_path)
        self.temporal = Block(dim, heads, mlp_hidden, drop_path)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        """x (B*F, J, C) -> (B*F, J, C)."""
        joints = x.shape[1]
        for part in self.order:
            if part == "s":
                x = self.spatial(x)
            else:
                x = temporal_to_spatial(self.temporal(spatial_to_temporal(x, frames)), joints)
        return x


class MotionBERT(PoseLifter):
    def __init__(self, config: MotionBERTConfig):
        super().__init__(config)
        c = config
        self.joint_embed = nn.Linear(c.in_channels, c.embed_dim)
        self.spatial_pos_embed = nn.Parameter(torch.zeros(1, c.joints, c.embed_dim))
        self.temporal_pos_embed = nn.Parameter(torch.zeros(1, c.frames, 1, c.embed_dim))
        rates = torch.linspace(0, c.drop_path, c.depth).tolist()
        self.st_blocks = nn.ModuleList(DualStreamBlock(c.embed_dim, c.heads, c.mlp_hidden, "st", r) for r in rates)
        self.ts_blocks = nn.ModuleList(DualStreamBlock(c.embed_dim, c.heads, c.mlp_hidden, "ts", r) for r in rates)
        self.fusion = nn.ModuleList(nn.Linear(2 * c.embed_dim, 2) for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.embed_dim, eps=1e-6)
        self.pre_logits = nn.Linear(c.embed_dim, c.dim_rep)
        self.head = nn.Linear(c.dim_rep, 3)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The official initialisation: truncated-normal(0.02) Linear weights, fusion at 50/50."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.spatial_pos_embed, std=0.02)
        nn.init.trunc_normal_(self.temporal_pos_embed, std=0.02)
        for fuse in self.fusion:
            nn.init.zeros_(fuse.weight)
            nn.init.constant_(fuse.bias, 0.5)

    def forward(self, x: torch.Tensor, keep_index: torch.Tensor | None = None, return_keep_index: bool = False):
        """x (B, F, J, 3) normalised 2D + confidence -> (B, F, J, 3) root-relative 3D."""
        self.check_input(x)
        b, f, j, _ = x.shape
        dim = self.config.embed_dim
        keypoints = x
        tokens = self.joint_embed(x) + self.spatial_pos_embed[:, None] + self.temporal_pos_embed
        tokens = tokens.reshape(b * f, j, dim)
        for i in range(self.config.depth):
            if self.config.hourglass and i == self.config.layer_index:
                kept, keep_index = self.pruner(tokens.reshape(b, f, j, dim), keypoints, keep_index)
                f = kept.shape[1]
                tokens = kept.reshape(b * f, j, dim)
            x_st = self.st_blocks[i](tokens, f)
            x_ts = self.ts_blocks[i](tokens, f)
            alpha = self.fusion[i](torch.cat([x_st, x_ts], dim=-1)).softmax(dim=-1)
            tokens = x_st * alpha[..., 0:1] + x_ts * alpha[..., 1:2]
        tokens = self.norm(tokens).reshape(b, f, j, dim)
        if self.config.hourglass:
            tokens = self.recovery(tokens, keep_index)
        else:
            keep_index = None
        out = self.head(torch.tanh(self.pre_logits(tokens)))
        return self.finish(out, keep_index, return_keep_index)

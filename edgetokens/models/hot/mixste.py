"""MixSTE (Zhang et al., CVPR 2022) and HoT-MixSTE (Li et al., CVPR 2024).

Alternating spatial (joints of one frame) and temporal (one joint over time) transformer blocks.
With `token_num` set, TPC prunes the frames before block `layer_index` and TRA recovers all frames
after the last block. Official-code names: see `official.py`.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import PoseLifter
from .config import MixSTEConfig
from .layers import Block, spatial_to_temporal


class MixSTE(PoseLifter):
    def __init__(self, config: MixSTEConfig):
        super().__init__(config)
        c = config
        self.joint_embed = nn.Linear(c.in_channels, c.embed_dim)
        self.spatial_pos_embed = nn.Parameter(torch.zeros(1, c.joints, c.embed_dim))
        self.temporal_pos_embed = nn.Parameter(torch.zeros(1, c.frames, c.embed_dim))
        rates = torch.linspace(0, c.drop_path, c.depth).tolist()
        self.spatial_blocks = nn.ModuleList(Block(c.embed_dim, c.heads, c.mlp_hidden, r) for r in rates)
        self.temporal_blocks = nn.ModuleList(Block(c.embed_dim, c.heads, c.mlp_hidden, r) for r in rates)
        # One norm each, reused after every spatial / temporal block (as the official code).
        self.spatial_norm = nn.LayerNorm(c.embed_dim, eps=1e-6)
        self.temporal_norm = nn.LayerNorm(c.embed_dim, eps=1e-6)
        self.head_norm = nn.LayerNorm(c.embed_dim, eps=1e-5)
        self.head = nn.Linear(c.embed_dim, 3)

    def spatial_temporal(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """Block pair i on tokens (B, F, J, C)."""
        b, f, j, c = x.shape
        x = self.spatial_norm(self.spatial_blocks[i](x.reshape(b * f, j, c)))
        x = spatial_to_temporal(x, f)
        if i == 0:
            x = x + self.temporal_pos_embed
        x = self.temporal_norm(self.temporal_blocks[i](x))
        return x.reshape(b, j, f, c).transpose(1, 2)

    def forward(self, x: torch.Tensor, keep_index: torch.Tensor | None = None, return_keep_index: bool = False):
        """x (B, F, J, 2) normalised 2D -> (B, F, J, 3) root-relative 3D; optionally the kept frames."""
        self.check_input(x)
        keypoints = x
        tokens = self.joint_embed(x) + self.spatial_pos_embed[:, None]
        for i in range(self.config.depth):
            if self.config.hourglass and i == self.config.layer_index:
                tokens, keep_index = self.pruner(tokens, keypoints, keep_index)
            tokens = self.spatial_temporal(tokens, i)
        if self.config.hourglass:
            tokens = self.recovery(tokens, keep_index)
        else:
            keep_index = None
        return self.finish(self.head(self.head_norm(tokens)), keep_index, return_keep_index)

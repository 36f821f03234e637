"""What MixSTE and MotionBERT share: input checks, TPC/TRA wiring, output shape."""
from __future__ import annotations

import torch
from torch import nn

from .config import PoseLifterConfig
from .pruning import TokenPruningCluster
from .recovery import TokenRecoveringAttention


class PoseLifter(nn.Module):
    """Base of the 2D-to-3D video lifters: (B, F, J, in_channels) -> (B, F, J, 3), seq2seq."""

    arch: str = ""

    def __init__(self, config: PoseLifterConfig):
        super().__init__()
        config.validate()
        self.config = config
        if config.hourglass:
            self.pruner = TokenPruningCluster(config.frames, config.token_num, config.embed_dim, config.selection)
            self.recovery = TokenRecoveringAttention(config.frames, config.embed_dim, config.heads,
                                                     interpolated=config.recovery == "interpolated-attention")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Per-sample input shape (frames, joints, channels)."""
        c = self.config
        return (c.frames, c.joints, c.in_channels)

    def check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            f, j, c = self.input_shape
            raise ValueError(
                f"{self.arch or type(self).__name__} expects input of shape (batch, {f}, {j}, {c}) "
                f"= (batch, frames, joints, channels), got {tuple(x.shape)}"
            )

    def finish(self, out: torch.Tensor, keep_index: torch.Tensor | None, return_keep_index: bool):
        if return_keep_index:
            if keep_index is None:
                keep_index = torch.arange(self.config.frames, device=out.device)[None].expand(out.shape[0], -1)
            return out, keep_index
        return out

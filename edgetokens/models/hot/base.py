"""What MixSTE and MotionBERT share: input checks, TPC/TRA wiring, output shape."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...pose.skeleton import H36M_JOINTS_LEFT, H36M_JOINTS_RIGHT
from ..signature import Signature, TensorSpec, example_batch
from .config import PoseLifterConfig
from .pruning import TokenPruningCluster
from .recovery import TokenRecoveringAttention


class PoseLifter(nn.Module):
    """Base of the 2D-to-3D video lifters: (B, F, J, in_channels) -> (B, F, J, 3), seq2seq."""

    arch: str = ""
    task: str = "pose3d"
    # Quantization: parts that may stay in float, by module name, and the modules whose attention maths
    # (matmul, softmax) may (`compression.scopes` turns them into NNCF ignored scopes; why in its docstring)
    float_parts = {"selection": ("pruner",), "embedding": ("joint_embed",), "head": ("head", "head_norm", "pre_logits")}
    attention_modules = ("attn", "recovery")
    default_keep_float = ("selection", "embedding", "attention")

    def __init__(self, config: PoseLifterConfig):
        super().__init__()
        config.validate()
        self.config = config
        if config.hourglass:
            self.pruner = TokenPruningCluster(config.frames, config.token_num, config.embed_dim, config.selection)
            self.recovery = TokenRecoveringAttention(config.frames, config.embed_dim, config.heads,
                                                     interpolated=config.recovery == "interpolated-attention")

    @staticmethod
    def upgrade_saved_config(config: dict) -> dict:
        """A checkpoint's recorded config in today's fields: HoT checkpoints written before `recovery`
        existed use the official TRA."""
        if "token_num" in config:
            config.setdefault("recovery", "attention")
        return config

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

    def graph_options(self) -> list[dict]:
        """The export options this model supports, each one way to call `signature`/`graph_forward`."""
        return [{}, {"external_selection": True}] if self.config.hourglass else [{}]

    def signature(self, batch: int = 1, external_selection: bool = False) -> Signature:
        """Graph contract: `keypoints` (B, F, J, C) -> `poses_3d` (B, F, J, 3) root-relative metres, and
        for HoT models `keep_index` (B, token_num) int64, ascending: an output of in-graph selection, or
        with `external_selection` an input (the kept frames chosen outside, for compilers lacking TopK)."""
        c = self.config
        inputs = [TensorSpec("keypoints", [batch, *self.input_shape])]
        outputs = [TensorSpec("poses_3d", [batch, c.frames, c.joints, 3])]
        index = TensorSpec("keep_index", [batch, c.token_num or c.frames], "int64")
        if c.hourglass:
            (inputs if external_selection else outputs).append(index)
        n = example_batch(batch)
        examples = {"keypoints": (0.3 * np.random.default_rng(0).standard_normal((n, *self.input_shape)))
                    .astype(np.float32)}
        if c.hourglass and external_selection:
            kept = np.linspace(0, c.frames - 1, c.token_num).round().astype(np.int64)
            examples["keep_index"] = np.repeat(kept[None], n, axis=0)
        preprocessing = {
            "skeleton": "h36m-17",
            "input_layouts": list(c.input_layouts),
            "joints_left": list(H36M_JOINTS_LEFT),
            "joints_right": list(H36M_JOINTS_RIGHT),
            "input_channels": ["x", "y", "score"][: c.in_channels],
            "normalization": "x / w * 2 - [1, h / w]",
            "output": "camera-frame metres, root-relative (joint 0 = 0)",
            "frames": c.frames,
            "test_time_flip": True,
        }
        return Signature(self.task, inputs, outputs, preprocessing, examples)

    def graph_forward(self, keypoints: torch.Tensor, keep_index: torch.Tensor | None = None,
                      external_selection: bool = False) -> tuple[torch.Tensor, ...]:
        """The exported computation, outputs in `signature()` order."""
        if not self.config.hourglass:
            return (self(keypoints),)
        if external_selection:
            return (self(keypoints, keep_index=keep_index),)
        return tuple(self(keypoints, return_keep_index=True))

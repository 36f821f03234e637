"""Architecture settings of the HoT family (one dataclass per backbone, shared validation)."""
from __future__ import annotations

from dataclasses import dataclass

from .pruning import SELECTION_STRATEGIES
from .recovery import RECOVERY_MODES

INPUT_LAYOUTS = ("h36m", "coco")


@dataclass
class PoseLifterConfig:
    """Settings shared by MixSTE and MotionBERT; `token_num` set means the HoT (hourglass) variant."""

    frames: int = 243
    embed_dim: int = 512
    mlp_hidden: int = 1024
    depth: int = 8
    heads: int = 8
    joints: int = 17
    in_channels: int = 2
    drop_path: float = 0.1
    token_num: int | None = None
    layer_index: int | None = None
    selection: str = "dpc-knn"
    recovery: str = "attention"  # "attention": official TRA; "interpolated-attention": see recovery.py
    # the 2D keypoint layouts training fed ("coco": COCO-17 mapped to H36M-17 as the Predictor maps it);
    # recorded in checkpoints and bundles so the Predictor can tell a layout the model never saw
    input_layouts: tuple[str, ...] = ("h36m",)

    @property
    def hourglass(self) -> bool:
        return self.token_num is not None

    def validate(self) -> None:
        self.input_layouts = tuple(self.input_layouts)  # JSON gives a list
        unknown = [v for v in self.input_layouts if v not in INPUT_LAYOUTS]
        if not self.input_layouts or unknown:
            raise ValueError(f"input_layouts must be a non-empty subset of {INPUT_LAYOUTS}; got {self.input_layouts!r}")
        for name in ("frames", "embed_dim", "mlp_hidden", "depth", "heads", "joints", "in_channels"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.embed_dim % self.heads:
            raise ValueError(
                f"embed_dim ({self.embed_dim}) must be divisible by heads ({self.heads})"
            )
        if self.hourglass:
            if not 1 <= self.token_num <= self.frames:
                raise ValueError(
                    f"token_num ({self.token_num}) must lie in [1, frames] = [1, {self.frames}]"
                )
            if self.layer_index is None or not 1 <= self.layer_index <= self.depth - 1:
                raise ValueError(
                    f"layer_index ({self.layer_index}) must lie in [1, depth - 1] = [1, {self.depth - 1}]"
                )
            if self.selection not in SELECTION_STRATEGIES:
                raise ValueError(
                    f"selection {self.selection!r} is not one of {sorted(SELECTION_STRATEGIES)}"
                )
            if self.recovery not in RECOVERY_MODES:
                raise ValueError(f"recovery {self.recovery!r} is not one of {list(RECOVERY_MODES)}")
        elif self.layer_index is not None:
            raise ValueError("layer_index is only meaningful with token_num (the HoT variant)")


@dataclass
class MixSTEConfig(PoseLifterConfig):
    pass


@dataclass
class MotionBERTConfig(PoseLifterConfig):
    """DSTformer. Input channels are (x, y, confidence)."""

    embed_dim: int = 256
    depth: int = 5
    in_channels: int = 3
    drop_path: float = 0.0
    dim_rep: int = 512

    def validate(self) -> None:
        super().validate()
        if self.dim_rep < 1:
            raise ValueError(f"dim_rep must be a positive integer, got {self.dim_rep}")

"""Architecture settings of the AiT depth family (specs/AIT.md): the VQ-VAE tokenizer and the whole model.

`AiTDepthConfig` is flat (the tokenizer's fields carry a `vq_` prefix) so that `create_model(name, **overrides)`
and `config.json` round trips work with plain field names; `AiTDepthConfig.vqvae` builds the nested view.
The dataclass defaults are the edge sizes; the paper's sizes are in the field comments.
"""
from __future__ import annotations

from dataclasses import dataclass

BACKBONE_STRIDE = 32  # five stride-2 stages


def _is_power_of_two(value: int) -> bool:
    return value >= 1 and value & (value - 1) == 0


def _check_positive(config: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(config, name)
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass
class VQVAEConfig:
    """The "shallow" VQ-VAE of AIT.md §2.1 on one-channel depth in metres (paper: 480 px, code_dim 512)."""

    image_size: int = 256
    downsample: int = 32  # tokens per side = image_size / downsample
    hidden_dim: int = 8  # width of the first conv; doubles per stride-2 layer (paper: 16)
    num_codes: int = 128
    code_dim: int = 128  # paper: 512
    num_res_blocks: int = 2
    decay: float = 0.99
    eps: float = 1e-5
    commitment: float = 0.25

    @property
    def token_grid(self) -> int:
        return self.image_size // self.downsample

    @property
    def num_tokens(self) -> int:
        return self.token_grid ** 2

    @property
    def bottleneck_dim(self) -> int:
        """Channels next to the codes: hidden_dim * downsample / 2 (256 in the paper)."""
        return self.hidden_dim * self.downsample // 2

    def validate(self) -> None:
        _check_positive(self, ("image_size", "downsample", "hidden_dim", "num_codes", "code_dim"))
        if not _is_power_of_two(self.downsample) or self.downsample < 2:
            raise ValueError(f"downsample must be a power of two >= 2 (e.g. 16 or 32), got {self.downsample}")
        if self.image_size % self.downsample:
            raise ValueError(
                f"image_size ({self.image_size}) must be a multiple of downsample ({self.downsample})"
            )
        if self.num_codes < 2:
            raise ValueError(f"num_codes must be >= 2, got {self.num_codes}")
        if int(self.num_res_blocks) != self.num_res_blocks or self.num_res_blocks < 0:
            raise ValueError(f"num_res_blocks must be an integer >= 0, got {self.num_res_blocks}")
        if not 0.0 < self.decay < 1.0:
            raise ValueError(f"decay must lie in (0, 1), got {self.decay}")
        if not self.eps > 0.0:
            raise ValueError(f"eps must be > 0, got {self.eps}")
        if not self.commitment >= 0.0:
            raise ValueError(f"commitment must be >= 0, got {self.commitment}")


@dataclass
class AiTDepthConfig:
    """Backbone + task-solver + frozen VQ-VAE (AIT.md §1). Paper: SwinV2, d_model 256, 8 heads, 6 + 6 layers."""

    image_size: int = 256
    backbone_widths: tuple[int, ...] = (16, 32, 64, 128, 256)  # one per stride-2 stage
    backbone_depths: tuple[int, ...] = (1, 1, 2, 2, 1)  # residual blocks after each stage's downsampling
    d_model: int = 192
    heads: int = 6
    mlp_hidden: int = 768
    encoder_depth: int = 3
    decoder_depth: int = 3
    dropout: float = 0.1
    drop_path: float = 0.1
    tau: float = 0.8  # soft decode: softmax(logits * tau)
    parallel: bool = True  # AiT-P: one decoder pass over learned mask embeddings
    vq_downsample: int = 32
    vq_hidden_dim: int = 8
    vq_num_codes: int = 128
    vq_code_dim: int = 128
    vq_num_res_blocks: int = 2
    vq_decay: float = 0.99
    vq_eps: float = 1e-5
    vq_commitment: float = 0.25

    def __post_init__(self) -> None:
        # config.json stores tuples as lists; normalise so that configs compare equal after a round trip.
        self.backbone_widths = tuple(self.backbone_widths)
        self.backbone_depths = tuple(self.backbone_depths)

    @property
    def vqvae(self) -> VQVAEConfig:
        return VQVAEConfig(
            image_size=self.image_size, downsample=self.vq_downsample, hidden_dim=self.vq_hidden_dim,
            num_codes=self.vq_num_codes, code_dim=self.vq_code_dim, num_res_blocks=self.vq_num_res_blocks,
            decay=self.vq_decay, eps=self.vq_eps, commitment=self.vq_commitment,
        )

    @property
    def feature_grid(self) -> int:
        """Backbone feature map side (image_size / 32): the encoder's positional grid."""
        return self.image_size // BACKBONE_STRIDE

    @property
    def num_tokens(self) -> int:
        """Decoder sequence length: the VQ-VAE token grid in raster order."""
        return self.vqvae.num_tokens

    def validate(self) -> None:
        _check_positive(self, ("image_size", "d_model", "heads", "mlp_hidden", "encoder_depth", "decoder_depth"))
        if self.image_size % BACKBONE_STRIDE:
            raise ValueError(
                f"image_size ({self.image_size}) must be a multiple of the backbone stride {BACKBONE_STRIDE}"
            )
        if len(self.backbone_widths) != 5 or len(self.backbone_depths) != 5:
            raise ValueError(
                f"backbone_widths and backbone_depths need 5 entries (one per stride-2 stage), got "
                f"{len(self.backbone_widths)} and {len(self.backbone_depths)}"
            )
        if any(int(w) != w or w < 1 for w in self.backbone_widths):
            raise ValueError(f"backbone_widths must be positive integers, got {self.backbone_widths}")
        if any(int(d) != d or d < 0 for d in self.backbone_depths):
            raise ValueError(f"backbone_depths must be integers >= 0, got {self.backbone_depths}")
        if self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by heads ({self.heads})")
        if self.d_model % 4:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of 4 (2-D sine positional encoding)")
        for name in ("dropout", "drop_path"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {getattr(self, name)}")
        if not self.tau > 0.0:
            raise ValueError(f"tau must be > 0 (0.8 for depth), got {self.tau}")
        self.vqvae.validate()

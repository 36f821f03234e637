"""Architecture settings of the AiT depth family (specs/AIT.md): the VQ-VAE tokenizer and the whole model.

One name per setting in both stages: the tokenizer's fields carry a `vq_` prefix in `VQVAEConfig`
(stage 1, `ait-depth-vqvae`) and in `AiTDepthConfig` (stage 2, `ait-depth*`), so `--set vq_hidden_dim=16`
means the same in `python -m training.train` for either, and a stage-2 model fits a tokenizer trained
with the same `--set` values. `AiTDepthConfig` is flat (`create_model(name, **overrides)` and
`config.json` round trips use plain field names); `AiTDepthConfig.vqvae` is its tokenizer's config.
Checkpoints written with the unprefixed stage-1 names still load (`VQVAE.upgrade_saved_config`).
The dataclass defaults are the edge sizes; the paper's sizes are in the field comments.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

BACKBONE_STRIDE = 32  # five stride-2 stages
BACKBONES = ("conv", "efficientnet-lite0")  # `AiTDepthConfig.backbone` (backbone.build_backbone)
# VQVAEConfig's fields as stage-1 checkpoints recorded them before they took the `vq_` prefix
UNPREFIXED_TOKENIZER_FIELDS = ("downsample", "hidden_dim", "num_codes", "code_dim", "num_res_blocks", "decay", "eps",
                               "commitment")


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
    vq_downsample: int = 32  # tokens per side = image_size / vq_downsample
    vq_hidden_dim: int = 8  # width of the first conv; doubles per stride-2 layer (paper: 16)
    vq_num_codes: int = 128  # codebook size
    vq_code_dim: int = 128  # width of a code vector (paper: 512)
    vq_num_res_blocks: int = 2  # residual blocks in the encoder and in the decoder
    vq_decay: float = 0.99  # EMA decay of the codebook updates
    vq_eps: float = 1e-5  # Laplace smoothing of the EMA code counts
    vq_commitment: float = 0.25  # weight of the commitment loss

    @property
    def token_grid(self) -> int:
        return self.image_size // self.vq_downsample

    @property
    def num_tokens(self) -> int:
        return self.token_grid ** 2

    @property
    def bottleneck_dim(self) -> int:
        """Channels next to the codes: vq_hidden_dim * vq_downsample / 2 (256 in the paper)."""
        return self.vq_hidden_dim * self.vq_downsample // 2

    def validate(self) -> None:
        _check_positive(self, ("image_size", "vq_downsample", "vq_hidden_dim", "vq_num_codes", "vq_code_dim"))
        if not _is_power_of_two(self.vq_downsample) or self.vq_downsample < 2:
            raise ValueError(f"vq_downsample must be a power of two >= 2 (e.g. 16 or 32), got {self.vq_downsample}")
        if self.image_size % self.vq_downsample:
            raise ValueError(
                f"image_size ({self.image_size}) must be a multiple of vq_downsample ({self.vq_downsample})"
            )
        if self.vq_num_codes < 2:
            raise ValueError(f"vq_num_codes must be >= 2, got {self.vq_num_codes}")
        if int(self.vq_num_res_blocks) != self.vq_num_res_blocks or self.vq_num_res_blocks < 0:
            raise ValueError(f"vq_num_res_blocks must be an integer >= 0, got {self.vq_num_res_blocks}")
        if not 0.0 < self.vq_decay < 1.0:
            raise ValueError(f"vq_decay must lie in (0, 1), got {self.vq_decay}")
        if not self.vq_eps > 0.0:
            raise ValueError(f"vq_eps must be > 0, got {self.vq_eps}")
        if not self.vq_commitment >= 0.0:
            raise ValueError(f"vq_commitment must be >= 0, got {self.vq_commitment}")

    @staticmethod
    def upgrade_saved_config(config: dict) -> dict:
        """A recorded config in today's fields: before one name per setting, stage-1 checkpoints
        recorded the tokenizer settings without the `vq_` prefix (`hidden_dim`, `num_codes`, ...)."""
        for name in UNPREFIXED_TOKENIZER_FIELDS:
            if name in config:
                config.setdefault(f"vq_{name}", config.pop(name))
        return config


@dataclass
class AiTDepthConfig:
    """Backbone + task-solver + frozen VQ-VAE (AIT.md §1). Paper: SwinV2, d_model 256, 8 heads, 6 + 6 layers."""

    image_size: int = 256
    backbone: str = "conv"  # one of BACKBONES: "conv" (ConvBackbone) or "efficientnet-lite0" (ImageNet-pretrained)
    backbone_pretrained: bool = True  # efficientnet-lite0: start from its ImageNet weights when built fresh
    backbone_widths: tuple[int, ...] = (16, 32, 64, 128, 256)  # "conv": one per stride-2 stage
    backbone_depths: tuple[int, ...] = (1, 1, 2, 2, 1)  # "conv": residual blocks after each stage's downsampling
    d_model: int = 192
    heads: int = 6
    mlp_hidden: int = 768
    encoder_depth: int = 3
    decoder_depth: int = 3
    dropout: float = 0.1
    drop_path: float = 0.1
    tau: float = 0.8  # soft decode: softmax(logits * tau)
    parallel: bool = True  # AiT-P: one decoder pass over learned mask embeddings
    # the tokenizer (stage 1): `VQVAEConfig`'s fields under the same names, defaults and meaning
    vq_downsample: int = 32
    vq_hidden_dim: int = 8  # paper: 16
    vq_num_codes: int = 128
    vq_code_dim: int = 128  # paper: 512
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
        """The tokenizer's config: this config's `image_size` and `vq_*` fields."""
        return VQVAEConfig(**{f.name: getattr(self, f.name) for f in fields(VQVAEConfig)})

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
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if not isinstance(self.backbone_pretrained, bool):
            raise ValueError(f"backbone_pretrained must be true or false, got {self.backbone_pretrained!r}")
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

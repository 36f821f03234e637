"""AiT's image backbones (our stand-ins for its SwinV2, specs/AIT.md §8.2): RGB -> one stride-32 map.

`build_backbone(config)` picks one by `config.backbone`: "conv" is `ConvBackbone`, trained from scratch;
"efficientnet-lite0" is `EfficientNetLite0Backbone`, ImageNet-pretrained. Both take ImageNet-normalised
RGB and expose `out_channels` and `stride`.

`ConvBackbone`: five stages, each a stride-2 conv3x3 + BN + ReLU followed by ResNet basic blocks. Only
plain convs, BatchNorm (folded into the convs at export) and ReLU: static shapes, quantisation-friendly.
"""
from __future__ import annotations

import torch
from torch import nn

from ...vision.image import IMAGENET_MEAN, IMAGENET_STD
from .config import BACKBONES, AiTDepthConfig
from .efficientnet_lite import LITE_INPUT_MEAN, LITE_INPUT_STD, EfficientNetLite0, load_imagenet_weights


def conv_bn(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class BasicBlock(nn.Module):
    """ResNet basic block at constant width: relu(x + bn(conv(relu(bn(conv(x))))))."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = conv_bn(channels, channels)
        self.conv2 = conv_bn(channels, channels)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.conv2(self.act(self.conv1(x))))


class ConvBackbone(nn.Module):
    """RGB (B, 3, H, W) -> features (B, widths[-1], H/32, W/32)."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 128, 256), depths: tuple[int, ...] = (1, 1, 2, 2, 1)):
        super().__init__()
        if len(widths) != len(depths):
            raise ValueError(f"widths and depths need the same length, got {len(widths)} and {len(depths)}")
        stages = []
        in_channels = 3
        for width, depth in zip(widths, depths):
            stages.append(nn.Sequential(
                conv_bn(in_channels, width, stride=2), nn.ReLU(), *(BasicBlock(width) for _ in range(depth))
            ))
            in_channels = width
        self.stages = nn.Sequential(*stages)
        self.out_channels = in_channels
        self.stride = 2 ** len(widths)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        # Zero the last BN of each residual branch so every block starts as the identity.
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.conv2[1].weight)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.stages(image)


class EfficientNetLite0Backbone(nn.Module):
    """ImageNet-normalised RGB (B, 3, H, W) -> EfficientNet-Lite0's last block (B, 320, H/32, W/32).

    The 320-channel last block, not the 1280-channel head conv: 0.41 M fewer parameters and a 4x
    smaller `input_proj` (320 -> d_model). Lite0 was trained on `(rgb - 127) / 128`, so the input is
    first mapped from ImageNet mean/std to that (a per-channel affine; not in the state_dict).
    """

    def __init__(self, pretrained: bool = True):
        super().__init__()
        self.network = EfficientNetLite0(with_classifier=False)
        if pretrained:
            load_imagenet_weights(self.network)
        self.out_channels = self.network.out_channels
        self.stride = self.network.stride
        # x_lite = (x * std + mean - lite_mean) / lite_std, all on rgb / 255
        scale = [s / ls for s, ls in zip(IMAGENET_STD, LITE_INPUT_STD)]
        shift = [(m - lm) / ls for m, lm, ls in zip(IMAGENET_MEAN, LITE_INPUT_MEAN, LITE_INPUT_STD)]
        self.register_buffer("input_scale", torch.tensor(scale).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_shift", torch.tensor(shift).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.network(image * self.input_scale + self.input_shift)


def build_backbone(config: AiTDepthConfig) -> nn.Module:
    """The backbone `config.backbone` names; "efficientnet-lite0" starts from ImageNet weights when
    `config.backbone_pretrained` (a trained checkpoint loaded afterwards overwrites them)."""
    if config.backbone == "conv":
        return ConvBackbone(config.backbone_widths, config.backbone_depths)
    if config.backbone == "efficientnet-lite0":
        return EfficientNetLite0Backbone(pretrained=config.backbone_pretrained)
    raise ValueError(f"unknown backbone {config.backbone!r}; choose one of {BACKBONES}")

"""A compact stride-32 convolutional backbone (our stand-in for AiT's SwinV2, specs/AIT.md §8.2).

Five stages, each a stride-2 conv3x3 + BN + ReLU followed by ResNet basic blocks. Only plain convs,
BatchNorm (folded into the convs at export) and ReLU: static shapes, quantisation-friendly.
"""
from __future__ import annotations

import torch
from torch import nn


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

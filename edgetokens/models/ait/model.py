"""AiT monocular depth (specs/AIT.md): conv backbone + task-solver + frozen VQ-VAE tokenizer.

`forward(image)` is the inference and export path: AiT-P (one decoder pass) with soft decoding, static
shapes and no data-dependent control flow. Training uses `tokenize` (targets), `logits` and `decode`;
`generate_ar` is the autoregressive reference with a KV cache.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...vision.depth import MIN_DEPTH  # predictions are clipped here at the end, as the official code
from ...vision.image import IMAGENET_MEAN, IMAGENET_STD
from ..signature import Signature, TensorSpec, example_batch
from .backbone import build_backbone
from .config import AiTDepthConfig
from .solver import TaskSolver
from .vocabulary import recorded_vocabulary
from .vqvae import VQVAE


FREEZABLE = ("backbone",)  # parts a run may keep fixed (`training.train --freeze`)


class AiTModel(nn.Module):
    """What every AiT solver model shares: a square RGB input, frozen tokenizers, the depth decode."""

    float_parts: dict[str, tuple[str, ...]] = {}  # quantization: nothing named stays float (`compression.scopes`)
    attention_modules: tuple[str, ...] = ()
    default_keep_float: tuple[str, ...] = ()
    # a checkpoint holds the backbone's weights: do not read the ImageNet ones first (`create_model`)
    checkpoint_overrides: dict = {"backbone_pretrained": False}

    @staticmethod
    def upgrade_saved_config(config: dict) -> dict:
        """A checkpoint's recorded config in today's fields (unchanged so far)."""
        return config

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Per-sample input shape (channels, height, width)."""
        return (3, self.config.image_size, self.config.image_size)

    def tokenizers(self) -> list[nn.Module]:
        """The frozen stage-1 models this one holds (the depth VQ-VAE, the mask VQ-VAE)."""
        return [getattr(self, name) for name in ("vqvae", "mask_tokenizer") if hasattr(self, name)]

    def freeze_tokenizer(self) -> None:
        """Stage 2: the tokenizers stay in eval mode with no trainable weights; gradients still flow through."""
        self.tokenizer_frozen = True
        for tokenizer in self.tokenizers():
            tokenizer.eval()
            tokenizer.requires_grad_(False)

    def freeze_parts(self, names: tuple[str, ...]) -> None:
        """Stop training the named parts (`FREEZABLE`, e.g. "backbone"): no trainable weights, and eval mode
        whenever the model trains (BatchNorm statistics and dropout fixed)."""
        unknown = [name for name in names if name not in FREEZABLE or not hasattr(self, name)]
        if unknown:
            raise ValueError(f"cannot freeze {', '.join(unknown)}: {self.arch} can freeze "
                             f"{', '.join(n for n in FREEZABLE if hasattr(self, n))}")
        self.frozen_parts = tuple(names)
        for name in names:
            getattr(self, name).requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> AiTModel:
        super().train(mode)
        fixed = self.tokenizers() if getattr(self, "tokenizer_frozen", False) else []
        for part in fixed + [getattr(self, name) for name in getattr(self, "frozen_parts", ())]:
            part.eval()
        return self

    def check_image(self, image: torch.Tensor) -> None:
        if image.ndim != 4 or tuple(image.shape[1:]) != self.input_shape:
            c, h, w = self.input_shape
            raise ValueError(f"{self.arch} expects images of shape (batch, {c}, {h}, {w}), got {tuple(image.shape)}")

    def decode(self, logits: torch.Tensor, soft: bool = True) -> torch.Tensor:
        """Logits (B, L, V) -> depth (B, 1, S, S) by the frozen VQ-VAE: soft (tau-weighted codes) or argmax ids."""
        code_logits = self.solver.code_logits(logits)
        if soft:
            return self.vqvae.decode_soft(code_logits, self.config.tau)
        return self.vqvae.decode_ids(code_logits.argmax(dim=-1))

    def warm_start_state(self, state: dict, fields: dict) -> list[str]:
        """Fit another AiT checkpoint's `state` (recorded architecture `fields`) to this model's vocabulary
        and tasks, in place (`training.train --init`); returns the tasks whose tokens carry over."""
        return self.solver.carry_task_rows(state, recorded_vocabulary(fields))

    def graph_options(self) -> list[dict]:
        """The export options this model supports (none)."""
        return [{}]


class AiTDepth(AiTModel):
    """RGB (B, 3, S, S), normalised by the caller -> metric depth (B, 1, S, S), S = config.image_size."""

    arch: str = "ait-depth"
    task: str = "depth"  # its entry in `edgetokens.tasks.TASKS`

    def __init__(self, config: AiTDepthConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.backbone = build_backbone(config)
        self.solver = TaskSolver(config, self.backbone.out_channels)
        self.vqvae = VQVAE(config.vqvae)
        self.tokenizer_frozen = False
        self.freeze_tokenizer()

    def tokenize(self, depth: torch.Tensor) -> torch.Tensor:
        """Ground-truth depth (B, 1, S, S) in metres -> target code ids (B, L), raster order."""
        return self.vqvae.encode(depth).flatten(1)

    def logits(self, image: torch.Tensor, target_ids: torch.Tensor | None = None,
               sampling: float = 0.0) -> torch.Tensor:
        """Full-vocabulary logits (B, L, V): AiT-P ignores `target_ids`; AR uses them for teacher forcing,
        with a `sampling` share of its inputs replaced by its own soft predictions (scheduled sampling)."""
        self.check_image(image)
        return self.solver(self.backbone(image), target_ids, sampling)

    @torch.no_grad()
    def generate_ar(self, image: torch.Tensor, soft_input: bool = True,
                    use_cache: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy autoregressive decoding -> (logits (B, L, V), code ids (B, L)); `decode` turns them into depth."""
        self.check_image(image)
        return self.solver.generate(self.solver.encode(self.backbone(image)), soft_input, use_cache)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Inference: image -> depth (B, 1, S, S) in metres, soft decoding, clipped at 1 mm."""
        return self.decode(self.logits(image), soft=True).clamp_min(MIN_DEPTH)

    def signature(self, batch: int = 1) -> Signature:
        """Graph contract: `image` (B, 3, S, S) normalised RGB -> `depth` (B, 1, S, S) metres."""

        size = self.config.image_size
        example = np.random.default_rng(0).standard_normal((example_batch(batch), *self.input_shape))
        preprocessing = {
            "input": f"RGB resized to {size}x{size} (bilinear, aspect not kept), (rgb / 255 - mean) / std",
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
            "image_size": size,
            "output": "metric depth in metres at the model size; resized back to the input image (bilinear)",
        }
        return Signature(self.task, [TensorSpec("image", [batch, *self.input_shape])],
                         [TensorSpec("depth", [batch, 1, size, size])], preprocessing,
                         {"image": example.astype(np.float32)})

    def graph_forward(self, image: torch.Tensor) -> tuple[torch.Tensor]:
        """The exported computation, outputs in `signature()` order."""
        return (self(image),)

"""AiT as one model for several tasks (specs/AIT.md §1, §4, §7.4): one backbone, one task-solver, one
shared vocabulary, a prompt and decoder positions per task, and a frozen tokenizer per task.

- instances: autoregressive decoding of `slots` x 21 tokens (box bins, class, 16 mask codes), each position
  restricted to its legal range, nucleus sampling (`top_p`; 0 is greedy), soft mask tokens fed back and
  soft-decoded by the frozen mask VQ-VAE; runs in torch (the exported, cached decoder is a later step).
- depth: AiT-P (one decoder pass) with soft decoding, as `AiTDepth`; `forward(image)` is this path, the
  exported graph of a model that has depth.
The single-task models are the same class with one task (`ait-instances`); `ait-depth` stays `AiTDepth`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from ...vision.depth import MIN_DEPTH
from ...vision.image import IMAGENET_MEAN, IMAGENET_STD
from ..signature import Signature, TensorSpec, example_batch
from .backbone import build_backbone
from .config import AiTDepthConfig
from .instance_sequence import (
    BOX_TOKENS,
    CLASS_POSITION,
    choose_token,
    legal_logit_mask,
    parse_sequence,
    sequence_length,
    slot_tokens,
)
from .mask_tokenizer import MaskTokenizer, MaskTokenizerConfig
from .model import AiTModel
from .solver import TaskSolver
from .vocabulary import TASK_ORDER, Vocabulary
from .vqvae import VQVAE

JOINT_TASK = "instances+depth"  # the task-map entry of a model serving both tasks (joint training)


@dataclass
class AiTConfig(AiTDepthConfig):
    """`AiTDepthConfig` (backbone, solver, depth tokenizer) plus the instance settings and their tokenizer."""

    tasks: tuple[str, ...] = TASK_ORDER
    slots: int = 16  # instances per image: the sequence is slots x 21 tokens (paper: 100)
    num_bins: int = 256  # box coordinate bins over the input side (paper: 2000 over 640 px)
    num_classes: int = 80
    top_p: float = 0.3  # nucleus sampling of box and class tokens at inference (paper: 0.3); 0 = greedy
    mask_tau: float = 1.0  # soft mask decode: softmax(logits * mask_tau)
    soft_mask_input: bool = True  # AR: the next input at a mask position is the soft token (AIT.md §2.5 b)
    # the mask tokenizer: `MaskTokenizerConfig`'s fields under a `mask_` prefix
    mask_image_size: int = 64
    mask_vq_downsample: int = 16
    mask_vq_hidden_dim: int = 16
    mask_vq_num_codes: int = 128
    mask_vq_code_dim: int = 128
    mask_vq_num_res_blocks: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        self.tasks = (self.tasks,) if isinstance(self.tasks, str) else tuple(self.tasks)

    @property
    def mask_tokenizer(self) -> MaskTokenizerConfig:
        own = {f.name: getattr(self, f"mask_{f.name}") for f in fields(MaskTokenizerConfig)
               if hasattr(self, f"mask_{f.name}")}
        return MaskTokenizerConfig(**own)

    @property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary(self.tasks, self.num_bins, self.num_classes, self.mask_vq_num_codes, self.vq_num_codes)

    @property
    def mask_tokens(self) -> int:
        return self.mask_tokenizer.num_tokens

    @property
    def lengths(self) -> dict[str, int]:
        """Decoder positions per task."""
        length = {"instances": sequence_length(self.slots, self.mask_tokens), "depth": self.num_tokens}
        return {task: length[task] for task in self.tasks}

    def validate(self) -> None:
        super().validate()
        self.vocabulary  # noqa: B018 (validates tasks and range sizes)
        if "instances" in self.tasks:
            self.mask_tokenizer.validate()
        if int(self.slots) != self.slots or self.slots < 1:
            raise ValueError(f"slots must be a positive integer, got {self.slots!r}")
        if not 0.0 <= self.top_p <= 1.0:
            raise ValueError(f"top_p must lie in [0, 1] (0: greedy), got {self.top_p}")
        if not self.mask_tau > 0.0:
            raise ValueError(f"mask_tau must be > 0, got {self.mask_tau}")


class AiT(AiTModel):
    """RGB (B, 3, S, S), ImageNet-normalised -> instances (`instances`) and / or depth (`forward`)."""

    arch: str = "ait"

    def __init__(self, config: AiTConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.tasks = config.tasks
        self.backbone = build_backbone(config)
        self.solver = TaskSolver(config, self.backbone.out_channels, config.vocabulary, config.lengths)
        if "depth" in self.tasks:
            self.vqvae = VQVAE(config.vqvae)
        if "instances" in self.tasks:
            self.mask_tokenizer = MaskTokenizer(config.mask_tokenizer)
            self.register_buffer("legal", legal_logit_mask(config.vocabulary, config.slots, config.mask_tokens),
                                 persistent=False)
        self.freeze_tokenizer()

    @staticmethod
    def task_for(config: AiTConfig | dict) -> str:
        """The entry in `edgetokens.tasks.TASKS` of a model with this config (a recorded dict or the dataclass):
        its one task, or the joint entry."""
        tasks = config["tasks"] if isinstance(config, dict) else config.tasks
        tasks = (tasks,) if isinstance(tasks, str) else tuple(tasks)
        return tasks[0] if len(tasks) == 1 else JOINT_TASK

    @property
    def task(self) -> str:
        return self.task_for(self.config)

    @property
    def vocabulary(self) -> Vocabulary:
        return self.solver.vocabulary

    def check_task(self, task: str) -> None:
        if task not in self.tasks:
            raise ValueError(f"{self.arch} serves {' and '.join(self.tasks)}, not {task!r}")

    def memory(self, image: torch.Tensor) -> torch.Tensor:
        """Image -> the encoder's memory (B, g*g, d_model), shared by every task."""
        self.check_image(image)
        return self.solver.encode(self.backbone(image))

    # -- depth -----------------------------------------------------------------------------------------------

    def tokenize(self, depth: torch.Tensor) -> torch.Tensor:
        """Ground-truth depth (B, 1, S, S) in metres -> depth code ids (B, L)."""
        self.check_task("depth")
        return self.vqvae.encode(depth).flatten(1)

    def depth_logits(self, memory: torch.Tensor, target_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Depth logits (B, L, V): AiT-P's one pass, or teacher forcing on code ids (autoregressive models)."""
        self.check_task("depth")
        if self.solver.parallel_depth:
            return self.solver.parallel_logits(memory)
        if target_ids is None:
            return self.solver.generate(memory)[0]
        return self.solver.teacher_forcing(memory, target_ids)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """The exported graph: depth in metres (B, 1, S, S), soft decoding, clipped at 1 mm, where the model
        has depth; else the image memory (instance decoding runs in torch, `instances`)."""
        if "depth" not in self.tasks:
            return self.memory(image)
        return self.decode(self.depth_logits(self.memory(image)), soft=True).clamp_min(MIN_DEPTH)

    # -- instances -------------------------------------------------------------------------------------------

    def tokenize_masks(self, crops: torch.Tensor) -> torch.Tensor:
        """Box crops (N, S_m, S_m) in [0, 1] (`vision.masks.crop_masks`) -> mask code ids (N, 16)."""
        self.check_task("instances")
        return self.mask_tokenizer.encode(crops[:, None].float())

    def instance_logits(self, memory: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        """Teacher-forcing logits (B, L, V) of training sequences (full-vocabulary input ids)."""
        self.check_task("instances")
        return self.solver.teacher_forcing_sequence(memory, input_ids, "instances")

    def mask_code_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Full-vocabulary logits (..., V) -> the mask-code slice (..., mask codes)."""
        start, stop = self.vocabulary.range("mask_codes")
        return logits[..., start:stop]

    def decode_masks(self, mask_logits: torch.Tensor) -> torch.Tensor:
        """Mask-code logits (N, 16, K) -> soft-decoded box masks (N, S_m, S_m), ~[0, 1]."""
        return self.mask_tokenizer.decode_soft(mask_logits, self.config.mask_tau)[:, 0]

    @torch.no_grad()
    def generate_instances(self, image: torch.Tensor, top_p: float | None = None, seed: int = 0,
                           use_cache: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Constrained autoregressive decoding -> (logits (B, L, V), ids (B, L)).

        Box and class positions take a nucleus sample (`top_p`, default the config's; seeded, so a call is
        repeatable) from their legal range and feed back the hard token; mask positions take the greedy
        code and feed back the soft token (`soft_mask_input`).
        """
        self.check_task("instances")
        top_p = self.config.top_p if top_p is None else top_p
        generator = torch.Generator(device=image.device).manual_seed(seed)
        width = slot_tokens(self.config.mask_tokens)
        solver = self.solver

        def choose(i: int, logits: torch.Tensor) -> torch.Tensor:
            return choose_token(i, logits, self.legal[i], top_p, generator, self.config.mask_tokens)

        def feed(i: int, logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
            if i % width > CLASS_POSITION and self.config.soft_mask_input:
                return solver.range_soft_tokens(logits, "mask_codes")[:, None]
            return solver.vocab_embed[ids][:, None]

        return solver.decode_loop(self.memory(image), "instances", choose, feed, use_cache)

    @torch.no_grad()
    def instances(self, image: torch.Tensor, top_p: float | None = None, seed: int = 0,
                  min_score: float = 0.0) -> list[dict]:
        """Per image: `parse_sequence`'s slots (boxes in input pixels, class ids, scores) plus
        `mask_probs` (N, S_m, S_m), the soft-decoded box masks (paste them with `vision.masks.paste_masks`)."""
        logits, ids = self.generate_instances(image, top_p, seed)
        return self.parse_instances(logits, ids, min_score)

    @torch.no_grad()
    def parse_instances(self, logits: torch.Tensor, ids: torch.Tensor, min_score: float = 0.0) -> list[dict]:
        """`instances` of decoded (logits (B, n, V), ids (B, n)), n a whole number of slots (fewer than the
        config's when decoding stopped early or decoded fewer slots)."""
        width = slot_tokens(self.config.mask_tokens)
        if ids.ndim != 2 or ids.shape[1] % width:
            raise ValueError(f"ids must be (batch, slots x {width}), got {tuple(ids.shape)}")
        parsed = parse_sequence(ids, logits, self.vocabulary, ids.shape[1] // width, self.config.image_size,
                                mask_tokens=self.config.mask_tokens, min_score=min_score)
        for item in parsed:
            item["mask_probs"] = self.decode_masks(item["mask_logits"]) if len(item["scores"]) else \
                torch.zeros(0, self.config.mask_image_size, self.config.mask_image_size)
        return parsed

    # -- export contract -------------------------------------------------------------------------------------

    def signature(self, batch: int = 1) -> Signature:
        """Graph contract of the exported part: the depth path where the model has depth; an
        instance-only model exports its backbone and encoder (`memory`), the decoder runs in torch."""
        size = self.config.image_size
        example = np.random.default_rng(0).standard_normal((example_batch(batch), *self.input_shape))
        preprocessing = {
            "input": f"RGB letterboxed to {size}x{size} (aspect kept, top-left, ImageNet-mean padding) for "
                     "instances; resized (aspect not kept) for depth; (rgb / 255 - mean) / std",
            "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "image_size": size, "tasks": list(self.tasks),
        }
        if "depth" in self.tasks:
            output = TensorSpec("depth", [batch, 1, size, size])
            preprocessing["output"] = "metric depth in metres at the model size"
        else:
            grid = self.config.feature_grid
            output = TensorSpec("memory", [batch, grid * grid, self.config.d_model])
            preprocessing["output"] = "the task-solver's image memory (instance decoding runs in torch)"
        return Signature("depth" if "depth" in self.tasks else "instances",
                         [TensorSpec("image", [batch, *self.input_shape])], [output], preprocessing,
                         {"image": example.astype(np.float32)})

    def graph_forward(self, image: torch.Tensor) -> tuple[torch.Tensor]:
        return (self(image),)


__all__ = ["AiT", "AiTConfig", "BOX_TOKENS", "JOINT_TASK"]

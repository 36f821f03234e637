"""AiT instance decoding as two static-shape graphs (issue 24), for ONNX Runtime, OpenVINO and NPUs:

- `InstancePrefill`: image -> the image memory's cross-attention keys/values of every decoder layer
  (`memory_k`, `memory_v`: layers x (B, heads, N, hd)), the logits of position 0 (after the task prompt)
  and the self-attention caches holding position 0 (`present_k`, `present_v`: (layers, B, heads, L, hd));
- `InstanceStep`: position i's input (made in the graph from position i - 1's id and logits: the hard
  token's embedding, or the soft mask token) against the caches -> position i's logits and its keys and
  values (`new_k`, `new_v`: (layers, B, heads, 1, hd)), which the decode loop writes into slot i.

L is the decoder length of the instance task (config.slots x 21): the caches are fixed-size buffers whose
slots from i on are masked in attention, so every shape is static; the step graph only reads the caches
and returns one row (no copy of the whole cache through the graph). Both graphs call the solver's own
blocks (`DecoderBlock.step_fixed`, `TaskSolver.head`,
`range_soft_tokens`), so they compute what `TaskSolver.decode_loop` computes. The decode loop (token
choice, early stop, the slots knob) is `edgetokens.instance_decoding`, once for every backend.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..signature import Signature, TensorSpec, example_batch
from .instance_sequence import CLASS_POSITION, slot_tokens

TASK = "instances"
PREFILL_OUTPUTS = ("memory_k", "memory_v", "logits", "present_k", "present_v")
STEP_INPUTS = ("memory_k", "memory_v", "past_k", "past_v", "position", "prev_ids", "prev_logits")
STEP_OUTPUTS = ("logits", "new_k", "new_v")


def write_position(caches, rows, position: int) -> None:
    """Write the step's `rows` (new_k, new_v: (layers, B, heads, 1, hd)) into slot `position` of `caches`
    (past_k, past_v: (layers, B, heads, L, hd)), in place; numpy arrays or torch tensors."""
    for cache, row in zip(caches, rows):
        cache[:, :, :, position] = row[:, :, :, 0]


class _DecoderGraph(nn.Module):
    """Shared parts of the two graphs: the AiT model (its config and arch go into bundle manifests)."""

    graph = ""

    def __init__(self, model: nn.Module):
        super().__init__()
        if TASK not in getattr(model, "tasks", ()):
            raise ValueError(f"{getattr(model, 'arch', type(model).__name__)} does not serve instances; the "
                             "decoder graphs need an AiT with the instance task (ait, ait-instances)")
        self.model = model
        self.config = model.config
        self.arch = model.arch
        solver = model.solver
        self.layers = len(solver.decoder)
        self.heads = solver.decoder[0].self_attn.heads
        self.head_dim = solver.config.d_model // self.heads
        self.length = solver.lengths[TASK]
        self.tokens = solver.config.feature_grid ** 2
        self.vocab_size = solver.vocab_size
        # input j comes from position j - 1: the soft mask token after a mask position, else the hard token
        width = slot_tokens(model.config.mask_tokens)
        soft = [j > 0 and (j - 1) % width > CLASS_POSITION and model.config.soft_mask_input
                for j in range(self.length)]
        self.register_buffer("soft_input", torch.tensor(soft), persistent=False)
        self.register_buffer("slots", torch.arange(self.length), persistent=False)

    def cache_shape(self, batch: int) -> list[int]:
        return [self.layers, batch, self.heads, self.length, self.head_dim]

    def row_shape(self, batch: int) -> list[int]:
        return [self.layers, batch, self.heads, 1, self.head_dim]

    def memory_shape(self, batch: int) -> list[int]:
        return [self.layers, batch, self.heads, self.tokens, self.head_dim]

    def step(self, memory_k: torch.Tensor, memory_v: torch.Tensor, past_k: torch.Tensor, past_v: torch.Tensor,
             position: torch.Tensor, prev_ids: torch.Tensor, prev_logits: torch.Tensor):
        """Position `position` (a (1,) int64 tensor) -> (logits (B, V), new_k, new_v)."""
        solver = self.model.solver
        row = solver.vocabulary.task_index(TASK)
        hard = solver.vocab_embed[prev_ids]
        soft = solver.range_soft_tokens(prev_logits, "mask_codes")
        x = torch.where(self.soft_input.index_select(0, position)[:, None], soft, hard)
        x = torch.where(position[:, None] == 0, solver.prompt_embed[row], x)  # position 0 reads the prompt
        x = (x + solver.dec_pos[row].index_select(0, position))[:, None]  # (B, 1, d)
        unwritten = self.slots >= position  # (L,): this position's slot and the later ones
        keys, values = [], []
        for j, block in enumerate(solver.decoder):
            x, (k, v) = block.step_fixed(x, (memory_k[j], memory_v[j]), (past_k[j], past_v[j]), unwritten)
            keys.append(k)
            values.append(v)
        return solver.head(x)[:, -1], torch.stack(keys), torch.stack(values)

    def graph_forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self(*inputs)

    def preprocessing(self) -> dict:
        return {"graph": self.graph, "max_length": self.length, "slots": self.config.slots,
                "image_size": self.config.image_size}


class InstancePrefill(_DecoderGraph):
    """image (B, 3, S, S), ImageNet-normalised -> `PREFILL_OUTPUTS`."""

    graph = "prefill"

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        solver = self.model.solver
        kv = solver.memory_kv(self.model.memory(image))
        memory_k, memory_v = torch.stack([k for k, _ in kv]), torch.stack([v for _, v in kv])
        batch = image.shape[0]
        zeros = memory_k.new_zeros(self.cache_shape(batch))
        logits, new_k, new_v = self.step(
            memory_k, memory_v, zeros, zeros, torch.zeros(1, dtype=torch.long, device=image.device),
            torch.zeros(batch, dtype=torch.long, device=image.device), memory_k.new_zeros(batch, self.vocab_size))
        rest = zeros[:, :, :, 1:]  # the caches: position 0 written, the rest still zeros
        return memory_k, memory_v, logits, torch.cat((new_k, rest), 3), torch.cat((new_v, rest), 3)

    def signature(self, batch: int = 1) -> Signature:
        size = self.config.image_size
        example = np.random.default_rng(0).standard_normal((example_batch(batch), 3, size, size))
        outputs = [TensorSpec("memory_k", self.memory_shape(batch)), TensorSpec("memory_v", self.memory_shape(batch)),
                   TensorSpec("logits", [batch, self.vocab_size]), TensorSpec("present_k", self.cache_shape(batch)),
                   TensorSpec("present_v", self.cache_shape(batch))]
        return Signature(TASK, [TensorSpec("image", [batch, 3, size, size])], outputs, self.preprocessing(),
                         {"image": example.astype(np.float32)})


class InstanceStep(_DecoderGraph):
    """`STEP_INPUTS` -> `STEP_OUTPUTS`: one decoder position against fixed-size caches."""

    graph = "step"

    def forward(self, memory_k, memory_v, past_k, past_v, position, prev_ids, prev_logits):
        return self.step(memory_k, memory_v, past_k, past_v, position, prev_ids, prev_logits)

    def signature(self, batch: int = 1) -> Signature:
        b = example_batch(batch)
        inputs = [TensorSpec("memory_k", self.memory_shape(batch)), TensorSpec("memory_v", self.memory_shape(batch)),
                  TensorSpec("past_k", self.cache_shape(batch)), TensorSpec("past_v", self.cache_shape(batch)),
                  TensorSpec("position", [1], "int64"), TensorSpec("prev_ids", [batch], "int64"),
                  TensorSpec("prev_logits", [batch, self.vocab_size])]
        outputs = [TensorSpec("logits", [batch, self.vocab_size]), TensorSpec("new_k", self.row_shape(batch)),
                   TensorSpec("new_v", self.row_shape(batch))]
        rng = np.random.default_rng(0)
        examples = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in (
            ("memory_k", self.memory_shape(b)), ("memory_v", self.memory_shape(b)), ("past_k", self.cache_shape(b)),
            ("past_v", self.cache_shape(b)), ("prev_logits", [b, self.vocab_size]))}
        examples["position"] = np.array([1], dtype=np.int64)
        examples["prev_ids"] = np.zeros(b, dtype=np.int64)
        return Signature(TASK, inputs, outputs, self.preprocessing(), examples)


__all__ = ["InstancePrefill", "InstanceStep", "PREFILL_OUTPUTS", "STEP_INPUTS", "STEP_OUTPUTS", "write_position"]

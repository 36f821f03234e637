"""AiT's task-solver (specs/AIT.md §1.2): a Pix2Seq-style encoder-decoder over one shared token vocabulary.

Vocabulary layout (`vocabulary.Vocabulary`). The decoder reads and writes ids of one tied vocabulary
(`vocab_embed`, logits = hidden @ vocab_embed^T + vocab_bias): box bins, classes, the noise class and mask
codes when the solver serves instances, then the depth codes. For depth alone it holds only the depth
VQ-VAE's codes (`code_offset` 0, `vocab_size` = num_codes: the shipped ait-depth layout):

    vocabulary id = code_offset + depth code id

Each task has its own learned prompt (`prompt_embed[task]`, the official `det_embed` row), always the first
decoder input, and its own decoder position table (`dec_pos[task]`, the official per-task `dec_embed`).
Depth methods take and return *code* ids (0 .. num_codes - 1) and full-vocabulary logits; sequence methods
(`teacher_forcing_sequence`, `generate_sequence`) take and return full-vocabulary ids.

Decoding modes:
- teacher forcing (training): inputs [prompt, gt[:-1]], one pass with a causal mask;
- AiT-P (`parallel`): inputs [prompt, mask_embed, ..., mask_embed], one pass, causal mask kept as the
  official code; the output does not depend on any target or prediction;
- autoregressive greedy decoding with a KV cache (memory K/V computed once per layer), optionally with
  soft next-token inputs softmax(code logits) @ vocab_embed[codes].
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..hot.layers import DropPath, merge_heads, split_heads
from .config import AiTDepthConfig
from .vocabulary import RANGE_TASK, Vocabulary

KVCache = tuple[torch.Tensor, torch.Tensor]
TASK_TENSORS = ("vocab_embed", "vocab_bias", "prompt_embed", "dec_pos")  # shaped by the vocabulary and tasks


def sine_position_encoding(rows: int, cols: int, dim: int) -> torch.Tensor:
    """Fixed 2-D sine encoding (1, rows*cols, dim), raster order: [y half | x half], sin/cos interleaved."""
    half = dim // 2
    dim_t = 10000.0 ** (2 * (torch.arange(half) // 2) / half)
    pos_x = torch.arange(cols, dtype=torch.float32)[:, None] / dim_t
    pos_y = torch.arange(rows, dtype=torch.float32)[:, None] / dim_t
    pos_x = torch.stack((pos_x[:, 0::2].sin(), pos_x[:, 1::2].cos()), dim=-1).reshape(1, cols, half)
    pos_y = torch.stack((pos_y[:, 0::2].sin(), pos_y[:, 1::2].cos()), dim=-1).reshape(rows, 1, half)
    pos = torch.cat((pos_y.expand(rows, cols, half), pos_x.expand(rows, cols, half)), dim=-1)
    return pos.reshape(1, rows * cols, dim)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
           mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q k^T * scale) v on (B, heads, N, head_dim); `mask` True = not allowed. Plain ops for export."""
    weights = (q @ k.transpose(-2, -1)) * scale
    if mask is not None:
        weights = weights.masked_fill(mask, float("-inf"))
    return weights.softmax(dim=-1) @ v


def attend_past_and_new(q: torch.Tensor, past: KVCache, new: KVCache, scale: float,
                        unwritten: torch.Tensor) -> torch.Tensor:
    """`attend` over a fixed-size cache (`unwritten` True: skipped) and this position's own keys/values,
    without concatenating them: the scores are joined, the (large) cache is only read."""
    length = past[0].shape[-2]
    scores = torch.cat(((q @ past[0].transpose(-2, -1)).masked_fill(unwritten, float("-inf")),
                        q @ new[0].transpose(-2, -1)), dim=-1) * scale
    weights = scores.softmax(dim=-1)
    return weights[..., :length] @ past[1] + weights[..., length:] @ new[1]


class MultiHeadAttention(nn.Module):
    """Attention with separate q/k/v projections, so keys and values can be computed once and cached."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.wq = nn.Linear(dim, dim)
        self.wk = nn.Linear(dim, dim)
        self.wv = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def keys_values(self, context: torch.Tensor) -> KVCache:
        return split_heads(self.wk(context), self.heads), split_heads(self.wv(context), self.heads)

    def forward(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        q = split_heads(self.wq(x), self.heads)
        return self.proj(merge_heads(attend(q, k, v, self.scale, mask)))

    def over_cache(self, x: torch.Tensor, past: KVCache, new: KVCache, unwritten: torch.Tensor) -> torch.Tensor:
        """`forward` for one position over a fixed-size cache and its own keys/values (`attend_past_and_new`)."""
        q = split_heads(self.wq(x), self.heads)
        return self.proj(merge_heads(attend_past_and_new(q, past, new, self.scale, unwritten)))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)  # after the activation only, as the official Mlp(drop=(p, 0))
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(self.act(self.fc1(x))))


class EncoderBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_hidden: int, dropout: float, drop_path: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, mlp_hidden, dropout)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.drop_path(self.attn(h, *self.attn.keys_values(h)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class DecoderBlock(nn.Module):
    """Pre-norm: causal self-attention, cross-attention to the memory (norm2 on both sides), MLP."""

    def __init__(self, dim: int, heads: int, mlp_hidden: int, dropout: float, drop_path: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.self_attn = MultiHeadAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.cross_attn = MultiHeadAttention(dim, heads)
        self.norm3 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, mlp_hidden, dropout)
        self.drop_path = DropPath(drop_path)

    def memory_kv(self, memory: torch.Tensor) -> KVCache:
        """Cross-attention keys and values of the image memory: computed once per image."""
        return self.cross_attn.keys_values(self.norm2(memory))

    def forward(self, x: torch.Tensor, memory_kv: KVCache, mask: torch.Tensor | None) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.drop_path(self.self_attn(h, *self.self_attn.keys_values(h), mask))
        return self._cross_and_mlp(x, memory_kv)

    def step(self, x: torch.Tensor, memory_kv: KVCache, cache: KVCache | None) -> tuple[torch.Tensor, KVCache]:
        """One new position x (B, 1, dim) attending to the cached keys/values of the earlier ones."""
        h = self.norm1(x)
        k, v = self.self_attn.keys_values(h)
        if cache is not None:
            k, v = torch.cat((cache[0], k), dim=2), torch.cat((cache[1], v), dim=2)
        x = x + self.drop_path(self.self_attn(h, k, v))
        return self._cross_and_mlp(x, memory_kv), (k, v)

    def step_fixed(self, x: torch.Tensor, memory_kv: KVCache, cache: KVCache,
                   unwritten: torch.Tensor) -> tuple[torch.Tensor, KVCache]:
        """`step` with static shapes, for exported graphs: `cache` (B, heads, L_max, hd) is a fixed-size
        buffer, `unwritten` (L_max,) True at its slots not yet written (this position and later ones),
        which attention skips. Returns this position's keys/values alone (B, heads, 1, hd): the caller
        writes them into slot i, so the graph never copies the whole cache."""
        h = self.norm1(x)
        k, v = self.self_attn.keys_values(h)
        x = x + self.drop_path(self.self_attn.over_cache(h, cache, (k, v), unwritten))
        return self._cross_and_mlp(x, memory_kv), (k, v)

    def _cross_and_mlp(self, x: torch.Tensor, memory_kv: KVCache) -> torch.Tensor:
        x = x + self.drop_path(self.cross_attn(self.norm2(x), *memory_kv))
        return x + self.drop_path(self.mlp(self.norm3(x)))


class TaskSolver(nn.Module):
    """Backbone features (B, C, g, g) -> logits (B, length of the task, vocab_size).

    `vocabulary` and `lengths` (decoder positions per task) default to depth alone: the VQ-VAE's codes and
    its token grid, with the parameter shapes of the shipped single-task checkpoints.
    """

    def __init__(self, config: AiTDepthConfig, in_channels: int, vocabulary: Vocabulary | None = None,
                 lengths: dict[str, int] | None = None):
        super().__init__()
        c = config
        self.config = c
        self.vocabulary = vocabulary or Vocabulary(("depth",), depth_codes=c.vq_num_codes)
        self.lengths = dict(lengths or {"depth": c.num_tokens})
        if set(self.lengths) != set(self.vocabulary.tasks):
            raise ValueError(f"decoder lengths are given for {sorted(self.lengths)}, but the vocabulary serves "
                             f"{list(self.vocabulary.tasks)}")
        self.vocab_size = self.vocabulary.size
        self.has_depth = "depth" in self.vocabulary.tasks
        if self.has_depth:
            self.code_offset, stop = self.vocabulary.range("depth_codes")
            self.num_codes = stop - self.code_offset
            self.num_tokens = self.lengths["depth"]
        d = c.d_model

        self.input_dropout = nn.Dropout(c.dropout)
        self.input_proj = nn.Linear(in_channels, d)
        self.stem_norm = nn.LayerNorm(d)
        self.register_buffer("enc_pos", sine_position_encoding(c.feature_grid, c.feature_grid, d), persistent=False)
        self.encoder = nn.ModuleList(
            EncoderBlock(d, c.heads, c.mlp_hidden, c.dropout, c.drop_path) for _ in range(c.encoder_depth)
        )
        self.encoder_norm = nn.LayerNorm(d)
        # The neck after the encoder: (Linear + LN) + positions, then a residual MLP (official proj / proj_mlp).
        self.neck_proj = nn.Linear(d, d)
        self.neck_proj_norm = nn.LayerNorm(d)
        self.neck_mlp_norm = nn.LayerNorm(d)
        self.neck_mlp = FeedForward(d, c.mlp_hidden, c.dropout)
        self.neck_drop_path = DropPath(c.drop_path)

        longest = max(self.lengths.values())
        tasks = len(self.vocabulary.tasks)
        self.vocab_embed = nn.Parameter(torch.empty(self.vocab_size, d))
        self.vocab_bias = nn.Parameter(torch.empty(self.vocab_size))
        self.prompt_embed = nn.Parameter(torch.empty(tasks, 1, d))
        self.dec_pos = nn.Parameter(torch.empty(tasks, longest, d))
        if c.parallel and self.has_depth:
            self.mask_embed = nn.Parameter(torch.empty(1, 1, d))
        self.decoder = nn.ModuleList(
            DecoderBlock(d, c.heads, c.mlp_hidden, c.dropout, c.drop_path) for _ in range(c.decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(d)
        causal = torch.ones(longest, longest, dtype=torch.bool).triu(1)
        self.register_buffer("causal_mask", causal, persistent=False)
        self._init_weights()

    def carry_task_rows(self, state: dict, source: Vocabulary, prefix: str = "solver.") -> list[str]:
        """Rewrite another solver's vocabulary, prompt and position tensors in `state` (its vocabulary is
        `source`) into this solver's layout, in place, for a warm start: each task both serve keeps its
        learned rows (a depth model's codes become a joint model's depth codes, its prompt the depth
        prompt); the rest take this solver's current values. Returns the tasks carried over."""
        if source == self.vocabulary:
            return list(source.tasks)  # same layout: the tensors load as they are
        if not all(prefix + name in state for name in TASK_TENSORS):
            return []  # not a solver checkpoint: nothing to carry
        if state[prefix + "vocab_embed"].shape[0] != source.size:
            raise ValueError(f"{prefix}vocab_embed has {state[prefix + 'vocab_embed'].shape[0]} rows, but the "
                             f"checkpoint's recorded vocabulary ({', '.join(source.tasks)}) has {source.size} ids")
        shared = [task for task in source.tasks if task in self.vocabulary.tasks]
        own = {name: getattr(self, name).detach().clone() for name in TASK_TENSORS}
        for name, task in RANGE_TASK.items():
            if task not in shared:
                continue
            (a, b), (c, d) = source.range(name), self.vocabulary.range(name)
            if b - a != d - c:
                raise ValueError(f"the checkpoint's {name} range has {b - a} ids, this model's {d - c}")
            for tensor in ("vocab_embed", "vocab_bias"):
                own[tensor][c:d] = state[prefix + tensor][a:b]
        for task in shared:
            src, dst = source.task_index(task), self.vocabulary.task_index(task)
            own["prompt_embed"][dst] = state[prefix + "prompt_embed"][src]
            n = min(state[prefix + "dec_pos"].shape[1], own["dec_pos"].shape[1])
            own["dec_pos"][dst, :n] = state[prefix + "dec_pos"][src, :n]
        state.update({prefix + name: value for name, value in own.items()})
        return shared

    @property
    def parallel_depth(self) -> bool:
        """Depth by AiT-P's one decoder pass (the model owns `mask_embed`)."""
        return bool(self.config.parallel and self.has_depth)

    def _init_weights(self) -> None:
        for p in (self.vocab_embed, self.vocab_bias, self.prompt_embed, self.dec_pos):
            nn.init.trunc_normal_(p, std=0.02)
        if self.parallel_depth:
            nn.init.trunc_normal_(self.mask_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    # -- encoder ---------------------------------------------------------------------------------------------

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """Backbone features (B, C, g, g) -> image memory (B, g*g, d_model)."""
        grid = self.config.feature_grid
        if features.shape[-2:] != (grid, grid):
            raise ValueError(
                f"expected a {grid}x{grid} feature map (image_size {self.config.image_size} / 32), "
                f"got {tuple(features.shape[-2:])}"
            )
        x = self.input_proj(self.input_dropout(features.flatten(2).transpose(1, 2)))
        x = self.stem_norm(x) + self.enc_pos
        for block in self.encoder:
            x = block(x)
        x = self.neck_proj_norm(self.neck_proj(self.encoder_norm(x))) + self.enc_pos
        return x + self.neck_drop_path(self.neck_mlp(self.neck_mlp_norm(x)))

    # -- decoder ---------------------------------------------------------------------------------------------

    def memory_kv(self, memory: torch.Tensor) -> list[KVCache]:
        return [block.memory_kv(memory) for block in self.decoder]

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Tied output layer: LN(hidden) @ vocab_embed^T + bias -> full-vocabulary logits."""
        return self.decoder_norm(hidden) @ self.vocab_embed.t() + self.vocab_bias

    def _depth_only(self) -> None:
        if not self.has_depth:
            raise ValueError(f"this solver serves {list(self.vocabulary.tasks)}, not depth")

    def code_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """The depth-code slice (..., num_codes) of full-vocabulary logits (..., vocab_size)."""
        self._depth_only()
        return logits[..., self.code_offset:self.code_offset + self.num_codes]

    def code_embeddings(self) -> torch.Tensor:
        self._depth_only()
        return self.vocab_embed[self.code_offset:self.code_offset + self.num_codes]

    def range_soft_tokens(self, logits: torch.Tensor, name: str) -> torch.Tensor:
        """Soft next-token inputs (..., d): softmax over the vocabulary range `name` at temperature 1,
        weighting the solver's own embeddings of that range (not the VQ codebook), as AiT's soft input."""
        start, stop = self.vocabulary.range(name)
        return logits[..., start:stop].softmax(dim=-1) @ self.vocab_embed[start:stop]

    def soft_tokens(self, logits: torch.Tensor) -> torch.Tensor:
        """AR soft next-token inputs (..., d) of the depth codes."""
        self._depth_only()
        return self.range_soft_tokens(logits, "depth_codes")

    def prompt(self, batch: int, task: str = "depth") -> torch.Tensor:
        row = self.vocabulary.task_index(task)
        return self.prompt_embed[row:row + 1].expand(batch, -1, -1)

    def positions(self, task: str, start: int, stop: int) -> torch.Tensor:
        """Decoder position embeddings (1, stop - start, d) of `task`."""
        row = self.vocabulary.task_index(task)
        return self.dec_pos[row:row + 1, start:stop]

    def run_decoder(self, inputs: torch.Tensor, memory_kv: list[KVCache], task: str = "depth") -> torch.Tensor:
        """All positions of `inputs` (B, n, d) at once, causal mask -> logits (B, n, vocab_size)."""
        n = inputs.shape[1]
        x = inputs + self.positions(task, 0, n)
        mask = self.causal_mask[:n, :n]
        for block, kv in zip(self.decoder, memory_kv):
            x = block(x, kv, mask)
        return self.head(x)

    def teacher_forcing(self, memory: torch.Tensor, target_ids: torch.Tensor, sampling: float = 0.0) -> torch.Tensor:
        """Depth training logits (B, L, vocab_size); inputs are [prompt, target code ids[:-1]].

        `sampling` > 0 is two-pass scheduled sampling: that share of the inputs, drawn at random, is
        replaced by what greedy decoding would feed there, the soft token of the model's own (first-pass,
        no-gradient) prediction. Trained on ground-truth prefixes only, our AR model learnt to copy its
        neighbours: 48% of tokens right with the true prefix, 8.5% when it runs on its own
        (`training.evaluate_depth`, runs/ait-depth-ar).
        """
        self._depth_only()
        if target_ids.shape[1] != self.num_tokens:
            raise ValueError(f"target_ids must hold {self.num_tokens} code ids per image, got {target_ids.shape[1]}")
        if not 0.0 <= sampling <= 1.0:
            raise ValueError(f"sampling is a share of decoder inputs, in [0, 1]; got {sampling}")
        memory_kv = self.memory_kv(memory)
        prompt = self.prompt(memory.shape[0])
        given = self.vocab_embed[target_ids[:, :-1] + self.code_offset]
        if sampling > 0:
            with torch.no_grad():
                first = self.run_decoder(torch.cat((prompt, given), dim=1), memory_kv)[:, :-1]
                own = self.soft_tokens(first)
            pick = torch.rand(given.shape[:2], device=given.device) < sampling
            given = torch.where(pick[..., None], own, given)
        return self.run_decoder(torch.cat((prompt, given), dim=1), memory_kv)

    def teacher_forcing_sequence(self, memory: torch.Tensor, input_ids: torch.Tensor, task: str) -> torch.Tensor:
        """Training logits (B, L, vocab_size) of a token sequence task; decoder inputs are [prompt,
        input_ids[:, :-1]] (full-vocabulary ids, e.g. `instance_sequence.build_training_sequence`)."""
        length = self.lengths[task]
        if input_ids.shape[1] != length:
            raise ValueError(f"{task} sequences hold {length} tokens, got {input_ids.shape[1]}")
        given = self.vocab_embed[input_ids[:, :-1]]
        return self.run_decoder(torch.cat((self.prompt(memory.shape[0], task), given), dim=1),
                                self.memory_kv(memory), task)

    def parallel_logits(self, memory: torch.Tensor) -> torch.Tensor:
        """AiT-P depth: one decoder pass over [prompt, mask_embed x (L - 1)]; needs `parallel=True`."""
        if not self.parallel_depth:
            raise ValueError("parallel decoding needs a depth model built with parallel=True (it owns mask_embed)")
        masks = self.mask_embed.expand(memory.shape[0], self.num_tokens - 1, -1)
        return self.run_decoder(torch.cat((self.prompt(memory.shape[0]), masks), dim=1), self.memory_kv(memory))

    def next_input(self, step_logits: torch.Tensor, ids: torch.Tensor, soft: bool) -> torch.Tensor:
        """Depth decoder input (B, 1, d) after a step: the mask embedding (AiT-P), the soft token or the argmax token."""
        if self.parallel_depth:
            return self.mask_embed.expand(step_logits.shape[0], -1, -1)
        if soft:
            return self.soft_tokens(step_logits)[:, None]
        return self.vocab_embed[ids + self.code_offset][:, None]

    def decode_loop(self, memory: torch.Tensor, task: str, choose: Callable[[int, torch.Tensor], torch.Tensor],
                    feed: Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor],
                    use_cache: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Autoregressive decoding of `task` -> (logits (B, L, vocab_size), ids (B, L)).

        `choose(i, step logits (B, V)) -> ids (B,)` picks position i's token; `feed(i, step logits, ids) ->
        (B, 1, d)` is the next decoder input. With `use_cache` each step runs one position against cached
        self-attention keys/values; without, each step recomputes the whole prefix (the reference the cache
        is tested against). The image memory's cross-attention keys/values are computed once.
        """
        memory_kv = self.memory_kv(memory)
        inputs = [self.prompt(memory.shape[0], task)]
        caches: list[KVCache | None] = [None] * len(self.decoder)
        all_logits, all_ids = [], []
        for i in range(self.lengths[task]):
            if use_cache:
                x = inputs[-1] + self.positions(task, i, i + 1)
                for j, (block, kv) in enumerate(zip(self.decoder, memory_kv)):
                    x, caches[j] = block.step(x, kv, caches[j])
                step_logits = self.head(x)[:, -1]
            else:
                step_logits = self.run_decoder(torch.cat(inputs, dim=1), memory_kv, task)[:, -1]
            ids = choose(i, step_logits)
            all_logits.append(step_logits)
            all_ids.append(ids)
            inputs.append(feed(i, step_logits, ids))
        return torch.stack(all_logits, dim=1), torch.stack(all_ids, dim=1)

    def generate(self, memory: torch.Tensor, soft_input: bool = True,
                 use_cache: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy autoregressive depth decoding -> (logits (B, L, vocab_size), code ids (B, L))."""
        self._depth_only()
        return self.decode_loop(memory, "depth", lambda i, logits: self.code_logits(logits).argmax(dim=-1),
                                lambda i, logits, ids: self.next_input(logits, ids, soft_input), use_cache)

    def forward(self, features: torch.Tensor, target_ids: torch.Tensor | None = None,
                sampling: float = 0.0) -> torch.Tensor:
        """Depth logits (B, L, vocab_size): AiT-P pass, else teacher forcing with targets (and scheduled
        `sampling`), else greedy AR."""
        if sampling and (self.parallel_depth or target_ids is None):
            raise ValueError("scheduled sampling needs an autoregressive model (parallel=False) and target ids")
        memory = self.encode(features)
        if self.parallel_depth:
            return self.parallel_logits(memory)
        if target_ids is not None:
            return self.teacher_forcing(memory, target_ids, sampling)
        return self.generate(memory)[0]

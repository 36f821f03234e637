"""The one instance decode loop, for every backend: a prefill and a step `Session` (torch, ONNX Runtime or
OpenVINO, `edgetokens.models.ait.decoding`'s graphs) and the token choice around them.

    decoder = InstanceDecoder.for_model(prefill_session, step_session, model, pair)
    logits, ids = decoder.decode(image, slots=5, top_p=0.0)       # numpy in, torch out (for parse_sequence)

Per position: the logits are restricted to the position's legal range; box and class tokens take a
nucleus sample (`top_p`, 0 greedy; torch's generator, seeded, so the torch backend samples exactly as
`AiT.generate_instances`), mask tokens the greedy code; the step graph feeds back the hard token or
the soft mask token itself. `slots` decodes the first slots only (fewer steps). `early_stop`: decoding
ends at the first slot whose class position the model gives to noise (the noise logit above every real
class: training puts the real objects first, then noise), that slot dropped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from runtimes import Session
from runtimes.torch_session import TorchSession

from .models.ait.decoding import InstancePrefill, InstanceStep, write_position
from .models.ait.instance_sequence import (
    CLASS_POSITION,
    choose_token,
    is_noise_slot,
    legal_logit_mask,
    slot_tokens,
)
from .models.ait.vocabulary import Vocabulary


@dataclass
class DecodeState:
    """One image's decoding so far: the memory keys/values, the caches up to `position`, its logits.

    The caches are buffers this state owns: `InstanceDecoder.advance` writes the step's keys/values into
    them in place and returns the state moved on (an older handle on the same state moves with it)."""

    pair: str  # the model the caches belong to
    position: int
    memory_k: np.ndarray
    memory_v: np.ndarray
    cache_k: np.ndarray
    cache_v: np.ndarray
    logits: np.ndarray  # (B, V), of `position`


def check_top_p(top_p: object) -> float:
    """top_p as a float in [0, 1] (0: greedy; the official configs sample with 0.3)."""
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float, np.integer, np.floating)) \
            or not math.isfinite(top_p) or not 0.0 <= top_p <= 1.0:
        raise ValueError(f"top_p must be a number in (0, 1] for nucleus sampling, or 0 for greedy decoding; "
                         f"got {top_p!r}")
    return float(top_p)


class InstanceDecoder:
    """Prefill + step sessions of one model (`pair`: its weights' hash) and the decode loop."""

    def __init__(self, prefill: Session, step: Session, vocabulary: Vocabulary, slots: int, mask_tokens: int,
                 pair: str):
        shapes = {s.name: s.shape for s in step.inputs}
        produced = {s.name: s.shape for s in prefill.outputs}
        for name, carried in (("past_k", "present_k"), ("memory_k", "memory_k"), ("prev_logits", "logits")):
            if shapes.get(name) != produced.get(carried):
                raise ValueError(f"the step graph's {name} {shapes.get(name)} does not take the prefill's {carried} "
                                 f"{produced.get(carried)}: the two graphs are not of one model")
        self.prefill, self.step, self.pair = prefill, step, pair
        self.vocabulary, self.slots, self.mask_tokens = vocabulary, int(slots), int(mask_tokens)
        self.width = slot_tokens(mask_tokens)
        self.max_length = int(shapes["past_k"][3])
        if self.max_length != self.slots * self.width:
            raise ValueError(f"the step graph holds {self.max_length} positions, but {self.slots} slots need "
                             f"{self.slots * self.width}")
        self.legal = legal_logit_mask(vocabulary, self.slots, self.mask_tokens)

    @classmethod
    def for_model(cls, prefill: Session, step: Session, model, pair: str) -> "InstanceDecoder":
        """The loop on `model`'s graphs (its vocabulary, slots and mask tokens) run by these sessions."""
        return cls(prefill, step, model.vocabulary, model.config.slots, model.config.mask_tokens, pair)

    @classmethod
    def on_torch(cls, model, device: str = "cpu", threads: int | None = None, pair: str = "torch") -> "InstanceDecoder":
        """The loop on torch sessions of `model`'s own static graphs (no export)."""
        sessions = [TorchSession(graph(model), device, threads=threads) for graph in (InstancePrefill, InstanceStep)]
        return cls.for_model(*sessions, model, pair)

    def start(self, image: np.ndarray) -> DecodeState:
        """Prefill: the image's memory keys/values and position 0 (after the prompt)."""
        out = self.prefill.run({"image": image})
        return DecodeState(self.pair, 0, out["memory_k"], out["memory_v"], np.array(out["present_k"]),
                           np.array(out["present_v"]), out["logits"])

    def advance(self, state: DecodeState, ids: np.ndarray) -> DecodeState:
        """One step: `ids` (B,) chosen at `state.position` -> the state at the next position (in place)."""
        if state.pair != self.pair:
            raise ValueError(f"these caches come from another model (weights {state.pair[:12]}, this decoder's "
                             f"{self.pair[:12]}); start() a new decoding with this decoder")
        position = state.position + 1
        if position >= self.max_length:
            raise ValueError(f"step {position} is past the decoder's maximum length {self.max_length} "
                             f"({self.slots} slots x {self.width} tokens); the sequence is complete")
        out = self.step.run({"memory_k": state.memory_k, "memory_v": state.memory_v, "past_k": state.cache_k,
                             "past_v": state.cache_v, "position": np.array([position], dtype=np.int64),
                             "prev_ids": np.asarray(ids, dtype=np.int64), "prev_logits": state.logits})
        write_position((state.cache_k, state.cache_v), (out["new_k"], out["new_v"]), position)
        state.position, state.logits = position, out["logits"]
        return state

    def check_slots(self, slots: int | None) -> int:
        if slots is None:
            return self.slots
        if isinstance(slots, bool) or not isinstance(slots, (int, np.integer)) or not 1 <= slots <= self.slots:
            raise ValueError(f"slots must be an integer in 1 .. {self.slots} (the graphs' maximum); got {slots!r}")
        return int(slots)

    def decode(self, image: np.ndarray, slots: int | None = None, top_p: float = 0.0, seed: int = 0,
               early_stop: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (B, n, V), ids (B, n)) with n = decoded slots x 21 (see the module docstring)."""
        slots, top_p = self.check_slots(slots), check_top_p(top_p)
        generator = torch.Generator().manual_seed(int(seed))
        state = self.start(image)
        all_logits, all_ids = [], []
        for i in range(slots * self.width):
            if i:
                state = self.advance(state, all_ids[-1].numpy())
            logits = torch.from_numpy(state.logits)
            if early_stop and i % self.width == CLASS_POSITION and is_noise_slot(logits, self.vocabulary).all():
                del all_logits[-CLASS_POSITION:], all_ids[-CLASS_POSITION:]  # this slot's box: dropped
                break
            all_logits.append(logits)
            all_ids.append(choose_token(i, logits, self.legal[i], top_p, generator, self.mask_tokens))
        if not all_ids:
            batch, vocab = state.logits.shape
            return torch.zeros(batch, 0, vocab), torch.zeros(batch, 0, dtype=torch.long)
        return torch.stack(all_logits, dim=1), torch.stack(all_ids, dim=1)


__all__ = ["DecodeState", "InstanceDecoder", "check_top_p"]

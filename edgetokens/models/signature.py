"""A model's tensor contract: what export, bundles, calibration, scoring, sessions and benchmarks read.

Each model family implements `signature(batch, **options) -> Signature` and
`graph_forward(*inputs, **options) -> tuple of outputs` in the signature's order (timm keeps the
input contract in a model's pretrained config, SAM on the model itself; here it is the model's).
`options` are the family's export options (e.g. `external_selection` for HoT lifters); nothing
outside the family interprets them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class TensorSpec:
    name: str
    shape: list[int]  # -1: a dynamic axis
    dtype: str = "float32"


@dataclass
class Signature:
    task: str  # a key of `edgetokens.tasks.TASKS`
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    preprocessing: dict[str, Any] = field(default_factory=dict)  # recorded in bundle manifests
    examples: dict[str, np.ndarray] = field(default_factory=dict)  # valid inputs at the static batch

    def example_tensors(self) -> tuple[torch.Tensor, ...]:
        """The example inputs, in input order, as tensors (for tracing and calibration)."""
        return tuple(torch.from_numpy(np.ascontiguousarray(self.examples[s.name])) for s in self.inputs)

    @property
    def input_names(self) -> list[str]:
        return [s.name for s in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [s.name for s in self.outputs]


def example_batch(batch: int) -> int:
    """The batch an example input gets for a signature batch (-1, dynamic, -> 1)."""
    return batch if batch > 0 else 1

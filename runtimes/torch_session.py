"""Eager PyTorch as a session: the reference every exported backend is compared with."""
from __future__ import annotations

import logging
import time

import numpy as np
import torch
from torch import nn

from .base import Session

log = logging.getLogger(__name__)


class TorchSession(Session):
    """A model (eval mode) on `cpu` or `cuda:N`, dynamic batch, with the exported graphs' inputs and
    outputs: the model's `signature()` and `graph_forward()`. fp32 only on the CPU; fp16 runs the module
    in half precision on CUDA. `threads` sets torch's (process-wide) pool.
    """

    backend = "torch"

    def __init__(self, model: nn.Module, target: str = "cpu", precision: str = "fp32", threads: int | None = None):
        if precision not in ("fp32", "fp16") or (precision == "fp16" and target == "cpu"):
            raise ValueError(f"eager torch runs fp32 (and fp16 on CUDA), not {precision} on {target}; "
                             "use an exported bundle for other precisions")
        start = time.perf_counter()
        if threads:
            torch.set_num_threads(int(threads))
        self.torch_device = torch.device(target)
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        self.model = model.eval().to(self.torch_device, self.dtype)
        signature = model.signature(-1)
        name = torch.cuda.get_device_name(self.torch_device) if target.startswith("cuda") else "CPU"
        super().__init__(signature.inputs, signature.outputs, f"torch:{target}", [name], precision,
                         (time.perf_counter() - start) * 1000)
        self.examples = signature.examples

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(array).to(self.torch_device)
        return tensor.to(self.dtype) if tensor.is_floating_point() else tensor

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            outputs = self.model.graph_forward(*(self._tensor(feeds[s.name]) for s in self.inputs))
        return {spec.name: (out.float() if out.is_floating_point() else out).cpu().numpy()
                for spec, out in zip(self.outputs, outputs)}

"""Eager PyTorch as a session: the reference every exported backend is compared with."""
from __future__ import annotations

import logging
import time

import numpy as np
import torch
from torch import nn

from .base import Session
from .manifest import TensorSpec

log = logging.getLogger(__name__)


class TorchSession(Session):
    """A pose lifter or AiT depth module (eval mode) on `cpu` or `cuda:N`; dynamic batch.

    Inputs and outputs match the exported graphs: `keypoints` -> `poses_3d` (plus `keep_index` for
    HoT models), or `image` -> `depth`. fp32 only on the
    CPU; fp16 runs the module in half precision on CUDA. `threads` sets torch's (process-wide) pool.
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
        c = model.config
        self.task = getattr(model, "task", "pose3d")
        if self.task == "depth":  # AiT: the same names as the exported graphs
            inputs = [TensorSpec("image", [-1, *model.input_shape])]
            outputs = [TensorSpec("depth", [-1, 1, c.image_size, c.image_size])]
        else:
            inputs = [TensorSpec("keypoints", [-1, *model.input_shape])]
            outputs = [TensorSpec("poses_3d", [-1, c.frames, c.joints, 3])]
            if c.hourglass:
                outputs.append(TensorSpec("keep_index", [-1, c.token_num], "int64"))
        name = torch.cuda.get_device_name(self.torch_device) if target.startswith("cuda") else "CPU"
        super().__init__(inputs, outputs, f"torch:{target}", [name], precision, (time.perf_counter() - start) * 1000)

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = torch.from_numpy(feeds[self.inputs[0].name]).to(self.torch_device, self.dtype)
        with torch.inference_mode():
            if self.task == "depth":
                return {"depth": self.model(x).float().cpu().numpy()}
            if self.model.config.hourglass:
                poses, keep = self.model(x, return_keep_index=True)
                return {"poses_3d": poses.float().cpu().numpy(), "keep_index": keep.cpu().numpy()}
            return {"poses_3d": self.model(x).float().cpu().numpy()}

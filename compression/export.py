"""Export of the models to ONNX and OpenVINO IR with static shapes (NPU-ready by default).

Graph interface (recorded in bundle manifests). Pose lifters (task "pose3d"):
- input  ``keypoints``  (B, F, J, C) float32, normalised 2D (+ confidence for MotionBERT)
- input  ``keep_index`` (B, token_num) int64, ascending, only with ``external_selection=True`` (HoT):
  the kept frames come from outside the graph, for devices whose compilers lack TopK
- output ``poses_3d``   (B, F, J, 3) float32, root-relative metres
- output ``keep_index`` (B, token_num) int64, HoT models with in-graph selection
AiT depth (task "depth"): input ``image`` (B, 3, S, S) float32 normalised RGB
(`edgetokens.vision.image`); output ``depth`` (B, 1, S, S) float32 metres (AiT-P, soft tokens).
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from edgetokens.models.hot.layers import separate_qkv

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17


def model_task(model: nn.Module) -> str:
    """"pose3d" for the lifters, "depth" for AiT depth (its class attribute `task`)."""
    return getattr(model, "task", "pose3d")


class ExportWrapper(nn.Module):
    """Fixes the forward signature of a model for tracing."""

    def __init__(self, model: nn.Module, external_selection: bool = False):
        super().__init__()
        self.model = model
        self.task = model_task(model)
        self.hourglass = self.task == "pose3d" and bool(model.config.hourglass)
        self.external_selection = external_selection and self.hourglass

    def forward(self, keypoints: torch.Tensor, keep_index: torch.Tensor | None = None):
        if self.external_selection:
            return self.model(keypoints, keep_index=keep_index)
        if self.hourglass:
            return self.model(keypoints, return_keep_index=True)
        return self.model(keypoints)

    def names(self) -> tuple[list[str], list[str]]:
        if self.task == "depth":
            return ["image"], ["depth"]
        inputs = ["keypoints"] + (["keep_index"] if self.external_selection else [])
        outputs = ["poses_3d"] + (["keep_index"] if self.hourglass and not self.external_selection else [])
        return inputs, outputs

    def example_inputs(self, batch: int = 1) -> tuple[torch.Tensor, ...]:
        keypoints = torch.randn(batch, *self.model.input_shape)
        if not self.external_selection:
            return (keypoints,)
        c = self.model.config
        index = torch.linspace(0, c.frames - 1, c.token_num).round().long()
        return keypoints, index[None].expand(batch, -1).contiguous()


def export_onnx(
    model: nn.Module,
    path: str | Path,
    batch: int = 1,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    external_selection: bool = False,
    separate_projections: bool = True,
) -> Path:
    """Write `model` (eval mode, CPU) as ONNX; static shapes unless `dynamic_batch`.

    `separate_projections`: export self-attention's fused qkv Linear as three (`SeparateQKV`, same
    numbers, faster graphs). Off for NNCF models, whose quantizers hook the fused call.
    """
    if opset < 17:
        raise ValueError(f"opset must be >= 17 (LayerNormalization), got {opset}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = separate_qkv(model) if separate_projections else model
    wrapper = ExportWrapper(model.eval().cpu(), external_selection).eval()
    inputs, outputs = wrapper.names()
    dynamic_axes = {name: {0: "batch"} for name in inputs + outputs} if dynamic_batch else None
    with torch.no_grad():
        torch.onnx.export(
            wrapper, wrapper.example_inputs(batch), str(path), opset_version=opset, dynamo=False,
            input_names=inputs, output_names=outputs, dynamic_axes=dynamic_axes,
        )
    log.info("wrote %s", path)
    return path


def export_openvino(onnx_path: str | Path, xml_path: str | Path, precision: str = "fp32") -> Path:
    """Convert an exported ONNX file to OpenVINO IR (`fp32` or `fp16` weights)."""
    import openvino as ov

    if precision not in ("fp32", "fp16"):
        raise ValueError(f"precision must be 'fp32' or 'fp16' for IR conversion, got {precision!r}")
    xml_path = Path(xml_path)
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    ov_model = ov.convert_model(str(onnx_path))
    ov.save_model(ov_model, str(xml_path), compress_to_fp16=precision == "fp16")
    log.info("wrote %s", xml_path)
    return xml_path


def name_openvino_ports(ov_model, inputs: list[str], outputs: list[str]) -> None:
    """Give a converted model the same input/output names as our ONNX graphs."""
    for port, name in zip(ov_model.inputs, inputs):
        port.get_tensor().set_names({name})
    for port, name in zip(ov_model.outputs, outputs):
        port.get_tensor().set_names({name})


def export_int8(quantized: nn.Module, directory: str | Path, batch: int = 1) -> dict[str, str]:
    """Write an NNCF-quantized torch model as INT8 artifacts; returns {format: relative path}.

    - OpenVINO IR from the NNCF model itself (FakeQuantize ops, which OpenVINO runs as INT8 kernels);
    - ONNX with standard QuantizeLinear/DequantizeLinear, via `nncf.strip(..., NATIVE)` first: the
      un-stripped model would export `org.openvinotoolkit:FakeQuantize`, which ONNX Runtime rejects.
    """
    import nncf
    import openvino as ov

    directory = Path(directory)
    wrapper = ExportWrapper(quantized.eval().cpu()).eval()
    example = wrapper.example_inputs(batch)
    stripped = nncf.strip(quantized, do_copy=True, strip_format=nncf.StripFormat.NATIVE, example_input=example[0])
    export_onnx(stripped, directory / "model.int8.onnx", batch=batch, separate_projections=False)
    with torch.no_grad():
        ov_model = ov.convert_model(wrapper, example_input=example, input=[list(t.shape) for t in example])
    name_openvino_ports(ov_model, *wrapper.names())
    xml = directory / "openvino" / "model.int8.xml"
    xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov_model, str(xml), compress_to_fp16=False)
    return {"onnx": "model.int8.onnx", "openvino": "openvino/model.int8.xml"}

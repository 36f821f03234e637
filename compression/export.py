"""Export of the models to ONNX and OpenVINO IR with static shapes (NPU-ready by default).

The graph interface (names, shapes, dtypes) is the model's own `signature()`, and the traced
computation its `graph_forward()` (`edgetokens.models.signature`); both are recorded in bundle
manifests. Family options such as HoT's `external_selection` (the kept frames as an input, for
compilers lacking TopK) pass through `**graph_options` untouched.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from edgetokens.clitools import check_int
from edgetokens.models.hot.layers import separate_qkv

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17


class GraphModule(nn.Module):
    """A model as its exported graph: `forward(*inputs)` is `model.graph_forward(*inputs, **options)`."""

    def __init__(self, model: nn.Module, **options):
        super().__init__()
        self.model = model
        self.options = options

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.model.graph_forward(*inputs, **self.options)

    def signature(self, batch: int = 1):
        return self.model.signature(batch, **self.options)


def export_onnx(
    model: nn.Module,
    path: str | Path,
    batch: int = 1,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    separate_projections: bool = True,
    **graph_options,
) -> Path:
    """Write `model` (eval mode, CPU) as ONNX; static shapes unless `dynamic_batch`.

    `separate_projections`: export self-attention's fused qkv Linear as three (`SeparateQKV`, same
    numbers, faster graphs). Off for NNCF models, whose quantizers hook the fused call.
    """
    if opset < 17:
        raise ValueError(f"opset must be >= 17 (LayerNormalization), got {opset}")
    check_int("batch", batch)  # batch 0 kills the process (SIGFPE) inside the ONNX exporter
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = separate_qkv(model) if separate_projections else model
    wrapper = GraphModule(model.eval().cpu(), **graph_options).eval()
    signature = wrapper.signature(batch)
    inputs, outputs = signature.input_names, signature.output_names
    dynamic_axes = {name: {0: "batch"} for name in inputs + outputs} if dynamic_batch else None
    with torch.no_grad():
        torch.onnx.export(
            wrapper, signature.example_tensors(), str(path), opset_version=opset, dynamo=False,
            input_names=inputs, output_names=outputs, dynamic_axes=dynamic_axes,
        )
    log.info("wrote %s", path)
    return path


def export_openvino(onnx_path: str | Path, xml_path: str | Path, precision: str = "fp32") -> Path:
    """Convert an exported ONNX file to OpenVINO IR (`fp32` or `fp16` weights)."""
    import openvino as ov  # deferred: OpenVINO's converter, only when IR is written

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
    import nncf  # deferred: NNCF, only for quantized models
    import openvino as ov  # deferred: OpenVINO's converter, only when IR is written

    check_int("batch", batch)
    directory = Path(directory)
    wrapper = GraphModule(quantized.eval().cpu()).eval()
    signature = wrapper.signature(batch)
    example = signature.example_tensors()
    stripped = nncf.strip(quantized, do_copy=True, strip_format=nncf.StripFormat.NATIVE, example_input=example[0])
    export_onnx(stripped, directory / "model.int8.onnx", batch=batch, separate_projections=False)
    with torch.no_grad():
        ov_model = ov.convert_model(wrapper, example_input=example, input=[list(t.shape) for t in example])
    name_openvino_ports(ov_model, signature.input_names, signature.output_names)
    xml = directory / "openvino" / "model.int8.xml"
    xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov_model, str(xml), compress_to_fp16=False)
    return {"onnx": "model.int8.onnx", "openvino": "openvino/model.int8.xml"}

"""ONNX Runtime sessions: CPU, CUDA, TensorRT (Jetson), QNN (Qualcomm NPU), OpenVINO EP."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from .base import DeviceUnavailableError, Session
from .devices import ORT_PROVIDERS
from .manifest import BundleError, TensorSpec

log = logging.getLogger(__name__)

ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64",
             "tensor(int32)": "int32", "tensor(uint8)": "uint8", "tensor(int8)": "int8"}


def ort_providers(target: str, precision: str, cache_dir: str | Path | None) -> list:
    """The provider list for a target: the accelerator first (with its cache options), CPU last for
    the nodes it does not take."""
    cache = str(cache_dir) if cache_dir is not None else None
    if target == "cpu":
        return ["CPUExecutionProvider"]
    if target == "tensorrt":
        options = {"trt_fp16_enable": precision == "fp16", "trt_int8_enable": precision == "int8"}
        if cache:
            options.update(trt_engine_cache_enable=True, trt_engine_cache_path=cache,
                           trt_timing_cache_enable=True, trt_timing_cache_path=cache)
        return [("TensorrtExecutionProvider", options), "CUDAExecutionProvider", "CPUExecutionProvider"]
    if target == "cuda":
        return [("CUDAExecutionProvider", {"device_id": 0}), "CPUExecutionProvider"]
    if target == "qnn":
        # HTP = the Hexagon NPU; it wants static-shape QDQ (int8) models for full offload.
        return [("QNNExecutionProvider", {"backend_type": "htp"}), "CPUExecutionProvider"]
    if target == "openvino":
        options = {"device_type": "CPU"}
        if cache:
            options["cache_dir"] = cache
        return [("OpenVINOExecutionProvider", options), "CPUExecutionProvider"]
    return [ORT_PROVIDERS[target], "CPUExecutionProvider"]


def model_error(ort, onnx_path: str | Path, options) -> Exception | None:
    """Why the CPU provider cannot load `onnx_path` (a damaged or foreign file), or None when it can."""
    try:
        ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 (ORT's exception types are not importable as a family)
        return err
    return None


def first_line(err: BaseException) -> str:
    """The first line of a runtime's (often multi-line) error message."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def spec_of(node) -> TensorSpec:
    shape = [d if isinstance(d, int) and d > 0 else -1 for d in node.shape]
    return TensorSpec(node.name, shape, ORT_TYPES.get(node.type, "float32"))


class OnnxRuntimeSession(Session):
    """An ONNX file in an `onnxruntime.InferenceSession` (whose `run` is thread-safe)."""

    backend = "onnxruntime"

    def __init__(self, onnx_path: str | Path, target: str = "cpu", precision: str = "fp32",
                 threads: int | None = None, cache_dir: str | Path | None = None):
        import onnxruntime as ort  # deferred: ONNX Runtime loads only when this backend is used

        start = time.perf_counter()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        if target == "qnn" and cache_dir is not None:  # EP context: the compiled HTP graph, reused next start
            options.add_session_config_entry("ep.context_enable", "1")
            options.add_session_config_entry("ep.context_file_path", str(Path(cache_dir) / "model_ctx.onnx"))
        providers = ort_providers(target, precision, cache_dir)
        try:
            self.session = ort.InferenceSession(str(onnx_path), options, providers=providers)
        except Exception as err:  # ORT raises its own exception types per EP
            # The CPU provider is always there: when it cannot load the file either, the file is at fault.
            cpu_error = err if target == "cpu" else model_error(ort, onnx_path, options)
            if cpu_error is not None:
                raise BundleError(f"{onnx_path} is corrupt or not an ONNX model (ONNX Runtime could not load it: "
                                  f"{first_line(cpu_error)}); re-export the model or check the file given") from err
            raise DeviceUnavailableError(f"ONNX Runtime could not load {onnx_path} with {ORT_PROVIDERS[target]}: "
                                         f"{err}. Try another device (e.g. device='cpu').") from err
        used = self.session.get_providers()
        if ORT_PROVIDERS[target] not in used:
            raise DeviceUnavailableError(f"ONNX Runtime dropped {ORT_PROVIDERS[target]} (session uses {used}); "
                                         "check the provider's libraries or pick another device")
        super().__init__([spec_of(i) for i in self.session.get_inputs()],
                         [spec_of(o) for o in self.session.get_outputs()],
                         f"onnxruntime:{target}", used, precision, (time.perf_counter() - start) * 1000)
        self._names = [o.name for o in self.outputs]
        log.info("ONNX Runtime loaded %s with %s in %.0f ms", Path(onnx_path).name, used, self.load_ms)

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self._names, self.session.run(self._names, feeds)))

"""OpenVINO sessions: CPU, GPU, NPU (static shapes, LATENCY hint, compile cache in CACHE_DIR)."""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np

from .base import DeviceUnavailableError, Session
from .manifest import BundleError, TensorSpec

log = logging.getLogger(__name__)

# OpenVINO's CPU default is bf16 on CPUs with AMX/AVX512-BF16; ask for what the artifact was made as.
PRECISION_HINTS = {"fp32": "f32", "fp16": "f16", "int8": "f32"}


def cpu_half_hint(capabilities) -> str:
    """The CPU's 16-bit inference precision for precision="fp16", from its OPTIMIZATION_CAPABILITIES.

    bf16 where the CPU has it (AMX or AVX512-BF16), else f16 where listed, else f32. bf16 is preferred
    because f16 can be slower than f32 even where the CPU lists FP16 (measured in docs/devices.md).
    """
    capabilities = set(capabilities)
    return "bf16" if "BF16" in capabilities else "f16" if "FP16" in capabilities else "f32"


def create_core():
    """A fresh `openvino.Core` (a function so tests can replace it with a fake)."""
    import openvino as ov  # deferred: OpenVINO loads only when this backend is used

    return ov.Core()


def openvino_config(target: str, precision: str, threads: int | None, cache_dir: str | Path | None,
                    capabilities=()) -> dict:
    """Compile properties for one device. The NPU computes in fp16 whatever the hint, so it gets none.
    `capabilities`: the device's OPTIMIZATION_CAPABILITIES, which pick the CPU's 16-bit format."""
    config: dict = {"PERFORMANCE_HINT": "LATENCY"}
    device = target.split(".")[0].split(":")[0]
    if device in ("CPU", "GPU"):
        config["INFERENCE_PRECISION_HINT"] = PRECISION_HINTS[precision]
    if device == "CPU" and precision == "fp16":
        config["INFERENCE_PRECISION_HINT"] = cpu_half_hint(capabilities)
    if cache_dir is not None:  # OpenVINO's blob key leaves the hint out: an f16 blob came back for bf16
        config["CACHE_DIR"] = str(Path(cache_dir) / config.get("INFERENCE_PRECISION_HINT", "device-default"))
    if device == "CPU" and threads:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    return config


def optimization_capabilities(core, target: str) -> list[str]:
    """The device's OPTIMIZATION_CAPABILITIES (e.g. ['BF16', 'FP32', 'FP16', 'INT8']); [] if it cannot say."""
    try:
        return list(core.get_property(target, "OPTIMIZATION_CAPABILITIES"))
    except (RuntimeError, AttributeError, TypeError):
        return []


def first_line(err: BaseException) -> str:
    """The first line of a runtime's (often multi-line, C++-traced) error message."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def spec_of(port) -> TensorSpec:
    shape = [d.get_length() if d.is_static else -1 for d in port.get_partial_shape()]
    return TensorSpec(port.get_any_name(), shape, np.dtype(port.get_element_type().to_dtype()).name)


class OpenVINOSession(Session):
    """An OpenVINO IR (.xml) or ONNX file compiled for one OpenVINO device.

    Dynamic axes are fixed to 1 before compiling for the NPU (it only takes static shapes). Each
    calling thread gets its own infer request, so `run` is thread-safe.
    """

    backend = "openvino"

    def __init__(self, model_path: str | Path, target: str = "CPU", precision: str = "fp32",
                 threads: int | None = None, cache_dir: str | Path | None = None):
        start = time.perf_counter()
        core = create_core()
        try:
            model = core.read_model(str(model_path))
        except RuntimeError as err:  # a damaged or foreign file: the model's fault, whatever the device
            raise BundleError(f"{model_path} is corrupt or not an OpenVINO/ONNX model (OpenVINO could not read "
                              f"it: {first_line(err)}); re-export the model or check the file given") from err
        if target.startswith("NPU") and any(p.get_partial_shape().is_dynamic for p in model.inputs):
            static = {p.get_any_name(): [d.get_length() if d.is_static else 1 for d in p.get_partial_shape()]
                      for p in model.inputs}
            log.info("the NPU needs static shapes: reshaping %s to %s", model_path, static)
            model.reshape(static)
        self.config = openvino_config(target, precision, threads, cache_dir, optimization_capabilities(core, target))
        try:
            self.compiled = core.compile_model(model, target, self.config)
        except RuntimeError as err:
            if target.split(".")[0].split(":")[0] == "CPU":  # the CPU is always there: the model is at fault
                raise BundleError(f"OpenVINO could not compile {model_path} for the CPU: {first_line(err)}; the "
                                  "model file is corrupt or not a model this OpenVINO can run") from err
            raise DeviceUnavailableError(f"OpenVINO could not compile {model_path} for {target}: {err}. "
                                         "Try another device (e.g. device='cpu').") from err
        try:
            executed = list(self.compiled.get_property("EXECUTION_DEVICES"))
        except RuntimeError:
            executed = [target]
        super().__init__([spec_of(p) for p in self.compiled.inputs], [spec_of(p) for p in self.compiled.outputs],
                         f"openvino:{target}", executed, precision, (time.perf_counter() - start) * 1000)
        self._names = [s.name for s in self.outputs]
        self._local = threading.local()
        log.info("OpenVINO compiled %s for %s (EXECUTION_DEVICES %s) in %.0f ms", Path(model_path).name, target,
                 executed, self.load_ms)

    def _request(self):
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        return request

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # `run` made every feed a C-contiguous array of the input's dtype, and infer is synchronous: the
        # request reads them in place (share_inputs) instead of copying, 1 ms a step on the decoder caches.
        results = self._request().infer(feeds, share_inputs=True)
        # The request reuses its output buffers on the next call: copy.
        return {name: np.array(results[i]) for i, name in enumerate(self._names)}

"""Device strings and their resolution, with faked device / provider lists (no accelerator needed)."""
import numpy as np
import pytest

from runtimes import devices
from runtimes.base import DeviceUnavailableError
from runtimes.devices import Target, parse_device, resolve
from runtimes.openvino_session import openvino_config
from runtimes.ort_session import ort_providers

BOTH = {"onnx", "openvino"}


@pytest.fixture
def machine(monkeypatch):
    """Fake discovery: set .ov, .ort, .cuda on the returned object."""

    class Machine:
        ov = ["CPU"]
        ort = ["CPUExecutionProvider"]
        cuda = 0

    m = Machine()
    monkeypatch.setattr(devices, "openvino_devices", lambda: list(m.ov))
    monkeypatch.setattr(devices, "onnxruntime_providers", lambda: list(m.ort))
    monkeypatch.setattr(devices, "torch_cuda_count", lambda: m.cuda)
    return m


def test_parse_device_strings():
    assert parse_device("NPU").family == "npu"
    assert parse_device("openvino:gpu.0").target == Target("openvino", "GPU.0")
    assert parse_device("ort:TensorRT").target == Target("onnxruntime", "tensorrt")
    assert parse_device("torch:cuda").target == Target("torch", "cuda:0")
    assert str(parse_device("onnxruntime:qnn").target) == "onnxruntime:qnn"
    for bad, hint in [("cuda:0", "torch:cuda:0"), ("tpu", "backend:target"), ("onnxruntime:npu", "qnn"),
                      ("torch:xpu", "torch:cuda:N"), ("", "device must be")]:
        with pytest.raises(ValueError, match=hint):
            parse_device(bad)


def test_npu_resolves_to_openvino_npu_then_qnn(machine):
    machine.ov = ["CPU", "GPU", "NPU"]
    assert resolve("npu", BOTH) == Target("openvino", "NPU")
    assert resolve("auto", BOTH) == Target("openvino", "NPU")
    machine.ov = ["CPU"]
    machine.ort = ["QNNExecutionProvider", "CPUExecutionProvider"]
    assert resolve("npu", BOTH) == Target("onnxruntime", "qnn")


def test_gpu_resolution_order(machine):
    machine.ort = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    machine.ov = ["CPU", "GPU.0", "GPU.1"]
    assert resolve("gpu", BOTH) == Target("onnxruntime", "tensorrt")
    machine.ort = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert resolve("gpu", BOTH) == Target("onnxruntime", "cuda")
    machine.ort = ["CPUExecutionProvider"]
    assert resolve("gpu", BOTH) == Target("openvino", "GPU")
    assert resolve("openvino:GPU.1", BOTH) == Target("openvino", "GPU.1")
    machine.ov = ["CPU"]
    machine.cuda = 1
    assert resolve("gpu", BOTH | {"torch"}) == Target("torch", "cuda:0")
    assert resolve("gpu", BOTH | {"torch"}, backend="torch") == Target("torch", "cuda:0")
    with pytest.raises(DeviceUnavailableError):
        resolve("gpu", BOTH)  # torch CUDA needs the torch module


def test_unavailable_device_lists_what_is_available(machine):
    with pytest.raises(DeviceUnavailableError) as info:
        resolve("npu", BOTH)
    message = str(info.value)
    assert "openvino:CPU" in message and "onnxruntime:cpu" in message and "fallback='cpu'" in message
    assert "openvino:CPU" in info.value.available
    with pytest.raises(DeviceUnavailableError, match="GPU.0"):
        resolve("openvino:GPU.0", BOTH)
    machine.ov = ["CPU", "NPU"]
    with pytest.raises(DeviceUnavailableError, match="no artifact for openvino:NPU"):
        resolve("npu", {"onnx"})  # e.g. an int8 precision that only exists as QDQ ONNX


def test_cpu_is_chosen_by_measurement_and_backend_restricts(machine):
    machine.ov = ["CPU", "GPU"]
    seen = []

    def choose(candidates):
        seen.extend(candidates)
        return candidates[-1]

    assert resolve("cpu", BOTH, choose_cpu=choose) == Target("openvino", "CPU")
    assert seen == [Target("onnxruntime", "cpu"), Target("openvino", "CPU")]
    assert resolve("cpu", BOTH, backend="onnxruntime") == Target("onnxruntime", "cpu")
    assert resolve("cpu", BOTH | {"torch"}, backend="torch") == Target("torch", "cpu")
    assert resolve("cpu", {"openvino"}) == Target("openvino", "CPU")  # fp16: IR only
    with pytest.raises(ValueError, match="drop one"):
        resolve("openvino:CPU", BOTH, backend="onnxruntime")


def test_backend_options():
    npu = openvino_config("NPU", "fp16", threads=2, cache_dir="/c")
    assert npu == {"PERFORMANCE_HINT": "LATENCY", "CACHE_DIR": "/c/device-default"}  # the NPU computes fp16 anyway
    assert openvino_config("CPU", "fp16", 2, "/c", ("BF16",))["CACHE_DIR"] == "/c/bf16"  # a blob per hint
    cpu = openvino_config("CPU", "fp32", threads=2, cache_dir=None)
    assert cpu["INFERENCE_PRECISION_HINT"] == "f32" and cpu["INFERENCE_NUM_THREADS"] == 2
    assert openvino_config("GPU.0", "fp16", None, None)["INFERENCE_PRECISION_HINT"] == "f16"
    # CPU fp16 is the CPU's fast 16-bit format: bf16 on AMX / AVX512-BF16 Xeons, else f16, else f32.
    half = {caps: openvino_config("CPU", "fp16", 2, None, caps)["INFERENCE_PRECISION_HINT"]
            for caps in (("BF16", "FP16", "FP32"), ("FP16", "FP32"), ("FP32",), ())}
    assert list(half.values()) == ["bf16", "f16", "f32", "f32"]
    assert openvino_config("CPU", "fp32", 2, None, ("BF16",))["INFERENCE_PRECISION_HINT"] == "f32"
    trt = ort_providers("tensorrt", "fp16", "/c")
    assert trt[0][0] == "TensorrtExecutionProvider" and trt[0][1]["trt_engine_cache_path"] == "/c"
    assert trt[0][1]["trt_fp16_enable"] and trt[-1] == "CPUExecutionProvider"
    assert ort_providers("qnn", "int8", None)[0] == ("QNNExecutionProvider", {"backend_type": "htp"})
    assert ort_providers("cuda", "fp32", None)[0][0] == "CUDAExecutionProvider"
    assert np.array_equal(ort_providers("cpu", "fp32", None), ["CPUExecutionProvider"])

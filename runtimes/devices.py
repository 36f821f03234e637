"""Device strings -> (backend, target), from what this machine and the bundle actually offer.

Accepted strings (DESIGN.md "Devices"):

- `cpu`, `gpu`, `npu`, `auto`: resolved to the best available backend and target for the bundle:
  - `npu`  -> OpenVINO `NPU`, else ONNX Runtime QNN (Qualcomm Hexagon)
  - `gpu`  -> ONNX Runtime TensorRT, CUDA (Jetson, NVIDIA), else OpenVINO `GPU`, else torch CUDA
  - `cpu`  -> ONNX Runtime or OpenVINO on the CPU, whichever is faster *for this bundle* (a short
    timed probe on first use, cached per bundle hash; see `runtimes.load`); eager torch only when
    asked for (`torch:cpu`) or when neither runtime is installed
  - `auto` -> npu, else gpu, else cpu
- explicit `backend:target`: `openvino:CPU|GPU|GPU.0|NPU|AUTO`, `onnxruntime:cpu|cuda|tensorrt|qnn|
  openvino|coreml|dml`, `torch:cpu|cuda|cuda:0` (aliases: `ov:`, `ort:`).

Discovery goes through `openvino_devices()`, `onnxruntime_providers()` and `torch_cuda_count()`, so
tests (and users debugging a machine) can replace them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterable

from .base import BACKENDS, DeviceUnavailableError

log = logging.getLogger(__name__)

FAMILIES = ("cpu", "gpu", "npu", "auto")
BACKEND_ALIASES = {"ov": "openvino", "openvino": "openvino", "ort": "onnxruntime", "onnxruntime": "onnxruntime",
                   "torch": "torch", "pytorch": "torch", "pt": "torch"}
ORT_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "dml": "DmlExecutionProvider",
}
# The artifact format each backend loads ("torch" = an nn.Module / checkpoint).
BACKEND_FORMAT = {"openvino": "openvino", "onnxruntime": "onnx", "torch": "torch"}


@dataclass(frozen=True)
class Target:
    """A resolved device: which backend runs the model, and on what."""

    backend: str  # torch | onnxruntime | openvino
    target: str  # OpenVINO device ("CPU", "NPU", "GPU.0"), ORT EP short name ("cuda"), torch device

    def __str__(self) -> str:
        return f"{self.backend}:{self.target}"

    @property
    def is_cpu(self) -> bool:
        return self.target.lower() == "cpu"


@dataclass(frozen=True)
class DeviceRequest:
    """A parsed device string: a family (`cpu`/`gpu`/`npu`/`auto`) or one explicit target."""

    text: str
    family: str | None = None
    target: Target | None = None


# --- discovery (each wrapped so tests can fake it) ------------------------------------------------

def openvino_devices() -> list[str]:
    """OpenVINO's `Core().available_devices` (e.g. ['CPU', 'GPU', 'NPU']); [] without OpenVINO."""
    try:
        import openvino as ov  # deferred: each runtime is imported only when its devices are asked for
    except ImportError:
        return []
    return list(ov.Core().available_devices)


def onnxruntime_providers() -> list[str]:
    """ONNX Runtime's `get_available_providers()`; [] without ONNX Runtime."""
    try:
        import onnxruntime as ort  # deferred: each runtime is imported only when its devices are asked for
    except ImportError:
        return []
    return list(ort.get_available_providers())


def torch_cuda_count() -> int:
    try:
        import torch  # deferred: torch only for its CUDA device count
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


# --- parsing ---------------------------------------------------------------------------------------

def parse_device(device: str) -> DeviceRequest:
    """Parse a device string; errors say what is accepted."""
    if not isinstance(device, str) or not device.strip():
        raise ValueError(f"device must be a string such as 'cpu', 'gpu', 'npu', 'auto' or 'openvino:NPU'; "
                         f"got {device!r}")
    text = device.strip()
    if text.lower() in FAMILIES:
        return DeviceRequest(text, family=text.lower())
    if text.lower() in ("cuda", "mps") or text.lower().startswith("cuda:"):
        raise ValueError(f"device {text!r}: say which backend runs it, e.g. 'gpu', 'onnxruntime:cuda' or "
                         f"'torch:{text.lower() if ':' in text else 'cuda:0'}'")
    backend, sep, target = text.partition(":")
    backend = BACKEND_ALIASES.get(backend.lower())
    if not sep or backend is None or not target:
        raise ValueError(f"unknown device {text!r}; use cpu, gpu, npu, auto, or backend:target such as "
                         "openvino:NPU, openvino:GPU.0, onnxruntime:cuda, onnxruntime:tensorrt, "
                         "onnxruntime:qnn, torch:cuda:0")
    if backend == "openvino":
        target = target.upper()
    elif backend == "onnxruntime":
        target = target.lower()
        if target not in ORT_PROVIDERS:
            raise ValueError(f"unknown ONNX Runtime target {target!r}; use one of {', '.join(ORT_PROVIDERS)}")
    else:
        target = target.lower()
        if target == "cuda":
            target = "cuda:0"
        if target != "cpu" and not (target.startswith("cuda:") and target[5:].isdigit()):
            raise ValueError(f"unknown torch device {target!r}; use torch:cpu or torch:cuda:N")
    return DeviceRequest(text, target=Target(backend, target))


# --- availability ----------------------------------------------------------------------------------

def openvino_has(target: str, devices: list[str]) -> bool:
    if target == "AUTO" or target.startswith(("AUTO:", "HETERO:", "MULTI:")):
        return bool(devices)
    if target in devices:
        return True
    base, _, index = target.partition(".")
    # 'GPU' matches 'GPU.0'; 'GPU.0' matches a lone 'GPU' (OpenVINO drops the index for one GPU).
    return any(d.split(".")[0] == target for d in devices) or (index == "0" and base in devices)


def is_available(target: Target) -> bool:
    if target.backend == "openvino":
        return openvino_has(target.target, openvino_devices())
    if target.backend == "onnxruntime":
        return ORT_PROVIDERS[target.target] in onnxruntime_providers()
    if target.target == "cpu":
        return True
    return int(target.target.split(":")[1]) < torch_cuda_count()


def available_targets() -> list[Target]:
    """Every backend:target this machine can run (physical devices; no AUTO/HETERO)."""
    found = [Target("openvino", d) for d in openvino_devices()]
    providers = onnxruntime_providers()
    found += [Target("onnxruntime", short) for short, name in ORT_PROVIDERS.items() if name in providers]
    found.append(Target("torch", "cpu"))
    found += [Target("torch", f"cuda:{i}") for i in range(torch_cuda_count())]
    return found


def describe_machine() -> str:
    return (f"OpenVINO devices: {openvino_devices() or 'none (openvino not installed)'}; "
            f"ONNX Runtime providers: {onnxruntime_providers() or 'none (onnxruntime not installed)'}; "
            f"torch CUDA devices: {torch_cuda_count()}")


# --- resolution ------------------------------------------------------------------------------------

def family_candidates(family: str) -> list[Target]:
    """Preferred targets of a family, best first (before availability and bundle checks)."""
    npu = [Target("openvino", "NPU"), Target("onnxruntime", "qnn")]
    gpu = [Target("onnxruntime", "tensorrt"), Target("onnxruntime", "cuda"), Target("openvino", "GPU"),
           Target("torch", "cuda:0")]
    cpu = [Target("onnxruntime", "cpu"), Target("openvino", "CPU")]
    return {"npu": npu, "gpu": gpu, "cpu": cpu, "auto": npu + gpu + cpu}[family]


def resolve(device: str, formats: Iterable[str], backend: str | None = None,
            choose_cpu: Callable[[list[Target]], Target] | None = None) -> Target:
    """The target that runs a model for `device`.

    `formats`: what the model offers at the requested precision ("onnx", "openvino", "torch").
    `backend`: restrict to one backend. `choose_cpu`: picks among several usable CPU targets (the
    measured probe); without it the first (ONNX Runtime) wins.
    Raises DeviceUnavailableError listing what is available and how to fall back.
    """
    request = parse_device(device)
    formats = set(formats)
    if backend is not None:
        backend = BACKEND_ALIASES.get(backend.lower(), backend)
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)} (or None)")
        if request.target is not None and request.target.backend != backend:
            raise ValueError(f"device {device!r} names backend {request.target.backend!r} but backend="
                             f"{backend!r} was passed; drop one of them")

    if request.target is not None:
        candidates = [request.target]
    else:
        candidates = family_candidates(request.family)
        if backend is not None:  # e.g. device="cpu", backend="torch" -> torch:cpu
            candidates = [t for t in candidates if t.backend == backend]
            if backend == "torch" and request.family in ("cpu", "auto"):
                candidates.append(Target("torch", "cpu"))
        elif request.family in ("cpu", "auto") and "torch" in formats:
            candidates.append(Target("torch", "cpu"))  # last resort: no runtime installed

    lacking_format = [t for t in candidates if BACKEND_FORMAT[t.backend] not in formats]
    usable = [t for t in candidates if t not in lacking_format and is_available(t)]
    if not usable:
        raise unavailable_error(device, candidates, lacking_format, formats)

    if request.family in ("cpu", "auto"):
        # NPU/GPU entries come first in `auto`; CPU entries are compared by measurement.
        accelerators = [t for t in usable if not t.is_cpu]
        if accelerators:
            return accelerators[0]
        cpu = [t for t in usable if t.backend != "torch"] or usable
        if len(cpu) > 1 and choose_cpu is not None:
            return choose_cpu(cpu)
        return cpu[0]
    return usable[0]


def unavailable_error(device: str, candidates: list[Target], lacking_format: list[Target],
                      formats: set[str]) -> DeviceUnavailableError:
    available = [str(t) for t in available_targets()]
    tried = ", ".join(str(t) for t in candidates)
    why = []
    if lacking_format:
        why.append(f"the model has no artifact for {', '.join(str(t) for t in lacking_format)} "
                   f"(it has: {', '.join(sorted(formats)) or 'nothing'} at this precision)")
    missing = [str(t) for t in candidates if t not in lacking_format]
    if missing:
        why.append(f"not present on this machine: {', '.join(missing)}")
    message = (f"device {device!r} is not available (tried {tried}): {'; '.join(why)}. "
               f"Available here: {', '.join(available)} [{describe_machine()}]. "
               f"Use one of those devices, or pass fallback='cpu' to fall back with a warning.")
    return DeviceUnavailableError(message, available)

"""Open a session for a bundle (or a bare .onnx / .xml) on a device string.

    session = open_session("bundles/hot-mixste", device="npu", precision="fp16")
    poses = session.run(keypoints)["poses_3d"]

`device="cpu"` picks ONNX Runtime or OpenVINO by measuring both on the bundle once (a few runs
each); the choice is cached per (bundle hash, precision, threads, runtime versions) in
`<cache>/probes/`, so later starts skip the probe.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgetokens.clitools import check_threads

from . import cache
from .base import DeviceUnavailableError, Session
from .devices import Target, resolve
from .manifest import PRECISIONS, BundleError, Manifest, read_examples, read_manifest
from .timing import summarize, time_side_by_side

log = logging.getLogger(__name__)

PROBE_REPEATS = 5


@dataclass
class ModelSource:
    """What can be run: a verified bundle or a bare artifact, plus (optionally) the torch module the
    caller hands in, which makes `torch:*` targets usable (runtimes never load checkpoints)."""

    path: Path
    manifest: Manifest | None
    sha: str
    torch_model: Any = None  # nn.Module; typed loosely so runtimes imports torch only when used
    _bare_format: str | None = field(default=None, repr=False)

    @classmethod
    def open(cls, model: str | Path, torch_model: Any = None, verify: bool = True) -> "ModelSource":
        path = Path(model)
        if path.is_dir():
            return cls(path, read_manifest(path, verify), cache.bundle_hash(path), torch_model)
        if path.is_file() and path.suffix in (".onnx", ".xml"):
            return cls(path, None, cache.bundle_hash(path), torch_model,
                       "onnx" if path.suffix == ".onnx" else "openvino")
        raise BundleError(f"{path} is neither a bundle directory (with manifest.json) nor an .onnx/.xml file")

    def formats(self, precision: str) -> set[str]:
        """Formats that can run `precision`; raises the manifest's error when the bundle lacks it."""
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
        torch = {"torch"} if precision == "fp32" and self.torch_model is not None else set()
        if self.manifest is None:
            return {self._bare_format} | torch
        if precision not in self.manifest.precisions():
            have = [f"{p}/{f}" for p, fs in self.manifest.artifacts.items() for f in fs]
            hint = " (int8 artifacts come from compression.ptq / compression.qat)" if precision == "int8" else ""
            raise BundleError(f"this {self.manifest.arch} bundle has no {precision} artifact{hint}; it has: "
                              f"{', '.join(have)}. Pick one of its precisions: {', '.join(self.manifest.precisions())}")
        return set(self.manifest.artifacts[precision]) | torch

    def artifact(self, fmt: str, precision: str) -> Path:
        if self.manifest is None:
            return self.path
        return self.path / self.manifest.artifact(precision, fmt)

    def examples(self) -> dict[str, np.ndarray]:
        """The model's example inputs recorded in the bundle ({} for bare artifacts and older bundles)."""
        return read_examples(self.path, self.manifest) if self.manifest is not None else {}


def create_session(source: ModelSource, target: Target, precision: str, threads: int | None = None,
                   cache_dir: str | Path | None = None) -> Session:
    """Instantiate the backend class for one resolved target."""
    if target.backend == "torch":
        # deferred: a backend's runtime loads only when that backend is used
        from .torch_session import TorchSession

        if source.torch_model is None:
            raise DeviceUnavailableError(f"{target} needs the torch module of {source.path}; pass torch_model=",
                                         [])
        return TorchSession(source.torch_model, target.target, precision, threads)
    if target.backend == "openvino":
        # deferred: a backend's runtime loads only when that backend is used
        from .openvino_session import OpenVINOSession

        compiled = cache.compiled_model_dir("openvino", source.sha, target.target,
                                            cache.runtime_version("openvino"), cache_dir)
        session = OpenVINOSession(source.artifact("openvino", precision), target.target, precision, threads, compiled)
    else:
        # deferred: a backend's runtime loads only when that backend is used
        from .ort_session import OnnxRuntimeSession

        compiled = None if target.target == "cpu" else cache.compiled_model_dir(
            "onnxruntime", source.sha, target.target, cache.runtime_version("onnxruntime"), cache_dir)
        session = OnnxRuntimeSession(source.artifact("onnx", precision), target.target, precision, threads, compiled)
    session.examples = source.examples()
    return session


class CpuProbe:
    """Chooses the faster CPU backend for a bundle by timing it, and remembers the choice on disk."""

    def __init__(self, source: ModelSource, precision: str, threads: int | None, cache_dir: str | Path | None):
        self.source, self.precision, self.threads, self.cache_dir = source, precision, threads, cache_dir
        self.opened: dict[Target, Session] = {}
        self.result: dict[str, Any] | None = None

    def path(self) -> Path:
        key = cache.safe_key(self.source.sha[:16], self.precision, f"t{self.threads or 'auto'}",
                             f"ort{cache.runtime_version('onnxruntime')}", f"ov{cache.runtime_version('openvino')}")
        return cache.cache_root(self.cache_dir) / "probes" / f"{key}.json"

    def __call__(self, candidates: list[Target]) -> Target:
        remembered = cache.read_json(self.path())
        if remembered and remembered.get("choice") in [str(t) for t in candidates]:
            self.result = remembered
            return next(t for t in candidates if str(t) == remembered["choice"])
        calls = {}
        for target in candidates:
            try:
                session = self.opened[target] = create_session(self.source, target, self.precision, self.threads,
                                                               self.cache_dir)
            except DeviceUnavailableError as err:
                log.warning("CPU probe skips %s: %s", target, err)
                continue
            feeds = session.example_feeds()
            calls[str(target)] = lambda s=session, f=feeds: s._run(f)
        if not calls:
            raise DeviceUnavailableError(f"no CPU backend could load {self.source.path}", [str(t) for t in candidates])
        times = {name: summarize(t)["p50_ms"] for name, t in
                 time_side_by_side(calls, repeats=PROBE_REPEATS, warmup=1).items()}
        choice = min(times, key=times.get)
        self.result = {"choice": choice, "p50_ms": times, "repeats": PROBE_REPEATS}
        cache.write_json(self.path(), self.result)
        log.info("CPU probe for %s (%s): %s -> %s", self.source.path.name, self.precision,
                 {k: round(v, 2) for k, v in times.items()}, choice)
        return next(t for t in candidates if str(t) == choice)


def open_session(model: str | Path | ModelSource, device: str = "cpu", precision: str = "fp32",
                 backend: str | None = None, threads: int | None = None, fallback: str | None = None,
                 cache_dir: str | Path | None = None, torch_model: Any = None, verify: bool = True) -> Session:
    """Load `model` (bundle dir, .onnx, .xml) on `device`; see `runtimes.devices` for device strings.

    `fallback`: a device to use, with a warning, when `device` is unavailable (e.g. "cpu").
    `torch_model`: the nn.Module the bundle was exported from, which makes `torch:*` targets usable.
    """
    threads = check_threads(threads)  # OpenVINO refuses -1 and the CPU probe would silently drop it
    source = model if isinstance(model, ModelSource) else ModelSource.open(model, torch_model, verify)
    formats = source.formats(precision)
    try:
        return _open(source, device, formats, precision, backend, threads, cache_dir)
    except DeviceUnavailableError as err:
        if not fallback:
            raise
        # one warning: a RuntimeWarning (shown once by Python, catchable); no log line besides it
        warnings.warn(f"{err} Falling back to device={fallback!r}.", RuntimeWarning, stacklevel=2)
        return _open(source, fallback, formats, precision, backend, threads, cache_dir)


def _open(source: ModelSource, device: str, formats: set[str], precision: str, backend: str | None,
          threads: int | None, cache_dir: str | Path | None) -> Session:
    probe = CpuProbe(source, precision, threads, cache_dir)
    target = resolve(device, formats, backend, choose_cpu=probe)
    session = probe.opened.pop(target, None) or create_session(source, target, precision, threads, cache_dir)
    for other in probe.opened.values():
        other.close()
    session.probe = probe.result  # the measured CPU choice, when there was one
    log.info("device %r -> %s (execution devices %s)", device, session.device, session.execution_devices)
    return session

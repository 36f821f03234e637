"""From a model name, checkpoint or bundle path to a bundle on disk (and the torch module if needed).

Checkpoints are exported once into the cache (`$EDGETOKENS_CACHE`, default ~/.cache/edgetokens)
under `bundles/<name>-<weights hash>`. INT8: a checkpoint directory may hold its QAT state in
`int8/` (what `python -m compression.qat --publish` ships for the defaults: quantizer ranges and
fine-tuned weights plus NNCF's config, no pickles); asking for precision="int8" exports that state
once into `bundles/<name>-<weights hash>-int8` (FP32, FP16 and INT8 artifacts), so the INT8
defaults work offline on a fresh install without shipping their artifacts.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runtimes import BundleError, ModelSource, manifest
from runtimes.cache import cache_root
from runtimes.manifest import sha256_file

from .checkpoint import CONFIG, INT8_STATE, NNCF_CONFIG, WEIGHTS, read_checkpoint_info
from .models import architecture_task, list_models, make_config, model_for
from .tasks import DEFAULT_TASK, get_task
from .zoo import pretrained_dir

log = logging.getLogger(__name__)


@dataclass
class ModelInfo:
    """Where the predictor's model came from."""

    name: str
    bundle: Path
    weights: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # as recorded by training (or QAT, for INT8)
    metrics_source: str = "training (torch fp32)"
    metrics_precision: str = "fp32"  # the precision `metrics` were measured at
    export_ms: float = 0.0  # time spent exporting the checkpoint into the cache (0 when cached)
    verified: bool = False  # the bundle's file hashes were just checked (a cache hit), so opening it need not



def resolve_model(model: str | Path, weights: str | Path | None, cache_dir: str | Path | None,
                  need_torch: bool = False, precision: str = "fp32") -> tuple[ModelInfo, Any]:
    """(where the bundle is, the torch module when it was loaded or is needed)."""
    path = Path(model)
    if path.exists():
        if (path / CONFIG).is_file() and not (path / manifest.MANIFEST).is_file():  # a checkpoint directory
            return export_checkpoint(None, path, cache_dir, need_torch, precision)
        if weights is not None:
            raise ValueError(f"weights= is for model names; {path} is already an exported model")
        return ModelInfo(path.name, path), bundle_torch_module(path) if need_torch else None
    name = str(model)
    if name not in list_models():
        raise ValueError(f"{name!r} is neither an existing bundle/.onnx/.xml path nor a model name; "
                         f"model names: {', '.join(list_models())}")
    if weights is None:
        weights = pretrained_dir(name)  # raises listing the shipped defaults
    return export_checkpoint(name, weights, cache_dir, need_torch, precision)


def bundle_torch_module(bundle: Path):
    """The torch module of a bundle exported from one of our checkpoints (for `torch:*` devices), or None."""
    try:
        source = json.loads((bundle / manifest.MANIFEST).read_text()).get("source", {})
    except (OSError, json.JSONDecodeError):
        return None  # a bare artifact, or a broken manifest that opening the bundle reports
    checkpoint = source.get("checkpoint")
    if not checkpoint or not (Path(checkpoint) / CONFIG).is_file():
        return None
    return model_for(None, checkpoint)


def weights_key(name: str | None, weights: str | Path) -> tuple[str, str]:
    """(architecture name, hash of the weights and architecture) for the cache path."""
    if weights == "random":
        config = json.dumps(asdict(make_config(name)), sort_keys=True)
        return name, hashlib.sha256(f"random-seed0-{name}-{config}".encode()).hexdigest()
    path = Path(weights)
    if path.is_dir():
        info = read_checkpoint_info(path)
        if name is not None and info["arch"] != name:
            raise ValueError(f"checkpoint {path} is a {info['arch']!r} model, not {name!r}; "
                             f"use Predictor({info['arch']!r}, weights=...) or Predictor({str(path)!r})")
        config = json.dumps({"arch": info["arch"], "config": info["config"]}, sort_keys=True)
        digest = sha256_file(path / WEIGHTS) + hashlib.sha256(config.encode()).hexdigest()
        return info["arch"], hashlib.sha256(digest.encode()).hexdigest()
    if path.is_file():
        config = json.dumps(asdict(make_config(name)), sort_keys=True)
        return name, hashlib.sha256((sha256_file(path) + name + config).encode()).hexdigest()
    raise FileNotFoundError(f"weights {path} not found: pass a checkpoint directory (with {CONFIG}), an "
                            "official checkpoint file (.pth/.bin/.safetensors), or 'random'")


_export_lock = threading.Lock()


def int8_state(weights: str | Path) -> Path | None:
    """The QAT state beside a checkpoint (`<checkpoint>/int8/`), if it has one."""
    if weights == "random" or not Path(weights).is_dir():
        return None
    state = Path(weights) / INT8_STATE
    return state if (state / NNCF_CONFIG).is_file() and (state / CONFIG).is_file() else None


def exported_bundle_dir(cache_dir: str | Path | None, name: str, weights_sha: str, state: Path | None) -> Path:
    """Where the bundle of these weights (and QAT state) lives in the cache: keyed by their hashes and
    by `manifest.EXPORT_REVISION`, so a new exporter never reuses an old export."""
    digest = f"{weights_sha}-export{manifest.EXPORT_REVISION}"
    if state is not None:
        digest += sha256_file(state / WEIGHTS) + sha256_file(state / NNCF_CONFIG)
    key = hashlib.sha256(digest.encode()).hexdigest()
    return cache_root(cache_dir) / "bundles" / (f"{name}-{key[:16]}" + ("-int8" if state else ""))


def damaged_cache_entry(bundle: Path) -> bool:
    """Whether a cached bundle is there but damaged (a file deleted, changed or truncated): then it is
    re-exported under the same key, replacing it in one atomic swap (the cache is disposable). An
    entry whose manifest is missing or unreadable is moved aside and removed here, and counts as missing."""
    if not bundle.exists() and not bundle.is_symlink():
        return False
    try:
        manifest.read_manifest(bundle)
        return False
    except BundleError as err:
        log.warning("the cached bundle %s is damaged (%s); exporting it again", bundle, err)
    readable = manifest.is_bundle_directory(bundle)
    if not readable:  # not recognisable as a bundle any more: `overwrite` would refuse to replace it
        discard_cache_entry(bundle)
    return readable


def discard_cache_entry(bundle: Path) -> None:
    """Rename a broken cache entry aside (atomic, so another process never sees half of it), then delete it."""
    aside = bundle.with_name(f".{bundle.name}.damaged-{os.getpid()}-{threading.get_ident()}")
    try:
        os.rename(bundle, aside)
    except FileNotFoundError:
        return  # another process got there first
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink(missing_ok=True)


def export_checkpoint(name: str | None, weights: str | Path, cache_dir: str | Path | None,
                      need_torch: bool, precision: str = "fp32") -> tuple[ModelInfo, Any]:
    """Export weights into the cache once (keyed by their hash); reuse the bundle afterwards.
    precision="int8" exports the checkpoint's QAT state too (a separate cache entry). Two processes
    exporting the same entry at once both end with the same valid bundle (the first one finished).
    A cached entry that is damaged (a file deleted or changed) is exported again, with a warning."""
    name, key = weights_key(name, weights)
    is_dir = weights != "random" and Path(weights).is_dir()
    state = int8_state(weights) if precision == "int8" else None
    if precision == "int8" and state is None:
        raise BundleError(f"{weights}: no int8 artifact and no INT8 (QAT) state {INT8_STATE}/{NNCF_CONFIG} to build "
                          "one from; it has: fp32/onnx, fp32/openvino, fp16/openvino. "
                          "Make one with `python -m compression.qat --checkpoint DIR --out BUNDLE --publish`, "
                          "or use precision='fp32' or 'fp16'")
    bundle = exported_bundle_dir(cache_dir, name, key, state)
    metrics = read_checkpoint_info(weights).get("metrics") or {} if is_dir else {}
    info = ModelInfo(name, bundle, str(weights), metrics)
    qat_metrics = read_checkpoint_info(state).get("qat", {}).get("table", {}).get("qat") if state else None
    if qat_metrics:
        info.metrics, info.metrics_source, info.metrics_precision = qat_metrics, "QAT INT8 (torch fake-quant)", "int8"
    model = None
    with _export_lock:
        cached = (bundle / manifest.MANIFEST).is_file()
        replace = damaged_cache_entry(bundle)  # hashes a cached entry's files once
        info.verified = cached and not replace and (bundle / manifest.MANIFEST).is_file()
        if replace or not (bundle / manifest.MANIFEST).is_file():
            from compression.bundle import build_bundle  # deferred: torch export + OpenVINO, only on a cache miss

            model = model_for(name, weights)
            start = time.perf_counter()
            log.info("exporting %s (%s) to %s (once)", name, weights, bundle)
            source = {"checkpoint": str(Path(weights).resolve()) if is_dir else None, "weights": str(weights),
                      "weights_sha256": key, "metrics": metrics}
            int8_model = None
            if state is not None:
                from compression.qat import load_qat_checkpoint  # imports NNCF: only for INT8

                log.warning("building the INT8 artifacts of %s from its QAT state %s (once; about a minute)",
                            name, state)
                int8_model, qat_info = load_qat_checkpoint(state)
                source["quantization"] = qat_info.get("qat", {})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings are for exporters, not users
                build_bundle(model, bundle, source=source, int8_model=int8_model, keep_existing=not replace,
                             overwrite=replace)
            info.export_ms = (time.perf_counter() - start) * 1000
    if need_torch and model is None:
        model = model_for(name, weights)
    return info, model


def model_task(name: str, config: dict | None = None) -> str:
    """The task of a registered architecture (`models.architecture_task`), for its recorded `config`."""
    return architecture_task(name, config)


def task_of(model: str | Path, weights: str | Path | None = None) -> str:
    """The task a model source is for, without loading it: bundle manifest, checkpoint config or name.
    Bare .onnx / .xml files get `DEFAULT_TASK`."""
    path = Path(model)
    if path.is_dir() and (path / manifest.MANIFEST).is_file():
        try:
            return json.loads((path / manifest.MANIFEST).read_text()).get("task", DEFAULT_TASK)
        except json.JSONDecodeError:
            return DEFAULT_TASK  # opening the bundle reports the broken manifest properly
    checkpoint = next((Path(p) for p in (model, weights) if p is not None and str(p) != "random"
                       and (Path(p) / CONFIG).is_file()), None)
    if checkpoint is not None:
        info = read_checkpoint_info(checkpoint)
        return model_task(info["arch"], info.get("config"))
    if not path.exists() and str(model) in list_models():
        return model_task(str(model))
    return DEFAULT_TASK


def check_bundle_task(source: ModelSource, task: str, user: str) -> None:
    """A bundle made for another task is an error naming both (`user`: who needs `task`)."""
    if source.manifest is not None and source.manifest.task != task:
        raise BundleError(f"{source.path} is a {source.manifest.task!r} bundle ({source.manifest.arch}); "
                          f"{user} ({get_task(task).description}) needs a {task!r} bundle")

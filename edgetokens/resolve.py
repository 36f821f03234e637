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
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runtimes import BundleError, ModelSource, manifest
from runtimes.cache import cache_root
from runtimes.manifest import sha256_file

log = logging.getLogger(__name__)

INT8_STATE = "int8"  # subdirectory of a checkpoint holding its QAT state


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



def resolve_model(model: str | Path, weights: str | Path | None, cache_dir: str | Path | None,
                  need_torch: bool = False, precision: str = "fp32") -> tuple[ModelInfo, Any]:
    """(where the bundle is, the torch module when it was loaded or is needed)."""
    from .checkpoint import CONFIG

    path = Path(model)
    if path.exists():
        if (path / CONFIG).is_file() and not (path / "manifest.json").is_file():  # a checkpoint directory
            return export_checkpoint(None, path, cache_dir, need_torch, precision)
        if weights is not None:
            raise ValueError(f"weights= is for model names; {path} is already an exported model")
        return ModelInfo(path.name, path), None
    from .models import list_models

    name = str(model)
    if name not in list_models():
        raise ValueError(f"{name!r} is neither an existing bundle/.onnx/.xml path nor a model name; "
                         f"model names: {', '.join(list_models())}")
    if weights is None:
        from .zoo import pretrained_dir

        weights = pretrained_dir(name)  # raises listing the shipped defaults
    return export_checkpoint(name, weights, cache_dir, need_torch, precision)


def weights_key(name: str | None, weights: str | Path) -> tuple[str, str]:
    """(architecture name, hash of the weights and architecture) for the cache path."""
    from .checkpoint import CONFIG, WEIGHTS, read_checkpoint_info
    from .models import make_config

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


def load_weights(name: str, weights: str | Path) -> tuple[Any, dict]:
    """(module, checkpoint info) for our checkpoints, official files, or seeded random weights."""
    import torch

    from .checkpoint import load_checkpoint
    from .models import create_model, load_official_weights

    if weights == "random":
        torch.manual_seed(0)
        return create_model(name).eval(), {}
    if Path(weights).is_dir():
        model, info = load_checkpoint(weights)
        return model.eval(), info
    model = create_model(name).eval()
    load_official_weights(model, weights, strict=True)
    return model, {}


_export_lock = threading.Lock()


def int8_state(weights: str | Path) -> Path | None:
    """The QAT state beside a checkpoint (`<checkpoint>/int8/`), if it has one."""
    from .checkpoint import CONFIG, NNCF_CONFIG

    if weights == "random" or not Path(weights).is_dir():
        return None
    state = Path(weights) / INT8_STATE
    return state if (state / NNCF_CONFIG).is_file() and (state / CONFIG).is_file() else None


def exported_bundle_dir(cache_dir: str | Path | None, name: str, weights_sha: str, state: Path | None) -> Path:
    """Where the bundle of these weights (and QAT state) lives in the cache: keyed by their hashes and
    by `manifest.EXPORT_REVISION`, so a new exporter never reuses an old export."""
    from .checkpoint import NNCF_CONFIG, WEIGHTS

    digest = f"{weights_sha}-export{manifest.EXPORT_REVISION}"
    if state is not None:
        digest += sha256_file(state / WEIGHTS) + sha256_file(state / NNCF_CONFIG)
    key = hashlib.sha256(digest.encode()).hexdigest()
    return cache_root(cache_dir) / "bundles" / (f"{name}-{key[:16]}" + ("-int8" if state else ""))


def export_checkpoint(name: str | None, weights: str | Path, cache_dir: str | Path | None,
                      need_torch: bool, precision: str = "fp32") -> tuple[ModelInfo, Any]:
    """Export weights into the cache once (keyed by their hash); reuse the bundle afterwards.
    precision="int8" exports the checkpoint's QAT state too (a separate cache entry)."""
    from .checkpoint import NNCF_CONFIG, read_checkpoint_info

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
        if not (bundle / "manifest.json").is_file():
            from compression.bundle import build_bundle  # lazy: only when a checkpoint needs exporting

            model, _ = load_weights(name, weights)
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
                try:
                    build_bundle(model, bundle, source=source, int8_model=int8_model)
                except FileExistsError:  # another process exported it first
                    pass
            info.export_ms = (time.perf_counter() - start) * 1000
    if need_torch and model is None:
        model, _ = load_weights(name, weights)
    return info, model


TASK_PREDICTORS = {"pose3d": "PosePredictor (2D keypoints -> 3D poses)", "depth": "DepthPredictor (image -> depth)"}


def arch_task(name: str) -> str:
    """The task of a registered architecture: its model class's `task` ("pose3d" unless it says otherwise)."""
    from .models import get_architecture

    return getattr(get_architecture(name).model_class, "task", "pose3d")


def task_of(model: str | Path, weights: str | Path | None = None) -> str:
    """The task a model source is for, without loading it: bundle manifest, checkpoint config or name.
    Bare .onnx / .xml files count as pose lifters."""
    from .checkpoint import CONFIG, read_checkpoint_info
    from .models import list_models

    path = Path(model)
    if path.is_dir() and (path / "manifest.json").is_file():
        try:
            return json.loads((path / "manifest.json").read_text()).get("task", "pose3d")
        except json.JSONDecodeError:
            return "pose3d"  # opening the bundle reports the broken manifest properly
    if path.is_dir() and (path / CONFIG).is_file():
        return arch_task(read_checkpoint_info(path)["arch"])
    if not path.exists() and str(model) in list_models():
        return arch_task(str(model))
    return "pose3d"


def check_bundle_task(source: ModelSource, task: str) -> None:
    manifest = source.manifest
    if manifest is None:
        return
    if manifest.task != task:
        raise BundleError(f"{source.path} is a {manifest.task!r} bundle ({manifest.arch}); "
                          f"{TASK_PREDICTORS.get(task, task)} needs a {task!r} bundle")
    skeleton = manifest.preprocessing.get("skeleton", "h36m-17")
    if task == "pose3d" and skeleton != "h36m-17":
        raise BundleError(f"{source.path} expects skeleton {skeleton!r}; Predictor feeds 'h36m-17'")

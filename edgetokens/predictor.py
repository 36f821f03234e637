"""The user-facing pose lifter: 2D keypoints in pixels -> 3D poses in metres, on any device.

    from edgetokens import Predictor
    predictor = Predictor("hot-mixste", device="npu", fallback="cpu")
    result = predictor.predict(keypoints, image_size=(1920, 1080), layout="coco")   # (T, 17, 2) pixels
    result.poses_3d                                                                 # (T, 17, 3) metres

    stream = predictor.stream(image_size=(1920, 1080))      # live video: one frame in, one pose out
    pose = stream.push(frame_keypoints)                      # (17, 3)

Model sources: a zoo name (the shipped checkpoint, `edgetokens.zoo`), a name plus `weights=` (our
checkpoint directory, or an official HoT/MixSTE/MotionBERT file for the `-243` configurations),
or a bundle directory / bare .onnx / .xml. Checkpoints are exported once into the cache
(`$EDGETOKENS_CACHE`, default ~/.cache/edgetokens) under `bundles/<name>-<weights hash>`.

Windows: `predict` cuts the sequence into the official seq2seq windows of the model's F frames,
edge-padded (`edgetokens.pose.lifting`, also used by evaluation). It matches the official demo's
chunks except when F divides T, where the demo adds one more, fully padded chunk. Windows run through
the graph's batch: default bundles have a static batch of 1 (what NPUs need), so windows run one
after another; a bundle built with `build_bundle(..., batch=B)` or `dynamic_batch=True` runs B (or
all) windows per call.

Missing joints (NaN/inf keypoints): give them score 0 in `scores` and they are masked: their
coordinates are held from the nearest frame where the joint was seen (previous, else next; the image
centre if never), and MotionBERT-family models see score 0. A non-finite keypoint whose score is
not 0, or any non-finite keypoint without `scores`, is rejected with a ValueError naming it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runtimes import BundleError, ModelSource, Session, open_session
from runtimes.cache import cache_root
from runtimes.manifest import sha256_file

from .pose.lifting import lift_sequence
from .pose.normalize import normalize_screen_coordinates
from .pose.skeleton import H36M_NUM_JOINTS, coco_to_h36m, flip_pose

log = logging.getLogger(__name__)

LAYOUTS = ("h36m", "coco")


@dataclass
class PoseResult:
    """3D poses of a sequence and how they were made."""

    poses_3d: np.ndarray  # (T, 17, 3) metres, camera frame, root-relative (joint 0 = 0)
    timings_ms: dict[str, float]  # preprocess, inference, postprocess, total
    device: str  # resolved backend:target, e.g. "openvino:CPU"
    execution_devices: list[str]  # what the runtime reports (OpenVINO EXECUTION_DEVICES, ORT providers)
    windows: int  # model windows run (x2 with flip)
    frames: int

    @property
    def fps(self) -> float:
        """Frames per second of the whole call."""
        return 1000.0 * self.frames / max(self.timings_ms["total"], 1e-9)


@dataclass
class ModelInfo:
    """Where the predictor's model came from."""

    name: str
    bundle: Path
    weights: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # as recorded by training (torch fp32)
    export_ms: float = 0.0  # time spent exporting the checkpoint into the cache (0 when cached)


class Predictor:
    """A 2D-to-3D pose lifter on one device. `predict` is safe to call from several threads.

    Args:
        model: zoo name ("hot-mixste"), architecture name with `weights=`, or a bundle / .onnx / .xml path.
        device: "cpu", "gpu", "npu", "auto" or "backend:target" (see `runtimes.devices`).
        precision: "fp32", "fp16" or "int8"; the bundle must contain it (the error lists what it has).
        backend: restrict to "onnxruntime", "openvino" or "torch".
        weights: a checkpoint directory, an official checkpoint file, or "random" (seeded random
            weights: for speed measurements only).
        fallback: device to use, with a warning, when `device` is unavailable (e.g. "cpu").
        threads: CPU threads of the backend (None: the runtime's default).
        cache_dir: cache root (default `$EDGETOKENS_CACHE` or ~/.cache/edgetokens).
    """

    def __init__(self, model: str | Path = "hot-mixste", device: str = "cpu", precision: str = "fp32",
                 backend: str | None = None, weights: str | Path | None = None, fallback: str | None = None,
                 threads: int | None = None, cache_dir: str | Path | None = None):
        self.device_request = device
        self.precision = precision
        self.info, torch_model = resolve_model(model, weights, cache_dir,
                                               need_torch=str(device).startswith("torch") or backend == "torch")
        source = ModelSource.open(self.info.bundle, torch_model)
        check_pose_bundle(source)
        self.manifest = source.manifest  # None for a bare .onnx / .xml
        self.session: Session = open_session(source, device, precision, backend, threads, fallback, cache_dir)
        self.first_inference_ms = self.session.warmup(1)
        spec = self.session.inputs[0]
        if spec.shape[2] != H36M_NUM_JOINTS or spec.shape[3] not in (2, 3):
            raise BundleError(f"{self.info.bundle} takes input {spec.shape}; the pose Predictor needs "
                              f"(B, F, {H36M_NUM_JOINTS}, 2|3)")
        self.frames = spec.shape[1]
        self.in_channels = spec.shape[3]

    @property
    def device(self) -> str:
        """The resolved backend:target."""
        return self.session.device

    @property
    def load_ms(self) -> float:
        """Load + compile time of the session (export into the cache not included: see `info.export_ms`)."""
        return self.session.load_ms

    def __repr__(self) -> str:
        return (f"Predictor({self.info.name!r}, device={self.device!r}, precision={self.precision!r}, "
                f"frames={self.frames}, execution_devices={self.session.execution_devices})")

    # --- core -----------------------------------------------------------------------------------

    def run_clips(self, clips: np.ndarray) -> np.ndarray:
        """Normalised clips (N, F, 17, C) -> root-relative poses (N, F, 17, 3), through the graph's batch."""
        return self.session.run_in_batches(clips, "poses_3d")

    def predict(self, keypoints: np.ndarray, image_size: tuple[float, float], layout: str = "h36m",
                scores: np.ndarray | None = None, flip: bool = False) -> PoseResult:
        """Lift a sequence of T frames of 2D keypoints (T, 17, 2) in pixels (or (T, 17, 3) with scores).

        `flip=True` averages with the mirrored input (test-time augmentation, as in evaluation):
        slightly more accurate, twice the compute.
        """
        start = time.perf_counter()
        inputs = prepare_keypoints(keypoints, image_size, layout, scores, self.in_channels)
        prepared = time.perf_counter()
        poses = lift_sequence(self.run_clips, inputs, self.frames, flip, batch_size=max(self.session.batch, 32))
        lifted = time.perf_counter()
        poses = np.ascontiguousarray(poses, dtype=np.float32)
        done = time.perf_counter()
        windows = -(-len(inputs) // self.frames) * (2 if flip else 1)
        timings = {"preprocess": prepared - start, "inference": lifted - prepared, "postprocess": done - lifted,
                   "total": done - start}
        return PoseResult(poses, {k: 1000 * v for k, v in timings.items()}, self.device,
                          list(self.session.execution_devices), windows, len(inputs))

    def stream(self, image_size: tuple[float, float], layout: str = "h36m", flip: bool = False) -> "PoseStream":
        """A per-frame lifter for live video (causal window; one model run per frame)."""
        return PoseStream(self, image_size, layout, flip)

    def close(self) -> None:
        self.session.close()


class PoseStream:
    """Lifts one frame at a time: each `push` runs the model on the last F frames (left edge-padded
    at the start of the stream) and returns the pose of the newest frame, so latency is one model
    run per frame whatever the stream's length. Not thread-safe: one stream per camera/thread.
    """

    def __init__(self, predictor: Predictor, image_size: tuple[float, float], layout: str = "h36m",
                 flip: bool = False):
        check_image_size(image_size)
        check_layout(layout)
        self.predictor, self.image_size, self.layout, self.flip = predictor, image_size, layout, flip
        frames, channels = predictor.frames, predictor.in_channels
        self._ring = np.zeros((frames, H36M_NUM_JOINTS, channels), dtype=np.float32)
        self._count = 0
        self.latency_ms = 0.0  # of the last push

    @property
    def frames_seen(self) -> int:
        return self._count

    def reset(self) -> None:
        """Start a new stream (e.g. a new person or a scene cut)."""
        self._count = 0

    def window(self) -> np.ndarray:
        """The current causal window (F, 17, C), normalised, oldest frame first."""
        frames = len(self._ring)
        if self._count < frames:  # left edge padding: frame 0 repeated
            return self._ring[np.clip(np.arange(self._count - frames, self._count), 0, None)]
        return self._ring[(self._count + np.arange(frames)) % frames]

    def push(self, keypoints: np.ndarray, scores: np.ndarray | None = None) -> np.ndarray:
        """One frame (17, 2) pixels (or (17, 3) with score) -> its 3D pose (17, 3), root-relative metres."""
        start = time.perf_counter()
        keypoints = np.asarray(keypoints)
        if keypoints.ndim != 2:
            raise ValueError(f"push takes one frame of shape (17, 2) or (17, 3); got {keypoints.shape}")
        previous = self._ring[(self._count - 1) % len(self._ring), :, :2] if self._count else None
        frame = prepare_keypoints(keypoints[None], self.image_size, self.layout,
                                  None if scores is None else np.asarray(scores)[None],
                                  self.predictor.in_channels, previous)[0]
        self._ring[self._count % len(self._ring)] = frame
        self._count += 1
        window = self.window()[None]
        pose = self.predictor.run_clips(window)[0, -1]
        if self.flip:
            pose = 0.5 * (pose + flip_pose(self.predictor.run_clips(flip_pose(window))[0, -1]))
        pose = pose - pose[0]
        self.latency_ms = (time.perf_counter() - start) * 1000
        return pose.astype(np.float32)


# --- model resolution -------------------------------------------------------------------------------

def resolve_model(model: str | Path, weights: str | Path | None, cache_dir: str | Path | None,
                  need_torch: bool = False) -> tuple[ModelInfo, Any]:
    """(where the bundle is, the torch module when it was loaded or is needed)."""
    from .checkpoint import CONFIG

    path = Path(model)
    if path.exists():
        if (path / CONFIG).is_file() and not (path / "manifest.json").is_file():  # a checkpoint directory
            return export_checkpoint(None, path, cache_dir, need_torch)
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
    return export_checkpoint(name, weights, cache_dir, need_torch)


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


def export_checkpoint(name: str | None, weights: str | Path, cache_dir: str | Path | None,
                      need_torch: bool) -> tuple[ModelInfo, Any]:
    """Export weights into the cache once (keyed by their hash); reuse the bundle afterwards."""
    from .checkpoint import read_checkpoint_info

    name, key = weights_key(name, weights)
    bundle = cache_root(cache_dir) / "bundles" / f"{name}-{key[:16]}"
    is_dir = weights != "random" and Path(weights).is_dir()
    metrics = read_checkpoint_info(weights).get("metrics") or {} if is_dir else {}
    info = ModelInfo(name, bundle, str(weights), metrics)
    model = None
    with _export_lock:
        if not (bundle / "manifest.json").is_file():
            from compression.bundle import build_bundle  # lazy: only when a checkpoint needs exporting

            model, _ = load_weights(name, weights)
            start = time.perf_counter()
            log.info("exporting %s (%s) to %s (once)", name, weights, bundle)
            source = {"checkpoint": str(Path(weights).resolve()) if is_dir else None, "weights": str(weights),
                      "weights_sha256": key, "metrics": metrics}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings are for exporters, not users
                try:
                    build_bundle(model, bundle, source=source)
                except FileExistsError:  # another process exported it first
                    pass
            info.export_ms = (time.perf_counter() - start) * 1000
    if need_torch and model is None:
        model, _ = load_weights(name, weights)
    return info, model


def check_pose_bundle(source: ModelSource) -> None:
    manifest = source.manifest
    if manifest is None:
        return
    if manifest.task != "pose3d":
        raise BundleError(f"{source.path} is a {manifest.task!r} bundle ({manifest.arch}); Predictor lifts "
                          "2D poses to 3D and needs a 'pose3d' bundle, e.g. one from compression.bundle")
    skeleton = manifest.preprocessing.get("skeleton", "h36m-17")
    if skeleton != "h36m-17":
        raise BundleError(f"{source.path} expects skeleton {skeleton!r}; Predictor feeds 'h36m-17'")


# --- input checks and pre-processing ----------------------------------------------------------------

def check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)} (17 joints each); got {layout!r}")


def check_image_size(image_size: Sequence[float]) -> tuple[float, float]:
    try:
        w, h = (float(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be (width, height) in pixels; got {image_size!r}") from None
    if not (np.isfinite(w) and np.isfinite(h) and w > 0 and h > 0):
        raise ValueError(f"image_size must be positive (width, height) pixels; got {image_size!r}")
    return w, h


def _where(mask: np.ndarray, limit: int = 5) -> str:
    spots = [f"(frame {t}, joint {j})" for t, j in np.argwhere(mask)[:limit]]
    more = int(mask.sum()) - len(spots)
    return ", ".join(spots) + (f" and {more} more" if more > 0 else "")


def prepare_keypoints(keypoints: np.ndarray, image_size: Sequence[float], layout: str,
                      scores: np.ndarray | None, in_channels: int,
                      previous: np.ndarray | None = None) -> np.ndarray:
    """Pixels (T, 17, 2|3) -> model input (T, 17, in_channels): layout, masking, normalisation, scores.

    `previous` (17, 2), normalised: the last frame of a stream, used to hold masked joints.
    """
    w, h = check_image_size(image_size)
    check_layout(layout)
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[-1] not in (2, 3):
        raise ValueError(f"keypoints must have shape (T, 17, 2) in pixels, or (T, 17, 3) with scores; "
                         f"got {kp.shape}")
    if kp.shape[0] == 0:
        raise ValueError("keypoints has zero frames; pass at least one frame")
    if kp.shape[1] != H36M_NUM_JOINTS:
        raise ValueError(f"keypoints must have 17 joints in the {layout!r} layout; got {kp.shape[1]}. "
                         "Convert other detectors' output to COCO-17 or H36M-17 first")
    if kp.shape[-1] == 3:
        if scores is not None:
            raise ValueError("keypoints has a score channel and scores= was passed too; pass one of them")
        kp, scores = kp[..., :2], kp[..., 2]
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != kp.shape[:2]:
            raise ValueError(f"scores must have shape {kp.shape[:2]} (frames, joints); got {scores.shape}")
        if not np.isfinite(scores).all():
            raise ValueError(f"scores must be finite; NaN/inf at {_where(~np.isfinite(scores))}")
    missing = ~np.isfinite(kp).all(-1)
    if missing.any():
        unmasked = missing if scores is None else missing & (scores != 0)
        if unmasked.any():
            raise ValueError(f"keypoints are NaN/inf at {_where(unmasked)} ({layout} joint order). Mark missing "
                             "joints with score 0 in scores= to mask them, or drop those frames")
    if scores is None:
        scores = np.ones(kp.shape[:2])
    if layout == "coco":
        kp, scores = coco_to_h36m(kp, scores)  # derived joints inherit score 0 / NaN from their sources
    kp = normalize_screen_coordinates(kp, w, h)
    fill_missing(kp, previous)
    scores = np.where(np.isfinite(kp).all(-1), scores, 0.0)
    if in_channels == 3:
        kp = np.concatenate([kp, scores[..., None]], axis=-1)
    return kp.astype(np.float32)


def fill_missing(kp: np.ndarray, previous: np.ndarray | None = None) -> None:
    """In place: hold each non-finite joint at its last finite position (earlier frames, then
    `previous`), else its next one, else the image centre (0, 0 normalised)."""
    missing = ~np.isfinite(kp).all(-1)
    if not missing.any():
        return
    for j in np.nonzero(missing.any(0))[0]:
        seen = np.nonzero(~missing[:, j])[0]
        last = previous[j] if previous is not None else (kp[seen[0], j] if len(seen) else np.zeros(2))
        for t in range(len(kp)):
            if missing[t, j]:
                kp[t, j] = last
            else:
                last = kp[t, j]

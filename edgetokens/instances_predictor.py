"""Instance segmentation with AiT: an image in, boxes, classes, scores and masks at the image's size out.

    from edgetokens import Predictor
    predictor = Predictor("ait", task="instances")         # the joint model (or "ait-instances")
    result = predictor.predict("room.jpg", min_score=0.3)   # or a BGR uint8 array (OpenCV's order)
    result.boxes, result.names, result.scores, result.masks # xyxy input pixels, (N, H, W) bool masks
    cv2.imwrite("dets.png", result.plot(cv2.imread("room.jpg")))
    result.save_json("dets.json")                           # COCO results format, masks as RLE

Images are taken as `DepthPredictor` takes them (uint8 BGR, RGB with `channels="rgb"`, grayscale or
BGRA; a path with its EXIF orientation applied; at least 32 pixels a side). The model sees the image
letterboxed into its square input (aspect kept, top-left, ImageNet-mean padding), the layout it was
trained on; boxes and masks come back in the image's pixels.

Devices: "cpu", "auto" and "torch:cpu" decode in eager torch (the reference, reported as "torch:cpu"),
"torch:cuda:N" on a CUDA GPU. OpenVINO ("openvino:CPU|GPU|NPU"), ONNX Runtime ("onnxruntime:cpu|cuda|
tensorrt|...") and "gpu" / "npu" decode on the exported static-shape prefill and step graphs
(`edgetokens.models.ait.decoding`, a decoder bundle exported once into the cache beside the model's
bundle) through the one decode loop (`edgetokens.instance_decoding`); greedy decoding gives the torch
reference's tokens. Masks are soft-decoded by the torch mask tokenizer on every backend. fp32; fp16 and
int8 IR on OpenVINO (int8: NNCF PTQ calibrated on rendered scenes at first use, `compression.decoder_calibration`).
"""
from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from runtimes import BundleError, DeviceUnavailableError, ModelSource, open_session, parse_device
from runtimes.cache import cache_root
from runtimes.decoder_bundle import is_decoder_bundle, read_decoder
from runtimes.devices import BACKEND_ALIASES, is_available, torch_cuda_count
from runtimes.torch_session import TorchSession

from .clitools import check_threads
from .depth import load_image
from .instance_decoding import InstanceDecoder
from .predictor import Predictor
from .resolve import resolve_model
from .vision.image import normalize_image
from .vision.instances import InstancesResult, from_model_output
from .vision.letterbox import letterbox_for

DEFAULT_MIN_SCORE = 0.3  # `predict` and `edgetokens predict --task instances`; 0 keeps every decoded slot
TORCH_ONLY = "eager torch decodes on 'torch:cpu' or 'torch:cuda:N'"
DECODER_REVISION = 2  # bump when the prefill/step graphs change: cached decoder bundles are exported again


def requested_backend(device: str, backend: str | None) -> str | None:
    """The backend `device` / `backend` name (aliases resolved), None for a device family ("gpu", "npu")."""
    request = parse_device(device)  # checks `device` even when `backend` is given
    if backend is not None:
        return BACKEND_ALIASES.get(backend.lower(), backend)
    return request.target.backend if request.target is not None else None


def exported_request(device: str, backend: str | None) -> bool:
    """Whether `device` / `backend` ask for the exported graphs (OpenVINO, ONNX Runtime, gpu, npu)."""
    named = requested_backend(device, backend)
    return named != "torch" if named is not None else parse_device(device).family in ("gpu", "npu")


@dataclass
class InstancesPrediction(InstancesResult):
    """An `InstancesResult` of one `predict` call, with where and how fast it ran (`select` and
    `filter` return plain `InstancesResult`s)."""

    timings_ms: dict[str, float] = field(default_factory=dict)  # preprocess, inference, postprocess, total
    device: str = ""
    execution_devices: list[str] = field(default_factory=list)


def torch_target(device: str, fallback: str | None = None) -> str:
    """The torch device ("cpu", "cuda:N") that instance decoding runs on for a device string."""
    request = parse_device(device)  # an unknown string gets the usual error listing what is accepted
    if request.family in ("cpu", "auto"):
        return "cpu"
    target = request.target
    if target is not None and target.backend == "torch" and is_available(target):
        return target.target
    if target is not None and target.backend == "torch":
        problem = f"device {device!r} is not here: torch sees {torch_cuda_count()} CUDA device(s)."
    else:
        problem = f"device {device!r}: {TORCH_ONLY}."
    available = ["torch:cpu", *(f"torch:cuda:{i}" for i in range(torch_cuda_count()))]
    if not fallback:
        raise DeviceUnavailableError(problem, available)
    warnings.warn(f"{problem} Falling back to device={fallback!r}.", RuntimeWarning, stacklevel=3)
    return torch_target(fallback)


def check_number(name: str, value: object, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
        bounds = f" in [{low:g}, {high:g}]" if high is not None else f" >= {low:g}" if low is not None else ""
        raise ValueError(f"{name} must be a finite number{bounds}; got {value!r}")
    return float(value)


class InstancePredictor(Predictor):
    """AiT instance segmentation in torch or on the exported decoder graphs (see `Predictor` for the arguments; the module docstring
    says which devices and precisions run it)."""

    task = "instances"

    def __init__(self, model: str | Path = "ait", device: str = "cpu", precision: str = "fp32",
                 backend: str | None = None, weights: str | Path | None = None, fallback: str | None = None,
                 threads: int | None = None, cache_dir: str | Path | None = None, task: str | None = None):
        self._check_task_argument(task)
        threads = check_threads(threads)
        exported = exported_request(device, backend)
        if precision not in (("fp32", "fp16", "int8") if exported else ("fp32",)):
            raise ValueError(f"precision={precision!r}: instance decoding runs at fp32 in torch; fp32, fp16 or int8 "
                             "on the exported graphs (device='openvino:CPU', 'gpu', 'npu', ...)")
        if precision != "fp32" and requested_backend(device, backend) == "onnxruntime":  # before a minute of PTQ
            raise ValueError(f"precision={precision!r}: the decoder's fp16 and int8 graphs are OpenVINO IR; on "
                             "ONNX Runtime it runs at fp32 (use an openvino device for fp16/int8)")
        target = None if exported else torch_target(device, fallback)  # before resolving, which may export
        self.device_request = device
        self.precision = precision
        self.info, torch_model = resolve_model(model, weights, cache_dir, need_torch=True)
        if torch_model is None:
            raise BundleError(f"{self.info.bundle} holds no checkpoint to decode instances with: pass the model "
                              "name or its checkpoint directory")
        if "instances" not in getattr(torch_model, "tasks", ()):
            raise ValueError(f"{model} is a {getattr(torch_model, 'task', '?')!r} model; InstancePredictor needs a "
                             "model with instances (ait, ait-instances)")
        self.manifest = ModelSource.open(self.info.bundle, torch_model, verify=not self.info.verified).manifest
        self.decoder: InstanceDecoder | None = None
        if exported:
            torch_model.eval()
            bundle = read_decoder(self._decoder_bundle(torch_model, cache_dir, int8=precision == "int8"))
            step = open_session(bundle.graph_dir("step"), device, precision, backend, threads, fallback, cache_dir)
            prefill = open_session(bundle.graph_dir("prefill"), step.device, precision, threads=threads,
                                   cache_dir=cache_dir)
            self.decoder = InstanceDecoder.for_model(prefill, step, torch_model, bundle.info["pair"])
            self.session = step
            self.model = torch_model
        else:
            self.session = TorchSession(torch_model, target, precision, threads)
            self.model = self.session.model  # eval mode, on the session's device
        self.image_size = int(self.model.config.image_size)
        self.first_inference_ms: float | None = None  # set by the first `predict`

    def _torch_decoder(self) -> InstanceDecoder:
        """The decode loop on torch sessions of the static graphs (for `slots` / `early_stop` in torch)."""
        return InstanceDecoder.on_torch(self.model, str(self.session.torch_device))

    def _decoder_bundle(self, model, cache_dir, int8: bool = False) -> Path:
        """The decoder bundle of this model in the cache, exported on first use (`int8`: with NNCF's INT8
        graphs, calibrated on rendered scenes, `compression.decoder_calibration`; about a minute)."""
        name = f"{self.info.bundle.name}-decoder{DECODER_REVISION}{'-int8' if int8 else ''}"
        path = cache_root(cache_dir) / "bundles" / name
        if not is_decoder_bundle(path):
            from compression.decoder_calibration import scene_images  # deferred: calibration scenes, for int8
            from compression.export_decoder import build_decoder_bundle  # deferred: the exporter, on first use

            build_decoder_bundle(model, path, keep_existing=True, source={"bundle": str(self.info.bundle)},
                                 int8_images=scene_images(model) if int8 else None)
        return path

    def predict(self, image: np.ndarray | str | Path, min_score: float = DEFAULT_MIN_SCORE, top_p: float | None = None,
                seed: int = 0, channels: str = "bgr", slots: int | None = None,
                early_stop: bool = False) -> InstancesPrediction:
        """Instances of one image (path, or uint8 array in `channels` order) scoring at least `min_score`.

        `top_p`: nucleus sampling of box and class tokens (None: the model's, 0: greedy); `seed` makes a
        call repeatable. `slots`: decode only the first slots (None: all of the model's; fewer is faster).
        `early_stop`: stop at the first slot the model gives to noise (`edgetokens.instance_decoding`).
        No instance found is an empty result, not an error.
        """
        min_score = check_number("min_score", min_score, low=0.0)
        if top_p is not None:
            top_p = check_number("top_p", top_p, 0.0, 1.0)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer; got {seed!r}")
        start = time.perf_counter()
        rgb = load_image(image, channels)
        height, width = rgb.shape[:2]
        letterbox = letterbox_for(height, width, self.image_size)
        batch = torch.from_numpy(normalize_image(letterbox.image(rgb))[None])
        batch = batch if self.decoder is not None else batch.to(self.session.torch_device)
        if not isinstance(early_stop, (bool, np.bool_)):
            raise ValueError(f"early_stop must be True or False; got {early_stop!r}")
        prepared = time.perf_counter()
        decoder = self.decoder or (self._torch_decoder() if slots is not None or early_stop else None)
        if decoder is not None:
            logits, ids = decoder.decode(batch.cpu().numpy(), slots, self.model.config.top_p if top_p is None
                                         else top_p, int(seed), bool(early_stop))
            parsed = self.model.parse_instances(logits, ids, min_score)[0]
        else:
            parsed = self.model.instances(batch, top_p=top_p, seed=int(seed), min_score=min_score)[0]
        inferred = time.perf_counter()
        found = from_model_output(parsed, parsed["mask_probs"], (height, width), scale=letterbox.scale)
        done = time.perf_counter()
        timings = {"preprocess": prepared - start, "inference": inferred - prepared, "postprocess": done - inferred,
                   "total": done - start}
        if self.first_inference_ms is None:
            self.first_inference_ms = 1000 * timings["inference"]
        return InstancesPrediction(found.boxes, found.class_ids, found.scores, found.masks, found.image_size,
                                   {k: 1000 * v for k, v in timings.items()}, self.device,
                                   list(self.session.execution_devices))

    def timed_calls(self, stream_stride: int | None = None) -> dict[str, Callable[[], object]]:
        """One instance decode of the model's example image (what the benchmark times)."""
        if self.decoder is not None:
            image = self.decoder.prefill.examples["image"][:1]
            return {"": lambda: self.decoder.decode(image)}
        example = torch.from_numpy(self.session.examples["image"][:1]).to(self.session.torch_device)
        return {"": lambda: self.model.instances(example)}


__all__ = ["DEFAULT_MIN_SCORE", "InstancePredictor", "InstancesPrediction", "InstancesResult"]

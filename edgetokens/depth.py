"""Monocular depth with AiT: an image in, metric depth at the image's resolution out.

    from edgetokens import Predictor
    predictor = Predictor("ait-depth", device="cpu")       # a DepthPredictor
    result = predictor.predict("room.jpg")                  # or a BGR uint8 array (OpenCV's order)
    result.depth                                            # (H, W) float32 metres, the input's size
    cv2.imwrite("depth.png", result.colorize())             # turbo colour map, BGR

Images: uint8, (H, W, 3) BGR (pass `channels="rgb"` for RGB arrays), (H, W) grayscale (replicated
to three channels) or (H, W, 4) BGRA (alpha dropped); at least 32 pixels a side. The model sees the
whole image resized to its square input (aspect not kept, as it was trained on square crops); the
depth comes back resized to (H, W) with bilinear interpolation.

Orientation: the depth map is in the orientation the image is viewed in. A path is read with its EXIF
orientation applied, as viewers and `cv2.imread(path)` (OpenCV's default) show it, so
`predict("phone.jpg")` and `predict(cv2.imread("phone.jpg"))` give the same map. An array is taken
as it is: read it with `cv2.imread` (which applies EXIF orientation), or with PIL through
`PIL.ImageOps.exif_transpose`; `cv2.IMREAD_UNCHANGED` and a plain `PIL.Image.open` do not, and give
the sensor's orientation.

Anything else is a ValueError saying what an image must be: not uint8 (float, bool, int16, object
arrays), the wrong number of dimensions or channels, or fewer than 32 pixels a side.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtimes import BundleError

from .predictor import Predictor
from .vision.depth import colorize_depth
from .vision.depth_io import read_image_file
from .vision.image import model_input, to_image_size

MIN_IMAGE_SIDE = 32


@dataclass
class DepthResult:
    depth: np.ndarray  # (H, W) float32 metres, the input image's size
    timings_ms: dict[str, float]  # preprocess, inference, postprocess, total
    device: str
    execution_devices: list[str]

    def colorize(self, max_depth: float | None = None) -> np.ndarray:
        """The depth as a BGR uint8 colour map (near warm, far cool)."""
        return colorize_depth(self.depth, max_depth=max_depth)


def load_image(image: np.ndarray | str | Path, channels: str = "bgr") -> np.ndarray:
    """Any accepted image -> (H, W, 3) uint8 RGB; clear errors for everything else."""
    if channels not in ("bgr", "rgb"):
        raise ValueError(f"channels must be 'bgr' or 'rgb'; got {channels!r}")
    if isinstance(image, (str, Path)):
        array = read_image_file(image)
        channels = "bgr"
    else:
        try:
            array = np.asarray(image)
        except (TypeError, ValueError) as err:  # ragged nested lists and other non-arrays
            raise ValueError(f"images must be uint8 arrays (H, W, 3); got {type(image).__name__} ({err})") from None
    if array.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0-255); got {array.dtype}. Convert with "
                         "(np.clip(x, 0, 1) * 255).astype(np.uint8) for float images in [0, 1]")
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ValueError(f"images must be (H, W, 3), (H, W, 4) or (H, W); got shape {array.shape}")
    array = array[..., :3]
    if min(array.shape[:2]) < MIN_IMAGE_SIDE:
        raise ValueError(f"image is {array.shape[1]}x{array.shape[0]} pixels; the AiT models need at least "
                         f"{MIN_IMAGE_SIDE} pixels a side")
    return np.ascontiguousarray(array[..., ::-1] if channels == "bgr" else array)


class DepthPredictor(Predictor):
    """AiT monocular depth on one device (see `Predictor` for the arguments)."""

    task = "depth"

    def _check_inputs(self, spec) -> None:
        if len(spec.shape) != 4 or spec.shape[1] != 3 or spec.shape[2] != spec.shape[3] or spec.shape[2] <= 0:
            raise BundleError(f"{self.info.bundle} takes input {spec.shape}; the depth Predictor needs "
                              "(B, 3, S, S) images")
        self.image_size = spec.shape[2]

    def predict(self, image: np.ndarray | str | Path, channels: str = "bgr") -> DepthResult:
        """Depth (H, W) in metres of one image (path, or uint8 array in `channels` order)."""
        start = time.perf_counter()
        rgb = load_image(image, channels)
        height, width = rgb.shape[:2]
        batch = model_input(rgb, self.image_size)
        prepared = time.perf_counter()
        depth = self.session.run_in_batches(batch, "depth")[0, 0]
        inferred = time.perf_counter()
        depth = to_image_size(depth, width, height)
        done = time.perf_counter()
        timings = {"preprocess": prepared - start, "inference": inferred - prepared, "postprocess": done - inferred,
                   "total": done - start}
        return DepthResult(depth, {k: 1000 * v for k, v in timings.items()}, self.device,
                           list(self.session.execution_devices))

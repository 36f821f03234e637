"""16-bit depth images -> metres: the encodings of NYUv2, SUN RGB-D and the shipped RGB-D sample.

Encodings (0 always stays invalid, and the uint16 ceiling 65535 marks a clipped reading, also invalid):

- ``"mm"``: millimetres (NYU sync_depth PNGs, most sensors' raw output): value / 1000.
- ``"sunrgbd"``: the SUN RGB-D toolbox encoding, millimetres rotated left by 3 bits; decoded as the
  toolbox does, ``(v >> 3) | (v << 13)`` (16-bit), / 1000.
- ``"mm8"``: millimetres x 8 stored from *float* millimetres (the low 3 bits carry fractions and must
  not be rotated into the high bits): value / 8000. The RGB-D sample frame is in this encoding.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..clitools import OutputError

DEPTH_ENCODINGS: tuple[str, ...] = ("mm", "mm8", "sunrgbd")
UINT16_CEILING = 65535

# shared/data/rgbd-sample (ESANet's samples/sample_depth.png, a Kinect v2 frame, 512x424, colour registered to
# depth): the raw values are millimetres x 8. Evidence: as plain millimetres the median would be 24.5 m; the
# SUN RGB-D bit rotation gives a median of 35 m, and the low 3 bits are uniformly distributed (a true rotated
# file has them 0 below 8.19 m), so the values came from float depth, x8. Decoded as /8000 the room measures
# like a room: back wall 2.9 m from the camera, sofa seat 0.40 m and coffee table 0.52 m above the fitted
# floor plane, light switch at 1.1 m and socket at 0.35 m (German norm 1.05 m / 0.30 m); /10000 (ESANet's
# "depth_scale 0.1" for its NYUv2 model) would put the sofa seat at 0.32 m.
RGBD_SAMPLE_ENCODING = "mm8"


def decode_depth(raw: np.ndarray, encoding: str = "mm", source: str = "depth") -> np.ndarray:
    """uint16 depth image -> float32 metres (0 and 65535 -> 0 = invalid). See the module docstring."""
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"{source}: unknown depth encoding {encoding!r}; choose one of {DEPTH_ENCODINGS}")
    if raw.dtype != np.uint16:
        raise ValueError(f"{source}: depth must be 16-bit (uint16); got {raw.dtype}. "
                         "An 8-bit PNG is a visualisation, not a depth map")
    invalid = (raw == 0) | (raw == UINT16_CEILING)
    if encoding == "mm":
        metres = raw.astype(np.float32) / 1000.0
    elif encoding == "mm8":
        metres = raw.astype(np.float32) / 8000.0
    else:
        rotated = (raw >> 3) | (raw << 13)  # uint16 arithmetic wraps, as the toolbox's bitshift on uint16
        metres = rotated.astype(np.float32) / 1000.0
    metres[invalid] = 0.0
    return metres


def write_depth_png(path: str | os.PathLike, depth: np.ndarray) -> Path:
    """Float metres (H, W) -> 16-bit PNG in millimetres (encoding "mm"; 0 stays invalid), the inverse
    of `read_depth_png(path, "mm")` up to 0.5 mm rounding."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    millimetres = np.clip(np.round(np.nan_to_num(depth) * 1000), 0, UINT16_CEILING - 1).astype(np.uint16)
    if not cv2.imwrite(str(path), millimetres):
        raise OutputError(f"OpenCV could not write {path} (is the folder writable and the disk not full?)")
    return path


# Bit depth and channel count as stored (16-bit depth stays 16-bit, grayscale stays one channel; alpha is
# dropped) and the EXIF orientation applied, as viewers and a plain `cv2.imread(path)` show the image.
# `IMREAD_UNCHANGED` would skip the orientation: a portrait phone JPEG would come back in the sensor's
# landscape orientation, 90 degrees off its depth map and from the same file read any other way.
IMREAD_AS_VIEWED = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR


def read_image_file(path: str | os.PathLike, what: str = "image") -> np.ndarray:
    """`cv2.imread(path, IMREAD_AS_VIEWED)`: bit depth and channels as stored (alpha dropped), EXIF
    orientation applied; errors that name the file: missing, or not decodable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    raw = cv2.imread(str(path), IMREAD_AS_VIEWED)
    if raw is None:
        raise ValueError(f"{path}: OpenCV cannot decode this {what} (corrupt or not an image)")
    return raw


def read_depth_png(path: str | os.PathLike, encoding: str = "mm") -> np.ndarray:
    """Read a single-channel 16-bit depth image -> float32 metres, 0 = invalid."""
    raw = read_image_file(path, "depth image")
    if raw.ndim != 2:
        raise ValueError(f"{path}: depth must be single-channel; got shape {raw.shape}")
    return decode_depth(raw, encoding, source=str(path))

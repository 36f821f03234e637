"""RGB input normalisation of the depth models: one definition for training, export and the Predictor."""
from __future__ import annotations

import cv2
import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB order
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_image(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32, `(rgb / 255 - IMAGENET_MEAN) / IMAGENET_STD`."""
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image; got shape {rgb.shape}")
    x = np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0
    mean = np.asarray(IMAGENET_MEAN, np.float32)[:, None, None]
    std = np.asarray(IMAGENET_STD, np.float32)[:, None, None]
    return np.ascontiguousarray((x - mean) / std)


def model_input(rgb: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (1, 3, size, size) float32: the whole image resized (area filter when
    shrinking, bilinear when enlarging; aspect not kept), then normalised."""
    shrink = rgb.shape[0] > size or rgb.shape[1] > size
    resized = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return normalize_image(resized)[None]


def to_image_size(depth: np.ndarray, width: int, height: int) -> np.ndarray:
    """A (S, S) model-size depth map back to the input image's (height, width), bilinear."""
    return cv2.resize(depth.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)

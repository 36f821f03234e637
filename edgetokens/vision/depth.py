"""Monocular depth evaluation (AiT / BTS protocol) and a depth colour map.

The one implementation of the depth metrics, used by training (validation), evaluation and the runtime.
Depths are metres, float arrays of shape (H, W); ground truth 0 (or NaN, or anything outside
``(min_depth, max_depth)``) is invalid.

Protocol (specs/AIT.md §5, as in BTS/GLPDepth ``eval``):

- valid pixels: ``min_depth < gt < max_depth`` (strict, defaults 1e-3 and 10 m), inside the Eigen crop;
- predictions: ``+-inf -> max_depth``, ``NaN -> min_depth``, then clipped to ``[min_depth, max_depth]``;
- each metric is computed per image and then averaged over images (:func:`average_metrics`), so the
  reported RMSE is the mean of per-image RMSEs, not a pooled RMSE over all pixels.

numpy and OpenCV only: no torch here, so the runtime can use it without the training stack.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import cv2
import numpy as np

MIN_DEPTH = 1e-3
MAX_DEPTH = 10.0

METRIC_NAMES: tuple[str, ...] = ("d1", "d2", "d3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog")

# The Eigen crop as (top, bottom, left, right) in a 480x640 NYUv2 frame (half-open: rows 45..470).
EIGEN_CROP_480x640 = (45, 471, 41, 601)


def eigen_crop_box(height: int, width: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the Eigen crop, half-open, for an image of ``height`` x ``width``.

    Exactly rows 45:471, cols 41:601 at 480x640. Other sizes get the same box scaled proportionally,
    each bound rounded half up (``floor(45 * height / 480 + 0.5)`` and so on; 424x512 -> rows 40:416, cols
    33:481): our extension for resized frames, not part of the published protocol, so report benchmark
    numbers on full-resolution 480x640 ground truth.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"eigen crop: image size must be positive, got {height}x{width}")
    top, bottom, left, right = EIGEN_CROP_480x640

    def scale(value: int, new: int, old: int) -> int:
        return math.floor(value * new / old + 0.5)

    return scale(top, height, 480), scale(bottom, height, 480), scale(left, width, 640), scale(right, width, 640)


def eigen_crop_mask(height: int, width: int) -> np.ndarray:
    """Boolean (height, width) mask, True inside the Eigen crop (see :func:`eigen_crop_box`)."""
    top, bottom, left, right = eigen_crop_box(height, width)
    mask = np.zeros((height, width), dtype=bool)
    mask[top:bottom, left:right] = True
    return mask


def valid_depth_mask(gt: np.ndarray, min_depth: float = MIN_DEPTH, max_depth: float = MAX_DEPTH,
                     eigen_crop: bool = True) -> np.ndarray:
    """Pixels that count in evaluation: ``min_depth < gt < max_depth`` (NaN never counts), optionally Eigen-cropped."""
    gt = np.asarray(gt)
    if gt.ndim != 2:
        raise ValueError(f"ground-truth depth must have shape (H, W); got {gt.shape}")
    with np.errstate(invalid="ignore"):
        mask = (gt > min_depth) & (gt < max_depth)
    if eigen_crop:
        mask &= eigen_crop_mask(*gt.shape)
    return mask


def sanitize_prediction(pred: np.ndarray, min_depth: float = MIN_DEPTH, max_depth: float = MAX_DEPTH) -> np.ndarray:
    """float64 copy with ``+-inf -> max_depth``, ``NaN -> min_depth``, clipped to ``[min_depth, max_depth]``."""
    pred = np.array(pred, dtype=np.float64)
    pred[np.isinf(pred)] = max_depth
    pred[np.isnan(pred)] = min_depth
    return np.clip(pred, min_depth, max_depth)


def depth_metrics(pred: np.ndarray, gt: np.ndarray, min_depth: float = MIN_DEPTH, max_depth: float = MAX_DEPTH,
                  eigen_crop: bool = True, mask: np.ndarray | None = None, name: str = "image") -> dict[str, float]:
    """Depth metrics of one image (keys :data:`METRIC_NAMES`).

    ``pred`` and ``gt`` are (H, W) metres. ``mask`` (optional, bool (H, W)) further restricts the valid
    pixels of :func:`valid_depth_mask`. Definitions, with p the prediction and g the ground truth over
    the valid pixels:

    - d1, d2, d3: fraction with ``max(p/g, g/p) < 1.25, 1.25**2, 1.25**3``;
    - abs_rel = mean |p - g| / g; sq_rel = mean (p - g)**2 / g;
    - rmse = sqrt(mean (p - g)**2); rmse_log = sqrt(mean (ln p - ln g)**2);
    - log10 = mean |log10 p - log10 g|;
    - silog = sqrt(mean d**2 - 0.5 * (mean d)**2), d = ln p - ln g: natural log and *no* x100 factor
      (KITTI and BTS print 100x this, and BTS uses variance weight 1 rather than 0.5).

    An image without any valid pixel raises ValueError naming ``name``: an empty image has no defined
    metrics, and silently skipping it would change the average (drop it, or fix its ground truth).
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape:
        raise ValueError(f"{name}: prediction shape {pred.shape} differs from ground truth {gt.shape}; "
                         "resize the prediction to the ground-truth size first")
    valid = valid_depth_mask(gt, min_depth, max_depth, eigen_crop)
    if mask is not None:
        if np.shape(mask) != gt.shape:
            raise ValueError(f"{name}: mask shape {np.shape(mask)} differs from ground truth {gt.shape}")
        valid &= np.asarray(mask, dtype=bool)
    if not valid.any():
        raise ValueError(f"{name}: no valid ground-truth pixel in ({min_depth}, {max_depth}) m"
                         f"{' inside the Eigen crop' if eigen_crop else ''}; drop this image from the evaluation")
    p = sanitize_prediction(pred, min_depth, max_depth)[valid]
    g = gt[valid].astype(np.float64)
    return _metrics_from_pixels(p, g)


def _metrics_from_pixels(p: np.ndarray, g: np.ndarray) -> dict[str, float]:
    ratio = np.maximum(p / g, g / p)
    diff = p - g
    log_diff = np.log(p) - np.log(g)
    silog_sq = np.mean(log_diff ** 2) - 0.5 * np.mean(log_diff) ** 2  # >= 0 by Cauchy-Schwarz
    return {
        "d1": float(np.mean(ratio < 1.25)),
        "d2": float(np.mean(ratio < 1.25 ** 2)),
        "d3": float(np.mean(ratio < 1.25 ** 3)),
        "abs_rel": float(np.mean(np.abs(diff) / g)),
        "sq_rel": float(np.mean(diff ** 2 / g)),
        "rmse": float(np.sqrt(np.mean(diff ** 2))),
        "rmse_log": float(np.sqrt(np.mean(log_diff ** 2))),
        "log10": float(np.mean(np.abs(np.log10(p) - np.log10(g)))),
        "silog": float(math.sqrt(max(silog_sq, 0.0))),
    }


def average_metrics(per_image: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Mean of each metric over images (AiT/BTS: per-image metrics, then averaged; RMSE is a mean of RMSEs)."""
    rows = list(per_image)
    if not rows:
        raise ValueError("average_metrics: no per-image metrics to average")
    keys = list(rows[0])
    for i, row in enumerate(rows):
        if set(row) != set(keys):
            raise ValueError(f"average_metrics: image {i} has metrics {sorted(row)}, image 0 has {sorted(keys)}")
    return {k: float(np.mean([row[k] for row in rows])) for k in keys}


def colorize_depth(depth: np.ndarray, min_depth: float | None = None, max_depth: float | None = None,
                   invalid_color: tuple[int, int, int] = (0, 0, 0),
                   colormap: int = cv2.COLORMAP_TURBO) -> np.ndarray:
    """(H, W, 3) uint8 BGR picture of a depth map, ready for ``cv2.imwrite``.

    Near is the warm end of the colour map (red for TURBO), far the cool end; depths are clipped to
    ``[min_depth, max_depth]``, which default to the range of the valid pixels. Holes (0, negative, NaN,
    inf) are drawn in ``invalid_color`` (BGR).
    """
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 2:
        raise ValueError(f"colorize_depth: depth must have shape (H, W); got {depth.shape}")
    valid = np.isfinite(depth) & (depth > 0)
    out = np.empty((*depth.shape, 3), dtype=np.uint8)
    out[:] = invalid_color
    if not valid.any():
        return out
    lo = float(depth[valid].min()) if min_depth is None else float(min_depth)
    hi = float(depth[valid].max()) if max_depth is None else float(max_depth)
    span = max(hi - lo, 1e-12)
    nearness = 1.0 - (np.clip(np.where(valid, depth, hi), lo, hi) - lo) / span
    colored = cv2.applyColorMap(np.round(nearness * 255).astype(np.uint8), colormap)
    out[valid] = colored[valid]
    return out

"""Vision maths shared by training, export and runtime: depth metrics and the depth colour map."""

from edgetokens.vision.depth import (
    MAX_DEPTH,
    METRIC_NAMES,
    MIN_DEPTH,
    average_metrics,
    colorize_depth,
    depth_metrics,
    eigen_crop_box,
    eigen_crop_mask,
    sanitize_prediction,
    valid_depth_mask,
)

__all__ = [
    "MAX_DEPTH", "METRIC_NAMES", "MIN_DEPTH", "average_metrics", "colorize_depth", "depth_metrics",
    "eigen_crop_box", "eigen_crop_mask", "sanitize_prediction", "valid_depth_mask",
]

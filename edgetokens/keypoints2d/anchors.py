"""SSD anchors as MediaPipe's SsdAnchorsCalculator makes them (the pose detector's options by default)."""
from __future__ import annotations

import math

import numpy as np


def ssd_anchors(input_size: int = 224, strides=(8, 16, 32, 32, 32), anchor_offset: float = 0.5,
                aspect_ratios=(1.0,), interpolated_scale_aspect_ratio: float = 1.0,
                min_scale: float = 0.1484375, max_scale: float = 0.75,
                fixed_anchor_size: bool = True) -> np.ndarray:
    """(N, 4) anchors x_center, y_center, w, h in [0, 1] units; 2254 for BlazePose's detector.

    Consecutive layers with the same stride share one feature map (their anchors interleave per
    location), as in MediaPipe. With `fixed_anchor_size` every anchor is 1 x 1.
    """
    num_layers = len(strides)

    def scale(i: int) -> float:
        return (min_scale + max_scale) * 0.5 if num_layers == 1 else \
            min_scale + (max_scale - min_scale) * i / (num_layers - 1)

    anchors = []
    layer = 0
    while layer < num_layers:
        sizes = []  # (w, h) of each anchor at one location, for all layers with this stride
        last = layer
        while last < num_layers and strides[last] == strides[layer]:
            s = scale(last)
            for ratio in aspect_ratios:
                sizes.append((s * math.sqrt(ratio), s / math.sqrt(ratio)))
            if interpolated_scale_aspect_ratio > 0:
                s_next = 1.0 if last == num_layers - 1 else scale(last + 1)
                s_mid = math.sqrt(s * s_next)
                r = interpolated_scale_aspect_ratio
                sizes.append((s_mid * math.sqrt(r), s_mid / math.sqrt(r)))
            last += 1
        side = math.ceil(input_size / strides[layer])
        for y in range(side):
            for x in range(side):
                for w, h in sizes:
                    anchors.append(((x + anchor_offset) / side, (y + anchor_offset) / side,
                                    1.0 if fixed_anchor_size else w, 1.0 if fixed_anchor_size else h))
        layer = last
    return np.asarray(anchors, dtype=np.float32)

"""Screen-coordinate normalisation and root-relative 3D (the HoT / VideoPose3D conventions).

2D: ``x / w * 2 - [1, h / w]`` maps pixel x in [0, w] to [-1, 1] and keeps the aspect ratio, so
y spans [-h/w, h/w]. Both numpy arrays and torch tensors are accepted; channels after the first
two (e.g. a confidence score) pass through unchanged.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

ArrayT = TypeVar("ArrayT")


def _copy(x):
    if torch is not None and isinstance(x, torch.Tensor):
        return x.clone() if x.is_floating_point() else x.double()
    x = np.asarray(x)
    return x.astype(np.float64) if not np.issubdtype(x.dtype, np.floating) else x.copy()


def _check_size(w: float, h: float) -> None:
    if not (w > 0 and h > 0):
        raise ValueError(f"image width and height must be positive pixels; got w={w}, h={h}")


def _check_xy(x) -> None:
    if x.ndim < 1 or x.shape[-1] < 2:
        raise ValueError(f"expected (..., 2) pixel coordinates (extra channels allowed); got {tuple(x.shape)}")


def normalize_screen_coordinates(x: ArrayT, w: float, h: float) -> ArrayT:
    """Pixels -> normalised coordinates: ``x / w * 2 - [1, h / w]`` on channels 0 and 1."""
    _check_size(w, h)
    _check_xy(x)
    out = _copy(x)
    out[..., 0] = x[..., 0] / w * 2 - 1
    out[..., 1] = x[..., 1] / w * 2 - h / w
    return out


def image_coordinates(x: ArrayT, w: float, h: float) -> ArrayT:
    """Normalised coordinates -> pixels; the inverse of :func:`normalize_screen_coordinates`."""
    _check_size(w, h)
    _check_xy(x)
    out = _copy(x)
    out[..., 0] = (x[..., 0] + 1) * w / 2
    out[..., 1] = (x[..., 1] + h / w) * w / 2
    return out


def root_relative(x: ArrayT, root: int = 0) -> ArrayT:
    """Subtract the root joint from every joint of (..., J, 3) positions; the root becomes 0."""
    if x.ndim < 2 or not (0 <= root < x.shape[-2]):
        raise ValueError(f"expected (..., J, C) positions with root index {root} < J; got {tuple(x.shape)}")
    return x - x[..., root : root + 1, :]

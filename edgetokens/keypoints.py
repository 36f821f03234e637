"""Checking and preparing 2D keypoints for the lifters: layout, missing joints, normalisation, scores.

Missing joints (NaN/inf keypoints): give them score 0 in `scores` and they are masked: their
coordinates are held from the nearest frame where the joint was seen (previous, else next; the image
centre if never), and MotionBERT-family models see score 0. A non-finite keypoint whose score is
not 0, or any non-finite keypoint without `scores`, is rejected with a ValueError naming it.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .pose.normalize import normalize_screen_coordinates
from .pose.skeleton import H36M_NUM_JOINTS, coco_to_h36m

LAYOUTS = ("h36m", "coco")


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

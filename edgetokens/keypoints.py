"""Checking and preparing 2D keypoints for the lifters: layout, missing joints, normalisation, scores.

Missing joints (NaN/inf keypoints): give them score 0 in `scores` and they are masked: their
coordinates are held from the nearest frame where the joint was seen (previous, else next; the image
centre if never), and MotionBERT-family models see score 0. A non-finite keypoint whose score is
not 0, or any non-finite keypoint without `scores`, is rejected with a ValueError naming it.

Observed joints: a joint is observed when its keypoint is finite and its score is above 0; after the
COCO -> H36M mapping a derived joint (hip, spine, thorax, head) is observed only if all its sources
were. `prepare_observed_keypoints` returns this mask beside the model input, and `PoseResult.observed`
carries it, so poses of joints and frames nobody saw can be told apart from measured ones.

Everything else that cannot be a keypoint is a ValueError naming the frame and joint:
- values that are not real numbers (bool, complex, strings, object arrays of non-numbers);
- scores outside [0, 1] (a third channel must be a detector confidence, not z or depth);
- keypoints more than `OUTSIDE_MARGIN` image sizes outside the frame (x < -w or x > 2w, y < -h or
  y > 2h for the default of 1): wrong image_size, normalised or other-resolution keypoints;
- inputs that do not fit the model's float32 after normalisation (checked after the cast, so huge
  values never come back as inf/NaN poses).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .pose.normalize import normalize_screen_coordinates
from .pose.skeleton import H36M_NUM_JOINTS, coco_to_h36m

LAYOUTS = ("h36m", "coco")
# How far (in image widths / heights) a finite keypoint may lie outside the image before it is
# rejected: detectors extrapolate joints a little past the border, never by a whole image.
OUTSIDE_MARGIN = 1.0
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_layout(layout: str) -> None:
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)} (17 joints each); got {layout!r}")


def check_image_size(image_size: Sequence[float]) -> tuple[float, float]:
    try:
        if isinstance(image_size, (str, bytes)):
            raise TypeError
        w, h = (float(v) for v in image_size)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"image_size must be (width, height) in pixels; got {image_size!r}") from None
    if not (np.isfinite(w) and np.isfinite(h) and w > 0 and h > 0):
        raise ValueError(f"image_size must be positive (width, height) pixels; got {image_size!r}")
    return w, h


def far_outside_image(keypoints: np.ndarray, image_size: tuple[float, float]) -> np.ndarray:
    """(..., J) bool: the keypoint (..., J, >=2) lies more than `OUTSIDE_MARGIN` image sizes outside
    the image (NaN is not outside)."""
    size = np.asarray(image_size, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        xy = np.asarray(keypoints)[..., :2]
        return ((xy < -OUTSIDE_MARGIN * size) | (xy > (1 + OUTSIDE_MARGIN) * size)).any(-1)


def _where(mask: np.ndarray, limit: int = 5) -> str:
    spots = [f"(frame {t}, joint {j})" for t, j in np.argwhere(mask)[:limit]]
    more = int(mask.sum()) - len(spots)
    return ", ".join(spots) + (f" and {more} more" if more > 0 else "")


def _real_array(values, what: str, kinds: str) -> np.ndarray:
    """`values` as float64, or a ValueError for anything that is not an array of real numbers."""
    try:
        array = np.asarray(values)
        if array.dtype.kind == "O":
            array = array.astype(np.float64)
    except (TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"{what} must be an array of real numbers; got {type(values).__name__} ({err})") from None
    if array.dtype.kind not in kinds:
        raise ValueError(f"{what} must be an array of real numbers (float or int); got dtype {array.dtype}")
    return array.astype(np.float64)


@dataclass(frozen=True)
class PreparedKeypoints:
    inputs: np.ndarray  # (T, 17, in_channels) float32, normalised, H36M order: the model input
    observed: np.ndarray  # (T, 17) bool, H36M order: finite keypoint with a score above 0


def prepare_keypoints(keypoints: np.ndarray, image_size: Sequence[float], layout: str,
                      scores: np.ndarray | None, in_channels: int,
                      previous: np.ndarray | None = None) -> np.ndarray:
    """Pixels (T, 17, 2|3) -> model input (T, 17, in_channels): layout, masking, normalisation, scores.

    `previous` (17, 2), normalised: the last frame of a stream, used to hold masked joints.
    """
    return prepare_observed_keypoints(keypoints, image_size, layout, scores, in_channels, previous).inputs


def prepare_observed_keypoints(keypoints: np.ndarray, image_size: Sequence[float], layout: str,
                               scores: np.ndarray | None, in_channels: int,
                               previous: np.ndarray | None = None) -> PreparedKeypoints:
    """`prepare_keypoints` and the (T, 17) mask of observed joints (see the module docstring)."""
    w, h = check_image_size(image_size)
    check_layout(layout)
    kp = _real_array(keypoints, "keypoints", "iuf")
    if kp.ndim != 3 or kp.shape[-1] not in (2, 3):
        raise ValueError(f"keypoints must have shape (T, 17, 2) in pixels, or (T, 17, 3) with scores; "
                         f"got {kp.shape}")
    if kp.shape[0] == 0:
        raise ValueError("keypoints has zero frames; pass at least one frame")
    if kp.shape[1] != H36M_NUM_JOINTS:
        raise ValueError(f"keypoints must have 17 joints in the {layout!r} layout; got {kp.shape[1]}. "
                         "Convert other detectors' output to COCO-17 or H36M-17 first")
    score_name = "scores"
    if kp.shape[-1] == 3:
        if scores is not None:
            raise ValueError("keypoints has a score channel and scores= was passed too; pass one of them")
        kp, scores, score_name = kp[..., :2], kp[..., 2], "the third keypoint channel (scores)"
    if scores is not None:
        scores = _real_array(scores, score_name, "biuf")
        if scores.shape != kp.shape[:2]:
            raise ValueError(f"scores must have shape {kp.shape[:2]} (frames, joints); got {scores.shape}")
        if not np.isfinite(scores).all():
            raise ValueError(f"{score_name} must be finite; NaN/inf at {_where(~np.isfinite(scores))}")
        outside = (scores < 0) | (scores > 1)
        if outside.any():
            raise ValueError(f"{score_name} must be detector confidences in [0, 1]; got values from "
                             f"{scores.min():g} to {scores.max():g}, outside at {_where(outside)}. A third "
                             "channel is a confidence, not z or depth: pass (T, 17, 2) pixels for 2D-only input")
    missing = ~np.isfinite(kp).all(-1)
    if missing.any():
        unmasked = missing if scores is None else missing & (scores != 0)
        if unmasked.any():
            raise ValueError(f"keypoints are NaN/inf at {_where(unmasked)} ({layout} joint order). Mark missing "
                             "joints with score 0 in scores= to mask them, or drop those frames")
    far = far_outside_image(kp, (w, h))
    far &= ~missing  # masked joints (NaN/inf, score 0) are held, not lifted from where they claim to be
    if far.any():
        x, y = kp[tuple(np.argwhere(far)[0])]
        raise ValueError(f"keypoints lie more than {OUTSIDE_MARGIN:g} image size outside the {w:g}x{h:g} image at "
                         f"{_where(far)} ({layout} joint order; first at x={x:g}, y={y:g}). Pass the image_size the "
                         "keypoints were detected in, in pixels (not normalised coordinates)")
    if scores is None:
        scores = np.ones(kp.shape[:2])
    # a masked joint is missing whatever its value: NaN (inf - inf in the COCO midpoints would warn)
    kp = np.where(missing[..., None], np.nan, kp)
    if layout == "coco":
        kp, scores = coco_to_h36m(kp, scores)  # derived joints inherit score 0 / NaN from their sources
    observed = np.isfinite(kp).all(-1) & (scores > 0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        kp = normalize_screen_coordinates(kp, w, h)
    fill_missing(kp, previous)
    scores = np.where(np.isfinite(kp).all(-1), scores, 0.0)
    if in_channels == 3:
        kp = np.concatenate([kp, scores[..., None]], axis=-1)
    unfit = ~(np.abs(kp) <= _FLOAT32_MAX).all(-1)  # also NaN: checked before the cast, true after it
    if unfit.any():
        raise ValueError(f"keypoints do not fit float32 after normalisation at {_where(unfit)} (h36m joint "
                         f"order) for image_size {w:g}x{h:g}; pass pixel coordinates and the image's real size")
    inputs = kp.astype(np.float32)
    if not np.isfinite(inputs).all():  # cannot happen after the check above; never hand NaN to a model
        raise ValueError(f"keypoints are not finite in float32 at {_where(~np.isfinite(inputs).all(-1))}")
    return PreparedKeypoints(inputs, observed)


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

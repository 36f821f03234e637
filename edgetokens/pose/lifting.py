"""Lifting a whole 2D sequence to 3D with a fixed-length clip model, on any backend.

The one implementation of sliding windows + flip averaging (`flip_average`, which
`edgetokens.stream.PoseStream` uses too) + stitching, shared by evaluation, the Predictor and
benchmarks: the backend is a function from clips (N, F, J, C) to poses (N, F, J, 3).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .skeleton import flip_pose
from .swaps import repair_swaps
from .windows import gather_clips, seq2seq_starts, stitch_clips

ClipRunner = Callable[[np.ndarray], np.ndarray]


def flip_average(run: ClipRunner, clips: np.ndarray) -> np.ndarray:
    """Test-time flip augmentation: the mean of the prediction for clips (N, F, J, C) and the un-mirrored
    prediction for the mirrored clips (`flip_pose` on both sides). The one implementation, used by
    `lift_clips` (batch lifting, evaluation) and `PoseStream` (live video)."""
    return 0.5 * (run(clips) + flip_pose(run(flip_pose(clips))))


def lift_clips(run: ClipRunner, clips: np.ndarray, flip: bool = True, batch_size: int = 32) -> np.ndarray:
    """Run clips (N, F, J, C) in batches; with `flip`, `flip_average` them (test-time augmentation).
    The root joint of the output is set to 0."""
    outputs = []
    for lo in range(0, len(clips), batch_size):
        batch = clips[lo:lo + batch_size]
        outputs.append(flip_average(run, batch) if flip else run(batch))
    poses = np.concatenate(outputs).astype(np.float32)
    poses[..., 0, :] = 0.0
    return poses


def lift_sequence(run: ClipRunner, keypoints: np.ndarray, frames: int, flip: bool = True,
                  batch_size: int = 32, repair: bool = False) -> np.ndarray:
    """keypoints (L, J, C), normalised -> poses (L, J, 3): official seq2seq windows, edge padded,
    padded frames cropped away. `repair`: undo left/right limb swaps first (`swaps.repair_swaps`,
    H36M-17 inputs)."""
    keypoints = np.asarray(keypoints, dtype=np.float32)
    if repair:
        keypoints = repair_swaps(keypoints)
    starts = seq2seq_starts(len(keypoints), frames)
    clips = gather_clips(keypoints, starts, frames)
    return stitch_clips(lift_clips(run, clips, flip, batch_size), starts, len(keypoints))

"""Data sources and loaders for training (pose and depth).

Pose sources (``cmu`` ASF/AMC, ``positions`` npz, ``bvh``, ``synthetic``, ``h36m``) all produce
:class:`MotionSequence` objects: 3D joint positions in the Human3.6M 17-joint order, in metres, in a
Z-up world frame, at 50 Hz (``names``: joint-name maps for foreign skeletons). ``cameras`` turns them
into per-camera 2D detections (:class:`training.data.cameras.ViewSequence`), ``layouts`` in the 2D
layout a detector gives (H36M, COCO, BlazePose-style), and ``clips`` cuts those into training /
evaluation clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WORLD_FRAME = "z-up"  # x, y horizontal, z up, metres (as Human3.6M's world); cameras.py assumes it.


@dataclass
class MotionSequence:
    """One 3D motion in the H36M-17 layout.

    positions: (T, 17, 3) float32, metres, in ``world_frame`` (always ``"z-up"`` here).
    """

    name: str
    subject: str
    fps: float
    positions: np.ndarray
    world_frame: str = WORLD_FRAME

    def __post_init__(self) -> None:
        self.positions = np.asarray(self.positions, dtype=np.float32)
        if self.positions.ndim != 3 or self.positions.shape[1:] != (17, 3) or len(self.positions) == 0:
            raise ValueError(
                f"sequence {self.name!r}: positions must have shape (T>0, 17, 3); got {self.positions.shape}"
            )
        if not np.isfinite(self.positions).all():
            bad = int(np.argwhere(~np.isfinite(self.positions))[0, 0])
            raise ValueError(
                f"sequence {self.name!r}: non-finite (NaN/inf) joint positions, first at frame {bad}; "
                "drop or repair this sequence"
            )

    def __len__(self) -> int:
        return len(self.positions)

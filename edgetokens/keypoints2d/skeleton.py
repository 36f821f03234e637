"""The 33 BlazePose landmarks and their COCO-17 subset."""
from __future__ import annotations

import numpy as np

BLAZEPOSE_LANDMARKS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index")
# COCO-17 order: nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles (left before right)
COCO17_FROM_BLAZEPOSE = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)


def to_coco17(landmarks: np.ndarray) -> np.ndarray:
    """(..., 33, >=4) BlazePose landmarks (x, y, z, visibility, ...) -> (..., 17, 3) x, y, score
    (the visibility)."""
    landmarks = np.asarray(landmarks)
    picked = landmarks[..., COCO17_FROM_BLAZEPOSE, :]
    return np.concatenate([picked[..., 0:2], picked[..., 3:4]], axis=-1).astype(np.float32)

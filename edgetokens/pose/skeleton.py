"""Skeleton layouts (Human3.6M-17, COCO-17), left/right flips and COCO -> H36M conversion.

All functions take numpy arrays or torch tensors with any leading dimensions; the last two
dimensions are (joints, channels). Flips negate channel 0 (x) and swap left/right joints, which is
only a mirror image when x is centred: use them on normalised 2D keypoints
(``normalize_screen_coordinates``) or on camera-frame 3D, never on raw pixels.
"""

from __future__ import annotations

from typing import Sequence, TypeVar

import numpy as np

try:  # torch is a dependency, but the pose maths does not need it to import.
    import torch
except ImportError:  # pragma: no cover
    torch = None

ArrayT = TypeVar("ArrayT")

# --- Human3.6M 17-joint layout (VideoPose3D / HoT order) ------------------------------------------
H36M_JOINT_NAMES: tuple[str, ...] = (
    "Hip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "Spine", "Thorax",
    "Neck/Nose", "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist",
)
H36M_NUM_JOINTS = 17
H36M_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
H36M_JOINTS_LEFT: tuple[int, ...] = (4, 5, 6, 11, 12, 13)
H36M_JOINTS_RIGHT: tuple[int, ...] = (1, 2, 3, 14, 15, 16)
H36M_ROOT = 0
# (child, parent) pairs: the 16 bones of the 17-joint tree.
H36M_BONES: tuple[tuple[int, int], ...] = tuple((j, p) for j, p in enumerate(H36M_PARENTS) if p >= 0)
# Indices of the 17 joints inside the original 32-joint Human3.6M mocap skeleton.
H36M_32_TO_17: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
# Parents in the original 32-joint skeleton (VideoPose3D), used to fill the 15 dropped joints
# when writing 32-joint files.
H36M_32_PARENTS: tuple[int, ...] = (
    -1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14, 12,
    16, 17, 18, 19, 20, 19, 22, 12, 24, 25, 26, 27, 28, 27, 30,
)

# --- COCO 17-keypoint layout --------------------------------------------------------------------
COCO_JOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
COCO_NUM_JOINTS = 17
COCO_JOINTS_LEFT: tuple[int, ...] = (1, 3, 5, 7, 9, 11, 13, 15)
COCO_JOINTS_RIGHT: tuple[int, ...] = (2, 4, 6, 8, 10, 12, 14, 16)


def _is_torch(x) -> bool:
    return torch is not None and isinstance(x, torch.Tensor)


def _check_joints(x, num_joints: int, what: str = "poses") -> None:
    if x.ndim < 2 or x.shape[-2] != num_joints:
        raise ValueError(
            f"{what} must have shape (..., {num_joints}, C) with the joints on the second-to-last "
            f"axis; got shape {tuple(x.shape)}"
        )


def flip_permutation(
    num_joints: int = H36M_NUM_JOINTS,
    joints_left: Sequence[int] = H36M_JOINTS_LEFT,
    joints_right: Sequence[int] = H36M_JOINTS_RIGHT,
) -> list[int]:
    """Index list that swaps every left joint with its right partner (same position in the lists)."""
    if len(joints_left) != len(joints_right):
        raise ValueError("joints_left and joints_right must have the same length (pairs by position)")
    perm = list(range(num_joints))
    for left, right in zip(joints_left, joints_right):
        perm[left], perm[right] = right, left
    return perm


def flip_pose(
    x: ArrayT,
    joints_left: Sequence[int] = H36M_JOINTS_LEFT,
    joints_right: Sequence[int] = H36M_JOINTS_RIGHT,
    num_joints: int = H36M_NUM_JOINTS,
) -> ArrayT:
    """Mirror poses: negate x (channel 0) and swap left/right joints. Returns a new array.

    Works on (..., J, C) numpy arrays and torch tensors (autograd-safe). Channels after x
    (y, z, or a confidence score) are only permuted. Applying it twice is the identity.
    """
    _check_joints(x, num_joints)
    perm = flip_permutation(num_joints, joints_left, joints_right)
    channels = x.shape[-1]
    if _is_torch(x):
        sign = torch.ones(channels, dtype=x.dtype, device=x.device)
        sign[0] = -1
        return x[..., perm, :] * sign
    sign = np.ones(channels, dtype=x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64)
    sign[0] = -1
    return x[..., perm, :] * sign


def coco_to_h36m(keypoints: ArrayT, scores: ArrayT | None = None) -> ArrayT | tuple[ArrayT, ArrayT]:
    """Convert COCO-17 keypoints (..., 17, C) to the H36M-17 layout (..., 17, C).

    The H36M joints COCO lacks are derived as follows (mid = midpoint):

    - Hip (0)       = mid(left_hip, right_hip)
    - Thorax (8)    = mid(left_shoulder, right_shoulder)
    - Spine (7)     = mid(Hip, Thorax)
    - Neck/Nose (9) = nose
    - Head (10)     = mid(eyes) + (mid(eyes) - nose): the nose reflected through the eye midpoint,
      i.e. moved "up" the face by the nose-to-eyes distance, whatever the head's orientation.
    - Hips, knees, ankles, shoulders, elbows, wrists are copied (COCO left_* -> H36M L*).

    If ``scores`` (..., 17) is given, returns ``(keypoints, scores)``; a derived joint's score is
    the minimum of the scores of the joints it was built from.
    """
    _check_joints(keypoints, COCO_NUM_JOINTS, "COCO keypoints")
    k = keypoints
    hip = (k[..., 11, :] + k[..., 12, :]) / 2
    thorax = (k[..., 5, :] + k[..., 6, :]) / 2
    spine = (hip + thorax) / 2
    nose = k[..., 0, :]
    eyes = (k[..., 1, :] + k[..., 2, :]) / 2
    head = 2 * eyes - nose
    # H36M index -> COCO source (or derived array).
    joints = [hip, k[..., 12, :], k[..., 14, :], k[..., 16, :], k[..., 11, :], k[..., 13, :],
              k[..., 15, :], spine, thorax, nose, head, k[..., 5, :], k[..., 7, :], k[..., 9, :],
              k[..., 6, :], k[..., 8, :], k[..., 10, :]]
    stack = torch.stack if _is_torch(k) else np.stack
    out = stack(joints, -2)
    if scores is None:
        return out
    if tuple(scores.shape) != tuple(keypoints.shape[:-1]):
        raise ValueError(
            f"scores must have shape {tuple(keypoints.shape[:-1])} (keypoints without the channel "
            f"axis); got {tuple(scores.shape)}"
        )
    s = scores
    minimum = torch.minimum if _is_torch(s) else np.minimum
    s_hip = minimum(s[..., 11], s[..., 12])
    s_thorax = minimum(s[..., 5], s[..., 6])
    s_spine = minimum(s_hip, s_thorax)
    s_head = minimum(minimum(s[..., 1], s[..., 2]), s[..., 0])
    score_list = [s_hip, s[..., 12], s[..., 14], s[..., 16], s[..., 11], s[..., 13], s[..., 15],
                  s_spine, s_thorax, s[..., 0], s_head, s[..., 5], s[..., 7], s[..., 9],
                  s[..., 6], s[..., 8], s[..., 10]]
    return out, stack(score_list, -1)


def bone_lengths(x: np.ndarray, parents: Sequence[int] = H36M_PARENTS) -> np.ndarray:
    """Lengths (..., n_bones) of every child-parent bone of (..., J, C) joint positions (numpy)."""
    _check_joints(x, len(parents))
    children = [j for j, p in enumerate(parents) if p >= 0]
    parent_idx = [parents[j] for j in children]
    return np.linalg.norm(x[..., children, :] - x[..., parent_idx, :], axis=-1)

"""Undoing a 2D detector's left/right limb swaps before lifting.

Detectors (BlazePose most of all) sometimes give a leg or an arm the other side's label for a few
frames. Each swap makes both limbs jump there and back, and a lifter cannot tell which frames are
wrong. `repair_swaps` relabels, per limb pair and for the whole sequence at once, the frames whose
labels make the trajectories smoothest: a two-state Viterbi (as given / exchanged) whose transition
cost is how far the pair's joints move between frames and whose exchanged state costs a small
`penalty` per frame, so near-crossings (left and right close together) keep their labels.
Written here because no maintained library does it (filters such as one-euro smooth a jump, they do
not undo it); scale-free (costs are divided by the sequence's body size), so pixels and normalised
coordinates give the same labels.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .skeleton import H36M_JOINTS_LEFT, H36M_JOINTS_RIGHT

# H36M-17 leg and arm pairs (hip, knee, ankle; shoulder, elbow, wrist), the lifter's input order
H36M_LIMB_PAIRS: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = (
    (H36M_JOINTS_LEFT[:3], H36M_JOINTS_RIGHT[:3]), (H36M_JOINTS_LEFT[3:], H36M_JOINTS_RIGHT[3:]))
SWAP_PENALTY = 0.05  # cost of one frame in the exchanged state, in body sizes (see module docstring)


def body_size(points: np.ndarray) -> float:
    """Median over frames of the diagonal of the 2D points' extent (T, J, 2); 1.0 when degenerate."""
    extent = points.max(axis=1) - points.min(axis=1)
    size = float(np.median(np.linalg.norm(extent, axis=-1))) if len(points) else 0.0
    return size if np.isfinite(size) and size > 0 else 1.0


def exchanged_frames(points: np.ndarray, left: Sequence[int], right: Sequence[int],
                     penalty: float = SWAP_PENALTY, scale: float | None = None) -> np.ndarray:
    """(T,) bool: the frames whose `left` and `right` joints of points (T, J, 2) are to be exchanged;
    `scale`: the body size costs are divided by (default `body_size(points)`)."""
    pair = np.concatenate([points[:, list(left)], points[:, list(right)]], axis=1)  # (T, 2n, 2)
    crossed = np.concatenate([points[:, list(right)], points[:, list(left)]], axis=1)
    states = np.stack([pair, crossed], axis=1)  # (T, 2, 2n, 2): as given, exchanged
    scale = body_size(points) if scale is None else scale
    # move[t, a, b]: distance from frame t-1 in state a to frame t in state b
    move = np.linalg.norm(states[1:, None] - states[:-1, :, None], axis=-1).sum(-1) / scale
    unary = np.array([0.0, penalty])
    cost = unary.copy()
    back = np.zeros((len(points), 2), dtype=np.int64)
    for t in range(1, len(points)):
        total = cost[:, None] + move[t - 1]  # (from, to)
        back[t] = total.argmin(axis=0)
        cost = total.min(axis=0) + unary
    state = np.zeros(len(points), dtype=np.int64)
    if len(points):
        state[-1] = int(cost.argmin())
    for t in range(len(points) - 1, 0, -1):
        state[t - 1] = back[t, state[t]]
    return state.astype(bool)


def repair_swaps(keypoints: np.ndarray, pairs: Sequence = H36M_LIMB_PAIRS,
                 penalty: float = SWAP_PENALTY) -> np.ndarray:
    """keypoints (T, J, C) (x, y first; scores or more channels travel with their joint) -> a copy with
    each limb pair's swapped frames relabelled (`exchanged_frames`)."""
    keypoints = np.asarray(keypoints)
    if keypoints.ndim != 3 or keypoints.shape[-1] < 2:
        raise ValueError(f"keypoints must be (frames, joints, 2 or more channels), got {keypoints.shape}")
    repaired = keypoints.copy()
    points = keypoints[..., :2].astype(np.float64)
    if not np.isfinite(points).all():
        raise ValueError("keypoints hold NaN or inf; fill missing joints before repairing swaps")
    scale = body_size(points)
    for left, right in pairs:
        frames = exchanged_frames(points, left, right, penalty, scale)
        both = list(left) + list(right)
        repaired[np.ix_(frames, both)] = keypoints[np.ix_(frames, list(right) + list(left))]
    return repaired

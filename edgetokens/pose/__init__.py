"""Pose conventions shared by training, export and runtime: skeleton, normalisation, windows, metrics."""

from edgetokens.pose.metrics import mean_velocity_error, mpjpe, n_mpjpe, p_mpjpe, procrustes_align
from edgetokens.pose.normalize import image_coordinates, normalize_screen_coordinates, root_relative
from edgetokens.pose.skeleton import (
    COCO_JOINTS_LEFT,
    COCO_JOINTS_RIGHT,
    H36M_JOINT_NAMES,
    H36M_JOINTS_LEFT,
    H36M_JOINTS_RIGHT,
    H36M_PARENTS,
    coco_to_h36m,
    flip_pose,
)
from edgetokens.pose.windows import (
    causal_window,
    centred_window,
    demo_chunk_starts,
    gather_clip,
    gather_clips,
    random_start,
    seq2seq_starts,
    stitch_clips,
)

__all__ = [
    "COCO_JOINTS_LEFT", "COCO_JOINTS_RIGHT", "H36M_JOINT_NAMES", "H36M_JOINTS_LEFT", "H36M_JOINTS_RIGHT",
    "H36M_PARENTS", "causal_window", "centred_window", "coco_to_h36m", "demo_chunk_starts", "flip_pose",
    "gather_clip", "gather_clips", "image_coordinates", "mean_velocity_error", "mpjpe", "n_mpjpe",
    "normalize_screen_coordinates", "p_mpjpe", "procrustes_align", "random_start", "root_relative",
    "seq2seq_starts", "stitch_clips",
]

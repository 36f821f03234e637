"""edgetokens.viz: skeleton drawings, 3D views, mask overlays and video writing."""
import cv2
import numpy as np
import pytest

from edgetokens import viz
from edgetokens.pose.skeleton import H36M_PARENTS


def t_pose() -> np.ndarray:
    """A rough standing pose in camera coordinates (x right, y down), metres, root at 0."""
    pose = np.zeros((17, 3))
    offsets = {1: (-0.15, 0, 0), 2: (0, 0.45, 0), 3: (0, 0.45, 0), 4: (0.15, 0, 0), 5: (0, 0.45, 0),
               6: (0, 0.45, 0), 7: (0, -0.25, 0), 8: (0, -0.25, 0), 9: (0, -0.1, 0), 10: (0, -0.1, 0),
               11: (0.2, 0, 0), 12: (0.3, 0, 0), 13: (0.25, 0, 0), 14: (-0.2, 0, 0), 15: (-0.3, 0, 0),
               16: (-0.25, 0, 0)}
    for joint, parent in enumerate(H36M_PARENTS):
        if parent >= 0:
            pose[joint] = pose[parent] + offsets[joint]
    return pose


def test_2d_skeleton_colours_bones_and_skips_unseen_joints():
    pose = t_pose()
    keypoints = 200 + 150 * pose[:, :2]
    canvas = viz.draw_skeleton_2d(viz.blank(400, 400, 0), keypoints)
    mid_left_arm = np.round((keypoints[11] + keypoints[12]) / 2).astype(int)
    mid_right_arm = np.round((keypoints[14] + keypoints[15]) / 2).astype(int)
    assert tuple(canvas[mid_left_arm[1], mid_left_arm[0]]) == viz.LEFT
    assert tuple(canvas[mid_right_arm[1], mid_right_arm[0]]) == viz.RIGHT
    scores = np.ones(17)
    scores[12] = 0.0  # left elbow unseen: both of its bones disappear
    hidden = viz.draw_skeleton_2d(viz.blank(400, 400, 0), keypoints, scores=scores)
    assert not hidden[mid_left_arm[1], mid_left_arm[0]].any()
    with pytest.raises(ValueError, match="17, 2"):
        viz.draw_skeleton_2d(viz.blank(10, 10), np.zeros((16, 2)))


def test_3d_view_turns_with_the_azimuth():
    pose = t_pose()
    front = viz.render_skeleton_3d([pose], size=300, azimuth=0, elevation=0, colors=[(0, 0, 255)])
    back = viz.render_skeleton_3d([pose], size=300, azimuth=180, elevation=0, colors=[(0, 0, 255)])
    columns = lambda img: np.flatnonzero((img == (0, 0, 255)).all(-1).any(0))  # noqa: E731
    wrist_column = 150 + pose[13, 0] * 150  # left wrist, x = +0.75 m -> right side of the front view
    assert columns(front).max() >= wrist_column - 3
    assert np.allclose(columns(back).min(), 300 - columns(front).max(), atol=3)  # mirrored from behind
    with pytest.raises(ValueError, match="17, 3"):
        viz.render_skeleton_3d([np.zeros((17, 2))])


def test_masks_and_video(tmp_path):
    image = viz.blank(64, 64, 100)
    masks = np.zeros((2, 64, 64), bool)
    masks[0, 5:20, 5:20] = masks[1, 40:60, 30:50] = True
    out = viz.overlay_masks(image, masks)
    assert (out[~masks.any(0)] == 100).all() and (out[masks[0]] != 100).any()
    with pytest.raises(ValueError, match="masks must be"):
        viz.overlay_masks(image, masks[:, :10])
    path = tmp_path / "clip.mp4"
    with viz.VideoWriter(path, fps=10) as video:
        for i in range(5):
            video.write(viz.blank(48, 64, 40 * i))
        with pytest.raises(ValueError, match="must all be 64x48"):
            video.write(viz.blank(10, 10))
    capture = cv2.VideoCapture(str(path))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    depth = np.linspace(0.5, 5, 64 * 64, dtype=np.float32).reshape(64, 64)
    depth[:4] = 0
    panel = viz.depth_panel(depth)
    assert panel.shape == (64, 64, 3) and not panel[:4].any()

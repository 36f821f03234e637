import numpy as np
import pytest
import torch

from edgetokens.pose.skeleton import (
    COCO_JOINTS_LEFT,
    COCO_JOINTS_RIGHT,
    COCO_JOINT_NAMES,
    H36M_JOINTS_LEFT,
    H36M_JOINTS_RIGHT,
    H36M_JOINT_NAMES,
    H36M_PARENTS,
    coco_to_h36m,
    flip_permutation,
    flip_pose,
)


def test_layout_constants():
    assert len(H36M_JOINT_NAMES) == len(H36M_PARENTS) == 17
    assert H36M_PARENTS == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
    for left, right in zip(H36M_JOINTS_LEFT, H36M_JOINTS_RIGHT):
        assert H36M_JOINT_NAMES[left][0] == "L" and H36M_JOINT_NAMES[right][0] == "R"
        assert H36M_JOINT_NAMES[left][1:] == H36M_JOINT_NAMES[right][1:]
    for left, right in zip(COCO_JOINTS_LEFT, COCO_JOINTS_RIGHT):
        assert COCO_JOINT_NAMES[left].replace("left", "right") == COCO_JOINT_NAMES[right]


@pytest.mark.parametrize("channels", [2, 3])
def test_flip_negates_x_swaps_sides_and_is_an_involution(channels):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5, 17, channels)).astype(np.float32)
    y = flip_pose(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    for left, right in zip(H36M_JOINTS_LEFT, H36M_JOINTS_RIGHT):
        np.testing.assert_array_equal(y[..., left, 0], -x[..., right, 0])
        np.testing.assert_array_equal(y[..., right, 1:], x[..., left, 1:])
    for centre in (0, 7, 8, 9, 10):
        np.testing.assert_array_equal(y[..., centre, 0], -x[..., centre, 0])
    np.testing.assert_array_equal(flip_pose(y), x)
    assert not np.shares_memory(x, y)


def test_flip_torch_matches_numpy_and_keeps_gradients():
    x = torch.randn(2, 9, 17, 3, requires_grad=True)
    y = flip_pose(x)
    np.testing.assert_allclose(y.detach().numpy(), flip_pose(x.detach().numpy()))
    torch.testing.assert_close(flip_pose(y), x)
    y.sum().backward()
    assert x.grad is not None


def test_wrong_joint_count_names_expected_shape():
    with pytest.raises(ValueError, match=r"\(\.\.\., 17, C\)"):
        flip_pose(np.zeros((10, 16, 2)))
    with pytest.raises(ValueError, match="17"):
        coco_to_h36m(np.zeros((3, 18, 2)))


def test_flip_permutation_rejects_unpaired_lists():
    with pytest.raises(ValueError):
        flip_permutation(17, [1, 2], [3])


def test_coco_to_h36m_on_hand_made_pose():
    coco = np.zeros((17, 2))
    named = dict(nose=(0, -10), left_eye=(2, -12), right_eye=(-2, -12), left_ear=(4, -11), right_ear=(-4, -11),
                 left_shoulder=(10, 0), right_shoulder=(-10, 0), left_elbow=(12, 10), right_elbow=(-12, 10),
                 left_wrist=(13, 20), right_wrist=(-13, 20), left_hip=(6, 30), right_hip=(-6, 30),
                 left_knee=(6, 45), right_knee=(-6, 45), left_ankle=(6, 60), right_ankle=(-6, 60))
    for name, xy in named.items():
        coco[COCO_JOINT_NAMES.index(name)] = xy
    scores = np.linspace(0.2, 1.0, 17)
    h36m, s = coco_to_h36m(coco, scores)
    expect = {
        "Hip": (0, 30), "RHip": (-6, 30), "RKnee": (-6, 45), "RAnkle": (-6, 60), "LHip": (6, 30),
        "LKnee": (6, 45), "LAnkle": (6, 60), "Thorax": (0, 0), "Spine": (0, 15), "Neck/Nose": (0, -10),
        "Head": (0, -14), "LShoulder": (10, 0), "LElbow": (12, 10), "LWrist": (13, 20),
        "RShoulder": (-10, 0), "RElbow": (-12, 10), "RWrist": (-13, 20),
    }
    for name, xy in expect.items():
        np.testing.assert_allclose(h36m[H36M_JOINT_NAMES.index(name)], xy, err_msg=name)
    sc = dict(zip(COCO_JOINT_NAMES, scores))
    assert s[0] == min(sc["left_hip"], sc["right_hip"])
    assert s[7] == min(sc["left_hip"], sc["right_hip"], sc["left_shoulder"], sc["right_shoulder"])
    assert s[10] == min(sc["left_eye"], sc["right_eye"], sc["nose"])
    assert s[13] == sc["left_wrist"] and s[16] == sc["right_wrist"]


def test_coco_to_h36m_batched_torch_and_3d():
    x = torch.randn(2, 5, 17, 3)
    out, s = coco_to_h36m(x, torch.rand(2, 5, 17))
    assert out.shape == (2, 5, 17, 3) and s.shape == (2, 5, 17)
    np.testing.assert_allclose(out.numpy(), coco_to_h36m(x.numpy()), rtol=1e-6)

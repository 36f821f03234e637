import numpy as np
import pytest

from edgetokens.pose.skeleton import H36M_32_TO_17
from training.data.cameras import project, view_motion_from_cameras, world_to_camera
from training.data.h36m import (
    H36M_CAMERA_EXTRINSICS,
    action_group,
    h36m_camera,
    h36m_subjects,
    load_h36m,
    load_h36m_motions,
    save_videopose3d,
    to_32_joints,
)
from training.data.synthetic import generate_motion, sample_body


def small_views(n_frames=60, cameras=2, seed=0):
    body = sample_body(np.random.default_rng(seed), "syn00")
    views = []
    for k, motion in enumerate(("walk", "squat")):
        rng = np.random.default_rng(seed + k)
        seq = generate_motion(motion, body, n_frames + 10 * k, rng, name=f"{motion} {k + 1}")
        views += view_motion_from_cameras(seq, cameras, np.random.default_rng(seed + 10 + k))
    return views


def test_round_trip_through_videopose3d_files(tmp_path):
    views = small_views()
    p3, p2 = tmp_path / "data_3d_h36m.npz", tmp_path / "data_2d_h36m_test.npz"
    save_videopose3d(p3, p2, views)
    with np.load(p3, allow_pickle=True) as f:
        pos = f["positions_3d"].item()
    assert pos["syn00"]["walk 1"].shape == (60, 32, 3)
    with np.load(p2, allow_pickle=True) as f:
        meta = f["metadata"].item()
        assert len(f["positions_2d"].item()["syn00"]["squat 2"]) == 2
    assert meta["keypoints_symmetry"] == [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]
    loaded = load_h36m(p3, p2)
    assert len(loaded) == len(views)
    by_name = {(v.action, v.camera.name): v for v in views}
    for got in loaded:
        want = by_name[(got.action, got.camera.name)]
        np.testing.assert_allclose(got.keypoints, want.keypoints, atol=1e-4)
        np.testing.assert_allclose(got.scores, want.scores)
        np.testing.assert_allclose(got.positions_cam, want.positions_cam, atol=1e-4)
        np.testing.assert_allclose(got.camera.rotation, want.camera.rotation, atol=1e-6)
        np.testing.assert_allclose(got.camera.focal, want.camera.focal)


def test_2d_is_cut_to_mocap_length_and_32_to_17(tmp_path):
    views = small_views(cameras=1)
    save_videopose3d(tmp_path / "a.npz", tmp_path / "b.npz", views)
    with np.load(tmp_path / "b.npz", allow_pickle=True) as f:
        pos2d, meta = f["positions_2d"].item(), f["metadata"].item()
    pos2d["syn00"]["walk 1"] = [np.concatenate([k, k[:7]]) for k in pos2d["syn00"]["walk 1"]]
    np.savez(tmp_path / "b.npz", positions_2d=pos2d, metadata=meta)
    got = [v for v in load_h36m(tmp_path / "a.npz", tmp_path / "b.npz") if v.action == "walk 1"][0]
    assert len(got.keypoints) == 60 and got.scores is None
    x17 = np.random.default_rng(0).normal(size=(4, 17, 3))
    np.testing.assert_array_equal(to_32_joints(x17)[:, list(H36M_32_TO_17)], x17)
    motions = load_h36m_motions(tmp_path / "a.npz")
    assert {m.name for m in motions} == {"h36m/syn00/walk 1", "h36m/syn00/squat 2"}


def test_missing_keys_name_file_and_key(tmp_path):
    bad = tmp_path / "data_3d_h36m.npz"
    np.savez(bad, something=np.zeros(3))
    with pytest.raises(ValueError, match=r"data_3d_h36m\.npz.*'positions_3d'"):
        load_h36m_motions(bad)
    views = small_views(cameras=1)
    save_videopose3d(tmp_path / "a.npz", tmp_path / "b.npz", views)
    with np.load(tmp_path / "b.npz", allow_pickle=True) as f:
        pos2d = f["positions_2d"].item()
    del pos2d["syn00"]["squat 2"]
    np.savez(tmp_path / "b.npz", positions_2d=pos2d)
    with pytest.raises(ValueError, match=r"b\.npz: missing key positions_2d\['syn00'\]\['squat 2'\]"):
        load_h36m(tmp_path / "a.npz", tmp_path / "b.npz")
    with pytest.raises(FileNotFoundError):
        load_h36m(tmp_path / "nope.npz", tmp_path / "b.npz")


def test_official_cameras_see_the_capture_area():
    assert h36m_subjects("train") == ("S1", "S5", "S6", "S7", "S8") and h36m_subjects("test") == ("S9", "S11")
    for subject in H36M_CAMERA_EXTRINSICS:
        for c in range(4):
            cam = h36m_camera(subject, c)
            pt = world_to_camera(np.array([[0.0, 0.0, 1.0]]), cam)
            assert 3.0 < pt[0, 2] < 7.0  # the capture area centre is 3-7 m in front of each camera
            uv = project(pt, cam)[0]
            assert 0 < uv[0] < cam.width and 0 < uv[1] < cam.height
            assert cam.rotation[1] @ [0, 0, 1] < -0.9  # image "down" is world -z: cameras are upright
    assert h36m_camera("S1", 0).width == 1000 and h36m_camera("S1", 0).height == 1002
    with pytest.raises(ValueError, match="extrinsics"):
        h36m_camera("S2", 0)
    custom = {"S2": [H36M_CAMERA_EXTRINSICS["S1"][0]]}
    np.testing.assert_allclose(h36m_camera("S2", 0, custom).rotation, h36m_camera("S1", 0).rotation)


def test_action_group():
    assert action_group("Walking 1") == "Walking" and action_group("SittingDown") == "SittingDown"

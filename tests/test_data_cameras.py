import numpy as np
import pytest

from training.data import MotionSequence
from training.data.cameras import (
    Camera,
    CameraRigConfig,
    DetectorNoiseConfig,
    add_detector_noise,
    camera_to_world,
    euler_to_matrix,
    look_at,
    matrix_to_quaternion,
    project,
    quaternion_to_matrix,
    sample_camera,
    unproject,
    view_motion,
    world_to_camera,
)
from training.data.synthetic import generate_motion, sample_body


def make_camera(position=(0.0, -5.0, 1.5), target=(0.0, 0.0, 1.0)):
    return Camera(look_at(position, target), position, (1145.0, 1144.0), (512.0, 498.0), 1000, 1000, "test")


def test_look_at_puts_target_on_the_principal_point_and_up_is_up():
    cam = make_camera()
    uv = project(world_to_camera(np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 2.0]]), cam), cam)
    np.testing.assert_allclose(uv[0], cam.center, atol=1e-9)
    assert uv[1, 1] < uv[0, 1]  # higher in the world = smaller image row


def test_projection_round_trip():
    rng = np.random.default_rng(0)
    cam = make_camera()
    world = rng.normal(size=(50, 17, 3)) * 0.5 + [0, 0, 1]
    cam_pts = world_to_camera(world, cam)
    back = unproject(project(cam_pts, cam), cam_pts[..., 2], cam)
    np.testing.assert_allclose(back, cam_pts, atol=1e-9)
    np.testing.assert_allclose(camera_to_world(back, cam), world, atol=1e-9)


def test_points_behind_camera_raise():
    with pytest.raises(ValueError, match="behind"):
        project(np.array([[0.0, 0.0, -1.0]]), make_camera())


def test_quaternion_round_trip_and_euler_order():
    rng = np.random.default_rng(1)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        q *= np.sign(q[0])
        np.testing.assert_allclose(matrix_to_quaternion(quaternion_to_matrix(q)), q, atol=1e-9)
    r = euler_to_matrix([90, 0, 90], "XYZ")  # x first, then z: e_y -> e_z -> e_z; e_x -> e_x -> e_y
    np.testing.assert_allclose(r @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(r @ [0, 1, 0], [0, 0, 1], atol=1e-12)


def test_subject_facing_the_camera_has_left_on_image_right():
    body = sample_body(np.random.default_rng(0), "s")
    seq = generate_motion("wave", body, 10, np.random.default_rng(0))
    p = seq.positions.astype(np.float64)
    left = p[0, 4] - p[0, 1]
    forward = np.cross(left, [0.0, 0.0, 1.0])  # forward = left x up
    cam = make_camera(position=p[0, 0] + 4 * forward / np.linalg.norm(forward), target=p[0, 0])
    uv = project(world_to_camera(p, cam), cam)
    assert np.all(uv[:, 4, 0] > uv[:, 1, 0])  # LHip appears right of RHip
    assert np.all(uv[:, 10, 1] < uv[:, 0, 1])  # head above hips


def test_sampled_cameras_keep_the_motion_in_view():
    body = sample_body(np.random.default_rng(0), "s")
    seq = generate_motion("walk", body, 400, np.random.default_rng(1))
    rng = np.random.default_rng(2)
    for _ in range(5):
        cam = sample_camera(seq.positions, rng, CameraRigConfig())
        pts = world_to_camera(seq.positions, cam)
        assert pts[..., 2].min() >= 1.0
        uv = project(pts, cam)
        assert np.mean((uv >= 0).all(-1) & (uv < 1000).all(-1)) >= 0.99
        assert 1000 <= cam.focal[0] <= 1300


def test_noise_scores_fall_as_noise_grows():
    rng = np.random.default_rng(0)
    clean = rng.uniform(200, 800, size=(400, 17, 2))
    mean_score, mean_err = [], []
    for sigma in (0.5, 4.0, 15.0):
        cfg = DetectorNoiseConfig(sigma_px=(sigma, sigma))
        noisy, scores = add_detector_noise(clean, np.random.default_rng(1), cfg)
        mean_err.append(np.linalg.norm(noisy - clean, axis=-1).mean())
        mean_score.append(scores.mean())
        assert scores.min() >= 0 and scores.max() <= 1 and np.isfinite(noisy).all()
    assert mean_err[0] < mean_err[1] < mean_err[2]
    assert mean_score[0] > mean_score[1] > mean_score[2]
    err = np.linalg.norm(noisy - clean, axis=-1)
    assert np.corrcoef(err.ravel(), scores.ravel())[0, 1] < -0.3


def test_noise_events_and_seeding():
    rng = np.random.default_rng(0)
    clean = rng.uniform(200, 800, size=(2000, 17, 2))
    cfg = DetectorNoiseConfig(outlier_prob=0.01, swap_prob=0.01, missing_prob=0.01)
    a = add_detector_noise(clean, np.random.default_rng(5), cfg)
    b = add_detector_noise(clean, np.random.default_rng(5), cfg)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    noisy, scores = a
    assert 0.005 < np.mean(scores == 0) < 0.2  # missing joints flagged by score 0
    assert np.isfinite(noisy).all()
    err = np.linalg.norm(noisy - clean, axis=-1)
    assert np.mean(err > 30) > 0.005  # outliers and swaps happen
    nan_cfg = DetectorNoiseConfig(missing_prob=0.01, missing_as_nan=True)
    noisy, scores = add_detector_noise(clean, np.random.default_rng(5), nan_cfg)
    np.testing.assert_array_equal(np.isnan(noisy).any(-1), scores == 0)


def test_clean_config_is_exact():
    clean = np.random.default_rng(0).uniform(0, 1000, size=(20, 17, 2))
    noisy, scores = add_detector_noise(clean, np.random.default_rng(0), DetectorNoiseConfig.clean())
    np.testing.assert_allclose(noisy, clean, atol=1e-3)
    assert np.all(scores > 0.95)


def test_view_motion_outputs():
    pos = np.random.default_rng(0).normal(size=(30, 17, 3)) * 0.3 + [0, 0, 1]
    seq = MotionSequence("m", "s", 50.0, pos)
    view = view_motion(seq, make_camera(), np.random.default_rng(0))
    assert view.keypoints.shape == (30, 17, 2) and view.scores.shape == (30, 17)
    assert view.positions_cam.shape == (30, 17, 3) and view.action == "m"
    np.testing.assert_allclose(project(view.positions_cam, view.camera), view.keypoints_clean, atol=1e-3)

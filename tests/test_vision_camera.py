"""The one pinhole camera (edgetokens.vision.camera) that the pose data and the depth scenes share."""
import numpy as np
import pytest

from edgetokens.vision import camera as shared
from edgetokens.vision.camera import (
    Camera,
    camera_to_world,
    look_at,
    pixel_rays,
    project,
    quaternion_to_matrix,
    unproject,
    world_to_camera,
)


def make_camera(width=64, height=48, roll_deg=4.0):
    position = np.array([0.5, -3.0, 1.4])
    return Camera(look_at(position, [0.2, 0.4, 1.0], roll_deg=roll_deg), position, (55.0, 56.5),
                  (31.0, 24.5), width, height, "cam")


def test_pose_data_and_depth_scenes_use_the_same_camera():
    from training.data import cameras, scenes

    for name in ("Camera", "world_to_camera", "camera_to_world", "project", "unproject", "look_at",
                 "axis_rotation", "quaternion_to_matrix", "matrix_to_quaternion"):
        assert getattr(cameras, name) is getattr(shared, name), name
    from training.data import scene_furniture, scene_geometry

    for name in ("Camera", "look_at", "pixel_rays"):
        assert getattr(scenes, name) is getattr(shared, name), name
    assert scene_geometry.Camera is scene_furniture.Camera is shared.Camera
    assert not hasattr(scenes, "_Camera") and not hasattr(scenes, "_rays")


def test_rotation_is_world_to_camera_with_rows_right_down_forward():
    cam = make_camera(roll_deg=0.0)
    target = np.array([0.2, 0.4, 1.0])
    forward = (target - cam.position) / np.linalg.norm(target - cam.position)
    np.testing.assert_allclose(cam.forward, forward, atol=1e-12)
    np.testing.assert_allclose(world_to_camera(target, cam)[:2], 0.0, atol=1e-12)  # on the optical axis
    assert cam.rotation[0, 2] == pytest.approx(0.0, abs=1e-12)  # right is horizontal (no roll)
    assert cam.rotation[1, 2] < 0  # camera y (down) points to world -z
    np.testing.assert_allclose(cam.camera_to_world_matrix[:3, :3], cam.rotation.T)
    np.testing.assert_allclose(cam.camera_to_world_matrix[:3, 3], cam.position)
    # Human3.6M quaternions rotate camera vectors into the world: stored transposed
    q = np.array([0.14, -0.15, -0.75, 0.62])
    np.testing.assert_allclose(Camera.from_quaternion(q, [1, 2, 3], (1, 1), (0, 0), 2, 2).rotation,
                               quaternion_to_matrix(q).T)


def test_projection_matches_the_intrinsics_matrix_and_round_trips():
    cam = make_camera()
    world = np.random.default_rng(0).normal(size=(100, 3)) * 0.5 + [0.2, 0.4, 1.0]
    points = world_to_camera(world, cam)
    homogeneous = points @ cam.intrinsics.T
    np.testing.assert_allclose(project(points, cam), homogeneous[:, :2] / homogeneous[:, 2:], atol=1e-9)
    back = unproject(project(points, cam), points[:, 2], cam)
    np.testing.assert_allclose(camera_to_world(back, cam), world, atol=1e-9)


def test_pixel_rays_back_project_every_pixel_centre():
    """A ray's point at parameter t is the pixel back-projected at z-depth t, and projects to that pixel."""
    cam = make_camera()
    rays = pixel_rays(cam, dtype=np.float64)
    assert rays.shape == (3, cam.height, cam.width)
    v, u = np.mgrid[0:cam.height, 0:cam.width]
    pixels = np.stack([u, v], -1).astype(np.float64)
    depth = np.random.default_rng(1).uniform(0.5, 6.0, size=(cam.height, cam.width))
    points = cam.position + depth[..., None] * rays.transpose(1, 2, 0)
    np.testing.assert_allclose(points, camera_to_world(unproject(pixels, depth, cam), cam), atol=1e-9)
    np.testing.assert_allclose(world_to_camera(points, cam)[..., 2], depth, atol=1e-9)
    np.testing.assert_allclose(project(world_to_camera(points, cam), cam), pixels, atol=1e-9)
    np.testing.assert_allclose(pixel_rays(cam), rays, atol=1e-5)  # float32 by default
    assert pixel_rays(cam).dtype == np.float32


def test_scene_camera_sampling_is_look_at_with_the_scene_roll():
    """The depth scenes build their camera with the shared look_at: the drawn pitch / roll show up in it."""
    from training.data.scenes import SceneConfig, _sample_camera

    cfg = SceneConfig()
    for seed in range(20):
        rng = np.random.default_rng(seed)
        room = np.array([5.0, 4.0, 2.8])
        cam = _sample_camera(rng, cfg, room, 48, 64)
        pitch = np.degrees(np.arcsin(cam.forward[2]))
        assert cfg.pitch_deg[0] - 1e-4 <= pitch <= cfg.pitch_deg[1] + 1e-4
        roll = np.degrees(np.arcsin(cam.rotation[0, 2]))  # camera x leaves the horizontal plane only by roll
        assert abs(roll) <= cfg.roll_deg + 1e-3
        level = look_at(cam.position, cam.position + cam.forward)
        np.testing.assert_allclose(level[2], cam.rotation[2], atol=1e-6)

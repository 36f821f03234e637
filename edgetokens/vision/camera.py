"""The pinhole camera: one rotation convention and one projection for every 3D source.

Used by the pose data (virtual cameras around a motion, Human3.6M calibrations:
``training.data.cameras``) and by the depth data (the ray-cast indoor scenes: ``training.data.scenes``).

Conventions, stated once:

- World: right-handed, metres (the training data uses Z-up, ``training.data.WORLD_FRAME``).
- Camera frame: OpenCV / Human3.6M axes, x right, y down, z forward (depth), metres.
- ``Camera.rotation`` is the **world->camera** rotation ``R`` and ``Camera.position`` the camera
  centre ``c`` in the world: ``X_cam = R @ (X_world - c)``. The rows of ``R`` are the camera's right,
  down and forward axes in world coordinates; ``R.T`` (columns) is camera->world.
- Pixels: ``u = fx * x / z + cx``, ``v = fy * y / z + cy`` (no lens distortion); ``u`` is the column,
  ``v`` the row, and pixel centres sit at integer coordinates (:func:`pixel_rays` casts through
  ``u = 0 .. width - 1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


# --- rotations -------------------------------------------------------------------------------------
def axis_rotation(axis: str, angle) -> np.ndarray:
    """Right-handed rotation matrices (..., 3, 3) about ``axis`` ('x', 'y' or 'z') by ``angle`` radians."""
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    axis = axis.lower()
    if axis == "x":
        rows = [[one, zero, zero], [zero, c, -s], [zero, s, c]]
    elif axis == "y":
        rows = [[c, zero, s], [zero, one, zero], [-s, zero, c]]
    elif axis == "z":
        rows = [[c, -s, zero], [s, c, zero], [zero, zero, one]]
    else:
        raise ValueError(f"rotation axis must be 'x', 'y' or 'z'; got {axis!r}")
    return np.stack([np.stack(r, -1) for r in rows], -2)


def quaternion_to_matrix(q) -> np.ndarray:
    """Unit quaternion(s) (..., 4) as (w, x, y, z) -> rotation matrices (..., 3, 3)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def matrix_to_quaternion(rot) -> np.ndarray:
    """Rotation matrix (3, 3) -> unit quaternion (w, x, y, z) with w >= 0."""
    m = np.asarray(rot, dtype=np.float64)
    k = np.array([  # symmetric 4x4 whose top eigenvector is the quaternion (Bar-Itzhack)
        [m[0, 0] - m[1, 1] - m[2, 2], m[1, 0] + m[0, 1], m[2, 0] + m[0, 2], m[2, 1] - m[1, 2]],
        [m[1, 0] + m[0, 1], m[1, 1] - m[0, 0] - m[2, 2], m[2, 1] + m[1, 2], m[0, 2] - m[2, 0]],
        [m[2, 0] + m[0, 2], m[2, 1] + m[1, 2], m[2, 2] - m[0, 0] - m[1, 1], m[1, 0] - m[0, 1]],
        [m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1], m[0, 0] + m[1, 1] + m[2, 2]],
    ]) / 3.0
    vals, vecs = np.linalg.eigh(k)
    x, y, z, w = vecs[:, np.argmax(vals)]
    q = np.array([w, x, y, z])
    return q if w >= 0 else -q


def look_at(position, target, up=(0.0, 0.0, 1.0), roll_deg: float = 0.0) -> np.ndarray:
    """World->camera rotation of a camera at ``position`` looking at ``target`` (x right, y down, ``up``
    up), then rolled by ``roll_deg`` about its optical axis: ``Rz(roll) @ [right; down; forward]``."""
    forward = np.asarray(target, np.float64) - np.asarray(position, np.float64)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.asarray(up, np.float64))
    if np.linalg.norm(right) < 1e-6:
        raise ValueError("camera looks straight along the up axis; choose a target not directly above/below")
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rot = np.stack([right, down, forward])
    return axis_rotation("z", np.radians(roll_deg)) @ rot


# --- the camera ------------------------------------------------------------------------------------
@dataclass
class Camera:
    """A pinhole camera. ``rotation`` is world->camera; ``position`` is the camera centre in world metres;
    ``focal`` = (fx, fy) and ``center`` = (cx, cy) in pixels of a ``width`` x ``height`` image."""

    rotation: np.ndarray
    position: np.ndarray
    focal: tuple[float, float]
    center: tuple[float, float]
    width: int
    height: int
    name: str = ""

    def __post_init__(self) -> None:
        self.rotation = np.asarray(self.rotation, dtype=np.float64).reshape(3, 3)
        self.position = np.asarray(self.position, dtype=np.float64).reshape(3)
        self.focal = (float(self.focal[0]), float(self.focal[1]))
        self.center = (float(self.center[0]), float(self.center[1]))
        if self.width <= 0 or self.height <= 0 or min(self.focal) <= 0:
            raise ValueError(f"camera {self.name!r}: width, height and focal lengths must be positive")

    @classmethod
    def from_quaternion(cls, orientation, translation_m, focal, center, width: int, height: int,
                        name: str = "") -> Camera:
        """Human3.6M / VideoPose3D style: ``orientation`` (w, x, y, z) rotates camera-frame vectors
        into the world, ``translation_m`` is the camera centre in world metres."""
        return cls(quaternion_to_matrix(orientation).T, translation_m, focal, center, width, height, name)

    @property
    def orientation(self) -> np.ndarray:
        """Camera->world rotation as a (w, x, y, z) quaternion (the VideoPose3D ``orientation``)."""
        return matrix_to_quaternion(self.rotation.T)

    @property
    def fx(self) -> float:
        return self.focal[0]

    @property
    def fy(self) -> float:
        return self.focal[1]

    @property
    def cx(self) -> float:
        return self.center[0]

    @property
    def cy(self) -> float:
        return self.center[1]

    @property
    def intrinsics(self) -> np.ndarray:
        """(3, 3) float64 ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def forward(self) -> np.ndarray:
        """The optical axis (camera +z) in world coordinates, unit length."""
        return self.rotation[2].copy()

    @property
    def camera_to_world_matrix(self) -> np.ndarray:
        """(4, 4) float64 rigid transform from camera to world coordinates (the camera's pose)."""
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = self.rotation.T, self.position
        return pose


def world_to_camera(points, camera: Camera) -> np.ndarray:
    """World points (..., 3) -> camera frame (..., 3)."""
    return (np.asarray(points, dtype=np.float64) - camera.position) @ camera.rotation.T


def camera_to_world(points, camera: Camera) -> np.ndarray:
    """Camera-frame points (..., 3) -> world (..., 3)."""
    return np.asarray(points, dtype=np.float64) @ camera.rotation + camera.position


def project(points_cam, camera: Camera) -> np.ndarray:
    """Camera-frame points (..., 3) -> pixels (..., 2). Points must be in front (z > 0)."""
    p = np.asarray(points_cam, dtype=np.float64)
    z = p[..., 2:3]
    if np.any(z <= 0):
        raise ValueError(
            f"camera {camera.name!r}: {int(np.sum(z <= 0))} points are at or behind the camera "
            "(z <= 0); move the camera further away or re-sample it"
        )
    return p[..., :2] / z * np.array(camera.focal) + np.array(camera.center)


def unproject(pixels, depth, camera: Camera) -> np.ndarray:
    """Pixels (..., 2) and camera depth z (...) -> camera-frame points (..., 3) (inverse of :func:`project`)."""
    uv = np.asarray(pixels, dtype=np.float64)
    z = np.asarray(depth, dtype=np.float64)[..., None]
    xy = (uv - np.array(camera.center)) / np.array(camera.focal) * z
    return np.concatenate([xy, z], -1)


def pixel_rays(camera: Camera, dtype=np.float32) -> np.ndarray:
    """World directions (3, height, width) through every pixel centre, scaled so that their camera-z
    component is 1: the point at ray parameter ``t`` from ``camera.position`` has z-depth ``t``.

    The grid form of :func:`unproject` at depth 1 followed by the rotation of :func:`camera_to_world`
    (computed in ``dtype``, as a renderer casts ``width * height`` rays)."""
    x = ((np.arange(camera.width) - camera.cx) / camera.fx).astype(dtype)
    y = ((np.arange(camera.height) - camera.cy) / camera.fy).astype(dtype)
    r = camera.rotation.T.astype(dtype)  # columns: camera x, y, z axes in the world
    return r[:, 0, None, None] * x[None, None, :] + r[:, 1, None, None] * y[None, :, None] + r[:, 2, None, None]


__all__ = [
    "Camera", "axis_rotation", "camera_to_world", "look_at", "matrix_to_quaternion", "pixel_rays", "project",
    "quaternion_to_matrix", "unproject", "world_to_camera",
]

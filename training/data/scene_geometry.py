"""Ray casting for :mod:`training.data.scenes`: the room box and the object primitives (boxes, spheres,
vertical cylinders), each with an analytic first hit, surface normals and texture coordinates.

Per-pixel work is float32 (half the memory traffic of float64); scalars stay Python floats so that NumPy
keeps float32 results. The camera is inside the room and outside every primitive (the scene sampler
keeps it clear of objects), so each primitive's entry distance is its hit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgetokens.vision.camera import Camera

F32 = np.float32
FLOOR, CEILING = 0, 1  # primitive ids 0..5 are the room faces: floor, ceiling, x=0, x=Lx, y=0, y=Ly
ROOM_FACES = 6
ROOM_NORMALS = np.array([[0, 0, 1], [0, 0, -1], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]], dtype=np.float32)
ROOM_UV_AXES = ((0, 1), (0, 1), (1, 2), (1, 2), (0, 2), (0, 2))  # world axes of each face's (u, v)
_BOX_UV_AXES = np.array([[1, 2], [0, 2], [0, 1]])
_CUBE = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T.astype(np.float64)  # (8, 3)


@dataclass
class Box:
    """A box rotated by ``yaw`` about the vertical axis through its centre."""

    center: np.ndarray  # (3,) world
    half: np.ndarray  # (3,) half extents in the box frame
    yaw: float  # rotation about z, radians
    instance: int  # index of the object it belongs to; -1: clutter (no mask)
    material: int

    def __post_init__(self) -> None:
        self.center, self.half = np.asarray(self.center, F32), np.asarray(self.half, F32)
        self._cos, self._sin = math.cos(self.yaw), math.sin(self.yaw)
        c, s = self._cos, self._sin
        local = _CUBE * self.half
        self._corners = np.stack([c * local[:, 0] - s * local[:, 1], s * local[:, 0] + c * local[:, 1],
                                  local[:, 2]], 1) + self.center

    def _to_local(self, v: np.ndarray) -> np.ndarray:
        """World vectors (3, ...) -> box-frame vectors (rotation by -yaw)."""
        c, s = self._cos, self._sin
        return np.stack([c * v[0] + s * v[1], -s * v[0] + c * v[1], v[2]])

    def corners(self) -> np.ndarray:
        """(8, 3) float64 world corners (the screen-rectangle and shadow tests use them)."""
        return self._corners

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """Slab test: ray parameter of the entry point, inf where the ray misses."""
        o = self._to_local(origin - self.center)[:, None, None]
        d = self._to_local(dirs)
        h = self.half[:, None, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1 / d
            t1, t2 = (-h - o) * inv, (h - o) * inv
        near = np.minimum(t1, t2).max(0)
        far = np.maximum(t1, t2).min(0)
        return np.where((near <= far) & (near > 0), near, F32(np.inf))

    def attributes(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Surface points (3, n) -> (normals (3, n), texture coordinates (2, n) in metres)."""
        local = self._to_local(points - self.center[:, None])
        axis = np.abs(local / self.half[:, None]).argmax(0)
        cols = np.arange(local.shape[1])
        normal = np.zeros_like(local)
        normal[axis, cols] = np.sign(local[axis, cols])
        c, s = self._cos, self._sin
        normal = np.stack([c * normal[0] - s * normal[1], s * normal[0] + c * normal[1], normal[2]])
        shifted = local + self.half[:, None]
        uv = np.stack([shifted[_BOX_UV_AXES[axis, 0], cols], shifted[_BOX_UV_AXES[axis, 1], cols]])
        return normal, uv


@dataclass
class Sphere:
    center: np.ndarray
    radius: float
    instance: int
    material: int

    def __post_init__(self) -> None:
        self.center, self.radius = np.asarray(self.center, F32), float(self.radius)

    def corners(self) -> np.ndarray:
        return self.center + self.radius * _CUBE

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        oc = origin - self.center
        a = (dirs * dirs).sum(0)
        b = np.tensordot(oc, dirs, axes=1)
        disc = b * b - a * float(oc @ oc - self.radius ** 2)
        with np.errstate(invalid="ignore"):
            t = (-b - np.sqrt(disc)) / a
        return np.where((disc >= 0) & (t > 0), t, F32(np.inf))

    def attributes(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = (points - self.center[:, None]) / self.radius
        uv = np.stack([np.arctan2(n[1], n[0]) * self.radius, points[2] - self.center[2]])
        return n, uv


@dataclass
class Cylinder:
    """Vertical cylinder from ``z0`` to ``z1`` around the axis through ``center`` (x, y)."""

    center: np.ndarray  # (3,): x, y of the axis; z unused
    radius: float
    z0: float
    z1: float
    instance: int
    material: int

    def __post_init__(self) -> None:
        self.center = np.asarray(self.center, F32)
        self.radius, self.z0, self.z1 = float(self.radius), float(self.z0), float(self.z1)

    def corners(self) -> np.ndarray:
        x, y, r = float(self.center[0]), float(self.center[1]), self.radius
        return np.array([[x + sx * r, y + sy * r, z] for sx in (-1, 1) for sy in (-1, 1) for z in (self.z0, self.z1)],
                        dtype=np.float64)

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        ox, oy, oz = float(origin[0] - self.center[0]), float(origin[1] - self.center[1]), float(origin[2])
        dx, dy, dz = dirs
        a = dx * dx + dy * dy
        b = dx * ox + dy * oy
        disc = b * b - a * (ox * ox + oy * oy - self.radius ** 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            side = (-b - np.sqrt(disc)) / a
            z = oz + side * dz
            side = np.where((disc >= 0) & (side > 0) & (z >= self.z0) & (z <= self.z1), side, F32(np.inf))
            if self.z0 <= oz <= self.z1:  # the camera sees no cap
                return side
            cap = ((self.z1 if oz > self.z1 else self.z0) - oz) / dz  # the one cap facing the camera
            px, py = ox + cap * dx, oy + cap * dy
            cap = np.where((cap > 0) & (px * px + py * py <= self.radius ** 2), cap, F32(np.inf))
        return np.minimum(side, cap)

    def attributes(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rx, ry = points[0] - self.center[0], points[1] - self.center[1]
        radial = np.hypot(rx, ry)
        to_top, to_bottom = np.abs(points[2] - self.z1), np.abs(points[2] - self.z0)
        on_cap = np.minimum(to_top, to_bottom) < np.abs(radial - self.radius)
        safe = np.maximum(radial, F32(1e-9))
        cap_normal = np.where(to_top < to_bottom, F32(1), F32(-1))
        zero = np.zeros_like(rx)
        normal = np.where(on_cap, np.stack([zero, zero, cap_normal]), np.stack([rx / safe, ry / safe, zero]))
        uv = np.where(on_cap, np.stack([rx, ry]), np.stack([np.arctan2(ry, rx) * self.radius, points[2] - self.z0]))
        return normal, uv


Primitive = Box | Sphere | Cylinder


def room_hits(origin: np.ndarray, dirs: np.ndarray, room: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The camera is inside: each ray leaves the room through one face -> (t, face id int16)."""
    t_best = face = None
    for axis, (low_id, high_id) in enumerate(((2, 3), (4, 5), (FLOOR, CEILING))):
        d = dirs[axis]
        ahead = d > 0
        gap_high, gap_low = float(room[axis] - origin[axis]), float(origin[axis])  # both > 0
        with np.errstate(divide="ignore"):
            t = np.where(ahead, F32(gap_high), F32(gap_low)) / np.abs(d)  # d == 0 -> inf
        ids = np.where(ahead, np.int16(high_id), np.int16(low_id))
        if t_best is None:
            t_best, face = t, ids
        else:
            better = t < t_best
            t_best, face = np.where(better, t, t_best), np.where(better, ids, face)
    return t_best, face


def screen_rects(corners: np.ndarray, camera: Camera, height: int, width: int) -> list:
    """Conservative pixel rectangles (v0, v1, u0, u1) of convex shapes given by their corners (P, 8, 3):
    None for one fully behind the camera or off screen, the whole frame for one that spans z <= 0."""
    cam = (corners - camera.position) @ camera.rotation.T
    z = cam[..., 2]
    behind, spans = (z <= 1e-3).all(1), (z <= 1e-3).any(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = cam[..., 0] / z * camera.fx + camera.cx
        v = cam[..., 1] / z * camera.fy + camera.cy
    u0 = np.maximum(np.floor(u.min(1)), 0)
    u1 = np.minimum(np.ceil(u.max(1)) + 1, width)
    v0 = np.maximum(np.floor(v.min(1)), 0)
    v1 = np.minimum(np.ceil(v.max(1)) + 1, height)
    rects = []
    for k in range(len(corners)):
        if behind[k]:
            rects.append(None)
        elif spans[k]:
            rects.append((0, height, 0, width))
        elif u0[k] < u1[k] and v0[k] < v1[k]:
            rects.append((int(v0[k]), int(v1[k]), int(u0[k]), int(u1[k])))
        else:
            rects.append(None)
    return rects


def screen_rect(prim: Primitive, camera: Camera, height: int, width: int) -> tuple[int, int, int, int] | None:
    """:func:`screen_rects` of one primitive."""
    return screen_rects(prim.corners()[None], camera, height, width)[0]


def cast(camera: Camera, dirs: np.ndarray, room: np.ndarray, objects: list) -> tuple[np.ndarray, np.ndarray]:
    """Z-buffer: nearest hit per pixel -> (z-depth float32 (H, W), primitive id int16 (H, W)); ids below
    :data:`ROOM_FACES` are room faces, ``ROOM_FACES + k`` is ``objects[k]``."""
    height, width = dirs.shape[1:]
    origin = camera.position.astype(F32)
    depth, prim = room_hits(origin, dirs, room)
    if not objects:
        return depth, prim
    rects = screen_rects(np.stack([obj.corners() for obj in objects]), camera, height, width)
    for k, (obj, rect) in enumerate(zip(objects, rects)):
        if rect is None:
            continue
        win = np.s_[rect[0]:rect[1], rect[2]:rect[3]]
        t = obj.intersect(origin, dirs[(slice(None), *win)])
        closer = t < depth[win]
        depth[win] = np.where(closer, t, depth[win])
        prim[win] = np.where(closer, np.int16(ROOM_FACES + k), prim[win])
    return depth, prim


def norm(v: np.ndarray) -> np.ndarray:
    """Euclidean length over the first axis of (3, ...)."""
    return np.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])

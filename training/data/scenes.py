"""Synthetic indoor scenes for monocular depth and instance segmentation (AiT), ray cast in numpy.

A scene is a box-shaped room (floor, ceiling, four walls, with pictures / doors as flat decals) holding
furniture made of primitives: boxes (axis-aligned or yawed), spheres and vertical cylinders. Tables,
chairs and shelves are unions of boxes; small items stand on tables, boxes and shelf boards. Surfaces
get procedural textures (solid, checker, stripes, value noise) and one light (point or directional)
with Lambertian + Blinn-Phong shading and an ambient term; some materials are dark, some shiny.

Conventions:

- World frame ``z-up`` (as :data:`training.data.WORLD_FRAME`), metres; the room spans
  ``[0, Lx] x [0, Ly] x [0, Lz]``, the floor is ``z = 0``.
- Camera: the pinhole :class:`edgetokens.vision.camera.Camera` (OpenCV axes: x right, y down, z
  forward; world->camera rotation), the same one the pose data uses. Pixel ``(u, v)`` (column, row)
  has its centre at integer coordinates, so ``u = fx * x / z + cx``. ``camera_to_world`` maps camera
  to world coordinates. The camera stands inside the room, 0.9-1.8 m high, looking roughly horizontally
  (pitch -25..5 degrees, small roll), horizontal field of view 50-75 degrees (NYUv2's Kinect: ~62).
- ``image``: (H, W, 3) uint8, **RGB** (not OpenCV's BGR).
- ``depth_complete``: (H, W) float32 z-depth (along the optical axis) in metres, every pixel, not
  clipped (a far room corner may be a little beyond :data:`MAX_DEPTH`).
- ``depth``: the same with sensor holes set to 0, as a structured-light sensor (Kinect v1, NYUv2)
  sees it: projector shadows left of foreground objects and dropouts at depth edges, blobs on dark and
  shiny surfaces and at specular highlights, beyond the frame's sensor range (<= :data:`MAX_DEPTH`)
  or closer than ``min_range``, and a few random dropout blobs. Valid pixels equal ``depth_complete``.
- ``masks``: (N, H, W) bool, one per visible object (room surfaces have none), disjoint;
  ``classes``: (N,) int64 indices into :data:`CLASSES` (box, table, chair, shelf, ball, cylinder).
- ``surface``: (H, W) uint8 index into :data:`SURFACES` (floor, ceiling, wall, object).
- Sizes are ``int`` (square) or ``(height, width)``.
- :class:`SceneDataset` images are float32 (3, H, W), ``(rgb / 255 - IMAGENET_MEAN) / IMAGENET_STD``
  (`edgetokens.vision.image`).

Same seed (and config) -> bit-identical arrays. A 256x256 frame takes ~25 ms on one CPU core.
"""

from __future__ import annotations

import colorsys
import logging
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, fields

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from edgetokens.vision.camera import Camera, look_at, pixel_rays, project, world_to_camera
from edgetokens.vision.depth import MAX_DEPTH  # sensor range cap (NYUv2 / AiT evaluation cap)
from edgetokens.vision.image import normalize_image as normalize_rgb

log = logging.getLogger(__name__)

CLASSES = ("box", "table", "chair", "shelf", "ball", "cylinder")
SURFACES = ("floor", "ceiling", "wall", "object")  # values of Scene.surface

_FLOOR, _CEILING = 0, 1  # primitive ids 0..5 are the room faces: floor, ceiling, x=0, x=Lx, y=0, y=Ly
_ROOM_FACES = 6
_FACE_SURFACES = (0, 1, 2, 2, 2, 2)  # index into SURFACES of each room face
_ROOM_NORMALS = np.array([[0, 0, 1], [0, 0, -1], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]], dtype=np.float32)
_ROOM_UV_AXES = ((0, 1), (0, 1), (1, 2), (1, 2), (0, 2), (0, 2))
_BOX_UV_AXES = np.array([[1, 2], [0, 2], [0, 1]])


@dataclass
class SceneConfig:
    """Ranges the scene parameters are drawn from (uniformly unless said otherwise)."""

    room_size: tuple[float, float] = (3.0, 8.0)  # x and y extent of the room, m
    room_height: tuple[float, float] = (2.4, 3.2)
    camera_height: tuple[float, float] = (0.9, 1.8)
    fov_deg: tuple[float, float] = (50.0, 75.0)  # horizontal field of view
    pitch_deg: tuple[float, float] = (-25.0, 5.0)  # negative looks down
    roll_deg: float = 3.0  # |roll| <= this
    objects: tuple[int, int] = (4, 10)  # furniture pieces tried per room (inclusive); small items come on top
    max_range: tuple[float, float] = (7.0, 10.0)  # sensor range of the frame, capped at MAX_DEPTH
    min_range: float = 0.4  # closer pixels are holes
    holes: bool = True  # False: depth == depth_complete
    baseline: float = 0.075  # projector-camera baseline, m (Kinect v1); 0 disables projector shadows
    edge_dropout: float = 0.35  # probability that a depth-edge pixel seeds a hole
    surface_hole_fraction: float = 0.4  # ~fraction of dark / shiny / grazing surface area that becomes holes
    dropout_blobs: tuple[int, int] = (0, 4)  # random small holes per frame (inclusive)
    min_instance_pixels: int = 16  # objects showing fewer pixels get no mask (still rendered)
    image_noise: float = 2.0  # std of the zero-mean sensor noise, in uint8 levels

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                value = tuple(value)
                setattr(self, f.name, value)
            values = value if isinstance(value, tuple) else (value,)
            if not all(isinstance(x, numbers.Real) and math.isfinite(x) for x in values):
                raise ValueError(f"SceneConfig.{f.name} must be finite numbers; got {value!r}")
            if isinstance(value, tuple) and (len(value) != 2 or value[0] > value[1]):
                raise ValueError(f"SceneConfig.{f.name} must be a (low, high) pair with low <= high; got {value!r}")
        if self.room_size[0] < 2.0 or self.room_height[0] < 2.0:
            raise ValueError(f"rooms must be at least 2 m wide and high; got {self.room_size}, {self.room_height}")
        if not (0 < self.camera_height[0] and self.camera_height[1] < self.room_height[0]):
            raise ValueError(f"camera_height {self.camera_height} must lie between the floor and the lowest ceiling")
        if self.max_range[0] <= self.min_range or self.min_range < 0:
            raise ValueError(f"need 0 <= min_range < max_range; got {self.min_range}, {self.max_range}")
        if not (0 < self.fov_deg[0] and self.fov_deg[1] < 180):
            raise ValueError(f"fov_deg must lie in (0, 180); got {self.fov_deg}")
        for name in ("edge_dropout", "surface_hole_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"SceneConfig.{name} is a probability in [0, 1]; got {getattr(self, name)}")
        for name in ("objects", "dropout_blobs", "baseline", "min_instance_pixels", "image_noise"):
            value = getattr(self, name)
            if min(value if isinstance(value, tuple) else (value,)) < 0:
                raise ValueError(f"SceneConfig.{name} must be >= 0; got {value}")


@dataclass
class Scene:
    """One rendered frame; see the module docstring for the conventions."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    depth: np.ndarray  # (H, W) float32 m, 0 = hole
    depth_complete: np.ndarray  # (H, W) float32 m, no holes
    masks: np.ndarray  # (N, H, W) bool
    classes: np.ndarray  # (N,) int64, index into CLASSES
    intrinsics: np.ndarray  # (3, 3) float32 [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]
    camera_to_world: np.ndarray  # (4, 4) float64, OpenCV camera axes -> z-up world
    surface: np.ndarray  # (H, W) uint8, index into SURFACES
    room_size: np.ndarray  # (3,) float64: Lx, Ly, Lz
    max_range: float  # this frame's sensor range, m
    seed: int


# --- primitives ------------------------------------------------------------------------------------
# Per-pixel work is float32 (half the memory traffic of float64); scalars stay Python floats so that
# NumPy keeps float32 results.
_F32 = np.float32
_CUBE = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T.astype(np.float64)  # (8, 3)


@dataclass
class _Box:
    center: np.ndarray  # (3,) world
    half: np.ndarray  # (3,) half extents in the box frame
    yaw: float  # rotation about z, radians
    instance: int
    material: int

    def __post_init__(self) -> None:
        self.center, self.half = np.asarray(self.center, _F32), np.asarray(self.half, _F32)
        self._cos, self._sin = math.cos(self.yaw), math.sin(self.yaw)

    def _to_local(self, v: np.ndarray) -> np.ndarray:
        """World vectors (3, ...) -> box-frame vectors (rotation by -yaw)."""
        c, s = self._cos, self._sin
        return np.stack([c * v[0] + s * v[1], -s * v[0] + c * v[1], v[2]])

    def corners(self) -> np.ndarray:
        local = _CUBE * self.half
        c, s = self._cos, self._sin
        rotated = np.stack([c * local[:, 0] - s * local[:, 1], s * local[:, 0] + c * local[:, 1], local[:, 2]], 1)
        return rotated + self.center

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """Slab test; the camera is outside every object, so the entry distance is the hit."""
        o = self._to_local(origin - self.center)[:, None, None]
        d = self._to_local(dirs)
        h = self.half[:, None, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1 / d
            t1, t2 = (-h - o) * inv, (h - o) * inv
        near = np.minimum(t1, t2).max(0)
        far = np.maximum(t1, t2).min(0)
        return np.where((near <= far) & (near > 0), near, _F32(np.inf))

    def attributes(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
class _Sphere:
    center: np.ndarray
    radius: float
    instance: int
    material: int

    def __post_init__(self) -> None:
        self.center, self.radius = np.asarray(self.center, _F32), float(self.radius)

    def corners(self) -> np.ndarray:
        return self.center + self.radius * _CUBE

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        oc = origin - self.center
        a = (dirs * dirs).sum(0)
        b = np.tensordot(oc, dirs, axes=1)
        disc = b * b - a * float(oc @ oc - self.radius ** 2)
        with np.errstate(invalid="ignore"):
            t = (-b - np.sqrt(disc)) / a
        return np.where((disc >= 0) & (t > 0), t, _F32(np.inf))

    def attributes(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = (points - self.center[:, None]) / self.radius
        uv = np.stack([np.arctan2(n[1], n[0]) * self.radius, points[2] - self.center[2]])
        return n, uv


@dataclass
class _Cylinder:
    """Vertical cylinder from ``z0`` to ``z1`` around the axis through ``center`` (x, y)."""

    center: np.ndarray  # (3,): x, y of the axis; z unused
    radius: float
    z0: float
    z1: float
    instance: int
    material: int

    def __post_init__(self) -> None:
        self.center = np.asarray(self.center, _F32)
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
            side = np.where((disc >= 0) & (side > 0) & (z >= self.z0) & (z <= self.z1), side, _F32(np.inf))
            if self.z0 <= oz <= self.z1:  # the camera sees no cap
                return side
            cap = ((self.z1 if oz > self.z1 else self.z0) - oz) / dz  # the one cap facing the camera
            px, py = ox + cap * dx, oy + cap * dy
            cap = np.where((cap > 0) & (px * px + py * py <= self.radius ** 2), cap, _F32(np.inf))
        return np.minimum(side, cap)

    def attributes(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rx, ry = points[0] - self.center[0], points[1] - self.center[1]
        radial = np.hypot(rx, ry)
        to_top, to_bottom = np.abs(points[2] - self.z1), np.abs(points[2] - self.z0)
        on_cap = np.minimum(to_top, to_bottom) < np.abs(radial - self.radius)
        safe = np.maximum(radial, _F32(1e-9))
        cap_normal = np.where(to_top < to_bottom, _F32(1), _F32(-1))
        zero = np.zeros_like(rx)
        normal = np.where(on_cap, np.stack([zero, zero, cap_normal]), np.stack([rx / safe, ry / safe, zero]))
        uv = np.where(on_cap, np.stack([rx, ry]), np.stack([np.arctan2(ry, rx) * self.radius, points[2] - self.z0]))
        return normal, uv


# --- materials and textures ------------------------------------------------------------------------
@dataclass
class _Material:
    kind: str  # solid | checker | stripes | noise
    color1: np.ndarray  # (3,) linear RGB albedo
    color2: np.ndarray
    scale: float  # texture period, m
    angle: float  # stripe direction, radians
    seed: int
    specular: float  # Blinn-Phong weight
    shininess: float
    dropout: bool  # the depth sensor loses blobs of it: dark, or a shiny object / floor
    decals: tuple = ()  # (u0, u1, v0, v1, color) rectangles: pictures, doors, windows


def _hash01(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Integer lattice hash -> [0, 1] float32; platform independent (uint32 arithmetic)."""
    h = (ix.astype(np.int32).view(np.uint32) * np.uint32(0x8DA6B343)) ^ (
        iy.astype(np.int32).view(np.uint32) * np.uint32(0xD8163841)) ^ np.uint32(seed & 0xFFFFFFFF)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0x9E3779B1)
    h ^= h >> np.uint32(16)
    return h.astype(_F32) * _F32(2.0 ** -32)


def _value_noise(u: np.ndarray, v: np.ndarray, seed: int) -> np.ndarray:
    """Smooth lattice noise in [0, 1] with unit period."""
    iu, iv = np.floor(u), np.floor(v)
    fu, fv = u - iu, v - iv
    fu, fv = fu * fu * (3 - 2 * fu), fv * fv * (3 - 2 * fv)
    a, b = _hash01(iu, iv, seed), _hash01(iu + 1, iv, seed)
    c, d = _hash01(iu, iv + 1, seed), _hash01(iu + 1, iv + 1, seed)
    return (a + (b - a) * fu) * (1 - fv) + (c + (d - c) * fu) * fv


def _albedo(mat: _Material, uv: np.ndarray) -> np.ndarray:
    """(2, n) surface coordinates in metres -> (3, n) float32 albedo."""
    u, v = uv[0] * (1 / mat.scale), uv[1] * (1 / mat.scale)
    if mat.kind == "checker":
        w = (np.floor(u) + np.floor(v)) % 2
    elif mat.kind == "stripes":
        w = np.floor(u * math.cos(mat.angle) + v * math.sin(mat.angle)) % 2
    elif mat.kind == "noise":
        w = 0.7 * _value_noise(u, v, mat.seed) + 0.3 * _value_noise(4 * u, 4 * v, mat.seed + 1)
    else:
        w = None
    albedo = np.repeat(mat.color1[:, None], uv.shape[1], 1) if w is None else (
        mat.color1[:, None] + (mat.color2 - mat.color1)[:, None] * w)
    albedo *= 0.85 + 0.3 * _value_noise(uv[0] * (1 / 1.5), uv[1] * (1 / 1.5), mat.seed + 2)  # large-scale grime
    for u0, u1, v0, v1, color in mat.decals:
        inside = (uv[0] >= u0) & (uv[0] <= u1) & (uv[1] >= v0) & (uv[1] <= v1)
        albedo[:, inside] = color[:, None]
    return albedo


def _color(rng: np.random.Generator, saturation: tuple[float, float], value: tuple[float, float]) -> np.ndarray:
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*saturation), rng.uniform(*value))
    return np.array(rgb, dtype=_F32) ** 2.2  # sRGB-ish -> linear


def _material(rng: np.random.Generator, role: str) -> _Material:
    """role: floor | wall | ceiling | object; sets the palette and how often dark / shiny appear."""
    if role == "ceiling":
        c1 = _color(rng, (0.0, 0.1), (0.8, 1.0))
        kind = "solid"
    elif role == "wall":
        c1 = _color(rng, (0.0, 0.35), (0.55, 0.95))
        kind = rng.choice(["solid", "solid", "stripes", "noise"])
    elif role == "floor":
        c1 = _color(rng, (0.1, 0.6), (0.2, 0.8))
        kind = rng.choice(["checker", "stripes", "noise", "solid"])
    else:
        c1 = _color(rng, (0.0, 1.0), (0.15, 1.0))
        kind = rng.choice(["solid", "checker", "stripes", "noise"])
    c2 = np.clip(c1 * rng.uniform(0.3, 0.8) + rng.uniform(0, 0.15, 3), 0, 1).astype(_F32)
    dark = role in ("object", "floor") and rng.random() < 0.15
    if dark:  # mean albedo ~0.04: black leather, dark wood, screens
        c1, c2 = c1 * (0.04 / max(float(c1.mean()), 1e-3)), c2 * (0.04 / max(float(c2.mean()), 1e-3))
    shiny = role != "ceiling" and rng.random() < (0.3 if role == "object" else 0.1)
    return _Material(kind=str(kind), color1=c1, color2=c2, scale=float(rng.uniform(0.1, 0.6)),
                     angle=float(rng.uniform(0, math.pi)), seed=int(rng.integers(2 ** 31)),
                     specular=float(rng.uniform(0.4, 1.0) if shiny else rng.uniform(0.0, 0.1)),
                     shininess=float(rng.uniform(20, 120) if shiny else rng.uniform(2, 10)),
                     dropout=dark or (shiny and role in ("object", "floor")))


# --- scene sampling --------------------------------------------------------------------------------
def _sample_camera(rng: np.random.Generator, cfg: SceneConfig, room: np.ndarray, height: int, width: int) -> Camera:
    margin = 0.3
    for _ in range(100):  # look at a point of the room at least 1.5 m away: views into the room, not at a wall
        pos = np.array([rng.uniform(margin, room[0] - margin), rng.uniform(margin, room[1] - margin)])
        target = rng.uniform([0, 0], room[:2])
        if np.linalg.norm(target - pos) > 1.5:
            break
    yaw = math.atan2(*(target - pos)[::-1])
    pitch, roll_deg = math.radians(rng.uniform(*cfg.pitch_deg)), rng.uniform(-cfg.roll_deg, cfg.roll_deg)
    forward = np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), math.sin(pitch)])
    fx = width / 2 / math.tan(math.radians(rng.uniform(*cfg.fov_deg)) / 2)
    fy = fx * rng.uniform(0.98, 1.02)
    cx = (width - 1) / 2 + rng.uniform(-0.02, 0.02) * width
    cy = (height - 1) / 2 + rng.uniform(-0.02, 0.02) * height
    position = np.array([pos[0], pos[1], min(rng.uniform(*cfg.camera_height), room[2] - 0.3)])
    rotation = look_at(position, position + forward, roll_deg=-roll_deg)  # (the sign keeps old scenes' seeds)
    fx, fy, cx, cy = map(float, _float32_exact([fx, fy, cx, cy]))
    return Camera(_float32_exact(rotation), _float32_exact(position), (fx, fy), (cx, cy), width, height)


def _float32_exact(x) -> np.ndarray:
    """Round to float32 values (kept as float64): the renderer works in float32 and reports exactly what it used."""
    return np.asarray(x, _F32).astype(np.float64)


@dataclass
class _Furniture:
    """A piece in its own frame: boxes as (center, half), plus round parts; placed by yaw + (x, y)."""

    cls: int
    boxes: list  # [(center (3,), half (3,))]
    half_xy: tuple[float, float]  # footprint half extents
    spheres: list | None = None  # [(center (3,), radius)]
    cylinders: list | None = None  # [(x, y, radius, z0, z1)]
    supports: list | None = None  # [(height, clearance)] where small items may stand
    against_wall: bool = False


def _box_piece(cls: int, hx: float, hy: float, h: float) -> _Furniture:
    return _Furniture(cls, [(np.array([0, 0, h / 2]), np.array([hx, hy, h / 2]))], (hx, hy), supports=[(h, 0.6)])


def _build(rng: np.random.Generator, cls_name: str, small: bool = False, clearance: float = 2.0) -> _Furniture:
    u = rng.uniform
    cls = CLASSES.index(cls_name)
    if cls_name == "box":
        if small:
            hx, hy = u(0.04, 0.2), u(0.04, 0.15)
            return _box_piece(cls, hx, hy, min(u(0.05, 0.35), clearance))
        piece = _box_piece(cls, u(0.15, 0.6), u(0.15, 0.4), u(0.2, 1.2))
        piece.against_wall = rng.random() < 0.5
        return piece
    if cls_name == "ball":
        r = u(0.04, 0.14) if small else u(0.1, 0.35)
        r = min(r, clearance / 2)
        return _Furniture(cls, [], (r, r), spheres=[(np.array([0, 0, r]), r)])
    if cls_name == "cylinder":
        r, h = (u(0.03, 0.1), min(u(0.1, 0.35), clearance)) if small else (u(0.1, 0.3), u(0.2, 1.0))
        return _Furniture(cls, [], (r, r), cylinders=[(0.0, 0.0, r, 0.0, h)])
    if cls_name == "table":
        hx, hy, h, th, leg = u(0.3, 0.9), u(0.25, 0.5), u(0.45, 0.8), u(0.03, 0.06), u(0.02, 0.04)
        boxes = [(np.array([0, 0, h - th / 2]), np.array([hx, hy, th / 2]))]
        boxes += [(np.array([sx * (hx - leg), sy * (hy - leg), (h - th) / 2]), np.array([leg, leg, (h - th) / 2]))
                  for sx in (-1, 1) for sy in (-1, 1)]
        return _Furniture(cls, boxes, (hx, hy), supports=[(h, 0.6)])
    if cls_name == "chair":
        s, h, th, leg, back = u(0.18, 0.25), u(0.42, 0.5), 0.04, u(0.015, 0.025), u(0.35, 0.5)
        boxes = [(np.array([0, 0, h - th / 2]), np.array([s, s, th / 2])),
                 (np.array([0, -s + 0.015, h + back / 2]), np.array([s, 0.015, back / 2]))]
        boxes += [(np.array([sx * (s - leg), sy * (s - leg), (h - th) / 2]), np.array([leg, leg, (h - th) / 2]))
                  for sx in (-1, 1) for sy in (-1, 1)]
        return _Furniture(cls, boxes, (s, s))
    # shelf: two side panels, back panel, boards; the back (+y) goes against a wall
    hx, hy, h, t = u(0.3, 0.6), u(0.12, 0.2), u(0.8, 2.0), u(0.015, 0.03)
    levels = np.linspace(0, h - t, int(rng.integers(3, 6)))
    boxes = [(np.array([sx * (hx - t / 2), 0, h / 2]), np.array([t / 2, hy, h / 2])) for sx in (-1, 1)]
    boxes.append((np.array([0, hy - t / 2, h / 2]), np.array([hx - t, t / 2, h / 2])))
    boxes += [(np.array([0, -t / 2, z + t / 2]), np.array([hx - t, hy - t / 2, t / 2])) for z in levels]
    gap = levels[1] - levels[0]
    supports = [(z + t, gap - t - 0.02) for z in levels[:-1]] + [(h, 0.5)]
    return _Furniture(cls, boxes, (hx - t, hy - t), supports=supports, against_wall=True)


def _rot_z(yaw: float, x: float, y: float) -> tuple[float, float]:
    c, s = math.cos(yaw), math.sin(yaw)
    return c * x - s * y, s * x + c * y


def _instantiate(piece: _Furniture, xy: tuple[float, float], z: float, yaw: float, instance: int,
                 material: int) -> list:
    """The piece's primitives in the world, its frame rotated by ``yaw`` and moved to ``(x, y, z)``."""
    def world(x: float, y: float, dz: float) -> list[float]:
        rx, ry = _rot_z(yaw, x, y)
        return [xy[0] + rx, xy[1] + ry, z + dz]

    parts = [_Box(world(*center), half, yaw, instance, material) for center, half in piece.boxes]
    parts += [_Sphere(world(*center), radius, instance, material) for center, radius in piece.spheres or []]
    parts += [_Cylinder(world(x, y, 0.0), radius, z + z0, z + z1, instance, material)
              for x, y, radius, z0, z1 in piece.cylinders or []]
    return parts


def _footprint_inside(xy: tuple[float, float], yaw: float, half: tuple[float, float], room: np.ndarray) -> bool:
    c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
    ex, ey = c * half[0] + s * half[1], s * half[0] + c * half[1]  # half extents of the rotated rectangle
    return 0.01 <= xy[0] - ex and xy[0] + ex <= room[0] - 0.01 and 0.01 <= xy[1] - ey and xy[1] + ey <= room[1] - 0.01


def _place(rng: np.random.Generator, piece: _Furniture, room: np.ndarray, camera: Camera, placed: list,
           half_fov: float) -> tuple[tuple[float, float], float] | None:
    """Random (x, y), yaw on the floor: inside the room, clear of other pieces and of the camera, mostly in view."""
    radius = math.hypot(*piece.half_xy)
    cam_x, cam_y = float(camera.position[0]), float(camera.position[1])
    forward = camera.forward
    cam_yaw = math.atan2(forward[1], forward[0])
    for _ in range(30):
        if piece.against_wall:
            wall = int(rng.integers(4))  # x=0, x=Lx, y=0, y=Ly; the piece's +y (back) faces the wall
            yaw = (math.pi / 2, -math.pi / 2, math.pi, 0.0)[wall]
            along, off = float(rng.uniform(0, room[1 - wall // 2])), piece.half_xy[1] + 0.01
            xy = ((off, room[0] - off)[wall], along) if wall < 2 else (along, (off, room[1] - off)[wall - 2])
        else:
            aligned = rng.random() < 0.5  # parallel to the walls, or any direction
            yaw = rng.integers(4) * math.pi / 2 + rng.normal(0, 0.05) if aligned else rng.uniform(0, 2 * math.pi)
            xy = (float(rng.uniform(0, room[0])), float(rng.uniform(0, room[1])))
        if not _footprint_inside(xy, yaw, piece.half_xy, room):
            continue
        if math.hypot(xy[0] - cam_x, xy[1] - cam_y) < radius + 0.5:
            continue
        if any(math.hypot(xy[0] - x, xy[1] - y) < radius + r for x, y, r in placed):
            continue
        off_axis = abs((math.atan2(xy[1] - cam_y, xy[0] - cam_x) - cam_yaw + math.pi) % (2 * math.pi) - math.pi)
        if off_axis > half_fov + 0.2 and rng.random() < 0.7:
            continue
        return xy, float(yaw)
    return None


def _sample_objects(rng: np.random.Generator, cfg: SceneConfig, room: np.ndarray, camera: Camera,
                    materials: list) -> tuple[list, list]:
    """Furniture and small items on top -> (primitives, class per instance)."""
    weights = (0.25, 0.2, 0.2, 0.15, 0.1, 0.1)  # CLASSES order
    half_fov = math.atan(camera.cx / camera.fx)
    primitives, classes, placed = [], [], []

    def add(piece: _Furniture, xy: tuple[float, float], z: float, yaw: float) -> None:
        materials.append(_material(rng, "object"))
        primitives.extend(_instantiate(piece, xy, z, yaw, len(classes), len(materials) - 1))
        classes.append(piece.cls)

    for _ in range(int(rng.integers(cfg.objects[0], cfg.objects[1] + 1))):
        piece = _build(rng, str(rng.choice(CLASSES, p=weights)))
        spot = _place(rng, piece, room, camera, placed, half_fov)
        if spot is None:
            continue
        xy, yaw = spot
        placed.append((*xy, math.hypot(*piece.half_xy)))
        add(piece, xy, 0.0, yaw)
        for height, clearance in piece.supports or []:
            if rng.random() < 0.5 and clearance > 0.08:
                item = _build(rng, str(rng.choice(["box", "ball", "cylinder"])), small=True, clearance=clearance)
                free = np.array(piece.half_xy) - np.array(item.half_xy)
                if (free > 0).all():
                    dx, dy = _rot_z(yaw, *rng.uniform(-free, free))
                    add(item, (xy[0] + dx, xy[1] + dy), height, yaw + rng.normal(0, 0.3))
    return primitives, classes


def _wall_decals(rng: np.random.Generator, room: np.ndarray, wall: int) -> tuple:
    """Pictures and doors: flat rectangles in the wall's (horizontal, z) coordinates."""
    length = room[1] if wall < 2 else room[0]
    decals = []
    for _ in range(int(rng.integers(0, 3))):
        if rng.random() < 0.3:  # door
            w, u0, v0, v1 = 0.9, rng.uniform(0, length - 0.9), 0.0, 2.05
        else:
            w = rng.uniform(0.3, 1.2)
            u0, v0 = rng.uniform(0, max(length - w, 0.01)), rng.uniform(0.9, 1.5)
            v1 = v0 + rng.uniform(0.3, 0.8)
        decals.append((u0, u0 + w, v0, v1, _color(rng, (0, 0.8), (0.1, 0.9))))
    return tuple(decals)


# --- rendering -------------------------------------------------------------------------------------
def _room_hits(origin: np.ndarray, dirs: np.ndarray, room: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The camera is inside: each ray leaves the room through one face -> (t, face id int16)."""
    t_best = face = None
    for axis, (low_id, high_id) in enumerate(((2, 3), (4, 5), (_FLOOR, _CEILING))):
        d = dirs[axis]
        ahead = d > 0
        gap_high, gap_low = float(room[axis] - origin[axis]), float(origin[axis])  # both > 0
        with np.errstate(divide="ignore"):
            t = np.where(ahead, _F32(gap_high), _F32(gap_low)) / np.abs(d)  # d == 0 -> inf
        ids = np.where(ahead, np.int16(high_id), np.int16(low_id))
        if t_best is None:
            t_best, face = t, ids
        else:
            better = t < t_best
            t_best, face = np.where(better, t, t_best), np.where(better, ids, face)
    return t_best, face


def _screen_rect(prim, camera: Camera, height: int, width: int) -> tuple[int, int, int, int] | None:
    """Conservative pixel rectangle (v0, v1, u0, u1) of a convex primitive; the whole frame if it spans z <= 0."""
    corners = world_to_camera(prim.corners(), camera)
    z = corners[:, 2]
    if (z <= 1e-3).all():
        return None
    if (z <= 1e-3).any():
        return 0, height, 0, width
    u, v = project(corners, camera).T
    u0, u1 = max(math.floor(u.min()), 0), min(math.ceil(u.max()) + 1, width)
    v0, v1 = max(math.floor(v.min()), 0), min(math.ceil(v.max()) + 1, height)
    return (v0, v1, u0, u1) if u0 < u1 and v0 < v1 else None


def _norm(v: np.ndarray) -> np.ndarray:
    return np.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])


def _shade(rng: np.random.Generator, points, normals, dirs, albedo, specular, shininess, room) -> tuple:
    """Lambert + Blinn-Phong + ambient -> (linear radiance (3, n), specular highlight term (n,))."""
    ambient = float(rng.uniform(0.08, 0.3))
    light_color = np.array([1.0, rng.uniform(0.85, 1.0), rng.uniform(0.7, 1.0)], _F32)[rng.permutation(3)]
    if rng.random() < 0.75:  # point light under the ceiling
        light = np.array([rng.uniform(0.2, room[0] - 0.2), rng.uniform(0.2, room[1] - 0.2),
                          room[2] - rng.uniform(0.05, 0.5)], _F32)
        to_light = light[:, None] - points
        dist = _norm(to_light)
        to_light /= np.maximum(dist, _F32(1e-6))
        power = 1 / (1 + (dist * (1 / rng.uniform(1.5, 4.0))) ** 2)
    else:  # directional: sun through a window
        direction = np.array([*rng.normal(size=2), -rng.uniform(0.3, 1.5)])
        to_light = (-direction / np.linalg.norm(direction)).astype(_F32)[:, None]
        power = _F32(0.9)
    lambert = np.maximum((normals * to_light).sum(0), _F32(0))
    half = to_light - dirs / _norm(dirs)  # light + view directions
    half /= np.maximum(_norm(half), _F32(1e-9))
    highlight = specular * np.maximum((normals * half).sum(0), _F32(0)) ** shininess * (lambert > 0) * power
    radiance = (albedo * (ambient + 1.2 * lambert * power) + highlight) * light_color[:, None]
    return radiance, highlight


_GAMMA_LEVELS = 4096
_GAMMA_LUT = (np.linspace(0, 1, _GAMMA_LEVELS) ** (1 / 2.2) * 255).astype(_F32)


def _to_uint8(rng: np.random.Generator, radiance: np.ndarray, noise: float) -> np.ndarray:
    """Auto exposure, gamma (table), sensor noise: radiance (3, H, W) linear -> (H, W, 3) uint8."""
    luminance = radiance[:, ::2, ::2].mean(0).ravel()
    k = int(0.97 * (luminance.size - 1))
    exposure = rng.uniform(0.75, 1.0) / max(float(np.partition(luminance, k)[k]), 1e-6)
    levels = np.minimum(radiance.transpose(1, 2, 0) * _F32(exposure * (_GAMMA_LEVELS - 1)), _F32(_GAMMA_LEVELS - 1))
    img = np.take(_GAMMA_LUT, levels.astype(np.int32))
    # zero-mean triangular noise with std ``noise`` (a difference of uniforms: ~5x cheaper than Gaussian)
    img += (rng.random(img.shape, dtype=_F32) - rng.random(img.shape, dtype=_F32)) * _F32(noise * math.sqrt(6))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _blobs(rng: np.random.Generator, height: int, width: int, cell: int, fraction: float) -> np.ndarray:
    """Random smooth blobs covering about ``fraction`` of the frame (bool (H, W))."""
    coarse = rng.random((max(height // cell, 2), max(width // cell, 2))).astype(np.float32)
    field = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return field > np.quantile(coarse, 1 - fraction) if fraction > 0 else np.zeros((height, width), bool)


def _holes(rng: np.random.Generator, cfg: SceneConfig, depth: np.ndarray, prim: np.ndarray, cos_view: np.ndarray,
           dropout: np.ndarray, highlight: np.ndarray, fx: float, max_range: float) -> np.ndarray:
    """Sensor holes (bool (H, W)) of a structured-light camera, from the complete depth and surface data."""
    height, width = depth.shape
    scale = width / 256
    holes = (depth > max_range) | (depth < cfg.min_range)
    # projector shadows: the projector sits baseline m to the right, so background left of a closer
    # object is unlit; background pixel u is shadowed if disparity(u + k) - disparity(u) > k for some k > 0
    if cfg.baseline > 0:
        disparity = fx * cfg.baseline / depth
        for k in range(1, min(math.ceil(disparity.max() - disparity.min()), width - 1) + 1):
            holes[:, :-k] |= disparity[:, k:] - disparity[:, :-k] > k
    # dropouts along depth edges (between different primitives with a depth jump)
    edge = np.zeros_like(holes)
    for a, b, sl_a, sl_b in ((depth[:, :-1], depth[:, 1:], np.s_[:, :-1], np.s_[:, 1:]),
                             (depth[:-1], depth[1:], np.s_[:-1], np.s_[1:])):
        jump = (np.abs(a - b) > 0.04 * np.minimum(a, b) + 0.02) & (prim[sl_a] != prim[sl_b])
        edge[sl_a] |= jump
        edge[sl_b] |= jump
    seeds = (edge & (rng.random(edge.shape) < cfg.edge_dropout)).astype(np.uint8)
    radius = max(1, round(rng.uniform(0.5, 1.5) * scale))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    holes |= cv2.dilate(seeds, kernel).astype(bool)
    # dark, shiny and grazing surfaces lose blobs; strong highlights saturate the IR camera
    frac = cfg.surface_hole_fraction
    cell = max(4, int(16 * scale))
    holes |= dropout & _blobs(rng, height, width, cell, frac)
    holes |= (cos_view < 0.12) & _blobs(rng, height, width, cell, frac)
    holes |= highlight > 0.5
    # a few random small dropouts anywhere
    blobs = np.zeros((height, width), np.uint8)
    for _ in range(int(rng.integers(cfg.dropout_blobs[0], cfg.dropout_blobs[1] + 1))):
        center = (int(rng.integers(width)), int(rng.integers(height)))
        axes = (max(1, int(rng.uniform(2, 8) * scale)), max(1, int(rng.uniform(2, 8) * scale)))
        cv2.ellipse(blobs, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return holes | blobs.astype(bool)


def _check_size(size: int | Sequence[int]) -> tuple[int, int]:
    try:
        values = (size, size) if isinstance(size, (int, np.integer, float)) else tuple(size)
    except TypeError:
        values = ()
    if len(values) != 2 or not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in values):
        raise ValueError(f"size must be a positive int or a (height, width) pair of positive ints; got {size!r}")
    if min(values) <= 0:
        raise ValueError(f"size must be positive; got {size!r}")
    return int(values[0]), int(values[1])


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    return int(seed)


def _cast(camera: Camera, dirs: np.ndarray, room: np.ndarray, objects: list) -> tuple[np.ndarray, np.ndarray]:
    """Z-buffer: nearest hit per pixel -> (z-depth float32 (H, W), primitive id int16 (H, W))."""
    height, width = dirs.shape[1:]
    origin = camera.position.astype(_F32)
    depth, prim = _room_hits(origin, dirs, room)
    for k, obj in enumerate(objects):
        rect = _screen_rect(obj, camera, height, width)
        if rect is None:
            continue
        win = np.s_[rect[0]:rect[1], rect[2]:rect[3]]
        t = obj.intersect(origin, dirs[(slice(None), *win)])
        closer = t < depth[win]
        depth[win] = np.where(closer, t, depth[win])
        prim[win] = np.where(closer, np.int16(_ROOM_FACES + k), prim[win])
    return depth, prim


@dataclass
class _Surfaces:
    """Per-pixel surface data, flattened and sorted by primitive id (``order``: flat pixel index of each entry).

    Sorting makes each primitive's pixels one contiguous slice, so no per-primitive scatter is needed.
    """

    order: np.ndarray  # (n,) flat pixel indices
    dirs: np.ndarray  # (3, n) ray directions
    points: np.ndarray  # (3, n) world
    normals: np.ndarray  # (3, n), facing the camera
    albedo: np.ndarray  # (3, n)
    specular: np.ndarray  # (n,)
    shininess: np.ndarray  # (n,)
    dropout: np.ndarray  # (n,) bool: material the sensor loses blobs of
    cos_view: np.ndarray  # (n,) |cos| of the angle between the ray and the normal

    def unsort(self, values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """(..., n) in sorted order -> (..., H, W) image layout."""
        out = np.empty_like(values)
        out[..., self.order] = values
        return out.reshape(*values.shape[:-1], *shape)


def _surfaces(camera: Camera, dirs: np.ndarray, depth: np.ndarray, prim: np.ndarray, objects: list,
              materials: list) -> _Surfaces:
    """Normals, texture and material of every pixel, one primitive at a time."""
    flat_prim = prim.ravel()
    order = np.argsort(flat_prim, kind="stable")
    dirs = dirs.reshape(3, -1)[:, order]
    points = camera.position.astype(_F32)[:, None] + depth.ravel()[order] * dirs
    n = len(order)
    normals, albedo = np.empty((3, n), _F32), np.empty((3, n), _F32)
    specular, shininess, dropout = np.empty(n, _F32), np.empty(n, _F32), np.empty(n, bool)
    ends = np.cumsum(np.bincount(flat_prim, minlength=_ROOM_FACES + len(objects)))
    starts = ends - np.bincount(flat_prim, minlength=len(ends))
    for k in np.flatnonzero(ends > starts):
        part = slice(starts[k], ends[k])
        if k < _ROOM_FACES:
            normals[:, part] = _ROOM_NORMALS[k][:, None]
            uv = points[_ROOM_UV_AXES[k], part]
            mat = materials[k]  # floor, ceiling, four walls
        else:
            obj = objects[k - _ROOM_FACES]
            normals[:, part], uv = obj.attributes(points[:, part])
            mat = materials[obj.material]
        albedo[:, part] = _albedo(mat, uv)
        specular[part], shininess[part], dropout[part] = mat.specular, mat.shininess, mat.dropout
    facing = (normals * dirs).sum(0)
    normals *= np.where(facing > 0, _F32(-1), _F32(1))  # thin panels seen from behind face the camera
    return _Surfaces(order, dirs, points, normals, albedo, specular, shininess, dropout,
                     np.abs(facing) / _norm(dirs))


def _instance_masks(prim: np.ndarray, objects: list, classes: list, min_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    instance_of = np.array([-1] * _ROOM_FACES + [o.instance for o in objects], dtype=np.int32)
    instances = instance_of[prim]
    area = np.bincount(instances.ravel() + 1, minlength=len(classes) + 1)[1:]
    keep = np.flatnonzero(area >= max(min_pixels, 1))
    masks = instances[None] == keep[:, None, None]
    return masks, np.array(classes, dtype=np.int64)[keep]


def render_scene(seed: int, size: int | Sequence[int] = 256, config: SceneConfig | None = None) -> Scene:
    """Render the indoor scene of ``seed`` at ``size`` (int or (height, width)); deterministic."""
    seed, (height, width) = _check_seed(seed), _check_size(size)
    cfg = config or SceneConfig()
    rng = np.random.default_rng([seed, 0x5CE7E])
    room = np.array([rng.uniform(*cfg.room_size), rng.uniform(*cfg.room_size), rng.uniform(*cfg.room_height)])
    camera = _sample_camera(rng, cfg, room, height, width)
    materials = [_material(rng, "floor"), _material(rng, "ceiling")]
    wall = _material(rng, "wall")
    materials += [_Material(**{**wall.__dict__, "decals": _wall_decals(rng, room, w)}) for w in range(4)]
    objects, classes = _sample_objects(rng, cfg, room, camera, materials)

    dirs = pixel_rays(camera)
    depth, prim = _cast(camera, dirs, room, objects)
    surf = _surfaces(camera, dirs, depth, prim, objects, materials)
    radiance, highlight = _shade(rng, surf.points, surf.normals, surf.dirs, surf.albedo, surf.specular,
                                 surf.shininess, room)
    image = _to_uint8(rng, surf.unsort(radiance, (height, width)), cfg.image_noise)

    max_range = min(float(rng.uniform(*cfg.max_range)), MAX_DEPTH)
    if cfg.holes:
        holes = _holes(rng, cfg, depth, prim, *(surf.unsort(x, (height, width)) for x in (
            surf.cos_view, surf.dropout, highlight)), camera.fx, max_range)
    else:
        holes = (depth > max_range) | (depth < cfg.min_range)
    masks, visible_classes = _instance_masks(prim, objects, classes, cfg.min_instance_pixels)
    surface = np.array(_FACE_SURFACES + (SURFACES.index("object"),) * len(objects), dtype=np.uint8)[prim]
    intrinsics = camera.intrinsics.astype(np.float32)
    pose = camera.camera_to_world_matrix
    log.debug("scene %d: %d objects, %d visible, %.1f%% holes", seed, len(classes), len(masks), 100 * holes.mean())
    return Scene(image=image, depth=np.where(holes, _F32(0), depth), depth_complete=depth, masks=masks,
                 classes=visible_classes, intrinsics=intrinsics, camera_to_world=pose, surface=surface,
                 room_size=room, max_range=max_range, seed=seed)


# --- torch dataset ---------------------------------------------------------------------------------
def normalize_image(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 tensor (`edgetokens.vision.image.normalize_image`)."""
    return torch.from_numpy(normalize_rgb(image))


class SceneDataset(Dataset):
    """``count`` scenes; item i is ``render_scene(seed + i)``, rendered on access (no cache).

    Items are dicts: ``image`` (3, H, W) float32 (:func:`normalize_image`), ``depth`` (1, H, W)
    float32 metres with 0 holes, ``depth_complete`` (1, H, W), ``intrinsics`` (3, 3) (cx mirrored when
    flipped), ``flipped`` (bool), ``index``; with ``instances=True`` also ``masks`` (N, H, W) bool and
    ``classes`` (N,) int64, whose N varies (batch with a custom collate). With ``train=True`` each item is
    mirrored left-right with probability 1/2, drawn from ``(seed, epoch, index)``: call :meth:`set_epoch`.
    With ``fresh=True`` (train mode) epoch e renders new scenes ``seed + e * count + i``: rendering costs
    less than a training step, and a solver that sees the same 1,000 rooms every epoch memorises them.
    """

    def __init__(self, count: int, seed: int = 0, size: int | Sequence[int] = 256, train: bool = False,
                 config: SceneConfig | None = None, instances: bool = False, fresh: bool = False):
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise ValueError(f"count must be a positive int; got {count!r}")
        self.count, self.seed, self.size = int(count), _check_seed(seed), _check_size(size)
        self.train, self.config, self.instances = train, config or SceneConfig(), instances
        if fresh and not train:
            raise ValueError("fresh scenes per epoch are for training; an evaluation set must stay fixed")
        self.fresh, self.epoch = fresh, 0

    def set_epoch(self, epoch: int) -> None:
        """Train mode: draw new flips (and, with ``fresh``, new scenes) for this epoch."""
        if int(epoch) < 0:
            raise ValueError(f"epoch must be >= 0; got {epoch}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.count

    def scene_id(self, index: int) -> int:
        """The ``render_scene`` seed of item ``index`` in the current epoch."""
        return self.seed + (self.epoch * self.count if self.fresh else 0) + index

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.count:
            raise IndexError(f"scene index {index} out of range for {self.count} scenes")
        scene = render_scene(self.scene_id(index), self.size, self.config)
        flipped = self.train and bool(np.random.default_rng([self.seed, self.epoch, index]).random() < 0.5)
        image, depth, complete, masks = scene.image, scene.depth, scene.depth_complete, scene.masks
        intrinsics = scene.intrinsics.copy()
        if flipped:
            image, depth, complete, masks = image[:, ::-1], depth[:, ::-1], complete[:, ::-1], masks[:, :, ::-1]
            intrinsics[0, 2] = self.size[1] - 1 - intrinsics[0, 2]
        item = {
            "image": normalize_image(image),
            "depth": torch.from_numpy(np.ascontiguousarray(depth))[None],
            "depth_complete": torch.from_numpy(np.ascontiguousarray(complete))[None],
            "intrinsics": torch.from_numpy(intrinsics),
            "flipped": flipped,
            "index": index,
        }
        if self.instances:
            item["masks"] = torch.from_numpy(np.ascontiguousarray(masks))
            item["classes"] = torch.from_numpy(scene.classes)
        return item

"""Synthetic indoor scenes for monocular depth and instance segmentation (AiT), ray cast in numpy.

A scene is a box-shaped room (floor, ceiling, four walls, with pictures / doors as flat decals) of a
kind (living room, bedroom, kitchen, office) holding furniture made of primitives: boxes (axis-aligned
or yawed), spheres and vertical cylinders (:mod:`training.data.scene_geometry`). Objects carry COCO
categories (:data:`CLASSES`: chairs, couches, beds, dining tables, TVs, potted plants, refrigerators,
clocks, people, and small bottles, cups, bowls, vases, books, laptops and balls on tables and shelves);
unlabelled clutter (bookcases, cabinets, storage boxes, rugs, floor lamps) is rendered too but has no
mask (:mod:`training.data.scene_furniture`). Surfaces get procedural textures (wood, fabric, tiles,
parquet, wallpaper, noise, ...; :mod:`training.data.scene_materials`), one or two lights (point under
the ceiling or a lamp, or directional sun) of a colour temperature, with Lambertian + Blinn-Phong
shading, an ambient term, soft floor shadows and contact occlusion; screens and lamp shades glow. The
image then goes through a camera model (exposure, white balance, vignetting, blur, noise, JPEG;
:mod:`training.data.scene_photo`) that never touches depth or masks.

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
- ``masks``: (N, H, W) bool, one per visible labelled object (room surfaces and clutter have none),
  disjoint; ``classes``: (N,) int64 indices into **COCO_CLASSES** (:mod:`edgetokens.vision.coco_classes`,
  0 person .. 79 toothbrush), always one of :data:`CLASSES`; ``boxes``: (N, 4) float32 x1, y1, x2, y2
  pixel bounds of the masks (COCO's convention: a mask over columns u0..u1 spans x1 = u0, x2 = u1 + 1).
- ``surface``: (H, W) uint8 index into :data:`SURFACES` (floor, ceiling, wall, object: labelled,
  clutter: unlabelled).
- Sizes are ``int`` (square) or ``(height, width)``.
- :class:`SceneDataset` images are float32 (3, H, W), ``(rgb / 255 - IMAGENET_MEAN) / IMAGENET_STD``
  (`edgetokens.vision.image`).

Same seed (and config) -> bit-identical arrays. A 256x256 frame takes ~30 ms on one CPU core.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from edgetokens.vision.camera import Camera, look_at, pixel_rays
from edgetokens.vision.depth import MAX_DEPTH  # sensor range cap (NYUv2 / AiT evaluation cap)
from edgetokens.vision.image import normalize_image as normalize_rgb
from training.data.scene_config import SceneConfig
from training.data.scene_furniture import CLASSES, RENDERED_CLASS_INDEX, sample_objects
from training.data.scene_geometry import F32, FLOOR, ROOM_FACES, ROOM_NORMALS, ROOM_UV_AXES, cast, norm
from training.data.scene_materials import Material, albedo, hsv_color, kelvin_rgb, material
from training.data.scene_photo import develop

log = logging.getLogger(__name__)

__all__ = ["CLASSES", "MAX_DEPTH", "RENDERED_CLASS_INDEX", "SURFACES", "Scene", "SceneConfig", "SceneDataset",
           "mask_boxes", "normalize_image", "render_scene"]

SURFACES = ("floor", "ceiling", "wall", "object", "clutter")  # values of Scene.surface
_FACE_SURFACES = (0, 1, 2, 2, 2, 2)  # index into SURFACES of each room face
@dataclass
class Scene:
    """One rendered frame; see the module docstring for the conventions."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    depth: np.ndarray  # (H, W) float32 m, 0 = hole
    depth_complete: np.ndarray  # (H, W) float32 m, no holes
    masks: np.ndarray  # (N, H, W) bool
    classes: np.ndarray  # (N,) int64, index into COCO_CLASSES (one of CLASSES)
    boxes: np.ndarray  # (N, 4) float32 x1, y1, x2, y2 of the masks
    intrinsics: np.ndarray  # (3, 3) float32 [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]
    camera_to_world: np.ndarray  # (4, 4) float64, OpenCV camera axes -> z-up world
    surface: np.ndarray  # (H, W) uint8, index into SURFACES
    room_size: np.ndarray  # (3,) float64: Lx, Ly, Lz
    max_range: float  # this frame's sensor range, m
    seed: int


def mask_boxes(masks: np.ndarray) -> np.ndarray:
    """(N, H, W) bool -> (N, 4) float32 x1, y1, x2, y2 (COCO: x2 = last column + 1); empty masks -> 0s."""
    cols, rows = masks.any(1), masks.any(2)
    boxes = np.zeros((len(masks), 4), np.float32)
    for k, (c, r) in enumerate(zip(cols, rows)):
        if c.any():
            u, v = np.flatnonzero(c), np.flatnonzero(r)
            boxes[k] = u[0], v[0], u[-1] + 1, v[-1] + 1
    return boxes


# --- room ------------------------------------------------------------------------------------------
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
    return np.asarray(x, F32).astype(np.float64)


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
        decals.append((u0, u0 + w, v0, v1, hsv_color(rng, (0, 1), (0, 0.8), (0.1, 0.9))))
    return tuple(decals)


# --- light -----------------------------------------------------------------------------------------
@dataclass
class _Light:
    position: np.ndarray | None  # (3,) world for a point light; None: directional
    direction: np.ndarray | None  # (3,) unit travel direction of a directional light
    color: np.ndarray  # (3,) linear RGB
    power: float
    falloff: float  # distance (m) at which a point light's power halves
    shadow: float  # fraction of it the floor shadows block


def _lights(rng: np.random.Generator, cfg: SceneConfig, room: np.ndarray) -> list[_Light]:
    """The main light (ceiling light or sun) and sometimes a second (a lamp or another ceiling light)."""
    lights = []
    for k in range(1 + int(rng.random() < cfg.second_light_probability)):
        # the camera's white balance removes most of the colour cast
        color = kelvin_rgb(rng.uniform(*cfg.color_temperature)) ** F32(rng.uniform(0.2, 0.7))
        shadow = float(rng.uniform(*cfg.shadow_strength))
        if k == 0 and rng.random() < cfg.sun_probability:  # sun through a window
            direction = np.array([*rng.normal(size=2), -rng.uniform(0.3, 1.5)])
            lights.append(_Light(None, (direction / np.linalg.norm(direction)).astype(F32), color, 0.9, 0.0, shadow))
            continue
        low = room[2] - 0.5 if k == 0 else 1.0  # a second light may be a lamp
        z = rng.uniform(low, room[2] - 0.05)
        position = np.array([rng.uniform(0.2, room[0] - 0.2), rng.uniform(0.2, room[1] - 0.2), z], F32)
        power = 1.0 if k == 0 else float(rng.uniform(0.3, 0.8))
        lights.append(_Light(position, None, color, power, float(rng.uniform(1.5, 4.0)), shadow))
    return lights


def _floor_occlusion(camera: Camera, objects: list, lights: list[_Light], room: np.ndarray, height: int, width: int,
                     floor: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Soft floor shadows, one (H, W) map in [0, 1] per light, and the contact occlusion (H, W) of the
    floor around the objects standing on it; both only on ``floor`` pixels.

    A box shadows the floor points whose path to the light crosses it: the convex hull of its corners
    projected from the light onto z = 0 (round primitives use their bounding boxes); drawn in the image.
    Primitives reaching out of the room (a wall clock's sphere caps) cast none.
    """
    scale = width / 256
    shadows = [np.zeros((height, width), np.float32) for _ in lights]
    contact = np.zeros((height, width), np.float32)
    if not objects or not floor.any():
        return shadows, contact
    corners = np.stack([obj.corners() for obj in objects])  # (P, 8, 3)

    def draw(target: np.ndarray, points: np.ndarray, valid: np.ndarray) -> None:
        """Fill the image-space convex hull of each shape's floor points (P, K, 3) into ``target``."""
        cam = (points - camera.position) @ camera.rotation.T
        valid = valid & (cam[..., 2] > 0.05).all(1)
        for k in np.flatnonzero(valid):
            z = cam[k, :, 2:3]
            pix = cam[k, :, :2] / z * np.array(camera.focal) + np.array(camera.center)
            pix = np.clip(pix, -4 * width, 5 * width)
            hull = cv2.convexHull(np.rint(pix * 4).astype(np.int32))
            cv2.fillConvexPoly(target, hull, 1.0, lineType=cv2.LINE_8, shift=2)

    inside = ((corners[:, :, :2] > -0.02) & (corners[:, :, :2] < room[:2] + 0.02)).all((1, 2))
    tall = (corners[:, :, 2].max(1) > 0.02) & inside  # rugs cast nothing
    for light, shadow in zip(lights, shadows):
        if light.position is not None:
            lz = float(light.position[2])
            below = corners[:, :, 2] < lz - 0.05
            t = lz / np.maximum(lz - corners[:, :, 2], 1e-3)
            ground = light.position + (corners - light.position) * t[..., None]
            draw(shadow, ground, tall & below.all(1))
            sigma = 2.5 * scale
        else:
            d = light.direction.astype(np.float64)
            ground = corners - d * (corners[:, :, 2:3] / d[2])
            draw(shadow, ground, tall)
            sigma = 1.0 * scale
        shadow[:] = cv2.GaussianBlur(shadow, (0, 0), sigma) * floor
    on_floor = corners[:, :, 2].min(1) < 0.03
    footprint = corners.copy()
    footprint[:, :, 2] = 0.0
    draw(contact, footprint, on_floor & tall)
    contact = cv2.GaussianBlur(contact, (0, 0), 5 * scale) * floor
    return shadows, contact


def _shade(lights: list[_Light], ambient: float, points, normals, dirs, albedo_, specular, shininess, emission,
           shadows: list[np.ndarray], contact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lambert + Blinn-Phong + ambient + emission -> (linear radiance (3, n), specular highlight term (n,))."""
    view = dirs / norm(dirs)
    ambient_color = np.mean([light.color for light in lights], 0)[:, None]
    radiance = albedo_ * (ambient_color * (ambient * (1 - 0.6 * contact)) + emission)
    total_highlight = np.zeros(points.shape[1], F32)
    # cos(normal, half)^shininess is computed only where it can exceed 0.003 / specular (pow is the costly part)
    with np.errstate(divide="ignore"):
        threshold = np.exp(np.log(np.minimum(F32(0.003) / specular, F32(1))) / shininess)
    for light, shadow in zip(lights, shadows):
        if light.position is not None:
            to_light = light.position[:, None] - points
            dist = norm(to_light)
            to_light /= np.maximum(dist, F32(1e-6))
            power = light.power / (1 + (dist * (1 / light.falloff)) ** 2)
        else:
            to_light = -light.direction[:, None]
            power = F32(light.power)
        power = power * (1 - light.shadow * shadow)
        lambert = np.maximum((normals * to_light).sum(0), F32(0))
        half = to_light - view  # light + view directions
        half /= np.maximum(norm(half), F32(1e-9))
        cos_half = (normals * half).sum(0)
        lit = np.flatnonzero((cos_half > threshold) & (lambert > 0))
        highlight = np.zeros_like(total_highlight)
        highlight[lit] = specular[lit] * cos_half[lit] ** shininess[lit] * (power if np.ndim(power) == 0 else power[lit])
        radiance += (albedo_ * (1.2 * lambert * power) + highlight) * light.color[:, None]
        total_highlight += highlight
    return radiance, total_highlight


# --- rendering -------------------------------------------------------------------------------------
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
    emission: np.ndarray  # (n,)
    dropout: np.ndarray  # (n,) bool: material the sensor loses blobs of
    cos_view: np.ndarray  # (n,) |cos| of the angle between the ray and the normal

    def unsort(self, values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """(..., n) in sorted order -> (..., H, W) image layout."""
        out = np.empty_like(values)
        out[..., self.order] = values
        return out.reshape(*values.shape[:-1], *shape)

    def sort(self, image: np.ndarray) -> np.ndarray:
        """(H, W) image layout -> (n,) in sorted order."""
        return image.reshape(-1)[self.order]


def _surfaces(camera: Camera, dirs: np.ndarray, depth: np.ndarray, prim: np.ndarray, objects: list,
              materials: list[Material]) -> _Surfaces:
    """Normals, texture and material of every pixel, one primitive at a time."""
    flat_prim = prim.ravel()
    order = np.argsort(flat_prim, kind="stable")
    dirs = dirs.reshape(3, -1)[:, order]
    points = camera.position.astype(F32)[:, None] + depth.ravel()[order] * dirs
    n = len(order)
    normals, albedo_ = np.empty((3, n), F32), np.empty((3, n), F32)
    specular, shininess, emission = np.empty(n, F32), np.empty(n, F32), np.empty(n, F32)
    dropout = np.empty(n, bool)
    ends = np.cumsum(np.bincount(flat_prim, minlength=ROOM_FACES + len(objects)))
    starts = ends - np.bincount(flat_prim, minlength=len(ends))
    for k in np.flatnonzero(ends > starts):
        part = slice(starts[k], ends[k])
        if k < ROOM_FACES:
            normals[:, part] = ROOM_NORMALS[k][:, None]
            uv = points[ROOM_UV_AXES[k], part]
            mat = materials[k]  # floor, ceiling, four walls
        else:
            obj = objects[k - ROOM_FACES]
            normals[:, part], uv = obj.attributes(points[:, part])
            mat = materials[obj.material]
        albedo_[:, part] = albedo(mat, uv)
        specular[part], shininess[part], dropout[part] = mat.specular, mat.shininess, mat.dropout
        emission[part] = mat.emission
    facing = (normals * dirs).sum(0)
    normals *= np.where(facing > 0, F32(-1), F32(1))  # thin panels seen from behind face the camera
    return _Surfaces(order, dirs, points, normals, albedo_, specular, shininess, emission, dropout,
                     np.abs(facing) / norm(dirs))


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


def _instance_masks(prim: np.ndarray, objects: list, classes: list, min_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    instance_of = np.array([-1] * ROOM_FACES + [o.instance for o in objects], dtype=np.int32)
    instances = instance_of[prim]
    area = np.bincount(instances.ravel() + 1, minlength=len(classes) + 1)[1:]
    keep = np.flatnonzero(area >= max(min_pixels, 1))
    masks = instances[None] == keep[:, None, None]
    return masks, np.array(classes, dtype=np.int64).reshape(-1)[keep]


def render_scene(seed: int, size: int | Sequence[int] = 256, config: SceneConfig | None = None) -> Scene:
    """Render the indoor scene of ``seed`` at ``size`` (int or (height, width)); deterministic."""
    seed, (height, width) = _check_seed(seed), _check_size(size)
    cfg = config or SceneConfig()
    rng = np.random.default_rng([seed, 0x5CE7E])
    room = np.array([rng.uniform(*cfg.room_size), rng.uniform(*cfg.room_size), rng.uniform(*cfg.room_height)])
    camera = _sample_camera(rng, cfg, room, height, width)
    materials = [material(rng, "floor"), material(rng, "ceiling")]
    wall = material(rng, "wall")
    materials += [Material(**{**wall.__dict__, "decals": _wall_decals(rng, room, w)}) for w in range(4)]
    objects, classes = sample_objects(rng, cfg, room, camera, materials)

    dirs = pixel_rays(camera)
    depth, prim = cast(camera, dirs, room, objects)
    surf = _surfaces(camera, dirs, depth, prim, objects, materials)
    lights = _lights(rng, cfg, room)
    shadows, contact = _floor_occlusion(camera, objects, lights, room, height, width, prim == FLOOR)
    radiance, highlight = _shade(lights, float(rng.uniform(*cfg.ambient)), surf.points, surf.normals, surf.dirs,
                                 surf.albedo, surf.specular, surf.shininess, surf.emission,
                                 [surf.sort(s) for s in shadows], surf.sort(contact))
    # the photo has its own random stream: image effects never change depth, holes or masks
    image = develop(np.random.default_rng([seed, 0x9407]), surf.unsort(radiance, (height, width)), cfg)

    max_range = min(float(rng.uniform(*cfg.max_range)), MAX_DEPTH)
    if cfg.holes:
        holes = _holes(rng, cfg, depth, prim, *(surf.unsort(x, (height, width)) for x in (
            surf.cos_view, surf.dropout, highlight)), camera.fx, max_range)
    else:
        holes = (depth > max_range) | (depth < cfg.min_range)
    masks, visible_classes = _instance_masks(prim, objects, classes, cfg.min_instance_pixels)
    labelled = np.array([o.instance >= 0 for o in objects], dtype=bool)
    surface = np.array(_FACE_SURFACES, dtype=np.uint8)[np.minimum(prim, ROOM_FACES - 1)]
    if objects:
        on_object = prim >= ROOM_FACES
        kind = np.where(labelled, SURFACES.index("object"), SURFACES.index("clutter")).astype(np.uint8)
        surface[on_object] = kind[prim[on_object] - ROOM_FACES]
    intrinsics = camera.intrinsics.astype(np.float32)
    pose = camera.camera_to_world_matrix
    log.debug("scene %d: %d objects, %d visible, %.1f%% holes", seed, len(classes), len(masks), 100 * holes.mean())
    return Scene(image=image, depth=np.where(holes, F32(0), depth), depth_complete=depth, masks=masks,
                 classes=visible_classes, boxes=mask_boxes(masks), intrinsics=intrinsics, camera_to_world=pose,
                 surface=surface, room_size=room, max_range=max_range, seed=seed)


# --- torch dataset ---------------------------------------------------------------------------------
def normalize_image(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 tensor (`edgetokens.vision.image.normalize_image`)."""
    return torch.from_numpy(normalize_rgb(image))


class SceneDataset(Dataset):
    """``count`` scenes; item i is ``render_scene(seed + i)``, rendered on access (no cache).

    Items are dicts: ``image`` (3, H, W) float32 (:func:`normalize_image`), ``depth`` (1, H, W)
    float32 metres with 0 holes, ``depth_complete`` (1, H, W), ``intrinsics`` (3, 3) (cx mirrored when
    flipped), ``flipped`` (bool), ``index``; with ``instances=True`` also ``masks`` (N, H, W) bool,
    ``classes`` (N,) int64 (COCO index) and ``boxes`` (N, 4) float32 xyxy of the (flipped) masks, whose N
    varies (batch with a custom collate). With ``train=True`` each item is
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
            item["boxes"] = torch.from_numpy(mask_boxes(masks) if flipped else scene.boxes)
        return item

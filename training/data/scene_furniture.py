"""What stands in the rooms of :mod:`training.data.scenes`: COCO objects and unlabelled clutter built from
boxes, spheres and vertical cylinders, and where they go.

Every object with a COCO category (:data:`CLASSES`) becomes one instance (its own mask and class);
clutter (bookcases, cabinets, storage boxes, rugs, floor lamps) is rendered and counts as depth but has
no instance, as a detector trained on COCO must treat it as background. A room has a kind (living room,
bedroom, kitchen / dining, office) that weights which furniture it holds. Pieces stand on the floor
(some with their back against a wall), hang on a wall (clocks, some TVs) or stand on a support
surface of another piece (small items on tables, shelf boards and cabinets). Sizes follow real
furniture (metres); people are 1.5-1.9 m tall.

Piece frame: x right, y back, z up, origin on the floor (or the support) under the piece's centre; the
front faces -y, so a piece against a wall has its +y side at the wall.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgetokens.vision.camera import Camera
from edgetokens.vision.coco_classes import CLASS_INDEX
from training.data.scene_config import SceneConfig
from training.data.scene_geometry import Box, Cylinder, Sphere
from training.data.scene_materials import material, pick_index

# the COCO categories the renderer draws, in COCO index order
CLASSES = ("person", "sports ball", "bottle", "cup", "bowl", "chair", "couch", "potted plant", "bed",
           "dining table", "tv", "laptop", "refrigerator", "book", "clock", "vase")
RENDERED_CLASS_INDEX = {name: CLASS_INDEX[name] for name in CLASSES}  # name -> index into COCO_CLASSES


@dataclass
class Support:
    """A horizontal rectangle in the piece frame where small items may stand."""

    x: float
    y: float
    half_x: float
    half_y: float
    z: float
    clearance: float  # free height above it
    host: str  # table | shelf | top: which small items suit it


@dataclass
class Piece:
    """One object (or a group of objects, ``category`` None and no parts) in its own frame."""

    category: str | None  # a name from CLASSES; None: clutter, rendered without a mask
    half_xy: tuple[float, float]  # footprint half extents, children included (collisions, wall distance)
    roles: list = field(default_factory=list)  # (material role, emission) per material slot
    boxes: list = field(default_factory=list)  # (center (3,), half (3,), slot)
    spheres: list = field(default_factory=list)  # (center (3,), radius, slot)
    cylinders: list = field(default_factory=list)  # (x, y, radius, z0, z1, slot)
    supports: list = field(default_factory=list)  # [Support]
    children: list = field(default_factory=list)  # [(Piece, (x, y, z), yaw)]: objects of their own
    against_wall: bool = False
    mount: float = 0.0  # height of the origin above the floor: > 0 hangs on a wall
    faces_camera: bool = False  # free-standing: turn the front roughly towards the camera
    style: int | None = None  # pieces sharing a style share materials (a set of dining chairs)

    def slot(self, role: str, emission: float = 0.0) -> int:
        self.roles.append((role, emission))
        return len(self.roles) - 1

    def box(self, x: float, y: float, z: float, hx: float, hy: float, hz: float, slot: int) -> None:
        self.boxes.append((np.array([x, y, z]), np.array([hx, hy, hz]), slot))

    def box_from(self, x0: float, x1: float, y0: float, y1: float, z0: float, z1: float, slot: int) -> None:
        """An axis-aligned box given by its extents."""
        self.box((x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2, (x1 - x0) / 2, (y1 - y0) / 2, (z1 - z0) / 2, slot)

    def top(self) -> float:
        """Highest point above the origin (children included)."""
        tops = [c[2] + h[2] for c, h, _ in self.boxes] + [c[2] + r for c, r, _ in self.spheres]
        tops += [z1 for *_, z1, _ in self.cylinders] + [z + child.top() for child, (_, _, z), _ in self.children]
        return max(tops, default=0.0)


def _one(rng: np.random.Generator, options: list):
    """One of ``options``, uniformly."""
    return options[min(int(rng.random() * len(options)), len(options) - 1)]


# --- COCO objects that stand on the floor or hang on a wall ---------------------------------------
def chair(rng: np.random.Generator, armchair_share: float = 0.2) -> Piece:
    if rng.random() < armchair_share:
        return couch(rng, seats=1)  # an armchair
    u = rng.uniform
    s, h, th, leg, back = u(0.19, 0.25), u(0.42, 0.5), u(0.03, 0.06), u(0.015, 0.025), u(0.35, 0.5)
    p = Piece("chair", (s, s), faces_camera=rng.random() < 0.5)
    seat = p.slot(_one(rng, ["wood", "wood", "fabric", "leather", "plastic"]))
    frame = seat if rng.random() < 0.6 else p.slot(_one(rng, ["wood", "metal"]))
    p.box(0, 0, h - th / 2, s, s, th / 2, seat)
    p.box(0, s - 0.02, h + back / 2, s, 0.02, back / 2, seat)  # back at +y: the chair faces -y
    for sx in (-1, 1):
        for sy in (-1, 1):
            p.box(sx * (s - leg), sy * (s - leg), (h - th) / 2, leg, leg, (h - th) / 2, frame)
    return p


def couch(rng: np.random.Generator, seats: int | None = None) -> Piece:
    """Seat cushions on a base between two arms, a back at +y; ``seats=1`` is an armchair (class chair)."""
    u = rng.uniform
    seats = seats or _one(rng, [2, 3, 3])
    arm = u(0.1, 0.25)
    width = (u(0.55, 0.7) if seats == 1 else u(0.5, 0.7)) * seats + 2 * arm
    depth, seat_h, back_h, arm_h, back_t = u(0.8, 0.95), u(0.38, 0.46), u(0.75, 0.95), u(0.55, 0.68), u(0.15, 0.25)
    leg_h, cushion = u(0.04, 0.12), u(0.1, 0.16)
    hx, hy = width / 2, depth / 2
    p = Piece("chair" if seats == 1 else "couch", (hx, hy), against_wall=seats > 1 and rng.random() < 0.6,
              faces_camera=True)
    body = p.slot(_one(rng, ["fabric", "fabric", "fabric", "leather"]))
    cushions = body if rng.random() < 0.7 else p.slot("fabric")
    legs = p.slot(_one(rng, ["wood", "metal"]))
    for sx in (-1, 1):
        for sy in (-1, 1):
            p.box(sx * (hx - 0.05), sy * (hy - 0.05), leg_h / 2, 0.025, 0.025, leg_h / 2, legs)
        p.box_from(sx * hx - (arm if sx > 0 else 0), sx * hx + (arm if sx < 0 else 0), -hy, hy, leg_h, arm_h, body)
    p.box_from(-hx + arm, hx - arm, -hy, hy - back_t, leg_h, seat_h - cushion, body)  # base
    p.box_from(-hx, hx, hy - back_t, hy, leg_h, back_h, body)  # back
    inner = (width - 2 * arm) / seats
    for k in range(seats):
        x0 = -hx + arm + k * inner
        p.box_from(x0 + 0.005, x0 + inner - 0.005, -hy + 0.01, hy - back_t, seat_h - cushion, seat_h, cushions)
        if rng.random() < 0.6:  # back cushion
            p.box_from(x0 + 0.01, x0 + inner - 0.01, hy - back_t - u(0.1, 0.15), hy - back_t, seat_h,
                       back_h - u(0.02, 0.08), cushions)
    return p


def bed(rng: np.random.Generator) -> Piece:
    """Frame, mattress, duvet, pillows and a headboard at +y (against a wall)."""
    u = rng.uniform
    width = _one(rng, [u(0.9, 1.0), u(1.35, 1.9)])
    length, frame_h, mattress, head_h, head_t = u(1.95, 2.15), u(0.2, 0.35), u(0.16, 0.26), u(0.8, 1.3), u(0.04, 0.1)
    hx, hy = width / 2 + 0.03, length / 2
    p = Piece("bed", (hx, hy), against_wall=True)
    frame = p.slot(_one(rng, ["wood", "wood", "fabric", "metal"]))
    sheet, duvet, pillow = p.slot("bedding"), p.slot(_one(rng, ["bedding", "fabric"])), p.slot("bedding")
    p.box_from(-width / 2, width / 2, -hy, hy - head_t, 0.06, frame_h, frame)
    for sx in (-1, 1):
        for y in (-hy + 0.04, hy - head_t - 0.04):
            p.box(sx * (width / 2 - 0.04), y, 0.03, 0.03, 0.03, 0.03, frame)
    top = frame_h + mattress
    p.box_from(-width / 2 + 0.02, width / 2 - 0.02, -hy + 0.02, hy - head_t - 0.01, frame_h, top, sheet)
    p.box_from(-hx, hx, -hy, hy - head_t - u(0.45, 0.65), top - u(0.12, 0.25), top + u(0.03, 0.07), duvet)
    n = 1 if width < 1.2 else 2
    for k in range(n):
        x = (k - (n - 1) / 2) * width / n
        p.box(x, hy - head_t - 0.25, top + 0.06, min(0.32, width / n / 2 - 0.04), 0.18, 0.06, pillow)
    p.box_from(-hx, hx, hy - head_t, hy, 0.0, head_h, frame)
    return p


def dining_table(rng: np.random.Generator) -> Piece:
    """A dining table with chairs (matched), a desk against a wall, a coffee table or a round table."""
    u = rng.uniform
    kind = _one(rng, ["dining", "dining", "coffee", "desk", "round"])
    h = u(0.35, 0.5) if kind == "coffee" else u(0.7, 0.78)
    th = u(0.025, 0.05)
    top_role = _one(rng, ["wood", "wood", "wood", "plastic", "metal"])
    if kind == "round":
        r = u(0.4, 0.65)
        p = Piece("dining table", (r, r))
        top, leg = p.slot(top_role), p.slot(_one(rng, ["wood", "metal"]))
        p.cylinders += [(0.0, 0.0, r, h - th, h, top), (0.0, 0.0, u(0.03, 0.06), 0.02, h - th, leg),
                        (0.0, 0.0, u(0.2, 0.3), 0.0, 0.02, leg)]
        p.supports.append(Support(0, 0, r * 0.65, r * 0.65, h, 0.6, "table"))
        return p
    hx, hy = (u(0.35, 0.7), u(0.25, 0.45)) if kind == "coffee" else (u(0.45, 1.0), u(0.35, 0.55))
    leg = u(0.02, 0.04)
    p = Piece("dining table", (hx, hy), against_wall=kind == "desk")
    top, legs = p.slot(top_role), None
    legs = top if rng.random() < 0.6 else p.slot(_one(rng, ["wood", "metal"]))
    p.box(0, 0, h - th / 2, hx, hy, th / 2, top)
    for sx in (-1, 1):
        for sy in (-1, 1):
            p.box(sx * (hx - leg), sy * (hy - leg), (h - th) / 2, leg, leg, (h - th) / 2, legs)
    p.supports.append(Support(0, 0, hx, hy, h, 0.6, "table"))
    if kind == "dining":  # matched chairs on the long sides (and the ends), facing the table, partly under it
        style = int(rng.integers(2 ** 31))
        s = chair(np.random.default_rng(style), armchair_share=0.0).half_xy[1]
        seats = [((x, side * (hy + s * 0.6)), 0.0 if side > 0 else math.pi)
                 for side in (-1, 1) for x in np.linspace(-hx, hx, max(int(2 * hx / 0.6), 1) + 2)[1:-1]]
        if hx > 0.7:
            seats += [((side * (hx + s * 0.6), 0.0), -side * math.pi / 2) for side in (-1, 1)]
        for (x, y), yaw in seats:
            if rng.random() < 0.35:
                continue
            c = chair(np.random.default_rng(style), armchair_share=0.0)  # the same chair at every seat
            c.style, c.faces_camera = style, False
            pulled = rng.uniform(0, 0.2)  # pulled out from the table
            dx, dy = _rot_z(yaw, 0.0, pulled)
            p.children.append((c, (x + rng.normal(0, 0.03) + dx, y + dy, 0.0), yaw + rng.normal(0, 0.08)))
        if p.children:
            p.half_xy = (hx + 2 * s + 0.2, hy + 2 * s + 0.2)
    return p


def tv(rng: np.random.Generator) -> Piece:
    """A flat screen: on a low cabinet (clutter) with a stand, or hung on a wall."""
    u = rng.uniform
    width = u(0.7, 1.6)
    height, depth, bezel = width * 9 / 16, u(0.03, 0.07), u(0.008, 0.03)
    on = rng.random() < 0.5
    mounted = rng.random() < 0.35
    screen = Piece("tv", (width / 2, depth / 2 + (0.0 if mounted else 0.1)), against_wall=mounted)
    frame = screen.slot("screen")
    face = screen.slot("picture", float(u(1.5, 3.0))) if on else screen.slot("screen")
    base = 0.0 if mounted else u(0.06, 0.12)
    screen.box(0, 0, base + height / 2, width / 2, depth / 2, height / 2, frame)
    screen.box(0, -depth / 2 - 0.002, base + height / 2, width / 2 - bezel, 0.002, height / 2 - bezel, face)
    if mounted:
        screen.mount = float(u(0.9, 1.4))
        return screen
    screen.box(0, 0, base / 2, 0.03, 0.015, base / 2, frame)  # neck
    screen.box(0, 0, 0.008, min(0.25, width * 0.15), 0.1, 0.008, frame)  # foot
    cab_hx = max(width / 2 + u(0.05, 0.3), 0.5)
    cab_hy, cab_h = u(0.18, 0.25), u(0.35, 0.6)
    cabinet = _cabinet(rng, cab_hx, cab_hy, cab_h, drawers=int(rng.integers(2, 4)), horizontal=True)
    cabinet.supports = []
    cabinet.children.append((screen, (0.0, u(-0.02, 0.05), cab_h), 0.0))
    cabinet.against_wall = rng.random() < 0.8
    return cabinet


def potted_plant(rng: np.random.Generator, small: bool = False, clearance: float = 2.0) -> Piece:
    """A cylindrical pot with soil and a crown of green spheres (a bush, or a small tree on a stem)."""
    u = rng.uniform
    if small:
        r, h = u(0.04, 0.08), u(0.06, 0.13)
        crown, stem = u(0.05, max(min(0.13, (clearance - h) / 2.2), 0.051)), 0.0
    else:
        r, h = u(0.1, 0.22), u(0.2, 0.5)
        tree = rng.random() < 0.4
        crown = u(0.2, 0.35) if tree else u(0.15, 0.3)
        stem = u(0.4, 1.0) if tree else 0.0
    p = Piece("potted plant", (max(r, crown), max(r, crown)))
    pot, soil, leaves = p.slot(_one(rng, ["ceramic", "ceramic", "plastic"])), p.slot("soil"), p.slot("foliage")
    p.cylinders.append((0.0, 0.0, r, 0.0, h, pot))
    p.cylinders.append((0.0, 0.0, r * 0.88, h, h + 0.008, soil))
    if stem:
        p.cylinders.append((0.0, 0.0, u(0.012, 0.025), h, h + stem, soil))
    center = h + stem + crown * 0.8
    for _ in range(int(rng.integers(3, 7))):
        radius = crown * u(0.5, 0.8)
        dx, dy = rng.normal(0, crown * 0.35, 2)
        p.spheres.append((np.array([dx, dy, center + u(-0.3, 0.4) * crown]), radius, leaves))
    return p


def refrigerator(rng: np.random.Generator) -> Piece:
    """A tall box with two proud doors (freezer above or below, or side by side) and handles."""
    u = rng.uniform
    hx, hy, h = u(0.3, 0.45), u(0.3, 0.37), u(1.5, 1.95)
    p = Piece("refrigerator", (hx, hy + 0.04), against_wall=True)
    body, door, handle = p.slot("metal"), p.slot("metal"), p.slot(_one(rng, ["metal", "plastic"]))
    p.box(0, 0.04, h / 2, hx, hy, h / 2, body)
    front, gap = -hy + 0.04, 0.008
    if rng.random() < 0.25 and hx > 0.4:  # side by side
        for sx in (-1, 1):
            p.box_from(min(0, sx * hx) + gap, max(0, sx * hx) - gap, front - 0.03, front, 0.05, h - 0.01, door)
            p.box(sx * 0.05, front - 0.045, h * 0.55, 0.012, 0.015, u(0.2, 0.35), handle)
        return p
    split = h * (u(0.62, 0.72) if rng.random() < 0.6 else u(0.28, 0.35))
    for z0, z1 in ((0.05, split - gap), (split + gap, h - 0.01)):
        p.box_from(-hx + 0.005, hx - 0.005, front - 0.03, front, z0, z1, door)
        near_split = z0 + (0.75 if z1 < split else 0.25) * (z1 - z0)  # handles close to the split
        p.box(hx - 0.06, front - 0.045, near_split, 0.012, 0.015, min(0.12, (z1 - z0) / 4), handle)
    p.supports.append(Support(0, 0.04, hx - 0.02, hy - 0.02, h, 0.3, "top"))
    return p


def sports_ball(rng: np.random.Generator, small: bool = False, clearance: float = 2.0) -> Piece:
    r = min(rng.uniform(0.033, 0.08) if small else rng.uniform(0.1, 0.13), clearance / 2)
    p = Piece("sports ball", (r, r))
    p.spheres.append((np.array([0.0, 0.0, r]), r, p.slot("ball")))
    return p


def clock(rng: np.random.Generator) -> Piece:
    """A wall clock: a rim and a white face as shallow sphere caps out of the wall, two hands on top."""
    u = rng.uniform
    r, t = u(0.1, 0.2), u(0.025, 0.045)
    p = Piece("clock", (r, t / 2), against_wall=True, mount=float(u(1.55, 2.05)))
    rim, face, hands = p.slot(_one(rng, ["wood", "metal", "plastic"])), p.slot("bedding"), p.slot("screen")
    wall = t / 2 + 0.01  # the wall's y in the piece frame (the placement leaves 1 cm)

    def cap(radius: float, height: float, slot: int) -> None:
        big = (radius * radius + height * height) / (2 * height)  # the sphere whose cap this is
        p.spheres.append((np.array([0.0, wall + big - height, 0.0]), big, slot))

    cap(r, t, rim)
    cap(r * 0.86, t + 0.004, face)
    y = wall - t - 0.006
    hour, minute = int(rng.integers(4)), int(rng.integers(4))  # hands point up, right, down or left
    for k, length in ((hour, 0.5 * r), (minute, 0.75 * r)):
        dx, dz = ((0, 1), (1, 0), (0, -1), (-1, 0))[k]
        p.box(dx * length / 2, y, dz * length / 2, max(abs(dx) * length / 2, 0.006), 0.002,
              max(abs(dz) * length / 2, 0.006), hands)
    return p


def person(rng: np.random.Generator) -> Piece:
    """A standing figure, 1.5-1.9 m: shoes, legs (or a skirt), hips, torso, arms (one may be bent forward),
    neck, head and hair; human proportions as fractions of the height."""
    u = rng.uniform
    h = u(1.5, 1.9)
    k = h / 1.75  # body widths scale with the height
    p = Piece("person", (0.26 * k, 0.16 * k), faces_camera=True)
    skin, shirt = p.slot("skin"), p.slot("cloth")
    trousers, shoes, hair = p.slot("cloth"), p.slot(_one(rng, ["leather", "cloth", "plastic"])), p.slot("hair")
    skirt = rng.random() < 0.2
    crotch, waist, shoulder, chin = 0.47 * h, 0.58 * h, 0.815 * h, 0.87 * h
    leg_x, leg_r = 0.09 * k, u(0.055, 0.07) * k
    for sx in (-1, 1):
        p.box(sx * leg_x, -0.03 * k, 0.035, 0.045 * k, 0.12 * k, 0.035, shoes)
        p.cylinders.append((sx * leg_x, 0.0, leg_r, 0.06, crotch + 0.02, skin if skirt else trousers))
    if skirt:
        p.cylinders.append((0.0, 0.0, u(0.17, 0.24) * k, u(0.3, 0.42) * h, waist, trousers))
    p.box_from(-0.16 * k, 0.16 * k, -0.1 * k, 0.1 * k, crotch - 0.03, waist, trousers)  # hips
    half_w, half_d = u(0.15, 0.19) * k, u(0.09, 0.12) * k
    p.box_from(-half_w, half_w, -half_d, half_d, waist - 0.02, shoulder, shirt)  # torso
    arm_r = u(0.035, 0.048) * k
    sleeves = skin if rng.random() < 0.3 else shirt  # short sleeves: bare forearms
    for sx in (-1, 1):
        x = sx * (half_w + arm_r + 0.005)
        if rng.random() < 0.25:  # forearm bent forward (holding something)
            elbow = 0.62 * h
            p.cylinders.append((x, 0.0, arm_r, elbow - arm_r, shoulder - 0.02, shirt))
            p.box(x, -0.13 * k, elbow, arm_r, 0.13 * k, arm_r, sleeves)
            p.spheres.append((np.array([x, -0.27 * k, elbow]), arm_r * 1.1, skin))
        else:
            p.cylinders.append((x, 0.0, arm_r, 0.62 * h, shoulder - 0.02, shirt))
            p.cylinders.append((x, 0.0, arm_r * 0.9, 0.43 * h, 0.62 * h, sleeves))
            p.cylinders.append((x, 0.0, arm_r * 0.85, 0.38 * h, 0.43 * h, skin))  # hand
    p.cylinders.append((0.0, 0.0, 0.05 * k, shoulder - 0.01, chin + 0.02, skin))  # neck
    r = 0.06 * h
    p.spheres.append((np.array([0.0, 0.0, h - r]), r, skin))
    p.spheres.append((np.array([0.0, r * u(0.12, 0.3), h - r * u(0.85, 0.95)]), r * 1.02, hair))  # hair: back, top
    return p


# --- unlabelled clutter ----------------------------------------------------------------------------
def _cabinet(rng: np.random.Generator, hx: float, hy: float, h: float, drawers: int, horizontal: bool) -> Piece:
    p = Piece(None, (hx, hy + 0.01))
    body = p.slot(_one(rng, ["wood", "wood", "plastic", "metal"]))
    front = body if rng.random() < 0.5 else p.slot(_one(rng, ["wood", "plastic"]))
    knobs = p.slot("metal")
    plinth = rng.uniform(0.0, 0.08)
    p.box(0, 0.01, h / 2, hx, hy, h / 2, body)
    gap = 0.006
    for k in range(drawers):  # drawer / door fronts, 1 cm proud, with knobs
        if horizontal:  # side by side doors
            x0, x1 = -hx + k * 2 * hx / drawers, -hx + (k + 1) * 2 * hx / drawers
            z0, z1 = plinth, h - 0.02
        else:  # drawers stacked
            x0, x1 = -hx, hx
            z0 = plinth + k * (h - plinth - 0.02) / drawers
            z1 = z0 + (h - plinth - 0.02) / drawers
        p.box_from(x0 + gap, x1 - gap, -hy + 0.01 - 0.012, -hy + 0.01, z0 + gap, z1 - gap, front)
        p.box((x0 + x1) / 2, -hy - 0.012, (z0 + z1) / 2 + (0 if not horizontal else 0.1 * h), 0.012, 0.008, 0.012,
              knobs)
    p.supports.append(Support(0, 0.01, hx - 0.02, hy - 0.02, h, 0.5, "top"))
    return p


def cabinet(rng: np.random.Generator) -> Piece:
    u = rng.uniform
    p = _cabinet(rng, u(0.3, 0.8), u(0.2, 0.3), u(0.5, 1.2), int(rng.integers(2, 5)), rng.random() < 0.4)
    p.against_wall = rng.random() < 0.85
    return p


def shelf(rng: np.random.Generator) -> Piece:
    """A bookcase: two side panels, a back panel and 3-5 boards, back against a wall."""
    u = rng.uniform
    hx, hy, h, t = u(0.3, 0.6), u(0.12, 0.2), u(0.8, 2.0), u(0.015, 0.03)
    p = Piece(None, (hx, hy), against_wall=True)
    wood = p.slot(_one(rng, ["wood", "wood", "plastic"]))
    levels = np.linspace(0, h - t, int(rng.integers(3, 6)))
    for sx in (-1, 1):
        p.box(sx * (hx - t / 2), 0, h / 2, t / 2, hy, h / 2, wood)
    p.box(0, hy - t / 2, h / 2, hx - t, t / 2, h / 2, wood)
    for z in levels:
        p.box(0, -t / 2, z + t / 2, hx - t, hy - t / 2, t / 2, wood)
    gap = float(levels[1] - levels[0])
    p.supports = [Support(0, -t / 2, hx - t, hy - t, float(z) + t, gap - t - 0.02, "shelf") for z in levels[:-1]]
    p.supports.append(Support(0, -t / 2, hx - t, hy - t, h, 0.5, "top"))
    return p


def storage_box(rng: np.random.Generator, small: bool = False, clearance: float = 2.0) -> Piece:
    u = rng.uniform
    if small:
        hx, hy, h = u(0.04, 0.2), u(0.04, 0.15), min(u(0.05, 0.35), clearance)
    else:
        hx, hy, h = u(0.15, 0.45), u(0.15, 0.35), u(0.2, 0.9)
    p = Piece(None, (hx, hy), against_wall=not small and rng.random() < 0.5)
    p.box(0, 0, h / 2, hx, hy, h / 2, p.slot(_one(rng, ["cardboard", "plastic", "object"])))
    p.supports.append(Support(0, 0, hx, hy, h, 0.6, "top"))
    return p


def rug(rng: np.random.Generator) -> Piece:
    hx, hy = rng.uniform(0.5, 1.5), rng.uniform(0.4, 1.1)
    p = Piece(None, (hx, hy))
    p.box(0, 0, 0.006, hx, hy, 0.006, p.slot("rug"))
    return p


def floor_lamp(rng: np.random.Generator) -> Piece:
    u = rng.uniform
    h, shade_r, shade_h = u(1.3, 1.75), u(0.14, 0.25), u(0.2, 0.35)
    p = Piece(None, (shade_r, shade_r))
    metal, shade = p.slot("metal"), p.slot("lampshade", float(u(0.0, 1.5)))
    p.cylinders += [(0.0, 0.0, u(0.12, 0.17), 0.0, 0.025, metal), (0.0, 0.0, 0.012, 0.025, h - shade_h, metal),
                    (0.0, 0.0, shade_r, h - shade_h, h, shade)]
    return p


# --- small items on supports -----------------------------------------------------------------------
def bottle(rng: np.random.Generator, clearance: float) -> Piece:
    u = rng.uniform
    r = u(0.028, 0.045)
    body = min(u(0.13, 0.24), max(clearance - 0.1, 0.05))
    neck = u(0.04, 0.08)
    p = Piece("bottle", (r, r))
    glass, cap = p.slot(_one(rng, ["glass", "glass", "plastic"])), p.slot("plastic")
    neck_r = u(0.011, 0.016)
    p.cylinders += [(0.0, 0.0, r, 0.0, body, glass), (0.0, 0.0, (r + neck_r) / 2, body, body + 0.02, glass),
                    (0.0, 0.0, neck_r, body + 0.02, body + 0.02 + neck, glass),
                    (0.0, 0.0, neck_r * 1.15, body + 0.02 + neck, body + 0.035 + neck, cap)]
    return p


def cup(rng: np.random.Generator, clearance: float) -> Piece:
    r, h = rng.uniform(0.03, 0.045), min(rng.uniform(0.07, 0.11), clearance)
    p = Piece("cup", (r + 0.02, r + 0.02))
    mug = p.slot(_one(rng, ["ceramic", "ceramic", "plastic", "glass"]))
    p.cylinders.append((0.0, 0.0, r, 0.0, h, mug))
    if rng.random() < 0.7:  # handle
        p.box(r + 0.01, 0, h * 0.55, 0.012, 0.005, h * 0.28, mug)
    return p


def bowl(rng: np.random.Generator, clearance: float) -> Piece:
    r = rng.uniform(0.06, 0.14)
    h = min(r * rng.uniform(0.4, 0.6), clearance)
    p = Piece("bowl", (r, r))
    s = p.slot(_one(rng, ["ceramic", "ceramic", "wood", "glass"]))
    p.cylinders += [(0.0, 0.0, r * 0.55, 0.0, 0.012, s), (0.0, 0.0, r * 0.8, 0.012, h * 0.45, s),
                    (0.0, 0.0, r, h * 0.45, h, s)]
    return p


def vase(rng: np.random.Generator, clearance: float) -> Piece:
    u = rng.uniform
    p = Piece("vase", (0.1, 0.1))
    s = p.slot(_one(rng, ["ceramic", "ceramic", "glass"]))
    if rng.random() < 0.5:  # tall cylinder
        r, h = u(0.04, 0.09), min(u(0.15, 0.45), clearance)
        p.cylinders += [(0.0, 0.0, r, 0.0, h, s), (0.0, 0.0, r * 1.1, h - 0.015, h, s)]
        p.half_xy = (r * 1.1, r * 1.1)
    else:  # round body, narrow neck
        r = min(u(0.06, 0.12), clearance / 3)
        p.spheres.append((np.array([0.0, 0.0, r]), r, s))
        p.cylinders.append((0.0, 0.0, r * u(0.3, 0.45), r, min(r * u(2.2, 2.8), clearance), s))
        p.half_xy = (r, r)
    return p


def book(rng: np.random.Generator, standing: bool = False, clearance: float = 0.3, depth: float = 0.15) -> Piece:
    """A book lying (a cover with the pages 1 mm out on three sides) or standing with its spine to the front."""
    u = rng.uniform
    if standing:
        t, h, d = u(0.012, 0.05), min(u(0.16, 0.3), clearance), min(u(0.1, 0.16), depth)
        p = Piece("book", (t / 2, d / 2))
        p.box(0, 0, h / 2, t / 2, d / 2, h / 2, p.slot("paper"))
        return p
    hx, hy, hz = u(0.06, 0.12), u(0.09, 0.15), u(0.006, 0.025)
    p = Piece("book", (hx, hy))
    p.box(0, 0, hz, hx, hy, hz, p.slot("paper"))
    p.box(0.001, 0, hz, hx, hy - 0.004, hz - 0.003, p.slot("bedding"))  # pages
    return p


def laptop(rng: np.random.Generator, clearance: float) -> Piece:
    """Base and an upright lid facing -y with a screen (on: lit picture; off: black glass); or closed."""
    u = rng.uniform
    hx, hy = u(0.15, 0.19), u(0.1, 0.13)
    p = Piece("laptop", (hx, hy))
    shell = p.slot(_one(rng, ["metal", "plastic"]))
    lid = u(0.1, 0.12)
    if rng.random() < 0.2 or clearance < 2 * lid + 0.03:  # closed
        p.box(0, 0, 0.011, hx, hy, 0.011, shell)
        return p
    p.box(0, 0, 0.008, hx, hy, 0.008, shell)
    p.box(0, hy - 0.005, 0.016 + lid, hx, 0.004, lid, shell)
    screen = p.slot("picture", float(u(1.5, 3.0))) if rng.random() < 0.6 else p.slot("screen")
    p.box(0, hy - 0.0095, 0.016 + lid, hx - 0.012, 0.001, lid - 0.012, screen)
    return p


def _group(children: list, half_xy: tuple[float, float]) -> Piece:
    return Piece(None, half_xy, children=children)


def book_row(rng: np.random.Generator, width: float, clearance: float, depth: float) -> Piece:
    """Books standing side by side on a shelf board, each its own instance."""
    books, x = [], 0.0
    limit = width * rng.uniform(0.3, 1.0)
    while True:
        b = book(rng, standing=True, clearance=clearance, depth=depth)
        if x + 2 * b.half_xy[0] > limit:
            break
        books.append((b, x + b.half_xy[0], b.half_xy[1]))
        x += 2 * b.half_xy[0] + 0.001
    return _group([(b, (cx - x / 2, 0.0, 0.0), 0.0) for b, cx, _ in books],
                  (x / 2, max((hy for *_, hy in books), default=0.0)))


def book_stack(rng: np.random.Generator, clearance: float) -> Piece:
    children, z, half = [], 0.0, [0.0, 0.0]
    for _ in range(int(rng.integers(1, 4))):
        b = book(rng)
        thick = b.top()
        if z + thick > clearance:
            break
        children.append((b, (0.0, 0.0, z), float(rng.normal(0, 0.15))))
        z += thick
        half = [max(half[0], math.hypot(*b.half_xy)), max(half[1], math.hypot(*b.half_xy))]
    return _group(children, tuple(half))


_SMALL: dict[str, Callable[..., Piece]] = {
    "bottle": lambda rng, c, s: bottle(rng, c), "cup": lambda rng, c, s: cup(rng, c),
    "bowl": lambda rng, c, s: bowl(rng, c), "vase": lambda rng, c, s: vase(rng, c),
    "books": lambda rng, c, s: book_stack(rng, c), "laptop": lambda rng, c, s: laptop(rng, c),
    "potted plant": lambda rng, c, s: potted_plant(rng, small=True, clearance=c),
    "sports ball": lambda rng, c, s: sports_ball(rng, small=True, clearance=c),
    "box": lambda rng, c, s: storage_box(rng, small=True, clearance=c),
    "book row": lambda rng, c, s: book_row(rng, 2 * s.half_x, c, 2 * s.half_y),
}
_SMALL_WEIGHTS = {  # host -> small item -> weight
    "table": {"cup": 2, "bottle": 1.5, "bowl": 1.5, "vase": 1, "books": 1.5, "laptop": 1.2, "potted plant": 1,
              "sports ball": 0.2, "box": 0.5},
    "shelf": {"book row": 4, "vase": 1, "bowl": 0.6, "bottle": 0.6, "potted plant": 0.6, "box": 1,
              "sports ball": 0.3, "cup": 0.3, "books": 0.5},
    "top": {"vase": 1, "potted plant": 1.5, "books": 1, "box": 0.8, "bottle": 0.5, "bowl": 0.5, "laptop": 0.2,
            "cup": 0.3},
}

# --- rooms -----------------------------------------------------------------------------------------
_FLOOR_BUILDERS: dict[str, Callable[[np.random.Generator], Piece]] = {
    "chair": chair, "couch": couch, "bed": bed, "dining table": dining_table, "tv": tv,
    "potted plant": potted_plant, "refrigerator": refrigerator, "sports ball": sports_ball, "clock": clock,
    "shelf": shelf, "cabinet": cabinet, "box": storage_box, "rug": rug, "lamp": floor_lamp,
}
_ROOM_KINDS = {  # labelled furniture weights of each kind of room
    "living": {"couch": 3, "tv": 2.5, "potted plant": 2, "dining table": 2, "chair": 1.5, "sports ball": 0.4,
               "clock": 0.8, "bed": 0.1},
    "bedroom": {"bed": 4, "chair": 1.5, "tv": 1, "potted plant": 1.5, "dining table": 0.8, "sports ball": 0.5,
                "couch": 0.3, "clock": 0.8},
    "kitchen": {"dining table": 3.5, "chair": 2, "refrigerator": 2.5, "potted plant": 1.5, "tv": 0.5,
                "couch": 0.2, "clock": 1},
    "office": {"chair": 3, "dining table": 2.5, "potted plant": 1.5, "tv": 1, "couch": 1, "sports ball": 0.5,
               "refrigerator": 0.3, "bed": 0.3, "clock": 0.8},
}
_CLUTTER = {"shelf": 3, "cabinet": 2.5, "box": 2, "rug": 1.5, "lamp": 1}
_AT_MOST = {"bed": 2, "refrigerator": 1, "tv": 1, "couch": 2, "rug": 1, "clock": 1}


def _pick(rng: np.random.Generator, weights: dict) -> str:
    return list(weights)[pick_index(rng, tuple(weights.values()))]


def _rot_z(yaw: float, x: float, y: float) -> tuple[float, float]:
    c, s = math.cos(yaw), math.sin(yaw)
    return c * x - s * y, s * x + c * y


def _footprint_inside(xy: tuple[float, float], yaw: float, half: tuple[float, float], room: np.ndarray) -> bool:
    c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
    ex, ey = c * half[0] + s * half[1], s * half[0] + c * half[1]  # half extents of the rotated rectangle
    return 0.01 <= xy[0] - ex and xy[0] + ex <= room[0] - 0.01 and 0.01 <= xy[1] - ey and xy[1] + ey <= room[1] - 0.01


def _place(rng: np.random.Generator, piece: Piece, room: np.ndarray, camera: Camera, placed: list,
           half_fov: float) -> tuple[tuple[float, float], float] | None:
    """Random (x, y), yaw: inside the room, clear of other pieces (``placed``: (x, y, radius, z0, z1)) and of
    the camera, mostly in view."""
    radius = math.hypot(*piece.half_xy)
    z0, z1 = piece.mount, piece.mount + piece.top()
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
            xy = (float(rng.uniform(0, room[0])), float(rng.uniform(0, room[1])))
            if piece.faces_camera and rng.random() < 0.8:  # front (-y) towards the camera, give or take
                yaw = math.atan2(cam_x - xy[0], xy[1] - cam_y) + rng.normal(0, 0.6)
            elif rng.random() < 0.5:  # parallel to the walls
                yaw = rng.integers(4) * math.pi / 2 + rng.normal(0, 0.05)
            else:
                yaw = rng.uniform(0, 2 * math.pi)
        if not _footprint_inside(xy, yaw, piece.half_xy, room):
            continue
        if math.hypot(xy[0] - cam_x, xy[1] - cam_y) < radius + 0.5:
            continue
        if any(math.hypot(xy[0] - x, xy[1] - y) < radius + r and b0 < z1 and z0 < b1 for x, y, r, b0, b1 in placed):
            continue
        off_axis = abs((math.atan2(xy[1] - cam_y, xy[0] - cam_x) - cam_yaw + math.pi) % (2 * math.pi) - math.pi)
        if off_axis > half_fov + 0.2 and rng.random() < 0.7:
            continue
        return xy, float(yaw)
    return None


class _Builder:
    """Turns placed pieces into world primitives, one instance per labelled piece."""

    def __init__(self, rng: np.random.Generator, materials: list):
        self.rng, self.materials = rng, materials
        self.primitives, self.classes, self.styles = [], [], {}

    def add(self, piece: Piece, xy: tuple[float, float], z: float, yaw: float) -> None:
        if piece.style is not None and piece.style in self.styles:
            slots = self.styles[piece.style]
        else:
            slots = []
            for role, emission in piece.roles:
                self.materials.append(material(self.rng, role, emission))
                slots.append(len(self.materials) - 1)
            if piece.style is not None:
                self.styles[piece.style] = slots
        instance = -1
        if piece.category is not None:
            instance = len(self.classes)
            self.classes.append(RENDERED_CLASS_INDEX[piece.category])

        def world(x: float, y: float, dz: float) -> list[float]:
            rx, ry = _rot_z(yaw, x, y)
            return [xy[0] + rx, xy[1] + ry, z + dz]

        prims = self.primitives
        prims += [Box(world(*c), half, yaw, instance, slots[s]) for c, half, s in piece.boxes]
        prims += [Sphere(world(*c), r, instance, slots[s]) for c, r, s in piece.spheres]
        prims += [Cylinder(world(x, y, 0.0), r, z + z0, z + z1, instance, slots[s])
                  for x, y, r, z0, z1, s in piece.cylinders]
        for child, (cx, cy, cz), child_yaw in piece.children:
            wx, wy, wz = world(cx, cy, cz)
            self.add(child, (wx, wy), wz, yaw + child_yaw)

    def fill(self, piece: Piece, xy: tuple[float, float], z: float, yaw: float, per_support: tuple[int, int]) -> None:
        """Small items on the piece's supports (and its children's)."""
        rng = self.rng
        for child, (cx, cy, cz), child_yaw in piece.children:
            dx, dy = _rot_z(yaw, cx, cy)
            self.fill(child, (xy[0] + dx, xy[1] + dy), z + cz, yaw + child_yaw, per_support)
        for s in piece.supports:
            taken = []
            for _ in range(int(rng.integers(per_support[0], per_support[1] + 1))):
                if s.clearance < 0.08:
                    break
                kind = _pick(rng, _SMALL_WEIGHTS[s.host])
                item = _SMALL[kind](rng, s.clearance, s)
                row = kind == "book row"
                if item.top() > s.clearance or (row and not item.children):
                    continue
                free = np.array([s.half_x, s.half_y]) - np.array(item.half_xy)
                if (free < 0).any():
                    continue
                for _ in range(5):
                    local = rng.uniform(-free, free)
                    if row:
                        local[1] = free[1]  # against the back of the board
                    r = math.hypot(*item.half_xy)
                    if all(math.hypot(local[0] - x, local[1] - y) >= r + rr for x, y, rr in taken):
                        break
                else:
                    continue
                taken.append((local[0], local[1], math.hypot(*item.half_xy)))
                dx, dy = _rot_z(yaw, s.x + local[0], s.y + local[1])
                item_yaw = yaw + (0.0 if row else rng.normal(0, 0.3))
                self.add(item, (xy[0] + dx, xy[1] + dy), z + s.z, item_yaw)


def sample_objects(rng: np.random.Generator, cfg: SceneConfig, room: np.ndarray, camera: Camera,
                   materials: list) -> tuple[list, list]:
    """Furniture, clutter, people and the small items on top -> (primitives, COCO class per instance).

    New materials are appended to ``materials`` (primitives index into it)."""
    half_fov = math.atan(camera.cx / camera.fx)
    build, placed = _Builder(rng, materials), []
    weights = _ROOM_KINDS[_pick(rng, {"living": 3, "bedroom": 2, "kitchen": 2, "office": 1.5})]
    kinds = [_pick(rng, weights) for _ in range(int(rng.integers(cfg.objects[0], cfg.objects[1] + 1)))]
    kinds += [_pick(rng, _CLUTTER) for _ in range(int(rng.integers(cfg.clutter[0], cfg.clutter[1] + 1)))]
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    kinds.sort(key=lambda k: k != "rug")  # rugs first: furniture stands on them
    if rng.random() < cfg.person_probability:
        kinds += ["person"] * (1 + int(rng.random() < 0.3))  # people last, in the free floor space
    counts: dict[str, int] = {}
    for kind in kinds:
        if counts.get(kind, 0) >= _AT_MOST.get(kind, 1000):
            continue
        piece = person(rng) if kind == "person" else _FLOOR_BUILDERS[kind](rng)
        spot = _place(rng, piece, room, camera, [] if kind == "rug" else placed, half_fov)
        if spot is None:
            continue
        counts[kind] = counts.get(kind, 0) + 1
        xy, yaw = spot
        if kind != "rug":
            placed.append((*xy, math.hypot(*piece.half_xy), piece.mount, piece.mount + piece.top()))
        build.add(piece, xy, piece.mount, yaw)
        build.fill(piece, xy, piece.mount, yaw, cfg.items_per_support)
    return build.primitives, build.classes

"""Materials of :mod:`training.data.scenes`: procedural textures and the palettes of each kind of surface.

A material is an albedo texture over a surface's (u, v) coordinates in metres plus Blinn-Phong
parameters, an emission (screens, lamp shades) and the depth sensor's view of it (``dropout``: dark or
shiny surfaces that a structured-light sensor loses). Textures: ``solid``, ``checker``, ``stripes``,
``noise`` (smooth value noise: plaster, carpet), ``wood`` (grain along one direction), ``fabric``
(fine heather, sometimes plaid), ``tiles`` (square tiles with grout), ``parquet`` (staggered planks with
gaps and grain) and ``wallpaper`` (repeating dots, diamonds or pinstripes). Every texture also gets a
large-scale grime term so that no surface is perfectly flat in colour.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np

F32 = np.float32


@dataclass
class Material:
    kind: str  # texture: see the module docstring
    color1: np.ndarray  # (3,) linear RGB albedo
    color2: np.ndarray
    scale: float  # texture period, m
    angle: float  # texture direction, radians
    seed: int
    specular: float  # Blinn-Phong weight
    shininess: float
    dropout: bool  # the depth sensor loses blobs of it: dark, or a shiny object / floor
    emission: float = 0.0  # self-lit radiance, times the albedo: screens that are on, lamp shades
    decals: tuple = ()  # (u0, u1, v0, v1, color) rectangles: pictures, doors


def hash01(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Integer lattice hash -> [0, 1) float32; platform independent (uint32 arithmetic)."""
    h = (ix.astype(np.int32).view(np.uint32) * np.uint32(0x8DA6B343)) ^ (
        iy.astype(np.int32).view(np.uint32) * np.uint32(0xD8163841)) ^ np.uint32(seed & 0xFFFFFFFF)
    return _finish(h)


def value_noise(u: np.ndarray, v: np.ndarray, seed: int) -> np.ndarray:
    """Smooth lattice noise in [0, 1] with unit period."""
    iu, iv = np.floor(u), np.floor(v)
    fu, fv = u - iu, v - iv
    fu, fv = fu * fu * (3 - 2 * fu), fv * fv * (3 - 2 * fv)
    a, b = hash01(iu, iv, seed), hash01(iu + 1, iv, seed)
    c, d = hash01(iu, iv + 1, seed), hash01(iu + 1, iv + 1, seed)
    return (a + (b - a) * fu) * (1 - fv) + (c + (d - c) * fu) * fv


def _finish(h: np.ndarray) -> np.ndarray:
    h ^= h >> np.uint32(13)
    h *= np.uint32(0x9E3779B1)
    h ^= h >> np.uint32(16)
    return h.astype(F32) * F32(2.0 ** -32)


def _rotated(mat: Material, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(across, along) the texture direction ``mat.angle``, in texture periods."""
    c, s = math.cos(mat.angle), math.sin(mat.angle)
    return u * c + v * s, v * c - u * s


def _pattern(mat: Material, uv: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """-> (mix weight between color1 and color2 (n,) or None for solid, brightness factor (n,) or None)."""
    u, v = uv[0] * (1 / mat.scale), uv[1] * (1 / mat.scale)
    kind = mat.kind
    if kind == "checker":
        return (np.floor(u) + np.floor(v)) % 2, None
    if kind == "stripes":
        return np.floor(_rotated(mat, u, v)[0]) % 2, None
    if kind == "noise":
        return 0.7 * value_noise(u, v, mat.seed) + 0.3 * value_noise(4 * u, 4 * v, mat.seed + 1), None
    if kind == "wood":  # streaks along the grain, bent by a slow noise
        across, along = _rotated(mat, u, v)
        bend = value_noise(across * 0.5, along * 0.15, mat.seed)
        rings = (across * 3 + 4 * bend) % 1
        return 0.55 * value_noise(across * 8, along * 0.4, mat.seed + 1) + 0.45 * rings * rings, None
    if kind == "fabric":
        w = 0.6 * value_noise(u * 4, v * 4, mat.seed) + 0.4 * value_noise(u * 16, v * 16, mat.seed + 1)
        if mat.seed % 3 == 0:  # plaid: stripes both ways on top of the heather
            across, along = _rotated(mat, u, v)
            w = 0.4 * w + 0.3 * (np.floor(across) % 2) + 0.3 * (np.floor(along) % 2)
        return w, None
    if kind == "tiles":  # square tiles with a thin grout line; a few shades, or a two-colour checker
        iu, iv = np.floor(u), np.floor(v)
        grout = (u - iu < 0.05) | (v - iv < 0.05)  # (tiles >= 20 cm: a grout line of >= 1 cm, ~1 pixel or more)
        shade = 0.9 + 0.2 * hash01(iu, iv, mat.seed)
        w = (iu + iv) % 2 if mat.seed % 2 else np.zeros_like(u)
        return w, np.where(grout, F32(0.7 if mat.seed % 4 < 2 else 1.3), shade)
    if kind == "parquet":  # planks 1 period wide, 4-7 long, staggered per row, with dark gaps
        across, along = _rotated(mat, u, v)
        row = np.floor(across)
        length = 4 + mat.seed % 4
        along = along + hash01(row, row * 0 + 7, mat.seed) * length
        plank = np.floor(along * (1 / length))
        gap = (across - row < 0.05) | (along * (1 / length) - plank < 0.012)
        grain = value_noise(across * 6, along * 0.5, mat.seed + 1)
        w = 0.6 * hash01(row, plank, mat.seed + 2) + 0.4 * grain
        return w, np.where(gap, F32(0.45), F32(1.0))
    if kind == "wallpaper":
        fu, fv = u - np.floor(u) - 0.5, v - np.floor(v) - 0.5
        motif = mat.seed % 3
        if motif == 0:  # dots
            w = (fu * fu + fv * fv < 0.06).astype(F32)
        elif motif == 1:  # diamonds
            w = (np.abs(fu) + np.abs(fv) < 0.3).astype(F32)
        else:  # pinstripes
            w = (np.abs(fu) < 0.08).astype(F32)
        return w, None
    return None, None


def albedo(mat: Material, uv: np.ndarray) -> np.ndarray:
    """(2, n) surface coordinates in metres -> (3, n) float32 albedo."""
    w, brightness = _pattern(mat, uv)
    out = np.repeat(mat.color1[:, None], uv.shape[1], 1) if w is None else (
        mat.color1[:, None] + (mat.color2 - mat.color1)[:, None] * w)
    if uv.shape[1] >= 64:  # large-scale grime (invisible on a few pixels)
        grime = 0.85 + 0.3 * value_noise(uv[0] * (1 / 1.5), uv[1] * (1 / 1.5), mat.seed + 2)
        out *= grime if brightness is None else grime * brightness
    elif brightness is not None:
        out *= brightness
    for u0, u1, v0, v1, color in mat.decals:
        inside = (uv[0] >= u0) & (uv[0] <= u1) & (uv[1] >= v0) & (uv[1] <= v1)
        out[:, inside] = color[:, None]
    return out


# --- palettes --------------------------------------------------------------------------------------
def srgb(rgb) -> np.ndarray:
    """sRGB-ish display colour in [0, 1] -> linear albedo (float32)."""
    return np.asarray(rgb, dtype=F32) ** 2.2


def hsv_color(rng: np.random.Generator, hue: tuple[float, float], saturation: tuple[float, float],
              value: tuple[float, float]) -> np.ndarray:
    h = rng.uniform(*hue) % 1.0
    return srgb(colorsys.hsv_to_rgb(h, rng.uniform(*saturation), rng.uniform(*value)))


_ANY = (0.0, 1.0)
# role: (hue, saturation, value) of color1, texture kinds and their weights, chance of a dark material,
# chance of a shiny one, (specular, shininess) when shiny
_PALETTES = {
    "ceiling": ((_ANY, (0.0, 0.1), (0.8, 1.0)), (("solid", 1.0),), 0.0, 0.0),
    "wall": ((_ANY, (0.0, 0.35), (0.55, 0.95)),
             (("solid", 0.4), ("wallpaper", 0.2), ("noise", 0.15), ("stripes", 0.1), ("tiles", 0.15)), 0.0, 0.1),
    "floor": ((_ANY, (0.1, 0.6), (0.2, 0.8)),
              (("parquet", 0.35), ("tiles", 0.2), ("noise", 0.15), ("wood", 0.1), ("checker", 0.1),
               ("solid", 0.1)), 0.15, 0.1),
    "object": ((_ANY, (0.0, 1.0), (0.15, 1.0)),
               (("solid", 0.35), ("checker", 0.15), ("stripes", 0.15), ("noise", 0.2), ("wood", 0.15)), 0.15, 0.3),
    "wood": (((0.04, 0.11), (0.3, 0.75), (0.2, 0.8)), (("wood", 0.8), ("solid", 0.2)), 0.1, 0.2),
    "fabric": ((_ANY, (0.05, 0.55), (0.25, 0.9)), (("fabric", 0.8), ("solid", 0.2)), 0.08, 0.0),
    "leather": (((0.0, 0.12), (0.2, 0.7), (0.08, 0.6)), (("noise", 1.0),), 0.3, 0.6),
    "bedding": ((_ANY, (0.0, 0.3), (0.6, 1.0)), (("fabric", 0.7), ("solid", 0.3)), 0.0, 0.0),
    "cloth": ((_ANY, (0.0, 0.8), (0.1, 0.9)), (("fabric", 0.75), ("stripes", 0.1), ("solid", 0.15)), 0.1, 0.0),
    "skin": (((0.02, 0.09), (0.25, 0.6), (0.3, 0.95)), (("solid", 1.0),), 0.0, 0.3),
    "hair": (((0.03, 0.12), (0.2, 0.7), (0.05, 0.7)), (("noise", 1.0),), 0.3, 0.4),
    "metal": ((_ANY, (0.0, 0.08), (0.35, 0.95)), (("solid", 0.8), ("noise", 0.2)), 0.15, 0.8),
    "cardboard": (((0.07, 0.12), (0.3, 0.6), (0.4, 0.8)), (("solid", 0.8), ("noise", 0.2)), 0.0, 0.0),
    "plastic": ((_ANY, (0.0, 0.6), (0.1, 0.9)), (("solid", 1.0),), 0.3, 0.5),
    "screen": ((_ANY, (0.0, 0.2), (0.02, 0.08)), (("solid", 1.0),), 1.0, 1.0),
    "picture": ((_ANY, (0.3, 1.0), (0.4, 1.0)), (("noise", 1.0),), 0.0, 0.0),
    "glass": (((0.15, 0.45), (0.2, 0.9), (0.1, 0.7)), (("solid", 1.0),), 0.4, 1.0),
    "ceramic": ((_ANY, (0.0, 0.8), (0.3, 1.0)), (("solid", 0.6), ("stripes", 0.2), ("noise", 0.2)), 0.1, 0.7),
    "foliage": (((0.2, 0.38), (0.45, 0.85), (0.25, 0.7)), (("noise", 1.0),), 0.0, 0.1),
    "soil": (((0.05, 0.1), (0.3, 0.6), (0.08, 0.25)), (("noise", 1.0),), 0.5, 0.0),
    "paper": ((_ANY, (0.2, 0.9), (0.2, 0.95)), (("solid", 0.7), ("stripes", 0.3)), 0.1, 0.1),
    "rug": ((_ANY, (0.2, 0.8), (0.2, 0.8)), (("stripes", 0.3), ("checker", 0.2), ("fabric", 0.3), ("noise", 0.2)),
            0.1, 0.0),
    "ball": ((_ANY, (0.5, 1.0), (0.5, 1.0)), (("solid", 0.4), ("checker", 0.3), ("stripes", 0.3)), 0.05, 0.3),
    "lampshade": (((0.05, 0.15), (0.0, 0.3), (0.8, 1.0)), (("fabric", 1.0),), 0.0, 0.0),
}
ROLES = tuple(_PALETTES)
_SCALES = {"tiles": (0.2, 0.6), "parquet": (0.07, 0.2), "wood": (0.2, 0.8), "fabric": (0.05, 0.3),
           "wallpaper": (0.06, 0.25), "stripes": (0.05, 0.4)}


def pick_index(rng: np.random.Generator, weights: tuple[float, ...]) -> int:
    """Index drawn with probability proportional to ``weights`` (one uniform draw)."""
    x, total = rng.random() * sum(weights), 0.0
    for k, w in enumerate(weights):
        total += w
        if x < total:
            return k
    return len(weights) - 1


def material(rng: np.random.Generator, role: str, emission: float = 0.0) -> Material:
    """A random material of ``role`` (see ``ROLES``): sets the palette, textures and how often dark / shiny appear."""
    (hue, sat, val), kinds, dark_p, shiny_p = _PALETTES[role]
    names, weights = zip(*kinds)
    kind = names[0] if len(names) == 1 else names[pick_index(rng, weights)]
    if kind in ("wood", "parquet"):  # wood is brown, whatever it makes
        hue, sat, val = _PALETTES["wood"][0]
    elif role == "wall" and rng.random() < 0.75:  # most walls are white, grey or beige
        sat = (0.0, 0.2)
    c1 = hsv_color(rng, hue, sat, val)
    if kind in ("fabric", "wallpaper", "noise") or role in ("wood", "hair", "foliage"):
        c2 = np.clip(c1 * rng.uniform(0.55, 0.85) + rng.uniform(0, 0.05, 3), 0, 1).astype(F32)  # same hue, darker
    else:
        c2 = np.clip(c1 * rng.uniform(0.3, 0.8) + rng.uniform(0, 0.15, 3), 0, 1).astype(F32)
    if kind == "checker" and role == "floor" and rng.random() < 0.5:  # black and white tiles
        c1, c2 = srgb([0.9, 0.9, 0.88]), srgb([0.12, 0.12, 0.12])
    dark = rng.random() < dark_p
    if dark and role != "screen":  # mean albedo ~0.04: black leather, dark wood, black plastic
        c1, c2 = c1 * (0.04 / max(float(c1.mean()), 1e-3)), c2 * (0.04 / max(float(c2.mean()), 1e-3))
    shiny = rng.random() < shiny_p
    scale = float(rng.uniform(*((0.2, 0.4) if kind == "tiles" and role == "wall" else _SCALES.get(kind, (0.1, 0.6)))))
    return Material(kind=str(kind), color1=c1.astype(F32), color2=c2.astype(F32), scale=scale,
                    angle=float(rng.integers(2) * math.pi / 2 + rng.normal(0, 0.05)) if kind in (
                        "parquet", "wood", "tiles") else float(rng.uniform(0, math.pi)),
                    seed=int(rng.integers(2 ** 31)),
                    specular=float(rng.uniform(0.4, 1.0) if shiny else rng.uniform(0.0, 0.1)),
                    shininess=float(rng.uniform(20, 120) if shiny else rng.uniform(2, 10)),
                    dropout=bool(dark or (shiny and role not in ("wall", "ceiling"))), emission=float(emission))


def kelvin_rgb(kelvin: float) -> np.ndarray:
    """Linear RGB of a black body at ``kelvin`` (1000-20000 K), green = 1 (Tanner Helland's fit)."""
    t = kelvin / 100
    red = 255.0 if t <= 66 else 329.698727446 * (t - 60) ** -0.1332047592
    green = 99.4708025861 * math.log(t) - 161.1195681661 if t <= 66 else 288.1221695283 * (t - 60) ** -0.0755148492
    blue = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307)
    rgb = np.clip(np.array([red, green, blue]) / 255, 0.01, 1.0) ** 2.2
    return (rgb / rgb[1]).astype(F32)

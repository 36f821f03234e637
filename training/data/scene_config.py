"""`SceneConfig`: the ranges the scene renderer (`training.data.scenes`) draws its parameters from."""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields

_PROBABILITIES = ("edge_dropout", "surface_hole_fraction", "person_probability", "second_light_probability",
                  "sun_probability", "blur_probability", "jpeg_probability")
_COUNTS = ("objects", "clutter", "items_per_support", "dropout_blobs", "min_instance_pixels", "jpeg_quality")


@dataclass
class SceneConfig:
    """Ranges the scene parameters are drawn from (uniformly unless said otherwise)."""

    # room and camera
    room_size: tuple[float, float] = (3.0, 8.0)  # x and y extent of the room, m
    room_height: tuple[float, float] = (2.4, 3.2)
    camera_height: tuple[float, float] = (0.9, 1.8)
    fov_deg: tuple[float, float] = (50.0, 75.0)  # horizontal field of view (the focal length)
    pitch_deg: tuple[float, float] = (-25.0, 5.0)  # negative looks down
    roll_deg: float = 3.0  # |roll| <= this
    # what stands in the room
    objects: tuple[int, int] = (3, 8)  # labelled furniture pieces tried per room (inclusive)
    clutter: tuple[int, int] = (1, 4)  # unlabelled pieces tried per room: bookcases, cabinets, boxes, rugs, lamps
    items_per_support: tuple[int, int] = (0, 3)  # small items tried on each table top / shelf board / cabinet
    person_probability: float = 0.4  # chance that a room holds people (one, sometimes two); 0: never
    # light
    ambient: tuple[float, float] = (0.08, 0.3)  # ambient level, relative to the direct light
    second_light_probability: float = 0.35  # a second light (a lamp, another ceiling light)
    sun_probability: float = 0.25  # the main light is directional sun instead of a ceiling light
    color_temperature: tuple[float, float] = (2700.0, 6500.0)  # of each light, kelvin
    shadow_strength: tuple[float, float] = (0.5, 0.9)  # fraction of a light the floor shadows block
    # depth sensor
    max_range: tuple[float, float] = (7.0, 10.0)  # sensor range of the frame, capped at MAX_DEPTH
    min_range: float = 0.4  # closer pixels are holes
    holes: bool = True  # False: depth == depth_complete
    baseline: float = 0.075  # projector-camera baseline, m (Kinect v1); 0 disables projector shadows
    edge_dropout: float = 0.35  # probability that a depth-edge pixel seeds a hole
    surface_hole_fraction: float = 0.4  # ~fraction of dark / shiny / grazing surface area that becomes holes
    dropout_blobs: tuple[int, int] = (0, 4)  # random small holes per frame (inclusive)
    min_instance_pixels: int = 16  # objects showing fewer pixels get no mask (still rendered)
    # image only (never depth or masks): the camera that took the photo
    exposure: tuple[float, float] = (0.65, 1.15)  # the 97th luminance percentile maps to this (1 = white)
    color_jitter: float = 0.06  # std of the white-balance error (log gain) and scale of saturation / contrast jitter
    vignette: tuple[float, float] = (0.0, 0.35)  # darkening in the image corners
    blur_probability: float = 0.3
    blur_sigma: tuple[float, float] = (0.3, 1.2)  # Gaussian blur std, pixels at 256 wide (scaled with the width)
    image_noise: float = 2.0  # std of the zero-mean sensor noise, in uint8 levels
    jpeg_probability: float = 0.5
    jpeg_quality: tuple[int, int] = (40, 95)

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
        if not (-90 < self.pitch_deg[0] and self.pitch_deg[1] < 90) or not 0 <= self.roll_deg <= 45:
            raise ValueError(f"pitch_deg must lie in (-90, 90) and roll_deg in [0, 45]; got {self.pitch_deg}, "
                             f"{self.roll_deg}")
        for name in _PROBABILITIES + ("vignette", "shadow_strength"):
            value = getattr(self, name)
            if not all(0 <= x <= 1 for x in (value if isinstance(value, tuple) else (value,))):
                raise ValueError(f"SceneConfig.{name} must lie in [0, 1]; got {value}")
        for name in ("objects", "clutter", "items_per_support", "dropout_blobs", "baseline", "min_instance_pixels",
                     "image_noise", "ambient", "color_jitter", "blur_sigma"):
            value = getattr(self, name)
            if min(value if isinstance(value, tuple) else (value,)) < 0:
                raise ValueError(f"SceneConfig.{name} must be >= 0; got {value}")
        for name in _COUNTS:
            value = getattr(self, name)
            if not all(float(x).is_integer() for x in (value if isinstance(value, tuple) else (value,))):
                raise ValueError(f"SceneConfig.{name} must be whole numbers; got {value}")
        if self.exposure[0] <= 0:
            raise ValueError(f"SceneConfig.exposure must be > 0; got {self.exposure}")
        if not (1000 <= self.color_temperature[0] and self.color_temperature[1] <= 20000):
            raise ValueError(f"SceneConfig.color_temperature must lie in [1000, 20000] K; got {self.color_temperature}")
        if not (1 <= self.jpeg_quality[0] and self.jpeg_quality[1] <= 100):
            raise ValueError(f"SceneConfig.jpeg_quality must lie in [1, 100]; got {self.jpeg_quality}")

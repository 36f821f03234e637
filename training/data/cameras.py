"""Virtual cameras around a 3D motion, the views they see, and a 2D detector-noise model.

Frames and units: the pinhole :class:`~edgetokens.vision.camera.Camera` of
:mod:`edgetokens.vision.camera` (re-exported here with its projection functions), the one camera
model every 3D source and the depth scenes use:
- World: Z-up, metres (``training.data.WORLD_FRAME``), as in Human3.6M.
- Camera: OpenCV / Human3.6M convention, x right, y down, z forward (depth), metres.
  ``X_cam = R @ (X_world - position)`` with ``R`` the world->camera rotation.
- Pixels: ``u = fx * x / z + cx``, ``v = fy * y / z + cy`` (no lens distortion).

Detector noise (:func:`add_detector_noise`), all draws from the caller's seeded generator:
- per-joint Gaussian jitter in pixels, temporally correlated (AR(1)), a per-view level,
- occasional outliers (a joint thrown 20-100 px away for one frame),
- occasional left/right swaps (legs or arms, for a few frames; ``swap_groups``, H36M indices by
  default, COCO ones for ``training.data.layouts``),
- missing joints: score 0 and the coordinate held at the joint's last observed value (so arrays
  stay finite for models); ``missing_as_nan=True`` writes NaN instead,
- confidence scores that fall as the actual 2D error grows (with multiplicative noise so the
  score is a hint, not an oracle).
Pixel quantities are given for a 1000-pixel-wide image and scale with the image width.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from edgetokens.pose.swaps import H36M_LIMB_PAIRS
from edgetokens.vision.camera import (  # noqa: F401  (re-exported: the one camera implementation)
    Camera,
    axis_rotation,
    camera_to_world,
    look_at,
    matrix_to_quaternion,
    project,
    quaternion_to_matrix,
    unproject,
    world_to_camera,
)
from training.data import MotionSequence

log = logging.getLogger(__name__)


# --- Euler angles (ASF/AMC); the camera and its rotations live in edgetokens.vision.camera --------
def euler_to_matrix(angles_deg, order: str) -> np.ndarray:
    """Rotation for Euler angles (..., len(order)) in degrees applied in ``order`` (e.g. "XYZ":
    x first), i.e. ``R = R_last @ ... @ R_first`` for column vectors (the ASF/AMC convention)."""
    angles = np.radians(np.asarray(angles_deg, dtype=np.float64))
    if angles.shape[-1] != len(order):
        raise ValueError(f"got {angles.shape[-1]} angles for rotation order {order!r}")
    rot = np.broadcast_to(np.eye(3), (*angles.shape[:-1], 3, 3))
    for i, axis in enumerate(order):
        rot = axis_rotation(axis, angles[..., i]) @ rot
    return rot


# --- virtual camera rigs -------------------------------------------------------------------------
@dataclass
class CameraRigConfig:
    """How virtual cameras are drawn around a subject (Human3.6M-like by default)."""

    width: int = 1000
    height: int = 1000
    focal_px: float = 1145.0
    focal_jitter: float = 0.05  # relative, uniform
    center_jitter_px: float = 8.0  # std of the principal point around the image centre
    distance_m: tuple[float, float] = (3.0, 7.0)  # camera centre to the look-at point
    height_m: tuple[float, float] = (0.5, 2.5)  # camera height above the lowest ankle
    azimuth_deg: tuple[float, float] = (0.0, 360.0)
    roll_std_deg: float = 2.0
    target_jitter_m: float = 0.15
    min_depth_m: float = 1.0  # every joint of every frame at least this far in front
    min_in_view: float = 0.99  # fraction of joints x frames that must project inside the image
    max_step_backs: int = 20  # each failed placement moves the camera 1 m further away


def sample_camera(positions: np.ndarray, rng: np.random.Generator, config: CameraRigConfig | None = None,
                  name: str = "") -> Camera:
    """Draw one camera looking at a (T, J, 3) world-frame motion (at the root's mean position).

    If some joint comes closer than ``min_depth_m`` or too many leave the image, the camera steps
    back 1 m along its ray and tries again (so long walks get more distant cameras)."""
    cfg = config or CameraRigConfig()
    positions = np.asarray(positions, np.float64)
    root = positions[:, 0]
    ground = positions[..., 2].min()
    target = np.array([*root[:, :2].mean(0), root[:, 2].mean()]) + rng.normal(0, cfg.target_jitter_m, 3)
    distance = rng.uniform(*cfg.distance_m)
    cam_height = ground + rng.uniform(*cfg.height_m)
    azimuth = np.radians(rng.uniform(*cfg.azimuth_deg))
    focal = cfg.focal_px * (1 + rng.uniform(-cfg.focal_jitter, cfg.focal_jitter))
    focal_xy = (focal, focal * (1 + rng.normal(0, 0.001)))
    center = (cfg.width / 2 + rng.normal(0, cfg.center_jitter_px), cfg.height / 2 + rng.normal(0, cfg.center_jitter_px))
    roll = rng.normal(0, cfg.roll_std_deg)
    best, best_fraction = None, -1.0
    for _ in range(cfg.max_step_backs + 1):
        dz = cam_height - target[2]
        horizontal = np.sqrt(max(distance**2 - dz**2, 0.25))
        position = target + np.array([horizontal * np.cos(azimuth), horizontal * np.sin(azimuth), dz])
        camera = Camera(look_at(position, target, roll_deg=roll), position, focal_xy, center,
                        cfg.width, cfg.height, name)
        points = world_to_camera(positions, camera)
        if points[..., 2].min() >= cfg.min_depth_m:
            uv = project(points, camera)
            inside = (uv[..., 0] >= 0) & (uv[..., 0] < cfg.width) & (uv[..., 1] >= 0) & (uv[..., 1] < cfg.height)
            fraction = float(inside.mean())
            if fraction >= cfg.min_in_view:
                return camera
            if fraction > best_fraction:
                best, best_fraction = camera, fraction
        distance += 1.0  # too close to (or out of) the view: step back
    if best is None:
        raise ValueError(
            f"could not place camera {name!r} with every joint {cfg.min_depth_m} m in front; "
            "the motion covers too much ground - cut it into shorter sequences"
        )
    log.warning("camera %s: only %.1f%% of the joints are inside the image", name, 100 * best_fraction)
    return best


# --- detector noise ------------------------------------------------------------------------------
# Relative jitter per H36M joint: extremities are noisier, derived torso joints steadier.
DEFAULT_JOINT_NOISE = (1.0, 1.2, 1.1, 1.3, 1.2, 1.1, 1.3, 0.9, 0.9, 0.8, 1.1, 1.0, 1.2, 1.6, 1.0, 1.2, 1.6)
# Joint groups that a detector may swap left<->right (legs, arms): those `repair_swaps` undoes.
SWAP_GROUPS = H36M_LIMB_PAIRS


@dataclass
class DetectorNoiseConfig:
    """2D detector error model; pixel values are for a 1000-px-wide image (scaled with width)."""

    sigma_px: tuple[float, float] = (1.0, 6.0)  # per-view jitter level, uniform
    joint_noise: tuple[float, ...] = DEFAULT_JOINT_NOISE
    temporal_correlation: float = 0.5  # AR(1) coefficient of the jitter
    outlier_prob: float = 0.003  # per joint and frame
    outlier_px: tuple[float, float] = (20.0, 100.0)
    swap_prob: float = 0.002  # per frame: a leg or arm pair starts swapping
    swap_frames: tuple[int, int] = (1, 8)
    missing_prob: float = 0.002  # per joint and frame: a joint starts going missing
    missing_frames: tuple[int, int] = (1, 10)
    score_scale_px: float = 12.0  # error at which the score falls to exp(-1/2) of the view quality
    view_quality: tuple[float, float] = (0.85, 1.0)
    score_noise: float = 0.02  # std of additive score noise
    missing_as_nan: bool = False
    swap_groups: tuple = SWAP_GROUPS  # (left joints, right joints) pairs a detector may swap

    @classmethod
    def clean(cls) -> "DetectorNoiseConfig":
        """No noise at all: ground-truth 2D with score 1 (like ``data_2d_h36m_gt``)."""
        return cls(sigma_px=(0.0, 0.0), outlier_prob=0.0, swap_prob=0.0, missing_prob=0.0, view_quality=(1.0, 1.0),
                   score_noise=0.0)


def _event_mask(rng: np.random.Generator, shape: tuple[int, ...], prob: float, frames: tuple[int, int]) -> np.ndarray:
    """Boolean (T, ...) mask of events that start with ``prob`` per cell and last a few frames."""
    starts = rng.random(shape) < prob
    mask = np.zeros(shape, dtype=bool)
    for t, *rest in np.argwhere(starts):
        duration = int(rng.integers(frames[0], frames[1] + 1))
        mask[(slice(t, t + duration), *rest)] = True
    return mask


def _hold_last(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Replace missing (T, J) entries of (T, J, C) values with the joint's last observed value
    (the next observed one at the start of a track; the clean input if never observed)."""
    out = values.copy()
    t_idx = np.arange(len(values))[:, None]
    observed = np.where(~missing, t_idx, -1)
    last = np.maximum.accumulate(observed, axis=0)
    first_seen = np.where(~missing, t_idx, len(values))
    nxt = np.minimum.accumulate(first_seen[::-1], axis=0)[::-1]
    source = np.where(last >= 0, last, nxt)
    ok = source < len(values)
    j_idx = np.broadcast_to(np.arange(values.shape[1]), missing.shape)
    fill = missing & ok
    out[fill] = values[source[fill], j_idx[fill]]
    return out


def add_detector_noise(keypoints: np.ndarray, rng: np.random.Generator, config: DetectorNoiseConfig | None = None,
                       image_width: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Turn clean 2D keypoints (T, 17, 2) px into detector-like ones; returns (keypoints, scores (T, 17))."""
    cfg = config or DetectorNoiseConfig()
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (17, 2):
        raise ValueError(f"expected clean keypoints of shape (T, 17, 2); got {kp.shape}")
    n_frames, n_joints = kp.shape[:2]
    px = image_width / 1000.0
    sigma = rng.uniform(*cfg.sigma_px) * px * np.asarray(cfg.joint_noise)[None, :, None]
    white = rng.standard_normal((n_frames, n_joints, 2))
    rho = cfg.temporal_correlation
    jitter = np.empty_like(white)
    jitter[0] = white[0]
    for t in range(1, n_frames):  # AR(1) with unit stationary variance
        jitter[t] = rho * jitter[t - 1] + np.sqrt(1 - rho**2) * white[t]
    noisy = kp + jitter * sigma

    swapped = noisy.copy()
    for left, right in cfg.swap_groups:
        mask = _event_mask(rng, (n_frames,), cfg.swap_prob, cfg.swap_frames)
        swapped[np.ix_(mask, list(left) + list(right))] = noisy[np.ix_(mask, list(right) + list(left))]
    noisy = swapped

    outliers = rng.random((n_frames, n_joints)) < cfg.outlier_prob
    n_out = int(outliers.sum())
    angle = rng.uniform(0, 2 * np.pi, n_out)
    radius = rng.uniform(*cfg.outlier_px, n_out) * px
    noisy[outliers] += np.stack([np.cos(angle), np.sin(angle)], -1) * radius[:, None]

    error = np.linalg.norm(noisy - kp, axis=-1) * rng.lognormal(0.0, 0.4, (n_frames, n_joints))
    quality = rng.uniform(*cfg.view_quality)
    scores = quality * np.exp(-0.5 * (error / (cfg.score_scale_px * px)) ** 2)
    scores = np.clip(scores + rng.normal(0, cfg.score_noise, scores.shape), 0.01, 1.0)

    missing = _event_mask(rng, (n_frames, n_joints), cfg.missing_prob, cfg.missing_frames)
    if missing.any():
        noisy = np.where(missing[..., None], np.nan, noisy) if cfg.missing_as_nan else _hold_last(noisy, missing)
        scores[missing] = 0.0
    return noisy.astype(np.float32), scores.astype(np.float32)


# --- views: a 3D motion seen by one camera ---------------------------------------------------------
@dataclass
class ViewSequence:
    """One 3D motion seen by one camera: the unit the clip dataset works on.

    keypoints: (T, 17, 2) detector pixels; scores: (T, 17) in [0, 1] or None (no confidences, e.g.
    Human3.6M CPN files); positions_cam: (T, 17, 3) camera-frame metres (absolute, not root-relative);
    keypoints_clean: (T, 17, 2) noiseless projection, when known; layout: the 2D layout the
    keypoints were detected in before reaching H36M-17 (``training.data.layouts``: h36m, coco, blazepose).
    """

    name: str
    subject: str
    camera: Camera
    keypoints: np.ndarray
    positions_cam: np.ndarray
    scores: np.ndarray | None = None
    keypoints_clean: np.ndarray | None = None
    fps: float = 50.0
    action: str = ""  # the motion this view shows (views of one motion share it)
    layout: str = "h36m"

    def __post_init__(self) -> None:
        n = len(self.positions_cam)
        if self.keypoints.shape != (n, 17, 2) or self.positions_cam.shape != (n, 17, 3):
            raise ValueError(
                f"view {self.name!r}: keypoints must be (T, 17, 2) and positions_cam (T, 17, 3) with the same T; "
                f"got {self.keypoints.shape} and {self.positions_cam.shape}"
            )
        if self.scores is not None and self.scores.shape != (n, 17):
            raise ValueError(f"view {self.name!r}: scores must be (T, 17); got {self.scores.shape}")

    def __len__(self) -> int:
        return len(self.positions_cam)


def view_motion(sequence: MotionSequence, camera: Camera, rng: np.random.Generator,
                noise: DetectorNoiseConfig | None = None) -> ViewSequence:
    """Project a world-frame motion through ``camera`` and add detector noise."""
    positions_cam = world_to_camera(sequence.positions, camera)
    clean = project(positions_cam, camera)
    keypoints, scores = add_detector_noise(clean, rng, noise, camera.width)
    return ViewSequence(
        name=f"{sequence.name}@{camera.name}", subject=sequence.subject, camera=camera, keypoints=keypoints,
        positions_cam=positions_cam.astype(np.float32), scores=scores, keypoints_clean=clean.astype(np.float32),
        fps=sequence.fps, action=sequence.name,
    )


def view_motion_from_cameras(sequence: MotionSequence, n_cameras: int, rng: np.random.Generator,
                             rig: CameraRigConfig | None = None,
                             noise: DetectorNoiseConfig | None = None) -> list[ViewSequence]:
    """``n_cameras`` random virtual cameras around one motion, each projected and noised."""
    views = []
    for i in range(n_cameras):
        camera = sample_camera(sequence.positions, rng, rig, name=f"cam{i}")
        views.append(view_motion(sequence, camera, rng, noise))
    return views

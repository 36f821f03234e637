"""2D input layouts for training: what a detector's keypoints look like once they reach the lifter.

At inference every detector gives COCO-17 keypoints (BlazePose's 33 landmarks are cut down to them),
and :func:`edgetokens.pose.skeleton.coco_to_h36m` maps them to H36M-17 (hip = mid hips, thorax = mid
shoulders, neck/nose = nose, head = nose reflected through the eye midpoint). A ``coco`` or
``blazepose`` view here is made the same way, so the model sees in training what it sees in use:

1. :func:`synthesize_coco17` places the 17 COCO points in 3D from the H36M-17 joints (below);
2. they are projected through the view's camera and noised with a detector model in COCO order
   (:func:`coco_noise`, :func:`blazepose_noise`);
3. the same ``coco_to_h36m`` (with its minimum-score rule) turns them into the lifter's input.

Targets stay the H36M-17 3D joints. ``h36m`` views project the H36M joints themselves (as before).

Geometry (every offset scales with the body it is placed on):

- Head frame: up ``u`` = unit(Head - Thorax) (joints 10 - 8: the neck-base -> head axis, the same
  meaning in every source, unlike joint 9, which is H36M's nose but CMU's top of the neck), left
  ``l`` = the shoulder axis (LShoulder - RShoulder) made orthogonal to ``u``, forward ``f = l x u``
  (the face looks square to the shoulders; 17 joints carry no head yaw). ``L = |Head - Thorax|``
  (0.18 m for CMU, about 0.21 m for H36M); offsets in units of L (adult head, L = 0.20 m):
  nose up 0.62 L, forward 0.45 L (12 cm up, 9 cm ahead of the neck axis); eyes up 0.86 L,
  forward 0.32 L, +-0.16 L sideways (interpupillary 6.4 cm, 2.6 cm behind the nose tip); ears
  (tragion) up 0.80 L, back 0.05 L, +-0.38 L sideways (head breadth 15 cm, 10 cm behind the nose).
  ``coco_to_h36m``'s head = 2 eyes - nose then lies 1.10 L up and 0.19 L ahead of the neck base
  (the true Head joint: about 1.0 L up, on the axis), and its neck/nose is the nose, 0.45 L ahead of
  the axis (H36M's joint 9 sits about 0.5 L up near the axis, CMU's at the top of the neck): the
  offsets a lifter must learn to undo.
- Hips: COCO annotates the hip where the thigh meets the pelvis outline, outside and above the hip
  joint centre H36M's mocap gives. With hip width ``w = |LHip - RHip|`` (about 0.26 m), trunk up
  ``t`` = unit(Thorax - Hip) and the outward hip axis: COCO hips 0.10 w outward and 0.15 w up
  (2.6 cm, 3.9 cm); the same for BlazePose-style (its world landmarks' proportions match this
  placement, not hips raised towards the iliac crest).
- Shoulders: COCO marks the top of the shoulder (acromion), above and just outside the
  glenohumeral centre: 0.08 s up along ``t`` and 0.04 s outward, ``s = |LShoulder - RShoulder|``
  (2.6 cm and 1.3 cm at s = 0.32 m); the same for BlazePose-style.

Noise (:func:`coco_noise`, relative to the view's H36M noise so ``DetectorNoiseConfig.clean()``
stays clean): per-joint jitter in COCO order (face points steady: 0.6-0.8; wrists 1.6; hips 1.3),
leg/arm left-right swaps in COCO indices. BlazePose-style, set from real BlazePose output on the
shared walking video (`python -m training.blazepose_stats`, docs/experiments/real-input.md): wrists
1.5x COCO's (its noisiest landmarks, with visibility mostly under 0.5), 6x the limb-swap and 3x the
outlier rate (the jumps of more than 5% of the box it makes on elbows, wrists and ankles), hips and
dropped joints as COCO's (BlazePose gives every landmark in a tracked frame; its hips are no noisier
than its shoulders).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from edgetokens.pose.skeleton import coco_to_h36m
from training.data import MotionSequence
from training.data.cameras import (
    Camera,
    DetectorNoiseConfig,
    ViewSequence,
    add_detector_noise,
    project,
    view_motion,
    world_to_camera,
)

VIEW_LAYOUTS = ("h36m", "coco", "blazepose")  # what one view is drawn in
INPUT_LAYOUTS = (*VIEW_LAYOUTS, "mixed")  # the data option: one layout for every view, or mixed
# the model-config record of what a run fed (BlazePose reaches the lifter as COCO-17)
TRAINED_LAYOUTS = {"h36m": ("h36m",), "coco": ("coco",), "blazepose": ("coco",), "mixed": ("h36m", "coco")}

# COCO-17 indices
NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR = 0, 1, 2, 3, 4
# COCO-17 relative jitter: nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles (L, R)
COCO_JOINT_NOISE = (0.6, 0.6, 0.6, 0.8, 0.8, 1.0, 1.0, 1.2, 1.2, 1.6, 1.6, 1.3, 1.3, 1.1, 1.1, 1.3, 1.3)
COCO_SWAP_GROUPS = (((11, 13, 15), (12, 14, 16)), ((5, 7, 9), (6, 8, 10)))
COCO_WRISTS = (9, 10)
BLAZEPOSE_JITTER = 0.35  # per-frame jitter, relative to the view's level (real p50 0.15-0.5% of the box diagonal)
BLAZEPOSE_WRIST_NOISE = 2.5  # relative to COCO's wrists (its noisiest points, p50 0.76%)
BLAZEPOSE_SWAPS = 6.0  # left-right limb swaps, relative to the view's rate
BLAZEPOSE_OUTLIERS = 3.0  # single-frame outliers, relative to the view's rate


@dataclass(frozen=True)
class CocoGeometry:
    """Where COCO-style keypoints sit relative to the H36M-17 joints (see the module docstring)."""

    nose: tuple[float, float] = (0.62, 0.45)  # (up, forward) in units of L
    eyes: tuple[float, float, float] = (0.86, 0.32, 0.16)  # (up, forward, sideways)
    ears: tuple[float, float, float] = (0.80, -0.05, 0.38)
    hip_out_up: tuple[float, float] = (0.10, 0.15)  # in units of the hip width
    shoulder_out_up: tuple[float, float] = (0.04, 0.08)  # in units of the shoulder width


# BlazePose's own 3D world landmarks give the trunk / thigh ratio COCO's hip placement gives (1.07-1.13
# against 1.10; hips 0.30 w up would give 0.98: `training.blazepose_stats`), so it is COCO's
GEOMETRY = {"coco": CocoGeometry(), "blazepose": CocoGeometry()}


def trained_layouts(input_layout: str) -> tuple[str, ...]:
    """The model-config ``input_layouts`` a run with data option ``input_layout`` trains on."""
    check_layout(input_layout)
    return TRAINED_LAYOUTS[input_layout]


def data_layout_for(input_layouts: tuple[str, ...] | list[str]) -> str:
    """The data option that feeds a model trained on ``input_layouts`` what it was trained on (QAT
    fine-tuning, calibration): the inverse of :func:`trained_layouts` (``coco`` for ("coco",))."""
    wanted = tuple(input_layouts)
    for option in ("h36m", "coco", "mixed"):
        if TRAINED_LAYOUTS[option] == wanted:
            return option
    raise ValueError(f"no training data layout gives input_layouts {wanted!r}; pass --input-layout")


def check_layout(input_layout: str, allowed: tuple[str, ...] = INPUT_LAYOUTS) -> str:
    if input_layout not in allowed:
        raise ValueError(f"input layout {input_layout!r} is not one of {', '.join(allowed)}")
    return input_layout


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def synthesize_coco17(joints: np.ndarray, geometry: CocoGeometry | None = None) -> np.ndarray:
    """COCO-17 3D keypoints (..., 17, 3) from H36M-17 joints (..., 17, 3), any right-handed frame."""
    g = geometry or CocoGeometry()
    j = np.asarray(joints, dtype=np.float64)
    hip, rhip, lhip, thorax, head = j[..., 0, :], j[..., 1, :], j[..., 4, :], j[..., 8, :], j[..., 10, :]
    lsho, rsho = j[..., 11, :], j[..., 14, :]
    up = head - thorax
    size = np.linalg.norm(up, axis=-1, keepdims=True)
    up = _unit(up)
    left = lsho - rsho
    left = _unit(left - (left * up).sum(-1, keepdims=True) * up)
    forward = np.cross(left, up)

    def face(u: float, f: float, s: float = 0.0) -> np.ndarray:
        return thorax + size * (u * up + f * forward + s * left)

    trunk = _unit(thorax - hip)
    hip_width = np.linalg.norm(lhip - rhip, axis=-1, keepdims=True)
    hip_axis = _unit(lhip - rhip)
    out, rise = g.hip_out_up
    l_hip = lhip + hip_width * (out * hip_axis + rise * trunk)
    r_hip = rhip + hip_width * (-out * hip_axis + rise * trunk)
    sho_width = np.linalg.norm(lsho - rsho, axis=-1, keepdims=True)
    sho_axis = _unit(lsho - rsho)
    out, rise = g.shoulder_out_up
    l_sho = lsho + sho_width * (out * sho_axis + rise * trunk)
    r_sho = rsho + sho_width * (-out * sho_axis + rise * trunk)
    eye_u, eye_f, eye_s = g.eyes
    ear_u, ear_f, ear_s = g.ears
    points = [face(*g.nose), face(eye_u, eye_f, eye_s), face(eye_u, eye_f, -eye_s), face(ear_u, ear_f, ear_s),
              face(ear_u, ear_f, -ear_s), l_sho, r_sho, j[..., 12, :], j[..., 15, :], j[..., 13, :], j[..., 16, :],
              l_hip, r_hip, j[..., 5, :], j[..., 2, :], j[..., 6, :], j[..., 3, :]]
    return np.stack(points, -2)


def coco_noise(base: DetectorNoiseConfig) -> DetectorNoiseConfig:
    """The view's detector noise in COCO-17 order (same levels, COCO joints and swap groups)."""
    return replace(base, joint_noise=COCO_JOINT_NOISE, swap_groups=COCO_SWAP_GROUPS)


def blazepose_noise(base: DetectorNoiseConfig) -> DetectorNoiseConfig:
    """COCO-order noise as real BlazePose output measured it (`training.blazepose_stats`): steadier
    points but noisier wrists, more left-right limb swaps and outliers, no extra dropped joints."""
    noise = list(COCO_JOINT_NOISE)
    for i in COCO_WRISTS:
        noise[i] *= BLAZEPOSE_WRIST_NOISE
    low, high = base.sigma_px
    return replace(coco_noise(base), sigma_px=(BLAZEPOSE_JITTER * low, BLAZEPOSE_JITTER * high),
                   joint_noise=tuple(noise), swap_prob=BLAZEPOSE_SWAPS * base.swap_prob,
                   outlier_prob=BLAZEPOSE_OUTLIERS * base.outlier_prob)


NOISE = {"coco": coco_noise, "blazepose": blazepose_noise}


def pick_layout(input_layout: str, rng: np.random.Generator) -> str:
    """The layout of one view: ``input_layout`` itself, or for ``mixed`` one of VIEW_LAYOUTS at random."""
    check_layout(input_layout)
    return VIEW_LAYOUTS[int(rng.integers(len(VIEW_LAYOUTS)))] if input_layout == "mixed" else input_layout


def coco_view(positions: np.ndarray, camera: Camera, rng: np.random.Generator, layout: str,
              noise: DetectorNoiseConfig | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COCO-17 2D of world-frame H36M joints (T, 17, 3) as a ``layout`` detector sees them through
    ``camera``: (noisy px, scores, clean px), before ``coco_to_h36m``."""
    clean = project(world_to_camera(synthesize_coco17(positions, GEOMETRY[layout]), camera), camera)
    noisy, scores = add_detector_noise(clean, rng, NOISE[layout](noise or DetectorNoiseConfig()), camera.width)
    return noisy, scores, clean


def view_motion_in_layout(sequence: MotionSequence, camera: Camera, rng: np.random.Generator, layout: str = "h36m",
                          noise: DetectorNoiseConfig | None = None) -> ViewSequence:
    """Project a world-frame motion through ``camera`` as a ``layout`` detector sees it.

    ``h36m``: the H36M joints, noised (``cameras.view_motion``). ``coco`` /
    ``blazepose``: the synthesized COCO-17 points, noised in COCO order, then mapped by
    ``coco_to_h36m`` (scores: its minimum rule); ``keypoints_clean`` is the noiseless mapped input.
    """
    check_layout(layout, VIEW_LAYOUTS)
    if layout == "h36m":
        return view_motion(sequence, camera, rng, noise)
    positions_cam = world_to_camera(sequence.positions, camera)
    coco, coco_scores, coco_clean = coco_view(sequence.positions, camera, rng, layout, noise)
    keypoints, scores = coco_to_h36m(coco, coco_scores)
    clean = coco_to_h36m(coco_clean)
    return ViewSequence(
        name=f"{sequence.name}@{camera.name}", subject=sequence.subject, camera=camera,
        keypoints=keypoints.astype(np.float32), positions_cam=positions_cam.astype(np.float32),
        scores=scores.astype(np.float32), keypoints_clean=clean.astype(np.float32), fps=sequence.fps,
        action=sequence.name, layout=layout,
    )

"""Procedural human motion on the H36M-17 skeleton: seeded, fast, with per-subject bone lengths.

A motion is a set of joint angles per frame, posed by forward kinematics on a subject's skeleton.
Body frame: x forward, y the subject's left, z up. Each bone (named by its child joint) has a rest
direction and a local rotation ``Q = Ry(pitch) Rx(roll) Rz(twist)``; its global rotation is
``G_child = G_parent Q`` and ``p_child = p_parent + G_child (length * rest_direction)``. Angles
are clipped to per-joint limits (:data:`JOINT_LIMITS_DEG`), so bone lengths are exact by
construction and poses stay anatomically plausible.

Ground contact: after posing, the root height is set so that the lowest ankle is at
``ANKLE_HEIGHT`` above the floor (z = 0); jumps and runs add a flight height. Stationary motions
keep the feet's mean position fixed (the pelvis moves back when sitting); walk / run follow a
curved path (circles of 1-3.5 m radius, as Human3.6M subjects walk), so they stay in view.

Repertoire (:data:`MOTIONS`): walk, run, sit_stand, squat, wave, reach, turn, jump, random (smooth
random angles within the limits). Every motion also gets small smooth random perturbations.
Same seed -> identical arrays. Output: :class:`training.data.MotionSequence`, Z-up world, metres, 50 Hz.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from edgetokens.pose.skeleton import H36M_PARENTS
from training.data import WORLD_FRAME, MotionSequence
from training.data.cameras import axis_rotation

FPS = 50.0
ANKLE_HEIGHT = 0.08  # metres above the floor

# Mean adult bone lengths (metres), indexed by the bone's child joint (H36M order); index 0 unused.
MEAN_BONE_LENGTHS = np.array([
    0.0, 0.13, 0.45, 0.44, 0.13, 0.45, 0.44, 0.23, 0.25, 0.11, 0.115, 0.15, 0.28, 0.25, 0.15, 0.28, 0.25,
])
_rest = np.array([
    [0, 0, 0], [0, -1, 0], [0, 0, -1], [0, 0, -1], [0, 1, 0], [0, 0, -1], [0, 0, -1], [0, 0, 1], [0, 0, 1],
    [0.3, 0, 0.95], [-0.15, 0, 1], [0, 1, -0.1], [0, 0, -1], [0, 0, -1], [0, -1, -0.1], [0, 0, -1], [0, 0, -1],
], dtype=np.float64)
_rest[1:] /= np.linalg.norm(_rest[1:], axis=1, keepdims=True)
REST_DIRECTIONS = _rest  # unit vectors, body frame (x forward, y left, z up)

# Limits (degrees) of (roll x, pitch y, twist z) per bone, for the LEFT side and the centre bones;
# right-side bones mirror roll and twist. Pitch sign: negative = limb swings forward for thighs and
# arms (hip/shoulder flexion) and for forearms (elbow flexion); positive = shank back (knee flexion)
# and trunk/neck leaning forward.
JOINT_LIMITS_DEG = {
    1: ((0, 0), (0, 0), (0, 0)),
    2: ((-20, 45), (-120, 25), (-30, 40)),  # hip (thigh bone)
    3: ((0, 0), (0, 150), (0, 0)),  # knee (shank bone)
    7: ((-20, 20), (-15, 60), (-30, 30)),  # lower spine
    8: ((-15, 15), (-10, 30), (-25, 25)),  # upper spine
    9: ((-20, 20), (-30, 40), (-60, 60)),  # neck
    10: ((-10, 10), (-20, 20), (-10, 10)),  # head
    11: ((-5, 20), (-10, 10), (-10, 10)),  # shoulder girdle (shrug = roll)
    12: ((-10, 160), (-170, 50), (-60, 90)),  # shoulder (upper arm)
    13: ((0, 0), (-150, 0), (0, 0)),  # elbow (forearm)
}
_MIRROR = {4: 1, 5: 2, 6: 3, 14: 11, 15: 12, 16: 13}  # right-side bone -> left-side bone


def _limits_radians() -> np.ndarray:
    lim = np.zeros((17, 3, 2))
    for bone in range(1, 17):
        if bone in (1, 2, 3):  # right leg bones mirror the left leg (4, 5, 6)
            src, mirror = bone, True
        elif bone in (4, 5, 6):
            src, mirror = bone - 3, False
        elif bone in _MIRROR:
            src, mirror = _MIRROR[bone], True
        else:
            src, mirror = bone, False
        table = np.radians(np.array(JOINT_LIMITS_DEG[src], dtype=np.float64))
        if mirror:
            table[0] = -table[0, ::-1]
            table[2] = -table[2, ::-1]
        lim[bone] = table
    return lim


LIMITS = _limits_radians()  # (17, 3, 2) radians, per bone and axis (x, y, z)


@dataclass
class Body:
    """A synthetic subject: bone lengths (17,) in metres, indexed by the bone's child joint."""

    subject: str
    lengths: np.ndarray


def sample_body(rng: np.random.Generator, subject: str) -> Body:
    """Adult proportions: overall scale ~ N(1, 0.05) in [0.88, 1.12], per-bone +-3 %, symmetric."""
    scale = np.clip(rng.normal(1.0, 0.05), 0.88, 1.12)
    width = np.clip(rng.normal(1.0, 0.06), 0.85, 1.15)
    factors = np.clip(rng.normal(1.0, 0.03, 17), 0.92, 1.08)
    for right, left in _MIRROR.items():
        factors[right] = factors[left]
    factors[1] = factors[4]
    lengths = MEAN_BONE_LENGTHS * scale * factors
    lengths[[1, 4, 11, 14]] *= width
    return Body(subject, lengths)


# --- joint-angle helpers (degrees in, radians stored; side "l" or "r") ---------------------------------
class Pose:
    """Per-frame joint angles (T, 17, 3) in radians plus root orientation, set in anatomical terms."""

    def __init__(self, n_frames: int):
        self.angles = np.zeros((n_frames, 17, 3))
        self.n = n_frames

    def _side(self, side: str, left: int, right: int) -> tuple[int, float]:
        return (left, 1.0) if side == "l" else (right, -1.0)

    def hip(self, side, flex=0.0, abduct=0.0, twist=0.0):
        b, s = self._side(side, 5, 2)
        self.angles[:, b] += np.radians(np.stack(np.broadcast_arrays(s * abduct, -flex, s * twist), -1))

    def knee(self, side, flex):
        b, _ = self._side(side, 6, 3)
        self.angles[:, b, 1] += np.radians(flex)

    def shoulder(self, side, flex=0.0, abduct=0.0, twist=0.0):
        b, s = self._side(side, 12, 15)
        self.angles[:, b] += np.radians(np.stack(np.broadcast_arrays(s * abduct, -flex, s * twist), -1))

    def elbow(self, side, flex):
        b, _ = self._side(side, 13, 16)
        self.angles[:, b, 1] -= np.radians(flex)

    def trunk(self, lean=0.0, side=0.0, twist=0.0, upper_share=0.4):
        """Lean forward / bend sideways / twist, shared between the lower and upper spine bones."""
        a = np.radians(np.stack(np.broadcast_arrays(side, lean, twist), -1))
        self.angles[:, 7] += a * (1 - upper_share)
        self.angles[:, 8] += a * upper_share

    def neck(self, nod=0.0, turn=0.0, tilt=0.0):
        self.angles[:, 9] += np.radians(np.stack(np.broadcast_arrays(tilt, nod, turn), -1))


def _smooth_noise(rng: np.random.Generator, n_frames: int, n_channels: int, freq_hz=(0.1, 0.8),
                  terms: int = 3) -> np.ndarray:
    """Smooth zero-mean signals in about [-1, 1]: sums of random sinusoids, (T, n_channels)."""
    t = np.arange(n_frames)[:, None, None] / FPS
    freq = rng.uniform(*freq_hz, (1, n_channels, terms))
    phase = rng.uniform(0, 2 * np.pi, (1, n_channels, terms))
    amp = rng.uniform(0.5, 1.0, (1, n_channels, terms))
    return (amp * np.sin(2 * np.pi * freq * t + phase)).sum(-1) / amp.sum(-1)


def _ramp(x):
    """Smooth 0 -> 1 step (cosine) for x in [0, 1], clipped outside."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


def _cycle_levels(rng, n_frames: int, hold: tuple[float, float], move: tuple[float, float], start_level: float = 0.0):
    """A 0/1 level that alternates with smooth transitions: (T,) in [0, 1], and the transition bell (T,)."""
    level = np.zeros(n_frames)
    bell = np.zeros(n_frames)
    t, current = 0, start_level
    while t < n_frames:
        h = int(rng.uniform(*hold) * FPS)
        level[t : t + h] = current
        t += h
        m = max(int(rng.uniform(*move) * FPS), 2)
        x = np.arange(m) / (m - 1)
        target = 1.0 - current
        seg = current + (target - current) * _ramp(x)
        level[t : t + m] = seg[: max(0, min(m, n_frames - t))]
        bell[t : t + m] = np.sin(np.pi * x)[: max(0, min(m, n_frames - t))]
        t += m
        current = target
    return level, bell


# --- motions: each returns (Pose, root dict) -----------------------------------------------------------
def _gait(rng, n, stride_hz, hip_amp, knee_amp, arm_amp, elbow, lean, speed, radius):
    pose = Pose(n)
    t = np.arange(n) / FPS
    phi = 2 * np.pi * stride_hz * t + rng.uniform(0, 2 * np.pi)
    for side, shift in (("r", 0.0), ("l", np.pi)):
        p = phi + shift
        pose.hip(side, flex=hip_amp[0] + hip_amp[1] * np.sin(p), abduct=3)
        pose.knee(side, flex=5 + knee_amp * np.maximum(0, np.sin(p + 0.6)) ** 2)
        arm = -np.sin(p)  # each arm swings against its own leg
        pose.shoulder(side, flex=arm_amp * arm, abduct=8)
        pose.elbow(side, flex=elbow + 0.3 * elbow * (1 + np.sin(p)) / 2)
    pose.trunk(lean=lean, twist=6 * np.sin(phi))
    pose.neck(nod=-lean * 0.5)
    heading_rate = speed / radius * rng.choice([-1, 1])
    heading = heading_rate * t + 0.15 * np.sin(2 * np.pi * rng.uniform(0.05, 0.15) * t)
    return pose, {"heading": heading, "speed": np.full(n, speed), "pelvis_yaw": -4 * np.sin(phi),
                  "phi": phi}


def motion_walk(rng, n):
    s = rng.uniform(0.8, 1.2)
    pose, root = _gait(rng, n, stride_hz=rng.uniform(0.8, 1.05), hip_amp=(8 * s, 22 * s), knee_amp=55 * s,
                       arm_amp=15 * s, elbow=rng.uniform(10, 25), lean=rng.uniform(0, 8),
                       speed=rng.uniform(1.0, 1.6), radius=rng.uniform(1.0, 2.5))
    return pose, root


def motion_run(rng, n):
    s = rng.uniform(0.85, 1.15)
    pose, root = _gait(rng, n, stride_hz=rng.uniform(1.3, 1.6), hip_amp=(20 * s, 35 * s), knee_amp=85 * s,
                       arm_amp=30 * s, elbow=rng.uniform(75, 95), lean=rng.uniform(8, 16),
                       speed=rng.uniform(2.2, 3.5), radius=rng.uniform(2.0, 3.5))
    root["flight"] = 0.05 * s * np.maximum(0, np.sin(2 * root["phi"])) ** 2
    return pose, root


def motion_sit_stand(rng, n):
    pose = Pose(n)
    level, bell = _cycle_levels(rng, n, hold=(1.0, 3.0), move=(1.0, 1.6))
    spread = rng.uniform(0, 12)
    for side in "lr":
        pose.hip(side, flex=rng.uniform(80, 95) * level, abduct=spread * level)
        pose.knee(side, flex=rng.uniform(85, 100) * level)
        pose.shoulder(side, flex=25 * level + 15 * bell, abduct=5)
        pose.elbow(side, flex=10 + 55 * level)
    pose.trunk(lean=rng.uniform(0, 10) * level + 30 * bell)
    pose.neck(nod=-15 * bell)
    return pose, {}


def motion_squat(rng, n):
    pose = Pose(n)
    level, bell = _cycle_levels(rng, n, hold=(0.3, 1.5), move=(0.8, 1.5))
    depth = rng.uniform(0.6, 1.0)
    for side in "lr":
        pose.hip(side, flex=105 * depth * level, abduct=10 * level)
        pose.knee(side, flex=125 * depth * level)
        pose.shoulder(side, flex=80 * depth * level)
        pose.elbow(side, flex=10 + 10 * level)
    pose.trunk(lean=35 * depth * level)
    pose.neck(nod=-20 * level)
    return pose, {}


def motion_wave(rng, n):
    pose = Pose(n)
    level, _ = _cycle_levels(rng, n, hold=(1.0, 3.5), move=(0.5, 0.9))
    sides = ["l", "r"] if rng.random() < 0.25 else [rng.choice(["l", "r"])]
    t = np.arange(n) / FPS
    wave = np.sin(2 * np.pi * rng.uniform(1.5, 2.5) * t)
    for side in "lr":
        if side in sides:
            pose.shoulder(side, abduct=rng.uniform(110, 150) * level, flex=20 * level, twist=-20 * level)
            pose.elbow(side, flex=(45 + 30 * wave) * level)
        else:
            pose.shoulder(side, abduct=6)
            pose.elbow(side, flex=15)
    pose.trunk(side=4 * np.sin(2 * np.pi * 0.3 * t))
    pose.neck(turn=rng.uniform(-30, 30))
    return pose, {}


def motion_reach(rng, n):
    pose = Pose(n)
    t, keys = 0, []
    while t < n + 200:
        keys.append((t, rng.uniform([20, 0, 0, 0, -20, -25], [160, 60, 40, 35, 20, 25])))
        t += int(rng.uniform(1.2, 3.0) * FPS)
    frames = np.arange(n)
    key_t = np.array([k[0] for k in keys])
    key_v = np.stack([k[1] for k in keys])
    idx = np.clip(np.searchsorted(key_t, frames, side="right") - 1, 0, len(keys) - 2)
    x = (frames - key_t[idx]) / (key_t[idx + 1] - key_t[idx])
    values = key_v[idx] + (key_v[idx + 1] - key_v[idx]) * _ramp(x)[:, None]
    flex, abduct, elbow, lean, side_bend, twist = values.T
    arm = rng.choice(["l", "r"])
    other = "r" if arm == "l" else "l"
    pose.shoulder(arm, flex=flex, abduct=abduct)
    pose.elbow(arm, flex=elbow)
    pose.shoulder(other, flex=0.3 * flex, abduct=8)
    pose.elbow(other, flex=20)
    pose.trunk(lean=lean, side=side_bend, twist=twist)
    pose.neck(nod=-0.4 * lean + 0.2 * flex - 15, turn=0.5 * twist)
    for side in "lr":
        pose.knee(side, flex=0.3 * lean)
        pose.hip(side, flex=0.2 * lean)
    return pose, {}


def motion_turn(rng, n):
    pose = Pose(n)
    level, bell = _cycle_levels(rng, n, hold=(0.5, 2.0), move=(1.2, 2.5))
    # accumulate a new random turn for every transition
    turns = np.cumsum(np.abs(np.diff(level, prepend=level[0])))
    heading = np.radians(rng.uniform(90, 180)) * turns * rng.choice([-1, 1])
    t = np.arange(n) / FPS
    phi = 2 * np.pi * 1.6 * t
    for side, shift in (("r", 0.0), ("l", np.pi)):
        step = bell * np.maximum(0, np.sin(phi + shift))
        pose.hip(side, flex=25 * step)
        pose.knee(side, flex=45 * step)
        pose.shoulder(side, flex=5, abduct=8)
        pose.elbow(side, flex=20)
    pose.neck(turn=25 * bell * np.sign(np.gradient(heading) + 1e-9))
    return pose, {"heading": heading}


def motion_jump(rng, n):
    pose = Pose(n)
    flight_h = np.zeros(n)
    crouch = np.zeros(n)
    arms = np.zeros(n)
    t = int(rng.uniform(0.3, 1.0) * FPS)
    g = 9.81
    while t < n:
        prep, push = int(rng.uniform(0.4, 0.7) * FPS), int(0.25 * FPS)
        airtime = rng.uniform(0.3, 0.5)
        air, land, rest = int(airtime * FPS), int(0.35 * FPS), int(rng.uniform(0.5, 1.5) * FPS)
        depth = rng.uniform(0.6, 1.0)
        segs = [
            (prep, lambda x: depth * _ramp(x), lambda x: -_ramp(x)),
            (push, lambda x: depth * (1 - _ramp(x)), lambda x: -1 + 1.5 * _ramp(x)),
            (air, lambda x: 0.15 * _ramp(2 * x), lambda x: 0.5 + 0.7 * _ramp(x)),
            (land, lambda x: 0.15 + 0.5 * depth * np.sin(np.pi * x), lambda x: 1.2 * (1 - _ramp(x))),
            (rest, lambda x: 0 * x, lambda x: 0 * x),
        ]
        for length, crouch_fn, arm_fn in segs:
            x = np.arange(length) / max(length - 1, 1)
            sl = slice(t, min(t + length, n))
            k = sl.stop - sl.start
            if k <= 0:
                break
            crouch[sl], arms[sl] = crouch_fn(x)[:k], arm_fn(x)[:k]
            if length == air:
                tau = x[:k] * airtime
                flight_h[sl] = 0.5 * g * tau * (airtime - tau)
            t += length
    for side in "lr":
        pose.hip(side, flex=70 * crouch)
        pose.knee(side, flex=100 * crouch)
        pose.shoulder(side, flex=60 * arms, abduct=10)
        pose.elbow(side, flex=20 + 20 * crouch)
    pose.trunk(lean=40 * crouch)
    return pose, {"flight": flight_h}


def motion_random(rng, n):
    pose = Pose(n)
    noise = _smooth_noise(rng, n, 17 * 3, freq_hz=(0.05, 0.6)).reshape(n, 17, 3)
    lo, hi = LIMITS[..., 0], LIMITS[..., 1]
    centre, half = (lo + hi) / 2, (hi - lo) / 2
    pose.angles[:] = centre + 0.8 * half * noise
    return pose, {"heading": np.radians(40) * _smooth_noise(rng, n, 1, (0.02, 0.1))[:, 0]}


MOTIONS: dict[str, Callable] = {
    "walk": motion_walk, "run": motion_run, "sit_stand": motion_sit_stand, "squat": motion_squat,
    "wave": motion_wave, "reach": motion_reach, "turn": motion_turn, "jump": motion_jump, "random": motion_random,
}


# --- posing ------------------------------------------------------------------------------------------------
def _local_rotations(angles: np.ndarray) -> np.ndarray:
    """(T, 17, 3) roll/pitch/twist -> (T, 17, 3, 3) with Q = Ry(pitch) Rx(roll) Rz(twist)."""
    return axis_rotation("y", angles[..., 1]) @ axis_rotation("x", angles[..., 0]) @ axis_rotation("z", angles[..., 2])


def pose_skeleton(angles: np.ndarray, lengths: np.ndarray, root_rotation: np.ndarray,
                  root_position: np.ndarray) -> np.ndarray:
    """Forward kinematics: joint positions (T, 17, 3) from angles (T, 17, 3) rad, lengths (17,),
    root rotation (T, 3, 3) and root position (T, 3)."""
    local = _local_rotations(np.clip(angles, LIMITS[..., 0], LIMITS[..., 1]))
    n = len(angles)
    glob = np.empty((n, 17, 3, 3))
    pos = np.empty((n, 17, 3))
    glob[:, 0], pos[:, 0] = root_rotation, root_position
    offsets = REST_DIRECTIONS * lengths[:, None]
    for j in range(1, 17):
        p = H36M_PARENTS[j]
        glob[:, j] = glob[:, p] @ local[:, j]
        pos[:, j] = pos[:, p] + glob[:, j] @ offsets[j]
    return pos


def generate_motion(motion: str, body: Body, n_frames: int, rng: np.random.Generator, name: str = "") -> MotionSequence:
    """One procedural motion for ``body``: (n_frames, 17, 3) metres, Z-up world, 50 Hz."""
    if motion not in MOTIONS:
        raise ValueError(f"unknown motion {motion!r}; choose one of {sorted(MOTIONS)}")
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1; got {n_frames}")
    pose, root = MOTIONS[motion](rng, n_frames)
    # small idle perturbations on every joint, then the limits
    pose.angles += np.radians(3.0) * _smooth_noise(rng, n_frames, 17 * 3).reshape(n_frames, 17, 3)
    angles = np.clip(pose.angles, LIMITS[..., 0], LIMITS[..., 1])

    heading = rng.uniform(0, 2 * np.pi) + root.get("heading", np.zeros(n_frames))
    yaw = heading + np.radians(root.get("pelvis_yaw", np.zeros(n_frames)))
    tilt = np.radians(2.0) * _smooth_noise(rng, n_frames, 2)
    root_rot = axis_rotation("z", yaw) @ axis_rotation("y", tilt[:, 0]) @ axis_rotation("x", tilt[:, 1])
    pos = pose_skeleton(angles, body.lengths, root_rot, np.zeros((n_frames, 3)))

    start = rng.uniform(-1.0, 1.0, 2)
    if "speed" in root:  # travel along the (curved) heading
        step = root["speed"][:, None] / FPS * np.stack([np.cos(heading), np.sin(heading)], -1)
        xy = start + np.cumsum(step, 0) - step[0]
    else:  # feet planted: keep the ankles' mean where it started
        feet = pos[:, [3, 6], :2].mean(1)
        xy = start - feet
    z = ANKLE_HEIGHT - pos[:, [3, 6], 2].min(1) + root.get("flight", 0.0)
    pos += np.concatenate([xy, z[:, None]], -1)[:, None, :]
    return MotionSequence(name=name or f"synthetic/{body.subject}/{motion}", subject=body.subject, fps=FPS,
                          positions=pos.astype(np.float32), world_frame=WORLD_FRAME)


@dataclass
class SyntheticConfig:
    """How many synthetic subjects and motions to make."""

    n_subjects: int = 8
    sequences_per_subject: int = 9  # cycles through ``motions``
    seconds: tuple[float, float] = (6.0, 12.0)
    motions: tuple[str, ...] = tuple(MOTIONS)


def generate_dataset(seed: int | Sequence[int], config: SyntheticConfig | None = None,
                     subject_prefix: str = "syn") -> list[MotionSequence]:
    """Seeded synthetic motions: ``n_subjects`` bodies x ``sequences_per_subject`` motions.

    ``seed`` is an int or a list of ints (``np.random.SeedSequence`` entropy).
    """
    cfg = config or SyntheticConfig()
    unknown = [m for m in cfg.motions if m not in MOTIONS]
    if unknown:
        raise ValueError(f"unknown motions {unknown}; choose from {sorted(MOTIONS)}")
    root_seq = np.random.SeedSequence(seed)
    sequences = []
    for s, subject_seed in enumerate(root_seq.spawn(cfg.n_subjects)):
        rng = np.random.default_rng(subject_seed)
        body = sample_body(rng, f"{subject_prefix}{s:02d}")
        for k in range(cfg.sequences_per_subject):
            motion = cfg.motions[(k + s) % len(cfg.motions)]
            n_frames = int(rng.uniform(*cfg.seconds) * FPS)
            sequences.append(generate_motion(motion, body, n_frames, rng,
                                             name=f"synthetic/{body.subject}/{k:02d}_{motion}"))
    return sequences

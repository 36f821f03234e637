"""BVH motion files (HIERARCHY + MOTION) -> H36M-17 motions in metres, Z-up, at 50 Hz.

Parsing (:func:`parse_bvh`) reads numbers with ``float`` only (nothing is evaluated); malformed
input raises ``ValueError("<file>:<line>: <what is wrong>")``. Any channel order and any subset of
the six channels per joint are accepted.

Forward kinematics (:func:`forward_kinematics`, the usual BVH reading): a joint's local rotation is
the product of its rotation channels in the order listed (``Zrotation Xrotation Yrotation`` ->
``R = Rz Rx Ry``, column vectors, degrees); its translation in the parent frame is its OFFSET,
with each position channel replacing that component (as Blender and Holden's BVH.py read them:
for the root, the channels are its position). ``G = G_parent [R | t]``; a joint's position is the
origin of its frame; an ``End Site`` is reached as ``<joint>/end``.

Units: ``scale`` is metres per file unit or a name (:data:`UNITS`: m, cm, mm, inches, cmu = the
ASF unit of the CMU conversions, inch / 0.45); ``"auto"`` picks the unit that makes the rest pose's
longest extent (height, or arm span in a T-pose) closest to 1.7 m. Up axis: ``up="y"`` (the BVH
norm; turned into the project's Z-up world by the CMU rotation ``(x, y, z) -> (x, -z, y)``) or ``"z"``.

Name map (:data:`BVH_NAMES`, see :mod:`training.data.names`): the CMU BVH conversions (Hips,
LHipJoint, LeftUpLeg, LeftLeg, LeftFoot, LowerBack, Spine, Spine1, Neck, Neck1, Head, LeftShoulder,
LeftArm, LeftForeArm, LeftHand, ...) and Mixamo (``mixamorig:`` prefixes; Spine, Spine1, Spine2,
Neck, Head, HeadTop_End). Joint origins are used: LeftUpLeg = hip, LeftLeg = knee, LeftFoot =
ankle, LeftArm = shoulder, LeftForeArm = elbow, LeftHand = wrist; Spine = Spine1, Thorax = Neck1
(CMU: lower neck end, as ``training.data.cmu``) else Neck, Neck/Nose = Head (top of the neck), Head
= HeadTop_End or the Head's end site.

Source ``bvh:FOLDER`` (:func:`load_bvh_split`): FOLDER/train and FOLDER/test when both exist;
otherwise every ``*.bvh`` below FOLDER, a file being test when the CRC-32 of its path inside FOLDER
(lower case, without ``.bvh``) is divisible by 5 (about 20 %, sequence level, stable as files are
added).
"""
from __future__ import annotations

import logging
import math
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.data import WORLD_FRAME, MotionSequence
from training.data.cameras import axis_rotation
from training.data.cmu import CMU_TO_WORLD, TARGET_FPS, resample
from training.data.names import NameMap, resolve_names

log = logging.getLogger(__name__)

UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inches": 0.0254, "in": 0.0254, "cmu": 0.0254 / 0.45}
BODY_EXTENT_M = 1.7  # what "auto" scales the rest pose's longest extent to
END = "/end"

BVH_NAMES: tuple[tuple[str, ...], ...] = (
    ("Hips", "Hip", "Pelvis"),
    ("RightUpLeg", "RightHip", "RightThigh"),
    ("RightLeg", "RightKnee", "RightShin"),
    ("RightFoot", "RightAnkle"),
    ("LeftUpLeg", "LeftHip", "LeftThigh"),
    ("LeftLeg", "LeftKnee", "LeftShin"),
    ("LeftFoot", "LeftAnkle"),
    ("Spine1", "Spine", "Chest"),
    ("Neck1", "Neck"),
    ("Head",),
    ("HeadTop_End", "Head" + END, "HeadEnd", "Head_End", "HeadTop"),
    ("LeftArm", "LeftUpperArm"),
    ("LeftForeArm", "LeftElbow", "LeftLowerArm"),
    ("LeftHand", "LeftWrist"),
    ("RightArm", "RightUpperArm"),
    ("RightForeArm", "RightElbow", "RightLowerArm"),
    ("RightHand", "RightWrist"),
)

_CHANNELS = {f"{a}{kind}": (kind, a.lower()) for a in "XYZ" for kind in ("position", "rotation")}


@dataclass
class BvhJoint:
    name: str
    parent: int  # index into Bvh.joints, -1 for the root
    line: int
    offset: np.ndarray | None = None  # (3,) file units
    channels: tuple[str, ...] = ()  # e.g. ("Zrotation", "Xrotation", "Yrotation")
    first_channel: int = 0  # column of its first channel in the motion data
    end_offset: np.ndarray | None = None  # the End Site, if any


@dataclass
class Bvh:
    path: str
    joints: list[BvhJoint]
    frame_time: float
    motion: np.ndarray  # (frames, channels) as in the file
    names: list[str] = field(default_factory=list)  # joint names, then "<joint>/end" for end sites

    @property
    def fps(self) -> float:
        """1 / Frame Time, snapped to a whole rate within 0.1 % (files write 0.008333 for 120 Hz)."""
        rate = 1.0 / self.frame_time
        return float(round(rate)) if abs(rate - round(rate)) < 1e-3 * rate else rate


def _err(path, line: int, message: str) -> ValueError:
    return ValueError(f"{path}:{line}: {message}")


def _number(path, line: int, token: str, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise _err(path, line, f"{what}: {token!r} is not a number") from None
    if not math.isfinite(value):
        raise _err(path, line, f"{what}: non-finite value {token!r}")
    return value


class _Tokens:
    """Whitespace tokens of the HIERARCHY section with their line numbers."""

    def __init__(self, path: str, lines: list[str]):
        self.path, self.items, self.i = path, [], 0
        for no, raw in enumerate(lines, 1):
            self.items += [(t, no) for t in raw.replace("{", " { ").replace("}", " } ").split()]

    def next(self, what: str) -> tuple[str, int]:
        if self.i >= len(self.items):
            line = self.items[-1][1] if self.items else 1
            raise _err(self.path, line, f"file ends where {what} was expected")
        self.i += 1
        return self.items[self.i - 1]

    def expect(self, word: str, after: str) -> int:
        token, line = self.next(f"{word!r} after {after}")
        if token.lower() != word.lower():
            raise _err(self.path, line, f"expected {word!r} after {after}, found {token!r}")
        return line

    def numbers(self, count: int, what: str) -> np.ndarray:
        return np.array([_number(self.path, line, tok, what) for tok, line in (self.next(what) for _ in range(count))])


def _parse_hierarchy(path: str, lines: list[str]) -> tuple[list[BvhJoint], int]:
    """Joints in file order (parents first) and the index of the MOTION line."""
    motion_at = next((i for i, raw in enumerate(lines) if raw.strip().upper() == "MOTION"), None)
    if motion_at is None:
        raise _err(path, len(lines), "no MOTION section; is this a BVH file?")
    tokens = _Tokens(path, lines[:motion_at])
    token, line = tokens.next("HIERARCHY")
    if token.upper() != "HIERARCHY":
        raise _err(path, line, f"a BVH file starts with HIERARCHY, found {token!r}")
    joints: list[BvhJoint] = []
    open_joints: list[int] = []
    channel_count = 0
    while tokens.i < len(tokens.items):
        token, line = tokens.next("a hierarchy entry")
        key = token.upper()
        if key in ("ROOT", "JOINT"):
            if (key == "ROOT") != (not open_joints):
                raise _err(path, line, "ROOT must open the hierarchy (one root), JOINT only inside a joint")
            name, _ = tokens.next(f"the {key} name")
            tokens.expect("{", f"{key} {name}")
            joints.append(BvhJoint(name, open_joints[-1] if open_joints else -1, line))
            open_joints.append(len(joints) - 1)
        elif key == "END":
            if not open_joints:
                raise _err(path, line, "End Site outside a joint")
            tokens.expect("Site", "End")
            tokens.expect("{", "End Site")
            tokens.expect("OFFSET", "End Site {")
            end = tokens.numbers(3, "End Site OFFSET")
            tokens.expect("}", "End Site OFFSET")
            joints[open_joints[-1]].end_offset = end
        elif key == "OFFSET":
            if not open_joints or joints[open_joints[-1]].offset is not None:
                raise _err(path, line, "OFFSET outside a joint, or a second OFFSET for one joint")
            joints[open_joints[-1]].offset = tokens.numbers(3, "OFFSET")
        elif key == "CHANNELS":
            joint = joints[open_joints[-1]] if open_joints else None
            if joint is None or joint.channels:
                raise _err(path, line, "CHANNELS outside a joint, or a second CHANNELS for one joint")
            count_token, _ = tokens.next("the channel count")
            if not count_token.isdigit() or int(count_token) > 6:
                raise _err(path, line, f"CHANNELS needs a count of 0-6, found {count_token!r}")
            names = [tokens.next("a channel name") for _ in range(int(count_token))]
            channels = []
            for name, name_line in names:
                match = next((c for c in _CHANNELS if c.lower() == name.lower()), None)
                if match is None:
                    raise _err(path, name_line, f"unknown channel {name!r} (use X/Y/Z position or rotation)")
                channels.append(match)
            if len(set(channels)) != len(channels):
                raise _err(path, line, f"joint {joint.name!r} lists a channel twice: {channels}")
            joint.channels, joint.first_channel = tuple(channels), channel_count
            channel_count += len(channels)
        elif key == "}":
            if not open_joints:
                raise _err(path, line, "'}' without an open joint")
            closed = joints[open_joints.pop()]
            if closed.offset is None:
                raise _err(path, closed.line, f"joint {closed.name!r} has no OFFSET")
        else:
            raise _err(path, line, f"unexpected {token!r} in HIERARCHY")
    if open_joints:
        raise _err(path, joints[open_joints[-1]].line, f"joint {joints[open_joints[-1]].name!r} is never closed ('}}')")
    if not joints:
        raise _err(path, motion_at + 1, "HIERARCHY has no ROOT")
    names = [j.name for j in joints]
    if len(set(names)) != len(names):
        raise _err(path, motion_at, f"joint names repeat: {sorted({n for n in names if names.count(n) > 1})}")
    return joints, motion_at


def _header_value(path, lines: list[str], index: int, label: str) -> str:
    if index >= len(lines):
        raise _err(path, index, f"file ends before '{label}'")
    text = lines[index].strip()
    if not text.lower().replace(" ", "").startswith(label.lower().replace(" ", "")) or ":" not in text:
        raise _err(path, index + 1, f"expected '{label} <value>', found {text!r}")
    return text.split(":", 1)[1].strip()


def parse_bvh(path: str | os.PathLike) -> Bvh:
    """Parse a BVH file (hierarchy and motion)."""
    path = str(path)
    with open(path, encoding="latin-1") as f:
        lines = f.read().splitlines()
    joints, motion_at = _parse_hierarchy(path, lines)
    n_channels = sum(len(j.channels) for j in joints)
    frames_text = _header_value(path, lines, motion_at + 1, "Frames:")
    if not frames_text.isdigit():
        raise _err(path, motion_at + 2, f"Frames: needs a whole number, found {frames_text!r}")
    n_frames = int(frames_text)
    frame_time = _number(path, motion_at + 3, _header_value(path, lines, motion_at + 2, "Frame Time:"), "Frame Time")
    if frame_time <= 0:
        raise _err(path, motion_at + 3, f"Frame Time must be > 0 seconds, found {frame_time}")
    rows = [(no, raw.split()) for no, raw in enumerate(lines[motion_at + 3:], motion_at + 4) if raw.strip()]
    if len(rows) != n_frames:
        where = rows[-1][0] if rows else motion_at + 3
        raise _err(path, where, f"Frames: {n_frames} but the file has {len(rows)} frame lines")
    if n_frames == 0:
        raise _err(path, motion_at + 2, "no frames (Frames: 0)")
    motion = np.empty((n_frames, n_channels))
    for k, (no, values) in enumerate(rows):
        if len(values) != n_channels:
            raise _err(path, no, f"frame {k + 1} has {len(values)} values; the hierarchy has {n_channels} channels")
        motion[k] = [_number(path, no, v, f"frame {k + 1}") for v in values]
    names = [j.name for j in joints] + [j.name + END for j in joints if j.end_offset is not None]
    return Bvh(path, joints, frame_time, motion, names)


def forward_kinematics(bvh: Bvh) -> np.ndarray:
    """Positions (frames, len(bvh.names), 3) in file units and axes: joint origins, then end sites."""
    n = len(bvh.motion)
    positions, rotations, ends = [], [], []
    for joint in bvh.joints:
        values = bvh.motion[:, joint.first_channel:joint.first_channel + len(joint.channels)]
        translation = np.broadcast_to(joint.offset, (n, 3)).copy()
        rotation = np.broadcast_to(np.eye(3), (n, 3, 3))
        for k, channel in enumerate(joint.channels):
            kind, axis = _CHANNELS[channel]
            if kind == "position":
                translation[:, "xyz".index(axis)] = values[:, k]
            else:
                rotation = rotation @ axis_rotation(axis, np.radians(values[:, k]))
        if joint.parent >= 0:
            parent_rot = rotations[joint.parent]
            translation = positions[joint.parent] + (parent_rot @ translation[..., None])[..., 0]
            rotation = parent_rot @ rotation
        positions.append(translation)
        rotations.append(rotation)
        if joint.end_offset is not None:
            ends.append(translation + rotation @ joint.end_offset)
    return np.stack(positions + ends, 1)


def rest_pose(bvh: Bvh) -> np.ndarray:
    """Joint origins and end sites (J, 3) with every channel zero and OFFSETs only."""
    origins: list[np.ndarray] = []
    for joint in bvh.joints:
        origins.append(joint.offset + (origins[joint.parent] if joint.parent >= 0 else 0.0))
    ends = [origins[i] + j.end_offset for i, j in enumerate(bvh.joints) if j.end_offset is not None]
    return np.array(origins + ends)


def metres_per_unit(bvh: Bvh, scale: float | str) -> float:
    """``scale`` as metres per file unit; "auto": the unit of :data:`UNITS` whose rest pose is closest to 1.7 m."""
    if isinstance(scale, str):
        if scale == "auto":
            extent = float(np.ptp(rest_pose(bvh), axis=0).max())
            if extent <= 0:
                raise ValueError(f"{bvh.path}: the rest pose has no extent (all OFFSETs zero); give scale=<unit>")
            unit = min(UNITS, key=lambda u: abs(math.log(extent * UNITS[u] / BODY_EXTENT_M)))
            log.info("%s: rest pose %.3g units long: unit %s", bvh.path, extent, unit)
            return UNITS[unit]
        if scale not in UNITS:
            raise ValueError(f"unknown BVH unit {scale!r}; use auto, a number of metres per unit or one of "
                             f"{', '.join(UNITS)}")
        return UNITS[scale]
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number of metres per unit; got {scale!r}")
    return float(scale)


def load_bvh(path: str | os.PathLike, name_map: NameMap = BVH_NAMES, scale: float | str = "auto", up: str = "y",
             target_fps: float = TARGET_FPS, name: str | None = None, subject: str | None = None) -> MotionSequence:
    """One BVH file -> :class:`MotionSequence` (H36M-17, metres, Z-up world, ``target_fps`` Hz)."""
    if up not in ("y", "z"):
        raise ValueError(f"up must be 'y' or 'z'; got {up!r}")
    bvh = parse_bvh(path)
    picked = resolve_names(bvh.names, name_map, bvh.path)
    joints = forward_kinematics(bvh)[:, picked] * metres_per_unit(bvh, scale)
    if up == "y":
        joints = joints @ CMU_TO_WORLD.T
    joints = resample(joints, bvh.fps, target_fps)
    path = Path(path)
    return MotionSequence(name=name or path.stem, subject=subject or path.stem.split("_")[0], fps=target_fps,
                          positions=joints.astype(np.float32), world_frame=WORLD_FRAME)


def bvh_split(folder: str | os.PathLike, split: str) -> list[Path]:
    """The ``split`` ("train" / "test") files of a BVH folder (the rule in the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: BVH folder not found")
    if (folder / "train").is_dir() and (folder / "test").is_dir():
        files = sorted((folder / split).rglob("*.bvh"))
    else:
        def is_test(f: Path) -> bool:
            key = f.relative_to(folder).with_suffix("").as_posix().lower()
            return zlib.crc32(key.encode()) % 5 == 0

        files = [f for f in sorted(folder.rglob("*.bvh")) if is_test(f) == (split == "test")]
    if not files:
        raise ValueError(f"{folder}: no {split} .bvh files (the rule: train/ and test/ folders, or the CRC-32 of "
                         "each file's path % 5 == 0 for test); add files or make train/ and test/ folders")
    return files


def load_bvh_split(folder: str | os.PathLike, split: str, **options) -> list[MotionSequence]:
    """Every file of one split of a BVH folder, named ``bvh/<path inside FOLDER>``."""
    folder = Path(folder)
    sequences = [load_bvh(f, name=f"bvh/{f.relative_to(folder).with_suffix('').as_posix()}", **options)
                 for f in bvh_split(folder, split)]
    log.info("loaded %d BVH files (%s) from %s", len(sequences), split, folder)
    return sequences

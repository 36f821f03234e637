"""CMU motion capture (ASF skeleton + AMC motion) -> H36M-17 joint positions in metres at 50 Hz.

Parsing: :func:`parse_asf` and :func:`parse_amc` read any path the caller passes. Malformed input
raises ``ValueError("<file>:<line>: <what is wrong>")``; non-finite values reject the whole take
with its file name.

Forward kinematics (the standard Acclaim ASF/AMC rule): for every bone, ``C`` is the rotation given
by its ``axis`` angles (order from the file, e.g. XYZ: x first, so C = Rz Ry Rx), ``M`` is the
local rotation from the AMC dof values in their listed order (same composition rule),
``L = L_parent C M C^-1`` and the bone's end is ``end_parent + L (direction * length)``. The root
uses its ``orientation`` for C, the AMC RX RY RZ for M and the AMC TX TY TZ as its position.
Lengths and translations are multiplied by ``(1 / length_unit) * 2.54 / 100`` (inches -> metres;
``:units length 0.45`` in the CMU files).

CMU joint -> H36M-17 mapping (a CMU "joint" below is the end point of the named bone)::

    0 Hip        root position (pelvis centre)
    1 RHip       rhipjoint end   (= rfemur start)       4 LHip       lhipjoint end
    2 RKnee      rfemur end                              5 LKnee      lfemur end
    3 RAnkle     rtibia end      (= rfoot start)         6 LAnkle     ltibia end
    7 Spine      upperback end   (~0.23 m above the root; H36M's spine sits ~0.23 m above the hip)
    8 Thorax     lowerneck end   (base of the neck at shoulder height; thorax end is ~9 cm lower,
                                   below the shoulders)
    9 Neck/Nose  upperneck end   (top of the neck / head start)
    10 Head      head end        (top of the head)
    11 LShoulder lclavicle end   (= lhumerus start)      14 RShoulder rclavicle end
    12 LElbow    lhumerus end                            15 RElbow    rhumerus end
    13 LWrist    lradius end     (= lwrist start)        16 RWrist    rradius end

CMU's "l" bones are the subject's left, as H36M's L joints. World frame: CMU is Y-up; positions
are rotated by +90 degrees about X, ``(x, y, z)_cmu -> (x, -z, y)``, into the project's Z-up world
(``training.data.WORLD_FRAME``), a proper rotation, so left/right are preserved. Resampling from
the file rate (120 Hz) to 50 Hz is linear interpolation in time of the joint positions.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.data import WORLD_FRAME, MotionSequence
from training.data.cameras import euler_to_matrix

log = logging.getLogger(__name__)

CMU_FPS = 120.0
TARGET_FPS = 50.0
INCHES_TO_METRES = 2.54 / 100
# (x, y, z)_cmu (Y-up) -> (x, -z, y)_world (Z-up): rotation by +90 degrees about X.
CMU_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

# H36M joint index -> CMU bone whose end point is used ("root" = root position). See module docstring.
CMU_TO_H36M: tuple[str, ...] = (
    "root", "rhipjoint", "rfemur", "rtibia", "lhipjoint", "lfemur", "ltibia", "upperback", "lowerneck",
    "upperneck", "head", "lclavicle", "lhumerus", "lradius", "rclavicle", "rhumerus", "rradius",
)

_DOF_AXES = {"rx": "x", "ry": "y", "rz": "z"}


@dataclass
class AsfBone:
    id: int
    name: str
    direction: np.ndarray  # (3,) unit vector, skeleton (CMU, Y-up) frame
    length: float  # file units
    axis: np.ndarray  # (3,) degrees
    axis_order: str  # e.g. "XYZ"
    dof: tuple[str, ...] = ()  # e.g. ("rx", "ry", "rz")
    limits: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class AsfSkeleton:
    """A parsed ASF file. ``parents`` maps bone name -> parent name ("root" for the top bones)."""

    path: str
    name: str
    length_unit: float
    angle_unit: str
    root_order: tuple[str, ...]
    root_axis: str
    root_position: np.ndarray
    root_orientation: np.ndarray
    bones: dict[str, AsfBone]
    parents: dict[str, str]

    @property
    def metres_per_unit(self) -> float:
        return (1.0 / self.length_unit) * INCHES_TO_METRES

    def topological_order(self) -> list[str]:
        order, seen = [], {"root"}
        pending = list(self.parents)
        while pending:
            progressed = False
            for name in list(pending):
                if self.parents[name] in seen:
                    order.append(name)
                    seen.add(name)
                    pending.remove(name)
                    progressed = True
            if not progressed:
                raise ValueError(f"{self.path}: :hierarchy has a cycle or unknown parents for {pending}")
        return order


@dataclass
class AmcMotion:
    """A parsed AMC file: per bone, (frames, n_dof) values in the file's angle unit (degrees)."""

    path: str
    values: dict[str, np.ndarray]
    n_frames: int


def _err(path, line_no: int, message: str) -> ValueError:
    return ValueError(f"{path}:{line_no}: {message}")


def _floats(path, line_no: int, tokens: list[str], count: int, what: str) -> list[float]:
    if len(tokens) != count:
        raise _err(path, line_no, f"{what} needs {count} numbers, found {len(tokens)}: {' '.join(tokens)!r}")
    try:
        return [float(t) for t in tokens]
    except ValueError:
        raise _err(path, line_no, f"{what} has a value that is not a number: {' '.join(tokens)!r}") from None


def parse_asf(path: str | os.PathLike) -> AsfSkeleton:
    """Parse an Acclaim ASF skeleton file."""
    path = str(path)
    with open(path, encoding="latin-1") as f:
        lines = f.read().splitlines()
    section = None
    units: dict[str, str] = {}
    root: dict[str, object] = {}
    bones: dict[str, AsfBone] = {}
    parents: dict[str, str] = {}
    name = ""
    bone: dict | None = None
    bone_start = 0
    in_limits = False

    def finish_bone(line_no: int) -> None:
        missing = [k for k in ("id", "name", "direction", "length", "axis") if k not in bone]
        if missing:
            raise _err(path, bone_start, f"bone has no {', '.join(missing)} (block ends at line {line_no})")
        dof = tuple(bone.get("dof", ()))
        limits = bone.get("limits", [])
        if dof and len(limits) != len(dof):
            raise _err(path, line_no, f"bone {bone['name']!r} has {len(dof)} dof but {len(limits)} limits")
        bones[bone["name"]] = AsfBone(bone["id"], bone["name"], np.array(bone["direction"]), bone["length"],
                                      np.array(bone["axis"]), bone["axis_order"], dof, limits)

    for line_no, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        tokens = line.split()
        if line.startswith(":"):
            if bone is not None:
                raise _err(path, line_no, "new section before the bone block's 'end'")
            section = tokens[0][1:].lower()
            if section == "name" and len(tokens) > 1:
                name = tokens[1]
            continue
        if section == "units":
            if len(tokens) != 2:
                raise _err(path, line_no, f"units line must be '<key> <value>'; got {line!r}")
            units[tokens[0].lower()] = tokens[1]
        elif section == "root":
            key = tokens[0].lower()
            if key == "order":
                root["order"] = tuple(t.upper() for t in tokens[1:])
            elif key == "axis":
                root["axis"] = tokens[1].upper() if len(tokens) == 2 else ""
            elif key in ("position", "orientation"):
                root[key] = _floats(path, line_no, tokens[1:], 3, f"root {key}")
            else:
                raise _err(path, line_no, f"unknown :root entry {tokens[0]!r}")
        elif section == "bonedata":
            key = tokens[0].lower()
            if key == "begin":
                if bone is not None:
                    raise _err(path, line_no, "'begin' inside a bone block (missing 'end'?)")
                bone, bone_start, in_limits = {}, line_no, False
                continue
            if bone is None:
                raise _err(path, line_no, f"{tokens[0]!r} outside a begin/end bone block")
            if key == "end":
                finish_bone(line_no)
                bone = None
                continue
            if key == "limits" or (in_limits and line.startswith("(")):
                in_limits = True
                text = line[len("limits"):] if key == "limits" else line
                nums = text.replace("(", " ").replace(")", " ").split()
                lo_hi = _floats(path, line_no, nums, 2, "limits entry")
                bone.setdefault("limits", []).append(tuple(lo_hi))
                continue
            in_limits = False
            if key == "id":
                try:
                    bone["id"] = int(tokens[1])
                except (IndexError, ValueError):
                    raise _err(path, line_no, f"bone id must be an integer; got {line!r}") from None
            elif key == "name":
                if len(tokens) != 2:
                    raise _err(path, line_no, f"bone name must be one word; got {line!r}")
                bone["name"] = tokens[1]
            elif key == "direction":
                bone["direction"] = _floats(path, line_no, tokens[1:], 3, "direction")
            elif key == "length":
                bone["length"] = _floats(path, line_no, tokens[1:], 1, "length")[0]
            elif key == "axis":
                if len(tokens) != 5:
                    raise _err(path, line_no, f"axis must be 3 angles and an order (e.g. XYZ); got {line!r}")
                bone["axis"] = _floats(path, line_no, tokens[1:4], 3, "axis")
                bone["axis_order"] = tokens[4].upper()
            elif key == "dof":
                dof = [t.lower() for t in tokens[1:]]
                bad = [d for d in dof if d not in _DOF_AXES]
                if bad:
                    raise _err(path, line_no, f"unsupported dof {bad} (only rotations rx, ry, rz are supported)")
                bone["dof"] = dof
            elif key == "bodymass" or key == "cofmass":
                pass
            else:
                raise _err(path, line_no, f"unknown bone entry {tokens[0]!r}")
        elif section == "hierarchy":
            key = tokens[0].lower()
            if key in ("begin", "end"):
                continue
            for child in tokens[1:]:
                if child not in bones:
                    raise _err(path, line_no, f"hierarchy names unknown bone {child!r}")
                parents[child] = tokens[0]
            if tokens[0] != "root" and tokens[0] not in bones:
                raise _err(path, line_no, f"hierarchy names unknown bone {tokens[0]!r}")
    if bone is not None:
        raise _err(path, bone_start, "bone block without 'end'")
    if "length" not in units:
        raise _err(path, len(lines), "no ':units length' entry; add it (CMU files use 0.45)")
    if not bones or not parents:
        raise _err(path, len(lines), "no :bonedata or :hierarchy section; is this an ASF file?")
    orphans = [b for b in bones if b not in parents]
    if orphans:
        raise _err(path, len(lines), f"bones missing from :hierarchy: {orphans}")
    for key in ("order", "axis"):
        if key not in root:
            raise _err(path, len(lines), f":root has no {key!r} entry")
    try:
        length_unit = float(units["length"])
    except ValueError:
        raise _err(path, len(lines), f"units length is not a number: {units['length']!r}") from None
    skeleton = AsfSkeleton(path, name, length_unit, units.get("angle", "deg").lower(), root["order"], root["axis"],
                           np.array(root.get("position", [0, 0, 0]), float),
                           np.array(root.get("orientation", [0, 0, 0]), float), bones, parents)
    if skeleton.angle_unit not in ("deg", "degrees"):
        raise _err(path, len(lines), f"angle unit {skeleton.angle_unit!r} not supported; expected deg")
    skeleton.topological_order()
    return skeleton


def parse_amc(path: str | os.PathLike, skeleton: AsfSkeleton) -> AmcMotion:
    """Parse an AMC motion file against its skeleton (dof counts are checked per line)."""
    path = str(path)
    n_values = {name: len(b.dof) for name, b in skeleton.bones.items()}
    n_values["root"] = len(skeleton.root_order)
    rows: dict[str, list[list[float]]] = {name: [] for name, n in n_values.items() if n > 0}
    frame_count = 0
    expected_frame = None
    seen_in_frame: set[str] = set()
    line_no = 0

    def close_frame(line_no: int) -> None:
        missing = set(rows) - seen_in_frame
        if frame_count and missing:
            raise _err(path, line_no, f"frame {frame_count} lacks bones {sorted(missing)}")

    with open(path, encoding="latin-1") as f:
        for line_no, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#") or line.startswith(":"):
                continue
            tokens = line.split()
            if len(tokens) == 1:
                try:
                    number = int(tokens[0])
                except ValueError:
                    raise _err(path, line_no, f"expected a frame number or '<bone> <values>'; got {line!r}") from None
                close_frame(line_no)
                if expected_frame is not None and number != expected_frame:
                    raise _err(path, line_no, f"frame number {number} out of sequence (expected {expected_frame})")
                expected_frame = number + 1
                frame_count += 1
                seen_in_frame = set()
                continue
            bone = tokens[0]
            if frame_count == 0:
                raise _err(path, line_no, f"bone values before the first frame number: {line!r}")
            if bone not in n_values:
                raise _err(path, line_no, f"unknown bone {bone!r} (not in {skeleton.path})")
            if bone in seen_in_frame:
                raise _err(path, line_no, f"bone {bone!r} appears twice in frame {frame_count}")
            seen_in_frame.add(bone)
            values = _floats(path, line_no, tokens[1:], n_values[bone], f"bone {bone!r}")
            if bone in rows:
                rows[bone].append(values)
    close_frame(line_no if frame_count else 0)
    if frame_count == 0:
        raise _err(path, 0, "no frames found; is this an AMC file?")
    values = {name: np.asarray(r, dtype=np.float64) for name, r in rows.items()}
    for name, v in values.items():
        if not np.isfinite(v).all():
            bad = int(np.argwhere(~np.isfinite(v))[0, 0]) + 1
            raise ValueError(
                f"{path}: take rejected, bone {name!r} has NaN/inf values (first in frame {bad}); "
                "remove this take from the list or repair the file"
            )
    return AmcMotion(path, values, frame_count)


def forward_kinematics(skeleton: AsfSkeleton, motion: AmcMotion) -> dict[str, np.ndarray]:
    """World positions (T, 3), in metres and the CMU Y-up frame, of the root and of every bone's end."""
    scale = skeleton.metres_per_unit
    n = motion.n_frames
    root_vals = motion.values["root"]
    order = skeleton.root_order
    rot_channels = [i for i, c in enumerate(order) if c.startswith("R")]
    pos_channels = [order.index(f"T{a}") for a in "XYZ"]
    root_c = euler_to_matrix(skeleton.root_orientation, skeleton.root_axis)
    root_m = euler_to_matrix(root_vals[:, rot_channels], "".join(order[i][1] for i in rot_channels))
    global_rot = {"root": root_c @ root_m @ root_c.T}
    ends = {"root": root_vals[:, pos_channels] * scale}
    for name in skeleton.topological_order():
        bone = skeleton.bones[name]
        parent = skeleton.parents[name]
        c = euler_to_matrix(bone.axis, bone.axis_order)
        if bone.dof:
            m = euler_to_matrix(motion.values[name], "".join(_DOF_AXES[d] for d in bone.dof))
            rot = global_rot[parent] @ (c @ m @ c.T)
        else:
            rot = global_rot[parent] @ np.broadcast_to(c @ c.T, (n, 3, 3))
        global_rot[name] = rot
        offset = bone.direction * bone.length * scale
        ends[name] = ends[parent] + rot @ offset
    return ends


def resample(positions: np.ndarray, source_fps: float, target_fps: float) -> np.ndarray:
    """Linear interpolation in time of (T, ...) samples; returns floor((T-1) * target/source) + 1 frames."""
    n_in = len(positions)
    if n_in < 2 or source_fps == target_fps:
        return positions.copy()
    n_out = int(math.floor((n_in - 1) * target_fps / source_fps + 1e-9)) + 1
    t = np.arange(n_out) * (source_fps / target_fps)
    lo = np.minimum(np.floor(t).astype(np.int64), n_in - 2)
    w = (t - lo).reshape(-1, *([1] * (positions.ndim - 1)))
    return (1 - w) * positions[lo] + w * positions[lo + 1]


def cmu_to_h36m(ends: dict[str, np.ndarray]) -> np.ndarray:
    """Pick the 17 H36M joints (T, 17, 3) out of FK output, still in the CMU frame."""
    missing = [b for b in CMU_TO_H36M if b not in ends]
    if missing:
        raise ValueError(f"skeleton lacks bones {missing} needed for the H36M mapping; is it a CMU ASF?")
    return np.stack([ends[b] for b in CMU_TO_H36M], 1)


def load_cmu_take(asf_path: str | os.PathLike, amc_path: str | os.PathLike, fps: float = TARGET_FPS,
                  skeleton: AsfSkeleton | None = None) -> MotionSequence:
    """One CMU take -> :class:`MotionSequence` (H36M-17, metres, Z-up world, ``fps`` Hz)."""
    skeleton = skeleton or parse_asf(asf_path)
    motion = parse_amc(amc_path, skeleton)
    joints = cmu_to_h36m(forward_kinematics(skeleton, motion)) @ CMU_TO_WORLD.T
    joints = resample(joints, CMU_FPS, fps)
    take = Path(amc_path).stem
    subject = take.split("_")[0]
    return MotionSequence(name=f"cmu/{take}", subject=subject, fps=fps, positions=joints.astype(np.float32),
                          world_frame=WORLD_FRAME)


def load_cmu_subject(folder: str | os.PathLike, takes: list[str] | None = None,
                     fps: float = TARGET_FPS) -> list[MotionSequence]:
    """All takes (or the named ones, e.g. ["02_01"]) of one subject folder holding ``<id>.asf`` and ``*.amc``."""
    folder = Path(folder)
    asf_files = sorted(folder.glob("*.asf"))
    if len(asf_files) != 1:
        raise ValueError(f"{folder}: expected exactly one .asf skeleton file, found {len(asf_files)}")
    skeleton = parse_asf(asf_files[0])
    amc_files = sorted(folder.glob("*.amc"))
    if takes is not None:
        wanted = set(takes)
        amc_files = [p for p in amc_files if p.stem in wanted]
        if len(amc_files) != len(wanted):
            found = {p.stem for p in amc_files}
            raise ValueError(f"{folder}: takes {sorted(wanted - found)} not found")
    if not amc_files:
        raise ValueError(f"{folder}: no .amc motion files")
    sequences = [load_cmu_take(asf_files[0], amc, fps, skeleton) for amc in amc_files]
    log.info("loaded %d CMU takes from %s (%d frames at %g Hz)", len(sequences), folder,
             sum(len(s) for s in sequences), fps)
    return sequences

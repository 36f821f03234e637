"""BVH files: parsing, forward kinematics against hand-computed positions, units, names, errors, the source."""
import zlib

import numpy as np
import pytest

from training.data.bvh import (
    bvh_split,
    forward_kinematics,
    load_bvh,
    metres_per_unit,
    parse_bvh,
)
from training.data.clips import SourceConfig, build_sources
from training.data.cmu import CMU_TO_WORLD

CHAIN = """HIERARCHY
ROOT Hips
{{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition {root_order}
  JOINT Spine
  {{
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {{
      OFFSET 0 5 0
    }}
  }}
}}
MOTION
Frames: {frames}
Frame Time: 0.01
{rows}
"""


def chain(tmp_path, rows, root_order="Zrotation Xrotation Yrotation", name="chain.bvh"):
    path = tmp_path / name
    path.write_text(CHAIN.format(root_order=root_order, frames=len(rows), rows="\n".join(rows)))
    return path


def test_fk_matches_hand_computed_positions(tmp_path):
    bvh = parse_bvh(chain(tmp_path, ["1 2 3 0 0 0 90 0 0", "0 0 0 90 0 0 0 0 0", "0 0 0 90 90 0 0 0 0"]))
    assert bvh.names == ["Hips", "Spine", "Spine/end"] and bvh.fps == 100
    p = forward_kinematics(bvh)
    np.testing.assert_allclose(p[0], [[1, 2, 3], [1, 12, 3], [-4, 12, 3]], atol=1e-9)  # Spine turned 90 about z
    np.testing.assert_allclose(p[1], [[0, 0, 0], [-10, 0, 0], [-15, 0, 0]], atol=1e-9)  # the root turned instead
    # root Z 90 then X 90 in listed order: R = Rz Rx, so (0, 10, 0) -> Rx -> (0, 0, 10) -> Rz -> (0, 0, 10)
    np.testing.assert_allclose(p[2, 1], [0, 0, 10], atol=1e-9)
    swapped = forward_kinematics(parse_bvh(chain(tmp_path, ["0 0 0 90 90 0 0 0 0"], "Xrotation Zrotation Yrotation",
                                                 "swapped.bvh")))
    # channels now read X=90, Z=90: R = Rx Rz: (0, 10, 0) -> Rz -> (-10, 0, 0) -> Rx -> (-10, 0, 0)
    np.testing.assert_allclose(swapped[0, 1], [-10, 0, 0], atol=1e-9)


# A CMU-BVH-style skeleton (cm), its joint origins written out by hand: (name, parent, offset, end site)
CMU_BONES = [
    ("Hips", None, (0, 95, 0), None),
    ("LHipJoint", "Hips", (0, 0, 0), None), ("LeftUpLeg", "LHipJoint", (9, -8, 0), None),
    ("LeftLeg", "LeftUpLeg", (0, -42, 0), None), ("LeftFoot", "LeftLeg", (0, -40, 0), (0, -3, 10)),
    ("RHipJoint", "Hips", (0, 0, 0), None), ("RightUpLeg", "RHipJoint", (-9, -8, 0), None),
    ("RightLeg", "RightUpLeg", (0, -42, 0), None), ("RightFoot", "RightLeg", (0, -40, 0), (0, -3, 10)),
    ("LowerBack", "Hips", (0, 0, 0), None), ("Spine", "LowerBack", (0, 11, 0), None),
    ("Spine1", "Spine", (0, 12, 0), None), ("Neck", "Spine1", (0, 12, 0), None),
    ("Neck1", "Neck", (0, 8, 0), None), ("Head", "Neck1", (0, 8, 1), (0, 9, 0)),
    ("LeftShoulder", "Neck", (0, 0, 0), None), ("LeftArm", "LeftShoulder", (18, 4, 0), None),
    ("LeftForeArm", "LeftArm", (28, 0, 0), None), ("LeftHand", "LeftForeArm", (25, 0, 0), (8, 0, 0)),
    ("RightShoulder", "Neck", (0, 0, 0), None), ("RightArm", "RightShoulder", (-18, 4, 0), None),
    ("RightForeArm", "RightArm", (-28, 0, 0), None), ("RightHand", "RightForeArm", (-25, 0, 0), (-8, 0, 0)),
]
# H36M order -> joint origin (Head: the Head's end site)
H36M_FROM = ["Hips", "RightUpLeg", "RightLeg", "RightFoot", "LeftUpLeg", "LeftLeg", "LeftFoot", "Spine1", "Neck1",
             "Head", "Head/end", "LeftArm", "LeftForeArm", "LeftHand", "RightArm", "RightForeArm", "RightHand"]


ROOT_CHANNELS = "Xposition Yposition Zposition Zrotation Yrotation Xrotation"


def skeleton_text(bones, frames, prefix="", root_channels=ROOT_CHANNELS):
    children = {}
    for name, parent, *_ in bones:
        children.setdefault(parent, []).append(name)
    info = {b[0]: b for b in bones}
    lines = ["HIERARCHY"]

    def emit(name, depth):
        _, parent, offset, end = info[name]
        pad = "  " * depth
        channels = root_channels if parent is None else "Zrotation Xrotation Yrotation"
        lines.extend([f"{pad}{'ROOT' if parent is None else 'JOINT'} {prefix}{name}", f"{pad}{{",
                      f"{pad}  OFFSET {' '.join(map(str, offset if parent else (0, 0, 0)))}",
                      f"{pad}  CHANNELS {len(channels.split())} {channels}"])
        for child in children.get(name, []):
            emit(child, depth + 1)
        if end is not None:
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {' '.join(map(str, end))}", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(bones[0][0], 0)
    n_channels = 6 + 3 * (len(bones) - 1)
    rows = []
    for k in range(frames):
        values = np.zeros(n_channels)
        values[:3] = (k, 95, 0)  # the root walks along x, at its rest height
        rows.append(" ".join(f"{v:g}" for v in values))
    return "\n".join(lines + ["MOTION", f"Frames: {frames}", "Frame Time: 0.0083333333"] + rows) + "\n"


def rest_positions():
    origin = {}
    for name, parent, offset, end in CMU_BONES:
        origin[name] = np.array(offset, float) + (origin[parent] if parent else 0)
        if end is not None:
            origin[name + "/end"] = origin[name] + end
    return np.array([origin[n] for n in H36M_FROM])


def test_cmu_style_skeleton_maps_to_h36m_in_metres_z_up(tmp_path):
    path = tmp_path / "02_01.bvh"
    path.write_text(skeleton_text(CMU_BONES, 121))  # 1 s at 120 Hz
    motion = load_bvh(path, scale="cm")
    assert motion.positions.shape == (51, 17, 3) and motion.fps == 50 and motion.subject == "02"
    expected = (rest_positions() * 0.01) @ CMU_TO_WORLD.T
    np.testing.assert_allclose(motion.positions[0], expected, atol=1e-6)
    np.testing.assert_allclose(motion.positions[-1] - motion.positions[0], np.tile([1.2, 0, 0], (17, 1)), atol=1e-5)
    assert motion.positions[0, 10, 2] > motion.positions[0, 9, 2] > motion.positions[0, 8, 2]  # head above neck, z up
    assert motion.positions[0, 4, 0] > 0  # LHip at +x as written
    np.testing.assert_allclose(load_bvh(path).positions, motion.positions)  # auto: 170-unit body -> cm
    inches = tmp_path / "inch.bvh"
    inches.write_text(skeleton_text([(n, p, tuple(v / 2.54 for v in o), e and tuple(v / 2.54 for v in e))
                                     for n, p, o, e in CMU_BONES], 3))
    assert metres_per_unit(parse_bvh(inches), "auto") == pytest.approx(0.0254)
    z_up = load_bvh(inches, up="z", scale=2).positions[0]  # file axes kept, 2 m per unit
    rest = rest_positions()
    np.testing.assert_allclose(z_up - z_up[0], 2 * (rest - rest[0]) / 2.54, atol=1e-4)


def test_mixamo_prefixes_and_end_joints(tmp_path):
    mixamo = [(n.replace("Neck1", "Neck2"), p and p.replace("Neck1", "Neck2"), o, e) for n, p, o, e in CMU_BONES]
    mixamo = [b for b in mixamo if b[0] != "Head"] + [("Head", "Neck2", (0, 8, 1), None),
                                                         ("HeadTop_End", "Head", (0, 9, 0), (0, 1, 0))]
    path = tmp_path / "clip.bvh"
    path.write_text(skeleton_text(mixamo, 2, prefix="mixamorig:"))
    motion = load_bvh(path, scale="cm")
    assert motion.positions.shape == (1, 17, 3)  # 2 frames at 120 Hz -> 1 at 50 Hz
    rest = rest_positions()
    rest[8] -= (0, 8, 0)  # no Neck1 here: Thorax falls back to Neck
    np.testing.assert_allclose(motion.positions[0], (rest * 0.01) @ CMU_TO_WORLD.T, atol=1e-6)
    with pytest.raises(ValueError, match=r"clip\.bvh: no joint for Hip \(Pelvis\)"):
        load_bvh(path, name_map=["Pelvis"] + ["Spine"] * 16)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("HIERARCHY", "HIERARCHIE"), r":1: a BVH file starts with HIERARCHY"),
    (lambda t: t.replace("    OFFSET 0 10 0\n", ""), r":6: joint 'Spine' has no OFFSET"),
    (lambda t: t.replace("OFFSET 0 10 0", "OFFSET 0 1x 0"), r":8: OFFSET: '1x' is not a number"),
    (lambda t: t.replace("Zrotation Xrotation Yrotation\n    End", "Zrotation Xrotation Wrotation\n    End"),
     r":9: unknown channel 'Wrotation'"),
    (lambda t: t.replace("MOTION", "MOTON"), r":20: no MOTION section"),
    (lambda t: t.replace("Frames: 2", "Frames: 3"), r":20: Frames: 3 but the file has 2 frame lines"),
    (lambda t: t.replace("Frame Time: 0.01", "Frame Time: 0"), r":18: Frame Time must be > 0"),
    (lambda t: t.replace("0 0 0 0 0 0 0 0 0\n", "0 0 0 0 0 0 0 0\n"), r":19: frame 1 has 8 values; .* 9 channels"),
    (lambda t: t.replace("1 1 1 1 1 1 1 1 1", "1 1 1 1 __import__('os') 1 1 1 1"), r":20: frame 2: .* not a number"),
    (lambda t: t.replace("1 1 1 1 1 1 1 1 1", "1 1 nan 1 1 1 1 1 1"), r":20: frame 2: non-finite value 'nan'"),
    (lambda t: t.replace("  }\n}\nMOTION", "  }\nMOTION"), r":2: joint 'Hips' is never closed"),
    (lambda t: t.replace("CHANNELS 3", "CHANNELS three"), r":9: CHANNELS needs a count of 0-6"),
])
def test_malformed_files_name_file_and_line(tmp_path, edit, message):
    good = chain(tmp_path, ["0 0 0 0 0 0 0 0 0", "1 1 1 1 1 1 1 1 1"])
    parse_bvh(good)
    bad = tmp_path / "bad.bvh"
    bad.write_text(edit(good.read_text()))
    with pytest.raises(ValueError, match=r"bad\.bvh" + message):
        parse_bvh(bad)


def test_bvh_folder_source_splits_by_sequence(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    names = [f"{s:02d}_{t:02d}" for s in range(1, 4) for t in range(1, 5)]
    for n in names:
        (flat / f"{n}.bvh").write_text(skeleton_text(CMU_BONES, 130))
    test = {p.stem for p in bvh_split(flat, "test")}
    assert test == {n for n in names if zlib.crc32(n.encode()) % 5 == 0} and test
    assert {p.stem for p in bvh_split(flat, "train")} == set(names) - test
    views = build_sources(f"bvh:{flat}", split="test", config=SourceConfig(cameras_per_sequence=1,
                                                                           input_layout="coco"))
    assert sorted(v.name.split("@")[0] for v in views) == sorted(f"bvh/{n}" for n in test)
    assert {v.layout for v in views} == {"coco"}
    split = tmp_path / "split"
    for part in ("train", "test"):
        (split / part).mkdir(parents=True)
    (split / "train" / "a.bvh").write_text(skeleton_text(CMU_BONES, 5))
    assert [p.name for p in bvh_split(split, "train")] == ["a.bvh"]
    with pytest.raises(ValueError, match="no test .bvh files"):
        bvh_split(split, "test")

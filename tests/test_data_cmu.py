import numpy as np
import pytest

from training.data.cmu import (
    CMU_TO_WORLD,
    forward_kinematics,
    load_cmu_take,
    parse_amc,
    parse_asf,
    resample,
)


@pytest.fixture(scope="module")
def asf(cmu_root):
    return cmu_root / "02" / "02.asf"


@pytest.fixture(scope="module")
def walk_amc(cmu_root):
    return cmu_root / "02" / "02_01.amc"


@pytest.fixture(scope="module")
def skeleton(asf):
    return parse_asf(asf)


@pytest.fixture(scope="module")
def walk(asf, walk_amc):
    return load_cmu_take(asf, walk_amc)


def short_amc(walk_amc, tmp_path, frames=3, edit=None):
    """The header and first frames of 02_01.amc, optionally with one line replaced."""
    lines = walk_amc.read_text().splitlines()
    first_frames = next(i for i, line in enumerate(lines) if line.strip() == str(frames + 1))
    lines = lines[:first_frames]
    if edit:
        edit(lines)
    path = tmp_path / "02_99.amc"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_asf_parse(skeleton):
    assert len(skeleton.bones) == 30
    femur = skeleton.bones["lfemur"]
    assert femur.dof == ("rx", "ry", "rz") and femur.axis_order == "XYZ"
    assert femur.limits[0] == (-160.0, 20.0)
    np.testing.assert_allclose(femur.axis, [0, 0, 20])
    assert skeleton.parents["lfemur"] == "lhipjoint" and skeleton.parents["lowerback"] == "root"
    assert skeleton.metres_per_unit == pytest.approx((1 / 0.45) * 2.54 / 100)


def test_fk_bone_lengths_equal_asf_lengths_every_frame(skeleton, walk_amc):
    motion = parse_amc(walk_amc, skeleton)
    ends = forward_kinematics(skeleton, motion)
    for name, bone in skeleton.bones.items():
        start = ends[skeleton.parents[name]]
        length = np.linalg.norm(ends[name] - start, axis=-1)
        expected = bone.length * np.linalg.norm(bone.direction) * skeleton.metres_per_unit
        np.testing.assert_allclose(length, expected, rtol=1e-6, err_msg=name)


def test_resampling_gives_50_of_120(skeleton, walk, walk_amc):
    n_120 = parse_amc(walk_amc, skeleton).n_frames
    assert len(walk) == (n_120 - 1) * 50 // 120 + 1
    assert walk.fps == 50
    ramp = np.arange(121, dtype=float)[:, None]
    np.testing.assert_allclose(resample(ramp, 120, 50)[:, 0], np.arange(51) * 2.4)


def test_upright_and_walks_forward(walk):
    p = walk.positions
    assert p.shape[1:] == (17, 3) and walk.world_frame == "z-up"
    assert np.all(p[:, 10, 2] > p[:, 0, 2] + 0.4)  # head well above the hip centre
    assert np.all(p[:, [3, 6], 2].max(1) < p[:, 0, 2] - 0.5)  # ankles below the hips
    assert np.all(p[:, 8, 2] > p[:, 7, 2]) and np.all(p[:, 7, 2] > p[:, 0, 2])
    travel = p[-1, 0, :2] - p[0, 0, :2]
    assert np.linalg.norm(travel) > 2.0  # 02_01 is a walk


def test_left_joints_are_on_the_subjects_left(walk):
    p = walk.positions.astype(np.float64)
    forward = np.gradient(p[:, 0], axis=0)
    forward[:, 2] = 0
    left = np.cross([0.0, 0.0, 1.0], forward)  # subject's left = up x forward
    for l, r in ((4, 1), (11, 14), (5, 2)):
        side = np.einsum("ij,ij->i", p[:, l] - p[:, r], left)
        assert np.mean(side > 0) > 0.95, (l, r)


def test_world_rotation_is_proper():
    assert np.linalg.det(CMU_TO_WORLD) == pytest.approx(1.0)
    np.testing.assert_allclose(CMU_TO_WORLD @ [0, 1, 0], [0, 0, 1])  # CMU up -> world up


def test_malformed_asf_names_file_and_line(asf, tmp_path):
    lines = asf.read_text().splitlines()
    number = next(i for i, line in enumerate(lines) if line.strip().startswith("length 7.59371"))
    lines[number] = "     length seven"
    bad = tmp_path / "bad.asf"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"bad\.asf:{number + 1}: .*length"):
        parse_asf(bad)


def test_malformed_amc_names_file_and_line(walk_amc, tmp_path, skeleton):
    def corrupt(lines):
        i = next(k for k, line in enumerate(lines) if line.startswith("lfemur"))
        lines[i] = "lfemur 1.0 2.0"  # one value short
        corrupt.line = i + 1

    path = short_amc(walk_amc, tmp_path, edit=corrupt)
    with pytest.raises(ValueError, match=rf"02_99\.amc:{corrupt.line}: bone 'lfemur' needs 3"):
        parse_amc(path, skeleton)


def test_amc_unknown_bone(walk_amc, tmp_path, skeleton):
    path = short_amc(walk_amc, tmp_path, edit=lambda lines: lines.append("tail 1 2 3"))
    with pytest.raises(ValueError, match=r"02_99\.amc:\d+: unknown bone 'tail'"):
        parse_amc(path, skeleton)


def test_nan_rejects_the_take_by_name(asf, walk_amc, tmp_path, skeleton):
    def add_nan(lines):
        i = next(k for k, line in enumerate(lines) if line.startswith("rtibia"))
        lines[i] = "rtibia nan"

    path = short_amc(walk_amc, tmp_path, edit=add_nan)
    with pytest.raises(ValueError, match=r"02_99\.amc.*rejected.*rtibia"):
        load_cmu_take(asf, path)


def test_short_take_loads(asf, walk_amc, tmp_path):
    seq = load_cmu_take(asf, short_amc(walk_amc, tmp_path, frames=5))
    assert seq.name == "cmu/02_99" and seq.subject == "02" and len(seq) == 2

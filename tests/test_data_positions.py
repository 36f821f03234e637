"""Joint-position npz files: name mapping, units, axes, resampling, folders, the cmu-positions and real sources."""
import numpy as np
import pytest

from edgetokens.pose.skeleton import H36M_JOINT_NAMES, bone_lengths
from training.data.clips import SourceConfig, build_sources, positions_folder
from training.data.cmu import CMU_TO_H36M, CMU_TO_WORLD, load_cmu_subject
from training.data.positions import load_positions, load_positions_folder

# the 31 joint names of ../shared/data/cmu-positions, in its order
CMU31 = ("root lhipjoint lfemur ltibia lfoot ltoes rhipjoint rfemur rtibia rfoot rtoes lowerback upperback thorax "
         "lowerneck upperneck head lclavicle lhumerus lradius lwrist lhand lfingers lthumb rclavicle rhumerus "
         "rradius rwrist rhand rfingers rthumb").split()
RIGID = [0, 1, 2, 3, 4, 5, 8, 9, 11, 12, 14, 15]  # H36M bones that are one CMU bone (the others bend)


def write(path, frames=121, names=CMU31, fps=120.0, seed=0, body=False, **extra):
    """A file whose joint k sits at (k, frame, seed) in file units (every pick is recognisable), or with
    `body`, a small random figure 1 m above the floor (metres, z up: cameras can frame it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(frames, dtype=np.float32)
    positions = np.stack([np.stack([np.full_like(t, k), t, np.full_like(t, seed)], -1) for k in range(len(names))], 1)
    if body:
        rng = np.random.default_rng(seed)
        positions = (rng.normal(0, 0.3, (1, len(names), 3)) + rng.normal(0, 0.01, (frames, len(names), 3))
                     + [0, 0, 1]).astype(np.float32)
    arrays = {"positions": positions, "joint_names": np.array(names)} | extra
    if fps is not None:
        arrays["fps"] = np.float32(fps)
    np.savez(path, **arrays)
    return path


def test_joints_are_picked_by_name_whatever_the_file_order(tmp_path):
    shuffled = list(np.random.default_rng(0).permutation(CMU31))
    motion = load_positions(write(tmp_path / "walk" / "a.npz", names=shuffled), target_fps=120)
    expected = [shuffled.index(n) for n in CMU_TO_H36M]
    assert motion.positions.shape == (121, 17, 3) and motion.fps == 120
    np.testing.assert_array_equal(motion.positions[0, :, 0], expected)
    assert (motion.name, motion.subject) == ("a", "walk")


def test_resampled_to_50_hz_scaled_and_turned_z_up(tmp_path):
    path = write(tmp_path / "a.npz", frames=121)  # 1 s at 120 Hz
    motion = load_positions(path)
    assert motion.fps == 50 and len(motion) == 51
    np.testing.assert_allclose(motion.positions[:, 0, 1], np.arange(51) * 120 / 50, atol=1e-4)  # time axis
    y_up = load_positions(path, scale=0.01, up="y", target_fps=120)
    raw = load_positions(path, target_fps=120)
    np.testing.assert_allclose(y_up.positions, 0.01 * raw.positions @ CMU_TO_WORLD.T, atol=1e-6)


def test_users_files_with_their_own_names_and_rate(tmp_path):
    names = [f"j_{n}" for n in H36M_JOINT_NAMES[::-1]]  # reversed order, foreign names
    path = write(tmp_path / "mine.npz", frames=30, names=names, fps=None)
    with pytest.raises(ValueError, match="no frame rate"):
        load_positions(path, name_map=[f"j_{n}" for n in H36M_JOINT_NAMES])
    motion = load_positions(path, name_map=[("x", f"J_{n}") for n in H36M_JOINT_NAMES], fps=50)  # loose match
    np.testing.assert_array_equal(motion.positions[0, :, 0], np.arange(17)[::-1])
    with pytest.raises(ValueError, match=r"mine\.npz: no joint for Hip \(root\)"):
        load_positions(path, fps=50)


def test_malformed_files_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="not a readable npz"):
        (tmp_path / "junk.npz").write_bytes(b"not a zip")
        load_positions(tmp_path / "junk.npz")
    np.savez(tmp_path / "nokey.npz", joint_names=np.array(CMU31))
    with pytest.raises(ValueError, match=r"nokey\.npz: no 'positions' array"):
        load_positions(tmp_path / "nokey.npz")
    bad = write(tmp_path / "nan.npz")
    data = dict(np.load(bad))
    data["positions"][7, 3, 1] = np.nan
    np.savez(bad, **data)
    with pytest.raises(ValueError, match=r"nan\.npz: non-finite .* frame 7"):
        load_positions(bad)
    short = write(tmp_path / "short.npz", frames=5)
    np.savez(short, **(dict(np.load(short)) | {"joint_names": np.array(CMU31[:29])}))
    with pytest.raises(ValueError, match="joint_names must be 31 strings"):
        load_positions(short)
    np.savez(tmp_path / "obj.npz", positions=np.zeros((3, 31, 3)), joint_names=np.array(CMU31, dtype=object), fps=120)
    with pytest.raises(ValueError, match="obj.npz"):  # object arrays need pickle: refused
        load_positions(tmp_path / "obj.npz")


def test_folder_and_cmu_positions_source_keep_the_files_split(tmp_path):
    for split, files in (("train", ("run/r1", "walk/w1", "walk/w2")), ("test", ("walk/w9",))):
        for k, f in enumerate(files):
            write(tmp_path / split / f"{f}.npz", frames=300, seed=k, body=True)
    motions = load_positions_folder(tmp_path / "train", prefix="p/")
    assert [m.name for m in motions] == ["p/run/r1", "p/walk/w1", "p/walk/w2"]
    assert [m.subject for m in motions] == ["run", "walk", "walk"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .npz"):
        load_positions_folder(tmp_path / "empty")
    cfg = SourceConfig(cameras_per_sequence=2)
    train = build_sources("cmu-positions", str(tmp_path), seed=0, split="train", config=cfg)
    test = build_sources("cmu-positions", None, seed=0, split="test", config=SourceConfig(
        cameras_per_sequence=2, positions_root=str(tmp_path)))
    assert len(train) == 6 and [v.name for v in test] == ["cmu-positions/test/walk/w9@cam0",
                                                          "cmu-positions/test/walk/w9@cam1"]
    with pytest.raises(ValueError, match="holds train/ and test/"):
        build_sources("cmu-positions", str(tmp_path / "train"), split="test")


def test_positions_root_defaults_beside_the_cmu_root(tmp_path, monkeypatch):
    monkeypatch.delenv("EDGETOKENS_CMU_POSITIONS_ROOT", raising=False)
    monkeypatch.delenv("EDGETOKENS_CMU_ROOT", raising=False)
    assert positions_folder(SourceConfig(), tmp_path / "cmu-mocap") == tmp_path / "cmu-positions"
    assert positions_folder(SourceConfig(positions_root="/x")).as_posix() == "/x"
    monkeypatch.setenv("EDGETOKENS_CMU_POSITIONS_ROOT", str(tmp_path / "env"))
    assert positions_folder(SourceConfig(), tmp_path / "cmu-mocap") == tmp_path / "env"
    monkeypatch.delenv("EDGETOKENS_CMU_POSITIONS_ROOT")
    with pytest.raises(ValueError, match="--positions-root"):
        positions_folder(SourceConfig())


def test_shared_cmu_positions_use_cmu_02_bones_and_the_real_source_holds_out_03(shared_dir, cmu_root):
    root = shared_dir / "data" / "cmu-positions"
    reference = bone_lengths(load_cmu_subject(cmu_root / "02", ["02_01"], fps=120)[0].positions)[0]
    motion = load_positions(next(iter(sorted((root / "test").rglob("*.npz")))), target_fps=120)
    np.testing.assert_allclose(bone_lengths(motion.positions)[:, RIGID], np.broadcast_to(reference[RIGID],
                               (len(motion), len(RIGID))), atol=1e-3)  # names mapped to the right joints
    cfg = SourceConfig(cameras_per_sequence=1, cmu_takes=("03_01",), positions_root=str(root))
    test = build_sources("real", str(cmu_root), seed=0, split="test", config=cfg)
    parts = {v.name.split("/")[0] for v in test}
    assert parts == {"cmu", "cmu-positions"} and {v.subject for v in test if v.name.startswith("cmu/")} == {"03"}
    assert sum(v.name.startswith("cmu-positions/test/") for v in test) == 24  # the source's test files
    only = build_sources("cmu-positions", str(root), seed=0, split="test", config=SourceConfig(cameras_per_sequence=1))
    assert [v.name for v in only] == [v.name for v in test if v.name.startswith("cmu-positions/")]

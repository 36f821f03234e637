import numpy as np
import pytest
import torch

from edgetokens.pose.skeleton import flip_pose
from edgetokens.pose.windows import seq2seq_starts
from training.data.cameras import Camera, ViewSequence, look_at, project
from training.data.clips import ClipConfig, PoseClipDataset, SourceConfig, build_sources


def toy_view(n_frames, name="v", scores=True, seed=0):
    rng = np.random.default_rng(seed)
    cam = Camera(look_at((0, -4, 1.2), (0, 0, 1)), (0, -4, 1.2), (1145, 1145), (500, 500), 1000, 1000, "c")
    world = rng.normal(size=(n_frames, 17, 3)) * 0.3 + [0, 0, 1]
    pos_cam = (world - cam.position) @ cam.rotation.T
    kp = project(pos_cam, cam).astype(np.float32)
    sc = rng.uniform(0.5, 1, (n_frames, 17)).astype(np.float32) if scores else None
    return ViewSequence(name, "s", cam, kp, pos_cam.astype(np.float32), sc)


def test_eval_uses_official_windows_and_stitches_back():
    views = [toy_view(500), toy_view(100, "short"), toy_view(243, "exact")]
    ds = PoseClipDataset(views, ClipConfig(frames=243, train=False, flip=True))
    assert len(ds) == 3 + 1 + 1
    assert [ds[i]["start"] for i in ds.clip_indices(0)] == seq2seq_starts(500, 243).tolist()
    item = ds[0]
    assert item["input"].shape == (243, 17, 2) and item["target"].shape == (243, 17, 3)
    assert torch.all(item["target"][:, 0] == 0)  # root-relative
    torch.testing.assert_close(item["input_flipped"], flip_pose(item["input"]))
    assert abs(float(item["input"][114:, :, 0].mean())) < 1  # normalised coordinates
    outputs = torch.stack([ds[i]["target"] for i in ds.clip_indices(0)])
    stitched = ds.stitch(0, outputs)
    assert stitched.shape == (500, 17, 3)
    torch.testing.assert_close(stitched, torch.from_numpy(ds.targets[0]))


def test_short_sequences_are_padded_not_dropped():
    views = [toy_view(10, "tiny"), toy_view(1, "one")]
    for train in (True, False):
        ds = PoseClipDataset(views, ClipConfig(frames=27, train=train, flip=False))
        assert len(ds) == 2
        for i in range(2):
            item = ds[i]
            assert item["input"].shape == (27, 17, 2)
            real = ds.inputs[item["view"]]
            first = torch.from_numpy(real[0])
            assert any(torch.equal(item["input"][k], first) for k in range(27))


def test_train_random_offsets_flip_copies_and_reproducible():
    views = [toy_view(300, scores=True)]
    ds = PoseClipDataset(views, ClipConfig(frames=81, train=True, flip=True, with_scores=True, seed=3))
    n = len(seq2seq_starts(300, 81))
    assert len(ds) == 2 * n
    a, b = ds[0], ds[n]
    assert not a["flipped"] and b["flipped"]
    assert a["input"].shape == (81, 17, 3)
    torch.testing.assert_close(b["input"], flip_pose(a["input"]))
    torch.testing.assert_close(b["target"], flip_pose(a["target"]))
    starts = {ds[0]["start"]} | {(ds.set_epoch(e), ds[0]["start"])[1] for e in range(1, 8)}
    assert len(starts) > 1 and all(0 <= s <= 300 - 81 for s in starts)
    ds.set_epoch(2)
    first = ds[1]["start"]
    ds.set_epoch(2)
    assert ds[1]["start"] == first
    # score channel: the view's scores
    start = a["start"]
    np.testing.assert_allclose(a["input"][:, :, 2].numpy(), views[0].scores[start : start + 81])


def test_missing_nan_keypoints_become_zero_with_zero_score():
    v = toy_view(30)
    v.keypoints[5, 3] = np.nan
    ds = PoseClipDataset([v], ClipConfig(frames=30, train=False, flip=False, with_scores=True))
    x = ds[0]["input"]
    assert torch.isfinite(x).all() and x[5, 3, 2] == 0 and x[5, 3, 0] == 0


def test_build_synthetic_splits_differ_and_are_seeded():
    cfg = SourceConfig(cameras_per_sequence=2, synthetic_subjects={"train": 2, "test": 1},
                       synthetic_sequences_per_subject=2, synthetic_seconds=(2, 3))
    train = build_sources("synthetic", seed=0, split="train", config=cfg)
    again = build_sources("synthetic", seed=0, split="train", config=cfg)
    test = build_sources("synthetic", seed=0, split="test", config=cfg)
    assert len(train) == 2 * 2 * 2 and len(test) == 1 * 2 * 2
    assert {v.subject for v in train}.isdisjoint({v.subject for v in test})
    for x, y in zip(train, again):
        np.testing.assert_array_equal(x.keypoints, y.keypoints)
    ds = PoseClipDataset(train, ClipConfig(frames=27, train=True))
    assert len(ds) > 0 and torch.isfinite(ds[0]["input"]).all()


def test_build_cmu_split_and_env_var(cmu_root, monkeypatch):
    cfg = SourceConfig(cameras_per_sequence=1, cmu_takes=("02_03", "03_02"))
    train = build_sources("cmu", root=str(cmu_root), split="train", config=cfg)
    assert [v.subject for v in train] == ["02"]
    monkeypatch.setenv("EDGETOKENS_CMU_ROOT", str(cmu_root))
    test = build_sources("cmu", split="test", config=cfg)
    assert [v.subject for v in test] == ["03"]
    mix = build_sources("mix", split="test", config=SourceConfig(
        cameras_per_sequence=1, cmu_takes=("03_02",), synthetic_subjects={"train": 1, "test": 1},
        synthetic_sequences_per_subject=1, synthetic_seconds=(1, 2)))
    assert {v.subject for v in mix} == {"03", "syntest00"}


def test_build_sources_errors(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGETOKENS_CMU_ROOT", raising=False)
    with pytest.raises(ValueError, match="EDGETOKENS_CMU_ROOT"):
        build_sources("cmu")
    with pytest.raises(ValueError, match="unknown pose source"):
        build_sources("kinect")
    with pytest.raises(FileNotFoundError, match="data_3d_h36m"):
        build_sources(f"h36m:{tmp_path}")
    with pytest.raises(ValueError, match="no sequences"):
        PoseClipDataset([])


def test_h36m_source_from_written_files(tmp_path):
    from training.data.h36m import save_videopose3d

    cfg = SourceConfig(cameras_per_sequence=2, synthetic_subjects={"train": 1, "test": 1},
                       synthetic_sequences_per_subject=1, synthetic_seconds=(1, 2))
    views = build_sources("synthetic", split="train", config=cfg)
    for v in views:
        v.subject = "S1"
    save_videopose3d(tmp_path / "data_3d_h36m.npz", tmp_path / "data_2d_h36m_cpn_ft_h36m_dbb.npz", views)
    loaded = build_sources(f"h36m:{tmp_path}", split="train")
    assert len(loaded) == 2 and all(v.subject == "S1" for v in loaded)
    with pytest.raises(ValueError, match="S9"):
        build_sources(f"h36m:{tmp_path}", split="test")

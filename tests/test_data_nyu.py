import pickle

import cv2
import numpy as np
import pytest
import torch

from training.data.nyu import (
    DepthDataset,
    DepthDatasetConfig,
    DepthListFile,
    NYULabeledMat,
    RGBDFrames,
    decode_depth,
    load_nyu_splits,
    read_depth_png,
    rgbd_sample,
)

h5py = pytest.importorskip("h5py")

N, H, W = 5, 6, 8


def frames(n=N, height=H, width=W, seed=0):
    """RGB (n, H, W, 3) uint8 and depth (n, H, W) float32 metres with a few holes."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (n, height, width, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 9.5, (n, height, width)).astype(np.float32)
    depth[:, 0, 0] = 0.0
    return rgb, depth


def write_labeled_mat(path, rgb, depth, **extra):
    """The layout h5py sees in nyu_depth_v2_labeled.mat: MATLAB (H, W, C, N) read back as (N, C, W, H)."""
    with h5py.File(path, "w", userblock_size=512) as f:  # MATLAB v7.3 files start with a 512-byte header
        f["images"] = rgb.transpose(0, 3, 2, 1)
        f["depths"] = depth.transpose(0, 2, 1)
        for key, value in extra.items():
            f[key] = value


def write_splits(path, train, test):
    scipy_io = pytest.importorskip("scipy.io")
    scipy_io.savemat(str(path), {"trainNdxs": np.array(train, float)[:, None],
                                 "testNdxs": np.array(test, float)[:, None]})  # MATLAB column vectors, 1-based


@pytest.fixture
def nyu_dir(tmp_path):
    rgb, depth = frames()
    write_labeled_mat(tmp_path / "nyu_depth_v2_labeled.mat", rgb, depth)
    write_splits(tmp_path / "splits.mat", [1, 3, 5], [2, 4])
    return tmp_path, rgb, depth


def test_labeled_mat_round_trip_and_official_split(nyu_dir):
    folder, rgb, depth = nyu_dir
    test = NYULabeledMat(folder / "nyu_depth_v2_labeled.mat", split="test")
    assert len(test) == 2 and (test.height, test.width, test.num_frames) == (H, W, N)
    sample = test[1]  # 2nd test frame = MATLAB index 4 = frame 3
    assert sample.rgb.shape == (H, W, 3) and sample.rgb.dtype == np.uint8
    assert sample.depth.shape == (H, W) and sample.depth.dtype == np.float32
    np.testing.assert_array_equal(sample.rgb, rgb[3])
    np.testing.assert_array_equal(sample.depth, depth[3])
    assert sample.name.endswith("[3]")
    train = NYULabeledMat(folder / "nyu_depth_v2_labeled.mat", split="train")
    np.testing.assert_array_equal(train.indices, [0, 2, 4])
    assert len(NYULabeledMat(folder / "nyu_depth_v2_labeled.mat", split="all")) == N


def test_labeled_mat_survives_pickling_for_workers(nyu_dir):
    folder, rgb, _ = nyu_dir
    source = NYULabeledMat(folder / "nyu_depth_v2_labeled.mat", split="all")
    source[0]
    clone = pickle.loads(pickle.dumps(source))
    np.testing.assert_array_equal(clone[4].rgb, rgb[4])
    source.close()


def test_splits_file_location_and_formats(tmp_path, nyu_dir):
    folder, _, _ = nyu_dir
    (folder / "splits.mat").unlink()
    with pytest.raises(FileNotFoundError, match="splits.mat"):
        NYULabeledMat(folder / "nyu_depth_v2_labeled.mat", split="test")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with h5py.File(elsewhere / "my_splits.mat", "w") as f:  # a v7.3 splits file: h5py sees (1, K)
        f["trainNdxs"] = np.array([[1.0, 2.0, 3.0]])
        f["testNdxs"] = np.array([[4.0, 5.0]])
    source = NYULabeledMat(folder / "nyu_depth_v2_labeled.mat", split="test", splits_path=elsewhere / "my_splits.mat")
    np.testing.assert_array_equal(source.indices, [3, 4])


@pytest.mark.parametrize("train, test, message", [
    ([0, 1], [2], "1-based"),
    ([1, 2], [2, 3], "share 1 indices"),
    ([1, 2], [9], "index 9"),
])
def test_bad_splits_are_errors(tmp_path, train, test, message):
    write_splits(tmp_path / "splits.mat", train, test)
    with pytest.raises(ValueError, match=message):
        load_nyu_splits(tmp_path / "splits.mat", num_images=N)


def test_unreadable_splits_file_is_named(tmp_path):
    (tmp_path / "splits.mat").write_text("not a mat file")
    with pytest.raises(ValueError, match="splits.mat"):
        load_nyu_splits(tmp_path / "splits.mat")


def test_splits_missing_key_names_file_and_key(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    scipy_io.savemat(str(tmp_path / "splits.mat"), {"trainNdxs": np.array([[1.0]])})
    with pytest.raises(ValueError, match="splits.mat.*testNdxs"):
        load_nyu_splits(tmp_path / "splits.mat")


def test_malformed_labeled_files(tmp_path):
    rgb, depth = frames()
    path = tmp_path / "a.mat"
    with h5py.File(path, "w") as f:
        f["images"] = rgb.transpose(0, 3, 2, 1)
    with pytest.raises(ValueError, match="a.mat.*'depths'"):
        NYULabeledMat(path, split="all")
    path = tmp_path / "b.mat"
    write_labeled_mat(path, rgb, depth[:, :, :-1])
    with pytest.raises(ValueError, match="b.mat.*'depths' must be"):
        NYULabeledMat(path, split="all")
    path = tmp_path / "c.mat"
    path.write_bytes(b"MATLAB 5.0 MAT-file, not HDF5" + bytes(200))
    with pytest.raises(ValueError, match="c.mat.*not an HDF5"):
        NYULabeledMat(path, split="all")
    with pytest.raises(FileNotFoundError, match="missing.mat"):
        NYULabeledMat(tmp_path / "missing.mat", split="all")


def test_raw_depths_key(tmp_path):
    rgb, depth = frames()
    raw = depth.copy()
    raw[:, 2, 3] = 0.0
    write_labeled_mat(tmp_path / "nyu.mat", rgb, depth, rawDepths=raw.transpose(0, 2, 1))
    source = NYULabeledMat(tmp_path / "nyu.mat", split="all", depth_key="rawDepths")
    assert source[2].depth[2, 3] == 0.0 and source[2].depth[4, 5] == depth[2, 4, 5]


# --- PNG list files --------------------------------------------------------------------------------
def write_pair(root, scene, index, rgb, depth_m):
    folder = root / scene
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / f"rgb_{index:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(folder / f"sync_depth_{index:05d}.png"), np.round(depth_m * 1000).astype(np.uint16))
    return f"/{scene}/rgb_{index:05d}.png", f"/{scene}/sync_depth_{index:05d}.png"


@pytest.fixture
def list_dir(tmp_path):
    rgb, depth = frames(n=3)
    lines = ["# BTS-style list", ""]
    for i in range(3):
        rgb_rel, depth_rel = write_pair(tmp_path / "data", f"kitchen_{i}", i, rgb[i], depth[i])
        lines.append(f"{rgb_rel} {depth_rel} 518.8579")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    return tmp_path, rgb, depth


def test_list_file_round_trip(list_dir):
    folder, rgb, depth = list_dir
    source = DepthListFile(folder / "list.txt", root=folder / "data")
    assert len(source) == 3
    sample = source[2]
    np.testing.assert_array_equal(sample.rgb, rgb[2])  # RGB order, not OpenCV's BGR
    np.testing.assert_allclose(sample.depth, np.round(depth[2] * 1000) / 1000, atol=1e-6)
    assert sample.depth[0, 0] == 0.0 and sample.focal == pytest.approx(518.8579)
    assert sample.name == "kitchen_2/rgb_00002.png"


@pytest.mark.parametrize("bad_line, error, message", [
    ("/kitchen_0/rgb_00000.png None 518.8579", ValueError, "list.txt:2: no depth path"),
    ("/kitchen_0/rgb_00000.png", ValueError, "list.txt:2: no depth path"),
    ("/kitchen_0/rgb_00000.png /kitchen_0/nope.png 518.8", FileNotFoundError, "list.txt:2: .*nope.png does not exist"),
    ("/kitchen_0/rgb_00000.png /kitchen_0/sync_depth_00000.png f=518", ValueError, "list.txt:2: focal"),
    ("a b c d", ValueError, "list.txt:2: expected"),
])
def test_list_file_errors_name_file_and_line(list_dir, bad_line, error, message):
    folder, _, _ = list_dir
    good = "/kitchen_1/rgb_00001.png /kitchen_1/sync_depth_00001.png 518.8579"
    (folder / "list.txt").write_text(f"{good}\n{bad_line}\n")
    with pytest.raises(error, match=message):
        DepthListFile(folder / "list.txt", root=folder / "data")


def test_list_file_bad_images_name_line_and_file(list_dir):
    folder, _, _ = list_dir
    data = folder / "data"
    cv2.imwrite(str(data / "kitchen_0" / "sync_depth_00000.png"), np.zeros((H, W), np.uint8))  # 8-bit: wrong
    cv2.imwrite(str(data / "kitchen_1" / "sync_depth_00001.png"), np.ones((H, W + 1), np.uint16))
    source = DepthListFile(folder / "list.txt", root=data)
    with pytest.raises(ValueError, match="list.txt:3: .*sync_depth_00000.png.*16-bit"):
        source[0]
    with pytest.raises(ValueError, match="list.txt:4: .*registered"):
        source[1]


def test_depth_decodings():
    raw = np.array([[0, 8000, 65535, 12345]], np.uint16)
    np.testing.assert_allclose(decode_depth(raw, "mm"), [[0, 8.0, 0, 12.345]], rtol=1e-6)
    np.testing.assert_allclose(decode_depth(raw, "mm8"), [[0, 1.0, 0, 12345 / 8000]], rtol=1e-6)
    stored = np.array([[2500 << 3, (9000 << 3 & 0xFFFF) | (9000 >> 13)]], np.uint16)  # SUN RGB-D: rotl(mm, 3)
    np.testing.assert_allclose(decode_depth(stored, "sunrgbd"), [[2.5, 9.0]], rtol=1e-6)
    with pytest.raises(ValueError, match="unknown depth encoding"):
        decode_depth(raw, "cm")


# --- the real frame ----------------------------------------------------------------------------------
def test_real_rgbd_sample_decodes_to_a_plausible_room(shared_dir):
    folder = shared_dir / "data" / "rgbd-sample"
    sample = rgbd_sample(folder)[0]
    assert sample.rgb.shape == (424, 512, 3) and sample.rgb.dtype == np.uint8
    assert sample.depth.shape == (424, 512) and sample.depth.dtype == np.float32
    raw = cv2.imread(str(folder / "sample_depth.png"), cv2.IMREAD_UNCHANGED)
    assert 0.10 < np.mean(raw == 0) < 0.125  # edgetokens/assets/README.md's "about 11%" sensor holes
    assert 0.10 < np.mean(sample.depth == 0) < 0.13  # plus the 0.7% saturated (65535) readings
    valid = sample.depth[sample.depth > 0]
    assert np.mean((valid > 0.5) & (valid < 10.0)) > 0.99
    assert 1.5 < np.median(valid) < 5.0
    lo, hi = np.percentile(valid, [1, 99])
    assert 0.5 < lo and hi < 10.0
    # the alternatives are not a room: plain millimetres and the SUN RGB-D bit rotation put it at 20-35 m
    assert np.median(read_depth_png(folder / "sample_depth.png", "mm")[raw > 0]) > 10
    assert np.median(read_depth_png(folder / "sample_depth.png", "sunrgbd")[raw > 0]) > 10


# --- torch dataset -----------------------------------------------------------------------------------
def test_dataset_items_full_frames_and_ait_crop(nyu_dir):
    folder, rgb, depth = nyu_dir
    source = NYULabeledMat(folder / "nyu_depth_v2_labeled.mat", split="all")
    item = DepthDataset(source)[1]
    assert item["image"].dtype == torch.uint8 and item["image"].shape == (3, H, W)
    assert item["depth"].dtype == torch.float32 and item["depth"].shape == (H, W)
    assert item["source"] == "nyu_labeled_all"
    np.testing.assert_array_equal(item["image"].permute(1, 2, 0).numpy(), rgb[1])
    square = DepthDataset(source, DepthDatasetConfig(size=H))[1]  # short side already H: crop only (AiT 480x480)
    np.testing.assert_array_equal(square["depth"].numpy(), depth[1][:, 1:7])


def test_dataset_resize_keeps_depth_values_and_holes(list_dir):
    folder, _, _ = list_dir
    source = DepthListFile(folder / "list.txt", root=folder / "data")
    dataset = DepthDataset(source, DepthDatasetConfig(size=4))
    item = dataset[0]
    assert item["image"].shape == (3, 4, 4) and item["depth"].shape == (4, 4)
    assert set(np.unique(item["depth"].numpy())) <= set(np.unique(source[0].depth))  # nearest: no new values
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=2)))
    assert batch["image"].shape == (2, 3, 4, 4) and batch["focal"].shape == (2,)


def test_dataset_random_crop_and_flip_are_seeded(tmp_path):
    rgb, depth = frames(n=1, height=40, width=60)
    rgb_rel, depth_rel = write_pair(tmp_path, "room", 0, rgb[0], depth[0])
    source = RGBDFrames([(tmp_path / rgb_rel.lstrip("/"), tmp_path / depth_rel.lstrip("/"))], name="room")
    dataset = DepthDataset(source, DepthDatasetConfig(size=40, random_crop=True, hflip=True, seed=3))
    first = dataset[0]["depth"]
    assert torch.equal(first, dataset[0]["depth"])
    crops = []
    for epoch in range(8):
        dataset.set_epoch(epoch)
        crops.append(dataset[0]["depth"].numpy())
    assert any(not np.array_equal(c, crops[0]) for c in crops)
    reference = np.round(depth[0] * 1000) / 1000
    windows = [reference[:, x:x + 40] for x in range(21)]
    for crop in crops:  # every crop is a window of the frame, possibly mirrored
        assert any(np.allclose(crop, w, atol=1e-6) or np.allclose(crop, w[:, ::-1], atol=1e-6) for w in windows)


def test_dataset_on_real_sample(shared_dir):
    dataset = DepthDataset(rgbd_sample(shared_dir / "data" / "rgbd-sample"), DepthDatasetConfig(size=256))
    item = dataset[0]
    assert item["image"].shape == (3, 256, 256) and item["source"] == "rgbd_sample"
    hole_share = float((item["depth"] == 0).float().mean())
    assert 0.03 < hole_share < 0.3

"""`edgetokens predict | export | devices | benchmark` and the keypoint file formats they read."""
import json

import cv2
import numpy as np
import pytest
import torch

from edgetokens import create_model
from edgetokens.checkpoint import save_checkpoint
from edgetokens.cli import main
from edgetokens.keypoints_io import load_keypoints
from runtimes.manifest import read_manifest

SIZE = (1000, 1000)


@pytest.fixture(autouse=True)
def isolated_cache(cache, monkeypatch):
    monkeypatch.setenv("EDGETOKENS_CACHE", str(cache))


def walking_keypoints(frames: int = 30) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.uniform(350, 650, (1, 17, 2))
    return base + 5 * np.sin(np.arange(frames) / 5)[:, None, None]


def test_keypoint_formats_agree(tmp_path):
    kp = walking_keypoints(12)
    scores = np.full((12, 17), 0.9)
    np.save(tmp_path / "a.npy", np.concatenate([kp, scores[..., None]], -1))
    np.savez(tmp_path / "b.npz", keypoints=kp, scores=scores, image_size=np.array(SIZE))
    coco = [{"image_id": t, "keypoints": np.concatenate([kp[t], scores[t, :, None]], -1).ravel().tolist()}
            for t in range(12) if t != 4]  # frame 4: nobody detected
    coco.append({"image_id": 7, "keypoints": [1.0] * 51})  # a second person in frame 7, scores 1.0 > 0.9: chosen
    (tmp_path / "c.json").write_text(json.dumps(coco))
    mmpose = {"instance_info": [{"frame_id": t + 1, "instances": [
        {"keypoints": kp[t].tolist(), "keypoint_scores": scores[t].tolist()},
        {"keypoints": (kp[t] + 100).tolist(), "keypoint_scores": [0.1] * 17}]} for t in range(12)]}
    (tmp_path / "d.json").write_text(json.dumps(mmpose))
    a, b, c, d = (load_keypoints(tmp_path / f) for f in ("a.npy", "b.npz", "c.json", "d.json"))
    assert np.allclose(a.keypoints, kp) and np.allclose(a.scores, scores) and a.layout is None
    assert b.image_size == SIZE and np.allclose(b.keypoints, kp)
    assert c.layout == "coco" and np.isnan(c.keypoints[4]).all() and (c.scores[4] == 0).all()
    assert np.allclose(c.keypoints[7], 1.0) and np.allclose(c.keypoints[3], kp[3])
    assert np.allclose(d.keypoints, kp) and np.allclose(d.scores, scores)  # the stronger person wins
    (tmp_path / "bad.json").write_text(json.dumps([{"keypoints": [1, 2, 3]}]))
    with pytest.raises(ValueError, match="51 numbers"):
        load_keypoints(tmp_path / "bad.json")
    (tmp_path / "a.txt").write_text("")
    with pytest.raises(ValueError, match="unsupported keypoint file"):
        load_keypoints(tmp_path / "a.txt")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_keypoints(tmp_path / "missing.npy")


@pytest.mark.slow
def test_predict_pose_file(hot_checkpoint, tmp_path, capsys):
    kp = walking_keypoints(30)
    np.save(tmp_path / "kp.npy", kp)
    assert main(["predict", str(hot_checkpoint), str(tmp_path / "kp.npy"), "--out", str(tmp_path / "pose.json")]) == 2
    assert "pass --image-size" in capsys.readouterr().err
    assert main(["predict", str(hot_checkpoint), str(tmp_path / "kp.npy"), "--image-size", "1000", "1000",
                 "--out", str(tmp_path / "pose.json")]) == 0
    saved = json.loads((tmp_path / "pose.json").read_text())
    poses = np.array(saved["poses_3d"])
    assert poses.shape == (30, 17, 3) and np.allclose(poses[:, 0], 0) and saved["layout"] == "h36m"
    from edgetokens import Predictor

    direct = Predictor(hot_checkpoint).predict(kp, image_size=SIZE).poses_3d
    assert np.abs(poses - direct).max() < 1e-4
    assert main(["predict", str(hot_checkpoint), str(tmp_path / "kp.npy"), "--image-size", "1000", "1000",
                 "--out", str(tmp_path / "pose.npz")]) == 0
    assert np.load(tmp_path / "pose.npz")["poses_3d"].shape == (30, 17, 3)


@pytest.mark.slow
def test_predict_depth_and_export(tmp_path, capsys):
    torch.manual_seed(0)
    model = create_model("ait-depth", image_size=64)
    model.vqvae.decoder[-1].bias.data.fill_(2.5)
    checkpoint = save_checkpoint(model, tmp_path / "ait")
    image = np.random.default_rng(0).integers(0, 255, (90, 120, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "room.png"), image)
    assert main(["predict", str(checkpoint), str(tmp_path / "room.png"), "--out", str(tmp_path / "d.png"),
                 "--colormap", str(tmp_path / "c.png")]) == 0
    depth_mm = cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED)
    assert depth_mm.dtype == np.uint16 and depth_mm.shape == (90, 120) and depth_mm.min() > 500
    assert cv2.imread(str(tmp_path / "c.png")).shape == (90, 120, 3)
    assert main(["predict", str(checkpoint), str(tmp_path / "room.png"), "--out", str(tmp_path / "d.npy")]) == 0
    assert np.abs(np.load(tmp_path / "d.npy") * 1000 - depth_mm).max() <= 0.5 + 1e-3
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "bundle")]) == 0
    manifest = read_manifest(tmp_path / "bundle")
    assert manifest.task == "depth" and manifest.precisions() == ["fp32", "fp16"]
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "bundle")]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_devices_and_benchmark_delegation(capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "openvino" in out and "CPUExecutionProvider" in out and "npu   -> unavailable here" in out
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "--help"])
    assert exit_info.value.code == 0 and "--precisions" in capsys.readouterr().out

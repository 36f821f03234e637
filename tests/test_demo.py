"""`edgetokens demo` and the shipped held-out clip it runs on."""
import cv2
import numpy as np
import pytest
import torch

import edgetokens.zoo as zoo
from edgetokens import create_model
from edgetokens.checkpoint import save_checkpoint
from edgetokens.cli import main
from edgetokens.demo import ASSET, load_clip
from edgetokens.assets import WALKING_CLIP
from edgetokens.video_frames import FrameReader
from training.demo_clip import make_clip
from training.demo_video_clip import make_clip as make_video_clip


def decoded(path, stop=None):
    return np.stack([frame for _, frame in FrameReader(path, max_frames=stop)])


def test_shipped_video_clip_is_the_documented_excerpt(shared_dir, tmp_path):
    source = shared_dir / "data" / "videos" / "one-by-one-person-detection.mp4"
    made = decoded(make_video_clip(source, out=tmp_path / "clip.mp4"))
    shipped = decoded(WALKING_CLIP)
    assert shipped.shape == made.shape == (120, 432, 768, 3)
    assert np.abs(shipped.astype(int) - made).max() <= 2  # the same frames through the same codec
    original = decoded(source, stop=151)[150:]  # the excerpt starts at frame 150 (mp4v re-encoding: close, not equal)
    assert np.abs(shipped[:1].astype(float) - original).mean() < 4


def test_shipped_clip_is_the_documented_take(shared_dir, tmp_path):
    made = load_clip(make_clip(str(shared_dir / "data" / "cmu-mocap"), out=tmp_path / "clip.npz"))
    shipped = load_clip(ASSET)
    assert shipped["keypoints"].shape == made["keypoints"].shape == (1901, 17, 2)
    np.testing.assert_array_equal(shipped["poses_3d"], made["poses_3d"])
    assert "mocap.cs.cmu.edu" in str(shipped["credit"])


@pytest.mark.slow
def test_demo_runs_every_cpu_backend(monkeypatch, tmp_path, capsys):
    torch.manual_seed(0)
    save_checkpoint(create_model("hot-mixste"), tmp_path / "weights" / "hot-mixste")
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setenv("EDGETOKENS_CACHE", str(tmp_path / "cache"))
    assert main(["demo", "--repeats", "2", "--stream-frames", "90", "--out", str(tmp_path / "media")]) == 0
    out = capsys.readouterr().out
    assert "MPJPE" in out and "1901 frames" in out and "streaming 90 frames" in out
    picture = cv2.imread(str(tmp_path / "media" / "hot-mixste_pose.png"))
    assert picture.shape == (360, 3 * 360, 3) and picture.std() > 5  # 2D | camera view | side view
    video = cv2.VideoCapture(str(tmp_path / "media" / "hot-mixste_pose.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 150 and video.read()[1].shape == picture.shape
    assert "no shipped depth weights yet" in out and "wrote " in out
    assert "video -> 3D on walking_clip.mp4 (120 frames, 768x432" in out and "CC BY 4.0" in out
    video = cv2.VideoCapture(str(tmp_path / "media" / "hot-mixste_video.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 120
    for backend in ("openvino:CPU", "onnxruntime:cpu", "torch:cpu"):
        assert backend in out


@pytest.mark.slow
def test_depth_demo_runs_when_depth_weights_are_shipped(monkeypatch, tmp_path, capsys):
    from edgetokens.demo import depth_demo

    torch.manual_seed(0)
    model = create_model("ait-depth", image_size=64)
    model.vqvae.decoder[-1].bias.data.fill_(2.5)
    save_checkpoint(model, tmp_path / "weights" / "ait-depth")
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setenv("EDGETOKENS_CACHE", str(tmp_path / "cache"))
    files = depth_demo(tmp_path / "media")
    assert "RMSE" in capsys.readouterr().out
    assert cv2.imread(str(files[0])).shape == (424, 3 * 512, 3)  # RGB | sensor depth | prediction

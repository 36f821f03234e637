"""Every script in examples/ runs on a tiny input (a camera aside: the webcam example replays a file)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from edgetokens import create_model
from edgetokens.checkpoint import save_checkpoint

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(script: str, *args, env=None) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def env(cache):
    return {**os.environ, "EDGETOKENS_CACHE": str(cache), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def coco_json(tmp_path_factory):
    rng = np.random.default_rng(0)
    base = rng.uniform(400, 600, (17, 2))
    detections = [{"image_id": t, "keypoints": np.concatenate(
        [base + 10 * np.sin(t / 4), np.full((17, 1), 0.9)], axis=1).ravel().tolist()} for t in range(40)]
    path = tmp_path_factory.mktemp("kp") / "walk.json"
    path.write_text(json.dumps(detections))
    return path


@pytest.mark.slow
def test_pose_from_keypoints(hot_checkpoint, coco_json, tmp_path, env):
    out = run("pose_from_keypoints.py", coco_json, "--image-size", 1000, 1000, "--model", hot_checkpoint,
              "--out", tmp_path / "poses.json", env=env)
    poses = np.array(json.loads((tmp_path / "poses.json").read_text())["poses_3d"])
    assert poses.shape == (40, 17, 3) and "40 frames" in out


def test_video_to_3d_from_a_keypoint_file(hot_checkpoint, coco_json, tmp_path, env):
    video = tmp_path / "walk.mp4"
    # the size the keypoints (400-610 px) were detected in: far-off keypoints are refused
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 480))
    for t in range(40):
        writer.write(np.full((480, 640, 3), 20 + t, np.uint8))
    writer.release()
    run("video_to_3d.py", video, "--keypoints", coco_json, "--model", hot_checkpoint, "--out", tmp_path / "o.mp4",
        "--json", tmp_path / "o.json", env=env)
    capture = cv2.VideoCapture(str(tmp_path / "o.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 40
    assert capture.read()[1].shape == (360, 480 + 360, 3)  # frame scaled to 360 px high | 3D panel


def test_video_to_3d_with_blazepose_offline(hot_checkpoint, tmp_path, env):
    from edgetokens.assets import WALKING_CLIP

    run("video_to_3d.py", WALKING_CLIP, "--model", hot_checkpoint, "--out", tmp_path / "o.mp4",
        "--json", tmp_path / "o.json", env=env)
    capture = cv2.VideoCapture(str(tmp_path / "o.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 120
    frames = json.loads((tmp_path / "o.json").read_text())["per_frame"]
    found = [f["found"] for f in frames]
    assert len(frames) == 120 and 0 < sum(found) < 120  # the clip has a person, then an empty room
    assert all((f["pose_3d"] is None) == (not f["found"]) for f in frames)


def test_webcam_stream_replays_a_video(hot_checkpoint, env):
    from edgetokens.assets import WALKING_CLIP

    out = run("webcam_stream.py", "--video", WALKING_CLIP, "--stride", 2, "--model", hot_checkpoint,
              "--frames", 30, env=env)
    assert "30 frames streamed (a person in 30)" in out and "stride 2" in out


@pytest.mark.slow
def test_depth_from_image(tmp_path, env):
    torch.manual_seed(0)
    model = create_model("ait-depth", image_size=64)
    model.vqvae.decoder[-1].bias.data.fill_(2.5)
    checkpoint = save_checkpoint(model, tmp_path / "ait")
    cv2.imwrite(str(tmp_path / "room.png"), np.random.default_rng(0).integers(0, 255, (80, 100, 3), np.uint8))
    run("depth_from_image.py", tmp_path / "room.png", "--model", checkpoint, "--out", tmp_path / "d.png",
        "--colormap", tmp_path / "c.png", env=env)
    assert cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED).shape == (80, 100)
    assert cv2.imread(str(tmp_path / "c.png")).shape == (80, 100, 3)


def test_benchmark_devices(hot_checkpoint, tmp_path, env):
    out = run("benchmark_devices.py", "--models", hot_checkpoint, "--devices", "cpu,npu", "--precisions", "fp32",
              "--repeats", 2, "--md", tmp_path / "b.md", env=env)
    table = (tmp_path / "b.md").read_text()
    assert "unavailable" in out and "| cpu | fp32 |" in table and "| eager | fp32 |" in table

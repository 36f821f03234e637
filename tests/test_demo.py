"""`edgetokens demo` and the shipped held-out clip it runs on."""
import numpy as np
import torch

import edgetokens.zoo as zoo
from edgetokens import create_model
from edgetokens.checkpoint import save_checkpoint
from edgetokens.cli import main
from edgetokens.demo import ASSET, load_clip
from training.demo_clip import make_clip


def test_shipped_clip_is_the_documented_take(shared_dir, tmp_path):
    made = load_clip(make_clip(str(shared_dir / "data" / "cmu-mocap"), out=tmp_path / "clip.npz"))
    shipped = load_clip(ASSET)
    assert shipped["keypoints"].shape == made["keypoints"].shape == (1901, 17, 2)
    np.testing.assert_array_equal(shipped["poses_3d"], made["poses_3d"])
    assert "mocap.cs.cmu.edu" in str(shipped["credit"])


def test_demo_runs_every_cpu_backend(monkeypatch, tmp_path, capsys):
    torch.manual_seed(0)
    save_checkpoint(create_model("hot-mixste"), tmp_path / "weights" / "hot-mixste")
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setenv("EDGETOKENS_CACHE", str(tmp_path / "cache"))
    assert main(["demo", "--repeats", "2", "--stream-frames", "90"]) == 0
    out = capsys.readouterr().out
    assert "MPJPE" in out and "1901 frames" in out and "streaming 90 frames" in out
    for backend in ("openvino:CPU", "onnxruntime:cpu", "torch:cpu"):
        assert backend in out

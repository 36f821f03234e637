"""The trained defaults inside the package: each loads, and reproduces the accuracy its card records."""
import cv2
import numpy as np
import pytest
import torch

from edgetokens import Predictor, zoo
from edgetokens.demo import RGBD_SAMPLE
from edgetokens.vision.depth import depth_metrics
from edgetokens.vision.depth_io import RGBD_SAMPLE_ENCODING, read_depth_png

SHIPPED = zoo.list_pretrained()


def test_the_four_pose_defaults_and_the_depth_default_are_shipped():
    assert {"hot-mixste", "mixste", "hot-motionbert", "motionbert", "ait-depth"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_card_records_its_measured_accuracy(name):
    info = zoo.pretrained_info(name)
    model = zoo.load_pretrained(name)
    assert info["facts"]["params"] == sum(p.numel() for p in model.parameters())
    assert info["metrics"]["epoch"] >= 1 and info["trained_revision"]
    for split in info["evaluation"].values():
        assert all(np.isfinite(v) for v in split.values())


def test_shipped_depth_model_reproduces_its_recorded_real_frame_rmse(tmp_path):
    torch.set_num_threads(1)
    recorded = zoo.pretrained_info("ait-depth")["evaluation"]["rgbd_sample"]["rmse"]
    bgr = cv2.imread(str(RGBD_SAMPLE / "sample_rgb.png"))
    truth = read_depth_png(RGBD_SAMPLE / "sample_depth.png", RGBD_SAMPLE_ENCODING)
    result = Predictor("ait-depth", device="torch:cpu", cache_dir=tmp_path).predict(bgr)
    assert result.depth.shape == truth.shape
    rmse = depth_metrics(result.depth, truth, eigen_crop=False)["rmse"]
    assert rmse == pytest.approx(recorded, rel=0.02)

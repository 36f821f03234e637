"""The trained defaults inside the package: each loads, and reproduces the accuracy its card records.

Pose lifters: the card's `evaluation.cmu` is MPJPE over the 16 views of CMU test subject 03 (takes
03_01-03_04, 4 virtual cameras each, 16,804 frames). The fast test scores the two short takes (03_01,
03_02: the first 8 of those views, 1,328 frames, about a second a model) against numbers recorded
below; a slow one re-measures hot-mixste on the whole split against the card itself.

Tolerance, 0.01 mm: the evaluation is deterministic fp32 on the CPU (1 and 2 threads agree to the last
digit); the card's hot-mixste number reproduces to 0.0014 mm on the whole split, other cards exactly.
Rounding the weights to fp16 moves the slice MPJPE by 0.002-0.05 mm and a retrained model by millimetres.
"""
import cv2
import numpy as np
import pytest
import torch

from edgetokens import Predictor, create_model, zoo
from edgetokens.demo import RGBD_SAMPLE
from edgetokens.vision.depth import depth_metrics
from edgetokens.vision.depth_io import RGBD_SAMPLE_ENCODING, read_depth_png

SHIPPED = zoo.list_pretrained()
POSE_LIFTERS = ("hot-mixste", "mixste", "hot-motionbert", "motionbert")
TOLERANCE_MM = 0.01

# (MPJPE, P-MPJPE) in mm of each shipped lifter on CMU test takes 03_01 + 03_02 with the card's seed
# (1126), flip averaging, torch fp32 on the CPU: what `held_out_slice` + `evaluate_model` give.
SLICE_TAKES = ("03_01", "03_02")
SLICE_MM = {
    "hot-mixste": (64.5304, 48.8776),
    "mixste": (84.4169, 57.758),
    "hot-motionbert": (74.5996, 51.9601),
    "motionbert": (72.8483, 53.7202),
}


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def cmu_test_views(cmu_root, name, takes=None):
    from training.data.clips import SourceConfig, build_sources

    seed = zoo.pretrained_info(name)["data"]["seed"]
    return build_sources("cmu", str(cmu_root), seed=seed, split="test", config=SourceConfig(cmu_takes=takes))


def test_the_four_pose_defaults_and_the_two_depth_models_are_shipped():
    assert {"hot-mixste", "mixste", "hot-motionbert", "motionbert", "ait-depth", "ait-depth-lite0"} <= set(SHIPPED)
    assert set(SLICE_MM) == set(POSE_LIFTERS)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_card_records_its_measured_accuracy(name):
    info = zoo.pretrained_info(name)
    model = create_model(name, pretrained=True)
    assert info["facts"]["params"] == sum(p.numel() for p in model.parameters())
    assert info["metrics"]["epoch"] >= 1 and info["trained_revision"]
    for split in info["evaluation"].values():
        assert all(np.isfinite(v) for v in split.values())


@pytest.mark.parametrize("name", POSE_LIFTERS)
def test_shipped_lifter_reproduces_its_accuracy_on_a_held_out_cmu_slice(name, cmu_root, one_thread):
    from training.evaluate import evaluate_model

    views = cmu_test_views(cmu_root, name, SLICE_TAKES)
    assert len(views) == 8 and {v.subject for v in views} == {"03"}  # the test subject, never trained on
    metrics = evaluate_model(create_model(name, pretrained=True), views)
    assert metrics["frames"] == 1328
    mpjpe, p_mpjpe = SLICE_MM[name]
    assert metrics["mpjpe_mm"] == pytest.approx(mpjpe, abs=TOLERANCE_MM)
    assert metrics["p_mpjpe_mm"] == pytest.approx(p_mpjpe, abs=TOLERANCE_MM)


@pytest.mark.slow
def test_shipped_hot_mixste_reproduces_its_card_on_the_whole_cmu_test_split(cmu_root, one_thread):
    """The link from the slice numbers to the card (the other cards reproduce the same way, 10-25 s each)."""
    from training.evaluate import evaluate_model

    name = "hot-mixste"
    recorded = zoo.pretrained_info(name)["evaluation"]["cmu"]
    metrics = evaluate_model(create_model(name, pretrained=True), cmu_test_views(cmu_root, name))
    assert (metrics["frames"], metrics["sequences"]) == (recorded["frames"], recorded["sequences"])
    for key in ("mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm"):
        assert metrics[key] == pytest.approx(recorded[key], abs=TOLERANCE_MM), key


@pytest.mark.parametrize("name", ["ait-depth", "ait-depth-lite0"])
def test_shipped_depth_model_reproduces_its_recorded_real_frame_rmse(name, one_thread):
    """The card's `rgbd_sample` metrics, measured as publishing measured them (eager torch, soft tokens)."""
    from training.data.nyu import rgbd_sample
    from training.evaluate_depth import real_frame

    recorded = zoo.pretrained_info(name)["evaluation"]["rgbd_sample"]
    sample = rgbd_sample(RGBD_SAMPLE)[0]
    _, metrics = real_frame(create_model(name, pretrained=True).eval(), sample.rgb, sample.depth)
    for key in ("rmse", "abs_rel", "d1"):
        assert metrics[key] == pytest.approx(recorded[key], rel=1e-3), key


@pytest.mark.parametrize("name", ["ait-depth", "ait-depth-lite0"])
def test_shipped_depth_predictor_reproduces_the_real_frame_rmse(name, tmp_path, one_thread):
    """The deployed path (Predictor: exported graph, its own pre/post-processing) lands within 2 %."""
    recorded = zoo.pretrained_info(name)["evaluation"]["rgbd_sample"]["rmse"]
    bgr = cv2.imread(str(RGBD_SAMPLE / "sample_rgb.png"))
    truth = read_depth_png(RGBD_SAMPLE / "sample_depth.png", RGBD_SAMPLE_ENCODING)
    result = Predictor(name, device="torch:cpu", cache_dir=tmp_path).predict(bgr)
    assert result.depth.shape == truth.shape
    rmse = depth_metrics(result.depth, truth, eigen_crop=False)["rmse"]
    assert rmse == pytest.approx(recorded, rel=0.02)


def test_the_imagenet_backbone_transfers_depth_to_real_kinect_frames(shared_dir, one_thread):
    """On the five rgbd-real frames (never trained on), ait-depth-lite0 reproduces its card and beats the
    from-scratch ait-depth in AbsRel and RMSE, with and without median scaling."""
    from training.data.nyu import rgbd_real
    from training.evaluate_depth import real_frames

    frames = rgbd_real(shared_dir / "data" / "rgbd-real")
    scores = {name: real_frames(create_model(name, pretrained=True).eval(), frames)[1]
              for name in ("ait-depth", "ait-depth-lite0")}
    recorded = zoo.pretrained_info("ait-depth-lite0")["evaluation"]["rgbd_real"]
    assert recorded["frames"] == 5
    for key in ("rmse", "abs_rel", "d1", "scaled_abs_rel"):
        assert scores["ait-depth-lite0"][key] == pytest.approx(recorded[key], rel=1e-3), key
    for key in ("rmse", "abs_rel", "scaled_rmse", "scaled_abs_rel"):
        assert scores["ait-depth-lite0"][key] < scores["ait-depth"][key], key

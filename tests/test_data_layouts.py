"""2D input layouts: COCO-17 points from H36M-17, COCO / BlazePose-style views, the option end to end."""
import json

import numpy as np
import pytest

from edgetokens.models import create_model
from edgetokens.pose.skeleton import coco_to_h36m
from edgetokens.vision.camera import axis_rotation
from training import evaluate, train
from training.config import DataConfig, RunConfig
from training.data.cameras import (
    DetectorNoiseConfig,
    project,
    sample_camera,
    view_motion,
    world_to_camera,
)
from training.data.clips import SourceConfig, build_sources
from training.data.layouts import (
    COCO_JOINT_NOISE,
    blazepose_noise,
    synthesize_coco17,
    trained_layouts,
    view_motion_in_layout,
)
from training.data.synthetic import SyntheticConfig, generate_dataset
from training.tasks.pose import results_table

TINY = ["--set", "frames=9", "--set", "embed_dim=16", "--set", "mlp_hidden=16", "--set", "depth=2",
        "--set", "heads=2", "--set", "token_num=3", "--set", "layer_index=1"]
SMALL = SourceConfig(cameras_per_sequence=2, synthetic_subjects={"train": 2, "test": 1},
                     synthetic_sequences_per_subject=9, synthetic_seconds=(2.0, 3.0))


def standing(offset=(0.0, 0.0, 0.0)):
    """An upright H36M-17 pose facing +y (its left is -x): thorax at 1.5 m, L = 0.2 m, hips 0.26 m apart."""
    j = np.zeros((17, 3))
    j[[0, 1, 4]] = [[0, 0, 1.0], [0.13, 0, 1.0], [-0.13, 0, 1.0]]
    j[[2, 3, 5, 6]] = [[0.13, 0, 0.55], [0.13, 0, 0.1], [-0.13, 0, 0.55], [-0.13, 0, 0.1]]
    j[[7, 8, 9, 10]] = [[0, 0, 1.25], [0, 0, 1.5], [0, 0.03, 1.6], [0, 0, 1.7]]
    j[[11, 12, 13, 14, 15, 16]] = [[-0.16, 0, 1.5], [-0.16, 0, 1.2], [-0.16, 0, 0.95],
                                   [0.16, 0, 1.5], [0.16, 0, 1.2], [0.16, 0, 0.95]]
    return j + offset


def test_coco_points_sit_where_the_geometry_says():
    coco = synthesize_coco17(standing())
    np.testing.assert_allclose(coco[0], [0, 0.2 * 0.45, 1.5 + 0.2 * 0.62])  # nose: ahead (+y) and up
    np.testing.assert_allclose(coco[1], [-0.2 * 0.16, 0.2 * 0.32, 1.5 + 0.2 * 0.86])  # left eye on the left (-x)
    np.testing.assert_allclose(coco[4], [0.2 * 0.38, -0.2 * 0.05, 1.5 + 0.2 * 0.80])  # right ear, behind the nose
    np.testing.assert_allclose(coco[11], [-0.13 - 0.026, 0, 1.0 + 0.039])  # left hip: wider and higher
    np.testing.assert_allclose(coco[6], [0.16 + 0.0128, 0, 1.5 + 0.0256])  # right shoulder: acromion
    np.testing.assert_allclose(coco[[7, 10, 13, 16]], standing()[[12, 16, 5, 3]])  # limbs copied
    mapped = coco_to_h36m(coco)  # what the lifter gets: head above and ahead of the true one
    np.testing.assert_allclose(mapped[10], [0, 0.2 * 0.19, 1.5 + 0.2 * 1.10], atol=1e-12)
    rotation = axis_rotation("z", 1.0) @ axis_rotation("x", 0.3)
    moved = standing() @ rotation.T + [1, 2, 3]
    np.testing.assert_allclose(synthesize_coco17(moved), coco @ rotation.T + [1, 2, 3], atol=1e-12)


def test_the_face_looks_where_a_walker_goes():
    walk = generate_dataset([0, 0], SyntheticConfig(n_subjects=1, sequences_per_subject=1), subject_prefix="w")[0]
    assert walk.name.endswith("walk")
    p = walk.positions
    facing = synthesize_coco17(p)[:, 0, :2] - p[:, 8, :2]
    velocity = np.gradient(p[:, 0, :2], axis=0)
    assert np.mean((facing * velocity).sum(-1) > 0) > 0.95


def motion():
    return generate_dataset([1, 0], SyntheticConfig(n_subjects=1, sequences_per_subject=2, seconds=(2.0, 2.0)),
                            subject_prefix="m")[1]


def test_coco_views_are_mapped_as_the_predictor_maps_them():
    seq = motion()
    camera = sample_camera(seq.positions, np.random.default_rng(0))
    view = view_motion_in_layout(seq, camera, np.random.default_rng(1), "coco", DetectorNoiseConfig.clean())
    expected = coco_to_h36m(project(world_to_camera(synthesize_coco17(seq.positions), camera), camera))
    np.testing.assert_allclose(view.keypoints, expected, atol=1e-3)
    np.testing.assert_allclose(view.positions_cam, world_to_camera(seq.positions, camera), atol=1e-5)  # H36M targets
    assert view.layout == "coco" and np.all(view.scores == 1)
    plain = view_motion(seq, camera, np.random.default_rng(1))
    again = view_motion_in_layout(seq, camera, np.random.default_rng(1), "h36m")
    np.testing.assert_array_equal(again.keypoints, plain.keypoints)  # h36m views: exactly as before
    assert np.abs(view.keypoints[:, 9] - plain.keypoints_clean[:, 9]).mean() > 5  # nose is not H36M's joint 9


def test_blazepose_gaps_zero_every_joint_built_from_them():
    base = DetectorNoiseConfig(missing_prob=0.01)
    noise = blazepose_noise(base)
    # as measured on real BlazePose output: wrists noisier, more limb swaps, hips and gaps as COCO's
    assert noise.missing_prob == base.missing_prob and noise.joint_noise[11] == COCO_JOINT_NOISE[11]
    assert noise.joint_noise[9] > COCO_JOINT_NOISE[9] and noise.swap_prob > base.swap_prob
    assert noise.swap_groups[0] == ((11, 13, 15), (12, 14, 16))
    clean = blazepose_noise(DetectorNoiseConfig.clean())
    assert clean.missing_prob == 0 and clean.outlier_prob == 0 and clean.sigma_px == (0, 0)
    seq = motion()
    camera = sample_camera(seq.positions, np.random.default_rng(0))
    view = view_motion_in_layout(seq, camera, np.random.default_rng(2), "blazepose", base)
    s = view.scores
    assert np.isfinite(view.keypoints).all() and (s == 0).any()
    np.testing.assert_array_equal(s[:, 0], np.minimum(s[:, 1], s[:, 4]))  # Hip: min of the two hips
    np.testing.assert_array_equal(s[:, 8], np.minimum(s[:, 11], s[:, 14]))  # Thorax: the shoulders
    np.testing.assert_array_equal(s[:, 7], np.minimum(s[:, 0], s[:, 8]))
    assert np.all(s[:, 10] <= s[:, 9])  # Head: eyes and nose


def test_mixed_views_draw_every_layout_on_the_h36m_cameras():
    plain = build_sources("synthetic", seed=3, split="train", config=SMALL)
    mixed = build_sources("synthetic", seed=3, split="train", config=SourceConfig(**{**vars(SMALL),
                                                                                    "input_layout": "mixed"}))
    assert len(plain) == len(mixed) == 36 and {v.layout for v in plain} == {"h36m"}
    assert {v.layout for v in mixed} == {"h36m", "coco", "blazepose"}
    for a, b in zip(plain, mixed):
        np.testing.assert_array_equal(a.camera.rotation, b.camera.rotation)
        np.testing.assert_array_equal(a.positions_cam, b.positions_cam)
    again = build_sources("synthetic", seed=3, split="train", config=SourceConfig(**{**vars(SMALL),
                                                                                    "input_layout": "mixed"}))
    assert [v.layout for v in again] == [v.layout for v in mixed]
    assert np.array_equal(again[5].keypoints, mixed[5].keypoints)
    with pytest.raises(ValueError, match="not one of h36m, coco, blazepose, mixed"):
        SourceConfig(input_layout="openpose")
    with pytest.raises(ValueError, match="keeps its own 2D"):
        build_sources("h36m:/nowhere", config=SourceConfig(input_layout="coco"))


def test_the_run_records_its_layouts_in_the_model_config():
    assert trained_layouts("mixed") == ("h36m", "coco") and trained_layouts("blazepose") == ("coco",)
    with pytest.raises(ValueError, match="input layout 'x'"):
        DataConfig(input_layout="x")
    run = RunConfig(model="hot-mixste", out="o", overrides={"depth": 2}, data=DataConfig(input_layout="mixed"))
    assert run.model_overrides() == {"depth": 2, "input_layouts": ("h36m", "coco")}
    assert create_model("hot-mixste", **run.model_overrides()).config.input_layouts == ("h36m", "coco")
    assert RunConfig(model="ait-depth-vqvae", out="o").model_overrides() == {}
    with pytest.raises(ValueError, match="takes no 2D keypoints"):
        RunConfig(model="ait-depth-vqvae", out="o", data=DataConfig(input_layout="coco")).model_overrides()


def test_train_resume_and_evaluate_with_layouts(tmp_path, capsys):
    args = ["--model", "hot-mixste", *TINY, "--data", "synthetic", "--epochs", "1", "--batch-size", "8",
            "--clips-per-epoch", "16", "--eval-sequences", "2", "--no-progress", "--threads", "1",
            "--out", str(tmp_path / "run")]
    assert train.main([*args, "--input-layout", "mixed"]) == 0
    info = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert info["config"]["input_layouts"] == ["h36m", "coco"] and info["data"]["input_layout"] == "mixed"
    capsys.readouterr()
    assert train.main([*args, "--resume", "--input-layout", "coco"]) == 2
    assert "trained with --input-layout mixed" in capsys.readouterr().err
    args[args.index("--epochs") + 1] = "2"
    assert train.main([*args, "--resume"]) == 0  # keeps mixed
    info = json.loads((tmp_path / "run" / "last" / "config.json").read_text())
    assert info["training"]["data"]["input_layout"] == "mixed" and info["metrics"]["epoch"] == 2
    capsys.readouterr()
    assert evaluate.main(["--checkpoint", str(tmp_path / "run" / "best"), "--data", "synthetic", "--json",
                          "--input-layout", "h36m,coco", "--eval-sequences", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    h36m, coco = out["layouts"]["h36m"]["all"], out["layouts"]["coco"]["all"]
    assert out["mpjpe_mm"] == h36m["mpjpe_mm"] and h36m["sequences"] == coco["sequences"] == 3
    assert h36m["mpjpe_mm"] != coco["mpjpe_mm"] and out["trained_layouts"] == ["h36m", "coco"]
    with pytest.raises(SystemExit):
        evaluate.main(["--checkpoint", str(tmp_path / "run" / "best"), "--input-layout", "kinect"])
    assert "input layout 'kinect' is not one of" in capsys.readouterr().err


def test_combined_parts_score_as_one_set():
    model = create_model("hot-mixste", frames=9, embed_dim=16, mlp_hidden=16, depth=2, heads=2, token_num=3,
                         layer_index=1)
    views = build_sources("synthetic", seed=0, split="test", config=SMALL)[:5]
    whole = evaluate.evaluate_model(model, views)
    parts = evaluate.combine([evaluate.evaluate_model(model, views[:2]), evaluate.evaluate_model(model, views[2:])])
    for key in ("mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm", "mpjve_mm", "frames", "sequences"):
        assert parts[key] == pytest.approx(whole[key], rel=1e-6), key


def test_results_table_puts_the_layouts_side_by_side():
    metrics = {"mpjpe_mm": 80.0, "p_mpjpe_mm": 60.0}
    new = {"evaluation": {"cmu": metrics, "cmu/coco": {"mpjpe_mm": 100.0, "p_mpjpe_mm": 70.0},
                          "cmu/blazepose": {"mpjpe_mm": 110.0}, "cmu-positions": metrics, "synthetic": metrics},
           "facts": {"params": 1e6, "gflops": 1.0}, "metrics": {"epoch": 3},
           "config": {"input_layouts": ["h36m", "coco"]}}
    old = {"evaluation": {"cmu": metrics, "synthetic": metrics}, "facts": {"params": 2e6, "gflops": 2.0},
           "metrics": {"epoch": 8}, "config": {}}
    header, rule, first, second = results_table([("new", new), ("old", old)])
    assert "CMU 03 MPJPE (mm), H36M / COCO / BlazePose 2D" in header and header.count("|") == rule.count("|")
    assert "| h36m, coco | 80.0 / 100.0 / 110.0 | 80.0 / - / - |" in first
    assert first.endswith("| 60.0 / 70.0 |") and "| h36m | 80.0 / - / - |" in second


def test_calibration_and_qat_data_follow_the_checkpoints_trained_layouts():
    from compression.calibration import data_layout
    from edgetokens.models import create_model
    from training.data.layouts import data_layout_for, trained_layouts

    for option in ("h36m", "coco", "mixed"):
        assert data_layout_for(trained_layouts(option)) == option
    assert data_layout(None, create_model("hot-mixste", input_layouts=["h36m", "coco"])) == "mixed"
    assert data_layout(None, create_model("hot-mixste")) == "h36m"
    assert data_layout("blazepose", create_model("hot-mixste")) == "blazepose"  # asked for explicitly
    with pytest.raises(ValueError, match="--input-layout"):
        data_layout_for(("coco", "h36m", "coco"))

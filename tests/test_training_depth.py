"""AiT depth training through `python -m training.train`: stage 1 (tokenizer), stage 2 (solver), resume."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from edgetokens import create_model
from edgetokens.checkpoint import read_checkpoint_info
from training import train

torch.set_num_threads(1)
QUICK = ["--set", "image_size=64", "--data", "scenes", "--clips-per-epoch", "8", "--eval-sequences", "2",
         "--batch-size", "4", "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    out = tmp_path_factory.mktemp("ait") / "vq"
    assert train.main(["--model", "ait-depth-vqvae", *QUICK, "--epochs", "2", "--lr", "3e-4", "--out", str(out)]) == 0
    return out


def test_stage1_trains_the_tokenizer_with_mask_augmentation(tokenizer, capsys):
    info = read_checkpoint_info(tokenizer / "last")
    assert info["arch"] == "ait-depth-vqvae" and info["data"]["mask_ratio"] == 0.5
    assert info["metrics"]["epoch"] == 2 and info["metrics"]["images"] == 2
    assert {"rmse", "abs_rel", "d1", "silog", "codes_used", "hole_rmse"} <= set(info["metrics"])
    history = torch.load(tokenizer / "last" / "training_state.pt", weights_only=True)["history"]
    assert [r["epoch"] for r in history] == [1, 2] and history[-1]["images_per_s"] > 0


def test_stage2_trains_the_solver_against_the_frozen_tokenizer_and_resumes(tokenizer, tmp_path, capsys):
    args = ["--model", "ait-depth", *QUICK, "--tokenizer", str(tokenizer / "last"), "--lr", "2e-4",
            "--out", str(tmp_path / "solver")]
    assert train.main([*args, "--epochs", "1"]) == 0
    last = tmp_path / "solver" / "last"
    solver, info = create_model(checkpoint=last), read_checkpoint_info(last)
    frozen = create_model(checkpoint=tokenizer / "last")
    for name, value in frozen.state_dict().items():  # the tokenizer never changes in stage 2
        assert torch.equal(solver.vqvae.state_dict()[name], value), name
    assert info["data"]["tokenizer"].endswith("last") and info["metrics"]["rmse"] > 0
    assert info["metrics"]["hole_rmse"] > 0  # the solver's depth inside the sensor holes, scored per epoch
    assert train.main([*args, "--epochs", "2", "--resume"]) == 0
    resumed, info = create_model(checkpoint=last), read_checkpoint_info(last)
    assert info["metrics"]["epoch"] == 2
    assert not torch.equal(next(resumed.backbone.parameters()), next(solver.backbone.parameters()))


def test_score_depth_scores_the_holes_against_the_complete_depth():
    from training.depth import score_depth

    complete = 1.0 + torch.rand(4, 1, 8, 8)
    depth = complete.clone()
    depth[:, :, :2] = 0  # sensor holes: the top two rows
    items = [{"depth": depth[i], "depth_complete": complete[i], "image": torch.full((1, 8, 8), float(i))}
             for i in range(4)]

    def off_in_holes(images):  # exact on valid pixels, 1 m off inside the holes
        index = images[:, 0, 0, 0].long()
        return complete[index] + (depth[index] == 0)

    metrics = score_depth(off_in_holes, items, batch_size=3)
    assert metrics["rmse"] < 1e-6 and abs(metrics["hole_rmse"] - 1.0) < 1e-6 and metrics["images"] == 4
    assert "hole_rmse" not in score_depth(off_in_holes, [{k: v for k, v in it.items() if k != "depth_complete"}
                                                         for it in items])


def test_stage2_errors(tokenizer, tmp_path, capsys):
    out = ["--out", str(tmp_path / "x"), "--epochs", "1"]
    assert train.main(["--model", "ait-depth", *QUICK, *out]) == 2
    assert "needs --tokenizer" in capsys.readouterr().err
    assert train.main(["--model", "ait-depth", *QUICK, "--set", "vq_code_dim=64", "--tokenizer",
                       str(tokenizer / "last"), *out]) == 2
    assert "train a matching ait-depth-vqvae (--set vq_code_dim=64)" in capsys.readouterr().err
    assert train.main(["--model", "ait-depth-vqvae", *QUICK, "--data", "kinect", *out]) == 2
    assert "unknown depth data 'kinect'" in capsys.readouterr().err
    assert train.main(["--model", "ait-depth", *QUICK, "--tokenizer", str(tokenizer / "last"),
                       "--ar-sampling", "0.5", *out]) == 2
    assert "applies to the autoregressive decoder" in capsys.readouterr().err


def test_ar_solver_trains_with_scheduled_sampling(tokenizer, tmp_path):
    out = tmp_path / "ar"
    assert train.main(["--model", "ait-depth-ar", *QUICK, "--tokenizer", str(tokenizer / "last"), "--epochs", "1",
                       "--ar-sampling", "0.5", "--out", str(out)]) == 0
    info = read_checkpoint_info(out / "last")
    assert info["data"]["ar_sampling"] == 0.5 and info["metrics"]["rmse"] > 0


def test_evaluate_depth_compares_decodings_and_modes(tmp_path, shared_dir, capsys):
    from edgetokens.checkpoint import save_checkpoint
    from training import evaluate_depth

    paths = []
    for name in ("ait-depth", "ait-depth-ar"):
        torch.manual_seed(0)
        model = create_model(name, image_size=64)
        model.vqvae.decoder[-1].bias.data.fill_(2.5)  # decode to ~2.5 m instead of clipping at 1 mm
        paths.append(str(save_checkpoint(model, tmp_path / name)))
    picture = tmp_path / "sample.png"
    assert evaluate_depth.main([f"--checkpoint={paths[0]}", f"--checkpoint={paths[1]}", "--scenes", "2",
                                "--repeats", "1", "--threads", "1", "--rgbd-sample",
                                str(shared_dir / "data" / "rgbd-sample"), "--picture", str(picture),
                                "--baseline-scenes", "3", "--json", str(tmp_path / "rows.json")]) == 0
    rows = json.loads((tmp_path / "rows.json").read_text())
    baseline = rows.pop()
    assert baseline["mode"] == "baseline" and baseline["images"] == 2 and baseline["rmse"] > 0
    assert baseline["rmse"] not in {r["rmse"] for r in rows}
    assert [(r["mode"], r["decoding"]) for r in rows] == [("AiT-P", "soft"), ("AiT-P", "hard"), ("AR", "soft"),
                                                          ("AR", "hard"), ("AR, true prefix", "soft")]
    assert all(r["rmse"] > 0 and r["images"] == 2 and 0 <= r["token_acc"] <= 1 for r in rows)
    assert all(r["latency_ms"] > 0 for r in rows[:4]) and "latency_ms" not in rows[4]
    assert rows[4]["rmse"] != rows[2]["rmse"]  # fed the test depth's tokens, not its own predictions
    assert rows[0]["rmse"] != rows[1]["rmse"]  # soft and hard decoding differ
    assert rows[0]["rgbd_sample_rmse"] > 0 and "rgbd_sample_rmse" not in rows[1]
    import cv2

    assert cv2.imread(str(picture)).shape == (424, 512 * 4, 3)  # RGB, sensor depth, two predictions
    assert "| AR | hard |" in capsys.readouterr().out


def test_evaluate_depth_scores_a_tokenizer_inside_the_holes(tokenizer, tmp_path, capsys):
    from training import evaluate_depth

    assert evaluate_depth.main([f"--checkpoint={tokenizer / 'last'}", "--scenes", "2", "--threads", "1",
                                "--json", str(tmp_path / "rows.json")]) == 0
    (row,) = json.loads((tmp_path / "rows.json").read_text())
    assert row["mode"] == "tokenizer" and row["mask_ratio"] == 0.5
    assert row["rmse"] > 0 and row["hole_rmse"] > 0 and row["codes_used"] >= 1
    assert "| tokenizer | mask ratio |" in capsys.readouterr().out


def test_token_accuracy_counts_code_ids_equal_to_the_test_depths_tokens():
    from training.depth import depth_sources
    from training.evaluate_depth import score_with_tokens

    torch.manual_seed(0)
    model = create_model("ait-depth-ar", image_size=64).eval()
    _, test_set = depth_sources("scenes", 64, 1126, 1, 3)
    solver = model.solver

    def echo(image, ids=None, sampling=0.0):  # logits that name exactly the given tokens
        logits = torch.zeros(ids.shape + (solver.vocab_size,))
        return logits.scatter(-1, ids[..., None] + solver.code_offset, 10.0)

    model.logits = echo
    assert score_with_tokens(model, test_set, soft=True, true_prefix=True)["token_acc"] == 1.0
    model.logits = lambda image, ids=None, sampling=0.0: echo(image, (ids + 1) % solver.num_codes)
    assert score_with_tokens(model, test_set, soft=True, true_prefix=True)["token_acc"] == 0.0


def test_depth_task_data_calibration_and_metrics():
    import numpy as np

    from edgetokens.tasks import get_task
    from training.config import DataConfig

    torch.manual_seed(0)
    model = create_model("ait-depth", image_size=64).eval()
    task = get_task(model.task)
    data = task.load("data")(DataConfig(source="scenes", test_count=2), model)
    assert data.unit == "image" and len(data.test) == 2 and len(data.train) == 2000
    images = data.calibration(3, 1126)
    assert [i.shape for i in images] == [tuple(model.signature(1).inputs[0].shape)] * 3
    assert images[0].dtype == np.float32
    assert np.array_equal(images[1], data.train[1]["image"].numpy()[None])  # the first training scenes
    metrics = task.load("metrics")

    def run(x):  # what an exported artifact's runner is: numpy images -> numpy depth
        return model(torch.from_numpy(x)).numpy()

    assert metrics(run, data.test, model) == pytest.approx(metrics(None, data.test, model))
    tokenizer = create_model("ait-depth-vqvae", image_size=64)
    stage1 = get_task(tokenizer.task).load("data")(DataConfig(source="scenes", test_count=2), tokenizer)
    assert stage1.calibration(2, 1126)[0].shape == (1, 1, 64, 64)  # the tokenizer's input is depth
    assert get_task(tokenizer.task).load("metrics")(None, stage1.test, tokenizer)["codes_used"] >= 1


def test_tokenizer_checkpoints_with_the_unprefixed_field_names_still_load(tmp_path):
    from edgetokens.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create_model("ait-depth-vqvae", image_size=64, vq_code_dim=32).eval()
    save_checkpoint(model, tmp_path / "vq")
    config_json = tmp_path / "vq" / "config.json"
    info = json.loads(config_json.read_text())
    info["config"] = {k.removeprefix("vq_"): v for k, v in info["config"].items()}  # as stage 1 wrote them before
    assert "code_dim" in info["config"]
    config_json.write_text(json.dumps(info))
    loaded = create_model(checkpoint=tmp_path / "vq").eval()
    assert loaded.config == model.config
    depth = 1 + torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(depth)[0], model(depth)[0])


@pytest.mark.slow
def test_two_process_stage2_training_stays_in_sync(tokenizer, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29549",
           os.path.join(os.path.dirname(__file__), "ddp_worker.py"), "--model", "ait-depth", *QUICK, "--tokenizer",
           str(tokenizer / "last"), "--epochs", "1", "--lr", "2e-3", "--out", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = load_file(str(out / "rank0.safetensors")), load_file(str(out / "rank1.safetensors"))
    trained = create_model(checkpoint=tokenizer / "last").state_dict()
    assert all(torch.equal(rank0[f"vqvae.{k}"], v) for k, v in trained.items())  # frozen in every process
    torch.manual_seed(1126)
    initial = dict(create_model("ait-depth", image_size=64).named_parameters())
    assert any(not torch.equal(rank0[k], initial[k]) for k in initial)
    for key in initial:  # parameters; batch-norm statistics are rank 0's, broadcast before every step
        assert torch.equal(rank0[key], rank1[key]), key


def write_rgbd_real(folder, frames=2):
    import cv2

    (folder / "color").mkdir(parents=True)
    (folder / "depth").mkdir()
    rng = np.random.default_rng(0)
    for i in range(1, frames + 1):
        cv2.imwrite(str(folder / "color" / f"{i}.png"), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        depth = rng.integers(500, 4000, (48, 64)).astype(np.uint16)
        depth[:5] = 0  # sensor holes
        cv2.imwrite(str(folder / "depth" / f"{i}.pgm"), depth)
    return folder


def test_rgbd_real_frames_load_in_order_and_name_a_missing_depth(tmp_path):
    from training.data.nyu import rgbd_real

    frames = rgbd_real(write_rgbd_real(tmp_path / "real", frames=3))
    assert len(frames) == 3 and [frames[i].name for i in range(3)] == ["1.png", "2.png", "3.png"]
    sample = frames[0]
    assert sample.rgb.shape == (48, 64, 3) and sample.depth.dtype == np.float32
    assert (sample.depth[:5] == 0).all() and 0.5 <= sample.depth[5:].min() and sample.depth.max() < 4.0
    (tmp_path / "real" / "depth" / "2.pgm").unlink()
    with pytest.raises(ValueError, match="frames 2 lack"):
        rgbd_real(tmp_path / "real")
    with pytest.raises(FileNotFoundError, match="no color"):
        rgbd_real(tmp_path)


def test_evaluate_depth_scores_a_joint_model_through_its_depth_prompt_on_real_frames(tmp_path, capsys):
    from edgetokens.checkpoint import save_checkpoint
    from training import evaluate_depth

    torch.manual_seed(0)
    model = create_model("ait", image_size=64, slots=2, d_model=32, heads=2, mlp_hidden=64, encoder_depth=1,
                         decoder_depth=1, backbone="conv", backbone_widths=(8, 8, 16, 16, 32), vq_hidden_dim=4,
                         vq_code_dim=16, mask_vq_hidden_dim=4, mask_vq_code_dim=16)
    model.vqvae.decoder[-1].bias.data.fill_(1.0)
    path = save_checkpoint(model, tmp_path / "ait")
    real = write_rgbd_real(tmp_path / "real")
    assert evaluate_depth.main([f"--checkpoint={path}", "--scenes", "2", "--repeats", "1", "--threads", "1",
                                "--rgbd-real", str(real), "--json", str(tmp_path / "rows.json")]) == 0
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert [(r["mode"], r["decoding"]) for r in rows] == [("joint, depth prompt", "soft"),
                                                          ("joint, depth prompt", "hard")]
    assert rows[0]["rmse"] > 0 and rows[0]["rmse"] != rows[1]["rmse"]
    assert rows[0]["rgbd_real"]["frames"] == 2 and 0 < rows[0]["rgbd_real"]["abs_rel"]
    assert 0 < rows[0]["rgbd_real"]["scaled_abs_rel"] and "scaled_rmse" in rows[0]["rgbd_real"]
    assert "rgbd_real" not in rows[1]
    assert "Real frames" in capsys.readouterr().out


def test_median_scaling_removes_the_metric_scale_only():
    from training.evaluate_depth import median_scaled_metrics

    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 5.0, (20, 30)).astype(np.float32)
    depth[:3] = 0  # holes do not count
    assert median_scaled_metrics(2.5 * depth + 7.0 * (depth == 0), depth, "x")["abs_rel"] == pytest.approx(0, abs=1e-6)
    noisy = depth * rng.uniform(0.8, 1.2, depth.shape)
    assert median_scaled_metrics(3.0 * noisy, depth, "x")["abs_rel"] == pytest.approx(
        median_scaled_metrics(noisy, depth, "x")["abs_rel"], rel=1e-5)
    assert median_scaled_metrics(noisy, depth, "x")["abs_rel"] > 0.05

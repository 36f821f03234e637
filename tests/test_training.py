"""Training: loss, checkpoints, the CLI end to end, resume, distributed sync, evaluation."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from edgetokens.checkpoint import read_checkpoint_info, save_checkpoint
from edgetokens import create_model
from training import evaluate, train
from training.config import DataConfig, RunConfig, parse_sets
from training.losses import JOINT_WEIGHTS, hot_loss, mean_velocity_loss, temporal_consistency, weighted_mpjpe

TINY = ["--set", "frames=9", "--set", "embed_dim=16", "--set", "mlp_hidden=16", "--set", "depth=2",
        "--set", "heads=2", "--set", "token_num=3", "--set", "layer_index=1"]


def quick_args(tmp_path, *extra):
    return ["--model", "hot-mixste", *TINY, "--data", "synthetic", "--epochs", "1", "--batch-size", "8",
            "--lr", "1e-3", "--clips-per-epoch", "32", "--eval-sequences", "2", "--no-progress",
            "--threads", "1", "--out", str(tmp_path / "run"), *extra]


def test_loss_terms_match_their_definitions():
    torch.manual_seed(0)
    target = torch.randn(2, 5, 17, 3)
    assert weighted_mpjpe(target, target) == 0 and mean_velocity_loss(target, target) == 0
    shifted = target + torch.tensor([0.0, 0.0, 0.1])  # every joint off by 10 cm, same motion
    assert torch.isclose(weighted_mpjpe(shifted, target), torch.tensor(0.1 * sum(JOINT_WEIGHTS) / 17))
    assert torch.isclose(mean_velocity_loss(shifted, target), torch.tensor(0.0), atol=1e-6)
    static = target[:, :1].expand(-1, 5, -1, -1)
    assert temporal_consistency(static) == 0
    parts = hot_loss(shifted, target)
    assert torch.isclose(parts["loss"], parts["wmpjpe"] + 0.5 * parts["tc"] + 2.0 * parts["mv"])


def test_checkpoint_round_trip_and_bad_files(tmp_path):
    model = create_model("hot-mixste", frames=9, embed_dim=16, mlp_hidden=16, depth=2, heads=2,
                         token_num=3, layer_index=1)
    save_checkpoint(model, tmp_path / "ck", metrics={"mpjpe_mm": 50.0})
    loaded, info = create_model(checkpoint=tmp_path / "ck"), read_checkpoint_info(tmp_path / "ck")
    assert info["arch"] == "hot-mixste" and info["metrics"]["mpjpe_mm"] == 50.0 and "revision" in info
    x = torch.randn(1, 9, 17, 2)
    assert torch.equal(model.eval()(x), loaded.eval()(x))
    save_checkpoint(model, tmp_path / "ck")  # overwriting an existing checkpoint works
    with pytest.raises(FileNotFoundError, match="config.json"):
        read_checkpoint_info(tmp_path / "nowhere")
    (tmp_path / "ck" / "config.json").write_text("{broken")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_checkpoint_info(tmp_path / "ck")


@pytest.mark.slow
def test_train_cli_writes_checkpoints_and_resumes(tmp_path, capsys):
    assert train.main(quick_args(tmp_path)) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["epoch"] == 1 and record["mpjpe_mm"] > 0 and record["sequences"] == 2
    for name in ("best", "last"):
        info = read_checkpoint_info(tmp_path / "run" / name)
        assert info["config"]["frames"] == 9 and info["data"]["source"] == "synthetic"
    first = create_model(checkpoint=tmp_path / "run" / "last")
    assert train.main(quick_args(tmp_path, "--epochs", "2", "--resume")) == 0
    state = torch.load(tmp_path / "run" / "last" / "training_state.pt", weights_only=True)
    assert state["epoch"] == 1 and len(state["history"]) == 2
    second = create_model(checkpoint=tmp_path / "run" / "last")
    assert not torch.equal(first.head.weight, second.head.weight)
    # resuming is exact: the same weights as two epochs in one go
    assert train.main(quick_args(tmp_path, "--epochs", "2", "--out", str(tmp_path / "straight"))) == 0
    straight = create_model(checkpoint=tmp_path / "straight" / "last")
    for name, value in straight.state_dict().items():
        assert torch.equal(value, second.state_dict()[name]), name


def test_out_with_a_run_is_refused_without_resume_or_overwrite(tmp_path, capsys):
    assert train.main(quick_args(tmp_path)) == 0
    first = create_model(checkpoint=tmp_path / "run" / "best")
    capsys.readouterr()
    assert train.main(quick_args(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already holds best/ and last/" in err
    assert "pass --resume to continue it or --overwrite to replace it" in err
    with pytest.raises(SystemExit):  # argparse: one or the other
        train.main(quick_args(tmp_path, "--resume", "--overwrite"))
    capsys.readouterr()
    assert train.main(quick_args(tmp_path, "--overwrite", "--lr", "1e-2")) == 0
    state = torch.load(tmp_path / "run" / "last" / "training_state.pt", weights_only=True)
    assert state["epoch"] == 0 and len(state["history"]) == 1  # a new run, not a continued one
    assert not torch.equal(first.head.weight, create_model(checkpoint=tmp_path / "run" / "best").head.weight)
    import shutil

    shutil.rmtree(tmp_path / "run" / "best")
    capsys.readouterr()
    assert train.main(quick_args(tmp_path)) == 2
    assert "already holds last/ of a run" in capsys.readouterr().err


def test_set_values_are_parsed_with_the_config_field_types():
    assert parse_sets(["token_num=none", "layer_index=none", "frames=27", "drop_path=0.2", "recovery=attention"],
                      "hot-mixste") == {"token_num": None, "layer_index": None, "frames": 27, "drop_path": 0.2,
                                        "recovery": "attention"}
    assert parse_sets(["layer_index=2"], "hot-mixste") == {"layer_index": 2}  # `int | None`, set
    assert parse_sets(["backbone_widths=8,16,32,64,128", "parallel=no", "vq_code_dim=64"], "ait-depth") == {
        "backbone_widths": (8, 16, 32, 64, 128), "parallel": False, "vq_code_dim": 64}
    with pytest.raises(ValueError, match="frames=abc: expected an integer"):
        parse_sets(["frames=abc"], "hot-mixste")
    with pytest.raises(ValueError, match="expected a boolean"):
        parse_sets(["parallel=maybe"], "ait-depth")
    with pytest.raises(ValueError, match="need 5 entries"):  # make_config's validation
        parse_sets(["backbone_widths=8,16"], "ait-depth")
    with pytest.raises(ValueError, match="divisible by heads"):
        parse_sets(["heads=5"], "hot-mixste")
    with pytest.raises(ValueError, match="expects key=value"):
        parse_sets(["frames"], "hot-mixste")


def test_ait_tokenizer_settings_have_one_name_in_both_stages():
    from edgetokens.models import make_config

    for sets in (["vq_code_dim=64", "vq_hidden_dim=4"], ["vq_num_codes=32", "vq_downsample=16"]):
        stage2 = make_config("ait-depth", **parse_sets(sets, "ait-depth"))
        assert stage2.vqvae == make_config("ait-depth-vqvae", **parse_sets(sets, "ait-depth-vqvae"))


def test_run_config_from_the_command_line_is_recorded_as_json(tmp_path):
    args = train.build_parser().parse_args([
        "--model", "ait-depth", "--out", str(tmp_path / "o"), "--set", "backbone_depths=1,1,1,1,1",
        "--data", "scenes", "--clips-per-epoch", "5", "--eval-sequences", "2", "--epochs", "3", "--seed", "7",
        "--no-progress", "--tokenizer", "vq/best", "--overwrite"])
    config = RunConfig.from_args(args)
    assert config.overrides == {"backbone_depths": (1, 1, 1, 1, 1)} and config.tokenizer == "vq/best"
    assert config.data == DataConfig(source="scenes", seed=7, train_count=5, test_count=2, epochs=3)
    assert config.seed == 7 and not config.progress and config.overwrite and not config.resume
    assert json.loads(json.dumps(config.record()))["data"]["train_count"] == 5
    with pytest.raises(ValueError, match="not both"):
        RunConfig(model="hot-mixste", out="o", resume=True, overwrite=True)


def test_fit_trains_what_a_run_config_describes(tmp_path):
    config = RunConfig(model="hot-mixste", out=str(tmp_path / "fit"), overrides=parse_sets(TINY[1::2], "hot-mixste"),
                       data=DataConfig(source="synthetic", train_count=16, test_count=1), epochs=1, batch_size=8,
                       lr=1e-3, progress=False)
    result = train.train(config)
    assert [r["epoch"] for r in result["history"]] == [1] and result["metric"] == "mpjpe_mm"
    info = read_checkpoint_info(tmp_path / "fit" / "best")
    assert info["training"]["data"]["train_count"] == 16 and info["training"]["overrides"]["frames"] == 9
    assert info["data"]["clips_per_epoch"] == 16 and info["metrics"]["sequences"] == 1


def test_pose_task_data_calibration_and_metrics():
    from compression.calibration import calibration_clips
    from edgetokens.tasks import get_task
    from training.evaluate import torch_runner

    torch.manual_seed(0)
    model = create_model("hot-mixste", frames=9, embed_dim=16, mlp_hidden=16, depth=2, heads=2, token_num=3,
                         layer_index=1).eval()
    task = get_task(model.task)
    data = task.load("data")(DataConfig(source="synthetic", test_count=2), model)
    assert data.unit == "clip" and len(data.test) == 2 and data.info["test_sequences"] == 2
    clips = data.calibration(4, 5)
    assert [c.shape for c in clips] == [tuple(model.signature(1).inputs[0].shape)] * 4
    assert all(c.dtype == np.float32 for c in clips)
    views = train.build_sources("synthetic", None, seed=1126, split="train")
    assert all(np.array_equal(a, b) for a, b in zip(clips, calibration_clips(views, model, 4, 5)))
    metrics = task.load("metrics")
    on_graph = metrics(torch_runner(model), data.test, model)  # a runner: what exported artifacts get
    assert on_graph == pytest.approx(metrics(None, data.test, model)) and on_graph["sequences"] == 2


def test_train_cli_rejects_unknown_keys(tmp_path, capsys):
    assert train.main(quick_args(tmp_path, "--set", "tokens=3")) == 2
    assert "valid keys: frames" in capsys.readouterr().err
    assert train.main(quick_args(tmp_path, "--resume", "--out", str(tmp_path / "empty"))) == 2


def test_init_warm_starts_hot_from_its_base(tmp_path, capsys):
    base = create_model("mixste", frames=9, embed_dim=16, mlp_hidden=16, depth=2, heads=2)
    torch.nn.init.normal_(base.head.weight)
    save_checkpoint(base, tmp_path / "mixste")
    hot = create_model("hot-mixste", frames=9, embed_dim=16, mlp_hidden=16, depth=2, heads=2, token_num=3,
                       layer_index=1)
    train.warm_start(hot, str(tmp_path / "mixste"))
    shared = base.state_dict()
    for name, value in hot.state_dict().items():
        if name in shared:
            assert torch.equal(value, shared[name]), name
        else:  # the HoT tensors keep their zero initialisation
            assert name.startswith(("pruner.", "recovery.")), name
    assert torch.count_nonzero(hot.recovery.queries) == 0
    assert train.main(quick_args(tmp_path, "--init", str(tmp_path / "mixste"))) == 0
    assert read_checkpoint_info(tmp_path / "run" / "last")["training"]["init"] == str(tmp_path / "mixste")
    wider = create_model("mixste", frames=9, embed_dim=32, mlp_hidden=16, depth=2, heads=2)
    save_checkpoint(wider, tmp_path / "wider")
    capsys.readouterr()
    assert train.main(quick_args(tmp_path, "--init", str(tmp_path / "wider"), "--overwrite")) == 2
    assert "shape mismatches" in capsys.readouterr().err
    save_checkpoint(create_model("ait-depth-vqvae"), tmp_path / "vq")
    with pytest.raises(ValueError, match="no tensor"):
        train.warm_start(hot, str(tmp_path / "vq"))


@pytest.mark.slow
def test_evaluate_cli(tmp_path, capsys):
    assert train.main(quick_args(tmp_path)) == 0
    capsys.readouterr()
    dump = tmp_path / "test.npz"
    assert evaluate.main(["--checkpoint", str(tmp_path / "run" / "best"), "--data", "synthetic", "--json",
                          "--dump-npz", str(dump)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["p_mpjpe_mm"] <= metrics["mpjpe_mm"] and metrics["sequences"] > 2
    with np.load(dump) as data:
        assert len(data.files) == 2 * metrics["sequences"]
        assert data["inputs_0"].shape[1:] == (17, 2) and data["targets_0"].shape[1:] == (17, 3)
        assert np.all(data["targets_0"][:, 0] == 0)


@pytest.mark.slow
def test_evaluate_window_errors_split_kept_recovered_frames_and_motion(tmp_path, capsys):
    assert train.main(quick_args(tmp_path)) == 0
    capsys.readouterr()
    assert evaluate.main(["--checkpoint", str(tmp_path / "run" / "best"), "--data", "synthetic", "--json",
                          "--kept-frames"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    model = create_model(checkpoint=tmp_path / "run" / "best")
    data = evaluate.evaluation_set(train.build_sources("synthetic", None, seed=0, split="test"), 9, 2)
    windows = [(i[s:s + 9], t[s:s + 9]) for i, t in zip(data.inputs, data.targets) for s in range(0, len(t) - 8, 9)]
    with torch.inference_mode():
        pred = model.eval()(torch.from_numpy(np.stack([w[0] for w in windows])))
    overall = 1000 * float((pred - torch.from_numpy(np.stack([w[1] for w in windows]))).norm(dim=-1).mean())
    assert metrics["windows"] == len(windows)  # 3 of 9 frames kept per window: the parts weigh 1/3 and 2/3
    assert abs((metrics["kept_mpjpe_mm"] + 2 * metrics["recovered_mpjpe_mm"]) / 3 - overall) < 1e-3 * overall
    assert abs(metrics["window_mpjpe_mm"] - overall) < 1e-3 * overall
    truth = torch.from_numpy(np.stack([w[1] for w in windows]))
    motion = truth - truth.mean(dim=1, keepdim=True)
    assert abs(metrics["static_motion_mm"] - 1000 * float(motion.norm(dim=-1).mean())) < 1e-3
    moved = pred - pred.mean(dim=1, keepdim=True)
    assert abs(metrics["motion_mpjpe_mm"] - 1000 * float((moved - motion).norm(dim=-1).mean())) < 1e-3
    base = create_model("mixste", frames=9, embed_dim=16, mlp_hidden=16, depth=2, heads=2)
    save_checkpoint(base, tmp_path / "mixste")
    assert evaluate.main(["--checkpoint", str(tmp_path / "mixste"), "--data", "synthetic", "--json", "--windows"]) == 0
    base_metrics = json.loads(capsys.readouterr().out)  # no frames pruned: motion only
    assert "kept_mpjpe_mm" not in base_metrics and base_metrics["static_motion_mm"] == metrics["static_motion_mm"]


@pytest.mark.slow
def test_two_process_training_stays_in_sync(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           os.path.join(os.path.dirname(__file__), "ddp_worker.py"), *quick_args(tmp_path)[:-2], "--out", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = load_file(str(out / "rank0.safetensors")), load_file(str(out / "rank1.safetensors"))
    torch.manual_seed(1126)  # the trainer's seed: the same initial weights
    initial = create_model("hot-mixste", frames=9, embed_dim=16, mlp_hidden=16, depth=2, heads=2,
                           token_num=3, layer_index=1).state_dict()
    assert any(not torch.equal(rank0[k], initial[k]) for k in rank0)  # it trained
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key


@pytest.mark.slow
def test_publish_records_every_test_split_in_every_layout(shared_dir, tmp_path, monkeypatch):
    from edgetokens import zoo
    from training.publish import publish, results_table

    torch.manual_seed(0)
    model = create_model("hot-mixste", frames=9, embed_dim=16, mlp_hidden=16, depth=2, heads=2,
                         token_num=3, layer_index=1)
    save_checkpoint(model, tmp_path / "run" / "best", metrics={"epoch": 3, "mpjpe_mm": 1.0})
    info = publish(tmp_path / "run" / "best", "tiny", str(shared_dir / "data" / "cmu-mocap"), seed=0,
                   out_root=tmp_path / "weights")
    assert set(info["evaluation"]) == {f"{split}{layout}" for split in ("cmu", "cmu-positions", "synthetic")
                                       for layout in ("", "/coco", "/blazepose")}  # every test split, 2D layout
    assert info["evaluation"]["cmu"]["sequences"] == 16  # subject 03: 4 takes x 4 cameras
    assert info["evaluation"]["cmu-positions/coco"]["sequences"] == 96  # its 24 test files x 4 cameras
    assert info["evaluation"]["cmu/coco"]["mpjpe_mm"] != info["evaluation"]["cmu"]["mpjpe_mm"]
    assert info["facts"]["params"] == sum(p.numel() for p in model.parameters())
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path / "weights")
    assert zoo.list_pretrained() == ["tiny"]
    table = results_table()
    assert "| tiny |" in table and f"{info['evaluation']['cmu']['mpjpe_mm']:.1f}" in table
    loaded = create_model(checkpoint=zoo.pretrained_dir("tiny")).eval()
    x = torch.randn(1, 9, 17, 2)
    assert torch.equal(loaded(x), model.eval()(x))
    with pytest.raises(ValueError, match="shipped defaults: tiny"):
        create_model("hot-mixste", pretrained=True)
    save_checkpoint(create_model("ait-depth-vqvae", image_size=64), tmp_path / "vq")
    with pytest.raises(ValueError, match="'depth-tokenizer' models .* are not shipped"):
        publish(tmp_path / "vq", "vq", None, seed=0, out_root=tmp_path / "weights")

"""Training: loss, checkpoints, the CLI end to end, resume, distributed sync, evaluation."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from edgetokens.checkpoint import load_checkpoint, read_checkpoint_info, save_checkpoint
from edgetokens import create_model
from training import evaluate, train
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
    loaded, info = load_checkpoint(tmp_path / "ck")
    assert info["arch"] == "hot-mixste" and info["metrics"]["mpjpe_mm"] == 50.0 and "revision" in info
    x = torch.randn(1, 9, 17, 2)
    assert torch.equal(model.eval()(x), loaded.eval()(x))
    save_checkpoint(model, tmp_path / "ck")  # overwriting an existing checkpoint works
    with pytest.raises(FileNotFoundError, match="config.json"):
        read_checkpoint_info(tmp_path / "nowhere")
    (tmp_path / "ck" / "config.json").write_text("{broken")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_checkpoint_info(tmp_path / "ck")


def test_train_cli_writes_checkpoints_and_resumes(tmp_path, capsys):
    assert train.main(quick_args(tmp_path)) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["epoch"] == 1 and record["mpjpe_mm"] > 0 and record["sequences"] == 2
    for name in ("best", "last"):
        info = read_checkpoint_info(tmp_path / "run" / name)
        assert info["config"]["frames"] == 9 and info["data"]["source"] == "synthetic"
    first, _ = load_checkpoint(tmp_path / "run" / "last")
    assert train.main(quick_args(tmp_path, "--epochs", "2", "--resume")) == 0
    state = torch.load(tmp_path / "run" / "last" / "training_state.pt", weights_only=True)
    assert state["epoch"] == 1 and len(state["history"]) == 2
    second, _ = load_checkpoint(tmp_path / "run" / "last")
    assert not torch.equal(first.head.weight, second.head.weight)
    # resuming is exact: the same weights as two epochs in one go
    assert train.main(quick_args(tmp_path, "--epochs", "2", "--out", str(tmp_path / "straight"))) == 0
    straight, _ = load_checkpoint(tmp_path / "straight" / "last")
    for name, value in straight.state_dict().items():
        assert torch.equal(value, second.state_dict()[name]), name


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
    assert train.main(quick_args(tmp_path, "--init", str(tmp_path / "wider"))) == 2
    assert "shape mismatches" in capsys.readouterr().err
    save_checkpoint(create_model("ait-depth-vqvae"), tmp_path / "vq")
    with pytest.raises(ValueError, match="no tensor"):
        train.warm_start(hot, str(tmp_path / "vq"))


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


def test_evaluate_window_errors_split_kept_recovered_frames_and_motion(tmp_path, capsys):
    assert train.main(quick_args(tmp_path)) == 0
    capsys.readouterr()
    assert evaluate.main(["--checkpoint", str(tmp_path / "run" / "best"), "--data", "synthetic", "--json",
                          "--kept-frames"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    model, _ = load_checkpoint(tmp_path / "run" / "best")
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


def test_publish_records_both_test_splits(shared_dir, tmp_path, monkeypatch):
    from edgetokens import zoo
    from training.publish import publish, results_table

    torch.manual_seed(0)
    model = create_model("hot-mixste", frames=9, embed_dim=16, mlp_hidden=16, depth=2, heads=2,
                         token_num=3, layer_index=1)
    save_checkpoint(model, tmp_path / "run" / "best", metrics={"epoch": 3, "mpjpe_mm": 1.0})
    info = publish(tmp_path / "run" / "best", "tiny", str(shared_dir / "data" / "cmu-mocap"), seed=0,
                   out_root=tmp_path / "weights")
    assert set(info["evaluation"]) == {"cmu", "synthetic"}
    assert info["evaluation"]["cmu"]["sequences"] == 16  # subject 03: 4 takes x 4 cameras
    assert info["facts"]["params"] == sum(p.numel() for p in model.parameters())
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path / "weights")
    assert zoo.list_pretrained() == ["tiny"]
    table = results_table()
    assert "| tiny |" in table and f"{info['evaluation']['cmu']['mpjpe_mm']:.1f}" in table
    loaded = zoo.load_pretrained("tiny")
    x = torch.randn(1, 9, 17, 2)
    assert torch.equal(loaded(x), model.eval()(x))
    with pytest.raises(ValueError, match="shipped defaults: tiny"):
        zoo.load_pretrained("hot-mixste")

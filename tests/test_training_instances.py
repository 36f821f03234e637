"""AiT instance training (`training.instances`, `training.tasks.instances`, `training.tasks.joint`): data items,
both stages' steps, tokenizer loading, metrics, the joint batch, several processes."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from edgetokens import create_model
from edgetokens.checkpoint import read_checkpoint_info, save_checkpoint
from edgetokens.vision.letterbox import letterbox_for
from edgetokens.vision.masks import crop_masks, paste_masks
from training import train
from training.config import DataConfig, RunConfig
from training.data.instances import InstanceAnnotations
from training.instances import (
    InstanceItems,
    instance_item,
    instance_records,
    instance_test_set,
    instance_train_set,
    score_instances,
)
from training.tasks import instances as instance_task
from training.tasks import joint as joint_task

torch.set_num_threads(1)
TINY = dict(image_size=64, slots=3, d_model=32, heads=2, mlp_hidden=64, encoder_depth=1, decoder_depth=1,
            backbone="conv", backbone_widths=(8, 8, 16, 16, 32), vq_hidden_dim=4, vq_code_dim=16,
            mask_vq_hidden_dim=4, mask_vq_code_dim=16)
TINY_SETS = [arg for key, value in TINY.items()
             for arg in ("--set", f"{key}={','.join(map(str, value)) if isinstance(value, tuple) else value}")]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def coco128(shared_dir):
    return f"yolo:{shared_dir / 'data' / 'coco128-seg'}"


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    """Random (untrained) tiny mask and depth tokenizer checkpoints matching TINY."""
    root = tmp_path_factory.mktemp("tokenizers")
    torch.manual_seed(0)
    mask = save_checkpoint(create_model("ait-mask-vqvae", vq_hidden_dim=4, vq_code_dim=16), root / "mask")
    depth = save_checkpoint(create_model("ait-depth-vqvae", image_size=64, vq_hidden_dim=4, vq_code_dim=16),
                            root / "depth")
    return str(mask), str(depth)


def solver(name, tokenizer, **overrides):
    torch.manual_seed(0)
    model = create_model(name, **{**TINY, **overrides})
    task = joint_task if name == "ait" else instance_task
    step = task.solver_step(RunConfig(model=name, out="unused", tokenizer=tokenizer), model)
    return model, step


def first_batch(dataset, size):
    return next(iter(torch.utils.data.DataLoader(dataset, batch_size=size)))


def test_scene_items_are_fixed_size_deterministic_and_new_each_epoch():
    items = instance_train_set("scenes", 64, 3, 64, seed=5, count=3)
    item = items[1]
    shapes = {k: (tuple(v.shape), v.dtype) for k, v in item.items()}
    assert shapes == {"image": ((3, 64, 64), torch.float32), "boxes": ((3, 4), torch.float32),
                      "classes": ((3,), torch.int64), "crops": ((3, 64, 64), torch.float32),
                      "count": ((), torch.int64), "content": ((2,), torch.float32), "seed": ((), torch.int64)}
    n = int(item["count"])
    assert 1 <= n <= 3 and set(item["crops"].unique().tolist()) <= {0.0, 1.0}
    assert (item["boxes"][:n, 2:] > item["boxes"][:n, :2]).all() and (item["boxes"][:n] <= 64).all()
    assert not item["boxes"][n:].any() and not item["crops"][n:].any() and item["crops"][:n].flatten(1).any(1).all()
    again = items[1]
    assert all(torch.equal(item[k], again[k]) for k in item)  # (seed, epoch, index) decide everything
    items.set_epoch(1)
    assert not torch.equal(items[1]["image"], item["image"])  # fresh rooms each epoch
    assert instance_records("scenes", "test", 64, 5, 2)[0].image_id == 5 + 1_000_000  # test scenes apart


def test_folder_holdout_is_disjoint_and_items_are_letterboxed(coco128):
    train_records = instance_records(coco128, "train", 64, seed=1)
    test_records = instance_records(coco128, "test", 64, seed=2)  # the split ignores the run's seed
    assert not set(train_records.names) & set(test_records.names)
    assert len(train_records) + len(test_records) == 100 and 10 <= len(test_records) <= 30
    assert len(instance_test_set(coco128, 64, 0, count=4)) == 4
    items = InstanceItems(train_records, 64, 3, 64, seed=0)
    item, record = items[2], train_records[2]  # 9 objects
    rows, cols = letterbox_for(record.height, record.width, 64).content
    width, height = item["content"].tolist()
    assert 0.6 * cols - 1 <= width <= cols and abs(width / height - cols / rows) < 0.1  # scale jitter keeps aspect
    assert torch.equal(items[2]["image"], item["image"]) and int(item["count"]) == 3  # extra objects dropped
    assert [int(items[i]["count"]) for i in (0, 1)] == [len(train_records[0]), len(train_records[1])]
    with pytest.raises(ValueError, match="unknown instance data 'kinect'"):
        instance_records("kinect", "train", 64, 0)


def synthetic_record(crowd_too=False):
    """A 40 x 80 dark image with one bright 15 x 20 object at the left (and a crowd region at the right)."""
    image = np.zeros((40, 80, 3), np.uint8)
    masks = np.zeros((2 if crowd_too else 1, 40, 80), bool)
    masks[0, 10:30, 5:20] = True
    image[masks[0]] = 255
    boxes = [[5, 10, 20, 30]] + ([[60, 0, 80, 40]] if crowd_too else [])
    if crowd_too:
        masks[1, :, 60:] = True
    return InstanceAnnotations(image, boxes, [0, 0][:len(boxes)], masks, [False, True][:len(boxes)], 1, "synthetic")


def test_boxes_crops_and_image_agree_under_flip_and_jitter_and_crowd_is_never_a_target():
    record = synthetic_record(crowd_too=True)
    flips = set()
    for seed in range(8):
        item = instance_item(record, 64, 3, 64, np.random.default_rng(seed))
        assert int(item["count"]) == 1  # the crowd region is not an object to learn
        box = item["boxes"][:1]
        pasted = paste_masks(item["crops"][:1], box, 64, 64)[0]
        bright = item["image"][0] > 1.0  # the object's white pixels, ImageNet-normalised
        iou = (pasted & bright).sum() / (pasted | bright).sum()
        assert iou > 0.8, (seed, iou)
        flips.add(bool(box[0, 0] > 16))
    assert flips == {True, False}  # both orientations were drawn


def test_solver_steps_reduce_the_instance_loss(tokenizers):
    model, step = solver("ait-instances", tokenizers[0])
    batch = first_batch(instance_train_set("scenes", 64, 3, 64, seed=0, count=4), 4)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    losses = []
    for _ in range(8):
        parts = step(model, batch, CPU)
        optimizer.zero_grad()
        parts["loss"].backward()
        optimizer.step()
        losses.append(parts["loss"].item())
    assert {"loss", "ce", "mask_aux"} <= set(parts) and np.isfinite(losses).all()
    assert losses[-1] < 0.9 * losses[0], losses
    frozen = create_model(checkpoint=tokenizers[0]).state_dict()
    assert all(torch.equal(model.mask_tokenizer.state_dict()[k], v) for k, v in frozen.items())


def test_tokenizer_step_reduces_the_reconstruction_mse():
    torch.manual_seed(0)
    tokenizer = create_model("ait-mask-vqvae", vq_hidden_dim=4, vq_code_dim=16)
    step = instance_task.tokenizer_step(RunConfig(model="ait-mask-vqvae", out="unused"), tokenizer)
    batch = first_batch(InstanceItems(instance_records("scenes", "train", 64, 0, 4), 64, 8, 64, 0), 4)
    optimizer = torch.optim.Adam(tokenizer.parameters(), lr=1e-2)
    mse = []
    for _ in range(15):
        parts = step(tokenizer, batch, CPU)
        optimizer.zero_grad()
        parts["loss"].backward()
        optimizer.step()
        mse.append(parts["mse"].item())
    assert mse[-1] < 0.95 * mse[0], mse


def test_tokenizer_loading_errors_name_the_file(tokenizers):
    mask, depth = tokenizers
    with pytest.raises(ValueError, match="needs --tokenizer DIR"):
        solver("ait-instances", None)
    with pytest.raises(ValueError, match=rf"tokenizer {re.escape(mask)} has config .*\(--set mask_vq_code_dim=16\)"):
        solver("ait-instances", mask, mask_vq_code_dim=8)
    with pytest.raises(ValueError, match=f"--tokenizer {re.escape(depth)} is a ait-depth-vqvae checkpoint"):
        solver("ait-instances", depth)
    with pytest.raises(ValueError, match="needs --tokenizer MASK_DIR,DEPTH_DIR.*missing ait-depth-vqvae"):
        solver("ait", mask)
    _, step = solver("ait", f"{depth},{mask}")  # any order
    assert step.info["mask_tokenizer"] == mask and step.info["depth_tokenizer"] == depth


class HardDecoder:
    def __init__(self):
        self.queue = []

    def decode_ids(self, ids):
        return self.queue.pop(0)[:, None]


class GroundTruthModel(nn.Module):
    """Answers each test image with its own ground truth (boxes in input pixels, box crops as masks)."""

    def __init__(self, test):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))
        self.answers = [self.answer(test.records[i], test.image_size) for i in range(len(test))]
        self.mask_tokenizer = HardDecoder()

    @staticmethod
    def answer(record, size):
        letterbox = letterbox_for(record.height, record.width, size)
        crops = torch.from_numpy(crop_masks(record.masks, record.boxes, 64))
        return {"boxes": letterbox.boxes_to_input(record.boxes), "class_ids": record.classes,
                "scores": np.ones(len(record), np.float32), "mask_logits": torch.zeros(len(record), 16, 8),
                "mask_probs": crops}

    def instances(self, images, seed=0):
        chunk, self.answers = self.answers[:len(images)], self.answers[len(images):]
        self.mask_tokenizer.queue += [a["mask_probs"] for a in chunk if len(a["scores"])]
        return chunk


def test_instance_metrics_map_predictions_back_to_each_image(coco128):
    test = instance_test_set(coco128, 96, 0, count=6)
    metrics = score_instances(GroundTruthModel(test), test)
    assert metrics["box_ap"] > 0.99 and metrics["mask_ap50"] > 0.99 and metrics["mask_ap"] > 0.6
    assert metrics["hard_mask_ap"] == metrics["mask_ap"] and metrics["mask_ap_loss"] == 1 - metrics["mask_ap"]


def test_metrics_keys_and_ranges(tokenizers):
    model, _ = solver("ait-instances", tokenizers[0])
    test = instance_test_set("scenes", 64, 0, count=2)
    metrics = instance_task.metrics(None, test, model)
    assert {"mask_ap", "box_ap", "mask_ap50", "person_mask_ap50", "hard_mask_ap", "mask_ap_loss"} <= set(metrics)
    for key in ("mask_ap", "box_ap", "mask_ap50", "hard_mask_ap", "mask_ap_loss"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["num_images"] == 2 and model.training  # scoring leaves the train mode as it was
    with pytest.raises(ValueError, match="instance decoding runs in torch"):
        instance_task.metrics(lambda x: x, test, model)

    tokenizer = create_model(checkpoint=tokenizers[0])
    crops = InstanceItems(instance_records("scenes", "test", 64, 0, 2), 64, 8, 64, 0, augment=False)
    scores = instance_task.tokenizer_metrics(None, crops, tokenizer)
    assert 0 <= scores["mean_iou"] <= 1 and scores["mse"] > 0 and 1 <= scores["codes_used"] <= 128
    exported = instance_task.tokenizer_metrics(lambda x: tokenizer(torch.from_numpy(x))[0].detach().numpy(),
                                               crops, tokenizer)
    assert exported["masks"] == scores["masks"] and abs(exported["mse"] - scores["mse"]) < 1e-6


def test_joint_batch_trains_both_tasks_through_the_shared_backbone(tokenizers):
    model, step = solver("ait", f"{tokenizers[0]},{tokenizers[1]}")
    data = joint_task.build_data(DataConfig(source="scenes", train_count=6, test_count=2), model)
    assert data.info["instance_images"] == 5 and data.info["depth_images"] == 1
    batch = first_batch(data.train, 6)  # the default collate: every item has the same keys
    assert batch["task"].tolist() == [0, 0, 0, 0, 0, 1] and batch["depth"][:5].abs().sum() == 0
    parts = step(model, batch, CPU)
    assert all(torch.isfinite(v) for v in parts.values())
    assert torch.isclose(parts["loss"], parts["instance_loss"] + 0.2 * parts["depth_loss"])
    stem = next(model.backbone.parameters())
    for name in ("instance_loss", "depth_loss"):
        model.zero_grad()
        parts[name].backward(retain_graph=True)
        assert stem.grad is not None and stem.grad.abs().sum() > 0, name
    model.zero_grad()
    only_instances = step(model, {k: v[:2] for k, v in batch.items()}, CPU)  # no depth image in this batch
    only_instances["loss"].backward()
    unreached = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert only_instances["depth_loss"] == 0 and not unreached  # what DistributedDataParallel needs
    metrics = joint_task.metrics(None, data.test, model)
    assert metrics["joint_loss"] == pytest.approx(1 - metrics["mask_ap"] + metrics["depth_rmse"])


@pytest.mark.slow
def test_cli_trains_both_stages(tmp_path, capsys):
    quick = ["--data", "scenes", "--clips-per-epoch", "4", "--eval-sequences", "2", "--epochs", "1",
             "--batch-size", "2", "--threads", "1", "--no-progress"]
    stage1 = tmp_path / "mask"
    assert train.main(["--model", "ait-mask-vqvae", "--set", "vq_hidden_dim=4", "--set", "vq_code_dim=16", *quick,
                       "--lr", "3e-4", "--out", str(stage1)]) == 0
    info = read_checkpoint_info(stage1 / "last")
    assert {"mse", "mean_iou", "codes_used"} <= set(info["metrics"])
    stage2 = tmp_path / "instances"
    assert train.main(["--model", "ait-instances", *TINY_SETS, *quick,
                       "--tokenizer", str(stage1 / "last"), "--out", str(stage2)]) == 0
    info = read_checkpoint_info(stage2 / "last")
    assert info["data"]["tokenizer"] == str(stage1 / "last") and "mask_ap_loss" in info["metrics"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ait", "ait-mask-vqvae"])
def test_two_process_training_stays_in_sync(name, tokenizers, tmp_path):
    out = tmp_path / "run"
    sets = TINY_SETS if name == "ait" else ["--set", "vq_hidden_dim=4", "--set", "vq_code_dim=16"]
    stage2 = ["--tokenizer", ",".join(tokenizers)] if name == "ait" else []
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29547",
           os.path.join(os.path.dirname(__file__), "ddp_worker.py"), "--model", name, *sets, *stage2,
           "--data", "scenes", "--clips-per-epoch", "16", "--eval-sequences", "2", "--epochs", "1",
           "--batch-size", "4", "--lr", "2e-3", "--threads", "1", "--no-progress", "--out", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = load_file(str(out / "rank0.safetensors")), load_file(str(out / "rank1.safetensors"))
    torch.manual_seed(1126)  # the trainer's seed: the same initial weights
    overrides = TINY if name == "ait" else {"vq_hidden_dim": 4, "vq_code_dim": 16}
    initial = dict(create_model(name, **overrides).named_parameters())
    assert any(not torch.equal(rank0[k], initial[k]) for k in initial)  # it trained
    # parameters; buffers (batch-norm statistics, the EMA codebook) are rank 0's, broadcast before every step
    for key in initial:
        assert torch.equal(rank0[key], rank1[key]), key


@pytest.mark.slow
def test_freeze_keeps_the_backbone_and_its_statistics_and_resume_must_repeat_it(tokenizers, tmp_path, capsys):
    out = tmp_path / "frozen"
    args = ["--model", "ait-instances", *TINY_SETS, "--data", "scenes", "--clips-per-epoch", "4", "--eval-sequences",
            "2", "--batch-size", "2", "--lr", "1e-3", "--threads", "1", "--no-progress", "--tokenizer", tokenizers[0],
            "--out", str(out)]
    assert train.main([*args, "--epochs", "1", "--freeze", "backbone"]) == 0
    torch.manual_seed(1126)  # the trainer's seed: the same initial weights
    initial = create_model("ait-instances", **TINY).state_dict()
    trained = load_file(str(out / "last" / "model.safetensors"))
    backbone = [k for k in initial if k.startswith("backbone.")]
    assert any(k.endswith("running_mean") for k in backbone)  # BatchNorm statistics are kept too
    assert all(torch.equal(trained[k], initial[k]) for k in backbone)
    assert any(not torch.equal(trained[k], initial[k]) for k in initial if k.startswith("solver."))
    assert train.main([*args, "--epochs", "2", "--resume"]) == 2
    assert "resume it with the same --freeze" in capsys.readouterr().err
    assert train.main([*args, "--epochs", "2", "--resume", "--freeze", "backbone"]) == 0
    assert train.main(["--model", "mixste", "--data", "synthetic", "--epochs", "1", "--freeze", "backbone",
                       "--out", str(tmp_path / "pose")]) == 2
    assert "has no parts to freeze" in capsys.readouterr().err

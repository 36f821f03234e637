"""The pose3d task (HoT lifters): clips of 2D keypoints -> 3D poses.

Loss: weighted MPJPE + 0.5 temporal consistency + 2.0 velocity (`training.losses`); every training
clip is also seen mirrored. Metrics: MPJPE, P-MPJPE, N-MPJPE and velocity error in mm over whole test
sequences with test-time flip averaging (`training.evaluate`).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from training.config import DataConfig, RunConfig
from training.data.clips import ClipConfig, PoseClipDataset, build_sources
from training.evaluate import evaluate_model, evaluation_set, score
from training.losses import hot_loss
from training.tasks import Publishing, TaskData, TrainStep

PUBLISH_SPLITS = ("cmu", "synthetic")  # a shipped lifter records its accuracy on both test splits
VALIDATION_SEQUENCES = 8  # training sequences, spread over the split, that tuning decisions are scored on


def training_clips(views: Sequence, model: nn.Module, seed: int) -> PoseClipDataset:
    """Random-offset clips plus their mirrored copies, shaped for `model`'s input."""
    cfg = model.config
    return PoseClipDataset(views, ClipConfig(frames=cfg.frames, train=True, flip=True,
                                             with_scores=cfg.in_channels == 3, seed=seed))


def calibration_clips(views: Sequence, model: nn.Module, count: int, seed: int) -> list[np.ndarray]:
    """`count` random training clips (of epoch 0), each (1, F, J, C) float32: NNCF calibrates
    transformers at batch 1."""
    if not views:
        raise ValueError("the calibration set is empty: no sequences in the calibration data")
    data = training_clips(views, model, seed)
    picks = np.random.default_rng(seed).choice(len(data), size=min(count, len(data)), replace=False)
    return [data[int(i)]["input"].numpy()[None] for i in picks]


def build_data(config: DataConfig, model: nn.Module) -> TaskData:
    """Training clips and test sequences of `config.source` (`training.data.clips.build_sources`);
    `test` is the list of test views, the first `test_count` of them when given."""
    train_views = build_sources(config.source, config.root, seed=config.seed, split="train")
    test_views = build_sources(config.source, config.root, seed=config.seed, split="test")
    if config.test_count:
        test_views = test_views[: config.test_count]
    info = {"source": config.source, "root": config.root, "seed": config.seed,
            "train_sequences": len(train_views), "train_frames": sum(len(v) for v in train_views),
            "test_sequences": len(test_views)}
    step = max(1, len(train_views) // VALIDATION_SEQUENCES)
    return TaskData(training_clips(train_views, model, config.seed), test_views, info,
                    lambda count, seed: calibration_clips(train_views, model, count, seed), unit="clip",
                    validation=train_views[::step][:VALIDATION_SEQUENCES])


def pose_step(net: nn.Module, batch: dict, device: torch.device, amp: bool = False) -> dict:
    """The HoT loss of one batch of clips (bf16 autocast of the forward pass when `amp`)."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        pred = net(batch["input"].to(device))
    return hot_loss(pred.float(), batch["target"].to(device))


def train_step(config: RunConfig, model: nn.Module) -> TrainStep:
    return TrainStep(pose_step)


def metrics(run: Callable[[np.ndarray], np.ndarray] | None, test_views: Sequence, model: nn.Module) -> dict:
    """MPJPE & co. in mm of the torch `model` (run=None) or of `run` (keypoint clips -> poses) on the
    test views."""
    if run is None:
        return evaluate_model(model, test_views, device=next(model.parameters()).device)
    c = model.config
    return score(run, evaluation_set(test_views, c.frames, c.in_channels), c.frames)


def publish_evaluation(model: nn.Module, data_root: str | None, seed: int) -> dict:
    return {source: evaluate_model(model, build_sources(source, data_root, seed=seed, split="test"))
            for source in PUBLISH_SPLITS}


def results_table(entries: list[tuple[str, dict]]) -> list[str]:
    lines = ["| model | params | GFLOPs | epochs | CMU test MPJPE / P-MPJPE (mm) "
             "| synthetic test MPJPE / P-MPJPE (mm) |",
             "|---|---|---|---|---|---|"]
    for name, info in entries:
        ev, facts = info["evaluation"], info["facts"]
        cells = [f"{ev[s]['mpjpe_mm']:.1f} / {ev[s]['p_mpjpe_mm']:.1f}" for s in PUBLISH_SPLITS]
        lines.append(f"| {name} | {facts['params'] / 1e6:.2f} M | {facts['gflops']:.2f} | "
                     f"{info['metrics']['epoch']} | {cells[0]} | {cells[1]} |")
    return lines


PUBLISH = Publishing(publish_evaluation, results_table)

"""The pose3d task (HoT lifters): clips of 2D keypoints -> 3D poses.

Loss: weighted MPJPE + 0.5 temporal consistency + 2.0 velocity (`training.losses`); every training
clip is also seen mirrored. Metrics: MPJPE, P-MPJPE, N-MPJPE and velocity error in mm over whole test
sequences with test-time flip averaging (`training.evaluate`). Training and test views are drawn in the
data's input layout (`DataConfig.input_layout`, `training.data.layouts`). A shipped lifter records
every test split of `PUBLISH_SPLITS` in every 2D layout of `PUBLISH_LAYOUTS` (`evaluation_key`).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from training.config import DataConfig, RunConfig
from training.data.clips import ClipConfig, PoseClipDataset, SourceConfig, build_sources, positions_folder
from training.evaluate import evaluate_model, evaluation_set, score
from training.losses import hot_loss
from training.tasks import Publishing, TaskData, TrainStep

# a shipped lifter records its accuracy on these test splits (CMU subject 03, cmu-positions test/, the
# synthetic test subjects), each with 2D input in every layout (the held-out real motion in COCO layout
# is what users' detectors feed)
PUBLISH_SPLITS = ("cmu", "cmu-positions", "synthetic")
PUBLISH_LAYOUTS = ("h36m", "coco", "blazepose")
SPLIT_TITLES = {"cmu": "CMU 03", "cmu-positions": "cmu-positions test", "synthetic": "synthetic test"}
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
    sources = SourceConfig(input_layout=config.input_layout, positions_root=config.positions_root)
    train_views = build_sources(config.source, config.root, seed=config.seed, split="train", config=sources)
    test_views = build_sources(config.source, config.root, seed=config.seed, split="test", config=sources)
    if config.test_count:
        test_views = test_views[: config.test_count]
    info = {"source": config.source, "root": config.root, "seed": config.seed, "input_layout": config.input_layout,
            "train_sequences": len(train_views), "train_frames": sum(len(v) for v in train_views),
            "test_sequences": len(test_views)}
    if config.positions_root:
        info["positions_root"] = config.positions_root
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


def evaluation_key(split: str, layout: str) -> str:
    """Where a card's `evaluation` keeps a split's metrics in a layout: `cmu`, `cmu/coco`, ..."""
    return split if layout == "h36m" else f"{split}/{layout}"


def publish_evaluation(model: nn.Module, data_root: str | None, seed: int, rgbd_real: str | None = None) -> dict:
    """Every split of `PUBLISH_SPLITS` in every layout of `PUBLISH_LAYOUTS`, the same cameras in each
    layout (cmu-positions: `training.data.clips.positions_folder`, beside the CMU root by default)."""
    positions = str(positions_folder(SourceConfig(), data_root))
    return {evaluation_key(split, layout): evaluate_model(model, build_sources(
        split, data_root, seed=seed, split="test", config=SourceConfig(input_layout=layout, positions_root=positions)))
        for split in PUBLISH_SPLITS for layout in PUBLISH_LAYOUTS}


def _cell(evaluation: dict, split: str, layouts: Sequence[str], metric: str = "mpjpe_mm") -> str:
    values = [evaluation.get(evaluation_key(split, x), {}).get(metric) for x in layouts]
    return " / ".join("-" if v is None else f"{v:.1f}" for v in values)


def results_table(entries: list[tuple[str, dict]]) -> list[str]:
    """MPJPE per test split with H36M / COCO / BlazePose-style 2D side by side ("-": not recorded)."""
    layouts = " / ".join({"h36m": "H36M", "coco": "COCO", "blazepose": "BlazePose"}[x] for x in PUBLISH_LAYOUTS)
    lines = ["| model | params | GFLOPs | epochs | 2D layouts trained | "
             + " | ".join(f"{SPLIT_TITLES[s]} MPJPE (mm), {layouts} 2D" for s in PUBLISH_SPLITS)
             + " | CMU 03 P-MPJPE (mm), H36M / COCO 2D |",
             "|---|---|---|---|---|" + "---|" * (len(PUBLISH_SPLITS) + 1)]
    for name, info in entries:
        ev, facts = info["evaluation"], info["facts"]
        trained = ", ".join(info["config"].get("input_layouts", ["h36m"]))
        cells = [_cell(ev, s, PUBLISH_LAYOUTS) for s in PUBLISH_SPLITS]
        cells.append(_cell(ev, "cmu", ("h36m", "coco"), "p_mpjpe_mm"))
        lines.append(f"| {name} | {facts['params'] / 1e6:.2f} M | {facts['gflops']:.2f} | "
                     f"{info['metrics']['epoch']} | {trained} | " + " | ".join(cells) + " |")
    return lines


PUBLISH = Publishing(publish_evaluation, results_table)

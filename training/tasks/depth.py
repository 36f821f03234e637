"""The depth tasks (AiT): `depth` (stage 2, the task-solver) and `depth-tokenizer` (stage 1, the VQ-VAE).

Both read the same data (`training.depth`): RGB images normalised for the model and depth maps in
metres (0 = sensor hole). Metrics are per image on the valid pixels, averaged (`rmse`, `abs_rel`,
`d1`, ...), plus `hole_rmse` where the complete rendered depth is known; the tokenizer also reports
`codes_used`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from edgetokens.vision.depth import MIN_DEPTH
from training.config import DataConfig, RunConfig
from training.depth import (
    DEFAULT_TEST_SCENES,
    DEFAULT_TRAIN_SCENES,
    depth_test_set,
    depth_train_set,
    evaluate_solver,
    evaluate_tokenizer,
    masked_reconstruction_step,
    score_depth,
    token_prediction_step,
)
from training.evaluate_depth import depth_evaluation
from training.instances import load_tokenizers
from training.loop import through_ddp
from training.tasks import Publishing, TaskData, TrainStep

MASK_PATCH = 16  # stage-1 mask augmentation zeroes patches of this many pixels a side


def build_data(config: DataConfig, model: nn.Module) -> TaskData:
    """Stage 2 (`depth`): images in, calibration samples are images (1, 3, S, S)."""
    return _depth_data(config, model, "image")


def build_tokenizer_data(config: DataConfig, model: nn.Module) -> TaskData:
    """Stage 1 (`depth-tokenizer`): the same data; the model's input, and so a calibration sample, is
    a depth map (1, 1, S, S)."""
    return _depth_data(config, model, "depth")


def _depth_data(config: DataConfig, model: nn.Module, input_key: str) -> TaskData:
    """`train_count` (default 2000) training images per epoch, `test_count` (default 100) test images;
    `source` "mix" (the pose default) means `scenes`. Calibration samples are the first images of the
    training split (epoch 0) drawn with the calibration seed."""
    size = model.config.image_size
    train = depth_train_set(config.source, size, config.seed, config.train_count or DEFAULT_TRAIN_SCENES,
                            epochs=config.epochs)
    test = depth_test_set(config.source, size, config.seed, config.test_count or DEFAULT_TEST_SCENES)
    info = {"source": config.source, "seed": config.seed, "train_images": len(train), "test_images": len(test),
            "image_size": size, "fresh_scenes_per_epoch": bool(getattr(train, "fresh", False))}

    def calibration(count: int, seed: int) -> list[np.ndarray]:
        images = depth_train_set(config.source, size, seed, max(count, 1))
        return [images[i][input_key].numpy()[None] for i in range(min(len(images), count))]

    return TaskData(train, test, info, calibration, unit="image")


def tokenizer_step(config: RunConfig, model: nn.Module) -> TrainStep:
    """Stage 1: reconstruction of depth with `config.mask_ratio` of its 16-pixel patches zeroed.

    Several processes (torchrun): the step is the model's forward, so DistributedDataParallel averages
    the gradients and broadcasts rank 0's buffers before every step: the EMA codebook stays the same in
    every process, and follows rank 0's batches (the other ranks' codebook updates are overwritten).
    """
    return TrainStep(masked_reconstruction_step(config.mask_ratio, MASK_PATCH),
                     {"mask_ratio": config.mask_ratio, "mask_patch": MASK_PATCH})


def solver_step(config: RunConfig, model: nn.Module) -> TrainStep:
    """Stage 2: token prediction against the frozen tokenizer.

    Loads `config.tokenizer` (a trained stage-1 checkpoint) into `model.vqvae` and freezes it; with
    `config.resume` the tokenizer comes back with the rest of the model from OUT/last and is only
    frozen here. `config.ar_sampling` > 0: scheduled sampling (autoregressive decoders only).
    """
    if not config.tokenizer:
        raise ValueError(f"{model.arch} (stage 2) needs --tokenizer DIR: a trained ait-depth-vqvae checkpoint "
                         "(python -m training.train --model ait-depth-vqvae ...)")
    sampling = config.ar_sampling
    if sampling and model.config.parallel:
        raise ValueError(f"--ar-sampling applies to the autoregressive decoder (ait-depth-ar), not {model.arch}")
    if not config.resume:
        load_tokenizers(model, config.tokenizer, ["vqvae"])  # the stage-1 depth VQ-VAE, or a model holding one
    else:
        model.freeze_tokenizer()  # --resume restores the whole model, tokenizer included
    info = {"tokenizer": str(config.tokenizer)} | ({"ar_sampling": sampling} if sampling else {})
    return TrainStep(through_ddp(token_prediction_step(sampling)), info)  # the step calls several model methods


def _as_depth(run: Callable[[np.ndarray], np.ndarray]) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: torch.from_numpy(run(x.numpy())).clamp_min(MIN_DEPTH)


def metrics(run: Callable[[np.ndarray], np.ndarray] | None, test_set: Dataset, model: nn.Module) -> dict:
    """Depth metrics of the torch solver (run=None: AiT-P's one pass, or greedy AR decoding) or of
    `run` (images -> depth)."""
    if run is None:
        return evaluate_solver(model, test_set)
    return score_depth(_as_depth(run), test_set)


def tokenizer_metrics(run: Callable[[np.ndarray], np.ndarray] | None, test_set: Dataset, model: nn.Module) -> dict:
    """Reconstruction of the test depth (holes in the input) by the torch tokenizer (run=None, with
    `codes_used`) or by `run` (depth -> depth)."""
    if run is None:
        return evaluate_tokenizer(model, test_set)
    return score_depth(_as_depth(run), test_set, key="depth")


def publish_evaluation(model: nn.Module, data_root: str | None, seed: int, rgbd_real: str | None = None) -> dict:
    """Scenes test metrics with soft and hard token decoding, on the shipped real RGB-D frame and on the
    `rgbd_real` frames (a folder like shared/data/rgbd-real)."""
    return depth_evaluation(model, seed, rgbd_real_root=rgbd_real)


def real_cell(evaluation: dict) -> str:
    """"RMSE / AbsRel" on the rgbd-real frames, or "-" when they were not given to the publish."""
    real = evaluation.get("rgbd_real")
    return f"{real['rmse']:.3f} / {real['abs_rel']:.3f}" if real else "-"


def results_table(entries: list[tuple[str, dict]]) -> list[str]:
    lines = ["| depth model | params | GFLOPs | epochs (images) | scenes test RMSE m, soft / hard "
             "| AbsRel | d1 | real RGB-D frame RMSE m | rgbd-real RMSE m / AbsRel |", "|---|---|---|---|---|---|---|---|---|"]
    for name, info in entries:
        ev, facts = info["evaluation"], info["facts"]
        soft, hard, real = ev["scenes"], ev["scenes_hard"], ev.get("rgbd_sample", {})
        images = info["metrics"]["epoch"] * info["data"]["images_per_epoch"]
        lines.append(f"| {name} | {facts['params'] / 1e6:.2f} M | {facts['gflops']:.2f} | "
                     f"{info['metrics']['epoch']} ({images:,}) | {soft['rmse']:.3f} / {hard['rmse']:.3f} | "
                     f"{soft['abs_rel']:.3f} | {soft['d1']:.3f} | {real.get('rmse', float('nan')):.3f} | {real_cell(ev)} |")
    return lines


# shipped solvers store float16 parameters: half the package size (the recorded metrics are of those)
PUBLISH = Publishing(publish_evaluation, results_table, parameter_dtype=torch.float16)

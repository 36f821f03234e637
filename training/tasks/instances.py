"""The instance tasks (AiT): `instances` (stage 2, the task-solver) and `mask-tokenizer` (stage 1, the
mask VQ-VAE on 64 x 64 box crops).

Both read the same data (`training.instances`: `--data scenes | yolo:ROOT | coco:...`). The solver
is scored by COCO AP on the test images at their own resolution (`mask_ap`, `box_ap`, `mask_ap50`,
`person_mask_ap50`, ..., soft and hard mask decoding) and picks OUT/best by `mask_ap_loss` =
1 - mask_ap; the tokenizer by `mse` of its reconstructions (on [-1, 1] values, the training loss's
term), with `mean_iou` and `codes_used`. Instance decoding runs in torch (the exported graph of an
instance model is its image memory), so an exported artifact cannot be scored yet.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from training.config import DataConfig, RunConfig
from training.instances import (
    TOKENIZER_CROPS,
    TOKENIZER_IMAGE_SIZE,
    InstanceItems,
    InstanceTestSet,
    evaluate_tokenizer,
    instance_records,
    instance_step,
    instance_test_set,
    instance_train_set,
    load_tokenizers,
    score_instances,
    score_tokenizer,
)
from training.instances import tokenizer_step as reconstruction_step
from training.loop import through_ddp
from training.tasks import Publishing, TaskData, TrainStep

log = logging.getLogger("training.tasks.instances")

TORCH_ONLY = ("instance decoding runs in torch for now (an exported instance model is its image memory; the "
              "exported KV-cached decoder is coming): score the torch model (run=None)")


def _info(config: DataConfig, train: Dataset, test, size: int) -> dict:
    return {"source": config.source, "seed": config.seed, "train_images": len(train), "test_images": len(test),
            "image_size": size, "fresh_scenes_per_epoch": bool(getattr(train, "fresh", False))}


def image_calibration(config: DataConfig, model: nn.Module) -> Callable[[int, int], list[np.ndarray]]:
    """Calibration samples: the first training images (epoch 0) drawn with the calibration seed, (1, 3, S, S)."""
    size, slots = model.config.image_size, model.config.slots

    def calibration(count: int, seed: int) -> list[np.ndarray]:
        images = instance_train_set(config.source, size, slots, model.config.mask_image_size, seed, max(count, 1))
        return [images[i]["image"].numpy()[None] for i in range(min(len(images), count))]

    return calibration


def build_data(config: DataConfig, model: nn.Module) -> TaskData:
    """Stage 2 (`instances`): `train_count` (default 2000 scenes) training images per epoch, `test_count`
    (default 100 scenes; a folder's whole held-out split) test images with their ground truth."""
    size, c = model.config.image_size, model.config
    train = instance_train_set(config.source, size, c.slots, c.mask_image_size, config.seed, config.train_count,
                               config.epochs)
    test = instance_test_set(config.source, size, config.seed, config.test_count)
    return TaskData(train, test, _info(config, train, test, size), image_calibration(config, model), unit="image")


def build_tokenizer_data(config: DataConfig, model: nn.Module) -> TaskData:
    """Stage 1 (`mask-tokenizer`): the same images (rendered / letterboxed at `TOKENIZER_IMAGE_SIZE`),
    each item every object's box crop (up to `TOKENIZER_CROPS`); the test items are not augmented. A
    calibration sample is one crop (1, 1, 64, 64)."""
    crop = model.config.image_size
    records = instance_records(config.source, "train", TOKENIZER_IMAGE_SIZE, config.seed, config.train_count,
                               config.epochs)
    train = InstanceItems(records, TOKENIZER_IMAGE_SIZE, TOKENIZER_CROPS, crop, config.seed)
    test = InstanceItems(instance_records(config.source, "test", TOKENIZER_IMAGE_SIZE, config.seed, config.test_count),
                         TOKENIZER_IMAGE_SIZE, TOKENIZER_CROPS, crop, config.seed, augment=False)
    info = _info(config, train, test, TOKENIZER_IMAGE_SIZE) | {"crops_per_image": TOKENIZER_CROPS, "crop_size": crop}

    def calibration(count: int, seed: int) -> list[np.ndarray]:
        items = InstanceItems(instance_records(config.source, "train", TOKENIZER_IMAGE_SIZE, seed, max(count, 1)),
                              TOKENIZER_IMAGE_SIZE, TOKENIZER_CROPS, crop, seed)
        samples: list[np.ndarray] = []
        for i in range(len(items)):
            item = items[i]
            samples += [c[None, None] for c in item["crops"][:int(item["count"])].numpy()]
            if len(samples) >= count:
                break
        return samples[:count]

    return TaskData(train, test, info, calibration, unit="image")


def solver_step(config: RunConfig, model: nn.Module) -> TrainStep:
    """Stage 2: sequence prediction against the frozen mask tokenizer (`training.instances.instance_loss`).

    Loads `config.tokenizer` (a trained ait-mask-vqvae checkpoint, or a trained model holding one) into
    `model.mask_tokenizer` and freezes it; with `config.resume` the tokenizer comes back with the rest
    of the model from OUT/last and is only frozen here.
    """
    if not config.tokenizer:
        raise ValueError(f"{model.arch} (stage 2) needs --tokenizer DIR: a trained ait-mask-vqvae checkpoint "
                         "(python -m training.train --model ait-mask-vqvae ...)")
    if not config.resume:
        load_tokenizers(model, config.tokenizer, ["mask_tokenizer"])
    else:
        model.freeze_tokenizer()  # --resume restores the whole model, tokenizer included
    return TrainStep(through_ddp(instance_step), {"tokenizer": str(config.tokenizer)})


def tokenizer_step(config: RunConfig, model: nn.Module) -> TrainStep:
    """Stage 1: reconstruction of every object's crop (MSE on [-1, 1] values + 0.25 x commitment)."""
    return TrainStep(through_ddp(reconstruction_step), {"crops_per_image": TOKENIZER_CROPS})


def metrics(run: Callable[[np.ndarray], np.ndarray] | None, test: InstanceTestSet, model: nn.Module) -> dict:
    """COCO AP of the torch solver's instances (run=None); an exported artifact cannot decode instances yet."""
    if run is not None:
        raise ValueError(f"{model.arch}: {TORCH_ONLY}")
    return score_instances(model, test)


def tokenizer_metrics(run: Callable[[np.ndarray], np.ndarray] | None, test: Dataset, model: nn.Module) -> dict:
    """Reconstruction of the test crops by the torch tokenizer (run=None, with `codes_used`) or by `run`
    (crops (N, 1, 64, 64) -> reconstructions)."""
    if run is None:
        return evaluate_tokenizer(model, test)
    return score_tokenizer(lambda crops: torch.from_numpy(np.asarray(run(crops.numpy()))), test)


# -- publishing ---------------------------------------------------------------------------------------------

def real_evaluation(model: nn.Module, data_root: str | None, seed: int) -> dict:
    """{"real": metrics on the held-out split of the YOLO folder `data_root` (coco128-seg)} or {} without one."""
    if not data_root:
        log.warning("no --data-root: the instance model records its scenes test metrics only (give the "
                    "coco128-seg folder for the real held-out split)")
        return {}
    test = instance_test_set(f"yolo:{data_root}", model.config.image_size, seed)
    return {"real": score_instances(model, test)}


def publish_evaluation(model: nn.Module, data_root: str | None, seed: int, rgbd_real: str | None = None) -> dict:
    """The scenes test split, and the held-out split of a YOLO folder (`data_root`, e.g. coco128-seg)."""
    scenes = score_instances(model, instance_test_set("scenes", model.config.image_size, seed))
    return {"scenes": scenes, **real_evaluation(model, data_root, seed)}


def _ap(evaluation: dict, split: str, key: str) -> str:
    value = evaluation.get(split, {}).get(key)
    return "-" if value is None else f"{100 * value:.1f}"


def instance_cells(evaluation: dict) -> list[str]:
    """Mask AP soft / hard and box AP (percent) on the scenes test and the real held-out split."""
    return [f"{_ap(evaluation, 'scenes', 'mask_ap')} / {_ap(evaluation, 'scenes', 'hard_mask_ap')}",
            _ap(evaluation, "scenes", "box_ap"), _ap(evaluation, "real", "mask_ap"),
            _ap(evaluation, "real", "mask_ap50"), _ap(evaluation, "real", "box_ap")]


INSTANCE_HEADER = ("scenes test mask AP %, soft / hard | scenes box AP % | real (held-out) mask AP % | mask AP50 % "
                   "| box AP %")


def results_table(entries: list[tuple[str, dict]]) -> list[str]:
    lines = [f"| instance model | params | GFLOPs | epochs (images) | {INSTANCE_HEADER} |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, info in entries:
        facts = info["facts"]
        images = info["metrics"]["epoch"] * info["data"]["images_per_epoch"]
        lines.append(f"| {name} | {facts['params'] / 1e6:.2f} M | {facts['gflops']:.2f} | "
                     f"{info['metrics']['epoch']} ({images:,}) | " + " | ".join(instance_cells(info["evaluation"]))
                     + " |")
    return lines


PUBLISH = Publishing(publish_evaluation, results_table)

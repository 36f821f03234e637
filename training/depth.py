"""AiT depth training, both stages: data, losses and scores (the task entries: `training.tasks.depth`).

    # stage 1: the depth tokenizer (VQ-VAE), with mask augmentation
    python -m training.train --model ait-depth-vqvae --data scenes --epochs 10 --batch-size 16 \
        --lr 3e-4 --out runs/ait-depth-vqvae
    # stage 2: the task-solver against the frozen tokenizer (soft-token auxiliary loss)
    python -m training.train --model ait-depth --tokenizer runs/ait-depth-vqvae/best --data scenes \
        --epochs 10 --batch-size 16 --lr 2e-4 --out runs/ait-depth

Data: `scenes` (our renderer, `training.data.scenes`; train scenes are seeds seed..seed+N-1 with
N = --clips-per-epoch or 2000, test scenes start at seed + 1,000,000), `nyu:PATH` (the labeled
NYUv2 .mat with splits.mat beside it) or `list:TRAIN.txt,TEST.txt` (BTS-style RGB/depth PNG lists).
Scores are on the sensor depth's valid pixels (holes excluded), per image then averaged
(`edgetokens.vision.depth`); no Eigen crop on 256-pixel training frames.
"""
from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from edgetokens.vision.depth import average_metrics, depth_metrics
from edgetokens.vision.image import normalize_image
from training.ait_losses import ait_depth_loss, mask_patches, mse_ignore_zero
from training.data.nyu import DepthDataset, DepthDatasetConfig, DepthListFile, NYULabeledMat
from training.data.scenes import SceneDataset

log = logging.getLogger("training.depth")

TEST_SEED_OFFSET = 1_000_000  # test scenes never overlap training scenes
DEFAULT_TRAIN_SCENES = 2000
DEFAULT_TEST_SCENES = 100


def depth_sources(data: str, size: int, seed: int, train_count: int, test_count: int,
                  epochs: int = 1) -> tuple[Dataset, Dataset]:
    """(train, test) datasets yielding `image` (3, S, S) normalised and `depth` (1, S, S) metres, 0 = hole.

    Scenes are rendered fresh each epoch (`train_count` new rooms per epoch, `epochs` epochs in all).
    """
    return depth_train_set(data, size, seed, train_count, epochs), depth_test_set(data, size, seed, test_count)


def depth_train_set(data: str, size: int, seed: int, count: int, epochs: int = 1) -> Dataset:
    """The training split of `data` (see `depth_sources`); `count` scenes per epoch for `scenes`."""
    if data in ("scenes", "mix"):  # "mix" is the pose default; depth has one synthetic source

        if epochs * count >= TEST_SEED_OFFSET:
            raise ValueError(f"{epochs} epochs x {count} scenes would reach the test scenes' seeds "
                             f"({TEST_SEED_OFFSET:,} training scenes at most); use fewer epochs or scenes")
        return SceneDataset(count, seed=seed, size=size, train=True, fresh=True)

    return NormalisedDepth(DepthDataset(_depth_source(data, "train"), DepthDatasetConfig(size=size, random_crop=True,
                                                                                        hflip=True, seed=seed)))


def depth_test_set(data: str, size: int, seed: int, count: int) -> Dataset:
    """The test split of `data` (see `depth_sources`); `count` scenes for `scenes`."""
    if data in ("scenes", "mix"):

        return SceneDataset(count, seed=seed + TEST_SEED_OFFSET, size=size)

    return NormalisedDepth(DepthDataset(_depth_source(data, "test"), DepthDatasetConfig(size=size)))


def _depth_source(data: str, split: str):
    kind, _, path = data.partition(":")
    if kind == "nyu" and path:
        return NYULabeledMat(path, split=split)
    if kind == "list" and "," in path:
        return DepthListFile(path.split(",", 1)[split == "test"])
    raise ValueError(f"unknown depth data {data!r}; use scenes, nyu:PATH.mat or list:TRAIN.txt,TEST.txt")


class NormalisedDepth(Dataset):
    """Adapts `training.data.nyu.DepthDataset` items (uint8 RGB, (H, W) depth) to the scene layout."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def __getitem__(self, index: int) -> dict:
        item = self.dataset[index]
        rgb = np.asarray(item["image"]).transpose(1, 2, 0)
        return {"image": torch.from_numpy(normalize_image(rgb)), "depth": torch.as_tensor(item["depth"])[None]}


def score_depth(predict, test_set: Dataset, key: str | None = "image", batch_size: int = 8) -> dict[str, float]:
    """Per-image depth metrics of `predict(batch[key]) -> (B, 1, S, S)` on the valid pixels, averaged
    (`key=None`: predict gets the whole batch, e.g. to teacher-force with the test depth's tokens).

    Where the data has the complete depth (our renderer), also `hole_rmse`: the RMSE (m) inside the
    sensor holes against the rendered depth, over all hole pixels. That is what mask augmentation is
    for: tokens of depth with holes that still describe the whole scene.
    """
    per_image, squared, count = [], 0.0, 0
    loader = torch.utils.data.DataLoader(test_set, batch_size=batch_size)
    with torch.inference_mode():
        for batch in loader:
            pred = predict(batch if key is None else batch[key]).float()
            for i, gt in enumerate(batch["depth"].numpy()[:, 0]):
                if (gt > 0).any():
                    per_image.append(depth_metrics(pred[i, 0].numpy(), gt, eigen_crop=False))
            if "depth_complete" in batch:
                complete = batch["depth_complete"]
                holes = (batch["depth"] == 0) & (complete > 0)
                squared += float((pred[holes] - complete[holes]).square().sum())
                count += int(holes.sum())
    metrics = {**average_metrics(per_image), "images": len(per_image)}
    return metrics | ({"hole_rmse": (squared / count) ** 0.5} if count else {})


def masked_reconstruction_step(ratio: float, patch: int):
    """Stage-1 step: reconstruct the depth from a copy with `ratio` of its `patch`-pixel patches zeroed."""
    def step(net: nn.Module, batch: dict, device: torch.device, amp: bool = False) -> dict:
        depth = batch["depth"].to(device)
        masked = mask_patches(depth, ratio, patch) if ratio > 0 else depth
        recon, commit, _ = net(masked)
        parts = {"mse": mse_ignore_zero(recon, depth), "commit": commit}
        parts["loss"] = parts["mse"] + parts["commit"]
        return parts

    return step


def token_prediction_step(sampling: float = 0.0):
    """Stage-2 step; `sampling` > 0: scheduled sampling of the AR decoder's inputs (TaskSolver.teacher_forcing)."""
    def step(net: nn.Module, batch: dict, device: torch.device, amp: bool = False) -> dict:
        image, depth = batch["image"].to(device), batch["depth"].to(device)
        ids = net.tokenize(depth)  # targets from the frozen tokenizer (holes included, as the official code)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = net.logits(image, ids, sampling)
        logits = logits.float()
        return ait_depth_loss(logits, ids, net.decode(logits, soft=True), depth)

    return step


def evaluate_tokenizer(model: nn.Module, test_set: Dataset) -> dict[str, float]:
    """Reconstruction of the test depth (holes in the input, as stage 2 tokenizes it) and code usage."""
    was_training = model.training
    model.eval()
    used: set[int] = set()

    def reconstruct(depth: torch.Tensor) -> torch.Tensor:
        recon, _, ids = model(depth)
        used.update(ids.unique().tolist())
        return recon

    metrics = score_depth(reconstruct, test_set, key="depth")
    model.train(was_training)
    return {**metrics, "codes_used": len(used)}


def evaluate_solver(model: nn.Module, test_set: Dataset) -> dict[str, float]:
    was_training = model.training
    model.eval()
    if model.config.parallel:
        metrics = score_depth(model, test_set)
    else:
        metrics = score_depth(lambda images: model.decode(model.generate_ar(images)[0]), test_set)
    model.train(was_training)
    return metrics

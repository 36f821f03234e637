"""The joint task `instances+depth` (AiT, specs/AIT.md §7.4): one model trained on both tasks at once.

    python -m training.train --model ait --tokenizer runs/ait-mask-vqvae/best,runs/ait-depth-vqvae/best \
        --data scenes --epochs 10 --batch-size 16 --lr 2e-4 --out runs/ait

Data: `--data INSTANCES[+DEPTH]`, each part a source of its task (`training.instances`,
`training.depth`): `scenes` alone means scenes for both; an instance source alone (`yolo:ROOT`,
`coco:...`) takes its depth from `scenes`; e.g. `yolo:../shared/data/coco128-seg+nyu:nyu.mat`. One
epoch of N images (--clips-per-epoch, default 2000) holds `DEPTH_SHARE` depth images: the paper's
quota, 4 NYUv2 images beside 60 COCO images per iteration (with scenes for both, the two tasks draw
rooms from the same seed range, so a room may serve both). The items of both tasks share one layout
(`JointItems`) and are shuffled together, so a batch holds that share on average, not exactly.

`--tokenizer` names the two frozen tokenizers, comma-separated in any order: a trained ait-mask-vqvae
and a trained ait-depth-vqvae (or trained solvers holding them, e.g. runs/ait-instances/best,
runs/ait-depth/best; `training.instances.load_tokenizers`).

Loss: 1.0 x the instance loss (`training.instances.instance_loss`) on the batch's instance images +
`DEPTH_WEIGHT` (0.2) x the depth loss (`training.ait_losses.ait_depth_loss`: CE + SiLog of the
soft-decoded depth; AiT-P's one pass, or teacher forcing) on its depth images, each normalised by its
own supervised tokens. A batch without images of a task still runs that task's decoder on zero images,
so every parameter has a gradient (what DistributedDataParallel expects) and the loss is that of
the other task.

Metrics: the instance metrics (`mask_ap`, ...), the depth metrics with a `depth_` prefix
(`depth_rmse`, ...) and `joint_loss` = (1 - mask_ap) + depth_rmse / `RMSE_SCALE` (1 m): one point of
mask AP weighs as much as 1 cm of RMSE.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from edgetokens.vision.depth import MIN_DEPTH
from training.ait_losses import ait_depth_loss
from training.config import DataConfig, RunConfig
from training.evaluate_depth import decoder, real_depth_evaluation
from training.depth import DEFAULT_TEST_SCENES, DEFAULT_TRAIN_SCENES, depth_test_set, depth_train_set, score_depth
from training.instances import (
    InstanceItems,
    InstanceTestSet,
    instance_loss,
    instance_test_set,
    instance_train_set,
    load_tokenizers,
    score_instances,
)
from training.loop import through_ddp
from training.tasks import Publishing, TaskData, TrainStep
from training.tasks.depth import real_cell
from training.tasks.instances import INSTANCE_HEADER, TORCH_ONLY, image_calibration, instance_cells, real_evaluation

log = logging.getLogger("training.tasks.joint")

DEPTH_SHARE = 4 / 64  # of the training images: the official quota, 4 depth + 60 instance images per iteration
INSTANCE_WEIGHT, DEPTH_WEIGHT = 1.0, 0.2  # task loss weights (§7.4)
RMSE_SCALE = 1.0  # m: joint_loss = (1 - mask_ap) + depth_rmse / RMSE_SCALE
INSTANCES, DEPTH = 0, 1  # an item's "task"


def data_sources(source: str) -> tuple[str, str]:
    """`--data` -> (instance source, depth source); see the module docstring."""
    if source in ("scenes", "mix"):
        return "scenes", "scenes"
    instances, plus, depth = source.partition("+")
    return instances, depth if plus else "scenes"


class JointItems(Dataset):
    """Instance items then depth items, all with the keys image, depth (1, S, S), boxes, classes, crops,
    count, content, seed and task (0 instances, 1 depth); the other task's arrays are zeros."""

    def __init__(self, instances: InstanceItems, depth: Dataset):
        self.instances, self.depth = instances, depth
        probe = instances[0]
        self.blank_instance = {k: torch.zeros_like(v) for k, v in probe.items() if k != "image"}
        self.blank_depth = torch.zeros(1, *probe["image"].shape[1:])

    @property
    def fresh(self) -> bool:
        return self.instances.fresh

    def set_epoch(self, epoch: int) -> None:
        self.instances.set_epoch(epoch)
        if hasattr(self.depth, "set_epoch"):
            self.depth.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.instances) + len(self.depth)

    def __getitem__(self, index: int) -> dict:
        if index < len(self.instances):
            return {**self.instances[index], "depth": self.blank_depth, "task": torch.tensor(INSTANCES)}
        item = self.depth[index - len(self.instances)]
        return {"image": item["image"], "depth": item["depth"], **self.blank_instance, "task": torch.tensor(DEPTH)}


@dataclass
class JointTest:
    instances: InstanceTestSet
    depth: Dataset

    def __len__(self) -> int:
        return len(self.instances) + len(self.depth)


def split_counts(total: int) -> tuple[int, int]:
    """(instance images, depth images) of an epoch of `total` images: DEPTH_SHARE of them depth, at least one each."""
    if total < 2:
        raise ValueError(f"a joint epoch needs at least 2 images (one per task), got {total}")
    depth = min(max(1, round(total * DEPTH_SHARE)), total - 1)
    return total - depth, depth


class EpochSubset(Dataset):
    """`count` items of `dataset`, a new random choice each epoch (`set_epoch`), drawn from (seed, epoch)."""

    def __init__(self, dataset: Dataset, count: int, seed: int):
        self.dataset, self.count, self.seed = dataset, int(count), int(seed)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        self.indices = np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset))[:self.count]

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict:
        return self.dataset[int(self.indices[index])]


def build_data(config: DataConfig, model: nn.Module) -> TaskData:
    """Both tasks' training images in one set (`JointItems`) and both test sets (`JointTest`).

    Scenes for instances: `train_count` (default 2000) images per epoch, DEPTH_SHARE of them depth. A
    folder of instance images: all of its training images, plus depth images in the share (a depth
    folder gives a new random choice of that many each epoch)."""
    c, size = model.config, model.config.image_size
    instance_source, depth_source = data_sources(config.source)
    if instance_source in ("scenes", "mix"):
        inst_count, depth_count = split_counts(config.train_count or DEFAULT_TRAIN_SCENES)
        instances = instance_train_set(instance_source, size, c.slots, c.mask_image_size, config.seed, inst_count,
                                       config.epochs)
    else:
        instances = instance_train_set(instance_source, size, c.slots, c.mask_image_size, config.seed)
        depth_count = max(1, round(len(instances) * DEPTH_SHARE / (1 - DEPTH_SHARE)))
    depth = depth_train_set(depth_source, size, config.seed, depth_count, epochs=config.epochs)
    if len(depth) > depth_count:
        depth = EpochSubset(depth, depth_count, config.seed)
    train = JointItems(instances, depth)
    test = JointTest(instance_test_set(instance_source, size, config.seed, config.test_count),
                     depth_test_set(depth_source, size, config.seed, config.test_count or DEFAULT_TEST_SCENES))
    info = {"source": config.source, "instance_source": instance_source, "depth_source": depth_source,
            "seed": config.seed, "train_images": len(train), "instance_images": len(instances),
            "depth_images": len(depth), "test_images": len(test.instances), "depth_test_images": len(test.depth),
            "image_size": size, "depth_share": DEPTH_SHARE, "fresh_scenes_per_epoch": train.fresh}
    calibration = image_calibration(replace(config, source=instance_source), model)
    return TaskData(train, test, info, calibration, unit="image")


def joint_step(model: nn.Module, batch: dict, device: torch.device, amp: bool = False) -> dict:
    """INSTANCE_WEIGHT x instance loss (instance items) + DEPTH_WEIGHT x depth loss (depth items)."""
    task = batch["task"]
    inst, dep = torch.nonzero(task == INSTANCES).flatten(), torch.nonzero(task == DEPTH).flatten()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        memory = model.memory(batch["image"].to(device))
    memory = memory.float()
    parts: dict[str, torch.Tensor] = {}
    if len(inst):
        sub = {k: v[inst] for k, v in batch.items() if k not in ("image", "depth", "task")}
        instance = instance_loss(model, memory[inst.to(device)], sub, amp)
        parts |= {"instance_loss": instance["loss"], "ce": instance["ce"], "mask_aux": instance["mask_aux"]}
    else:  # no instance image: the instance decoder runs on none (every parameter gets a gradient)
        empty = torch.zeros(0, model.config.lengths["instances"], dtype=torch.long, device=device)
        parts["instance_loss"] = model.instance_logits(memory[:0], empty).sum() * 0.0
    if len(dep):
        depth = batch["depth"][dep].to(device)
        codes = model.tokenize(depth)  # targets from the frozen tokenizer (holes included, as for ait-depth)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model.depth_logits(memory[dep.to(device)], codes)
        logits = logits.float()
        ids = codes + model.vocabulary.offset("depth_codes")  # the targets as vocabulary ids
        depth_parts = ait_depth_loss(logits, ids, model.decode(logits, soft=True), depth)
        parts |= {"depth_loss": depth_parts["loss"], "depth_ce": depth_parts["ce"], "silog": depth_parts["silog"]}
    else:
        parts["depth_loss"] = model.depth_logits(memory[:0], None if model.solver.parallel_depth else
                                                 torch.zeros(0, model.config.num_tokens, dtype=torch.long,
                                                             device=device)).sum() * 0.0
    parts["loss"] = INSTANCE_WEIGHT * parts["instance_loss"] + DEPTH_WEIGHT * parts["depth_loss"]
    return parts


def solver_step(config: RunConfig, model: nn.Module) -> TrainStep:
    """Both tasks against their frozen tokenizers: `--tokenizer MASK,DEPTH` (module docstring); with
    `config.resume` both come back with the model from OUT/last and are only frozen here."""
    if not config.tokenizer:
        raise ValueError(f"{model.arch} (stage 2) needs --tokenizer MASK_DIR,DEPTH_DIR: a trained ait-mask-vqvae "
                         "and a trained ait-depth-vqvae checkpoint (python -m training.train --model ait-mask-vqvae "
                         "... and --model ait-depth-vqvae ...)")
    if not config.resume:
        found = load_tokenizers(model, config.tokenizer, ["mask_tokenizer", "vqvae"])
    else:
        model.freeze_tokenizer()
        found = {"tokenizers": config.tokenizer}
    info = {"tokenizer": str(config.tokenizer), "mask_tokenizer": found.get("mask_tokenizer"),
            "depth_tokenizer": found.get("vqvae"), "instance_weight": INSTANCE_WEIGHT, "depth_weight": DEPTH_WEIGHT}
    return TrainStep(through_ddp(joint_step), info)


def score_joint_depth(model: nn.Module, test: Dataset, soft: bool = True) -> dict:
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    metrics = score_depth(lambda x: decoder(model, soft)(x.to(device)).cpu(), test)
    model.train(was_training)
    return metrics


def joint_loss(metrics: dict) -> float:
    return (1.0 - metrics["mask_ap"]) + metrics["depth_rmse"] / RMSE_SCALE


def metrics(run: Callable[[np.ndarray], np.ndarray] | None, test: JointTest, model: nn.Module) -> dict:
    """Instance metrics, `depth_`-prefixed depth metrics and `joint_loss` of the torch model (run=None).
    An exported joint model is its depth graph: `run` (images -> depth) gets the depth metrics only."""
    if run is not None:
        log.info("%s: %s; scoring the exported depth graph only", model.arch, TORCH_ONLY)
        depth = score_depth(lambda x: torch.from_numpy(run(x.numpy())).clamp_min(MIN_DEPTH), test.depth)
        return {f"depth_{k}": v for k, v in depth.items()}
    scores = score_instances(model, test.instances)
    scores |= {f"depth_{k}": v for k, v in score_joint_depth(model, test.depth).items()}
    return scores | {"joint_loss": joint_loss(scores)}


# -- publishing ---------------------------------------------------------------------------------------------

def publish_evaluation(model: nn.Module, data_root: str | None, seed: int, rgbd_real: str | None = None) -> dict:
    """Instances on the scenes test and the real held-out split (`data_root`, a YOLO folder), depth on the
    scenes test (soft and hard decoding), on the shipped real RGB-D frame and on the `rgbd_real` frames."""
    size = model.config.image_size
    evaluation = {"scenes": score_instances(model, instance_test_set("scenes", size, seed)),
                  **real_evaluation(model, data_root, seed)}
    test = depth_test_set("scenes", size, seed, DEFAULT_TEST_SCENES)
    evaluation["depth_scenes"] = score_joint_depth(model, test, soft=True)
    evaluation["depth_scenes_hard"] = score_joint_depth(model, test, soft=False)
    return evaluation | real_depth_evaluation(model, rgbd_real)


def results_table(entries: list[tuple[str, dict]]) -> list[str]:
    lines = [(f"| joint model | params | GFLOPs | epochs (images) | {INSTANCE_HEADER} | scenes depth RMSE m, soft / hard "
              "| real RGB-D frame RMSE m | rgbd-real RMSE m / AbsRel |"), "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, info in entries:
        ev, facts = info["evaluation"], info["facts"]
        images = info["metrics"]["epoch"] * info["data"]["images_per_epoch"]
        depth = f"{ev['depth_scenes']['rmse']:.3f} / {ev['depth_scenes_hard']['rmse']:.3f}"
        lines.append(f"| {name} | {facts['params'] / 1e6:.2f} M | {facts['gflops']:.2f} | "
                     f"{info['metrics']['epoch']} ({images:,}) | " + " | ".join(instance_cells(ev))
                     + f" | {depth} | {ev.get('rgbd_sample', {}).get('rmse', float('nan')):.3f} | {real_cell(ev)} |")
    return lines


# float16 parameters like the depth solvers: half the package size (the recorded metrics are of those)
PUBLISH = Publishing(publish_evaluation, results_table, parameter_dtype=torch.float16)

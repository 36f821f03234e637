"""AiT instance training, both stages: data, losses and scores (the task entries: `training.tasks.instances`
for `instances` and `mask-tokenizer`, `training.tasks.joint` for `instances+depth`).

    # stage 1: the mask tokenizer (VQ-VAE) on every object's 64 x 64 box crop
    python -m training.train --model ait-mask-vqvae --data scenes --epochs 10 --batch-size 16 \
        --lr 3e-4 --out runs/ait-mask-vqvae
    # stage 2: the task-solver against the frozen tokenizer (soft-token auxiliary loss)
    python -m training.train --model ait-instances --tokenizer runs/ait-mask-vqvae/best --data scenes \
        --epochs 10 --batch-size 16 --lr 2e-4 --out runs/ait-instances

Data (`--data`):

- `scenes`: our renderer (`training.data.scenes`, COCO classes), rendered at the model size. Training
  scenes are seeds seed .. seed + N - 1, new ones each epoch (N = --clips-per-epoch or 2000); test
  scenes start at seed + 1,000,000 (`training.depth.TEST_SEED_OFFSET`), as for depth.
- `yolo:ROOT`: a YOLO segmentation folder (`training.data.yolo_seg`, e.g. ../shared/data/coco128-seg).
  `split_holdout(names, HOLDOUT_FRACTION, HOLDOUT_SEED)` holds out about a fifth of the images by name
  for evaluation; they are never trained on, whatever the run's seed.
- `coco:ANNOTATIONS.json,IMAGE_DIR` (COCO instances JSON, `training.data.coco`): image ids held out as
  above; `coco:TRAIN.json,TRAIN_DIR,TEST.json,TEST_DIR` gives the test split itself (train2017 / val2017).

A training item (`InstanceItems`) is one image with at most M = the model's `slots` objects, every
array of a fixed shape so that the default collate and `DistributedSampler` work:

    image (3, S, S) float32   letterboxed (aspect kept, top-left, ImageNet-mean padding), ImageNet-normalised
    boxes (M, 4) float32      xyxy model-input pixels (rows >= count are 0)
    classes (M,) int64        COCO index 0 .. 79
    crops (M, 64, 64) float32 binary box crops of the masks (the tokenizer's input, the aux-loss target)
    count () int64            real objects (<= M; extra objects dropped at random)
    content (2,) float32      (width, height) of the image inside the input: where noise boxes may lie
    seed () int64             the seed of the image's training sequence (object order, noise boxes)

Training items are flipped left-right with probability 1/2 and shrunk by a random scale in
`SCALE_JITTER` (the rest padded); crowd regions are never targets; objects whose box is thinner than
`MIN_BOX_PIXELS` in the input are dropped. Every random choice comes from (seed, epoch, index), so an
epoch's items are the same on every run and every process. Crops are taken from the original-
resolution mask over the original box: the same box region as a crop of the letterboxed mask, sampled
from the finer mask.

The test data (`InstanceTestSet`) keep the ground truth at the original resolution (crowd included,
which COCO AP ignores); predictions are mapped back through the letterbox and scored by
`training.instance_metrics.coco_ap`.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from edgetokens.checkpoint import read_checkpoint_info
from edgetokens.models import create_model
from edgetokens.models.ait.instance_sequence import CLASS_POSITION, MASK_WEIGHT, make_training_sequence, slot_tokens
from edgetokens.models.ait.mask_losses import mask_aux_loss
from edgetokens.models.ait.mask_tokenizer import normalize_masks
from edgetokens.models.ait.vocabulary import IGNORE_ID
from edgetokens.vision.image import normalize_image
from edgetokens.vision.instances import from_model_output
from edgetokens.vision.letterbox import PAD_RGB, letterbox_for
from edgetokens.vision.masks import crop_masks
from training.data.coco import load_coco_instances
from training.data.instances import InstanceAnnotations
from training.data.scenes import mask_boxes, render_scene
from training.data.yolo_seg import load_yolo_segmentation, split_holdout
from training.depth import DEFAULT_TEST_SCENES, DEFAULT_TRAIN_SCENES, TEST_SEED_OFFSET
from training.instance_metrics import coco_ap

log = logging.getLogger("training.instances")

HOLDOUT_FRACTION = 0.2  # yolo / single-JSON coco: share of images (by name) held out for evaluation
HOLDOUT_SEED = 0  # fixed, not the run's seed: the evaluation images are the same for every run
FLIP_PROBABILITY = 0.5
SCALE_JITTER = (0.6, 1.0)  # training: the letterboxed image spans this share of the input side, the rest padded
MIN_BOX_PIXELS = 1.0  # objects thinner than this (model-input pixels) are dropped: no bin pair to hold them
TOKENIZER_CROPS = 100  # stage 1: crops per image item (the paper's objects per image; extra ones dropped)
TOKENIZER_IMAGE_SIZE = 256  # stage 1: scenes are rendered, and images letterboxed, at the solvers' size
AUX_WEIGHT = 5.0  # the official mask decoder-loss weight (AIT.md §2.5)
SOURCES = "scenes, yolo:ROOT, coco:ANNOTATIONS.json,IMAGE_DIR or coco:TRAIN.json,TRAIN_DIR,TEST.json,TEST_DIR"


# -- sources ------------------------------------------------------------------------------------------------

class SceneRecords(Sequence):
    """`count` rendered scenes as `InstanceAnnotations` (`render_scene(seed + i)` at `size`); with `fresh`,
    epoch e renders seeds seed + e * count + i (`set_epoch`), as `SceneDataset(fresh=True)`."""

    def __init__(self, count: int, seed: int, size: int, fresh: bool = False):
        self.count, self.seed, self.size, self.fresh, self.epoch = int(count), int(seed), int(size), fresh, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.count

    def scene_id(self, index: int) -> int:
        return self.seed + (self.epoch * self.count if self.fresh else 0) + index

    def __getitem__(self, index: int) -> InstanceAnnotations:
        if not 0 <= index < self.count:
            raise IndexError(f"scene index {index} out of range for {self.count} scenes")
        scene = render_scene(self.scene_id(index), self.size)
        boxes = getattr(scene, "boxes", None)
        return InstanceAnnotations(image=scene.image, boxes=mask_boxes(scene.masks) if boxes is None else boxes,
                                   classes=scene.classes, masks=scene.masks, crowd=np.zeros(len(scene.masks), bool),
                                   image_id=self.scene_id(index), source=f"scene {self.scene_id(index)}")


class RecordSubset(Sequence):
    """The records of `records` at `indices`, in that order."""

    def __init__(self, records: Sequence, indices: Sequence[int]):
        self.records, self.indices = records, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> InstanceAnnotations:
        return self.records[self.indices[index]]


def instance_records(source: str, split: str, size: int, seed: int, count: int | None = None,
                     epochs: int = 1) -> Sequence:
    """The `split` ("train" or "test") records of `source` (see the module docstring); `count`: scenes
    (default 2000 training, 100 test) or, for the test split of a folder, its first `count` images."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    train = split == "train"
    if source in ("scenes", "mix"):  # "mix" is the pose default; instances have one synthetic source
        count = count or (DEFAULT_TRAIN_SCENES if train else DEFAULT_TEST_SCENES)
        if not train:
            return SceneRecords(count, seed + TEST_SEED_OFFSET, size)
        if epochs * count >= TEST_SEED_OFFSET:
            raise ValueError(f"{epochs} epochs x {count} scenes would reach the test scenes' seeds "
                             f"({TEST_SEED_OFFSET:,} training scenes at most); use fewer epochs or scenes")
        return SceneRecords(count, seed, size, fresh=True)
    kind, _, path = source.partition(":")
    if kind == "yolo" and path:
        names = load_yolo_segmentation(path).names
        fine_tune, evaluation = split_holdout(names, HOLDOUT_FRACTION, HOLDOUT_SEED)
        chosen = fine_tune if train else evaluation[:count] if count else evaluation
        if not chosen:
            raise ValueError(f"{source}: no {split} images ({len(names)} images, {len(evaluation)} held out)")
        return load_yolo_segmentation(path, names=chosen)
    parts = path.split(",")
    if kind == "coco" and len(parts) in (2, 4):
        if len(parts) == 4:
            records = load_coco_instances(*(parts[:2] if train else parts[2:]))
            return records if train or not count else RecordSubset(records, range(min(count, len(records))))
        records = load_coco_instances(*parts)
        fine_tune, evaluation = split_holdout([str(i) for i in records.image_ids], HOLDOUT_FRACTION, HOLDOUT_SEED)
        position = {str(image_id): i for i, image_id in enumerate(records.image_ids)}
        chosen = fine_tune if train else evaluation[:count] if count else evaluation
        return RecordSubset(records, [position[name] for name in chosen])
    raise ValueError(f"unknown instance data {source!r}; use {SOURCES}")


# -- items --------------------------------------------------------------------------------------------------

def _padded_canvas(letterboxed: np.ndarray, size: int) -> np.ndarray:
    """A (target, target, 3) letterboxed image at the top-left of a (size, size) PAD_RGB canvas."""
    if letterboxed.shape[0] == size:
        return letterboxed
    canvas = np.empty((size, size, 3), np.uint8)
    canvas[:] = PAD_RGB
    canvas[:letterboxed.shape[0], :letterboxed.shape[1]] = letterboxed
    return canvas


def instance_item(record: InstanceAnnotations, size: int, slots: int, crop_size: int,
                  rng: np.random.Generator, augment: bool = True) -> dict:
    """One training item of `record` (the module docstring's layout); `rng` draws the flip, the scale,
    which objects stay when there are more than `slots`, and the sequence seed."""
    record = record.without_crowd()
    image, boxes, height, width = record.image, record.boxes.astype(np.float64), record.height, record.width
    flip = augment and rng.random() < FLIP_PROBABILITY
    target = size if not augment else max(1, round(size * rng.uniform(*SCALE_JITTER)))
    if flip:
        boxes = np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], axis=1)
    letterbox = letterbox_for(height, width, target)
    inputs = letterbox.boxes_to_input(boxes)
    sizes = inputs[:, 2:] - inputs[:, :2]
    kept = np.flatnonzero((sizes >= MIN_BOX_PIXELS).all(axis=1))
    kept = rng.permutation(kept)[:slots]
    masks = record.masks[kept]
    if flip:
        image, masks = image[:, ::-1], masks[:, :, ::-1]
    crops = np.zeros((slots, crop_size, crop_size), np.float32)
    crops[:len(kept)] = crop_masks(np.ascontiguousarray(masks), boxes[kept], crop_size)
    padded_boxes, classes = np.zeros((slots, 4), np.float32), np.zeros(slots, np.int64)
    padded_boxes[:len(kept)], classes[:len(kept)] = inputs[kept], record.classes[kept]
    rows, cols = letterbox.content
    canvas = _padded_canvas(letterbox.image(np.ascontiguousarray(image)), size)
    return {"image": torch.from_numpy(normalize_image(canvas)), "boxes": torch.from_numpy(padded_boxes),
            "classes": torch.from_numpy(classes), "crops": torch.from_numpy(crops),
            "count": torch.tensor(len(kept), dtype=torch.int64),
            "content": torch.tensor([cols, rows], dtype=torch.float32),
            "seed": torch.tensor(int(rng.integers(2**62)), dtype=torch.int64)}


class InstanceItems(Dataset):
    """Fixed-size training items (`instance_item`) of `records`; item i of epoch e draws its randomness
    from (seed, e, i). `set_epoch` also moves rendered scenes to the epoch's rooms. `augment=False`:
    no flip or scale jitter (test crops for the tokenizer)."""

    def __init__(self, records: Sequence, size: int, slots: int, crop_size: int = 64, seed: int = 0,
                 augment: bool = True):
        self.records, self.size, self.slots, self.crop_size = records, int(size), int(slots), int(crop_size)
        self.seed, self.augment, self.epoch = int(seed), augment, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.records, "set_epoch"):
            self.records.set_epoch(epoch)

    @property
    def fresh(self) -> bool:
        return bool(getattr(self.records, "fresh", False))

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return instance_item(self.records[index], self.size, self.slots, self.crop_size, rng, self.augment)


@dataclass
class InstanceTestSet:
    """Test images at their original resolution with their ground truth (crowd included), scored by
    `score_instances`; `image_size` is the model input they are letterboxed into."""

    records: Sequence
    image_size: int

    def __len__(self) -> int:
        return len(self.records)


def instance_train_set(source: str, size: int, slots: int, crop_size: int, seed: int, count: int | None = None,
                       epochs: int = 1) -> InstanceItems:
    return InstanceItems(instance_records(source, "train", size, seed, count, epochs), size, slots, crop_size, seed)


def instance_test_set(source: str, size: int, seed: int, count: int | None = None) -> InstanceTestSet:
    return InstanceTestSet(instance_records(source, "test", size, seed, count), size)


def real_crops(batch: dict) -> torch.Tensor:
    """The crops (R, S_m, S_m) of a batch's real objects, image by image."""
    count = batch["count"]
    real = torch.arange(batch["crops"].shape[1])[None] < count[:, None]
    return batch["crops"][real]


# -- the DistributedDataParallel seam -----------------------------------------------------------------------

# -- tokenizers ---------------------------------------------------------------------------------------------

STAGE1 = {"mask_tokenizer": "ait-mask-vqvae", "vqvae": "ait-depth-vqvae"}  # role in the solver -> stage-1 model
PLACEHOLDER = {"mask_tokenizer": "MASK_DIR", "vqvae": "DEPTH_DIR"}


def _expected_config(model: nn.Module, role: str) -> dict:
    """The tokenizer config `model` needs for `role`, as comparable fields (mask: those the solver's
    config sets, `mask_*`; the EMA settings do not change a frozen tokenizer)."""
    if role == "vqvae":
        return asdict(model.config.vqvae)
    config = model.config.mask_tokenizer
    return {f.name: getattr(config, f.name) for f in fields(config) if hasattr(model.config, f"mask_{f.name}")}


def _fit_tokenizer(model: nn.Module, role: str, tokenizer: nn.Module, path: str) -> None:
    """Copy `tokenizer` (from the checkpoint at `path`) into `model.<role>`; configs must agree."""
    expected = _expected_config(model, role)
    given = {k: v for k, v in asdict(tokenizer.config).items() if k in expected}
    if given != expected:
        differ = [f"{k}={v}" for k, v in expected.items() if given.get(k) != v]
        prefix = "mask_" if role == "mask_tokenizer" else ""
        mine = [f"{prefix}{k}={given.get(k)}" for k, v in expected.items() if given.get(k) != v]
        raise ValueError(f"tokenizer {path} has config {given}, but {model.arch} needs {expected}; train a matching "
                         f"{STAGE1[role]} (--set {' --set '.join(differ)}) or give this model the tokenizer's "
                         f"settings (--set {' --set '.join(mine)})")
    getattr(model, role).load_state_dict(tokenizer.state_dict())


def load_tokenizers(model: nn.Module, spec: str, roles: Sequence[str]) -> dict[str, str]:
    """Load the frozen tokenizers `roles` ("mask_tokenizer", "vqvae") of a stage-2 `model` from
    `spec`, comma-separated checkpoint directories in any order. Each is a stage-1 checkpoint
    (ait-mask-vqvae, ait-depth-vqvae) or a trained stage-2 model holding the tokenizer (ait-instances,
    ait-depth, ait): a checkpoint gives every needed tokenizer it has, the first one given wins.
    Freezes them; returns {role: path}."""
    found: dict[str, str] = {}
    paths = [p.strip() for p in spec.split(",") if p.strip()]
    for path in paths:
        arch = read_checkpoint_info(path)["arch"]
        source = create_model(checkpoint=path)
        offers = [role for role in roles if STAGE1[role] == arch or hasattr(source, role)]
        if not offers:
            raise ValueError(f"--tokenizer {path} is a {arch} checkpoint; {model.arch} needs "
                             f"{' and '.join(STAGE1[r] for r in roles)} (stage 1: python -m training.train --model "
                             f"{STAGE1[roles[0]]} ...), or a trained model holding them")
        for role in offers:
            if role not in found:
                _fit_tokenizer(model, role, source if STAGE1[role] == arch else getattr(source, role), path)
                found[role] = path
    missing = [role for role in roles if role not in found]
    if missing:
        raise ValueError(f"{model.arch} (stage 2) needs --tokenizer {','.join(PLACEHOLDER[r] for r in roles)}: "
                         f"trained {' and '.join(STAGE1[r] for r in roles)} checkpoints (python -m training.train "
                         f"--model {STAGE1[missing[0]]} ...); missing {' and '.join(STAGE1[r] for r in missing)}")
    model.freeze_tokenizer()
    return found


# -- losses -------------------------------------------------------------------------------------------------

def training_sequences(model: nn.Module, batch: dict, device: torch.device) -> tuple[torch.Tensor, ...]:
    """(input_ids, target_ids, weights) (B, L) on `device`, and the real slots' target crops (R, S_m, S_m)
    in slot order (image by image, slot 0 first): each image's §4 training sequence, its mask ids from
    the frozen tokenizer, its randomness from the item's `seed`."""
    config = model.config
    count = batch["count"].tolist()
    crops = batch["crops"]
    given = real_crops(batch)
    ids = model.tokenize_masks(given.to(device)).cpu().numpy() if len(given) else np.zeros((0, config.mask_tokens))
    empty = model.mask_tokenizer.empty_mask_ids().cpu().numpy()
    boxes, classes, content = batch["boxes"].numpy(), batch["classes"].numpy(), batch["content"].numpy()
    sequences, targets, start = [], [], 0
    for b, n in enumerate(count):
        rng = np.random.default_rng(int(batch["seed"][b]))
        sequence = make_training_sequence(boxes[b, :n], classes[b, :n], ids[start:start + n], slots=config.slots,
                                          vocab=model.vocabulary, image_size=config.image_size, rng=rng,
                                          empty_mask_ids=empty, content_size=tuple(content[b].tolist()))
        sequences.append(sequence)
        targets.append(crops[b, torch.from_numpy(sequence.order)])
        start += n
    stack = [torch.from_numpy(np.stack([getattr(s, k) for s in sequences])).to(device)
             for k in ("input_ids", "target_ids", "weights")]
    return (*stack, torch.cat(targets).to(device))


def instance_loss(model: nn.Module, memory: torch.Tensor, batch: dict, amp: bool = False) -> dict[str, torch.Tensor]:
    """The stage-2 instance loss of a batch whose images' encoder memory is `memory` (B, g*g, d):

        loss = (sum_t w_t CE_t + AUX_WEIGHT * aux * MASK_WEIGHT * n_mask) / n_supervised

    CE over the full vocabulary at every supervised position t with the sequence's weights w_t (box 1,
    class 1, mask 0.2); aux = Dice + MSE (`mask_aux_loss`) of the soft-decoded masks of the real slots
    against their ground-truth crops, scaled as the official code by 5.0 x the supervised mask tokens
    (n_mask = 16 per real object) x the mask weight 0.2; n_supervised counts the positions with a target
    (21 per real object, 1 per noise slot: its class), per process (the official code averages it over
    GPUs, §7.2). Parts: "ce" (the weighted CE sum / n_supervised) and "mask_aux" (aux, unscaled).
    """
    device = memory.device
    input_ids, target_ids, weights, target_crops = training_sequences(model, batch, device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        logits = model.instance_logits(memory, input_ids)
    logits = logits.float()
    ce = F.cross_entropy(logits.flatten(0, 1), target_ids.flatten(), ignore_index=IGNORE_ID, reduction="none")
    supervised = (target_ids != IGNORE_ID).sum().clamp_min(1)
    ce_sum = (ce * weights.flatten()).sum()
    b, slots = memory.shape[0], model.config.slots
    width = slot_tokens(model.config.mask_tokens)
    real = (torch.arange(slots)[None] < batch["count"][:, None]).to(device)
    mask_logits = logits.reshape(b, slots, width, -1)[:, :, CLASS_POSITION + 1:][real]
    if len(mask_logits):
        aux = mask_aux_loss(model.decode_masks(model.mask_code_logits(mask_logits)), target_crops)
    else:
        aux = logits.sum() * 0.0
    mask_tokens = len(mask_logits) * model.config.mask_tokens
    loss = (ce_sum + AUX_WEIGHT * aux * MASK_WEIGHT * mask_tokens) / supervised
    return {"loss": loss, "ce": ce_sum / supervised, "mask_aux": aux}


def instance_step(model: nn.Module, batch: dict, device: torch.device, amp: bool = False) -> dict:
    """Stage-2 step of `ait-instances` (run it `through_ddp`): memory of the images, then `instance_loss`."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        memory = model.memory(batch["image"].to(device))
    return instance_loss(model, memory.float(), batch, amp)


def tokenizer_step(model: nn.Module, batch: dict, device: torch.device, amp: bool = False) -> dict:
    """Stage-1 step of `ait-mask-vqvae` (run it `through_ddp`): reconstruction of every real crop of the
    batch (`MaskTokenizer.reconstruction_loss`: MSE on [-1, 1] values + commitment); a batch without
    objects reconstructs one empty mask, so every step has a loss."""
    crops = real_crops(batch)
    if not len(crops):
        crops = torch.zeros(1, *batch["crops"].shape[2:])
    return model.reconstruction_loss(crops[:, None].to(device))


# -- scores -------------------------------------------------------------------------------------------------

REPORTED = ("mask_ap", "mask_ap50", "mask_ap75", "box_ap", "box_ap50", "person_mask_ap50", "person_box_ap50",
            "num_images", "num_objects", "num_detections")


def _letterboxed(records: list[InstanceAnnotations], size: int):
    letterboxes = [letterbox_for(r.height, r.width, size) for r in records]
    images = torch.stack([torch.from_numpy(normalize_image(lb.image(r.image))) for lb, r in zip(letterboxes, records)])
    return images, letterboxes


@torch.no_grad()
def score_instances(model: nn.Module, test: InstanceTestSet, batch_size: int = 8, seed: int = 0) -> dict:
    """COCO AP (`coco_ap`) of the torch model's instances (`model.instances`: the model's top_p, seeded)
    on the test images, boxes and masks mapped back to each image's pixels. Masks decoded soft (the
    probability-weighted codebook, the model's output) and hard (argmax codes, `hard_mask_ap*`);
    `mask_ap_loss` = 1 - mask_ap (the best metric, lower is better)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    records, soft, hard = [], [], []
    for start in range(0, len(test), batch_size):
        chunk = [test.records[i] for i in range(start, min(start + batch_size, len(test)))]
        images, letterboxes = _letterboxed(chunk, test.image_size)
        for parsed, letterbox, record in zip(model.instances(images.to(device), seed=seed), letterboxes, chunk):
            shape = (record.height, record.width)
            if len(parsed["scores"]):
                hard_probs = model.mask_tokenizer.decode_ids(parsed["mask_logits"].argmax(dim=-1))[:, 0]
            else:
                hard_probs = parsed["mask_probs"]
            soft.append(from_model_output(parsed, parsed["mask_probs"], shape, scale=letterbox.scale))
            hard.append(from_model_output(parsed, hard_probs, shape, scale=letterbox.scale))
        records += chunk
    model.train(was_training)
    if not any((~r.crowd).any() for r in records):
        raise ValueError(f"the {len(records)} test images hold no object, so AP is undefined; "
                         "score more test images (--eval-sequences)")
    soft_ap, hard_ap = coco_ap(records, soft), coco_ap(records, hard)
    metrics = {key: soft_ap[key] for key in REPORTED}
    metrics |= {"hard_mask_ap": hard_ap["mask_ap"], "hard_mask_ap50": hard_ap["mask_ap50"]}
    return metrics | {"mask_ap_loss": 1.0 - metrics["mask_ap"]}


@torch.no_grad()
def score_tokenizer(reconstruct, test: Dataset, batch_size: int = 16) -> dict:
    """Reconstruction of every real crop of the test items by `reconstruct((N, 1, S, S) crops) -> (N, 1, S, S)`:
    `mse` on the tokenizer's [-1, 1] values (the training loss's term), `mean_iou` of the reconstruction
    thresholded at 0.5 against the crop (1 where both are empty), `masks` scored."""
    squared, pixels, ious = 0.0, 0, []
    loader = torch.utils.data.DataLoader(test, batch_size=batch_size)
    for batch in loader:
        crops = real_crops(batch)[:, None]
        if not len(crops):
            continue
        recon = reconstruct(crops).float()
        squared += float((normalize_masks(recon) - normalize_masks(crops)).square().sum())
        pixels += crops.numel()
        pred, truth = (recon >= 0.5).flatten(1), (crops >= 0.5).flatten(1)
        union = (pred | truth).sum(1)
        inter = (pred & truth).sum(1)
        ious += torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union, dtype=torch.float)).tolist()
    if not ious:
        raise ValueError("the test images hold no object to reconstruct; score more test images (--eval-sequences)")
    return {"mse": squared / pixels, "mean_iou": float(np.mean(ious)), "masks": len(ious)}


def evaluate_tokenizer(model: nn.Module, test: Dataset) -> dict:
    """`score_tokenizer` of the torch tokenizer, plus `codes_used` (distinct codes over the test crops)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    used: set[int] = set()

    def reconstruct(crops: torch.Tensor) -> torch.Tensor:
        recon, ids, _ = model(crops.to(device))
        used.update(ids.unique().tolist())
        return recon.cpu()

    metrics = score_tokenizer(reconstruct, test)
    model.train(was_training)
    return metrics | {"codes_used": len(used)}

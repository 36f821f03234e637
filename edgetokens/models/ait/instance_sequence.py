"""The instance sequence of AiT (specs/AIT.md §4): objects as token slots, for training, export and runtime.

One slot per object, `SLOT_TOKENS` = 5 + mask_tokens ids, all full-vocabulary ids (`Vocabulary`):

    [x1, y1, x2, y2, class, m_0 .. m_15]     box bins, then the class, then the mask codes in raster order

A sequence is always `slots` slots (the paper: 100 x 21 = 2100 tokens, no EOS). Box corners are model-input
pixels normalised by the model's square input size (AiT's 'abs' normalisation by a fixed 640), in
`num_bins + 1` bins. Training sequences put the real objects first, in random order, and fill the other
slots with noise objects (Pix2Seq sequence augmentation), whose class target is the noise id.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .vocabulary import IGNORE_ID, Vocabulary

MASK_TOKENS = 16  # 4 x 4 codes of the 64 x 64 mask tokenizer
BOX_TOKENS = 4
CLASS_POSITION = 4  # within a slot: after the box, before the mask
SLOT_TOKENS = 5 + MASK_TOKENS
BOX_WEIGHT, CLASS_WEIGHT, MASK_WEIGHT = 1.0, 1.0, 0.2  # loss weight per token kind (official mask_weight 0.2)
DUPLICATE_JITTER = 0.1  # duplicates move each corner by at most this share of the box's width / height


def slot_tokens(mask_tokens: int = MASK_TOKENS) -> int:
    return 5 + mask_tokens


def sequence_length(slots: int, mask_tokens: int = MASK_TOKENS) -> int:
    return slots * slot_tokens(mask_tokens)


# -- boxes <-> bins -----------------------------------------------------------------------------------------

def quantize_boxes(boxes_xyxy: np.ndarray, image_size: float, num_bins: int) -> np.ndarray:
    """Boxes (..., 4) model-input pixels -> local bin ids round(x / image_size * num_bins) in [0, num_bins]."""
    boxes = np.asarray(boxes_xyxy, dtype=np.float64)
    return np.clip(np.rint(boxes / image_size * num_bins), 0, num_bins).astype(np.int64)


def dequantize_boxes(bins: np.ndarray, image_size: float, num_bins: int) -> np.ndarray:
    """Local bin ids (..., 4) -> boxes in model-input pixels (float32); inverse of `quantize_boxes`
    within half a bin (image_size / num_bins / 2 pixels) for boxes inside the image."""
    return (np.asarray(bins, dtype=np.float64) * (image_size / num_bins)).astype(np.float32)


# -- training sequences -------------------------------------------------------------------------------------

@dataclass
class TrainingSequence:
    """One image's teacher-forcing sequence. The decoder reads [prompt, input_ids[:-1]] and is trained to
    give target_ids; `weights` scale each position's cross-entropy (0 where the target is IGNORE_ID).
    Slot i < len(order) holds the ground-truth object `order[i]` (its mask crop is the aux-loss target)."""

    input_ids: np.ndarray  # (L,) int64
    target_ids: np.ndarray  # (L,) int64, IGNORE_ID where unsupervised
    weights: np.ndarray  # (L,) float32
    order: np.ndarray  # (num_real,) int64 indices into the given objects

    @property
    def num_real(self) -> int:
        return len(self.order)


def _truncated_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """N(0, 1) truncated to [-2, 2] (timm's trunc_normal_, as the official code draws its noise)."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2
    return values


def _noise_objects(boxes: np.ndarray, mask_ids: np.ndarray, count: int, rng: np.random.Generator,
                   width: float, height: float, empty_mask_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`count` noise boxes (count, 4) and their input mask ids, as the official `build_input_seq`.

    A uniform share are duplicates (jittered real boxes, with the real object's mask ids), the rest bad
    boxes: random (centre uniform, half-size |truncnormal| / 4 of the image) or a real box moved to a
    random centre, about half each, with the empty mask's ids. All shuffled and clipped to the image.
    """
    n = len(boxes)
    duplicates = int(rng.integers(0, count + 1)) if n else 0
    bad = count - duplicates
    scale = np.array([width, height, width, height])
    tiled = np.tile(np.arange(n), count // n + 1 if n else 1)

    centres = rng.random((bad, 2)) * scale[:2]
    half = np.abs(_truncated_normal(rng, (bad, 2))) / 4 * scale[:2]
    random_boxes = np.concatenate([centres - half, centres + half], axis=1)
    moved = boxes[tiled[rng.permutation(len(tiled))[:bad]]]
    centres = rng.random((len(moved), 2)) * scale[:2]
    half = (moved[:, 2:] - moved[:, :2]) / 2
    shifted_boxes = np.concatenate([centres - half, centres + half], axis=1)
    candidates = np.concatenate([random_boxes, shifted_boxes])
    bad_boxes = candidates[rng.permutation(len(candidates))[:bad]]

    source = tiled[rng.permutation(len(tiled))[:duplicates]]
    size = boxes[source, 2:] - boxes[source, :2]
    jitter = _truncated_normal(rng, (duplicates, 4)) / 2 * DUPLICATE_JITTER
    duplicate_boxes = boxes[source] + np.tile(size, 2) * jitter

    noise_boxes = np.concatenate([bad_boxes, duplicate_boxes]).reshape(-1, 4)
    noise_masks = np.concatenate([np.tile(empty_mask_ids, (bad, 1)), mask_ids[source]])
    noise_masks = noise_masks.reshape(count, len(empty_mask_ids))
    shuffle = rng.permutation(count)
    return np.clip(noise_boxes[shuffle], 0, scale), noise_masks[shuffle]


def make_training_sequence(boxes: np.ndarray, classes: np.ndarray, mask_ids: np.ndarray, *, slots: int,
                           vocab: Vocabulary, image_size: float, rng: np.random.Generator,
                           empty_mask_ids: np.ndarray, noise: bool = True,
                           content_size: tuple[float, float] | None = None) -> TrainingSequence:
    """The §4 training sequence of one image (see `build_training_sequence`), with the slot order.

    boxes (N, 4) xyxy model-input pixels, classes (N,) in 0 .. num_classes - 1, mask_ids (N, T) local
    mask codes (the tokenizer's `encode`), empty_mask_ids (T,) the codes of an empty mask.
    `content_size` (width, height): where noise boxes may lie, e.g. the unpadded part of a letterboxed
    input (default: the whole image_size square).
    """
    if "instances" not in vocab.tasks:
        raise ValueError(f"instance sequences need a vocabulary with the 'instances' task, got {vocab.tasks}")
    if int(slots) != slots or slots < 1:
        raise ValueError(f"slots must be a positive integer, got {slots!r}")
    empty = np.asarray(empty_mask_ids, dtype=np.int64).reshape(-1)
    tokens = len(empty)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    classes = np.asarray(classes, dtype=np.int64).reshape(-1)
    mask_ids = np.asarray(mask_ids, dtype=np.int64)
    if mask_ids.size == 0:
        mask_ids = mask_ids.reshape(0, tokens)
    if len(classes) != len(boxes) or mask_ids.shape != (len(boxes), tokens):
        raise ValueError(f"need one class and {tokens} mask ids (len(empty_mask_ids)) per box: got boxes "
                         f"{boxes.shape}, classes {classes.shape}, mask_ids {mask_ids.shape}")
    if not np.isfinite(boxes).all():
        raise ValueError("boxes must be finite")
    if ((classes < 0) | (classes >= vocab.num_classes)).any():
        raise ValueError(f"classes must lie in 0 .. {vocab.num_classes - 1}, got {classes.min()} .. {classes.max()}")
    for name, ids in (("mask_ids", mask_ids), ("empty_mask_ids", empty)):
        if ids.size and (ids.min() < 0 or ids.max() >= vocab.mask_codes):
            raise ValueError(f"{name} must be local mask codes in 0 .. {vocab.mask_codes - 1} (before the offset)")

    order = rng.permutation(len(boxes))[:slots]  # random order; extra objects dropped at random
    real_boxes, real_masks = boxes[order], mask_ids[order]
    count = slots - len(order)
    width, height = content_size or (image_size, image_size)
    if noise:
        noise_boxes, noise_masks = _noise_objects(real_boxes, real_masks, count, rng, width, height, empty)
    else:  # padding slots: never supervised
        noise_boxes, noise_masks = np.zeros((count, 4)), np.tile(empty, (count, 1))

    bins, classes_at, masks_at = vocab.offset("bins"), vocab.offset("classes"), vocab.offset("mask_codes")
    all_boxes = np.concatenate([real_boxes, noise_boxes])
    sequence = np.empty((slots, slot_tokens(tokens)), dtype=np.int64)
    sequence[:, :BOX_TOKENS] = quantize_boxes(all_boxes, image_size, vocab.num_bins) + bins
    sequence[:, CLASS_POSITION] = np.concatenate([classes[order] + classes_at, np.full(count, vocab.noise_id)])
    sequence[:, CLASS_POSITION + 1:] = np.concatenate([real_masks, noise_masks]) + masks_at

    target = sequence.copy()
    target[len(order):, :BOX_TOKENS] = IGNORE_ID
    target[len(order):, CLASS_POSITION + 1:] = IGNORE_ID
    if not noise:
        target[len(order):, CLASS_POSITION] = IGNORE_ID
    # every input class is corrupted: a random real class or the noise id, 50/50 ("rand_n_fake_cls")
    random_class = rng.integers(0, vocab.num_classes, slots) + classes_at
    sequence[:, CLASS_POSITION] = np.where(rng.random(slots) < 0.5, random_class, vocab.noise_id)

    weights = np.empty(sequence.shape, dtype=np.float32)
    weights[:, :BOX_TOKENS], weights[:, CLASS_POSITION], weights[:, CLASS_POSITION + 1:] = (
        BOX_WEIGHT, CLASS_WEIGHT, MASK_WEIGHT)
    weights[target == IGNORE_ID] = 0.0
    return TrainingSequence(sequence.reshape(-1), target.reshape(-1), weights.reshape(-1), order.astype(np.int64))


def build_training_sequence(boxes: np.ndarray, classes: np.ndarray, mask_ids: np.ndarray, *, slots: int,
                            vocab: Vocabulary, image_size: float, rng: np.random.Generator,
                            empty_mask_ids: np.ndarray, noise: bool = True,
                            content_size: tuple[float, float] | None = None,
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(input_ids (L,), target_ids (L,), weights (L,)) of one image, full-vocabulary ids, L = slots * SLOT_TOKENS.

    - At most `slots` real objects (extra ones dropped at random), first, in random order; all their
      tokens are targets.
    - The other slots are noise objects (`noise=True`): duplicates (jittered real boxes, the real
      object's mask ids as input) and bad boxes (random, or a real box at a random centre; the empty
      mask's ids as input). Their class target is the noise id; box and mask targets are IGNORE_ID.
      With `noise=False` they are padding, with no target at all.
    - Every slot's input class is corrupted (a random real class or the noise id, 50/50), so the decoder
      never reads a true label.
    - Weights: box 1, class 1, mask 0.2; 0 where the target is IGNORE_ID.
    Deterministic given `rng`. `make_training_sequence` also returns which object each real slot holds.
    """
    seq = make_training_sequence(boxes, classes, mask_ids, slots=slots, vocab=vocab, image_size=image_size,
                                 rng=rng, empty_mask_ids=empty_mask_ids, noise=noise, content_size=content_size)
    return seq.input_ids, seq.target_ids, seq.weights


# -- constrained decoding -----------------------------------------------------------------------------------

def legal_ranges(vocab: Vocabulary, slots: int, mask_tokens: int = MASK_TOKENS) -> np.ndarray:
    """(L, 2) [start, stop) of the ids each position may take: bins, classes (never noise), mask codes."""
    slot = np.array([vocab.range("bins")] * BOX_TOKENS + [vocab.range("classes")]
                    + [vocab.range("mask_codes")] * mask_tokens, dtype=np.int64)
    return np.tile(slot, (slots, 1))


def legal_logit_mask(vocab: Vocabulary, slots: int, mask_tokens: int = MASK_TOKENS) -> torch.Tensor:
    """(L, V) bool, True where the id is allowed at that position (`legal_ranges`)."""
    ranges = torch.from_numpy(legal_ranges(vocab, slots, mask_tokens))
    ids = torch.arange(vocab.size)
    return (ids >= ranges[:, :1]) & (ids < ranges[:, 1:])


def constrain_logits(logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Logits (..., V) with the ids that `allowed` (broadcastable bool) forbids set to -inf."""
    return logits.masked_fill(~allowed, float("-inf"))


def nucleus_sample(logits: torch.Tensor, top_p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Ids (B,) from logits (B, V): argmax when top_p == 0 (greedy), else a sample from the smallest set of
    most probable ids whose probabilities add up to >= top_p (at least the most probable one)."""
    if logits.ndim != 2:
        raise ValueError(f"logits must be (batch, vocab), got {tuple(logits.shape)}")
    if not 0.0 <= top_p <= 1.0:
        raise ValueError(f"top_p must lie in [0, 1] (0: greedy; the official instance configs use 0.3), got {top_p}")
    if top_p == 0.0:
        return logits.argmax(dim=-1)
    probs, order = logits.float().softmax(dim=-1).sort(dim=-1, descending=True)
    mass_before = probs.cumsum(dim=-1) - probs  # probability of the more likely ids
    probs = probs.masked_fill(mass_before >= top_p, 0.0)  # the first id always stays (mass_before 0)
    pick = torch.multinomial(probs, 1, generator=generator)
    return order.gather(-1, pick).squeeze(-1)


def choose_token(position: int, logits: torch.Tensor, legal: torch.Tensor, top_p: float,
                 generator: torch.Generator | None = None, mask_tokens: int = MASK_TOKENS) -> torch.Tensor:
    """The decoded id (B,) at `position` from its logits (B, V): restricted to `legal` (V,) bool, the
    greedy code at mask positions, a nucleus sample (`top_p`; 0 greedy) at box and class positions."""
    logits = constrain_logits(logits, legal)
    if position % slot_tokens(mask_tokens) > CLASS_POSITION:
        return logits.argmax(dim=-1)
    return nucleus_sample(logits, top_p, generator)


def is_noise_slot(class_logits: torch.Tensor, vocab: Vocabulary) -> torch.Tensor:
    """(B,) bool from a class position's logits (B, V): the noise id beats every real class, i.e. the
    model takes the slot for padding (training puts real objects first, noise after them)."""
    start, stop = vocab.range("classes")
    return class_logits[..., vocab.noise_id] > class_logits[..., start:stop].max(dim=-1).values


# -- parsing ------------------------------------------------------------------------------------------------

def class_scores(class_logits_with_noise: torch.Tensor,
                 class_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(class ids, scores) from logits (..., num_classes + 1), the noise logit last.

    The score is the official one: the chosen class's softmax probability over [classes + noise], so a
    slot the model thinks is noise scores low. `class_ids` (...) are the sampled classes (local ids);
    None: the most probable real class.
    """
    probs = class_logits_with_noise.float().softmax(dim=-1)
    if class_ids is None:
        class_ids = class_logits_with_noise[..., :-1].argmax(dim=-1)
    return class_ids, probs.gather(-1, class_ids[..., None].long()).squeeze(-1)


def parse_sequence(ids: torch.Tensor, logits: torch.Tensor, vocab: Vocabulary, slots: int, image_size: float, *,
                   mask_tokens: int = MASK_TOKENS, min_score: float = 0.0) -> list[dict]:
    """Generated ids (B, L) and their logits (B, L, V) -> per image a dict of the kept slots:

    boxes (N, 4) float32 xyxy model-input pixels, class_ids (N,) int64, scores (N,) float32, slots (N,)
    int64 slot indices (numpy), and mask_logits (N, mask_tokens, mask_codes) (torch, for the tokenizer's
    soft decode). Every slot is kept (AiT keeps all, no NMS) unless its score is below `min_score` or its
    box is degenerate: x2 <= x1 or y2 <= y1 at bin resolution, a box with no pixels to hold a mask.
    Ids outside a position's legal range (unconstrained decoding) are read as the nearest bin, or as the
    most probable class.
    """
    length = sequence_length(slots, mask_tokens)
    if ids.ndim != 2 or ids.shape[1] != length or logits.shape != (*ids.shape, vocab.size):
        raise ValueError(f"expected ids (B, {length}) and logits (B, {length}, {vocab.size}) for {slots} slots; "
                         f"got {tuple(ids.shape)} and {tuple(logits.shape)}")
    batch, width = ids.shape[0], slot_tokens(mask_tokens)
    ids = ids.reshape(batch, slots, width).long()
    logits = logits.reshape(batch, slots, width, vocab.size)
    bins_at, masks_at = vocab.offset("bins"), vocab.offset("mask_codes")
    classes_at, classes_stop = vocab.range("classes")

    box_bins = (ids[..., :BOX_TOKENS] - bins_at).clamp(0, vocab.num_bins).cpu().numpy()
    boxes = dequantize_boxes(box_bins, image_size, vocab.num_bins)
    class_logits = logits[..., CLASS_POSITION, classes_at:vocab.noise_id + 1]
    chosen = ids[..., CLASS_POSITION] - classes_at
    legal = (chosen >= 0) & (chosen < classes_stop - classes_at)
    chosen = torch.where(legal, chosen, class_logits[..., :-1].argmax(dim=-1))
    class_ids, scores = class_scores(class_logits, chosen)
    mask_logits = logits[..., CLASS_POSITION + 1:, masks_at:masks_at + vocab.mask_codes]

    keep = ((scores >= min_score).cpu().numpy() & (box_bins[..., 2] > box_bins[..., 0])
            & (box_bins[..., 3] > box_bins[..., 1]))
    results = []
    for b in range(batch):
        index = np.flatnonzero(keep[b])
        results.append({
            "boxes": boxes[b, index],
            "class_ids": class_ids[b].cpu().numpy()[index].astype(np.int64),
            "scores": scores[b].cpu().numpy()[index].astype(np.float32),
            "slots": index.astype(np.int64),
            "mask_logits": mask_logits[b, torch.from_numpy(index).to(mask_logits.device)],
        })
    return results

"""The AiT instance vocabulary and sequence maths: ranges, box bins, training sequences, decoding, parsing."""
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from edgetokens.models.ait.instance_sequence import (
    CLASS_POSITION,
    MASK_WEIGHT,
    SLOT_TOKENS,
    build_training_sequence,
    class_scores,
    constrain_logits,
    dequantize_boxes,
    legal_logit_mask,
    legal_ranges,
    make_training_sequence,
    nucleus_sample,
    parse_sequence,
    quantize_boxes,
    sequence_length,
)
from edgetokens.models.ait.vocabulary import IGNORE_ID, Vocabulary

JOINT = Vocabulary(("instances", "depth"))
SIZE = 256  # model input side
EMPTY = np.full(16, 5)  # the empty mask's codes, distinct from the objects' below


def objects(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xy = rng.uniform(0, SIZE * 0.6, (n, 2))
    wh = rng.uniform(8, SIZE * 0.4, (n, 2))
    classes = rng.integers(0, 80, n)
    masks = np.repeat(10 + np.arange(n)[:, None], 16, axis=1)  # object i: all codes 10 + i
    return np.concatenate([xy, xy + wh], 1), classes, masks


def sequence(n: int = 3, slots: int = 10, seed: int = 0, **kwargs):
    boxes, classes, masks = objects(np.random.default_rng(100 + n), n)
    seq = make_training_sequence(boxes, classes, masks, slots=slots, vocab=JOINT, image_size=SIZE,
                                 rng=np.random.default_rng(seed), empty_mask_ids=EMPTY, **kwargs)
    return seq, boxes, classes, masks


# -- vocabulary ---------------------------------------------------------------------------------------------

def test_vocabulary_ranges_are_contiguous_in_id_order():
    names = ["bins", "classes", "noise", "mask_codes", "depth_codes"]
    ranges = [JOINT.range(n) for n in names]
    assert ranges[0][0] == 0 and all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert [b - a for a, b in ranges] == [257, 80, 1, 128, 128]
    assert JOINT.size == ranges[-1][1] == 594 and JOINT.noise_id == 337
    assert (JOINT.task_index("instances"), JOINT.task_index("depth")) == (0, 1)


def test_depth_only_vocabulary_is_the_shipped_solver_layout():
    depth = Vocabulary(("depth",))
    assert depth.range("depth_codes") == (0, 128) and depth.size == 128 and depth.task_index("depth") == 0
    with pytest.raises(ValueError, match="task 'instances'"):
        depth.range("bins")
    with pytest.raises(ValueError, match="not in this vocabulary"):
        depth.task_index("instances")


def test_vocabulary_rejects_bad_tasks_and_sizes():
    assert Vocabulary(["instances"]).tasks == ("instances",)  # lists from config.json
    for tasks in [(), ("depth", "instances"), ("pose3d",), ("depth", "depth")]:
        with pytest.raises(ValueError):
            Vocabulary(tasks)
    with pytest.raises(ValueError, match="num_bins"):
        Vocabulary(("instances",), num_bins=0)
    with pytest.raises(ValueError, match="unknown vocabulary range"):
        JOINT.range("codes")


# -- boxes ----------------------------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 640, allow_nan=False), min_size=4, max_size=4), st.sampled_from([100, 256, 2000]),
       st.sampled_from([256, 640]))
def test_box_bins_round_trip_within_half_a_bin(coords, num_bins, size):
    box = np.array(coords) * size / 640
    bins = quantize_boxes(box, size, num_bins)
    assert bins.dtype == np.int64 and ((bins >= 0) & (bins <= num_bins)).all()
    assert np.abs(dequantize_boxes(bins, size, num_bins) - box).max() <= size / num_bins / 2 + 1e-3


def test_boxes_outside_the_image_clamp_to_the_end_bins():
    assert quantize_boxes(np.array([-30.0, 10.0, 700.0, 640.0]), 640, 2000).tolist() == [0, 31, 2000, 2000]


# -- training sequences ---------------------------------------------------------------------------------------

def test_training_sequence_layout_targets_and_weights():
    seq, boxes, classes, masks = sequence(n=3, slots=10)
    length = sequence_length(10)
    assert length == 10 * SLOT_TOKENS == 210
    assert seq.input_ids.shape == seq.target_ids.shape == seq.weights.shape == (length,)
    assert seq.input_ids.dtype == seq.target_ids.dtype == np.int64 and seq.weights.dtype == np.float32
    target, weights = seq.target_ids.reshape(10, 21), seq.weights.reshape(10, 21)
    # real objects first, all tokens supervised, in the order `order` says
    assert sorted(seq.order.tolist()) == [0, 1, 2]
    bins = quantize_boxes(boxes[seq.order], SIZE, 256)
    np.testing.assert_array_equal(target[:3, :4], bins)
    np.testing.assert_array_equal(target[:3, 4], classes[seq.order] + JOINT.offset("classes"))
    np.testing.assert_array_equal(target[:3, 5:], masks[seq.order] + JOINT.offset("mask_codes"))
    np.testing.assert_array_equal(weights[:3], np.tile(np.float32([1, 1, 1, 1, 1] + [MASK_WEIGHT] * 16), (3, 1)))
    # noise slots: class target = noise, the rest ignored with weight 0
    assert (target[3:, 4] == JOINT.noise_id).all() and (weights[3:, 4] == 1).all()
    assert (target[3:, :4] == IGNORE_ID).all() and (target[3:, 5:] == IGNORE_ID).all()
    assert (weights[3:, :4] == 0).all() and (weights[3:, 5:] == 0).all()
    # inputs equal targets where supervised, except the class, always corrupted
    inputs = seq.input_ids.reshape(10, 21)
    np.testing.assert_array_equal(inputs[:3, :4], target[:3, :4])
    np.testing.assert_array_equal(inputs[:3, 5:], target[:3, 5:])


def test_all_ids_lie_in_their_positions_ranges():
    ranges = legal_ranges(JOINT, 10)
    for n in (0, 3, 14):
        seq, *_ = sequence(n=n, slots=10)
        start, stop = ranges[:, 0].copy(), ranges[:, 1].copy()
        stop[CLASS_POSITION::SLOT_TOKENS] += 1  # inputs and targets may hold the noise class
        for ids in (seq.input_ids, seq.target_ids[seq.target_ids != IGNORE_ID]):
            keep = slice(None) if ids is seq.input_ids else seq.target_ids != IGNORE_ID
            assert ((ids >= start[keep]) & (ids < stop[keep])).all()


def test_noise_objects_duplicates_and_bad_boxes():
    rng_boxes, classes, masks = objects(np.random.default_rng(7), 4)
    duplicates = 0
    for seed in range(20):
        seq = make_training_sequence(rng_boxes, classes, masks, slots=30, vocab=JOINT, image_size=SIZE,
                                     rng=np.random.default_rng(seed), empty_mask_ids=EMPTY)
        inputs = seq.input_ids.reshape(30, 21)[4:]
        mask_codes = inputs[:, 5:] - JOINT.offset("mask_codes")
        boxes = dequantize_boxes(inputs[:, :4], SIZE, 256)
        assert ((boxes >= 0) & (boxes <= SIZE)).all()
        for codes, box in zip(mask_codes, boxes):
            assert (codes == codes[0]).all()
            if codes[0] == EMPTY[0]:
                continue  # a bad box: random, or a real box moved anywhere
            duplicates += 1
            source = rng_boxes[codes[0] - 10]  # a duplicate carries its object's mask: its corners moved <= 10%
            size = np.tile(source[2:] - source[:2], 2)
            clipped = np.clip(source, 0, SIZE)
            assert (np.abs(box - clipped) <= 0.1 * size + SIZE / 256).all()
    assert 100 < duplicates < 420  # a uniform share of the 26 noise slots, over 20 images


def test_input_classes_are_corrupted_half_noise():
    seq, *_ = sequence(n=5, slots=400)
    classes = seq.input_ids.reshape(400, 21)[:, 4]
    noise = classes == JOINT.noise_id
    assert 0.4 < noise.mean() < 0.6
    assert ((classes[~noise] >= JOINT.offset("classes")) & (classes[~noise] < JOINT.noise_id)).all()
    assert len(np.unique(classes[~noise])) > 40


def test_more_objects_than_slots_drop_extras_at_random():
    kept = set()
    for seed in range(5):
        seq, *_ = sequence(n=12, slots=5, seed=seed)
        assert seq.num_real == 5 and (seq.target_ids != IGNORE_ID).sum() == 5 * 21
        kept.add(tuple(sorted(seq.order.tolist())))
    assert len(kept) > 1


def test_no_objects_and_no_noise():
    seq, *_ = sequence(n=0, slots=6)
    target = seq.target_ids.reshape(6, 21)
    assert seq.num_real == 0 and (target[:, 4] == JOINT.noise_id).all()
    assert (seq.input_ids.reshape(6, 21)[:, 5:] == EMPTY + JOINT.offset("mask_codes")).all()  # no duplicates
    padded, *_ = sequence(n=2, slots=6, noise=False)
    assert (padded.target_ids.reshape(6, 21)[2:] == IGNORE_ID).all() and (padded.weights.reshape(6, 21)[2:] == 0).all()


def test_training_sequence_is_deterministic_given_the_rng():
    a, b, c = sequence(seed=3)[0], sequence(seed=3)[0], sequence(seed=4)[0]
    for name in ("input_ids", "target_ids", "weights", "order"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.input_ids, c.input_ids)
    boxes, classes, masks = objects(np.random.default_rng(103), 3)
    triple = build_training_sequence(boxes, classes, masks, slots=10, vocab=JOINT, image_size=SIZE,
                                     rng=np.random.default_rng(3), empty_mask_ids=EMPTY)
    for got, want in zip(triple, (a.input_ids, a.target_ids, a.weights)):
        np.testing.assert_array_equal(got, want)


def test_training_sequence_rejects_bad_inputs():
    boxes, classes, masks = objects(np.random.default_rng(0), 2)
    kwargs = {"slots": 4, "image_size": SIZE, "rng": np.random.default_rng(0), "empty_mask_ids": EMPTY}
    with pytest.raises(ValueError, match="'instances' task"):
        build_training_sequence(boxes, classes, masks, vocab=Vocabulary(("depth",)), **kwargs)
    with pytest.raises(ValueError, match="classes must lie"):
        build_training_sequence(boxes, classes + 80, masks, vocab=JOINT, **kwargs)
    with pytest.raises(ValueError, match="local mask codes"):
        build_training_sequence(boxes, classes, masks + JOINT.offset("mask_codes"), vocab=JOINT, **kwargs)
    with pytest.raises(ValueError, match="one class and 16 mask ids"):
        build_training_sequence(boxes, classes, masks[:, :8], vocab=JOINT, **kwargs)


# -- constrained decoding -------------------------------------------------------------------------------------

def test_legal_logit_mask_allows_each_positions_range_only():
    allowed = legal_logit_mask(JOINT, 3)
    assert allowed.shape == (63, JOINT.size) and allowed.dtype == torch.bool
    slot = allowed[:21]
    assert slot[:4].sum(1).tolist() == [257] * 4 and bool(slot[:4, :257].all())
    assert slot[4].sum() == 80 and not slot[4, JOINT.noise_id]  # noise is never sampled
    assert slot[5:].sum(1).tolist() == [128] * 16 and bool(slot[5:, 338:466].all())
    assert not allowed[:, JOINT.offset("depth_codes"):].any()
    assert torch.equal(allowed[21:42], slot)
    constrained = constrain_logits(torch.zeros(63, JOINT.size), allowed)
    assert torch.isinf(constrained[~allowed]).all() and (constrained[allowed] == 0).all()


def test_nucleus_greedy_is_argmax_and_top_p_keeps_the_head():
    logits = torch.randn(64, 50, generator=torch.Generator().manual_seed(0))
    assert torch.equal(nucleus_sample(logits, 0.0), logits.argmax(-1))
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.05, 0.9, 0.03, 0.02]])
    batch = probs.log().repeat(500, 1)
    ids = nucleus_sample(batch, 0.7, generator=torch.Generator().manual_seed(1)).reshape(500, 2)
    assert set(ids[:, 0].tolist()) == {0, 1}  # 0.5 + 0.3 >= 0.7: only the first two
    assert set(ids[:, 1].tolist()) == {1}  # the top one alone is >= 0.7
    full = nucleus_sample(probs[:1].log().repeat(2000, 1), 1.0, generator=torch.Generator().manual_seed(2))
    assert set(full.tolist()) == {0, 1, 2, 3}
    again = nucleus_sample(batch, 0.7, generator=torch.Generator().manual_seed(1)).reshape(500, 2)
    assert torch.equal(ids, again)
    masked = constrain_logits(torch.zeros(8, 10), torch.arange(10) >= 6)
    assert (nucleus_sample(masked, 0.3, generator=torch.Generator().manual_seed(0)) >= 6).all()
    with pytest.raises(ValueError, match="top_p"):
        nucleus_sample(logits, 1.5)


def test_class_scores_are_softmax_over_classes_and_noise():
    logits = torch.tensor([[2.0, 0.0, 0.0, 5.0], [4.0, 0.0, 0.0, -5.0]])  # 3 classes + noise
    ids, scores = class_scores(logits)
    assert ids.tolist() == [0, 0]
    assert scores[0] < 0.05 and scores[1] > 0.9  # the noise-like slot scores low
    torch.testing.assert_close(scores, logits.softmax(-1)[:, 0])
    _, chosen = class_scores(logits, torch.tensor([1, 2]))
    torch.testing.assert_close(chosen, logits.softmax(-1)[[0, 1], [1, 2]])


# -- parsing --------------------------------------------------------------------------------------------------

def test_parse_sequence_reads_boxes_classes_scores_and_mask_logits():
    slots = 4
    vocab = JOINT
    seq, boxes, classes, _ = sequence(n=3, slots=slots)
    ids = torch.from_numpy(seq.target_ids.reshape(slots, 21).copy())
    ids[3] = ids[0]  # the noise slot: a copy of slot 0 ...
    ids[3, :4] = torch.tensor([50, 60, 50, 90])  # ... with a degenerate box (x2 == x1)
    ids[2, 4] = vocab.noise_id  # an unconstrained class id: read as the most probable class
    logits = torch.full((slots, 21, vocab.size), -10.0)
    logits.scatter_(-1, ids.clamp_min(0)[..., None], 10.0)
    logits[1, 4, vocab.noise_id] = 12.0  # slot 1: the model thinks noise -> low score
    logits[2, 4, vocab.offset("classes") + 7] = 11.0
    ids, logits = ids.reshape(1, -1), logits.reshape(1, -1, vocab.size)
    (parsed,) = parse_sequence(ids, logits, vocab, slots, SIZE)
    assert parsed["slots"].tolist() == [0, 1, 2]
    np.testing.assert_allclose(parsed["boxes"], boxes[seq.order], atol=SIZE / 256 / 2 + 1e-3)
    assert parsed["class_ids"].tolist() == [classes[seq.order[0]], classes[seq.order[1]], 7]
    assert parsed["scores"][0] > 0.99 and parsed["scores"][1] < 0.2
    assert parsed["mask_logits"].shape == (3, 16, 128)
    assert torch.equal(parsed["mask_logits"][0], logits.reshape(slots, 21, -1)[0, 5:, 338:466])
    (strict,) = parse_sequence(ids, logits, vocab, slots, SIZE, min_score=0.5)
    assert strict["slots"].tolist() == [0, 2]
    with pytest.raises(ValueError, match="expected ids"):
        parse_sequence(ids[:, :-1], logits[:, :-1], vocab, slots, SIZE)

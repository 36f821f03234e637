import math

import numpy as np
import pytest
import torch

from edgetokens.pose.windows import (
    causal_window,
    centred_window,
    demo_chunk_starts,
    gather_clip,
    gather_clips,
    random_start,
    seq2seq_starts,
    stitch_clips,
)


def official(length, frames):  # HOT.md §5.4, written out independently
    n = math.ceil((length - frames) / frames + 1)
    offset = ((n - 1) * frames + frames - length) // 2
    return [k * frames - offset for k in range(n)]


def test_hot_example():
    assert seq2seq_starts(500, 243).tolist() == [-114, 129, 372]


@pytest.mark.parametrize("length", [1, 5, 242, 243, 244, 486, 487, 1000, 2356])
def test_matches_official_rule_and_covers_everything(length):
    starts = seq2seq_starts(length, 243)
    assert starts.tolist() == official(length, 243)
    assert np.all(np.diff(starts) == 243)
    assert starts[0] <= 0 and starts[-1] + 243 >= length


def test_demo_rule_differs_only_when_frames_divides_length():
    for length in range(1, 800, 7):
        same = demo_chunk_starts(length, 81).tolist() == seq2seq_starts(length, 81).tolist()
        assert same == (length % 81 != 0)
    assert len(demo_chunk_starts(486, 243)) == 3 and len(seq2seq_starts(486, 243)) == 2


def test_gather_edge_pads_and_stitch_round_trips():
    seq = np.arange(500, dtype=np.float32)[:, None, None] * np.ones((1, 17, 3), np.float32)
    starts = seq2seq_starts(500, 243)
    clips = gather_clips(seq, starts, 243)
    assert clips.shape == (3, 243, 17, 3)
    assert np.all(clips[0, :114] == 0) and clips[0, 114, 0, 0] == 0 and clips[0, 115, 0, 0] == 1
    assert np.all(clips[-1, -(372 + 243 - 500):] == 499)
    np.testing.assert_array_equal(stitch_clips(clips, starts, 500), seq)
    np.testing.assert_array_equal(gather_clip(seq, -3, 5)[:, 0, 0], [0, 0, 0, 0, 1])
    np.testing.assert_array_equal(np.pad(seq[:10], ((4, 0), (0, 0), (0, 0)), mode="edge"), gather_clip(seq, -4, 14))


def test_stitch_torch_and_gap_error():
    seq = torch.arange(30.0).reshape(30, 1, 1)
    starts = seq2seq_starts(30, 9)
    torch.testing.assert_close(stitch_clips(gather_clips(seq, starts, 9), starts, 30), seq)
    with pytest.raises(ValueError, match="cover"):
        stitch_clips(np.zeros((1, 9, 1)), [0], 30)


def test_random_start_keeps_short_sequences_whole():
    rng = np.random.default_rng(0)
    for _ in range(200):
        s = random_start(50, 81, rng)
        assert 50 - 81 <= s <= 0  # window covers all 50 real frames
        s = random_start(300, 81, rng)
        assert 0 <= s <= 300 - 81


def test_causal_and_centred_windows():
    seq = np.arange(10)
    np.testing.assert_array_equal(causal_window(seq, 4), [6, 7, 8, 9])
    np.testing.assert_array_equal(causal_window(seq[:2], 4), [0, 0, 0, 1])
    np.testing.assert_array_equal(centred_window(seq, 0, 5), [0, 0, 0, 1, 2])


def test_invalid_lengths():
    with pytest.raises(ValueError):
        seq2seq_starts(0, 243)
    with pytest.raises(ValueError):
        seq2seq_starts(10, 0)

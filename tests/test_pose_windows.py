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


class _ToyLifter:
    """A deterministic, asymmetric stand-in for a pose model (frames, in_channels, run_clips)."""

    frames, in_channels = 5, 3

    def __init__(self):
        self.weight = np.random.default_rng(4).normal(size=(5 * 17 * 3, 5 * 17 * 3)).astype(np.float32) * 0.05

    def run_clips(self, clips):
        x = np.asarray(clips, np.float32).reshape(len(clips), -1)
        return np.tanh(x @ self.weight).reshape(len(clips), 5, 17, 3) + 0.1


def test_flip_average_is_the_mean_with_the_unmirrored_mirror_prediction():
    from edgetokens.pose.lifting import flip_average, lift_clips
    from edgetokens.pose.skeleton import flip_pose

    model = _ToyLifter()
    clips = np.random.default_rng(0).normal(size=(7, 5, 17, 3)).astype(np.float32)
    want = 0.5 * (model.run_clips(clips) + flip_pose(model.run_clips(flip_pose(clips))))
    np.testing.assert_array_equal(flip_average(model.run_clips, clips), want)
    want[..., 0, :] = 0.0
    np.testing.assert_array_equal(lift_clips(model.run_clips, clips, flip=True, batch_size=7), want.astype(np.float32))
    np.testing.assert_allclose(lift_clips(model.run_clips, clips, flip=True, batch_size=3), want, atol=1e-6)
    # a mirror-symmetric model gives the same answer with and without flipping
    def symmetric(c):
        return flip_average(model.run_clips, c)

    np.testing.assert_allclose(flip_average(symmetric, clips), symmetric(clips), atol=1e-6)


@pytest.mark.parametrize("stride", [1, 3])
def test_stream_flip_equals_batch_flip_on_the_same_window(stride):
    """PoseStream and lift_clips share one flip average: the stream's pose of a window is lift_clips' pose
    of that window, root-centred (not just root-zeroed)."""
    from edgetokens import stream
    from edgetokens.pose import lifting

    assert stream.flip_average is lifting.flip_average
    model = _ToyLifter()
    rng = np.random.default_rng(1)
    pose_stream = stream.PoseStream(model, (640, 480), flip=True, stride=stride)
    for t in range(12):
        pose = pose_stream.push(rng.uniform(50, 450, size=(17, 2)), rng.uniform(0, 1, size=17))
        if t % stride == 0:  # the model just ran on the window ending at frame t; it answers pushes t .. t+stride-1
            window = pose_stream.window()
            averaged = lifting.flip_average(model.run_clips, window[None])[0]
            batch = lifting.lift_clips(model.run_clips, window[None], flip=True)[0]
            np.testing.assert_array_equal(batch[:, 1:], averaged[:, 1:])  # lift_clips only zeroes the root
            np.testing.assert_array_equal(pose, (averaged - averaged[:, :1])[len(window) - stride])
            assert not np.allclose(pose, (model.run_clips(window[None])[0] - model.run_clips(window[None])[0, :, :1])
                                   [len(window) - stride], atol=1e-3)  # flipping changed the answer


def test_stream_module_imports_no_predictor():
    """stream.py types its predictor with a Protocol: no import edge to a predictor module."""
    import ast
    import inspect

    from edgetokens import stream

    tree = ast.parse(inspect.getsource(stream))
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert not [m for m in imported if "predictor" in m], imported

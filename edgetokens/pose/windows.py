"""Clip windows over pose sequences: official seq2seq chunks, random training windows, streaming.

Every window is a start index ``s`` and covers frames ``s .. s + frames - 1``; frames outside
``[0, length)`` are edge-padded (the first / last real frame repeated), as in HoT's
``generator_stride.ChunkedGenerator`` and the demo. Gathering uses clipped indices, which is the
same thing as ``np.pad(..., mode="edge")`` and works on numpy arrays and torch tensors alike.

Official seq2seq rule (HoT / VideoPose3D, stride = frames = F)::

    n      = ceil((L - F) / F + 1)          # = ceil(L / F), at least 1
    offset = ((n - 1) * F + F - L) // 2
    starts = [k * F - offset for k in range(n)]

The official demo (``demo/vis.py``) uses ``n = L // F + 1`` and ``offset = (n * F - L) // 2``.
That is the same rule except when ``L`` is a multiple of ``F``: then the demo adds one extra,
fully padded-around chunk (e.g. L=486, F=243: seq2seq gives 2 clips, the demo 3). Both are
provided (:func:`seq2seq_starts`, :func:`demo_chunk_starts`) and share :func:`centred_starts`.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

ArrayT = TypeVar("ArrayT")


def _check(length: int, frames: int) -> None:
    if frames < 1:
        raise ValueError(f"clip length (frames) must be >= 1; got {frames}")
    if length < 1:
        raise ValueError(f"sequence length must be >= 1 frame; got {length} (drop empty sequences first)")


def centred_starts(length: int, frames: int, n_clips: int) -> np.ndarray:
    """Start indices of ``n_clips`` back-to-back F-frame windows centred as a group on the sequence."""
    offset = (n_clips * frames - length) // 2
    return np.arange(n_clips, dtype=np.int64) * frames - offset


def seq2seq_starts(length: int, frames: int) -> np.ndarray:
    """Official seq2seq clip starts (HOT.md §5.4): non-overlapping, centred, edge padded."""
    _check(length, frames)
    n_clips = math.ceil((length - frames) / frames + 1)
    return centred_starts(length, frames, n_clips)


def demo_chunk_starts(length: int, frames: int) -> np.ndarray:
    """Chunk starts of the official demo: ``n = L // F + 1`` (one more than seq2seq when F divides L)."""
    _check(length, frames)
    return centred_starts(length, frames, length // frames + 1)


def clip_indices(start: int, frames: int, length: int) -> np.ndarray:
    """Frame indices of the window ``start .. start+frames-1``, clipped to ``[0, length)`` (edge padding)."""
    _check(length, frames)
    return np.clip(np.arange(start, start + frames), 0, length - 1)


def _take(seq, idx: np.ndarray):
    if torch is not None and isinstance(seq, torch.Tensor):
        return seq[torch.as_tensor(idx, device=seq.device)]
    return seq[idx]


def gather_clip(seq: ArrayT, start: int, frames: int) -> ArrayT:
    """One edge-padded window (frames, ...) of a (L, ...) sequence."""
    return _take(seq, clip_indices(start, frames, len(seq)))


def gather_clips(seq: ArrayT, starts, frames: int) -> ArrayT:
    """Edge-padded windows (n, frames, ...) of a (L, ...) sequence at the given starts."""
    _check(len(seq), frames)
    starts = np.asarray(starts, dtype=np.int64)
    idx = np.clip(starts[:, None] + np.arange(frames)[None, :], 0, len(seq) - 1)
    return _take(seq, idx)


def stitch_clips(clips: ArrayT, starts, length: int) -> ArrayT:
    """Put per-clip outputs (n, F, ...) back on the timeline: returns (length, ...).

    Each real frame takes the value of the first clip that covers it; padded frames are dropped.
    With seq2seq starts the clips do not overlap, so every frame comes from exactly one clip.
    """
    starts = np.asarray(starts, dtype=np.int64)
    if len(starts) != len(clips):
        raise ValueError(f"got {len(clips)} clips but {len(starts)} start indices")
    frames = clips.shape[1]
    covered = np.zeros(length, dtype=bool)
    is_torch = torch is not None and isinstance(clips, torch.Tensor)
    out = clips.new_zeros((length, *clips.shape[2:])) if is_torch else np.zeros((length, *clips.shape[2:]), clips.dtype)
    for clip, start in zip(clips, starts):
        lo, hi = max(int(start), 0), min(int(start) + frames, length)
        if hi <= lo:
            continue
        take = ~covered[lo:hi]
        rows = np.nonzero(take)[0] + lo
        if is_torch:
            out[torch.as_tensor(rows, device=out.device)] = clip[torch.as_tensor(rows - start, device=out.device)]
        else:
            out[rows] = clip[rows - start]
        covered[lo:hi] = True
    if not covered.all():
        missing = np.nonzero(~covered)[0]
        raise ValueError(
            f"clips do not cover frames {missing[:5].tolist()}... of a {length}-frame sequence; "
            "use starts from seq2seq_starts / demo_chunk_starts for the same length"
        )
    return out


def random_start(length: int, frames: int, rng: np.random.Generator) -> int:
    """Random training window start. Shorter sequences get a random placement inside the padded
    window (every real frame kept, edges padded); they are never dropped."""
    _check(length, frames)
    if length >= frames:
        return int(rng.integers(0, length - frames + 1))
    return int(rng.integers(length - frames, 1))


def causal_window(seq: ArrayT, frames: int) -> ArrayT:
    """The last ``frames`` frames of a (L, ...) stream, left edge-padded when L < frames."""
    return gather_clip(seq, len(seq) - frames, frames)


def centred_window(seq: ArrayT, frame: int, frames: int) -> ArrayT:
    """Seq2frame window centred on ``frame`` (centre index ``(frames - 1) // 2``), edge padded."""
    return gather_clip(seq, frame - (frames - 1) // 2, frames)

"""Calibration clips for post-training quantization and QAT initialisation."""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from torch import nn

from training.data.clips import ClipConfig, PoseClipDataset

log = logging.getLogger(__name__)

RECOMMENDED_CLIPS = 300  # NNCF's default subset size


def calibration_clips(views: Sequence, model: nn.Module, count: int = RECOMMENDED_CLIPS,
                      seed: int = 0) -> list[np.ndarray]:
    """`count` random training clips, each (1, F, J, C) float32 (NNCF calibrates transformers at batch 1)."""
    check_calibration_count(count)
    if not views:
        raise ValueError("the calibration set is empty: no sequences in the calibration data")
    cfg = model.config
    data = PoseClipDataset(views, ClipConfig(frames=cfg.frames, train=True, flip=True,
                                             with_scores=cfg.in_channels == 3, seed=seed))
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(data), size=min(count, len(data)), replace=False)
    return [data[int(i)]["input"].numpy()[None] for i in picks]


def check_calibration_count(count: int, what: str = "clips") -> None:
    """An empty calibration set is an error; fewer than NNCF's 300 samples is a warning."""
    if count < 1:
        raise ValueError(f"the calibration set is empty (count={count}); ask for at least 1, ideally "
                         f"{RECOMMENDED_CLIPS} {what}")
    if count < RECOMMENDED_CLIPS:
        log.warning("only %d calibration %s (NNCF recommends %d); quantization ranges may be poor",
                    count, what, RECOMMENDED_CLIPS)

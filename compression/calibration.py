"""Calibration samples for post-training quantization and QAT initialisation.

The samples themselves come from the task (`TaskData.calibration`, `training.tasks`); this module
holds what NNCF asks of their number.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from torch import nn

from training.data.layouts import INPUT_LAYOUTS, data_layout_for
from training.tasks.pose import calibration_clips as _pose_calibration_clips

log = logging.getLogger(__name__)

RECOMMENDED_CLIPS = 300  # NNCF's default subset size


def calibration_clips(views: Sequence, model: nn.Module, count: int = RECOMMENDED_CLIPS,
                      seed: int = 0) -> list[np.ndarray]:
    """`count` random training clips, each (1, F, J, C) float32 (NNCF calibrates transformers at batch 1);
    what the pose3d task's `TaskData.calibration` gives."""
    check_calibration_count(count)
    return _pose_calibration_clips(views, model, count, seed)


def check_calibration_count(count: int, what: str = "clips") -> None:
    """An empty calibration set is an error; fewer than NNCF's 300 samples is a warning."""
    if count < 1:
        raise ValueError(f"the calibration set is empty (count={count}); ask for at least 1, ideally "
                         f"{RECOMMENDED_CLIPS} {what}")
    if count < RECOMMENDED_CLIPS:
        log.warning("only %d calibration %s (NNCF recommends %d); quantization ranges may be poor",
                    count, what, RECOMMENDED_CLIPS)


def add_layout_arguments(parser) -> None:
    """`--input-layout` and `--positions-root`, as `training.train` has them, for calibration and QAT data."""
    parser.add_argument("--input-layout", choices=INPUT_LAYOUTS, default=None,
                        help="2D layout of the pose views (default: the layouts the checkpoint was trained on)")
    parser.add_argument("--positions-root", default=None,
                        help="the cmu-positions folder for --data real / cmu-positions (default: beside --data-root)")


def data_layout(requested: str | None, model: nn.Module) -> str:
    """The layout calibration and QAT data are drawn in: `requested`, else what `model` was trained on
    (its config's `input_layouts`; "h36m" for models without one)."""
    if requested is not None:
        return requested
    trained = getattr(model.config, "input_layouts", None)
    return "h36m" if trained is None else data_layout_for(trained)

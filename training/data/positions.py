"""Joint-position npz files (a motion as 3D points per frame) -> H36M-17 motions at 50 Hz.

A file holds ``positions`` (frames, joints, 3) float, ``joint_names`` (joints,) str and, unless the
caller gives the rate, ``fps`` (a scalar). Loading picks the 17 H36M joints by name
(:mod:`training.data.names`; the default map is CMU's: root and the end points of the ASF bones,
``training.data.cmu.CMU_TO_H36M``, as in ../shared/data/cmu-positions), scales to metres, turns a
Y-up file into the project's Z-up world (the CMU rotation ``(x, y, z) -> (x, -z, y)``) and resamples
linearly to 50 Hz (``training.data.cmu.resample``). Files are read with ``allow_pickle=False``.

Folders: :func:`load_positions_folder` loads every ``*.npz`` below a folder, sorted; the
``cmu-positions`` source (``training.data.clips``) reads ``ROOT/train`` and ``ROOT/test``, the
source's own sequence-level split.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from training.data import WORLD_FRAME, MotionSequence
from training.data.cmu import CMU_TO_H36M, CMU_TO_WORLD, TARGET_FPS, resample
from training.data.names import NameMap, resolve_names

log = logging.getLogger(__name__)

UP_AXES = ("z", "y")


def _read(path: Path, data, key: str, fallback=None):
    if key in data.files:
        return data[key]
    if fallback is not None:
        return fallback
    raise ValueError(f"{path}: no {key!r} array (keys: {', '.join(data.files)}); "
                     "a positions file needs positions (frames, joints, 3) and joint_names (joints,)")


def load_positions(path: str | os.PathLike, name_map: NameMap = CMU_TO_H36M, fps: float | None = None,
                   target_fps: float = TARGET_FPS, scale: float = 1.0, up: str = "z", name: str | None = None,
                   subject: str | None = None) -> MotionSequence:
    """One npz file -> :class:`MotionSequence` (H36M-17, metres, Z-up world, ``target_fps`` Hz).

    ``fps``: the file's rate when it has no ``fps`` entry (or to override it); ``scale``: metres per
    file unit; ``up``: the file's up axis ("z" or "y"); ``name`` / ``subject`` default to the file
    name and its folder's name."""
    path = Path(path)
    if up not in UP_AXES:
        raise ValueError(f"up must be one of {UP_AXES}; got {up!r}")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number (metres per file unit); got {scale!r}")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable npz file ({err})") from None
    with data:
        try:
            positions = np.asarray(_read(path, data, "positions"), dtype=np.float64)
            names = _read(path, data, "joint_names")
            rate = fps if fps is not None else _read(path, data, "fps", fallback=np.nan)
        except (TypeError, ValueError) as err:
            if str(err).startswith(str(path)):
                raise
            raise ValueError(f"{path}: {err} (positions files hold plain numeric and string arrays)") from None
    if positions.ndim != 3 or positions.shape[2] != 3 or len(positions) == 0:
        raise ValueError(f"{path}: positions must be (frames > 0, joints, 3); got {positions.shape}")
    names = np.asarray(names).reshape(-1)
    if names.dtype.kind not in "US" or len(names) != positions.shape[1]:
        raise ValueError(f"{path}: joint_names must be {positions.shape[1]} strings (one per joint); "
                         f"got {names.dtype} {names.shape}")
    rate = float(np.asarray(rate))
    if not (np.isfinite(rate) and rate > 0):
        raise ValueError(f"{path}: no frame rate: the file has no valid 'fps' entry; pass fps=...")
    if not np.isfinite(positions).all():
        frame = int(np.argwhere(~np.isfinite(positions))[0, 0])
        raise ValueError(f"{path}: non-finite (NaN/inf) positions, first at frame {frame}; repair or drop the file")
    joints = positions[:, resolve_names([str(n) for n in names], name_map, str(path))] * scale
    if up == "y":
        joints = joints @ CMU_TO_WORLD.T
    joints = resample(joints, rate, target_fps)
    return MotionSequence(name=name or path.stem, subject=subject or path.parent.name, fps=target_fps,
                          positions=joints.astype(np.float32), world_frame=WORLD_FRAME)


def load_positions_folder(folder: str | os.PathLike, prefix: str = "", **options) -> list[MotionSequence]:
    """Every ``*.npz`` below ``folder`` (sorted), named ``prefix`` + its path inside the folder without
    ``.npz`` (subject: its first folder, e.g. the action); ``options`` go to :func:`load_positions`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: positions folder not found")
    files = sorted(folder.rglob("*.npz"))
    if not files:
        raise ValueError(f"{folder}: no .npz positions files below it")
    sequences = []
    for f in files:
        relative = f.relative_to(folder).with_suffix("")
        subject = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        sequences.append(load_positions(f, name=f"{prefix}{relative.as_posix()}", subject=subject, **options))
    log.info("loaded %d positions files from %s (%d frames)", len(sequences), folder, sum(len(s) for s in sequences))
    return sequences

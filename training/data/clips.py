"""Clip datasets for 2D -> 3D lifting, and the named pose sources the trainer asks for.

:class:`PoseClipDataset` items are dicts of tensors:

- ``input``  (F, 17, 2) normalised 2D (``x / w * 2 - [1, h / w]``), or (F, 17, 3) with the detector
  score as the third channel (``with_scores=True``; 1 where a source has no scores),
- ``target`` (F, 17, 3) camera-frame metres, root-relative (joint 0 = 0),
- ``view`` (index into the dataset's views), ``start`` (first frame; negative = edge padded),
  ``flipped`` (bool),
- eval mode with ``flip=True`` also: ``input_flipped``, the mirrored input for test-time flip
  averaging (un-mirror the prediction with ``flip_pose`` before averaging).

Eval mode uses the official seq2seq windows (non-overlapping, centred, edge padded; stitch the
outputs with :meth:`PoseClipDataset.stitch`). Train mode draws as many windows per sequence as the
official rule but at random offsets (reproducible: seeded by ``seed``, :meth:`set_epoch` and the
item index); with ``flip=True`` it holds every clip twice, plain then mirrored (HoT's
deterministic flip augmentation). Sequences shorter than a clip are edge padded, never dropped.
Missing detections written as NaN become coordinate 0 with score 0.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from edgetokens.pose.normalize import normalize_screen_coordinates, root_relative
from edgetokens.pose.skeleton import flip_pose
from edgetokens.pose.windows import gather_clip, random_start, seq2seq_starts, stitch_clips
from training.data.bvh import load_bvh_split
from training.data.cameras import CameraRigConfig, DetectorNoiseConfig, ViewSequence, sample_camera, view_motion
from training.data.cmu import load_cmu_subject
from training.data.h36m import h36m_subjects, load_h36m
from training.data.layouts import check_layout, pick_layout, view_motion_in_layout
from training.data.positions import load_positions_folder
from training.data.synthetic import SyntheticConfig, generate_dataset

log = logging.getLogger(__name__)

CMU_ROOT_ENV = "EDGETOKENS_CMU_ROOT"
POSITIONS_ROOT_ENV = "EDGETOKENS_CMU_POSITIONS_ROOT"
POSITIONS_FOLDER = "cmu-positions"  # the default positions root: this sibling of the CMU root
CMU_SPLITS = {"train": ("01", "02"), "test": ("03",)}
SOURCES = ("cmu", "cmu-positions", "synthetic", "mix", "real", "h36m:PATH", "bvh:FOLDER")


@dataclass
class ClipConfig:
    frames: int = 243
    train: bool = True
    flip: bool = True  # train: add a mirrored copy of every clip; eval: also return ``input_flipped``
    with_scores: bool = False  # input gets a third channel: the detector score
    seed: int = 0


class PoseClipDataset(Dataset):
    """Fixed-length clips of (2D input, 3D target) over a list of :class:`ViewSequence`."""

    def __init__(self, views: Sequence[ViewSequence], config: ClipConfig | None = None):
        self.config = cfg = config or ClipConfig()
        if not views:
            raise ValueError("no sequences given; check the source name, split and data root")
        if cfg.frames < 1:
            raise ValueError(f"frames must be >= 1; got {cfg.frames}")
        self.views = list(views)
        self.inputs, self.targets = [], []
        for v in self.views:
            kp = np.asarray(v.keypoints, dtype=np.float64)
            scores = np.ones(kp.shape[:2]) if v.scores is None else np.asarray(v.scores, dtype=np.float64).copy()
            missing = ~np.isfinite(kp).all(-1)
            if missing.any():
                kp = np.where(missing[..., None], 0.0, kp)
                scores[missing] = 0.0
            x = normalize_screen_coordinates(kp, v.camera.width, v.camera.height)
            if missing.any():
                x[missing] = 0.0
            if cfg.with_scores:
                x = np.concatenate([x, scores[..., None]], -1)
            self.inputs.append(x.astype(np.float32))
            self.targets.append(root_relative(np.asarray(v.positions_cam, dtype=np.float64)).astype(np.float32))
        self.starts = [seq2seq_starts(len(v), cfg.frames) for v in self.views]
        self.items = [(i, int(s)) for i, starts in enumerate(self.starts) for s in starts]
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Train mode: draw new random windows for this epoch (call before each epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n = len(self.items)
        return 2 * n if self.config.train and self.config.flip else n

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"clip index {index} out of range for {len(self)} clips")
        cfg = self.config
        base = index % len(self.items)
        flipped = cfg.train and cfg.flip and index >= len(self.items)
        view, start = self.items[base]
        if cfg.train:
            rng = np.random.default_rng([cfg.seed, self.epoch, base])
            start = random_start(len(self.inputs[view]), cfg.frames, rng)
        x = torch.from_numpy(gather_clip(self.inputs[view], start, cfg.frames))
        y = torch.from_numpy(gather_clip(self.targets[view], start, cfg.frames))
        if flipped:
            x, y = flip_pose(x), flip_pose(y)
        item = {"input": x, "target": y, "view": view, "start": start, "flipped": flipped}
        if not cfg.train and cfg.flip:
            item["input_flipped"] = flip_pose(x)
        return item

    def clip_indices(self, view: int) -> list[int]:
        """Eval mode: dataset indices of the clips of one view, in time order."""
        return [k for k, (v, _) in enumerate(self.items) if v == view]

    def stitch(self, view: int, clip_outputs) -> np.ndarray | torch.Tensor:
        """Eval mode: per-clip outputs (n, F, ...) of one view, in :meth:`clip_indices` order -> (T, ...)."""
        return stitch_clips(clip_outputs, self.starts[view], len(self.views[view]))


# --- named sources ---------------------------------------------------------------------------------
@dataclass
class SourceConfig:
    """How 3D sources are turned into 2D views, and which parts of them to use."""

    cameras_per_sequence: int = 4
    rig: CameraRigConfig = field(default_factory=CameraRigConfig)
    noise: DetectorNoiseConfig = field(default_factory=DetectorNoiseConfig)
    synthetic_subjects: dict = field(default_factory=lambda: {"train": 8, "test": 2})
    synthetic_sequences_per_subject: int = 9
    synthetic_seconds: tuple[float, float] = (6.0, 12.0)
    cmu_takes: tuple[str, ...] | None = None  # e.g. ("02_01", "03_01"); None = every take of the split
    h36m_keypoints: str = "cpn_ft_h36m_dbb"
    h36m_extrinsics: dict | None = None
    input_layout: str = "h36m"  # h36m | coco | blazepose | mixed (training.data.layouts)
    positions_root: str | None = None  # the cmu-positions folder (train/, test/); see positions_folder

    def __post_init__(self) -> None:
        check_layout(self.input_layout)


def _cmu_motions(root, split: str, cfg: SourceConfig):
    root = root or os.environ.get(CMU_ROOT_ENV)
    if not root:
        raise ValueError(f"CMU data root not given: pass root=... (the folder holding 01/, 02/, 03/) "
                         f"or set {CMU_ROOT_ENV}")
    motions = []
    for subject in CMU_SPLITS[split]:
        folder = Path(root) / subject
        if not folder.is_dir():
            raise ValueError(f"{folder}: CMU subject folder not found under root {root}")
        takes = None
        if cfg.cmu_takes is not None:
            takes = [t for t in cfg.cmu_takes if t.split("_")[0] == subject]
            if not takes:
                continue
        motions += load_cmu_subject(folder, takes)
    return motions


def positions_folder(cfg: SourceConfig, cmu_root=None) -> Path:
    """The cmu-positions folder: ``cfg.positions_root``, else ``$EDGETOKENS_CMU_POSITIONS_ROOT``, else
    the ``cmu-positions`` folder beside the CMU root (``cmu_root`` or ``$EDGETOKENS_CMU_ROOT``)."""
    root = cfg.positions_root or os.environ.get(POSITIONS_ROOT_ENV)
    if root:
        return Path(root)
    cmu_root = cmu_root or os.environ.get(CMU_ROOT_ENV)
    if not cmu_root:
        raise ValueError(f"cmu-positions root not given: pass --positions-root (the folder holding train/ and "
                         f"test/), set {POSITIONS_ROOT_ENV}, or give the CMU root it sits beside")
    return Path(cmu_root).resolve().parent / POSITIONS_FOLDER


def _positions_motions(folder: Path, split: str):
    if not (folder / split).is_dir():
        raise ValueError(f"{folder / split}: not found; the cmu-positions root holds train/ and test/ "
                         "(pass it as --positions-root, or as --data-root with --data cmu-positions)")
    return load_positions_folder(folder / split, prefix=f"cmu-positions/{split}/")


def _synthetic_motions(seed: int, split: str, cfg: SourceConfig):
    syn = SyntheticConfig(n_subjects=cfg.synthetic_subjects[split],
                          sequences_per_subject=cfg.synthetic_sequences_per_subject, seconds=cfg.synthetic_seconds)
    split_id = 0 if split == "train" else 1  # train and test subjects come from different seed streams
    return generate_dataset([seed, split_id], syn, subject_prefix="syn" if split == "train" else "syntest")


def _views(motions, seed: int, split: str, cfg: SourceConfig) -> list[ViewSequence]:
    """``cameras_per_sequence`` random cameras per motion, each view in ``cfg.input_layout``.

    The H36M-layout view is drawn for every camera, so cameras and H36M views are the same whatever
    the layout; the layout picks and the other layouts' noise come from a stream of their own."""
    split_id = 0 if split == "train" else 1
    rng = np.random.default_rng([seed, split_id, 7])
    layout_rng = np.random.default_rng([seed, split_id, 11])
    views = []
    for motion in motions:
        for i in range(cfg.cameras_per_sequence):
            camera = sample_camera(motion.positions, rng, cfg.rig, name=f"cam{i}")
            view = view_motion(motion, camera, rng, cfg.noise)
            layout = pick_layout(cfg.input_layout, layout_rng)
            if layout != "h36m":
                view = view_motion_in_layout(motion, camera, layout_rng, layout, cfg.noise)
            views.append(view)
    return views


def build_sources(name: str, root: str | os.PathLike | None = None, seed: int = 0, split: str = "train",
                  config: SourceConfig | None = None) -> list[ViewSequence]:
    """Views for a named source: ``cmu``, ``cmu-positions``, ``synthetic``, ``mix`` (cmu + synthetic),
    ``real`` (cmu + cmu-positions, plus synthetic for training), ``h36m:PATH`` or ``bvh:FOLDER``.

    Splits: CMU subjects 01, 02 train / 03 test (``root`` or ``$EDGETOKENS_CMU_ROOT`` is the folder
    holding them); cmu-positions: its train/ and test/ folders (the folder is ``root`` for the
    ``cmu-positions`` source, else :func:`positions_folder`); synthetic train / test subjects come
    from different seed streams; ``real`` tests on CMU 03 + cmu-positions test/ (real motion only);
    Human3.6M uses S1, S5-S8 / S9, S11 from PATH/data_3d_h36m.npz and PATH/data_2d_h36m_<keypoints>.npz;
    BVH: ``training.data.bvh.bvh_split``. Every 3D motion except Human3.6M's is seen by
    ``cameras_per_sequence`` virtual cameras, in ``config.input_layout`` (Human3.6M keeps its own 2D).
    """
    cfg = config or SourceConfig()
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if name.startswith("h36m:"):
        if cfg.input_layout != "h36m":
            raise ValueError(f"{name}: Human3.6M keeps its own 2D detections (H36M layout); input layout "
                             f"{cfg.input_layout!r} applies to the sources projected by virtual cameras")
        folder = Path(name[len("h36m:"):])
        views = load_h36m(folder / "data_3d_h36m.npz", folder / f"data_2d_h36m_{cfg.h36m_keypoints}.npz",
                          subjects=h36m_subjects(split), extrinsics=cfg.h36m_extrinsics, skip_missing_subjects=True)
        if not views:
            raise ValueError(f"{folder}: none of the {split} subjects {h36m_subjects(split)} are in the files")
        return views
    if name.startswith("bvh:"):
        motions = load_bvh_split(name[len("bvh:"):], split)
    elif name == "cmu":
        motions = _cmu_motions(root, split, cfg)
    elif name == "cmu-positions":
        motions = _positions_motions(Path(cfg.positions_root or root or positions_folder(cfg)), split)
    elif name == "synthetic":
        motions = _synthetic_motions(seed, split, cfg)
    elif name == "mix":
        motions = _cmu_motions(root, split, cfg) + _synthetic_motions(seed, split, cfg)
    elif name == "real":
        motions = _cmu_motions(root, split, cfg) + _positions_motions(positions_folder(cfg, root), split)
        if split == "train":
            motions += _synthetic_motions(seed, split, cfg)
    else:
        raise ValueError(f"unknown pose source {name!r}; use one of {', '.join(SOURCES)}")
    views = _views(motions, seed, split, cfg)
    log.info("%s/%s (%s layout): %d motions, %d views, %d frames", name, split, cfg.input_layout, len(motions),
             len(views), sum(len(v) for v in views))
    return views

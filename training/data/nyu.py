"""NYUv2 (and other indoor RGB-D) loaders for monocular depth: RGB uint8 (H, W, 3) + depth float32 metres.

Every source gives :class:`RGBDSample` items: ``rgb`` uint8 (H, W, 3) in **RGB** order, ``depth`` float32
(H, W) in **metres** with **0 = invalid** (no measurement). Sources:

- :class:`NYULabeledMat`: ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3 = HDF5, read with ``h5py``, imported
  lazily). MATLAB stores column-major, so h5py sees every array with its axes reversed: MATLAB's
  ``images`` 480x640x3x1449 (H, W, C, N) reads as (N, 3, W, H) = (1449, 3, 640, 480) uint8, and
  ``depths`` 480x640x1449 as (N, W, H) = (1449, 640, 480) float metres (in-painted, no holes;
  ``rawDepths``, same layout, has holes as 0). Frame n is ``images[n].transpose(2, 1, 0)`` and
  ``depths[n].T``. Channels are R, G, B. The official split is ``splits.mat`` (``trainNdxs`` 795,
  ``testNdxs`` 654; 1-based MATLAB indices into the 1449 frames), read from the .mat's folder unless
  another path is given (:func:`load_nyu_splits`; v5 files are read with scipy, v7.3 with h5py).
- :class:`DepthListFile`: BTS / GLPDepth list files, one ``<rgb path> <depth path> [focal]`` per line,
  paths relative to a root (a leading ``/`` is ignored, as BTS joins ``root + path``); depth PNGs are
  16-bit millimetres (NYU ``sync_depth_*.png``), i.e. value / 1000 -> metres.
- :class:`RGBDFrames`: explicit (rgb, depth) file pairs, e.g. the real frame in
  ``shared/data/rgbd-sample`` (:func:`rgbd_sample`).

16-bit depth PNG encodings (``mm``, ``mm8``, ``sunrgbd``): :mod:`edgetokens.vision.depth_io`.

:class:`DepthDataset` wraps any source for torch (optional square resize/crop, see its docstring).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from edgetokens.vision.depth_io import (  # noqa: F401 (re-exported)
    DEPTH_ENCODINGS,
    RGBD_SAMPLE_ENCODING,
    UINT16_CEILING,
    decode_depth,
    read_depth_png,
    read_image_file,
)

log = logging.getLogger(__name__)

NYU_LABELED_SPLIT_SIZES = {"train": 795, "test": 654}


@dataclass
class RGBDSample:
    """One frame. rgb: uint8 (H, W, 3) RGB; depth: float32 (H, W) metres, 0 = invalid."""

    rgb: np.ndarray
    depth: np.ndarray
    name: str
    focal: float | None = None  # pixels, when the source knows it (BTS list files)


class DepthSource(Protocol):
    """What :class:`DepthDataset` needs from a source."""

    name: str
    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> RGBDSample: ...


# --- files -----------------------------------------------------------------------------------------
def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read a colour image -> uint8 (H, W, 3) in RGB order (grey is replicated, alpha dropped)."""
    image = read_image_file(path, "colour image")
    if image.dtype != np.uint8:
        raise ValueError(f"{path}: colour image must be 8-bit; got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def load_rgbd_frame(rgb_path: str | os.PathLike, depth_path: str | os.PathLike,
                    encoding: str = "mm") -> tuple[np.ndarray, np.ndarray]:
    """One registered RGB-D frame: (rgb uint8 (H, W, 3), depth float32 (H, W) metres, 0 = invalid)."""
    rgb, depth = read_rgb(rgb_path), read_depth_png(depth_path, encoding)
    if rgb.shape[:2] != depth.shape:
        raise ValueError(f"{rgb_path} is {rgb.shape[1]}x{rgb.shape[0]} but {depth_path} is "
                         f"{depth.shape[1]}x{depth.shape[0]}; the loader expects depth registered to colour")
    return rgb, depth


def _import_h5py():
    try:
        import h5py  # deferred: h5py, only for NYUv2's MATLAB v7.3 file
    except ImportError as err:
        raise ImportError("reading MATLAB v7.3 / HDF5 files needs h5py: pip install h5py") from err
    return h5py


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _is_hdf5(path: Path) -> bool:
    """HDF5 signature at offset 0 or after a user block (MATLAB v7.3 writes a 512-byte one)."""
    with open(path, "rb") as f:
        head = f.read(2048 + len(HDF5_SIGNATURE))
    return any(head[offset:offset + len(HDF5_SIGNATURE)] == HDF5_SIGNATURE for offset in (0, 512, 1024, 2048))


def _loadmat_v5(path: Path) -> dict:
    try:
        import scipy.io  # deferred: scipy, only for NYUv2's splits.mat
    except ImportError as err:
        raise ImportError(f"{path} is a MATLAB v5 file; reading it needs scipy: pip install scipy") from err
    try:
        return scipy.io.loadmat(str(path))
    except (ValueError, scipy.io.matlab.MatReadError) as err:
        raise ValueError(f"{path}: neither a MATLAB v5 nor an HDF5 (v7.3) file ({err})") from err


def _loadmat_hdf5(path: Path, keys: Sequence[str]) -> dict:
    h5py = _import_h5py()
    with h5py.File(path, "r") as f:
        return {k: np.asarray(f[k]) for k in keys if k in f}


def _read_mat_vectors(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Named numeric arrays of a .mat file (v5 via scipy, v7.3 via h5py), flattened."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    arrays = _loadmat_hdf5(path, keys) if _is_hdf5(path) else _loadmat_v5(path)
    for key in keys:
        if key not in arrays:
            found = sorted(k for k in arrays if not k.startswith("__"))
            raise ValueError(f"{path}: no variable {key!r} (found {found})")
    return {k: np.asarray(arrays[k]).ravel() for k in keys}


def load_nyu_splits(path: str | os.PathLike, num_images: int | None = None) -> dict[str, np.ndarray]:
    """Official NYUv2 labeled split from ``splits.mat``: {"train", "test"} -> sorted 0-based int64 indices.

    The file holds 1-based MATLAB indices ``trainNdxs`` and ``testNdxs`` (795 and 654 of the 1449 frames).
    Other sizes are accepted with a warning; a 0, an index past ``num_images`` or an overlap is an error.
    """
    path = Path(path)
    raw = _read_mat_vectors(path, ("trainNdxs", "testNdxs"))
    splits = {}
    for split, key in (("train", "trainNdxs"), ("test", "testNdxs")):
        values = raw[key]
        if values.size == 0 or not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            raise ValueError(f"{path}: {key} must be a non-empty list of integer indices")
        idx = values.astype(np.int64)
        if idx.min() < 1:
            raise ValueError(f"{path}: {key} holds {idx.min()}; NYU split indices are 1-based (MATLAB)")
        if num_images is not None and idx.max() > num_images:
            raise ValueError(f"{path}: {key} holds index {idx.max()} but the dataset has {num_images} frames")
        splits[split] = np.sort(idx - 1)
    overlap = np.intersect1d(splits["train"], splits["test"])
    if overlap.size:
        raise ValueError(f"{path}: trainNdxs and testNdxs share {overlap.size} indices (first: {overlap[0] + 1})")
    sizes = {k: len(v) for k, v in splits.items()}
    if sizes != NYU_LABELED_SPLIT_SIZES:
        log.warning("%s: split sizes %s differ from the official %s", path, sizes, NYU_LABELED_SPLIT_SIZES)
    return splits


# --- sources ---------------------------------------------------------------------------------------
class NYULabeledMat:
    """Frames of ``nyu_depth_v2_labeled.mat``, optionally one official split (see the module docstring).

    split: ``"train"``, ``"test"`` (needs ``splits.mat``: ``splits_path``, else next to the .mat) or ``"all"``.
    depth_key: ``"depths"`` (in-painted) or ``"rawDepths"`` (sensor holes = 0).
    The HDF5 file is opened on first access and reopened in each DataLoader worker.
    """

    def __init__(self, path: str | os.PathLike, split: str = "test", splits_path: str | os.PathLike | None = None,
                 depth_key: str = "depths", name: str | None = None):
        self.path = Path(path)
        self.depth_key = depth_key
        self.split = split
        self.name = name or f"nyu_labeled_{split}"
        self._file, self._pid = None, None
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all'; got {split!r}")
        if not self.path.is_file():
            raise FileNotFoundError(f"NYUv2 labeled file not found: {self.path} (nyu_depth_v2_labeled.mat)")
        self.num_frames, self.height, self.width = self._check_layout()
        self.close()  # reopened lazily, once per process (h5py handles must not be shared across fork)
        if split == "all":
            self.indices = np.arange(self.num_frames)
        else:
            splits_file = Path(splits_path) if splits_path is not None else self.path.parent / "splits.mat"
            if not splits_file.is_file():
                raise FileNotFoundError(
                    f"split {split!r} needs the official NYUv2 splits.mat (trainNdxs/testNdxs); none at {splits_file}. "
                    "Put it next to the labeled .mat, pass splits_path=..., or use split='all'")
            self.indices = load_nyu_splits(splits_file, self.num_frames)[split]

    def _open(self):
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = None, os.getpid()
            h5py = _import_h5py()
            try:
                self._file = h5py.File(self.path, "r")
            except OSError as err:
                raise ValueError(f"{self.path}: not an HDF5 (MATLAB v7.3) file ({err}); the labeled NYUv2 "
                                 "file is v7.3") from err
        return self._file

    def _check_layout(self) -> tuple[int, int, int]:
        f = self._open()
        for key in ("images", self.depth_key):
            if key not in f:
                raise ValueError(f"{self.path}: no dataset {key!r} (found {sorted(f.keys())})")
        images, depths = f["images"], f[self.depth_key]
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"{self.path}: 'images' must be (N, 3, W, H) as h5py reads MATLAB's H x W x 3 x N; "
                             f"got {images.shape}")
        n, _, width, height = images.shape
        if depths.shape != (n, width, height):
            raise ValueError(f"{self.path}: {self.depth_key!r} must be (N, W, H) = {(n, width, height)} to match "
                             f"'images'; got {depths.shape}")
        if images.dtype != np.uint8:
            raise ValueError(f"{self.path}: 'images' must be uint8; got {images.dtype}")
        return n, height, width

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"], state["_pid"] = None, None  # h5py handles do not cross processes; each worker reopens
        return state

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> RGBDSample:
        if not 0 <= index < len(self):
            raise IndexError(f"{self.name}: index {index} out of range for {len(self)} frames")
        f, frame = self._open(), int(self.indices[index])
        rgb = np.ascontiguousarray(f["images"][frame].transpose(2, 1, 0))
        depth = np.ascontiguousarray(f[self.depth_key][frame].T, dtype=np.float32)
        depth[~np.isfinite(depth) | (depth < 0)] = 0.0
        return RGBDSample(rgb, depth, name=f"{self.path.name}[{frame}]")


@dataclass
class _ListEntry:
    rgb: Path
    depth: Path
    focal: float | None
    line: int


class DepthListFile:
    """Pairs listed in a BTS / GLPDepth list file, ``<rgb> <depth> [focal]`` per line.

    root: the folder the paths are relative to (default: the list file's folder). Blank lines and lines
    starting with ``#`` are skipped. A line without a depth path (one field, or ``None`` as BTS writes for
    frames without ground truth) or naming a file that does not exist is an error naming the line.
    """

    def __init__(self, list_path: str | os.PathLike, root: str | os.PathLike | None = None,
                 encoding: str = "mm", name: str | None = None, check_files: bool = True):
        self.list_path = Path(list_path)
        self.root = Path(root) if root is not None else self.list_path.parent
        self.encoding = encoding
        self.name = name or self.list_path.stem
        if encoding not in DEPTH_ENCODINGS:
            raise ValueError(f"unknown depth encoding {encoding!r}; choose one of {DEPTH_ENCODINGS}")
        if not self.list_path.is_file():
            raise FileNotFoundError(f"list file not found: {self.list_path}")
        self.entries = [self._parse(line, number) for number, line in
                        enumerate(self.list_path.read_text().splitlines(), 1) if line.strip() and
                        not line.lstrip().startswith("#")]
        if not self.entries:
            raise ValueError(f"{self.list_path}: no '<rgb> <depth> [focal]' lines")
        if check_files:
            for entry in self.entries:
                for path in (entry.rgb, entry.depth):
                    if not path.is_file():
                        raise FileNotFoundError(f"{self.list_path}:{entry.line}: {path} does not exist "
                                                f"(paths are relative to {self.root})")

    def _parse(self, line: str, number: int) -> _ListEntry:
        where = f"{self.list_path}:{number}"
        fields = line.split()
        if len(fields) > 3:
            raise ValueError(f"{where}: expected '<rgb> <depth> [focal]', got {len(fields)} fields "
                             "(paths with spaces are not supported)")
        if len(fields) < 2 or fields[1] == "None":
            raise ValueError(f"{where}: no depth path for {fields[0]}; remove the line or add its ground truth")
        focal = None
        if len(fields) == 3:
            try:
                focal = float(fields[2])
            except ValueError:
                raise ValueError(f"{where}: focal length {fields[2]!r} is not a number") from None
        rgb, depth = (self.root / p.lstrip("/") for p in fields[:2])
        return _ListEntry(rgb, depth, focal, number)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> RGBDSample:
        entry = self.entries[index]
        try:
            rgb, depth = load_rgbd_frame(entry.rgb, entry.depth, self.encoding)
        except (OSError, ValueError) as err:
            raise type(err)(f"{self.list_path}:{entry.line}: {err}") from err
        return RGBDSample(rgb, depth, name=str(entry.rgb.relative_to(self.root)), focal=entry.focal)


class RGBDFrames:
    """Explicit registered (rgb path, depth path) pairs with one depth encoding."""

    def __init__(self, pairs: Sequence[tuple[str | os.PathLike, str | os.PathLike]], encoding: str = "mm",
                 name: str = "rgbd"):
        if encoding not in DEPTH_ENCODINGS:
            raise ValueError(f"unknown depth encoding {encoding!r}; choose one of {DEPTH_ENCODINGS}")
        if not pairs:
            raise ValueError(f"{name}: no (rgb, depth) pairs given")
        self.pairs = [(Path(rgb), Path(depth)) for rgb, depth in pairs]
        self.encoding = encoding
        self.name = name

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> RGBDSample:
        rgb_path, depth_path = self.pairs[index]
        rgb, depth = load_rgbd_frame(rgb_path, depth_path, self.encoding)
        return RGBDSample(rgb, depth, name=rgb_path.name)


def rgbd_sample(folder: str | os.PathLike) -> RGBDFrames:
    """The one real frame of ``shared/data/rgbd-sample`` (``sample_rgb.png``, ``sample_depth.png``, mm x 8)."""
    folder = Path(folder)
    return RGBDFrames([(folder / "sample_rgb.png", folder / "sample_depth.png")], RGBD_SAMPLE_ENCODING,
                      name="rgbd_sample")


def rgbd_real(folder: str | os.PathLike) -> RGBDFrames:
    """The real Kinect frames of ``shared/data/rgbd-real``: ``color/N.png`` with ``depth/N.pgm`` (16-bit mm)."""
    folder = Path(folder)
    colors = {p.stem: p for p in (folder / "color").glob("*.png")}
    depths = {p.stem: p for p in (folder / "depth").glob("*.pgm")}
    if not colors:
        raise FileNotFoundError(f"{folder}: no color/*.png frames (expected the rgbd-real layout: color/N.png, "
                                "depth/N.pgm)")
    unmatched = sorted(set(colors) ^ set(depths))
    if unmatched:
        raise ValueError(f"{folder}: frames {', '.join(unmatched)} lack their colour or depth image "
                         "(color/N.png needs depth/N.pgm)")
    stems = sorted(colors, key=lambda s: (len(s), s))
    return RGBDFrames([(colors[s], depths[s]) for s in stems], "mm", name="rgbd_real")


# --- torch dataset ---------------------------------------------------------------------------------
@dataclass
class DepthDatasetConfig:
    """size: square side in pixels, or None for full frames (evaluation: the Eigen crop assumes them).
    random_crop / hflip: training augmentation (else a centre crop, no flip)."""

    size: int | None = None
    random_crop: bool = False
    hflip: bool = False
    seed: int = 0


def resize_short_side(rgb: np.ndarray, depth: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Scale so the short side is ``size``: colour by area/bilinear, depth nearest (no blending across holes)."""
    height, width = depth.shape
    scale = size / min(height, width)
    if scale == 1.0:
        return rgb, depth
    new_size = (max(size, round(width * scale)), max(size, round(height * scale)))  # cv2: (w, h)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return (cv2.resize(rgb, new_size, interpolation=interp),
            cv2.resize(depth, new_size, interpolation=cv2.INTER_NEAREST))


class DepthDataset(Dataset):
    """Torch dataset over a :class:`DepthSource`.

    Items: ``image`` torch.uint8 (3, H, W) RGB (normalisation is the model's preprocessing), ``depth``
    torch.float32 (H, W) metres with 0 = invalid, ``source`` (source name), ``name`` (frame id), ``index``,
    and ``focal`` (pixels, before any resize) when the source has it.

    With ``size``: the frame is scaled so its short side is ``size`` (depth nearest-neighbour), then a
    ``size`` x ``size`` square is cut, at random (``random_crop``) or centred. NYUv2 640x480 with size 480 is
    AiT's 480x480 crop without any resize. Random choices are seeded by (seed, epoch, index).
    """

    def __init__(self, source: DepthSource, config: DepthDatasetConfig | None = None):
        self.source = source
        self.config = config or DepthDatasetConfig()
        if self.config.size is not None and self.config.size < 1:
            raise ValueError(f"size must be a positive number of pixels or None; got {self.config.size}")
        if len(source) == 0:
            raise ValueError(f"source {source.name!r} has no frames")
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw new random crops and flips for this epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict:
        sample = self.source[index]
        rgb, depth = sample.rgb, sample.depth
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, self.epoch, index])
        if cfg.size is not None:
            rgb, depth = resize_short_side(rgb, depth, cfg.size)
            rgb, depth = self._crop(rgb, depth, cfg.size, rng)
        if cfg.hflip and rng.random() < 0.5:
            rgb, depth = rgb[:, ::-1], depth[:, ::-1]
        item = {
            "image": torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))),
            "depth": torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32)),
            "source": self.source.name,
            "name": sample.name,
            "index": index,
        }
        if sample.focal is not None:
            item["focal"] = sample.focal
        return item

    def _crop(self, rgb: np.ndarray, depth: np.ndarray, size: int,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        height, width = depth.shape
        if self.config.random_crop:
            top, left = int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))
        else:
            top, left = (height - size) // 2, (width - size) // 2
        return rgb[top:top + size, left:left + size], depth[top:top + size, left:left + size]

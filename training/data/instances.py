"""The record every instance-segmentation source gives: one image with its objects.

Both loaders (:mod:`training.data.coco` for COCO JSON, :mod:`training.data.yolo_seg` for YOLO
segmentation txt) produce :class:`InstanceAnnotations`, and :mod:`training.instance_metrics` scores
predictions against them. Classes are the contiguous COCO index (0 person .. 79 toothbrush, see
:mod:`edgetokens.vision.coco_classes`) unless a loader was given its own mapping.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from pycocotools import mask as mask_utils


@dataclass
class InstanceAnnotations:
    """One image and its N objects.

    image: (H, W, 3) uint8 RGB; boxes: (N, 4) float32 x1, y1, x2, y2 in pixels; classes: (N,) int64;
    masks: (N, H, W) bool; crowd: (N,) bool. Crowd regions (COCO ``iscrowd``) are ignored by AP and
    must never become training targets: train on :meth:`without_crowd`.
    """

    image: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    masks: np.ndarray
    crowd: np.ndarray
    image_id: int
    source: str  # the file it came from, for messages

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.classes = np.asarray(self.classes, dtype=np.int64).reshape(-1)
        self.crowd = np.asarray(self.crowd, dtype=bool).reshape(-1)
        self.masks = np.asarray(self.masks, dtype=bool)
        self.validate()

    def validate(self) -> None:
        """Raise ValueError (naming :attr:`source`) unless shapes, dtypes and values agree."""
        where = f"{self.source} (image {self.image_id})"
        image = self.image
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"{where}: image must be uint8 (H, W, 3) RGB; got {image.dtype} {image.shape}")
        n, (height, width) = len(self.boxes), image.shape[:2]
        if self.masks.shape != (n, height, width):
            raise ValueError(f"{where}: masks must have shape {(n, height, width)} (N, H, W); "
                             f"got {self.masks.shape}")
        if len(self.classes) != n or len(self.crowd) != n:
            raise ValueError(f"{where}: {n} boxes but {len(self.classes)} classes and {len(self.crowd)} crowd flags")
        if not np.isfinite(self.boxes).all():
            raise ValueError(f"{where}: non-finite box coordinates")
        if (self.boxes[:, 2:] < self.boxes[:, :2]).any():
            bad = int(np.argwhere((self.boxes[:, 2:] < self.boxes[:, :2]).any(axis=1))[0, 0])
            raise ValueError(f"{where}: box {bad} {self.boxes[bad].tolist()} has x2 < x1 or y2 < y1 (expected xyxy)")
        if (self.classes < 0).any():
            raise ValueError(f"{where}: negative class index {int(self.classes.min())}")

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    def without_crowd(self) -> InstanceAnnotations:
        """The same image with crowd regions dropped: the objects a model may be trained on."""
        keep = ~self.crowd
        return replace(self, boxes=self.boxes[keep], classes=self.classes[keep], masks=self.masks[keep],
                       crowd=self.crowd[keep])

    @classmethod
    def empty(cls, image: np.ndarray, image_id: int, source: str) -> InstanceAnnotations:
        """An image without objects."""
        height, width = image.shape[:2]
        return cls(image, np.zeros((0, 4), np.float32), np.zeros(0, np.int64),
                   np.zeros((0, height, width), bool), np.zeros(0, bool), image_id, source)


def decode_rle(rle: dict) -> np.ndarray:
    """pycocotools RLE -> (H, W) bool mask (quiet: pycocotools 2.0 warns on every decode under numpy 2)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
        return mask_utils.decode(rle).astype(bool)


class AnnotatedImages(Sequence):
    """A dataset's images as `InstanceAnnotations`, read on access (`lazy`) or all at once; subclasses
    give `__len__` and `_load(index)`."""

    def _read_all_unless(self, lazy: bool) -> None:
        """Call at the end of `__init__`: with `lazy=False` every record is read (and checked) now."""
        self._records = None if lazy else [self._load(i) for i in range(len(self))]

    def _load(self, index: int) -> InstanceAnnotations:
        raise NotImplementedError

    def __getitem__(self, index: int) -> InstanceAnnotations:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        return self._records[index] if self._records is not None else self._load(index % len(self))

"""Instance segmentation results: boxes, classes, scores and full-image masks, with a drawing and COCO JSON.

    result = from_model_output(parsed[0], mask_probs, image_size=(h, w), scale=gain, pad=(px, py))
    canvas = result.filter(0.3).plot(frame)
    json.dump(result.to_coco(image_id=42), f)      # COCO results format, masks as RLE
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from pycocotools import mask as mask_utils

from .coco_classes import COCO_CATEGORY_IDS, COCO_CLASSES
from .masks import paste_masks

# 20 distinct BGR colours (Ultralytics' palette, BGR order), one per class id modulo 20
PALETTE: tuple[tuple[int, int, int], ...] = tuple(
    (int(h[4:6], 16), int(h[2:4], 16), int(h[0:2], 16)) for h in (
        "FF3838", "FF9D97", "FF701F", "FFB21D", "CFD231", "48F90A", "92CC17", "3DDB86", "1A9334", "00D4BB",
        "2C99A8", "00C2FF", "344593", "6473FF", "0018EC", "8438FF", "520085", "CB38FF", "FF95C8", "FF37C7"))


def class_color(class_id: int) -> tuple[int, int, int]:
    """The BGR colour of a class: the same in every picture."""
    return PALETTE[int(class_id) % len(PALETTE)]


@dataclass
class InstancesResult:
    """N instances of one image, in the input image's pixels."""

    boxes: np.ndarray  # (N, 4) float32 xyxy
    class_ids: np.ndarray  # (N,) int64, 0 .. 79 (COCO_CLASSES order)
    scores: np.ndarray  # (N,) float32
    masks: np.ndarray  # (N, H, W) bool
    image_size: tuple[int, int]  # (H, W)

    def __post_init__(self) -> None:
        height, width = (int(v) for v in self.image_size)
        self.image_size = (height, width)
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        n = len(self.boxes)
        self.class_ids = np.asarray(self.class_ids, dtype=np.int64).reshape(-1)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.masks = np.asarray(self.masks, dtype=bool)
        if self.masks.size == 0:
            self.masks = self.masks.reshape(n, height, width)
        if len(self.class_ids) != n or len(self.scores) != n or self.masks.shape != (n, height, width):
            raise ValueError(f"need one class id, score and ({height}, {width}) mask per box: got boxes "
                             f"{self.boxes.shape}, class_ids {self.class_ids.shape}, scores {self.scores.shape}, "
                             f"masks {self.masks.shape}")
        if n and (self.class_ids.min() < 0 or self.class_ids.max() >= len(COCO_CLASSES)):
            raise ValueError(f"class_ids must lie in 0 .. {len(COCO_CLASSES) - 1} (COCO_CLASSES order)")

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def names(self) -> list[str]:
        return [COCO_CLASSES[i] for i in self.class_ids]

    def select(self, keep: np.ndarray | Sequence[int]) -> InstancesResult:
        """The instances picked by a bool mask (N,) or indices."""
        keep = np.asarray(keep)
        if keep.dtype != bool:
            keep = keep.astype(np.int64)
        return InstancesResult(self.boxes[keep], self.class_ids[keep], self.scores[keep], self.masks[keep],
                               self.image_size)

    def filter(self, min_score: float) -> InstancesResult:
        """The instances scoring at least `min_score`."""
        return self.select(self.scores >= min_score)

    def plot(self, image_bgr: np.ndarray, alpha: float = 0.5) -> np.ndarray:
        """A copy of the BGR uint8 image with each mask tinted in its class colour, its box and "name 0.87"."""
        if image_bgr.shape[:2] != self.image_size or image_bgr.ndim != 3:
            raise ValueError(f"image must be (H, W, 3) BGR at the result's size {self.image_size}, "
                             f"got {image_bgr.shape}")
        canvas = image_bgr.copy()
        for i in np.argsort(-self.scores, kind="stable")[::-1]:  # the best drawn last, on top
            color = class_color(self.class_ids[i])
            mask = self.masks[i]
            canvas[mask] = ((1 - alpha) * canvas[mask] + alpha * np.array(color)).astype(np.uint8)
            x1, y1, x2, y2 = (round(float(v)) for v in self.boxes[i])
            cv2.rectangle(canvas, (x1, y1), (x2, y2), color, 2, cv2.LINE_AA)
            text = f"{COCO_CLASSES[self.class_ids[i]]} {self.scores[i]:.2f}"
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
            top = max(y1 - th - base - 2, 0)
            cv2.rectangle(canvas, (x1, top), (x1 + tw + 4, top + th + base + 2), color, -1)
            cv2.putText(canvas, text, (x1 + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                        cv2.LINE_AA)
        return canvas

    def to_coco(self, image_id: int, category_ids: Sequence[int] = COCO_CATEGORY_IDS) -> list[dict]:
        """COCO results JSON entries: image_id, category_id, bbox [x, y, w, h], score, segmentation (RLE)."""
        if not len(self):
            return []
        rles = mask_utils.encode(np.asfortranarray(self.masks.transpose(1, 2, 0).astype(np.uint8)))
        entries = []
        for box, class_id, score, rle in zip(self.boxes.tolist(), self.class_ids, self.scores, rles):
            x1, y1, x2, y2 = box
            entries.append({"image_id": int(image_id), "category_id": int(category_ids[class_id]),
                            "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score),
                            "segmentation": {"size": [int(s) for s in rle["size"]],
                                             "counts": rle["counts"].decode("ascii")}})
        return entries

    def save_json(self, path: str | Path, image_id: int = 0) -> Path:
        """Write `to_coco(image_id)` to `path`."""
        path = Path(path)
        path.write_text(json.dumps(self.to_coco(image_id)))
        return path


def from_model_output(parsed: dict, mask_probs: np.ndarray | torch.Tensor, image_size: tuple[int, int],
                      scale: float | tuple[float, float] = 1.0, pad: tuple[float, float] = (0.0, 0.0),
                      threshold: float = 0.5) -> InstancesResult:
    """One image's parsed slots (`parse_sequence`) and decoded masks (N, 64, 64) ~[0, 1] -> a result.

    `scale` (one gain, or (x, y) gains) and `pad` (x, y) are the letterbox that made the model input:
    model pixel = image pixel * scale + pad. Boxes are mapped back to the image, masks pasted into
    those boxes (before clipping, so a box reaching past the border keeps its mask's proportions) and
    thresholded; then boxes are clipped to the image and instances left with no area there dropped.
    """
    height, width = image_size
    boxes = np.asarray(parsed["boxes"], dtype=np.float64).reshape(-1, 4)
    probs = mask_probs.detach().float().cpu().numpy() if isinstance(mask_probs, torch.Tensor) else mask_probs
    probs = np.asarray(probs, dtype=np.float32) if len(boxes) else np.zeros((0, 1, 1), np.float32)
    if probs.ndim not in (3, 4) or probs.shape[0] != len(boxes):
        raise ValueError(f"need one mask (N, 64, 64) or (N, 1, 64, 64) per box: got {probs.shape} for "
                         f"{len(boxes)} boxes")
    probs = probs.reshape(len(boxes), *probs.shape[-2:])
    sx, sy = (scale, scale) if np.isscalar(scale) else scale
    if not (sx > 0 and sy > 0):
        raise ValueError(f"scale must be > 0 (model pixel = image pixel * scale + pad), got {scale}")
    boxes = (boxes - np.array([pad[0], pad[1], pad[0], pad[1]])) / np.array([sx, sy, sx, sy])
    masks = paste_masks(probs, boxes, height, width, threshold=threshold)
    clipped = np.clip(boxes, 0, [width, height, width, height])
    keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    return InstancesResult(clipped[keep], np.asarray(parsed["class_ids"])[keep], np.asarray(parsed["scores"])[keep],
                           masks[keep], (height, width))

"""Letterbox an image into the square model input (aspect kept) and map boxes and masks both ways.

AiT's instance pipeline (specs/AIT.md §4): the longer side is resized to the model size, the image sits at
the top-left corner and the rest is padded. The padding is the ImageNet mean colour, so after
`normalize_image` it is 0, as padding after normalisation is in mmdet. One implementation for training
targets, evaluation and the Predictor.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .image import IMAGENET_MEAN

PAD_RGB = tuple(int(round(255 * m)) for m in IMAGENET_MEAN)


@dataclass(frozen=True)
class Letterbox:
    """Where an (height, width) image sits in the (size, size) input: input = image * scale, top-left."""

    height: int
    width: int
    size: int

    @property
    def scale(self) -> float:
        return self.size / max(self.height, self.width)

    @property
    def content(self) -> tuple[int, int]:
        """(rows, cols) of the input covered by the image."""
        return (max(1, round(self.height * self.scale)), max(1, round(self.width * self.scale)))

    def image(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 -> (size, size, 3) uint8, bilinear (area when shrinking), padded with PAD_RGB."""
        rows, cols = self.content
        interpolation = cv2.INTER_AREA if self.scale < 1 else cv2.INTER_LINEAR
        out = np.empty((self.size, self.size, 3), np.uint8)
        out[:] = PAD_RGB
        out[:rows, :cols] = cv2.resize(rgb, (cols, rows), interpolation=interpolation)
        return out

    def masks(self, masks: np.ndarray) -> np.ndarray:
        """(N, H, W) bool -> (N, size, size) bool (nearest neighbour), False in the padding."""
        rows, cols = self.content
        out = np.zeros((len(masks), self.size, self.size), bool)
        for i, mask in enumerate(masks):
            out[i, :rows, :cols] = cv2.resize(mask.astype(np.uint8), (cols, rows), interpolation=cv2.INTER_NEAREST) > 0
        return out

    def boxes_to_input(self, boxes: np.ndarray) -> np.ndarray:
        """xyxy image pixels (N, 4) -> xyxy input pixels."""
        return np.asarray(boxes, np.float32).reshape(-1, 4) * self.scale

    def boxes_to_image(self, boxes: np.ndarray) -> np.ndarray:
        """xyxy input pixels (N, 4) -> xyxy image pixels, clipped to the image."""
        out = np.asarray(boxes, np.float32).reshape(-1, 4) / self.scale
        out[:, 0::2] = out[:, 0::2].clip(0, self.width)
        out[:, 1::2] = out[:, 1::2].clip(0, self.height)
        return out


def letterbox_for(height: int, width: int, size: int) -> Letterbox:
    if min(height, width, size) < 1:
        raise ValueError(f"cannot letterbox a {height}x{width} image into {size}x{size}")
    return Letterbox(int(height), int(width), int(size))

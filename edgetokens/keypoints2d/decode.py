"""Detector output decoding as MediaPipe's TensorsToDetectionsCalculator + NonMaxSuppressionCalculator
(weighted) do it for BlazePose: boxes and keypoints relative to anchors, sigmoid scores, NMS."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Detection:
    """One person: box (xmin, ymin, xmax, ymax) and keypoints (K, 2), in the units given, and a score."""
    box: np.ndarray
    keypoints: np.ndarray
    score: float


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def decode_boxes(raw: np.ndarray, anchors: np.ndarray, scale: float = 224.0,
                 num_keypoints: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """raw (N, 4 + 2K): x, y, w, h and K keypoints (x, y), in input pixels relative to the anchor.
    Returns boxes (N, 4) xmin, ymin, xmax, ymax and keypoints (N, K, 2), in [0, 1] input units."""
    raw = np.asarray(raw, dtype=np.float32)
    ax, ay, aw, ah = (anchors[:, i:i + 1] for i in range(4))
    xc = raw[:, 0:1] / scale * aw + ax
    yc = raw[:, 1:2] / scale * ah + ay
    w = raw[:, 2:3] / scale * aw
    h = raw[:, 3:4] / scale * ah
    boxes = np.concatenate([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], axis=1)
    kp = raw[:, 4:4 + 2 * num_keypoints].reshape(-1, num_keypoints, 2)
    kp = np.stack([kp[..., 0] / scale * aw + ax, kp[..., 1] / scale * ah + ay], axis=-1)
    return boxes, kp


def area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(boxes[..., 3] - boxes[..., 1], 0, None)


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 iou_threshold: float = 0.3) -> list[Detection]:
    """MediaPipe's WEIGHTED non-max suppression. The greedy keep set comes from cv2.dnn.NMSBoxes; each
    kept box then becomes the score-weighted mean of the not yet claimed boxes overlapping it by more
    than `iou_threshold` (itself included), keypoints likewise; the score stays the leader's.
    Detections come out by descending score."""
    if len(scores) == 0:
        return []
    xywh = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes]
    keep = np.asarray(cv2.dnn.NMSBoxes(xywh, [float(s) for s in scores], 0.0, iou_threshold)).reshape(-1)
    keep = sorted(keep.tolist(), key=lambda i: -scores[i])
    claimed = np.zeros(len(scores), dtype=bool)
    out = []
    for i in keep:
        group = (~claimed) & (iou(boxes[i], boxes) > iou_threshold)
        group[i] = True
        claimed |= group
        w = scores[group][:, None]
        total = float(w.sum())
        box = (boxes[group] * w).sum(0) / total
        kp = (keypoints[group] * w[:, :, None]).sum(0) / total
        out.append(Detection(box.astype(np.float32), kp.astype(np.float32), float(scores[i])))
    return out


def decode_detections(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray,
                      scale: float = 224.0, score_threshold: float = 0.5, iou_threshold: float = 0.3,
                      num_keypoints: int = 4, score_clip: float = 100.0) -> list[Detection]:
    """The detector's (N, 4 + 2K) regressors and (N,) or (N, 1) score logits -> detections in [0, 1]
    units of the detector input, best first."""
    scores = sigmoid(np.clip(np.asarray(raw_scores, dtype=np.float32).reshape(-1), -score_clip, score_clip))
    boxes, kp = decode_boxes(np.asarray(raw_boxes).reshape(len(scores), -1), anchors, scale, num_keypoints)
    mask = scores >= score_threshold
    return weighted_nms(boxes[mask], kp[mask], scores[mask], iou_threshold)


def refine_from_heatmap(points: np.ndarray, heatmap: np.ndarray, kernel_size: int = 7,
                        min_confidence: float = 0.5) -> np.ndarray:
    """MediaPipe's RefineLandmarksFromHeatmapCalculator: each landmark (x, y in [0, 1] crop units)
    moves to the sigmoid-weighted mean position of the heatmap (H, W, C logits, channel = landmark)
    in a kernel_size window around it, if the window's peak confidence reaches `min_confidence`."""
    points = np.array(points, dtype=np.float64)
    hm_h, hm_w, channels = heatmap.shape
    offset = (kernel_size - 1) // 2
    for i in range(min(len(points), channels)):
        col, row = int(points[i, 0] * hm_w), int(points[i, 1] * hm_h)  # C++ float -> int truncation
        if not (0 <= col < hm_w and 0 <= row < hm_h):
            continue
        r0, r1 = max(0, row - offset), min(hm_h, row + offset + 1)
        c0, c1 = max(0, col - offset), min(hm_w, col + offset + 1)
        conf = sigmoid(heatmap[r0:r1, c0:c1, i])
        total = conf.sum()
        if conf.max() >= min_confidence and total > 0:
            rows, cols = np.mgrid[r0:r1, c0:c1]
            points[i, 0] = (cols * conf).sum() / hm_w / total
            points[i, 1] = (rows * conf).sum() / hm_h / total
    return points

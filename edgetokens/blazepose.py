"""MediaPipe BlazePose (detector + full landmark model) on still images, through OpenVINO.

The pipeline follows MediaPipe's pose graph in static-image mode: letterboxed 224x224 detector input
in [-1, 1], SSD anchor decoding, weighted NMS, the best detection's keypoints 0 and 1 give a rotated
square ROI (x1.25), a 256x256 crop in [0, 1], 33 landmarks mapped back through the crop's affine.
The maths lives in `edgetokens.keypoints2d`; the two .tflite files ship in `edgetokens/assets/blazepose`
and run through `runtimes.openvino_session.OpenVINOSession` (OpenVINO reads TFLite directly).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgetokens.assets import ASSETS_DIR
from edgetokens.keypoints2d.anchors import ssd_anchors
from edgetokens.keypoints2d.decode import (
    Detection,
    decode_detections,
    refine_from_heatmap,
    sigmoid,
)
from edgetokens.keypoints2d.roi import (
    Roi,
    crop_to_image,
    letterbox_roi,
    roi_from_keypoints,
    warp_crop,
)
from edgetokens.keypoints2d.skeleton import to_coco17
from runtimes.openvino_session import OpenVINOSession

BLAZEPOSE_DIR = ASSETS_DIR / "blazepose"
DETECTOR_SIZE = 224
LANDMARK_SIZE = 256
NUM_LANDMARKS = 33


class BlazePose:
    """BlazePose on single images. `device`: "cpu" (OpenVINO CPU) or an OpenVINO device name."""

    def __init__(self, device: str = "cpu", model_dir: str | Path = BLAZEPOSE_DIR,
                 score_threshold: float = 0.5, iou_threshold: float = 0.3, pose_threshold: float = 0.5,
                 roi_scale: float = 1.25):
        target = "CPU" if device.lower() == "cpu" else device.upper()
        model_dir = Path(model_dir)
        self.detector = OpenVINOSession(model_dir / "pose_detection.tflite", target)
        self.landmarker = OpenVINOSession(model_dir / "pose_landmark_full.tflite", target)
        self.anchors = ssd_anchors(DETECTOR_SIZE)
        self.score_threshold, self.iou_threshold = score_threshold, iou_threshold
        self.pose_threshold, self.roi_scale = pose_threshold, roi_scale
        # outputs by shape, not by name (TFLite's Identity_N names are not a contract)
        det = {tuple(s.shape[1:]): s.name for s in self.detector.outputs}
        self._det_boxes, self._det_scores = det[(len(self.anchors), 12)], det[(len(self.anchors), 1)]
        lm = {tuple(s.shape[1:]): s.name for s in self.landmarker.outputs}
        self._lm_points, self._lm_flag = lm[(39 * 5,)], lm[(1,)]
        self._lm_heatmap = next(name for shape, name in lm.items() if len(shape) == 3 and shape[-1] == 39)

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        """People in a BGR uint8 image: boxes (xmin, ymin, xmax, ymax) and 4 keypoints in image pixels,
        best score first."""
        height, width = image_bgr.shape[:2]
        roi = letterbox_roi(width, height)
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        crop = warp_crop(rgb, roi, DETECTOR_SIZE, border=cv2.BORDER_CONSTANT)
        x = crop.astype(np.float32)[None] * (2.0 / 255.0) - 1.0
        out = self.detector.run(x)
        found = decode_detections(out[self._det_boxes][0], out[self._det_scores][0], self.anchors,
                                  scale=DETECTOR_SIZE, score_threshold=self.score_threshold,
                                  iou_threshold=self.iou_threshold)
        people = []
        for d in found:  # [0, 1] letterbox units -> image pixels
            corners = crop_to_image(d.box.reshape(2, 2), roi, 1)
            people.append(Detection(corners.reshape(4).astype(np.float32),
                                    crop_to_image(d.keypoints, roi, 1).astype(np.float32), d.score))
        return people

    def landmarks_in(self, image_bgr: np.ndarray, roi: Roi) -> tuple[float, np.ndarray]:
        """The landmark model on one ROI: (pose flag score, (33, 5) x, y, z in image pixels,
        visibility and presence in [0, 1])."""
        flag, points = self.all_landmarks_in(image_bgr, roi)
        return flag, points[:NUM_LANDMARKS]

    def all_landmarks_in(self, image_bgr: np.ndarray, roi: Roi) -> tuple[float, np.ndarray]:
        """As `landmarks_in`, with all 39 model points: the 33 body landmarks, then the 2 auxiliary
        alignment points (33: hip centre, 34: scale and rotation point, as the detector's keypoints 0
        and 1; video mode's next ROI comes from them), then 4 unused ones."""
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        crop = warp_crop(rgb, roi, LANDMARK_SIZE, border=cv2.BORDER_REPLICATE)
        out = self.landmarker.run(crop.astype(np.float32)[None] / 255.0)
        raw = out[self._lm_points].reshape(-1, 5).astype(np.float64)
        # MediaPipe refines x, y from the 64x64 heatmap (kernel 7, min confidence 0.5) in crop units
        xy = refine_from_heatmap(raw[:, :2] / LANDMARK_SIZE, out[self._lm_heatmap][0])
        points = np.empty((len(raw), 5), dtype=np.float32)
        points[:, :2] = crop_to_image(xy * LANDMARK_SIZE, roi, LANDMARK_SIZE)
        points[:, 2] = raw[:, 2] * roi.width / LANDMARK_SIZE
        points[:, 3:] = sigmoid(raw[:, 3:5])
        return float(np.asarray(out[self._lm_flag]).reshape(-1)[0]), points

    def landmarks(self, image_bgr: np.ndarray) -> tuple[bool, np.ndarray, np.ndarray]:
        """The best-scoring person in a still BGR image: (found, (33, 5) landmarks x, y, z pixels +
        visibility + presence, (17, 3) COCO-17 x, y, score). NaN arrays when no person is found."""
        nothing = (False, np.full((NUM_LANDMARKS, 5), np.nan, np.float32), np.full((17, 3), np.nan, np.float32))
        people = self.detect(image_bgr)
        if not people:
            return nothing
        roi = roi_from_keypoints(people[0].keypoints[0], people[0].keypoints[1], self.roi_scale)
        flag, points = self.landmarks_in(image_bgr, roi)
        if flag < self.pose_threshold:
            return nothing
        return True, points, to_coco17(points)

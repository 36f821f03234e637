"""BlazePose in video mode, as MediaPipe 0.10's pose graph runs with `static_image_mode=False`:
detect on the first frame (or after losing the person), then track. Each frame's landmarks are
smoothed (PoseLandmarkFiltering: visibility low-pass alpha 0.1, then one-euro on x, y, z in pixels with
min_cutoff 0.05, beta 80 for the 33 body landmarks and min_cutoff 0.01, beta 10 for the 2 auxiliary
alignment points, derivative cutoff 1; the velocity scale is 1 / object scale, the side of the square
the raw auxiliary points span: 2 |aux1 - aux0|). The next frame's ROI comes from the smoothed auxiliary
points as the detector's keypoints 0 and 1 give it, enlarged x1.25 (PoseLandmarksToRoi). A pose flag
below the threshold drops the track: the frame reports no person, the filters reset and the next frame
runs the detector again. Older MediaPipe graphs (min_cutoff 0.1 / beta 40, aux beta 1, x1.5 ROI, scale
from the landmarks' box) match the 0.10.21 reference far worse (3% of the person's diagonal, not 0.2%)."""
from __future__ import annotations

import numpy as np

from edgetokens.blazepose import NUM_LANDMARKS, BlazePose
from edgetokens.keypoints2d.roi import Roi, roi_from_keypoints
from edgetokens.keypoints2d.skeleton import to_coco17
from edgetokens.keypoints2d.smoothing import LandmarkSmoother

TRACK_ROI_SCALE = 1.25


class BlazePoseTracker:
    """One person through a video. `push(frame_bgr, timestamp_ms)` -> (found, (33, 5) landmarks x, y, z
    pixels + visibility + presence, (17, 3) COCO-17 x, y, score); NaN arrays when no person.
    `smooth=False` gives the raw per-frame landmarks (tracking still on)."""

    def __init__(self, model: BlazePose | None = None, device: str = "cpu", smooth: bool = True,
                 landmark_filter: tuple[float, float, float] = (0.05, 80.0, 1.0),
                 auxiliary_filter: tuple[float, float, float] = (0.01, 10.0, 1.0),
                 visibility_alpha: float = 0.1, track_roi_scale: float = TRACK_ROI_SCALE,
                 scale_from_roi: bool = True):
        self.model = model if model is not None else BlazePose(device)
        self.smooth, self.track_roi_scale, self.scale_from_roi = smooth, track_roi_scale, scale_from_roi
        self.landmark_smoother = LandmarkSmoother(*landmark_filter, visibility_alpha=visibility_alpha)
        self.auxiliary_smoother = LandmarkSmoother(*auxiliary_filter, visibility_alpha=visibility_alpha)
        self.roi: Roi | None = None  # the ROI the next frame will use; None: detect
        self.tracking = False  # whether the last frame's ROI came from landmarks (not the detector)

    def reset(self) -> None:
        self.roi = None
        self.landmark_smoother.reset()
        self.auxiliary_smoother.reset()

    def push(self, frame_bgr: np.ndarray, timestamp_ms: float) -> tuple[bool, np.ndarray, np.ndarray]:
        nothing = (False, np.full((NUM_LANDMARKS, 5), np.nan, np.float32), np.full((17, 3), np.nan, np.float32))
        roi, self.tracking = self.roi, self.roi is not None
        if roi is None:
            people = self.model.detect(frame_bgr)
            if not people:
                self.reset()
                return nothing
            roi = roi_from_keypoints(people[0].keypoints[0], people[0].keypoints[1], self.model.roi_scale)
        flag, points = self.model.all_landmarks_in(frame_bgr, roi)
        if flag < self.model.pose_threshold:
            self.reset()
            return nothing
        body, auxiliary = points[:NUM_LANDMARKS], points[NUM_LANDMARKS:NUM_LANDMARKS + 2]
        if self.smooth:
            seconds = timestamp_ms / 1000.0
            # OBJECT_SCALE_ROI: the raw alignment points' square (not enlarged), its side in pixels
            scale = 2.0 * float(np.hypot(*(auxiliary[1, :2] - auxiliary[0, :2]))) if self.scale_from_roi else None
            body = self.landmark_smoother.apply(seconds, body, scale)
            auxiliary = self.auxiliary_smoother.apply(seconds, auxiliary, scale)
        self.roi = roi_from_keypoints(auxiliary[0, :2], auxiliary[1, :2], self.track_roi_scale)
        return True, body, to_coco17(body)

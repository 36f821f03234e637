"""BlazePose (MediaPipe's detector + full landmark model through OpenVINO) against MediaPipe's own
outputs on the still frames of ../shared/golden/blazepose (static-image mode, 40 frames)."""
import hashlib
import math

import cv2
import numpy as np
import pytest

from edgetokens.blazepose import BlazePose
from edgetokens.keypoints2d.anchors import ssd_anchors
from edgetokens.keypoints2d.roi import (
    Roi,
    crop_matrix,
    crop_to_image,
    roi_from_keypoints,
)
from edgetokens.keypoints2d.skeleton import COCO17_FROM_BLAZEPOSE, to_coco17

# Tolerances. Measured here (OpenVINO 2026.4 CPU vs mediapipe 0.10.21's TFLite): median over frames
# of the per-frame median landmark error 0.72 px = 0.21% of the person's landmark-box diagonal, 39/40
# found/not-found agreements. The gap is float arithmetic (two runtimes) moving the ROI and the
# heatmap refinement a little; it grows on the few frames where the detector's best box is a marginal
# (score < 0.6) false positive, where the landmark model has no real person to lock onto.
MEDIAN_DIAG_PERCENT = 0.5   # the brief's target is 1%; 2x margin over the measured 0.21%
MEDIAN_PX = 1.5
CONFIDENT_FRAME_PERCENT = 1.0  # each frame whose detection scores >= 0.7 (measured worst 0.54%)
MARGINAL_SCORE = 0.6  # a found/not-found disagreement is allowed only on a detection this marginal


def test_anchors_match_the_pose_detector():
    anchors = ssd_anchors()
    assert anchors.shape == (2254, 4)
    np.testing.assert_allclose(anchors[0], [0.5 / 28, 0.5 / 28, 1, 1])
    np.testing.assert_allclose(anchors[1], anchors[0])  # 2 anchors per location at stride 8
    np.testing.assert_allclose(anchors[-1], [6.5 / 7, 6.5 / 7, 1, 1])


def test_roi_from_keypoints_and_crop_round_trip():
    roi = roi_from_keypoints(np.array([100.0, 200.0]), np.array([100.0, 120.0]))  # kp1 straight above
    assert roi.width == pytest.approx(2 * 80 * 1.25) and roi.rotation == pytest.approx(0.0)
    tilted = roi_from_keypoints(np.array([100.0, 200.0]), np.array([180.0, 200.0]))  # kp1 to the right
    assert tilted.rotation == pytest.approx(math.pi / 2)
    roi = Roi(50.0, 60.0, 120.0, 120.0, 0.3)
    corners = crop_to_image(np.array([[0.0, 0.0], [256.0, 256.0], [128.0, 128.0]]), roi, 256)
    np.testing.assert_allclose(corners[2], [50.0, 60.0])
    m = np.vstack([crop_matrix(roi, 256), [0, 0, 1]])
    back = (np.linalg.inv(m) @ np.c_[corners, np.ones(3)].T).T[:, :2]
    np.testing.assert_allclose(back, [[0, 0], [256, 256], [128, 128]], atol=1e-9)


def test_coco17_picks_the_body_points():
    landmarks = np.arange(33 * 5, dtype=np.float32).reshape(33, 5)
    coco = to_coco17(landmarks)
    assert coco.shape == (17, 3)
    np.testing.assert_array_equal(coco[:, 0], landmarks[list(COCO17_FROM_BLAZEPOSE), 0])
    np.testing.assert_array_equal(coco[:, 2], landmarks[list(COCO17_FROM_BLAZEPOSE), 3])


@pytest.fixture(scope="module")
def golden(shared_dir):
    golden = np.load(shared_dir / "golden" / "blazepose" / "blazepose_one_by_one.npz")
    capture = cv2.VideoCapture(str(shared_dir / "data" / "videos" / "one-by-one-person-detection.mp4"))
    frames = []
    for index in golden["still_frames"]:
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, frame = capture.read()
        assert ok, f"could not decode frame {index}"
        frames.append(frame)
    capture.release()
    differ = [int(i) for i, f, md5 in zip(golden["still_frames"], frames, golden["still_frame_md5"])
              if hashlib.md5(f.tobytes()).hexdigest() != md5]
    if differ:
        pytest.skip(f"this OpenCV decodes frames {differ} to other pixels than the golden run did")
    return golden, frames


def test_still_images_match_mediapipe(golden):
    golden, frames = golden
    width, height = golden["image_size"]
    model = BlazePose("cpu")
    errors_px, errors_percent, visibility_gaps, disagreements = [], [], [], []
    for i, frame in enumerate(frames):
        found, landmarks, coco = model.landmarks(frame)
        assert landmarks.shape == (33, 5) and coco.shape == (17, 3)
        expected = bool(golden["still_found"][i])
        if found != expected:
            people = model.detect(frame)
            disagreements.append((int(golden["still_frames"][i]), expected, people[0].score if people else None))
            continue
        if not found:
            continue
        reference = golden["still_landmarks"][i][:, :2] * [width, height]
        error = np.linalg.norm(landmarks[:, :2] - reference, axis=1)
        diagonal = float(np.hypot(*(reference.max(0) - reference.min(0))))
        errors_px.append(float(np.median(error)))
        errors_percent.append(100 * errors_px[-1] / diagonal)
        visibility_gaps.append(float(np.median(np.abs(landmarks[:, 3] - golden["still_landmarks"][i][:, 3]))))
        if model.detect(frame)[0].score >= 0.7:
            assert errors_percent[-1] <= CONFIDENT_FRAME_PERCENT, (golden["still_frames"][i], errors_percent[-1])
    median_px, median_percent = float(np.median(errors_px)), float(np.median(errors_percent))
    print(f"\nBlazePose vs MediaPipe on {len(frames)} stills: {len(frames) - len(disagreements)} found/not-found "
          f"agreements, disagreements {disagreements}; on {len(errors_px)} frames found by both: median landmark "
          f"error {median_px:.2f} px = {median_percent:.3f}% of the person's diagonal (worst frame "
          f"{max(errors_percent):.2f}%), median visibility gap {np.median(visibility_gaps):.4f}")
    assert len(disagreements) <= 1, disagreements
    assert all(score is not None and score < MARGINAL_SCORE for _, _, score in disagreements), disagreements
    assert median_percent <= MEDIAN_DIAG_PERCENT and median_px <= MEDIAN_PX
    assert np.median(visibility_gaps) <= 0.02

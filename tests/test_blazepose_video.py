"""BlazePose in video mode (edgetokens.blazepose_video.BlazePoseTracker) against MediaPipe's own
`mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1)` on the 120-frame tracked segment
of ../shared/golden/blazepose (smoothing on, started fresh on the segment's first frame)."""
import hashlib
import math

import cv2
import numpy as np
import pytest

from edgetokens.blazepose import BlazePose
from edgetokens.blazepose_video import BlazePoseTracker
from edgetokens.keypoints2d.smoothing import LandmarkSmoother, LowPass, OneEuro

# Measured here (OpenVINO 2026.4 CPU vs mediapipe 0.10.21, filter settings read from the 0.10.21 wheel's
# compiled PoseLandmarkFiltering / PoseLandmarksToRoi graphs): 120/120 found/not-found agreements, 119
# tracked frames, median over frames of the per-frame median landmark error 1.80 px = 0.52% of the
# person's landmark-box diagonal, worst frame 0.90%, median visibility gap 0.021; without the smoothing
# 0.70% (so the reference is smoothed and we smooth as it does). The still-image gap is 0.21%: in
# tracking each frame's ROI comes from the previous frame's landmarks, so the two runtimes' small
# differences feed back into the next crop and the gap settles around 0.5% after ~5 frames.
MEDIAN_DIAG_PERCENT = 1.0   # the brief's target; ~2x the measured 0.52%
MEDIAN_PX = 3.5             # ~2x the measured 1.80 px
WORST_FRAME_PERCENT = 2.0   # ~2x the measured 0.90%
VISIBILITY_GAP = 0.05       # measured 0.021 (visibility is low-passed, alpha 0.1)
SEGMENT_MS = 1000.0 / 30.0  # mp.solutions feeds 33333 us steps


def test_one_euro_matches_mediapipe_arithmetic():
    f = OneEuro(min_cutoff=0.05, beta=80.0, derivate_cutoff=1.0)
    assert f.apply(1 / 30, np.array([10.0]), 0.01)[0] == 10.0  # first sample passes through
    out = f.apply(2 / 30, np.array([12.0]), 0.01)[0]
    freq = 30.0

    def alpha(cutoff):
        return 1 / (1 + (1 / (2 * math.pi * cutoff)) * freq)

    dx = alpha(1.0) * (2.0 * 0.01 * freq)  # the derivative filter's second sample (its first was 0)
    a = alpha(0.05 + 80.0 * abs(dx))
    assert out == pytest.approx(a * 12.0 + (1 - a) * 10.0, rel=1e-6)
    assert f.apply(2 / 30, np.array([50.0]))[0] == 50.0  # a repeated timestamp passes the value through
    low = LowPass(0.1)
    assert low.apply(np.array([1.0]))[0] == 1.0 and low.apply(np.array([0.0]))[0] == pytest.approx(0.9)
    smoother = LandmarkSmoother(0.05, 80.0)
    points = np.ones((33, 5), np.float32)
    points[:, 0] = np.arange(33)
    np.testing.assert_array_equal(smoother.apply(0.0, points), points)


@pytest.fixture(scope="module")
def segment(shared_dir):
    golden = np.load(shared_dir / "golden" / "blazepose" / "blazepose_one_by_one.npz")
    capture = cv2.VideoCapture(str(shared_dir / "data" / "videos" / "one-by-one-person-detection.mp4"))
    indices = golden["video_frames"]
    assert np.array_equal(indices, np.arange(indices[0], indices[0] + len(indices)))
    capture.set(cv2.CAP_PROP_POS_FRAMES, int(indices[0]))
    frames = []
    for index in indices:
        ok, frame = capture.read()
        assert ok, f"could not decode frame {index}"
        frames.append(frame)
    capture.release()
    differ = [int(i) for i, f, md5 in zip(indices, frames, golden["video_frame_md5"])
              if hashlib.md5(f.tobytes()).hexdigest() != md5]
    if differ:
        pytest.skip(f"this OpenCV decodes frames {differ} to other pixels than the golden run did")
    return golden, frames, BlazePose("cpu")


def run_segment(golden, frames, model, **options):
    width, height = golden["image_size"]
    tracker = BlazePoseTracker(model, **options)
    agreements, tracked, errors_px, errors_percent, visibility_gaps = 0, 0, [], [], []
    for i, frame in enumerate(frames):
        found, landmarks, coco = tracker.push(frame, (i + 1) * SEGMENT_MS)
        assert landmarks.shape == (33, 5) and coco.shape == (17, 3)
        tracked += tracker.tracking
        expected = bool(golden["video_found"][i])
        agreements += found == expected
        if not (found and expected):
            continue
        reference = golden["video_landmarks"][i][:, :2] * [width, height]
        error = np.linalg.norm(landmarks[:, :2] - reference, axis=1)
        errors_px.append(float(np.median(error)))
        errors_percent.append(100 * errors_px[-1] / float(np.hypot(*(reference.max(0) - reference.min(0)))))
        visibility_gaps.append(float(np.median(np.abs(landmarks[:, 3] - golden["video_landmarks"][i][:, 3]))))
    return agreements, tracked, errors_px, errors_percent, visibility_gaps


def test_video_mode_matches_mediapipe(segment):
    golden, frames, model = segment
    agreements, tracked, px, percent, visibility = run_segment(golden, frames, model)
    raw = run_segment(golden, frames, model, smooth=False)[3]
    print(f"\nBlazePose video mode vs MediaPipe on {len(frames)} frames: {agreements} found/not-found agreements, "
          f"{tracked} tracked; on {len(px)} frames found by both: median landmark error {np.median(px):.2f} px = "
          f"{np.median(percent):.3f}% of the person's diagonal (worst frame {max(percent):.2f}%), median "
          f"visibility gap {np.median(visibility):.4f}; unsmoothed {np.median(raw):.3f}%")
    assert agreements >= len(frames) - 1
    assert tracked >= len(frames) - 5  # detection on the first frame only (measured: 119 of 120 tracked)
    assert np.median(percent) <= MEDIAN_DIAG_PERCENT and np.median(px) <= MEDIAN_PX
    assert max(percent) <= WORST_FRAME_PERCENT
    assert np.median(visibility) <= VISIBILITY_GAP
    assert np.median(percent) < np.median(raw)  # the reference is smoothed: smoothing must bring us closer


def test_losing_the_person_resets_and_redetects(segment):
    _, frames, model = segment
    tracker = BlazePoseTracker(model)
    assert tracker.push(frames[0], SEGMENT_MS)[0] and not tracker.tracking
    assert tracker.push(frames[1], 2 * SEGMENT_MS)[0] and tracker.tracking
    found, landmarks, coco = tracker.push(np.zeros_like(frames[2]), 3 * SEGMENT_MS)
    assert not found and np.isnan(landmarks).all() and np.isnan(coco).all() and tracker.roi is None
    assert tracker.push(frames[3], 4 * SEGMENT_MS)[0] and not tracker.tracking  # detector ran again

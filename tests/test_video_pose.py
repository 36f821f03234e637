"""VideoPose (edgetokens.video_pose): video -> BlazePose video mode -> 3D lifter, offline and streaming,
on short clips cut from the real video of ../shared (written losslessly, so the tracker sees the
decoded frames exactly), and the bad inputs of issue 22."""
import json
import math

import cv2
import numpy as np
import pytest

from edgetokens.blazepose_video import BlazePoseTracker
from edgetokens.keypoints import OUTSIDE_MARGIN
from edgetokens.video_pose import VideoPose, found_segments
from edgetokens.video_stream import mark_unseen_outside

# Frame ranges of one-by-one-person-detection.mp4, measured with a tracker started on the range's first
# frame: 192-210 a person on 0-3 and 12-16 (two segments), 460-472 an empty room, 300-315 one person.
TWO_PEOPLE, EMPTY, ONE_PERSON = (192, 210), (460, 472), (300, 316)
FPS = 10.0


def read_frames(path, start, stop):
    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = [capture.read()[1] for _ in range(stop - start)]
    capture.release()
    assert all(f is not None for f in frames)
    return frames


def write_clip(path, frames, fourcc="FFV1", fps=FPS):
    """A video of `frames` (FFV1 is lossless: decoding gives the frames back exactly)."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"this OpenCV cannot write {fourcc}"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def tracked(model, frames, fps=FPS):
    tracker = BlazePoseTracker(model)
    runs = [tracker.push(frame, i * 1000.0 / fps) for i, frame in enumerate(frames)]
    return np.array([r[0] for r in runs]), np.stack([r[2] for r in runs])


@pytest.fixture(scope="module")
def source(shared_dir):
    return shared_dir / "data" / "videos" / "one-by-one-person-detection.mp4"


@pytest.fixture(scope="module")
def frames(source):
    return {name: read_frames(source, *span) for name, span in
            {"two": TWO_PEOPLE, "empty": EMPTY, "one": ONE_PERSON}.items()}


@pytest.fixture(scope="module")
def video():
    return VideoPose("hot-mixste", device="cpu")


@pytest.fixture(scope="module")
def clips(tmp_path_factory, frames):
    folder = tmp_path_factory.mktemp("clips")
    return {name: write_clip(folder / f"{name}.avi", clip) for name, clip in frames.items()}


@pytest.fixture(scope="module")
def two_people(video, clips):
    return video.run(clips["two"])


def test_run_tracks_as_the_tracker_and_lifts_each_segment_alone(video, frames, two_people):
    result = two_people
    found, coco = tracked(video.detector, frames["two"])
    assert result.frame_count == len(frames["two"]) == result.frames_declared
    np.testing.assert_array_equal(result.found, found)
    assert result.segments == found_segments(found) and len(result.segments) >= 2  # measured: (0, 4), (12, 17)
    np.testing.assert_allclose(result.keypoints_2d[found], coco[found], atol=1e-4)
    assert np.isnan(result.keypoints_2d[~found]).all() and np.isnan(result.landmarks[~found]).all()
    # no pose invented: NaN and unobserved on every frame without a person, finite and root-relative elsewhere
    assert np.isnan(result.poses_3d[~found]).all() and not result.observed[~found].any()
    assert np.isfinite(result.poses_3d[found]).all() and result.observed[found].any(-1).all()
    np.testing.assert_allclose(result.poses_3d[found][:, 0], 0.0, atol=1e-6)
    for start, stop in result.segments:  # each segment is lifted on its own
        alone = video.predictor.predict(result.keypoints_2d[start:stop], result.image_size, layout="coco", flip=True)
        np.testing.assert_allclose(result.poses_3d[start:stop], alone.poses_3d, atol=1e-5)
    first, second = result.segments[:2]  # lifting both people as one sequence would change the poses
    together = video.predictor.predict(result.keypoints_2d[np.r_[first[0]:first[1], second[0]:second[1]]],
                                       result.image_size, layout="coco", flip=True).poses_3d
    assert not np.allclose(together[: first[1] - first[0]], result.poses_3d[first[0]:first[1]], atol=1e-4)
    assert result.fps == FPS and result.image_size == (768, 432) and result.warnings == []
    detector = getattr(video.detector, "device", None) or video.detector.detector.device
    assert result.devices == video.devices == {"detector": detector, "lifter": video.predictor.device}
    assert all(":" in device for device in result.devices.values())  # resolved backend:target strings
    assert set(result.timings_ms) == {"decode", "detect_landmarks", "lift", "total"}
    assert result.timings_ms["total"] >= result.timings_ms["detect_landmarks"] + result.timings_ms["lift"]
    rates = result.frames_per_second
    assert rates["total"] == pytest.approx(1000 * result.frame_count / result.timings_ms["total"])


def test_save_json_has_every_frame_and_no_nan(two_people, tmp_path):
    result = two_people
    path = result.save_json(tmp_path / "sub" / "poses.json")

    def no_nan(name):
        raise AssertionError(f"{name} in the JSON")

    content = json.loads(path.read_text(), parse_constant=no_nan)
    assert content["frames"] == result.frame_count == len(content["per_frame"])
    assert content["segments"] == [list(s) for s in result.segments] and content["fps"] == FPS
    assert content["image_size"] == [768, 432] and content["devices"] == result.devices
    assert content["frames_found"] == int(result.found.sum()) and content["model"] == "hot-mixste"
    for i, entry in enumerate(content["per_frame"]):
        assert entry["frame"] == i and entry["found"] == bool(result.found[i])
        if not entry["found"]:
            assert entry["keypoints_2d"] is entry["pose_3d"] is entry["scores"] is None
            continue
        np.testing.assert_allclose(entry["keypoints_2d"], result.keypoints_2d[i, :, :2], atol=0.006)
        np.testing.assert_allclose(entry["scores"], result.keypoints_2d[i, :, 2], atol=6e-5)
        np.testing.assert_allclose(entry["pose_3d"], result.poses_3d[i], atol=6e-6)
        assert entry["observed"] == result.observed[i].tolist()


def test_a_video_without_anyone_gives_nan_poses_and_a_warning(video, clips):
    result = video.run(clips["empty"])
    assert result.frame_count == EMPTY[1] - EMPTY[0] and not result.found.any() and result.segments == []
    assert np.isnan(result.poses_3d).all() and np.isnan(result.keypoints_2d).all() and not result.observed.any()
    assert any("no person found in any of the 12 frames" in w for w in result.warnings)


def test_a_one_frame_video(video, frames, tmp_path):
    result = video.run(write_clip(tmp_path / "one.avi", frames["one"][:1]))
    assert result.frame_count == 1 and result.found.tolist() == [True] and result.segments == [(0, 1)]
    assert result.poses_3d.shape == (1, 17, 3) and np.isfinite(result.poses_3d).all()


def test_max_frames_stops_early_without_a_warning(video, clips):
    result = video.run(clips["one"], max_frames=3)
    assert result.frame_count == 3 and result.warnings == [] and result.frames_declared == 16
    with pytest.raises(ValueError, match="max_frames"):
        video.run(clips["one"], max_frames=0)


def test_files_that_are_not_videos_are_named(video, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        video.run(tmp_path / "missing.mp4")
    with pytest.raises(FileNotFoundError, match="not a file"):
        video.run(tmp_path)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.mp4 is empty \(0 bytes\)"):
        video.run(empty)
    text = tmp_path / "notes.mp4"
    text.write_text("these are notes, not a video\n" * 50)
    with pytest.raises(ValueError, match=r"notes\.mp4 is not a video OpenCV can read"):
        video.run(text)


def mjpeg_frame_offsets(data: bytes) -> list[int]:
    """Where each frame's JPEG data starts in an MJPG .avi (an '00dc' chunk holding a JPEG)."""
    offsets, at = [], data.find(b"00dc")
    while at >= 0:
        if data[at + 8:at + 10] == b"\xff\xd8":
            offsets.append(at + 8)
        at = data.find(b"00dc", at + 4)
    return offsets


def test_a_video_that_ends_early_or_has_a_corrupt_frame_keeps_what_was_read(video, frames, tmp_path):
    clip = frames["one"]
    full = write_clip(tmp_path / "full.avi", clip, fourcc="MJPG").read_bytes()
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(full[: len(full) * 6 // 10])
    result = video.run(truncated)
    assert 0 < result.frame_count < len(clip) and result.frames_declared == len(clip)
    assert any(f"read {result.frame_count} of the {len(clip)} frames" in w for w in result.warnings)
    assert result.found.all() and np.isfinite(result.poses_3d).all()

    offsets = mjpeg_frame_offsets(full)
    assert len(offsets) == len(clip)
    damaged = bytearray(full)
    damaged[offsets[5]:offsets[5] + 400] = bytes(400)  # frame 5's JPEG header and tables zeroed
    corrupt = tmp_path / "corrupt.avi"
    corrupt.write_bytes(bytes(damaged))
    result = video.run(corrupt)
    assert result.frame_count == 5 and result.found.all()
    assert any(f"read 5 of the {len(clip)} frames" in w and "frame 5 is corrupt" in w for w in result.warnings)


def test_grayscale_and_bgra_frames_are_converted(video, frames):
    clip = frames["one"][:4]
    gray = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in clip]
    from_gray = video.run(gray, fps=FPS)
    as_bgr = video.run([cv2.cvtColor(g, cv2.COLOR_GRAY2BGR) for g in gray], fps=FPS)
    assert from_gray.found.all() and from_gray.fps == FPS and from_gray.frames_declared is None
    np.testing.assert_array_equal(from_gray.keypoints_2d, as_bgr.keypoints_2d)
    bgra = video.run(np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2BGRA) for f in clip]), fps=FPS)
    bgr = video.run(clip, fps=FPS)
    np.testing.assert_array_equal(bgra.keypoints_2d, bgr.keypoints_2d)
    assert not np.array_equal(bgr.keypoints_2d, from_gray.keypoints_2d)  # colour matters: it was not dropped


@pytest.mark.parametrize("bad, message", [
    (lambda f: [f.astype(np.float32)], "frame 0 must be a uint8 image"),
    (lambda f: [f, f[..., :2]], r"frame 1 must be \(H, W, 3\) BGR"),
    (lambda f: [f, f, f[:200]], "frame 2 of frames is 768x200; the frames before it are 768x432"),
    (lambda f: f, "got one image of shape"),
    (lambda f: [], "the frame sequence is empty"),
    (lambda f: 42, "an iterable of BGR frames"),
])
def test_bad_frames_are_named(video, frames, bad, message):
    with pytest.raises(ValueError, match=message):
        video.run(bad(frames["one"][0]))


def half_out_of_frame(frame):
    """The top of the standing person only (head and shoulders, 179x108): BlazePose still finds them
    and places the legs far below the picture (measured: 3-4 keypoints beyond twice its height)."""
    return np.ascontiguousarray(frame[:108, 375:554])


def test_a_person_half_out_of_the_frame_is_lifted_with_far_joints_unseen(video, frames):
    clip = [half_out_of_frame(f) for f in frames["one"][:8]]
    found, coco = tracked(video.detector, clip)
    size = np.array([179, 108])
    far = ((coco[..., :2] < -OUTSIDE_MARGIN * size) | (coco[..., :2] > (1 + OUTSIDE_MARGIN) * size)).any(-1)
    assert found.all() and far.any()  # the case: BlazePose's keypoints the lifter would reject
    with pytest.raises(ValueError, match="outside the 179x108 image"):
        video.predictor.predict(coco, (179, 108), layout="coco")
    result = video.run(clip, fps=FPS)
    assert result.found.all() and np.isfinite(result.poses_3d).all()
    assert (result.keypoints_2d[..., 2][far] == 0).all() and (result.keypoints_2d[..., 2][~far] > 0).all()
    np.testing.assert_array_equal(result.keypoints_2d[..., :2], coco[..., :2])  # coordinates kept as placed
    ankles = {15: 6, 16: 3}  # COCO left/right ankle -> H36M LAnkle / RAnkle
    for coco_joint, h36m_joint in ankles.items():
        np.testing.assert_array_equal(result.observed[:, h36m_joint], ~far[:, coco_joint])


def test_mark_unseen_outside_keeps_nan_frames():
    keypoints = np.array([[[10.0, 10.0, 0.5], [250.0, 10.0, 0.75], [np.nan, np.nan, np.nan]]])
    marked, lifter_input = mark_unseen_outside(keypoints, (100, 100))
    np.testing.assert_array_equal(marked[0, :2, 2], [0.5, 0.0])
    assert np.isnan(marked[0, 2]).all() and np.isnan(lifter_input[0, 1, :2]).all()
    np.testing.assert_array_equal(lifter_input[0, 0], [10.0, 10.0, 0.5])


def test_stream_has_the_pose_stream_delay_and_restarts_with_each_person(video, frames):
    stride = 3
    clip = frames["one"]
    pushed = [*clip[:10], np.zeros_like(clip[0]), *clip[10:15]]  # a black frame: the tracker loses the person
    stream = video.stream(fps=FPS, stride=stride)
    outputs = [stream.push(frame) for frame in pushed]
    assert [o.found for o in outputs] == [True] * 10 + [False] + [True] * 5
    assert [o.pose_frame for o in outputs] == [max(i - 2, 0) for i in range(10)] + [None] + [
        max(i - 2, 11) for i in range(11, 16)]
    lost = outputs[10]
    assert lost.pose_3d is None and np.isnan(lost.keypoints_2d).all()
    assert lost.flushed_frames.tolist() == [8, 9] and lost.flushed_poses.shape == (2, 17, 3)
    # the same poses as a PoseStream fed the tracker's keypoints, restarted for the second segment
    found, coco = tracked(video.detector, pushed)
    assert found.tolist() == [o.found for o in outputs]
    for segment, flushed in (((0, 10), lost), ((11, 16), None)):
        reference = video.predictor.stream((768, 432), layout="coco", flip=True, stride=stride)
        poses = [reference.push(mark_unseen_outside(coco[i], (768, 432))[1]) for i in range(*segment)]
        np.testing.assert_allclose([outputs[i].pose_3d for i in range(*segment)], poses, atol=1e-5)
        tail = reference.flush()
        if flushed is not None:
            np.testing.assert_allclose(flushed.flushed_poses, tail, atol=1e-5)
        else:
            frames_left, poses_left = stream.flush()
            assert frames_left.tolist() == [14, 15]
            np.testing.assert_allclose(poses_left, tail, atol=1e-5)
    assert stream.flush()[0].tolist() == []  # nothing owed twice
    assert all(o.latency_ms > 0 for o in outputs)


def test_stream_checks_its_arguments_and_frames(video, frames):
    with pytest.raises(ValueError, match="stride must be an integer from 1"):
        video.stream(stride=0)
    with pytest.raises(ValueError, match="stride must be an integer from 1"):
        video.stream(stride=video.predictor.frames + 1)
    with pytest.raises(ValueError, match="fps must be a positive number"):
        video.stream(fps=math.nan)
    stream = video.stream(fps=FPS)
    gray = cv2.cvtColor(frames["one"][0], cv2.COLOR_BGR2GRAY)
    first = stream.push(gray)
    assert first.found and first.pose_3d.shape == (17, 3) and first.pose_frame == 0
    with pytest.raises(ValueError, match="frame 1 is 100x100; this stream's frames are 768x432"):
        stream.push(np.zeros((100, 100, 3), np.uint8))

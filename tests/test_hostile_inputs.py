"""Hostile and careless input to the pose and depth Predictors (issue 21): every bad keypoint, score,
image or keypoint file is a ValueError naming what is wrong, never NaN poses, a silently rotated depth
map or a huge allocation; missing joints are reported, a shared stream is refused. No model needed:
predictors run on fake sessions, so the checks are fast."""
import json
import logging
import struct
import threading
import warnings

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgetokens.depth import DepthPredictor, load_image
from edgetokens.keypoints import OUTSIDE_MARGIN, prepare_keypoints, prepare_observed_keypoints
from edgetokens.keypoints_io import MAX_FRAME_GAP, MAX_FRAMES, load_keypoints
from edgetokens.pose_predictor import PosePredictor
from edgetokens.stream import PoseStream
from edgetokens.vision.image import model_input

SIZE = (1000, 1000)
FUZZ = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def pixels(frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(300, 700, (frames, 17, 2))


class FakeSession:
    """What the predictors use of a runtime session; the 'model' echoes its input, so a pose is finite
    exactly when the input was."""

    device, batch, execution_devices = "fake:cpu", 1, ["FakeProvider"]

    def run_in_batches(self, inputs: np.ndarray, name: str) -> np.ndarray:
        if name == "poses_3d":  # (N, F, 17, C) -> (N, F, 17, 3)
            return np.concatenate([inputs[..., :2], np.ones_like(inputs[..., :1])], -1)
        return inputs.mean(1, keepdims=True)  # depth (N, 1, S, S)


def fake_pose_predictor(frames: int = 9, in_channels: int = 3) -> PosePredictor:
    predictor = object.__new__(PosePredictor)  # no bundle: only the pre/post-processing is under test
    predictor.session, predictor.frames, predictor.in_channels = FakeSession(), frames, in_channels
    predictor.input_layouts, predictor._warned_layouts = ("h36m", "coco"), set()  # what _check_manifest sets
    return predictor


# --- keypoint values ---------------------------------------------------------------------------------

def test_keypoints_that_do_not_fit_float32_are_rejected_never_nan_poses():
    kp = pixels(4)
    kp[2, 5] = 1e300  # finite in float64, inf in float32
    with pytest.raises(ValueError, match=r"\(frame 2, joint 5\)"):
        fake_pose_predictor().predict(kp, SIZE)
    # inside the margin, but the normalisation (y / w with w tiny) overflows float32: checked after it
    with pytest.raises(ValueError, match=r"do not fit float32 .*\(frame 0, joint 0\)"):
        prepare_keypoints(np.zeros((2, 17, 2)), (1e-300, 1.0), "h36m", None, 2)
    with pytest.raises(ValueError, match="float32"):
        fake_pose_predictor().stream((1e-300, 1.0)).push(np.zeros((17, 2)))


def test_keypoints_far_outside_the_image_are_rejected_with_frame_and_joint():
    kp = pixels(5)
    kp[3, 6] = (100_000, 500)
    with pytest.raises(ValueError, match=r"more than 1 image size outside the 1000x1000 image at \(frame 3, joint 6\)"
                                         r".*x=100000"):
        fake_pose_predictor().predict(kp, SIZE)
    kp[3, 6] = (500, -1001)  # y < -h
    with pytest.raises(ValueError, match=r"\(frame 3, joint 6\).*image_size"):
        prepare_keypoints(kp, SIZE, "coco", None, 2)
    with pytest.raises(ValueError, match="outside"):
        fake_pose_predictor().stream(SIZE).push(kp[3])
    kp[3, 6] = (-OUTSIDE_MARGIN * 1000, (1 + OUTSIDE_MARGIN) * 1000)  # at the margin: a detector's extrapolation
    assert np.isfinite(prepare_keypoints(kp, SIZE, "h36m", None, 2)).all()


@pytest.mark.parametrize("bad", [1.5, -0.1, 1850.0])
def test_scores_outside_0_1_are_rejected_hinting_that_a_third_channel_is_not_z(bad):
    kp = pixels(3)
    scores = np.full((3, 17), 0.9)
    scores[1, 2] = bad
    with pytest.raises(ValueError, match=r"\[0, 1\].*\(frame 1, joint 2\).*not z"):
        prepare_keypoints(kp, SIZE, "h36m", scores, 3)
    with_z = np.concatenate([kp, scores[..., None]], -1)  # (T, 17, 3) with a z/depth-like channel
    with pytest.raises(ValueError, match=r"third keypoint channel.*\[0, 1\].*not z"):
        fake_pose_predictor().predict(with_z, SIZE)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fake_pose_predictor().stream(SIZE).push(with_z[1])


@pytest.mark.parametrize("values, match", [
    (np.ones((2, 17, 2), dtype=bool), "real numbers"),
    (np.ones((2, 17, 2), dtype=complex), "real numbers"),
    (np.full((2, 17, 2), "12"), "real numbers"),
    (np.array([[["x", 1.0]] * 17] * 2, dtype=object), "real numbers"),
    (np.array([[[None, 1.0]] * 17] * 2, dtype=object), "NaN/inf"),  # None is a missing value, as NaN
    ([[[1.0, 2.0]] * 17, [[1.0]] * 17], "real numbers"),  # ragged
    (np.array([[[10 ** 400, 1]] * 17], dtype=object), "real numbers"),  # OverflowError inside numpy
])
def test_keypoints_that_are_not_real_numbers_are_a_value_error(values, match):
    with pytest.raises(ValueError, match=match):
        prepare_keypoints(values, SIZE, "h36m", None, 2)


# --- missing joints are reported ----------------------------------------------------------------------

def test_pose_result_says_which_joints_and_frames_were_observed(caplog):
    predictor = fake_pose_predictor()
    kp = pixels(6)
    scores = np.ones((6, 17))
    kp[1:3] = np.nan  # frames 1 and 2: nobody detected
    scores[1:3] = 0
    kp[4, 11] = np.nan  # COCO left hip missing in frame 4: H36M hip, left hip and spine are not observed
    scores[4, 11] = 0
    scores[5, 0] = 0  # a finite COCO nose with score 0 is not observed: H36M nose and head (from it) neither
    with caplog.at_level(logging.WARNING, logger="edgetokens.pose_predictor"):
        result = predictor.predict(kp, SIZE, layout="coco", scores=scores)
    assert np.isfinite(result.poses_3d).all()
    assert result.observed.shape == (6, 17) and result.observed.dtype == bool
    assert result.frame_observed.tolist() == [True, False, False, True, True, True]
    assert not result.observed[1:3].any() and result.observed[[0, 3]].all()
    assert sorted(np.nonzero(~result.observed[4])[0]) == [0, 4, 7]  # hip, L hip, spine
    assert sorted(np.nonzero(~result.observed[5])[0]) == [9, 10]
    assert "2 of 6 frames have no observed joint" in caplog.text
    # everything missing: poses are finite, and every frame is marked as invented
    everything = predictor.predict(np.full((4, 17, 3), [np.nan, np.nan, 0.0]), SIZE)
    assert np.isfinite(everything.poses_3d).all() and not everything.frame_observed.any()


@pytest.mark.parametrize("stride", [1, 3])
def test_stream_reports_the_observed_joints_of_the_pose_it_returns(stride):
    stream = fake_pose_predictor().stream(SIZE, stride=stride)
    kp, scores = pixels(12), np.ones((12, 17))
    scores[5, 4] = 0
    kp[5, 4] = np.nan
    scores[7] = 0
    kp[7] = np.nan
    seen = []
    for t in range(12):
        pose = stream.push(kp[t], scores[t])
        assert pose.shape == (17, 3) and stream.last_observed.shape == (17,)
        seen.append(stream.last_observed.copy())
    delay = stride - 1
    for t in range(12):
        frame = max(t - delay, 0)  # the frame whose pose push t returned
        assert seen[t].tolist() == (scores[frame] > 0).tolist(), t
    owed = stream.flush()
    assert stream.last_observed.shape == (len(owed), 17)
    assert (stream.last_observed == (scores[12 - delay:] > 0)).all()


# --- one stream, one thread -----------------------------------------------------------------------------

def test_a_stream_pushed_from_two_threads_raises_instead_of_mixing_people():
    entered, release = threading.Event(), threading.Event()

    class SlowLifter:
        frames, in_channels = 9, 2

        def run_clips(self, clips):
            entered.set()
            assert release.wait(10)
            return np.zeros(clips.shape[:3] + (3,), np.float32)

    stream = PoseStream(SlowLifter(), SIZE)
    errors = []
    first = threading.Thread(target=lambda: errors.append(stream.push(pixels(1)[0]).shape))
    first.start()
    try:
        assert entered.wait(10)  # the first thread is inside push, holding the stream
        for call in (lambda: stream.push(pixels(1, seed=1)[0]), stream.flush, stream.reset):
            with pytest.raises(RuntimeError, match=r"one PoseStream per camera/thread.*predictor\.stream"):
                call()
    finally:
        release.set()
        first.join(10)
    assert errors == [(17, 3)] and stream.frames_seen == 1  # the first push completed, the others changed nothing
    stream.push(pixels(1, seed=2)[0])  # released: usable again, also from this thread
    assert stream.frames_seen == 2
    with pytest.raises(ValueError):  # a failed push releases the stream too
        stream.push(np.zeros((3, 2)))
    stream.reset()


def test_eight_threads_on_one_predictor_match_one_thread():
    predictor = fake_pose_predictor(frames=27)
    inputs = [pixels(30 + 7 * i, seed=i) for i in range(8)]
    expected = [predictor.predict(kp, SIZE).poses_3d for kp in inputs]
    results = [None] * 8
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, predictor.predict(inputs[i], SIZE).poses_3d))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(a, b) for a, b in zip(results, expected))


# --- EXIF orientation -----------------------------------------------------------------------------------

def jpeg_with_orientation(image: np.ndarray, orientation: int) -> bytes:
    """A JPEG with a minimal EXIF APP1 segment: one IFD0 entry, Orientation (0x0112, SHORT)."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    data = encoded.tobytes()
    tiff = (b"MM\x00\x2a" + struct.pack(">I", 8)  # big-endian TIFF header, IFD0 at offset 8
            + struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0))
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    after = 2 + (2 + struct.unpack(">H", data[4:6])[0] if data[2:4] == b"\xff\xe0" else 0)  # after SOI, APP0
    return data[:after] + app1 + data[after:]


def test_a_jpeg_with_exif_orientation_is_read_as_viewers_and_imread_show_it(tmp_path):
    stored = np.zeros((40, 64, 3), np.uint8)  # landscape as the sensor stored it
    stored[:12, :20] = (40, 160, 250)  # a mark in the top-left corner
    path = tmp_path / "portrait.jpg"
    path.write_bytes(jpeg_with_orientation(stored, 6))  # 6: rotate 90 degrees clockwise to view
    viewed = cv2.imread(str(path))
    assert viewed.shape == (64, 40, 3)  # OpenCV's default applies the orientation
    rgb = load_image(path)
    assert rgb.shape == (64, 40, 3) and np.array_equal(rgb, viewed[..., ::-1])
    assert np.abs(rgb.astype(int) - cv2.rotate(stored, cv2.ROTATE_90_CLOCKWISE)[..., ::-1]).mean() < 8
    depth = object.__new__(DepthPredictor)
    depth.session, depth.image_size = FakeSession(), 32
    by_path, by_array = depth.predict(path), depth.predict(viewed)
    assert by_path.depth.shape == (64, 40) and np.array_equal(by_path.depth, by_array.depth)


def test_image_files_that_are_not_uint8_images_are_a_value_error(tmp_path):
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(ValueError, match="cannot decode"):
        load_image(tmp_path / "notes.jpg")
    cv2.imwrite(str(tmp_path / "depth.png"), np.full((40, 40), 1000, np.uint16))
    with pytest.raises(ValueError, match="uint8"):
        load_image(tmp_path / "depth.png")
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.png")


# --- keypoint files ---------------------------------------------------------------------------------------

def test_a_keypoint_json_entry_of_the_wrong_size_names_file_entry_and_17_x_2_or_3(tmp_path):
    good = [[500.0, 500.0]] * 17
    path = tmp_path / "mmpose.json"
    path.write_text(json.dumps({"instance_info": [
        {"frame_id": 0, "instances": [{"keypoints": good, "keypoint_scores": [0.9] * 17}]},
        {"frame_id": 1, "instances": [{"keypoints": good[:16], "keypoint_scores": [0.9] * 17}]}]}))
    with pytest.raises(ValueError, match=r"mmpose\.json: entry 1 \(frame 1\), instance 0: keypoints must be 17 x 2 or "
                                         r"17 x 3.*got 32 values"):
        load_keypoints(path)
    path.write_text(json.dumps([{"image_id": 0, "keypoints": good, "keypoint_scores": [0.9] * 16}]))
    with pytest.raises(ValueError, match=r"entry 0 \(frame 0\): COCO keypoints need 51 numbers"):
        load_keypoints(path)
    path.write_text(json.dumps([{"frame_id": 0, "instances": [{"keypoints": good, "keypoint_scores": [1] * 16}]}]))
    with pytest.raises(ValueError, match=r"entry 0 \(frame 0\), instance 0: keypoint_scores must be 17"):
        load_keypoints(path)
    path.write_text(json.dumps([{"frame_id": "one", "keypoints": [1.0] * 51}]))
    with pytest.raises(ValueError, match="entry 0: frame id must be an integer"):
        load_keypoints(path)


def test_keypoint_files_never_allocate_from_untrusted_sizes(tmp_path):
    path = tmp_path / "coco.json"
    path.write_text(json.dumps([{"image_id": 0, "keypoints": [500.0] * 51},
                                {"image_id": 1_000_000_000, "keypoints": [500.0] * 51}]))
    with pytest.raises(ValueError, match=r"coco\.json: frame ids 0 and 1000000000 are 1,000,000,000 frames apart"):
        load_keypoints(path)
    # many small gaps that add up to more than a file may span
    step = MAX_FRAME_GAP
    path.write_text(json.dumps([{"image_id": i * step, "keypoints": [500.0] * 51}
                                for i in range(MAX_FRAMES // step + 2)]))
    with pytest.raises(ValueError, match=r"span .* frames, more than the 1,000,000"):
        load_keypoints(path)
    path.write_text(json.dumps([{"image_id": 0, "keypoints": [500.0] * 51},
                                {"image_id": MAX_FRAME_GAP, "keypoints": [500.0] * 51}]))
    assert load_keypoints(path).keypoints.shape == (MAX_FRAME_GAP + 1, 17, 2)  # at the limit: a NaN gap
    # an .npy header that claims 10^9 frames is refused before anything is read
    with (tmp_path / "big.npy").open("wb") as f:
        np.lib.format.write_array_header_1_0(f, {"shape": (10 ** 9, 17, 3), "fortran_order": False, "descr": "<f8"})
    with pytest.raises(ValueError, match=r"big\.npy: .*shape \(1000000000, 17, 3\)"):
        load_keypoints(tmp_path / "big.npy")
    np.savez(tmp_path / "big.npz", keypoints=np.zeros((2, 17, 2)))
    (tmp_path / "bad.npz").write_bytes(b"PK not a zip")
    assert load_keypoints(tmp_path / "big.npz").keypoints.shape == (2, 17, 2)
    with pytest.raises(ValueError, match=r"bad\.npz is not a valid \.npz"):
        load_keypoints(tmp_path / "bad.npz")


# --- fuzzing: anything is a finite float32 model input of the right shape, or a ValueError --------------

SPECIALS = [np.nan, np.inf, -np.inf, 1e300, -1e300, 1e39, 65504.0, 7e4, -5.0, 0.0, 5e-324, -2001.0, 3000.0]
KEYPOINT_DTYPES = ["float64", "float32", "float16", "int64", "int8", "uint8", "bool", "complex128", "object", "str"]


def convert(base: np.ndarray, dtype: str, junk: bool) -> np.ndarray:
    """A float64 array as another dtype, the way a careless caller would hand it over."""
    with np.errstate(over="ignore", invalid="ignore"):
        if dtype in ("float32", "float16"):
            return base.astype(dtype)
        if dtype in ("int64", "int8", "uint8"):
            info = np.iinfo(dtype)
            return np.clip(np.nan_to_num(base), info.min, info.max).astype(dtype)
        if dtype == "bool":
            return base > 500
        if dtype == "complex128":
            return base.astype(complex)
        if dtype == "object":
            out = base.astype(object)
            if junk and out.size:
                out.flat[0] = None
            return out
        if dtype == "str":
            return base.astype(str)
    return base


@st.composite
def spiked(draw, shape, realistic, specials, spikes=True):
    """A realistic array with a few entries replaced by hostile values (so later checks are reached too)."""
    base = np.random.default_rng(draw(st.integers(0, 2 ** 16))).uniform(*realistic, shape)
    for _ in range(draw(st.integers(1, 3)) if spikes and base.size else 0):
        base.flat[draw(st.integers(0, base.size - 1))] = draw(st.sampled_from(specials))
    return base


# Each example is hostile in one respect (or none), so that every check, and the accepted path, is reached.
HOSTILITIES = ["none", "none", "none", "masked", "masked", "shape", "dtype", "values", "values", "scores",
               "scores", "size", "layout"]


@st.composite
def keypoint_calls(draw):
    hostile = draw(st.sampled_from(HOSTILITIES))
    frames = draw(st.integers(1, 4))
    channels = draw(st.sampled_from([2, 3]))
    shape = (frames, 17, channels)
    if hostile == "shape":
        shape = draw(st.one_of(st.tuples(st.integers(0, 3), st.sampled_from([0, 16, 18]), st.sampled_from([1, 2, 3, 4])),
                               hnp.array_shapes(min_dims=0, max_dims=4, max_side=3)))
    kp = draw(spiked(shape, (0, 600), SPECIALS, spikes=hostile == "values"))
    scores = None
    if hostile in ("masked", "scores") or draw(st.booleans()):
        score_shape = shape[:2] if hostile != "scores" or draw(st.booleans()) else (frames + 1, 17)
        scores = draw(spiked(score_shape, (0, 1), [0.0, np.nan, np.inf, -0.5, 1.5, 1e300], spikes=hostile == "scores"))
        if hostile == "masked" and scores.size:
            for _ in range(draw(st.integers(1, 40))):
                t, j = np.unravel_index(draw(st.integers(0, scores.size - 1)), score_shape)
                kp[t, j], scores[t, j] = draw(st.sampled_from([np.nan, np.inf, -np.inf])), 0.0  # missing, masked
        scores = convert(scores, draw(st.sampled_from(["float64", "float32", "bool", "object", "int8"])), False)
        if channels == 3 and len(shape) == 3 and score_shape == shape[:2] and draw(st.sampled_from([True, True, True, False])):
            kp, scores = np.concatenate([kp[..., :2], np.asarray(scores, np.float64)[..., None]], -1), None
    elif len(shape) == 3 and shape[-1] == 3:
        kp[..., 2] = kp[..., 2] / 600 if hostile != "values" else kp[..., 2]  # a plausible score channel
    dtype = draw(st.sampled_from(KEYPOINT_DTYPES)) if hostile == "dtype" else draw(st.sampled_from(
        ["float64", "float32", "float16", "int64"]))
    kp = convert(kp, dtype, draw(st.booleans()))
    size = draw(st.sampled_from([SIZE, (1920, 1080), (640.0, 480.0)]))
    if hostile == "size":
        size = draw(st.one_of(st.tuples(st.sampled_from([1000.0, 0.0, -5.0, np.nan, np.inf, 1e-300, 1e300, 1.0]),
                                        st.sampled_from([800.0, 1e-300, 1e300, np.nan, 1.0])),
                              st.sampled_from([(1000,), (1, 2, 3), "ab", None, 5, (1000, "x"), np.array([1e3, 1e3])])))
    layout = draw(st.sampled_from(["h36m", "coco"] if hostile != "layout" else ["COCO", None, "", "mpii", 17]))
    return kp, size, layout, scores, draw(st.sampled_from([2, 3]))


@FUZZ
@given(keypoint_calls())
def test_fuzzed_keypoints_give_a_finite_float32_input_or_a_value_error(call):
    kp, size, layout, scores, in_channels = call
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning (overflow in a cast) slips through either
        try:
            prepared = prepare_observed_keypoints(kp, size, layout, scores, in_channels)
        except ValueError as err:
            assert str(err)
            event(f"ValueError: {str(err)[:30]}")
            return
    event("accepted")
    frames = np.asarray(kp).shape[0]
    assert prepared.inputs.dtype == np.float32 and prepared.inputs.shape == (frames, 17, in_channels)
    assert np.isfinite(prepared.inputs).all()
    assert prepared.observed.shape == (frames, 17) and prepared.observed.dtype == bool
    if in_channels == 3:
        assert ((prepared.inputs[..., 2] >= 0) & (prepared.inputs[..., 2] <= 1)).all()


IMAGE_DTYPES = ["int8", "uint16", "float32", "float16", "float64", "bool", "object", "complex64", "int64"]


@st.composite
def images(draw):
    hostile = draw(st.sampled_from(["none", "none", "none", "shape", "dtype", "channels", "wrap"]))
    sides = st.sampled_from([32, 33, 40, 47]) if hostile != "shape" else st.sampled_from([0, 1, 31, 32, 40])
    shape = draw(st.one_of(st.tuples(sides, sides, st.sampled_from([3, 3, 4])), st.tuples(sides, sides)))
    if hostile == "shape":
        shape = draw(st.one_of(st.just(shape), st.tuples(sides, sides, st.sampled_from([0, 1, 2, 5])),
                               hnp.array_shapes(min_dims=0, max_dims=4, max_side=4)))
    base = draw(spiked(shape, (0, 255), [np.nan, np.inf, -1.0, 256.0, 1e300], spikes=hostile == "dtype"))
    if hostile == "dtype":
        image = convert(base, draw(st.sampled_from(IMAGE_DTYPES)), draw(st.booleans()))
    else:
        image = np.clip(base, 0, 255).astype(np.uint8)
        if len(shape) >= 2 and draw(st.booleans()):
            image = image[::-1, ::-1]  # a non-contiguous view
    if hostile == "wrap":
        image = draw(st.sampled_from([image.tolist(), None, [[1, 2], [3]], {"image": 1}, 3.5]))
    channels = draw(st.sampled_from(["bgr", "rgb"] if hostile != "channels" else ["RGB", None, "", "bgra"]))
    return image, channels


@FUZZ
@given(images())
def test_fuzzed_images_give_a_uint8_rgb_image_and_finite_model_input_or_a_value_error(call):
    image, channels = call
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            rgb = load_image(image, channels)
        except ValueError as err:
            assert str(err)
            event(f"ValueError: {str(err)[:30]}")
            return
        event("accepted")
        batch = model_input(rgb, 32)
    shape = np.asarray(image).shape
    assert rgb.dtype == np.uint8 and rgb.shape == shape[:2] + (3,) and rgb.flags.c_contiguous
    assert batch.dtype == np.float32 and batch.shape == (1, 3, 32, 32) and np.isfinite(batch).all()

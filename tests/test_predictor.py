"""The Predictor: names and weights -> cached bundle -> session; pre/post-processing, bad input, threads."""
import json
import shutil
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import edgetokens
from edgetokens import Predictor
from edgetokens.pose_predictor import PosePredictor
from edgetokens.pose.lifting import lift_sequence
from edgetokens.pose.swaps import H36M_LIMB_PAIRS
from edgetokens.pose.normalize import normalize_screen_coordinates
from edgetokens.pose.skeleton import coco_to_h36m
from edgetokens.pose.windows import causal_window
from edgetokens.keypoints import prepare_keypoints
from edgetokens.models import create_model, model_for
from runtimes import BundleError, DeviceUnavailableError

SIZE = (1000, 800)


@pytest.fixture(autouse=True)
def cache_env(monkeypatch, cache):
    monkeypatch.setenv("EDGETOKENS_CACHE", str(cache))


@pytest.fixture(scope="module")
def checkpoint(hot_checkpoint) -> Path:
    return hot_checkpoint


@pytest.fixture(scope="module")
def predictor(checkpoint, cache) -> Predictor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Predictor("hot-mixste", device="onnxruntime:cpu", weights=checkpoint, threads=2, cache_dir=cache)


def pixels(frames, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.uniform(300, 700, (1, 17, 2))
    return base + np.cumsum(rng.normal(0, 2, (frames, 17, 2)), axis=0)


def test_predict_matches_the_torch_model_through_the_shared_lifting(predictor, checkpoint, cache):
    assert "Predictor" in edgetokens.__all__
    kp = pixels(100)
    result = predictor.predict(kp, SIZE)
    assert result.poses_3d.shape == (100, 17, 3) and result.poses_3d.dtype == np.float32
    assert np.all(result.poses_3d[:, 0] == 0)
    assert result.device == "onnxruntime:cpu" and result.execution_devices == ["CPUExecutionProvider"]
    assert result.windows == 2 and set(result.timings_ms) == {"preprocess", "inference", "postprocess", "total"}
    assert result.fps > 0
    model = model_for("hot-mixste", checkpoint)

    def torch_with_the_graphs_kept_frames(clips):
        # On smooth motion, DPC-kNN density can tie to ~1e-7; backends then keep different frames
        # (up to ~1 mm apart). With the same kept frames torch and the graph agree to ~1e-6.
        keep = torch.from_numpy(np.concatenate([predictor.session.run(c[None])["keep_index"] for c in clips]))
        return model(torch.from_numpy(clips), keep_index=keep).numpy()

    with torch.inference_mode():
        reference = lift_sequence(torch_with_the_graphs_kept_frames,
                                  normalize_screen_coordinates(kp, *SIZE).astype(np.float32), 81, flip=False)
    assert np.abs(result.poses_3d - reference).max() < 1e-4
    flipped = predictor.predict(kp, SIZE, flip=True)
    assert flipped.windows == 4 and not np.allclose(flipped.poses_3d, result.poses_3d)
    # short and single-frame sequences are edge padded
    assert predictor.predict(kp[:1], SIZE).poses_3d.shape == (1, 17, 3)
    assert predictor.predict(kp[:81], SIZE).windows == 1


def test_second_start_uses_the_cached_bundle(predictor, checkpoint, cache):
    again = Predictor("hot-mixste", device="cpu", weights=checkpoint, cache_dir=cache)
    assert again.info.bundle == predictor.info.bundle and again.info.export_ms == 0
    assert again.device in ("onnxruntime:cpu", "openvino:CPU") and again.load_ms > 0
    kp = pixels(30, seed=3)
    by_path = Predictor(predictor.info.bundle, device=predictor.device, cache_dir=cache)
    assert np.abs(by_path.predict(kp, SIZE).poses_3d - predictor.predict(kp, SIZE).poses_3d).max() < 1e-5
    # Another backend may break a near-tie in DPC-kNN differently on these random weights (seen: one of
    # 27 kept frames), and the interpolated recovery follows the kept frames; test_export checks the
    # backends against torch with the same kept frames.
    on_openvino = Predictor(predictor.info.bundle, device="openvino:CPU", cache_dir=cache).predict(kp, SIZE)
    assert on_openvino.device == "openvino:CPU" and on_openvino.poses_3d.shape == (30, 17, 3)
    assert np.abs(on_openvino.poses_3d - predictor.predict(kp, SIZE).poses_3d).max() < 0.05


def test_a_new_exporter_does_not_reuse_an_old_export(monkeypatch, tmp_path):
    from edgetokens import resolve
    from runtimes import manifest

    before = resolve.exported_bundle_dir(tmp_path, "hot-mixste", "ab" * 32, None)
    assert before == resolve.exported_bundle_dir(tmp_path, "hot-mixste", "ab" * 32, None)
    assert before != resolve.exported_bundle_dir(tmp_path, "hot-mixste", "cd" * 32, None)
    monkeypatch.setattr(manifest, "EXPORT_REVISION", manifest.EXPORT_REVISION + 1)
    after = resolve.exported_bundle_dir(tmp_path, "hot-mixste", "ab" * 32, None)
    assert after.parent == before.parent and after.name.startswith("hot-mixste-") and after != before


def test_coco_layout_and_scores(predictor):
    coco = pixels(40, seed=1)
    h36m = coco_to_h36m(coco)
    assert np.allclose(predictor.predict(coco, SIZE, layout="coco").poses_3d,
                       predictor.predict(h36m, SIZE).poses_3d, atol=1e-5)
    # MotionBERT-style 3-channel input: scores follow the layout conversion
    scores = np.full((2, 17), 0.9)
    scores[:, 11] = 0.2  # left hip -> H36M hip and spine take the minimum
    x = prepare_keypoints(coco[:2], SIZE, "coco", scores, in_channels=3)
    assert x.shape == (2, 17, 3) and x[0, 0, 2] == pytest.approx(0.2) and x[0, 4, 2] == pytest.approx(0.2)
    assert prepare_keypoints(coco[:2], SIZE, "h36m", None, in_channels=3)[..., 2].min() == 1


def test_the_trained_input_layout_is_recorded_and_a_foreign_one_warned_once(checkpoint, cache, tmp_path, caplog):
    predictor = Predictor("hot-mixste", device="onnxruntime:cpu", weights=checkpoint, cache_dir=cache)
    assert predictor.input_layouts == ("h36m",)  # a checkpoint trained before layouts were recorded
    assert predictor.manifest.preprocessing["input_layouts"] == ["h36m"]
    with caplog.at_level("WARNING", logger="edgetokens.pose_predictor"):
        predictor.predict(pixels(10), SIZE, layout="coco")
        predictor.predict(pixels(10), SIZE, layout="coco")
        predictor.predict(pixels(10), SIZE, layout="h36m")
    assert [r.getMessage().count("not 'coco'") for r in caplog.records] == [1]

    from edgetokens.checkpoint import save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(create_model("hot-mixste", input_layouts=["h36m", "coco"]), tmp_path / "both")
    both = Predictor("hot-mixste", device="onnxruntime:cpu", weights=tmp_path / "both", cache_dir=cache)
    caplog.clear()
    with caplog.at_level("WARNING", logger="edgetokens.pose_predictor"):
        both.predict(pixels(10), SIZE, layout="coco")
    assert both.input_layouts == ("h36m", "coco") and not caplog.records
    with pytest.raises(ValueError, match="input_layouts"):
        create_model("hot-mixste", input_layouts=["openpose"])


def test_missing_joints_are_masked_through_scores(predictor):
    kp = pixels(20, seed=2)
    kp[5, 3] = np.nan
    kp[0:2, 7] = np.inf
    with pytest.raises(ValueError, match=r"NaN/inf at \(frame 0, joint 7\).*score 0"):
        predictor.predict(kp, SIZE)
    scores = np.ones((20, 17))
    scores[5, 3] = 0
    with pytest.raises(ValueError, match=r"\(frame 0, joint 7\), \(frame 1, joint 7\)"):
        predictor.predict(kp, SIZE, scores=scores)  # score 1 on an inf joint
    scores[0:2, 7] = 0
    result = predictor.predict(kp, SIZE, scores=scores)
    assert np.isfinite(result.poses_3d).all()
    x = prepare_keypoints(kp, SIZE, "h36m", scores, in_channels=3)
    normalised = normalize_screen_coordinates(kp, *SIZE)
    assert np.allclose(x[5, 3, :2], normalised[4, 3]) and x[5, 3, 2] == 0  # held from the previous frame
    assert np.allclose(x[0, 7, :2], normalised[2, 7]) and x[1, 7, 2] == 0  # leading gap: the next seen


@pytest.mark.parametrize("kwargs, match", [
    ({"keypoints": np.zeros((0, 17, 2))}, "zero frames"),
    ({"keypoints": np.zeros((5, 16, 2))}, "17 joints"),
    ({"keypoints": np.zeros((17, 2))}, r"\(T, 17, 2\)"),
    ({"image_size": (0, 100)}, "positive"),
    ({"image_size": (640, -1)}, "positive"),
    ({"image_size": 640}, "width, height"),
    ({"layout": "openpose"}, "layout must be one of h36m, coco"),
    ({"scores": np.ones((5, 16))}, "scores must have shape"),
    ({"scores": np.full((5, 17), np.nan)}, "scores must be finite"),
])
def test_bad_input_is_rejected_with_a_clear_message(predictor, kwargs, match):
    call = {"keypoints": pixels(5), "image_size": SIZE, **kwargs}
    with pytest.raises(ValueError, match=match):
        predictor.predict(**call)


def test_bundle_problems(predictor, checkpoint, cache, tmp_path):
    with pytest.raises(BundleError, match="no int8 artifact.*it has: fp32/onnx"):
        Predictor("hot-mixste", precision="int8", weights=checkpoint, cache_dir=cache)
    other = shutil.copytree(predictor.info.bundle, tmp_path / "depth")
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["task"] = "depth"
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="'depth' bundle.*PosePredictor .* needs a 'pose3d' bundle"):
        PosePredictor(other, cache_dir=cache)
    with pytest.raises(BundleError, match=r"takes input \[1, 81, 17, 2\]; the depth Predictor needs"):
        Predictor(other, cache_dir=cache)  # dispatched on the manifest's task; the graph is a lifter's
    with pytest.raises(DeviceUnavailableError, match="fallback='cpu'"):
        Predictor(predictor.info.bundle, device="npu", cache_dir=cache)
    with pytest.warns(RuntimeWarning, match="Falling back"):
        assert Predictor(predictor.info.bundle, device="npu", fallback="cpu", cache_dir=cache).device
    with pytest.raises(ValueError, match="no shipped weights for 'mixste-243'"):
        Predictor("mixste-243", cache_dir=cache)
    with pytest.raises(ValueError, match="model names: .*hot-mixste"):
        Predictor("no-such-model", cache_dir=cache)
    with pytest.raises(ValueError, match="is a 'hot-mixste' model, not 'mixste'"):
        Predictor("mixste", weights=checkpoint, cache_dir=cache)


def test_official_style_weight_files_load(checkpoint, tmp_path):
    model = create_model("hot-mixste", checkpoint=checkpoint).eval()
    state = {"model_pos": {f"module.{k}": v for k, v in model.state_dict().items()}}
    torch.save(state, tmp_path / "official.pth")
    again = create_model("hot-mixste", checkpoint=tmp_path / "official.pth").eval()
    x = torch.randn(1, 81, 17, 2)
    with torch.inference_mode():
        assert torch.allclose(again(x), model(x))


def test_concurrent_predict_calls_match_sequential(predictor):
    inputs = [pixels(60 + 30 * i, seed=10 + i) for i in range(4)]
    sequential = [predictor.predict(kp, SIZE).poses_3d for kp in inputs]
    results = [None] * 4
    errors = []

    def work(i):
        try:
            for _ in range(2):
                results[i] = predictor.predict(inputs[i], SIZE).poses_3d
        except Exception as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got, expected in zip(results, sequential):
        assert np.array_equal(got, expected)


def test_openvino_predict_is_thread_safe_too(predictor, cache):
    ov = Predictor(predictor.info.bundle, device="openvino:CPU", threads=1, cache_dir=cache)
    inputs = [pixels(81, seed=20 + i) for i in range(4)]
    sequential = [ov.predict(kp, SIZE).poses_3d for kp in inputs]
    results = [None] * 4
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, ov.predict(inputs[i], SIZE).poses_3d))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, expected in zip(results, sequential):
        assert np.array_equal(got, expected)


def test_stream_stride_answers_stride_pushes_per_run_with_a_fixed_delay(predictor):
    kp = pixels(86, seed=6)
    stride = 3
    stream = predictor.stream(SIZE, stride=stride)
    assert stream.delay == 2
    runs = []
    original = predictor.run_clips
    try:
        predictor.run_clips = lambda clips: runs.append(1) or original(clips)
        outputs = [stream.push(frame) for frame in kp]
    finally:
        del predictor.run_clips
    assert len(runs) == -(-86 // stride)  # one model run per `stride` pushes
    normalised = normalize_screen_coordinates(kp, *SIZE).astype(np.float32)

    def lifted(last: int) -> np.ndarray:  # root-relative poses of the causal window ending at `last`
        poses = predictor.run_clips(causal_window(normalised[:last + 1], 81)[None])[0]
        return poses - poses[:, :1]

    for t in (0, 1, 2, 3, 4, 40, 80, 81, 85):
        run_at = t - t % stride
        expected = lifted(run_at)[81 - stride + t - run_at]  # frame max(t - delay, 0)
        assert np.abs(outputs[t] - expected).max() < 1e-5, t
    # the end of the stream: frames 84 and 85 are still owed, from the window ending at 85
    owed = stream.flush()
    assert owed.shape == (2, 17, 3) and np.abs(owed - lifted(85)[-2:]).max() < 1e-5
    assert stream.frames_seen == 0 and len(stream.flush()) == 0
    stream.push(kp[0])
    assert len(stream.flush()) == 0  # one frame seen: push already returned it
    for bad in (0, 82, 1.5):
        with pytest.raises(ValueError, match="stride"):
            predictor.stream(SIZE, stride=bad)


def test_stream_equals_causal_window_predictions(predictor):
    kp = pixels(86, seed=5)  # more than one window: the ring buffer wraps
    stream = predictor.stream(SIZE)
    outputs = [stream.push(frame) for frame in kp]
    assert stream.frames_seen == 86 and stream.latency_ms > 0
    normalised = normalize_screen_coordinates(kp, *SIZE).astype(np.float32)
    for t in (0, 1, 40, 80, 81, 85):
        window = causal_window(normalised[:t + 1], 81)
        expected = predictor.run_clips(window[None])[0, -1]
        expected = expected - expected[0]
        assert np.abs(outputs[t] - expected).max() < 1e-5, t
        assert outputs[t].shape == (17, 3) and outputs[t][0].tolist() == [0, 0, 0]
    # a missing joint (score 0) holds its last position; without a score it is rejected
    frame = kp[-1].copy()
    frame[4] = np.nan
    with pytest.raises(ValueError, match="score 0"):
        stream.push(frame)
    scores = np.ones(17)
    scores[4] = 0
    assert np.isfinite(stream.push(frame, scores)).all()
    assert np.allclose(stream.window()[-1, 4], normalised[-1, 4])
    stream.reset()
    assert stream.frames_seen == 0


def test_predict_undoes_limb_swaps_unless_asked_not_to(predictor):
    kp = pixels(90, seed=4)
    left, right = H36M_LIMB_PAIRS[0]
    kp[:, list(left), 0] -= 80  # legs clearly apart
    kp[:, list(right), 0] += 80
    broken = kp.copy()
    broken[40:45, list(left) + list(right)] = kp[40:45, list(right) + list(left)]
    clean = predictor.predict(kp, SIZE).poses_3d
    np.testing.assert_allclose(predictor.predict(broken, SIZE).poses_3d, clean, atol=1e-5)
    raw = predictor.predict(broken, SIZE, repair_swaps=False).poses_3d
    assert np.abs(raw - clean).max() > 1e-3

"""BlazePose through ONNX Runtime: the converted graphs (runtimes.tflite_onnx) against the OpenVINO path
and MediaPipe's golden stills, device selection as for the lifters, and missing or damaged model files."""
import hashlib
import shutil

import cv2
import numpy as np
import pytest

from edgetokens.blazepose import (
    BLAZEPOSE_DIR,
    CHECKSUMS,
    DETECTOR_FILE,
    LANDMARK_FILE,
    BlazePose,
    golden_stills,
)
from edgetokens.keypoints2d.roi import roi_from_keypoints
from runtimes import BundleError, DeviceUnavailableError, devices
from runtimes.tflite_bundle import tflite_bundle
from runtimes.tflite_onnx import convert_tflite, same_pads

# Tolerances, ONNX Runtime vs OpenVINO (both CPU, fp32). Measured (docs/experiments/blazepose-backends.md):
# the landmark model alone on one region differs by at most 0.001 px; the whole pipeline by a median
# 0.002 px, p95 0.10 px, max 0.46 px, because the detector's last-digit differences move the region a
# little (most on the marginal frames). Both are float summation order, which other CPUs change too,
# hence wide margins; still far inside the 1.5 px the pipeline is allowed against MediaPipe.
SAME_REGION_MAX_PX = 0.05
PIPELINE_MEDIAN_PX, PIPELINE_P95_PX = 0.05, 1.0
# Raw outputs on a golden frame, relative to each output's largest magnitude: measured <= 1.4e-5, except
# 5.8e-4 on the segmentation logits (|logit| up to ~1200; tf2onnx's conversion of the landmark model gives
# the same ONNX Runtime outputs bit for bit, so that is the two runtimes' arithmetic, not the conversion).
RAW_RELATIVE = 1e-3


@pytest.fixture(scope="module")
def models(cache):
    return {name: BlazePose(name, cache_dir=cache) for name in ("onnxruntime:cpu", "openvino:CPU")}


@pytest.fixture(scope="module")
def stills(shared_dir):
    golden, frames = golden_stills(shared_dir)
    differ = [int(i) for i, f, md5 in zip(golden["still_frames"], frames, golden["still_frame_md5"])
              if hashlib.md5(f.tobytes()).hexdigest() != md5]
    if differ:
        pytest.skip(f"this OpenCV decodes frames {differ} to other pixels than the golden run did")
    return golden, frames


def test_converted_graphs_have_the_tflite_interface_and_outputs(models, stills):
    """All outputs (segmentation and world landmarks too, which the pipeline does not read)."""
    frame = cv2.cvtColor(stills[1][0], cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    for part, low in (("detector", -1.0), ("landmarker", 0.0)):
        ort, ov = getattr(models["onnxruntime:cpu"], part), getattr(models["openvino:CPU"], part)
        assert [s.shape for s in ort.inputs] == [s.shape for s in ov.inputs]
        size = ort.inputs[0].shape[1]
        x = (low + (1 - low) * cv2.resize(frame, (size, size)))[None]
        expected = {tuple(v.shape): v for v in ov.run(x).values()}
        got = ort.run(x)
        assert sorted(v.shape for v in got.values()) == sorted(expected)
        for name, value in got.items():
            reference = expected[value.shape]
            scale = max(float(np.abs(reference).max()), 1e-6)
            assert float(np.abs(value - reference).max()) <= RAW_RELATIVE * scale, (part, name)


def test_same_padding_is_tensorflows():
    assert same_pads([224, 224], [3, 3], [2, 2], [1, 1]) == [0, 0, 1, 1]  # the extra pixel goes at the end
    assert same_pads([28, 28], [3, 3], [1, 1], [1, 1]) == [1, 1, 1, 1]
    assert same_pads([8, 8], [2, 2], [2, 2], [1, 1]) == [0, 0, 0, 0]


def test_onnxruntime_matches_openvino_and_mediapipe_on_the_golden_stills(models, stills):
    golden, frames = stills
    width, height = golden["image_size"]
    ort, ov = models["onnxruntime:cpu"], models["openvino:CPU"]
    pipeline, same_region, to_mediapipe, disagreements = [], [], [], []
    for i, frame in enumerate(frames):
        (ort_found, ort_points, _), (ov_found, ov_points, _) = ort.landmarks(frame), ov.landmarks(frame)
        assert ort_found == ov_found, int(golden["still_frames"][i])
        if ort_found != bool(golden["still_found"][i]):
            people = ort.detect(frame)
            disagreements.append((int(golden["still_frames"][i]), people[0].score if people else None))
        if not ort_found:
            continue
        pipeline.append(np.linalg.norm(ort_points[:, :2] - ov_points[:, :2], axis=1))
        people = ov.detect(frame)
        roi = roi_from_keypoints(people[0].keypoints[0], people[0].keypoints[1], ov.roi_scale)
        same_region.append(float(np.abs(ort.landmarks_in(frame, roi)[1][:, :2] - ov.landmarks_in(frame, roi)[1][:, :2])
                                 .max()))
        if golden["still_found"][i]:
            reference = golden["still_landmarks"][i][:, :2] * [width, height]
            to_mediapipe.append(float(np.median(np.linalg.norm(ort_points[:, :2] - reference, axis=1))))
    pipeline = np.concatenate(pipeline)
    print(f"\nONNX Runtime vs OpenVINO on {len(frames)} stills: pipeline median {np.median(pipeline):.4f} px, p95 "
          f"{np.percentile(pipeline, 95):.4f} px, max {pipeline.max():.4f} px; same region max {max(same_region):.5f} "
          f"px; ONNX Runtime vs MediaPipe median {np.median(to_mediapipe):.3f} px, disagreements {disagreements}")
    assert max(same_region) <= SAME_REGION_MAX_PX
    assert np.median(pipeline) <= PIPELINE_MEDIAN_PX and np.percentile(pipeline, 95) <= PIPELINE_P95_PX
    # conformance through ONNX Runtime, with tests/test_blazepose.py's tolerances
    assert len(disagreements) <= 1 and all(s is not None and s < 0.6 for _, s in disagreements), disagreements
    assert np.median(to_mediapipe) <= 1.5


def test_device_strings_resolve_as_for_the_lifters(models, cache):
    assert models["onnxruntime:cpu"].device == "onnxruntime:cpu"
    assert models["openvino:CPU"].device == "openvino:CPU"
    assert models["onnxruntime:cpu"].detector.device == "onnxruntime:cpu"
    assert BlazePose("ort:cpu", cache_dir=cache).device == "onnxruntime:cpu"
    model = BlazePose("cpu", cache_dir=cache)  # the faster CPU backend, measured once per model file
    assert model.device in ("onnxruntime:cpu", "openvino:CPU") and model.detector.device == model.device
    assert model.landmarker.probe["choice"] == model.device
    fp16 = BlazePose("openvino:CPU", precision="fp16", cache_dir=cache)
    assert fp16.landmarker.precision == fp16.detector.precision == "fp16"
    with pytest.raises(DeviceUnavailableError, match="no artifact for onnxruntime:cpu"):
        BlazePose("onnxruntime:cpu", precision="fp16", cache_dir=cache)  # as the lifters: fp16 is OpenVINO's
    with pytest.raises(ValueError, match="say which backend"):
        BlazePose("cuda", cache_dir=cache)


@pytest.mark.filterwarnings("ignore:Specified provider:UserWarning")  # ONNX Runtime's: the provider is not there
def test_gpu_prefers_tensorrt_and_falls_back_only_when_asked(cache, monkeypatch):
    # A machine whose ONNX Runtime lists TensorRT, but whose TensorRT libraries do not load (as here).
    monkeypatch.setattr(devices, "onnxruntime_providers",
                        lambda: ["TensorrtExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(devices, "openvino_devices", lambda: ["CPU"])
    monkeypatch.setattr(devices, "torch_cuda_count", lambda: 0)
    with pytest.raises(DeviceUnavailableError, match="TensorrtExecutionProvider"):
        BlazePose("gpu", cache_dir=cache)
    with pytest.raises(DeviceUnavailableError, match="not available.*Available here"):
        BlazePose("npu", cache_dir=cache)
    with pytest.warns(RuntimeWarning, match="Falling back to device='openvino:CPU'"):
        model = BlazePose("onnxruntime:tensorrt", fallback="openvino:CPU", cache_dir=cache)
    assert model.device == model.detector.device == "openvino:CPU"


def copy_models(directory, checksums=False):
    directory.mkdir()
    for name in (DETECTOR_FILE, LANDMARK_FILE) + ((CHECKSUMS,) if checksums else ()):
        shutil.copyfile(BLAZEPOSE_DIR / name, directory / name)
    return directory


def test_a_missing_model_file_is_named(tmp_path, cache):
    model_dir = copy_models(tmp_path / "models")
    (model_dir / DETECTOR_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=f"{model_dir / DETECTOR_FILE} not found"):
        BlazePose(model_dir=model_dir, cache_dir=cache)
    with pytest.raises(FileNotFoundError, match="not found"):
        BlazePose(model_dir=tmp_path / "nowhere", cache_dir=cache)


def test_a_damaged_model_file_is_named(tmp_path, cache):
    shipped = copy_models(tmp_path / "shipped", checksums=True)  # as installed: SHA256SUMS beside the files
    data = bytearray((shipped / LANDMARK_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the weights would otherwise load silently
    (shipped / LANDMARK_FILE).write_bytes(bytes(data))
    with pytest.raises(BundleError, match=f"{shipped / LANDMARK_FILE} does not match its sha256"):
        BlazePose(model_dir=shipped, cache_dir=cache)
    own = copy_models(tmp_path / "own")  # a directory of the user's: no checksums, so the parser has to tell
    (own / LANDMARK_FILE).write_bytes((BLAZEPOSE_DIR / LANDMARK_FILE).read_bytes()[:100_000])
    with pytest.raises(BundleError, match=f"{own / LANDMARK_FILE} is corrupt or truncated"):
        BlazePose(model_dir=own, cache_dir=cache)
    (own / LANDMARK_FILE).write_bytes(b"<html>not a model</html>")
    with pytest.raises(BundleError, match=f"{own / LANDMARK_FILE} is not a TFLite model"):
        convert_tflite(own / LANDMARK_FILE)


def test_a_damaged_cache_entry_is_built_again(tmp_path, caplog):
    bundle = tflite_bundle(BLAZEPOSE_DIR / DETECTOR_FILE, tmp_path)
    converted = (bundle / "model.onnx").stat().st_mtime_ns
    assert tflite_bundle(BLAZEPOSE_DIR / DETECTOR_FILE, tmp_path) == bundle  # a hit: nothing converted again
    assert (bundle / "model.onnx").stat().st_mtime_ns == converted
    (bundle / "model.onnx").write_bytes(b"damaged")
    model = BlazePose("onnxruntime:cpu", cache_dir=tmp_path)
    assert "is damaged" in caplog.text and (bundle / "model.onnx").stat().st_size > 1_000_000
    assert model.detect(np.zeros((432, 768, 3), np.uint8)) == []

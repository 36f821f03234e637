"""`Predictor("ait-depth", ...)`: images in, metric depth at the input size out, on every CPU backend."""
import json

import cv2
import numpy as np
import pytest
import torch

from edgetokens import Predictor, create_model
from edgetokens.checkpoint import save_checkpoint
from edgetokens.depth import DepthPredictor
from edgetokens.pose_predictor import PosePredictor
from runtimes.manifest import read_manifest

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("ait-depth", image_size=64)
    model.vqvae.decoder[-1].bias.data.fill_(2.5)  # a random tokenizer would decode to ~0 m, clipped at 1 mm
    path = tmp_path_factory.mktemp("ait") / "ck"
    save_checkpoint(model, path, metrics={"epoch": 2, "rmse": 1.5}, data={"source": "scenes", "images_per_epoch": 10})
    return path


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.uniform(0, 255, (120, 160, 3)).astype(np.uint8), (9, 9), 3)


def test_every_backend_gives_the_same_depth_at_the_input_size(checkpoint, image, tmp_path):
    depths = {}
    for device in ("openvino:CPU", "onnxruntime:cpu", "torch:cpu"):
        predictor = Predictor(checkpoint, device=device, cache_dir=tmp_path)
        assert isinstance(predictor, DepthPredictor) and predictor.image_size == 64
        result = predictor.predict(image)
        assert result.depth.shape == (120, 160) and result.depth.dtype == np.float32
        assert result.device == device and result.timings_ms["total"] > 0
        depths[device] = result.depth
    assert depths["torch:cpu"].min() > 0.5 and depths["torch:cpu"].std() > 0
    for device, depth in depths.items():
        assert np.abs(depth - depths["torch:cpu"]).max() < 1e-3, device
    manifest = read_manifest(predictor.info.bundle)
    assert manifest.task == "depth" and manifest.inputs[0].shape == [1, 3, 64, 64]
    colour = result.colorize()
    assert colour.shape == (120, 160, 3) and colour.dtype == np.uint8


def test_image_forms_and_errors(checkpoint, image, tmp_path):
    predictor = Predictor(checkpoint, device="onnxruntime:cpu", cache_dir=tmp_path)
    reference = predictor.predict(image).depth
    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), image)
    assert np.allclose(predictor.predict(path).depth, reference, atol=1e-5)
    assert np.allclose(predictor.predict(image[..., ::-1].copy(), channels="rgb").depth, reference, atol=1e-5)
    bgra = np.concatenate([image, np.full(image.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    assert np.allclose(predictor.predict(bgra).depth, reference, atol=1e-5)
    assert predictor.predict(image[..., 0]).depth.shape == (120, 160)  # grayscale
    for bad, match in [(image.astype(np.float32), "must be uint8"), (image[:20, :20], "at least 32 pixels"),
                       (np.zeros((64, 64, 5), np.uint8), "must be"), (np.zeros((0, 0, 3), np.uint8), "at least")]:
        with pytest.raises(ValueError, match=match):
            predictor.predict(bad)
    with pytest.raises(FileNotFoundError, match="not found"):
        predictor.predict(tmp_path / "missing.png")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match="cannot decode"):
        predictor.predict(tmp_path / "notes.png")
    with pytest.raises(ValueError, match="channels"):
        predictor.predict(image, channels="bgra")


@pytest.mark.slow
def test_dispatch_by_task(checkpoint, hot_checkpoint, tmp_path):
    assert isinstance(Predictor(hot_checkpoint, cache_dir=tmp_path), PosePredictor)
    assert isinstance(Predictor(checkpoint, cache_dir=tmp_path), Predictor)
    with pytest.raises(ValueError, match="no shipped weights for 'ait-depth-480'"):
        Predictor("ait-depth-480", cache_dir=tmp_path)


def test_ptq_quantizes_a_depth_bundle_and_scores_every_artifact(checkpoint, image, tmp_path):
    from compression import ptq
    from compression.bundle import build_bundle

    fp32 = build_bundle(create_model(checkpoint=checkpoint), tmp_path / "fp32")
    args = ["--bundle", str(fp32), "--calibration-clips", "4", "--eval-sequences", "2", "--out", str(tmp_path / "q")]
    manifest = read_manifest(ptq.run(ptq.build_parser().parse_args(args)))
    assert set(manifest.artifacts["int8"]) == {"onnx", "openvino"}
    for fmt in ("onnx", "openvino"):
        fp32_row, int8_row = manifest.accuracy["fp32"][fmt], manifest.accuracy["int8"][fmt]
        assert fp32_row["images"] == int8_row["images"] == 2 and fp32_row["rmse"] > 0 and int8_row["rmse"] > 0
    depth = Predictor(tmp_path / "q", device="openvino:CPU", precision="int8", cache_dir=tmp_path).predict(image)
    assert depth.depth.shape == image.shape[:2] and np.isfinite(depth.depth).all()
    with pytest.raises(ValueError, match="--max-drop"):
        ptq.run(ptq.build_parser().parse_args([*args[:-1], str(tmp_path / "q2"), "--max-drop", "1"]))


def test_publish_a_depth_solver_records_soft_hard_and_real_frame_and_stores_half(checkpoint, tmp_path, monkeypatch):
    from safetensors import safe_open

    from edgetokens import zoo
    from training.publish import publish, results_table

    info = publish(checkpoint, "tiny-depth", None, seed=0, out_root=tmp_path / "weights")
    assert set(info["evaluation"]) == {"scenes", "scenes_hard", "rgbd_sample"}
    assert info["evaluation"]["scenes"]["images"] == 100 and info["parameter_dtype"] == "float16"
    assert info["evaluation"]["scenes"]["rmse"] != info["evaluation"]["scenes_hard"]["rmse"]
    with safe_open(str(tmp_path / "weights" / "tiny-depth" / "model.safetensors"), "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    assert "F16" in dtypes
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path / "weights")
    shipped = create_model("tiny-depth", pretrained=True).eval()
    original = create_model(checkpoint=checkpoint).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert all(p.dtype == torch.float32 for p in shipped.parameters())
        torch.testing.assert_close(shipped(x), original(x), rtol=0.05, atol=0.05)  # half-rounded weights
    assert f"| tiny-depth | {info['facts']['params'] / 1e6:.2f} M | {info['facts']['gflops']:.2f} | 2 (20) |" \
        in results_table()
    tokenizer = tmp_path / "vq"
    save_checkpoint(create_model("ait-depth-vqvae", image_size=64), tokenizer)
    with pytest.raises(ValueError, match="stage-1 tokenizer"):
        publish(tokenizer, "vq", None, seed=0, out_root=tmp_path / "weights")


def test_rescore_remeasures_a_shipped_card_and_leaves_the_weights(checkpoint, tmp_path):
    from training.publish import main, publish, rescore

    weights = tmp_path / "weights"
    info = publish(checkpoint, "tiny-depth", None, seed=0, out_root=weights)
    card, tensors = weights / "tiny-depth" / "config.json", weights / "tiny-depth" / "model.safetensors"
    before = tensors.read_bytes()
    stale = json.loads(card.read_text())
    stale["evaluation"]["scenes"]["rmse"] = 123.0  # a test definition changed since it was measured
    card.write_text(json.dumps(stale))
    again = rescore("tiny-depth", None, seed=0, out_root=weights)
    assert again["evaluation"] == info["evaluation"] and json.loads(card.read_text()) == again
    assert again["rescored_revision"] and again["trained_revision"] == info["trained_revision"]
    assert tensors.read_bytes() == before
    with pytest.raises(ValueError, match="no shipped default 'nothing'"):
        rescore("nothing", None, seed=0, out_root=weights)
    assert main(["--rescore", "no-such-model"]) == 2


def test_benchmark_times_a_depth_model_per_image_and_reports_its_rmse(checkpoint, tmp_path):
    import json

    from edgetokens import benchmark

    out = tmp_path / "bench.json"
    assert benchmark.main(["--models", "ait-depth", "--weights", f"ait-depth={checkpoint}", "--devices", "cpu",
                           "--precisions", "fp32", "--repeats", "2", "--warmup", "1", "--stream", "1",
                           "--cache-dir", str(tmp_path / "cache"), "--json", str(out)]) == 0
    rows = {r["device"]: r for r in json.loads(out.read_text())["rows"]}
    for row in rows.values():
        assert row["status"] == "ok" and row["fps"] == pytest.approx(1000 / row["p50_ms"])
        assert row["metric"] == "rmse" and row["accuracy"] == 1.5 and row["stream_fps"] is None
        assert row["gflops"] > 0

"""`Predictor(model, task=)` and the InstancePredictor: images of any size in, instances at that size out."""
import warnings

import cv2
import numpy as np
import pytest
import torch

from edgetokens import InstancePredictor, InstancesResult, Predictor, create_model
from edgetokens.checkpoint import save_checkpoint
from edgetokens.depth import DepthPredictor
from edgetokens.predictor import chosen_task
from edgetokens.resolve import task_of
from edgetokens.vision.coco_classes import COCO_CLASSES
from edgetokens.vision.image import normalize_image
from edgetokens.vision.instances import from_model_output
from edgetokens.vision.letterbox import letterbox_for
from runtimes import DeviceUnavailableError
from runtimes.devices import torch_cuda_count

torch.set_num_threads(1)

# a tiny joint model (instances + depth); 8 slots so that a random model finds some instances
TINY = dict(image_size=64, slots=8, d_model=32, heads=2, mlp_hidden=64, encoder_depth=1, decoder_depth=1,
            backbone="conv", backbone_widths=(8, 8, 16, 16, 32), vq_hidden_dim=4, vq_code_dim=16,
            mask_vq_hidden_dim=4, mask_vq_code_dim=16)


def tiny_joint_checkpoint(tmp_path_factory):
    """One seeded tiny `ait` checkpoint per session (test_cli_instances writes the same one: one export)."""
    path = tmp_path_factory.getbasetemp() / "ckpt-ait-tiny"
    if not path.is_dir():
        torch.manual_seed(0)
        model = create_model("ait", **TINY)
        model.vqvae.decoder[-1].bias.data.fill_(2.5)  # depth of a random tokenizer would be ~0 m
        save_checkpoint(model, path)
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_joint_checkpoint(tmp_path_factory)


@pytest.fixture(scope="module")
def predictor(checkpoint, cache):
    return Predictor(checkpoint, task="instances", cache_dir=cache)


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.uniform(0, 255, (120, 160, 3)).astype(np.uint8), (9, 9), 3)


def test_task_picks_the_predictor_of_a_joint_model(checkpoint, predictor, image, cache):
    assert isinstance(predictor, InstancePredictor) and predictor.task == "instances"
    assert predictor.device == "torch:cpu" and predictor.image_size == 64
    assert repr(predictor).startswith("InstancePredictor('ait', device='torch:cpu', precision='fp32'")
    depth = Predictor(checkpoint, task="depth", device="onnxruntime:cpu", cache_dir=cache)
    assert isinstance(depth, DepthPredictor) and depth.manifest.task == "depth"  # the exported depth graph
    assert depth.info.bundle == predictor.info.bundle  # one export serves both tasks
    assert depth.predict(image).depth.shape == (120, 160)
    depth.close()
    assert task_of(checkpoint) == task_of("ait") == "instances+depth"
    assert task_of("ait-instances") == "instances" and chosen_task("ait-depth", None, None) == "depth"
    assert chosen_task("ait-depth", None, "depth") == "depth" and chosen_task("ait", None, "depth") == "depth"


@pytest.mark.parametrize("model, task, match", [
    ("joint", None, r"serves instances and depth: pass task='instances' or task='depth'"),
    ("joint", "pose3d", r"serves instances and depth, not task='pose3d'"),
    ("ait-depth", "instances", r"ait-depth serves depth, not task='instances'"),
    ("hot-mixste", "depth", r"hot-mixste serves pose3d, not task='depth'"),
    ("ait-instances", "depth", r"serves instances, not task='depth'"),
])
def test_a_task_the_model_does_not_serve_is_refused(checkpoint, model, task, match):
    with pytest.raises(ValueError, match=match):
        Predictor(checkpoint if model == "joint" else model, task=task)


def test_a_subclass_refuses_another_task(checkpoint):
    with pytest.raises(ValueError, match="DepthPredictor serves 'depth', not task='instances'"):
        DepthPredictor(checkpoint, task="instances")


def test_predict_maps_the_letterboxed_model_output_back_to_the_image(predictor, image):
    seed, result = next((s, r) for s in range(20) if len(r := predictor.predict(image, min_score=0.0, seed=s)))
    assert isinstance(result, InstancesResult)
    n = len(result)
    assert result.boxes.shape == (n, 4) and result.boxes.dtype == np.float32
    assert result.masks.shape == (n, 120, 160) and result.masks.dtype == bool
    assert result.class_ids.dtype == np.int64 and ((result.class_ids >= 0) & (result.class_ids < 80)).all()
    assert result.names == [COCO_CLASSES[i] for i in result.class_ids]
    assert ((result.scores >= 0) & (result.scores <= 1)).all()
    x1, y1, x2, y2 = result.boxes.T
    assert (x1 >= 0).all() and (y1 >= 0).all() and (x2 <= 160).all() and (y2 <= 120).all()
    assert (x2 > x1).all() and (y2 > y1).all()
    assert set(result.timings_ms) == {"preprocess", "inference", "postprocess", "total"}
    assert result.device == "torch:cpu" and result.execution_devices == ["CPU"]
    assert predictor.first_inference_ms is not None
    # the same as letterbox -> normalise -> model.instances -> from_model_output by hand
    box = letterbox_for(120, 160, 64)
    x = torch.from_numpy(normalize_image(box.image(np.ascontiguousarray(image[..., ::-1])))[None])
    parsed = predictor.model.instances(x, seed=seed)[0]
    by_hand = from_model_output(parsed, parsed["mask_probs"], (120, 160), scale=box.scale)
    np.testing.assert_allclose(result.boxes, by_hand.boxes)
    np.testing.assert_array_equal(result.masks, by_hand.masks)
    again = predictor.predict(image, min_score=0.0, seed=seed)  # seeded: repeatable
    np.testing.assert_array_equal(again.boxes, result.boxes)
    kept = predictor.predict(image, min_score=float(np.median(result.scores)), seed=seed)
    assert (kept.scores >= np.median(result.scores)).all() and len(kept) <= n


def test_grayscale_bgra_rgb_and_paths(predictor, image, tmp_path):
    reference = predictor.predict(image, min_score=0.0)
    bgra = np.concatenate([image, np.full(image.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    np.testing.assert_array_equal(predictor.predict(bgra, min_score=0.0).boxes, reference.boxes)
    np.testing.assert_array_equal(predictor.predict(image[..., ::-1].copy(), min_score=0.0, channels="rgb").boxes,
                                  reference.boxes)
    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), image)
    np.testing.assert_array_equal(predictor.predict(path, min_score=0.0).boxes, reference.boxes)
    gray = predictor.predict(image[..., 0], min_score=0.0)
    assert gray.masks.shape == (len(gray), 120, 160)
    tall = predictor.predict(np.ascontiguousarray(image.transpose(1, 0, 2)), min_score=0.0)
    assert tall.masks.shape[1:] == (160, 120) and (tall.boxes[:, 2] <= 120).all() and (tall.boxes[:, 3] <= 160).all()


def test_no_instance_is_an_empty_result(predictor, image):
    result = predictor.predict(image, min_score=1.1)
    assert len(result) == 0 and result.masks.shape == (0, 120, 160) and result.boxes.shape == (0, 4)
    assert result.names == [] and result.to_coco(0) == []
    assert result.plot(image).shape == image.shape


@pytest.mark.parametrize("device", ["gpu", "npu"])
def test_an_absent_accelerator_is_refused(checkpoint, cache, device, monkeypatch):
    from runtimes import devices
    monkeypatch.setattr(devices, "openvino_devices", lambda: ["CPU"])
    monkeypatch.setattr(devices, "onnxruntime_providers", lambda: ["CPUExecutionProvider"])
    monkeypatch.setattr(devices, "torch_cuda_count", lambda: 0)
    with pytest.raises(DeviceUnavailableError, match=f"device '{device}' is not available"):
        Predictor(checkpoint, task="instances", device=device, cache_dir=cache)


def test_fallback_precision_backend_and_argument_errors(checkpoint, predictor, image, cache):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fallen = Predictor(checkpoint, task="instances", device="openvino:NPU", fallback="cpu", cache_dir=cache)
    assert fallen.device in ("onnxruntime:cpu", "openvino:CPU")  # the exported graphs on the CPU
    assert [w.category for w in caught] == [RuntimeWarning] and "Falling back to device='cpu'" in str(caught[0].message)
    for precision, device, match in (("int8", "cpu", "runs at fp32 in torch"), ("fp16", "cpu", "runs at fp32 in torch"),
                                     ("int8", "onnxruntime:cpu", "graphs are OpenVINO IR"),
                                     ("fp16", "ort:cpu", "graphs are OpenVINO IR")):
        with pytest.raises(ValueError, match=match):
            Predictor(checkpoint, task="instances", precision=precision, device=device, cache_dir=cache)
    with pytest.raises(ValueError, match="unknown device"):
        Predictor(checkpoint, task="instances", device="tpu", cache_dir=cache)
    if torch_cuda_count() == 0:
        with pytest.raises(DeviceUnavailableError, match="torch sees 0 CUDA"):
            Predictor(checkpoint, task="instances", device="torch:cuda:0", cache_dir=cache)
    for kwargs, match in [({"min_score": -0.1}, "min_score"), ({"min_score": float("nan")}, "min_score"),
                          ({"top_p": 1.5}, "top_p"), ({"seed": 0.5}, "seed")]:
        with pytest.raises(ValueError, match=match):
            predictor.predict(image, **kwargs)
    with pytest.raises(ValueError, match="must be uint8"):
        predictor.predict(image.astype(np.float32))
    timed = predictor.timed_calls()
    assert list(timed) == [""] and isinstance(timed[""](), list)


def test_torch_cuda_decodes_like_the_cpu_or_is_refused_by_name(checkpoint, predictor, image, cache):
    """On a CUDA machine torch:cuda:0 decodes as the CPU does; without one the request is a clear error."""
    if torch_cuda_count() == 0:
        with pytest.raises(DeviceUnavailableError, match="torch sees 0 CUDA device"):
            Predictor(checkpoint, task="instances", device="torch:cuda:0", cache_dir=cache)
        return
    gpu = Predictor(checkpoint, task="instances", device="torch:cuda:0", cache_dir=cache)
    assert gpu.device == "torch:cuda:0"
    result, reference = gpu.predict(image, min_score=0.0, top_p=0.0), predictor.predict(image, min_score=0.0, top_p=0.0)
    assert len(result) == len(reference)
    np.testing.assert_allclose(result.boxes, reference.boxes, atol=1.0)

"""InstancePredictor on the exported decoder graphs: ONNX Runtime, OpenVINO, and the NPU (a faked device list)."""
import numpy as np
import pytest
import torch

from edgetokens import Predictor
from runtimes import devices, openvino_session
from test_instances_predictor import tiny_joint_checkpoint

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_joint_checkpoint(tmp_path_factory)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).uniform(0, 255, (120, 160, 3)).astype(np.uint8)


@pytest.fixture(scope="module")
def reference(checkpoint, cache, image):
    return Predictor(checkpoint, task="instances", device="torch:cpu", cache_dir=cache).predict(
        image, min_score=0.0, top_p=0.0)


@pytest.mark.parametrize("device", ["onnxruntime:cpu", "openvino:CPU"])
def test_exported_backends_predict_the_torch_instances(checkpoint, cache, image, reference, device):
    predictor = Predictor(checkpoint, task="instances", device=device, threads=1, cache_dir=cache)
    assert predictor.device == device and predictor.decoder is not None
    result = predictor.predict(image, min_score=0.0, top_p=0.0)
    assert result.device == device and len(result) == len(reference)
    x = np.random.default_rng(2).standard_normal((1, 3, 64, 64)).astype(np.float32)
    logits, ids = predictor.decoder.decode(x)
    reference_logits, reference_ids = predictor.model.generate_instances(torch.from_numpy(x), top_p=0.0)
    assert torch.equal(ids, reference_ids)  # the same tokens as the torch reference
    parsed = predictor.model.parse_instances(logits, ids)[0]
    np.testing.assert_allclose(parsed["scores"], predictor.model.parse_instances(reference_logits, reference_ids)[0]
                               ["scores"], atol=1e-4)
    np.testing.assert_array_equal(result.boxes, reference.boxes)  # the same tokens
    np.testing.assert_array_equal(result.class_ids, reference.class_ids)
    np.testing.assert_allclose(result.scores, reference.scores, atol=1e-4)
    assert result.masks.shape == reference.masks.shape and (result.masks != reference.masks).sum() <= 0.001 * result.masks.size  # soft masks from logits equal within 1e-4
    with pytest.raises(ValueError, match=r"top_p"):
        predictor.predict(image, top_p=1.5)


def test_int8_on_openvino_decodes_on_nncf_graphs_exported_once(checkpoint, cache, image, reference):
    predictor = Predictor(checkpoint, task="instances", device="openvino:CPU", precision="int8", threads=1,
                          cache_dir=cache)
    assert predictor.session.precision == predictor.decoder.prefill.precision == "int8"
    assert len(list((cache / "bundles").glob("*-decoder*-int8"))) == 1  # beside the fp32 decoder bundle
    result = predictor.predict(image, min_score=0.0, top_p=0.0)
    assert result.masks.shape[1:] == image.shape[:2] and len(result) <= len(reference) + 3


def test_npu_compiles_the_static_graphs(checkpoint, cache, image, reference, monkeypatch):
    import openvino as ov

    compiled = []

    class FakeCore:
        def __init__(self):
            self.core = ov.Core()

        def read_model(self, path):
            return self.core.read_model(path)

        def get_property(self, device, name):
            raise RuntimeError("not a real device")

        def compile_model(self, model, device, config):
            assert all(p.get_partial_shape().is_static for p in model.inputs)  # what an NPU needs
            compiled.append(device)
            return self.core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

    monkeypatch.setattr(devices, "openvino_devices", lambda: ["CPU", "NPU"])
    monkeypatch.setattr(openvino_session, "create_core", FakeCore)
    predictor = Predictor(checkpoint, task="instances", device="npu", cache_dir=cache)
    assert predictor.device == "openvino:NPU" and compiled == ["NPU", "NPU"]  # step and prefill
    np.testing.assert_array_equal(predictor.predict(image, min_score=0.0, top_p=0.0).boxes, reference.boxes)


def test_slots_and_early_stop_reach_every_backend(checkpoint, cache, image):
    torch_predictor = Predictor(checkpoint, task="instances", device="torch:cpu", cache_dir=cache)
    exported = Predictor(checkpoint, task="instances", device="onnxruntime:cpu", threads=1, cache_dir=cache)
    for predictor in (torch_predictor, exported):
        full = predictor.predict(image, min_score=0.0, top_p=0.0)
        two = predictor.predict(image, min_score=0.0, top_p=0.0, slots=2)
        assert len(two) <= 2 and len(full) <= 8
        stopped = predictor.predict(image, min_score=0.0, top_p=0.0, early_stop=True)
        assert len(stopped) <= len(full)
        for bad, match in (({"slots": 0}, "slots must be an integer in 1 .. 8"), ({"early_stop": "yes"}, "early_stop")):
            with pytest.raises(ValueError, match=match):
                predictor.predict(image, **bad)
    np.testing.assert_array_equal(torch_predictor.predict(image, min_score=0.0, top_p=0.0, slots=3).boxes,
                                  exported.predict(image, min_score=0.0, top_p=0.0, slots=3).boxes)

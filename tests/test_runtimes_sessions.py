"""Real CPU sessions of all three backends on one small bundle; NPU selection with a faked OpenVINO."""
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from edgetokens import create_model
from edgetokens.resolve import export_checkpoint
from runtimes import BundleError, DeviceUnavailableError, devices, load, open_session, openvino_session
from runtimes.manifest import read_manifest


@pytest.fixture(scope="module")
def bundle(hot_checkpoint, cache) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info, _ = export_checkpoint("hot-mixste", hot_checkpoint, cache, need_torch=False)
    return info.bundle


@pytest.fixture(autouse=True)
def cache_env(monkeypatch, cache):
    monkeypatch.setenv("EDGETOKENS_CACHE", str(cache))


def clips(n=1, seed=0):
    return np.random.default_rng(seed).normal(0, 0.3, (n, 81, 17, 2)).astype(np.float32)


def test_three_backends_agree_on_cpu(bundle, cache, hot_checkpoint):
    model = create_model(checkpoint=hot_checkpoint)
    outs = {}
    for device in ("torch:cpu", "onnxruntime:cpu", "openvino:CPU"):
        session = open_session(bundle, device, threads=2, cache_dir=cache, torch_model=model)
        assert session.device == device and session.execution_devices
        assert [s.name for s in session.outputs] == ["poses_3d", "keep_index"]
        outs[device] = session.run({"keypoints": clips()})
    ref = outs["torch:cpu"]
    for device, out in outs.items():
        assert out["poses_3d"].shape == (1, 81, 17, 3)
        assert np.abs(out["poses_3d"] - ref["poses_3d"]).max() < 1e-3, device
        assert np.array_equal(out["keep_index"], ref["keep_index"]), device


def test_cpu_choice_is_measured_then_cached(bundle, cache, monkeypatch):
    probes = list((cache / "probes").glob("*.json")) if (cache / "probes").exists() else []
    for p in probes:
        p.unlink()
    session = open_session(bundle, "cpu", threads=1, cache_dir=cache)
    assert set(session.probe["p50_ms"]) == {"onnxruntime:cpu", "openvino:CPU"}
    assert session.device == session.probe["choice"] == min(session.probe["p50_ms"], key=session.probe["p50_ms"].get)

    def no_probe(*args, **kwargs):
        raise AssertionError("the cached choice should have been used")

    monkeypatch.setattr(load, "time_side_by_side", no_probe)
    again = open_session(bundle, "cpu", threads=1, cache_dir=cache)
    assert again.device == session.device
    # compiled-model cache: keyed by bundle hash, device and OpenVINO version
    compiled = list((cache / "openvino").glob("*CPU*"))
    assert compiled and any(any(d.iterdir()) for d in compiled)


def test_npu_selection_compiles_static_with_latency_and_cache(bundle, cache, monkeypatch):
    """With an NPU listed, `npu` compiles the IR for 'NPU' with the LATENCY hint and a CACHE_DIR.
    The fake Core compiles on the CPU instead and reports EXECUTION_DEVICES as the NPU would."""
    import openvino as ov

    calls = []

    class FakeCompiled:
        def __init__(self, real):
            self.real, self.inputs, self.outputs = real, real.inputs, real.outputs

        def get_property(self, name):
            return ["NPU"] if name == "EXECUTION_DEVICES" else self.real.get_property(name)

        def create_infer_request(self):
            return self.real.create_infer_request()

    class FakeCore:
        def __init__(self):
            self.core = ov.Core()

        def read_model(self, path):
            return self.core.read_model(path)

        def compile_model(self, model, device, config):
            calls.append((device, dict(config), [str(p.get_partial_shape()) for p in model.inputs]))
            return FakeCompiled(self.core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"}))

    monkeypatch.setattr(devices, "openvino_devices", lambda: ["CPU", "NPU"])
    monkeypatch.setattr(openvino_session, "create_core", FakeCore)
    session = open_session(bundle, "npu", precision="fp16", cache_dir=cache)
    assert session.device == "openvino:NPU" and session.execution_devices == ["NPU"]
    device, config, shapes = calls[-1]
    # the bundle's static input shape, exactly as its manifest records it (no -1 / "?" axis left)
    assert device == "NPU" and shapes == [str(s.shape).replace(" ", "") for s in read_manifest(bundle).inputs]
    assert shapes == ["[1,81,17,2]"]
    assert config["PERFORMANCE_HINT"] == "LATENCY"
    assert Path(config["CACHE_DIR"]).is_relative_to(cache) and "NPU" in config["CACHE_DIR"]
    assert session.run(clips())["poses_3d"].shape == (1, 81, 17, 3)


def test_npu_fixes_dynamic_axes_to_one_before_compiling(tmp_path, monkeypatch):
    """An IR with a dynamic batch compiles for the NPU with batch 1 (the NPU takes only static shapes);
    the CPU keeps the dynamic axis."""
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter(ov.PartialShape([-1, 81, 17, 2]), np.float32, name="keypoints")
    path = tmp_path / "dynamic.xml"
    ov.save_model(ov.Model([ops.relu(x)], [x], "dynamic"), path)
    compiled_shapes = {}

    class FakeCore:
        def __init__(self):
            self.core = ov.Core()

        def read_model(self, model_path):
            return self.core.read_model(model_path)

        def get_property(self, device, name):
            raise RuntimeError("not a real device")

        def compile_model(self, model, device, config):
            compiled_shapes[device] = [str(p.get_partial_shape()) for p in model.inputs]
            return self.core.compile_model(model, "CPU", {})

    monkeypatch.setattr(openvino_session, "create_core", FakeCore)
    for target in ("NPU", "CPU"):
        session = openvino_session.OpenVINOSession(path, target)
        assert session.run({"keypoints": np.ones((1, 81, 17, 2), np.float32)})
    assert compiled_shapes == {"NPU": ["[1,81,17,2]"], "CPU": ["[?,81,17,2]"]}
    assert session.inputs[0].shape == [-1, 81, 17, 2]


def test_compiled_cache_keeps_one_blob_per_precision_hint(bundle, cache, monkeypatch):
    """OpenVINO's blob key leaves the hint out: each hint needs its own cache folder.

    The two hints are f32 and the CPU's own 16-bit one (an AMD Zen 5 maps f16 to bf16, so f16 and
    bf16 can compile to the same thing).
    """
    import openvino as ov

    half = openvino_session.cpu_half_hint(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    outputs = {}
    for hint in (half, "f32", half):
        monkeypatch.setattr(openvino_session, "cpu_half_hint", lambda caps, h=hint: h)
        session = open_session(bundle, "openvino:CPU", precision="fp16", cache_dir=cache)
        assert Path(session.config["CACHE_DIR"]).name == hint
        outputs.setdefault(hint, []).append(session.run(clips())["poses_3d"])
    assert any(Path(session.config["CACHE_DIR"]).with_name(half).glob("*.blob"))
    assert any(Path(session.config["CACHE_DIR"]).with_name("f32").glob("*.blob"))
    if half != "f32":  # a CPU with a 16-bit format: the f32 session did not get its blob
        assert not np.array_equal(outputs[half][0], outputs["f32"][0])
    assert np.array_equal(outputs[half][0], outputs[half][1])


def test_fallback_warns_and_unavailable_raises(bundle, cache):
    with pytest.raises(DeviceUnavailableError, match="Available here: .*openvino:CPU"):
        open_session(bundle, "npu", cache_dir=cache)
    with pytest.warns(RuntimeWarning, match="Falling back to device='cpu'"):
        session = open_session(bundle, "gpu", fallback="cpu", cache_dir=cache)
    assert session.device in ("onnxruntime:cpu", "openvino:CPU")


def test_missing_precision_lists_what_the_bundle_has(bundle, cache):
    with pytest.raises(BundleError, match="no int8 artifact.*fp32/onnx, fp32/openvino, fp16/openvino"):
        open_session(bundle, "cpu", precision="int8", cache_dir=cache)
    # fp16 exists only as IR: cpu resolves to OpenVINO without a probe, explicit ORT is refused
    half = open_session(bundle, "cpu", precision="fp16", cache_dir=cache)
    assert half.device == "openvino:CPU"
    import openvino as ov

    expected = openvino_session.cpu_half_hint(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    assert half.config["INFERENCE_PRECISION_HINT"] == expected  # bf16 on this project's AMX VM
    with pytest.raises(DeviceUnavailableError, match="no artifact for onnxruntime:cpu"):
        open_session(bundle, "onnxruntime:cpu", precision="fp16", cache_dir=cache)


def test_tampered_bundle_and_bare_artifacts(bundle, cache, tmp_path):
    copy = shutil.copytree(bundle, tmp_path / "tampered")
    data = bytearray((copy / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="does not match its sha256"):
        open_session(copy, "onnxruntime:cpu", cache_dir=cache)
    # a bare .onnx / .xml loads with what its graph says
    onnx_session = open_session(bundle / "model.onnx", "cpu", cache_dir=cache)
    assert onnx_session.device == "onnxruntime:cpu" and onnx_session.inputs[0].shape == [1, 81, 17, 2]
    xml = bundle / read_manifest(bundle).artifact("fp32", "openvino")
    assert open_session(xml, "cpu", cache_dir=cache).device == "openvino:CPU"
    with pytest.raises(ValueError, match="must have shape"):
        onnx_session.run(np.zeros((2, 81, 17, 2), np.float32))
    with pytest.raises(BundleError, match="neither a bundle"):
        open_session(tmp_path / "nothing.bin", "cpu")


def test_profile_sums_layer_times_by_type(bundle, capsys):
    from runtimes import profile

    xml = str(bundle / read_manifest(bundle).artifact("fp32", "openvino"))
    result = profile.profile(xml, threads=1, repeats=3)
    assert result["p50_ms"] > 0 and result["nodes"] > 10
    assert any(node_type == "FullyConnected" for node_type, _ in result["by_type"])
    assert sum(ms for ms, _ in result["by_type"].values()) > 0
    assert profile.main([xml, "--threads", "1", "--repeats", "2", "--top", "3", "--hints", "f32,bf16"]) == 0
    out = capsys.readouterr().out
    assert "[f32]: p50" in out and "[bf16]: p50" in out
    assert profile.main(["missing.xml"]) == 2

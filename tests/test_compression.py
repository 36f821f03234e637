"""Compression: QAT and PTQ to INT8 bundles, manifests, and their errors."""
import json
import logging
import shutil

import numpy as np
import onnx
import pytest
import torch

from compression import ptq, qat, scope_study
from compression.calibration import calibration_clips
from edgetokens import create_model
from edgetokens.checkpoint import save_checkpoint
from edgetokens.models.hot.layers import SeparateQKV
from runtimes.manifest import BundleError, read_manifest
from training.data.clips import build_sources

TINY = dict(frames=27, embed_dim=32, mlp_hidden=64, depth=4, heads=4, token_num=9, layer_index=1)
QUICK = ["--data", "synthetic", "--calibration-clips", "8", "--eval-sequences", "1", "--threads", "1"]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ck") / "tiny"
    save_checkpoint(create_model("hot-mixste", **TINY), path)
    return path


@pytest.fixture(scope="module")
def qat_bundle(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("qat") / "bundle"
    table = qat.run(qat.build_parser().parse_args(
        ["--checkpoint", str(tiny_checkpoint), *QUICK, "--epochs", "1", "--clips-per-epoch", "16",
         "--lr", "1e-4", "--out", str(out), "--publish"]))
    return out, table


@pytest.mark.slow
def test_qat_writes_int8_artifacts_that_onnxruntime_and_openvino_run(qat_bundle):
    out, table = qat_bundle
    manifest = read_manifest(out)
    assert manifest.precisions() == ["fp32", "fp16", "int8"]
    ops = {n.op_type for n in onnx.load(str(out / manifest.artifact("int8", "onnx"))).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and "FakeQuantize" not in ops
    import openvino as ov

    ir = ov.Core().read_model(str(out / manifest.artifact("int8", "openvino")))
    assert list(ir.inputs[0].get_partial_shape().to_shape()) == [1, 27, 17, 2]  # static, NPU-ready
    int8 = manifest.accuracy["int8"]
    # both INT8 artifacts reproduce the QAT torch model's accuracy
    for fmt in ("onnx", "openvino"):
        assert abs(int8[fmt]["mpjpe_mm"] - table["qat"]["mpjpe_mm"]) < 0.02 * table["qat"]["mpjpe_mm"]
    assert set(table) == {"fp32", "ptq_init", "qat"}
    assert manifest.source["quantization"]["method"] == "nncf-qat"


def test_default_scope_keeps_attention_maths_float_and_linears_int8(qat_bundle):
    out, _ = qat_bundle
    state = json.loads((out.with_name(out.name + ".qat") / "nncf_config.json").read_text())
    hooks = [h for part in state["compression_state"] for h in part.get("hook_names_in_model", ())]
    # q, k and v are quantized as three Linears (`SeparateQKV`), each INT8
    assert all(any(f"attn/qkv/{p}/linear" in h for h in hooks) for p in "qkv")
    assert any("attn/proj/linear" in h for h in hooks)
    assert not any(f"{m}/{op}" in h for h in hooks for m in ("attn", "recovery") for op in ("matmul", "softmax"))
    manifest = read_manifest(out)
    graph = onnx.load(str(out / manifest.artifact("int8", "onnx"))).graph
    producers = {o: n for n in graph.node for o in n.output}
    for node in graph.node:  # the attention score and value products take float inputs
        if node.op_type == "MatMul" and ("/attn/MatMul" in node.name or node.name.endswith("/recovery/MatMul")):
            assert all(producers[i].op_type != "DequantizeLinear" for i in node.input if i in producers), node.name
    projections = [n for n in graph.node if n.op_type == "MatMul" and "/attn/qkv/" in n.name]
    assert len(projections) >= 3  # q, k, v of each self-attention block
    for node in projections:
        assert any(producers[i].op_type == "DequantizeLinear" for i in node.input if i in producers)


def test_qat_checkpoint_resumes_without_pickles(qat_bundle, tiny_checkpoint):
    out, _ = qat_bundle
    qat_dir = out.with_name(out.name + ".qat")
    assert (qat_dir / "nncf_config.json").is_file() and (qat_dir / "model.safetensors").is_file()
    restored, info = qat.load_qat_checkpoint(qat_dir)
    assert info["qat"]["epoch"] == 1
    x = torch.randn(1, 27, 17, 2)
    restored.eval()
    again, _ = qat.load_qat_checkpoint(qat_dir)
    with torch.no_grad():
        assert torch.equal(restored(x), again.eval()(x))
    float_model = create_model(checkpoint=tiny_checkpoint)
    with torch.no_grad():
        assert not torch.equal(restored(x), float_model.eval()(x))  # it is the quantized model


@pytest.mark.slow
def test_qat_resume_continues_the_training_loop_from_its_checkpoint(qat_bundle, tiny_checkpoint, tmp_path):
    out, table = qat_bundle
    qat_dir = out.with_name(out.name + ".qat")
    assert (qat_dir / "training_state.pt").is_file()  # the shared loop's optimizer state, for --resume
    assert not (tiny_checkpoint / "int8" / "training_state.pt").exists()  # --publish ships the QAT state only
    shutil.copytree(qat_dir, tmp_path / "again.qat")
    resumed = qat.run(qat.build_parser().parse_args(
        ["--checkpoint", str(tiny_checkpoint), *QUICK, "--epochs", "2", "--clips-per-epoch", "16", "--lr", "1e-4",
         "--out", str(tmp_path / "again"), "--resume"]))
    state = torch.load(tmp_path / "again.qat" / "training_state.pt", weights_only=True)
    assert state["epoch"] == 1 and [r["epoch"] for r in state["history"]] == [1, 2]
    assert resumed["qat"]["epoch"] == 2 and resumed["ptq_init"] == table["ptq_init"]
    assert read_manifest(tmp_path / "again").source["quantization"]["table"]["qat"]["epoch"] == 2


def test_qat_state_with_the_fused_qkv_still_loads(tiny_checkpoint, tmp_path):
    """States saved before `SeparateQKV` quantized one fused qkv Linear; they load as they were."""
    import nncf

    model = create_model(checkpoint=tiny_checkpoint)
    x = torch.randn(1, 27, 17, 2)
    fused = nncf.quantize(qat.without_stochastic_depth(model.eval()), nncf.Dataset([x]),
                          model_type=nncf.ModelType.TRANSFORMER, subset_size=1)
    saved = qat.save_qat_checkpoint(fused, tmp_path / "fused")
    restored, info = qat.load_qat_checkpoint(saved)
    assert info["separate_qkv"] is False
    assert not any(isinstance(m, SeparateQKV) for m in restored.modules())
    with torch.no_grad():
        assert torch.equal(restored.eval()(x), fused(x))


@pytest.mark.slow
def test_published_qat_state_gives_the_predictor_int8_offline(qat_bundle, tiny_checkpoint, tmp_path):
    from edgetokens import Predictor

    out, _ = qat_bundle
    state = tiny_checkpoint / "int8"
    assert (state / "nncf_config.json").is_file()  # --publish stored it beside the float checkpoint
    x = np.random.default_rng(0).uniform(100, 900, (27, 17, 2))
    shipped = Predictor(tiny_checkpoint, precision="int8", backend="openvino", cache_dir=tmp_path)
    assert shipped.info.bundle.name.endswith("-int8") and "int8" in read_manifest(shipped.info.bundle).precisions()
    assert shipped.info.metrics_source.startswith("QAT")  # its recorded accuracy is the QAT one, not FP32
    assert shipped.info.metrics["mpjpe_mm"] == pytest.approx(qat_bundle[1]["qat"]["mpjpe_mm"])
    from_bundle = Predictor(out, precision="int8", backend="openvino", cache_dir=tmp_path)
    got = shipped.predict(x, image_size=(1000, 1000)).poses_3d
    assert np.abs(got - from_bundle.predict(x, image_size=(1000, 1000)).poses_3d).max() < 1e-4
    fp32 = Predictor(tiny_checkpoint, backend="openvino", cache_dir=tmp_path)
    assert fp32.info.bundle != shipped.info.bundle and not np.array_equal(fp32.predict(x, (1000, 1000)).poses_3d, got)
    bare = tmp_path / "bare"
    save_checkpoint(create_model("hot-mixste", **TINY), bare)
    with pytest.raises(BundleError, match="no INT8 \\(QAT\\) state.*compression.qat"):
        Predictor(bare, precision="int8", cache_dir=tmp_path)


def test_existing_output_is_refused(qat_bundle, tiny_checkpoint):
    out, _ = qat_bundle
    with pytest.raises(FileExistsError, match="--overwrite"):
        qat.run(qat.build_parser().parse_args(["--checkpoint", str(tiny_checkpoint), *QUICK, "--out", str(out)]))


@pytest.mark.slow
def test_ptq_on_exported_graphs(qat_bundle, tmp_path):
    out, _ = qat_bundle
    target = tmp_path / "ptq"
    ptq.run(ptq.build_parser().parse_args(["--bundle", str(out), *QUICK[:-2], "--out", str(target)]))
    manifest = read_manifest(target)
    assert set(manifest.artifacts["int8"]) == {"onnx", "openvino"}
    assert manifest.source["quantization"]["method"] == "nncf-ptq"
    fp32 = manifest.accuracy["fp32"]["onnx"]["mpjpe_mm"]
    for fmt in ("onnx", "openvino"):
        assert np.isfinite(manifest.accuracy["int8"][fmt]["mpjpe_mm"])
        assert manifest.accuracy["int8"][fmt]["mpjpe_mm"] < 1.5 * fp32


def test_tampered_and_newer_bundles_are_refused(qat_bundle, tmp_path):
    out, _ = qat_bundle
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    onnx_file = copy / "model.onnx"
    data = bytearray(onnx_file.read_bytes())
    data[-10] ^= 0xFF
    onnx_file.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model.onnx does not match its sha256"):
        read_manifest(copy)
    shutil.copy(out / "model.onnx", onnx_file)
    raw = json.loads((copy / "manifest.json").read_text())
    raw["format_version"] = 99
    (copy / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="format version 99"):
        read_manifest(copy)


def test_unknown_or_missing_precision_lists_what_the_bundle_has(qat_bundle):
    manifest = read_manifest(qat_bundle[0])
    with pytest.raises(BundleError, match="unknown precision 'int4'"):
        manifest.artifact("int4", "onnx")
    with pytest.raises(BundleError, match="has: fp32/onnx, fp32/openvino, fp16/openvino, int8/onnx"):
        manifest.artifact("fp16", "onnx")


def test_calibration_set_errors_and_warning(caplog):
    views = build_sources("synthetic", split="test")[:1]
    model = create_model("hot-mixste", **TINY)
    with pytest.raises(ValueError, match="calibration set is empty"):
        calibration_clips(views, model, 0)
    with pytest.raises(ValueError, match="calibration set is empty"):
        calibration_clips([], model, 10)
    with caplog.at_level(logging.WARNING):
        clips = calibration_clips(views, model, 5)
    assert len(clips) == 5 and clips[0].shape == (1, 27, 17, 2)
    assert "only 5 calibration clips" in caplog.text


def test_checkpoint_that_does_not_match_its_config(tmp_path):
    save_checkpoint(create_model("hot-mixste", **TINY), tmp_path / "ck")
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    config["config"]["embed_dim"] = 64
    (tmp_path / "ck" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"model.safetensors.*shape mismatches"):
        create_model(checkpoint=tmp_path / "ck")


@pytest.mark.slow
def test_scope_study_scores_each_keep_float_choice(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "study.json"
    assert scope_study.main(["--checkpoint", str(tiny_checkpoint), *QUICK, "--variants", "none;selection,head",
                             "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["keep_float"] for r in rows] == ["fp32 (no quantization)", "none", "selection,head"]
    assert all(r["mpjpe_mm"] > 0 for r in rows) and rows[1]["mpjpe_mm"] != rows[0]["mpjpe_mm"]
    assert "| selection,head |" in capsys.readouterr().out
    assert scope_study.main(["--checkpoint", str(tiny_checkpoint), *QUICK, "--variants", "tpc"]) == 2


def test_accuracy_control_is_bounded_and_never_sees_the_test_split(qat_bundle, tmp_path, monkeypatch):
    """`--max-drop` validates on sequences of the training split and reverts at most --max-iterations
    layers; the test split is only scored into the manifest afterwards."""
    from compression import accuracy_control
    from training.data.clips import build_sources

    out, _ = qat_bundle
    seen, calls = {}, []
    real_validation = accuracy_control.pose_validation

    def recording_validation(views, model, seed):
        seen["views"] = views
        return real_validation(views, model, seed)

    def fake_accuracy_control(graph, calibration, validation, **kwargs):
        calls.append(kwargs["advanced_accuracy_restorer_parameters"])
        return graph  # the float graph stands in for NNCF's result: only the wiring is under test

    monkeypatch.setattr(accuracy_control, "pose_validation", recording_validation)
    monkeypatch.setattr(ptq.nncf, "quantize_with_accuracy_control", fake_accuracy_control)
    target = tmp_path / "ptq-ac"
    ptq.run(ptq.build_parser().parse_args(["--bundle", str(out), *QUICK[:-2], "--max-drop", "1",
                                           "--max-iterations", "3", "--out", str(target)]))
    test_names = {v.name for v in build_sources("synthetic", None, seed=1126, split="test")}
    assert seen["views"] and not {v.name for v in seen["views"]} & test_names
    assert len(calls) == 2 and all(c.max_num_iterations == 3 for c in calls)  # OpenVINO and ONNX
    assert read_manifest(target).source["quantization"]["max_iterations"] == 3

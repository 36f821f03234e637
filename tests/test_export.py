"""Every HoT-family model, TPC included, exports with static shapes to ONNX and OpenVINO IR."""
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import openvino as ov
import pytest
import torch

from compression.export import export_onnx, export_openvino
from edgetokens import create_model
from edgetokens.models.hot.layers import Attention, SeparateQKV, separate_qkv

NAMES = ["mixste", "hot-mixste", "motionbert", "hot-motionbert"]


def ov_compile(xml):
    # f32 on purpose: OpenVINO's CPU default is bf16 where the CPU has AMX/AVX512-BF16.
    return ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in NAMES:
            torch.manual_seed(0)
            model = create_model(name).eval()
            onnx_path = export_onnx(model, root / f"{name}.onnx", batch=2)
            out[name] = (model, onnx_path, export_openvino(onnx_path, root / f"{name}.xml"))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_onnx_and_openvino_match_torch_with_the_same_kept_frames(exported, name):
    model, onnx_path, xml = exported[name]
    graph = onnx.load(str(onnx_path))
    assert graph.opset_import[0].version >= 17
    dims = [d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, *model.input_shape]  # static
    x = torch.randn(2, *model.input_shape)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    ort_out = session.run(None, {"keypoints": x.numpy()})
    ov_out = ov_compile(xml)({"keypoints": x.numpy()})
    with torch.no_grad():
        for poses, index in [(ort_out[0], ort_out[1] if len(ort_out) > 1 else None),
                             (ov_out["poses_3d"], ov_out["keep_index"] if model.config.hourglass else None)]:
            kwargs = {"keep_index": torch.from_numpy(np.asarray(index))} if index is not None else {}
            reference = model(x, **kwargs).numpy()
            assert np.abs(poses - reference).max() < 1e-3
    if model.config.hourglass:  # the in-graph DPC-kNN picks the frames torch picks
        _, own = model(x, return_keep_index=True)
        assert np.array_equal(ort_out[1], own.numpy())
        ops = {n.op_type for n in graph.graph.node}
        assert {"TopK", "GatherElements"} <= ops
    # Self-attention exports with separate q/k/v projections: no 5-D transpose of a fused qkv output,
    # while the exported torch model keeps its fused `qkv` (checkpoint keys, NNCF hooks).
    perms = [list(a.ints) for n in graph.graph.node if n.op_type == "Transpose" for a in n.attribute]
    assert perms and all(len(p) <= 4 for p in perms)
    assert all(isinstance(m.qkv, torch.nn.Linear) for m in model.modules() if isinstance(m, Attention))


def test_separate_qkv_keeps_the_numbers():
    torch.manual_seed(0)
    model = create_model("hot-motionbert").eval()
    separated = separate_qkv(model)
    assert any(isinstance(m, SeparateQKV) for m in separated.modules())
    assert not any(isinstance(m, SeparateQKV) for m in model.modules())
    x = torch.randn(2, *model.input_shape)
    with torch.no_grad():
        assert torch.allclose(separated(x), model(x), atol=1e-6)


def test_external_selection_and_dynamic_batch(tmp_path):
    model = create_model("hot-mixste").eval()
    path = export_onnx(model, tmp_path / "m.onnx", external_selection=True, dynamic_batch=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["keypoints", "keep_index"]
    x = torch.randn(3, *model.input_shape)
    index = torch.stack([torch.randperm(81)[:27].sort().values for _ in range(3)])
    (poses,) = session.run(None, {"keypoints": x.numpy(), "keep_index": index.numpy()})
    with torch.no_grad():
        assert np.abs(poses - model(x, keep_index=index).numpy()).max() < 1e-3
    assert "TopK" not in {n.op_type for n in onnx.load(str(path)).graph.node}


def test_bad_export_arguments(tmp_path):
    with pytest.raises(ValueError, match="opset"):
        export_onnx(create_model("mixste"), tmp_path / "m.onnx", opset=13)
    with pytest.raises(ValueError, match="precision"):
        export_openvino(tmp_path / "m.onnx", tmp_path / "m.xml", precision="int4")

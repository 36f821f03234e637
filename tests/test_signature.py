"""Every deployable model family's contract: its signature describes what `graph_forward` really
takes and returns, for every export option; export and the torch session rely on it."""
import numpy as np
import pytest
import torch

from edgetokens import create_model
from edgetokens.models import architecture_task, get_architecture, list_models
from edgetokens.tasks import TASKS

SMALL = {"pose3d": {"frames": 27}, "depth": {"image_size": 64}, "instances": {"image_size": 64},
         "instances+depth": {"image_size": 64}}
DEPLOYED = [n for n in list_models() if TASKS[architecture_task(n)].predictor
            and not n.endswith("-243") and not n.endswith("-480")]


@pytest.mark.parametrize("name", DEPLOYED)
@pytest.mark.parametrize("batch", [1, 2])
def test_signature_matches_the_graph(name, batch):
    task = architecture_task(name)
    overrides = dict(SMALL[task])
    if task == "pose3d" and get_architecture(name).config.token_num:
        overrides["token_num"] = 9
    model = create_model(name, **overrides).eval()
    for option in model.graph_options():
        signature = model.signature(batch, **option)
        assert signature.task in task.split("+") and set(signature.examples) == set(signature.input_names)
        inputs = signature.example_tensors()
        for spec, tensor in zip(signature.inputs, inputs):
            assert list(tensor.shape) == spec.shape and str(tensor.dtype) == f"torch.{spec.dtype}"
        with torch.inference_mode():
            outputs = model.graph_forward(*inputs, **option)
        assert len(outputs) == len(signature.outputs)
        for spec, out in zip(signature.outputs, outputs):
            assert list(out.shape) == spec.shape and str(out.dtype) == f"torch.{spec.dtype}", spec.name
            assert torch.isfinite(out.float()).all()
        dynamic = model.signature(-1, **option)
        assert all(s.shape[0] == -1 for s in dynamic.inputs + dynamic.outputs)


def test_examples_are_valid_kept_frame_indices():
    model = create_model("hot-mixste", frames=27, token_num=9)
    keep = model.signature(3, external_selection=True).examples["keep_index"]
    assert keep.shape == (3, 9) and keep.dtype == np.int64
    assert (np.diff(keep, axis=1) > 0).all() and keep.min() >= 0 and keep.max() < 27

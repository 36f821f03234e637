"""The multi-task AiT model: one solver, one vocabulary, a prompt and positions per task."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgetokens.models import create_model
from edgetokens.models.ait.instance_sequence import legal_ranges, sequence_length
from edgetokens.models.ait.joint import JOINT_TASK

TINY = dict(image_size=64, slots=3, d_model=32, heads=2, mlp_hidden=64, encoder_depth=1, decoder_depth=1,
            backbone="conv", backbone_widths=(8, 8, 16, 16, 32), vq_hidden_dim=4, vq_code_dim=16,
            mask_vq_hidden_dim=4, mask_vq_code_dim=16)


@pytest.fixture(scope="module")
def joint():
    torch.manual_seed(0)
    return create_model("ait", **TINY).eval()


def test_one_solver_two_prompts_two_position_tables(joint):
    solver = joint.solver
    assert joint.task == JOINT_TASK and joint.tasks == ("instances", "depth")
    assert solver.prompt_embed.shape == (2, 1, 32)
    assert solver.dec_pos.shape[:2] == (2, sequence_length(3))  # the longer task sets the table length
    assert solver.vocab_size == joint.vocabulary.size == 257 + 80 + 1 + 128 + 128
    assert solver.code_offset == joint.vocabulary.range("depth_codes")[0]
    assert not torch.equal(solver.prompt(1, "instances"), solver.prompt(1, "depth"))


def test_depth_path_reads_the_depth_codes_only(joint):
    image = torch.randn(2, 3, 64, 64)
    depth = joint(image)
    assert depth.shape == (2, 1, 64, 64) and (depth >= 1e-3).all()
    logits = joint.depth_logits(joint.memory(image))
    assert logits.shape == (2, joint.config.num_tokens, joint.vocabulary.size)
    # moving probability mass among the instance ranges changes nothing in the depth map
    start, _ = joint.vocabulary.range("depth_codes")
    noisy = logits.clone()
    noisy[..., :start] += torch.randn_like(noisy[..., :start]) * 10
    assert torch.allclose(joint.decode(noisy), joint.decode(logits))


def test_instance_decoding_is_constrained_cached_and_repeatable(joint):
    image = torch.randn(2, 3, 64, 64)
    logits, ids = joint.generate_instances(image, top_p=0.5, seed=3)
    ranges = torch.from_numpy(legal_ranges(joint.vocabulary, 3))
    assert ((ids >= ranges[:, 0]) & (ids < ranges[:, 1])).all()
    again_logits, again = joint.generate_instances(image, top_p=0.5, seed=3, use_cache=False)
    assert torch.equal(ids, again)
    assert torch.allclose(logits, again_logits, atol=1e-5)
    greedy = joint.generate_instances(image, top_p=0.0)[1]
    assert torch.equal(greedy, joint.generate_instances(image, top_p=0.0, seed=99)[1])


def test_instances_come_with_box_masks(joint):
    out = joint.instances(torch.randn(1, 3, 64, 64), top_p=0.0)
    item = out[0]
    n = len(item["scores"])
    assert item["boxes"].shape == (n, 4) and item["mask_probs"].shape == (n, 64, 64)
    assert ((item["boxes"] >= 0) & (item["boxes"] <= 64)).all()
    assert ((item["scores"] >= 0) & (item["scores"] <= 1)).all()
    assert len(joint.instances(torch.randn(1, 3, 64, 64), min_score=1.1)[0]["scores"]) == 0


def test_single_task_models_refuse_the_other_task():
    instances = create_model("ait-instances", **TINY).eval()
    assert instances.task == "instances" and not hasattr(instances, "vqvae")
    with pytest.raises(ValueError, match="not 'depth'"):
        instances.tokenize(torch.zeros(1, 1, 64, 64))
    signature = instances.signature(1)
    assert signature.outputs[0].name == "memory" and signature.task == "instances"
    assert instances.graph_forward(torch.randn(1, 3, 64, 64))[0].shape == (1, 4, 32)


def test_teacher_forcing_sequence_checks_its_length(joint):
    memory = joint.memory(torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match="instances sequences hold 63 tokens"):
        joint.instance_logits(memory, torch.zeros(1, 10, dtype=torch.long))
    logits = joint.instance_logits(memory, torch.zeros(1, 63, dtype=torch.long))
    assert logits.shape == (1, 63, joint.vocabulary.size)


def test_depth_only_solver_keeps_the_shipped_layout():
    model = create_model("ait-depth", pretrained=True)
    assert model.solver.prompt_embed.shape[0] == 1 and model.solver.code_offset == 0
    assert model.solver.vocab_size == model.config.vq_num_codes


DEPTH_TINY = {k: v for k, v in TINY.items() if k not in ("slots", "mask_vq_hidden_dim", "mask_vq_code_dim")}


def test_a_trained_depth_model_warm_starts_the_joint_model(tmp_path):
    """`--init DEPTH_CHECKPOINT` into the joint model: the depth codes, prompt and positions move to the
    joint vocabulary's depth rows, so the joint depth path predicts exactly what the depth model did."""
    from edgetokens.checkpoint import save_checkpoint
    from training.train import warm_start

    torch.manual_seed(1)
    depth = create_model("ait-depth", **DEPTH_TINY).eval()
    save_checkpoint(depth, tmp_path / "depth")
    torch.manual_seed(2)
    joint = create_model("ait", **TINY).eval()
    instance_rows = joint.solver.vocab_embed[:joint.vocabulary.offset("depth_codes")].detach().clone()
    image = torch.rand(2, 3, 64, 64)

    def code_logits(model):  # the depth codes' logits: what soft decoding turns into depth
        memory = model.memory(image) if hasattr(model, "memory") else None
        logits = model.depth_logits(memory) if memory is not None else model.logits(image)
        return model.solver.code_logits(logits)

    with torch.no_grad():
        assert not torch.allclose(code_logits(joint), code_logits(depth))
        warm_start(joint, str(tmp_path / "depth"))
        torch.testing.assert_close(code_logits(joint), code_logits(depth))
        torch.testing.assert_close(joint(image), depth(image))
    # the instance vocabulary keeps the joint model's own initial rows
    torch.testing.assert_close(joint.solver.vocab_embed[:instance_rows.shape[0]], instance_rows)


def test_a_warm_start_with_a_vocabulary_that_does_not_fit_is_refused(tmp_path):
    from edgetokens.checkpoint import save_checkpoint
    from training.train import warm_start

    save_checkpoint(create_model("ait-depth", **{**DEPTH_TINY, "vq_num_codes": 64}), tmp_path / "depth64")
    with pytest.raises(ValueError, match="depth_codes range has 64 ids"):
        warm_start(create_model("ait", **TINY), str(tmp_path / "depth64"))


@pytest.mark.parametrize("bad, message", [
    (dict(tasks=("depth", "instances")), "order"),
    (dict(tasks=("pose",)), "subset"),
    (dict(slots=0), "slots"),
    (dict(top_p=1.5), "top_p"),
])
def test_bad_joint_settings_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        create_model("ait", **{**TINY, **bad})


def test_joint_depth_graph_exports_and_matches(tmp_path, joint):
    import onnxruntime as ort

    image = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    path = tmp_path / "ait.onnx"
    torch.onnx.export(joint, (torch.from_numpy(image),), str(path), input_names=["image"], output_names=["depth"],
                      dynamo=False)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": image})[0]
    np.testing.assert_allclose(got, joint(torch.from_numpy(image)).detach().numpy(), atol=1e-4)

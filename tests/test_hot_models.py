"""HoT model family: registry, configs, pruning strategies, bad input."""
import json

import pytest
import torch

from edgetokens import create_model, list_models
from edgetokens.models.complexity import count_parameters
from edgetokens.models.hot.pruning import SELECTION_STRATEGIES
from edgetokens.models.hot.recovery import interpolation_weights

SMALL = dict(frames=27, embed_dim=32, mlp_hidden=64, depth=4, heads=4)


def small(name, **kw):
    cfg = dict(SMALL, **kw)
    if name.startswith("hot-"):
        cfg.setdefault("token_num", 9)
        cfg.setdefault("layer_index", 1)
    if "motionbert" in name:
        cfg.setdefault("dim_rep", 48)
    return create_model(name, **cfg).eval()


def test_registry_has_edge_defaults_and_paper_configs():
    names = set(list_models())
    for base in ["mixste", "hot-mixste", "motionbert", "hot-motionbert"]:
        assert base in names and f"{base}-243" in names
    assert "motionbert-full-243" in names


@pytest.mark.parametrize("name,params", [
    ("mixste-243", 33_783_811), ("hot-mixste-243", 35_000_323),
    ("motionbert-243", 16_001_549), ("hot-motionbert-243", 16_347_661),
])
def test_paper_configurations_have_official_parameter_counts(name, params):
    assert count_parameters(create_model(name)) == params


@pytest.mark.parametrize("name,recovery", [
    ("mixste", None), ("hot-mixste", "attention"), ("hot-mixste", "interpolated-attention"),
    ("motionbert", None), ("hot-motionbert", "attention"), ("hot-motionbert", "interpolated-attention")])
def test_seq2seq_output_shape_and_gradients(name, recovery):
    model = small(name, **({"recovery": recovery} if recovery else {})).train()
    x = torch.randn(2, *model.input_shape)
    out = model(x)
    assert out.shape == (2, 27, 17, 3)
    out.square().mean().backward()
    assert model.joint_embed.weight.grad is not None and model.joint_embed.weight.grad.abs().sum() > 0
    if name.startswith("hot-"):
        assert model.recovery.queries.grad.abs().sum() > 0
        assert model.pruner.pos_embed.grad.abs().sum() > 0


@pytest.mark.parametrize("strategy", sorted(SELECTION_STRATEGIES))
def test_selection_strategies_keep_sorted_unique_frames(strategy):
    model = small("hot-mixste", selection=strategy)
    x = torch.randn(3, *model.input_shape)
    _, index = model(x, return_keep_index=True)
    assert index.shape == (3, 9)
    for row in index.tolist():
        assert row == sorted(set(row)) and 0 <= row[0] and row[-1] < 27


def test_uniform_and_motion_selection_pick_what_they_promise():
    model = small("hot-mixste", selection="uniform")
    _, index = model(torch.randn(1, *model.input_shape), return_keep_index=True)
    assert index[0].tolist() == torch.linspace(0, 26, 9).round().long().tolist()
    model = small("hot-mixste", selection="motion")
    x = torch.zeros(1, *model.input_shape)
    moving = [3, 7, 8, 12, 15, 19, 20, 24, 26]
    for t in moving:  # frame t differs from frame t-1 by a jump; others are static
        x[0, t:] += 0.1 * t
    _, index = model(x, return_keep_index=True)
    assert index[0].tolist() == moving


def test_keep_index_forces_the_kept_frames():
    model = small("hot-mixste")
    x = torch.randn(2, *model.input_shape)
    _, own = model(x, return_keep_index=True)
    forced = torch.tensor([list(range(9)), list(range(18, 27))])
    out_forced, used = model(x, keep_index=forced, return_keep_index=True)
    assert torch.equal(used, forced)
    assert not torch.allclose(out_forced, model(x, keep_index=own))
    assert torch.allclose(model(x), model(x, keep_index=own))


def test_interpolation_weights_are_linear_between_kept_frames_and_constant_outside():
    weights = interpolation_weights(torch.tensor([[2, 5, 9]]), 12)[0]
    assert torch.allclose(weights.sum(-1), torch.ones(12))
    for frame, kept in ((2, 0), (5, 1), (9, 2)):  # a kept frame is copied exactly
        assert weights[frame].tolist() == [float(k == kept) for k in range(3)]
    assert torch.allclose(weights[3], torch.tensor([2 / 3, 1 / 3, 0.0]))
    assert torch.allclose(weights[7], torch.tensor([0.0, 0.5, 0.5]))
    assert weights[:2, 0].tolist() == [1.0, 1.0] and weights[10:, 2].tolist() == [1.0, 1.0]
    assert interpolation_weights(torch.tensor([[4]]), 6).eq(1.0).all()


def test_interpolated_recovery_resolves_time_from_the_start():
    """At initialisation the official TRA gives every frame of a clip the same output; the
    interpolated form follows the kept frames, and its output at a kept frame is that frame's."""
    x = torch.randn(2, 27, 17, 2)
    official = small("hot-mixste", recovery="attention")
    assert torch.allclose(official(x), official(x)[:, :1].expand(-1, 27, -1, -1), atol=1e-6)
    torch.manual_seed(0)
    model = small("hot-mixste", recovery="interpolated-attention")
    assert (model(x) - model(x)[:, :1]).abs().amax() > 1e-3
    kept = torch.randn(1, 9, 17, 32)
    index = torch.tensor([[0, 3, 5, 9, 12, 15, 20, 22, 26]])
    model.recovery.attn.proj.weight.data.zero_()
    model.recovery.attn.proj.bias.data.zero_()
    recovered = model.recovery(kept, index)
    assert torch.allclose(recovered[:, index[0]], kept, atol=1e-6)
    assert torch.allclose(recovered[:, 4], 0.5 * (kept[:, 1] + kept[:, 2]), atol=1e-6)


def test_old_hot_checkpoints_load_with_the_official_recovery(tmp_path):
    from edgetokens.checkpoint import save_checkpoint

    model = small("hot-mixste", recovery="attention")
    save_checkpoint(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["config"]["recovery"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded = create_model(checkpoint=tmp_path).eval()
    assert loaded.config.recovery == "attention" and create_model("hot-mixste").config.recovery != "attention"
    x = torch.randn(1, *model.input_shape)
    assert torch.allclose(loaded(x), model(x))


def test_dpc_knn_is_deterministic_across_calls():
    model = small("hot-motionbert")
    x = torch.randn(4, *model.input_shape)
    assert torch.equal(model(x, return_keep_index=True)[1], model(x, return_keep_index=True)[1])


@pytest.mark.parametrize("overrides,message", [
    (dict(token_num=30), "token_num"),
    (dict(layer_index=0), "layer_index"),
    (dict(layer_index=4), "layer_index"),
    (dict(embed_dim=30), "divisible by heads"),
    (dict(recovery="nearest"), "recovery 'nearest' is not one of"),
])
def test_invalid_configs_state_the_rule(overrides, message):
    with pytest.raises(ValueError, match=message):
        small("hot-mixste", **overrides)


def test_unknown_names_and_keys_list_the_known_ones():
    with pytest.raises(ValueError, match="known models: .*hot-mixste"):
        create_model("hot-mixtse")
    with pytest.raises(ValueError, match="valid keys: .*token_num"):
        create_model("hot-mixste", tokens=3)


def test_wrong_input_shape_says_what_was_expected():
    model = small("hot-mixste")
    with pytest.raises(ValueError, match=r"\(batch, 27, 17, 2\)"):
        model(torch.randn(1, 26, 17, 2))
    with pytest.raises(ValueError, match=r"\(batch, 27, 17, 2\)"):
        model(torch.randn(1, 27, 16, 2))
    with pytest.raises(ValueError, match="keep_index must have shape"):
        model(torch.randn(1, 27, 17, 2), keep_index=torch.zeros(1, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="distinct frames"):
        model(torch.randn(1, 27, 17, 2), keep_index=torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 7]]))
    with pytest.raises(ValueError, match=r"\[0, 26\]"):
        model(torch.randn(1, 27, 17, 2), keep_index=torch.full((1, 9), 27))

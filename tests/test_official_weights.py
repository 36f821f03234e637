"""load_official_weights: official names, wrappers and prefixes, clear mismatch errors, no pickles."""
import pickle

import numpy as np
import pytest
import torch

from edgetokens import create_model, load_official_weights


def official_state(shared_dir, name):
    data = np.load(shared_dir / "golden" / "hot" / f"{name}.npz")
    return {k[len("param/"):]: torch.from_numpy(data[k]) for k in data.files if k.startswith("param/")}


def small_mixste(hot=False):
    extra = dict(token_num=9, layer_index=3) if hot else {}
    return create_model("hot-mixste" if hot else "mixste", frames=27, embed_dim=64, mlp_hidden=128,
                        depth=8, heads=8, **extra)


def test_upstream_wrapper_and_module_prefix(shared_dir, tmp_path):
    state = official_state(shared_dir, "mixste")
    path = tmp_path / "upstream_mixste.bin"
    torch.save({"model_pos": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    model = small_mixste()
    load_official_weights(model, path)
    assert torch.equal(model.head_norm.weight, state["head.0.weight"])
    assert torch.equal(model.spatial_blocks[2].attn.qkv.weight, state["STEblocks.2.attn.qkv.weight"])


def test_plain_mixste_checkpoint_into_hot_non_strict(shared_dir):
    model = small_mixste(hot=True)
    with pytest.raises(ValueError, match="missing keys: .*pruner.pos_embed"):
        load_official_weights(model, official_state(shared_dir, "mixste"))
    report = load_official_weights(model, official_state(shared_dir, "mixste"), strict=False)
    assert "recovery.queries" in report.missing and not report.unexpected


def test_mismatch_names_keys_and_shapes(shared_dir):
    state = official_state(shared_dir, "hot_mixste")
    state["bogus.weight"] = torch.zeros(1)
    model = create_model("hot-mixste", frames=27, embed_dim=64, mlp_hidden=128, depth=8, heads=8,
                         token_num=7, layer_index=3)
    with pytest.raises(ValueError) as err:
        load_official_weights(model, state)
    text = str(err.value)
    assert "pruner.pos_embed: checkpoint (1, 9, 64) vs model (1, 7, 64)" in text
    assert "bogus.weight" in text


def test_motionbert_names_are_mapped(shared_dir):
    model = create_model("hot-motionbert", frames=27, embed_dim=64, mlp_hidden=256, dim_rep=128, depth=5,
                         heads=8, token_num=9, layer_index=1)
    state = official_state(shared_dir, "hot_motionbert")
    load_official_weights(model, state)
    assert torch.equal(model.ts_blocks[4].temporal.mlp.fc2.weight, state["blocks_ts.4.mlp_t.fc2.weight"])
    assert torch.equal(model.fusion[1].bias, state["ts_attn.1.bias"])


class Sneaky:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"model_pos": Sneaky()}, f)
    with pytest.raises(ValueError, match="could not read checkpoint .*evil.pth"):
        load_official_weights(small_mixste(), path)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.pth"):
        load_official_weights(small_mixste(), tmp_path / "nothere.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pth"):
        load_official_weights(small_mixste(), bad)

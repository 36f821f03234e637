"""Hostile and damaged files (issue 21): data files that would run code, damaged checkpoints and
model files, a broken or misplaced cache. Each test asserts the exact refusal and that nothing ran
or changed on disk."""
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch

from training.data.h36m import load_h36m, load_h36m_motions, read_npz_entry, save_videopose3d


class RunsCode:
    """A pickle that, when loaded, runs a shell command creating a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def pickled_npz(path, key, payload, protocol=4):
    """An .npz whose `key` is a 0-d object array holding `payload`, pickled with `protocol` (what
    np.savez writes for a dict, with the pickle protocol of the numpy that wrote it)."""
    array = np.empty((), dtype=object)
    array[()] = payload
    write_member(path, key, pickle.dumps(array, protocol=protocol))
    return path


def write_member(path, key, raw_pickle):
    with zipfile.ZipFile(path, "w") as archive, archive.open(f"{key}.npy", "w") as fp:
        np.lib.format.write_array_header_1_0(fp, {"descr": "|O", "fortran_order": False, "shape": ()})
        fp.write(raw_pickle)


@pytest.mark.parametrize("protocol", [2, 4])
def test_crafted_h36m_npz_never_runs_its_pickle(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_3d_h36m.npz"
    pickled_npz(path, "positions_3d", {"S1": {"Walking": RunsCode(marker)}}, protocol)
    with pytest.raises(ValueError, match=r"data_3d_h36m\.npz: refusing to unpickle 'positions_3d': "
                                         r"it refers to (posix|os)\.system"):
        load_h36m_motions(path)
    with pytest.raises(ValueError, match="refusing to unpickle"):
        load_h36m(path, path)
    assert not marker.exists()


def test_crafted_pickle_of_any_global_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_2d_h36m_gt.npz"
    pickled_npz(path, "positions_2d", {"S1": {"A": [eval]}})  # names builtins.eval (never called)
    with pytest.raises(ValueError, match=r"data_2d_h36m_gt\.npz: refusing to unpickle 'positions_2d': "
                                         r"it refers to builtins\.eval"):
        read_npz_entry(path, "positions_2d")
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_legit_dict_of_arrays_still_loads(tmp_path, protocol):
    data = {"S1": {"Walking 1": np.arange(32 * 3 * 4, dtype=np.float32).reshape(4, 32, 3),
                   "Sitting": np.asfortranarray(np.ones((3, 32, 3)))}}
    path = pickled_npz(tmp_path / "data_3d_h36m.npz", "positions_3d", data, protocol)
    got = read_npz_entry(path, "positions_3d")
    np.testing.assert_array_equal(got["S1"]["Walking 1"], data["S1"]["Walking 1"])
    motions = load_h36m_motions(path)
    assert {m.name for m in motions} == {"h36m/S1/Walking 1", "h36m/S1/Sitting"}


def test_files_written_by_save_videopose3d_load_without_pickles(tmp_path):
    from tests.test_data_h36m import small_views

    views = small_views(cameras=1)
    save_videopose3d(tmp_path / "a.npz", tmp_path / "b.npz", views)
    assert len(load_h36m(tmp_path / "a.npz", tmp_path / "b.npz")) == len(views)
    assert read_npz_entry(tmp_path / "b.npz", "metadata")["num_joints"] == 17
    assert read_npz_entry(tmp_path / "b.npz", "nothing", required=False) is None


def test_npz_that_is_not_an_archive(tmp_path):
    path = tmp_path / "data_3d_h36m.npz"
    path.write_bytes(pickle.dumps({"S1": {}}))
    with pytest.raises(ValueError, match=r"data_3d_h36m\.npz is not an \.npz archive"):
        load_h36m_motions(path)


# --- damaged checkpoints say they are damaged ------------------------------------------------------------

TINY = dict(frames=27, embed_dim=32, mlp_hidden=64, depth=4, heads=4, token_num=9, layer_index=1)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from edgetokens import create_model
    from edgetokens.checkpoint import save_checkpoint

    return save_checkpoint(create_model("hot-mixste", **TINY), tmp_path_factory.mktemp("ck") / "tiny")


@pytest.mark.parametrize("damage", ["truncated", "header", "empty"])
def test_damaged_safetensors_in_a_checkpoint_says_damaged(tiny_checkpoint, tmp_path, damage):
    import shutil

    from edgetokens import create_model
    from edgetokens.checkpoint import WEIGHTS, DamagedCheckpointError

    copy = shutil.copytree(tiny_checkpoint, tmp_path / "ck")
    data = (copy / WEIGHTS).read_bytes()
    data = {"truncated": data[: len(data) // 2], "header": b"\xff" * 8 + data[8:], "empty": b""}[damage]
    (copy / WEIGHTS).write_bytes(data)
    with pytest.raises(DamagedCheckpointError, match=r"checkpoint file .*ck/model.safetensors is damaged or not a "
                                                     r"\.safetensors file") as err:
        create_model(checkpoint=copy)
    assert "does not fit" not in str(err.value)
    assert isinstance(err.value, ValueError)


def test_damaged_official_files_say_damaged(tiny_checkpoint, tmp_path):
    from edgetokens import create_model
    from edgetokens.checkpoint import WEIGHTS, DamagedCheckpointError

    truncated = tmp_path / "hot.safetensors"
    truncated.write_bytes((tiny_checkpoint / WEIGHTS).read_bytes()[:100])
    with pytest.raises(DamagedCheckpointError, match=r"hot.safetensors is damaged"):
        create_model("hot-mixste", checkpoint=truncated, **TINY)
    zipped = tmp_path / "hot.pth"
    zipped.write_bytes(b"PK\x03\x04" + b"\0" * 50)  # a torch zip archive cut short
    with pytest.raises(DamagedCheckpointError, match=r"hot.pth is damaged or not a \.pth file"):
        create_model("hot-mixste", checkpoint=zipped, **TINY)


def test_pickled_code_in_a_checkpoint_is_still_refused_not_called_damaged(tmp_path):
    from edgetokens import create_model
    from edgetokens.checkpoint import DamagedCheckpointError

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"model_pos": RunsCode(marker)}))
    with pytest.raises(ValueError, match=r"could not read checkpoint .*evil.pth: it holds pickled objects") as err:
        create_model("hot-mixste", checkpoint=path, **TINY)
    assert not isinstance(err.value, DamagedCheckpointError) and not marker.exists()
    npz = tmp_path / "evil.npz"
    pickled_npz(npz, "param/x", RunsCode(marker))
    with pytest.raises(ValueError, match=r"could not read checkpoint .*evil.npz: it holds pickled objects"):
        create_model("hot-mixste", checkpoint=npz, **TINY)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["weights", "state"])
def test_resuming_from_a_damaged_run_says_which_file_is_damaged(tmp_path, damage):
    from edgetokens import create_model
    from edgetokens.checkpoint import WEIGHTS, DamagedCheckpointError, save_checkpoint
    from training.loop import STATE, RunDirectory

    model = create_model("hot-mixste", frames=27, token_num=9, embed_dim=32, mlp_hidden=64, depth=2, heads=2)
    save_checkpoint(model, tmp_path / "last")
    torch.save({"epoch": 0}, tmp_path / "last" / STATE)
    target = tmp_path / "last" / (WEIGHTS if damage == "weights" else STATE)
    target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 2])  # a truncated copy
    with pytest.raises(DamagedCheckpointError, match=f"{target.name} is damaged"):
        RunDirectory(tmp_path, resume=True).restore(model)

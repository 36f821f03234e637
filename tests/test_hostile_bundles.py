"""Bundles from strangers (issue 21): manifests whose paths leave the bundle, unhashed artifacts,
symbolic links, `--overwrite` over something that is not a bundle, failed exports, damaged cache
entries and a cache that is not a writable directory. Each test asserts the exact refusal and that
nothing outside was read, copied or deleted."""
import json
import logging
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from compression import bundle as bundle_module
from compression.bundle import build_bundle, export_model, extend_bundle, write_manifest
from edgetokens import create_model
from edgetokens.checkpoint import save_checkpoint
from edgetokens.resolve import export_checkpoint
from runtimes import BundleError, DeviceUnavailableError, open_session
from runtimes.cache import CacheError, cache_root
from runtimes.manifest import MANIFEST, read_manifest, sha256_file

TINY = dict(frames=27, embed_dim=32, mlp_hidden=64, depth=4, heads=4, token_num=9, layer_index=1)


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return create_model("hot-mixste", **TINY)


@pytest.fixture(scope="module")
def real_bundle(tiny_model, tmp_path_factory) -> Path:
    """One real (tiny, fp32) bundle; tests work on copies."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_bundle(tiny_model, tmp_path_factory.mktemp("real") / "bundle", precisions=("fp32",))


def copy_of(bundle: Path, tmp_path: Path, name="copy") -> Path:
    return Path(shutil.copytree(bundle, tmp_path / name))


def edit_manifest(bundle: Path, change) -> dict:
    raw = json.loads((bundle / MANIFEST).read_text())
    change(raw)
    (bundle / MANIFEST).write_text(json.dumps(raw))
    return raw


# --- manifest paths must stay inside the bundle and be hashed -------------------------------------------

def test_files_entry_outside_the_bundle_is_refused_and_not_hashed(real_bundle, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the bundle")
    copy = copy_of(real_bundle, tmp_path / "deep")
    rel = os.path.relpath(secret, copy)
    assert rel.startswith("..")
    edit_manifest(copy, lambda m: m["files"].update({rel: "0" * 64}))
    with pytest.raises(BundleError, match=r"files entry '\.\./.*secret\.txt'.*leaves the bundle") as err:
        read_manifest(copy)
    assert sha256_file(secret)[:12] not in str(err.value)  # nothing about the outside file is printed
    with pytest.raises(BundleError, match="leaves the bundle"):
        read_manifest(copy, verify=False)  # paths are checked even without hashing


def test_absolute_and_dotdot_artifact_paths_are_refused(real_bundle, tmp_path):
    outside = shutil.copy(real_bundle / "model.onnx", tmp_path / "model.onnx")
    copy = copy_of(real_bundle, tmp_path / "b")
    edit_manifest(copy, lambda m: m["artifacts"]["fp32"].update(onnx=str(outside)))
    with pytest.raises(BundleError, match=r"artifact fp32/onnx is the absolute path"):
        read_manifest(copy)
    edit_manifest(copy, lambda m: m["artifacts"]["fp32"].update(onnx="../model.onnx"))
    with pytest.raises(BundleError, match=r"artifact fp32/onnx is '\.\./model\.onnx', which leaves the bundle"):
        open_session(copy, "onnxruntime:cpu")
    edit_manifest(copy, lambda m: m["artifacts"]["fp32"].update(onnx="openvino\\..\\..\\model.onnx"))
    with pytest.raises(BundleError, match="leaves the bundle"):
        read_manifest(copy)


def test_artifact_not_listed_in_files_is_never_run(real_bundle, tmp_path):
    copy = copy_of(real_bundle, tmp_path)
    shutil.copy(copy / "model.onnx", copy / "other.onnx")  # e.g. a modified model dropped in beside
    edit_manifest(copy, lambda m: m["artifacts"]["fp32"].update(onnx="other.onnx"))
    with pytest.raises(BundleError, match=r"artifact fp32/onnx \('other.onnx'\) is not listed in 'files'"):
        open_session(copy, "onnxruntime:cpu")


def test_openvino_weights_and_examples_must_be_hashed(real_bundle, tmp_path):
    copy = copy_of(real_bundle, tmp_path)
    edit_manifest(copy, lambda m: m["files"].pop("openvino/model.bin"))
    with pytest.raises(BundleError, match=r"the weights \(.bin\) of artifact fp32/openvino \('openvino/model.bin'\) "
                                          "is not listed"):
        read_manifest(copy)
    copy = copy_of(real_bundle, tmp_path, "copy2")
    edit_manifest(copy, lambda m: m["files"].pop("examples.npz"))
    with pytest.raises(BundleError, match=r"examples \('examples.npz'\) is not listed in 'files'"):
        read_manifest(copy)


def test_malformed_manifest_fields_are_bundle_errors(real_bundle, tmp_path):
    copy = copy_of(real_bundle, tmp_path)
    edit_manifest(copy, lambda m: m.update(files=["model.onnx"]))
    with pytest.raises(BundleError, match="'files' must map relative paths"):
        read_manifest(copy)
    (copy / MANIFEST).write_text("[1, 2]")
    with pytest.raises(BundleError, match="not a manifest"):
        read_manifest(copy)


# --- symbolic links ---------------------------------------------------------------------------------------

def test_symlinked_file_with_the_right_hash_is_refused(real_bundle, tmp_path):
    outside = shutil.copy(real_bundle / "model.onnx", tmp_path / "outside.onnx")
    copy = copy_of(real_bundle, tmp_path / "b")
    (copy / "model.onnx").unlink()
    (copy / "model.onnx").symlink_to(outside)  # same bytes, so the sha256 alone would pass
    with pytest.raises(BundleError, match=r"files entry 'model.onnx'.*goes through the symbolic link"):
        read_manifest(copy)


def test_symlinked_directory_and_unlisted_links_are_refused(real_bundle, tmp_path):
    elsewhere = shutil.copytree(real_bundle / "openvino", tmp_path / "elsewhere")
    copy = copy_of(real_bundle, tmp_path / "b")
    shutil.rmtree(copy / "openvino")
    (copy / "openvino").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(BundleError, match="symbolic link"):
        read_manifest(copy)
    copy = copy_of(real_bundle, tmp_path / "c")
    (copy / "notes.txt").symlink_to("/etc/hostname")
    with pytest.raises(BundleError, match=r"notes.txt is a symbolic link"):
        read_manifest(copy)


def test_extend_bundle_refuses_links_and_copies_nothing(real_bundle, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the bundle")
    copy = copy_of(real_bundle, tmp_path / "b")
    (copy / "secret.txt").symlink_to(secret)
    edit_manifest(copy, lambda m: m["files"].update({"secret.txt": sha256_file(secret)}))
    out = tmp_path / "extended"
    called = []
    with pytest.raises(BundleError, match="symbolic link"):
        extend_bundle(copy, out, lambda tmp, manifest: called.append(1) or {})
    assert not called and not out.exists() and not list(tmp_path.glob(".extended.*"))


def test_extend_bundle_copies_a_plain_bundle(real_bundle, tmp_path):
    out = extend_bundle(real_bundle, tmp_path / "extended", lambda tmp, manifest: {})
    assert read_manifest(out).files == read_manifest(real_bundle).files


# --- --overwrite replaces only a bundle or an empty directory ------------------------------------------------

def test_overwrite_refuses_a_folder_that_is_not_a_bundle(tiny_model, real_bundle, tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / "img.jpg").write_bytes(b"\xff\xd8")
    monkeypatch.setattr(bundle_module, "export_onnx", lambda *a, **k: pytest.fail("nothing may be exported"))
    for call in (lambda: build_bundle(tiny_model, folder, overwrite=True),
                 lambda: export_model("hot-mixste", folder, weights="random", overwrite=True),
                 lambda: extend_bundle(real_bundle, folder, lambda tmp, m: {}, overwrite=True)):
        with pytest.raises(FileExistsError, match=r"photos is not an edgetokens bundle .*nothing was deleted"):
            call()
    assert sorted(p.name for p in folder.iterdir()) == ["img.jpg", "notes.txt"]
    assert (folder / "notes.txt").read_text() == "mine"
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep")
    with pytest.raises(FileExistsError, match="is not a directory"):
        build_bundle(tiny_model, a_file, overwrite=True)
    assert a_file.read_text() == "keep"
    assert not list(tmp_path.glob(".photos.*")) and not list(tmp_path.glob(".file.txt.*"))


def test_overwrite_replaces_a_bundle_or_an_empty_directory(real_bundle, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    extend_bundle(real_bundle, empty, lambda tmp, m: {}, overwrite=True)
    assert read_manifest(empty).arch == "hot-mixste"
    (empty / "stale.txt").write_text("part of the old bundle")  # a bundle (with our manifest) is replaced whole
    extend_bundle(real_bundle, empty, lambda tmp, m: {}, overwrite=True)
    assert not (empty / "stale.txt").exists() and read_manifest(empty)


def test_failed_export_leaves_nothing_behind(tiny_model, real_bundle, tmp_path, monkeypatch):
    def broken_openvino(*args, **kwargs):
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(bundle_module, "export_openvino", broken_openvino)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        build_bundle(tiny_model, tmp_path / "new", precisions=("fp32",))
    existing = copy_of(real_bundle, tmp_path, "existing")
    before = {p.name: sha256_file(p) for p in existing.rglob("*") if p.is_file()}
    with pytest.raises(RuntimeError, match="exporter crashed"):
        build_bundle(tiny_model, existing, precisions=("fp32",), overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]  # no new/, no .new.* / .existing.* temp
    assert {p.name: sha256_file(p) for p in existing.rglob("*") if p.is_file()} == before

    def broken_artifacts(tmp, manifest):
        (tmp / "half.onnx").write_bytes(b"half")
        raise RuntimeError("quantizer crashed")

    with pytest.raises(RuntimeError, match="quantizer crashed"):
        extend_bundle(existing, tmp_path / "ptq", broken_artifacts)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]


def test_write_manifest_refuses_links(tmp_path):
    (tmp_path / "model.onnx").symlink_to("/etc/hostname")
    with pytest.raises(BundleError, match="model.onnx is a symbolic link"):
        write_manifest(tmp_path, None)


# --- the cache rebuilds damaged entries; a cache that is not a writable directory is named --------------------

@pytest.fixture(scope="module")
def tiny_checkpoint(tiny_model, tmp_path_factory) -> Path:
    return save_checkpoint(tiny_model, tmp_path_factory.mktemp("ck") / "tiny")


def export(checkpoint, cache):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return export_checkpoint(None, checkpoint, cache, need_torch=False)[0]


@pytest.fixture(scope="module")
def pristine_cache(tiny_checkpoint, tmp_path_factory) -> Path:
    """A cache holding the tiny checkpoint's bundle, exported for real (fp32 only, to be quick)."""
    cache = tmp_path_factory.mktemp("pristine") / "cache"
    real = bundle_module.build_bundle
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bundle_module, "build_bundle", lambda model, out, **k: real(model, out, ("fp32",), **k))
        assert export(tiny_checkpoint, cache).export_ms > 0
    return cache


@pytest.fixture
def cache_copy(pristine_cache, tmp_path, monkeypatch):
    """A copy of the pristine cache; re-exports copy the pristine bundle (through extend_bundle, so the
    overwrite policy and the atomic swap are the real ones) instead of exporting again, and are counted."""
    cache = Path(shutil.copytree(pristine_cache, tmp_path / "cache"))
    pristine = next((pristine_cache / "bundles").iterdir())
    calls = []

    def rebuild(model, out, overwrite=False, keep_existing=False, **kwargs):
        calls.append({"overwrite": overwrite, "keep_existing": keep_existing})
        return extend_bundle(pristine, out, lambda tmp, manifest: {}, overwrite=overwrite)

    monkeypatch.setattr(bundle_module, "build_bundle", rebuild)
    return cache, calls


def test_deleted_cache_file_is_exported_again(tiny_checkpoint, cache_copy, caplog):
    cache, calls = cache_copy
    bundle = export(tiny_checkpoint, cache).bundle
    assert not calls and read_manifest(bundle)  # a valid entry is reused
    (bundle / "openvino" / "model.bin").unlink()
    with caplog.at_level(logging.WARNING, logger="edgetokens.resolve"):
        again = export(tiny_checkpoint, cache)
    assert again.bundle == bundle and calls == [{"overwrite": True, "keep_existing": False}]
    assert "is damaged" in caplog.text and "model.bin is listed" in caplog.text and "exporting it again" in caplog.text
    assert read_manifest(bundle).arch == "hot-mixste"
    assert not [p for p in bundle.parent.iterdir() if p.name.startswith(".")]  # no temp or aside dirs left
    assert open_session(bundle, "openvino:CPU", cache_dir=cache).device == "openvino:CPU"


def test_changed_cache_file_is_exported_again(tiny_checkpoint, cache_copy):
    cache, calls = cache_copy
    bundle = next((cache / "bundles").iterdir())
    data = bytearray((bundle / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bundle / "model.onnx").write_bytes(bytes(data))
    assert export(tiny_checkpoint, cache).bundle == bundle
    assert calls == [{"overwrite": True, "keep_existing": False}]  # replaced in one atomic swap
    assert read_manifest(bundle)


@pytest.mark.parametrize("damage", ["unreadable manifest", "deleted manifest", "stray file"])
def test_cache_entry_without_a_readable_manifest_is_exported_again(tiny_checkpoint, cache_copy, damage, caplog):
    cache, calls = cache_copy
    bundle = next((cache / "bundles").iterdir())
    if damage == "unreadable manifest":
        (bundle / MANIFEST).write_text("{ truncated")
    elif damage == "deleted manifest":
        (bundle / MANIFEST).unlink()
    else:
        (bundle / "notes.txt").symlink_to("/etc/hostname")
    with caplog.at_level(logging.WARNING, logger="edgetokens.resolve"):
        export(tiny_checkpoint, cache)
    assert len(calls) == 1 and read_manifest(bundle)
    assert not (bundle / "notes.txt").exists()
    assert not [p for p in bundle.parent.iterdir() if p.name.startswith(".")]


def test_real_reexport_of_a_damaged_cache_entry(tiny_checkpoint, pristine_cache, tmp_path):
    """The real exporter (not the copying stand-in) replaces a damaged entry in place."""
    cache = Path(shutil.copytree(pristine_cache, tmp_path / "cache"))
    bundle = next((cache / "bundles").iterdir())
    (bundle / "examples.npz").unlink()
    real = bundle_module.build_bundle
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bundle_module, "build_bundle", lambda model, out, **k: real(model, out, ("fp32",), **k))
        assert export(tiny_checkpoint, cache).export_ms > 0
    assert read_manifest(bundle).examples == "examples.npz"


def test_cache_that_is_a_file_or_not_writable(tmp_path, monkeypatch):
    a_file = tmp_path / "cache-file"
    a_file.write_text("not a directory")
    monkeypatch.setenv("EDGETOKENS_CACHE", str(a_file))
    with pytest.raises(CacheError, match=r"EDGETOKENS_CACHE.*cache-file is not a directory; the cache must be "
                                         "a writable directory") as err:
        cache_root()
    assert isinstance(err.value, OSError) and a_file.read_text() == "not a directory"
    with pytest.raises(CacheError, match=r"cache-file/sub cannot be created .*must be a writable directory"):
        cache_root(a_file / "sub")
    monkeypatch.setattr("runtimes.cache.os.access", lambda path, mode: False)
    with pytest.raises(CacheError, match=r"writable-here is not writable; the cache must be a writable directory"):
        cache_root(tmp_path / "writable-here")


# --- damaged model files say so (not "device not available") ------------------------------------------------

def test_corrupt_bare_onnx_and_xml_name_the_file(real_bundle, tmp_path):
    onnx_file = tmp_path / "broken.onnx"
    onnx_file.write_bytes((real_bundle / "model.onnx").read_bytes()[:200])
    for device in ("cpu", "onnxruntime:cpu"):
        with pytest.raises(BundleError, match=r"broken.onnx is corrupt or not an ONNX model") as err:
            open_session(onnx_file, device, cache_dir=tmp_path / "cache")
        assert not isinstance(err.value, DeviceUnavailableError)
    xml = tmp_path / "broken.xml"
    xml.write_text("<net><layers>")
    for device in ("cpu", "openvino:CPU"):
        with pytest.raises(BundleError, match=r"broken.xml is corrupt or not an OpenVINO/ONNX model"):
            open_session(xml, device, cache_dir=tmp_path / "cache")
    xml = shutil.copy(real_bundle / "openvino" / "model.xml", tmp_path / "nobin.xml")  # its .bin missing
    with pytest.raises(BundleError, match="nobin.xml is corrupt or not an OpenVINO/ONNX model"):
        open_session(xml, "openvino:CPU", cache_dir=tmp_path / "cache")


def test_wrong_file_given_as_an_artifact(real_bundle, tmp_path):
    copy = copy_of(real_bundle, tmp_path)
    edit_manifest(copy, lambda m: m["artifacts"]["fp32"].update(onnx="examples.npz",
                                                               openvino="openvino/model.bin"))
    for device in ("onnxruntime:cpu", "cpu"):
        with pytest.raises(BundleError, match=r"examples.npz is corrupt or not an ONNX model"):
            open_session(copy, device, cache_dir=tmp_path / "cache")
    with pytest.raises(BundleError, match=r"model.bin is corrupt or not an OpenVINO/ONNX model"):
        open_session(copy, "openvino:CPU", cache_dir=tmp_path / "cache")


def test_a_valid_bundle_still_opens(real_bundle, tmp_path):
    session = open_session(real_bundle, "onnxruntime:cpu", cache_dir=tmp_path / "cache")
    out = session.run(np.zeros((1, 27, 17, 2), np.float32))
    assert np.isfinite(out["poses_3d"]).all()

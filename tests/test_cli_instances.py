"""`edgetokens predict MODEL IMAGE --task instances|depth` and the joint AiT part of `edgetokens demo`."""
import json
import shutil

import cv2
import numpy as np
import pytest
import torch
from pycocotools.coco import COCO

from edgetokens import create_model, zoo
from edgetokens.checkpoint import save_checkpoint
from edgetokens.cli import main
from edgetokens.demo import demo_outputs, joint_demo
from edgetokens.vision.coco_classes import COCO_CATEGORY_IDS, COCO_CLASSES

torch.set_num_threads(1)

# the tiny joint model of test_instances_predictor (the same weights: one export per session)
TINY = dict(image_size=64, slots=8, d_model=32, heads=2, mlp_hidden=64, encoder_depth=1, decoder_depth=1,
            backbone="conv", backbone_widths=(8, 8, 16, 16, 32), vq_hidden_dim=4, vq_code_dim=16,
            mask_vq_hidden_dim=4, mask_vq_code_dim=16)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.getbasetemp() / "ckpt-ait-tiny"
    if not path.is_dir():
        torch.manual_seed(0)
        model = create_model("ait", **TINY)
        model.vqvae.decoder[-1].bias.data.fill_(2.5)
        save_checkpoint(model, path)
    return path


@pytest.fixture(autouse=True)
def cache_env(monkeypatch, cache):
    monkeypatch.setenv("EDGETOKENS_CACHE", str(cache))


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), cv2.GaussianBlur(rng.uniform(0, 255, (120, 160, 3)).astype(np.uint8), (9, 9), 3))
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_instances_to_coco_json_and_an_overlay(checkpoint, photo, tmp_path, capsys):
    out, overlay = tmp_path / "out" / "dets.json", tmp_path / "pictures" / "dets.png"
    code, printed, err = run(capsys, "predict", checkpoint, photo, "--task", "instances", "--out", out,
                             "--overlay", overlay, "--min-score", "0")
    assert code == 0, err
    assert "instances" in printed and "torch:cpu" in printed and str(out) in printed
    entries = json.loads(out.read_text())
    assert entries and all(e["image_id"] == 0 and e["segmentation"]["size"] == [120, 160] for e in entries)
    truth = COCO()
    truth.dataset = {"images": [{"id": 0, "height": 120, "width": 160}], "annotations": [],
                     "categories": [{"id": c, "name": n} for c, n in zip(COCO_CATEGORY_IDS, COCO_CLASSES)]}
    truth.createIndex()
    results = truth.loadRes(str(out))  # pycocotools accepts it as results of that image
    assert len(results.getAnnIds()) == len(entries)
    for entry in entries:
        x, y, w, h = entry["bbox"]
        assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= 160 + 1e-3 and y + h <= 120 + 1e-3
        assert entry["category_id"] in COCO_CATEGORY_IDS and 0 <= entry["score"] <= 1
    picture = cv2.imread(str(overlay))
    assert picture.shape == (120, 160, 3)
    # the output policy of every predict command: an existing output only with --overwrite
    code, _, err = run(capsys, "predict", checkpoint, photo, "--task", "instances", "--out", out)
    assert code == 2 and "already exists; pass --overwrite" in err
    code, printed, _ = run(capsys, "predict", checkpoint, photo, "--task", "instances", "--out", out, "--overwrite",
                           "--min-score", "1.1")
    assert code == 0 and printed.startswith("0 instances scoring >= 1.1") and json.loads(out.read_text()) == []


def test_depth_task_of_the_joint_model(checkpoint, photo, tmp_path, capsys):
    out = tmp_path / "depth.png"
    code, printed, err = run(capsys, "predict", checkpoint, photo, "--task", "depth", "--out", out,
                             "--device", "onnxruntime:cpu")
    assert code == 0, err
    depth = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert depth.shape == (120, 160) and depth.dtype == np.uint16 and "depth 160x120" in printed


@pytest.mark.parametrize("case", ["missing image", "unreadable image", "depth-only model", "unknown task",
                                  "no task", "exported device", "json for depth", "overlay extension"])
def test_user_errors_print_one_line_and_exit_2(checkpoint, photo, tmp_path, capsys, case):
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    argv, match = {
        "missing image": ([checkpoint, tmp_path / "nope.jpg", "--task", "instances"], "not found"),
        "unreadable image": ([checkpoint, notes, "--task", "instances", "--out", tmp_path / "d.json"],
                             "cannot decode"),
        "depth-only model": (["ait-depth", photo, "--task", "instances"],
                             "ait-depth serves depth, not task='instances'"),
        "unknown task": ([checkpoint, photo, "--task", "segment"], "not task='segment'"),
        "no task": ([checkpoint, photo], "pass task='instances' or task='depth'"),
        "exported device": ([checkpoint, photo, "--task", "instances", "--device", "onnxruntime:cpu",
                             "--precision", "int8", "--out", tmp_path / "d.json"], "graphs are OpenVINO IR"),
        "json for depth": ([checkpoint, photo, "--task", "depth", "--out", tmp_path / "d.json"], "write depth as"),
        "overlay extension": ([checkpoint, photo, "--task", "instances", "--overlay", tmp_path / "d.xyz"],
                              "OpenCV cannot write"),
    }[case]
    code, _, err = run(capsys, "predict", *argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("edgetokens: error:") and match in lines[0], err


def test_demo_skips_the_joint_model_until_its_weights_ship(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path / "weights")
    assert joint_demo(tmp_path / "media") == []
    assert "ait: the joint instances + depth model has no shipped weights yet" in capsys.readouterr().out
    assert not (tmp_path / "media").exists()
    assert not any("ait_" in p.name for p in demo_outputs(tmp_path / "media", "hot-mixste"))


def test_demo_runs_both_tasks_of_the_shipped_joint_model(checkpoint, monkeypatch, tmp_path, capsys):
    shutil.copytree(checkpoint, tmp_path / "weights" / "ait")
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path / "weights")
    files = joint_demo(tmp_path / "media")
    assert [f.name for f in files] == ["ait_instances.png", "ait_depth.png"]
    assert set(files) <= set(demo_outputs(tmp_path / "media", "hot-mixste"))  # guarded by --overwrite too
    printed = capsys.readouterr().out
    assert "one model for two tasks" in printed and "instances:" in printed and "depth: RMSE" in printed
    assert cv2.imread(str(files[0])).shape == (424, 512, 3)  # the overlay, at the frame's size
    assert cv2.imread(str(files[1])).shape == (424, 3 * 512, 3)  # RGB | sensor depth | prediction

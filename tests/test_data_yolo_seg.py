"""YOLO segmentation txt loader (synthetic folders and the real coco128-seg) and the hold-out split."""

import cv2
import numpy as np
import pytest

from edgetokens.vision.coco_classes import CLASS_INDEX
from training.data.yolo_seg import load_yolo_segmentation, split_holdout

H, W = 40, 80


def make_folder(tmp_path, labels: dict[str, str], split: str | None = None):
    images, label_dir = tmp_path / "images" / (split or ""), tmp_path / "labels" / (split or "")
    images.mkdir(parents=True)
    label_dir.mkdir(parents=True)
    for name in ("000000000005", "000000000003"):
        cv2.imwrite(str(images / f"{name}.jpg"), np.full((H, W, 3), 200, np.uint8))
    for name, text in labels.items():
        (label_dir / f"{name}.txt").write_text(text)
    return tmp_path


def test_polygon_mask_box_and_missing_label(tmp_path):
    square = "2 0.25 0.25 0.75 0.25 0.75 0.75 0.25 0.75\n"
    triangle = "0 0 0 0.5 0 0 1.0005\n"  # y overshoots 1 by a hair: clipped
    root = make_folder(tmp_path, {"000000000003": square + "\n" + triangle}, split="train2017")
    dataset = load_yolo_segmentation(root, split="train2017")
    with pytest.raises(ValueError, match=r"no images .*pass split= one of \['train2017'\]"):
        load_yolo_segmentation(root)
    assert dataset.names == ["000000000003", "000000000005"] and dataset.image_ids == [3, 5]
    record = dataset[0]
    assert record.image_id == 3 and record.classes.tolist() == [2, 0] and not record.crowd.any()
    np.testing.assert_allclose(record.boxes, [[20, 10, 60, 30], [0, 0, 40, 40]])
    assert record.masks.shape == (2, H, W)
    assert record.masks[0].sum() == 40 * 20 and record.masks[0, 10:30, 20:60].all()  # exactly [20, 60) x [10, 30)
    assert abs(int(record.masks[1].sum()) - 40 * 40 // 2) <= 40  # the triangle's area, to a pixel per row
    assert record.masks[1, 38, 0] and record.masks[1, 0, 38] and not record.masks[1, 39, 39]
    empty = dataset[1]  # no label file
    assert len(empty) == 0 and empty.masks.shape == (0, H, W)
    eager = load_yolo_segmentation(root, split="train2017", lazy=False, names=["000000000003"])
    assert len(eager) == 1 and np.array_equal(eager[0].masks, record.masks)


@pytest.mark.parametrize("line, match", [
    ("80 0.1 0.1 0.5 0.1 0.5 0.5", "class 80 out of range 0..79"),
    ("-1 0.1 0.1 0.5 0.1 0.5 0.5", "class -1 out of range"),
    ("1.5 0.1 0.1 0.5 0.1 0.5 0.5", "class '1.5' is not an integer"),
    ("person 0.1 0.1 0.5 0.1 0.5 0.5", "class 'person' is not an integer"),
    ("1 0.1 0.1 0.5 0.1 0.5", "odd count of coordinates"),
    ("1 0.1 0.1 0.5 0.1", "polygon with 2 points; a polygon needs at least 3"),
    ("1 12 30 50 30 50 60", r"coordinates must be normalised to \[0, 1\]; got range \[12, 60\]"),
    ("1 0.1 0.1 0.5 x 0.5 0.5", "coordinates must be numbers"),
])
def test_bad_label_line(tmp_path, line, match):
    root = make_folder(tmp_path, {"000000000005": "0 0.1 0.1 0.5 0.1 0.5 0.5\n" + line + "\n"})
    with pytest.raises(ValueError, match=f"labels/000000000005.txt:2: {match}"):
        load_yolo_segmentation(root)


@pytest.mark.parametrize("polygon", ["0.1 0.1 0.3 0.3 0.5 0.5", "0.5 0.5 0.503 0.5 0.5 0.503"])
def test_polygon_covering_no_pixel(tmp_path, polygon):
    root = make_folder(tmp_path, {"000000000005": "0 0.1 0.1 0.5 0.1 0.5 0.5\n3 " + polygon + "\n"})
    dataset = load_yolo_segmentation(root)  # labels are valid text; the mask is made with the image
    with pytest.raises(ValueError, match="000000000005.txt:2: empty mask: the polygon covers no pixel"):
        dataset[1]


def test_unreadable_image_and_bad_folders(tmp_path):
    root = make_folder(tmp_path, {})
    (root / "images" / "000000000005.jpg").write_bytes(b"\x00junk")
    dataset = load_yolo_segmentation(root)
    with pytest.raises(ValueError, match="000000000005.jpg: OpenCV cannot decode"):
        dataset[1]
    with pytest.raises(FileNotFoundError, match="YOLO image folder not found"):
        load_yolo_segmentation(root, split="val2017")
    with pytest.raises(ValueError, match="no image named 'nope'"):
        load_yolo_segmentation(root, names=["nope"])
    assert load_yolo_segmentation(root, num_classes=3).names == ["000000000003", "000000000005"]


def test_coco128_seg(shared_dir):
    dataset = load_yolo_segmentation(shared_dir / "data" / "coco128-seg")
    records = [dataset[i] for i in range(len(dataset))]
    assert len(records) == 100
    assert sum(len(r) == 0 for r in records) == 2
    classes = np.concatenate([r.classes for r in records])
    assert classes.min() >= 0 and classes.max() < 80
    assert np.bincount(classes).argmax() == CLASS_INDEX["person"]
    assert all(m.any() for r in records for m in r.masks)
    assert all(r.image_id == int(name) for r, name in zip(records, dataset.names))
    for r in records:  # a box holds its mask: pixel i spans [i, i + 1]
        for box, mask in zip(r.boxes, r.masks):
            ys, xs = np.nonzero(mask)
            assert xs.min() + 1 > box[0] and xs.max() < box[2] and ys.min() + 1 > box[1] and ys.max() < box[3]


def test_split_holdout_is_deterministic_disjoint_and_per_name(shared_dir):
    names = load_yolo_segmentation(shared_dir / "data" / "coco128-seg").names
    fine_tune, evaluation = split_holdout(names, 0.2, seed=0)
    assert set(fine_tune).isdisjoint(evaluation) and sorted(fine_tune + evaluation) == sorted(names)
    assert 10 <= len(evaluation) <= 30
    assert split_holdout(reversed(names), 0.2, seed=0) == (fine_tune, evaluation)
    _, evaluation_of_half = split_holdout(names[::2], 0.2, seed=0)
    assert set(evaluation_of_half) == set(evaluation) & set(names[::2])  # membership depends on the name only
    assert split_holdout(names, 0.2, seed=1)[1] != evaluation
    assert split_holdout(names, 0.0)[1] == [] and split_holdout(names, 1.0)[0] == []
    with pytest.raises(ValueError, match="fraction"):
        split_holdout(names, 1.5)


def test_four_channel_and_grey_images_become_rgb(tmp_path):
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "rgba.png"), np.full((H, W, 4), (255, 0, 0, 10), np.uint8))  # BGRA blue
    cv2.imwrite(str(tmp_path / "images" / "grey.png"), np.full((H, W), 77, np.uint8))
    dataset = load_yolo_segmentation(tmp_path)
    assert dataset.names == ["grey", "rgba"] and dataset.image_ids == [0, 1]  # not numbers: positions
    grey, rgba = dataset[0].image, dataset[1].image
    assert grey.shape == rgba.shape == (H, W, 3) and (grey == 77).all()
    assert (rgba[..., 2] == 255).all() and (rgba[..., :2] == 0).all()

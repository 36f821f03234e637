"""COCO instances JSON loader: polygons, RLE, crowd, empty images, category mapping and every error."""

import json

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from training.data.coco import load_coco_instances
from training.data.instances import InstanceAnnotations

H, W = 40, 60


def square_rle(y0: int, y1: int, x0: int, x1: int) -> dict:
    mask = np.zeros((H, W), np.uint8)
    mask[y0:y1, x0:x1] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def uncompressed_rle(mask: np.ndarray) -> dict:
    """Column-major run lengths, starting with zeros (COCO's crowd encoding)."""
    flat, counts, value, run = mask.flatten(order="F"), [], 0, 0
    for pixel in flat:
        if pixel != value:
            counts.append(run)
            value, run = pixel, 0
        run += 1
    counts.append(run)
    return {"size": [H, W], "counts": counts}


def base_dataset() -> dict:
    crowd_mask = np.zeros((H, W), np.uint8)
    crowd_mask[30:38, 40:58] = 1
    return {
        "images": [{"id": 42, "file_name": "a.jpg", "height": H, "width": W},
                   {"id": 7, "file_name": "b.png", "height": H, "width": W}],
        "annotations": [
            {"id": 1, "image_id": 42, "category_id": 1, "iscrowd": 0, "bbox": [10, 5, 20, 10],
             "segmentation": [[10, 5, 30, 5, 30, 15, 10, 15]]},
            {"id": 2, "image_id": 42, "category_id": 90, "iscrowd": 0, "bbox": [0, 20, 5, 10],
             "segmentation": square_rle(20, 30, 0, 5)},
            {"id": 3, "image_id": 42, "category_id": 3, "iscrowd": 1, "bbox": [40, 30, 18, 8],
             "segmentation": uncompressed_rle(crowd_mask)},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 90, "name": "toothbrush"}],
    }


def write(tmp_path, dataset: dict, *, images: bool = True):
    if images:
        cv2.imwrite(str(tmp_path / "a.jpg"), np.full((H, W, 3), (255, 0, 0), np.uint8))  # BGR blue
        cv2.imwrite(str(tmp_path / "b.png"), np.full((H, W), 128, np.uint8))  # grey
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(dataset))
    return path


def test_polygon_rle_crowd_and_empty_image(tmp_path):
    dataset = load_coco_instances(write(tmp_path, base_dataset()), tmp_path)
    assert len(dataset) == 2 and dataset.image_ids == [42, 7]
    record = dataset[0]
    assert isinstance(record, InstanceAnnotations) and record.image_id == 42
    assert record.image.shape == (H, W, 3) and record.image[0, 0, 2] > 200 and record.image[0, 0, 0] < 50  # RGB
    np.testing.assert_allclose(record.boxes, [[10, 5, 30, 15], [0, 20, 5, 30], [40, 30, 58, 38]])
    assert record.classes.tolist() == [0, 79, 2]  # COCO ids 1, 90, 3 -> contiguous index
    assert record.crowd.tolist() == [False, False, True]
    assert record.masks.shape == (3, H, W) and record.masks.dtype == bool
    assert record.masks[0, 7:14, 11:29].all() and not record.masks[0, 20:, :].any()  # polygon
    assert record.masks[1].sum() == 50 and record.masks[1, 20:30, 0:5].all()  # compressed RLE
    assert record.masks[2].sum() == 8 * 18 and record.masks[2, 30:38, 40:58].all()  # uncompressed RLE
    trainable = record.without_crowd()
    assert len(trainable) == 2 and not trainable.crowd.any() and trainable.masks.shape == (2, H, W)
    empty = dataset[1]
    assert len(empty) == 0 and empty.masks.shape == (0, H, W) and empty.boxes.shape == (0, 4)
    assert empty.image.shape == (H, W, 3) and (empty.image == 128).all()  # grey replicated
    assert dataset[-1].image_id == 7
    with pytest.raises(IndexError):
        dataset[2]


def test_eager_matches_lazy_and_category_map(tmp_path):
    path = write(tmp_path, base_dataset())
    lazy, eager = load_coco_instances(path, tmp_path), load_coco_instances(path, tmp_path, lazy=False)
    np.testing.assert_array_equal(lazy[0].masks, eager[0].masks)
    custom = load_coco_instances(path, tmp_path, category_map={1: 0, 3: 1, 90: 2})
    assert custom[0].classes.tolist() == [0, 2, 1]


def test_bbox_is_kept_when_it_disagrees_with_the_mask(tmp_path):
    data = base_dataset()
    data["annotations"][0]["bbox"] = [9.5, 4.5, 21.0, 11.0]
    box = load_coco_instances(write(tmp_path, data), tmp_path)[0].boxes[0]
    np.testing.assert_allclose(box, [9.5, 4.5, 30.5, 15.5])


def expect_error(tmp_path, dataset, match, **kwargs):
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        loaded = load_coco_instances(write(tmp_path, dataset), tmp_path, **kwargs)
        loaded[0]


@pytest.mark.parametrize("key", ["images", "annotations", "categories"])
def test_missing_top_level_key(tmp_path, key):
    data = base_dataset()
    del data[key]
    expect_error(tmp_path, data, f"instances.json: missing top-level list.*'{key}'")


@pytest.mark.parametrize("key", ["image_id", "category_id", "segmentation", "bbox"])
def test_annotation_missing_field(tmp_path, key):
    data = base_dataset()
    del data["annotations"][1][key]
    expect_error(tmp_path, data, f"instances.json: annotation 2: missing '{key}'")


@pytest.mark.parametrize("change, match", [
    ({"image_id": 99}, r"annotation 2 \(image 99\): image_id 99 is not in 'images'"),
    ({"category_id": 91}, r"annotation 2 \(image 42\): unknown category_id 91.*category_map"),
    ({"segmentation": [[1, 2, 3, 4]]}, "annotation 2 .*polygon with 2 points; a polygon needs at least 3"),
    ({"segmentation": [[1, 2, 3, 4, 5, 6, 7]]}, "annotation 2 .*odd count"),
    ({"segmentation": [[0.2, 0.2, 0.4, 0.2, 0.3, 0.4]]}, r"annotation 2 \(image 42\): empty mask"),
    ({"segmentation": {"size": [H, W], "counts": [5]}}, "annotation 2 .*summing to height"),
    ({"segmentation": {"size": [10, 10], "counts": "abc"}}, r"annotation 2 .*RLE size \[10, 10\]"),
    ({"segmentation": {"size": [H, W], "counts": "!!garbage"}}, "annotation 2 .*cannot decode"),
    ({"bbox": [1, 2, -3, 4]}, "annotation 2 .*bbox must be"),
])
def test_bad_annotation(tmp_path, change, match):
    data = base_dataset()
    data["annotations"][1].update(change)
    expect_error(tmp_path, data, match, lazy=False)


def test_missing_and_unreadable_images(tmp_path):
    data = base_dataset()
    data["images"][1]["file_name"] = "missing.jpg"
    expect_error(tmp_path, data, r"images\[1\] \(image 7\): image file not found: .*missing.jpg")
    data = base_dataset()
    write(tmp_path, data)
    (tmp_path / "a.jpg").write_bytes(b"not a jpeg")
    dataset = load_coco_instances(tmp_path / "instances.json", tmp_path)  # lazy: found, not yet read
    with pytest.raises(ValueError, match="a.jpg: OpenCV cannot decode"):
        dataset[0]
    data["images"][1]["width"] = W + 1
    expect_error(tmp_path, data, "b.png: image is 60x40 but instances.json says 61x40", lazy=False)


def test_not_json(tmp_path):
    path = tmp_path / "instances.json"
    path.write_text("{'images': []")
    with pytest.raises(ValueError, match="instances.json: not valid JSON"):
        load_coco_instances(path, tmp_path)

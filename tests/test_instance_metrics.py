"""COCO AP through pycocotools: perfect, degraded, wrong-class, empty and crowd cases."""

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
import pytest

from training.data.instances import InstanceAnnotations
from training.instance_metrics import coco_ap

H, W = 64, 96


@dataclass
class Prediction:  # the attributes of InstancesResult
    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    masks: np.ndarray


def box_masks(boxes) -> np.ndarray:
    masks = np.zeros((len(boxes), H, W), bool)
    for mask, (x1, y1, x2, y2) in zip(masks, np.asarray(boxes, int)):
        mask[y1:y2, x1:x2] = True
    return masks


def record(boxes, classes, crowd=None, image_id=1) -> InstanceAnnotations:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    crowd = np.zeros(len(boxes), bool) if crowd is None else crowd
    return InstanceAnnotations(np.zeros((H, W, 3), np.uint8), boxes, classes, box_masks(boxes), crowd,
                               image_id, f"image{image_id}.jpg")


def perfect(gt: InstanceAnnotations, shift: int = 0) -> Prediction:
    boxes = gt.boxes + [shift, 0, shift, 0]
    return Prediction(boxes, np.linspace(0.9, 0.5, len(gt)), gt.classes.copy(), box_masks(boxes))


GROUND_TRUTH = [record([[4, 4, 30, 40], [40, 10, 80, 50]], [0, 2], image_id=1),
                record([[10, 20, 50, 60]], [0], image_id=2)]


def test_perfect_predictions_score_one():
    metrics = coco_ap(GROUND_TRUTH, [perfect(gt) for gt in GROUND_TRUTH])
    for key in ("box_ap", "box_ap50", "box_ap75", "mask_ap", "mask_ap50", "mask_ap75",
                "person_box_ap50", "person_mask_ap50", "person_mask_ap"):
        assert metrics[key] == pytest.approx(1.0), key
    assert metrics["per_class_mask_ap"] == {"person": pytest.approx(1.0), "car": pytest.approx(1.0)}
    assert metrics["num_images"] == 2 and metrics["num_objects"] == 3 and metrics["num_detections"] == 3


def test_shifted_predictions_lose_ap_monotonically():
    aps = [coco_ap(GROUND_TRUTH, [perfect(gt, shift) for gt in GROUND_TRUTH]) for shift in (0, 3, 6, 12)]
    for kind in ("box_ap", "mask_ap"):
        values = [m[kind] for m in aps]
        assert values[0] == pytest.approx(1.0) and all(a > b for a, b in itertools.pairwise(values)), (kind, values)
    assert aps[1]["box_ap50"] == pytest.approx(1.0) and aps[1]["box_ap"] < 1.0  # small shift: IoU still > 0.5


def test_wrong_class_costs_the_true_class_and_only_it():
    predictions = [perfect(gt) for gt in GROUND_TRUTH]
    predictions[0].class_ids[1] = 5  # the car called a bus (no bus in the ground truth)
    metrics = coco_ap(GROUND_TRUTH, predictions)
    assert metrics["per_class_box_ap"]["car"] == pytest.approx(0.0)
    assert metrics["person_box_ap50"] == pytest.approx(1.0)
    assert metrics["box_ap"] == pytest.approx(0.5) and metrics["mask_ap"] == pytest.approx(0.5)  # mean of person, car
    assert "bus" not in metrics["per_class_box_ap"]


def test_person_key_is_the_person_class():
    predictions = [perfect(gt) for gt in GROUND_TRUTH]
    predictions[1] = None  # the second person missed: person AP50 drops, car's does not
    metrics = coco_ap(GROUND_TRUTH, predictions)
    assert metrics["per_class_mask_ap"]["car"] == pytest.approx(1.0)
    assert metrics["person_mask_ap50"] == pytest.approx(0.5, abs=0.02)
    assert metrics["person_box_ap50"] == pytest.approx(metrics["person_mask_ap50"])
    car_only_found = coco_ap([GROUND_TRUTH[0]], [perfect(record([[40, 10, 80, 50]], [2]))])
    assert car_only_found["per_class_mask_ap"] == {"person": 0.0, "car": pytest.approx(1.0)}
    only_car = coco_ap([record([[40, 10, 80, 50]], [2])], [perfect(record([[40, 10, 80, 50]], [2]))])
    assert math.isnan(only_car["person_mask_ap50"]) and only_car["mask_ap"] == pytest.approx(1.0)


def test_empty_predictions_score_zero():
    empty = Prediction(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int), np.zeros((0, H, W), bool))
    for predictions in ([None, None], [empty, empty]):
        metrics = coco_ap(GROUND_TRUTH, predictions)
        assert metrics["box_ap"] == 0.0 and metrics["mask_ap50"] == 0.0 and metrics["person_mask_ap50"] == 0.0
        assert metrics["num_detections"] == 0


def test_crowd_regions_are_ignored_not_missed():
    crowded = record([[4, 4, 30, 40], [50, 5, 90, 60]], [0, 0], crowd=np.array([False, True]))
    prediction = perfect(crowded.without_crowd())
    assert coco_ap([crowded], [prediction])["mask_ap"] == pytest.approx(1.0)
    on_crowd = Prediction(np.array([[4, 4, 30, 40], [52, 8, 88, 58]], np.float32), np.array([0.9, 0.95]),
                          np.array([0, 0]), box_masks([[4, 4, 30, 40], [52, 8, 88, 58]]))
    assert coco_ap([crowded], [on_crowd])["box_ap"] == pytest.approx(1.0)  # a detection on a crowd is no false positive


def test_errors():
    with pytest.raises(ValueError, match="no ground-truth images"):
        coco_ap([], [])
    only_crowd = record([[4, 4, 30, 40]], [0], crowd=np.array([True]))
    with pytest.raises(ValueError, match="no ground-truth objects"):
        coco_ap([record(np.zeros((0, 4)), []), only_crowd], [None, None])
    with pytest.raises(ValueError, match="2 ground-truth images but 1 predictions"):
        coco_ap(GROUND_TRUTH, [None])
    bad = replace(perfect(GROUND_TRUTH[0]), masks=np.zeros((2, H // 2, W // 2), bool))
    with pytest.raises(ValueError, match=r"prediction 0 \(image1.jpg\).*masks must be \(N, 64, 96\)"):
        coco_ap(GROUND_TRUTH, [bad, None])

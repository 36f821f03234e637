"""COCO box and mask AP of instance predictions, computed by pycocotools' COCOeval (never re-implemented).

:func:`coco_ap` builds the ground truth and the detections as in-memory COCO objects (masks as RLE,
crowd regions as ``iscrowd``, which COCOeval ignores rather than counting as misses) and runs COCOeval
for ``bbox`` and ``segm`` with its default parameters (IoU 0.50:0.95, up to 100 detections per image).
The numbers are read from COCOeval's precision array as its ``summarize`` does, so box_ap / mask_ap are
COCO's "AP @ IoU 0.50:0.95, area all, maxDets 100". As in COCO, a class with no ground-truth object is
left out of every mean, so detections of such classes cost nothing; a per-class value undefined for
that reason is NaN.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from edgetokens.vision.coco_classes import COCO_CLASSES
from training.data.instances import InstanceAnnotations

MAX_DETECTIONS = 100  # COCOeval's largest maxDets, the one AP is reported at


def coco_ap(ground_truth: Sequence[InstanceAnnotations], predictions: Sequence[Any]) -> dict[str, Any]:
    """Box and mask AP of ``predictions[i]`` against ``ground_truth[i]``.

    Each prediction has ``boxes`` (N, 4) xyxy pixels, ``scores`` (N,), ``class_ids`` (N,) contiguous
    class index and ``masks`` (N, H, W) bool at the ground-truth image size (an InstancesResult, or
    any object with those attributes); ``None`` or N = 0 means no detections. Returns box_ap,
    box_ap50, box_ap75, mask_ap, mask_ap50, mask_ap75, person_box_ap(50), person_mask_ap(50) (NaN
    without person ground truth), per_class_box_ap and per_class_mask_ap ({class name: AP} for the
    classes in the ground truth), num_images, num_objects and num_detections.
    """
    if len(ground_truth) != len(predictions):
        raise ValueError(f"{len(ground_truth)} ground-truth images but {len(predictions)} predictions; "
                         "give one prediction (possibly empty) per image, in the same order")
    ground_truth_coco = _ground_truth(ground_truth)
    categories = ground_truth_coco.getCatIds()  # sorted: COCOeval's class axis
    evaluated = sorted({int(c) for r in ground_truth for c in r.classes[~r.crowd]})  # classes AP is defined for
    detections = [_detections(p, r, i) for i, (p, r) in enumerate(zip(predictions, ground_truth), 1)]
    metrics: dict[str, Any] = {"num_images": len(ground_truth),
                               "num_objects": sum(int((~r.crowd).sum()) for r in ground_truth),
                               "num_detections": sum(len(d) for d in detections)}
    for kind, iou_type in (("box", "bbox"), ("mask", "segm")):
        precision, params = _evaluate(ground_truth_coco, [d[iou_type] for image in detections for d in image], iou_type)
        metrics[f"{kind}_ap"] = _mean_ap(precision, params)
        metrics[f"{kind}_ap50"] = _mean_ap(precision, params, iou=0.5)
        metrics[f"{kind}_ap75"] = _mean_ap(precision, params, iou=0.75)
        per_class = {c: _mean_ap(precision, params, category=categories.index(c + 1)) for c in evaluated}
        per_class50 = {c: _mean_ap(precision, params, iou=0.5, category=categories.index(c + 1)) for c in evaluated}
        metrics[f"person_{kind}_ap"] = per_class.get(0, math.nan)
        metrics[f"person_{kind}_ap50"] = per_class50.get(0, math.nan)
        metrics[f"per_class_{kind}_ap"] = {_class_name(c): ap for c, ap in per_class.items()}
    return metrics


def _ground_truth(records: Sequence[InstanceAnnotations]) -> COCO:
    """An in-memory COCO of the records: image ids 1..N by position, category id = class index + 1,
    the categories being the classes present (detections of other classes are not evaluated, as in COCO)."""
    if not records:
        raise ValueError("no ground-truth images: AP is undefined")
    if not any((~r.crowd).any() for r in records):
        raise ValueError(f"no ground-truth objects (other than crowd regions) in {len(records)} images: "
                         "AP is undefined")
    images, annotations = [], []
    for image_id, record in enumerate(records, 1):
        images.append({"id": image_id, "height": record.height, "width": record.width})
        for box, class_index, rle, crowd in zip(record.boxes, record.classes, _encode(record.masks), record.crowd):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": int(class_index) + 1, "bbox": _xywh(box),
                                "segmentation": rle, "area": float(mask_utils.area(rle)), "iscrowd": int(crowd)})
    categories = [{"id": c} for c in sorted({a["category_id"] for a in annotations})]
    return _coco({"images": images, "annotations": annotations, "categories": categories})


def _detections(prediction: Any, record: InstanceAnnotations, image_id: int) -> list[dict[str, dict]]:
    """COCO results of one image: for each detection its ``bbox`` and its ``segm`` entry."""
    if prediction is None or len(prediction.scores) == 0:
        return []
    boxes = np.asarray(prediction.boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(prediction.scores, np.float64).reshape(-1)
    class_ids = np.asarray(prediction.class_ids).reshape(-1)
    masks = np.asarray(prediction.masks, bool)
    n = len(scores)
    if len(boxes) != n or len(class_ids) != n or masks.shape != (n, record.height, record.width):
        raise ValueError(f"prediction {image_id - 1} ({record.source}): {n} scores, {len(boxes)} boxes, "
                         f"{len(class_ids)} class ids and masks {masks.shape}; masks must be "
                         f"(N, {record.height}, {record.width}) like the ground-truth image")
    results = []
    for box, score, class_id, rle in zip(boxes, scores, class_ids, _encode(masks)):
        common = {"image_id": image_id, "category_id": int(class_id) + 1, "score": float(score)}
        results.append({"bbox": {**common, "bbox": _xywh(box)}, "segm": {**common, "segmentation": rle}})
    return results


def _evaluate(ground_truth: COCO, results: list[dict], iou_type: str) -> tuple[np.ndarray, Any]:
    """COCOeval's precision array [IoU, recall, class, area, maxDets] (-1 = no ground truth) and params."""
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        if results:
            detections = ground_truth.loadRes([dict(r) for r in results])  # loadRes adds keys: copies
        else:  # loadRes cannot take an empty list (it reads results[0])
            detections = _coco({"images": ground_truth.dataset["images"], "annotations": [],
                                "categories": ground_truth.dataset["categories"]})
        evaluator = COCOeval(ground_truth, detections, iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
    return evaluator.eval["precision"], evaluator.params


def _mean_ap(precision: np.ndarray, params: Any, iou: float | None = None, category: int | None = None) -> float:
    """Mean of the defined precision entries, as COCOeval.summarize (area 'all', maxDets 100);
    iou: one threshold, else all; category: one index of the class axis, else all."""
    values = precision[:, :, :, params.areaRngLbl.index("all"), params.maxDets.index(MAX_DETECTIONS)]
    if iou is not None:
        values = values[np.isclose(params.iouThrs, iou)]
    if category is not None:
        values = values[:, :, category]
    defined = values[values > -1]
    return float(defined.mean()) if defined.size else math.nan


def _xywh(box: np.ndarray) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def _encode(masks: np.ndarray) -> list[dict]:
    """(N, H, W) bool -> N compressed RLEs."""
    if len(masks) == 0:
        return []
    return mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))


def _coco(dataset: dict) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = dataset
        coco.createIndex()
    return coco


def _class_name(class_index: int) -> str:
    return COCO_CLASSES[class_index] if class_index < len(COCO_CLASSES) else f"class_{class_index}"

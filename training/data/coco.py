"""COCO instances JSON (``instances_val2017.json`` and the like) -> :class:`InstanceAnnotations`.

One record per entry of ``images``, in file order; an image without annotations is an empty record.
Masks come from ``segmentation`` through pycocotools: polygons (a list of ``[x1, y1, x2, y2, ...]``),
uncompressed RLE (``counts`` a list, as COCO stores crowd regions) and compressed RLE (``counts`` a
string). Boxes come from ``bbox`` (xywh -> xyxy), as given: COCO's box AP is computed against
``bbox``, so when ``bbox`` and the rasterised mask disagree (usually by a pixel, since the box holds
the polygon's float bounds) the box is kept, not recomputed from the mask. ``iscrowd`` becomes
:attr:`InstanceAnnotations.crowd`. Category ids map to the contiguous COCO index through
``CATEGORY_TO_INDEX`` unless ``category_map`` is given.

The JSON is read and checked when loading (structure, ids, categories, polygons, image files exist);
images and masks are decoded per item (``lazy=True``) or all at load time (``lazy=False``, which
raises every error up front). Errors name the file, the annotation id and its image id.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from edgetokens.vision.coco_classes import CATEGORY_TO_INDEX
from training.data.instances import AnnotatedImages, InstanceAnnotations, decode_rle
from training.data.nyu import read_rgb as read_rgb_image

REQUIRED_TOP_LEVEL = ("images", "annotations", "categories")
REQUIRED_ANNOTATION = ("image_id", "category_id", "segmentation", "bbox")


class CocoInstances(AnnotatedImages):
    """The images of one COCO instances file; ``dataset[i]`` -> :class:`InstanceAnnotations`."""

    def __init__(self, annotation_json: str | os.PathLike, image_root: str | os.PathLike, *,
                 category_map: Mapping[int, int] | None = None, lazy: bool = True) -> None:
        self.annotation_json = Path(annotation_json)
        self.image_root = Path(image_root)
        self.category_map = dict(CATEGORY_TO_INDEX if category_map is None else category_map)
        self._name = self.annotation_json.name
        data = _read_json(self.annotation_json)
        self.images = [self._check_image(entry, i) for i, entry in enumerate(data["images"])]
        by_id = {image["id"]: image for image in self.images}
        if len(by_id) != len(self.images):
            raise ValueError(f"{self._name}: duplicate image ids in 'images'")
        self._annotations: dict[int, list[dict[str, Any]]] = {image_id: [] for image_id in by_id}
        for position, annotation in enumerate(data["annotations"]):
            checked = self._check_annotation(annotation, position, by_id)
            self._annotations[checked["image_id"]].append(checked)
        self._read_all_unless(lazy)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_ids(self) -> list[int]:
        return [image["id"] for image in self.images]

    # --- checks at load time -------------------------------------------------------------------------
    def _check_image(self, entry: Any, position: int) -> dict[str, Any]:
        where = f"{self._name}: images[{position}]"
        if not isinstance(entry, dict) or not all(k in entry for k in ("id", "file_name", "height", "width")):
            raise ValueError(f"{where}: an image entry needs 'id', 'file_name', 'height' and 'width'")
        if not all(_is_int(entry[k]) for k in ("id", "height", "width")) or min(entry["height"], entry["width"]) < 1:
            raise ValueError(f"{where}: 'id', 'height' and 'width' must be integers (sizes >= 1)")
        path = self.image_root / str(entry["file_name"])
        if not path.is_file():
            raise FileNotFoundError(f"{where} (image {entry['id']}): image file not found: {path}")
        return {"id": int(entry["id"]), "path": path, "height": int(entry["height"]), "width": int(entry["width"])}

    def _check_annotation(self, annotation: Any, position: int, images: dict[int, dict]) -> dict[str, Any]:
        if not isinstance(annotation, dict):
            raise ValueError(f"{self._name}: annotations[{position}] is not an object")
        label = annotation.get("id", f"[{position}]")
        missing = [key for key in REQUIRED_ANNOTATION if key not in annotation]
        if missing:
            raise ValueError(f"{self._name}: annotation {label}: missing {', '.join(map(repr, missing))}")
        image_id = annotation["image_id"]
        where = f"{self._name}: annotation {label} (image {image_id})"
        if not _is_int(image_id) or image_id not in images:
            raise ValueError(f"{where}: image_id {image_id!r} is not in 'images'")
        category = annotation["category_id"]
        if not _is_int(category) or category not in self.category_map:
            raise ValueError(f"{where}: unknown category_id {category!r} (not one of the 80 COCO categories); "
                             "pass category_map={category_id: class_index} for another category set")
        bbox = annotation["bbox"]
        if (not isinstance(bbox, list) or len(bbox) != 4 or not all(_is_number(v) for v in bbox)
                or bbox[2] < 0 or bbox[3] < 0):
            raise ValueError(f"{where}: bbox must be [x, y, width, height] with width, height >= 0; got {bbox!r}")
        image = images[image_id]
        _check_segmentation(annotation["segmentation"], image["height"], image["width"], where)
        x, y, w, h = (float(v) for v in bbox)
        return {"image_id": int(image_id), "where": where, "segmentation": annotation["segmentation"],
                "class": int(self.category_map[category]), "box": (x, y, x + w, y + h),
                "crowd": bool(annotation.get("iscrowd", 0))}

    # --- decoding ------------------------------------------------------------------------------------
    def _load(self, index: int) -> InstanceAnnotations:
        image = self.images[index]
        rgb = read_rgb_image(image["path"])
        if rgb.shape[:2] != (image["height"], image["width"]):
            raise ValueError(f"{image['path']}: image is {rgb.shape[1]}x{rgb.shape[0]} but {self._name} says "
                             f"{image['width']}x{image['height']} (image {image['id']})")
        annotations = self._annotations[image["id"]]
        if not annotations:
            return InstanceAnnotations.empty(rgb, image["id"], str(image["path"]))
        masks = np.stack([_decode(a["segmentation"], image["height"], image["width"], a["where"])
                          for a in annotations])
        return InstanceAnnotations(
            image=rgb, boxes=np.array([a["box"] for a in annotations], np.float32),
            classes=np.array([a["class"] for a in annotations], np.int64), masks=masks,
            crowd=np.array([a["crowd"] for a in annotations], bool), image_id=image["id"],
            source=str(image["path"]))


def load_coco_instances(annotation_json: str | os.PathLike, image_root: str | os.PathLike, *,
                        category_map: Mapping[int, int] | None = None, lazy: bool = True) -> CocoInstances:
    """The images of a COCO instances JSON as a sequence of :class:`InstanceAnnotations`.

    image_root: the folder the ``file_name`` entries are relative to. category_map: COCO
    ``category_id`` -> class index (default: the 80 COCO categories -> 0..79). lazy: decode images
    and masks per item (default) or all now.
    """
    return CocoInstances(annotation_json, image_root, category_map=category_map, lazy=lazy)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"COCO annotation file not found: {path}")
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: expected a JSON object with {', '.join(REQUIRED_TOP_LEVEL)}")
    missing = [key for key in REQUIRED_TOP_LEVEL if not isinstance(data.get(key), list)]
    if missing:
        raise ValueError(f"{path.name}: missing top-level list(s) {', '.join(map(repr, missing))}; "
                         "is this a COCO instances file?")
    return data


def _check_segmentation(segmentation: Any, height: int, width: int, where: str) -> None:
    """Structure only (decoding waits for the image): polygons of >= 3 points, or an RLE of the image's size."""
    if isinstance(segmentation, list):
        if not segmentation:
            raise ValueError(f"{where}: empty segmentation (no polygons)")
        for polygon in segmentation:
            if not isinstance(polygon, list) or not all(_is_number(v) for v in polygon):
                raise ValueError(f"{where}: a polygon must be a list of numbers [x1, y1, x2, y2, ...]")
            if len(polygon) % 2:
                raise ValueError(f"{where}: polygon with an odd count of numbers ({len(polygon)})")
            if len(polygon) < 6:
                raise ValueError(f"{where}: polygon with {len(polygon) // 2} points; a polygon needs at least 3")
        return
    if not isinstance(segmentation, dict) or "counts" not in segmentation or "size" not in segmentation:
        raise ValueError(f"{where}: segmentation must be a list of polygons or an RLE {{'size', 'counts'}}")
    if list(segmentation["size"]) != [height, width]:
        raise ValueError(f"{where}: RLE size {segmentation['size']} but the image is [{height}, {width}] (h, w)")
    counts = segmentation["counts"]
    if isinstance(counts, list):
        if not all(_is_int(c) and c >= 0 for c in counts) or sum(counts) != height * width:
            raise ValueError(f"{where}: uncompressed RLE counts must be non-negative integers summing to "
                             f"height * width = {height * width}")
    elif not isinstance(counts, str):
        raise ValueError(f"{where}: RLE counts must be a list (uncompressed) or a string (compressed)")


def _decode(segmentation: Any, height: int, width: int, where: str) -> np.ndarray:
    """-> (H, W) bool through pycocotools; an empty mask is an error."""
    try:
        if isinstance(segmentation, list):
            rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
        elif isinstance(segmentation["counts"], list):
            rle = mask_utils.frPyObjects(segmentation, height, width)
        else:
            rle = {"size": segmentation["size"], "counts": segmentation["counts"].encode("ascii")}
        mask = decode_rle(rle)
    except (ValueError, UnicodeEncodeError) as err:
        raise ValueError(f"{where}: cannot decode the segmentation ({err})") from err
    if mask.shape != (height, width):
        raise ValueError(f"{where}: decoded mask is {mask.shape}, expected {(height, width)}")
    if not mask.any():
        raise ValueError(f"{where}: empty mask (the segmentation covers no pixel)")
    return mask


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

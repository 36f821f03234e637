"""Reading 2D keypoint sequences from files that 2D detectors write, and writing 3D results.

Accepted inputs (one person per frame; with several, the one with the highest mean score):
- `.npy`: (T, 17, 2) pixels, or (T, 17, 3) with scores;
- `.npz`: arrays `keypoints` (T, 17, 2|3) and optionally `scores` (T, 17), `image_size` (w, h);
- `.json`, COCO results style (MMPose's `--save-predictions` older format, many tools): a list of
  `{"image_id" | "frame" | "frame_id": t, "keypoints": [x1, y1, s1, ... x17, y17, s17]}`;
- `.json`, MMPose / rtmlib style: `{"instance_info": [{"frame_id": t, "instances": [{"keypoints":
  [[x, y], ...], "keypoint_scores": [...]}]}]}` (also a bare list of those frame entries).
JSON keypoints are COCO-17 (layout "coco"); arrays say nothing, so the caller picks the layout.
Frames without a person get NaN keypoints with score 0, which the Predictor masks.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NUM_JOINTS = 17


@dataclass
class KeypointFile:
    keypoints: np.ndarray  # (T, 17, 2) float pixels
    scores: np.ndarray | None  # (T, 17) or None
    layout: str | None  # "coco" when the format implies it, else None
    image_size: tuple[int, int] | None  # (w, h) when the file records it


def load_keypoints(path: str | Path) -> KeypointFile:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"keypoint file {path} not found")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return from_array(np.load(path), None, path)
    if suffix == ".npz":
        with np.load(path) as data:
            if "keypoints" not in data.files:
                raise ValueError(f"{path} has no array 'keypoints' (arrays: {', '.join(data.files)})")
            size = tuple(int(v) for v in data["image_size"]) if "image_size" in data.files else None
            scores = data["scores"] if "scores" in data.files else None
            result = from_array(data["keypoints"], scores, path)
            result.image_size = size
            return result
    if suffix == ".json":
        try:
            content = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from err
        return from_json(content, path)
    raise ValueError(f"{path}: unsupported keypoint file type {suffix!r}; use .npy, .npz or .json")


def from_array(keypoints: np.ndarray, scores: np.ndarray | None, source: Path) -> KeypointFile:
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[1] != NUM_JOINTS or kp.shape[2] not in (2, 3):
        raise ValueError(f"{source}: keypoints must be (T, 17, 2) or (T, 17, 3); got {kp.shape}")
    if kp.shape[2] == 3:
        kp, scores = kp[..., :2], kp[..., 2]
    return KeypointFile(kp, None if scores is None else np.asarray(scores, np.float64), None, None)


def _frame_entries(content) -> list[tuple[int, list[tuple[list, list]]]]:
    """[(frame index, [(keypoints [[x, y]...], scores [...]) per person])] from either JSON style."""
    if isinstance(content, dict) and "instance_info" in content:
        content = content["instance_info"]
    if not isinstance(content, list):
        raise ValueError("expected a list of detections or {'instance_info': [...]}")
    frames: dict[int, list] = {}
    for i, entry in enumerate(content):
        if not isinstance(entry, dict):
            raise ValueError(f"entry {i} is not an object")
        frame = int(entry.get("frame_id", entry.get("frame", entry.get("image_id", i))))
        if "instances" in entry:  # MMPose / rtmlib: several people per frame entry
            people = [(inst["keypoints"], inst.get("keypoint_scores")) for inst in entry["instances"]]
        elif "keypoints" in entry:  # COCO results: one detection per entry
            flat = np.asarray(entry["keypoints"], dtype=np.float64)
            if flat.size != NUM_JOINTS * 3:
                raise ValueError(f"entry {i}: COCO keypoints need 51 numbers (x, y, score x 17); got {flat.size}")
            flat = flat.reshape(NUM_JOINTS, 3)
            people = [(flat[:, :2].tolist(), flat[:, 2].tolist())]
        else:
            raise ValueError(f"entry {i} has neither 'keypoints' nor 'instances'")
        frames.setdefault(frame, []).extend(people)
    return sorted(frames.items())


def from_json(content, source: Path) -> KeypointFile:
    try:
        entries = _frame_entries(content)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{source}: not a COCO-results or MMPose/rtmlib keypoint file: {err}") from err
    if not entries:
        raise ValueError(f"{source}: no detections in the file")
    first = entries[0][0]
    length = entries[-1][0] - first + 1
    keypoints = np.full((length, NUM_JOINTS, 2), np.nan)
    scores = np.zeros((length, NUM_JOINTS))
    for frame, people in entries:
        best, best_score = None, -np.inf
        for kp, sc in people:
            kp = np.asarray(kp, dtype=np.float64).reshape(NUM_JOINTS, -1)[:, :2]
            sc = np.ones(NUM_JOINTS) if sc is None else np.asarray(sc, dtype=np.float64).reshape(NUM_JOINTS)
            if sc.mean() > best_score:
                best, best_score = (kp, sc), sc.mean()
        keypoints[frame - first], scores[frame - first] = best
    return KeypointFile(keypoints, scores, "coco", None)


def save_poses(path: str | Path, poses_3d: np.ndarray, meta: dict) -> Path:
    """(T, 17, 3) metres -> .npz (`poses_3d` + meta as JSON) or .json ({"poses_3d": [...], ...})."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".npz":
        np.savez_compressed(path, poses_3d=poses_3d.astype(np.float32), meta=json.dumps(meta))
    elif path.suffix.lower() == ".json":
        path.write_text(json.dumps({**meta, "units": "metres, camera frame, root-relative",
                                    "poses_3d": np.round(poses_3d, 5).tolist()}))
    else:
        raise ValueError(f"{path}: write .json or .npz")
    return path

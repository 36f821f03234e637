"""Reading 2D keypoint sequences from files that 2D detectors write, and writing 3D results.

Accepted inputs (one person per frame; with several, the one with the highest mean score):
- `.npy`: (T, 17, 2) pixels, or (T, 17, 3) with scores;
- `.npz`: arrays `keypoints` (T, 17, 2|3) and optionally `scores` (T, 17), `image_size` (w, h);
- `.json`, COCO results style (MMPose's `--save-predictions` older format, many tools): a list of
  `{"image_id" | "frame" | "frame_id": t, "keypoints": [x1, y1, s1, ... x17, y17, s17]}`;
- `.json`, MMPose / rtmlib style: `{"instance_info": [{"frame_id": t, "instances": [{"keypoints":
  [[x, y], ...], "keypoint_scores": [...]}]}]}` (also a bare list of those frame entries).
JSON keypoints are COCO-17 (layout "coco"); arrays say nothing, so the caller picks the layout.
Frames without a person get NaN keypoints with score 0, which the Predictor masks (and reports in
`PoseResult.frame_observed`).

Limits, so that a file's numbers never decide how much memory is allocated: consecutive JSON frame
ids may be at most `MAX_FRAME_GAP` (10,000) apart, a sequence spans at most `MAX_FRAMES` (1,000,000
frames, 9 hours at 30 fps), and array files are checked against the same bound from their headers
before they are read. Each entry error names the file, the entry and the expected 17 x 2 or 17 x 3.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NUM_JOINTS = 17
MAX_FRAME_GAP = 10_000  # frame ids further apart than this are an error, not a gap filled with NaN
MAX_FRAMES = 1_000_000  # frames one file may span


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
        with path.open("rb") as f:
            _check_array_header(f, path, "the array")
        return from_array(np.load(path, allow_pickle=False), None, path)
    if suffix == ".npz":
        try:
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    with archive.open(member) as f:
                        _check_array_header(f, path, member)
        except zipfile.BadZipFile as err:
            raise ValueError(f"{path} is not a valid .npz file: {err}") from err
        with np.load(path, allow_pickle=False) as data:
            if "keypoints" not in data.files:
                raise ValueError(f"{path} has no array 'keypoints' (arrays: {', '.join(data.files)})")
            size = _image_size(data["image_size"], path) if "image_size" in data.files else None
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


def _check_array_header(f, source: Path, name: str) -> None:
    """Refuse an .npy header whose shape asks for more than MAX_FRAMES frames of keypoints, before reading."""
    try:
        version = np.lib.format.read_magic(f)
        shape, _, _ = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                       else np.lib.format.read_array_header_2_0(f))
    except ValueError as err:
        raise ValueError(f"{source}: {name} is not a valid .npy array: {err}") from err
    if int(np.prod(shape, dtype=object)) > MAX_FRAMES * NUM_JOINTS * 3:
        raise ValueError(f"{source}: {name} has shape {shape}, more than the {MAX_FRAMES:,} frames of 17 x 3 "
                         "a keypoint file may hold; split the sequence")


def _image_size(value: np.ndarray, source: Path) -> tuple[int, int]:
    value = np.asarray(value)
    if value.shape != (2,) or value.dtype.kind not in "iuf" or not np.isfinite(value).all():
        raise ValueError(f"{source}: image_size must be two numbers (width, height); got {value!r}")
    return int(value[0]), int(value[1])


def from_array(keypoints: np.ndarray, scores: np.ndarray | None, source: Path) -> KeypointFile:
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[1] != NUM_JOINTS or kp.shape[2] not in (2, 3):
        raise ValueError(f"{source}: keypoints must be (T, 17, 2) or (T, 17, 3); got {kp.shape}")
    if kp.shape[2] == 3:
        kp, scores = kp[..., :2], kp[..., 2]
    return KeypointFile(kp, None if scores is None else np.asarray(scores, np.float64), None, None)


def _person(keypoints, scores, where: str, coco: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One detection -> keypoints (17, 2), scores (17,); errors name the entry and the expected sizes.
    `coco`: the COCO-results form, 51 numbers x, y, score x 17."""
    try:
        kp = np.asarray(keypoints, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"{where}: keypoints must be numbers, 17 x 2 or 17 x 3 ({err})") from None
    if coco and kp.shape != (NUM_JOINTS * 3,):
        raise ValueError(f"{where}: COCO keypoints need 51 numbers (x, y, score x 17); got {kp.size} "
                         f"in shape {kp.shape}")
    if kp.shape in ((NUM_JOINTS * 2,), (NUM_JOINTS * 3,)):
        kp = kp.reshape(NUM_JOINTS, -1)
    if kp.shape not in ((NUM_JOINTS, 2), (NUM_JOINTS, 3)):
        raise ValueError(f"{where}: keypoints must be 17 x 2 or 17 x 3 values ([[x, y], ...] or [x1, y1, s1, ...]); "
                         f"got {kp.size} values in shape {kp.shape}")
    if scores is None:
        sc = kp[:, 2] if kp.shape[1] == 3 else np.ones(NUM_JOINTS)
    else:
        try:
            sc = np.asarray(scores, dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as err:
            raise ValueError(f"{where}: keypoint_scores must be 17 numbers ({err})") from None
        if sc.shape != (NUM_JOINTS,):
            raise ValueError(f"{where}: keypoint_scores must be 17 numbers; got shape {sc.shape}")
    return kp[:, :2], sc


def _frame_id(entry: dict, i: int, source: Path) -> int:
    value = entry.get("frame_id", entry.get("frame", entry.get("image_id", i)))
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{source}: entry {i}: frame id must be an integer; got {value!r}")
    try:
        frame = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{source}: entry {i}: frame id must be an integer; got {value!r}") from None
    if frame != float(value):
        raise ValueError(f"{source}: entry {i}: frame id must be an integer; got {value!r}")
    return frame


def _frame_entries(content, source: Path) -> list[tuple[int, list[tuple[np.ndarray, np.ndarray]]]]:
    """[(frame index, [(keypoints (17, 2), scores (17,)) per person])] from either JSON style."""
    if isinstance(content, dict) and "instance_info" in content:
        content = content["instance_info"]
    if not isinstance(content, list):
        raise ValueError(f"{source}: not a COCO-results or MMPose/rtmlib keypoint file: expected a list of "
                         "detections or {'instance_info': [...]}")
    frames: dict[int, list] = {}
    for i, entry in enumerate(content):
        if not isinstance(entry, dict):
            raise ValueError(f"{source}: entry {i} is not an object")
        frame = _frame_id(entry, i, source)
        where = f"{source}: entry {i} (frame {frame})"
        if "instances" in entry:  # MMPose / rtmlib: several people per frame entry
            if not isinstance(entry["instances"], list):
                raise ValueError(f"{where}: 'instances' must be a list")
            people = []
            for k, inst in enumerate(entry["instances"]):
                if not isinstance(inst, dict) or "keypoints" not in inst:
                    raise ValueError(f"{where}, instance {k}: expected an object with 'keypoints'")
                people.append(_person(inst["keypoints"], inst.get("keypoint_scores"), f"{where}, instance {k}"))
        elif "keypoints" in entry:  # COCO results: one detection per entry, x, y, score x 17
            people = [_person(entry["keypoints"], None, where, coco=True)]
        else:
            raise ValueError(f"{where} has neither 'keypoints' nor 'instances'")
        frames.setdefault(frame, []).extend(people)
    return sorted(frames.items())


def from_json(content, source: Path) -> KeypointFile:
    entries = _frame_entries(content, source)
    if not entries:
        raise ValueError(f"{source}: no detections in the file")
    ids = [frame for frame, _ in entries]
    gaps = np.diff(ids)
    if len(gaps) and gaps.max() > MAX_FRAME_GAP:
        k = int(gaps.argmax())
        raise ValueError(f"{source}: frame ids {ids[k]} and {ids[k + 1]} are {ids[k + 1] - ids[k]:,} frames apart; "
                         f"gaps of more than {MAX_FRAME_GAP:,} frames are refused (split the file, or "
                         "renumber the frames)")
    length = ids[-1] - ids[0] + 1
    if length > MAX_FRAMES:
        raise ValueError(f"{source}: frame ids {ids[0]} to {ids[-1]} span {length:,} frames, more than the "
                         f"{MAX_FRAMES:,} one file may hold; split the file")
    first = ids[0]
    keypoints = np.full((length, NUM_JOINTS, 2), np.nan)
    scores = np.zeros((length, NUM_JOINTS))
    for frame, people in entries:
        keypoints[frame - first], scores[frame - first] = max(people, key=lambda person: person[1].mean())
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

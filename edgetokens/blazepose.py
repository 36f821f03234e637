"""MediaPipe BlazePose (detector + full landmark model) on still images, on any device of the lifters.

The pipeline follows MediaPipe's pose graph in static-image mode: letterboxed 224x224 detector input
in [-1, 1], SSD anchor decoding, weighted NMS, the best detection's keypoints 0 and 1 give a rotated
square ROI (x1.25), a 256x256 crop in [0, 1], 33 landmarks mapped back through the crop's affine.
The maths lives in `edgetokens.keypoints2d`; the two .tflite files ship in `edgetokens/assets/blazepose`.
Each becomes a bundle in the cache on first use (`runtimes.tflite_bundle`: the .tflite,
which OpenVINO reads directly, and its ONNX conversion for ONNX Runtime), opened by
`runtimes.open_session`: the Predictor's device strings, precisions, CPU probe, compile caches and errors.

    python -m edgetokens.blazepose   # ONNX Runtime vs OpenVINO on the golden stills (docs/experiments)
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import cv2
import numpy as np

from edgetokens.assets import ASSETS_DIR
from edgetokens.clitools import positive_int, run_cli
from edgetokens.keypoints2d.anchors import ssd_anchors
from edgetokens.keypoints2d.decode import (
    Detection,
    decode_detections,
    refine_from_heatmap,
    sigmoid,
)
from edgetokens.keypoints2d.roi import (
    Roi,
    crop_to_image,
    letterbox_roi,
    roi_from_keypoints,
    warp_crop,
)
from edgetokens.keypoints2d.skeleton import to_coco17
from edgetokens.versions import package_version
from runtimes import BundleError, ModelSource, Session, open_session
from runtimes.cpuinfo import describe_cpu
from runtimes.manifest import sha256_file
from runtimes.tflite_bundle import tflite_bundle
from runtimes.timing import summarize, time_side_by_side

log = logging.getLogger(__name__)

BLAZEPOSE_DIR = ASSETS_DIR / "blazepose"
DETECTOR_FILE, LANDMARK_FILE = "pose_detection.tflite", "pose_landmark_full.tflite"
CHECKSUMS = "SHA256SUMS"  # `sha256sum` lines for the files of a model directory (the shipped one has it)
DETECTOR_SIZE = 224
LANDMARK_SIZE = 256
NUM_LANDMARKS = 33


def check_model_files(model_dir: Path) -> None:
    """Both model files are there and, where the directory has a SHA256SUMS, match it."""
    for name in (DETECTOR_FILE, LANDMARK_FILE):
        if not (model_dir / name).is_file():
            raise FileNotFoundError(f"BlazePose model file {model_dir / name} not found: model_dir must hold "
                                    f"{DETECTOR_FILE} and {LANDMARK_FILE} (the shipped ones are in {BLAZEPOSE_DIR})")
    sums = model_dir / CHECKSUMS
    if not sums.is_file():
        return
    for line in sums.read_text().splitlines():
        expected, _, name = line.strip().partition("  ")
        if name and sha256_file(model_dir / name) != expected:
            raise BundleError(f"BlazePose model file {model_dir / name} does not match its sha256 in {sums}: "
                              "the file was changed or truncated; reinstall edgetokens (or restore the file)")


def open_model(tflite: Path, device: str, precision: str, threads: int | None, fallback: str | None,
               cache_dir: str | Path | None) -> Session:
    """One .tflite on a device, through its bundle in the cache (converted to ONNX once)."""
    bundle = tflite_bundle(tflite, cache_dir, task="keypoints2d")
    return open_session(ModelSource.open(bundle, verify=False), device, precision, threads=threads,
                        fallback=fallback, cache_dir=cache_dir)  # verify=False: tflite_bundle just checked it


class BlazePose:
    """BlazePose on single images.

    device: as for the Predictor: "cpu" (ONNX Runtime or OpenVINO, whichever measures faster here),
        "gpu", "npu", "auto" or "backend:target" ("openvino:GPU.0", "onnxruntime:tensorrt", ...); see
        `runtimes.devices`. Both models run on the target the landmark model resolves to, reported in
        `device` (e.g. "openvino:CPU").
    precision: "fp32" or "fp16" (OpenVINO only, as for the lifters). fallback: a device to use, with a
        warning, when `device` is unavailable. threads, cache_dir: as for the Predictor.
    """

    def __init__(self, device: str = "cpu", model_dir: str | Path = BLAZEPOSE_DIR,
                 score_threshold: float = 0.5, iou_threshold: float = 0.3, pose_threshold: float = 0.5,
                 roi_scale: float = 1.25, *, precision: str = "fp32", fallback: str | None = None,
                 threads: int | None = None, cache_dir: str | Path | None = None):
        model_dir = Path(model_dir)
        check_model_files(model_dir)
        # The landmark model runs on every frame (the detector only when tracking is lost): it picks the target.
        self.landmarker = open_model(model_dir / LANDMARK_FILE, device, precision, threads, fallback, cache_dir)
        self.device: str = self.landmarker.device
        self.detector = open_model(model_dir / DETECTOR_FILE, self.device, precision, threads, fallback, cache_dir)
        if self.detector.device != self.device:
            log.warning("the BlazePose detector runs on %s, the landmark model on %s", self.detector.device,
                        self.device)
        self.anchors = ssd_anchors(DETECTOR_SIZE)
        self.score_threshold, self.iou_threshold = score_threshold, iou_threshold
        self.pose_threshold, self.roi_scale = pose_threshold, roi_scale
        # outputs by shape, not by name (TFLite's Identity_N names are not a contract)
        det = {tuple(s.shape[1:]): s.name for s in self.detector.outputs}
        self._det_boxes, self._det_scores = det[(len(self.anchors), 12)], det[(len(self.anchors), 1)]
        lm = {tuple(s.shape[1:]): s.name for s in self.landmarker.outputs}
        self._lm_points, self._lm_flag = lm[(39 * 5,)], lm[(1,)]
        self._lm_heatmap = next(name for shape, name in lm.items() if len(shape) == 3 and shape[-1] == 39)

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        """People in a BGR uint8 image: boxes (xmin, ymin, xmax, ymax) and 4 keypoints in image pixels,
        best score first."""
        height, width = image_bgr.shape[:2]
        roi = letterbox_roi(width, height)
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        crop = warp_crop(rgb, roi, DETECTOR_SIZE, border=cv2.BORDER_CONSTANT)
        x = crop.astype(np.float32)[None] * (2.0 / 255.0) - 1.0
        out = self.detector.run(x)
        found = decode_detections(out[self._det_boxes][0], out[self._det_scores][0], self.anchors,
                                  scale=DETECTOR_SIZE, score_threshold=self.score_threshold,
                                  iou_threshold=self.iou_threshold)
        people = []
        for d in found:  # [0, 1] letterbox units -> image pixels
            corners = crop_to_image(d.box.reshape(2, 2), roi, 1)
            people.append(Detection(corners.reshape(4).astype(np.float32),
                                    crop_to_image(d.keypoints, roi, 1).astype(np.float32), d.score))
        return people

    def landmarks_in(self, image_bgr: np.ndarray, roi: Roi) -> tuple[float, np.ndarray]:
        """The landmark model on one ROI: (pose flag score, (33, 5) x, y, z in image pixels,
        visibility and presence in [0, 1])."""
        flag, points = self.all_landmarks_in(image_bgr, roi)
        return flag, points[:NUM_LANDMARKS]

    def all_landmarks_in(self, image_bgr: np.ndarray, roi: Roi) -> tuple[float, np.ndarray]:
        """As `landmarks_in`, with all 39 model points: the 33 body landmarks, then the 2 auxiliary
        alignment points (33: hip centre, 34: scale and rotation point, as the detector's keypoints 0
        and 1; video mode's next ROI comes from them), then 4 unused ones."""
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        crop = warp_crop(rgb, roi, LANDMARK_SIZE, border=cv2.BORDER_REPLICATE)
        out = self.landmarker.run(crop.astype(np.float32)[None] / 255.0)
        raw = out[self._lm_points].reshape(-1, 5).astype(np.float64)
        # MediaPipe refines x, y from the 64x64 heatmap (kernel 7, min confidence 0.5) in crop units
        xy = refine_from_heatmap(raw[:, :2] / LANDMARK_SIZE, out[self._lm_heatmap][0])
        points = np.empty((len(raw), 5), dtype=np.float32)
        points[:, :2] = crop_to_image(xy * LANDMARK_SIZE, roi, LANDMARK_SIZE)
        points[:, 2] = raw[:, 2] * roi.width / LANDMARK_SIZE
        points[:, 3:] = sigmoid(raw[:, 3:5])
        return float(np.asarray(out[self._lm_flag]).reshape(-1)[0]), points

    def landmarks(self, image_bgr: np.ndarray) -> tuple[bool, np.ndarray, np.ndarray]:
        """The best-scoring person in a still BGR image: (found, (33, 5) landmarks x, y, z pixels +
        visibility + presence, (17, 3) COCO-17 x, y, score). NaN arrays when no person is found."""
        nothing = (False, np.full((NUM_LANDMARKS, 5), np.nan, np.float32), np.full((17, 3), np.nan, np.float32))
        people = self.detect(image_bgr)
        if not people:
            return nothing
        roi = roi_from_keypoints(people[0].keypoints[0], people[0].keypoints[1], self.roi_scale)
        flag, points = self.landmarks_in(image_bgr, roi)
        if flag < self.pose_threshold:
            return nothing
        return True, points, to_coco17(points)


# --- `python -m edgetokens.blazepose`: ONNX Runtime vs OpenVINO on MediaPipe's golden stills -------------

def golden_stills(shared: Path) -> tuple[dict, list[np.ndarray]]:
    """The golden record of shared/golden/blazepose and its still frames decoded from the video."""
    golden = dict(np.load(shared / "golden" / "blazepose" / "blazepose_one_by_one.npz"))
    capture = cv2.VideoCapture(str(shared / "data" / "videos" / "one-by-one-person-detection.mp4"))
    frames = []
    for index in golden["still_frames"]:
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, frame = capture.read()
        if not ok:
            raise FileNotFoundError(f"could not decode frame {index} of the golden video under {shared}")
        frames.append(frame)
    capture.release()
    return golden, frames


def compare_backends(shared: Path, repeats: int = 50, threads: int | None = None) -> str:
    """ONNX Runtime vs OpenVINO on the CPU: landmark differences on the golden stills, conformance to
    MediaPipe and ms per call of each model, as markdown (OpenVINO's fp16 too)."""
    golden, frames = golden_stills(shared)
    width, height = golden["image_size"]
    models = {"onnxruntime:cpu": BlazePose("onnxruntime:cpu", threads=threads),
              "openvino:CPU": BlazePose("openvino:CPU", threads=threads),
              "openvino:CPU fp16": BlazePose("openvino:CPU", precision="fp16", threads=threads)}
    ort, ov = models["onnxruntime:cpu"], models["openvino:CPU"]
    pipeline, same_roi = [], []
    agree, to_mediapipe = {name: 0 for name in models}, {name: [] for name in models}
    all_errors, relative = {name: [] for name in models}, {name: [] for name in models}
    for i, frame in enumerate(frames):
        results = {name: model.landmarks(frame) for name, model in models.items()}
        for name, (found, points, _) in results.items():
            agree[name] += found == bool(golden["still_found"][i])
            if found and golden["still_found"][i]:
                reference = golden["still_landmarks"][i][:, :2] * [width, height]
                errors = np.linalg.norm(points[:, :2] - reference, axis=1)
                diagonal = float(np.linalg.norm(reference.max(0) - reference.min(0)))  # the person's box
                to_mediapipe[name].append(np.median(errors))
                all_errors[name].append(errors)
                relative[name].append(100 * np.median(errors) / diagonal)
        (ort_found, ort_points, _), (ov_found, ov_points, _) = results["onnxruntime:cpu"], results["openvino:CPU"]
        if ort_found and ov_found:
            pipeline.append(np.linalg.norm(ort_points[:, :2] - ov_points[:, :2], axis=1))
            people = ov.detect(frame)  # the landmark model alone: both on OpenVINO's region
            roi = roi_from_keypoints(people[0].keypoints[0], people[0].keypoints[1], ov.roi_scale)
            ort_roi, ov_roi = ort.landmarks_in(frame, roi)[1], ov.landmarks_in(frame, roi)[1]
            same_roi.append(np.linalg.norm(ort_roi[:, :2] - ov_roi[:, :2], axis=1))
    frame = frames[int(np.argmax(golden["still_found"]))]
    people = ov.detect(frame)
    roi = roi_from_keypoints(people[0].keypoints[0], people[0].keypoints[1], ov.roi_scale)
    calls = {}
    for name, model in models.items():
        detector_feeds, landmark_feeds = model.detector.example_feeds(), model.landmarker.example_feeds()
        calls[(name, "detector")] = lambda m=model, f=detector_feeds: m.detector._run(f)
        calls[(name, "landmarks")] = lambda m=model, f=landmark_feeds: m.landmarker._run(f)
        calls[(name, "detect")] = lambda m=model: m.detect(frame)
        calls[(name, "landmarks_in")] = lambda m=model: m.landmarks_in(frame, roi)
    ms = {key: summarize(t)["p50_ms"] for key, t in time_side_by_side(calls, repeats=repeats).items()}

    def row(label: str, cells) -> str:
        return f"| {label} | " + " | ".join(cells) + " |"

    lines = [(f"CPU: {describe_cpu()}; onnxruntime {package_version('onnxruntime')}, openvino "
              f"{package_version('openvino')}; threads: {threads or 'default'}"), "",
             (f"ONNX Runtime vs OpenVINO (fp32), landmark x, y distance on {len(frames)} golden stills "
              f"(px of the {width}x{height} frame):"), "",
             "| | landmarks | median px | p95 px | max px |", "|---|---|---|---|---|"]
    for label, distances in (("whole pipeline (each backend's own detection)", pipeline),
                             ("landmark model alone (the same region)", same_roi)):
        d = np.concatenate(distances)
        lines.append(row(label, [str(len(d))] + [f"{v:.3f}" for v in (np.median(d), np.percentile(d, 95), d.max())]))
    hint = models["openvino:CPU fp16"].landmarker.config["INFERENCE_PRECISION_HINT"]  # bf16 where the CPU has it
    lines += ["", row("", ["onnxruntime:cpu fp32", "openvino:CPU fp32", f"openvino:CPU fp16 (computes {hint})"]),
              "|---|---|---|---|",
              row("found/not-found as MediaPipe", [f"{agree[n]}/{len(frames)}" for n in models]),
              row("median landmark error vs MediaPipe, px", [f"{np.median(to_mediapipe[n]):.2f}" for n in models]),
              row("... as % of the person's box diagonal", [f"{np.median(relative[n]):.2f}%" for n in models]),
              row("p95 landmark error vs MediaPipe, px (all landmarks)",
                  [f"{np.percentile(np.concatenate(all_errors[n]), 95):.2f}" for n in models])]
    for part, label in (("detector", "detector model alone, ms (p50)"),
                        ("landmarks", "landmark model alone, ms (p50)"),
                        ("detect", "`detect(frame)`: crop, detector, decoding, ms (p50)"),
                        ("landmarks_in", "`landmarks_in(frame, region)`: crop, landmarks, refinement, ms (p50)")):
        lines.append(row(label, [f"{ms[(n, part)]:.2f}" for n in models]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgetokens.blazepose", description=compare_backends.__doc__)
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("EDGETOKENS_SHARED", "../shared")),
                        help="the project's shared data (golden/blazepose, data/videos); default $EDGETOKENS_SHARED "
                             "or ../shared")
    parser.add_argument("--repeats", type=positive_int, default=50, help="timed calls per model and backend")
    parser.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: the runtimes')")
    args = parser.parse_args(argv)
    return run_cli(lambda: print(compare_backends(args.shared, args.repeats, args.threads)), parser.prog)


if __name__ == "__main__":
    raise SystemExit(main())

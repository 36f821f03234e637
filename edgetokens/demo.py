"""`edgetokens demo`: the shipped default on held-out real motion, on every CPU backend.

Lifts the shipped CMU clip (subject 03, never trained on; 2D from a virtual camera with detector
noise) with the shipped model, prints the accuracy against the true 3D motion, times one window
on each backend side by side, streams part of the clip, and writes a picture and a short video
(2D input | predicted and true 3D skeleton). Then video -> 3D on the shipped real clip (BlazePose
2D, tracked, then the lifter; a side-by-side video), and each shipped depth model (`ait-depth-lite0`,
`ait-depth`) on the shipped real RGB-D frame; then the joint AiT (instances and depth from one model)
on the same frame, when a trained `ait` is shipped.
"""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from runtimes.timing import summarize, time_side_by_side

from . import Predictor, viz
from .assets import CMU_CREDIT, RGBD_SAMPLE, WALKING_CLIP, WALKING_CREDIT  # noqa: F401 (re-exported)
from .assets import CMU_DEMO_CLIP as ASSET
from .cli_video import write_pose_video
from .clitools import check_int, check_output, write_image
from .instances_predictor import DEFAULT_MIN_SCORE
from .pose.metrics import mpjpe, p_mpjpe
from .vision.depth import colorize_depth, depth_metrics
from .vision.depth_io import RGBD_SAMPLE_ENCODING, read_depth_png
from .video_pose import VideoPose
from .viz import VideoWriter
from .zoo import list_pretrained

BACKENDS = ("openvino:CPU", "onnxruntime:cpu", "torch:cpu")
DEPTH_MODELS = ("ait-depth-lite0", "ait-depth")  # ImageNet backbone, then from scratch: each one shipped


def load_clip(path: Path = ASSET) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; recreate it with `python -m training.demo_clip`")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def demo_outputs(out_dir: str | Path, model: str, depth_models: tuple[str, ...] = DEPTH_MODELS,
                 joint_model: str = "ait") -> list[Path]:
    """The files `run_demo` writes into `out_dir` (the AiT pictures only when their weights are shipped)."""
    out_dir = Path(out_dir)
    files = [out_dir / f"{model}_pose.png", out_dir / f"{model}_pose.mp4", out_dir / f"{model}_video.mp4"]
    shipped = list_pretrained()
    files += [out_dir / f"{name}_sample.png" for name in depth_models if name in shipped]
    return files + (joint_outputs(out_dir, joint_model) if joint_model in shipped else [])


def joint_outputs(out_dir: Path, model: str = "ait") -> list[Path]:
    """The joint model's pictures: the instance overlay and the depth picture."""
    return [out_dir / f"{model}_instances.png", out_dir / f"{model}_depth.png"]


def check_demo_outputs(out_dir: str | Path, model: str, overwrite: bool = False) -> None:
    """`out_dir` is (or can become) a folder, and the demo's files in it exist only with `overwrite`."""
    check_output(out_dir, overwrite=True, directory=True)  # an existing folder is fine; a file is not
    for path in demo_outputs(out_dir, model):
        check_output(path, overwrite=overwrite, flag=f"--out {out_dir}:")


def run_demo(model: str = "hot-mixste", repeats: int = 10, stream_frames: int = 500,
             out_dir: str | Path = "demo_output", video_seconds: float = 6.0, overwrite: bool = False) -> dict:
    check_int("repeats", repeats)
    check_int("stream_frames", stream_frames)
    if not video_seconds > 0:
        raise ValueError(f"video_seconds must be > 0; got {video_seconds!r}")
    check_demo_outputs(out_dir, model, overwrite)
    clip = load_clip()
    keypoints = clip["keypoints"].astype(np.float32)
    scores = clip["scores"].astype(np.float32)
    truth = clip["poses_3d"].astype(np.float32)
    image_size = tuple(int(v) for v in clip["image_size"])
    print(f"clip: {clip['name']}, {len(keypoints)} frames at {float(clip['fps']):.0f} Hz")
    print(f"  {clip['credit']}")

    predictors = {b: Predictor(model, device=b) for b in BACKENDS}
    best = Predictor(model, device="cpu")
    result = best.predict(keypoints, image_size, scores=scores, flip=True)
    error = {"mpjpe_mm": 1000 * mpjpe(result.poses_3d, truth), "p_mpjpe_mm": 1000 * p_mpjpe(result.poses_3d, truth)}
    print(f"\n{model} on device='cpu' -> {result.device}: MPJPE {error['mpjpe_mm']:.1f} mm, "
          f"P-MPJPE {error['p_mpjpe_mm']:.1f} mm ({result.frames} frames in {result.timings_ms['total']:.0f} ms, "
          f"{result.fps:.0f} frames/s with flip averaging)")

    window = np.zeros((1, best.frames, 17, best.in_channels), np.float32)
    times = time_side_by_side({b: (lambda p=p: p.run_clips(window)) for b, p in predictors.items()}, repeats=repeats)
    print(f"\n{'backend':<18}{'p50 ms/window':>15}{'frames/s':>10}")
    latency = {}
    for backend, samples in times.items():
        stats = summarize(samples)
        latency[backend] = stats["p50_ms"]
        print(f"{backend:<18}{stats['p50_ms']:>15.2f}{1000 * best.frames / stats['p50_ms']:>10.0f}")
    streaming = stream_clip(best, keypoints[:stream_frames], scores[:stream_frames], truth[:stream_frames],
                            image_size)
    out_dir = Path(out_dir)
    files = write_pose_media(keypoints, scores, result.poses_3d, truth, image_size, float(clip["fps"]),
                             out_dir, model, video_seconds)
    files += [video_demo(out_dir, model)]
    for name in DEPTH_MODELS:
        files += depth_demo(out_dir, name)
    files += joint_demo(out_dir)
    print("\nwrote " + ", ".join(str(f) for f in files))
    return {"device": result.device, **error, "latency_ms": latency, "streaming": streaming,
            "files": [str(f) for f in files]}


def pose_frame(keypoints: np.ndarray, scores: np.ndarray, pred: np.ndarray, truth: np.ndarray,
               side: float, text: str, panel: int = 360) -> np.ndarray:
    """One video frame: the 2D input in a square of `side` pixels centred on the person |
    predicted (orange) and true (green) 3D skeletons from two viewpoints."""

    centre = (np.nanmin(keypoints, axis=0) + np.nanmax(keypoints, axis=0)) / 2
    flat = viz.draw_skeleton_2d(viz.blank(panel, panel, 15), (keypoints - centre + side / 2) * panel / side,
                                scores=scores)
    flat = viz.label(flat, text)
    views = [viz.render_skeleton_3d([truth, pred], panel, azimuth, 10, [viz.TRUTH, viz.PRED], title=title)
             for azimuth, title in ((0, "camera view: truth green, prediction orange"), (70, "side view"))]
    return np.hstack([flat, *views])


def write_pose_media(keypoints, scores, pred, truth, image_size, fps: float, out_dir: Path, model: str,
                     seconds: float) -> list[Path]:
    """A picture of one frame and a short video (every other frame) of the clip."""

    out_dir.mkdir(parents=True, exist_ok=True)
    step = 2
    frames = range(0, min(len(keypoints), int(seconds * fps)), step)
    extent = np.nanmax(keypoints, axis=1) - np.nanmin(keypoints, axis=1)  # (T, 2) person size per frame
    side = 1.3 * float(np.nanmax(extent))  # one crop size, following the person
    label = f"2D input ({image_size[0]}x{image_size[1]} camera, cropped), frame"
    picture = out_dir / f"{model}_pose.png"
    t = len(keypoints) // 3
    write_image(picture, pose_frame(keypoints[t], scores[t], pred[t], truth[t], side, f"{label} {t}"))
    video = out_dir / f"{model}_pose.mp4"
    with VideoWriter(video, fps=fps / step) as writer:
        for t in frames:
            writer.write(pose_frame(keypoints[t], scores[t], pred[t], truth[t], side, f"{label} {t}"))
    return [picture, video]


def video_demo(out_dir: Path, model: str, clip: Path = WALKING_CLIP) -> Path:
    """Video -> 3D on the shipped real clip: BlazePose (tracked) then the lifter, frames/s per stage and
    the side-by-side video."""
    result = VideoPose(model, device="cpu").run(clip)
    rates = result.frames_per_second
    print(f"\nvideo -> 3D on {clip.name} ({result.frame_count} frames, {result.image_size[0]}x{result.image_size[1]}; "
          f"{WALKING_CREDIT}):")
    print(f"  a person in {int(result.found.sum())} frames ({len(result.segments)} segments, no pose elsewhere); "
          f"detector {result.devices['detector']}, lifter {result.devices['lifter']}")
    print(f"  frames/s: decode {rates['decode']:.0f}, 2D {rates['detect_landmarks']:.0f}, 3D {rates['lift']:.0f}, "
          f"all stages {rates['total']:.0f}")
    return write_pose_video(clip, result, out_dir / f"{model}_video.mp4")


def depth_demo(out_dir: Path, model: str = "ait-depth") -> list[Path]:
    """The shipped depth model on the shipped real RGB-D frame: RMSE on its valid pixels and a picture."""

    if model not in list_pretrained():
        print(f"\n{model}: no shipped depth weights yet, so the depth demo is skipped "
              "(train them with the commands in the README's AiT section)")
        return []
    bgr = cv2.imread(str(RGBD_SAMPLE / "sample_rgb.png"))
    result = Predictor(model, device="cpu").predict(bgr)
    rmse = write_depth_sample(bgr, result.depth, out_dir / f"{model}_sample.png")
    print(f"\n{model} on the real RGB-D frame ({result.device}): RMSE {rmse:.2f} m on its valid pixels, "
          f"{result.timings_ms['total']:.0f} ms")
    return [out_dir / f"{model}_sample.png"]


def write_depth_sample(bgr: np.ndarray, depth: np.ndarray, picture: Path) -> float:
    """RGB | sensor depth | prediction of the RGB-D frame into `picture`; the RMSE on its valid pixels."""
    truth = read_depth_png(RGBD_SAMPLE / "sample_depth.png", RGBD_SAMPLE_ENCODING)
    picture.parent.mkdir(parents=True, exist_ok=True)
    write_image(picture, np.hstack([bgr, colorize_depth(truth, max_depth=10.0), colorize_depth(depth, max_depth=10.0)]))
    return depth_metrics(depth, truth, eigen_crop=False, name="rgbd sample")["rmse"]


def joint_demo(out_dir: Path, model: str = "ait") -> list[Path]:
    """Both tasks of the one joint model on the shipped real RGB-D frame: instances (an overlay) and
    depth (RMSE and the depth picture), each with its time."""
    if model not in list_pretrained():
        print(f"\n{model}: the joint instances + depth model has no shipped weights yet, so its demo is skipped")
        return []
    bgr = cv2.imread(str(RGBD_SAMPLE / "sample_rgb.png"))
    instances = Predictor(model, task="instances", device="cpu").predict(bgr)
    depth = Predictor(model, task="depth", device="cpu").predict(bgr)
    overlay, picture = joint_outputs(out_dir, model)
    rmse = write_depth_sample(bgr, depth.depth, picture)
    write_image(overlay, instances.plot(bgr))
    counts = ", ".join(f"{n} {name}" for name, n in Counter(instances.names).most_common())
    print(f"\n{model}, one model for two tasks, on the real RGB-D frame:")
    print(f"  instances: {len(instances)}{f' ({counts})' if counts else ''} scoring >= {DEFAULT_MIN_SCORE:g}, "
          f"{instances.timings_ms['total']:.0f} ms on {instances.device}")
    print(f"  depth: RMSE {rmse:.2f} m on its valid pixels, {depth.timings_ms['total']:.0f} ms on {depth.device}")
    return [overlay, picture]


def stream_clip(predictor, keypoints: np.ndarray, scores: np.ndarray, truth: np.ndarray,
                image_size: tuple[int, int], strides: tuple[int, ...] = (1, 2, 4)) -> dict[int, dict]:
    """Push the clip frame by frame (no flip) with each stride; frames/s and MPJPE of what came out."""

    print(f"\nstreaming {len(keypoints)} frames one at a time ({predictor.device}, no flip)")
    print(f"{'stride':>6}{'delay (frames)':>16}{'frames/s':>10}{'max push ms':>13}{'MPJPE mm':>10}")
    report = {}
    for stride in strides:
        stream = predictor.stream(image_size, stride=stride)
        start, slowest, poses = time.perf_counter(), 0.0, []
        for frame, score in zip(keypoints, scores):
            poses.append(stream.push(frame, score))
            slowest = max(slowest, stream.latency_ms)
        fps = len(keypoints) / (time.perf_counter() - start)
        # push t answered frame max(t - delay, 0): drop the first `delay` answers, add the flushed tail
        poses = np.concatenate([np.stack(poses)[stream.delay:], stream.flush()])
        error = 1000 * mpjpe(poses, truth)
        report[stride] = {"fps": fps, "max_push_ms": slowest, "mpjpe_mm": error}
        print(f"{stride:>6}{stride - 1:>16}{fps:>10.0f}{slowest:>13.1f}{error:>10.1f}")
    return report

"""`edgetokens demo`: the shipped default on held-out real motion, on every CPU backend.

Lifts the shipped CMU clip (subject 03, never trained on; 2D from a virtual camera with detector
noise) with the shipped model, prints the accuracy against the true 3D motion, and times one window
on each backend side by side.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

ASSET = Path(__file__).resolve().parent / "assets" / "cmu_demo_clip.npz"
CMU_CREDIT = ("The data used in this project was obtained from mocap.cs.cmu.edu. "
              "The database was created with funding from NSF EIA-0196217.")
BACKENDS = ("openvino:CPU", "onnxruntime:cpu", "torch:cpu")


def load_clip(path: Path = ASSET) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; recreate it with `python -m training.demo_clip`")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def run_demo(model: str = "hot-mixste", repeats: int = 10, stream_frames: int = 500) -> dict:
    from runtimes.timing import summarize, time_side_by_side

    from . import Predictor
    from .pose.metrics import mpjpe, p_mpjpe

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
    return {"device": result.device, **error, "latency_ms": latency, "streaming": streaming}


def stream_clip(predictor, keypoints: np.ndarray, scores: np.ndarray, truth: np.ndarray,
                image_size: tuple[int, int], strides: tuple[int, ...] = (1, 2, 4)) -> dict[int, dict]:
    """Push the clip frame by frame (no flip) with each stride; frames/s and MPJPE of what came out."""
    import time

    from .pose.metrics import mpjpe

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

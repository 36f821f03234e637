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


def run_demo(model: str = "hot-mixste", repeats: int = 10) -> dict:
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
    return {"device": result.device, **error, "latency_ms": latency}

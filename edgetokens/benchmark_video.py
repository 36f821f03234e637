"""Video -> 3D end to end, per stage: decode, BlazePose 2D (detect + landmarks), the lifter.

    python -m runtimes.benchmark --video edgetokens/assets/walking_clip.mp4 --devices cpu,openvino:CPU \
        --precisions fp32,int8 --stream-strides 1,2,4 --repeats 3

(`edgetokens benchmark --video ...` is the same.) Every device x precision is one `VideoPose` (both
stages on the device; the precision is the lifter's). The frames are decoded once per round (the
decode column) and then fed from memory, so the other columns time the models. Per row: the offline
`run` (each person's frames lifted as whole sequences with flip averaging) as ms per frame of each
stage and frames/s of the three together with decode; then `stream` at each stride (one frame in,
one pose out, no flip), as sustained frames/s and the slowest push. Rows are measured in interleaved
rounds and the median round is reported, so ratios hold on a busy machine.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from runtimes.cpuinfo import describe_cpu

from .clitools import positive_int
from .video_frames import FrameReader
from .video_pose import VideoPose, VideoPoseStream


def decode(path: str | Path, max_frames: int | None) -> tuple[list[np.ndarray], float, float]:
    """The frames of `path`, their frame rate, and the decode ms per frame."""
    reader = FrameReader(path, max_frames=max_frames)
    try:
        frames = [frame for _, frame in reader]
    finally:
        reader.close()
    return frames, reader.fps, reader.decode_ms / max(len(frames), 1)


def time_stream(pipeline: VideoPose, frames: list[np.ndarray], fps: float, stride: int) -> tuple[float, float]:
    """(frames/s, slowest push ms) of the pipeline's live stream over the frames, no flip."""
    stream = VideoPoseStream(pipeline.predictor, pipeline.detector, fps, stride, flip=False, smooth=pipeline.smooth)
    start, slowest = time.perf_counter(), 0.0
    for frame in frames:
        slowest = max(slowest, stream.push(frame).latency_ms)
    stream.flush()
    return len(frames) / (time.perf_counter() - start), slowest


def video_rows(video: str | Path, models: list[str], devices: list[str], precisions: list[str],
               strides: list[int], repeats: int, max_frames: int | None) -> list[dict]:
    pipelines = {(m, d, p): VideoPose(m, device=d, precision=p) for m in models for d in devices for p in precisions}
    samples: dict[tuple, list[dict]] = {key: [] for key in pipelines}
    found = {}
    for _ in range(repeats):
        frames, fps, decode_ms = decode(video, max_frames)
        for key, pipeline in pipelines.items():
            result = pipeline.run(iter(frames), fps=fps)
            count = result.frame_count
            found[key] = int(result.found.sum())
            sample = {"decode_ms": decode_ms, "detect_landmarks_ms": result.timings_ms["detect_landmarks"] / count,
                      "lift_ms": result.timings_ms["lift"] / count}
            sample["fps"] = 1000 / (sample["decode_ms"] + sample["detect_landmarks_ms"] + sample["lift_ms"])
            for stride in strides:
                sample[f"stream_fps_{stride}"], sample[f"max_push_ms_{stride}"] = time_stream(pipeline, frames, fps,
                                                                                               stride)
            samples[key].append(sample)
    rows = []
    for (model, device, precision), runs in samples.items():
        pipeline = pipelines[(model, device, precision)]
        row = {"model": model, "device": device, "precision": precision, **pipeline.devices,
               "frames": len(frames), "found": found[(model, device, precision)]}
        row.update({k: statistics.median(r[k] for r in runs) for k in runs[0]})
        rows.append(row)
    return rows


def to_text(rows: list[dict], strides: list[int], video: str | Path) -> str:
    first = rows[0]
    lines = [f"{Path(video).name}: {first['frames']} frames; {describe_cpu()}",
             "offline run (flip) ms per frame: decode | 2D (detect + landmarks) | 3D; frames/s of all three; "
             "stream: frames/s (slowest push ms) per stride, no flip"]
    header = (f"{'model':<14}{'device':<16}{'prec':<6}{'detector':<16}{'lifter':<18}{'found':>6}{'decode':>8}"
              f"{'2D':>7}{'3D':>7}{'fps':>7}" + "".join(f"{f'stride {s}':>16}" for s in strides))
    lines.append(header)
    for r in rows:
        line = (f"{r['model']:<14}{r['device']:<16}{r['precision']:<6}{r['detector']:<16}{r['lifter']:<18}"
                f"{r['found']:>6}{r['decode_ms']:>8.2f}{r['detect_landmarks_ms']:>7.2f}{r['lift_ms']:>7.2f}"
                f"{r['fps']:>7.1f}")
        line += "".join(f"{r[f'stream_fps_{s}']:>8.1f} ({r[f'max_push_ms_{s}']:>4.0f})" for s in strides)
        lines.append(line)
    return "\n".join(lines)


def add_video_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", type=Path, default=None,
                        help="time video -> 3D on this file per stage instead of single graph calls")
    parser.add_argument("--stream-strides", default="1,2,4", help="with --video: comma list of stream strides")
    parser.add_argument("--max-frames", type=positive_int, default=None, help="with --video: the first N frames")


def run_video(args: argparse.Namespace) -> list[dict]:
    if not args.video.is_file():
        raise FileNotFoundError(f"--video {args.video} not found")
    strides = [positive_int(s) for s in args.stream_strides.split(",") if s.strip()]
    rows = video_rows(args.video, args.models, args.devices, args.precisions, strides, args.repeats,
                      args.max_frames)
    print(to_text(rows, strides, args.video))
    return rows

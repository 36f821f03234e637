"""Make the real video clip shipped with the package (`edgetokens/assets/walking_clip.mp4`).

    python -m training.demo_video_clip --video ../shared/data/videos/one-by-one-person-detection.mp4

Frames 150-269 (12 s at 10 frames/s, 768x432) of Intel IoT DevKit's CC BY 4.0 sample video: one
person walks away and out of view, the room is empty for a few frames, then the next person walks
in. So the demo shows tracking, a lost person and a new one. Re-encoded with OpenCV's mp4v codec;
the credit is in `edgetokens.assets.WALKING_CREDIT` and `edgetokens/assets/README.md`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2

from edgetokens.assets import WALKING_CLIP
from edgetokens.clitools import non_negative_int, positive_int, run_cli
from edgetokens.viz import VideoWriter


def make_clip(video: str | Path, start: int = 150, frames: int = 120, out: Path = WALKING_CLIP) -> Path:
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise ValueError(f"{video}: not a video OpenCV can open")
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    written = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(out, fps=fps) as writer:
        while written < frames:
            ok, frame = capture.read()
            if not ok:
                raise ValueError(f"{video} ended after frame {start + written - 1}; asked for {start}+{frames}")
            writer.write(frame)
            written += 1
    capture.release()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.demo_video_clip", description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", default="../shared/data/videos/one-by-one-person-detection.mp4")
    parser.add_argument("--start", type=non_negative_int, default=150, help="first frame")
    parser.add_argument("--frames", type=positive_int, default=120, help="frames to keep")
    args = parser.parse_args(argv)
    return run_cli(lambda: print(make_clip(args.video, args.start, args.frames)), "training.demo_video_clip")


if __name__ == "__main__":
    raise SystemExit(main())

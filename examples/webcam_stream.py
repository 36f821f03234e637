"""Live 3D pose from a webcam, offline: one camera frame in, one 3D pose out (VideoPose.stream).

    python examples/webcam_stream.py --camera 0 --stride 2 --show     # a camera
    python examples/webcam_stream.py --video walk.mp4 --frames 100    # replay a video as if live

Each frame goes through the shipped BlazePose models (detect, then track until lost) and into the
lifter's causal window; with `--stride K` the lifter runs once every K frames and poses come back
K-1 frames late (see the README). Frames without a person give no pose. `--show` opens a window with
the frame and its 3D skeleton; otherwise the loop prints the sustained frames/s.
"""
import argparse
import time

import cv2

from edgetokens import VideoPose
from edgetokens.video_pose import render_video_frame
from edgetokens.clitools import non_negative_int, positive_int


def frames(source):
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise SystemExit(f"cannot open {'camera' if isinstance(source, int) else 'video'} {source}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield frame, fps
    finally:
        capture.release()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = p.add_mutually_exclusive_group()
    source.add_argument("--camera", type=non_negative_int, default=None, help="camera index (default 0)")
    source.add_argument("--video", help="replay this video file instead of a camera")
    p.add_argument("--stride", type=positive_int, default=2, help="the lifter runs every STRIDE frames")
    p.add_argument("--model", default="hot-mixste")
    p.add_argument("--device", default="cpu")
    p.add_argument("--frames", type=positive_int, default=None, help="stop after N frames")
    p.add_argument("--show", action="store_true", help="show the frame and its 3D skeleton in a window")
    args = p.parse_args(argv)

    pipeline = VideoPose(args.model, device=args.device, fallback="cpu")
    stream, count, people = None, 0, 0
    start = time.perf_counter()
    for frame, fps in frames(args.video if args.video else (args.camera or 0)):
        if stream is None:
            stream = pipeline.stream(fps=fps, stride=args.stride)
        result = stream.push(frame)
        count += 1
        people += result.found
        if args.show:
            text = f"pose of frame {result.pose_frame}" if result.found else "no person"
            cv2.imshow("edgetokens 3D", render_video_frame(frame, result.keypoints_2d, result.pose_3d, text))
            if cv2.waitKey(1) == 27:
                break
        if args.frames and count >= args.frames:
            break
    fps = count / (time.perf_counter() - start)
    print(f"{count} frames streamed (a person in {people}), 2D on {pipeline.devices['detector']}, 3D on "
          f"{pipeline.devices['lifter']}, stride {args.stride} (poses {args.stride - 1} frames late): "
          f"{fps:.0f} frames/s")


if __name__ == "__main__":
    main()

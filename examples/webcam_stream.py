"""Live 3D pose from a webcam: one frame in, one 3D pose out (predictor.stream).

    python examples/webcam_stream.py --camera 0 --stride 2            # needs rtmlib and a camera
    python examples/webcam_stream.py --keypoints walk.json --image-size 1920 1080   # replay a file

Each frame's 2D keypoints (rtmlib, or a replayed file) are pushed into the stream; with `--stride K`
the model runs once every K frames and poses come back K-1 frames late (see the README). The window
shows the 3D skeleton when `--show` is given; otherwise the loop prints the sustained frames/s.
"""
import argparse
import time

import cv2
import numpy as np

from edgetokens import Predictor, viz
from edgetokens.keypoints_io import load_keypoints
from edgetokens.clitools import non_negative_int, positive_int


def camera_frames(index):
    from video_to_3d import detect_with_rtmlib  # same 2D step as the offline example

    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise SystemExit(f"cannot open camera {index}")
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        kp, sc = detect_with_rtmlib([frame])
        yield kp[0], sc[0], (frame.shape[1], frame.shape[0])


def replay(path, image_size):
    data = load_keypoints(path)
    scores = data.scores if data.scores is not None else np.ones(data.keypoints.shape[:2])
    for kp, sc in zip(data.keypoints, scores):
        yield kp, sc, image_size


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--camera", type=non_negative_int, default=None, help="camera index (rtmlib detects the 2D pose)")
    p.add_argument("--keypoints", help="replay this keypoint file instead of a camera")
    p.add_argument("--image-size", type=positive_int, nargs=2, metavar=("W", "H"), default=(1920, 1080))
    p.add_argument("--layout", default="coco", choices=["coco", "h36m"])
    p.add_argument("--stride", type=positive_int, default=2, help="model runs every STRIDE frames")
    p.add_argument("--model", default="hot-mixste")
    p.add_argument("--device", default="cpu")
    p.add_argument("--frames", type=positive_int, default=None, help="stop after N frames")
    p.add_argument("--show", action="store_true", help="show the 3D skeleton in a window")
    args = p.parse_args(argv)

    source = replay(args.keypoints, tuple(args.image_size)) if args.keypoints else camera_frames(args.camera or 0)
    predictor = Predictor(args.model, device=args.device, fallback="cpu")
    stream = None
    start, count = time.perf_counter(), 0
    for kp, score, size in source:
        if stream is None:
            stream = predictor.stream(image_size=size, layout=args.layout, stride=args.stride)
        pose = stream.push(kp, score)
        count += 1
        if args.show:
            cv2.imshow("edgetokens 3D", viz.render_skeleton_3d([pose], 400, colors=[viz.PRED]))
            if cv2.waitKey(1) == 27:
                break
        if args.frames and count >= args.frames:
            break
    fps = count / (time.perf_counter() - start)
    print(f"{count} frames streamed on {predictor.device}, stride {args.stride} "
          f"(poses {args.stride - 1} frames late): {fps:.0f} frames/s")


if __name__ == "__main__":
    main()

"""A video -> 3D poses and a side-by-side video (the 2D input drawn on the frame | the 3D skeleton).

    python examples/video_to_3d.py walk.mp4 --out walk_3d.mp4                # 2D from rtmlib
    python examples/video_to_3d.py walk.mp4 --keypoints walk.json --out ... # 2D from your own detector

The 2D step is not part of edgetokens. With `--keypoints`, any COCO-17 keypoint file works (see
pose_from_keypoints.py). Without it, rtmlib (`pip install rtmlib`; RTMPose + YOLOX on ONNX Runtime)
detects people per frame and the highest-scoring one is lifted; rtmlib downloads its ONNX models on
first use, which needs internet, so that path was not run on the project's offline machines. Without
a video, `--keypoints` plus `--image-size` draws on a blank canvas.
"""
import argparse

import cv2
import numpy as np

from edgetokens import Predictor, viz
from edgetokens.keypoints_io import load_keypoints, save_poses
from edgetokens.clitools import positive_float, positive_int


def detect_with_rtmlib(frames):
    try:
        from rtmlib import Body
    except ImportError:
        raise SystemExit("no --keypoints given and rtmlib is not installed: pip install rtmlib, or pass "
                         "--keypoints FILE from your 2D detector") from None
    body = Body(mode="balanced", backend="onnxruntime", device="cpu")
    keypoints, scores = [], []
    for frame in frames:
        kp, sc = body(frame)  # (people, 17, 2), (people, 17)
        if len(kp) == 0:
            keypoints.append(np.full((17, 2), np.nan))
            scores.append(np.zeros(17))
            continue
        best = int(np.argmax(np.mean(sc, axis=1)))
        keypoints.append(kp[best])
        scores.append(sc[best])
    return np.stack(keypoints), np.stack(scores)


def read_video(path):
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise SystemExit(f"cannot open video {path}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    return frames, fps


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("video", nargs="?", help="input video (optional with --keypoints)")
    p.add_argument("--keypoints", help="2D keypoints file (COCO-17 JSON, .npy, .npz) instead of rtmlib")
    p.add_argument("--image-size", type=positive_int, nargs=2, metavar=("W", "H"), help="without a video")
    p.add_argument("--fps", type=positive_float, default=25.0, help="without a video")
    p.add_argument("--model", default="hot-mixste")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="video_3d.mp4")
    p.add_argument("--json", help="also write the 3D poses here")
    args = p.parse_args(argv)

    frames, fps = read_video(args.video) if args.video else ([], args.fps)
    if args.keypoints:
        data = load_keypoints(args.keypoints)
        keypoints, scores, layout = data.keypoints, data.scores, data.layout or "coco"
    else:
        if not frames:
            p.error("pass a video, or --keypoints with --image-size")
        keypoints, scores = detect_with_rtmlib(frames)
        layout = "coco"
    if frames:
        image_size = (frames[0].shape[1], frames[0].shape[0])
    elif args.image_size:
        image_size = tuple(args.image_size)
    else:
        p.error("without a video, pass --image-size W H")
    result = Predictor(args.model, device=args.device, fallback="cpu").predict(
        keypoints, image_size=image_size, layout=layout, scores=scores, flip=True)
    if args.json:
        save_poses(args.json, result.poses_3d, {"model": args.model, "device": result.device})

    if layout == "coco":
        from edgetokens.pose.skeleton import coco_to_h36m

        keypoints, scores = coco_to_h36m(keypoints, np.ones(keypoints.shape[:2]) if scores is None else scores)
    height = 360
    with viz.VideoWriter(args.out, fps=fps) as video:
        for t, pose in enumerate(result.poses_3d):
            frame = frames[t] if t < len(frames) else viz.blank(image_size[1], image_size[0])
            drawn = viz.draw_skeleton_2d(frame, keypoints[t], scores=None if scores is None else scores[t])
            drawn = cv2.resize(drawn, (int(height * image_size[0] / image_size[1]), height))
            video.write(np.hstack([drawn, viz.render_skeleton_3d([pose], height, azimuth=30, colors=[viz.PRED])]))
    print(f"{result.frames} frames lifted on {result.device} -> {args.out}")


if __name__ == "__main__":
    main()

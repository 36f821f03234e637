"""A video -> 3D poses and a side-by-side video (the 2D skeleton drawn on the frame | the 3D skeleton).

    python examples/video_to_3d.py walk.mp4 --out walk_3d.mp4 --json walk.json   # BlazePose 2D, offline
    python examples/video_to_3d.py walk.mp4 --keypoints walk.json --out ...     # 2D from your own detector

Without `--keypoints`, `edgetokens.VideoPose` finds one person per frame with the shipped BlazePose
models (detect, then track until lost; no download), lifts each run of frames with a person and
leaves frames without one empty: the same pipeline as `edgetokens video`. With `--keypoints`, any
COCO-17 keypoint file works (see pose_from_keypoints.py); without a video, `--keypoints` plus
`--image-size` draws on a blank canvas.
"""
import argparse
from pathlib import Path

import cv2
import numpy as np

from edgetokens import Predictor, VideoPose, viz
from edgetokens.cli_video import write_pose_video
from edgetokens.keypoints_io import load_keypoints, save_poses
from edgetokens.video_frames import FrameReader
from edgetokens.clitools import positive_float, positive_int


def video_with_blazepose(args) -> None:
    """The whole pipeline in the SDK: VideoPose (BlazePose + lifter), then the side-by-side video."""
    result = VideoPose(args.model, device=args.device, fallback="cpu").run(args.video, progress=True)
    if args.json:
        result.save_json(args.json)
    write_pose_video(args.video, result, Path(args.out))
    print(f"{result.frame_count} frames, a person in {int(result.found.sum())}, 2D on {result.devices['detector']}, "
          f"3D on {result.devices['lifter']}: {result.frames_per_second['total']:.0f} frames/s -> {args.out}")


def read_video(path):
    reader = FrameReader(path)  # clear errors for a missing, empty or unreadable video
    return [frame for _, frame in reader], reader.fps


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("video", nargs="?", help="input video (optional with --keypoints)")
    p.add_argument("--keypoints", help="2D keypoints file (COCO-17 JSON, .npy, .npz) instead of BlazePose")
    p.add_argument("--image-size", type=positive_int, nargs=2, metavar=("W", "H"), help="without a video")
    p.add_argument("--fps", type=positive_float, default=25.0, help="without a video")
    p.add_argument("--model", default="hot-mixste")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="video_3d.mp4")
    p.add_argument("--json", help="also write the 3D poses here")
    args = p.parse_args(argv)

    if not args.keypoints:
        if not args.video:
            p.error("pass a video, or --keypoints with --image-size")
        return video_with_blazepose(args)
    frames, fps = read_video(args.video) if args.video else ([], args.fps)
    data = load_keypoints(args.keypoints)
    keypoints, scores, layout = data.keypoints, data.scores, data.layout or "coco"
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

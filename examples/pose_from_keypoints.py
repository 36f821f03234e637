"""2D keypoints from any COCO-17 detector -> 3D poses, in five lines of SDK.

    python examples/pose_from_keypoints.py keypoints.json --image-size 1920 1080 --out poses.json

`keypoints.json` is what 2D tools write: COCO results ({"image_id", "keypoints": [x, y, score] x 17} per
detection; MMPose's older --save-predictions, many trackers) or MMPose / rtmlib instance_info files.
.npy / .npz arrays of (T, 17, 2|3) pixels work too (add --layout coco if they are in COCO order).
"""
import argparse

from edgetokens import Predictor
from edgetokens.keypoints_io import load_keypoints, save_poses
from edgetokens.clitools import positive_int


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("keypoints", help=".json (COCO results or MMPose/rtmlib), .npy or .npz")
    p.add_argument("--image-size", type=positive_int, nargs=2, metavar=("W", "H"), help="video frame size in pixels")
    p.add_argument("--layout", choices=["coco", "h36m"], help="keypoint order (JSON files are COCO)")
    p.add_argument("--model", default="hot-mixste", help="shipped model name, checkpoint or bundle")
    p.add_argument("--device", default="cpu", help="cpu, gpu, npu or auto")
    p.add_argument("--out", default="poses_3d.json")
    args = p.parse_args(argv)

    data = load_keypoints(args.keypoints)
    image_size = args.image_size or data.image_size
    if image_size is None:
        p.error("the keypoint file does not record the frame size: pass --image-size W H")
    predictor = Predictor(args.model, device=args.device, fallback="cpu")
    result = predictor.predict(data.keypoints, image_size=image_size, layout=args.layout or data.layout or "h36m",
                               scores=data.scores)
    save_poses(args.out, result.poses_3d, {"model": args.model, "device": result.device})
    print(f"{result.frames} frames -> {args.out} ({result.device}, {result.fps:.0f} frames/s)")


if __name__ == "__main__":
    main()

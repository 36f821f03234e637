"""One image -> metric depth with AiT, and a colour picture of it.

    python examples/depth_from_image.py room.jpg --out room_depth.png --colormap room_depth_color.png
"""
import argparse

import cv2
import numpy as np

from edgetokens import Predictor
from edgetokens.vision.depth_io import write_depth_png


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("image", help="any image OpenCV reads (colour, grayscale or with alpha)")
    p.add_argument("--model", default="ait-depth", help="shipped model name, checkpoint or bundle")
    p.add_argument("--device", default="cpu", help="cpu, gpu, npu or auto")
    p.add_argument("--out", default="depth.png", help="16-bit PNG in millimetres (or .npy in metres)")
    p.add_argument("--colormap", default="depth_color.png")
    args = p.parse_args(argv)

    result = Predictor(args.model, device=args.device, fallback="cpu").predict(args.image)
    if args.out.endswith(".npy"):
        np.save(args.out, result.depth)
    else:
        write_depth_png(args.out, result.depth)
    cv2.imwrite(args.colormap, result.colorize())
    print(f"depth {result.depth.min():.2f}-{result.depth.max():.2f} m on {result.device} in "
          f"{result.timings_ms['total']:.0f} ms -> {args.out}, {args.colormap}")


if __name__ == "__main__":
    main()

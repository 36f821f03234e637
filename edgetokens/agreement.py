"""How far a shipped model's precisions move its poses: FP32 against FP16/INT8 on held-out real motion.

    python -m edgetokens.agreement --model hot-mixste --data real --data-root ../shared/data/cmu-mocap \
        --input-layout coco --precisions fp32,int8

Every test view is lifted whole through `Predictor.predict` (flip averaging, as in evaluation) once per
precision on one device. Printed per precision: MPJPE against the true 3D motion, and the mean
per-joint distance (mm) to the first precision's poses: the quantization error a user sees when
switching `precision`. The 2D comes in the `--input-layout` views are drawn in (`training.data.layouts`).
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from edgetokens.clitools import positive_int, run_cli
from edgetokens.pose.metrics import mpjpe
from edgetokens.pose.normalize import root_relative
from edgetokens.predictor import Predictor
from runtimes.cpuinfo import describe_cpu
from training.data.clips import SourceConfig, build_sources
from training.data.layouts import INPUT_LAYOUTS


def pose_agreement(model: str, views, precisions: list[str], device: str = "openvino:CPU") -> dict[str, dict]:
    """Per precision: `mpjpe_mm` against the views' truth and `distance_mm` to the first precision's poses
    (frame-weighted over all views)."""
    poses: dict[str, list[np.ndarray]] = {}
    for precision in precisions:
        predictor = Predictor(model, device=device, precision=precision)
        poses[precision] = [predictor.predict(v.keypoints, (v.camera.width, v.camera.height), scores=v.scores,
                                              flip=True).poses_3d for v in views]
    truth = [root_relative(np.asarray(v.positions_cam, np.float64)) for v in views]
    frames = np.array([len(t) for t in truth], dtype=np.float64)
    reference = poses[precisions[0]]
    report = {}
    for precision, predicted in poses.items():
        error = [1000 * mpjpe(p, t) for p, t in zip(predicted, truth)]
        distance = [1000 * mpjpe(p, r) for p, r in zip(predicted, reference)]
        report[precision] = {"mpjpe_mm": float(np.average(error, weights=frames)),
                             "distance_mm": float(np.average(distance, weights=frames))}
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edgetokens.agreement", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="hot-mixste", help="a shipped default")
    p.add_argument("--data", default="real", help="pose source of the test views (see training.train --data)")
    p.add_argument("--data-root", default=None, help="CMU folder holding 01/ 02/ 03/ (or $EDGETOKENS_CMU_ROOT)")
    p.add_argument("--positions-root", default=None, help="the cmu-positions folder (default: beside --data-root)")
    p.add_argument("--input-layout", default="h36m", choices=INPUT_LAYOUTS)
    p.add_argument("--precisions", default="fp32,int8", help="comma list; the first is the reference")
    p.add_argument("--device", default="openvino:CPU")
    p.add_argument("--eval-sequences", type=positive_int, default=None, help="only the first N test views")
    p.add_argument("--seed", type=int, default=1126)
    p.add_argument("--json", action="store_true", help="print JSON")
    args = p.parse_args(argv)

    def run() -> int:
        precisions = [s.strip() for s in args.precisions.split(",") if s.strip()]
        if len(precisions) < 2:
            raise ValueError(f"--precisions needs a reference and at least one more; got {args.precisions!r}")
        config = SourceConfig(input_layout=args.input_layout, positions_root=args.positions_root)
        views = build_sources(args.data, args.data_root, seed=args.seed, split="test", config=config)
        views = views[: args.eval_sequences] if args.eval_sequences else views
        report = pose_agreement(args.model, views, precisions, args.device)
        if args.json:
            print(json.dumps(report, indent=2))
            return 0
        print(f"{args.model} on {args.device}, {len(views)} test views of {args.data} "
              f"({sum(len(v) for v in views)} frames, {args.input_layout} 2D), {describe_cpu()}")
        print(f"{'precision':<10}{'MPJPE mm':>10}{f'to {precisions[0]} mm':>14}")
        for precision, row in report.items():
            print(f"{precision:<10}{row['mpjpe_mm']:>10.1f}{row['distance_mm']:>14.1f}")
        return 0

    return run_cli(run, "edgetokens.agreement")


if __name__ == "__main__":
    sys.exit(main())

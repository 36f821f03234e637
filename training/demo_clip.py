"""Make the held-out demo clip shipped with the package (`edgetokens/assets/cmu_demo_clip.npz`).

    python -m training.demo_clip --data-root ../shared/data/cmu-mocap

CMU take 03_03 (subject 03, the test subject: never seen in training), filmed by one virtual camera
and passed through the 2D detector-noise model, exactly as the test split is made. Stored compactly
(float16) with the CMU attribution, so the demo runs on a fresh install without ../shared.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edgetokens.assets import CMU_CREDIT
from edgetokens.assets import CMU_DEMO_CLIP as ASSET
from edgetokens.clitools import run_cli
from edgetokens.pose.normalize import root_relative
from training.data.clips import SourceConfig, build_sources


def make_clip(data_root: str | None, take: str = "03_03", seed: int = 1126, out: Path = ASSET) -> Path:
    config = SourceConfig(cameras_per_sequence=1, cmu_takes=(take,))
    (view,) = build_sources("cmu", data_root, seed=seed, split="test", config=config)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out, keypoints=view.keypoints.astype(np.float16), scores=view.scores.astype(np.float16),
        poses_3d=root_relative(view.positions_cam).astype(np.float16),
        image_size=np.array([view.camera.width, view.camera.height], dtype=np.int32),
        fps=np.float32(view.fps), name=np.str_(f"CMU {take}, virtual camera, detector noise (seed {seed})"),
        credit=np.str_(CMU_CREDIT))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.demo_clip", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default=None, help="CMU folder holding 01/ 02/ 03/ (or $EDGETOKENS_CMU_ROOT)")
    parser.add_argument("--take", default="03_03", help="a take of the test subject 03")
    args = parser.parse_args(argv)
    return run_cli(lambda: print(make_clip(args.data_root, args.take)), "training.demo_clip")


if __name__ == "__main__":
    raise SystemExit(main())

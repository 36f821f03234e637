"""Scoring pose lifters on a split: MPJPE, P-MPJPE, N-MPJPE and mean velocity error, in mm.

    python -m training.evaluate --checkpoint runs/hot-mixste/best --data cmu --data-root ../shared/data/cmu-mocap

Each test sequence is lifted whole with the official seq2seq windows and test-time flip averaging
(`edgetokens.pose.lifting`); padded frames are cropped before scoring (the official seq2seq score
includes them), and errors are averaged over all real frames of all sequences.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from edgetokens.clitools import non_negative_int, run_cli
from edgetokens.models import create_model
from edgetokens.pose.lifting import lift_sequence
from edgetokens.pose.metrics import mean_velocity_error, mpjpe, n_mpjpe, p_mpjpe
from training.data.clips import ClipConfig, PoseClipDataset, build_sources


def torch_runner(model: nn.Module, device: str | torch.device = "cpu") -> Callable[[np.ndarray], np.ndarray]:
    model = model.eval().to(device)

    def run(clips: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(clips).to(device)).float().cpu().numpy()

    return run


def evaluation_set(views: Sequence, frames: int, in_channels: int) -> PoseClipDataset:
    """Normalised inputs and root-relative targets of whole sequences (no clipping yet)."""
    return PoseClipDataset(views, ClipConfig(frames=frames, train=False, flip=False, with_scores=in_channels == 3))


def score(run: Callable[[np.ndarray], np.ndarray], data: PoseClipDataset, frames: int, flip: bool = True,
          batch_size: int = 32) -> dict[str, float]:
    """Metrics in millimetres over every real frame of every sequence in `data`."""
    sums = {"mpjpe_mm": 0.0, "p_mpjpe_mm": 0.0, "n_mpjpe_mm": 0.0, "mpjve_mm": 0.0}
    total = velocity_total = 0
    for inputs, target in zip(data.inputs, data.targets):
        pred = lift_sequence(run, inputs, frames, flip, batch_size)
        n = len(target)
        sums["mpjpe_mm"] += 1000 * mpjpe(pred, target) * n
        sums["p_mpjpe_mm"] += 1000 * p_mpjpe(pred, target) * n
        sums["n_mpjpe_mm"] += 1000 * n_mpjpe(pred, target) * n
        total += n
        if n > 1:
            sums["mpjve_mm"] += 1000 * mean_velocity_error(pred, target) * (n - 1)
            velocity_total += n - 1
    metrics = {k: float(v / (velocity_total if k == "mpjve_mm" else total)) for k, v in sums.items()}
    metrics["frames"] = total
    metrics["sequences"] = len(data.inputs)
    return metrics


def evaluate_model(model: nn.Module, views: Sequence, flip: bool = True, device: str = "cpu") -> dict[str, float]:
    data = evaluation_set(views, model.config.frames, model.config.in_channels)
    return score(torch_runner(model, device), data, model.config.frames, flip)


def window_errors(model: nn.Module, data: PoseClipDataset, batch_size: int = 32) -> dict[str, float]:
    """Errors over whole non-overlapping windows (no flip): MPJPE, of the motion, and for HoT of kept frames.

    `motion_mpjpe_mm` is the error of each window's poses minus their window mean, against the same
    for a model that outputs one pose per window (`static_motion_mm`: the truth's motion around its
    mean). Equal values mean the model does not resolve time within a window. HoT models also get
    MPJPE on the frames TPC kept and on those TRA recovered; every output frame comes out of the
    recovery, so equal errors there do not clear it.
    """
    pruner = getattr(model, "pruner", None)
    frames = model.config.frames
    windows = [(inputs[s:s + frames], target[s:s + frames]) for inputs, target in zip(data.inputs, data.targets)
               for s in range(0, len(target) - frames + 1, frames)]
    if not windows:
        raise ValueError(f"no sequence has {frames} frames, the model's window")
    model.eval()
    kept: list[torch.Tensor] = []
    hook = pruner.register_forward_hook(lambda module, args, out: kept.append(out[1])) if pruner else None
    sums: dict[str, list] = {}
    try:
        with torch.inference_mode():
            for start in range(0, len(windows), batch_size):
                chunk = windows[start:start + batch_size]
                x = torch.from_numpy(np.stack([w[0] for w in chunk]))
                pred, truth = model(x).float(), torch.from_numpy(np.stack([w[1] for w in chunk]))
                error = (pred - truth).norm(dim=-1)
                motion = truth - truth.mean(dim=1, keepdim=True)
                parts = [("window_mpjpe_mm", error),
                         ("motion_mpjpe_mm", (pred - pred.mean(dim=1, keepdim=True) - motion).norm(dim=-1)),
                         ("static_motion_mm", motion.norm(dim=-1))]
                if pruner:
                    mask = torch.zeros(error.shape[:2], dtype=torch.bool).scatter_(1, kept.pop(), True)
                    parts += [("kept_mpjpe_mm", error[mask]), ("recovered_mpjpe_mm", error[~mask])]
                for name, part in parts:
                    total = sums.setdefault(name, [0.0, 0])
                    total[0] += float(part.sum())
                    total[1] += part.numel()
    finally:
        if hook:
            hook.remove()
    return {name: 1000 * total / count for name, (total, count) in sums.items()} | {"windows": len(windows)}


def dump_npz(data: PoseClipDataset, path: str) -> None:
    arrays = {}
    for i, (inputs, targets) in enumerate(zip(data.inputs, data.targets)):
        arrays[f"inputs_{i}"], arrays[f"targets_{i}"] = inputs, targets
    np.savez_compressed(path, **arrays)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="checkpoint directory (model.safetensors + config.json)")
    parser.add_argument("--data", default="cmu", help="cmu | synthetic | mix | h36m:PATH")
    parser.add_argument("--data-root", default=None, help="CMU folder holding 01/ 02/ 03/ (or $EDGETOKENS_CMU_ROOT)")
    parser.add_argument("--split", default="test", choices=["train", "test"])
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the synthetic subjects and virtual cameras")
    parser.add_argument("--no-flip", action="store_true", help="no test-time flip averaging")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--windows", "--kept-frames", dest="windows", action="store_true",
                        help="also the error of the motion within each window and, for HoT, MPJPE on the frames "
                             "TPC kept vs those TRA recovered (whole windows, no flip)")
    parser.add_argument("--dump-npz", metavar="F",
                        help="also write the split's normalised inputs and targets (inputs_<i>, targets_<i>) "
                             "for `python -m runtimes.benchmark --eval-data F`")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return run_cli(lambda: report(args), "training.evaluate")


def report(args: argparse.Namespace) -> None:
    model = create_model(checkpoint=args.checkpoint)
    if model.task != "pose3d":
        raise ValueError(f"{args.checkpoint} is a {model.task!r} model; training.evaluate scores pose lifters "
                         "(depth: python -m training.evaluate_depth)")
    views = build_sources(args.data, args.data_root, seed=args.seed, split=args.split)
    data = evaluation_set(views, model.config.frames, model.config.in_channels)
    if args.dump_npz:
        dump_npz(data, args.dump_npz)
    metrics = score(torch_runner(model), data, model.config.frames, flip=not args.no_flip)
    if args.windows:
        metrics |= window_errors(model, data)
    metrics.update(checkpoint=str(args.checkpoint), data=args.data, split=args.split)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(f"{args.checkpoint} on {args.data}/{args.split} ({metrics['sequences']} sequences, "
              f"{metrics['frames']} frames): MPJPE {metrics['mpjpe_mm']:.1f} mm, "
              f"P-MPJPE {metrics['p_mpjpe_mm']:.1f} mm, N-MPJPE {metrics['n_mpjpe_mm']:.1f} mm, "
              f"MPJVE {metrics['mpjve_mm']:.2f} mm")
        if args.windows:
            kept = ""
            if "kept_mpjpe_mm" in metrics:
                kept = (f"MPJPE {metrics['kept_mpjpe_mm']:.1f} mm on the frames TPC kept, "
                        f"{metrics['recovered_mpjpe_mm']:.1f} mm on those TRA recovered; ")
            print(f"whole windows without flip ({metrics['windows']}): MPJPE {metrics['window_mpjpe_mm']:.1f} mm; "
                  f"{kept}motion within windows "
                  f"{metrics['motion_mpjpe_mm']:.1f} mm (one static pose per window: "
                  f"{metrics['static_motion_mm']:.1f} mm)")


if __name__ == "__main__":
    sys.exit(main())

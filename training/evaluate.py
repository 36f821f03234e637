"""Scoring pose lifters on a split: MPJPE, P-MPJPE, N-MPJPE and mean velocity error, in mm.

    python -m training.evaluate --checkpoint runs/hot-mixste/best --data cmu --data-root ../shared/data/cmu-mocap

Each test sequence is lifted whole with the official seq2seq windows and test-time flip averaging
(`edgetokens.pose.lifting`); padded frames are cropped before scoring (the official seq2seq score
includes them), and errors are averaged over all real frames of all sequences.

2D layouts side by side (`training.data.layouts`: the same cameras, the keypoints a detector of that
layout gives, mapped to H36M-17 as the Predictor maps them), per part of the source (`real`: cmu
and cmu-positions):

    python -m training.evaluate --checkpoint edgetokens/weights/hot-mixste --data real \
        --data-root ../shared/data/cmu-mocap --input-layout h36m,coco,blazepose --seed 1126
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

from edgetokens.clitools import non_negative_int, positive_int, run_cli
from edgetokens.models import create_model
from edgetokens.pose.lifting import lift_sequence
from edgetokens.pose.metrics import mean_velocity_error, mpjpe, n_mpjpe, p_mpjpe
from training.data.clips import ClipConfig, PoseClipDataset, SourceConfig, build_sources
from training.data.layouts import INPUT_LAYOUTS, check_layout


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
          batch_size: int = 32, repair_swaps: bool = False) -> dict[str, float]:
    """Metrics in millimetres over every real frame of every sequence in `data`; `repair_swaps`: as the
    Predictor lifts a recorded sequence (`edgetokens.pose.swaps`), else the lifter alone (the cards)."""
    sums = {"mpjpe_mm": 0.0, "p_mpjpe_mm": 0.0, "n_mpjpe_mm": 0.0, "mpjve_mm": 0.0}
    total = velocity_total = 0
    for inputs, target in zip(data.inputs, data.targets):
        pred = lift_sequence(run, inputs, frames, flip, batch_size, repair=repair_swaps)
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


def source_part(view) -> str:
    """The source a view came from, from its name: cmu, cmu-positions, synthetic, bvh, ..."""
    return view.name.split("/", 1)[0]


def split_by_part(views: Sequence, first: int | None = None) -> dict[str, list]:
    """Views grouped by `source_part`, in order; `first`: keep the first N of each part."""
    parts: dict[str, list] = {}
    for v in views:
        parts.setdefault(source_part(v), []).append(v)
    return {k: v[:first] if first else v for k, v in parts.items()}


def combine(parts: Sequence[dict]) -> dict[str, float]:
    """`score` results of disjoint view sets -> the score of all of them (the same frame weighting)."""
    frames = sum(p["frames"] for p in parts)
    moves = sum(p["frames"] - p["sequences"] for p in parts)
    out = {k: sum(p[k] * p["frames"] for p in parts) / frames for k in ("mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm")}
    out["mpjve_mm"] = sum(p["mpjve_mm"] * (p["frames"] - p["sequences"]) for p in parts) / max(moves, 1)
    return out | {"frames": frames, "sequences": sum(p["sequences"] for p in parts)}


def parse_layouts(text: str) -> list[str]:
    """`--input-layout h36m,coco` -> ["h36m", "coco"]."""
    layouts = [t.strip() for t in text.split(",") if t.strip()]
    try:
        if not layouts:
            raise ValueError(f"give one or more of {', '.join(INPUT_LAYOUTS)}, comma separated")
        return [check_layout(x) for x in layouts]
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


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
    parser.add_argument("--data", default="cmu",
                        help="cmu | cmu-positions | synthetic | mix | real | h36m:PATH | bvh:FOLDER")
    parser.add_argument("--data-root", default=None, help="CMU folder holding 01/ 02/ 03/ (or $EDGETOKENS_CMU_ROOT); "
                        "for --data cmu-positions, the cmu-positions folder")
    parser.add_argument("--positions-root", default=None,
                        help="cmu-positions folder (default: $EDGETOKENS_CMU_POSITIONS_ROOT, else beside --data-root)")
    parser.add_argument("--input-layout", default="h36m", type=parse_layouts,
                        help="2D layout(s) of the views, comma separated, scored side by side: "
                             f"{', '.join(INPUT_LAYOUTS)}")
    parser.add_argument("--eval-sequences", type=positive_int, default=None,
                        help="score only the first N sequences (views) of each part of the source")
    parser.add_argument("--split", default="test", choices=["train", "test"])
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the synthetic subjects and virtual cameras")
    parser.add_argument("--no-flip", action="store_true", help="no test-time flip averaging")
    parser.add_argument("--repair-swaps", action="store_true",
                        help="undo left/right limb swaps before lifting, as Predictor.predict does by default")
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
    if args.dump_npz and len(args.input_layout) > 1:
        raise ValueError("--dump-npz writes one layout's inputs; give a single --input-layout")
    frames, channels = model.config.frames, model.config.in_channels
    layouts: dict[str, dict] = {}
    for layout in args.input_layout:
        views = build_sources(args.data, args.data_root, seed=args.seed, split=args.split,
                              config=SourceConfig(input_layout=layout, positions_root=args.positions_root))
        parts = split_by_part(views, args.eval_sequences)
        if args.dump_npz:
            dump_npz(evaluation_set([v for p in parts.values() for v in p], frames, channels), args.dump_npz)
        results = {name: score(torch_runner(model), evaluation_set(part, frames, channels), frames,
                               flip=not args.no_flip, repair_swaps=args.repair_swaps) for name, part in parts.items()}
        results["all"] = combine(list(results.values())) if len(results) > 1 else dict(next(iter(results.values())))
        if args.windows:
            everything = evaluation_set([v for p in parts.values() for v in p], frames, channels)
            results["all"] |= window_errors(model, everything)
        layouts[layout] = results
    metrics = dict(layouts[args.input_layout[0]]["all"])
    metrics.update(checkpoint=str(args.checkpoint), data=args.data, split=args.split, input_layout=args.input_layout[0],
                   repair_swaps=args.repair_swaps,
                   trained_layouts=list(getattr(model.config, "input_layouts", ["h36m"])), layouts=layouts)
    if args.json:
        print(json.dumps(metrics, indent=2))
        return
    print(f"{args.checkpoint} (trained on {', '.join(metrics['trained_layouts'])} 2D) on {args.data}/{args.split}, "
          f"seed {args.seed}{', no flip' if args.no_flip else ''}{', swaps repaired' if args.repair_swaps else ''}:")
    print(f"  {'2D layout':<10} {'part':<14} {'seqs':>5} {'frames':>7} {'MPJPE':>7} {'P-MPJPE':>8} "
          f"{'N-MPJPE':>8} {'MPJVE':>6}  (mm)")
    for layout, results in layouts.items():
        for part, m in results.items():
            if part == "all" and len(results) == 2:
                continue  # one part: "all" repeats it
            print(f"  {layout:<10} {part:<14} {m['sequences']:>5} {m['frames']:>7} {m['mpjpe_mm']:>7.1f} "
                  f"{m['p_mpjpe_mm']:>8.1f} {m['n_mpjpe_mm']:>8.1f} {m['mpjve_mm']:>6.2f}")
        if args.windows:
            m = results["all"]
            kept = ""
            if "kept_mpjpe_mm" in m:
                kept = (f"MPJPE {m['kept_mpjpe_mm']:.1f} mm on the frames TPC kept, "
                        f"{m['recovered_mpjpe_mm']:.1f} mm on those TRA recovered; ")
            print(f"  {layout}: whole windows without flip ({m['windows']}): MPJPE {m['window_mpjpe_mm']:.1f} mm; "
                  f"{kept}motion within windows {m['motion_mpjpe_mm']:.1f} mm (one static pose per window: "
                  f"{m['static_motion_mm']:.1f} mm)")


if __name__ == "__main__":
    sys.exit(main())

"""Ship a trained checkpoint as a packaged default, with its accuracy measured on both test splits.

    python -m training.publish --checkpoint runs/hot-mixste/best --name hot-mixste \
        --data-root ../shared/data/cmu-mocap

Copies the weights to `edgetokens/weights/NAME/` and records, in its config.json, MPJPE, P-MPJPE,
N-MPJPE and velocity error on the CMU test subject (03) and on the synthetic test split, plus the
model's parameter and FLOP counts. A depth solver (`ait-depth*`) records instead its metrics on the
scenes test split with soft and hard token decoding and on the shipped real RGB-D frame; its
parameters are stored in float16 (half the package size; the recorded metrics are of those weights).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from edgetokens.checkpoint import CONFIG, load_checkpoint, save_checkpoint
from edgetokens.clitools import run_cli
from edgetokens.models.complexity import count_flops, count_parameters
from edgetokens.zoo import WEIGHTS_DIR
from training.data.clips import build_sources
from training.evaluate import evaluate_model

SPLITS = ("cmu", "synthetic")


def is_depth_solver(arch: str) -> bool:
    return arch.startswith("ait-depth") and arch != "ait-depth-vqvae"


def publish(checkpoint: Path, name: str, data_root: str | None, seed: int, out_root: Path = WEIGHTS_DIR) -> dict:
    model, info = load_checkpoint(checkpoint)
    model.eval()
    parameter_dtype = None
    if is_depth_solver(model.arch):
        from edgetokens.demo import RGBD_SAMPLE
        from training.evaluate_depth import depth_evaluation

        parameter_dtype = torch.float16
        with torch.no_grad():  # score exactly what is shipped: the float16-rounded parameters
            for p in model.parameters():
                p.copy_(p.to(parameter_dtype))
        evaluation = depth_evaluation(model, seed, rgbd_sample=str(RGBD_SAMPLE))
    elif model.arch == "ait-depth-vqvae":
        raise ValueError(f"{checkpoint} is a stage-1 tokenizer; publish the ait-depth solver trained on it")
    else:
        evaluation = {source: evaluate_model(model, build_sources(source, data_root, seed=seed, split="test"))
                      for source in SPLITS}
    example = torch.randn(1, *model.input_shape)
    facts = {"params": count_parameters(model), **count_flops(model, example)}
    meta = {k: v for k, v in info.items() if k not in ("arch", "config", "revision")}
    target = save_checkpoint(model, out_root / name, parameter_dtype=parameter_dtype, **meta, evaluation=evaluation,
                             facts=facts, trained_revision=info.get("revision"))
    return json.loads((target / CONFIG).read_text())


def results_table(names: list[str] | None = None) -> str:
    """Markdown table of the shipped defaults' recorded metrics (what the README quotes)."""
    from edgetokens.zoo import list_pretrained, pretrained_info

    lines = ["| model | params | GFLOPs | epochs | CMU test MPJPE / P-MPJPE (mm) "
             "| synthetic test MPJPE / P-MPJPE (mm) |",
             "|---|---|---|---|---|---|"]
    depth = []
    for name in names or list_pretrained():
        info = pretrained_info(name)
        ev, facts = info["evaluation"], info["facts"]
        if is_depth_solver(info["arch"]):
            depth.append((name, info))
            continue
        cells = [f"{ev[s]['mpjpe_mm']:.1f} / {ev[s]['p_mpjpe_mm']:.1f}" for s in SPLITS]
        lines.append(f"| {name} | {facts['params'] / 1e6:.2f} M | {facts['gflops']:.2f} | "
                     f"{info['metrics']['epoch']} | {cells[0]} | {cells[1]} |")
    if depth:
        lines += ["", "| depth model | params | GFLOPs | epochs (images) | scenes test RMSE m, soft / hard "
                  "| AbsRel | d1 | real RGB-D frame RMSE m |", "|---|---|---|---|---|---|---|---|"]
        for name, info in depth:
            ev, facts = info["evaluation"], info["facts"]
            soft, hard, real = ev["scenes"], ev["scenes_hard"], ev.get("rgbd_sample", {})
            images = info["metrics"]["epoch"] * info["data"]["images_per_epoch"]
            lines.append(f"| {name} | {facts['params'] / 1e6:.2f} M | {facts['gflops']:.2f} | "
                         f"{info['metrics']['epoch']} ({images:,}) | {soft['rmse']:.3f} / {hard['rmse']:.3f} | "
                         f"{soft['abs_rel']:.3f} | {soft['d1']:.3f} | {real.get('rmse', float('nan')):.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.publish", description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", action="store_true",
                        help="only print the markdown table of the shipped defaults' recorded metrics")
    parser.add_argument("--checkpoint", help="trained checkpoint directory (e.g. runs/X/best)")
    parser.add_argument("--name", help="name of the shipped default (edgetokens/weights/NAME)")
    parser.add_argument("--data-root", default=None, help="CMU folder holding 01/ 02/ 03/ (or $EDGETOKENS_CMU_ROOT)")
    parser.add_argument("--seed", type=int, default=1126, help="seed of the synthetic test subjects and cameras")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    def command():
        if args.table:
            print(results_table())
            return
        if not args.checkpoint or not args.name:
            raise ValueError("give --checkpoint DIR and --name NAME (or --table)")
        info = publish(Path(args.checkpoint), args.name, args.data_root, args.seed)
        for source, m in info["evaluation"].items():
            if "rmse" in m:
                print(f"{args.name} on {source}: RMSE {m['rmse']:.3f} m, AbsRel {m['abs_rel']:.3f}, d1 {m['d1']:.3f}")
            else:
                print(f"{args.name} on {source}/test: MPJPE {m['mpjpe_mm']:.1f} mm, P-MPJPE {m['p_mpjpe_mm']:.1f} mm")

    return run_cli(command, "training.publish")


if __name__ == "__main__":
    sys.exit(main())

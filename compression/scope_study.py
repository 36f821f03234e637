"""Which parts to keep in float: the measured MPJPE of 8-bit quantization with each keep-float choice.

    python -m compression.scope_study --model hot-mixste --data mix --data-root ../shared/data/cmu-mocap

For every variant the same calibration clips initialise NNCF's fake-quantizers on a fresh copy of
the checkpoint (the PTQ start of `compression.qat`, no fine-tuning), and the test split is scored
with flip averaging; the FP32 row is the float model. docs/quantization.md records its results.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch

from edgetokens.clitools import non_negative_int, positive_int, run_cli
from edgetokens.models import create_model
from edgetokens.tasks import get_task
from edgetokens.zoo import pretrained_dir
from training.config import DataConfig

from .calibration import add_layout_arguments, check_calibration_count, data_layout
from .qat import quantize_torch
from .scopes import DEFAULT_KEEP_FLOAT, KEEP_FLOAT_PARTS, parse_keep_float

DEFAULT_VARIANTS = ["none", *KEEP_FLOAT_PARTS, ",".join(DEFAULT_KEEP_FLOAT)]


def run(args: argparse.Namespace) -> list[dict]:
    if args.threads:
        torch.set_num_threads(args.threads)
    source = Path(args.checkpoint) if args.checkpoint else pretrained_dir(args.model)
    model = create_model(checkpoint=source)
    task = get_task(model.task)
    if not task.quantization_aware:
        raise ValueError(f"{source} is a {task.name!r} model; the scope study quantizes the torch models that "
                         "compression.qat fine-tunes")
    variants = [parse_keep_float(v, model) for v in args.variants.split(";")]
    data = task.load("data")(DataConfig(source=args.data, root=args.data_root, seed=args.seed,
                                        test_count=args.eval_sequences, positions_root=args.positions_root,
                                        input_layout=data_layout(args.input_layout, model)), model)
    metrics = task.load("metrics")
    check_calibration_count(args.calibration_clips)
    clips = data.calibration(args.calibration_clips, args.seed)
    rows = [{"keep_float": "fp32 (no quantization)", **metrics(None, data.test, model)}]
    for keep_float in variants:
        started = time.perf_counter()
        quantized = quantize_torch(create_model(checkpoint=source), clips, keep_float)
        row = {"keep_float": ",".join(keep_float) or "none", **metrics(None, data.test, quantized)}
        row["seconds"] = round(time.perf_counter() - started, 1)
        rows.append(row)
        logging.getLogger(__name__).info("%s", json.dumps(row))
    print(f"{source} on {args.data} test ({rows[0]['sequences']} sequences, {rows[0]['frames']} frames)")
    print("| kept in float | MPJPE mm | P-MPJPE mm | vs FP32 |")
    print("|---|---|---|---|")
    for row in rows:
        change = row["mpjpe_mm"] / rows[0]["mpjpe_mm"]
        print(f"| {row['keep_float']} | {row['mpjpe_mm']:.2f} | {row['p_mpjpe_mm']:.2f} | {change:.4f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps({"source": str(source), "rows": rows}, indent=1))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m compression.scope_study", description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="our checkpoint directory")
    src.add_argument("--model", help="a shipped default (edgetokens/weights/NAME)")
    p.add_argument("--data", default="mix")
    p.add_argument("--data-root", default=None)
    p.add_argument("--variants", default=";".join(DEFAULT_VARIANTS),
                   help="';'-separated keep-float choices, each a comma list or 'none'")
    p.add_argument("--calibration-clips", type=positive_int, default=300)
    p.add_argument("--eval-sequences", type=positive_int, default=None)
    p.add_argument("--seed", type=non_negative_int, default=1126)
    add_layout_arguments(p)
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("nncf").setLevel(logging.WARNING)  # one line per quantizer otherwise
    return run_cli(lambda: run(args), "compression.scope_study")


if __name__ == "__main__":
    sys.exit(main())

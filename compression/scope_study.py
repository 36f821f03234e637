"""Which parts to keep in float: the measured MPJPE of 8-bit quantization with each keep-float choice.

    python -m compression.scope_study --model hot-mixste --data mix --data-root ../shared/data/cmu-mocap

For every variant the same calibration clips initialise NNCF's fake-quantizers on a fresh copy of
the checkpoint (the PTQ start of `compression.qat`, no fine-tuning), and the test split is scored
with flip averaging; the FP32 row is the float model. The README's quantization section quotes it.
"""
from __future__ import annotations

import os

os.environ.setdefault("NNCF_EXTENSION_LOAD_TIMEOUT", "0")  # see compression.qat

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from edgetokens.clitools import run_cli  # noqa: E402

from .scopes import DEFAULT_KEEP_FLOAT, KEEP_FLOAT_PARTS, parse_keep_float  # noqa: E402

DEFAULT_VARIANTS = ["none", *KEEP_FLOAT_PARTS, ",".join(DEFAULT_KEEP_FLOAT)]


def run(args: argparse.Namespace) -> list[dict]:
    import torch

    from edgetokens.checkpoint import load_checkpoint
    from edgetokens.zoo import pretrained_dir
    from training.data.clips import build_sources
    from training.evaluate import evaluate_model

    from .calibration import calibration_clips
    from .qat import quantize_torch

    if args.threads:
        torch.set_num_threads(args.threads)
    source = Path(args.checkpoint) if args.checkpoint else pretrained_dir(args.model)
    variants = [parse_keep_float(v) for v in args.variants.split(";")]
    model, _ = load_checkpoint(source)
    train_views = build_sources(args.data, args.data_root, seed=args.seed, split="train")
    test_views = build_sources(args.data, args.data_root, seed=args.seed, split="test")[: args.eval_sequences]
    clips = calibration_clips(train_views, model, args.calibration_clips, args.seed)
    rows = [{"keep_float": "fp32 (no quantization)", **evaluate_model(model, test_views)}]
    for keep_float in variants:
        started = time.perf_counter()
        quantized = quantize_torch(load_checkpoint(source)[0], clips, keep_float)
        row = {"keep_float": ",".join(keep_float) or "none", **evaluate_model(quantized, test_views)}
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
    p.add_argument("--calibration-clips", type=int, default=300)
    p.add_argument("--eval-sequences", type=int, default=None)
    p.add_argument("--seed", type=int, default=1126)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("nncf").setLevel(logging.WARNING)  # one line per quantizer otherwise
    return run_cli(lambda: run(args), "compression.scope_study")


if __name__ == "__main__":
    sys.exit(main())

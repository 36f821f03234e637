"""The `edgetokens` command line."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

import torch

from runtimes.timing import summarize, time_side_by_side

from . import benchmark
from .cli_commands import add_commands
from .clitools import non_negative_int, positive_int, run_cli
from .demo import run_demo
from .models import create_model, get_architecture, list_models
from .models.complexity import count_flops, count_parameters


def model_facts(name: str) -> dict:
    model = create_model(name).eval()
    signature = model.signature(1)
    example = signature.example_tensors()[0]
    facts = {"name": name, "description": get_architecture(name).description,
             "params": count_parameters(model), **count_flops(model, example),
             "input_shape": list(signature.inputs[0].shape), "config": asdict(model.config)}
    return facts


def eager_latency(names: list[str], repeats: int, threads: int) -> dict[str, dict]:
    """Eager-torch CPU latency of one clip at batch 1, all models measured in interleaved rounds."""

    torch.set_num_threads(threads)
    calls = {}
    for name in names:
        model = create_model(name).eval()
        x = model.signature(1).example_tensors()

        def run(model=model, x=x):
            with torch.inference_mode():
                model.graph_forward(*x)

        calls[name] = run
    return {name: summarize(t) for name, t in time_side_by_side(calls, repeats=repeats, warmup=1).items()}


def cmd_info(args: argparse.Namespace) -> int:
    rows = [model_facts(name) for name in args.names]
    if args.latency:
        latency = eager_latency(args.names, args.latency, args.threads)
        for row in rows:
            row["torch_cpu_latency_ms"] = latency[row["name"]]
    if args.json:
        print(json.dumps(rows[0] if len(rows) == 1 else rows, indent=2))
        return 0
    header = f"{'model':<24}{'params':>12}{'GFLOPs':>10}{'GFLOPs(fvcore)':>16}  input"
    if args.latency:
        header += f"{'torch CPU p50 ms':>20}"
    print(header)
    for row in rows:
        line = (f"{row['name']:<24}{row['params'] / 1e6:>11.2f}M{row['gflops']:>10.2f}"
                f"{row['gflops_fvcore']:>16.2f}  {tuple(row['input_shape'])}")
        if args.latency:
            line += f"{row['torch_cpu_latency_ms']['p50_ms']:>20.1f}"
        print(line)
    print("GFLOPs: the papers' rule (Linear and conv multiply-adds x 2, one clip or image, batch 1); "
          "fvcore: its full count (1 multiply-add = 1 flop).")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    for name in list_models():
        print(f"{name:<26}{get_architecture(name).description}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    run_demo(args.model, args.repeats, args.stream_frames, args.out, overwrite=args.overwrite)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgetokens",
        description="Token-pruned 3D pose (HoT) and depth (AiT) transformers on CPU, GPU and NPU.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list the model architectures")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="parameters and GFLOPs of models (optionally eager CPU latency)",
                       description="Parameters and GFLOPs for one clip at batch 1, counted with fvcore "
                                   "two ways: the papers' rule and fvcore's full count.")
    p.add_argument("names", nargs="+", metavar="NAME", help="model name(s), see `edgetokens list`")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--latency", type=non_negative_int, default=0, metavar="N",
                   help="also time N interleaved eager-torch CPU runs per model (side by side)")
    p.add_argument("--threads", type=positive_int, default=torch.get_num_threads(), help="torch CPU threads")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", help="the shipped model on held-out real motion: accuracy and CPU backends",
                       description="Lift a held-out CMU clip (shipped with the package) with a shipped "
                                   "model, print MPJPE against the true 3D motion and per-backend latency.")
    p.add_argument("--model", default="hot-mixste", help="a shipped default")
    p.add_argument("--repeats", type=positive_int, default=10, help="timed rounds per backend")
    p.add_argument("--stream-frames", type=positive_int, default=500,
                   help="frames of the clip pushed one at a time through predictor.stream (strides 1, 2, 4)")
    p.add_argument("--out", default="demo_output", help="folder for the picture and the video (created)")
    p.add_argument("--overwrite", action="store_true", help="replace the pictures and video of an earlier demo")
    p.set_defaults(func=cmd_demo)

    add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["benchmark"]:  # every argument belongs to the benchmark, --help included

        return benchmark.main(argv[1:], prog="edgetokens benchmark")
    args = build_parser().parse_args(argv)
    return run_cli(lambda: args.func(args), "edgetokens")


if __name__ == "__main__":
    sys.exit(main())

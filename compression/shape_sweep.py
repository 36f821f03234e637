"""How a model's shape trades latency against INT8 gain: eager torch vs OpenVINO FP32 vs OpenVINO INT8.

    python -m compression.shape_sweep --model hot-mixste --threads 2 --repeats 40 --shapes \\
        "embed_dim=64,mlp_hidden=128,depth=6,heads=4,layer_index=2;embed_dim=96,mlp_hidden=256,depth=4,heads=2"

Each shape (`;`-separated `key=value` overrides of the model's config, as `training.train --set`) is
built with random weights, exported with static shapes, quantized by NNCF PTQ with the default
keep-float parts, and the three are timed side by side (`runtimes.timing`) with the runtimes' own
sessions. Latency does not depend on the weights, so this picks an edge shape before training it;
docs/experiments/edge-shape.md records what this command measured.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from edgetokens.clitools import positive_int, run_cli
from edgetokens.models import create_model
from edgetokens.models.complexity import count_flops
from runtimes.openvino_session import OpenVINOSession
from runtimes.timing import summarize, time_side_by_side
from runtimes.torch_session import TorchSession
from training.config import parse_sets

from .export import export_onnx, export_openvino
from .ptq import quantize_graph
from .scopes import ignored_scope

CALIBRATION_CLIPS = 32  # random inputs: enough for quantizer ranges that only serve timing


def parse_shapes(text: str, model_name: str) -> list[dict]:
    shapes = [parse_sets([p for p in part.split(",") if p], model_name) for part in text.split(";") if part.strip()]
    if not shapes:
        raise ValueError("--shapes is empty; give e.g. 'embed_dim=96,heads=2;embed_dim=64'")
    return shapes


def measure_shape(model_name: str, overrides: dict, threads: int, repeats: int, workdir: Path) -> dict:
    """p50 ms of eager torch, OpenVINO FP32 and OpenVINO INT8 for one random-weight shape."""
    import openvino as ov  # deferred: OpenVINO, only when the sweep runs

    torch.manual_seed(0)
    model = create_model(model_name, **overrides).eval()
    onnx_path, xml = workdir / "model.onnx", workdir / "model.xml"
    export_onnx(model, onnx_path)
    export_openvino(onnx_path, xml)
    rng = np.random.default_rng(0)
    graph_input = model.signature(1).inputs[0]
    clips = [rng.standard_normal(graph_input.shape).astype(np.float32) for _ in range(CALIBRATION_CLIPS)]
    int8_xml = workdir / "model.int8.xml"
    scope = ignored_scope(model.default_keep_float, exported_graph=True, model=model)
    graph = ov.Core().read_model(str(xml))
    ov.save_model(quantize_graph(graph, clips, scope, graph_input.name),
                  str(int8_xml), compress_to_fp16=False)
    sessions = {"eager": TorchSession(model, threads=threads),
                "fp32": OpenVINOSession(xml, threads=threads),
                "int8": OpenVINOSession(int8_xml, precision="int8", threads=threads)}
    x = clips[0]
    with torch.inference_mode():
        times = time_side_by_side({k: (lambda s=s: s.run(x)) for k, s in sessions.items()}, repeats=repeats)
    p50 = {k: summarize(v)["p50_ms"] for k, v in times.items()}
    gflops = count_flops(model, torch.from_numpy(x))["gflops"]
    return {"shape": overrides, "gflops": gflops, **{f"{k}_ms": v for k, v in p50.items()},
            "fp32_vs_eager": p50["eager"] / p50["fp32"], "int8_over_fp32": p50["int8"] / p50["fp32"]}


def to_markdown(rows: list[dict]) -> str:
    lines = ["| shape | GFLOPs | eager ms | OV FP32 ms | OV INT8 ms | FP32 vs eager | INT8 / FP32 |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        shape = ", ".join(f"{k}={v}" for k, v in r["shape"].items()) or "(default)"
        lines.append(f"| {shape} | {r['gflops']:.2f} | {r['eager_ms']:.2f} | {r['fp32_ms']:.2f} | {r['int8_ms']:.2f} "
                     f"| {r['fp32_vs_eager']:.2f}x | {r['int8_over_fp32']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m compression.shape_sweep", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="hot-mixste", help="registered architecture")
    p.add_argument("--shapes", default="", help="';'-separated shapes, each ','-separated key=value overrides")
    p.add_argument("--threads", type=positive_int, default=2)
    p.add_argument("--repeats", type=positive_int, default=30)
    p.add_argument("--md", type=Path, default=None, help="also write the table here")
    args = p.parse_args(argv)

    def command():
        rows = []
        shapes = parse_shapes(args.shapes, args.model) if args.shapes else [{}]
        for overrides in shapes:
            with tempfile.TemporaryDirectory() as tmp:
                rows.append(measure_shape(args.model, overrides, args.threads, args.repeats, Path(tmp)))
            print(to_markdown(rows[-1:]).splitlines()[-1], flush=True)
        table = to_markdown(rows)
        print(table)
        if args.md:
            args.md.write_text(table + "\n")

    return run_cli(command, p.prog)


if __name__ == "__main__":
    sys.exit(main())

"""Where an OpenVINO model spends its time on the CPU: per-layer PERF_COUNT summed by layer type.

    python -m runtimes.profile bundles/hot-mixste-int8/openvino/model.xml \
        bundles/hot-mixste-int8/openvino/model.int8.xml --threads 2

For each IR: p50 ms per inference, the node count, and the layer types (with the kernel OpenVINO
picked, e.g. brgemm_avx512_amx_I8 or a reference "unknown_i8" Transpose) that take the most time.
The same settings as the FP32 session: LATENCY hint, f32 inference precision; `--hints f32,bf16,f16`
profiles each IR under each inference precision (bf16 runs on AMX where the CPU has it).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from edgetokens.clitools import positive_int, run_cli


def profile(xml: str, threads: int, repeats: int = 30, hint: str = "f32") -> dict:
    """{'p50_ms', 'nodes', 'by_type': {(node_type, exec_type): (ms per inference, count)}}."""
    import openvino as ov  # deferred: OpenVINO loads only when profiling

    if not Path(xml).is_file() or Path(xml).suffix != ".xml":
        raise FileNotFoundError(f"{xml}: not an OpenVINO IR file (.xml with its .bin beside it)")
    core = ov.Core()
    compiled = core.compile_model(core.read_model(xml), "CPU", {
        "INFERENCE_PRECISION_HINT": hint, "PERF_COUNT": "YES", "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": threads})
    request = compiled.create_infer_request()
    rng = np.random.default_rng(0)
    feeds = {i.any_name: rng.random(tuple(i.shape), dtype=np.float32) for i in compiled.inputs}
    for _ in range(5):
        request.infer(feeds)
    by_type: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        request.infer(feeds)
        times.append(1000 * (time.perf_counter() - start))
        for layer in request.profiling_info:
            entry = by_type[(layer.node_type, layer.exec_type)]
            entry[0] += layer.real_time.total_seconds() * 1000 / repeats
            entry[1] += 1 / repeats
    return {"p50_ms": statistics.median(times), "nodes": len(request.profiling_info),
            "by_type": {k: (v[0], round(v[1])) for k, v in by_type.items()}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m runtimes.profile", description=__doc__.split("\n\n")[0])
    p.add_argument("xml", nargs="+", help="OpenVINO IR files")
    p.add_argument("--threads", type=positive_int, default=2)
    p.add_argument("--repeats", type=positive_int, default=30)
    p.add_argument("--top", type=positive_int, default=10, help="layer types to list per model")
    p.add_argument("--hints", default="f32", help="inference precision hints to profile, comma-separated")
    args = p.parse_args(argv)

    def command():
        for xml, hint in ((x, h) for x in args.xml for h in args.hints.split(",")):
            result = profile(xml, args.threads, args.repeats, hint)
            print(f"{xml} [{hint}]: p50 {result['p50_ms']:.2f} ms, {result['nodes']} nodes")
            ranked = sorted(result["by_type"].items(), key=lambda kv: -kv[1][0])[: args.top]
            for (node_type, exec_type), (ms, count) in ranked:
                print(f"  {node_type:<30} {exec_type:<28} {ms:7.3f} ms  x{count}")

    return run_cli(command, "runtimes.profile")


if __name__ == "__main__":
    sys.exit(main())

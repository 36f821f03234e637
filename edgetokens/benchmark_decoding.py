"""`python -m edgetokens.benchmark_decoding`: AiT instance decoding times (issue 24 §3), printed.

Per backend (torch cached, ONNX Runtime, OpenVINO on the exported prefill/step graphs, and torch
recomputing the whole decoder every step, the official way): prefill ms, ms per step, steps and total
ms for 1, 5 and 10 slots (21 tokens each), greedy. Seeded random weights: timings are valid, accuracy is not.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from compression.export_decoder import build_decoder_bundle
from runtimes import open_session
from runtimes.cpuinfo import describe_cpu
from runtimes.decoder_bundle import read_decoder
from runtimes.torch_session import TorchSession

from .instance_decoding import InstanceDecoder
from .models import create_model
from .models.ait.decoding import InstancePrefill, InstanceStep


def timed(call, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgetokens.benchmark_decoding", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="ait-instances")
    parser.add_argument("--slots", default="1,5,10")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create_model(args.model, backbone_pretrained=False).eval()
    image = np.random.default_rng(0).standard_normal((1, 3, *model.input_shape[1:])).astype(np.float32)
    counts = [int(s) for s in args.slots.split(",")]
    print(f"{args.model} (random weights), {args.threads} thread(s), {describe_cpu()}; best of {args.repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        bundle = read_decoder(build_decoder_bundle(model, Path(tmp) / "decoder", precisions=("fp32",)))
        decoders = {"torch cached": (TorchSession(InstancePrefill(model), threads=args.threads),
                                     TorchSession(InstanceStep(model), threads=args.threads))}
        for device in ("onnxruntime:cpu", "openvino:CPU"):
            decoders[device] = tuple(open_session(bundle.graph_dir(g), device, threads=args.threads)
                                     for g in ("prefill", "step"))
        print(f"{'backend':18} {'slots':>5} {'steps':>6} {'prefill ms':>10} {'ms/step':>8} {'total ms':>9}")
        for name, (prefill, step) in decoders.items():
            decoder = InstanceDecoder(prefill, step, model.vocabulary, model.config.slots,
                                      model.config.mask_tokens, bundle.info["pair"])
            decoder.decode(image, slots=1)  # warm-up
            prefill_ms = timed(lambda: decoder.start(image), args.repeats)
            for slots in counts:
                total = timed(lambda: decoder.decode(image, slots=slots), args.repeats)
                steps = slots * decoder.width
                print(f"{name:18} {slots:5d} {steps:6d} {prefill_ms:10.1f} {(total - prefill_ms) / (steps - 1):8.2f} "
                      f"{total:9.1f}")
        x = torch.from_numpy(image)
        for slots in counts:  # the official way: the whole prefix through the decoder at every step
            torch.manual_seed(0)
            small = create_model(args.model, backbone_pretrained=False, slots=slots).eval()
            with torch.no_grad():
                total = timed(lambda: small.generate_instances(x, top_p=0.0, use_cache=False), args.repeats)
                cached = timed(lambda: small.generate_instances(x, top_p=0.0, use_cache=True), args.repeats)
            print(f"{'torch recompute':18} {slots:5d} {slots * 21:6d} {'':>10} {'':>8} {total:9.1f}"
                  f"   (torch concat-cache: {cached:.1f} ms, {total / cached:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

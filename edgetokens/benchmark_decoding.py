"""`python -m edgetokens.benchmark_decoding`: AiT instance decoding times (issue 24 §3), printed.

Per backend and precision (torch, ONNX Runtime, OpenVINO on the exported prefill/step graphs; INT8 from
NNCF PTQ calibrated on rendered scenes): prefill ms, ms per step, steps and total ms for 1, 5 and 10
slots (21 tokens each), greedy, and the share of greedy tokens equal to torch fp32's; then torch
recomputing the whole decoder every step (the official way) against the cache. Seeded random weights:
timings are valid, accuracy (and so token agreement) is not.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from compression.decoder_calibration import scene_images
from compression.export_decoder import build_decoder_bundle
from runtimes import open_session
from runtimes.cpuinfo import describe_cpu
from runtimes.decoder_bundle import read_decoder

from .clitools import positive_int
from .instance_decoding import InstanceDecoder
from .models import create_model


def timed(call, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def backend_rows(decoders: dict, image: np.ndarray, counts: list[int], repeats: int, reference: torch.Tensor) -> None:
    """One row per backend and slot count; `reference`: torch fp32's greedy ids at the largest count."""
    for name, decoder in decoders.items():
        decoder.decode(image, slots=1)  # warm-up
        prefill_ms = timed(lambda: decoder.start(image), repeats)
        for slots in counts:
            total = timed(lambda: decoder.decode(image, slots=slots), repeats)
            steps = slots * decoder.width
            print(f"{name:26} {slots:5d} {steps:6d} {prefill_ms:10.1f} {(total - prefill_ms) / (steps - 1):8.2f} "
                  f"{total:9.1f}")
        ids = decoder.decode(image, slots=max(counts))[1]
        print(f"{name:26} greedy tokens equal to torch fp32: {100 * float((ids == reference).float().mean()):.1f}%")


def recompute_rows(arch: str, image: np.ndarray, counts: list[int], repeats: int) -> None:
    """The official way (the whole prefix through the decoder at every step) against the cache, in torch."""
    x = torch.from_numpy(image)
    for slots in counts:
        torch.manual_seed(0)
        model = create_model(arch, backbone_pretrained=False, slots=slots).eval()
        decoder = InstanceDecoder.on_torch(model)
        with torch.no_grad():
            total = timed(lambda: model.generate_instances(x, top_p=0.0, use_cache=False), repeats)
            cached = timed(lambda: decoder.decode(image), repeats)
        print(f"{'torch recompute':26} {slots:5d} {slots * decoder.width:6d} {'':>10} {'':>8} {total:9.1f}"
              f"   (static-graph cache: {cached:.1f} ms, {total / cached:.1f}x)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgetokens.benchmark_decoding", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="ait-instances")
    parser.add_argument("--slots", default="1,5,10")
    parser.add_argument("--precisions", default="fp32,fp16,int8", help="exported precisions to time (int8: NNCF PTQ)")
    parser.add_argument("--calibration-images", type=positive_int, default=16, help="rendered scenes calibrating INT8")
    parser.add_argument("--recompute-slots", default="1,5,10",
                        help="slot counts of the recompute comparison (100: the paper's full length, minutes)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create_model(args.model, backbone_pretrained=False).eval()
    image = np.random.default_rng(0).standard_normal((1, 3, *model.input_shape[1:])).astype(np.float32)
    counts = [int(s) for s in args.slots.split(",")]
    precisions = [p for p in args.precisions.split(",") if p]
    print(f"{args.model} (random weights), {args.threads} thread(s), {describe_cpu()}; best of {args.repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        images = scene_images(model, args.calibration_images) if "int8" in precisions else None
        exported = tuple(p for p in precisions if p != "int8")
        bundle = read_decoder(build_decoder_bundle(model, Path(tmp) / "decoder", precisions=exported or ("fp32",),
                                                   int8_images=images))
        reference = InstanceDecoder.on_torch(model, threads=args.threads).decode(image, slots=max(counts))[1]
        decoders = {"torch (static graphs)": InstanceDecoder.on_torch(model, threads=args.threads)}
        for device in ("onnxruntime:cpu", "openvino:CPU"):
            for precision in precisions:
                if device.startswith("onnxruntime") and precision != "fp32":
                    continue  # fp16 and INT8 graphs are OpenVINO IR (`compression.decoder_calibration`)
                prefill, step = (open_session(bundle.graph_dir(g), device, precision, threads=args.threads)
                                 for g in ("prefill", "step"))
                decoders[f"{device} {precision}"] = InstanceDecoder.for_model(prefill, step, model, bundle.info["pair"])
        print(f"{'backend':26} {'slots':>5} {'steps':>6} {'prefill ms':>10} {'ms/step':>8} {'total ms':>9}")
        backend_rows(decoders, image, counts, args.repeats, reference)
    recompute_rows(args.model, image, [int(s) for s in args.recompute_slots.split(",") if s], args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())

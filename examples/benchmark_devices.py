"""Latency (and accuracy) of the shipped models on every device and precision this machine has.

    python examples/benchmark_devices.py --models hot-mixste,mixste --md devices.md

Devices that are not present are reported as `unavailable: ...` rows, so the same command runs on a
laptop with an Intel NPU, a Jetson (ONNX Runtime TensorRT/CUDA) or a plain CPU.
"""
import argparse

from edgetokens import benchmark
from edgetokens.clitools import positive_int


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="hot-mixste,mixste")
    p.add_argument("--devices", default="cpu,gpu,npu")
    p.add_argument("--precisions", default="fp32,fp16,int8")
    p.add_argument("--repeats", type=positive_int, default=20)
    p.add_argument("--md", default="benchmark.md")
    args = p.parse_args(argv)
    return benchmark.main(["--models", args.models, "--devices", args.devices, "--precisions", args.precisions,
                           "--repeats", str(args.repeats), "--stream", "--md", args.md])


if __name__ == "__main__":
    raise SystemExit(main())

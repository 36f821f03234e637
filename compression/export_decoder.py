"""Export an AiT's instance decoder as a decoder bundle (`runtimes.decoder_bundle`): the static-shape
prefill and step graphs (`edgetokens.models.ait.decoding`), each an ordinary bundle (ONNX fp32, OpenVINO
IR fp32/fp16, and with `--int8` NNCF's INT8 IR, `compression.decoder_calibration`), tied by
`decoder.json`.

    python -m compression.export_decoder ait-instances --weights random --out bundles/ait-instances-decoder [--int8]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import warnings
from dataclasses import asdict
from pathlib import Path

from torch import nn

from edgetokens.atomic import atomic_directory
from edgetokens.clitools import positive_int, run_cli
from edgetokens.models import model_for
from edgetokens.models.ait.decoding import InstancePrefill, InstanceStep
from runtimes.cache import bundle_hash
from runtimes.decoder_bundle import DECODER_FORMAT, DECODER_MANIFEST, is_decoder_bundle

from .bundle import build_bundle
from .decoder_calibration import DEFAULT_IMAGES, decoder_feeds, quantize_decoder_graphs, scene_images

log = logging.getLogger(__name__)


def weights_hash(model: nn.Module) -> str:
    """sha256 of a model's state (names, shapes, values): the `pair` both graphs record."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def build_decoder_bundle(model: nn.Module, out: str | Path, precisions: tuple[str, ...] = ("fp32", "fp16"),
                         overwrite: bool = False, keep_existing: bool = False, source: dict | None = None,
                         int8_images: list | None = None) -> Path:
    """Write the prefill and step graphs of `model` (an AiT with instances) and `decoder.json` at `out`;
    `int8_images` (each (1, 3, S, S)) adds INT8 artifacts calibrated on their decoding."""
    out = Path(out)
    if overwrite and out.exists() and (out.is_symlink() or not out.is_dir()
                                       or (any(out.iterdir()) and not is_decoder_bundle(out))):
        raise FileExistsError(f"{out} is not a decoder bundle (no {DECODER_MANIFEST}) nor an empty directory; "
                              "overwrite replaces only those, so nothing was deleted: choose another out")
    model = model.eval().cpu()
    graphs = {"prefill": InstancePrefill(model), "step": InstanceStep(model)}
    pair = weights_hash(model)
    exist = "replace" if overwrite else "keep" if keep_existing else "error"
    with atomic_directory(out, exist) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings are for exporters, not users
        for name, graph in graphs.items():
            build_bundle(graph, tmp / name, precisions, source={**(source or {}), "graph": name, "pair": pair})
        if int8_images is not None:
            prefill_feeds, step_feeds = decoder_feeds(model, int8_images)
            quantize_decoder_graphs(tmp, {"prefill": prefill_feeds, "step": step_feeds})
        recorded = {name: {"path": name, "manifest": bundle_hash(tmp / name)} for name in graphs}
        info = {"format_version": DECODER_FORMAT, "task": "instances", "arch": model.arch,
                "config": json.loads(json.dumps(asdict(model.config))), "max_length": graphs["step"].length,
                "pair": pair, "graphs": recorded, "source": source or {}}
        (tmp / DECODER_MANIFEST).write_text(json.dumps(info, indent=2))
    log.info("decoder bundle written to %s", out)
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compression.export_decoder", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="model name (ait, ait-instances) or checkpoint directory")
    parser.add_argument("--weights", help="checkpoint for a model name, or 'random'")
    parser.add_argument("--out", required=True, help="decoder bundle directory to create")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing decoder bundle")
    parser.add_argument("--int8", action="store_true", help="also INT8 graphs (NNCF PTQ on rendered scenes)")
    parser.add_argument("--calibration-images", type=positive_int, default=DEFAULT_IMAGES,
                        help="scenes whose decoding calibrates the INT8 graphs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    def run() -> int:
        path = Path(args.model)
        name, weights = (None, path) if path.is_dir() else (args.model, args.weights)
        model = model_for(name, weights)
        images = scene_images(model, args.calibration_images) if args.int8 else None
        out = build_decoder_bundle(model, args.out, overwrite=args.overwrite, int8_images=images,
                                   source={"weights": str(weights or f"shipped {name}")})
        print(f"decoder bundle written to {out}")
        return 0

    return run_cli(run, "compression.export_decoder")


if __name__ == "__main__":
    sys.exit(main())

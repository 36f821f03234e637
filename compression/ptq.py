"""Post-training quantization (PTQ) of exported FP32 models with NNCF, to INT8 bundles.

    python -m compression.ptq --bundle bundles/hot-mixste --data mix --data-root ../shared/data/cmu-mocap \
        --out bundles/hot-mixste-ptq [--max-drop 1.0]

Quantizes the bundle's OpenVINO IR and ONNX model (calibration clips from the training split).
With `--max-drop MM`, `nncf.quantize_with_accuracy_control` reverts the most sensitive layers to
float until the test MPJPE is at most MM millimetres worse than FP32 (OpenVINO and ONNX backends
only: NNCF does not offer it for torch models).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import nncf

from compression.bundle import extend_bundle
from compression.calibration import check_calibration_count
from edgetokens.clitools import run_cli
from edgetokens.models import create_model
from edgetokens.tasks import get_task
from runtimes.manifest import read_manifest
from training.config import DataConfig

from .scopes import (
    DEFAULT_KEEP_FLOAT,
    KEEP_FLOAT_PARTS,
    ignored_scope,
    parse_keep_float,
)

log = logging.getLogger("compression.ptq")


def quantize_graph(graph, clips, scope: nncf.IgnoredScope, input_name: str, validation=None,
                   max_drop: float | None = None):
    """NNCF PTQ (or accuracy-controlled PTQ) of an OpenVINO or ONNX model object; `validation` is
    (items, validation_fn) from the task's `accuracy_control`."""
    calibration = nncf.Dataset([{input_name: c} for c in clips])
    common = dict(model_type=nncf.ModelType.TRANSFORMER, subset_size=len(clips), ignored_scope=scope)
    if max_drop is None:
        return nncf.quantize(graph, calibration, **common)
    items, validation_fn = validation
    return nncf.quantize_with_accuracy_control(
        graph, calibration, nncf.Dataset(items), validation_fn=validation_fn, max_drop=max_drop,
        drop_type=nncf.DropType.ABSOLUTE, **common)


def quantize_bundle_artifacts(tmp: Path, manifest, clips, scope, formats, validation, max_drop):
    artifacts = {}
    input_name = manifest.inputs[0].name
    if "openvino" in formats:
        import openvino as ov  # deferred: OpenVINO, only for IR artifacts

        ov_model = ov.Core().read_model(str(tmp / manifest.artifact("fp32", "openvino")))
        quantized = quantize_graph(ov_model, clips, scope, input_name, validation, max_drop)
        xml = tmp / "openvino" / "model.int8.xml"
        ov.save_model(quantized, str(xml), compress_to_fp16=False)
        artifacts["openvino"] = "openvino/model.int8.xml"
    if "onnx" in formats:
        import onnx  # deferred: onnx, only for ONNX artifacts

        onnx_model = onnx.load(str(tmp / manifest.artifact("fp32", "onnx")))
        quantized = quantize_graph(onnx_model, clips, scope, input_name, validation, max_drop)
        onnx.save(quantized, str(tmp / "model.int8.onnx"))
        artifacts["onnx"] = "model.int8.onnx"
    return {"int8": artifacts}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m compression.ptq", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--bundle", required=True, help="FP32 bundle directory (python -m compression.bundle)")
    p.add_argument("--data", default="mix", help="pose: cmu | synthetic | mix | h36m:PATH; "
                   "depth: scenes (the default for depth bundles) | nyu:PATH | list:TRAIN.txt,TEST.txt")
    p.add_argument("--data-root", default=None, help="CMU folder holding 01/ 02/ 03/ (or $EDGETOKENS_CMU_ROOT)")
    p.add_argument("--formats", default="openvino,onnx", help="which FP32 artifacts to quantize")
    p.add_argument("--calibration-clips", type=int, default=300, help="clips (pose) or images (depth)")
    p.add_argument("--keep-float", default=None,
                   help=f"parts kept in float: comma list of the model family's parts (pose lifters: "
                        f"{', '.join(KEEP_FLOAT_PARTS)}; default {','.join(DEFAULT_KEEP_FLOAT)}) or 'none'; "
                        "default: the family's own")
    p.add_argument("--max-drop", type=float, default=None,
                   help="accuracy control: the largest increase of the task's metric allowed (pose: MPJPE mm)")
    p.add_argument("--eval-sequences", type=int, default=None,
                   help="score only the first N test sequences (pose) or N test images (depth; default 100)")
    p.add_argument("--seed", type=int, default=1126)
    p.add_argument("--out", required=True, help="bundle directory to write")
    p.add_argument("--overwrite", action="store_true")
    return p


def run(args: argparse.Namespace) -> Path:
    manifest = read_manifest(args.bundle)
    formats = [f for f in args.formats.split(",") if f]
    bad = set(formats) - {"openvino", "onnx"}
    if bad:
        raise ValueError(f"unknown format(s) {sorted(bad)}; use openvino and/or onnx")
    model = create_model(manifest.arch, **manifest.config)  # architecture only: task, signature, parts
    task = get_task(model.task)
    if args.max_drop is not None and not task.accuracy_control:
        raise ValueError(f"--max-drop (accuracy control) is not available for {task.name!r} bundles; quantize "
                         "without it: every artifact is scored in the manifest")
    keep_float = parse_keep_float(args.keep_float, model)
    check_calibration_count(args.calibration_clips)
    data = task.load("data")(DataConfig(source=args.data, root=args.data_root, seed=args.seed,
                                        test_count=args.eval_sequences), model)
    clips = data.calibration(args.calibration_clips, args.seed)
    validation = task.load("accuracy_control")(data.test, model, args.seed) if args.max_drop is not None else None
    scope = ignored_scope(keep_float, exported_graph=True, model=model)
    method = "nncf-ptq" + ("-accuracy-control" if args.max_drop is not None else "")
    out = extend_bundle(
        args.bundle, args.out,
        lambda tmp, m: quantize_bundle_artifacts(tmp, m, clips, scope, formats, validation, args.max_drop),
        overwrite=args.overwrite, accuracy_views=data.test,
        source_update={"quantization": {"method": method, "max_drop": args.max_drop,
                                        "keep_float": list(keep_float), "calibration_clips": len(clips)}})
    for precision, formats_acc in read_manifest(out).accuracy.items():
        for fmt, metrics in formats_acc.items():
            shown = [f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float)][:4]
            print(f"{precision:<6}{fmt:<10} " + "  ".join(shown))
    return out


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    return run_cli(lambda: run(args), "compression.ptq")


if __name__ == "__main__":
    sys.exit(main())

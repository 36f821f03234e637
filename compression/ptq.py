"""Post-training quantization (PTQ) of exported FP32 models with NNCF, to INT8 bundles.

    python -m compression.ptq --bundle bundles/hot-mixste --data mix --data-root ../shared/data/cmu-mocap \
        --out bundles/hot-mixste-ptq [--max-drop 1.0]

Quantizes the bundle's OpenVINO IR and ONNX model (calibration clips from the training split).
With `--max-drop MM`, `nncf.quantize_with_accuracy_control` reverts the most sensitive layers to
float (at most `--max-iterations` of them, one validation pass each, with a progress line) until the
MPJPE on validation sequences of the training split is at most MM millimetres worse than FP32; the
test split is only scored afterwards, into the manifest (OpenVINO and ONNX backends only: NNCF does
not offer accuracy control for torch models).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import nncf
from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

from compression.bundle import extend_bundle
from compression.calibration import add_layout_arguments, check_calibration_count, data_layout
from edgetokens.clitools import check_output, non_negative_float, non_negative_int, positive_int, run_cli
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
DEFAULT_MAX_ITERATIONS = 10  # accuracy control: layers reverted to float at most
RANKING_SUBSET = 100  # accuracy control: validation clips NNCF ranks the layers on


def quantize_graph(graph, clips, scope: nncf.IgnoredScope, input_name: str, validation=None,
                   max_drop: float | None = None, max_iterations: int = DEFAULT_MAX_ITERATIONS):
    """NNCF PTQ (or accuracy-controlled PTQ) of an OpenVINO or ONNX model object on `clips` (arrays for
    `input_name`, or whole feeds {input: array} for graphs of several inputs); `validation` is
    (items, validation_fn) from the task's `accuracy_control`. Accuracy control reverts at most
    `max_iterations` layers to float (NNCF's default is every quantized layer, which ran for hours)."""
    calibration = nncf.Dataset([c if isinstance(c, dict) else {input_name: c} for c in clips])  # dict: a feed
    common = dict(model_type=nncf.ModelType.TRANSFORMER, subset_size=len(clips), ignored_scope=scope)
    if max_drop is None:
        return nncf.quantize(graph, calibration, **common)
    items, validation_fn = validation
    restorer = AdvancedAccuracyRestorerParameters(max_num_iterations=max_iterations,
                                                  ranking_subset_size=min(len(items), RANKING_SUBSET))
    return nncf.quantize_with_accuracy_control(
        graph, calibration, nncf.Dataset(items), validation_fn=validation_fn, max_drop=max_drop,
        advanced_accuracy_restorer_parameters=restorer,
        drop_type=nncf.DropType.ABSOLUTE, **common)


def quantize_bundle_artifacts(tmp: Path, manifest, clips, scope, formats, validation, max_drop,
                              max_iterations: int = DEFAULT_MAX_ITERATIONS):
    artifacts = {}
    input_name = manifest.inputs[0].name
    if "openvino" in formats:
        import openvino as ov  # deferred: OpenVINO, only for IR artifacts

        ov_model = ov.Core().read_model(str(tmp / manifest.artifact("fp32", "openvino")))
        quantized = quantize_graph(ov_model, clips, scope, input_name, validation, max_drop, max_iterations)
        xml = tmp / "openvino" / "model.int8.xml"
        ov.save_model(quantized, str(xml), compress_to_fp16=False)
        artifacts["openvino"] = "openvino/model.int8.xml"
    if "onnx" in formats:
        import onnx  # deferred: onnx, only for ONNX artifacts

        onnx_model = onnx.load(str(tmp / manifest.artifact("fp32", "onnx")))
        quantized = quantize_graph(onnx_model, clips, scope, input_name, validation, max_drop, max_iterations)
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
    p.add_argument("--calibration-clips", type=positive_int, default=300, help="clips (pose) or images (depth)")
    p.add_argument("--keep-float", default=None,
                   help=f"parts kept in float: comma list of the model family's parts (pose lifters: "
                        f"{', '.join(KEEP_FLOAT_PARTS)}; default {','.join(DEFAULT_KEEP_FLOAT)}) or 'none'; "
                        "default: the family's own")
    p.add_argument("--max-drop", type=non_negative_float, default=None,
                   help="accuracy control: the largest increase of the task's metric allowed (pose: MPJPE mm)")
    p.add_argument("--max-iterations", type=positive_int, default=DEFAULT_MAX_ITERATIONS,
                   help="accuracy control: the most layers reverted to float (each costs one validation pass)")
    p.add_argument("--eval-sequences", type=positive_int, default=None,
                   help="score only the first N test sequences (pose) or N test images (depth; default 100)")
    p.add_argument("--seed", type=non_negative_int, default=1126)
    add_layout_arguments(p)
    p.add_argument("--out", required=True, help="bundle directory to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle (never --bundle itself)")
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
                                        test_count=args.eval_sequences, positions_root=args.positions_root,
                                        input_layout=data_layout(args.input_layout, model)), model)
    clips = data.calibration(args.calibration_clips, args.seed)
    validation = None
    if args.max_drop is not None:  # scored on the task's validation data, never on the reported test split
        if data.validation is None:
            raise ValueError(f"--max-drop needs validation data, which {args.data!r} does not provide for "
                             f"{task.name!r} models")
        validation = task.load("accuracy_control")(data.validation, model, args.seed)
    scope = ignored_scope(keep_float, exported_graph=True, model=model)
    method = "nncf-ptq" + ("-accuracy-control" if args.max_drop is not None else "")
    out = extend_bundle(
        args.bundle, args.out,
        lambda tmp, m: quantize_bundle_artifacts(tmp, m, clips, scope, formats, validation, args.max_drop,
                                                 args.max_iterations),
        overwrite=args.overwrite, accuracy_views=data.test,
        source_update={"quantization": {"method": method, "max_drop": args.max_drop,
                                        "max_iterations": args.max_iterations if args.max_drop is not None else None,
                                        "keep_float": list(keep_float), "calibration_clips": len(clips)}})
    for precision, formats_acc in read_manifest(out).accuracy.items():
        for fmt, metrics in formats_acc.items():
            shown = [f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float)][:4]
            print(f"{precision:<6}{fmt:<10} " + "  ".join(shown))
    return out


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    # the output policy before calibration: never over --bundle, an existing --out only with --overwrite
    return run_cli(lambda: check_output(args.out, [args.bundle], args.overwrite, directory=True) and run(args),
                   "compression.ptq")


if __name__ == "__main__":
    sys.exit(main())

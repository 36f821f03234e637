"""Post-training quantization (PTQ) of exported FP32 models with NNCF, to INT8 bundles.

    python -m compression.ptq --bundle bundles/hot-mixste --data mix --data-root ../shared/data/cmu-mocap \
        --out bundles/hot-mixste-ptq [--max-drop 1.0]

Quantizes the bundle's OpenVINO IR and ONNX model (calibration clips from the training split).
With `--max-drop MM`, `nncf.quantize_with_accuracy_control` reverts the most sensitive layers to
float until the test MPJPE is at most MM millimetres worse than FP32 (OpenVINO and ONNX backends
only: NNCF does not offer it for torch models).
"""
from __future__ import annotations

import os

os.environ.setdefault("NNCF_EXTENSION_LOAD_TIMEOUT", "0")

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from edgetokens.clitools import run_cli  # noqa: E402

import nncf  # noqa: E402
import numpy as np  # noqa: E402

from .scopes import DEFAULT_KEEP_FLOAT, KEEP_FLOAT_PARTS, ignored_scope, parse_keep_float  # noqa: E402

log = logging.getLogger("compression.ptq")

def validation_items(views, config, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(input clip (1,F,J,C), target clip (F,J,3)) pairs of the test split, official windows."""
    from training.data.clips import ClipConfig, PoseClipDataset

    data = PoseClipDataset(views, ClipConfig(frames=config.frames, train=False, flip=False,
                                             with_scores=config.in_channels == 3, seed=seed))
    return [(item["input"].numpy()[None], item["target"].numpy()) for item in (data[i] for i in range(len(data)))]


def negative_mpjpe(model, items) -> tuple[float, list[float]]:
    """NNCF validation function: higher is better, so minus the MPJPE in mm (per clip too)."""
    run = _runner(model)
    errors = []
    for x, target in items:
        pred = run(x)[0]
        pred = pred - pred[:, :1]
        errors.append(-1000.0 * float(np.linalg.norm(pred - target, axis=-1).mean()))
    return float(np.mean(errors)), errors


def _runner(model):
    """Run an OpenVINO compiled model or an ONNX model (as NNCF hands them to validation_fn)."""
    if hasattr(model, "output") and callable(model):
        named = any("poses_3d" in o.get_names() for o in model.outputs)
        output = model.output("poses_3d") if named else model.output(0)
        return lambda x: model({"keypoints": x})[output]
    import onnxruntime as ort

    session = model if isinstance(model, ort.InferenceSession) else ort.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"])
    return lambda x: session.run(["poses_3d"], {"keypoints": x})[0]


def quantize_graph(model, fmt: str, clips, keep_float, validation=None, max_drop: float | None = None,
                   input_name: str = "keypoints"):
    """NNCF PTQ (or accuracy-controlled PTQ) of an OpenVINO or ONNX model object."""
    calibration = nncf.Dataset([{input_name: c} for c in clips])
    common = dict(model_type=nncf.ModelType.TRANSFORMER, subset_size=len(clips),
                  ignored_scope=ignored_scope(keep_float, exported_graph=True))
    if max_drop is None:
        return nncf.quantize(model, calibration, **common)
    return nncf.quantize_with_accuracy_control(
        model, calibration, nncf.Dataset(validation), validation_fn=negative_mpjpe, max_drop=max_drop,
        drop_type=nncf.DropType.ABSOLUTE, **common)


def quantize_bundle_artifacts(tmp: Path, manifest, clips, keep_float, formats, validation, max_drop):
    artifacts = {}
    if "openvino" in formats:
        import openvino as ov

        ov_model = ov.Core().read_model(str(tmp / manifest.artifact("fp32", "openvino")))
        quantized = quantize_graph(ov_model, "openvino", clips, keep_float, validation, max_drop,
                                   manifest.inputs[0].name)
        xml = tmp / "openvino" / "model.int8.xml"
        ov.save_model(quantized, str(xml), compress_to_fp16=False)
        artifacts["openvino"] = "openvino/model.int8.xml"
    if "onnx" in formats:
        import onnx

        onnx_model = onnx.load(str(tmp / manifest.artifact("fp32", "onnx")))
        quantized = quantize_graph(onnx_model, "onnx", clips, keep_float, validation, max_drop,
                                   manifest.inputs[0].name)
        onnx.save(quantized, str(tmp / "model.int8.onnx"))
        artifacts["onnx"] = "model.int8.onnx"
    return {"int8": artifacts}


def depth_calibration(args: argparse.Namespace, size: int) -> tuple[list[np.ndarray], object]:
    """Calibration images (1, 3, S, S) from the training split, and the test dataset (depth bundles)."""
    from compression.calibration import check_calibration_count
    from training.depth import DEFAULT_TEST_SCENES, depth_sources

    check_calibration_count(args.calibration_clips, what="images")
    data = "scenes" if args.data == "mix" else args.data  # "mix" is the pose default
    train_set, test_set = depth_sources(data, size, args.seed, args.calibration_clips,
                                        args.eval_sequences or DEFAULT_TEST_SCENES)
    count = min(len(train_set), args.calibration_clips)
    return [train_set[i]["image"].numpy()[None] for i in range(count)], test_set


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m compression.ptq", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--bundle", required=True, help="FP32 bundle directory (python -m compression.bundle)")
    p.add_argument("--data", default="mix", help="pose: cmu | synthetic | mix | h36m:PATH; "
                   "depth: scenes (the default for depth bundles) | nyu:PATH | list:TRAIN.txt,TEST.txt")
    p.add_argument("--data-root", default=None, help="CMU folder holding 01/ 02/ 03/ (or $EDGETOKENS_CMU_ROOT)")
    p.add_argument("--formats", default="openvino,onnx", help="which FP32 artifacts to quantize")
    p.add_argument("--calibration-clips", type=int, default=300, help="clips (pose) or images (depth)")
    p.add_argument("--keep-float", default=",".join(DEFAULT_KEEP_FLOAT),
                   help=f"parts kept in float: comma list of {', '.join(KEEP_FLOAT_PARTS)} (or 'none')")
    p.add_argument("--max-drop", type=float, default=None, help="accuracy control: max MPJPE increase in mm")
    p.add_argument("--eval-sequences", type=int, default=None,
                   help="score only the first N test sequences (pose) or N test images (depth; default 100)")
    p.add_argument("--seed", type=int, default=1126)
    p.add_argument("--out", required=True, help="bundle directory to write")
    p.add_argument("--overwrite", action="store_true")
    return p


def run(args: argparse.Namespace) -> Path:
    from compression.bundle import extend_bundle
    from compression.calibration import calibration_clips
    from edgetokens.models import create_model
    from runtimes.manifest import read_manifest
    from training.data.clips import build_sources

    manifest = read_manifest(args.bundle)
    if manifest.task not in ("pose3d", "depth"):
        raise ValueError(f"{args.bundle} is a {manifest.task!r} bundle; compression.ptq handles pose3d and depth")
    formats = [f for f in args.formats.split(",") if f]
    bad = set(formats) - {"openvino", "onnx"}
    if bad:
        raise ValueError(f"unknown format(s) {sorted(bad)}; use openvino and/or onnx")
    keep_float = parse_keep_float(args.keep_float)
    model = create_model(manifest.arch, **manifest.config)
    if manifest.task == "depth":
        if args.max_drop is not None:
            raise ValueError("--max-drop (accuracy control in MPJPE mm) is for pose bundles; depth bundles "
                             "are quantized without it and scored (RMSE...) in the manifest")
        clips, test_views = depth_calibration(args, model.config.image_size)
        keep_float, validation = (), None  # the keep-float parts name pose-lifter modules
    else:
        train_views = build_sources(args.data, args.data_root, seed=args.seed, split="train")
        test_views = build_sources(args.data, args.data_root, seed=args.seed, split="test")[: args.eval_sequences]
        clips = calibration_clips(train_views, model, args.calibration_clips, args.seed)
        validation = validation_items(test_views, model.config, args.seed) if args.max_drop is not None else None
    method = "nncf-ptq" + ("-accuracy-control" if args.max_drop is not None else "")
    out = extend_bundle(
        args.bundle, args.out,
        lambda tmp, m: quantize_bundle_artifacts(tmp, m, clips, keep_float, formats, validation, args.max_drop),
        overwrite=args.overwrite, accuracy_views=test_views,
        source_update={"quantization": {"method": method, "max_drop_mm": args.max_drop,
                                        "keep_float": list(keep_float), "calibration_clips": len(clips)}})
    result = read_manifest(out)
    for precision, formats_acc in result.accuracy.items():
        for fmt, metrics in formats_acc.items():
            if manifest.task == "depth":
                print(f"{precision:<6}{fmt:<10} RMSE {metrics['rmse']:.3f} m  AbsRel {metrics['abs_rel']:.3f}  "
                      f"d1 {metrics['d1']:.3f}")
            else:
                print(f"{precision:<6}{fmt:<10} MPJPE {metrics['mpjpe_mm']:.2f} mm  "
                      f"P-MPJPE {metrics['p_mpjpe_mm']:.2f} mm")
    return out


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    return run_cli(lambda: run(args), "compression.ptq")


if __name__ == "__main__":
    sys.exit(main())

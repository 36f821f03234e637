"""`edgetokens predict | export | devices`: thin wrappers over the SDK and tool packages (`benchmark`
is `edgetokens.benchmark`, also `python -m runtimes.benchmark`, dispatched in `edgetokens.cli.main`)."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from compression.bundle import add_export_arguments, export_from_args
from runtimes.base import DeviceUnavailableError
from runtimes.cpuinfo import describe_cpu
from runtimes.devices import (
    family_candidates,
    is_available,
    onnxruntime_providers,
    openvino_devices,
    resolve,
    torch_cuda_count,
)

from . import Predictor
from .cli_video import add_video_command
from .clitools import check_image_extension, check_output, check_outputs, non_negative_float, positive_int, write_image
from .instances_predictor import DEFAULT_MIN_SCORE
from .keypoints_io import load_keypoints, save_poses
from .tasks import get_task
from .versions import package_version
from .vision.depth_io import write_depth_png


def cmd_predict(args: argparse.Namespace) -> int:
    # the output policy, before anything loads: never over an input, an existing file only with --overwrite
    if not Path(args.input).is_file():
        raise FileNotFoundError(f"{args.input} not found (or not a file)")
    inputs = (args.input, args.model, args.weights)
    check_outputs({"--out": args.out, "--colormap": args.colormap, "--overlay": args.overlay}, inputs, args.overwrite)
    for flag, picture in (("--colormap", args.colormap), ("--overlay", args.overlay)):
        if picture:
            check_image_extension(picture, flag)
    predictor = Predictor(args.model, device=args.device, precision=args.precision, weights=args.weights,
                          fallback=args.fallback, task=args.task)

    return get_task(predictor.task).load("cli_predict")(predictor, args)


def predict_output(args: argparse.Namespace, default_suffix: str, suffixes: tuple[str, ...], what: str) -> Path:
    """The checked output of `edgetokens predict` (default: the input's name with `default_suffix`, here)."""
    out = Path(args.out or Path(args.input).with_suffix(default_suffix).name)
    if out.suffix.lower() not in suffixes:
        raise ValueError(f"--out {out}: write {what}")
    return check_output(out, (args.input, args.model, args.weights), args.overwrite)


def predict_pose(predictor, args: argparse.Namespace) -> int:
    out = predict_output(args, ".3d.json", (".json", ".npz"), "3D poses as .json or .npz")
    data = load_keypoints(args.input)
    image_size = tuple(args.image_size) if args.image_size else data.image_size
    if image_size is None:
        raise ValueError(f"{args.input} does not record the image size; pass --image-size WIDTH HEIGHT")
    layout = args.layout or data.layout or "h36m"
    result = predictor.predict(data.keypoints, image_size=image_size, layout=layout, scores=data.scores,
                               flip=args.flip)
    save_poses(out, result.poses_3d, {"model": predictor.info.name, "device": result.device, "layout": layout,
                                      "image_size": list(image_size), "frames": result.frames})
    print(f"{result.frames} frames lifted on {result.device} in {result.timings_ms['total']:.0f} ms "
          f"({result.fps:.0f} frames/s) -> {out}")
    return 0


def predict_depth(predictor, args: argparse.Namespace) -> int:
    out = predict_output(args, ".depth.png", (".png", ".npy"), "depth as .png (16-bit millimetres) or .npy "
                                                               "(float metres)")
    result = predictor.predict(args.input)
    out.parent.mkdir(parents=True, exist_ok=True)  # documented: --out and --colormap folders are created
    if out.suffix.lower() == ".npy":
        np.save(out, result.depth)
    else:  # 16-bit millimetres, the usual depth PNG encoding
        write_depth_png(out, result.depth)
    print(f"depth {result.depth.shape[1]}x{result.depth.shape[0]} on {result.device} in "
          f"{result.timings_ms['total']:.0f} ms -> {out}")
    if args.colormap:
        colormap = Path(args.colormap)
        colormap.parent.mkdir(parents=True, exist_ok=True)
        write_image(colormap, result.colorize(), "--colormap")
        print(f"colour map -> {colormap}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    # never over the model it exports (a checkpoint or bundle directory); replacing an existing bundle
    # with --overwrite is compression.bundle's decision (only a bundle or an empty directory)
    check_output(args.out, (args.model, args.weights), args.overwrite, directory=True)
    export_from_args(args)
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    print(f"CPU: {describe_cpu()}")
    print("backends:")
    for package in ("torch", "onnxruntime", "openvino", "nncf"):
        print(f"  {package:<12} {package_version(package)}")
    print("OpenVINO devices:")
    devices = openvino_devices()
    if devices:
        import openvino as ov  # deferred: OpenVINO, only to name its devices

        core = ov.Core()
        for device in devices:
            print(f"  {device:<8} {core.get_property(device, 'FULL_DEVICE_NAME')}")
    else:
        print("  none")
    print("ONNX Runtime providers:\n  " + (", ".join(onnxruntime_providers()) or "none"))
    print(f"torch CUDA devices: {torch_cuda_count()}")
    print("device strings here (for a bundle with ONNX and OpenVINO artifacts):")

    for family in ("cpu", "gpu", "npu", "auto"):
        usable = [str(t) for t in family_candidates(family) if is_available(t)]
        try:
            chosen = str(resolve(family, {"onnx", "openvino", "torch"}))
        except DeviceUnavailableError:
            tried = ", ".join(str(t) for t in family_candidates(family))
            print(f"  {family:<5} -> unavailable here (tried {tried})")
            continue
        if family in ("cpu", "auto") and len([u for u in usable if u in ("onnxruntime:cpu", "openvino:CPU")]) > 1:
            chosen = "onnxruntime:cpu or openvino:CPU, whichever runs the bundle faster (measured on first use)"
        print(f"  {family:<5} -> {chosen}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("predict", help="keypoints -> 3D poses (JSON/NPZ); image -> depth (PNG/NPY) or instances "
                                       "(COCO JSON)",
                       description="Run a model on a file. Pose models read .npy/.npz/.json keypoints (COCO "
                                   "results or MMPose/rtmlib JSON) and write 3D poses; depth and instance models "
                                   "read an image and write depth, or COCO results JSON (masks as RLE).")
    p.add_argument("model", help="model name (shipped weights), checkpoint directory or bundle")
    p.add_argument("input", help="keypoints file (pose) or image (depth, instances)")
    p.add_argument("--task", help="the task of a model serving several: instances or depth for the joint ait")
    p.add_argument("--out", help="output file: .json/.npz (pose), .png (16-bit mm) or .npy (depth), .json "
                                 "(instances); its folder is created (default: the input's name with .3d.json, "
                                 ".depth.png or .instances.json, here)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files (never the input)")
    p.add_argument("--device", default="cpu", help="cpu, gpu, npu, auto or backend:target")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "int8"])
    p.add_argument("--weights", help="checkpoint directory or official checkpoint for a model name")
    p.add_argument("--fallback", help="device to use when --device is unavailable (e.g. cpu)")
    p.add_argument("--image-size", type=positive_int, nargs=2, metavar=("WIDTH", "HEIGHT"),
                   help="pose: the video's frame size, when the keypoint file does not record it")
    p.add_argument("--layout", choices=["h36m", "coco"], help="pose: keypoint order (JSON files are coco)")
    p.add_argument("--flip", action="store_true", help="pose: average with the mirrored input")
    p.add_argument("--colormap", help="depth: also write a colour picture here (.png, .jpg, ...; folder created)")
    p.add_argument("--overlay", help="instances: also draw masks, boxes and labels on the image here (.png, ...)")
    p.add_argument("--min-score", type=non_negative_float, default=DEFAULT_MIN_SCORE,
                   help=f"instances: keep those scoring at least this (default {DEFAULT_MIN_SCORE}; 0 keeps all)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="a model as a bundle: ONNX + OpenVINO IR, static shapes",
                       description="Export a model (shipped weights, or a checkpoint directory) to a bundle "
                                   "directory. INT8: python -m compression.qat / compression.ptq.")
    p.add_argument("model", help="model name or checkpoint directory")

    add_export_arguments(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("devices", help="which backends, devices and versions this machine has")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("benchmark", help="latency and accuracy per model x device x precision",
                       description="Runs python -m runtimes.benchmark with the same arguments "
                                   "(edgetokens benchmark --help lists them); `edgetokens.cli.main` hands "
                                   "them over before parsing.", add_help=False)

    add_video_command(sub)

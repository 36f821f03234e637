"""Building deployable bundles: exported artifacts + manifest.json (see `runtimes.manifest`).

    python -m compression.bundle --checkpoint runs/hot-mixste/best --out bundles/hot-mixste

Writes are atomic: everything is built in a temporary directory beside the target and moved into
place at the end; an existing output is refused unless `overwrite=True` (`--overwrite`).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from torch import nn

from edgetokens.clitools import run_cli
from edgetokens.pose.skeleton import H36M_JOINTS_LEFT, H36M_JOINTS_RIGHT
from runtimes.manifest import MANIFEST, Manifest, TensorSpec, sha256_file

from .export import ExportWrapper, export_int8, export_onnx, export_openvino, model_task

log = logging.getLogger(__name__)

TOOLS = ("edgetokens", "torch", "onnx", "onnxruntime", "openvino", "nncf")


def tool_versions() -> dict[str, str]:
    versions = {}
    for name in TOOLS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def pose_preprocessing(model: nn.Module) -> dict[str, Any]:
    """What a runtime must do around the graph, so every backend does the same."""
    channels = ["x", "y", "score"][: model.config.in_channels]
    return {
        "skeleton": "h36m-17",
        "joints_left": list(H36M_JOINTS_LEFT),
        "joints_right": list(H36M_JOINTS_RIGHT),
        "input_channels": channels,
        "normalization": "x / w * 2 - [1, h / w]",
        "output": "camera-frame metres, root-relative (joint 0 = 0)",
        "frames": model.config.frames,
        "test_time_flip": True,
    }


def depth_preprocessing(model: nn.Module) -> dict[str, Any]:
    from edgetokens.vision.image import IMAGENET_MEAN, IMAGENET_STD

    size = model.config.image_size
    return {
        "input": f"RGB resized to {size}x{size} (bilinear, aspect not kept), (rgb / 255 - mean) / std",
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "image_size": size,
        "output": "metric depth in metres at the model size; resized back to the input image (bilinear)",
    }


def preprocessing_of(model: nn.Module) -> dict[str, Any]:
    return depth_preprocessing(model) if model_task(model) == "depth" else pose_preprocessing(model)


def tensor_specs(model: nn.Module, batch: int, dynamic_batch: bool) -> tuple[list[TensorSpec], list[TensorSpec]]:
    wrapper = ExportWrapper(model)
    names_in, names_out = wrapper.names()
    b = -1 if dynamic_batch else batch
    c = model.config
    if wrapper.task == "depth":
        shapes = {"image": [b, *model.input_shape], "depth": [b, 1, c.image_size, c.image_size]}
    else:
        shapes = {"keypoints": [b, *model.input_shape], "poses_3d": [b, c.frames, c.joints, 3],
                  "keep_index": [b, c.token_num or c.frames]}
    dtype = {"keep_index": "int64"}
    return ([TensorSpec(n, shapes[n], dtype.get(n, "float32")) for n in names_in],
            [TensorSpec(n, shapes[n], dtype.get(n, "float32")) for n in names_out])


def prepare_output(out: str | Path, overwrite: bool) -> tuple[Path, Path]:
    """(final path, temporary build dir beside it); refuses to clobber unless asked."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out, Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))


def finish_bundle(tmp: Path, out: Path, manifest: Manifest) -> Path:
    """Hash every file, write the manifest, move the directory into place."""
    manifest.files = {str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*"))
                      if p.is_file() and p.name != MANIFEST}
    (tmp / MANIFEST).write_text(manifest.to_json())
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    log.info("bundle written to %s", out)
    return out


def build_bundle(model: nn.Module, out: str | Path, precisions: tuple[str, ...] = ("fp32", "fp16"),
                 batch: int = 1, dynamic_batch: bool = False, overwrite: bool = False,
                 source: dict | None = None, int8_model: nn.Module | None = None,
                 accuracy_views=None) -> Path:
    """Export `model` to ONNX fp32 and OpenVINO IR (fp32, fp16) as a bundle directory.

    `int8_model` (an NNCF-quantized copy, from compression.qat) adds INT8 IR and QDQ ONNX;
    `accuracy_views` (test sequences) scores every artifact on the CPU into the manifest.
    """
    unknown = set(precisions) - {"fp32", "fp16"}
    if unknown:
        raise ValueError(f"build_bundle makes fp32/fp16 artifacts; int8 comes from compression.ptq/qat "
                         f"(got {sorted(unknown)})")
    out, tmp = prepare_output(out, overwrite)
    try:
        model = model.eval().cpu()
        onnx_path = export_onnx(model, tmp / "model.onnx", batch=batch, dynamic_batch=dynamic_batch)
        artifacts: dict[str, dict[str, str]] = {"fp32": {"onnx": "model.onnx"}}
        for precision in precisions:
            name = "model.xml" if precision == "fp32" else f"model.{precision}.xml"
            export_openvino(onnx_path, tmp / "openvino" / name, precision)
            artifacts.setdefault(precision, {})["openvino"] = f"openvino/{name}"
        if int8_model is not None:
            if dynamic_batch:
                raise ValueError("INT8 artifacts are exported with static shapes; drop dynamic_batch")
            artifacts["int8"] = export_int8(int8_model, tmp, batch=batch)
        accuracy = {}
        if accuracy_views is not None:
            from .accuracy import score_artifacts

            accuracy = score_artifacts(tmp, artifacts, accuracy_views, model.config)
        inputs, outputs = tensor_specs(model, batch, dynamic_batch)
        manifest = Manifest(task=model_task(model), arch=model.arch, config=asdict(model.config), inputs=inputs,
                            outputs=outputs, artifacts=artifacts, files={}, accuracy=accuracy,
                            preprocessing=preprocessing_of(model), tools=tool_versions(), source=source or {})
        return finish_bundle(tmp, out, manifest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def extend_bundle(bundle: str | Path, out: str | Path, add_artifacts, overwrite: bool = False,
                  accuracy_views=None, source_update: dict | None = None) -> Path:
    """Copy a bundle, let `add_artifacts(tmp_dir, manifest) -> {precision: {format: path}}` write new
    artifacts into the copy, re-score every artifact and write the manifest atomically."""
    from runtimes.manifest import read_manifest

    from edgetokens.models import make_config

    manifest = read_manifest(bundle)
    out, tmp = prepare_output(out, overwrite)
    try:
        shutil.copytree(bundle, tmp, dirs_exist_ok=True)
        (tmp / MANIFEST).unlink()
        for precision, formats in add_artifacts(tmp, manifest).items():
            manifest.artifacts.setdefault(precision, {}).update(formats)
        if accuracy_views is not None:
            from .accuracy import score_artifacts

            config = make_config(manifest.arch, **manifest.config)
            manifest.accuracy = score_artifacts(tmp, manifest.artifacts, accuracy_views, config)
        manifest.source = {**manifest.source, **(source_update or {})}
        manifest.tools = tool_versions()
        return finish_bundle(tmp, out, manifest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def main(argv: list[str] | None = None) -> int:
    from edgetokens.checkpoint import load_checkpoint

    parser = argparse.ArgumentParser(prog="python -m compression.bundle", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="checkpoint directory (model.safetensors + config.json)")
    parser.add_argument("--out", required=True, help="bundle directory to create")
    parser.add_argument("--precisions", default="fp32,fp16", help="comma list of fp32, fp16")
    parser.add_argument("--batch", type=int, default=1, help="static batch size")
    parser.add_argument("--dynamic-batch", action="store_true", help="dynamic batch axis (not for NPUs)")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    def command():
        model, info = load_checkpoint(args.checkpoint)
        build_bundle(model, args.out, tuple(args.precisions.split(",")), args.batch, args.dynamic_batch,
                     args.overwrite, source={"checkpoint": str(args.checkpoint), "metrics": info.get("metrics")})

    return run_cli(command, "compression.bundle")


if __name__ == "__main__":
    sys.exit(main())

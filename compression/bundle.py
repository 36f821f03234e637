"""Building deployable bundles: exported artifacts + manifest.json (see `runtimes.manifest`).

    python -m compression.bundle --checkpoint runs/hot-mixste/best --out bundles/hot-mixste
    edgetokens export hot-mixste --out bundles/hot-mixste        # the same implementation

Writes are atomic (`edgetokens.atomic`): everything is built in a temporary directory beside the
target and swapped into place at the end (a failure leaves nothing behind); an existing output is
refused unless `overwrite=True`, and even then only a bundle (a directory with our manifest.json)
or an empty directory is replaced, never a folder of something else.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
from torch import nn

from edgetokens.atomic import atomic_directory
from edgetokens.checkpoint import CONFIG, read_checkpoint_info
from edgetokens.clitools import positive_int, run_cli
from edgetokens.models import create_model, model_for
from edgetokens.versions import package_versions
from runtimes.manifest import (
    EXAMPLES,
    MANIFEST,
    BundleError,
    Manifest,
    is_bundle_directory,
    read_manifest,
    sha256_file,
    verify_files,
)

from .accuracy import score_artifacts
from .export import export_int8, export_onnx, export_openvino

log = logging.getLogger(__name__)

TOOLS = ("edgetokens", "torch", "onnx", "onnxruntime", "openvino", "nncf")


def tool_versions() -> dict[str, str]:
    return package_versions(TOOLS)


def check_replaceable(out: str | Path) -> None:
    """What `overwrite=True` may replace: nothing there, an empty directory, or a bundle (a directory
    with our manifest.json). Anything else is a FileExistsError and stays as it is."""
    out = Path(out)
    if not os.path.lexists(out):
        return
    if out.is_symlink() or not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a directory; --overwrite replaces only a bundle or an "
                              "empty directory: choose another --out or remove it yourself")
    if not any(out.iterdir()) or is_bundle_directory(out):
        return
    raise FileExistsError(f"{out} is not an edgetokens bundle (no {MANIFEST}) and not empty; --overwrite "
                          "replaces only a bundle or an empty directory, so nothing was deleted: choose "
                          "another --out or remove it yourself")


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Hash every file of the bundle being built and write its manifest (a link inside is refused)."""
    links = [p for p in directory.rglob("*") if p.is_symlink()]
    if links:
        raise BundleError(f"{links[0]} is a symbolic link; a bundle holds plain files only")
    manifest.files = {str(p.relative_to(directory)): sha256_file(p) for p in sorted(directory.rglob("*"))
                      if p.is_file() and p.name != MANIFEST}
    (directory / MANIFEST).write_text(manifest.to_json())


def build_bundle(model: nn.Module, out: str | Path, precisions: tuple[str, ...] = ("fp32", "fp16"),
                 batch: int = 1, dynamic_batch: bool = False, overwrite: bool = False,
                 source: dict | None = None, int8_model: nn.Module | None = None,
                 accuracy_views=None, keep_existing: bool = False) -> Path:
    """Export `model` to ONNX fp32 and OpenVINO IR (fp32, fp16) as a bundle directory.

    `int8_model` (an NNCF-quantized copy, from compression.qat) adds INT8 IR and QDQ ONNX;
    `accuracy_views` (the task's test data, `TaskData.test`) scores every artifact on the CPU into the
    manifest. `keep_existing`: a bundle another process finished first stays (cache entries).
    """
    unknown = set(precisions) - {"fp32", "fp16"}
    if unknown:
        raise ValueError(f"build_bundle makes fp32/fp16 artifacts; int8 comes from compression.ptq/qat "
                         f"(got {sorted(unknown)})")
    exist = "replace" if overwrite else "keep" if keep_existing else "error"
    if overwrite:
        check_replaceable(out)
    with atomic_directory(out, exist) as tmp:
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

            accuracy = score_artifacts(tmp, artifacts, accuracy_views, model)
        signature = model.signature(-1 if dynamic_batch else batch)
        np.savez(tmp / EXAMPLES, **signature.examples)
        manifest = Manifest(task=signature.task, arch=model.arch, config=asdict(model.config),
                            inputs=signature.inputs, outputs=signature.outputs, artifacts=artifacts, files={},
                            accuracy=accuracy, preprocessing=signature.preprocessing, tools=tool_versions(),
                            source=source or {}, examples=EXAMPLES)
        write_manifest(tmp, manifest)
        if overwrite:
            check_replaceable(out)  # again: what is there now is what gets replaced
    log.info("bundle written to %s", out)
    return Path(out)


def extend_bundle(bundle: str | Path, out: str | Path, add_artifacts, overwrite: bool = False,
                  accuracy_views=None, source_update: dict | None = None) -> Path:
    """Copy a bundle, let `add_artifacts(tmp_dir, manifest) -> {precision: {format: path}}` write new
    artifacts into the copy, re-score every artifact and write the manifest atomically."""

    manifest = read_manifest(bundle)  # paths inside the bundle, no links, every file hashed
    if overwrite:
        check_replaceable(out)
    with atomic_directory(out, "replace" if overwrite else "error") as tmp:
        for rel in manifest.files:  # only what the verified manifest lists, as plain files
            source = Path(bundle) / rel
            if source.is_symlink():  # checked by read_manifest; refused again in case it changed since
                raise BundleError(f"{source} is a symbolic link; a bundle holds plain files only")
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp / rel, follow_symlinks=False)
        verify_files(tmp, manifest)  # the copies are what was verified
        for precision, formats in add_artifacts(tmp, manifest).items():
            manifest.artifacts.setdefault(precision, {}).update(formats)
        if accuracy_views is not None:

            model = create_model(manifest.arch, **manifest.config)  # architecture only: task and signature
            manifest.accuracy = score_artifacts(tmp, manifest.artifacts, accuracy_views, model)
        manifest.source = {**manifest.source, **(source_update or {})}
        manifest.tools = tool_versions()
        write_manifest(tmp, manifest)
        if overwrite:
            check_replaceable(out)
    log.info("bundle written to %s", out)
    return Path(out)


def export_model(model: str | Path, out: str | Path, weights: str | Path | None = None,
                 precisions: tuple[str, ...] = ("fp32", "fp16"), batch: int = 1, dynamic_batch: bool = False,
                 overwrite: bool = False) -> Path:
    """A model name (shipped weights, or `weights`) or a checkpoint directory -> a bundle at `out`.
    What `edgetokens export` and `python -m compression.bundle` run."""

    if overwrite:
        check_replaceable(out)  # before loading and exporting anything
    path = Path(model)
    if path.is_dir() and (path / CONFIG).is_file():
        if weights is not None:
            raise ValueError(f"{path} is a checkpoint directory; --weights is for model names")
        name, weights = None, path
    else:
        name = str(model)
    module = model_for(name, weights)
    metrics = read_checkpoint_info(weights).get("metrics") if weights is not None and Path(weights).is_dir() \
        else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings are for exporters, not users
        return build_bundle(module, out, precisions, batch, dynamic_batch, overwrite,
                            source={"weights": str(weights or f"shipped {name}"), "metrics": metrics})


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """The export options, shared by `edgetokens export` and `python -m compression.bundle`."""
    parser.add_argument("--out", required=True, help="bundle directory to create")
    parser.add_argument("--weights", help="checkpoint for a model name (default: the shipped weights)")
    parser.add_argument("--precisions", default="fp32,fp16", help="comma list of fp32, fp16")
    parser.add_argument("--batch", type=positive_int, default=1, help="static batch size")
    parser.add_argument("--dynamic-batch", action="store_true", help="dynamic batch axis (not for NPUs)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing bundle (only a bundle or an empty directory is replaced)")


def export_from_args(args: argparse.Namespace) -> Path:
    out = export_model(args.model, args.out, args.weights, tuple(args.precisions.split(",")), args.batch,
                       args.dynamic_batch, args.overwrite)
    print(f"bundle written to {out} (load it with edgetokens.Predictor({str(out)!r}))")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compression.bundle", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", help="model name or checkpoint directory")
    parser.add_argument("--checkpoint", help="checkpoint directory (the same as giving it as MODEL)")
    add_export_arguments(parser)
    args = parser.parse_args(argv)
    if (args.model is None) == (args.checkpoint is None):
        parser.error("give a model name or checkpoint directory, or --checkpoint DIR (one of them)")
    args.model = args.model or args.checkpoint
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run_cli(lambda: export_from_args(args) and 0, "compression.bundle")


if __name__ == "__main__":
    sys.exit(main())

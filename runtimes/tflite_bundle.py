"""A TFLite file as a bundle in the cache, so `runtimes.open_session` runs it on every backend.

The bundle holds the .tflite itself as the OpenVINO artifact (OpenVINO reads TFLite directly; fp32 and
fp16, as the lifters' bundles) and its ONNX conversion (`runtimes.tflite_onnx`, fp32) for ONNX Runtime.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

from edgetokens.atomic import atomic_directory
from edgetokens.versions import package_versions

from .cache import cache_root
from .manifest import (
    MANIFEST,
    BundleError,
    Manifest,
    TensorSpec,
    read_manifest,
    sha256_file,
)

log = logging.getLogger(__name__)

# Bump when runtimes.tflite_onnx converts the same .tflite to a different graph: cache keys include it.
CONVERTER_REVISION = 1


def tflite_bundle(tflite_path: str | Path, cache_dir: str | Path | None = None, task: str = "") -> Path:
    """A TFLite file as a bundle in the cache, `bundles/tflite-<name>-<hash>`, built on first use and
    hashed in its manifest. Keyed by the file's sha256 and `CONVERTER_REVISION`; a damaged entry is
    built again. Two processes building one entry both end with the first one finished."""
    path = Path(tflite_path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a .tflite file")
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    key = hashlib.sha256(f"{sha256_file(path)}-tflite_onnx{CONVERTER_REVISION}".encode()).hexdigest()
    bundle = cache_root(cache_dir) / "bundles" / f"tflite-{path.stem}-{key[:16]}"
    if os.path.lexists(bundle):
        try:
            read_manifest(bundle)  # checks every file's sha256
            return bundle
        except BundleError as err:
            log.warning("the cached bundle %s is damaged (%s); building it again", bundle, err)
    # deferred: ONNX and the TFLite schema load only on a cache miss
    from .tflite_onnx import convert_tflite

    model = convert_tflite(path)
    with atomic_directory(bundle, exist="replace" if os.path.lexists(bundle) else "keep") as tmp:
        shutil.copyfile(path, tmp / path.name)
        (tmp / "model.onnx").write_bytes(model.SerializeToString())
        specs = [[TensorSpec(v.name, [d.dim_value for d in v.type.tensor_type.shape.dim], "float32")
                  for v in values] for values in (model.graph.input, model.graph.output)]
        files = {name: sha256_file(tmp / name) for name in (path.name, "model.onnx")}
        manifest = Manifest(task=task, arch=path.stem, config={}, inputs=specs[0], outputs=specs[1],
                            artifacts={"fp32": {"onnx": "model.onnx", "openvino": path.name},
                                       "fp16": {"openvino": path.name}},
                            files=files, tools=package_versions(("tflite", "onnx")),
                            source={"tflite": str(path.resolve()), "tflite_sha256": files[path.name],
                                    "converter": f"runtimes.tflite_onnx revision {CONVERTER_REVISION}"})
        (tmp / MANIFEST).write_text(manifest.to_json())
    log.info("converted %s to ONNX in %s (once)", path, bundle)
    return bundle

"""The bundle manifest: what a runtime needs to know about an exported model, and its integrity.

A bundle is a directory: `manifest.json` beside the artifacts it lists, e.g.

    manifest.json
    model.onnx              fp32, ONNX Runtime
    model.int8.onnx         int8 (QuantizeLinear/DequantizeLinear), ONNX Runtime
    openvino/model.xml|bin  fp32 IR;  openvino/model.fp16.xml|bin;  openvino/model.int8.xml|bin

`compression.bundle` writes bundles; runtimes read them. Every listed file carries a sha256 that is
checked on load, so a tampered or truncated file is an error, not a wrong answer.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgetokens.models.signature import TensorSpec

FORMAT_VERSION = 1
# Bump when exporting the same weights gives different artifacts or manifest contents (graph, recorded
# accuracy settings). Bundles exported on first use are cached under a key that includes it, so an
# upgrade re-exports them instead of reusing a stale one.
EXPORT_REVISION = 4
MANIFEST = "manifest.json"
EXAMPLES = "examples.npz"  # the model's example inputs (`Signature.examples`), for warm-up and probes
PRECISIONS = ("fp32", "fp16", "int8")
FORMATS = ("onnx", "openvino")


class BundleError(ValueError):
    """A bundle that cannot be used as it is (missing, tampered, newer format, wrong contents)."""


@dataclass
class Manifest:
    """Contents of manifest.json (format version 1)."""

    task: str  # "pose3d" (HoT) or "depth" (AiT)
    arch: str
    config: dict
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    # precision -> format -> relative path of the artifact (the .xml for OpenVINO)
    artifacts: dict[str, dict[str, str]]
    # relative path -> sha256 of every file of the bundle except manifest.json
    files: dict[str, str]
    preprocessing: dict[str, Any] = field(default_factory=dict)
    accuracy: dict[str, Any] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    examples: str = ""  # relative path of the example inputs (EXAMPLES); "" in bundles made before it
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def artifact(self, precision: str, fmt: str) -> str:
        """Relative path of an artifact; the error lists what the bundle has."""
        if precision not in PRECISIONS:
            raise BundleError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
        if fmt not in self.artifacts.get(precision, {}):
            have = [f"{p}/{f}" for p, fs in self.artifacts.items() for f in fs]
            raise BundleError(f"this {self.arch} bundle has no {precision} {fmt} artifact; it has: {', '.join(have)}")
        return self.artifacts[precision][fmt]

    def precisions(self) -> list[str]:
        return [p for p in PRECISIONS if self.artifacts.get(p)]


def read_examples(bundle: Path, manifest: Manifest) -> dict[str, np.ndarray]:
    """The bundle's example inputs by name ({} when it has none); plain arrays only, never pickles."""
    if not manifest.examples:
        return {}
    with np.load(bundle / manifest.examples, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(bundle: str | Path, verify: bool = True) -> Manifest:
    """Parse and (by default) verify a bundle directory's manifest against its files."""
    path = Path(bundle) / MANIFEST
    if not path.is_file():
        raise BundleError(f"{path} not found: a bundle is a directory with {MANIFEST} beside its model files")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise BundleError(f"{path} is not valid JSON: {err}") from err
    version = raw.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BundleError(f"{path} has format version {version!r}; this edgetokens reads up to version "
                          f"{FORMAT_VERSION}: upgrade edgetokens or re-export the bundle")
    try:
        raw["inputs"] = [TensorSpec(**t) for t in raw["inputs"]]
        raw["outputs"] = [TensorSpec(**t) for t in raw["outputs"]]
        manifest = Manifest(**raw)
    except (KeyError, TypeError) as err:
        raise BundleError(f"{path} is missing or has unexpected fields: {err}") from err
    if verify:
        verify_files(Path(bundle), manifest)
    return manifest


def verify_files(bundle: Path, manifest: Manifest) -> None:
    for rel, expected in manifest.files.items():
        file = bundle / rel
        if not file.is_file():
            raise BundleError(f"{file} is listed in {bundle / MANIFEST} but missing")
        actual = sha256_file(file)
        if actual != expected:
            raise BundleError(f"{file} does not match its sha256 in {bundle / MANIFEST} "
                              f"(expected {expected[:12]}..., got {actual[:12]}...): the file was changed "
                              "or truncated; re-export the bundle")

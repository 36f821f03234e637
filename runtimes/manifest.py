"""The bundle manifest: what a runtime needs to know about an exported model, and its integrity.

A bundle is a directory: `manifest.json` beside the artifacts it lists, e.g.

    manifest.json
    model.onnx              fp32, ONNX Runtime
    model.int8.onnx         int8 (QuantizeLinear/DequantizeLinear), ONNX Runtime
    openvino/model.xml|bin  fp32 IR;  openvino/model.fp16.xml|bin;  openvino/model.int8.xml|bin

`compression.bundle` writes bundles; runtimes read them. Every listed file carries a sha256 that is
checked on load, so a tampered or truncated file is an error, not a wrong answer.

A bundle may come from a stranger, so it never reaches outside itself: every path in a manifest
(`files`, `artifacts`, `examples`) is relative, stays inside the bundle after resolving, and names a
file listed (and so hashed) in `files`, with an OpenVINO .xml's .bin beside it; a bundle holds no
symbolic links. Anything else is a `BundleError` naming the entry.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from edgetokens.models.signature import TensorSpec

FORMAT_VERSION = 1
# Bump when exporting the same weights gives different artifacts or manifest contents (graph, recorded
# accuracy settings). Bundles exported on first use are cached under a key that includes it, so an
# upgrade re-exports them instead of reusing a stale one.
EXPORT_REVISION = 5
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


def is_bundle_directory(path: Path) -> bool:
    """Whether `path` looks like one of our bundles: a manifest.json (not a link) holding a JSON object
    with a format version, a file list and artifacts. Says nothing about the files' integrity."""
    manifest = path / MANIFEST
    if manifest.is_symlink() or not manifest.is_file():
        return False
    try:
        raw = json.loads(manifest.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(raw, dict) and {"format_version", "files", "artifacts"} <= set(raw)


def read_manifest(bundle: str | Path, verify: bool = True) -> Manifest:
    """Parse and (by default) verify a bundle directory's manifest against its files.

    Paths are always checked (relative, inside the bundle, listed in `files`, no links);
    `verify` adds the sha256 of every listed file."""
    path = Path(bundle) / MANIFEST
    if path.is_symlink():
        raise BundleError(f"{path} is a symbolic link; a bundle holds plain files only")
    if not path.is_file():
        raise BundleError(f"{path} not found: a bundle is a directory with {MANIFEST} beside its model files")
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(raw, dict):
        raise BundleError(f"{path} is not a manifest: it holds a JSON {type(raw).__name__}, not an object")
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
    check_paths(Path(bundle), manifest)
    if verify:
        verify_files(Path(bundle), manifest)
    return manifest


def bundle_file(bundle: Path, rel: object, entry: str) -> Path:
    """`bundle / rel` for a manifest entry, or a BundleError naming the entry when `rel` is not a
    relative path to a plain file that stays inside the bundle (no '..', no absolute path, no link)."""
    where = f"{bundle / MANIFEST}: {entry}"
    if not isinstance(rel, str) or not rel or "\0" in rel:
        raise BundleError(f"{where} is {rel!r}, not a relative path inside the bundle")
    posix, windows = PurePosixPath(rel), PureWindowsPath(rel)
    if posix.is_absolute() or windows.drive or windows.root:
        raise BundleError(f"{where} is the absolute path {rel!r}; a bundle lists only paths inside itself")
    if ".." in windows.parts:  # PureWindowsPath splits on both / and \
        raise BundleError(f"{where} is {rel!r}, which leaves the bundle ('..'); a bundle lists only paths "
                          "inside itself")
    root = Path(os.path.realpath(bundle))
    current = root
    for part in posix.parts:
        current = current / part
        if current.is_symlink():
            raise BundleError(f"{where} ({rel!r}) goes through the symbolic link {current}; a bundle holds "
                              "plain files only")
    if not Path(os.path.realpath(root / rel)).is_relative_to(root):
        raise BundleError(f"{where} ({rel!r}) resolves outside the bundle")
    return bundle / rel


def check_paths(bundle: Path, manifest: Manifest) -> None:
    """Every path of the manifest stays inside the bundle and is hashed in `files`; no links inside."""
    if not isinstance(manifest.files, dict) or not all(isinstance(v, str) for v in manifest.files.values()):
        raise BundleError(f"{bundle / MANIFEST}: 'files' must map relative paths to sha256 strings")
    if not isinstance(manifest.artifacts, dict) or not all(isinstance(f, dict) for f in manifest.artifacts.values()):
        raise BundleError(f"{bundle / MANIFEST}: 'artifacts' must map precision -> format -> relative path")
    for rel in manifest.files:
        bundle_file(bundle, rel, f"files entry {rel!r}")
    listed = {PurePosixPath(rel) for rel in manifest.files}

    def hashed(rel: object, entry: str) -> None:
        bundle_file(bundle, rel, entry)
        if PurePosixPath(rel) not in listed:
            raise BundleError(f"{bundle / MANIFEST}: {entry} ({rel!r}) is not listed in 'files', so it "
                              "could not be checked against a sha256; re-export the bundle")

    for precision, formats in manifest.artifacts.items():
        for fmt, rel in formats.items():
            entry = f"artifact {precision}/{fmt}"
            hashed(rel, entry)
            if fmt == "openvino" and rel.endswith(".xml"):
                hashed(str(PurePosixPath(rel).with_suffix(".bin")), f"the weights (.bin) of {entry}")
    if manifest.examples:
        hashed(manifest.examples, "examples")
    for directory, dirs, names in os.walk(bundle):
        for name in dirs + names:
            if os.path.islink(os.path.join(directory, name)):
                raise BundleError(f"{Path(directory) / name} is a symbolic link; a bundle holds plain files "
                                  "only (copy the file in instead)")


def verify_files(bundle: Path, manifest: Manifest) -> None:
    """The sha256 of every file listed in the manifest (whose paths `check_paths` has checked)."""
    for rel, expected in manifest.files.items():
        file = bundle_file(bundle, rel, f"files entry {rel!r}")
        if not file.is_file():
            raise BundleError(f"{file} is listed in {bundle / MANIFEST} but missing")
        actual = sha256_file(file)
        if actual != expected:
            raise BundleError(f"{file} does not match its sha256 in {bundle / MANIFEST} "
                              f"(expected {expected[:12]}..., got {actual[:12]}...): the file was changed "
                              "or truncated; re-export the bundle")

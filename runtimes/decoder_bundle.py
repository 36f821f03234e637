"""A decoder bundle: the prefill and step graphs of an autoregressive decoder, which only work as a pair.

    decoder.json          format_version, task, arch, config, max_length, pair, graphs: {name: {path, manifest}}
    prefill/              an ordinary bundle (manifest.json, model.onnx, openvino/model.xml ...)
    step/                 an ordinary bundle

`compression.export_decoder` writes it. Each graph is a plain bundle, so sessions, devices, the NPU's
static shapes and the compile cache are the ones every model uses. `read_decoder` refuses a pair that
does not belong together: a graph manifest whose sha256 is not the recorded one, graphs of another
config or model (`pair`, the weights' hash, recorded in both manifests' source), or step inputs that do
not take the prefill's outputs (cache and memory shapes).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .cache import bundle_hash
from .manifest import MANIFEST, BundleError, Manifest, bundle_file, read_manifest

DECODER_MANIFEST = "decoder.json"
DECODER_FORMAT = 2  # 2: the step graph returns the new keys/values row (new_k, new_v), not whole caches
GRAPHS = ("prefill", "step")
# step input <- prefill output of the same shape (the caches and memory the loop carries over)
CARRIED = {"memory_k": "memory_k", "memory_v": "memory_v", "past_k": "present_k", "past_v": "present_v",
           "prev_logits": "logits"}


@dataclass
class DecoderBundle:
    path: Path
    info: dict  # decoder.json
    prefill: Manifest
    step: Manifest

    def graph_dir(self, graph: str) -> Path:
        return self.path / self.info["graphs"][graph]["path"]

    @property
    def max_length(self) -> int:
        return int(self.info["max_length"])


def is_decoder_bundle(path: str | Path) -> bool:
    return (Path(path) / DECODER_MANIFEST).is_file()


def read_decoder(path: str | Path, verify: bool = True) -> DecoderBundle:
    """Parse and check a decoder bundle (see the module docstring); BundleError saying what is wrong."""
    path = Path(path)
    where = path / DECODER_MANIFEST
    if not where.is_file() or where.is_symlink():
        raise BundleError(f"{where} not found: a decoder bundle holds {DECODER_MANIFEST} beside its prefill/ and "
                          "step/ bundles (compression.export_decoder writes one)")
    try:
        info = json.loads(where.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"{where} is not valid JSON: {err}") from err
    if not isinstance(info, dict) or not isinstance(info.get("graphs"), dict) or set(info["graphs"]) != set(GRAPHS):
        raise BundleError(f"{where} must list the graphs {', '.join(GRAPHS)}; re-export the decoder bundle")
    if info.get("format_version") != DECODER_FORMAT:
        raise BundleError(f"{where} has format version {info.get('format_version')!r}; this edgetokens reads "
                          f"version {DECODER_FORMAT}: re-export the decoder bundle")
    manifests = {}
    for graph in GRAPHS:
        entry = info["graphs"][graph]
        directory = bundle_file(path, entry.get("path") if isinstance(entry, dict) else None, f"graph {graph}")
        manifests[graph] = read_manifest(directory, verify)
        if verify and bundle_hash(directory) != entry.get("manifest"):
            raise BundleError(f"{directory / MANIFEST} is not the {graph} graph this decoder bundle was exported "
                              f"with (its sha256 differs from {where}'s): the prefill and step graphs must come "
                              "from one export; re-export the decoder bundle")
        source = manifests[graph].source
        if manifests[graph].config != info.get("config") or source.get("pair") != info.get("pair") \
                or source.get("graph") != graph:
            raise BundleError(f"{directory} is a {source.get('graph', '?')!r} graph of another model or config than "
                              f"{where} records (pair {str(source.get('pair'))[:12]} vs {str(info.get('pair'))[:12]}); "
                              "the prefill and step graphs must come from one export")
    prefill, step = manifests["prefill"], manifests["step"]
    outputs = {s.name: s.shape for s in prefill.outputs}
    for spec in step.inputs:
        carried = CARRIED.get(spec.name)
        if carried is not None and outputs.get(carried) != spec.shape:
            raise BundleError(f"{path}: the step graph's {spec.name} {spec.shape} does not take the prefill's "
                              f"{carried} {outputs.get(carried)}; the graphs do not belong together")
    return DecoderBundle(path, info, prefill, step)


__all__ = ["CARRIED", "DECODER_MANIFEST", "DecoderBundle", "GRAPHS", "is_decoder_bundle", "read_decoder"]

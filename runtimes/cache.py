"""Where edgetokens keeps what it can rebuild: exported bundles, compiled models, backend probes.

The root is `$EDGETOKENS_CACHE`, else `~/.cache/edgetokens`. Everything under it is keyed by what
makes it valid (bundle hash, device, runtime version), so a stale entry is never reused: a new
OpenVINO or a re-exported bundle simply gets a new key. Deleting the directory is always safe.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from edgetokens.clitools import UserError
from edgetokens.versions import package_version

from .manifest import MANIFEST, sha256_file


class CacheError(UserError, OSError):
    """The cache location cannot be used (not a directory, or not writable). The message names it."""


def cache_root(override: str | Path | None = None) -> Path:
    """The cache directory (created on demand); a CacheError when it is not a writable directory."""
    root = Path(override or os.environ.get("EDGETOKENS_CACHE") or Path.home() / ".cache" / "edgetokens")
    where = "the edgetokens cache" + (" ($EDGETOKENS_CACHE)" if not override and os.environ.get("EDGETOKENS_CACHE")
                                      else "")
    if root.exists() and not root.is_dir():
        raise CacheError(f"{where} {root} is not a directory; the cache must be a writable directory: point "
                         "EDGETOKENS_CACHE (or cache_dir=) at one, or remove that file")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CacheError(f"{where} {root} cannot be created ({err.strerror or err}); the cache must be a "
                         "writable directory: point EDGETOKENS_CACHE (or cache_dir=) at one") from err
    if not os.access(root, os.W_OK | os.X_OK):
        raise CacheError(f"{where} {root} is not writable; the cache must be a writable directory: point "
                         "EDGETOKENS_CACHE (or cache_dir=) at one")
    return root


def runtime_version(package: str) -> str:
    """The backend's version, part of every cache key (a new runtime never reuses an old entry)."""
    return package_version(package)


def bundle_hash(bundle: str | Path) -> str:
    """Identity of a bundle or a bare artifact: the manifest lists every file's sha256, so hashing it
    covers the whole bundle; a bare .onnx/.xml is hashed itself (with its .bin)."""
    path = Path(bundle)
    if path.is_dir():
        return sha256_file(path / MANIFEST)
    digest = hashlib.sha256(sha256_file(path).encode())
    if path.suffix == ".xml" and path.with_suffix(".bin").is_file():
        digest.update(sha256_file(path.with_suffix(".bin")).encode())
    return digest.hexdigest()


def safe_key(*parts: str) -> str:
    """A directory name made of the parts (e.g. 'ab12cd34-openvino_NPU-2026.4.1')."""
    return "-".join(re.sub(r"[^A-Za-z0-9_.]+", "_", p) for p in parts)


def compiled_model_dir(kind: str, bundle_sha: str, device: str, version: str,
                       root: str | Path | None = None) -> Path:
    """Compile cache for one (bundle, device, runtime version), e.g. OpenVINO's CACHE_DIR."""
    path = cache_root(root) / kind / safe_key(bundle_sha[:16], device, version)
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic write, so concurrent processes never read half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)

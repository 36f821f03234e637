"""The one lookup of installed package versions (bundle manifests, cache keys, `edgetokens devices`)."""
from __future__ import annotations

import importlib.metadata

NOT_INSTALLED = "not installed"


def package_version(name: str) -> str:
    """The installed version of distribution `name`, or "not installed"."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return NOT_INSTALLED


def package_versions(names: tuple[str, ...]) -> dict[str, str]:
    return {name: package_version(name) for name in names}

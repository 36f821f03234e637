"""edgetokens: token-pruned pose, depth and instance transformers, from the paper to the edge device.

The public names load on first use (PEP 562), so importing a core module such as
`edgetokens.models` does not import the Predictor layer above it (docs/architecture.md).
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "Predictor": "edgetokens.predictor",
    "PosePredictor": "edgetokens.pose_predictor",
    "PoseResult": "edgetokens.pose_predictor",
    "PoseStream": "edgetokens.stream",
    "DepthPredictor": "edgetokens.depth",
    "DepthResult": "edgetokens.depth",
    "InstancePredictor": "edgetokens.instances_predictor",
    "InstancesResult": "edgetokens.vision.instances",
    "VideoPose": "edgetokens.video_pose",
    "VideoPoseResult": "edgetokens.video_pose",
    "VideoPoseStream": "edgetokens.video_pose",
    "VideoFrame": "edgetokens.video_pose",
    "create_model": "edgetokens.models",
    "list_models": "edgetokens.models",
    "load_official_weights": "edgetokens.models",
}
__all__ = [*sorted(_PUBLIC), "__version__"]


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'edgetokens' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))

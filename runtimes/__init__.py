"""Inference sessions (torch, ONNX Runtime, OpenVINO) behind one interface.

    from runtimes import open_session
    session = open_session("bundles/hot-mixste", device="npu")   # or cpu, gpu, auto, openvino:GPU.0 ...
    out = session.run(clips)                                       # {"poses_3d": ..., "keep_index": ...}
"""
from .base import DeviceUnavailableError, Session
from .devices import Target, available_targets, parse_device, resolve
from .load import ModelSource, open_session
from .manifest import BundleError, Manifest, TensorSpec, read_manifest

__all__ = ["BundleError", "DeviceUnavailableError", "Manifest", "ModelSource", "Session", "Target", "TensorSpec",
           "available_targets", "open_session", "parse_device", "read_manifest", "resolve"]

"""Quantization (NNCF PTQ/QAT) and export to ONNX / OpenVINO bundles.

The one place that sets up NNCF's environment: this package's `__init__` runs before any of its
modules imports NNCF.
"""
import os

# NNCF compiles a small C++ extension on first use; on 2 busy cores that exceeds its 60 s default.
os.environ.setdefault("NNCF_EXTENSION_LOAD_TIMEOUT", "0")

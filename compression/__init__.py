"""Quantization (NNCF PTQ/QAT) and export to ONNX / OpenVINO bundles."""

"""Inference sessions (torch, ONNX Runtime, OpenVINO) behind one interface."""

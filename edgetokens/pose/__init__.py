"""Pose conventions shared by training, export and runtime: skeleton, normalisation, windows, metrics."""

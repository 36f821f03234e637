"""Data sources and loaders for training (pose and depth)."""

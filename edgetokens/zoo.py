"""Model cards of the shipped defaults: trained checkpoints inside the package (`edgetokens/weights`).

Each shipped default is a checkpoint directory `weights/<name>/` (model.safetensors + config.json
with the training command, data and measured metrics), produced by the commands in the README.
"""
from __future__ import annotations

from pathlib import Path

from torch import nn

from .checkpoint import CONFIG, load_checkpoint, read_checkpoint_info

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def list_pretrained() -> list[str]:
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(p.name for p in WEIGHTS_DIR.iterdir() if (p / CONFIG).is_file())


def pretrained_dir(name: str) -> Path:
    path = WEIGHTS_DIR / name
    if not (path / CONFIG).is_file():
        shipped = ", ".join(list_pretrained()) or "none"
        raise ValueError(f"no shipped weights for {name!r}; shipped defaults: {shipped}. "
                         "Pass weights=<checkpoint dir> for your own.")
    return path


def pretrained_info(name: str) -> dict:
    return read_checkpoint_info(pretrained_dir(name))


def load_pretrained(name: str) -> nn.Module:
    """The shipped trained model `name` (eval mode, CPU)."""
    model, _ = load_checkpoint(pretrained_dir(name))
    return model.eval()

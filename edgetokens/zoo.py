"""Model cards of the shipped defaults: trained checkpoints inside the package (`edgetokens/weights`).

Each shipped default is a checkpoint directory `weights/<name>/` (model.safetensors + config.json
with the training command, data and measured metrics), produced by the Makefile's `make weights` commands.
"""
from __future__ import annotations

from pathlib import Path

from .checkpoint import CONFIG, read_checkpoint_info

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

"""Our checkpoint format: a directory with `model.safetensors` and `config.json` (never pickles).

`config.json` holds {"arch", "config" (architecture fields), "data", "metrics", "revision", ...};
training writes it, the Predictor, compression and evaluation read it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .models import create_model

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
NNCF_CONFIG = "nncf_config.json"  # beside WEIGHTS in a QAT checkpoint (compression.qat)


def git_revision(cwd: str | Path | None = None) -> str:
    """The source revision (with '+dirty' when there are uncommitted changes), or 'unknown'."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def save_checkpoint(model: nn.Module, directory: str | Path, parameter_dtype: torch.dtype | None = None,
                    **metadata: Any) -> Path:
    """Write weights and config atomically (a temporary directory renamed into place).

    `parameter_dtype=torch.float16` stores the learned parameters at half size (buffers such as
    codebook statistics stay as they are); loading casts them back to the model's float32.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    # clone: modules shared under two names (e.g. one NNCF quantizer for k and v) must not alias
    state = {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}
    if parameter_dtype is not None:
        for name, _ in model.named_parameters(remove_duplicate=False):
            state[name] = state[name].to(parameter_dtype)
        metadata["parameter_dtype"] = str(parameter_dtype).removeprefix("torch.")
    save_file(state, str(tmp / WEIGHTS))
    info = {"arch": model.arch, "config": asdict(model.config), "revision": git_revision(), **metadata}
    (tmp / CONFIG).write_text(json.dumps(info, indent=2, default=str))
    if directory.exists():
        old = directory.with_name(f".{directory.name}.old")
        os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old)  # with anything derived from the old weights (e.g. its int8/ QAT state)
    else:
        os.replace(tmp, directory)
    return directory


def read_checkpoint_info(directory: str | Path) -> dict:
    path = Path(directory) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: a checkpoint directory holds {WEIGHTS} and {CONFIG}")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    for key in ("arch", "config"):
        if key not in info:
            raise ValueError(f"{path} lacks the key {key!r}")
    return info


def load_checkpoint(directory: str | Path, **overrides: Any) -> tuple[nn.Module, dict]:
    """Rebuild the model a checkpoint was trained as and load its weights; returns (model, info)."""
    from .models.hot.official import load_official_weights

    info = read_checkpoint_info(directory)
    config = dict(info["config"])
    if "token_num" in config:  # HoT-family checkpoints written before `recovery` existed use the official TRA
        config.setdefault("recovery", "attention")
    model = create_model(info["arch"], **{**config, **overrides})
    weights = Path(directory) / WEIGHTS
    try:
        load_official_weights(model, weights)
    except ValueError as err:
        raise ValueError(f"{weights} does not fit the architecture in {Path(directory) / CONFIG}: {err}") from err
    return model, info

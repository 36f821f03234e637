"""Our checkpoint format: a directory with `model.safetensors` and `config.json` (never pickles).

`config.json` holds {"arch", "config" (architecture fields), "data", "metrics", "revision", ...};
training writes it; `edgetokens.create_model(checkpoint=DIR)` loads it.
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from .atomic import atomic_directory

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
NNCF_CONFIG = "nncf_config.json"  # beside WEIGHTS in a QAT checkpoint (compression.qat)
INT8_STATE = "int8"  # subdirectory of a checkpoint holding its QAT state (compression.qat --publish)


class DamagedCheckpointError(ValueError):
    """A weights file that cannot be read as what it claims to be (truncated, corrupt, not a checkpoint).
    Said as such, never as "does not fit the architecture"."""


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
    """Write weights and config atomically (`edgetokens.atomic`), replacing an existing checkpoint with
    anything derived from its old weights (e.g. its int8/ QAT state).

    `parameter_dtype=torch.float16` stores the learned parameters at half size (buffers such as
    codebook statistics stay as they are); loading casts them back to the model's float32.
    """

    # clone: modules shared under two names (e.g. one NNCF quantizer for k and v) must not alias
    state = {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}
    if parameter_dtype is not None:
        for name, _ in model.named_parameters(remove_duplicate=False):
            state[name] = state[name].to(parameter_dtype)
        metadata["parameter_dtype"] = str(parameter_dtype).removeprefix("torch.")
    info = {"arch": model.arch, "config": asdict(model.config), "revision": git_revision(), **metadata}
    with atomic_directory(directory, exist="replace") as tmp:
        save_file(state, str(tmp / WEIGHTS))
        (tmp / CONFIG).write_text(json.dumps(info, indent=2, default=str))
    return Path(directory)


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

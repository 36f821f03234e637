"""Loading checkpoints of the official HoT, MixSTE and MotionBERT code into our modules.

The only place that knows the official parameter names. Accepts plain state_dicts, DataParallel
`module.` prefixes and `{'model_pos': ...}` style wrappers; files are read without unpickling code.
"""
from __future__ import annotations

import logging
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from ...checkpoint import DamagedCheckpointError
from .mixste import MixSTE
from .motionbert import MotionBERT

log = logging.getLogger(__name__)

_SHARED_HOT_RENAMES = [
    (r"^pos_embed_token$", "pruner.pos_embed"),
    (r"^x_token$", "recovery.queries"),
    (r"^cross_attention\.linear_([qkv])\.", r"recovery.attn.\1."),
    (r"^cross_attention\.proj\.", "recovery.attn.proj."),
]

OFFICIAL_RENAMES: dict[type, list[tuple[str, str]]] = {
    MixSTE: [
        (r"^Spatial_patch_to_embedding\.", "joint_embed."),
        (r"^Spatial_pos_embed$", "spatial_pos_embed"),
        (r"^Temporal_pos_embed$", "temporal_pos_embed"),
        (r"^STEblocks\.", "spatial_blocks."),
        (r"^TTEblocks\.", "temporal_blocks."),
        (r"^Spatial_norm\.", "spatial_norm."),
        (r"^Temporal_norm\.", "temporal_norm."),
        (r"^head\.0\.", "head_norm."),
        (r"^head\.1\.", "head."),
        *_SHARED_HOT_RENAMES,
    ],
    MotionBERT: [
        (r"^joints_embed\.", "joint_embed."),
        (r"^pos_embed$", "spatial_pos_embed"),
        (r"^temp_embed$", "temporal_pos_embed"),
        (r"^blocks_st\.", "st_blocks."),
        (r"^blocks_ts\.", "ts_blocks."),
        (r"\.(norm1|norm2|attn|mlp)_s\.", r".spatial.\1."),
        (r"\.(norm1|norm2|attn|mlp)_t\.", r".temporal.\1."),
        (r"^ts_attn\.", "fusion."),
        (r"^pre_logits\.fc\.", "pre_logits."),
        *_SHARED_HOT_RENAMES,
    ],
}

_WRAPPER_KEYS = ("model_pos", "state_dict", "model", "model_state_dict")


@dataclass
class LoadReport:
    """What a non-strict load left out."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def read_state_dict(source: str | Path | Mapping) -> dict[str, torch.Tensor]:
    """A flat name -> tensor dict from a mapping or a .pth/.pt/.bin/.safetensors/.npz file."""
    if isinstance(source, Mapping):
        state = dict(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        try:
            if path.suffix == ".safetensors":
                state = load_file(str(path))
            elif path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as data:
                    state = {k.removeprefix("param/"): torch.from_numpy(data[k]) for k in data.files
                             if k.startswith("param/")} or {k: torch.from_numpy(data[k]) for k in data.files}
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:  # torch's weights_only refusal: pickled code, not tensors
            raise ValueError(f"could not read checkpoint {path}: it holds pickled objects besides tensors, which "
                             f"are refused (they could run code): {err}") from err
        except ValueError as err:
            if "allow_pickle" in str(err):
                raise ValueError(f"could not read checkpoint {path}: it holds pickled objects, which are "
                                 "refused (they could run code)") from err
            raise damaged(path, err) from err
        except Exception as err:  # a truncated, corrupt or foreign file
            raise damaged(path, err) from err
    for key in _WRAPPER_KEYS:
        if key in state and isinstance(state[key], Mapping):
            state = dict(state[key])
            break
    tensors = {k: v for k, v in state.items() if isinstance(v, (torch.Tensor, np.ndarray))}
    if not tensors:
        raise ValueError(f"no tensors found in checkpoint (top-level keys: {sorted(state)[:10]})")
    return {k: torch.as_tensor(v) for k, v in tensors.items()}


def damaged(path: Path, err: BaseException) -> DamagedCheckpointError:
    detail = " ".join(str(err).split()) or type(err).__name__
    return DamagedCheckpointError(f"checkpoint file {path} is damaged or not a {path.suffix or 'checkpoint'} file "
                                  f"(truncated download or copy?): {detail}. Download or save it again")


def to_our_names(model: nn.Module, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename official keys to this model's names; keys already in our names pass through, and so do
    all keys of models without an official counterpart (e.g. our AiT networks)."""
    family = next((cls for cls in OFFICIAL_RENAMES if isinstance(model, cls)), None)
    renamed = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        for pattern, replacement in OFFICIAL_RENAMES.get(family, ()):
            key = re.sub(pattern, replacement, key)
        renamed[key] = value
    return renamed


def _listing(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def load_official_weights(
    model: nn.Module, source: str | Path | Mapping, strict: bool = True
) -> LoadReport:
    """Load an official (or our own) checkpoint into `model`.

    strict=True: any missing or unexpected key or shape mismatch raises ValueError naming them.
    strict=False: loads the overlap (e.g. an upstream MixSTE checkpoint into HoT-MixSTE, leaving the
    HoT tensors at their initial values); shape mismatches still raise.
    """
    state = to_our_names(model, read_state_dict(source))
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    problems = []
    if mismatched:
        problems.append(f"shape mismatches: {_listing(mismatched)}")
    if strict and missing:
        problems.append(f"missing keys: {_listing(missing)}")
    if strict and unexpected:
        problems.append(f"unexpected keys: {_listing(unexpected)}")
    if problems:
        raise ValueError(
            f"checkpoint does not match {getattr(model, 'arch', type(model).__name__)} "
            f"(config {getattr(model, 'config', '?')}): " + "; ".join(problems)
        )
    model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
    if missing or unexpected:
        log.warning("non-strict load: %d missing, %d unexpected keys", len(missing), len(unexpected))
    return LoadReport(missing, unexpected)

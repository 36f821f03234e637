"""Which parts of a pose lifter stay in float when quantizing, for torch models and exported graphs.

`selection`: TPC's distances, densities and TopK decide which frames survive; 8-bit distances can
flip those decisions. `embedding`: 8 bits over the normalised 2D coordinates are ~4 px steps at
1000 px. `head`: the regression head writes metres directly.

Default (`selection`, `embedding`, `attention`): the input embedding matters most, the selection a
little once it is float, the head nothing measurable (so it is INT8); the attention maths stay
float for speed, not accuracy. Measured by `python -m compression.scope_study` in
docs/quantization.md.
"""
from __future__ import annotations

import nncf
from torch import nn

from edgetokens.models.hot.base import PoseLifter

# The pose lifters' parts (the CLIs' defaults); other families declare their own on the model class.
KEEP_FLOAT_MODULES = PoseLifter.float_parts
# The attention maths between activations (q k^T, softmax, @ v, and the interpolated recovery's
# weights @ kept tokens); the q/k/v and output Linears stay INT8. Torch graph names look like
# `attn/matmul/3` or `recovery/matmul/0`; exported ones `/model/spatial_blocks.0/attn/MatMul_1`
# (`.../attn/qkv/MatMul` is a Linear and does not match).
ATTENTION_PATTERNS = (r"(.*/)?({modules})/(matmul|softmax)/\d+", r".*/({modules})/(MatMul|Softmax)(_\d+)?")
KEEP_FLOAT_PARTS = (*KEEP_FLOAT_MODULES, "attention")
DEFAULT_KEEP_FLOAT = PoseLifter.default_keep_float


def float_parts_of(model: nn.Module | type = PoseLifter) -> tuple[str, ...]:
    """The part names a model family lets stay in float."""
    return (*model.float_parts, *(("attention",) if model.attention_modules else ()))


def parse_keep_float(text: str | None, model: nn.Module | type = PoseLifter) -> tuple[str, ...]:
    """`--keep-float` value ("selection,head", "none"; None: the family's default) -> validated part names."""
    if text is None:
        return tuple(model.default_keep_float)
    parts = tuple(k for k in text.split(",") if k and k != "none")
    allowed = float_parts_of(model)
    unknown = set(parts) - set(allowed)
    if unknown:
        raise ValueError(f"unknown --keep-float part(s) {sorted(unknown)}; choose from {sorted(allowed) or 'none'}")
    return parts


def ignored_scope(keep_float: tuple[str, ...], exported_graph: bool = False,
                  model: nn.Module | type = PoseLifter) -> nncf.IgnoredScope:
    """NNCF ignored scope by node-name patterns: `module/...` in NNCF torch graphs,
    `.../module/...` in ONNX and OpenVINO graphs exported from the same module tree."""
    prefix = ".*/" if exported_graph else ""
    parts = parse_keep_float(",".join(keep_float), model)
    patterns = [rf"{prefix}{module}/.*" for part in parts for module in model.float_parts.get(part, ())]
    if "attention" in parts:
        patterns.append(ATTENTION_PATTERNS[exported_graph].format(modules="|".join(model.attention_modules)))
    return nncf.IgnoredScope(patterns=patterns, validate=False)

"""Which parts of a pose lifter stay in float when quantizing, for torch models and exported graphs.

`selection`: TPC's distances, densities and TopK decide which frames survive; 8-bit distances can
flip those decisions. `embedding`: 8 bits over the normalised 2D coordinates are ~4 px steps at
1000 px. `head`: the regression head writes metres directly.

Measured on the shipped hot-mixste (`python -m compression.scope_study --model hot-mixste --variants
...`: NNCF 8-bit PTQ, 300 calibration clips, mix test split of 51,372 frames; MPJPE mm, FP32 79.73):
nothing kept 105.64; embedding only 82.02; selection + embedding 79.81; + head 79.89; + attention
79.82; all four 79.90. The input embedding is what matters (-23.6 mm); the selection adds -2.2 mm on
top of it. The head changes nothing measurable (+0.08 mm), so it is quantized by default. The
attention maths stay float for speed, not accuracy (README, "Latency on this CPU"): +0.01 mm.
The previous 64-dim model gave the same picture (README, "Quantization and bundles").
"""
from __future__ import annotations

import nncf

KEEP_FLOAT_MODULES = {
    "selection": ("pruner",),
    "embedding": ("joint_embed",),
    "head": ("head", "head_norm", "pre_logits"),
}
# The attention maths between activations (q k^T, softmax, @ v, and the interpolated recovery's
# weights @ kept tokens); the q/k/v and output Linears stay INT8. Torch graph names look like
# `attn/matmul/3` or `recovery/matmul/0`; exported ones `/model/spatial_blocks.0/attn/MatMul_1`
# (`.../attn/qkv/MatMul` is a Linear and does not match).
ATTENTION_PATTERNS = (r"(.*/)?(attn|recovery)/(matmul|softmax)/\d+", r".*/(attn|recovery)/(MatMul|Softmax)(_\d+)?")
KEEP_FLOAT_PARTS = (*KEEP_FLOAT_MODULES, "attention")
DEFAULT_KEEP_FLOAT = ("selection", "embedding", "attention")


def parse_keep_float(text: str) -> tuple[str, ...]:
    """`--keep-float` value ("selection,head", "none") -> validated part names."""
    parts = tuple(k for k in text.split(",") if k and k != "none")
    unknown = set(parts) - set(KEEP_FLOAT_PARTS)
    if unknown:
        raise ValueError(f"unknown --keep-float part(s) {sorted(unknown)}; choose from {sorted(KEEP_FLOAT_PARTS)}")
    return parts


def ignored_scope(keep_float: tuple[str, ...], exported_graph: bool = False) -> nncf.IgnoredScope:
    """NNCF ignored scope by node-name patterns: `module/...` in NNCF torch graphs,
    `.../module/...` in ONNX and OpenVINO graphs exported from the same module tree."""
    prefix = ".*/" if exported_graph else ""
    parts = parse_keep_float(",".join(keep_float))
    patterns = [rf"{prefix}{module}/.*" for part in parts for module in KEEP_FLOAT_MODULES.get(part, ())]
    if "attention" in parts:
        patterns.append(ATTENTION_PATTERNS[exported_graph])
    return nncf.IgnoredScope(patterns=patterns, validate=False)

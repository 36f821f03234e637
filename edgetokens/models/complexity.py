"""Parameter and FLOP counts, as the papers report them and as fvcore counts everything."""
from __future__ import annotations

import logging

import torch
from torch import nn


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, example: torch.Tensor) -> dict[str, float]:
    """GFLOPs of one forward pass on `example` (batch 1, one clip).

    `gflops`: the papers' rule (specs/HOT.md §4.2): multiply-adds of Linear layers x 2; attention
    matmuls and norms are not counted. Convolutions (AiT's backbone and VQ-VAE; the HoT models have
    none) count the same way. `gflops_fvcore`: fvcore's total, which counts one
    multiply-add as one flop and includes matmuls and layer norms.
    """
    from fvcore.nn import FlopCountAnalysis  # deferred: fvcore, only when FLOPs are counted

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        analysis = FlopCountAnalysis(model, (example,))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        by_operator = analysis.by_operator()
        total = analysis.total()
    model.train(was_training)
    weighted = by_operator.get("linear", 0) + by_operator.get("conv", 0)
    return {"gflops": 2 * weighted / 1e9, "gflops_fvcore": total / 1e9}

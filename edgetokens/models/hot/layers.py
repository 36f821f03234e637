"""Transformer pieces shared by MixSTE, MotionBERT (DSTformer) and HoT's recovery step.

Parameter names (`qkv`, `proj`, `fc1`, `fc2`, `norm1`, `norm2`) follow the official code so that the
mapping of official checkpoints stays short (see `official.py`).
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch per sample while training."""

    def __init__(self, rate: float = 0.0):
        super().__init__()
        self.rate = float(rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rate == 0.0 or not self.training:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact erf form, as the official code
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """softmax(q k^T * scale) v on (B, heads, N, head_dim) tensors.

    Written out (not `scaled_dot_product_attention`) so ONNX, OpenVINO and NNCF see plain
    MatMul/Softmax nodes and fvcore counts the matmuls.
    """
    weights = (q @ k.transpose(-2, -1)) * scale
    return weights.softmax(dim=-1) @ v


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, c = x.shape
    return x.reshape(b, n, heads, c // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


class SeparateQKV(nn.Module):
    """The q, k and v rows of a fused `qkv` Linear as three Linears: the same numbers, for export.

    One (N, 3C) projection needs a 5-D transpose and a split before attention; OpenVINO runs both
    with reference kernels, while three projections feed its fused attention directly (the measured
    gain: docs/experiments/edge-shape.md).
    """

    def __init__(self, fused: nn.Linear):
        super().__init__()
        dim = fused.out_features // 3
        bias = fused.bias is not None
        self.q, self.k, self.v = (nn.Linear(fused.in_features, dim, bias=bias) for _ in range(3))
        with torch.no_grad():
            for part, weight in zip((self.q, self.k, self.v), fused.weight.chunk(3)):
                part.weight.copy_(weight)
            if bias:
                for part, b in zip((self.q, self.k, self.v), fused.bias.chunk(3)):
                    part.bias.copy_(b)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.q(x), self.k(x), self.v(x)


class Attention(nn.Module):
    """Multi-head self-attention over the middle axis of (B, N, C)."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.qkv, SeparateQKV):
            q, k, v = (split_heads(t, self.heads) for t in self.qkv(x))
        else:
            b, n, c = x.shape
            qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
        return self.proj(merge_heads(attend(q, k, v, self.scale)))


def separate_qkv(model: nn.Module) -> nn.Module:
    """A copy of `model` whose self-attention projections are `SeparateQKV` (for export graphs).

    Not for NNCF models: their quantizers hook the fused `qkv` call, which the copy no longer makes.
    """
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, Attention) and isinstance(module.qkv, nn.Linear):
            module.qkv = SeparateQKV(module.qkv)
    return model


class CrossAttention(nn.Module):
    """Multi-head attention from `queries` (B, N, C) to `context` (B, M, C)."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.k = nn.Linear(dim, dim, bias=qkv_bias)
        self.v = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, queries: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        q = split_heads(self.q(queries), self.heads)
        k = split_heads(self.k(context), self.heads)
        v = split_heads(self.v(context), self.heads)
        return self.proj(merge_heads(attend(q, k, v, self.scale)))


class Block(nn.Module):
    """Pre-norm ViT block: x + DropPath(Attn(LN(x))), then x + DropPath(MLP(LN(x)))."""

    def __init__(self, dim: int, heads: int, mlp_hidden: int, drop_path: float = 0.0, eps: float = 1e-6):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, mlp_hidden)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def spatial_to_temporal(x: torch.Tensor, frames: int) -> torch.Tensor:
    """(B*F, J, C) -> (B*J, F, C): regroup per-frame joint tokens into per-joint sequences."""
    bf, j, c = x.shape
    return x.reshape(bf // frames, frames, j, c).transpose(1, 2).reshape(-1, frames, c)


def temporal_to_spatial(x: torch.Tensor, joints: int) -> torch.Tensor:
    """(B*J, F, C) -> (B*F, J, C), the inverse of `spatial_to_temporal`."""
    bj, f, c = x.shape
    return x.reshape(bj // joints, joints, f, c).transpose(1, 2).reshape(-1, joints, c)

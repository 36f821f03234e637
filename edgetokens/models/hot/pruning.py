"""TPC, HoT's token pruning cluster: keep `token_num` representative frames mid-network.

Each frame's tokens are averaged over the joints; a selection strategy picks `token_num` frames
from those per-frame vectors; the kept frames' tokens are gathered unchanged, in time order, and a
learnable `pos_embed` (zero-initialised) is added. Selection runs without gradients.

Strategies (`select_frames(features, keypoints, count)` -> (B, count) indices, any order):
- ``dpc-knn`` (default): density-peaks clustering with k nearest neighbours, as the official
  `cluster_dpc_knn`, but deterministic: density ties are broken by frame order instead of random
  noise, so exported graphs contain no RNG and repeated calls agree.
- ``uniform``: evenly spaced frames.
- ``motion``: the frames with the largest 2D pose change from the previous frame.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

SelectionFn = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


def pairwise_distance(z: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between the rows of z (B, N, C) -> (B, N, N).

    Expanded as |a|^2 + |b|^2 - 2ab (what `torch.cdist` does for N > 25), exported as MatMul.
    Symmetrised with an exact zero diagonal so mutual neighbours get bit-identical densities.
    """
    sq = (z * z).sum(-1)
    d2 = sq[:, :, None] + sq[:, None, :] - 2.0 * (z @ z.transpose(1, 2))
    dist = d2.clamp_min(0.0).sqrt()
    dist = 0.5 * (dist + dist.transpose(1, 2))
    n = z.shape[1]
    return dist * (1.0 - torch.eye(n, dtype=z.dtype, device=z.device))


def dpc_knn_scores(z: torch.Tensor, k: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Density-peaks scores of each frame vector: (score, density, delta), each (B, N).

    density_i = exp(-mean of the k smallest squared distances / C), the token itself included;
    delta_i = distance to the nearest frame of higher density (max distance if none);
    score = density * delta. A frame outranks another of equal density when it comes earlier.
    """
    n, c = z.shape[1], z.shape[2]
    dist = pairwise_distance(z) / (c ** 0.5)
    nearest = torch.topk(dist, k=k, dim=-1, largest=False).values
    density = torch.exp(-(nearest ** 2).mean(dim=-1))
    order = torch.arange(n, device=z.device)
    earlier = (order[None, :] < order[:, None])[None]  # [i, j]: j comes before i
    higher = (density[:, None, :] > density[:, :, None]) | (
        (density[:, None, :] == density[:, :, None]) & earlier
    )
    higher = higher.to(z.dtype)
    dist_max = dist.flatten(1).max(dim=-1).values[:, None, None]
    delta = (dist * higher + dist_max * (1.0 - higher)).min(dim=-1).values
    return delta * density, density, delta


def select_dpc_knn(features: torch.Tensor, keypoints: torch.Tensor, count: int) -> torch.Tensor:
    score, _, _ = dpc_knn_scores(features, k=2)
    return torch.topk(score, k=count, dim=-1).indices


def select_uniform(features: torch.Tensor, keypoints: torch.Tensor, count: int) -> torch.Tensor:
    b, n = features.shape[:2]
    index = torch.linspace(0, n - 1, count, device=features.device).round().long()
    return index[None].expand(b, count)


def select_motion(features: torch.Tensor, keypoints: torch.Tensor, count: int) -> torch.Tensor:
    """Frames whose 2D joints moved most since the previous frame (frame 0 reuses frame 1's)."""
    xy = keypoints[..., :2]
    speed = (xy[:, 1:] - xy[:, :-1]).norm(dim=-1).mean(dim=-1)  # (B, N-1)
    speed = torch.cat([speed[:, :1], speed], dim=1)
    return torch.topk(speed, k=count, dim=-1).indices


SELECTION_STRATEGIES: dict[str, SelectionFn] = {
    "dpc-knn": select_dpc_knn,
    "uniform": select_uniform,
    "motion": select_motion,
}


def gather_frames(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (B, F, J, C), index (B, T) -> (B, T, J, C)."""
    b, _, j, c = x.shape
    expanded = index[:, :, None, None].expand(b, index.shape[1], j, c)
    return torch.gather(x, 1, expanded)


class TokenPruningCluster(nn.Module):
    """Keeps `token_num` of `frames` frames: (B, F, J, C) -> (B, token_num, J, C) plus indices."""

    def __init__(self, frames: int, token_num: int, dim: int, strategy: str = "dpc-knn"):
        super().__init__()
        if strategy not in SELECTION_STRATEGIES:
            raise ValueError(
                f"unknown frame selection strategy {strategy!r}; choose one of {sorted(SELECTION_STRATEGIES)}"
            )
        self.frames = frames
        self.token_num = token_num
        self.strategy = strategy
        self.pos_embed = nn.Parameter(torch.zeros(1, token_num, dim))

    @torch.no_grad()
    def select(self, tokens: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
        """Kept frame indices (B, token_num), ascending."""
        pooled = tokens.mean(dim=2)  # average over joints: one vector per frame
        index = SELECTION_STRATEGIES[self.strategy](pooled, keypoints, self.token_num)
        return torch.sort(index, dim=-1).values

    def check_keep_index(self, keep_index: torch.Tensor, batch: int) -> torch.Tensor:
        if keep_index.shape != (batch, self.token_num):
            raise ValueError(
                f"keep_index must have shape (batch, token_num) = ({batch}, {self.token_num}), "
                f"got {tuple(keep_index.shape)}"
            )
        if keep_index.dtype.is_floating_point:
            raise ValueError(f"keep_index must hold integer frame indices, got dtype {keep_index.dtype}")
        if torch.jit.is_tracing():  # exported graphs take ascending indices as given: no TopK for NPUs
            return keep_index.long()
        if keep_index.min() < 0 or keep_index.max() >= self.frames:
            raise ValueError(f"keep_index values must lie in [0, {self.frames - 1}]")
        ordered = torch.sort(keep_index.long(), dim=-1).values
        if (ordered[:, 1:] == ordered[:, :-1]).any():
            raise ValueError("keep_index must name distinct frames; a row repeats a frame index")
        return ordered

    def forward(
        self, tokens: torch.Tensor, keypoints: torch.Tensor, keep_index: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if keep_index is None:
            keep_index = self.select(tokens, keypoints)
        else:
            keep_index = self.check_keep_index(keep_index, tokens.shape[0])
        kept = gather_frames(tokens, keep_index)
        return kept + self.pos_embed[:, :, None, :], keep_index

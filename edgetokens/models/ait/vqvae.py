"""The depth tokenizer of AiT: a "shallow" convolutional VQ-VAE with an EMA codebook (specs/AIT.md §2.1).

Depth goes in and comes out in metres, unnormalised, with no output activation. Stage 1 trains it with
hard assignments (reconstruction + commitment); stage 2 freezes it and uses `encode` for targets and
`decode_soft` to turn the solver's code logits into a depth map ("soft token", §2.5).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import VQVAEConfig

DEAD_FRACTION = 0.1  # a code whose moving count falls below this fraction of the mean count is restarted


class VectorQuantizerEMA(nn.Module):
    """Nearest-code (L2) quantizer whose codebook follows an exponential moving average of its assignments.

    Each training-mode call moves the per-code counts and sums by `decay`, applies Laplace smoothing
    (`eps`) to the counts and sets code = sum / count; eval mode never changes the codebook. The gradient
    reaches the encoder through the straight-through estimator and the commitment loss
    `commitment * ||z - sg(q)||^2`.

    Two deliberate departures from the official code, which starts from N(0, 1) codes and never restarts
    codes: (1) the first training call sets the codebook to random encodings of its batch, and (2) a code
    whose moving count falls below `DEAD_FRACTION` of the mean count is restarted at a random encoding of
    the current batch. Our small edge tokenizer collapsed without them: 2 of 128 codes in use after one
    epoch on our scenes (encoder outputs start near 0, far from N(0, 1) codes). An absolute threshold
    (count < 0.03, i.e. unused for ~350 steps) still left 4 codes in use after 300 steps; the relative one
    kept 51 in use, with a lower test RMSE (1.18 vs 1.27 m; 300-step runs on 400 scenes, batch 16).

    One deliberate difference from the official code: the moving averages start as if every code had been
    assigned once to itself (count 1, sum = code). The official code starts the counts at 0 and the sums at
    an independent N(0, 1) draw, so its first updates divide a decayed random vector by a tiny count and
    throw the codes far from the data (codes never picked stay there for good). With our start every
    update is a weighted mean that moves a code toward its encodings; the update rule itself is the same.
    """

    def __init__(self, num_codes: int, code_dim: int, decay: float = 0.99, eps: float = 1e-5,
                 commitment: float = 0.25):
        super().__init__()
        self.num_codes, self.code_dim = num_codes, code_dim
        self.decay, self.eps, self.commitment = decay, eps, commitment
        codebook = torch.randn(num_codes, code_dim)
        self.register_buffer("codebook", codebook)
        self.register_buffer("ema_count", torch.ones(num_codes))
        self.register_buffer("ema_sum", codebook.clone())
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Ids (N,) of the codes nearest to the rows of `flat` (N, code_dim)."""
        distances = (flat.square().sum(1, keepdim=True) + self.codebook.square().sum(1)
                     - 2 * flat @ self.codebook.t())
        return distances.argmin(dim=1)

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """Code vectors (..., code_dim) of ids (...)."""
        return F.embedding(ids, self.codebook)

    def soft_lookup(self, probs: torch.Tensor) -> torch.Tensor:
        """Probability-weighted code vectors: probs (..., num_codes) @ codebook -> (..., code_dim)."""
        return probs @ self.codebook

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z (B, code_dim, h, w) -> (straight-through quantized z, commitment loss, ids (B, h, w))."""
        b, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        if self.training and not bool(self.initialised):
            self._restart(flat.detach(), torch.ones(self.num_codes, dtype=torch.bool))
            self.initialised.fill_(True)
        ids = self.nearest(flat.detach())
        quantized = self.lookup(ids)  # the codebook before this step's update, as the official code
        if self.training:
            self._update(flat.detach(), ids)
        commit_loss = self.commitment * F.mse_loss(flat, quantized)
        quantized = flat + (quantized - flat).detach()
        return quantized.reshape(b, h, w, d).permute(0, 3, 1, 2), commit_loss, ids.reshape(b, h, w)

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, ids: torch.Tensor) -> None:
        one_hot = F.one_hot(ids, self.num_codes).to(flat.dtype)
        self.ema_count.mul_(self.decay).add_(one_hot.sum(0), alpha=1 - self.decay)
        total = self.ema_count.sum()
        self.ema_count.copy_((self.ema_count + self.eps) / (total + self.num_codes * self.eps) * total)
        self.ema_sum.mul_(self.decay).add_(one_hot.t() @ flat, alpha=1 - self.decay)
        self.codebook.copy_(self.ema_sum / self.ema_count[:, None])
        dead = self.ema_count < DEAD_FRACTION * self.ema_count.mean()
        if dead.any():
            self._restart(flat, dead)

    @torch.no_grad()
    def _restart(self, flat: torch.Tensor, which: torch.Tensor) -> None:
        """Set the codes selected by the bool mask `which` to random rows of `flat`, as if assigned once."""
        picks = torch.randint(len(flat), (int(which.sum()),), device=flat.device)
        self.codebook[which] = flat[picks]
        self.ema_sum[which] = flat[picks]
        self.ema_count[which] = 1.0


class ResBlock(nn.Module):
    """Residual block "v1": conv3x3-ReLU-conv3x3-ReLU-conv1x1 plus identity, no normalisation."""

    def __init__(self, channels: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


def _num_stride_layers(config: VQVAEConfig) -> int:
    return int(math.log2(config.vq_downsample))


def build_encoder(config: VQVAEConfig) -> nn.Sequential:
    """Conv k4 s2 (1 -> h), then log2(ds) - 1 more, each doubling the width; res blocks; 1x1 to code_dim."""
    width = config.vq_hidden_dim
    layers: list[nn.Module] = [nn.Conv2d(1, width, 4, stride=2, padding=1), nn.ReLU()]
    for _ in range(_num_stride_layers(config) - 1):
        layers += [nn.Conv2d(width, width * 2, 4, stride=2, padding=1), nn.ReLU()]
        width *= 2
    layers += [ResBlock(width) for _ in range(config.vq_num_res_blocks)]
    layers.append(nn.Conv2d(width, config.vq_code_dim, 1))
    return nn.Sequential(*layers)


def build_decoder(config: VQVAEConfig) -> nn.Sequential:
    """Mirror of the encoder: 1x1 to h*ds/2, res blocks, ConvTranspose k4 s2 (same width), then halving ones."""
    width = config.bottleneck_dim
    layers: list[nn.Module] = [nn.Conv2d(config.vq_code_dim, width, 1), nn.ReLU()]
    layers += [ResBlock(width) for _ in range(config.vq_num_res_blocks)]
    layers += [nn.ConvTranspose2d(width, width, 4, stride=2, padding=1), nn.ReLU()]
    for _ in range(_num_stride_layers(config) - 1):
        layers += [nn.ConvTranspose2d(width, width // 2, 4, stride=2, padding=1), nn.ReLU()]
        width //= 2
    layers.append(nn.Conv2d(width, 1, 1))  # no output activation: metres
    return nn.Sequential(*layers)


class VQVAE(nn.Module):
    """Depth (B, 1, H, W) in metres <-> code ids (B, H/ds, W/ds). Fully convolutional: any H, W divisible by ds."""

    arch: str = "ait-depth-vqvae"
    task: str = "depth-tokenizer"  # its entry in `edgetokens.tasks.TASKS` (trained, not deployed)
    float_parts: dict[str, tuple[str, ...]] = {}  # quantization: see `compression.scopes`
    attention_modules: tuple[str, ...] = ()
    default_keep_float: tuple[str, ...] = ()

    def __init__(self, config: VQVAEConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.encoder = build_encoder(config)
        self.quantizer = VectorQuantizerEMA(config.vq_num_codes, config.vq_code_dim, config.vq_decay, config.vq_eps,
                                            config.vq_commitment)
        self.decoder = build_decoder(config)

    @staticmethod
    def upgrade_saved_config(config: dict) -> dict:
        """A checkpoint's recorded config in today's fields (the `vq_` names, `VQVAEConfig.upgrade_saved_config`)."""
        return VQVAEConfig.upgrade_saved_config(config)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (1, self.config.image_size, self.config.image_size)

    def check_depth(self, depth: torch.Tensor) -> None:
        ds = self.config.vq_downsample
        if depth.ndim != 4 or depth.shape[1] != 1 or depth.shape[2] % ds or depth.shape[3] % ds:
            raise ValueError(
                f"{self.arch} expects depth of shape (batch, 1, H, W) with H and W multiples of {ds}, "
                f"got {tuple(depth.shape)}"
            )

    @torch.no_grad()
    def encode(self, depth: torch.Tensor) -> torch.Tensor:
        """Depth (B, 1, H, W) -> nearest-code ids (B, H/ds, W/ds); never updates the codebook."""
        self.check_depth(depth)
        z = self.encoder(depth)
        b, d, h, w = z.shape
        return self.quantizer.nearest(z.permute(0, 2, 3, 1).reshape(-1, d)).reshape(b, h, w)

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Code vectors (B, h, w, code_dim) -> depth (B, 1, h*ds, w*ds)."""
        return self.decoder(codes.permute(0, 3, 1, 2))

    def decode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Ids (B, h, w), or (B, L) in raster order on the config's square grid -> depth (B, 1, H, W)."""
        return self.decode_codes(self.quantizer.lookup(self._as_grid(ids, ids.ndim == 2)))

    def decode_soft(self, logits: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
        """Soft token decode: code logits (B, L, K) or (B, h, w, K) -> depth (B, 1, H, W).

        Each position's code vector is the softmax(logits * tau)-weighted mean of the codebook. tau
        MULTIPLIES the logits, as the official code (tau 0.8 softens like a temperature of 1.25).
        """
        probs = torch.softmax(self._as_grid(logits, logits.ndim == 3) * tau, dim=-1)
        return self.decode_codes(self.quantizer.soft_lookup(probs))

    def forward(self, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Depth (B, 1, H, W) -> (reconstruction (B, 1, H, W), commitment loss, ids (B, h, w))."""
        self.check_depth(depth)
        quantized, commit_loss, ids = self.quantizer(self.encoder(depth))
        return self.decoder(quantized), commit_loss, ids

    def _as_grid(self, x: torch.Tensor, flat: bool) -> torch.Tensor:
        """(B, L, ...) raster sequence -> (B, side, side, ...) on the config grid; grids pass through."""
        if not flat:
            return x
        side = self.config.token_grid
        if x.shape[1] != side * side:
            raise ValueError(
                f"expected {side * side} tokens ({side}x{side} for image_size {self.config.image_size}), "
                f"got {x.shape[1]}; pass a (B, h, w, ...) grid for other sizes"
            )
        return x.reshape(x.shape[0], side, side, *x.shape[2:])

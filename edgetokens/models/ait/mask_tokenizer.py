"""The instance-mask tokenizer of AiT (specs/AIT.md §2.3): the shallow VQ-VAE on 64 x 64 box-cropped masks.

The network is the depth tokenizer's (`build_encoder`, `VectorQuantizerEMA`, `build_decoder`, same
state-dict names `encoder.*`, `quantizer.*`, `decoder.*`) at 64 px with downsampling 16, so a mask is
4 x 4 = 16 codes. Unlike depth (metres, unnormalised) masks are normalised: m in [0, 1] goes in as
2m - 1 and the decoder output x comes back as x * 0.5 + 0.5, roughly a probability (not clipped;
threshold at 0.5, or clip before displaying). Stage 1 trains it on MSE of the normalised values plus
0.25 x commitment; stage 2 freezes it, `encode`s ground-truth crops into targets and `decode_soft`s
the solver's code logits.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..signature import Signature, TensorSpec, example_batch
from .config import VQVAEConfig
from .vqvae import VQVAE


@dataclass
class MaskTokenizerConfig(VQVAEConfig):
    """The mask VQ-VAE: 64 px, x16 -> 4 x 4 tokens, hidden 16 (widths 16 .. 128), 128 codes of dim 128
    (paper: 512; the edge size keeps the soft lookup and the decoder's first conv 4x smaller)."""

    image_size: int = 64
    vq_downsample: int = 16
    vq_hidden_dim: int = 16
    vq_num_codes: int = 128
    vq_code_dim: int = 128


def normalize_masks(masks: torch.Tensor) -> torch.Tensor:
    """Masks in [0, 1] -> the tokenizer's [-1, 1] (use_norm=True, max_value=1)."""
    return masks * 2.0 - 1.0


def denormalize_masks(values: torch.Tensor) -> torch.Tensor:
    """Decoder output -> mask units, ~[0, 1] (x * 0.5 + 0.5)."""
    return values * 0.5 + 0.5


class MaskTokenizer(VQVAE):
    """Masks (N, 1, S, S) in [0, 1] <-> code ids (N, (S/ds)^2), S = config.image_size (64).

    The depth tokenizer's network, configuration checks and saved-config upgrade (`VQVAE`), with mask
    normalisation around every encode and decode."""

    arch: str = "ait-mask-vqvae"
    task: str = "mask-tokenizer"  # its entry in `edgetokens.tasks.TASKS` (trained, not deployed)

    @property
    def num_tokens(self) -> int:
        return self.config.num_tokens

    def check_masks(self, masks: torch.Tensor) -> None:
        if masks.ndim != 4 or tuple(masks.shape[1:]) != self.input_shape:
            c, h, w = self.input_shape
            raise ValueError(f"{self.arch} expects masks of shape (N, {c}, {h}, {w}) in [0, 1] (box crops, "
                             f"`edgetokens.vision.masks.crop_masks(...)[:, None]`), got {tuple(masks.shape)}")

    @torch.no_grad()
    def encode(self, masks: torch.Tensor) -> torch.Tensor:
        """Masks (N, 1, S, S) in [0, 1] -> nearest-code ids (N, L) in raster order; never updates the codebook."""
        self.check_masks(masks)
        z = self.encoder(normalize_masks(masks.float()))
        n, d, h, w = z.shape
        return self.quantizer.nearest(z.permute(0, 2, 3, 1).reshape(-1, d)).reshape(n, h * w)

    @torch.no_grad()
    def empty_mask_ids(self) -> torch.Tensor:
        """Codes (L,) of an all-zero mask: the input mask tokens of a bad (noise) box."""
        device = self.quantizer.codebook.device
        return self.encode(torch.zeros(1, *self.input_shape, device=device))[0]

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Code vectors (N, L, code_dim) in raster order -> masks (N, 1, S, S), ~[0, 1]."""
        side = self.config.token_grid
        if codes.ndim != 3 or codes.shape[1] != side * side:
            raise ValueError(f"expected (N, {side * side}, ...) tokens in raster order, got {tuple(codes.shape)}")
        grid = codes.reshape(codes.shape[0], side, side, -1).permute(0, 3, 1, 2)
        return denormalize_masks(self.decoder(grid))

    def decode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Ids (N, L), or (N, side, side) -> masks (N, 1, S, S), ~[0, 1] (threshold at 0.5)."""
        return self.decode_codes(self.quantizer.lookup(ids.reshape(ids.shape[0], -1).long()))

    def decode_soft(self, code_logits: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
        """Soft token decode: code logits (N, L, K) -> masks (N, 1, S, S), ~[0, 1]; differentiable.

        Each position's code vector is the softmax(logits * tau)-weighted mean of the codebook (tau
        MULTIPLIES, as the official code; 1.0 for masks).
        """
        return self.decode_codes(self.quantizer.soft_lookup(torch.softmax(code_logits * tau, dim=-1)))

    def forward(self, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stage 1: masks (N, 1, S, S) -> (reconstruction (N, 1, S, S) ~[0, 1], ids (N, L), commitment loss)."""
        self.check_masks(masks)
        quantized, commit_loss, ids = self.quantizer(self.encoder(normalize_masks(masks.float())))
        return denormalize_masks(self.decoder(quantized)), ids.flatten(1), commit_loss

    def reconstruction_loss(self, masks: torch.Tensor) -> dict[str, torch.Tensor]:
        """Stage-1 loss parts of a batch: {"mse" (on normalised values), "commit", "loss" = mse + commit}."""
        recon, _, commit = self(masks)
        mse = F.mse_loss(normalize_masks(recon), normalize_masks(masks.float()))
        return {"mse": mse, "commit": commit, "loss": mse + commit}

    def graph_options(self) -> list[dict]:
        """The export options this model supports (none)."""
        return [{}]

    def signature(self, batch: int = 1) -> Signature:
        """Graph contract: `mask` (B, 1, S, S) in [0, 1] -> `reconstruction` (B, 1, S, S) ~[0, 1]."""
        example = np.random.default_rng(0).random((example_batch(batch), *self.input_shape)) > 0.5
        preprocessing = {"input": f"a binary instance mask cropped to its box and resized to {self.config.image_size}"
                                  f"x{self.config.image_size} (aspect not kept), as float in [0, 1]",
                         "image_size": self.config.image_size,
                         "output": "the mask rebuilt from its codes, ~[0, 1]; threshold at 0.5"}
        return Signature(self.task, [TensorSpec("mask", [batch, *self.input_shape])],
                         [TensorSpec("reconstruction", [batch, *self.input_shape])], preprocessing,
                         {"mask": example.astype(np.float32)})

    def graph_forward(self, masks: torch.Tensor) -> tuple[torch.Tensor]:
        """The exported computation, outputs in `signature()` order."""
        return (self(masks)[0],)

"""Instance masks <-> box crops (specs/AIT.md §2.4, §4 "Pasting"): one implementation for training
targets and inference.

Coordinates are continuous pixels: pixel (row i, column j) covers [j, j + 1) x [i, i + 1), its centre
at (j + 0.5, i + 0.5); boxes are xyxy in those units. `crop_masks` samples each mask bilinearly at the
centres of a size x size grid over its box (roi_align with aligned=True; aspect not kept), `paste_masks`
is Detectron2's `_do_paste_mask`: the box-sized mask grid-sampled at the centres of the image pixels
inside the box. Both take numpy or torch and answer in the kind they were given.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

MAX_SAMPLES_PER_BIN = 4  # crop: up to 4 x 4 bilinear samples averaged per output pixel (roi_align's adaptive ratio)


def _as_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))


def _valid_boxes(boxes: torch.Tensor) -> torch.Tensor:
    """(N,) True for finite boxes with x2 > x1 and y2 > y1 (others give empty masks)."""
    return torch.isfinite(boxes).all(dim=1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])


def _check(masks: torch.Tensor, boxes: torch.Tensor, what: str) -> None:
    if masks.ndim != 3 or boxes.shape != (masks.shape[0], 4):
        raise ValueError(f"{what} must be (N, H, W) with boxes (N, 4) xyxy pixels; got {tuple(masks.shape)} "
                         f"and {tuple(boxes.shape)}")


def crop_masks(masks: np.ndarray | torch.Tensor, boxes: np.ndarray | torch.Tensor, size: int = 64,
               binary: bool = True) -> np.ndarray | torch.Tensor:
    """Full-image masks (N, H, W) bool/float and their boxes (N, 4) -> box crops (N, size, size) float32.

    `binary`: thresholded at >= 0.5, as the tokenizer's targets. Parts of a box outside the image read
    as 0 (bilinear with zero padding); a degenerate box (no area, not finite) gives an empty crop.
    """
    numpy_in = not isinstance(masks, torch.Tensor)
    masks_t, boxes_t = _as_tensor(masks).float(), _as_tensor(boxes).double()
    _check(masks_t, boxes_t, "masks")
    n, height, width = masks_t.shape
    if n == 0 or height == 0 or width == 0:
        out = torch.zeros(n, size, size)
        return out.numpy() if numpy_in else out
    valid = _valid_boxes(boxes_t)
    safe = torch.where(valid[:, None], boxes_t, torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=boxes_t.dtype))
    longest = float((safe[:, 2:] - safe[:, :2]).max())
    samples = min(max(math.ceil(longest / size), 1), MAX_SAMPLES_PER_BIN)
    steps = (torch.arange(size * samples, dtype=boxes_t.dtype) + 0.5) / (size * samples)  # share of the box
    xs = safe[:, 0:1] + steps * (safe[:, 2:3] - safe[:, 0:1])
    ys = safe[:, 1:2] + steps * (safe[:, 3:4] - safe[:, 1:2])
    grid_x = (2 * xs / width - 1)[:, None, :].expand(n, len(steps), len(steps))
    grid_y = (2 * ys / height - 1)[:, :, None].expand(n, len(steps), len(steps))
    grid = torch.stack((grid_x, grid_y), dim=-1).float().to(masks_t.device)
    out = F.grid_sample(masks_t[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if samples > 1:
        out = F.avg_pool2d(out, samples)
    out = out[:, 0] * valid.to(out.device, out.dtype)[:, None, None]
    if binary:
        out = (out >= 0.5).float()
    return out.cpu().numpy() if numpy_in else out


def paste_masks(mask_probs: np.ndarray | torch.Tensor, boxes: np.ndarray | torch.Tensor, height: int, width: int,
                threshold: float | None = 0.5) -> np.ndarray | torch.Tensor:
    """Box-sized masks (N, h, w) ~[0, 1] and boxes (N, 4) pixels -> image masks (N, height, width).

    Each image pixel whose centre lies in its box [x1, x2) x [y1, y2) samples the mask bilinearly
    (Detectron2 `_do_paste_mask`); pixels outside the box are 0. Boxes may reach outside the image;
    degenerate ones (no area, not finite) paste nothing. `threshold` (>= it is True) gives bool masks;
    None keeps the float32 samples.
    """
    numpy_in = not isinstance(mask_probs, torch.Tensor)
    probs, boxes_t = _as_tensor(mask_probs).float(), _as_tensor(boxes).double()
    _check(probs, boxes_t, "mask_probs")
    out = torch.zeros(probs.shape[0], height, width, device=probs.device)
    for i in torch.nonzero(_valid_boxes(boxes_t)).flatten().tolist():  # one box region at a time: small grids on CPU
        x1, y1, x2, y2 = boxes_t[i].tolist()
        c0, c1 = max(math.floor(x1), 0), min(math.ceil(x2), width)
        r0, r1 = max(math.floor(y1), 0), min(math.ceil(y2), height)
        if c1 <= c0 or r1 <= r0:
            continue
        px = torch.arange(c0, c1, dtype=torch.float64) + 0.5
        py = torch.arange(r0, r1, dtype=torch.float64) + 0.5
        u, v = (px - x1) / (x2 - x1) * 2 - 1, (py - y1) / (y2 - y1) * 2 - 1
        grid = torch.stack((u[None, :].expand(len(v), -1), v[:, None].expand(-1, len(u))), dim=-1)
        values = F.grid_sample(probs[i][None, None], grid[None].float().to(probs.device), mode="bilinear",
                               padding_mode="zeros", align_corners=False)[0, 0]
        inside = ((py >= y1) & (py < y2))[:, None] & ((px >= x1) & (px < x2))[None, :]
        out[i, r0:r1, c0:c1] = values * inside.to(values.device, values.dtype)
    if threshold is not None:
        out = out >= threshold
    return out.cpu().numpy() if numpy_in else out

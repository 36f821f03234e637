"""Image formation for :mod:`training.data.scenes`: linear radiance -> the uint8 RGB a camera would save.

Auto exposure (with an exposure bias), white-balance error, lens vignetting, defocus blur, gamma,
saturation / contrast jitter, sensor noise and JPEG compression: what separates a clean render from a
phone photo. Only the image goes through here; depth, masks and the scene's random draws never see it
(it draws from its own generator, so switching an effect off changes nothing else).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from training.data.scene_config import SceneConfig

F32 = np.float32
_GAMMA_LEVELS = 4096
_GAMMA_LUT = (np.linspace(0, 1, _GAMMA_LEVELS) ** (1 / 2.2) * 255).astype(F32)


def develop(rng: np.random.Generator, radiance: np.ndarray, cfg: SceneConfig) -> np.ndarray:
    """radiance (3, H, W) linear -> (H, W, 3) uint8 RGB."""
    height, width = radiance.shape[1:]
    luminance = radiance[:, ::2, ::2].mean(0).ravel()
    k = int(0.97 * (luminance.size - 1))
    exposure = rng.uniform(*cfg.exposure) / max(float(np.partition(luminance, k)[k]), 1e-6)
    gains = np.exp(rng.normal(0, cfg.color_jitter, 3)) if cfg.color_jitter > 0 else np.ones(3)
    scale = (gains / gains.mean() * exposure * (_GAMMA_LEVELS - 1)).astype(F32)
    linear = radiance.transpose(1, 2, 0) * scale
    vignette = rng.uniform(*cfg.vignette)
    if vignette > 0:  # cos^4-like fall-off towards the corners, strength = darkening at the corners
        u = (np.arange(width, dtype=F32) - (width - 1) / 2) / F32((width - 1) / 2 + 1e-6)
        v = (np.arange(height, dtype=F32) - (height - 1) / 2) / F32((height - 1) / 2 + 1e-6)
        r2 = (u[None, :] ** 2 + v[:, None] ** 2) * F32(0.5)
        linear *= (1 - F32(vignette) * r2)[..., None]
    if rng.random() < cfg.blur_probability:  # defocus / slight camera shake
        sigma = rng.uniform(*cfg.blur_sigma) * width / 256
        if sigma > 0.05:
            linear = cv2.GaussianBlur(linear, (0, 0), sigma)
    img = np.take(_GAMMA_LUT, np.minimum(linear, F32(_GAMMA_LEVELS - 1)).astype(np.int32))
    if cfg.color_jitter > 0:  # saturation and contrast, in display space
        gray = img.mean(-1, keepdims=True)
        img = gray + (img - gray) * F32(1 + rng.uniform(-3, 3) * cfg.color_jitter)
        mean = F32(img.mean())
        img = mean + (img - mean) * F32(1 + rng.uniform(-2, 2) * cfg.color_jitter)
    # zero-mean triangular noise with std ``image_noise`` (a difference of uniforms: ~5x cheaper than Gaussian)
    if cfg.image_noise > 0:
        img += (rng.random(img.shape, dtype=F32) - rng.random(img.shape, dtype=F32)) * F32(
            cfg.image_noise * math.sqrt(6))
    out = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if rng.random() < cfg.jpeg_probability:
        quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        ok, data = cv2.imencode(".jpg", np.ascontiguousarray(out[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out = np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])
    return out

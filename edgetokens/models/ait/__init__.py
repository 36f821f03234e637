"""The AiT depth family: VQ-VAE tokenizer, conv backbone, task-solver and the whole model (specs/AIT.md)."""
from .backbone import ConvBackbone
from .config import AiTDepthConfig, VQVAEConfig
from .model import AiTDepth
from .solver import TaskSolver, sine_position_encoding
from .vqvae import VQVAE, VectorQuantizerEMA

__all__ = [
    "VQVAE",
    "AiTDepth",
    "AiTDepthConfig",
    "ConvBackbone",
    "TaskSolver",
    "VQVAEConfig",
    "VectorQuantizerEMA",
    "sine_position_encoding",
]

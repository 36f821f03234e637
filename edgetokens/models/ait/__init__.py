"""The AiT family (specs/AIT.md): tokenizers (depth and mask VQ-VAEs), backbones, the task-solver, the
depth model and the multi-task model."""
from .backbone import ConvBackbone, EfficientNetLite0Backbone, build_backbone
from .config import AiTDepthConfig, VQVAEConfig
from .joint import AiT, AiTConfig
from .mask_tokenizer import MaskTokenizer, MaskTokenizerConfig
from .model import AiTDepth
from .solver import TaskSolver, sine_position_encoding
from .vqvae import VQVAE, VectorQuantizerEMA

__all__ = [
    "VQVAE",
    "AiT",
    "AiTConfig",
    "AiTDepth",
    "AiTDepthConfig",
    "ConvBackbone",
    "EfficientNetLite0Backbone",
    "MaskTokenizer",
    "MaskTokenizerConfig",
    "build_backbone",
    "TaskSolver",
    "VQVAEConfig",
    "VectorQuantizerEMA",
    "sine_position_encoding",
]

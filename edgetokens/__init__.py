"""edgetokens: token-pruned pose and depth transformers, from the paper to the edge device."""
from .models import create_model, list_models, load_official_weights
from .predictor import PosePredictor, PoseResult, PoseStream, Predictor
from .depth import DepthPredictor, DepthResult  # noqa: E402 (after Predictor, which it extends)

__version__ = "0.1.0"
__all__ = ["DepthPredictor", "DepthResult", "PosePredictor", "PoseResult", "PoseStream", "Predictor", "create_model",
           "list_models", "load_official_weights", "__version__"]

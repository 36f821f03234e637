"""edgetokens: token-pruned pose and depth transformers, from the paper to the edge device."""
from .models import create_model, list_models, load_official_weights
from .predictor import PoseResult, PoseStream, Predictor

__version__ = "0.1.0"
__all__ = ["PoseResult", "PoseStream", "Predictor", "create_model", "list_models", "load_official_weights",
           "__version__"]

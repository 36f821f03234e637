"""The HoT model family: MixSTE and MotionBERT backbones, with or without TPC + TRA."""
from .config import MixSTEConfig, MotionBERTConfig, PoseLifterConfig
from .mixste import MixSTE
from .motionbert import MotionBERT
from .official import load_official_weights
from .pruning import SELECTION_STRATEGIES, TokenPruningCluster, dpc_knn_scores
from .recovery import TokenRecoveringAttention

__all__ = [
    "MixSTE", "MixSTEConfig", "MotionBERT", "MotionBERTConfig", "PoseLifterConfig",
    "TokenPruningCluster", "TokenRecoveringAttention", "SELECTION_STRATEGIES", "dpc_knn_scores",
    "load_official_weights",
]

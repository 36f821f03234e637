"""Network architectures. `create_model(name, **overrides)` builds any registered one."""
from .hot import load_official_weights
from .registry import (
    architecture_task,
    create_model,
    get_architecture,
    list_models,
    make_config,
    model_for,
    register_model,
)

__all__ = ["architecture_task", "create_model", "list_models", "get_architecture", "make_config", "model_for", "register_model", "load_official_weights"]

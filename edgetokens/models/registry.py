"""Named architectures and the one way to get a model: `create_model(name, pretrained=, checkpoint=)`,
timm style.

Bare names are the edge defaults (81 frames, small enough to train on a 2-core CPU); the `-243`
names are the papers' configurations (specs/HOT.md §1).
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import WEIGHTS, DamagedCheckpointError, read_checkpoint_info
from ..zoo import pretrained_dir
from .ait import VQVAE, AiT, AiTConfig, AiTDepth, AiTDepthConfig, MaskTokenizer, MaskTokenizerConfig
from .hot import MixSTE, MixSTEConfig, MotionBERT, MotionBERTConfig
from .hot.official import load_official_weights


@dataclass(frozen=True)
class Architecture:
    name: str
    model_class: type
    config: Any
    description: str


_ARCHITECTURES: dict[str, Architecture] = {}


def register_model(name: str, model_class: type, config: Any, description: str) -> None:
    config.validate()
    _ARCHITECTURES[name] = Architecture(name, model_class, config, description)


def list_models() -> list[str]:
    return sorted(_ARCHITECTURES)


def get_architecture(name: str) -> Architecture:
    if name not in _ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _ARCHITECTURES[name]


def architecture_task(name: str, config: Any = None) -> str:
    """The task of a registered architecture: its model class's `task`, or, for a class whose task depends
    on its config (AiT serves the tasks in `config.tasks`), `model_class.task_for(config)`; `config` is
    a recorded config dict or dataclass (default: the registered one)."""
    architecture = get_architecture(name)
    task_for = getattr(architecture.model_class, "task_for", None)
    if task_for is None:
        return architecture.model_class.task
    return task_for(architecture.config if config is None else config)


def config_fields(config: Any) -> list[str]:
    return [f.name for f in fields(config)]


def make_config(name: str, **overrides: Any) -> Any:
    """The named configuration with `overrides` applied and validated."""
    base = get_architecture(name).config
    valid = config_fields(base)
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ValueError(f"{name} has no setting {', '.join(unknown)}; valid keys: {', '.join(valid)}")
    config = replace(base, **overrides)
    config.validate()
    return config


def create_model(name: str | None = None, pretrained: bool = False, checkpoint: str | Path | None = None,
                 **overrides: Any) -> nn.Module:
    """A named architecture, with random weights unless told where its weights are.

    - `create_model("hot-mixste", frames=27)`: random weights, config overrides by field name;
    - `create_model("hot-mixste", pretrained=True)`: the shipped trained default (`edgetokens.zoo`);
    - `create_model(checkpoint=DIR)`: one of our checkpoints (the architecture and config it records;
      `name`, when given, must match);
    - `create_model("mixste-243", checkpoint="mixste.bin")`: an official checkpoint file, renamed to our
      parameters by the architecture's own mapping (`load_official_weights`), all tensors required.
    The module comes back in training mode, as a fresh `nn.Module` does.
    """

    if pretrained and checkpoint is not None:
        raise ValueError("pass pretrained=True or checkpoint=PATH, not both")
    if pretrained:
        if name is None:
            raise ValueError("pretrained=True needs a model name")
        checkpoint = pretrained_dir(name)  # raises listing the shipped defaults
    if checkpoint is None:
        if name is None:
            raise ValueError("create_model needs a model name or checkpoint=PATH")
        return _build(name, overrides)
    path = Path(checkpoint)
    if path.is_dir():
        info = read_checkpoint_info(path)
        if name is not None and info["arch"] != name and not pretrained:  # a shipped name may differ
            raise ValueError(f"checkpoint {path} is a {info['arch']!r} model, not {name!r}")
        model_class = get_architecture(info["arch"]).model_class
        config = model_class.upgrade_saved_config(dict(info["config"]))
        # settings that fetch weights a checkpoint replaces anyway (e.g. an ImageNet backbone) are switched off
        model = _build(info["arch"], {**config, **getattr(model_class, "checkpoint_overrides", {}), **overrides})
        try:
            load_official_weights(model, path / WEIGHTS)
        except DamagedCheckpointError:
            raise  # the file itself is damaged: say so, not that it does not fit
        except ValueError as err:
            raise ValueError(f"{path / WEIGHTS} does not fit the architecture in its config.json: {err}") from err
        return model
    if name is None:
        raise ValueError(f"{path} is not a checkpoint directory; an official weights file needs a model name")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found: pass a checkpoint directory (with config.json) "
                                "or an official checkpoint file (.pth/.bin/.safetensors)")
    model = _build(name, overrides)
    load_official_weights(model, path, strict=True)
    return model


def model_for(name: str | None, weights: str | Path | None = None) -> nn.Module:
    """The model behind the `weights=` convention of the Predictor and the CLIs, in eval mode: None ->
    the shipped default `name`, "random" -> seeded random weights (speed measurements only), else a
    checkpoint directory or an official checkpoint file (`create_model(name, checkpoint=...)`)."""
    if weights is None:
        return create_model(name, pretrained=True).eval()
    if str(weights) == "random":
        if name is None:
            raise ValueError("weights='random' needs a model name")
        torch.manual_seed(0)
        return create_model(name).eval()
    return create_model(name, checkpoint=weights).eval()


def _build(name: str, overrides: dict[str, Any]) -> nn.Module:
    model = get_architecture(name).model_class(make_config(name, **overrides))
    model.arch = name
    return model


_MIXSTE_243 = MixSTEConfig(frames=243, embed_dim=512, mlp_hidden=1024, depth=8, heads=8)
# Edge shape chosen by measured latency on a 2-core CPU (docs/benchmarks.md, the shape sweep): 2 heads
# of 48 channels halve the softmax work of 4 thin heads, and Linear layers this wide are where INT8 pays.
_MIXSTE_EDGE = MixSTEConfig(frames=81, embed_dim=96, mlp_hidden=256, depth=4, heads=2)
_MOTIONBERT_243 = MotionBERTConfig(frames=243, embed_dim=256, mlp_hidden=1024, depth=5, heads=8, dim_rep=512)
_MOTIONBERT_FULL_243 = MotionBERTConfig(frames=243, embed_dim=512, mlp_hidden=1024, depth=5, heads=8, dim_rep=512)
_MOTIONBERT_EDGE = MotionBERTConfig(frames=81, embed_dim=64, mlp_hidden=128, depth=3, heads=4, dim_rep=128)

register_model("mixste-243", MixSTE, _MIXSTE_243, "MixSTE as in the HoT repository (243 frames, 512-dim)")
register_model("hot-mixste-243", MixSTE, replace(_MIXSTE_243, token_num=81, layer_index=3),
               "HoT-MixSTE, paper configuration (81 of 243 frames kept from block 3)")
register_model("motionbert-243", MotionBERT, _MOTIONBERT_243,
               "MotionBERT DSTformer as in the HoT repository (256-dim, MLP ratio 4)")
register_model("hot-motionbert-243", MotionBERT, replace(_MOTIONBERT_243, token_num=81, layer_index=1),
               "HoT-MotionBERT, paper configuration (81 of 243 frames kept from layer 1)")
register_model("motionbert-full-243", MotionBERT, _MOTIONBERT_FULL_243,
               "the full MotionBERT DSTformer (512-dim, MLP ratio 2), as its authors trained it")
register_model("hot-motionbert-full-243", MotionBERT, replace(_MOTIONBERT_FULL_243, token_num=81, layer_index=1),
               "HoT on the full 512-dim MotionBERT")
register_model("mixste", MixSTE, _MIXSTE_EDGE, "edge MixSTE: 81 frames, 96-dim, 4 block pairs, 2 heads")
# The edge HoT models recover frames from interpolated queries (recovery.py says why); the -243
# configurations keep the official TRA so that official checkpoints load and reproduce.
register_model("hot-mixste", MixSTE, replace(_MIXSTE_EDGE, token_num=27, layer_index=1,
                                             recovery="interpolated-attention"),
               "edge HoT-MixSTE: 27 of 81 frames kept from block 1, interpolated recovery")
register_model("motionbert", MotionBERT, _MOTIONBERT_EDGE, "edge MotionBERT: 81 frames, 64-dim, 3 layers")
register_model("hot-motionbert", MotionBERT, replace(_MOTIONBERT_EDGE, token_num=27, layer_index=1,
                                                     recovery="interpolated-attention"),
               "edge HoT-MotionBERT: 27 of 81 frames kept from layer 1, interpolated recovery")

_AIT_EDGE = AiTDepthConfig()
_AIT_480 = AiTDepthConfig(image_size=480, d_model=256, heads=8, mlp_hidden=1024, encoder_depth=6, decoder_depth=6,
                          vq_hidden_dim=16, vq_code_dim=512)
register_model("ait-depth", AiTDepth, _AIT_EDGE,
               "edge AiT-P monocular depth: conv backbone, 192-dim 3+3 solver, 8x8 soft VQ tokens at 256 px")
register_model("ait-depth-ar", AiTDepth, replace(_AIT_EDGE, parallel=False),
               "edge AiT depth with the autoregressive decoder (KV cache)")
register_model("ait-depth-480", AiTDepth, _AIT_480,
               "AiT-P depth with the paper's solver (6+6, 256-dim) and tokenizer (hidden 16, 512-dim codes) at 480 px")
register_model("ait-depth-vqvae", VQVAE, _AIT_EDGE.vqvae, "stage-1 depth tokenizer (VQ-VAE) of ait-depth")
register_model("ait-depth-lite0", AiTDepth, replace(_AIT_EDGE, backbone="efficientnet-lite0"),
               "edge AiT-P depth on the ImageNet-trained EfficientNet-Lite0 backbone")
_AIT_JOINT = AiTConfig(backbone="efficientnet-lite0")
register_model("ait", AiT, _AIT_JOINT,
               "AiT, one model for instances and depth: EfficientNet-Lite0, 192-dim 3+3 solver, 16 instance "
               "slots and 8x8 depth tokens at 256 px")
register_model("ait-instances", AiT, replace(_AIT_JOINT, tasks=("instances",)),
               "single-task AiT instance segmentation (the joint model's instance half)")
register_model("ait-mask-vqvae", MaskTokenizer, MaskTokenizerConfig(),
               "stage-1 instance-mask tokenizer (VQ-VAE, 64x64 box crops -> 4x4 codes) of ait and ait-instances")

"""INT8 of a decoder bundle's prefill and step graphs (NNCF PTQ), calibrated on what decoding feeds them.

The prefill graph calibrates on images; the step graph on the feeds (memory, caches, position, previous
id and logits) that greedy decoding of those images gives it at positions spread over the whole length,
teacher-forced with the model's own greedy ids in torch (`AiT.generate_instances`), so the cache
contents are the ones a real decoding builds. Images: the instance scene renderer's training scenes
(`training.instances`), unless the caller passes its own.
"""
from __future__ import annotations

import logging
from pathlib import Path

import nncf
import numpy as np
import torch
from torch import nn

from edgetokens.models.ait.decoding import InstancePrefill, InstanceStep, write_position
from runtimes.manifest import read_manifest
from training.instances import instance_train_set

from .bundle import write_manifest
from .calibration import check_calibration_count
from .ptq import quantize_bundle_artifacts

log = logging.getLogger(__name__)
DEFAULT_IMAGES = 32
DEFAULT_STEP_FEEDS = 128  # each holds both caches (about 1.5 MB for the 16-slot model)
SEED = 0


def scene_images(model: nn.Module, count: int = DEFAULT_IMAGES, seed: int = SEED) -> list[np.ndarray]:
    """`count` rendered training scenes as the model's input, each (1, 3, S, S) float32."""
    check_calibration_count(count, "images")
    c = model.config
    scenes = instance_train_set("scenes", c.image_size, c.slots, c.mask_image_size, seed, count)
    return [scenes[i]["image"].numpy()[None].astype(np.float32) for i in range(count)]


def decoder_feeds(model: nn.Module, images: list[np.ndarray], step_feeds: int = DEFAULT_STEP_FEEDS,
                  seed: int = SEED) -> tuple[list[dict], list[dict]]:
    """(prefill feeds, step feeds): every image, and `step_feeds` step inputs drawn evenly over images
    and positions from the greedy decoding of each (caches copied at the moment of the step)."""
    prefill, step = InstancePrefill(model.eval()), InstanceStep(model.eval())
    rng = np.random.default_rng(seed)
    per_image = max(1, -(-step_feeds // len(images)))
    steps = []
    with torch.no_grad():
        for image in images:
            x = torch.from_numpy(image)
            _, ids = model.generate_instances(x, top_p=0.0)
            memory_k, memory_v, logits, past_k, past_v = prefill(x)
            chosen = set(rng.choice(np.arange(1, ids.shape[1]), size=min(per_image, ids.shape[1] - 1),
                                    replace=False).tolist())
            for i in range(1, max(chosen) + 1):
                feed = {"memory_k": memory_k, "memory_v": memory_v, "past_k": past_k, "past_v": past_v,
                        "position": torch.tensor([i]), "prev_ids": ids[:, i - 1], "prev_logits": logits}
                if i in chosen:
                    steps.append({name: value.numpy().copy() for name, value in feed.items()})
                logits, *rows = step(**feed)
                write_position((past_k, past_v), rows, i)
    return [{"image": image} for image in images], steps[:step_feeds]


def quantize_decoder_graphs(directory: Path, feeds: dict[str, list[dict]]) -> None:
    """Add an INT8 OpenVINO IR to each graph bundle `directory / name` from `feeds` {graph name:
    calibration feeds}, rewriting its manifest; nothing stays float (AiT names no parts).

    OpenVINO only: NNCF's ONNX backend fails on these graphs (its SmoothQuant asserts on the attention
    MatMuls; without it, Constant-node weights are not found, and once they are initializers ONNX
    Runtime refuses the QDQ prefill's MatMulIntegerToFloat, "b zero point is not valid")."""
    for graph, samples in feeds.items():
        where = directory / graph
        manifest = read_manifest(where)
        log.info("INT8 %s graph: %d calibration feeds", graph, len(samples))
        added = quantize_bundle_artifacts(where, manifest, samples, nncf.IgnoredScope(), ["openvino"], None, None)
        manifest.artifacts.setdefault("int8", {}).update(added["int8"])
        manifest.source = {**manifest.source, "quantization": {"method": "nncf-ptq", "calibration_feeds": len(samples)}}
        write_manifest(where, manifest)


__all__ = ["decoder_feeds", "quantize_decoder_graphs", "scene_images"]

"""Scoring AiT depth checkpoints side by side: soft vs hard token decoding, decode latency, a real frame.

    python -m training.evaluate_depth --checkpoint runs/ait-depth/best --checkpoint runs/ait-depth-ar/best \
        --data scenes --rgbd-sample ../shared/data/rgbd-sample --picture depth_sample.png

For each checkpoint, on the test split: metrics with soft decoding (probability-weighted codebook
vectors, the model's default) and with hard decoding (argmax ids), and the eager-torch latency of one
image (AiT-P: one decoder pass; AR: the KV-cached loop), and the share of code tokens predicted right.
An AR checkpoint also gets a row decoded from the true previous tokens (teacher forcing on the test
depth): the gap to greedy AR is what its own mistakes cost. Comparing checkpoints trained with and
without mask augmentation, or AiT-P against AR, is comparing rows. A stage-1 tokenizer checkpoint
(task depth-tokenizer, e.g. ait-depth-vqvae) gets a reconstruction row instead. Every row on rendered
scenes also has the RMSE inside the sensor holes against the complete rendered depth: what mask
augmentation is meant to improve. `--rgbd-sample` also scores each model on a real RGB-D frame's valid pixels and writes the
colour maps side by side; `--rgbd-real` scores it on a folder of real frames (shared/data/rgbd-real).
A joint AiT model (`ait`) is scored through its depth prompt.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import cv2
import numpy as np
import torch

from edgetokens.checkpoint import read_checkpoint_info
from edgetokens.clitools import non_negative_int, positive_int, run_cli
from edgetokens.models import create_model
from edgetokens.vision.depth import MIN_DEPTH, colorize_depth, depth_metrics, valid_depth_mask
from edgetokens.vision.image import model_input, to_image_size
from edgetokens.assets import RGBD_SAMPLE
from training.data.nyu import rgbd_real
from training.data.nyu import rgbd_sample as read_sample
from training.depth import DEFAULT_TEST_SCENES, depth_sources, evaluate_tokenizer, score_depth

JOINT_TASK = "instances+depth"  # `edgetokens.tasks`: AiT's joint model (its depth half is scored here)
DEPTH_TASKS = ("depth", "depth-tokenizer", JOINT_TASK)  # the solver, its stage-1 tokenizer, the joint model


def logits_fn(model: torch.nn.Module, soft: bool):
    """images -> full-vocabulary logits: AiT-P, or greedy AR with soft or hard next-token inputs."""
    if model.config.parallel:
        return model.logits
    return lambda images: model.generate_ar(images, soft_input=soft)[0]


def decoder(model: torch.nn.Module, soft: bool):
    """images -> depth with the model's decoding mode (AiT-P or AR; a joint model's depth prompt) and
    soft or hard tokens."""
    joint_logits = lambda images: model.depth_logits(model.memory(images))  # noqa: E731
    get_logits = joint_logits if is_joint(model) else logits_fn(model, soft)
    return lambda images: model.decode(get_logits(images), soft=soft).clamp_min(MIN_DEPTH)


def is_joint(model: torch.nn.Module) -> bool:
    """A model serving depth beside other tasks (AiT `ait`): depth through its depth prompt."""
    return model.task == JOINT_TASK


def score_with_tokens(model: torch.nn.Module, test_set, soft: bool, true_prefix: bool = False) -> dict:
    """Depth metrics plus `token_acc`: the share of predicted (argmax) code ids equal to the tokens of
    the test depth. `true_prefix`: AR given the test depth's own previous tokens (a diagnostic: the
    gap to greedy AR is what the decoder's own mistakes cost)."""
    get_logits, counts = logits_fn(model, soft), [0, 0]

    def predict(batch: dict) -> torch.Tensor:
        truth = model.tokenize(batch["depth"])
        logits = model.logits(batch["image"], truth) if true_prefix else get_logits(batch["image"])
        counts[0] += int((model.solver.code_logits(logits).argmax(dim=-1) == truth).sum())
        counts[1] += truth.numel()
        return model.decode(logits, soft=soft).clamp_min(MIN_DEPTH)

    return score_depth(predict, test_set, key=None) | {"token_acc": counts[0] / counts[1]}


def latency_ms(predict, image: torch.Tensor, repeats: int) -> float:
    with torch.inference_mode():
        predict(image)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            predict(image)
            times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def real_frame(model: torch.nn.Module, rgb: np.ndarray, depth: np.ndarray, name: str = "rgbd sample"
               ) -> tuple[np.ndarray, dict]:
    """Predict a whole real frame (resized to the model, back to the frame) and score its valid pixels."""
    x = torch.from_numpy(model_input(rgb, model.config.image_size))
    with torch.inference_mode():
        pred = decoder(model, soft=True)(x)[0, 0].numpy()
    pred = to_image_size(pred, rgb.shape[1], rgb.shape[0])
    return pred, depth_metrics(pred, depth, eigen_crop=False, name=name)


def real_frames(model: torch.nn.Module, frames) -> tuple[list[np.ndarray], dict]:
    """Every frame of an `RGBDFrames` predicted and scored: (predictions, per-frame metrics averaged,
    with `frames`; metres, no scale alignment)."""
    predictions, scores = [], []
    for i in range(len(frames)):
        sample = frames[i]
        name = f"{frames.name} {sample.name}"
        pred, metrics = real_frame(model, sample.rgb, sample.depth, name=name)
        predictions.append(pred)
        scores.append(metrics | {f"scaled_{k}": v for k, v in median_scaled_metrics(pred, sample.depth, name).items()
                                 if k in ("abs_rel", "rmse", "d1")})
    return predictions, {k: float(np.mean([m[k] for m in scores])) for k in scores[0]} | {"frames": len(scores)}


def median_scaled_metrics(pred: np.ndarray, depth: np.ndarray, name: str) -> dict:
    """Metrics of the prediction scaled so its median over the valid pixels is the sensor's (the
    monocular protocol: how well the layout transfers, apart from the metric scale)."""
    valid = valid_depth_mask(depth, eigen_crop=False)
    scaled = pred * (np.median(depth[valid]) / max(float(np.median(pred[valid])), MIN_DEPTH)) if valid.any() else pred
    return depth_metrics(scaled, depth, eigen_crop=False, name=name)


def real_depth_evaluation(model: torch.nn.Module, rgbd_real_root: str | None = None) -> dict[str, dict]:
    """{"rgbd_sample": the shipped real frame, "rgbd_real": the rgbd-real frames (when a folder is given)}."""
    evaluation = {"rgbd_sample": real_frames(model, read_sample(str(RGBD_SAMPLE)))[1]}
    if rgbd_real_root:
        evaluation["rgbd_real"] = real_frames(model, rgbd_real(rgbd_real_root))[1]
    return evaluation


def depth_evaluation(model: torch.nn.Module, seed: int, scenes: int = DEFAULT_TEST_SCENES,
                     rgbd_real_root: str | None = None) -> dict[str, dict]:
    """What a shipped depth model records: scenes test metrics with soft and hard decoding, and the
    metrics on the real frames' valid pixels (`real_depth_evaluation`)."""
    _, test_set = depth_sources("scenes", model.config.image_size, seed, 1, scenes)
    return {"scenes": score_depth(decoder(model, True), test_set),
            "scenes_hard": score_depth(decoder(model, False), test_set),
            **real_depth_evaluation(model, rgbd_real_root)}


def mean_depth_map(train_set, count: int) -> torch.Tensor:
    """(1, S, S) per-pixel mean of the valid depth of the first `count` training images: a predictor
    that ignores the image, the floor a solver has to beat."""
    total = valid = 0
    for i in range(min(count, len(train_set))):
        depth = train_set[i]["depth"]
        total, valid = total + depth * (depth > 0), valid + (depth > 0)
    return total / valid.clamp_min(1)


def run(args: argparse.Namespace) -> list[dict]:
    if args.threads:
        torch.set_num_threads(args.threads)
    rows, pictures = [], []
    sample = read_sample(args.rgbd_sample)[0] if args.rgbd_sample else None
    real = rgbd_real(args.rgbd_real) if args.rgbd_real else None
    for path in args.checkpoint:
        model, info = create_model(checkpoint=path).eval(), read_checkpoint_info(path)
        if model.task not in DEPTH_TASKS:
            raise ValueError(f"{path} is a {model.task!r} model; training.evaluate_depth scores the "
                             f"{', '.join(DEPTH_TASKS)} tasks (pose: python -m training.evaluate)")
        _, test_set = depth_sources(args.data, model.config.image_size, args.seed, 1, args.scenes)
        if model.task == "depth-tokenizer":  # stage 1: reconstruction of the test depth
            rows.append({"checkpoint": path, "mode": "tokenizer", "decoding": "hard",
                         "mask_ratio": info.get("data", {}).get("mask_ratio"), **evaluate_tokenizer(model, test_set)})
            continue
        image = test_set[0]["image"][None]
        mode = "joint, depth prompt" if is_joint(model) else "AiT-P" if model.config.parallel else "AR"
        for soft in (True, False):
            scores = (score_depth(decoder(model, soft), test_set) if is_joint(model)
                      else score_with_tokens(model, test_set, soft))
            row = {"checkpoint": path, "mode": mode, "decoding": "soft" if soft else "hard", **scores,
                   "latency_ms": latency_ms(decoder(model, soft), image, args.repeats)}
            if sample is not None and soft:
                pred, metrics = real_frame(model, sample.rgb, sample.depth)
                row["rgbd_sample_rmse"] = metrics["rmse"]
                pictures.append(colorize_depth(pred, max_depth=10.0))
            if real is not None and soft:
                row["rgbd_real"] = real_frames(model, real)[1]
            rows.append(row)
        if not is_joint(model) and not model.config.parallel:
            rows.append({"checkpoint": path, "mode": "AR, true prefix", "decoding": "soft",
                         **score_with_tokens(model, test_set, True, true_prefix=True)})
    if args.baseline_scenes:
        size = read_checkpoint_info(args.checkpoint[0])["config"]["image_size"]
        train_set, test_set = depth_sources(args.data, size, args.seed, args.baseline_scenes, args.scenes)
        mean_map = mean_depth_map(train_set, args.baseline_scenes)
        rows.append({"checkpoint": f"mean depth map of {args.baseline_scenes} training images", "mode": "baseline",
                     "decoding": "-", **score_depth(lambda images: mean_map.expand(len(images), -1, -1, -1), test_set),
                     "latency_ms": 0.0})
    tokenizers = [r for r in rows if r["mode"] == "tokenizer"]
    if tokenizers:
        print("| tokenizer | mask ratio | RMSE m (valid pixels) | hole-fill RMSE m | codes used |")
        print("|---|---|---|---|---|")
        for r in tokenizers:
            print(f"| {r['checkpoint']} | {r['mask_ratio']} | {r['rmse']:.3f} | {r.get('hole_rmse', float('nan')):.3f} "
                  f"| {r['codes_used']} |")
    print("| checkpoint | mode | decoding | RMSE m | AbsRel | d1 | hole RMSE m | tokens right | ms/image "
          "| real-frame RMSE m |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r["mode"] == "tokenizer":
            continue
        real = f"{r['rgbd_sample_rmse']:.3f}" if "rgbd_sample_rmse" in r else ""
        tokens = f"{r['token_acc']:.3f}" if "token_acc" in r else ""
        latency = f"{r['latency_ms']:.1f}" if "latency_ms" in r else ""
        print(f"| {r['checkpoint']} | {r['mode']} | {r['decoding']} | {r['rmse']:.3f} | {r['abs_rel']:.3f} "
              f"| {r['d1']:.3f} | {r.get('hole_rmse', float('nan')):.3f} | {tokens} | {latency} | {real} |")
    measured = [r for r in rows if "rgbd_real" in r]
    if measured:
        print(f"\nReal frames ({args.rgbd_real}, {measured[0]['rgbd_real']['frames']} frames, valid pixels, metres, "
              "no scale alignment; mean over frames):")
        print("| checkpoint | RMSE m | AbsRel | d1 | median-scaled: RMSE m | AbsRel | d1 |")
        print("|---|---|---|---|---|---|---|")
        for r in measured:
            m = r["rgbd_real"]
            print(f"| {r['checkpoint']} | {m['rmse']:.3f} | {m['abs_rel']:.3f} | {m['d1']:.3f} | {m['scaled_rmse']:.3f} "
                  f"| {m['scaled_abs_rel']:.3f} | {m['scaled_d1']:.3f} |")
    if args.picture and sample is not None:
        truth = colorize_depth(sample.depth, max_depth=10.0)
        cv2.imwrite(args.picture, np.concatenate([sample.rgb[..., ::-1], truth, *pictures], axis=1))
        print(f"wrote {args.picture} (RGB, sensor depth, then each checkpoint's prediction)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate_depth", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", action="append", required=True, help="an ait-depth checkpoint (repeatable)")
    p.add_argument("--data", default="scenes", help="scenes | nyu:PATH | list:TRAIN.txt,TEST.txt")
    p.add_argument("--scenes", type=positive_int, default=DEFAULT_TEST_SCENES, help="test images")
    p.add_argument("--seed", type=non_negative_int, default=1126)
    p.add_argument("--baseline-scenes", type=non_negative_int, default=0,
                   help="also score the per-pixel mean depth of this many training images (no image input)")
    p.add_argument("--repeats", type=positive_int, default=5, help="timed runs per checkpoint and decoding")
    p.add_argument("--rgbd-sample", default=None, help="folder with sample_rgb.png / sample_depth.png")
    p.add_argument("--rgbd-real", default=None,
                   help="folder of real RGB-D frames (color/N.png, depth/N.pgm in mm: shared/data/rgbd-real)")
    p.add_argument("--picture", default=None, help="write RGB | sensor depth | predictions here (PNG)")
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return run_cli(lambda: run(args), "training.evaluate_depth")


if __name__ == "__main__":
    sys.exit(main())

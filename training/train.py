"""Full-precision training of the HoT family.

    python -m training.train --model hot-mixste --data mix --data-root ../shared/data/cmu-mocap \
        --epochs 20 --batch-size 32 --lr 1e-3 --out runs/hot-mixste

Loss: weighted MPJPE + 0.5 temporal consistency + 2.0 velocity (`training.losses`); AdamW with a
per-epoch learning-rate decay; every clip also seen mirrored. Each epoch writes `OUT/last` (weights,
config, optimizer state, for --resume) and keeps the best test MPJPE in `OUT/best`.
Several processes: `torchrun --nproc_per_node N -m training.train ...` (DistributedDataParallel;
gloo on CPU, NCCL on CUDA).
"""
from __future__ import annotations

import argparse
import logging
import os
import random
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from edgetokens.checkpoint import WEIGHTS
from edgetokens.clitools import run_cli
from edgetokens.models.hot.official import load_official_weights
from edgetokens.models import create_model, get_architecture
from edgetokens.models.registry import config_fields
from training.data.clips import ClipConfig, PoseClipDataset, build_sources
from training.evaluate import evaluate_model
from training.loop import STATE, TrainingTask, fit, train_one_epoch  # noqa: F401 (re-exported for QAT)
from training.losses import hot_loss

log = logging.getLogger("training.train")


def parse_sets(pairs: list[str], model_name: str) -> dict:
    """`--set key=value` pairs -> typed overrides of the model config."""
    base = get_architecture(model_name).config
    valid = config_fields(base)
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        if key not in valid:
            raise ValueError(f"{model_name} has no setting {key!r}; valid keys: {', '.join(valid)}")
        current = getattr(base, key)
        if value.lower() in ("none", "null"):
            overrides[key] = None
        elif isinstance(current, bool):
            overrides[key] = value.lower() in ("1", "true", "yes")
        elif isinstance(current, int) or key in ("token_num", "layer_index"):
            overrides[key] = int(value)
        elif isinstance(current, float):
            overrides[key] = float(value)
        else:
            overrides[key] = value
    return overrides


def warm_start(model: torch.nn.Module, source: str) -> None:
    """Load the tensors `model` shares with the checkpoint at `source` (shapes must agree).

    This is how the HoT code treats a MixSTE checkpoint: every backbone tensor loads, and the HoT
    tensors (`pos_embed_token`, `x_token`, the recovery cross-attention) keep their initial values.
    """
    path = Path(source)
    weights = path / WEIGHTS if path.is_dir() else path
    report = load_official_weights(model, weights, strict=False)
    names = list(model.state_dict())
    if len(report.missing) == len(names):
        arch = getattr(model, "arch", type(model).__name__)
        raise ValueError(f"--init {source}: no tensor of {weights} belongs to {arch} "
                         f"(checkpoint keys such as {', '.join(report.unexpected[:5])})")
    log.info("--init %s: loaded %d of %d tensors; new: %s; not used: %s", source, len(names) - len(report.missing),
             len(names), ", ".join(report.missing) or "none", ", ".join(report.unexpected) or "none")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def distributed_setup(device: str) -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return (dist.get_rank() if world > 1 else 0), world


def training_clips(views, model: torch.nn.Module, seed: int) -> PoseClipDataset:
    """Random-offset clips plus their mirrored copies, shaped for `model`'s input."""
    cfg = model.config
    return PoseClipDataset(views, ClipConfig(frames=cfg.frames, train=True, flip=True,
                                             with_scores=cfg.in_channels == 3, seed=seed))


def pose_step(net: torch.nn.Module, batch: dict, device: torch.device, amp: bool = False) -> dict:
    """The HoT loss of one batch of clips (bf16 autocast of the forward pass when `amp`)."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        pred = net(batch["input"].to(device))
    return hot_loss(pred.float(), batch["target"].to(device))


def pose_task(args: argparse.Namespace, model: torch.nn.Module) -> TrainingTask:
    train_views = build_sources(args.data, args.data_root, seed=args.seed, split="train")
    test_views = build_sources(args.data, args.data_root, seed=args.seed, split="test")
    if args.eval_sequences:
        test_views = test_views[: args.eval_sequences]
    data_info = {"source": args.data, "root": args.data_root, "seed": args.seed,
                 "train_sequences": len(train_views), "train_frames": sum(len(v) for v in train_views),
                 "test_sequences": len(test_views)}
    return TrainingTask(training_clips(train_views, model, args.seed), pose_step,
                        lambda m: evaluate_model(m, test_views, device=next(m.parameters()).device),
                        "mpjpe_mm", data_info, unit="clip")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="architecture name (edgetokens list)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    p.add_argument("--data", default="mix", help="cmu | synthetic | mix | h36m:PATH")
    p.add_argument("--data-root", default=None, help="CMU folder holding 01/ 02/ 03/ (or $EDGETOKENS_CMU_ROOT)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=4, help="clips per step (per process)")
    p.add_argument("--lr", type=float, default=4e-5, help="AdamW learning rate (official: 4e-5 at batch 4)")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--lr-decay", type=float, default=0.99, help="learning-rate factor per epoch")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last")
    p.add_argument("--init", default=None, metavar="CHECKPOINT",
                   help="warm start: load the tensors this model shares with a checkpoint (a directory of ours "
                        "or an official .pth), e.g. a trained MixSTE into HoT-MixSTE; the rest keep their "
                        "initial values. Ignored by --resume, which continues from OUT/last")
    p.add_argument("--seed", type=int, default=1126)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--amp", choices=["none", "bf16"], default="none",
                   help="bf16 autocast for the forward pass (about 2x on CPUs with AMX; slower without)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--clips-per-epoch", type=int, default=None,
                   help="train on a fixed random subset of this many clips (quick runs); depth: N training scenes")
    p.add_argument("--eval-sequences", type=int, default=None,
                   help="score only the first N test sequences (depth: N test scenes, default 100)")
    depth = p.add_argument_group("AiT depth (training.depth)")
    depth.add_argument("--tokenizer", default=None, help="stage 2: the trained ait-depth-vqvae checkpoint")
    depth.add_argument("--mask-ratio", type=float, default=0.5,
                       help="stage 1 mask augmentation: share of 16x16 input patches zeroed (0 = off)")
    depth.add_argument("--ar-sampling", type=float, default=0.0,
                       help="ait-depth-ar: share of decoder inputs replaced by the model's own soft predictions "
                            "(scheduled sampling, two passes); 0 = plain teacher forcing")
    return p


def train(args: argparse.Namespace) -> dict:
    rank, world = distributed_setup(args.device)
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if args.device == "cuda" else args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    model = create_model(args.model, **parse_sets(args.set, args.model))
    if args.init and not args.resume:
        warm_start(model, args.init)
    if args.model.startswith("ait-depth"):
        from training.depth import depth_task

        task = depth_task(args, model)
    else:
        task = pose_task(args, model)
    return fit(args, model, task, device, rank, world)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    try:
        return run_cli(lambda: train(args), "training.train")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())

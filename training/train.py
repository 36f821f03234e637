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
import json
import logging
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm import tqdm

from edgetokens.checkpoint import load_checkpoint, save_checkpoint
from edgetokens.clitools import run_cli
from edgetokens.models import create_model, get_architecture
from edgetokens.models.registry import config_fields
from training.data.clips import ClipConfig, PoseClipDataset, build_sources
from training.evaluate import evaluate_model
from training.losses import hot_loss

log = logging.getLogger("training.train")
STATE = "training_state.pt"


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


def train_one_epoch(net: torch.nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                    device: torch.device, amp: bool = False, desc: str = "", progress: bool = True) -> dict:
    """One pass over `loader` with the HoT loss; returns the mean loss and the clip count.

    Shared by full-precision training and quantization-aware fine-tuning.
    """
    net.train()
    total, count = 0.0, 0
    bar = tqdm(total=len(loader.sampler), unit="clip", leave=False, desc=desc, disable=not progress)
    for batch in loader:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            pred = net(batch["input"].to(device))
        losses = hot_loss(pred.float(), batch["target"].to(device))
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        optimizer.step()
        n = len(batch["input"])
        total += losses["loss"].item() * n
        count += n
        bar.update(n)
        bar.set_postfix(loss=f"{total / count:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.1e}")
    bar.close()
    return {"loss": total / max(count, 1), "clips": count}


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
    p.add_argument("--seed", type=int, default=1126)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--amp", choices=["none", "bf16"], default="none",
                   help="bf16 autocast for the forward pass (about 2x on CPUs with AMX; slower without)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--clips-per-epoch", type=int, default=None,
                   help="train on a fixed random subset of this many clips (quick runs)")
    p.add_argument("--eval-sequences", type=int, default=None, help="score only the first N test sequences")
    return p


def train(args: argparse.Namespace) -> dict:
    rank, world = distributed_setup(args.device)
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if args.device == "cuda" else args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    out = Path(args.out)
    overrides = parse_sets(args.set, args.model)
    model = create_model(args.model, **overrides)

    train_views = build_sources(args.data, args.data_root, seed=args.seed, split="train")
    test_views = build_sources(args.data, args.data_root, seed=args.seed, split="test")
    dataset = training_clips(train_views, model, args.seed)
    train_set = dataset
    if args.clips_per_epoch:
        chosen = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(args.seed))
        train_set = Subset(dataset, chosen[: args.clips_per_epoch].tolist())
    if args.eval_sequences:
        test_views = test_views[: args.eval_sequences]
    sampler = DistributedSampler(train_set, world, rank, seed=args.seed) if world > 1 else None
    generator = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=sampler is None, sampler=sampler,
                        drop_last=len(train_set) > args.batch_size, generator=generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=args.lr_decay)

    start_epoch, best, history = 0, float("inf"), []
    if args.resume:
        if not (out / "last" / STATE).is_file():
            raise FileNotFoundError(f"--resume: no {out / 'last' / STATE}; train without --resume first")
        resumed, _ = load_checkpoint(out / "last")
        model.load_state_dict(resumed.state_dict())
        state = torch.load(out / "last" / STATE, map_location="cpu", weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best, history = state["epoch"] + 1, state["best_mpjpe_mm"], state["history"]
        torch.set_rng_state(state["torch_rng"])
    model.to(device)
    net = DistributedDataParallel(model) if world > 1 else model
    data_info = {"source": args.data, "root": args.data_root, "seed": args.seed,
                 "train_sequences": len(train_views), "train_frames": sum(len(v) for v in train_views),
                 "test_sequences": len(test_views), "clips_per_epoch": len(train_set)}
    if rank == 0:
        log.info("%s: %d parameters; %s", args.model, sum(p.numel() for p in model.parameters()), data_info)

    for epoch in range(start_epoch, args.epochs):
        dataset.set_epoch(epoch)
        generator.manual_seed(args.seed + epoch)  # shuffle order depends on the epoch only: --resume is exact
        if sampler is not None:
            sampler.set_epoch(epoch)
        started = time.perf_counter()
        stats = train_one_epoch(net, loader, optimizer, device, amp=args.amp == "bf16",
                                desc=f"epoch {epoch + 1}/{args.epochs}", progress=not args.no_progress and rank == 0)
        scheduler.step()
        if rank != 0:
            continue
        metrics = evaluate_model(model, test_views, device=device)
        seconds = time.perf_counter() - started
        record = {"epoch": epoch + 1, "train_loss": stats["loss"], "seconds": round(seconds, 1),
                  "clips_per_s": round(stats["clips"] * world / seconds, 1), **metrics}
        history.append(record)
        print(json.dumps(record), flush=True)
        meta = {"data": data_info, "metrics": record, "training": vars(args) | {"world_size": world}}
        if metrics["mpjpe_mm"] < best:
            best = metrics["mpjpe_mm"]
            save_checkpoint(model, out / "best", **meta)
        save_checkpoint(model, out / "last", **meta)
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "epoch": epoch,
                    "best_mpjpe_mm": best, "history": history, "torch_rng": torch.get_rng_state()},
                   out / "last" / STATE)
    if world > 1:
        dist.barrier()
    return {"model": model, "best_mpjpe_mm": best, "history": history}


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

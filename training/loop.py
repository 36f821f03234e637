"""The epoch loop every model family shares: steps, evaluation, `OUT/last` + `OUT/best`, --resume.

A family supplies a `TrainingTask`: its training set, a `step` (batch -> losses, "loss" the one to
minimise), an `evaluate` (model -> metrics) and the metric that picks `OUT/best` (lower is better).
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset
from tqdm import tqdm

from edgetokens.checkpoint import load_checkpoint, save_checkpoint

log = logging.getLogger("training")
STATE = "training_state.pt"

Step = Callable[[nn.Module, dict, torch.device, bool], dict[str, torch.Tensor]]


@dataclass
class TrainingTask:
    train_set: Dataset  # with set_epoch(epoch) when its sampling depends on the epoch
    step: Step  # (net, batch, device, amp) -> {"loss": ..., other terms}
    evaluate: Callable[[nn.Module], dict[str, float]]
    metric: str  # key of evaluate's result that chooses OUT/best; lower is better
    data_info: dict = field(default_factory=dict)
    unit: str = "clip"  # what one sample is, for the progress bar and "<unit>s_per_s"


def train_one_epoch(net: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, device: torch.device,
                    step: Step, amp: bool = False, desc: str = "", progress: bool = True,
                    unit: str = "clip") -> dict:
    """One pass over `loader`; returns the mean loss and the sample count. Also used by QAT fine-tuning."""
    net.train()
    total, count = 0.0, 0
    bar = tqdm(total=len(loader.sampler), unit=unit, leave=False, desc=desc, disable=not progress)
    for batch in loader:
        losses = step(net, batch, device, amp)
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        optimizer.step()
        n = len(next(iter(batch.values())))
        total += losses["loss"].item() * n
        count += n
        bar.update(n)
        bar.set_postfix(loss=f"{total / count:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.1e}")
    bar.close()
    return {"loss": total / max(count, 1), "samples": count}


def fit(args: argparse.Namespace, model: nn.Module, task: TrainingTask, device: torch.device,
        rank: int = 0, world: int = 1) -> dict:
    """Train `model` for `args.epochs` (AdamW, per-epoch decay) with checkpoints each epoch.

    Uses args: epochs, batch_size, lr, weight_decay, lr_decay, out, resume, seed, clips_per_epoch,
    amp, no_progress (and everything in `vars(args)` is recorded in the checkpoint).
    """
    out = Path(args.out)
    dataset = task.train_set
    train_set = dataset
    if args.clips_per_epoch:
        chosen = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(args.seed))
        train_set = Subset(dataset, chosen[: args.clips_per_epoch].tolist())
    sampler = DistributedSampler(train_set, world, rank, seed=args.seed) if world > 1 else None
    generator = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=sampler is None, sampler=sampler,
                        drop_last=len(train_set) > args.batch_size, generator=generator)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr,
                                  weight_decay=args.weight_decay)
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
        best = state.get("best", state.get("best_mpjpe_mm"))  # runs from before `best` was generic
        start_epoch, history = state["epoch"] + 1, state["history"]
        torch.set_rng_state(state["torch_rng"])
    model.to(device)
    net = DistributedDataParallel(model) if world > 1 else model
    data_info = {**task.data_info, f"{task.unit}s_per_epoch": len(train_set)}
    if rank == 0:
        log.info("%s: %d parameters; %s", args.model, sum(p.numel() for p in model.parameters()), data_info)

    for epoch in range(start_epoch, args.epochs):
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        generator.manual_seed(args.seed + epoch)  # shuffle order depends on the epoch only: --resume is exact
        if sampler is not None:
            sampler.set_epoch(epoch)
        started = time.perf_counter()
        stats = train_one_epoch(net, loader, optimizer, device, task.step, amp=args.amp == "bf16",
                                desc=f"epoch {epoch + 1}/{args.epochs}", progress=not args.no_progress and rank == 0,
                                unit=task.unit)
        scheduler.step()
        if rank != 0:
            continue
        metrics = task.evaluate(model)
        seconds = time.perf_counter() - started
        record = {"epoch": epoch + 1, "train_loss": stats["loss"], "seconds": round(seconds, 1),
                  f"{task.unit}s_per_s": round(stats["samples"] * world / seconds, 1), **metrics}
        history.append(record)
        print(json.dumps(record), flush=True)
        meta = {"data": data_info, "metrics": record, "training": vars(args) | {"world_size": world}}
        if metrics[task.metric] < best:
            best = metrics[task.metric]
            save_checkpoint(model, out / "best", **meta)
        save_checkpoint(model, out / "last", **meta)
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "epoch": epoch,
                    "best": best, "metric": task.metric, "history": history, "torch_rng": torch.get_rng_state()},
                   out / "last" / STATE)
    if world > 1:
        dist.barrier()
    return {"model": model, "best": best, "metric": task.metric, "history": history}

"""The epoch loop every task shares: steps, evaluation, checkpoints, --resume.

`fit(config, model)` trains any registered model: its task (`edgetokens.tasks.get_task(model.task)`)
supplies the data, the train step, the metrics and the metric that picks `OUT/best` (lower is
better). Checkpoints go to a `RunDirectory` (`OUT/last` every epoch, with the optimizer state for
--resume, and `OUT/best`) unless the caller brings its own store (QAT keeps `OUT.qat/`).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Protocol

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Subset
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from edgetokens.checkpoint import WEIGHTS, read_checkpoint_info, save_checkpoint
from edgetokens.models.hot.official import damaged, read_state_dict
from edgetokens.tasks import get_task
from training.config import RunConfig
from training.tasks import Step, TaskData

log = logging.getLogger("training")
STATE = "training_state.pt"
RUN_CHECKPOINTS = ("best", "last")


class CheckpointStore(Protocol):
    """Where `fit` keeps a run: `restore` (for --resume) and `save` (after every epoch)."""

    def restore(self, model: nn.Module) -> dict:
        """The training state saved with the last checkpoint ("epoch", "history", and "optimizer",
        "scheduler", "torch_rng", "best" where known), its weights loaded into `model`."""

    def save(self, model: nn.Module, meta: dict, state: dict, improved: bool) -> None:
        """Store `model` with `meta` (config.json) and `state` (optimizer etc.); `improved`: a new best."""


class RunDirectory:
    """`OUT/last` (every epoch, with `training_state.pt`) and `OUT/best` (the lowest best metric).

    An OUT that already has either is refused unless `resume` (continue from OUT/last) or
    `overwrite` (train again from scratch, replacing both at the first epoch).
    """

    def __init__(self, out: str | Path, resume: bool = False, overwrite: bool = False):
        self.out = Path(out)
        existing = [name for name in RUN_CHECKPOINTS if (self.out / name).exists()]
        if existing and not (resume or overwrite):
            raise FileExistsError(f"{self.out} already holds {' and '.join(f'{n}/' for n in existing)} of a run; "
                                  "pass --resume to continue it or --overwrite to replace it")
        if resume and not (self.out / "last" / STATE).is_file():
            raise FileNotFoundError(f"--resume: no {self.out / 'last' / STATE}; train without --resume first")

    def restore(self, model: nn.Module) -> dict:
        last = self.out / "last"
        arch = read_checkpoint_info(last)["arch"]
        if arch != model.arch:
            raise ValueError(f"--resume: {last} is a {arch!r} run, not {model.arch!r}")
        model.load_state_dict(read_state_dict(last / WEIGHTS))  # a damaged file says so
        try:
            return torch.load(last / STATE, map_location="cpu", weights_only=True)
        except Exception as err:  # truncated or foreign: the run cannot resume from it
            raise damaged(last / STATE, err) from err

    def save(self, model: nn.Module, meta: dict, state: dict, improved: bool) -> None:
        if improved:
            save_checkpoint(model, self.out / "best", **meta)
        save_checkpoint(model, self.out / "last", **meta)
        torch.save(state, self.out / "last" / STATE)


def train_one_epoch(net: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, device: torch.device,
                    step: Step, amp: bool = False, desc: str = "", progress: bool = True,
                    unit: str = "clip") -> dict:
    """One pass over `loader`; returns the mean loss and the sample count."""
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


def fit(config: RunConfig, model: nn.Module, data: TaskData | None = None, device: torch.device | None = None,
        rank: int = 0, world: int = 1, store: CheckpointStore | None = None) -> dict:
    """Train `model` for `config.epochs` (AdamW, per-epoch decay), scoring and checkpointing each epoch.

    `data`: the task's data (built from `config.data` when not given); `store`: where checkpoints go
    (default `RunDirectory(config.out)`). With `config.resume` the store's last state is restored
    first (weights, optimizer, scheduler, epoch, history, RNG), so a resumed run ends with the weights
    of an uninterrupted one. Returns {"model", "best", "metric", "history"}.
    """
    task = get_task(model.task)
    device = device or torch.device(config.device)
    if config.freeze:
        if not hasattr(model, "freeze_parts"):
            raise ValueError(f"--freeze {' '.join(config.freeze)}: {config.model} has no parts to freeze "
                             "(AiT models do)")
        model.freeze_parts(config.freeze)
    store = store or RunDirectory(config.out, config.resume, config.overwrite)
    data = data or task.load("data")(config.data, model)
    step = task.load("train_step")(config, model)
    evaluate = task.load("metrics")
    seed = config.seed
    dataset = train_set = data.train
    if config.data.train_count:
        chosen = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
        train_set = Subset(dataset, chosen[: config.data.train_count].tolist())
    sampler = DistributedSampler(train_set, world, rank, seed=seed) if world > 1 else None
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler,
                        drop_last=len(train_set) > config.batch_size, generator=generator)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_decay)

    start_epoch, best, history = 0, float("inf"), []
    if config.resume:
        state = store.restore(model)
        if tuple(state.get("frozen", ())) != config.freeze:
            raise ValueError(f"--resume: {config.out} was trained with --freeze "
                             f"{' '.join(state.get('frozen', ())) or '(none)'}; resume it with the same --freeze")
        if "optimizer" in state:  # a store may know only the epoch (QAT states from before this loop)
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["torch_rng"])
        best = state.get("best", state.get("best_mpjpe_mm", best))  # runs from before `best` was generic
        start_epoch, history = state["epoch"] + 1, state["history"]
    model.to(device)
    net = DistributedDataParallel(model) if world > 1 else model
    data_info = {**data.info, **getattr(step, "info", {}), f"{data.unit}s_per_epoch": len(train_set)}
    if rank == 0:
        log.info("%s: %d parameters; %s", config.model, sum(p.numel() for p in model.parameters()), data_info)

    for epoch in range(start_epoch, config.epochs):
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        generator.manual_seed(seed + epoch)  # shuffle order depends on the epoch only: --resume is exact
        if sampler is not None:
            sampler.set_epoch(epoch)
        started = time.perf_counter()
        stats = train_one_epoch(net, loader, optimizer, device, step, amp=config.amp == "bf16",
                                desc=f"epoch {epoch + 1}/{config.epochs}", progress=config.progress and rank == 0,
                                unit=data.unit)
        scheduler.step()
        if rank != 0:
            continue
        metrics = evaluate(None, data.test, model)
        seconds = time.perf_counter() - started
        record = {"epoch": epoch + 1, "train_loss": stats["loss"], "seconds": round(seconds, 1),
                  f"{data.unit}s_per_s": round(stats["samples"] * world / seconds, 1), **metrics}
        history.append(record)
        print(json.dumps(record), flush=True)
        meta = {"data": data_info, "metrics": record, "training": config.record() | {"world_size": world}}
        improved = metrics[task.best_metric] < best
        best = min(best, metrics[task.best_metric])
        store.save(model, meta, {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                 "epoch": epoch, "best": best, "metric": task.best_metric, "history": history,
                                 "torch_rng": torch.get_rng_state(), "frozen": list(config.freeze)}, improved)
    if world > 1:
        dist.barrier()
    return {"model": model, "best": best, "metric": task.best_metric, "history": history}


def call_model(net: nn.Module, compute, *args):
    """`compute(model, *args)` on the bare model; when `net` is a `DistributedDataParallel` wrapper, run
    as the wrapper's forward (its module's `forward` swapped for `compute` for the call), so that DDP
    broadcasts buffers before and prepares the gradient all-reduce after, as for `net(*args)` (the swap
    is undone as the call starts, so `compute` may use the module's own forward). AiT's
    training steps need several of the model's methods (`memory`, `instance_logits`, `tokenize`...),
    not its `forward` (the exported depth graph); calling them on `net.module` alone would leave the
    gradients of each process unsynchronised."""
    if not isinstance(net, nn.parallel.DistributedDataParallel):
        return compute(net, *args)
    module = net.module

    def forward(*inputs):
        del module.forward  # at once: `compute` may call the module's own forward
        return compute(module, *inputs)

    module.forward = forward
    try:
        return net(*args)
    finally:
        module.__dict__.pop("forward", None)


def through_ddp(step):
    """A train step written against the bare model -> one that also runs under DistributedDataParallel."""
    def wrapped(net: nn.Module, batch: dict, device: torch.device, amp: bool = False) -> dict:
        return call_model(net, lambda model, b: step(model, b, device, amp), batch)

    return wrapped

"""Full-precision training of any registered model: the HoT lifters and both AiT depth stages.

    python -m training.train --model hot-mixste --data mix --data-root ../shared/data/cmu-mocap \
        --epochs 20 --batch-size 32 --lr 1e-3 --out runs/hot-mixste

`--data real --input-layout mixed` trains a lifter on all real motion (CMU ASF/AMC subjects 01-02,
cmu-positions train/, plus synthetic) with views in the H36M, COCO and BlazePose-style 2D layouts
(`training.data.layouts`); the model config records the layouts (`input_layouts`), and --resume keeps
the run's layout.

The model's task (`edgetokens.tasks`, `training.tasks`) supplies the data, the loss and the metrics
(pose: weighted MPJPE + 0.5 temporal consistency + 2.0 velocity, every clip also seen mirrored;
depth: `training.depth`). AdamW with a per-epoch learning-rate decay. Each epoch writes `OUT/last`
(weights, config, optimizer state, for --resume) and keeps the best test metric (pose: MPJPE, depth:
RMSE) in `OUT/best`; an OUT that has either is refused without --resume or --overwrite.
Several processes: `torchrun --nproc_per_node N -m training.train ...` (DistributedDataParallel;
gloo on CPU, NCCL on CUDA).
"""
from __future__ import annotations

import argparse
import logging
import os
import random
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from edgetokens.checkpoint import WEIGHTS, read_checkpoint_info
from edgetokens.clitools import (
    check_output,
    float_in,
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    run_cli,
)
from edgetokens.models import create_model
from edgetokens.models.ait.model import FREEZABLE
from edgetokens.models.hot.official import load_official_weights, read_state_dict
from edgetokens.tasks import get_task
from training.config import RunConfig, parse_sets  # noqa: F401 (parse_sets: also for compression.shape_sweep)
from training.data.clips import build_sources  # noqa: F401 (re-exported for tests and scripts)
from training.data.layouts import INPUT_LAYOUTS
from training.loop import STATE, RunDirectory, fit, train_one_epoch  # noqa: F401 (re-exported)

log = logging.getLogger("training.train")


def warm_start(model: torch.nn.Module, source: str) -> None:
    """Load the tensors `model` shares with the checkpoint at `source` (shapes must agree).

    This is how the HoT code treats a MixSTE checkpoint: every backbone tensor loads, and the HoT
    tensors (`pos_embed_token`, `x_token`, the recovery cross-attention) keep their initial values.
    """
    path = Path(source)
    weights = path / WEIGHTS if path.is_dir() else path
    state = read_state_dict(weights)
    if path.is_dir() and hasattr(model, "warm_start_state"):  # e.g. a depth model into the joint AiT
        carried = model.warm_start_state(state, read_checkpoint_info(path)["config"])
        log.info("--init %s: tokens of %s carried into this model's vocabulary", source, ", ".join(carried) or "no task")
    report = load_official_weights(model, state, strict=False)
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="architecture name (edgetokens list)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field of the model's config, parsed with the field's type: frames=27, "
                        "backbone_widths=16,32,64,128,256, none for an optional field; the AiT tokenizer's fields are "
                        "vq_downsample, vq_hidden_dim, vq_num_codes, vq_code_dim, vq_num_res_blocks, vq_decay, "
                        "vq_eps, vq_commitment in both stages (ait-depth-vqvae and ait-depth*)")
    p.add_argument("--data", default="mix", help="pose: cmu | cmu-positions | synthetic | mix | real (cmu + "
                   "cmu-positions + synthetic; tests on CMU 03 + cmu-positions test/) | h36m:PATH | bvh:FOLDER; "
                   "depth: scenes (also for the default mix) | nyu:PATH | list:TRAIN.txt,TEST.txt")
    p.add_argument("--data-root", default=None, help="CMU folder holding 01/ 02/ 03/ (or $EDGETOKENS_CMU_ROOT); "
                   "for --data cmu-positions, the cmu-positions folder")
    p.add_argument("--positions-root", default=None,
                   help="cmu-positions folder holding train/ test/ (default: $EDGETOKENS_CMU_POSITIONS_ROOT, else "
                        "the cmu-positions folder beside --data-root)")
    p.add_argument("--input-layout", choices=INPUT_LAYOUTS, default=None,
                   help="pose: the 2D layout the views are drawn in: h36m (the H36M joints projected), coco (COCO-17 "
                        "keypoints mapped to H36M as the Predictor maps them), blazepose (COCO-style with BlazePose's "
                        "hips and gaps) or mixed (each view one of the three); default h36m, or the run's own with "
                        "--resume")
    p.add_argument("--epochs", type=positive_int, default=20)
    p.add_argument("--batch-size", type=positive_int, default=4, help="clips per step (per process)")
    p.add_argument("--lr", type=positive_float, default=4e-5, help="AdamW learning rate (official: 4e-5 at batch 4)")
    p.add_argument("--weight-decay", type=non_negative_float, default=0.1)
    p.add_argument("--lr-decay", type=positive_float, default=0.99, help="learning-rate factor per epoch")
    p.add_argument("--out", required=True, help="output directory (OUT/last, OUT/best)")
    run = p.add_mutually_exclusive_group()
    run.add_argument("--resume", action="store_true", help="continue from OUT/last")
    run.add_argument("--overwrite", action="store_true",
                     help="train from scratch into an OUT that already has best/ or last/, replacing them")
    p.add_argument("--init", default=None, metavar="CHECKPOINT",
                   help="warm start: load the tensors this model shares with a checkpoint (a directory of ours "
                        "or an official .pth), e.g. a trained MixSTE into HoT-MixSTE, or a depth model into the "
                        "joint ait (its depth tokens move to the joint vocabulary); the rest keep their "
                        "initial values. Ignored by --resume, which continues from OUT/last")
    p.add_argument("--seed", type=non_negative_int, default=1126)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument("--freeze", action="append", default=[], choices=FREEZABLE,
                   help="keep this part of an AiT model fixed (no gradients; BatchNorm statistics kept), e.g. the "
                        "ImageNet backbone; repeatable")
    p.add_argument("--amp", choices=["none", "bf16"], default="none",
                   help="bf16 autocast for the forward pass (about 2x on CPUs with AMX; slower without)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--clips-per-epoch", type=positive_int, default=None,
                   help="train on a fixed random subset of this many clips (quick runs); depth: N training scenes")
    p.add_argument("--eval-sequences", type=positive_int, default=None,
                   help="score only the first N test sequences (depth: N test scenes, default 100)")
    depth = p.add_argument_group("AiT depth (training.tasks.depth)")
    depth.add_argument("--tokenizer", default=None, help="stage 2: the trained tokenizer checkpoint(s), comma-separated: ait-depth-vqvae "
                       "for depth, ait-mask-vqvae for instances, both for ait (or models that hold them)")
    depth.add_argument("--mask-ratio", type=float_in(0.0, 1.0, high_open=True), default=0.5,
                       help="stage 1 mask augmentation: share of 16x16 input patches zeroed (0 = off)")
    depth.add_argument("--ar-sampling", type=fraction, default=0.0,
                       help="ait-depth-ar: share of decoder inputs replaced by the model's own soft predictions "
                            "(scheduled sampling, two passes); 0 = plain teacher forcing")
    return p


def recorded_input_layout(out: str | Path) -> str:
    """The input layout the run in `out` trained with (runs from before the option: h36m)."""
    data = read_checkpoint_info(Path(out) / "last").get("training", {}).get("data", {})
    return data.get("input_layout", "h36m")


def keep_input_layout(config: RunConfig, given: bool) -> RunConfig:
    """--resume: continue with the run's input layout; one `given` on the command line must agree."""
    if not config.resume:
        return config
    recorded = recorded_input_layout(config.out)
    if given and recorded != config.data.input_layout:
        raise ValueError(f"--resume: {Path(config.out) / 'last'} trained with --input-layout {recorded}, not "
                         f"{config.data.input_layout}; drop --input-layout or train a new run")
    return replace(config, data=replace(config.data, input_layout=recorded))


def train(run: RunConfig | argparse.Namespace) -> dict:
    """Train the run `run` describes (a `RunConfig`, or parsed `build_parser()` arguments)."""
    given = run.data.input_layout != "h36m" if isinstance(run, RunConfig) else run.input_layout is not None
    config = run if isinstance(run, RunConfig) else RunConfig.from_args(run)
    # never train into the checkpoint it starts from; RunDirectory decides about an existing OUT
    check_output(config.out, (config.init, config.tokenizer), overwrite=True, directory=True)
    store = RunDirectory(config.out, config.resume, config.overwrite)  # refuses before any work
    config = keep_input_layout(config, given)
    rank, world = distributed_setup(config.device)
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if config.device == "cuda" else config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    model = create_model(config.model, **config.model_overrides())  # records the input layouts it trains on
    if config.init and not config.resume:
        warm_start(model, config.init)
    data = get_task(model.task).load("data")(config.data, model)
    return fit(config, model, data, device, rank, world, store)


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

"""Quantization-aware training (QAT) of the HoT family with NNCF, to INT8 bundles.

    python -m compression.qat --checkpoint runs/hot-mixste/best --data mix \
        --data-root ../shared/data/cmu-mocap --epochs 2 --out bundles/hot-mixste-int8

1. `nncf.quantize` on the torch model initialises the fake-quantizers from calibration clips (PTQ);
2. fine-tuning with the training loop of `training.train` (`training.loop.fit`, the task's loss) at a
   low constant learning rate, stochastic depth off;
3. export: the FP32/FP16 artifacts of the float model plus INT8 OpenVINO IR and INT8 QDQ ONNX, each
   scored on the test split, in one bundle.
A QAT checkpoint (weights + `nncf.torch.get_config`, never pickled modules, and the optimizer state)
is kept in `OUT.qat/` after every epoch; `--resume` continues from it.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path

import nncf
import torch
from torch import nn

from compression.bundle import build_bundle
from compression.calibration import add_layout_arguments, check_calibration_count, data_layout
from edgetokens.atomic import atomic_directory
from edgetokens.checkpoint import INT8_STATE, NNCF_CONFIG, WEIGHTS, read_checkpoint_info, save_checkpoint
from edgetokens.clitools import check_output, non_negative_int, positive_float, positive_int, run_cli
from edgetokens.models import create_model, get_architecture
from edgetokens.models.hot.layers import DropPath, SeparateQKV, separate_qkv
from edgetokens.models.hot.official import read_state_dict
from edgetokens.tasks import TASKS, get_task
from edgetokens.zoo import pretrained_dir
from training.config import DataConfig, RunConfig
from training.loop import STATE, fit

from .scopes import DEFAULT_KEEP_FLOAT, KEEP_FLOAT_PARTS, ignored_scope, parse_keep_float

log = logging.getLogger("compression.qat")


def without_stochastic_depth(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if isinstance(module, DropPath):
            module.rate = 0.0
    return model


def quantize_torch(model: nn.Module, clips: list, keep_float: tuple[str, ...] = DEFAULT_KEEP_FLOAT) -> nn.Module:
    """NNCF PTQ of the torch model: the QAT starting point (fake-quantizers with calibrated ranges).

    Quantizes the `separate_qkv` form, so the INT8 graphs exported from it have the faster attention
    layout of the FP32 ones (`SeparateQKV`); per-channel weight scales make it the same quantization.
    """
    model = separate_qkv(without_stochastic_depth(model.eval().cpu()))
    dataset = nncf.Dataset([torch.from_numpy(c) for c in clips])
    return nncf.quantize(model, dataset, model_type=nncf.ModelType.TRANSFORMER, subset_size=len(clips),
                         ignored_scope=ignored_scope(keep_float, model=model))


def save_qat_checkpoint(quantized: nn.Module, directory: str | Path, **metadata) -> Path:
    separated = any(isinstance(m, SeparateQKV) for m in quantized.modules())
    directory = save_checkpoint(quantized, directory, separate_qkv=separated, **metadata)
    (directory / NNCF_CONFIG).write_text(json.dumps(nncf.torch.get_config(quantized), indent=1))
    return directory


def load_qat_checkpoint(directory: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild the quantized model from its architecture, NNCF config and weights (no pickles)."""

    directory = Path(directory)
    info = read_checkpoint_info(directory)
    config_path = directory / NNCF_CONFIG
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} not found: not a QAT checkpoint (expected {NNCF_CONFIG})")
    config = get_architecture(info["arch"]).model_class.upgrade_saved_config(dict(info["config"]))
    model = without_stochastic_depth(create_model(info["arch"], **config))
    if info.get("separate_qkv"):  # states saved before it have the fused qkv
        model = separate_qkv(model)
    try:
        quantized = nncf.torch.load_from_config(model, json.loads(config_path.read_text()))
        quantized.load_state_dict(read_state_dict(directory / WEIGHTS))  # a damaged file says so
    except (KeyError, TypeError, AttributeError, ValueError, RuntimeError) as err:  # NNCF refuses the state
        raise ValueError(f"{config_path}: NNCF could not rebuild the quantized model from this QAT state "
                         f"({type(err).__name__}: {' '.join(str(err).split())[:200]}); it is damaged or from "
                         f"another model: run again without --resume, or delete {directory}") from err
    return quantized, info


class QATCheckpoint:
    """`OUT.qat/`, the checkpoint store of QAT fine-tuning (`training.loop.fit`): after every epoch the
    quantized model (weights + NNCF config, `save_qat_checkpoint`), the accuracy table so far and the
    training state for --resume."""

    def __init__(self, directory: Path, table: dict, keep_float: tuple[str, ...], source: Path):
        self.directory, self.table, self.keep_float, self.source = Path(directory), table, keep_float, source

    def restore(self, model: nn.Module) -> dict:
        """The training state; the quantized model itself was rebuilt from this checkpoint
        (`load_qat_checkpoint`) before fine-tuning resumes."""
        if (self.directory / STATE).is_file():
            return torch.load(self.directory / STATE, map_location="cpu", weights_only=True)
        # states from before QAT used the shared loop: the epoch only (a fresh optimizer)
        return {"epoch": read_checkpoint_info(self.directory)["qat"]["epoch"] - 1, "history": []}

    def save(self, model: nn.Module, meta: dict, state: dict | None = None, improved: bool = True) -> None:
        record = meta["metrics"]
        self.table["qat"] = record
        save_qat_checkpoint(model, self.directory, qat={"epoch": record["epoch"], "table": self.table,
                                                        "keep_float": self.keep_float, "source": str(self.source)})
        if state is not None:
            torch.save(state, self.directory / STATE)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m compression.qat", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="our checkpoint directory (model.safetensors + config.json)")
    src.add_argument("--model", help="a shipped default (edgetokens/weights/NAME)")
    p.add_argument("--data", default="mix", help="cmu | cmu-positions | synthetic | mix | real | h36m:PATH | bvh:FOLDER (calibration, fine-tuning, test)")
    p.add_argument("--data-root", default=None, help="CMU folder holding 01/ 02/ 03/ (or $EDGETOKENS_CMU_ROOT)")
    p.add_argument("--epochs", type=non_negative_int, default=2,
                   help="QAT fine-tuning epochs (0 = PTQ initialisation only)")
    p.add_argument("--lr", type=positive_float, default=1e-5)
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--clips-per-epoch", type=positive_int, default=None)
    p.add_argument("--calibration-clips", type=positive_int, default=300)
    p.add_argument("--keep-float", default=",".join(DEFAULT_KEEP_FLOAT),
                   help=f"parts kept in float: comma list of {', '.join(KEEP_FLOAT_PARTS)} (or 'none')")
    p.add_argument("--eval-sequences", type=positive_int, default=None, help="score only the first N test sequences")
    p.add_argument("--seed", type=non_negative_int, default=1126)
    add_layout_arguments(p)
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument("--out", required=True, help="bundle directory to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle (never the checkpoint)")
    p.add_argument("--resume", action="store_true", help="continue from the QAT checkpoint OUT.qat/")
    p.add_argument("--publish", action="store_true",
                   help="also store the QAT state in the source checkpoint (<checkpoint>/int8/), where "
                        "Predictor(precision='int8') builds its INT8 artifacts from; with --model: the shipped default")
    return p


def run(args: argparse.Namespace) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    source = Path(args.checkpoint) if args.checkpoint else pretrained_dir(args.model)
    # the output policy before any work: never over the source checkpoint; an existing --out only with --overwrite
    out = check_output(args.out, [source], args.overwrite, directory=True)
    check_output(out.with_name(out.name + ".qat"), [source], overwrite=True, flag="--out (its .qat state)",
                 directory=True)
    model, info = create_model(checkpoint=source), read_checkpoint_info(source)
    task = get_task(model.task)
    if not task.quantization_aware:
        qat_tasks = ", ".join(t.name for t in TASKS.values() if t.quantization_aware)
        raise ValueError(f"{source} is a {task.name!r} model; compression.qat fine-tunes {qat_tasks} "
                         "models (quantize other bundles with python -m compression.ptq)")
    keep_float = parse_keep_float(args.keep_float, model)
    # the same run settings as `training.train`: QAT fine-tunes with its loop, at a constant learning rate
    config = RunConfig(model=model.arch, out=str(out.with_name(out.name + ".qat")), epochs=args.epochs,
                       batch_size=args.batch_size, lr=args.lr, weight_decay=0.0, lr_decay=1.0, resume=args.resume,
                       data=DataConfig(source=args.data, root=args.data_root, seed=args.seed,
                                       train_count=args.clips_per_epoch, test_count=args.eval_sequences,
                                       positions_root=args.positions_root,
                                       input_layout=data_layout(args.input_layout, model)),
                       threads=args.threads)
    data = task.load("data")(config.data, model)
    metrics = task.load("metrics")
    table = {"fp32": metrics(None, data.test, model)}
    qat_dir = Path(config.out)
    if args.resume:
        quantized, qinfo = load_qat_checkpoint(qat_dir)
        table.update(qinfo["qat"]["table"])
    else:
        check_calibration_count(args.calibration_clips)
        clips = data.calibration(args.calibration_clips, args.seed)
        quantized = quantize_torch(create_model(checkpoint=source), clips, keep_float)
        table["ptq_init"] = metrics(None, data.test, quantized)
    store = QATCheckpoint(qat_dir, table, keep_float, source)
    history = fit(config, quantized, data, store=store)["history"]
    if not history and "qat" not in table:  # --epochs 0: the PTQ initialisation is the result
        store.save(quantized, {"metrics": {"epoch": 0, **table["ptq_init"]}})
    build_bundle(model, out, int8_model=quantized, overwrite=args.overwrite, accuracy_views=data.test,
                 source={"checkpoint": str(source), "metrics": info.get("metrics"),
                         "quantization": {"method": "nncf-qat", "epochs": args.epochs, "lr": args.lr,
                                          "keep_float": list(keep_float), "table": table}})
    if args.publish:
        publish_state(qat_dir, source / INT8_STATE)
    print_table(table)
    return table


def publish_state(qat_dir: Path, target: Path) -> None:
    """Copy the QAT checkpoint (not its training state) to `target`, replacing what was there atomically."""
    with atomic_directory(target, exist="replace") as tmp:
        for path in qat_dir.iterdir():
            if path.is_file() and path.name != STATE:
                shutil.copy2(path, tmp / path.name)
    log.info("QAT state published to %s", target)


def print_table(table: dict) -> None:
    print(f"{'':<12}{'MPJPE mm':>10}{'P-MPJPE mm':>12}")
    for name in ("fp32", "ptq_init", "qat"):
        if name in table:
            print(f"{name:<12}{table[name]['mpjpe_mm']:>10.2f}{table[name]['p_mpjpe_mm']:>12.2f}")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    return run_cli(lambda: run(args), "compression.qat")


if __name__ == "__main__":
    sys.exit(main())

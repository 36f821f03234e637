"""Quantization-aware training (QAT) of the HoT family with NNCF, to INT8 bundles.

    python -m compression.qat --checkpoint runs/hot-mixste/best --data mix \
        --data-root ../shared/data/cmu-mocap --epochs 2 --out bundles/hot-mixste-int8

1. `nncf.quantize` on the torch model initialises the fake-quantizers from calibration clips (PTQ);
2. fine-tuning with the training loss at a low learning rate, stochastic depth off;
3. export: the FP32/FP16 artifacts of the float model plus INT8 OpenVINO IR and INT8 QDQ ONNX, each
   scored on the test split, in one bundle.
A QAT checkpoint (weights + `nncf.torch.get_config`, never pickled modules) is kept in `OUT.qat/`
after every epoch; `--resume` continues from it.
"""
from __future__ import annotations

import os

# NNCF compiles a small C++ extension on first use; on 2 busy cores that exceeds its 60 s default.
os.environ.setdefault("NNCF_EXTENSION_LOAD_TIMEOUT", "0")

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from edgetokens.clitools import run_cli  # noqa: E402

import nncf  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, Subset  # noqa: E402

from edgetokens.checkpoint import NNCF_CONFIG, WEIGHTS, load_checkpoint, read_checkpoint_info, save_checkpoint  # noqa: E402
from edgetokens.models import create_model  # noqa: E402
from edgetokens.models.hot.layers import DropPath, SeparateQKV, separate_qkv  # noqa: E402
from edgetokens.resolve import INT8_STATE  # noqa: E402

from .scopes import DEFAULT_KEEP_FLOAT, KEEP_FLOAT_PARTS, ignored_scope, parse_keep_float  # noqa: E402

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
                         ignored_scope=ignored_scope(keep_float))


def save_qat_checkpoint(quantized: nn.Module, directory: str | Path, **metadata) -> Path:
    separated = any(isinstance(m, SeparateQKV) for m in quantized.modules())
    directory = save_checkpoint(quantized, directory, separate_qkv=separated, **metadata)
    (directory / NNCF_CONFIG).write_text(json.dumps(nncf.torch.get_config(quantized), indent=1))
    return directory


def load_qat_checkpoint(directory: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild the quantized model from its architecture, NNCF config and weights (no pickles)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    info = read_checkpoint_info(directory)
    config_path = directory / NNCF_CONFIG
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} not found: not a QAT checkpoint (expected {NNCF_CONFIG})")
    model = without_stochastic_depth(create_model(info["arch"], **info["config"]))
    if info.get("separate_qkv"):  # states saved before it have the fused qkv
        model = separate_qkv(model)
    quantized = nncf.torch.load_from_config(model, json.loads(config_path.read_text()))
    quantized.load_state_dict(load_file(str(directory / WEIGHTS)))
    return quantized, info


def finetune(quantized: nn.Module, views, epochs: int, lr: float, batch_size: int, seed: int,
             clips_per_epoch: int | None, evaluate, start_epoch: int = 0, on_epoch=None) -> list[dict]:
    """QAT fine-tuning with the training loop of `training.train`; returns per-epoch records."""
    from training.train import pose_step, train_one_epoch, training_clips

    dataset = training_clips(views, quantized, seed)
    subset = dataset
    if clips_per_epoch:
        chosen = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
        subset = Subset(dataset, chosen[:clips_per_epoch].tolist())
    loader = DataLoader(subset, batch_size=batch_size, shuffle=True, drop_last=len(subset) > batch_size,
                        generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.AdamW(quantized.parameters(), lr=lr, weight_decay=0.0)
    history = []
    for epoch in range(start_epoch, epochs):
        dataset.set_epoch(epoch)
        stats = train_one_epoch(quantized, loader, optimizer, torch.device("cpu"), pose_step,
                                desc=f"QAT {epoch + 1}/{epochs}")
        record = {"epoch": epoch + 1, "train_loss": stats["loss"], **evaluate(quantized)}
        log.info("QAT epoch %d: %s", epoch + 1, json.dumps(record))
        history.append(record)
        if on_epoch:
            on_epoch(quantized, record)
    return history


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m compression.qat", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="our checkpoint directory (model.safetensors + config.json)")
    src.add_argument("--model", help="a shipped default (edgetokens/weights/NAME)")
    p.add_argument("--data", default="mix", help="cmu | synthetic | mix | h36m:PATH (calibration, fine-tuning, test)")
    p.add_argument("--data-root", default=None, help="CMU folder holding 01/ 02/ 03/ (or $EDGETOKENS_CMU_ROOT)")
    p.add_argument("--epochs", type=int, default=2, help="QAT fine-tuning epochs (0 = PTQ initialisation only)")
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--clips-per-epoch", type=int, default=None)
    p.add_argument("--calibration-clips", type=int, default=300)
    p.add_argument("--keep-float", default=",".join(DEFAULT_KEEP_FLOAT),
                   help=f"parts kept in float: comma list of {', '.join(KEEP_FLOAT_PARTS)} (or 'none')")
    p.add_argument("--eval-sequences", type=int, default=None, help="score only the first N test sequences")
    p.add_argument("--seed", type=int, default=1126)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", required=True, help="bundle directory to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle")
    p.add_argument("--resume", action="store_true", help="continue from the QAT checkpoint OUT.qat/")
    p.add_argument("--publish", action="store_true",
                   help="also store the QAT state in the source checkpoint (<checkpoint>/int8/), where "
                        "Predictor(precision='int8') builds its INT8 artifacts from; with --model: the shipped default")
    return p


def run(args: argparse.Namespace) -> dict:
    from compression.bundle import build_bundle
    from compression.calibration import calibration_clips
    from edgetokens.zoo import pretrained_dir
    from training.data.clips import build_sources
    from training.evaluate import evaluate_model

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} already exists; pass --overwrite to replace it")
    source = Path(args.checkpoint) if args.checkpoint else pretrained_dir(args.model)
    model, info = load_checkpoint(source)
    keep_float = parse_keep_float(args.keep_float)
    train_views = build_sources(args.data, args.data_root, seed=args.seed, split="train")
    test_views = build_sources(args.data, args.data_root, seed=args.seed, split="test")[: args.eval_sequences]

    def evaluate(m):
        return evaluate_model(m, test_views)

    table = {"fp32": evaluate(model)}
    qat_dir = out.with_name(out.name + ".qat")
    start_epoch = 0
    if args.resume:
        quantized, qinfo = load_qat_checkpoint(qat_dir)
        start_epoch = qinfo["qat"]["epoch"]
        table.update(qinfo["qat"]["table"])
    else:
        clips = calibration_clips(train_views, model, args.calibration_clips, args.seed)
        quantized = quantize_torch(load_checkpoint(source)[0], clips, keep_float)
        table["ptq_init"] = evaluate(quantized)

    def checkpoint(q, record):
        table["qat"] = record
        save_qat_checkpoint(q, qat_dir, qat={"epoch": record["epoch"], "table": table, "keep_float": keep_float,
                                             "source": str(source)})

    history = finetune(quantized, train_views, args.epochs, args.lr, args.batch_size, args.seed,
                       args.clips_per_epoch, evaluate, start_epoch, checkpoint)
    if not history and "qat" not in table:
        table["qat"] = table["ptq_init"]
        checkpoint(quantized, {"epoch": 0, **table["qat"]})
    build_bundle(model, out, int8_model=quantized, overwrite=args.overwrite, accuracy_views=test_views,
                 source={"checkpoint": str(source), "metrics": info.get("metrics"),
                         "quantization": {"method": "nncf-qat", "epochs": args.epochs, "lr": args.lr,
                                          "keep_float": list(keep_float), "table": table}})
    if args.publish:
        publish_state(qat_dir, source / INT8_STATE)
    print_table(table)
    return table


def publish_state(qat_dir: Path, target: Path) -> None:
    """Copy the QAT checkpoint to `target`, replacing what was there in one move."""
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(qat_dir, tmp)
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
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

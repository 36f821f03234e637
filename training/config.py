"""What a training run needs, as dataclasses: `DataConfig` (the task's data) inside `RunConfig` (the run).

`python -m training.train` builds a `RunConfig` from its command line (`RunConfig.from_args`);
`training.loop.fit`, the task steps (`training.tasks`) and QAT fine-tuning (`compression.qat`) read it.
`--set key=value` model-config overrides are parsed with the types of the architecture config's own
fields (`parse_sets`) and validated by `edgetokens.models.make_config`, the one validation path.
"""
from __future__ import annotations

import argparse
import math
import types
import typing
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from edgetokens.clitools import check_int
from edgetokens.models import get_architecture, make_config
from training.data.layouts import check_layout, trained_layouts


@dataclass
class DataConfig:
    """A task's data (`training.tasks`): which source, and how much of it.

    source: `--data` (pose: cmu | cmu-positions | synthetic | mix | real | h36m:PATH | bvh:FOLDER; depth:
    scenes | nyu:PATH | list:TRAIN,TEST); root: `--data-root` (the CMU folder); train_count:
    `--clips-per-epoch` (pose: a fixed random subset of that many clips; depth: that many training
    images per epoch); test_count: `--eval-sequences` (pose: the first N test sequences; depth: N test
    images); epochs: the run's epochs (rendered training scenes are new each epoch, so their seeds must
    stay below the test scenes'); input_layout: `--input-layout`, the 2D layout pose views are drawn in
    (h36m | coco | blazepose | mixed, `training.data.layouts`; recorded in the model config as
    `input_layouts`); positions_root: `--positions-root`, the cmu-positions folder (default: beside root).
    """

    source: str = "mix"
    root: str | None = None
    seed: int = 1126
    train_count: int | None = None
    test_count: int | None = None
    epochs: int = 1
    input_layout: str = "h36m"
    positions_root: str | None = None

    def __post_init__(self) -> None:
        check_layout(self.input_layout)


@dataclass
class RunConfig:
    """One training run: the model, its data, the optimisation and where checkpoints go.

    The optimiser is AdamW (`lr`, `weight_decay`) with the learning rate multiplied by `lr_decay` after
    every epoch. `out` receives `last/` (every epoch, with the optimizer state) and `best/` (the task's
    `best_metric`); an `out` that has either is refused unless `resume` (continue from `last/`) or
    `overwrite` (start again). `init`: a warm start from the tensors a checkpoint shares with the model.
    `amp`: "bf16" autocasts the forward pass. The AiT settings: `tokenizer` (stage 2: the trained
    ait-depth-vqvae checkpoint), `mask_ratio` (stage 1: share of 16x16 depth patches zeroed),
    `ar_sampling` (ait-depth-ar: scheduled sampling of the decoder inputs); `freeze`: parts of an AiT model
    kept fixed (no gradients, eval mode), e.g. ("backbone",).
    """

    model: str
    out: str
    overrides: dict[str, Any] = field(default_factory=dict)  # model config fields (`--set`)
    data: DataConfig = field(default_factory=DataConfig)
    epochs: int = 20
    batch_size: int = 4
    lr: float = 4e-5
    weight_decay: float = 0.1
    lr_decay: float = 0.99
    resume: bool = False
    overwrite: bool = False
    init: str | None = None
    device: str = "cpu"
    threads: int | None = None
    amp: str = "none"  # "none" | "bf16"
    progress: bool = True
    tokenizer: str | None = None
    mask_ratio: float = 0.5
    ar_sampling: float = 0.0
    freeze: tuple[str, ...] = ()  # model parts kept fixed (`AiTModel.freeze_parts`: "backbone")

    def __post_init__(self) -> None:
        check_run_numbers(self)
        if self.amp not in ("none", "bf16"):
            raise ValueError(f"amp must be 'none' or 'bf16', got {self.amp!r}")
        if self.resume and self.overwrite:
            raise ValueError("pass --resume (continue OUT/last) or --overwrite (start again), not both")
        self.freeze = (self.freeze,) if isinstance(self.freeze, str) else tuple(self.freeze)
        self.data = replace(self.data, epochs=self.epochs)  # rendered scenes' seeds depend on the epochs

    @property
    def seed(self) -> int:
        """The run's seed: data, initial weights, shuffling (one `--seed`)."""
        return self.data.seed

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunConfig:
        """The run `python -m training.train` was asked for (see `training.train.build_parser`)."""
        data = DataConfig(source=args.data, root=args.data_root, seed=args.seed, train_count=args.clips_per_epoch,
                          test_count=args.eval_sequences, epochs=args.epochs, input_layout=args.input_layout or "h36m",
                          positions_root=args.positions_root)
        return cls(model=args.model, out=args.out, overrides=parse_sets(args.set, args.model), data=data,
                   epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                   lr_decay=args.lr_decay, resume=args.resume, overwrite=args.overwrite, init=args.init,
                   device=args.device, threads=args.threads, amp=args.amp, progress=not args.no_progress,
                   tokenizer=args.tokenizer, mask_ratio=args.mask_ratio, ar_sampling=args.ar_sampling,
                   freeze=tuple(args.freeze))

    def model_overrides(self) -> dict[str, Any]:
        """The model-config overrides of this run: `overrides`, plus `input_layouts` (what the data feed,
        `training.data.layouts.trained_layouts`) for architectures whose config records it."""
        names = {f.name for f in fields(type(get_architecture(self.model).config))}
        if "input_layouts" in names:
            return {**self.overrides, "input_layouts": trained_layouts(self.data.input_layout)}
        if self.data.input_layout != "h36m":
            raise ValueError(f"--input-layout {self.data.input_layout}: {self.model} takes no 2D keypoints")
        return dict(self.overrides)

    def record(self) -> dict:
        """The settings as recorded in checkpoints (`training` in config.json; JSON-serialisable)."""
        return asdict(self)


def check_run_numbers(run: RunConfig) -> None:
    """The run's numbers, before any work (the CLI's argparse types say the same for its flags)."""
    check_int("epochs", run.epochs, 0)  # 0: QAT's PTQ initialisation only (compression.qat --epochs 0)
    check_int("batch_size", run.batch_size)
    check_int("threads", run.threads, allow_none=True)
    check_int("train_count (--clips-per-epoch)", run.data.train_count, allow_none=True)
    check_int("test_count (--eval-sequences)", run.data.test_count, allow_none=True)
    for name, value, ok, rule in (("lr", run.lr, run.lr > 0, "> 0"),
                                  ("weight_decay", run.weight_decay, run.weight_decay >= 0, ">= 0"),
                                  ("lr_decay", run.lr_decay, run.lr_decay > 0, "> 0"),
                                  ("mask_ratio", run.mask_ratio, 0 <= run.mask_ratio < 1, "in [0, 1)"),
                                  ("ar_sampling", run.ar_sampling, 0 <= run.ar_sampling <= 1, "in [0, 1]")):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and ok):
            raise ValueError(f"{name} must be a number {rule}; got {value!r}")


def parse_sets(pairs: list[str], model_name: str) -> dict[str, Any]:
    """`--set key=value` pairs -> model-config overrides, typed by the config's own field annotations
    (bool, int, float, str, `X | None` with "none", tuples as comma lists such as
    `backbone_widths=16,32,64,128,256`), then validated by `make_config`."""
    config_class = type(get_architecture(model_name).config)
    hints = typing.get_type_hints(config_class)
    names = {f.name for f in fields(config_class)}
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        key = key.strip()
        if key not in names:
            overrides[key] = text  # make_config names the valid keys
            continue
        try:
            overrides[key] = parse_value(text.strip(), hints[key])
        except ValueError as err:
            raise ValueError(f"--set {pair}: {err}") from None
    make_config(model_name, **overrides)
    return overrides


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def parse_value(text: str, annotation: Any) -> Any:
    """`text` as a value of the type `annotation` (a dataclass field's resolved type hint)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.lower() in ("none", "null"):
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) != 1:
            raise ValueError(f"cannot parse a value of type {annotation}")
        return parse_value(text, options[0])
    if origin is typing.Literal:
        if text not in [str(a) for a in args]:
            raise ValueError(f"expected one of {', '.join(map(str, args))}")
        return next(a for a in args if str(a) == text)
    if origin is tuple:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(parse_value(t, args[0]) for t in items)
        if len(items) != len(args):
            raise ValueError(f"expected {len(args)} comma-separated values, got {len(items)}")
        return tuple(parse_value(t, a) for t, a in zip(items, args))
    if annotation is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"expected a boolean ({'/'.join(_TRUE)} or {'/'.join(_FALSE)}), got {text!r}")
    if annotation in (int, float):
        try:
            return annotation(text)
        except ValueError:
            raise ValueError(f"expected {'an integer' if annotation is int else 'a number'}, got {text!r}") from None
    if annotation is str:
        return text
    raise ValueError(f"--set cannot parse a field of type {annotation}")

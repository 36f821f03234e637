"""Latency and accuracy of the Predictor for every model x device x precision, beside eager PyTorch.

    python -m runtimes.benchmark --models hot-mixste,mixste --devices cpu,gpu,npu \
        --precisions fp32,fp16,int8 --json bench.json --csv bench.csv --md bench.md --plot bench.png

(`python -m runtimes.benchmark` and `edgetokens benchmark` both run this module.) Each row: status
(`ok`, `unavailable: reason`, `failed: reason`), load+compile ms, first-inference ms, p50/p90 ms per
graph call (batch 1, after warm-up, 3-sigma clipped; every row measured in the same interleaved
rounds so ratios hold on a busy machine), frames/s (frames one call handles / p50: a pose window's
frames, one image for depth), the predictor's extra timed calls (`--stream [K]`: a pose lifter's
PoseStream with stride K, timed per K pushes, so it is the sustained rate), GFLOPs of one call, and
the task's headline metric (`Task.best_metric`: MPJPE mm for pose, RMSE m for depth).
`--video FILE` times video -> 3D per stage instead (`edgetokens.benchmark_video`).
Each model also gets an `eager` row: its torch module run directly, the baseline for `speedup`.

Accuracy: with `--eval-data F.npz` (pose: arrays `inputs_<i>` (L, 17, C) normalised and
`targets_<i>` (L, 17, 3) metres, root-relative), every row scores the file itself
(`PosePredictor.score_eval_file`); otherwise the metric the bundle manifest records for that artifact
(compression scores them), else the checkpoint's recorded one when it was measured at the row's
precision (torch fp32, or QAT INT8), else none. Rows with random weights get none.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runtimes import BundleError, DeviceUnavailableError
from runtimes.cpuinfo import describe_cpu
from runtimes.devices import BACKEND_FORMAT, describe_machine
from runtimes.timing import summarize, time_side_by_side

from .benchmark_video import add_video_arguments, run_video
from .clitools import (
    check_image_extension,
    check_outputs,
    non_negative_int,
    positive_int,
    run_cli,
    write_image,
)
from .models import create_model
from .models.complexity import count_flops
from .predictor import Predictor
from .tasks import TASKS, get_task

log = logging.getLogger(__name__)

COLUMNS = ["model", "device", "precision", "backend", "resolved", "status", "load_ms", "first_ms", "p50_ms",
           "p90_ms", "fps", "stream_fps", "stream_stride", "speedup", "vs_fp32", "gflops", "metric", "accuracy",
           "accuracy_source", "execution_devices"]


@dataclass
class Row:
    model: str
    device: str
    precision: str
    backend: str = ""
    resolved: str = ""
    status: str = "ok"
    load_ms: float | None = None
    first_ms: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    fps: float | None = None  # frames one call handles / p50
    stream_fps: float | None = None  # pushed frames per second of a PoseStream
    stream_stride: int | None = None  # its stride (frames per model run)
    speedup: float | None = None  # eager p50 / this p50
    vs_fp32: float | None = None  # this p50 / p50 of the fp32 row of the same model, device and backend
    gflops: float | None = None
    metric: str = ""  # the task's headline metric (mpjpe_mm, rmse), lower is better
    accuracy: float | None = None
    accuracy_source: str = ""  # where `accuracy` comes from
    execution_devices: str = ""
    timing: dict[str, float] = field(default_factory=dict)


def parse_weights(text: str | None) -> dict[str, str]:
    """'random' -> {'*': 'random'}; 'a=DIR,b=DIR' -> {'a': DIR, 'b': DIR}."""
    if not text:
        return {}
    if "=" not in text:
        return {"*": text}
    pairs = [item.split("=", 1) for item in text.split(",") if item]
    bad = [p[0] for p in pairs if len(p) != 2 or not p[0] or not p[1]]
    if bad:
        raise ValueError(f"--weights {text!r}: expected NAME=CHECKPOINT_DIR,... (or 'random'); check {bad[0]!r}")
    return dict(pairs)


def model_gflops(predictor) -> float | None:
    """Papers' GFLOPs (Linear and conv layers) of one graph call, from the bundle manifest's architecture."""
    manifest = predictor.manifest
    if manifest is None:
        return None

    model = create_model(manifest.arch, **manifest.config)
    return count_flops(model, model.signature(1).example_tensors()[0])["gflops"]


def recorded_accuracy(predictor, key: str) -> tuple[float, str] | None:
    """`key` (the task's metric) the bundle's manifest records for the artifact this row runs (compression
    scores them), else the checkpoint's recorded value if it was measured at this row's precision
    (an fp16 row must not show the fp32 number: bf16 hot-mixste is 2 mm worse)."""
    manifest = predictor.manifest
    fmt = BACKEND_FORMAT[predictor.session.backend]
    metrics = (manifest.accuracy.get(predictor.precision, {}).get(fmt) if manifest is not None else None) or {}
    if metrics.get(key) is not None:
        return float(metrics[key]), f"manifest ({fmt} {predictor.precision})"
    if predictor.info.metrics.get(key) is not None and predictor.info.metrics_precision == predictor.precision:
        return float(predictor.info.metrics[key]), f"recorded ({predictor.info.metrics_source})"
    return None


def model_and_task(model: str) -> tuple[str, str | None]:
    """"ait:instances" -> ("ait", "instances"): a model serving several tasks names one after a colon."""
    name, _, task = model.rpartition(":")
    return (name, task) if name and task in TASKS else (model, None)


def open_row(row: Row, args, weights: str | None):
    """Create the Predictor for a row; fills status on failure. Returns the predictor or None."""

    try:
        device = "torch:cpu" if row.device == "eager" else row.device
        backend = None if row.device == "eager" else (row.backend or None)
        start = time.perf_counter()
        model, task = model_and_task(row.model)
        predictor = Predictor(model, device=device, precision=row.precision, backend=backend, weights=weights,
                              threads=args.threads, cache_dir=args.cache_dir, task=task)
        log.info("%s %s %s -> %s in %.0f ms", row.model, row.device, row.precision, predictor.device,
                 (time.perf_counter() - start) * 1000)
    except (DeviceUnavailableError, BundleError) as err:
        row.status = f"unavailable: {first_sentence(err)}"
        return None
    except Exception as err:  # a benchmark reports failures and goes on
        log.debug("row failed", exc_info=True)
        row.status = f"failed: {type(err).__name__}: {first_sentence(err)}"
        return None
    row.resolved = predictor.device
    row.backend = predictor.session.backend
    row.execution_devices = ",".join(predictor.session.execution_devices)
    row.load_ms = predictor.load_ms
    row.first_ms = predictor.first_inference_ms
    return predictor


def first_sentence(err: Exception) -> str:
    text = str(err).split(". ")[0].strip()
    return text[:200]


def run_benchmark(args) -> list[Row]:
    weights = parse_weights(args.weights)
    rows: list[Row] = []
    predictors: dict[int, Any] = {}
    for model in args.models:
        model_weights = weights.get(model, weights.get("*"))
        combos = [Row(model, "eager", "fp32", "torch")]
        for device in args.devices:
            for precision in args.precisions:
                for backend in args.backends or [""]:
                    combos.append(Row(model, device, precision, backend))
        for row in combos:
            predictor = open_row(row, args, model_weights)
            rows.append(row)
            if predictor is not None:
                predictors[len(rows) - 1] = predictor

    calls = {}
    for i, predictor in predictors.items():
        for label, call in predictor.timed_calls(args.stream).items():
            calls[f"{i}{label}"] = call
    log.info("timing %d candidates x %d rounds", len(calls), args.repeats)
    times = time_side_by_side(calls, repeats=args.repeats, warmup=args.warmup)

    gflops: dict[str, float | None] = {}
    eager: dict[str, float] = {}
    for i, predictor in predictors.items():
        row = rows[i]
        row.timing = summarize(times[f"{i}"])
        row.p50_ms, row.p90_ms = row.timing["p50_ms"], row.timing["p90_ms"]
        row.fps = 1000.0 * predictor.frames_per_call / row.p50_ms
        if f"{i}:stream" in times:
            row.stream_fps = 1000.0 * args.stream / summarize(times[f"{i}:stream"])["p50_ms"]
            row.stream_stride = args.stream
        if row.model not in gflops:
            try:
                gflops[row.model] = model_gflops(predictor)
            except Exception as err:  # fvcore trouble must not sink the benchmark
                log.warning("GFLOPs of %s: %s", row.model, err)
                gflops[row.model] = None
        row.gflops = gflops[row.model]
        if row.device == "eager":
            eager[row.model] = row.p50_ms
        row.metric = get_task(predictor.task).best_metric
        if predictor.info.weights == "random":
            row.accuracy_source = "n/a (random weights)"
        elif args.eval_data:
            row.accuracy = predictor.score_eval_file(args.eval_data, args.eval_frames)
            row.accuracy_source = f"eval {Path(args.eval_data).name}"
        elif (recorded := recorded_accuracy(predictor, row.metric)) is not None:
            row.accuracy, row.accuracy_source = recorded
        else:
            row.accuracy_source = f"not recorded for {row.precision}: --eval-data measures it"
    fp32 = {(r.model, r.device, r.backend): r.p50_ms for r in rows if r.precision == "fp32" and r.p50_ms}
    for row in rows:
        if row.p50_ms and row.model in eager:
            row.speedup = eager[row.model] / row.p50_ms
        if row.p50_ms and row.device != "eager" and (row.model, row.device, row.backend) in fp32:
            row.vs_fp32 = row.p50_ms / fp32[row.model, row.device, row.backend]
    for predictor in predictors.values():
        predictor.close()
    return rows


# --- reports ----------------------------------------------------------------------------------------

def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def to_markdown(rows: list[Row], machine: str) -> str:
    header = ["model", "device", "precision", "resolved", "status", "load ms", "first ms", "p50 ms", "p90 ms",
              "frames/s", "stream fps", "speedup", "vs fp32", "GFLOPs", "accuracy"]
    lines = [f"Machine: {machine}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        value = f"{r.accuracy:.4g} {r.metric}" if r.accuracy is not None else ""
        mpjpe = value + (f" ({r.accuracy_source})" if r.accuracy_source else "")
        cells = [r.model, r.device, r.precision, r.resolved, r.status, fmt(r.load_ms, 0), fmt(r.first_ms, 1),
                 fmt(r.p50_ms), fmt(r.p90_ms), fmt(r.fps, 0),
                 fmt(r.stream_fps, 0) + (f" (stride {r.stream_stride})" if r.stream_stride else ""),
                 fmt(r.speedup) + ("x" if r.speedup else ""), fmt(r.vs_fp32), fmt(r.gflops, 3), mpjpe.strip()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_csv(rows: list[Row], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: v for k, v in asdict(r).items() if k in COLUMNS})


def write_plot(rows: list[Row], path: Path) -> None:
    """Latency (x, log) against accuracy (y) with OpenCV (no matplotlib dependency). Rows without an
    accuracy are drawn on a separate band at the bottom."""
    import cv2  # deferred: OpenCV, only for --plot

    points = [r for r in rows if r.p50_ms]
    width, height, margin = 960, 640, 80
    image = np.full((height, width, 3), 255, np.uint8)
    metrics = ", ".join(sorted({r.metric for r in points if r.metric})) or "accuracy"
    cv2.putText(image, f"p50 latency per call (ms, log) vs {metrics} (lower is better)", (margin, 40),
                cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2)
    cv2.rectangle(image, (margin, margin), (width - margin, height - margin), (0, 0, 0), 1)
    if points:
        lat = np.log10([r.p50_ms for r in points])
        lo, hi = lat.min() - 0.1, lat.max() + 0.1
        errors = [r.accuracy for r in points if r.accuracy is not None]
        elo, ehi = (min(errors) * 0.95, max(errors) * 1.05 + 1e-6) if errors else (0.0, 1.0)
        for tick in np.arange(np.floor(lo), np.ceil(hi) + 1):
            for sub in (1, 2, 5):
                value = np.log10(sub) + tick
                if lo <= value <= hi:
                    x = int(margin + (value - lo) / (hi - lo) * (width - 2 * margin))
                    cv2.line(image, (x, height - margin), (x, height - margin + 6), (0, 0, 0), 1)
                    cv2.putText(image, f"{10 ** value:g}", (x - 12, height - margin + 22), cv2.FONT_HERSHEY_SIMPLEX,
                                0.45, (0, 0, 0), 1)
        for value in np.linspace(elo, ehi, 5) if errors else []:
            y = int(height - margin - (value - elo) / (ehi - elo) * (height - 2 * margin - 40))
            cv2.putText(image, f"{value:.1f}", (10, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
        palette = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]
        models = sorted({r.model for r in points})
        for k, (r, value) in enumerate(zip(points, lat)):
            x = int(margin + (value - lo) / (hi - lo) * (width - 2 * margin))
            if r.accuracy is None:
                y = height - margin - 15
            else:
                y = int(height - margin - (r.accuracy - elo) / (ehi - elo) * (height - 2 * margin - 40))
            color = palette[models.index(r.model) % len(palette)][::-1]
            cv2.circle(image, (x, y), 6, color, -1)
            label = f"{r.model} {'eager' if r.device == 'eager' else r.resolved} {r.precision}"
            (text_w, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
            left = x + 8 if x + 8 + text_w < width - 5 else x - 8 - text_w
            cv2.putText(image, label, (left, y - 6 - 14 * (k % 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1)
    write_image(path, image, "--plot")


def cpu_description(cpuinfo: str | None = None) -> str:
    """The exact CPU (vendor, model, family/model numbers, microarchitecture, instruction sets): the same
    VM size has come with different CPUs, and speedups differ between them (`runtimes.cpuinfo`)."""
    return describe_cpu(cpuinfo)


def machine_summary() -> str:
    return f"{cpu_description()}, {os.cpu_count()} logical CPUs; {describe_machine()}"


def main(argv: list[str] | None = None, prog: str = "python -m runtimes.benchmark") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    split = lambda text: [t for t in text.split(",") if t]  # noqa: E731
    parser.add_argument("--models", type=split, default=["hot-mixste"], help="comma list of names or bundle paths; NAME:TASK for a model serving several "
                        "(ait:instances, ait:depth)")
    parser.add_argument("--devices", type=split, default=["cpu"], help="comma list, e.g. cpu,gpu,npu,openvino:CPU")
    parser.add_argument("--precisions", type=split, default=["fp32"], help="comma list of fp32,fp16,int8")
    parser.add_argument("--backends", type=split, default=None, help="comma list: one row per backend")
    parser.add_argument("--weights", default=None,
                        help="'random', or NAME=CHECKPOINT_DIR,... (default: the shipped weights)")
    parser.add_argument("--repeats", type=positive_int, default=20, help="timed rounds (every row once per round)")
    parser.add_argument("--warmup", type=non_negative_int, default=3, help="untimed rounds first (0 = none)")
    parser.add_argument("--threads", type=positive_int, default=None, help="backend CPU threads (default: runtime's)")
    parser.add_argument("--stream", type=positive_int, nargs="?", const=1, default=None, metavar="STRIDE",
                        help="also time a PoseStream per row (stride: model runs every STRIDE frames; default 1)")
    parser.add_argument("--eval-data", default=None, help="npz of inputs_<i>/targets_<i> to score MPJPE on")
    parser.add_argument("--eval-frames", type=positive_int, default=None, help="score only the first N frames of it")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--csv", type=Path)
    parser.add_argument("--md", type=Path)
    parser.add_argument("--plot", type=Path, help="latency vs accuracy picture (.png, .jpg, ...)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing --json/--csv/--md/--plot files")
    parser.add_argument("-v", "--verbose", action="store_true")
    add_video_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    return run_cli(lambda: run(args), prog)


def check_report_outputs(args) -> None:
    """The report files: the CLI's output policy (`check_output`), before anything is timed."""
    weights = [w for w in parse_weights(args.weights).values() if w != "random"]
    inputs = [args.eval_data, *weights, *[m for m in args.models if Path(m).exists()]]
    check_outputs({"--json": args.json, "--csv": args.csv, "--md": args.md, "--plot": args.plot}, inputs,
                  args.overwrite)
    if args.plot:
        check_image_extension(args.plot, "--plot")
    if args.eval_data and not Path(args.eval_data).is_file():
        raise FileNotFoundError(f"--eval-data {args.eval_data} not found")


def run(args) -> int:
    check_report_outputs(args)
    if args.video:  # video -> 3D per stage (`edgetokens.benchmark_video`)
        video_rows = run_video(args)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"machine": machine_summary(), "video": str(args.video),
                                             "rows": video_rows}, indent=2))
        return 0
    rows = run_benchmark(args)
    machine = machine_summary()
    markdown = to_markdown(rows, machine)
    print(markdown)
    for path in (args.md, args.json, args.csv, args.plot):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)  # report folders are created
    if args.md:
        args.md.write_text(markdown)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": [asdict(r) for r in rows]}, indent=2))
    if args.csv:
        write_csv(rows, args.csv)
    if args.plot:
        write_plot(rows, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())

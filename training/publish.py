"""Ship a trained checkpoint as a packaged default, with its accuracy measured on the test splits.

    python -m training.publish --checkpoint runs/hot-mixste/best --name hot-mixste \
        --data-root ../shared/data/cmu-mocap

Copies the weights to `edgetokens/weights/NAME/` and records, in its config.json, MPJPE, P-MPJPE,
N-MPJPE and velocity error on the CMU test subject (03), on cmu-positions test/ (the folder beside
the CMU root, or $EDGETOKENS_CMU_POSITIONS_ROOT) and on the synthetic test split, each with 2D input
in the H36M, COCO and BlazePose-style layouts (`evaluation` keys `cmu`, `cmu/coco`,
`cmu/blazepose`, ...; `training.tasks.pose`), plus the model's parameter and FLOP counts. A depth
solver (`ait-depth*`) records instead its metrics on the scenes test split with soft and hard token
decoding, on the shipped real RGB-D frame and on the real frames of `--rgbd-real`
(../shared/data/rgbd-real), with its parameters stored in float16 (half the package size; the
recorded metrics are of those weights). An instance model (`ait-instances`, `ait`) records COCO AP on
the scenes test and on the held-out split of `--data-root` (../shared/data/coco128-seg), and `ait`
its depth as a depth solver does.
`--rescore NAME` re-measures a shipped default's `evaluation` with the current test definitions (e.g.
after a 2D layout's noise model changed) and rewrites only its card; the weights stay as they are.
What each task records is its `Publishing` (`training.tasks`, the `publish` part of its task entry).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import torch

from edgetokens.checkpoint import CONFIG, git_revision, read_checkpoint_info, save_checkpoint
from edgetokens.clitools import non_negative_int, run_cli
from edgetokens.models import architecture_task, create_model
from edgetokens.models.complexity import count_flops, count_parameters
from edgetokens.tasks import TASKS, get_task
from edgetokens.zoo import WEIGHTS_DIR, list_pretrained, pretrained_info


def publishing(task_name: str):
    """The task's `training.tasks.Publishing`; a task without one is trained, not shipped."""
    task = get_task(task_name)
    if not task.publish:
        shipped = ", ".join(t.name for t in TASKS.values() if t.publish)
        raise ValueError(f"{task.name!r} models ({task.description}) are not shipped (a stage-1 tokenizer ships "
                         f"inside the solver trained on it); training.publish ships models of the tasks {shipped}")
    return task.load("publish")


def publish(checkpoint: Path, name: str, data_root: str | None, seed: int, out_root: Path = WEIGHTS_DIR,
            rgbd_real: str | None = None) -> dict:
    model, info = create_model(checkpoint=checkpoint).eval(), read_checkpoint_info(checkpoint)
    recipe = publishing(model.task)
    if recipe.parameter_dtype is not None:
        with torch.no_grad():  # score exactly what is shipped: the rounded parameters
            for p in model.parameters():
                p.copy_(p.to(recipe.parameter_dtype))
    evaluation = recipe.evaluate(model, data_root, seed, rgbd_real)
    example = torch.randn(1, *model.input_shape)
    facts = {"params": count_parameters(model), **count_flops(model, example)}
    meta = {k: v for k, v in info.items() if k not in ("arch", "config", "revision")}
    target = save_checkpoint(model, out_root / name, parameter_dtype=recipe.parameter_dtype, **meta,
                             evaluation=evaluation, facts=facts, trained_revision=info.get("revision"))
    return json.loads((target / CONFIG).read_text())


def rescore(name: str, data_root: str | None, seed: int, out_root: Path = WEIGHTS_DIR,
            rgbd_real: str | None = None) -> dict:
    """Re-measure the card of the shipped default `name` (weights untouched); returns the new card."""
    target = out_root / name
    if not (target / CONFIG).is_file():
        raise ValueError(f"no shipped default {name!r} in {out_root} (shipped: {', '.join(list_pretrained()) or 'none'})")
    model = create_model(checkpoint=target).eval()
    card = json.loads((target / CONFIG).read_text())
    card["evaluation"] = publishing(model.task).evaluate(model, data_root, seed, rgbd_real)
    card["rescored_revision"] = git_revision()
    staged = target / f".{CONFIG}.rescore"
    staged.write_text(json.dumps(card, indent=2) + "\n")
    os.replace(staged, target / CONFIG)  # the card is whole or untouched, never half-written
    return card


def results_table(names: list[str] | None = None) -> str:
    """Markdown tables of the shipped defaults' recorded metrics, one per task (what the README quotes)."""

    by_task: dict[str, list[tuple[str, dict]]] = {}
    for name in names or list_pretrained():
        info = pretrained_info(name)
        by_task.setdefault(architecture_task(info["arch"], info.get("config")), []).append((name, info))
    tables = [publishing(task).table(by_task[task]) for task in TASKS if task in by_task]
    return "\n\n".join("\n".join(lines) for lines in tables)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.publish", description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", action="store_true",
                        help="only print the markdown table of the shipped defaults' recorded metrics")
    parser.add_argument("--checkpoint", help="trained checkpoint directory (e.g. runs/X/best)")
    parser.add_argument("--name", help="name of the shipped default (edgetokens/weights/NAME)")
    parser.add_argument("--data-root", default=None, help="pose: CMU folder holding 01/ 02/ 03/ (or $EDGETOKENS_CMU_ROOT); instances: a YOLO "
                        "segmentation folder (coco128-seg) whose held-out split is scored")
    parser.add_argument("--rgbd-real", default=None, help="depth models: also score the real RGB-D frames of this "
                        "folder (color/N.png, depth/N.pgm: ../shared/data/rgbd-real)")
    parser.add_argument("--rescore", action="append", metavar="NAME", default=[],
                        help="re-measure this shipped default's card with the current test splits (repeatable)")
    parser.add_argument("--seed", type=non_negative_int, default=1126, help="seed of the synthetic test subjects and cameras")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    def command():
        if args.table:
            print(results_table())
            return
        if args.rescore:
            for name in args.rescore:
                report(name, rescore(name, args.data_root, args.seed, rgbd_real=args.rgbd_real))
            return
        if not args.checkpoint or not args.name:
            raise ValueError("give --checkpoint DIR and --name NAME (or --table, or --rescore NAME)")
        report(args.name, publish(Path(args.checkpoint), args.name, args.data_root, args.seed, rgbd_real=args.rgbd_real))

    def report(name: str, info: dict) -> None:
        for source, m in info["evaluation"].items():
            if "rmse" in m and "abs_rel" in m:
                print(f"{name} on {source}: RMSE {m['rmse']:.3f} m, AbsRel {m['abs_rel']:.3f}, d1 {m['d1']:.3f}")
            elif "mask_ap" in m:
                print(f"{name} on {source}: mask AP {m['mask_ap']:.3f}, AP50 {m['mask_ap50']:.3f}, "
                      f"box AP {m['box_ap']:.3f}")
            else:
                print(f"{name} on {source} (test split): MPJPE {m['mpjpe_mm']:.1f} mm, "
                      f"P-MPJPE {m['p_mpjpe_mm']:.1f} mm")

    return run_cli(command, "training.publish")


if __name__ == "__main__":
    sys.exit(main())

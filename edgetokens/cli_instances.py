"""`edgetokens predict MODEL photo.jpg --task instances`: COCO results JSON and an overlay picture."""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from .cli_commands import predict_output
from .clitools import write_image
from .depth import load_image


def predict_instances(predictor, args: argparse.Namespace) -> int:
    out = predict_output(args, ".instances.json", (".json",), "instances as COCO results .json")
    rgb = load_image(args.input)  # read once: the model input and the overlay's background
    result = predictor.predict(rgb, min_score=args.min_score, channels="rgb")
    out.parent.mkdir(parents=True, exist_ok=True)  # documented: --out and --overlay folders are created
    result.save_json(out)
    counts = ", ".join(f"{n} {name}" for name, n in Counter(result.names).most_common())
    print(f"{len(result)} instances{f' ({counts})' if counts else ''} scoring >= {args.min_score:g} on "
          f"{result.device} in {result.timings_ms['total']:.0f} ms -> {out}")
    if args.overlay:
        overlay = Path(args.overlay)
        overlay.parent.mkdir(parents=True, exist_ok=True)
        write_image(overlay, result.plot(rgb[..., ::-1].copy()), "--overlay")
        print(f"overlay -> {overlay}")
    return 0

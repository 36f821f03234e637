"""Latency measurement that holds up on noisy machines: warm-up, interleaving, robust statistics."""
from __future__ import annotations

import statistics
import time
from typing import Callable

SETTLE_S = 0.05  # lets the previous candidate's spinning worker threads go idle


def time_side_by_side(
    candidates: dict[str, Callable[[], object]], repeats: int = 10, warmup: int = 2, block: int = 5
) -> dict[str, list[float]]:
    """Milliseconds per call of each candidate, measured in interleaved blocks of `block` calls.

    Round-robin blocks mean a slow patch of the machine hits every candidate alike, so ratios
    between candidates stay meaningful even when absolute numbers drift. Each block starts with one
    untimed call after a short pause: OpenMP (torch) and ONNX Runtime workers spin for a while after a
    call, so alternating single calls slow each candidate down (measured in docs/benchmarks.md).
    """
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    while any(len(samples) < repeats for samples in times.values()):
        for name, fn in candidates.items():
            time.sleep(SETTLE_S)
            fn()
            for _ in range(min(block, repeats - len(times[name]))):
                start = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - start) * 1000.0)
    return times


def summarize(samples: list[float]) -> dict[str, float]:
    """Median, p90, mean and std (ms) after dropping samples beyond 3 sigma of the median."""
    med = statistics.median(samples)
    std = statistics.pstdev(samples) if len(samples) > 1 else 0.0
    kept = [s for s in samples if abs(s - med) <= 3 * std] or samples
    ordered = sorted(kept)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {
        "p50_ms": statistics.median(kept),
        "p90_ms": p90,
        "mean_ms": statistics.fmean(kept),
        "std_ms": statistics.pstdev(kept) if len(kept) > 1 else 0.0,
        "n": len(kept),
    }

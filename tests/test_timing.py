"""The side-by-side timer: every candidate gets its samples, in blocks that start with an untimed call."""
from runtimes import timing


def test_blocks_interleave_candidates_and_rewarm_after_each_switch(monkeypatch):
    monkeypatch.setattr(timing, "SETTLE_S", 0.0)
    calls = []
    candidates = {name: (lambda n=name: calls.append(n)) for name in ("a", "b")}
    times = timing.time_side_by_side(candidates, repeats=7, warmup=1, block=3)
    assert {name: len(samples) for name, samples in times.items()} == {"a": 7, "b": 7}
    assert all(t >= 0 for samples in times.values() for t in samples)
    # warm-up a, b; then blocks of 1 untimed + 3 timed calls, alternating; the last block holds the remainder
    assert "".join(calls) == "ab" + "aaaa" + "bbbb" + "aaaa" + "bbbb" + "aa" + "bb"


def test_summary_drops_outliers_beyond_three_sigma():
    summary = timing.summarize([10.0] * 20 + [1000.0])
    assert summary["p50_ms"] == 10.0 and summary["n"] == 20 and summary["p90_ms"] == 10.0

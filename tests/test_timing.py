"""The side-by-side timer: every candidate gets its samples, in blocks that start with an untimed call."""
import pytest

from runtimes import timing


class FakeClock:
    """perf_counter that moves only when a candidate runs (by its cost) or the timer sleeps."""

    def __init__(self):
        self.now, self.sleeps = 100.0, []

    def perf_counter(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_blocks_interleave_candidates_and_rewarm_after_each_switch(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(timing, "time", clock)
    calls = []
    cost_s = {"a": 0.002, "b": 0.0125}

    def call(name):
        calls.append(name)
        clock.now += cost_s[name]

    candidates = {name: (lambda n=name: call(n)) for name in ("a", "b")}
    times = timing.time_side_by_side(candidates, repeats=7, warmup=1, block=3)
    assert {name: len(samples) for name, samples in times.items()} == {"a": 7, "b": 7}
    # each sample is one call, in milliseconds: neither the settling pause nor the untimed call leaks in
    for name, samples in times.items():
        assert samples == [pytest.approx(cost_s[name] * 1000, abs=1e-6)] * 7, name
    assert clock.sleeps == [timing.SETTLE_S] * 6  # one pause before each of the 6 blocks
    # warm-up a, b; then blocks of 1 untimed + 3 timed calls, alternating; the last block holds the remainder
    assert "".join(calls) == "ab" + "aaaa" + "bbbb" + "aaaa" + "bbbb" + "aa" + "bb"


def test_summary_drops_outliers_beyond_three_sigma():
    summary = timing.summarize([10.0] * 20 + [1000.0])
    assert summary["p50_ms"] == 10.0 and summary["n"] == 20 and summary["p90_ms"] == 10.0

from pathlib import Path

import numpy as np
import pytest

from training.blazepose_stats import GROUPS, JUMP, jitter, pooled, real_tracks, simulated_tracks, table

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "golden" / "blazepose" / "blazepose_one_by_one.npz"
WALKING = SHARED / "data" / "cmu-positions" / "test" / "walking"


def track(frames: int = 40) -> np.ndarray:
    """A person box of about 100 x 200 px moving on a parabola: no jitter for a quadratic fit."""
    t = np.arange(frames, dtype=np.float64)[:, None]
    base = np.stack([np.linspace(0, 100, 17), np.linspace(0, 200, 17)], -1)
    return base[None] + np.stack([2 * t + 0.05 * t**2, 0.5 * t], -1)


def test_jitter_is_zero_on_smooth_motion_and_flags_a_jump():
    xy = track()
    assert jitter(xy).max() < 1e-9
    xy[20, 9] += 30.0  # one wrist 30 px off in one frame (the box diagonal is about 224 px)
    j = jitter(xy)
    assert j[20 - 2, 9] > JUMP and np.delete(j[:, 9], [16, 17, 18, 19, 20]).max() < 1e-9
    summary = pooled([(xy, np.ones((40, 17)))])
    assert summary["wrists"]["jumps"] > 0 and summary["hips"]["jumps"] == 0


def test_pooled_counts_low_and_dropped_scores():
    scores = np.ones((40, 17))
    scores[:10, 11] = 0.0  # a hip dropped for a quarter of the frames
    scores[:, 9] = 0.3
    summary = pooled([(track(), scores)])
    assert summary["hips"]["dropped"] == pytest.approx(12.5) and summary["hips"]["low"] == pytest.approx(12.5)
    assert summary["wrists"]["low"] == pytest.approx(50.0) and summary["wrists"]["dropped"] == 0
    assert set(summary) == set(GROUPS) and "| hips |" in table({"x": summary})


@pytest.mark.skipif(not FIXTURES.exists(), reason="needs ../shared/golden/blazepose")
def test_real_fixture_track_and_the_calibrated_simulation(tmp_path):
    xy, scores, fps = real_tracks(FIXTURES)
    assert xy.shape == (120, 17, 2) and scores.shape == (120, 17) and fps == 10
    real = pooled([(xy, scores)])
    assert all(real[g]["dropped"] == 0 for g in GROUPS)  # BlazePose gives every landmark, visible or not
    sim = simulated_tracks(WALKING, "blazepose", fps, views=2, seed=0)
    assert len(sim) == 2
    noisy = pooled([(n, s) for n, s, _ in sim])
    clean = pooled([(c, np.ones(c.shape[:2])) for _, _, c in sim])
    assert all(noisy[g]["jitter_p50"] > clean[g]["jitter_p50"] for g in GROUPS)
    with pytest.raises(ValueError, match="no joint-position npz"):
        simulated_tracks(tmp_path, "blazepose", fps, views=1, seed=0)


@pytest.mark.skipif(not FIXTURES.exists(), reason="needs ../shared/golden/blazepose")
def test_world_landmark_proportions_pick_the_hip_placement():
    from training.blazepose_stats import placed_proportions, world_proportions
    from training.data.layouts import GEOMETRY, CocoGeometry

    real = world_proportions(FIXTURES)
    placed = placed_proportions(WALKING, {"used": GEOMETRY["blazepose"], "raised": CocoGeometry(hip_out_up=(0.05, 0.30))})
    for r in real.values():  # the shipped placement is nearer BlazePose's own proportions than raised hips
        assert abs(r["trunk/thigh"] - placed["used"]["trunk/thigh"]) < abs(r["trunk/thigh"] - placed["raised"]["trunk/thigh"])
    assert placed["raised"]["trunk/thigh"] < placed["used"]["trunk/thigh"]

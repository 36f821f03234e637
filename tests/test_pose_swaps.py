"""Left/right limb-swap repair before lifting (`edgetokens.pose.swaps`, `lift_sequence(repair=True)`)."""
import numpy as np
import pytest

from edgetokens.pose.lifting import lift_sequence
from edgetokens.pose.swaps import H36M_LIMB_PAIRS, repair_swaps


def walking(frames=120, seed=0):
    """Smooth 2D H36M-17 tracks in pixels: a body drifting and swinging its limbs, scores in channel 2."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(-60, 60, (17, 2)) + np.array([500.0, 400.0])
    for left, right in H36M_LIMB_PAIRS:  # left and right limbs clearly apart
        base[list(left), 0] -= 40
        base[list(right), 0] += 40
    t = np.arange(frames)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, (1, 17, 1))
    points = base[None] + 3.0 * t * np.array([1.0, 0.0]) + 12 * np.sin(0.15 * t + phase)
    points += rng.normal(0, 0.5, points.shape)
    scores = rng.uniform(0.5, 1.0, (frames, 17, 1))
    return np.concatenate([points, scores], axis=-1)


def swapped(keypoints, events):
    out = keypoints.copy()
    for (left, right), start, length in events:
        frames = np.arange(start, start + length)
        out[np.ix_(frames, list(left) + list(right))] = keypoints[np.ix_(frames, list(right) + list(left))]
    return out


def test_swaps_of_one_to_eight_frames_are_undone_and_clean_tracks_are_left_alone():
    clean = walking()
    legs, arms = H36M_LIMB_PAIRS
    broken = swapped(clean, [(legs, 10, 1), (arms, 30, 4), (legs, 60, 8), (arms, 61, 3), (legs, 100, 2)])
    assert not np.array_equal(broken, clean)
    np.testing.assert_array_equal(repair_swaps(broken), clean)  # scores travel with their joint
    np.testing.assert_array_equal(repair_swaps(clean), clean)


def test_the_labels_do_not_depend_on_units_and_a_swap_at_the_first_frame_is_undone():
    clean = walking(seed=3)
    broken = swapped(clean, [(H36M_LIMB_PAIRS[0], 0, 3)])
    normalised = broken.copy()
    normalised[..., :2] = normalised[..., :2] / 1000 * 2 - 1
    repaired = repair_swaps(normalised)
    np.testing.assert_allclose(repaired[..., :2], clean[..., :2] / 1000 * 2 - 1, atol=1e-12)


def test_limbs_that_meet_keep_their_labels():
    clean = walking(seed=5)
    for left, right in H36M_LIMB_PAIRS:  # both limbs at one place: no labelling is smoother
        clean[:, list(right), :2] = clean[:, list(left), :2]
    np.testing.assert_array_equal(repair_swaps(clean), clean)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="frames, joints"):
        repair_swaps(np.zeros((10, 17)))
    holes = walking()
    holes[5, 3, 0] = np.nan
    with pytest.raises(ValueError, match="fill missing joints"):
        repair_swaps(holes)
    assert repair_swaps(np.zeros((0, 17, 2))).shape == (0, 17, 2)


def test_lift_sequence_repairs_on_request_only():
    clean = walking(frames=40)[..., :2].astype(np.float32) / 1000
    broken = swapped(clean, [(H36M_LIMB_PAIRS[1], 12, 5)])

    def run(clips):  # a stand-in lifter that shows its input: z = 0
        return np.concatenate([clips, np.zeros_like(clips[..., :1])], axis=-1)

    repaired = lift_sequence(run, broken, 27, flip=False, repair=True)
    raw = lift_sequence(run, broken, 27, flip=False)
    expected = lift_sequence(run, clean, 27, flip=False)
    np.testing.assert_allclose(repaired, expected, atol=1e-6)
    assert not np.allclose(raw, expected)

import numpy as np
import pytest

from edgetokens.pose.skeleton import bone_lengths
from training.data.synthetic import MOTIONS, SyntheticConfig, generate_dataset, generate_motion, sample_body


def test_seeded_reproducible_and_seed_sensitive():
    cfg = SyntheticConfig(n_subjects=2, sequences_per_subject=3, seconds=(2, 3))
    a, b = generate_dataset(5, cfg), generate_dataset(5, cfg)
    assert [s.name for s in a] == [s.name for s in b]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.positions, y.positions)
    c = generate_dataset(6, cfg)
    assert not np.allclose(a[0].positions[: len(c[0])], c[0].positions[: len(a[0])])


@pytest.mark.parametrize("motion", sorted(MOTIONS))
def test_every_motion_respects_bone_lengths_and_stands_on_the_floor(motion):
    body = sample_body(np.random.default_rng(3), "s")
    seq = generate_motion(motion, body, 300, np.random.default_rng(4))
    p = seq.positions
    assert p.shape == (300, 17, 3) and seq.fps == 50 and np.isfinite(p).all()
    np.testing.assert_allclose(bone_lengths(p), np.broadcast_to(body.lengths[1:], (300, 16)), atol=1e-5)
    assert p[..., 2].min() > 0.0  # nothing below the floor
    assert np.all(p[:, 10, 2] > p[:, [3, 6], 2].min(1) + 0.5)  # head well above the lowest ankle
    assert np.abs(np.diff(p, axis=0)).max() < 0.25  # smooth at 50 Hz: no joint jumps 25 cm in a frame


def test_bodies_have_adult_proportions_and_differ():
    rng = np.random.default_rng(0)
    bodies = [sample_body(rng, str(i)) for i in range(20)]
    heights = np.array([b.lengths[[2, 3, 7, 8, 9, 10]].sum() for b in bodies])
    assert np.all((heights > 1.3) & (heights < 1.9))
    assert heights.std() > 0.02
    for b in bodies:
        assert b.lengths[2] == b.lengths[5] and b.lengths[12] == b.lengths[15]  # symmetric limbs


def test_walk_moves_and_left_is_left():
    body = sample_body(np.random.default_rng(1), "s")
    p = generate_motion("walk", body, 250, np.random.default_rng(2)).positions.astype(np.float64)
    forward = np.gradient(p[:, 0], axis=0)
    forward[:, 2] = 0
    assert np.linalg.norm(forward, axis=1).mean() * 50 > 0.8  # metres per second
    left = np.cross([0.0, 0.0, 1.0], forward)
    assert np.mean(np.einsum("ij,ij->i", p[:, 4] - p[:, 1], left) > 0) > 0.95


def test_unknown_motion():
    with pytest.raises(ValueError, match="unknown motion"):
        generate_motion("moonwalk", sample_body(np.random.default_rng(0), "s"), 10, np.random.default_rng(0))

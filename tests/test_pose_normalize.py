import numpy as np
import pytest
import torch

from edgetokens.pose.normalize import image_coordinates, normalize_screen_coordinates, root_relative


def test_normalize_known_values_and_inverse():
    w, h = 1000, 1002
    px = np.array([[0.0, 0.0], [1000.0, 1002.0], [500.0, 501.0]])
    out = normalize_screen_coordinates(px, w, h)
    np.testing.assert_allclose(out, [[-1, -h / w], [1, h / w], [0, 0]], atol=1e-12)
    np.testing.assert_allclose(image_coordinates(out, w, h), px, atol=1e-9)


def test_extra_channels_pass_through_and_torch():
    x = torch.rand(3, 17, 3) * 900
    out = normalize_screen_coordinates(x, 900, 600)
    torch.testing.assert_close(out[..., 2], x[..., 2])
    torch.testing.assert_close(image_coordinates(out, 900, 600), x)


@pytest.mark.parametrize("w,h", [(0, 100), (100, -1)])
def test_non_positive_size_raises(w, h):
    with pytest.raises(ValueError, match="positive"):
        normalize_screen_coordinates(np.zeros((2, 17, 2)), w, h)


def test_root_relative():
    x = np.random.default_rng(0).normal(size=(5, 17, 3))
    y = root_relative(x)
    np.testing.assert_array_equal(y[:, 0], 0)
    np.testing.assert_allclose(y[:, 5] - y[:, 3], x[:, 5] - x[:, 3])

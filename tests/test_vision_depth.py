import math

import numpy as np
import pytest

from edgetokens.vision import (
    METRIC_NAMES,
    average_metrics,
    colorize_depth,
    depth_metrics,
    eigen_crop_box,
    eigen_crop_mask,
    valid_depth_mask,
)


def scene(height=480, width=640, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 9.0, (height, width))


def test_perfect_prediction():
    gt = scene()
    m = depth_metrics(gt.copy(), gt)
    assert set(m) == set(METRIC_NAMES)
    assert m["rmse"] == 0 and m["abs_rel"] == 0 and m["sq_rel"] == 0 and m["log10"] == 0
    assert m["d1"] == m["d2"] == m["d3"] == 1.0
    assert m["silog"] == pytest.approx(0, abs=1e-9) and m["rmse_log"] == pytest.approx(0, abs=1e-9)


def test_uniform_scaling_by_1_1():
    gt = scene(60, 80)
    m = depth_metrics(1.1 * gt, gt, eigen_crop=False)
    ln = math.log(1.1)
    assert m["abs_rel"] == pytest.approx(0.1)
    assert m["d1"] == 1.0
    assert m["sq_rel"] == pytest.approx(0.01 * gt.mean())
    assert m["rmse"] == pytest.approx(0.1 * math.sqrt(np.mean(gt ** 2)))
    assert m["rmse_log"] == pytest.approx(ln)
    assert m["log10"] == pytest.approx(math.log10(1.1))
    assert m["silog"] == pytest.approx(ln / math.sqrt(2))  # sqrt(ln^2 - 0.5 ln^2): a pure scale is half-forgiven


def test_known_per_pixel_case():
    gt = np.array([[1.0, 2.0], [4.0, 5.0]])
    pred = np.array([[1.0, 3.0], [2.0, 5.0]])  # ratios 1, 1.5, 2, 1
    m = depth_metrics(pred, gt, eigen_crop=False)
    d = np.array([0.0, math.log(1.5), math.log(0.5), 0.0])
    expected = {
        "d1": 0.5, "d2": 0.75, "d3": 0.75,  # 1.5 < 1.5625; 2 > 1.953125
        "abs_rel": (0 + 1 / 2 + 2 / 4 + 0) / 4,
        "sq_rel": (0 + 1 / 2 + 4 / 4 + 0) / 4,
        "rmse": math.sqrt((0 + 1 + 4 + 0) / 4),
        "rmse_log": math.sqrt((math.log(1.5) ** 2 + math.log(2) ** 2) / 4),
        "log10": (math.log10(1.5) + math.log10(2)) / 4,
        "silog": math.sqrt(np.mean(d ** 2) - 0.5 * np.mean(d) ** 2),
    }
    assert m == pytest.approx(expected)


def test_per_image_average_differs_from_pooled():
    gt_a, pred_a = np.full((1, 1), 4.0), np.full((1, 1), 6.0)  # rmse 2
    gt_b, pred_b = np.full((1, 1), 4.0), np.full((1, 1), 4.0)  # rmse 0
    per_image = [depth_metrics(pred_a, gt_a, eigen_crop=False), depth_metrics(pred_b, gt_b, eigen_crop=False)]
    averaged = average_metrics(per_image)
    pooled = depth_metrics(np.hstack([pred_a, pred_b]), np.hstack([gt_a, gt_b]), eigen_crop=False)
    assert averaged["rmse"] == pytest.approx(1.0)
    assert pooled["rmse"] == pytest.approx(math.sqrt(2.0))
    assert averaged["abs_rel"] == pytest.approx(0.25) == pooled["abs_rel"]


def test_inf_nan_and_range_handling_of_predictions():
    gt = np.array([[8.0, 0.5, 2.0, 2.0, 2.0]])
    pred = np.array([[np.inf, np.nan, -np.inf, 50.0, -3.0]])  # -> 10, 0.001, 10, 10, 0.001
    m = depth_metrics(pred, gt, eigen_crop=False)
    p = np.array([10.0, 0.001, 10.0, 10.0, 0.001])
    assert m["rmse"] == pytest.approx(math.sqrt(np.mean((p - gt[0]) ** 2)))
    assert m["abs_rel"] == pytest.approx(np.mean(np.abs(p - gt[0]) / gt[0]))
    assert all(math.isfinite(v) for v in m.values())


def test_invalid_ground_truth_is_ignored_and_empty_image_raises():
    gt = np.array([[0.0, np.nan, 10.0, 12.0, 0.0005, 3.0]])
    pred = np.array([[1.0, 1.0, 1.0, 1.0, 1.0, 3.0]])
    np.testing.assert_array_equal(valid_depth_mask(gt, eigen_crop=False), [[False] * 5 + [True]])
    assert depth_metrics(pred, gt, eigen_crop=False)["rmse"] == 0
    with pytest.raises(ValueError, match="kitchen_0001.*no valid"):
        depth_metrics(pred, np.zeros_like(gt), eigen_crop=False, name="kitchen_0001")


def test_mask_argument_and_shape_errors():
    gt, pred = np.array([[1.0, 2.0]]), np.array([[1.0, 4.0]])
    assert depth_metrics(pred, gt, eigen_crop=False, mask=np.array([[True, False]]))["rmse"] == 0
    with pytest.raises(ValueError, match="prediction shape"):
        depth_metrics(pred[:, :1], gt, eigen_crop=False)
    with pytest.raises(ValueError, match="no per-image metrics"):
        average_metrics([])
    with pytest.raises(ValueError, match="image 1"):
        average_metrics([{"rmse": 1.0}, {"abs_rel": 1.0}])


def test_eigen_crop_mask_shape_and_position():
    mask = eigen_crop_mask(480, 640)
    assert mask.shape == (480, 640) and mask.dtype == bool
    assert mask.sum() == (471 - 45) * (601 - 41)
    assert mask[45, 41] and mask[470, 600]
    assert not mask[44, 41] and not mask[45, 40] and not mask[471, 300] and not mask[300, 601]
    assert eigen_crop_box(240, 320) == (23, 236, 21, 301)  # 22.5, 235.5, 20.5, 300.5 rounded half up
    assert eigen_crop_box(424, 512) == (40, 416, 33, 481)
    assert eigen_crop_mask(424, 512).shape == (424, 512)


def test_errors_outside_the_eigen_crop_do_not_count():
    gt = scene()
    pred = gt.copy()
    pred[:45] = 1.0
    pred[:, 601:] = 1.0
    assert depth_metrics(pred, gt)["rmse"] == 0
    assert depth_metrics(pred, gt, eigen_crop=False)["rmse"] > 0


def test_colorize_depth_shape_dtype_holes_and_order():
    depth = np.tile(np.linspace(1.0, 5.0, 16), (8, 1))
    depth[0, 0], depth[1, 1], depth[2, 2] = 0.0, np.nan, np.inf
    image = colorize_depth(depth, invalid_color=(255, 0, 255))
    assert image.shape == (8, 16, 3) and image.dtype == np.uint8
    for y, x in ((0, 0), (1, 1), (2, 2)):
        assert tuple(image[y, x]) == (255, 0, 255)
    near, far = image[4, 0].astype(int), image[4, -1].astype(int)  # BGR; TURBO: near red, far blue
    assert near[2] > near[0] and far[0] > far[2]
    fixed = colorize_depth(depth, min_depth=0.0, max_depth=10.0)
    assert not np.array_equal(fixed, image)  # explicit range changes the mapping
    blank = colorize_depth(np.zeros((3, 4)), invalid_color=(1, 2, 3))
    assert (blank == np.array([1, 2, 3], dtype=np.uint8)).all()

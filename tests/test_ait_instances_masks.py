"""Instance masks: box crops and pasting, the mask tokenizer, the aux loss and InstancesResult."""
import json

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from safetensors.torch import load_file

from edgetokens.checkpoint import CONFIG, WEIGHTS, save_checkpoint
from edgetokens.models.ait.config import VQVAEConfig
from edgetokens.models.ait.mask_losses import dice_loss, mask_aux_loss
from edgetokens.models.ait.mask_tokenizer import MaskTokenizer, MaskTokenizerConfig
from edgetokens.models.ait.vqvae import VQVAE
from edgetokens.vision.coco_classes import COCO_CATEGORY_IDS
from edgetokens.vision.instances import InstancesResult, class_color, from_model_output
from edgetokens.vision.masks import crop_masks, paste_masks

H, W = 120, 160


def ellipse(box: tuple[float, float, float, float], height: int = H, width: int = W) -> np.ndarray:
    x1, y1, x2, y2 = box
    yy, xx = np.mgrid[:height, :width] + 0.5
    return (((xx - (x1 + x2) / 2) / ((x2 - x1) / 2)) ** 2 + ((yy - (y1 + y2) / 2) / ((y2 - y1) / 2)) ** 2) <= 1


def rectangle(box: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[box[1]:box[3], box[0]:box[2]] = True
    return mask


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def ellipse_crops(n: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    crops = [ellipse((cx - rx, cy - ry, cx + rx, cy + ry), 64, 64)
             for cx, cy, rx, ry in zip(*rng.uniform([20, 20, 10, 10], [44, 44, 30, 30], (n, 4)).T)]
    return torch.from_numpy(np.stack(crops)[:, None].astype(np.float32))


# -- crop / paste ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("box", [(10, 20, 60, 100), (30.5, 5.2, 150.0, 40.7), (70, 50, 90, 62), (0, 0, 160, 120)])
def test_crop_then_paste_recovers_the_mask(box):
    for shape in (ellipse(box), rectangle(tuple(round(v) for v in box))):
        crop = crop_masks(shape[None], np.array([box]))
        assert crop.shape == (1, 64, 64) and crop.dtype == np.float32 and set(np.unique(crop)) <= {0.0, 1.0}
        pasted = paste_masks(crop, np.array([box]), H, W)
        assert pasted.dtype == bool and pasted.shape == (1, H, W)
        assert iou(pasted[0], shape) > 0.95


def test_crop_of_a_box_filling_mask_is_full_and_soft_crops_are_fractions():
    box = np.array([[20, 30, 84, 94]])
    assert crop_masks(rectangle((20, 30, 84, 94))[None], box).min() == 1.0
    half = np.zeros((H, W), np.float32)
    half[:, :52] = 1.0  # left half of the box
    soft = crop_masks(half[None], box, size=8, binary=False)[0]
    np.testing.assert_allclose(soft[:, :4], 1.0) and np.testing.assert_allclose(soft[:, 4:], 0.0)


def test_boxes_partly_outside_the_image():
    box = np.array([[-40.0, -20.0, 60.0, 60.0]])
    mask = ellipse(tuple(box[0]))  # only the part inside the image exists
    crop = crop_masks(mask[None], box)
    assert 0.2 < crop.mean() < 0.6  # outside the image reads as background
    pasted = paste_masks(crop, box, H, W)
    assert iou(pasted[0], mask) > 0.9
    assert not pasted[0, 61:].any() and not pasted[0, :, 61:].any()  # nothing outside the box


def test_degenerate_boxes_and_no_masks():
    masks = np.ones((3, H, W), bool)
    boxes = np.array([[10, 10, 10, 40], [50, 60, 80, 60], [np.nan, 0, 5, 5]])
    crop = crop_masks(masks, boxes)
    assert np.isfinite(crop).all() and crop.max() == 0
    pasted = paste_masks(np.ones((3, 64, 64), np.float32), boxes, H, W, threshold=None)
    assert np.isfinite(pasted).all() and pasted.max() == 0
    assert crop_masks(np.zeros((0, H, W), bool), np.zeros((0, 4))).shape == (0, 64, 64)
    assert paste_masks(np.zeros((0, 64, 64)), np.zeros((0, 4)), H, W).shape == (0, H, W)
    with pytest.raises(ValueError, match="boxes"):
        crop_masks(masks, boxes[:2])


def test_masks_answer_in_the_kind_they_were_given():
    box = torch.tensor([[10.0, 20.0, 60.0, 100.0]])
    crop = crop_masks(torch.from_numpy(ellipse((10, 20, 60, 100))[None]), box)
    assert isinstance(crop, torch.Tensor) and crop.dtype == torch.float32
    pasted = paste_masks(crop, box, H, W)
    assert isinstance(pasted, torch.Tensor) and pasted.dtype == torch.bool
    np.testing.assert_array_equal(pasted.numpy(), paste_masks(crop.numpy(), box.numpy(), H, W))


# -- tokenizer ------------------------------------------------------------------------------------------------

def test_mask_tokenizer_shapes_and_round_trip_untrained():
    torch.manual_seed(0)
    tokenizer = MaskTokenizer(MaskTokenizerConfig()).eval()
    masks = ellipse_crops(4, 0)
    ids = tokenizer.encode(masks)
    assert ids.shape == (4, 16) and ids.dtype == torch.int64 and ((ids >= 0) & (ids < 128)).all()
    decoded = tokenizer.decode_ids(ids)
    assert decoded.shape == (4, 1, 64, 64)
    torch.testing.assert_close(tokenizer.decode_ids(ids.reshape(4, 4, 4)), decoded)
    one_hot = torch.nn.functional.one_hot(ids, 128).float() * 1e4  # a sure soft decode is the hard one
    torch.testing.assert_close(tokenizer.decode_soft(one_hot), decoded, atol=1e-5, rtol=1e-4)
    recon, forward_ids, commit = tokenizer(masks)
    assert torch.equal(forward_ids, ids) and recon.shape == masks.shape and commit.ndim == 0
    torch.testing.assert_close(recon, decoded)
    empty = tokenizer.empty_mask_ids()
    assert empty.shape == (16,) and torch.equal(empty, tokenizer.encode(torch.zeros(1, 1, 64, 64))[0])
    with pytest.raises(ValueError, match=r"\(N, 1, 64, 64\)"):
        tokenizer.encode(torch.zeros(2, 64, 64))


def test_mask_tokenizer_normalises_masks():
    tokenizer = MaskTokenizer(MaskTokenizerConfig()).eval()
    seen = []
    tokenizer.encoder.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    tokenizer.encode(torch.cat([torch.ones(1, 1, 64, 64), torch.zeros(1, 1, 64, 64)]))
    assert seen[0][0].unique().tolist() == [1.0] and seen[0][1].unique().tolist() == [-1.0]  # m -> 2m - 1
    tokenizer.decoder = torch.nn.Conv2d(128, 1, 1)  # a decoder giving x = -1 everywhere
    torch.nn.init.zeros_(tokenizer.decoder.weight)
    torch.nn.init.constant_(tokenizer.decoder.bias, -1.0)
    with torch.no_grad():
        out = tokenizer.decode_ids(torch.zeros(2, 16, dtype=torch.int64))
    assert out.shape == (2, 1, 4, 4) and out.unique().tolist() == [0.0]  # x -> x * 0.5 + 0.5


def test_mask_tokenizer_state_dict_and_checkpoint_mirror_vqvae(tmp_path):
    config = MaskTokenizerConfig()
    tokenizer = MaskTokenizer(config)
    twin = VQVAE(VQVAEConfig(**{k: getattr(config, k) for k in VQVAEConfig.__dataclass_fields__}))
    assert {k: v.shape for k, v in tokenizer.state_dict().items()} == {k: v.shape for k, v in twin.state_dict().items()}
    assert tokenizer.arch == "ait-mask-vqvae" and tokenizer.task == "mask-tokenizer"
    assert tokenizer.input_shape == (1, 64, 64) and config.num_tokens == 16
    save_checkpoint(tokenizer, tmp_path / "ckpt")
    info = json.loads((tmp_path / "ckpt" / CONFIG).read_text())
    assert info["arch"] == "ait-mask-vqvae"
    restored = MaskTokenizer(MaskTokenizerConfig(**tokenizer.upgrade_saved_config(info["config"])))
    restored.load_state_dict(load_file(str(tmp_path / "ckpt" / WEIGHTS)))
    masks = ellipse_crops(2, 1)
    assert torch.equal(restored.eval().encode(masks), tokenizer.eval().encode(masks))
    signature = tokenizer.signature(2)
    (example,) = signature.example_tensors()
    assert signature.task == "mask-tokenizer" and example.shape == (2, 1, 64, 64)
    assert tokenizer.graph_forward(example)[0].shape == tuple(signature.outputs[0].shape)


def test_a_short_optimisation_reduces_the_reconstruction_loss():
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tokenizer = MaskTokenizer(MaskTokenizerConfig())
        masks = ellipse_crops(8, 0)
        optimizer = torch.optim.Adam(tokenizer.parameters(), lr=1e-3)
        losses = []
        for _ in range(60):
            parts = tokenizer.reconstruction_loss(masks)
            assert set(parts) == {"mse", "commit", "loss"}
            optimizer.zero_grad()
            parts["loss"].backward()
            optimizer.step()
            losses.append(float(parts["mse"].detach()))
    finally:
        torch.set_num_threads(threads)
    assert losses[-1] < 0.5 * losses[0]


# -- aux loss -------------------------------------------------------------------------------------------------

def test_mask_aux_loss_properties():
    target = ellipse_crops(3, 2)
    assert float(mask_aux_loss(target, target)) == pytest.approx(0.0, abs=1e-7)
    assert float(dice_loss(target.clamp_max(1) * 3, target)) == pytest.approx(0.0, abs=1e-7)  # pred clipped
    worse = [float(mask_aux_loss(torch.lerp(target, 1 - target, t), target)) for t in (0.1, 0.5, 1.0)]
    assert worse == sorted(worse) and worse[-1] > 1.5
    empty = torch.zeros(1, 1, 64, 64)
    assert float(dice_loss(empty, empty)) == 0.0  # +1 smoothing: an empty target predicted empty is right
    pred = torch.full_like(target, 0.5, requires_grad=True)
    mask_aux_loss(pred, target).backward()
    assert pred.grad.abs().sum() > 0
    none = mask_aux_loss(torch.zeros(0, 1, 64, 64, requires_grad=True), torch.zeros(0, 1, 64, 64))
    assert float(none.detach()) == 0.0 and none.requires_grad
    with pytest.raises(ValueError, match="same shape"):
        mask_aux_loss(target, target[:, 0])


# -- results --------------------------------------------------------------------------------------------------

def two_instances() -> InstancesResult:
    boxes = np.array([[10, 20, 60, 100], [80, 30, 150, 90]], np.float32)
    masks = np.stack([ellipse(tuple(b)) for b in boxes])
    return InstancesResult(boxes, np.array([0, 17]), np.array([0.9, 0.4]), masks, (H, W))


def test_instances_result_selection_names_and_plot():
    result = two_instances()
    assert len(result) == 2 and result.names == ["person", "horse"]
    assert result.filter(0.5).names == ["person"] and len(result.select([1])) == 1
    image = np.full((H, W, 3), 40, np.uint8)
    canvas = result.plot(image)
    assert canvas.shape == image.shape and canvas.dtype == np.uint8 and (image == 40).all()
    inside = result.masks[1] & ~result.masks[0]
    inside[:45], inside[85:], inside[:, :85], inside[:, 145:] = False, False, False, False  # off labels and box
    tint = np.array(class_color(17)) * 0.5 + 20
    assert np.abs(canvas[inside].astype(float) - tint).max() <= 1
    empty = result.filter(2.0)
    blank = empty.plot(image)
    assert len(empty) == 0 and empty.masks.shape == (0, H, W) and blank is not image and (blank == image).all()
    with pytest.raises(ValueError, match="one class id"):
        InstancesResult(result.boxes, [0], result.scores, result.masks, (H, W))
    with pytest.raises(ValueError, match="class_ids"):
        InstancesResult(result.boxes, [0, 80], result.scores, result.masks, (H, W))


def test_to_coco_is_valid_coco_results_json(tmp_path):
    result = two_instances()
    entries = result.to_coco(image_id=7)
    assert [e["category_id"] for e in entries] == [1, COCO_CATEGORY_IDS[17]]
    assert entries[0]["bbox"] == [10.0, 20.0, 50.0, 80.0] and isinstance(entries[0]["segmentation"]["counts"], str)
    assert result.filter(2.0).to_coco(7) == []
    path = result.save_json(tmp_path / "results.json", image_id=7)
    assert json.loads(path.read_text()) == entries
    # ground truth made of the same masks: a perfect prediction scores AP 1 in pycocotools
    gt = COCO()
    gt.dataset = {"images": [{"id": 7, "height": H, "width": W}],
                  "categories": [{"id": c} for c in COCO_CATEGORY_IDS],
                  "annotations": [dict(e, id=i + 1, area=float(m.sum()), iscrowd=0)
                                  for i, (e, m) in enumerate(zip(entries, result.masks))]}
    gt.createIndex()
    for kind in ("segm", "bbox"):
        evaluation = COCOeval(gt, gt.loadRes(str(path)), kind)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
        assert evaluation.stats[0] == pytest.approx(1.0)


def test_from_model_output_undoes_a_letterbox():
    box = np.array([30.0, 10.0, 170.0, 100.0])  # in a 120 x 200 image, reaching past its right edge
    height, width = 120, 160
    mask = ellipse(tuple(box), height, width)
    full = ellipse(tuple(box), height, 200)  # the whole object, for the crop
    gain, pad = 0.5, (8.0, 34.0)  # model pixel = image pixel * 0.5 + pad (a 96 px letterbox)
    parsed = {"boxes": np.array([box * gain + np.tile(pad, 2), [0, 0, 4, 4]], np.float32),
              "class_ids": np.array([2, 5]), "scores": np.array([0.8, 0.7], np.float32)}
    probs = np.concatenate([crop_masks(full[None], box[None]), np.ones((1, 64, 64), np.float32)])
    result = from_model_output(parsed, torch.from_numpy(probs), (height, width), scale=gain, pad=pad)
    assert len(result) == 1  # the second box lies in the padding: dropped
    np.testing.assert_allclose(result.boxes[0], [30.0, 10.0, 160.0, 100.0], atol=1e-4)  # clipped
    assert result.class_ids.tolist() == [2] and iou(result.masks[0], mask) > 0.95
    with pytest.raises(ValueError, match="scale"):
        from_model_output(parsed, probs, (height, width), scale=0.0)
    with pytest.raises(ValueError, match="one mask"):
        from_model_output(parsed, probs[:1], (height, width))
    nothing = {"boxes": np.zeros((0, 4)), "class_ids": np.zeros(0, int), "scores": np.zeros(0)}
    empty = from_model_output(nothing, torch.zeros(0, 16, 128)[:, :0], (height, width))
    assert len(empty) == 0 and empty.masks.shape == (0, height, width) and empty.to_coco(1) == []

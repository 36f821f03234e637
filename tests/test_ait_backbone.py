"""AiT's image backbones: EfficientNet-Lite0 with its ImageNet weights, `build_backbone`, ONNX export."""
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open

from compression.export import export_onnx
from edgetokens import create_model
from edgetokens.models.ait import AiTDepth, AiTDepthConfig
from edgetokens.models.ait.backbone import ConvBackbone, EfficientNetLite0Backbone, build_backbone
from edgetokens.models.ait.efficientnet_lite import (
    LITE_INPUT_MEAN,
    LITE_INPUT_STD,
    ConvBNAct,
    EfficientNetLite0,
    imagenet_weights_path,
    load_imagenet_weights,
    source_name,
)
from edgetokens.vision.image import IMAGENET_MEAN, IMAGENET_STD

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
LITE0_PARAMETERS = 4_652_008  # the converted TF checkpoint, classifier included
ZEBRA, ELEPHANTS, CATS = {340}, {101, 385, 386}, set(range(281, 286))  # ImageNet-1k class indices
# coco128-seg image id, COCO class of the object to crop (22 zebra, 20 elephant, 15 cat), accepted classes
CROPS = (("000000000034", 22, ZEBRA), ("000000000154", 22, ZEBRA), ("000000000263", 20, ELEPHANTS),
         ("000000000312", 20, ELEPHANTS), ("000000000575", 15, CATS), ("000000000599", 15, CATS),
         ("000000000650", 15, CATS))
SMALL = AiTDepthConfig(image_size=64, backbone="efficientnet-lite0", d_model=32, heads=2, mlp_hidden=64,
                       encoder_depth=1, decoder_depth=1, dropout=0.0, drop_path=0.0, vq_downsample=16,
                       vq_hidden_dim=4, vq_num_codes=16, vq_code_dim=8)


@pytest.fixture(scope="module")
def source_weights() -> dict[str, torch.Tensor]:
    return torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def classifier() -> EfficientNetLite0:
    return load_imagenet_weights(EfficientNetLite0(with_classifier=True)).eval()


def largest_object_crop(shared: Path, image_id: str, coco_class: int) -> np.ndarray:
    """RGB square crop around the largest `coco_class` polygon of a coco128-seg image, resized to 224."""
    root = shared / "data" / "coco128-seg"
    rgb = cv2.cvtColor(cv2.imread(str(root / "images" / f"{image_id}.jpg")), cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    boxes = []
    for line in (root / "labels" / f"{image_id}.txt").read_text().splitlines():
        values = line.split()
        if int(values[0]) == coco_class:
            polygon = np.asarray(values[1:], float).reshape(-1, 2) * (w, h)
            boxes.append((*polygon.min(0), *polygon.max(0)))
    x0, y0, x1, y1 = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    half, cx, cy = max(x1 - x0, y1 - y0) * 0.55, (x0 + x1) / 2, (y0 + y1) / 2
    crop = rgb[int(max(cy - half, 0)):int(min(cy + half, h)), int(max(cx - half, 0)):int(min(cx + half, w))]
    return cv2.resize(crop, (224, 224), interpolation=cv2.INTER_AREA)


def lite_input(rgb: np.ndarray) -> torch.Tensor:
    x = (rgb.astype(np.float32) / 255 - np.float32(LITE_INPUT_MEAN)) / np.float32(LITE_INPUT_STD)
    return torch.from_numpy(x).permute(2, 0, 1)[None]


def imagenet_input(rgb: np.ndarray) -> torch.Tensor:
    x = (rgb.astype(np.float32) / 255 - np.float32(IMAGENET_MEAN)) / np.float32(IMAGENET_STD)
    return torch.from_numpy(x).permute(2, 0, 1)[None]


def top1_hits(model: EfficientNetLite0, shared: Path) -> list[bool]:
    hits = []
    for image_id, coco_class, accepted in CROPS:
        with torch.no_grad():
            logits = model.classify(lite_input(largest_object_crop(shared, image_id, coco_class)))
        hits.append(int(logits.argmax()) in accepted)
    return hits


def test_mapping_fills_every_tensor(classifier, source_weights):
    assert sum(p.numel() for p in classifier.parameters()) == pytest.approx(LITE0_PARAMETERS, rel=0.01)
    for name, tensor in classifier.state_dict().items():
        assert torch.equal(tensor, source_weights[source_name(name)]), name
    features = EfficientNetLite0(with_classifier=False)
    load_imagenet_weights(features)
    assert not hasattr(features, "classifier")
    assert torch.equal(features.blocks[15].project.conv.weight, source_weights["_blocks.15._project_conv.weight"])


def test_mismatched_weights_name_the_tensor(source_weights, tmp_path):
    damaged = dict(source_weights)
    del damaged["_blocks.7._depthwise_conv.weight"]
    damaged["_blocks.3._bn1.bias"] = torch.zeros(7)
    torch.save(damaged, tmp_path / "lite0.pth")
    with pytest.raises(ValueError, match=r"blocks\.7\.depthwise\.conv\.weight.*blocks\.3\.depthwise\.bn\.bias"):
        load_imagenet_weights(EfficientNetLite0(), tmp_path / "lite0.pth")
    torch.save({**source_weights, "_extra.weight": torch.zeros(1)}, tmp_path / "extra.pth")
    with pytest.raises(ValueError, match=r"unused \['_extra.weight'\]"):
        load_imagenet_weights(EfficientNetLite0(), tmp_path / "extra.pth")


def test_classifies_real_crops(classifier, shared_dir):
    assert all(top1_hits(classifier, shared_dir))
    torch.manual_seed(0)
    assert sum(top1_hits(EfficientNetLite0(with_classifier=True).eval(), shared_dir)) <= 1


def test_backbone_takes_imagenet_normalised_input(classifier, shared_dir):
    rgb = largest_object_crop(shared_dir, "000000000034", 22)
    backbone = EfficientNetLite0Backbone(pretrained=True).eval()
    with torch.no_grad():
        assert torch.allclose(backbone(imagenet_input(rgb)), classifier(lite_input(rgb)), atol=1e-4)
    assert not any("input_" in name for name in backbone.state_dict())
    with pytest.raises(ValueError, match="multiples of 32"):
        backbone(torch.zeros(1, 3, 48, 64))


@pytest.mark.parametrize("kernel", [3, 5])
def test_stride2_conv_pads_like_tensorflow(kernel):
    torch.manual_seed(0)
    layer = ConvBNAct(4, 4, kernel, stride=2, groups=4).eval()
    torch.nn.init.normal_(layer.bn.running_mean)
    torch.nn.init.uniform_(layer.bn.running_var, 0.5, 2.0)
    x = torch.randn(2, 4, 16, 12)
    tf_same = F.pad(x, (kernel // 2 - 1, kernel // 2, kernel // 2 - 1, kernel // 2))  # less before, more after
    with torch.no_grad():
        expected = layer.act(layer.bn(F.conv2d(tf_same, layer.conv.weight, stride=2, groups=4)))
        torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-6)


def test_feature_levels():
    model = EfficientNetLite0().eval()
    with torch.no_grad():
        features = model.forward_features(torch.randn(2, 3, 128, 96))
    assert [tuple(f.shape) for f in features] == [(2, c, 128 // s, 96 // s)
                                                 for c, s in zip(model.level_channels, model.level_strides)]
    assert model.level_channels == (40, 112, 320) and model.out_channels == 320 and model.stride == 32


def static_shapes(path: Path) -> list[list[int]]:
    graph = onnx.load(str(path)).graph
    return [[d.dim_value for d in v.type.tensor_type.shape.dim] for v in (*graph.input, *graph.output)]


def test_ait_depth_with_lite0(source_weights, tmp_path):
    torch.manual_seed(0)
    model = AiTDepth(SMALL).eval()
    assert torch.equal(model.backbone.network.stem.conv.weight, source_weights["_conv_stem.weight"])
    assert AiTDepth(replace(SMALL, backbone_pretrained=False)).backbone.network.stem.conv.weight.abs().sum() != \
        source_weights["_conv_stem.weight"].abs().sum()
    with torch.no_grad():
        depth = model(torch.randn(2, 3, 64, 64))
    assert depth.shape == (2, 1, 64, 64) and torch.isfinite(depth).all()

    image = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        expected = model.backbone(image).numpy()
        torch.onnx.export(model.backbone, (image,), str(tmp_path / "lite0.onnx"), opset_version=17, dynamo=False,
                          input_names=["image"], output_names=["features"])
    assert static_shapes(tmp_path / "lite0.onnx") == [[1, 3, 128, 128], [1, 320, 4, 4]]
    session = ort.InferenceSession(str(tmp_path / "lite0.onnx"), providers=["CPUExecutionProvider"])
    (features,) = session.run(None, {"image": image.numpy()})
    np.testing.assert_allclose(features, expected, atol=1e-4)

    path = export_onnx(model, tmp_path / "ait-lite0.onnx")  # the whole model, the bundles' export path
    assert static_shapes(path) == [[1, 3, 64, 64], [1, 1, 64, 64]]
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(image).numpy()
    (depth,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": image.numpy()})
    np.testing.assert_allclose(depth, expected, atol=1e-4, rtol=1e-4)


def test_unknown_backbone_is_named():
    with pytest.raises(ValueError, match=r"backbone must be one of \('conv', 'efficientnet-lite0'\), got 'resnet'"):
        AiTDepthConfig(backbone="resnet").validate()
    with pytest.raises(ValueError, match="unknown backbone 'resnet'"):
        build_backbone(replace(AiTDepthConfig(), backbone="resnet"))
    with pytest.raises(ValueError, match="backbone_pretrained"):
        AiTDepthConfig(backbone_pretrained="yes").validate()


def test_conv_default_keeps_the_shipped_checkpoint():
    with safe_open(str(REPO / "edgetokens" / "weights" / "ait-depth" / "model.safetensors"), "pt") as weights:
        shipped = set(weights.keys())
    fresh = create_model("ait-depth")
    assert isinstance(fresh.backbone, ConvBackbone)
    assert set(fresh.state_dict()) == shipped
    trained = create_model("ait-depth", pretrained=True)
    assert trained.config.backbone == "conv" and isinstance(trained.backbone, ConvBackbone)

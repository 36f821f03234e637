"""INT8 decoder graphs: calibration feeds taken from real decodings, NNCF's OpenVINO INT8 of both graphs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from compression.decoder_calibration import decoder_feeds
from compression.export_decoder import build_decoder_bundle
from edgetokens.instance_decoding import InstanceDecoder
from edgetokens.models.ait.decoding import InstanceStep
from runtimes import open_session
from runtimes.decoder_bundle import read_decoder
from tests.test_ait_decoding import WIDTH, tiny_model

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(4)
    return [rng.standard_normal((1, 3, 64, 64)).astype(np.float32) for _ in range(3)]


def test_step_feeds_hold_the_caches_of_that_moment_of_a_greedy_decoding(model, images):
    prefill_feeds, step_feeds = decoder_feeds(model, images, step_feeds=9)
    assert [f["image"] for f in prefill_feeds] == images and len(step_feeds) == 9
    step = InstanceStep(model)
    for feed in step_feeds[:3]:  # the first image's: its greedy logits at each sampled position
        reference, ids = model.generate_instances(torch.from_numpy(images[0]), top_p=0.0)
        position = int(feed["position"][0])
        assert 1 <= position < 3 * WIDTH and feed["prev_ids"][0] == ids[0, position - 1]
        assert not feed["past_k"][:, :, :, position:].any() and feed["past_k"][:, :, :, :position].all()
        with torch.no_grad():
            logits = step(**{k: torch.from_numpy(v) for k, v in feed.items()})[0]
        torch.testing.assert_close(logits, reference[:, position], atol=1e-5, rtol=0)


def test_an_int8_decoder_bundle_has_openvino_int8_graphs_that_decode(model, images, tmp_path):
    path = build_decoder_bundle(model, tmp_path / "int8", precisions=("fp32",), int8_images=images)
    bundle = read_decoder(path)  # the recorded hashes are those of the manifests with INT8 added
    for manifest in (bundle.prefill, bundle.step):
        assert manifest.artifacts["int8"] == {"openvino": "openvino/model.int8.xml"}
        assert manifest.source["quantization"]["method"] == "nncf-ptq"
    assert bundle.step.source["quantization"]["calibration_feeds"] > len(images)
    sessions = [open_session(bundle.graph_dir(g), "openvino:CPU", "int8", threads=1) for g in ("prefill", "step")]
    decoder = InstanceDecoder.for_model(*sessions, model, bundle.info["pair"])
    logits, ids = decoder.decode(images[0])
    reference = InstanceDecoder.on_torch(model).decode(images[0])[1]
    assert ids.shape == reference.shape == (1, 3 * WIDTH)
    assert all(decoder.legal[i][int(ids[0, i])] for i in range(ids.shape[1]))  # constrained as in fp32
    assert not torch.equal(logits, InstanceDecoder.on_torch(model).decode(images[0])[0])  # really other weights

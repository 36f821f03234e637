"""Exported, KV-cached AiT instance decoding (issue 24): the static prefill/step graphs, the one decode loop
over torch, ONNX Runtime and OpenVINO sessions, and the decoder bundle's pairing checks."""
import json
import shutil

import numpy as np
import pytest
import torch

from compression.export_decoder import build_decoder_bundle
from edgetokens import create_model
from edgetokens.instance_decoding import InstanceDecoder
from edgetokens.models.ait.decoding import InstancePrefill, InstanceStep, write_position
from edgetokens.models.ait.instance_sequence import CLASS_POSITION, is_noise_slot
from runtimes import BundleError, open_session
from runtimes.decoder_bundle import DECODER_MANIFEST, read_decoder
from runtimes.torch_session import TorchSession

torch.set_num_threads(1)

TINY = dict(image_size=64, slots=3, d_model=32, heads=2, mlp_hidden=64, encoder_depth=1, decoder_depth=2,
            backbone="conv", backbone_widths=(8, 8, 16, 16, 32), vq_hidden_dim=4, vq_code_dim=16,
            mask_vq_hidden_dim=4, mask_vq_code_dim=16, tasks=("instances",))
WIDTH = 21


def tiny_model(seed: int = 0):
    torch.manual_seed(seed)
    return create_model("ait-instances", **TINY).eval()


def torch_decoder(model, pair: str = "torch") -> InstanceDecoder:
    return InstanceDecoder.on_torch(model, threads=1, pair=pair)


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def image():
    return torch.from_numpy(np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype(np.float32))


@pytest.fixture(scope="module")
def bundle(model, tmp_path_factory):
    return build_decoder_bundle(model, tmp_path_factory.mktemp("decoder") / "ait", precisions=("fp32",))


def exported_decoder(bundle, device: str) -> InstanceDecoder:
    info = read_decoder(bundle)
    sessions = [open_session(info.graph_dir(g), device, threads=1) for g in ("prefill", "step")]
    config = info.prefill.config
    model = tiny_model()
    return InstanceDecoder(*sessions, model.vocabulary, config["slots"], model.config.mask_tokens, info.info["pair"])


def test_static_step_graph_reproduces_the_cached_decode_loop(model, image):
    """Teacher-forced with the reference's own ids, prefill + step give decode_loop's logits at every position."""
    reference, ids = model.generate_instances(image, top_p=0.0)
    prefill, step = InstancePrefill(model), InstanceStep(model)
    with torch.no_grad():
        memory_k, memory_v, logits, past_k, past_v = prefill(image)
        assert past_k.shape == (2, 1, 2, 3 * WIDTH, 16) and memory_k.shape == (2, 1, 2, 4, 16)
        got = [logits]
        for i in range(1, ids.shape[1]):
            logits, new_k, new_v = step(memory_k, memory_v, past_k, past_v, torch.tensor([i]), ids[:, i - 1], logits)
            assert new_k.shape == (2, 1, 2, 1, 16)
            write_position((past_k, past_v), (new_k, new_v), i)  # as the decode loop does
            got.append(logits)
    torch.testing.assert_close(torch.stack(got, 1), reference, atol=1e-5, rtol=0)
    assert (past_k[:, :, :, -1] != 0).all()  # the last position was written


@pytest.mark.parametrize("top_p", [0.0, 0.3])
def test_the_loop_on_torch_sessions_decodes_as_generate_instances(model, image, top_p):
    reference_logits, reference_ids = model.generate_instances(image, top_p=top_p, seed=3)
    logits, ids = torch_decoder(model).decode(image.numpy(), top_p=top_p, seed=3)
    assert torch.equal(ids, reference_ids)
    torch.testing.assert_close(logits, reference_logits, atol=1e-5, rtol=0)


@pytest.mark.parametrize("device", ["onnxruntime:cpu", "openvino:CPU"])
def test_exported_greedy_tokens_equal_torch(bundle, model, image, device):
    reference_logits, reference_ids = model.generate_instances(image, top_p=0.0)
    decoder = exported_decoder(bundle, device)
    assert decoder.step.device == device
    logits, ids = decoder.decode(image.numpy())
    assert torch.equal(ids, reference_ids)
    torch.testing.assert_close(logits, reference_logits, atol=1e-4, rtol=0)
    sampled = decoder.decode(image.numpy(), top_p=0.3, seed=5)[1]
    assert torch.equal(sampled, model.generate_instances(image, top_p=0.3, seed=5)[1])  # same seeded sampler


def test_slots_knob_and_early_stop_at_the_first_noise_slot(image):
    model = tiny_model(4)  # a random model whose slot 1 is the noisiest on this image
    noise = model.vocabulary.noise_id
    decoder = torch_decoder(model)
    full_logits, full_ids = decoder.decode(image.numpy())
    assert torch.equal(decoder.decode(image.numpy(), slots=2)[1], full_ids[:, :2 * WIDTH])  # a prefix, 2 slots
    # the noise id is never a legal token, so its bias moves every slot's noise margin alike and nothing else:
    # put it between slot 0's margin and a later slot's, so that a real slot comes before a noise one
    classes = slice(*model.vocabulary.range("classes"))
    at = full_logits[0, CLASS_POSITION::WIDTH]
    margins = at[:, noise] - at[:, classes].max(dim=-1).values
    assert margins[1:].max() > margins[0], "pick another image: slot 0 is the noisiest"
    model.solver.vocab_bias.data[noise] -= float(margins[0] + margins[1:].max()) / 2
    logits, ids = model.generate_instances(image, top_p=0.0)
    noisy = [bool(is_noise_slot(logits[:, s * WIDTH + CLASS_POSITION], model.vocabulary)) for s in range(3)]
    assert not noisy[0] and any(noisy) and torch.equal(ids, full_ids)
    first = noisy.index(True)
    stopped_logits, stopped = torch_decoder(model).decode(image.numpy(), early_stop=True)
    assert stopped.shape == (1, first * WIDTH) and torch.equal(stopped, ids[:, :first * WIDTH])
    assert len(model.parse_instances(stopped_logits, stopped)[0]["slots"]) <= first
    model.solver.vocab_bias.data[noise] = 100.0  # every slot is noise: nothing decoded past the first box
    empty_logits, empty = torch_decoder(model).decode(image.numpy(), early_stop=True)
    assert empty.shape == (1, 0) and model.parse_instances(empty_logits, empty)[0]["boxes"].shape == (0, 4)


def test_bad_arguments_steps_past_the_end_and_foreign_caches_are_refused(model, image):
    decoder = torch_decoder(model, pair="a")
    for top_p in (-0.1, 1.5, float("nan"), "0.3", True):
        with pytest.raises(ValueError, match=r"top_p must be a number in \(0, 1\]"):
            decoder.decode(image.numpy(), top_p=top_p)
    for slots in (0, 4, 1.5):
        with pytest.raises(ValueError, match=r"slots must be an integer in 1 \.\. 3"):
            decoder.decode(image.numpy(), slots=slots)
    state = decoder.start(image.numpy())
    for _ in range(3 * WIDTH - 1):
        state = decoder.advance(state, np.zeros(1, np.int64))
    with pytest.raises(ValueError, match="step 63 is past the decoder's maximum length 63"):
        decoder.advance(state, np.zeros(1, np.int64))
    with pytest.raises(ValueError, match="caches come from another model"):
        torch_decoder(tiny_model(1), pair="b").advance(decoder.start(image.numpy()), np.zeros(1, np.int64))
    state = decoder.start(image.numpy())
    state.cache_k = state.cache_k[:, :, :, :10]
    with pytest.raises(ValueError, match="input 'past_k' must have shape"):
        decoder.advance(state, np.zeros(1, np.int64))
    other = create_model("ait-instances", **{**TINY, "slots": 2}).eval()
    with pytest.raises(ValueError, match="does not take the prefill's present_k"):
        InstanceDecoder(TorchSession(InstancePrefill(other)), TorchSession(InstanceStep(model)), model.vocabulary,
                        3, 16, "x")


def test_a_decoder_bundle_refuses_graphs_that_do_not_belong_together(bundle, model, tmp_path):
    info = read_decoder(bundle)
    assert info.max_length == 3 * WIDTH and info.info["pair"] == info.prefill.source["pair"]
    other = build_decoder_bundle(tiny_model(1), tmp_path / "other", precisions=("fp32",))
    swapped = shutil.copytree(bundle, tmp_path / "swapped")
    shutil.rmtree(swapped / "step")
    shutil.copytree(other / "step", swapped / "step")
    with pytest.raises(BundleError, match="not the step graph this decoder bundle was exported with"):
        read_decoder(swapped)
    record = json.loads((swapped / DECODER_MANIFEST).read_text())  # the hash patched: the pair still differs
    record["graphs"]["step"]["manifest"] = json.loads((other / DECODER_MANIFEST).read_text())["graphs"]["step"]["manifest"]
    (swapped / DECODER_MANIFEST).write_text(json.dumps(record))
    with pytest.raises(BundleError, match="of another model or config"):
        read_decoder(swapped)
    smaller = build_decoder_bundle(create_model("ait-instances", **{**TINY, "slots": 2}).eval(), tmp_path / "s2",
                                   precisions=("fp32",))
    mixed = shutil.copytree(bundle, tmp_path / "mixed")
    shutil.rmtree(mixed / "prefill")
    shutil.copytree(smaller / "prefill", mixed / "prefill")
    record = json.loads((mixed / DECODER_MANIFEST).read_text())
    record["graphs"]["prefill"]["manifest"] = json.loads((smaller / DECODER_MANIFEST).read_text())["graphs"]["prefill"]["manifest"]
    (mixed / DECODER_MANIFEST).write_text(json.dumps(record))
    with pytest.raises(BundleError, match="of another model or config"):
        read_decoder(mixed)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(BundleError, match="decoder.json not found"):
        read_decoder(tmp_path / "nothing")

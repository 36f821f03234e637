"""AiT depth family: configs, VQ-VAE + EMA quantizer, solver decoding modes, losses, ONNX export, learning."""
import itertools
import math
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgetokens.models.ait import (
    VQVAE,
    AiTDepth,
    AiTDepthConfig,
    VectorQuantizerEMA,
    VQVAEConfig,
)
from edgetokens.models.ait import vqvae as vqvae_module
from training.ait_losses import (
    ait_depth_loss,
    mask_patches,
    mse_ignore_zero,
    silog_loss,
    token_cross_entropy,
)

torch.set_num_threads(1)

TINY = AiTDepthConfig(
    image_size=64, backbone_widths=(4, 8, 8, 16, 16), backbone_depths=(1, 0, 1, 0, 1), d_model=32, heads=2,
    mlp_hidden=64, encoder_depth=1, decoder_depth=2, dropout=0.0, drop_path=0.0, parallel=True,
    vq_downsample=16, vq_hidden_dim=4, vq_num_codes=16, vq_code_dim=8,
)  # 2x2 backbone grid, 4x4 = 16 tokens
TINY_VQ = VQVAEConfig(image_size=64, vq_downsample=16, vq_hidden_dim=4, vq_num_codes=16, vq_code_dim=8)


def tiny_model(**overrides) -> AiTDepth:
    torch.manual_seed(0)
    return AiTDepth(replace(TINY, **overrides)).eval()


def images(config: AiTDepthConfig, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, config.image_size, config.image_size, generator=torch.Generator().manual_seed(1))


def depth_maps(size: int, batch: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(2)
    return 0.5 + 4.0 * torch.rand(batch, 1, size, size, generator=g)


# -- configs -------------------------------------------------------------------------------------------------

def test_edge_default_config_validates_and_round_trips_through_json_dict():
    config = AiTDepthConfig()
    config.validate()
    assert (config.image_size, config.feature_grid, config.num_tokens) == (256, 8, 64)
    loaded = AiTDepthConfig(**{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()})
    assert loaded == config
    assert config.vqvae == VQVAEConfig(image_size=256, vq_downsample=32, vq_hidden_dim=8, vq_num_codes=128,
                                       vq_code_dim=128)


@pytest.mark.parametrize("overrides,message", [
    ({"image_size": 100}, "multiple of the backbone stride 32"),
    ({"d_model": 30, "heads": 4}, "divisible by heads"),
    ({"tau": 0.0}, "tau"),
    ({"backbone_widths": (8, 16)}, "5 entries"),
    ({"dropout": 1.0}, r"\[0, 1\)"),
    ({"vq_decay": 1.0}, r"decay must lie in \(0, 1\)"),
    ({"vq_downsample": 24}, "power of two"),
])
def test_invalid_configs_say_the_valid_range(overrides, message):
    with pytest.raises(ValueError, match=message):
        replace(AiTDepthConfig(), **overrides).validate()


# -- shapes --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [256, 64])
def test_shapes(size):
    config = replace(TINY, image_size=size, vq_downsample=32 if size == 256 else 16)
    model = AiTDepth(config).eval()
    side = size // config.vq_downsample
    x, depth = images(config, batch=1), depth_maps(size, batch=1)
    with torch.no_grad():
        assert model.backbone(x).shape == (1, 16, size // 32, size // 32)
        assert model.logits(x).shape == (1, side * side, 16)
        assert model(x).shape == (1, 1, size, size)
        assert model.tokenize(depth).shape == (1, side * side)
        recon, commit, ids = model.vqvae(depth)
    assert recon.shape == depth.shape and commit.ndim == 0 and ids.shape == (1, side, side)
    with pytest.raises(ValueError, match="expects images of shape"):
        model(torch.zeros(1, 3, size, size + 32))


# -- VQ-VAE and the EMA quantizer ----------------------------------------------------------------------------

def test_quantizer_picks_the_nearest_code():
    torch.manual_seed(0)
    quantizer = VectorQuantizerEMA(num_codes=16, code_dim=8).eval()
    z = torch.randn(2, 8, 3, 5)
    quantized, _, ids = quantizer(z)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 8)
    expected = torch.cdist(flat, quantizer.codebook).argmin(dim=1)
    assert torch.equal(ids.flatten(), expected)
    assert torch.allclose(quantized.permute(0, 2, 3, 1).reshape(-1, 8), quantizer.codebook[expected], atol=1e-6)


def test_ema_update_moves_codes_toward_their_encodings_only_in_train_mode(monkeypatch):
    monkeypatch.setattr(vqvae_module, "DEAD_FRACTION", 0.0)  # the EMA rule alone; restarts are tested below
    torch.manual_seed(0)
    quantizer = VectorQuantizerEMA(num_codes=4, code_dim=3, decay=0.9, eps=1e-5)
    target = quantizer.codebook[2] + torch.tensor([0.3, -0.2, 0.1])  # nearest to code 2
    z = target.reshape(1, 3, 1, 1).expand(1, 3, 2, 5).contiguous()  # 10 encodings, all at `target`

    before = {k: v.clone() for k, v in quantizer.state_dict().items()}
    quantizer.eval()
    quantizer(z)
    assert all(torch.equal(before[k], v) for k, v in quantizer.state_dict().items())

    quantizer.train()
    quantizer.initialised.fill_(True)  # the EMA rule itself (the data initialisation is tested below)
    _, _, ids = quantizer(z)
    assert ids.unique().tolist() == [2]
    # One update by hand: EMA of counts (start 1) and sums (start = code), Laplace smoothing, code = sum / count.
    counts = 0.9 * torch.ones(4) + 0.1 * torch.tensor([0.0, 0.0, 10.0, 0.0])
    total = counts.sum()
    counts = (counts + 1e-5) / (total + 4 * 1e-5) * total
    sums = 0.9 * before["codebook"] + 0.1 * torch.zeros(4, 3).index_add_(0, torch.tensor([2]), 10 * target[None])
    assert torch.allclose(quantizer.codebook, sums / counts[:, None], atol=1e-6)
    old_distance = (before["codebook"][2] - target).norm()
    for _ in range(30):
        quantizer(z)
        distance = (quantizer.codebook[2] - target).norm()
        assert distance < old_distance
        old_distance = distance
    assert distance < 1e-2 * (before["codebook"][2] - target).norm()


def test_codebook_starts_from_data_and_dead_codes_restart():
    torch.manual_seed(0)
    quantizer = VectorQuantizerEMA(num_codes=8, code_dim=3, decay=0.99).train()
    z = 10 + torch.randn(2, 3, 4, 4)  # encodings far from the N(0, 1) codes: all would map to one code
    flat = z.permute(0, 2, 3, 1).reshape(-1, 3)
    _, _, ids = quantizer(z)
    assert bool(quantizer.initialised) and len(ids.unique()) > 1
    nearest_encoding = torch.cdist(quantizer.ema_sum / quantizer.ema_count[:, None], flat).min(1).values
    assert quantizer.codebook.sub(10).abs().max() < 6 and nearest_encoding.max() < 5
    quantizer.codebook[0], quantizer.ema_sum[0], quantizer.ema_count[0] = 1000.0, 10.0, 0.01  # long unused
    quantizer(z)
    assert quantizer.ema_count[0] == 1.0 and (quantizer.codebook[0] - flat).norm(dim=1).min() < 1e-5


def test_straight_through_gradient_reaches_the_encoder():
    torch.manual_seed(0)
    vqvae = VQVAE(TINY_VQ).train()
    z = vqvae.encoder(depth_maps(64))
    z.retain_grad()
    quantized, commit, _ = vqvae.quantizer(z)
    quantized.retain_grad()
    vqvae.decoder(quantized).square().mean().backward()  # reconstruction only: through the quantizer
    assert torch.equal(z.grad, quantized.grad) and z.grad.abs().sum() > 0  # identity gradient
    assert vqvae.encoder[-1].weight.grad.abs().sum() > 0
    vqvae.zero_grad()
    _, commit, _ = vqvae(depth_maps(64))
    commit.backward()
    assert vqvae.encoder[-1].weight.grad.abs().sum() > 0 and vqvae.decoder[0].weight.grad is None


def test_decode_soft_with_peaked_logits_equals_decode_ids_of_the_argmax():
    torch.manual_seed(0)
    vqvae = VQVAE(TINY_VQ).eval()
    ids = torch.randint(0, 16, (2, 16))
    logits = torch.randn(2, 16, 16) + 1e4 * F.one_hot(ids, 16)
    with torch.no_grad():
        hard, soft = vqvae.decode_ids(ids), vqvae.decode_soft(logits, tau=0.8)
        grid = vqvae.decode_ids(ids.reshape(2, 4, 4))
    assert hard.shape == (2, 1, 64, 64)
    assert torch.allclose(soft, hard, atol=1e-5) and torch.equal(grid, hard)


def test_decode_soft_multiplies_logits_by_tau():
    torch.manual_seed(0)
    vqvae = VQVAE(TINY_VQ).eval()
    vqvae.decoder = torch.nn.Identity()  # look at the code vectors that reach the decoder
    logits = 3 * torch.randn(1, 16, 16)
    codebook = vqvae.quantizer.codebook
    with torch.no_grad():
        codes = vqvae.decode_soft(logits, tau=0.5).permute(0, 2, 3, 1).reshape(1, 16, 8)
    assert torch.allclose(codes, torch.softmax(logits * 0.5, dim=-1) @ codebook, atol=1e-6)
    assert not torch.allclose(codes, torch.softmax(logits / 0.5, dim=-1) @ codebook, atol=1e-3)


# -- losses --------------------------------------------------------------------------------------------------

def test_mask_patches_zeroes_exactly_ceil_ratio_n_patches():
    depth = depth_maps(64, batch=3)  # all > 0; 4x4 = 16 patches of 16 px
    masked = mask_patches(depth, ratio=0.3, patch=16, generator=torch.Generator().manual_seed(0))
    patches = masked.reshape(3, 4, 16, 4, 16).permute(0, 1, 3, 2, 4).reshape(3, 16, 256)
    zero, untouched = (patches == 0).all(dim=2), (patches != 0).all(dim=2)
    assert (zero | untouched).all()  # whole patches only
    assert zero.sum(dim=1).tolist() == [math.ceil(0.3 * 16)] * 3
    assert torch.equal(masked[masked != 0], depth[masked != 0]) and (depth > 0).all()  # a copy
    again = mask_patches(depth, ratio=0.3, patch=16, generator=torch.Generator().manual_seed(0))
    assert torch.equal(masked, again)
    assert (mask_patches(depth, ratio=0.5) == 0).reshape(3, -1).sum(1).tolist() == [8 * 256] * 3


def test_mse_ignore_zero_ignores_invalid_targets():
    target = torch.tensor([[0.0, 2.0], [3.0, 0.0]])
    assert mse_ignore_zero(torch.tensor([[9.0, 2.0], [3.0, -5.0]]), target) == 0
    assert torch.isclose(mse_ignore_zero(torch.tensor([[9.0, 1.0], [5.0, -5.0]]), target), torch.tensor(2.5))


def test_silog_loss_hand_computed():
    target = torch.tensor([1.0, 1.0, 0.0])
    assert silog_loss(torch.tensor([1.0, 1.0, 7.0]), target) == 0
    # d = [log 2, 0]: sqrt(mean d^2 - 0.5 (mean d)^2) = log 2 * sqrt(1/2 - 1/8)
    expected = math.log(2) * math.sqrt(3 / 8)
    assert math.isclose(silog_loss(torch.tensor([2.0, 1.0, 7.0]), target).item(), expected, rel_tol=1e-6)
    # lam = 0.5 is not scale invariant: a constant ratio 2 costs log 2 / sqrt 2; pred 0 is clipped at 1e-3
    assert math.isclose(silog_loss(torch.tensor([2.0, 2.0, 0.0]), target).item(), math.log(2) / math.sqrt(2),
                        rel_tol=1e-6)
    assert math.isclose(silog_loss(torch.tensor([0.0, 1.0, 0.0]), target).item(),
                        math.log(1e3) * math.sqrt(3 / 8), rel_tol=1e-5)


def test_token_cross_entropy_is_the_mean_over_supervised_tokens():
    logits, ids = torch.randn(2, 5, 7), torch.randint(0, 7, (2, 5))
    ids[0, 1] = -100
    keep = ids.flatten() != -100
    expected = F.cross_entropy(logits.flatten(0, 1)[keep], ids.flatten()[keep], reduction="sum") / keep.sum()
    assert torch.isclose(token_cross_entropy(logits, ids), expected)


# -- solver modes --------------------------------------------------------------------------------------------

def test_parallel_mode_is_one_pass_independent_of_targets():
    model = tiny_model(parallel=True)
    x = images(TINY)
    calls = []
    hooks = [block.register_forward_hook(lambda *_: calls.append(1)) for block in model.solver.decoder]
    with torch.no_grad():
        logits = model.logits(x)
    assert len(calls) == TINY.decoder_depth  # one call per decoder block: a single pass over all positions
    for hook in hooks:
        hook.remove()
    with torch.no_grad():
        with_targets = model.logits(x, torch.randint(0, 16, (2, 16)))
        looped, _ = model.generate_ar(x)  # the official AiT-P loop (mask embeddings fed step by step)
    assert torch.equal(logits, with_targets)
    assert torch.allclose(logits, looped, atol=1e-5)


@pytest.mark.parametrize("soft_input", [True, False])
def test_autoregressive_kv_cache_equals_recomputing_the_prefix(soft_input):
    model = tiny_model(parallel=False)
    x = images(TINY)
    cached_logits, cached_ids = model.generate_ar(x, soft_input=soft_input, use_cache=True)
    full_logits, full_ids = model.generate_ar(x, soft_input=soft_input, use_cache=False)
    assert cached_logits.shape == (2, 16, 16)
    assert torch.allclose(cached_logits, full_logits, atol=1e-5)
    assert torch.equal(cached_ids, full_ids)
    assert model.decode(cached_logits).shape == (2, 1, 64, 64)


def test_teacher_forcing_logits_are_causal():
    model = tiny_model(parallel=False)
    x, ids = images(TINY), torch.randint(0, 16, (2, 16))
    with torch.no_grad():
        logits = model.logits(x, ids)
        changed = ids.clone()
        changed[:, 5] = (changed[:, 5] + 1) % 16
        logits_changed = model.logits(x, changed)
    assert logits.shape == (2, 16, model.solver.vocab_size)
    # Input position t + 1 holds target t, so changing target 5 changes the outputs from position 6 on only.
    assert torch.equal(logits[:, :6], logits_changed[:, :6])
    assert not torch.allclose(logits[:, 6:], logits_changed[:, 6:])


def test_scheduled_sampling_feeds_the_models_own_soft_tokens():
    model = tiny_model(parallel=False)
    solver = model.solver
    x, ids = images(TINY), torch.randint(0, 16, (2, 16))
    with torch.no_grad():
        memory = solver.encode(model.backbone(x))
        forced = solver.teacher_forcing(memory, ids)
        assert torch.equal(solver.teacher_forcing(memory, ids, sampling=0.0), forced)
        # sampling=1: every input after the prompt is the soft token of the first (teacher-forced) pass.
        own = solver.soft_tokens(forced[:, :-1])
        expected = solver.run_decoder(torch.cat((solver.prompt(2), own), dim=1), solver.memory_kv(memory))
        assert torch.allclose(solver.teacher_forcing(memory, ids, sampling=1.0), expected, atol=1e-6)
        torch.manual_seed(0)
        half = solver.teacher_forcing(memory, ids, sampling=0.5)
    # Position 0 sees only the prompt; later ones differ from plain teacher forcing where an input was swapped.
    assert torch.equal(half[:, 0], forced[:, 0]) and not torch.allclose(half, forced)
    model.train()
    model.logits(x, ids, sampling=0.5).sum().backward()  # the second pass trains the solver
    assert solver.vocab_embed.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        solver.teacher_forcing(memory, ids, sampling=1.5)
    with pytest.raises(ValueError, match="autoregressive"):
        tiny_model(parallel=True).logits(x, ids, sampling=0.5)


def test_frozen_tokenizer_stays_in_eval_mode_and_passes_gradients():
    model = tiny_model()
    model.train()
    assert not model.vqvae.training and model.solver.training
    assert not any(p.requires_grad for p in model.vqvae.parameters())
    silog_loss(model.decode(model.logits(images(TINY))), depth_maps(64)).backward()
    assert model.solver.vocab_embed.grad.abs().sum() > 0 and model.backbone.stages[0][0][0].weight.grad is not None


# -- export --------------------------------------------------------------------------------------------------

def test_forward_exports_to_onnx_and_matches_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = tiny_model(parallel=True, image_size=128, vq_downsample=32)
    x = images(model.config, batch=1)
    path = tmp_path / "ait.onnx"
    torch.onnx.export(model, (x,), str(path), opset_version=17, dynamo=False,
                      input_names=["image"], output_names=["depth"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"image": x.numpy()})
    with torch.no_grad():
        expected = model(x).numpy()
    assert out.shape == (1, 1, 128, 128)
    np.testing.assert_allclose(out, expected, atol=1e-4, rtol=1e-4)


# -- learning ------------------------------------------------------------------------------------------------

def test_a_few_steps_reduce_the_stage2_loss():
    model = tiny_model(parallel=True).train()
    with torch.no_grad():  # a stand-in for a trained tokenizer: positive depth around the data's mean
        model.vqvae.decoder[-1].bias.fill_(2.5)
    x, depth = images(TINY), depth_maps(64)
    ids = model.tokenize(depth)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    history = []
    for _ in range(8):
        logits = model.logits(x)
        parts = ait_depth_loss(logits, ids, model.decode(logits), depth)
        optimizer.zero_grad()
        parts["loss"].backward()
        optimizer.step()
        history.append({k: v.item() for k, v in parts.items()})
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]
    assert history[-1]["ce"] < history[0]["ce"] and history[-1]["silog"] <= history[0]["silog"]


def test_a_few_steps_reduce_the_vqvae_loss():
    torch.manual_seed(0)
    vqvae = VQVAE(TINY_VQ).train()
    depth = depth_maps(64)
    optimizer = torch.optim.Adam(vqvae.parameters(), lr=1e-3)
    losses = []
    for step in range(12):
        recon, commit, _ = vqvae(mask_patches(depth, generator=torch.Generator().manual_seed(step)))
        loss = mse_ignore_zero(recon, depth) + commit
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.98 * losses[0] and all(b < a for a, b in itertools.pairwise(losses))

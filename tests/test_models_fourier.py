"""Fourier convolutions (models/fourier.py) and the smp_unet's `global_blocks`: the transforms equal
torch.fft's, a block starts as the identity and then mixes the whole map, the generator trains
them with its encoder frozen, and they export to ONNX at any size."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from models.build import build_generator
from models.fourier import SpectralBlock, irfft2, rfft2
from models.pretrained_unet import GLOBAL_LEVEL
from tests.test_models_fusion import trained_looking
from tests.test_models_pretrained import SMOKE_SMP, batch, inputs, model_config
from trainers.config import load_config
from trainers.gan_trainer import GANTrainer
from trainers.inference import inference_autocast, prepare_for_inference
from trainers.predict import generate
from utils.errors import ChromaFillError

SIZES = [(6, 10), (7, 9), (8, 8), (1, 5), (5, 1)]  # even and odd widths (the Nyquist bin), single rows and columns


@pytest.mark.parametrize("size", SIZES)
def test_rfft2_equals_torch_fft(size: tuple[int, int]) -> None:
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(0))
    expected = torch.fft.rfft2(x, norm="ortho")
    real, imag = rfft2(x)
    assert torch.allclose(real, expected.real, atol=1e-5) and torch.allclose(imag, expected.imag, atol=1e-5)


@pytest.mark.parametrize("size", SIZES)
def test_irfft2_equals_torch_fft_and_inverts_rfft2(size: tuple[int, int]) -> None:
    h, w = size
    g = torch.Generator().manual_seed(1)
    spectrum = torch.complex(torch.randn(2, 3, h, w // 2 + 1, generator=g), torch.randn(2, 3, h, w // 2 + 1, generator=g))
    expected = torch.fft.irfft2(spectrum, s=size, norm="ortho")
    assert torch.allclose(irfft2(spectrum.real, spectrum.imag, w), expected, atol=1e-5)
    x = torch.randn(2, 3, h, w, generator=g)
    assert torch.allclose(irfft2(*rfft2(x), w), x, atol=1e-5)


def opened(block: SpectralBlock) -> SpectralBlock:
    """The block as training leaves it: its output convolution no longer zero."""
    nn.init.normal_(block.expand.weight, std=0.5)
    return block.eval()


def test_a_spectral_block_starts_as_the_identity() -> None:
    x = torch.randn(2, 16, 8, 12)
    with torch.no_grad():
        assert torch.equal(SpectralBlock(16).eval()(x), x)


def test_a_spectral_block_mixes_the_whole_map_in_one_layer() -> None:
    """A change at one corner reaches the opposite corner: no 1x1 or 3x3 layer does that."""
    torch.manual_seed(0)
    block = opened(SpectralBlock(8))
    x = torch.randn(1, 8, 16, 16)
    moved = x.clone()
    moved[..., 0, 0] += 5
    with torch.no_grad():
        far = (block(moved) - block(x))[..., 15, 15]
    assert far.abs().max() > 1e-3


def test_a_spectral_block_runs_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    block = opened(SpectralBlock(8))
    x = torch.randn(1, 8, 6, 10)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = block(x)
    with torch.no_grad():
        exact = block(x)
    assert out.dtype == torch.float32 and torch.allclose(out, exact, atol=0.05)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert rfft2(x)[0].dtype == torch.bfloat16  # what the block keeps out of autocast


def test_global_blocks_start_as_the_plain_generator() -> None:
    plain = build_generator(model_config(encoder_weights="none", encoder_frozen_stages=5)).eval()
    mixing = build_generator(model_config(encoder_weights="none", encoder_frozen_stages=5, global_blocks=2)).eval()
    missing, unexpected = mixing.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("global_blocks.") for k in missing)
    assert len(mixing.global_blocks) == 2
    assert mixing.global_blocks[0].expand.out_channels == mixing.net.encoder.out_channels[GLOBAL_LEVEL]
    gray, mask = inputs(64, 96)
    with torch.no_grad():
        assert torch.equal(mixing(gray, mask), plain(gray, mask))
        for block in mixing.global_blocks:
            opened(block)
        assert not torch.equal(mixing(gray, mask), plain(gray, mask))


def test_global_blocks_train_with_the_encoder_frozen() -> None:
    config = load_config("configs/smoke.yaml", SMOKE_SMP + [
        "model.generator.global_blocks=1", "model.generator.encoder_frozen_stages=5"])
    trainer = GANTrainer(config, torch.device("cpu"))
    trainer.on_epoch_start(0)
    encoder = {k: v.clone() for k, v in trainer.generator.net.encoder.state_dict().items()}
    for _ in range(2):  # the first step moves expand off zero; the second reaches the layers before it
        assert trainer.train_step(batch()).finite
    block = trainer.generator.global_blocks[0]
    assert block.expand.weight.abs().sum() > 0
    assert block.fourier.spectral[0].weight.grad is not None and block.fourier.spectral[0].weight.grad.abs().sum() > 0
    assert all(torch.equal(v, trainer.generator.net.encoder.state_dict()[k]) for k, v in encoder.items())


@pytest.mark.parametrize("override, message", [
    ("model.generator.global_blocks=-1", "model.generator.global_blocks: got -1, expected a value >= 0"),
    ("model.generator.global_blocks=x", "model.generator.global_blocks"),
])
def test_bad_global_blocks_are_config_errors(override: str, message: str) -> None:
    with pytest.raises(ChromaFillError, match=message):
        load_config("configs/smoke.yaml", SMOKE_SMP + [override])


def test_global_blocks_on_the_plain_unet_are_a_config_error() -> None:
    with pytest.raises(ChromaFillError, match="model.generator.global_blocks: is not an option of generator type 'unet'"):
        load_config("configs/smoke.yaml", ["model.generator.global_blocks=1"])


def test_global_blocks_prepared_for_inference_predict_as_eval_mode() -> None:
    """infer.py's preparation: the blocks' BatchNorm folded, channels_last; and under --amp (bf16) near it."""
    torch.manual_seed(0)
    original = build_generator(model_config(encoder_weights="none", global_blocks=1))
    trained_looking(opened(original.global_blocks[0])).eval()
    original.eval()
    prepared = prepare_for_inference(copy.deepcopy(original), torch.device("cpu"))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in prepared.global_blocks.modules())
    gray, mask = inputs(40, 72)
    expected = generate(original, gray, mask)
    got = generate(prepared, gray.contiguous(memory_format=torch.channels_last), mask)
    assert torch.allclose(expected, got, atol=1e-4), float((expected - got).abs().max())
    bf16 = prepare_for_inference(copy.deepcopy(original), torch.device("cpu"), amp=True)
    with inference_autocast(torch.device("cpu"), True)():
        rough = generate(bf16, gray, mask)
    assert (rough - expected).abs().mean() < 0.02

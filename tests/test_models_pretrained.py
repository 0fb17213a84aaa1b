"""The smp_unet generator: real packaged weights, every weights source, the adapted stem, the
head's promises, fine-tuning controls, the trainer, and BatchNorm folding."""

from __future__ import annotations

import copy

import pytest
import timm
import torch
import torch.nn.functional as F
from skimage import data
from torch import nn

from models import pretrained_weights
from models.build import build_generator
from models.config import GeneratorConfig, ModelConfig
from models.fusion import fold_batchnorm
from tests.test_models_fusion import trained_looking
from trainers.config import load_config
from trainers.gan_trainer import GANTrainer
from utils.color import luma
from utils.errors import ChromaFillError, ConfigError

SMALL = [32, 24, 16, 16, 8]  # a narrow decoder keeps each build and step quick
SMOKE_SMP = ["model.generator.type=smp_unet", "model.generator.base_channels=64", "model.generator.depth=8",
             f"model.generator.decoder_channels={SMALL}"]


def model_config(**generator: object) -> ModelConfig:
    cfg = ModelConfig()
    cfg.generator = GeneratorConfig(type="smp_unet", decoder_channels=list(SMALL), **generator)
    return cfg


@pytest.fixture(scope="module")
def packaged() -> nn.Module:
    torch.manual_seed(0)
    return build_generator(model_config())


def inputs(h: int = 64, w: int = 64, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    gray = torch.rand(batch, 1, h, w, generator=g)
    mask = torch.zeros_like(gray)
    mask[..., h // 4: h // 2, w // 3: w // 2] = 1
    return gray, mask


# -- the weights -------------------------------------------------------------------------------


def test_packaged_weights_classify_imagenet_photos() -> None:
    net = timm.create_model(pretrained_weights.PACKAGED_ENCODER).eval()
    net.load_state_dict(pretrained_weights.packaged_state_dict())
    for image, classes in ((data.chelsea(), range(281, 286)), (data.coffee(), (967, 968))):
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        x = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True) * 2 - 1  # Lite0 expects [-1, 1]
        with torch.no_grad():
            top1 = int(net(x).argmax())
        assert top1 in classes


def encoder_tensor(net: nn.Module, key: str) -> torch.Tensor:
    return net.net.encoder.model.state_dict()[key]


def test_packaged_build_holds_the_packaged_weights(packaged: nn.Module) -> None:
    source = pretrained_weights.packaged_state_dict()
    for key in ("blocks.3.1.conv_pw.weight", "bn1.running_var", "blocks.6.0.bn3.bias"):
        assert torch.equal(encoder_tensor(packaged, key), source[key]), key


def test_none_is_random_and_differs_from_packaged(packaged: nn.Module) -> None:
    random = build_generator(model_config(encoder_weights="none"))
    key = "blocks.3.1.conv_pw.weight"
    assert not torch.allclose(encoder_tensor(random, key), encoder_tensor(packaged, key))


def test_weights_file_in_timm_naming_loads(tmp_path, packaged: nn.Module) -> None:
    state = {k: v + 1 for k, v in pretrained_weights.packaged_state_dict().items() if v.is_floating_point()}
    path = tmp_path / "lite0.pth"
    torch.save({"state_dict": state}, path)
    net = build_generator(model_config(encoder_weights=str(path)))
    key = "blocks.3.1.conv_pw.weight"
    assert torch.equal(encoder_tensor(net, key), state[key])


@pytest.mark.parametrize("content", [None, b"not a checkpoint"])
def test_missing_or_unreadable_weights_file_is_one_line(tmp_path, content: bytes | None) -> None:
    path = tmp_path / "weights.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ChromaFillError) as err:
        build_generator(model_config(encoder_weights=str(path)))
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "encoder_weights" in message


def test_hub_offline_fails_with_one_line_asking_for_a_file(monkeypatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("We couldn't connect to 'https://huggingface.co'\nmore detail")

    monkeypatch.setattr(timm.models, "load_pretrained", offline)
    with pytest.raises(ChromaFillError) as err:
        build_generator(model_config(encoder="resnet18", encoder_weights="hub"))
    message = str(err.value)
    assert "\n" not in message and "resnet18" in message and "file" in message and "couldn't connect" in message


def test_hub_weights_are_loaded_when_downloaded(monkeypatch) -> None:
    def download(model: nn.Module, **kwargs: object) -> None:
        model.load_state_dict(pretrained_weights.packaged_state_dict())

    monkeypatch.setattr(timm.models, "load_pretrained", download)
    net = build_generator(model_config(encoder_weights="hub"))
    key = "blocks.2.0.conv_dw.weight"
    assert torch.equal(encoder_tensor(net, key), pretrained_weights.packaged_state_dict()[key])


def test_config_rules_name_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        model_config(encoder="resnet18").generator.check()  # packaged is the Lite0 only
    assert err.value.key == "encoder_weights"
    with pytest.raises(ConfigError) as err:
        model_config(encoder="no_such_net", encoder_weights="none").generator.check()
    assert err.value.key == "encoder"
    with pytest.raises(ChromaFillError, match="model.generator.encoder_lr_multiplier.*not an option of generator type 'unet'"):
        load_config("configs/smoke.yaml", ["model.generator.encoder_lr_multiplier=0.1"])
    with pytest.raises(ChromaFillError, match="model.generator.base_channels.*not an option of generator type 'smp_unet'"):
        load_config("configs/smoke.yaml", ["model.generator.type=smp_unet"])
    with pytest.raises(ChromaFillError, match="decoder_channels"):
        load_config("configs/smoke.yaml", SMOKE_SMP + ["model.generator.decoder_channels=[16,8]"])
    assert load_config("configs/pretrained.yaml").model.generator.type == "smp_unet"


# -- the stem, the head, sizes ----------------------------------------------------------------------


def test_stem_gray_weights_sum_rgb_and_mask_weights_start_at_zero(packaged: nn.Module) -> None:
    rgb = pretrained_weights.packaged_state_dict()["conv_stem.weight"]
    stem = packaged.net.encoder.model.conv_stem
    assert torch.allclose(stem.weight[:, 0], rgb.sum(dim=1))
    assert torch.equal(stem.weight[:, 1], torch.zeros_like(stem.weight[:, 1]))
    rgb_stem = copy.deepcopy(stem)
    rgb_stem.weight = nn.Parameter(rgb)
    rgb_stem.in_channels = 3
    gray = torch.rand(1, 1, 32, 40) * 2 - 1  # as normalised for the Lite0
    with torch.no_grad():
        ours = stem(torch.cat([gray, torch.zeros_like(gray)], dim=1))
        theirs = rgb_stem(gray.expand(1, 3, 32, 40))
    assert torch.allclose(ours, theirs, atol=1e-5)


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def stem_and_next(model: nn.Module) -> nn.Sequential:
    """The stem convolution and the module after it (its BatchNorm, or ConvNeXt's LayerNorm), by module order."""
    first = model.pretrained_cfg["first_conv"].replace(".", "_")
    modules = list(model.named_modules())
    index = next(i for i, (name, _) in enumerate(modules) if name.replace(".", "_") == first)
    return nn.Sequential(modules[index][1], modules[index + 1][1])


@pytest.mark.parametrize("encoder, exact_at_borders", [("resnet18", False), ("tf_efficientnet_b0", False),
                                                       ("convnext_atto", True)])
def test_adapted_stem_sees_what_the_rgb_stem_saw_with_imagenet_statistics(tmp_path, encoder: str, exact_at_borders: bool) -> None:
    """Unequal per-channel mean/std (ImageNet's): the gray stem on (normalised gray, mask 0) equals the
    RGB stem on the ImageNet-normalised RGB replicate of the gray, BatchNorm (eval) included; a scalar
    normalisation alone is off by a constant per channel. Zero-padded borders cannot be exact
    (pretrained_weights.adapt_stem), so a 2-pixel rim is left out where the stem pads."""
    torch.manual_seed(0)
    rgb_net = timm.create_model(encoder).eval()
    assert tuple(rgb_net.pretrained_cfg["mean"]) == IMAGENET_MEAN and tuple(rgb_net.pretrained_cfg["std"]) == IMAGENET_STD
    for module in rgb_net.modules():
        if isinstance(module, nn.BatchNorm2d):  # statistics far from the identity, so folding into them matters
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    torch.save(rgb_net.state_dict(), tmp_path / "weights.pth")
    net = build_generator(model_config(encoder=encoder, encoder_weights=str(tmp_path / "weights.pth"))).eval()
    gray = inputs(64, 96, batch=1)[0]
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    with torch.no_grad():
        ours = stem_and_next(net.net.encoder.model)(net.encoder_input(gray, torch.zeros_like(gray)))
        theirs = stem_and_next(rgb_net)((gray.expand(1, 3, 64, 96) - mean) / std)
    rim = 0 if exact_at_borders else 2
    inner = (..., slice(rim, ours.shape[-2] - rim), slice(rim, ours.shape[-1] - rim))
    assert ours.shape == theirs.shape and theirs[inner].std() > 0.1
    assert torch.allclose(ours[inner], theirs[inner], atol=1e-4), float((ours[inner] - theirs[inner]).abs().max())


@pytest.mark.parametrize("decoder", ["unet", "unetplusplus"])
def test_any_size_and_exact_luminance_outside_the_hole(decoder: str) -> None:
    net = build_generator(model_config(decoder=decoder, encoder_weights="none")).eval()
    gray, mask = inputs(70, 90)
    with torch.no_grad():
        rgb = net(gray, mask)
    assert rgb.shape == (2, 3, 70, 90)
    outside = (mask == 0).expand(2, 1, 70, 90)
    y = luma(rgb)
    inside_range = (rgb > 0).all(dim=1, keepdim=True) & (rgb < 1).all(dim=1, keepdim=True)  # not clamped
    keep = outside & inside_range
    assert keep.float().mean() > 0.5
    assert torch.allclose(y[keep], gray[keep], atol=1e-5)


def test_channels_last_and_bf16_forward_backward(packaged: nn.Module) -> None:
    net = copy.deepcopy(packaged).train().to(memory_format=torch.channels_last)
    gray, mask = inputs(64, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(gray.contiguous(memory_format=torch.channels_last), mask.contiguous(memory_format=torch.channels_last))
    out.float().mean().backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert net.net.encoder.model.conv_stem.weight.grad.abs().sum() > 0


# -- fine-tuning controls ------------------------------------------------------------------------


def encoder_norms(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.net.encoder.modules() if isinstance(m, nn.BatchNorm2d)]


def test_freeze_bn_keeps_encoder_statistics_in_training() -> None:
    net = build_generator(model_config(encoder_weights="none", encoder_freeze_bn=True)).train()
    assert net.training and not any(m.training for m in encoder_norms(net))
    decoder_norm = next(m for m in net.net.decoder.modules() if isinstance(m, nn.BatchNorm2d))
    assert decoder_norm.training
    before = encoder_norms(net)[0].running_mean.clone()
    net(*inputs())
    assert torch.equal(encoder_norms(net)[0].running_mean, before)


def test_frozen_epochs_freeze_then_release_the_encoder() -> None:
    net = build_generator(model_config(encoder_weights="none", encoder_frozen_epochs=2)).train()
    for epoch, frozen in ((0, True), (1, True), (2, False), (5, False)):
        net.start_epoch(epoch)
        net.train()
        assert all(p.requires_grad != frozen for p in net.encoder_parameters())
        assert all(m.training != frozen for m in encoder_norms(net))
        assert all(p.requires_grad for p in net.net.decoder.parameters())
    net.start_epoch(0)
    net(*inputs()).mean().backward()
    assert all(p.grad is None for p in net.encoder_parameters())
    assert any(p.grad is not None for p in net.net.decoder.parameters())


@pytest.mark.parametrize("stages", [1, 2, 4])
def test_frozen_stages_never_train_and_cut_the_backward_below_them(stages: int) -> None:
    """The stem and the first `stages` feature stages: no gradient, BatchNorm on running
    statistics, also after the frozen epochs release the rest; the stages above them train."""
    net = build_generator(model_config(encoder_weights="none", encoder_frozen_epochs=1, encoder_frozen_stages=stages))
    model = net.net.encoder.model
    last = model.feature_info.get_dicts()[stages - 1]["module"]
    frozen_names = {n for n, _ in model.named_parameters() if n.startswith(("conv_stem", "bn1"))}
    frozen_names |= {n for n, _ in model.named_parameters() if n.startswith("blocks.")
                     and int(n.split(".")[1]) <= int(last.split(".")[1])}
    net.start_epoch(1)
    net.train()
    net(*inputs()).mean().backward()
    for name, p in model.named_parameters():
        assert (p.grad is None) == (name in frozen_names), name
    norms = {id(m) for root in net.stage_frozen for m in root.modules() if isinstance(m, nn.BatchNorm2d)}
    assert norms and all(not m.training for m in encoder_norms(net) if id(m) in norms)
    assert all(m.training for m in encoder_norms(net) if id(m) not in norms)
    ema = copy.deepcopy(net)
    assert all(not p.requires_grad for root in ema.stage_frozen for p in root.parameters())
    assert {id(m) for m in ema.stage_frozen}.isdisjoint({id(m) for m in net.stage_frozen}), "a copy freezes its own modules"


def test_frozen_stages_out_of_range_is_a_config_error() -> None:
    with pytest.raises(ChromaFillError, match="model.generator.encoder_frozen_stages: got 6, expected a value <= 5"):
        load_config("configs/smoke.yaml", SMOKE_SMP + ["model.generator.encoder_frozen_stages=6"])


def test_decoder_sees_mask_starts_as_the_plain_model_then_tells_the_decoder_where_the_hole_is() -> None:
    """Zero vectors at first: the same output as without the key. With the stem frozen its mask
    weights stay zero, so the encoder's features ignore the mask; the added vectors carry it."""
    torch.manual_seed(0)
    seeing = build_generator(model_config(encoder_weights="none", decoder_sees_mask=True, encoder_frozen_stages=5)).eval()
    torch.manual_seed(0)
    plain = build_generator(model_config(encoder_weights="none", encoder_frozen_stages=5)).eval()
    gray, mask = inputs(64, 96)
    moved = torch.roll(mask, shifts=20, dims=-1)
    with torch.no_grad():
        assert torch.equal(seeing(gray, mask), plain(gray, mask))
        seeing.net.encoder.model.conv_stem.weight[:, 1] = 0  # as the packaged weights' adapted stem starts
        x, x_moved = seeing.encoder_input(gray, mask), seeing.encoder_input(gray, moved)
        assert all(torch.equal(a, b) for a, b in zip(seeing.net.encoder(x)[1:], seeing.net.encoder(x_moved)[1:]))
        assert torch.equal(seeing.run_net(x), seeing.run_net(x_moved))
        for embedding in seeing.mask_embeddings:
            embedding.normal_()
        assert not torch.equal(seeing.run_net(x), seeing.run_net(x_moved))
    assert [e.numel() for e in seeing.mask_embeddings] == list(seeing.net.encoder.out_channels[1:])


def test_decoder_sees_mask_trains_its_vectors_with_the_encoder_frozen() -> None:
    config = load_config("configs/smoke.yaml", SMOKE_SMP + [
        "model.generator.decoder_sees_mask=true", "model.generator.encoder_frozen_stages=5"])
    trainer = GANTrainer(config, torch.device("cpu"))
    trainer.on_epoch_start(0)
    encoder = {k: v.clone() for k, v in trainer.generator.net.encoder.state_dict().items()}
    assert trainer.train_step(batch()).finite
    assert all(e.abs().sum() > 0 for e in trainer.generator.mask_embeddings)
    assert all(torch.equal(v, trainer.generator.net.encoder.state_dict()[k]) for k, v in encoder.items())


def test_decoder_sees_mask_without_the_mask_channel_is_a_config_error() -> None:
    with pytest.raises(ChromaFillError, match="decoder_sees_mask: .*set mask_channel: true"):
        load_config("configs/smoke.yaml", SMOKE_SMP + ["model.generator.decoder_sees_mask=true", "model.generator.mask_channel=false"])


# -- the trainer ---------------------------------------------------------------------------------


def batch(size: int = 64) -> dict[str, torch.Tensor]:
    gray, mask = inputs(size, size)
    return {"input": gray, "mask": mask, "target": torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(2))}


def test_trainer_param_groups_step_and_resume() -> None:
    config = load_config("configs/smoke.yaml", SMOKE_SMP + [
        "model.generator.encoder_lr_multiplier=0.25", "model.generator.encoder_frozen_epochs=1", "train.ema.enabled=true"])
    trainer = GANTrainer(config, torch.device("cpu"))
    lr = config.train.optim.lr_g
    assert [g["lr"] for g in trainer.opt_g.param_groups] == [lr, lr * 0.25]
    encoder = {id(p) for p in trainer.generator.encoder_parameters()}
    assert {id(p) for p in trainer.opt_g.param_groups[1]["params"]} == encoder
    trainer.on_epoch_start(0)
    frozen = {k: v.clone() for k, v in trainer.generator.net.encoder.state_dict().items()}
    assert trainer.train_step(batch()).finite
    assert all(torch.equal(v, trainer.generator.net.encoder.state_dict()[k]) for k, v in frozen.items())
    trainer.on_epoch_start(1)
    assert trainer.train_step(batch()).finite
    moved = trainer.generator.net.encoder.model.conv_stem.weight
    assert not torch.equal(moved, frozen["model.conv_stem.weight"])

    state = copy.deepcopy(trainer.state_dict())
    resumed = GANTrainer(config, torch.device("cpu"))
    resumed.load_state_dict(state)
    resumed.on_epoch_start(1)
    for a, b in zip(trainer.generator.state_dict().values(), resumed.generator.state_dict().values()):
        assert torch.equal(a, b)
    assert [g["lr"] for g in resumed.opt_g.param_groups] == [lr, lr * 0.25]
    assert resumed.train_step(batch()).finite
    assert trainer.inference_generator() is trainer.ema.module


# -- inference ---------------------------------------------------------------------------------


def test_fold_batchnorm_parity_and_nothing_left(packaged: nn.Module) -> None:
    original = trained_looking(copy.deepcopy(packaged)).eval()
    norms = sum(isinstance(m, nn.BatchNorm2d) for m in original.modules())
    folded = copy.deepcopy(original)
    assert fold_batchnorm(folded) == norms > 0
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    gray, mask = inputs(48, 72)
    with torch.no_grad():
        expected, got = original(gray, mask), folded(gray, mask)
    assert torch.allclose(expected, got, atol=1e-5), float((expected - got).abs().max())


def test_meta_build_reads_no_weights(monkeypatch) -> None:
    """Inference builds on the meta device and loads the checkpoint: no download, no file read."""
    monkeypatch.setattr(pretrained_weights, "source_state_dict", lambda *a: pytest.fail("weights read"))
    with torch.device("meta"):
        net = build_generator(model_config(encoder="resnet18", encoder_weights="hub"))
    assert net.net.encoder.model.conv1.weight.is_meta


def test_prepared_for_inference_predicts_as_eval_mode_with_tta(packaged: nn.Module) -> None:
    from trainers.inference import prepare_for_inference
    from trainers.predict import generate

    original = trained_looking(copy.deepcopy(packaged)).eval()
    prepared = prepare_for_inference(copy.deepcopy(original), torch.device("cpu"))
    gray, mask = inputs(40, 56)
    expected = generate(original, gray, mask, tta=True)
    got = generate(prepared, gray.contiguous(memory_format=torch.channels_last), mask, tta=True)
    assert torch.allclose(expected, got, atol=1e-4), float((expected - got).abs().max())


def test_one_epoch_run_end_to_end(tmp_path) -> None:
    """The whole loop (validation, test predictions, checkpoints, best.pt) with the smp_unet generator."""
    from tests.dacon_fixture import make_dacon_root
    from trainers.checkpoint import load_checkpoint
    from trainers.loop import run_training

    root = make_dacon_root(tmp_path / "dacon")
    config = load_config("configs/smoke.yaml", SMOKE_SMP + [f"data.root={root}", f"experiment.output_dir={tmp_path / 'runs'}",
                                                           "model.generator.encoder_frozen_epochs=1"])
    assert run_training(config) == 0
    state = load_checkpoint(config.experiment.run_dir / "last.pt")
    assert len(state["trainer"]["opt_g"]["param_groups"]) == 2
    assert (config.experiment.run_dir / "best.pt").is_file()

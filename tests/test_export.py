"""export.py and ONNX inference: the .onnx predicts like the checkpoint, and bad files are one line."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch

from models import registry
from tests.fault_helpers import assert_one_error_line, run_script
from tests.random_weights import random_generator, shifted_ema
from trainers.checkpoint import save_checkpoint
from trainers.config import load_config
from trainers.inference import InferenceOptions, run_inference
from utils import config as cfgio
from utils.color import pil_luma

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "configs" / "smoke.yaml"
SIZES = {"square.png": (64, 64), "odd.png": (45, 70)}  # 45x70 is padded to 48x80 for depth 4


def random_checkpoint(path: Path, overrides: list[str], ema_shift: float = 0.0) -> Path:
    """A checkpoint in the trainer's layout with a random, vivid generator (tests/random_weights.py) and an
    EMA copy shifted by `ema_shift` (none when 0)."""
    config = load_config(SMOKE, ["model.init.type=kaiming", *overrides])
    raw = random_generator(config, vivid=True).state_dict()
    ema = shifted_ema(raw, ema_shift, steps=3) if ema_shift else None
    trainer = {"generator": raw, "ema": ema, "mask_net": None, "discriminator": None}
    save_checkpoint(path, {"config": cfgio.to_dict(config), "epoch": 0, "global_step": 0, "scores": {}, "trainer": trainer})
    return path


def write_inputs(folder: Path, sizes: dict[str, tuple[int, int]] = SIZES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    for name, (h, w) in sizes.items():
        rgb = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 2)
        gray = pil_luma(rgb)
        gray[h // 4: h // 2, w // 3: w // 3 + w // 4] = 37
        cv2.imwrite(str(folder / name), gray)
    return folder


def predictions(folder: Path, sizes: dict[str, tuple[int, int]] = SIZES) -> dict[str, np.ndarray]:
    return {name: cv2.imread(str(folder / name)).astype(int) for name in sizes}


def export(checkpoint: Path, output: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
           *extra: str) -> None:
    result = run_script("export", ["--checkpoint", str(checkpoint), "--output", str(output), *extra], monkeypatch, capsys)
    assert result.returncode == 0, result.stderr


# smoke.yaml sizes the unet; other types take the unet's keys back to their defaults (which they do not take).
TYPE_OVERRIDES = {"smp_unet": ["model.generator.base_channels=64", "model.generator.depth=8",
                               "model.generator.encoder_weights=none", "model.generator.decoder_channels=[32,24,16,16,8]"]}


@pytest.mark.parametrize("generator_type, head", [(t, "luma_composite") for t in registry.names("generator")]
                         + [("unet", "luma_gate"), ("unet", "chroma_bins")])
def test_onnx_predicts_as_the_checkpoint(generator_type: str, head: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture) -> None:
    """Every registered generator type and colour head, two sizes (one padded inside), TTA on: >= 99.9% within 1 level."""
    checkpoint = random_checkpoint(tmp_path / "best.pt", [f"model.generator.type={generator_type}", f"model.generator.head={head}",
                                                          *TYPE_OVERRIDES.get(generator_type, [])])
    model = tmp_path / "model.onnx"
    export(checkpoint, model, monkeypatch, capsys)
    inputs = write_inputs(tmp_path / "in")
    for path, out in ((checkpoint, "torch"), (model, "onnx")):
        run_inference(InferenceOptions(checkpoint=path, input=inputs, output=tmp_path / out, device="cpu", tta=True, batch_size=2))
    torch_out, onnx_out = predictions(tmp_path / "torch"), predictions(tmp_path / "onnx")
    diffs = np.concatenate([np.abs(torch_out[n] - onnx_out[n]).ravel() for n in SIZES])
    print(f"{generator_type} {head}: max difference {diffs.max()} levels, {np.mean(diffs <= 1):.5%} within 1 level")
    assert np.mean(diffs <= 1) >= 0.999
    assert diffs.max() <= 3
    assert all(torch_out[n].std() > 5 for n in SIZES)  # a real picture, not a flat output that matches trivially


def test_onnx_parity_with_the_mask_added_to_the_decoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture) -> None:
    """decoder_sees_mask (its vectors non-zero in the exported EMA weights) with a frozen encoder."""
    checkpoint = random_checkpoint(tmp_path / "best.pt", ["model.generator.type=smp_unet", "model.generator.head=chroma_bins",
                                                          "model.generator.chroma_scale=2", "model.generator.decoder_sees_mask=true",
                                                          "model.generator.encoder_frozen_stages=5", *TYPE_OVERRIDES["smp_unet"]],
                                   ema_shift=0.5)
    model = tmp_path / "model.onnx"
    export(checkpoint, model, monkeypatch, capsys)
    inputs = write_inputs(tmp_path / "in")
    for path, out in ((checkpoint, "torch"), (model, "onnx")):
        run_inference(InferenceOptions(checkpoint=path, input=inputs, output=tmp_path / out, device="cpu", batch_size=2))
    torch_out, onnx_out = predictions(tmp_path / "torch"), predictions(tmp_path / "onnx")
    diffs = np.concatenate([np.abs(torch_out[n] - onnx_out[n]).ravel() for n in SIZES])
    assert np.mean(diffs <= 1) >= 0.999 and diffs.max() <= 3
    assert all(torch_out[n].std() > 5 for n in SIZES)


def test_onnx_parity_with_global_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Fourier blocks (their output convolutions non-zero in the exported EMA weights): the DFT matrices
    are built from each input's size, so a photo larger than the trace matches too."""
    checkpoint = random_checkpoint(tmp_path / "best.pt", ["model.generator.type=smp_unet", "model.generator.global_blocks=2",
                                                          "model.generator.encoder_frozen_stages=5", *TYPE_OVERRIDES["smp_unet"]],
                                   ema_shift=0.5)
    model = tmp_path / "model.onnx"
    export(checkpoint, model, monkeypatch, capsys)
    assert "Cos" in {node.op_type for node in onnx.load(str(model)).graph.node}  # the blocks are in the graph
    sizes = {**SIZES, "wide.png": (300, 517)}
    inputs = write_inputs(tmp_path / "in", sizes)
    for path, out in ((checkpoint, "torch"), (model, "onnx")):
        run_inference(InferenceOptions(checkpoint=path, input=inputs, output=tmp_path / out, device="cpu", batch_size=1))
    torch_out, onnx_out = predictions(tmp_path / "torch", sizes), predictions(tmp_path / "onnx", sizes)
    diffs = np.concatenate([np.abs(torch_out[n] - onnx_out[n]).ravel() for n in sizes])
    assert np.mean(diffs <= 1) >= 0.999 and diffs.max() <= 3
    assert all(torch_out[n].std() > 5 for n in sizes)


def test_onnx_parity_with_the_hole_blur(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """model.generator.hole_blur is part of the exported graph: the .onnx blurs the hole as the checkpoint does."""
    blurred = random_checkpoint(tmp_path / "blur" / "best.pt", ["model.generator.hole_blur=2.0"])
    sharp = random_checkpoint(tmp_path / "sharp" / "best.pt", [])
    model = tmp_path / "model.onnx"
    export(blurred, model, monkeypatch, capsys)
    inputs = write_inputs(tmp_path / "in")
    for path, out in ((blurred, "torch"), (model, "onnx"), (sharp, "sharp")):
        run_inference(InferenceOptions(checkpoint=path, input=inputs, output=tmp_path / out, device="cpu", batch_size=2))
    torch_out, onnx_out, sharp_out = predictions(tmp_path / "torch"), predictions(tmp_path / "onnx"), predictions(tmp_path / "sharp")
    diffs = np.concatenate([np.abs(torch_out[n] - onnx_out[n]).ravel() for n in SIZES])
    assert np.mean(diffs <= 1) >= 0.999 and diffs.max() <= 3
    for name, (h, w) in SIZES.items():  # the same weights: only the hole (write_inputs' box) differs
        hole = np.zeros((h, w), bool)
        hole[h // 4: h // 2, w // 3: w // 3 + w // 4] = True
        assert np.array_equal(torch_out[name][~hole], sharp_out[name][~hole])
        assert np.abs(torch_out[name][hole] - sharp_out[name][hole]).max() > 3


# Larger than the traced 256x256 and not a multiple of 32: padded inside, with chroma blocks cut by the padding.
WIDE_SIZES = {**SIZES, "wide.png": (300, 517)}


@pytest.mark.parametrize("generator_type, scale", [("unet", 4), ("smp_unet", 2)])
def test_onnx_runs_the_reduced_resolution_chroma_head(generator_type: str, scale: int, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """chroma_bins at chroma_scale 2 and 4: the graph holds the block averaging and the upsampling, and
    predicts as the checkpoint at sizes that need padding, including one larger than the traced size."""
    import onnx

    checkpoint = random_checkpoint(tmp_path / "best.pt", [f"model.generator.type={generator_type}", "model.generator.head=chroma_bins",
                                                          f"model.generator.chroma_scale={scale}", *TYPE_OVERRIDES.get(generator_type, [])])
    model = tmp_path / "model.onnx"
    export(checkpoint, model, monkeypatch, capsys)
    ops = {node.op_type for node in onnx.load(str(model)).graph.node}
    assert {"AveragePool", "Resize", "Softmax"} <= ops, ops
    inputs = write_inputs(tmp_path / "in", WIDE_SIZES)
    for path, out in ((checkpoint, "torch"), (model, "onnx")):
        run_inference(InferenceOptions(checkpoint=path, input=inputs, output=tmp_path / out, device="cpu", batch_size=2))
    torch_out, onnx_out = predictions(tmp_path / "torch", WIDE_SIZES), predictions(tmp_path / "onnx", WIDE_SIZES)
    for name in WIDE_SIZES:
        diffs = np.abs(torch_out[name] - onnx_out[name])
        print(f"{generator_type} scale {scale} {name}: max difference {diffs.max()} levels, {np.mean(diffs <= 1):.5%} within 1 level")
        assert np.mean(diffs <= 1) >= 0.999 and diffs.max() <= 3, name
        assert torch_out[name].std() > 5
        assert np.abs(torch_out[name][..., 0] - torch_out[name][..., 2]).max() > 10  # coloured, not gray


@pytest.mark.parametrize("generator_type", registry.names("generator"))
def test_onnx_parity_larger_than_trace_size(generator_type: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture) -> None:
    """A 300x517 photo (beyond the 256x256 trace in both sides, not a multiple of 32) through the dynamic-size graph."""
    checkpoint = random_checkpoint(tmp_path / "best.pt", [f"model.generator.type={generator_type}",
                                                          *TYPE_OVERRIDES.get(generator_type, [])])
    model = tmp_path / "model.onnx"
    export(checkpoint, model, monkeypatch, capsys)  # traced at the default 256x256
    h, w = 300, 517
    rng = np.random.default_rng(5)
    gray = pil_luma(cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 3))
    gray[100:160, 200:330] = 37
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "large.png"), gray)
    for path, out in ((checkpoint, "torch"), (model, "onnx")):
        run_inference(InferenceOptions(checkpoint=path, input=tmp_path / "in", output=tmp_path / out, device="cpu"))
    torch_out, onnx_out = (cv2.imread(str(tmp_path / out / "large.png")).astype(int) for out in ("torch", "onnx"))
    assert torch_out.shape == onnx_out.shape == (h, w, 3)
    diffs = np.abs(torch_out - onnx_out)
    print(f"{generator_type} {h}x{w}: max difference {diffs.max()} levels, {np.mean(diffs <= 1):.5%} within 1 level")
    assert np.mean(diffs <= 1) >= 0.999 and diffs.max() <= 3
    assert torch_out.std() > 5


def test_no_ema_exports_the_raw_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    checkpoint = random_checkpoint(tmp_path / "best.pt", [], ema_shift=0.05)
    inputs = write_inputs(tmp_path / "in")
    for flag, name in (([], "ema"), (["--no-ema"], "raw")):
        export(checkpoint, tmp_path / f"{name}.onnx", monkeypatch, capsys, *flag)
        run_inference(InferenceOptions(checkpoint=tmp_path / f"{name}.onnx", input=inputs, output=tmp_path / f"onnx_{name}",
                                       device="cpu", use_ema=name == "ema"))
        run_inference(InferenceOptions(checkpoint=checkpoint, input=inputs, output=tmp_path / f"torch_{name}", device="cpu",
                                       use_ema=name == "ema"))
    for name in ("ema", "raw"):
        onnx_out, torch_out = predictions(tmp_path / f"onnx_{name}"), predictions(tmp_path / f"torch_{name}")
        assert all(np.abs(onnx_out[n] - torch_out[n]).max() <= 3 for n in SIZES)
    ema, raw = predictions(tmp_path / "onnx_ema"), predictions(tmp_path / "onnx_raw")
    assert any(np.abs(ema[n] - raw[n]).max() > 10 for n in SIZES)


def test_static_export_rejects_another_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    checkpoint = random_checkpoint(tmp_path / "best.pt", [])
    model = tmp_path / "static.onnx"
    export(checkpoint, model, monkeypatch, capsys, "--no-dynamic", "--size", "64x64")
    inputs = write_inputs(tmp_path / "in")
    args = ["--checkpoint", str(model), "--input", str(inputs), "--output", str(tmp_path / "o"), "--device", "cpu"]
    assert_one_error_line(run_script("infer", args, monkeypatch, capsys), "exported for 64x64 inputs only", "got 45x70")


def test_unexportable_op_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise torch.onnx.errors.UnsupportedOperatorError("aten::fancy_op", 17, 99)

    monkeypatch.setattr(torch.onnx, "export", refuse)
    checkpoint = random_checkpoint(tmp_path / "best.pt", [])
    args = ["--checkpoint", str(checkpoint), "--output", str(tmp_path / "m.onnx")]
    line = assert_one_error_line(run_script("export", args, monkeypatch, capsys), "cannot be exported to ONNX opset 17", "aten::fancy_op")
    assert line.startswith(f"error: {checkpoint}: ")
    assert not (tmp_path / "m.onnx").exists()


def foreign_onnx(path: Path) -> Path:
    """A valid ONNX model (Identity) without ChromaFill's metadata."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["gray"], ["rgb"])], "foreign",
                              [helper.make_tensor_value_info("gray", TensorProto.FLOAT, [1, 1, 4, 4])],
                              [helper.make_tensor_value_info("rgb", TensorProto.FLOAT, [1, 1, 4, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.parametrize("case", ["foreign", "truncated", "missing", "amp"])
def test_bad_onnx_models_are_one_line(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture) -> None:
    model, extra = tmp_path / "model.onnx", []
    if case == "foreign":
        foreign_onnx(model)
        expected = "not a ChromaFill ONNX model (no 'chromafill-onnx' marker"
    elif case in ("truncated", "amp"):
        export(random_checkpoint(tmp_path / "best.pt", []), model, monkeypatch, capsys)
        if case == "truncated":
            model.write_bytes(model.read_bytes()[:3000])
            expected = "not a readable ONNX model (truncated or corrupt?)"
        else:
            extra, expected = ["--amp"], "--amp does not apply to an ONNX model"
    else:
        expected = "ONNX model not found"
    args = ["--checkpoint", str(model), "--input", str(write_inputs(tmp_path / "in")), "--output", str(tmp_path / "o"),
            "--device", "cpu", *extra]
    line = assert_one_error_line(run_script("infer", args, monkeypatch, capsys))
    assert line.startswith(f"error: {model}: {expected}"), line

"""infer.py end to end: any input size, names and sizes kept, a flat zip, clear checkpoint errors."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from data.inference_set import InferenceDataset
from tests.dacon_fixture import make_dacon_root
from utils.color import pil_luma
from utils.errors import ChromaFillError
from tests.test_export import SIZES, random_checkpoint, write_inputs
from trainers.config import config_from_dict, load_config
from trainers.inference import InferenceOptions, load_generator, run_inference
from trainers.loop import run_training

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_dacon_root(tmp_path_factory.mktemp("dacon"))
    out = tmp_path_factory.mktemp("runs")
    config = load_config(REPO / "configs" / "smoke.yaml", [f"data.root={root}", f"experiment.output_dir={out}",
                                                            "train.test.enabled=false"])
    run_training(config)
    return config.experiment.run_dir / "best.pt"


@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    """Damaged gray inputs of three sizes, each with a constant-gray hole."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name, (h, w) in {"a.png": (64, 64), "b.png": (75, 101), "c.png": (50, 33)}.items():
        gray = cv2.GaussianBlur(rng.integers(0, 256, (h, w), dtype=np.uint8), (7, 7), 2)
        gray = np.clip(gray.astype(int) * 2 - 100, 120, 255).astype(np.uint8)
        gray[h // 4: h // 2, w // 4: w // 2] = 40
        cv2.imwrite(str(folder / name), gray)
    return folder


def test_predicts_every_size_and_zips_flat(checkpoint: Path, inputs: Path, tmp_path: Path) -> None:
    out, archive = tmp_path / "out", tmp_path / "sub.zip"
    out.mkdir()
    (out / "stale.png").write_bytes(b"old")  # a file from an earlier call must not be zipped
    names = run_inference(InferenceOptions(checkpoint=checkpoint, input=inputs, output=out, zip=archive, batch_size=2,
                                           save_masks=tmp_path / "masks"))
    assert sorted(names) == ["a.png", "b.png", "c.png"]
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == ["a.png", "b.png", "c.png"]
    for name in names:
        pred = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        source = cv2.imread(str(inputs / name), cv2.IMREAD_UNCHANGED)
        assert pred.shape == (*source.shape, 3)
        mask = cv2.imread(str(tmp_path / "masks" / name), cv2.IMREAD_UNCHANGED)
        h, w = source.shape
        assert mask[h // 4 + 2, w // 4 + 2] == 255 and mask[0, 0] == 0


@pytest.fixture(scope="module")
def shifted_ema(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint with random far-from-gray weights whose EMA copy differs from the raw ones, inputs)."""
    folder = tmp_path_factory.mktemp("shifted")
    return random_checkpoint(folder / "best.pt", [], ema_shift=0.05), write_inputs(folder / "in")


def direct_predictions(checkpoint: Path, inputs: Path, use_ema: bool, flip: bool = False) -> dict[str, np.ndarray]:
    """Float RGB (HxWx3 in [0, 1]) of a plain eval-mode generator built from the checkpoint's raw or EMA
    weights (no folding, no pipeline), on the inputs as the dataset prepares them; `flip` mirrors the
    input and the output back."""
    from models.build import build_generator
    from trainers.checkpoint import generator_weights, load_checkpoint

    loaded = load_checkpoint(checkpoint, "cpu")
    config = config_from_dict(loaded["config"])
    generator = build_generator(config.model)
    generator.load_state_dict(generator_weights(loaded, use_ema)[0])
    generator.eval()
    dataset = InferenceDataset(inputs, prefill=config.data.prefill)
    out = {}
    with torch.no_grad():
        for i in range(len(dataset)):
            item = dataset[i]
            gray, mask = item["input"][None], item["mask"][None]
            if flip:
                gray, mask = gray.flip(-1), mask.flip(-1)
            rgb = generator(gray, mask)
            out[item["name"]] = (rgb.flip(-1) if flip else rgb)[0].permute(1, 2, 0).numpy()
    return out


def to_levels(rgb: np.ndarray) -> np.ndarray:
    return np.round(rgb * 255).astype(int)


def read_rgb_levels(folder: Path) -> dict[str, np.ndarray]:
    return {name: cv2.cvtColor(cv2.imread(str(folder / name)), cv2.COLOR_BGR2RGB).astype(int) for name in SIZES}


def test_ema_and_raw_weights_predict_as_their_own_weight_sets(shifted_ema: tuple[Path, Path], tmp_path: Path) -> None:
    checkpoint, inputs = shifted_ema
    for use_ema in (True, False):
        out = tmp_path / str(use_ema)
        run_inference(InferenceOptions(checkpoint=checkpoint, input=inputs, output=out, device="cpu", use_ema=use_ema))
        got, own = read_rgb_levels(out), direct_predictions(checkpoint, inputs, use_ema)
        other = direct_predictions(checkpoint, inputs, not use_ema)
        for name in SIZES:
            assert np.abs(got[name] - to_levels(own[name])).max() <= 1, (use_ema, name)
            assert np.abs(got[name] - to_levels(other[name])).mean() > 10, (use_ema, name)  # the sets really differ


def test_tta_is_the_mean_with_the_mirrored_prediction(shifted_ema: tuple[Path, Path], tmp_path: Path) -> None:
    checkpoint, inputs = shifted_ema
    run_inference(InferenceOptions(checkpoint=checkpoint, input=inputs, output=tmp_path / "tta", device="cpu", tta=True))
    got = read_rgb_levels(tmp_path / "tta")
    plain, mirrored = direct_predictions(checkpoint, inputs, True), direct_predictions(checkpoint, inputs, True, flip=True)
    for name in SIZES:
        assert np.abs(got[name] - to_levels((plain[name] + mirrored[name]) / 2)).max() <= 1, name
        assert np.abs(got[name] - to_levels(plain[name])).mean() > 5, name  # the mirrored half really changes the output


def test_amp_stays_close_to_fp32_with_the_same_weights(shifted_ema: tuple[Path, Path], tmp_path: Path) -> None:
    checkpoint, inputs = shifted_ema
    run_inference(InferenceOptions(checkpoint=checkpoint, input=inputs, output=tmp_path / "amp", device="cpu", amp=True))
    got = read_rgb_levels(tmp_path / "amp")
    fp32, raw = direct_predictions(checkpoint, inputs, True), direct_predictions(checkpoint, inputs, False)
    for name in SIZES:
        diff = np.abs(got[name] - to_levels(fp32[name]))
        assert diff.mean() < 1 and np.percentile(diff, 99) <= 2, name  # bf16 rounding, not another model
        assert np.abs(got[name] - to_levels(raw[name])).mean() > 10, name


def test_ema_weights_are_used_unless_disabled(checkpoint: Path) -> None:
    ema, _, is_ema = load_generator(checkpoint, torch.device("cpu"), use_ema=True)
    raw, _, is_raw_ema = load_generator(checkpoint, torch.device("cpu"), use_ema=False)
    assert is_ema and not is_raw_ema
    differs = any(not torch.equal(p, q) for p, q in zip(ema.state_dict().values(), raw.state_dict().values()))
    assert differs


def test_loaded_generator_is_folded_and_predicts_as_the_trained_one(checkpoint: Path) -> None:
    """load_generator folds BatchNorm (and skips the random init): same output as a plain eval-mode load."""
    from models.build import build_generator
    from trainers.checkpoint import generator_weights, load_checkpoint

    loaded, config, _ = load_generator(checkpoint, torch.device("cpu"))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in loaded.modules())
    plain = build_generator(config.model)
    plain.load_state_dict(generator_weights(load_checkpoint(checkpoint, "cpu"))[0])
    plain.eval()
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    gray, mask = torch.rand(2, 1, 64, 48), (torch.rand(2, 1, 64, 48) > 0.9).float()
    with torch.no_grad():
        assert torch.allclose(loaded(gray, mask), plain(gray, mask), atol=1e-5)


def test_cli_reads_a_test_csv(checkpoint: Path, tmp_path: Path) -> None:
    root = make_dacon_root(tmp_path / "d", n_train=1, n_test=3)
    done = subprocess.run([sys.executable, "infer.py", "--checkpoint", str(checkpoint), "--input", str(root / "test.csv"),
                           "--output", str(tmp_path / "o"), "--zip", str(tmp_path / "s.zip")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "EMA generator weights of epoch 1 (global step 2)" in done.stderr  # best.pt says where it was saved
    with zipfile.ZipFile(tmp_path / "s.zip") as zf:
        assert sorted(zf.namelist()) == ["TEST_000.png", "TEST_001.png", "TEST_002.png"]


@pytest.mark.parametrize("content, message", [
    (b"id,input_image_path\n", "not a checkpoint file (truncated, corrupt, or not written by ChromaFill)"),
    (None, "not a checkpoint file (truncated, corrupt, or not written by ChromaFill)"),
])
def test_bad_checkpoint_is_one_clear_line(checkpoint: Path, inputs: Path, tmp_path: Path, content: bytes | None, message: str) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content if content is not None else checkpoint.read_bytes()[:5000])
    done = subprocess.run([sys.executable, "infer.py", "--checkpoint", str(bad), "--input", str(inputs), "--output", str(tmp_path / "o")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {bad}: {message}"


def test_foreign_torch_file_is_not_ours(tmp_path: Path, inputs: Path) -> None:
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, foreign)
    done = subprocess.run([sys.executable, "infer.py", "--checkpoint", str(foreign), "--input", str(inputs), "--output", str(tmp_path / "o")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {foreign}: not a ChromaFill checkpoint (no 'chromafill-checkpoint' marker)"


def mask_net_checkpoint(path: Path) -> Path:
    """A checkpoint whose mask net says "all lost" everywhere (last convolution: zero weights, bias +10)."""
    from models.build import build_mask_net
    from trainers.checkpoint import load_checkpoint, save_checkpoint

    random_checkpoint(path, ["model.mask_net.enabled=true", "model.mask_net.depth=3", "model.mask_net.base_channels=4"])
    payload = load_checkpoint(path, "cpu")
    net = build_mask_net(config_from_dict(payload["config"]).model)
    last = [m for m in net.net.ups[0].modules() if isinstance(m, torch.nn.Conv2d)][-1]  # the output layer
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.constant_(last.bias, 10.0)
    payload["trainer"]["mask_net"] = net.state_dict()
    save_checkpoint(path, payload)
    return path


def holeless_and_holed_inputs(folder: Path) -> Path:
    """no_hole.png: smooth noise, no constant-fill area; hole.png: a constant-filled rectangle."""
    folder.mkdir()
    rng = np.random.default_rng(5)
    for name in ("no_hole.png", "hole.png"):
        gray = pil_luma(cv2.GaussianBlur(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), (0, 0), 2))
        if name == "hole.png":
            gray[10:30, 20:44] = 33
        cv2.imwrite(str(folder / name), gray)
    return folder


@pytest.mark.parametrize("source", ["auto", "detector", "mask_net"])
def test_mask_source_picks_the_detector_or_the_mask_net(source: str, tmp_path: Path) -> None:
    checkpoint = mask_net_checkpoint(tmp_path / "best.pt")
    inputs = holeless_and_holed_inputs(tmp_path / "in")
    run_inference(InferenceOptions(checkpoint=checkpoint, input=inputs, output=tmp_path / "out", device="cpu",
                                   mask_source=source, save_masks=tmp_path / "masks"))
    masks = {n: cv2.imread(str(tmp_path / "masks" / n), cv2.IMREAD_UNCHANGED) > 127 for n in ("no_hole.png", "hole.png")}
    detected = np.zeros((48, 64), bool)
    detected[10:30, 20:44] = True
    if source == "mask_net":
        assert masks["no_hole.png"].all() and masks["hole.png"].all()
    else:
        assert np.array_equal(masks["hole.png"], detected)  # the detector found it: the mask net is not asked
        assert masks["no_hole.png"].all() == (source == "auto") and masks["no_hole.png"].any() == (source == "auto")


def test_mask_net_source_without_a_mask_net_is_one_line(shifted_ema: tuple[Path, Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from tests.fault_helpers import assert_one_error_line, run_script

    checkpoint, inputs = shifted_ema
    args = ["--checkpoint", str(checkpoint), "--input", str(inputs), "--output", str(tmp_path / "o"), "--mask-source", "mask_net"]
    line = assert_one_error_line(run_script("infer", args, monkeypatch, capsys))
    assert line == (f"error: {checkpoint}: --mask-source mask_net: this model has no learned mask net "
                    "(trained with model.mask_net.enabled=false, or an ONNX export); use detector or auto")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_test_split_prediction_uses_the_mask_source(tmp_path: Path) -> None:
    """The trainer's call (trainers.predict.predict_split) makes the same choice as infer.py and restores train mode."""
    from trainers.inference import load_inference_model
    from trainers.predict import predict_split

    model = load_inference_model(mask_net_checkpoint(tmp_path / "best.pt"), torch.device("cpu"))
    model.mask_net.train()
    dataset = InferenceDataset(holeless_and_holed_inputs(tmp_path / "in"))
    run_inference(InferenceOptions(checkpoint=tmp_path / "best.pt", input=tmp_path / "in", output=tmp_path / "infer", device="cpu"))
    names = predict_split(model.generator, model.mask_net, dataset, tmp_path / "split", torch.device("cpu"), mask_source="auto")
    assert sorted(names) == ["hole.png", "no_hole.png"] and model.mask_net.training
    for name in names:  # within fp32 rounding: infer.py batched the two images, the split predicts one by one
        split, infer = (cv2.imread(str(tmp_path / d / name)).astype(int) for d in ("split", "infer"))
        assert np.abs(split - infer).max() <= 1, name
    detector_only = predict_split(model.generator, None, dataset, tmp_path / "det", torch.device("cpu"), mask_source="auto")
    assert detector_only == names
    no_hole = (cv2.imread(str(tmp_path / d / "no_hole.png")).astype(int) for d in ("det", "split"))
    assert np.abs(next(no_hole) - next(no_hole)).mean() > 5  # without a mask net nothing is lost there


def saturation_bound(rgb: np.ndarray) -> np.ndarray:
    """An upper bound of the HSV saturation, before 8-bit rounding, of the float pixel each uint8 pixel came from.

    Rounding moves each channel by at most half a level, so a float pixel of saturation s >= t
    has (max8 - min8 + 1) / (max8 - 0.5) >= t.
    """
    high, low = rgb.max(axis=2).astype(float), rgb.min(axis=2).astype(float)
    return (high - low + 1) / np.maximum(high - 0.5, 0.5)


@pytest.mark.parametrize("source", ["torch", "onnx"])
def test_gray_snapped_pixels_are_exactly_gray_in_the_written_pngs_with_and_without_tta(
        source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """gray_snap's promise on the files infer.py writes: saturation below the threshold -> R == G == B exactly.

    TTA averages two passes, each snapped on its own: a pixel snapped in one but not the other
    would come out with half the other's tint, so the mean is snapped again."""
    from tests.test_export import export, predictions

    threshold = 0.5
    model = random_checkpoint(tmp_path / "best.pt", [f"model.generator.gray_snap={threshold}"])
    if source == "onnx":
        export(model, tmp_path / "model.onnx", monkeypatch, capsys)
        model = tmp_path / "model.onnx"
    inputs = write_inputs(tmp_path / "in")
    for tta in (False, True):
        out = tmp_path / f"out_{tta}"
        run_inference(InferenceOptions(checkpoint=model, input=inputs, output=out, device="cpu", tta=tta))
        for name, bgr in predictions(out).items():
            gray = (bgr[..., 0] == bgr[..., 1]) & (bgr[..., 1] == bgr[..., 2])
            unsnapped = saturation_bound(bgr) < threshold
            assert (unsnapped & ~gray).sum() == 0, (name, tta, int((unsnapped & ~gray).sum()))
            assert 0.1 < gray.mean() < 0.9, (name, tta, gray.mean())  # both snapped and coloured pixels


def test_hole_blur_override_predicts_as_a_model_with_that_key(tmp_path: Path) -> None:
    """--hole-blur 2 on a sharp model writes what a model configured with hole_blur=2 writes: the same weights,
    known pixels as without the blur, the hole smoothed."""
    inputs = write_inputs(tmp_path / "in")
    sharp = random_checkpoint(tmp_path / "sharp" / "best.pt", [])
    blurred = random_checkpoint(tmp_path / "blur" / "best.pt", ["model.generator.hole_blur=2.0"])
    run_inference(InferenceOptions(checkpoint=sharp, input=inputs, output=tmp_path / "plain", device="cpu"))
    run_inference(InferenceOptions(checkpoint=sharp, input=inputs, output=tmp_path / "override", device="cpu", hole_blur=2.0))
    run_inference(InferenceOptions(checkpoint=blurred, input=inputs, output=tmp_path / "configured", device="cpu"))
    run_inference(InferenceOptions(checkpoint=blurred, input=inputs, output=tmp_path / "off", device="cpu", hole_blur=0.0))
    for name in SIZES:
        plain, override, configured, off = (cv2.imread(str(tmp_path / d / name)) for d in ("plain", "override", "configured", "off"))
        assert np.array_equal(override, configured) and np.array_equal(off, plain)
        assert not np.array_equal(override, plain)


@pytest.mark.parametrize("value, message", [("-1", "--hole-blur: got -1.0, expected a Gaussian sigma >= 0"),
                                            ("nan", "--hole-blur: got nan, expected a Gaussian sigma >= 0")])
def test_bad_hole_blur_is_one_line(checkpoint: Path, inputs: Path, tmp_path: Path, value: str, message: str) -> None:
    done = subprocess.run([sys.executable, "infer.py", "--checkpoint", str(checkpoint), "--input", str(inputs),
                           "--output", str(tmp_path / "o"), "--hole-blur", value], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr


def test_hole_blur_on_an_onnx_model_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from tests.test_export import export

    model = tmp_path / "model.onnx"
    export(random_checkpoint(tmp_path / "best.pt", []), model, monkeypatch, capsys)
    with pytest.raises(ChromaFillError, match="--hole-blur: an ONNX model holds the hole_blur it was exported with"):
        run_inference(InferenceOptions(checkpoint=model, input=write_inputs(tmp_path / "in"), output=tmp_path / "o",
                                       device="cpu", hole_blur=1.0))

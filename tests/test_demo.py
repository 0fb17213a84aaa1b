"""The demo: scikit-image's bundled photos as a dataset, and a shortened configs/demo.yaml run end to end."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from data import skimage_samples
from data.build import build_datasets
from data.config import DamageConfig, DataConfig
from data.hole_detection import detect_hole
from data.io import read_gray, read_rgb
from trainers.config import load_config
from trainers.loop import run_training
from trainers.samples import samples_image
from utils.color import pil_luma
from utils.errors import ChromaFillError

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "configs" / "demo.yaml"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """configs/demo.yaml shortened to one tiny epoch: (run folder, samples folder)."""
    tmp = tmp_path_factory.mktemp("demo")
    config = load_config(DEMO, [f"data.root={tmp / 'samples'}", f"experiment.output_dir={tmp / 'out'}", *SHORT])
    assert run_training(config) == 0
    return config.experiment.run_dir, tmp / "samples"


SHORT = ["train.epochs=1", "train.max_minutes=0", "data.crop_size=32", "data.val_size=48",
         "model.generator.decoder_channels=[16,8,8,8,8]", "model.discriminator.base_channels=4",
         "train.validation.every_epochs=1", "train.log_every_steps=1"]


def test_demo_fine_tunes_from_the_bundled_model(demo_run: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture) -> None:
    """`python train.py --config configs/demo.yaml --load-from bundled`: the run starts from the bundled
    weights (a random file of the demo's architecture here, made by the real conversion code); the
    encoder, frozen for the demo's first epochs, still holds them after an epoch."""
    from tests.bundled_fixture import random_run
    from trainers import bundled
    from trainers.checkpoint import load_checkpoint

    _, samples = demo_run
    made = bundled.make_bundled_model(random_run(tmp_path / "run", DEMO, SHORT), tmp_path / "weights")
    monkeypatch.setattr(bundled, "BUNDLED_PATH", made.weights)
    config = load_config(DEMO, [f"data.root={samples}", f"experiment.output_dir={tmp_path / 'out'}", *SHORT])
    assert run_training(config, load_from="bundled") == 0
    assert f"loaded weights (generator (EMA weights)) from {made.weights}" in capsys.readouterr().err
    start = load_checkpoint(made.weights)["trainer"]["generator"]
    after = load_checkpoint(config.experiment.run_dir / "last.pt")["trainer"]["generator"]
    encoder = [key for key in start if key.startswith("net.encoder.") and start[key].is_floating_point()]
    assert encoder and all(torch.equal(after[key], start[key].float()) for key in encoder)


def test_samples_folder_holds_photos_and_a_damaged_held_out_set(demo_run: tuple[Path, Path]) -> None:
    _, root = demo_run
    photos = sorted(p.stem for p in (root / "photos").glob("*.png"))
    assert photos == sorted(skimage_samples.TRAIN_PHOTOS)
    for name in skimage_samples.TEST_PHOTOS:
        gray, rgb = read_gray(root / "test_input" / f"{name}.png"), read_rgb(root / "test_gt" / f"{name}.png")
        assert cv2.imread(str(root / "test_input" / f"{name}.png"), cv2.IMREAD_UNCHANGED).ndim == 2
        assert max(rgb.shape[:2]) <= skimage_samples.MAX_SIDE
        lost = gray != pil_luma(rgb)
        # One constant-filled region of 1..13 % of the photo, which the detector finds at test time.
        assert 0.005 < lost.mean() < 0.14 and len(np.unique(gray[lost])) == 1
        assert (detect_hole(gray) & lost).sum() > 0.8 * lost.sum()


def test_demo_run_folder_is_complete(demo_run: tuple[Path, Path]) -> None:
    run, _ = demo_run
    for name in ("config.yaml", "last.pt", "best.pt", "samples.png"):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").iterdir())
    with zipfile.ZipFile(run / "submissions" / "epoch_001.zip") as archive:
        assert sorted(archive.namelist()) == sorted(f"{n}.png" for n in skimage_samples.TEST_PHOTOS)
    samples = read_rgb(run / "samples.png")
    # Two validation photos (val_size 48), each a row of input | prediction | original.
    assert samples.shape == (2 * 48, 3 * 48, 3)


def test_samples_are_written_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = DataConfig(format="samples", root=str(tmp_path), crop_size=32)
    first = build_datasets(cfg, seed=0)
    monkeypatch.setattr(skimage_samples, "load_sample", lambda name: pytest.fail("rewrote the samples"))
    second = build_datasets(cfg, seed=0)
    assert len(first.train) == len(second.train) and len(second.test) == len(skimage_samples.TEST_PHOTOS)


def test_missing_samples_fail_with_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(skimage_samples, "load_sample", lambda name: None)
    with pytest.raises(ChromaFillError, match="lacks the bundled sample photos"):
        skimage_samples.ensure_samples(tmp_path, DamageConfig())
    assert not (tmp_path / "samples.json").exists()


def test_samples_format_needs_a_root_and_no_test_dir(tmp_path: Path) -> None:
    with pytest.raises(ChromaFillError, match="data.root"):
        build_datasets(DataConfig(format="samples", root=""), seed=0)
    with pytest.raises(ChromaFillError, match="data.test_dir"):
        build_datasets(DataConfig(format="samples", root=str(tmp_path), test_dir=str(tmp_path)), seed=0)


def test_samples_image_drops_the_mask_column() -> None:
    h, w = 5, 7
    panels = [torch.full((3, h, w), v) for v in (0.1, 1.0, 0.5, 0.9)]  # input | mask | prediction | target
    image = samples_image(torch.cat(panels, dim=2))
    assert image.shape == (h, 3 * w, 3)
    assert [int(image[0, i * w, 0]) for i in range(3)] == [26, 128, 230]


def test_plot_curves_reads_the_demo_run(demo_run: tuple[Path, Path], tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("plot_curves", REPO / "benchmarks" / "plot_curves.py")
    plot_curves = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plot_curves)
    run, _ = demo_run
    scalars = plot_curves.read_scalars(run)
    assert "val/score" in scalars and any(tag.startswith("loss/g_") for tag in scalars)
    assert plot_curves.main([str(run), "--out", str(tmp_path / "curves.png")]) == 0
    assert cv2.imread(str(tmp_path / "curves.png")).shape[2] == 3
    assert plot_curves.main([str(tmp_path), "--out", str(tmp_path / "none.png")]) == 2

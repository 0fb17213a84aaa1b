"""benchmarks/quality.py: baselines and a checkpoint scored with the exact metric on seeded damage."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from data.synthetic import natural_image
from models.build import build_generator
from trainers.checkpoint import save_checkpoint
from trainers.config import load_config
from utils import config as cfgio

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("quality", REPO / "benchmarks" / "quality.py")
quality = importlib.util.module_from_spec(_spec)
sys.modules["quality"] = quality  # dataclasses look their module up there
_spec.loader.exec_module(quality)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three colourful generated photos (gray ones would make a gray copy's HIST high)."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(folder / f"p{i}.png"), natural_image(96, 128, rng)[:, :, ::-1])
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny generator saved as infer.py expects (config + weights)."""
    config = load_config(REPO / "configs" / "smoke.yaml", ["model.generator.depth=3"])
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny" / "best.pt"
    save_checkpoint(path, {"config": cfgio.to_dict(config), "trainer": {"generator": build_generator(config.model).state_dict()}})
    return path


def run(capsys: pytest.CaptureFixture, *args: str) -> str:
    assert quality.main(list(args)) == 0
    return capsys.readouterr().out


def test_prints_baselines_and_checkpoint(photos: Path, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = run(capsys, str(photos), "--checkpoint", f"tiny={checkpoint}", "--json", str(tmp_path / "q.json"),
              "--grid", str(tmp_path / "grid.png"), "--grid-count", "2", "--grid-height", "160")
    lines = out.strip().splitlines()
    assert lines[0].split() == ["method", "score", "ssim_full", "ssim_lost", "hist"]
    assert [line.split()[0] for line in lines[1:]] == ["gray", "telea", "tiny"]
    results = json.loads((tmp_path / "q.json").read_text())["results"]
    gray, telea = results["gray copy"], results["telea"]
    assert gray["hist"] < 0.2  # a gray picture's hue histogram is all bin 0: near 0 on colourful photos
    assert telea["ssim_lost"] > gray["ssim_lost"] and telea["hist"] == pytest.approx(gray["hist"])
    assert all(0 < results["tiny"][k] <= 1 for k in ("ssim_full", "score"))
    grid = cv2.imread(str(tmp_path / "grid.png"))
    # input | telea | tiny | original (the gray copy is the input panel)
    assert grid.shape[0] == 2 * 160 + 4 and grid.shape[1] == 4 * round(128 * 160 / 96) + 12


def test_hole_window_grows_the_box_and_stays_inside() -> None:
    mask = np.zeros((50, 80), bool)
    mask[10:20, 30:50] = True  # 10 x 20
    assert quality.hole_window(mask, 0.5) == (slice(5, 25), slice(20, 60))
    assert quality.hole_window(mask, 2.0) == (slice(0, 40), slice(0, 80))  # clipped to the photo
    assert quality.hole_window(np.zeros((4, 4), bool), 1.0) == (slice(None), slice(None))


def test_zoomed_grid_shows_the_hole_window_of_every_panel() -> None:
    rgb = np.zeros((60, 90, 3), np.uint8)
    rgb[..., 0] = 200
    mask = np.zeros((60, 90), bool)
    mask[20:30, 40:60] = True
    gray = np.full((60, 90), 60, np.uint8)
    gray[mask] = 7
    photo = quality.Damaged("p", Path("."), rgb, gray, mask, mask)
    pred = np.zeros_like(rgb)
    pred[mask] = (0, 0, 255)
    grid = quality.restoration_grid([photo], [[pred]], count=1, height=40, zoom=0.5)
    # window 20 x 40 (rows 15..35, cols 30..70) enlarged 2x: three 80-pixel panels, two gaps
    assert grid.shape == (40, 3 * 80 + 8, 3)
    prediction = grid[:, 84:164]
    assert (prediction[10:30, 20:60] == (0, 0, 255)).all() and (prediction[:10] == 0).all()
    assert (grid[10:30, 20:60] == 7).all()  # the input panel: the constant fill, enlarged pixel for pixel


def test_grid_zoom_must_be_a_margin(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert quality.main([str(photos), "--grid", str(tmp_path / "g.png"), "--grid-zoom", "-1"]) == 2
    assert "--grid-zoom: -1.0: expected a margin >= 0" in capsys.readouterr().err
    assert quality.main([str(photos), "--grid", str(tmp_path / "g.png"), "--no-baselines"]) == 2
    assert "leave no prediction to show" in capsys.readouterr().err


def test_same_seed_same_numbers_other_seed_other_damage(photos: Path, capsys: pytest.CaptureFixture) -> None:
    first = run(capsys, str(photos), "--seed", "3")
    assert run(capsys, str(photos), "--seed", "3") == first
    assert run(capsys, str(photos), "--seed", "4") != first


def test_gray_snap_override_and_markdown(photos: Path, checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    out = run(capsys, str(photos), "--checkpoint", str(checkpoint), "--no-baselines", "--gray-snap", "1.0", "--markdown", "--true-mask")
    lines = out.strip().splitlines()
    assert lines[0] == "| method | score | ssim_full | ssim_lost | hist |" and len(lines) == 3
    # gray_snap 1.0 turns every pixel gray, so the hue histogram is a gray copy's.
    gray = run(capsys, str(photos), "--true-mask", "--markdown").strip().splitlines()[2]
    assert lines[2].startswith("| tiny |") and lines[2].split("|")[5] == gray.split("|")[5]
    two = run(capsys, str(photos), "--checkpoint", str(checkpoint), "--no-baselines", "--gray-snap", "0", "1").strip().splitlines()
    assert [line.split()[:2] for line in two[1:]] == [["tiny", "snap=0"], ["tiny", "snap=1"]]


def test_hole_blur_rows_change_the_hole_only(photos: Path, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = run(capsys, str(photos), "--checkpoint", str(checkpoint), "--no-baselines", "--true-mask", "--hole-blur", "0", "2",
              "--json", str(tmp_path / "b.json"))
    assert [line.split()[:2] for line in out.strip().splitlines()[1:]] == [["tiny", "blur=0"], ["tiny", "blur=2"]]
    results = json.loads((tmp_path / "b.json").read_text())["results"]
    sharp, blurred = results["tiny blur=0"], results["tiny blur=2"]
    assert blurred["ssim_lost"] != sharp["ssim_lost"]  # an untrained generator's hole is noisy: the blur changes it
    assert blurred["ssim_full"] == pytest.approx(sharp["ssim_full"], abs=0.05)  # the hole is a small part of the photo


def test_negative_hole_blur_is_refused(photos: Path, checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    assert quality.main([str(photos), "--checkpoint", str(checkpoint), "--hole-blur", "-1"]) == 2
    assert "--hole-blur: -1.0: expected a Gaussian sigma >= 0" in capsys.readouterr().err


def test_precision_rows_score_fp32_and_bf16(photos: Path, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = run(capsys, str(photos), "--checkpoint", str(checkpoint), "--no-baselines", "--precision", "fp32", "bf16",
              "--json", str(tmp_path / "p.json"))
    assert [line.split()[:2] for line in out.strip().splitlines()[1:]] == [["tiny", "fp32"], ["tiny", "bf16"]]
    results = json.loads((tmp_path / "p.json").read_text())["results"]
    assert results["tiny bf16"]["ssim_full"] == pytest.approx(results["tiny fp32"]["ssim_full"], abs=0.02)


def test_tta_rows_predict_with_and_without_the_mirrored_average(photos: Path, checkpoint: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    out = run(capsys, str(photos), "--checkpoint", str(checkpoint), "--no-baselines", "--tta", "off", "on",
              "--json", str(tmp_path / "t.json"))
    assert [line.split()[:3] for line in out.strip().splitlines()[1:]] == [["tiny", "tta", "off"], ["tiny", "tta", "on"]]
    results = json.loads((tmp_path / "t.json").read_text())["results"]
    plain, tta = results["tiny tta off"], results["tiny tta on"]
    assert plain["score"] != tta["score"]  # an untrained generator is not mirror-symmetric
    assert tta["ssim_full"] == pytest.approx(plain["ssim_full"], abs=0.05)


def test_bad_checkpoint_is_one_line_error(photos: Path, capsys: pytest.CaptureFixture) -> None:
    assert quality.main([str(photos), "--checkpoint", "missing.pt"]) == 2
    assert capsys.readouterr().err.strip() == "error: --checkpoint: missing.pt: file not found"


def leaves(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        out.update(leaves(value, f"{prefix}{key}.") if isinstance(value, dict) and value else {f"{prefix}{key}": value})
    return out


def test_each_ablation_changes_exactly_one_key_of_the_reference() -> None:
    folder = REPO / "configs" / "ablations"
    reference = leaves(cfgio.to_dict(load_config(folder / "reference.yaml")))
    budget = leaves(cfgio.to_dict(load_config(REPO / "configs" / "unet_budget.yaml")))
    assert {k for k in reference if reference[k] != budget[k]} == {"experiment.name", "experiment.output_dir", "train.max_minutes", "train.epochs"}
    ablations = sorted(p for p in folder.glob("*.yaml") if p.name != "reference.yaml")
    assert len(ablations) == 7
    for path in ablations:
        tree = leaves(cfgio.to_dict(load_config(path)))
        changed = {k for k in tree if tree[k] != reference[k]} - {"experiment.name"}
        assert len(changed) == 1, (path.name, changed)


# -- subsets, the score's standard error, HIST's in-run spread ----------------------------------


@pytest.fixture(scope="module")
def two_folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two folders of 6 photos each, photo i with (i + 1) / 6 of its colour; `a/val` at half the colour of `b/val`."""
    root = tmp_path_factory.mktemp("sets")
    rng = np.random.default_rng(1)
    dull, vivid = root / "a" / "val", root / "b" / "val"
    for folder, scale in ((dull, 0.5), (vivid, 1.0)):
        folder.mkdir(parents=True)
        for i in range(6):
            rgb = natural_image(64, 80, rng).astype(np.float64)
            gray = rgb.mean(axis=2, keepdims=True)
            faded = gray + (rgb - gray) * scale * (i + 1) / 6
            cv2.imwrite(str(folder / f"p{i}.png"), np.clip(faded, 0, 255).astype(np.uint8)[:, :, ::-1])
    return dull, vivid


def test_mean_chroma_ranks_colour_and_is_zero_for_gray() -> None:
    from metrics.colourfulness import mean_chroma

    rng = np.random.default_rng(0)
    rgb = natural_image(48, 48, rng)
    gray = np.repeat(rgb.mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8)
    assert mean_chroma(gray) == pytest.approx(0.0, abs=1e-9)
    half = (gray + (rgb.astype(float) - gray) / 2).astype(np.uint8)
    assert 0 < mean_chroma(half) < mean_chroma(rgb)
    assert mean_chroma(np.full((2, 2, 3), (255, 0, 0), np.uint8)) == pytest.approx(np.hypot(0.168736, 0.5) * 255, rel=1e-5)


def test_subset_rows_per_folder_and_colourful_thirds(two_folders: tuple[Path, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    dull, vivid = two_folders
    out = run(capsys, str(dull), str(vivid), "--by-folder", "--least-colourful-third", str(dull),
              "--most-colourful-third", str(vivid), "--markdown", "--json", str(tmp_path / "s.json"))
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["subset_sizes"] == {"all": 12, "a/val": 6, "b/val": 6, "least colourful third of a/val": 2,
                                      "most colourful third of b/val": 2}
    lines = out.strip().splitlines()
    assert lines[0].startswith("| photos | method | score |") and len(lines) == 2 + 5 * 2
    # The subsets are the photos' own rows: the folder rows average back to the whole set.
    subsets = report["subsets"]["gray copy"]
    assert subsets["all"]["score"] == pytest.approx((subsets["a/val"]["score"] + subsets["b/val"]["score"]) / 2)
    # The least colourful third are the faded photos, where a gray copy's hue histogram fits best.
    assert subsets["least colourful third of a/val"]["hist"] > subsets["most colourful third of b/val"]["hist"]
    assert subsets["all"]["score_sem"] > 0
    with pytest.raises(quality.ChromaFillError, match="not one of the photo folders"):
        quality.photo_subsets(quality.damaged_photos([dull], 0, limit=1), False, [vivid], [])


def test_hist_spread_reads_the_runs_last_validations(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    run_dir = tmp_path / "run"
    assert np.isnan(quality.hist_spread(run_dir / "best.pt", 3))  # no events: no spread, not a crash
    writer = SummaryWriter(str(run_dir / "tensorboard"))
    values = [0.1, 0.9, 0.30, 0.35, 0.40]
    for step, value in enumerate(values):
        writer.add_scalar("val/hist", value, step)
    writer.add_scalar("val/hist", 0.45, 4)  # a resumed run logs its last step again: the newest value counts
    writer.close()
    assert quality.hist_spread(run_dir / "best.pt", 3) == pytest.approx(np.std([0.30, 0.35, 0.45], ddof=1))


# -- which photos a row holds; strict JSON; the paired standard error ----------------------------


def flat_photo(folder: Path, name: str, chroma_level: float) -> "quality.Damaged":
    """A flat 8x8 photo whose (Cb, Cr) sits `chroma_level` 8-bit levels from gray along Cr (mean_chroma = that level)."""
    rgb = np.clip(np.array([128 + 1.402 * chroma_level, 128 - 0.714136 * chroma_level, 128.0]), 0, 255)
    image = np.broadcast_to(np.round(rgb).astype(np.uint8), (8, 8, 3)).copy()
    gray = np.zeros((8, 8), np.uint8)
    return quality.Damaged(name, folder, image, gray, gray > 0, gray > 0)


def test_colourful_thirds_hold_the_least_and_most_colourful_photos_of_their_folder() -> None:
    """Membership, not only sizes: photos of known chroma in shuffled file order (ranking by name would fail)."""
    chroma = {"a": 40, "b": 5, "c": 60, "d": 20, "e": 0, "f": 30}  # 6 photos: thirds of 2
    one, two = Path("/x/one"), Path("/x/two")
    photos = [flat_photo(one, f"{name}.png", level) for name, level in chroma.items()]
    photos += [flat_photo(two, "dull.png", 1), flat_photo(two, "vivid.png", 70)]  # the other folder: never in one's thirds
    assert [round(quality.mean_chroma(p.rgb)) for p in photos[:6]] == list(chroma.values())
    subsets = quality.photo_subsets(photos, False, [one], [one])
    assert sorted(photos[i].name for i in subsets["least colourful third of x/one"]) == ["b.png", "e.png"]
    assert sorted(photos[i].name for i in subsets["most colourful third of x/one"]) == ["a.png", "c.png"]


def strict_json(path: Path) -> dict:
    def refuse(token: str) -> None:
        raise ValueError(f"{path}: not standard JSON: {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_json_names_each_rows_photos(two_folders: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    dull, vivid = two_folders
    run(capsys, str(dull), str(vivid), "--least-colourful-third", str(dull), "--most-colourful-third", str(vivid),
        "--json", str(tmp_path / "s.json"))
    members = strict_json(tmp_path / "s.json")["subset_photos"]
    assert members["least colourful third of a/val"] == ["a/val/p0.png", "a/val/p1.png"]  # photo i has (i + 1) / 6 of its colour
    assert members["most colourful third of b/val"] == ["b/val/p4.png", "b/val/p5.png"]
    assert len(members["all"]) == 12


def test_json_writes_unmeasurable_figures_as_null(photos: Path, checkpoint: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    """One photo has no standard error and a run without events no HIST spread: null, not the bare NaN token."""
    run(capsys, str(photos), "--limit", "1", "--checkpoint", f"tiny={checkpoint}", "--by-folder", "--json", str(tmp_path / "n.json"))
    report = strict_json(tmp_path / "n.json")
    assert report["results"]["telea"]["score_sem"] is None and report["hist_spread"] == {"tiny": None}


def test_paired_difference_by_hand() -> None:
    # differences 0.05, 0.02, 0.08, 0.03: mean 0.045; squared deviations sum to 0.0021, / 3 = 0.0007; sem = sqrt(0.0007) / 2
    diff, sem = quality.paired_difference([0.55, 0.62, 0.78, 0.83], [0.5, 0.6, 0.7, 0.8])
    assert diff == pytest.approx(0.045) and sem == pytest.approx(np.sqrt(0.0007) / 2)
    # Shared photo difficulty: each method's own sem is large, the paired one small.
    reference = np.array([0.2, 0.4, 0.6, 0.8, 0.3])
    method = reference + np.array([0.010, 0.012, 0.008, 0.011, 0.009])
    diff, sem = quality.paired_difference(method, reference)
    assert diff == pytest.approx(0.01) and sem == pytest.approx(np.std([0, 0.002, -0.002, 0.001, -0.001], ddof=1) / np.sqrt(5))
    assert sem < reference.std(ddof=1) / np.sqrt(5) / 50
    assert np.isnan(quality.paired_difference([0.5], [0.4])[1])


def test_paired_against_column_and_json(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = run(capsys, str(photos), "--paired-against", "gray copy", "--markdown", "--json", str(tmp_path / "p.json"))
    header, _, gray_row, telea_row = out.strip().splitlines()
    assert header.endswith("| diff vs gray copy ± paired sem |") and gray_row.endswith("| - |")
    report = strict_json(tmp_path / "p.json")
    scores = report["photo_scores"]
    diff, sem = quality.paired_difference(scores["telea"], scores["gray copy"])
    assert report["results"]["telea"]["diff"] == pytest.approx(diff) and report["results"]["telea"]["diff_sem"] == pytest.approx(sem)
    assert telea_row.endswith(f"| {diff:+.4f} ± {sem:.4f} |") and diff > 0
    assert quality.main([str(photos), "--paired-against", "nope"]) == 2
    assert capsys.readouterr().err.strip() == "error: --paired-against: 'nope' is not a method of this run; expected one of 'gray copy', 'telea'"


def test_lost_gain_is_the_checkpoint_lost_minus_its_own_prefill(photos: Path, checkpoint: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    out = run(capsys, str(photos), "--checkpoint", f"tiny={checkpoint}", "--lost-gain", "--json", str(tmp_path / "g.json"))
    lines = out.strip().splitlines()
    assert lines[0].endswith(quality.LOST_GAIN_HEADER)
    assert [line.split()[-1] for line in lines[1:3]] == ["-", "-"]  # the baselines have no prefill to gain over
    saved = json.loads((tmp_path / "g.json").read_text())
    assert saved["prefill_of"] == {"tiny": "telea"}
    tiny, telea = saved["results"]["tiny"], saved["results"]["telea"]
    assert tiny["lost_gain"] == pytest.approx(tiny["ssim_lost"] - telea["ssim_lost"], abs=1e-9)
    assert tiny["lost_gain"] != 0 and tiny["lost_gain_sem"] > 0
    # Without baselines the checkpoint's prefill is scored for the column alone, with the same result.
    alone = run(capsys, str(photos), "--checkpoint", f"tiny={checkpoint}", "--lost-gain", "--no-baselines", "--markdown",
                "--json", str(tmp_path / "alone.json"))
    assert alone.strip().splitlines()[2].startswith("| tiny |")
    assert json.loads((tmp_path / "alone.json").read_text())["results"]["tiny"]["lost_gain"] == pytest.approx(tiny["lost_gain"])


def test_lost_split_parts_rebuild_the_prediction_from_its_luma_and_its_colour() -> None:
    rng = np.random.default_rng(3)
    pred = (rng.integers(80, 170, (8, 9, 1)) + rng.integers(-25, 26, (8, 9, 3))).astype(np.uint8)  # a muted colour photo
    filled = np.repeat(rng.integers(40, 200, (8, 9, 1), dtype=np.uint8), 3, axis=2)
    luma = quality.luma_only(pred, filled)
    assert (luma == quality.pil_luma(pred)[:, :, None]).all()
    colour = quality.colour_only(pred, filled)
    offsets = pred.astype(int) - quality.pil_luma(pred)[:, :, None]
    assert (colour.astype(int) - filled.astype(int) == offsets).all()  # no clipping at these values
    assert np.abs(quality.pil_luma(colour).astype(int) - filled[:, :, 0]).max() <= 1  # the pre-fill's luminance kept
    # A network that returns its pre-fill in gray adds nothing in either part.
    assert (quality.luma_only(filled, filled) == filled).all() and (quality.colour_only(filled, filled) == filled).all()


def test_lost_split_rows_pair_each_part_with_the_checkpoint_prefill(photos: Path, checkpoint: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    out = run(capsys, str(photos), "--checkpoint", f"tiny={checkpoint}", "--lost-gain", "--lost-split",
              "--json", str(tmp_path / "s.json"))
    assert [line.split()[0] for line in out.strip().splitlines()[1:]] == ["gray", "telea", "tiny", "tiny", "tiny"]
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["prefill_of"] == {"tiny": "telea", "tiny luma only": "telea", "tiny colour only": "telea"}
    results = saved["results"]
    for part in ("tiny luma only", "tiny colour only"):
        assert results[part]["lost_gain"] == pytest.approx(results[part]["ssim_lost"] - results["telea"]["ssim_lost"], abs=1e-9)
    # The untrained tiny generator colours its output: the colour-only part differs from the gray luma-only part.
    assert results["tiny luma only"]["hist"] != results["tiny colour only"]["hist"]
    assert quality.main([str(photos), "--lost-split"]) == 2
    assert capsys.readouterr().err.strip() == "error: --lost-split: give a --checkpoint to split (it splits checkpoints' predictions)"


def test_exposure_clips_the_photos_before_the_damage(photos: Path, tmp_path: Path) -> None:
    plain = quality.damaged_photos([photos], 0)
    bright = quality.damaged_photos([photos], 0, exposure="bright")
    for before, after in zip(plain, bright):
        white = (cv2.cvtColor(after.rgb, cv2.COLOR_RGB2GRAY) == 255).mean()
        assert 0.09 <= white <= 0.41 and (cv2.cvtColor(before.rgb, cv2.COLOR_RGB2GRAY) == 255).mean() < 0.01
        assert (after.mask == before.mask).all()  # the same damage seed: only the exposure differs
    dark = quality.damaged_photos([photos], 0, exposure="dark")
    assert all((cv2.cvtColor(p.rgb, cv2.COLOR_RGB2GRAY) == 0).mean() >= 0.09 for p in dark)


def test_a_slow_fill_is_computed_once_per_photo_for_its_row_and_the_composites_on_it(
        photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    import data.prefill_cache as prefill_cache

    calls: list[str] = []
    real = prefill_cache.prefill

    def counted(gray: np.ndarray, mask: np.ndarray, method: str) -> np.ndarray:
        calls.append(method)
        return real(gray, mask, method)

    monkeypatch.setattr(prefill_cache, "prefill", counted)
    run(capsys, str(photos), "--baseline-prefill", "fsr_fast", "fsr_ns", "fsr_ns_soft", "--json", str(tmp_path / "f.json"))
    assert calls.count("fsr_fast") == 3, "one FSR fill per photo, shared by its row and both composites"
    results = json.loads((tmp_path / "f.json").read_text())["results"]
    direct = [quality.prefill(p.gray, p.hole, "fsr_ns_soft") for p in quality.damaged_photos([photos], 0)]
    assert results["fsr_ns_soft"]["ssim_lost"] == pytest.approx(np.mean([
        quality.score_image(p.rgb, np.repeat(d[:, :, None], 3, axis=2), p.mask)["ssim_lost"]
        for p, d in zip(quality.damaged_photos([photos], 0), direct)]), abs=1e-12)

"""Every benchmark script runs end to end with tiny settings and prints its figures.

The scripts run in-process (as `__main__`, with their own argument parsing) so the test pays for
torch's import once; bench_infer's end-to-end part still starts `python infer.py` for real.
No timing is asserted: only that each figure is printed and well formed.
"""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest
import torch

from trainers.inference import load_generator

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
NUMBER = r"[-+]?\d+(?:\.\d+)?"


def run_script(name: str, args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setattr(sys, "argv", [str(BENCH / name), *args])
    runpy.run_path(str(BENCH / name), run_name="__main__")
    return capsys.readouterr().out


def test_bench_train_speed(monkeypatch, capsys, tmp_path):
    out = run_script("bench_train.py", ["--config", "configs/smoke.yaml", "--size", "64", "--batch", "2", "--steps", "1",
                                        "--reps", "2", "--warmup", "0", "--variants", "same", "bf16"], monkeypatch, capsys)
    bf16 = rf"({NUMBER}|emulated)"  # emulated: a CPU without native bf16, named rather than timed
    assert re.search(rf"peak GFLOP/s: matmul 2048x2048 fp32 {NUMBER}, bf16 {bf16}; convolution fp32 {NUMBER}, bf16 {bf16}", out)
    for variant in ("reference", "same", "bf16"):
        assert re.search(rf"^{variant}\s+{NUMBER} \(\s*{NUMBER}\)\s+{NUMBER}\s+{NUMBER}\s+{NUMBER} \(\s*{NUMBER}\)\s+{NUMBER}\s+{NUMBER}$", out, re.M), out
    assert re.search(rf"^reference .* 1\.00 \( 1\.00\)\s+{NUMBER}\s+1\.00$", out, re.M)


def test_bench_train_profile(monkeypatch, capsys):
    out = run_script("bench_train.py", ["--profile", "--config", "configs/smoke.yaml", "--size", "64", "--batch", "2",
                                        "--steps", "1", "--reps", "1", "--warmup", "0", "--variants", "same"], monkeypatch, capsys)
    for variant in ("reference", "same"):
        row = re.search(rf"^{variant}\s+({NUMBER})\s+({NUMBER})\s+(\d+)%\s+{NUMBER}$", out, re.M)
        assert row, out
        assert float(row.group(1)) > 0 and float(row.group(2)) > 0


def test_bench_train_recipes_each_at_its_own_crop_and_batch(monkeypatch, capsys):
    out = run_script("bench_train.py", ["--recipes", "small=configs/smoke.yaml",
                                        "narrow=configs/smoke.yaml,train.batch_size=1,data.crop_size=32,train.optim.betas=[0.5,0.9]",
                                        "--steps", "1", "--reps", "2", "--warmup", "0"], monkeypatch, capsys)
    assert "small: configs/smoke.yaml; batch 2 of 64x64, amp off" in out
    assert "narrow: configs/smoke.yaml train.batch_size=1 data.crop_size=32 train.optim.betas=[0.5,0.9]; batch 1 of 32x32" in out
    for name in ("small", "narrow"):
        assert re.search(rf"^{name}\s+{NUMBER} \(\s*{NUMBER}\)\s+{NUMBER}\s+{NUMBER}\s+\d+\s+{NUMBER} \(\s*{NUMBER}\)\s+{NUMBER}\s+{NUMBER}$",
                         out, re.M), out
    assert re.search(r"^small .* 1\.00 \( 1\.00\)\s+[-+]?\d+(?:\.\d+)?\s+1\.00$", out, re.M)


def test_bench_depthwise_times_the_encoders_depthwise_convolutions(monkeypatch, capsys):
    out = run_script("bench_depthwise.py", ["--train", "1x64", "--infer", "1x64", "--reps", "1", "--warmup", "0",
                                            "model.generator.encoder_weights=none"], monkeypatch, capsys)
    assert "train 1x64x64: 16 depthwise convolutions" in out and "forward + backward" in out
    assert "infer 1x64x64: 16 depthwise convolutions" in out
    for combination in ("channels_last fp32", "channels_last bf16", "contiguous fp32", "contiguous bf16"):
        assert len(re.findall(rf"^  {combination}\s+{NUMBER} \(\s*{NUMBER}\)  x\s*{NUMBER} vs channels_last fp32; cpu\s+{NUMBER}  x\s*{NUMBER}$", out, re.M)) == 2, out


def test_bench_train_score_check(monkeypatch, capsys, tmp_path):
    out = run_script("bench_train.py", ["--score-check", "--seeds", "0", "--epochs", "1", "--pairs", "8",
                                        "--image-size", "64", "data.val.fraction=0.25"], monkeypatch, capsys)
    for amp in ("off", "bf16"):
        assert re.search(rf"seed 0 amp {amp}\s*: val/score {NUMBER}", out), out
        assert re.search(rf"amp {amp}\s*: mean {NUMBER}, std over seeds {NUMBER}", out)
    assert re.search(rf"bf16 - fp32 per seed: {NUMBER}; mean {NUMBER}", out)


def test_bench_infer(monkeypatch, capsys):
    out = run_script("bench_infer.py", ["--config", "configs/smoke.yaml", "--size", "64", "--batch", "2", "--reps", "1",
                                        "--score-images", "2", "--e2e-images", "2"], monkeypatch, capsys)
    for mode in ("fp32", "fp32+TTA", "bf16", "bf16+TTA", "ORT"):
        assert re.search(rf"^{re.escape(mode)}\s+{NUMBER}\s+{NUMBER} \(\s*{NUMBER}\)\s+{NUMBER} \(\s*{NUMBER}\)", out, re.M), out
    assert re.search(rf"bf16 - fp32: score {NUMBER}", out)
    assert re.search(rf"python infer.py \(fp32\): 2 images 64x64 in {NUMBER} s end to end .*peak RSS {NUMBER} MiB", out)
    assert re.search(rf"python infer.py --amp: 2 images 64x64 in {NUMBER} s end to end", out)


def test_bench_infer_compares_configs_in_one_interleaved_run(monkeypatch, capsys):
    """Several --config files: every mode's row per config, with its speed relative to the first config's."""
    out = run_script("bench_infer.py", ["--config", "configs/smoke.yaml", "configs/cpu_budget.yaml", "--size", "64", "--batch", "1",
                                        "--reps", "2", "--modes", "fp32", "ORT", "--score-images", "0", "--skip-e2e"], monkeypatch, capsys)
    for mode in ("fp32", "ORT"):
        assert re.search(rf"^{mode}\s.* 1\.00 \(1\.00\)\s+1\.00  configs/smoke\.yaml$", out, re.M), out
        assert re.search(rf"^{mode}\s.* {NUMBER} \({NUMBER}\)\s+{NUMBER}  configs/cpu_budget\.yaml$", out, re.M), out
    assert "bf16" not in out.split("median (best)")[1]  # only the modes asked for


def test_profile_infer_breaks_a_forward_down(monkeypatch, capsys):
    out = run_script("profile_infer.py", ["--config", "configs/smoke.yaml", "--size", "256", "--",
                                          "model.generator.head=chroma_bins", "model.generator.chroma_scale=2"], monkeypatch, capsys)
    row = re.search(rf"^configs/smoke.yaml: wall {NUMBER} ms; convolution\s+({NUMBER}) \(\s*\d+%\)\s+copy\s+{NUMBER} \(\s*\d+%\)"
                    rf"\s+softmax\s+({NUMBER}) \(\s*\d+%\)\s+other\s+{NUMBER} \(\s*\d+%\)$", out, re.M)
    assert row, out
    assert float(row.group(1)) > 0 and float(row.group(2)) > 0  # the chroma head's softmax is counted


def test_chroma_upsampling_proxy(monkeypatch, capsys, tmp_path):
    import numpy as np  # noqa: PLC0415

    from data.io import write_rgb_png  # noqa: PLC0415
    from data.synthetic import natural_image  # noqa: PLC0415

    folder = tmp_path / "photos"
    folder.mkdir()
    write_rgb_png(folder / "photo.png", natural_image(70, 90, np.random.default_rng(0)))
    out = run_script("chroma_upsampling.py", [str(folder), "--images", "1", "--scales", "1", "2"], monkeypatch, capsys)
    assert re.search(rf"^\s+1 round trip\s+1\.0000\s+1\.0000\s+1\.0000\s+1\.0000\s+0\.000$", out, re.M), out
    for method in ("bilinear", "guided r=1 e=1e-3", "kornia guided r=1 e=1e-3", "joint bilateral s=0.1"):
        assert re.search(rf"^\s+2 {re.escape(method)}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}$", out, re.M), out


def test_bench_infer_times_a_given_checkpoint(monkeypatch, capsys, tmp_path):
    monkeypatch.syspath_prepend(str(BENCH))
    from bench_infer import save_random_checkpoint  # noqa: PLC0415 - needs the benchmarks folder on sys.path

    from trainers.config import load_config

    save_random_checkpoint(load_config("configs/smoke.yaml"), tmp_path / "given.pt", seed=5)
    out = run_script("bench_infer.py", ["--checkpoint", str(tmp_path / "given.pt"), "--size", "64", "--batch", "2",
                                        "--reps", "1", "--score-images", "2", "--skip-e2e"], monkeypatch, capsys)
    assert f"generated 64x64 images, {tmp_path / 'given.pt'}:" in out
    assert re.search(rf"bf16 - fp32: score {NUMBER}", out)


def test_random_checkpoint_loads_like_a_trained_one(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCH))
    from bench_infer import save_random_checkpoint  # noqa: PLC0415 - needs the benchmarks folder on sys.path

    from trainers.config import load_config

    config = load_config("configs/smoke.yaml")
    save_random_checkpoint(config, tmp_path / "random.pt")
    generator, loaded, is_ema = load_generator(tmp_path / "random.pt", torch.device("cpu"))
    assert not is_ema and loaded.model == config.model
    assert generator(torch.rand(1, 1, 32, 32), torch.zeros(1, 1, 32, 32)).shape == (1, 3, 32, 32)


@pytest.mark.parametrize("name, args, pattern", [
    ("model_stats.py", ["--size", "64"], rf"\| generator \(unet, default\) \| {NUMBER} M \| {NUMBER} \|"),
    ("bench_metrics.py", ["--images", "4", "--size", "64"], rf"score_batch opencv .* {NUMBER} s"),
    ("bench_data.py", ["--pairs", "4", "--batch", "2", "--epochs", "1", "--workers", "0"], rf"workers=0: {NUMBER} images/s"),
    ("bench_malloc.py", ["--configs", "configs/smoke.yaml", "--steps", "1", "--reps", "1"],
     rf"configs/smoke.yaml +default +{NUMBER} +{NUMBER} +1.00\nconfigs/smoke.yaml +tuned +{NUMBER} +{NUMBER} +{NUMBER}"),
    ("bench_optimizer.py", ["--config", "configs/smoke.yaml", "--reps", "1", "--steps", "1"],
     rf"torch fused Adam +{NUMBER} \( *{NUMBER}\)\nChannelsLastAdam +{NUMBER} \( *{NUMBER}\)"),
])
def test_other_benchmarks(name, args, pattern, monkeypatch, capsys):
    assert re.search(pattern, run_script(name, args, monkeypatch, capsys))


def test_bf16_convolutions_match_autocast_exactly():
    """infer.py --amp stores convolution weights in bf16 once: the output must not change at all."""
    import copy

    from models.build import build_generator
    from trainers.config import load_config
    from trainers.inference import bf16_convolutions

    torch.manual_seed(0)
    generator = build_generator(load_config("configs/smoke.yaml").model).to(memory_format=torch.channels_last).eval()
    cast = copy.deepcopy(generator)
    bf16_convolutions(cast)
    assert next(cast.net.downs[0].parameters()).dtype == torch.bfloat16
    gray, mask = torch.rand(2, 1, 40, 56), (torch.rand(2, 1, 40, 56) > 0.8).float()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(generator(gray, mask), cast(gray, mask))


def test_hole_iou_rows(monkeypatch, capsys, tmp_path):
    """One row per folder and photo set, with the same damages in each set."""
    import cv2
    import numpy as np

    from data.synthetic import natural_image

    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"{i}.png"), natural_image(96, 128, rng)[:, :, ::-1])
    out = run_script("hole_iou.py", [str(tmp_path), "--limit", "2"], monkeypatch, capsys)
    for row in ("plain", "clipped-bright", "clipped-dark"):
        cells = rf"\| {re.escape(tmp_path.parent.name)}/{re.escape(tmp_path.name)} \| {row} \| 2 x 1 \| "
        pattern = cells + rf"{NUMBER} / {NUMBER} / {NUMBER} \| {NUMBER}% \| {NUMBER}% \| \d+ / \d+ \| {NUMBER} \|$"
        assert re.search(pattern, out, re.M), out


def test_real_steps_trains_each_recipe_for_its_minutes(monkeypatch, capsys, tmp_path):
    """Two smoke recipes on a photo folder, one round: each row names its runs' steps and the ratio."""
    import numpy as np  # noqa: PLC0415

    from data.io import write_rgb_png  # noqa: PLC0415
    from data.synthetic import natural_image  # noqa: PLC0415

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        write_rgb_png(folder / f"p{i}.png", natural_image(80, 96, rng))
    photos = "data.format=photos,data.val.fraction=0.2,data.crop_size=48"
    out = run_script("real_steps.py", [str(folder), f"a=configs/smoke.yaml,{photos}", f"b=configs/smoke.yaml,{photos},train.batch_size=1",
                                       "--minutes", "0.02", "--reps", "1"], monkeypatch, capsys)
    assert "0.02 training minutes per run, 1 interleaved rounds" in out
    rows = {m.group(1): m for m in re.finditer(rf"^(a|b)\s+(\d+)\s+(\d+)\s+({NUMBER})\s+(\d+)\s+({NUMBER})$", out, re.M)}
    assert set(rows) == {"a", "b"}, out
    assert int(rows["a"].group(2)) >= 1 and rows["a"].group(6) == "1.00"


def test_real_steps_names_a_missing_folder(monkeypatch, capsys, tmp_path):
    with pytest.raises(SystemExit, match=f"error: {re.escape(str(tmp_path / 'nope'))}: not a folder of photos"):
        run_script("real_steps.py", [str(tmp_path / "nope"), "a=configs/smoke.yaml"], monkeypatch, capsys)

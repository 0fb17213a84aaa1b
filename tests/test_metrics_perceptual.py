"""Optional LPIPS/FID: one-line errors when the package or weights are missing, and the aggregation
in evaluate_dirs on fake networks (the real ones need downloaded weights)."""

from __future__ import annotations

import importlib
import urllib.error

import numpy as np
import pytest
import torch

import metrics.evaluate_dirs as evaluate_dirs_module
from metrics import perceptual_extra
from metrics.fid import fid
from metrics.report import format_report
from tests.test_evaluate import dirs  # noqa: F401  (fixture)
from utils.errors import ChromaFillError


def test_missing_package_is_one_line_naming_it_and_the_extra(monkeypatch):
    def no_module(name, *args):
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(importlib, "import_module", no_module)
    for load, flag in ((perceptual_extra.load_lpips, "--lpips"), (perceptual_extra.load_inception, "--fid")):
        with pytest.raises(ChromaFillError) as err:
            load(torch.device("cpu"))
        message = str(err.value)
        assert message.startswith(flag) and "not installed" in message and ".[research]" in message
        assert "\n" not in message


def test_failed_download_is_one_line_naming_url_and_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(url, dst, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    url = "https://example.invalid/models/net-0123abcd.pth"
    with pytest.raises(ChromaFillError) as err:
        perceptual_extra.build_network("--fid", "test weights", url, lambda: pytest.fail("built without weights"))
    message = str(err.value)
    assert message.startswith("--fid: cannot download the test weights (URLError") and url in message
    assert str(tmp_path / "hub" / "checkpoints") in message and "\n" not in message


def test_cached_weights_skip_the_download_and_a_damaged_file_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = tmp_path / "hub" / "checkpoints" / "net-0123abcd.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("downloaded again"))
    url = "https://example.invalid/models/net-0123abcd.pth"
    assert isinstance(perceptual_extra.build_network("--lpips", "w", url, torch.nn.Identity), torch.nn.Identity)

    def corrupt():
        raise RuntimeError("PytorchStreamReader failed reading zip archive\nmore detail")

    with pytest.raises(ChromaFillError, match=r"--lpips: cannot load the w from .*net-0123abcd\.pth .*delete it"):
        perceptual_extra.build_network("--lpips", "w", url, corrupt)


def fake_lpips(gt: np.ndarray, pred: np.ndarray) -> float:
    return float(np.abs(gt.astype(float) - pred).mean() / 255)


def fake_features(image: np.ndarray) -> np.ndarray:
    pixels = image.reshape(-1, 3).astype(float)
    return np.concatenate([pixels.mean(0), pixels.std(0)])


def test_evaluate_dirs_aggregates_lpips_and_fid_of_fake_networks(dirs, monkeypatch):  # noqa: F811
    monkeypatch.setattr(evaluate_dirs_module, "load_lpips", lambda device: fake_lpips)
    monkeypatch.setattr(evaluate_dirs_module, "load_inception", lambda device: fake_features)
    result = evaluate_dirs_module.evaluate_dirs(dirs / "pred", dirs / "gt", dirs / "input", workers=1,
                                                lpips=True, fid_features=True, device="cpu")
    names = list(result["images"])
    reads = [evaluate_dirs_module.read_rgb(dirs / folder / f"{name}.png") for folder in ("pred", "gt") for name in names]
    preds, gts = reads[:len(names)], reads[len(names):]
    for name, pred, gt in zip(names, preds, gts):
        assert result["images"][name]["lpips"] == pytest.approx(fake_lpips(gt, pred))
    assert result["mean"]["lpips"] == pytest.approx(np.mean([fake_lpips(g, p) for g, p in zip(gts, preds)]))
    expected = fid(np.stack([fake_features(p) for p in preds]), np.stack([fake_features(g) for g in gts]))
    assert result["mean"]["fid"] == pytest.approx(expected) and expected > 0
    assert all("fid" in group for group in result["by_area"].values())
    report = format_report(result)
    assert "lpips" in report and "fid" in report


def test_without_flags_no_network_is_loaded(dirs, monkeypatch):  # noqa: F811
    monkeypatch.setattr(evaluate_dirs_module, "load_lpips", lambda device: pytest.fail("loaded"))
    result = evaluate_dirs_module.evaluate_dirs(dirs / "pred", dirs / "gt", dirs / "input", workers=1)
    assert "lpips" not in result["mean"] and "fid" not in result["mean"]

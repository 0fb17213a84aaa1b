"""LPIPS and the Inception features of FID: optional, from torchmetrics (``pip install -e '.[research]'``).

Both networks need ImageNet-trained weights that their packages download on first use (AlexNet
for LPIPS from torchvision, the FID Inception v3 from torch-fidelity) into torch's hub cache. On a
machine without the package or without internet they fail before any scoring starts, with one
line naming what is missing and how to get it.

* ``lpips``: torchmetrics' ``LearnedPerceptualImagePatchSimilarity`` with the AlexNet backbone
  (LPIPS v0.1 linear heads, which ship inside torchmetrics), on the whole image at its own size,
  RGB scaled to [0, 1]. Lower is better; 0 for identical images.
* FID features: the 2048-d pool features of the standard FID Inception v3 (TF 2015-12-05 weights,
  torchmetrics' ``NoTrainInceptionV3``, which resizes every image to 299x299 itself).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import numpy as np
import torch

from utils.errors import ChromaFillError, first_line

EXTRA_HINT = "pip install -e '.[research]'"

LpipsFn = Callable[[np.ndarray, np.ndarray], float]  # (gt, pred) HxWx3 uint8 -> distance
FeatureFn = Callable[[np.ndarray], np.ndarray]  # HxWx3 uint8 -> 1-D float64 features


def import_optional(module: str, flag: str):
    """The module, or one line naming the missing package and the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        missing = err.name or module
        raise ChromaFillError(f"{flag} needs the optional package {missing!r}, which is not installed: "
                              f"{EXTRA_HINT}") from None


def _one_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {first_line(err)}" if str(err).strip() else type(err).__name__


def fetch_weights(flag: str, what: str, url: str) -> None:
    """Download `url` into torch's hub cache unless it is there, or fail in one line.

    Fetched here rather than by the package (which would print its own "Downloading" line before
    failing offline), with the hash check torch.hub applies to the same file name. urllib's
    URLError (no network, DNS, HTTP) is an OSError; a bad hash is a RuntimeError.
    """
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    target = cache / Path(urlparse(url).path).name
    if target.is_file():
        return
    match = torch.hub.HASH_REGEX.search(target.name)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(target), hash_prefix=match.group(1) if match else None)
    except (OSError, RuntimeError) as err:
        raise ChromaFillError(f"{flag}: cannot download the {what} ({_one_line(err)}) from {url}: run once with "
                              f"internet access, or copy that file into {cache}/") from None


def build_network(flag: str, what: str, url: str, build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """`build()` once the weights are cached; a damaged cached file is one line too."""
    fetch_weights(flag, what, url)
    try:
        return build()
    except (OSError, RuntimeError) as err:
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name
        raise ChromaFillError(f"{flag}: cannot load the {what} from {cached} ({_one_line(err)}): delete it to "
                              f"download it again") from None


def to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """HxWx3 uint8 -> 1x3xHxW uint8 on `device`."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(device)


def load_lpips(device: torch.device) -> LpipsFn:
    """LPIPS (AlexNet) as a function of one image pair."""
    import_optional("torchvision", "--lpips")
    image_metrics = import_optional("torchmetrics.image", "--lpips")
    import torchvision

    url = torchvision.models.AlexNet_Weights.DEFAULT.url
    metric = build_network(
        "--lpips", "AlexNet ImageNet weights of LPIPS", url,
        lambda: image_metrics.LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True),
    ).to(device)

    @torch.inference_mode()
    def lpips(gt: np.ndarray, pred: np.ndarray) -> float:
        value = metric(to_tensor(pred, device).float() / 255, to_tensor(gt, device).float() / 255)
        metric.reset()  # each call is one image, not a running mean
        return float(value)

    return lpips


def load_inception(device: torch.device) -> FeatureFn:
    """The FID Inception v3 as a function from one image to its 2048 pool features."""
    import_optional("torch_fidelity", "--fid")
    fid_module = import_optional("torchmetrics.image.fid", "--fid")
    weights = import_optional("torch_fidelity.feature_extractor_inceptionv3", "--fid")
    network = build_network(
        "--fid", "FID Inception v3 weights", weights.URL_INCEPTION_V3,
        lambda: fid_module.NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"]),
    ).to(device)

    @torch.inference_mode()
    def features(image: np.ndarray) -> np.ndarray:
        return network(to_tensor(image, device))[0].double().cpu().numpy()

    return features

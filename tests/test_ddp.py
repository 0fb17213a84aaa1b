"""Two gloo processes under torchrun: every decision that changes control flow is the same on all ranks.

A decision taken by one rank alone either hangs DDP (one rank in backward, the other not) or lets
the ranks drift apart silently. Each scenario injects the fault on one rank only
(tests/ddp_driver.py) and checks that both ranks end with the same weights, counters and
learning rates. Every run has a timeout, so a hang fails the test instead of stalling CI.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dacon_fixture import make_dacon_root

REPO = Path(__file__).resolve().parent.parent
TIMEOUT_S = 240


@pytest.fixture(scope="module")
def dacon_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 9 pairs, 1 held out: 8 training images, batch 2 per rank, 2 ranks -> 2 steps per epoch.
    return make_dacon_root(tmp_path_factory.mktemp("dacon"), n_train=9, n_test=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_two_ranks(tmp_path: Path, root: Path, scenario: str, *overrides: str) -> list[dict]:
    prefix = tmp_path / "ended"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(REPO / "tests" / "ddp_driver.py"), str(prefix), scenario, f"data.root={root}",
           f"experiment.output_dir={tmp_path / 'runs'}", "train.device=cpu", "train.validation.max_images=1",
           "data.val.group=true", f"data.cache_dir={tmp_path / 'cache'}", *overrides]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    try:
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"torchrun did not finish in {TIMEOUT_S} s: the ranks disagree somewhere and DDP hangs")
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(Path(f"{prefix}.rank{rank}.json").read_text()) for rank in (0, 1)]


def test_nan_on_one_rank_is_skipped_by_both_and_the_weights_stay_identical(dacon_root: Path, tmp_path: Path) -> None:
    ranks = run_two_ranks(tmp_path, dacon_root, "nan", "train.epochs=2", "train.log_every_steps=1")
    assert [r["nonfinite_total"] for r in ranks] == [1, 1]
    assert [r["global_step"] for r in ranks] == [4, 4]
    assert ranks[0]["generator_hash"] == ranks[1]["generator_hash"]
    assert [r["cache_writes"] for r in ranks] == [[0], []]  # the group-split cache: rank 0 alone writes it
    assert [r["collectives_per_step"] for r in ranks] == [1, 1]  # finite losses and stop flags in one vote


def test_plateau_schedule_and_time_budget_agree_across_ranks(dacon_root: Path, tmp_path: Path) -> None:
    """Only rank 0's clock runs out (inside epoch 3), and only rank 0 validates: both stop at the
    same step, and both halve their learning rates on rank 0's falling scores after epoch 2."""
    ranks = run_two_ranks(tmp_path, dacon_root, "budget", "train.epochs=5", "train.max_minutes=60",
                          "train.scheduler.type=plateau", "train.scheduler.plateau_patience=0")
    assert ranks[0]["global_step"] == ranks[1]["global_step"] == 5
    assert ranks[0]["learning_rates"] == ranks[1]["learning_rates"] == {"lr/g": 1e-4, "lr/d": 1e-4}
    assert ranks[0]["generator_hash"] == ranks[1]["generator_hash"]


def test_pretrained_encoder_and_chroma_bins_train_identically_on_both_ranks(dacon_root: Path, tmp_path: Path) -> None:
    """smp_unet with its encoder frozen for epoch 1 (unused parameters, then used) and its first two
    stages for good, frozen encoder BatchNorm, the chroma_bins head with its cross-entropy, and crops
    placed by the hole of DACON pairs: one set of weights on both ranks, and once the encoder trains,
    the generator is rewrapped without the search for unused parameters."""
    ranks = run_two_ranks(tmp_path, dacon_root, "plain", "train.epochs=2", "model.generator.type=smp_unet",
                          "model.generator.base_channels=64", "model.generator.depth=8", "model.generator.encoder_weights=none",
                          "model.generator.decoder_channels=[32,24,16,16,8]", "model.generator.encoder_frozen_epochs=1",
                          "model.generator.encoder_frozen_stages=2", "data.augment.hole_crop_prob=1.0",
                          "model.generator.encoder_freeze_bn=true", "model.generator.head=chroma_bins",
                          "loss.chroma_ce.weight=1.0")
    assert [r["code"] for r in ranks] == [0, 0]
    assert [r["global_step"] for r in ranks] == [4, 4]
    assert ranks[0]["generator_hash"] == ranks[1]["generator_hash"]
    assert [r["find_unused_parameters"] for r in ranks] == [False, False]


def test_exposure_and_a_mask_seeing_discriminator_train_identically_on_both_ranks(dacon_root: Path, tmp_path: Path) -> None:
    """Half the crops exposed until they clip, D given the hole mask, the encoder frozen for the whole
    run (by epochs, and by stages) and the mask added to the decoder's features: the ranks draw their
    own crops but end with one set of weights."""
    ranks = run_two_ranks(tmp_path, dacon_root, "plain", "train.epochs=2", "model.generator.type=smp_unet",
                          "model.generator.base_channels=64", "model.generator.depth=8", "model.generator.encoder_weights=none",
                          "model.generator.decoder_channels=[32,24,16,16,8]", "model.generator.encoder_frozen_epochs=1000",
                          "model.generator.encoder_frozen_stages=5", "model.generator.decoder_sees_mask=true",
                          "data.augment.exposure_prob=0.5", "model.discriminator.sees_mask=true")
    assert [r["code"] for r in ranks] == [0, 0]
    assert [r["global_step"] for r in ranks] == [4, 4]
    assert ranks[0]["generator_hash"] == ranks[1]["generator_hash"]


def test_time_schedule_follows_rank_0_clock_on_both_ranks(dacon_root: Path, tmp_path: Path) -> None:
    """cosine_time sets the lr after every step from the training time: the ranks' own clocks read
    differently, so both must use rank 0's (shared in the stop collective), or their learning rates
    and then their weights would differ in the last bits. The warm-up makes the lr move fast."""
    ranks = run_two_ranks(tmp_path, dacon_root, "plain", "train.epochs=2", "train.scheduler.type=cosine_time",
                          "train.max_minutes=60", "train.scheduler.warmup_fraction=0.5")
    assert [r["global_step"] for r in ranks] == [4, 4]
    assert ranks[0]["learning_rates"] == ranks[1]["learning_rates"]
    assert 2e-5 < ranks[0]["learning_rates"]["lr/g"] < 2e-4  # inside the warm-up, past its start at lr/10
    assert ranks[0]["generator_hash"] == ranks[1]["generator_hash"]


def test_a_cached_composite_prefill_trains_identically_on_both_ranks(dacon_root: Path, tmp_path: Path) -> None:
    """data.prefill=fsr_flips_ns_soft under torchrun: both ranks read and write one disk cache (the composite's
    fills and each mirrored FSR part's, written atomically) and end with one set of weights."""
    ranks = run_two_ranks(tmp_path, dacon_root, "plain", "train.epochs=2", "data.prefill=fsr_flips_ns_soft",
                          "data.augment.hole_crop_prob=1.0")
    assert [r["code"] for r in ranks] == [0, 0]
    assert [r["global_step"] for r in ranks] == [4, 4]
    assert ranks[0]["generator_hash"] == ranks[1]["generator_hash"]
    prefill_cache = tmp_path / "cache" / "prefill"
    folders = {folder.name: len(list(folder.rglob("*.png"))) for folder in prefill_cache.iterdir()}
    assert set(folders) == {"fsr_flips_ns_soft", "fsr_fast", "fsr_fast_h", "fsr_fast_v", "fsr_fast_hv"}
    assert folders["fsr_flips_ns_soft"] >= 8 and len(set(folders.values())) == 1  # every training pair, each part once
    assert not list(prefill_cache.rglob("*.tmp*")), "no half-written file left behind"

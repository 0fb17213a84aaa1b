"""`run_training`: the epoch loop around `GANTrainer`, with checkpoints, validation, test zips and logging."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable

import torch

from data.build import DataSplits, build_datasets, build_loader, build_whole_image_loader
from trainers.bundled import bundled_errors, resolve_model
from trainers.checkpoint import (BEST, LAST, CorruptCheckpointError, checkpoint_position, epoch_checkpoint_name, first_difference,
                                 load_checkpoint, previous_good_checkpoint, rotate_epoch_checkpoints, save_checkpoint)
from trainers.clock import Now, TrainingClock
from trainers.config import Config, config_from_dict
from trainers.distributed import (DistInfo, barrier, broadcast_score, init_distributed, mean_scalars, shutdown_distributed,
                                  stop_decisions)
from trainers.gan_trainer import GANTrainer, NonFiniteError, unwrap
from trainers.predict import predict_split, write_submission_zip
from trainers.progress import EpochProgress
from trainers.provenance import NOT_RECORDED, git_commit
from trainers.rng import capture_rng, restore_rng, rng_untouched
from data.sampler import ResumableSampler
from trainers.samples import SAMPLES_PNG, write_samples_png
from trainers.schedule import step_scheduler
from trainers.selection import Selection
from trainers.stop import GracefulStop
from trainers.tb_logger import TensorBoardLogger
from trainers.validation import validate
from utils import config as cfgio
from utils.errors import ChromaFillError
from utils.runtime import pick_device, seed_everything

EXIT_STOPPED = {"SIGINT": 130, "SIGTERM": 143}


class EpochEnd(Enum):
    """How `_train_epoch` ended."""

    COMPLETE = "complete"
    SIGNAL = "signal"  # SIGINT / SIGTERM: last.pt saved inside the epoch, exit 130 / 143
    OUT_OF_TIME = "out_of_time"  # train.max_minutes inside the epoch: last.pt saved inside it


@dataclass
class Position:
    """Where the run stands: completed epochs, steps inside the current epoch, global step."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    train_seconds: float = 0.0  # training time so far, across resumes: train.max_minutes and cosine_time follow it


def run_training(config: Config, resume: str | None = None, load_from: str | None = None,
                 now: Now = time.monotonic) -> int:
    """Train as the config says; returns the process exit code. `now` is the training clock's time
    source (tests pass a fake one)."""
    device = pick_device(config.train.device)
    dist = init_distributed(device.type, config.train.distributed_timeout_minutes)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    try:
        return _Run(config, device, dist, resume, load_from, now).run()
    finally:
        shutdown_distributed(dist)


class _Run:
    def __init__(self, config: Config, device: torch.device, dist: DistInfo, resume: str | None,
                 load_from: str | None, now: Now = time.monotonic) -> None:
        self.config = config
        self.clock = TrainingClock(now)
        self.device = device
        self.dist = dist
        self.run_dir = config.experiment.run_dir
        checkpoint = self._resume_checkpoint(resume)
        load_state = self._load_from(load_from, device) if load_from else None
        seed_everything(config.experiment.seed + dist.rank, config.train.deterministic)
        self.splits = self._build_datasets()
        self.trainer = GANTrainer(config, device, dist)
        self.pos = Position()
        validation = config.train.validation
        self.selection = Selection(validation.select_window, validation.select_tolerance)
        # best.pt as the whole-epoch selection has it, while best.pt holds weights cut inside an
        # epoch by train.max_minutes (see _update_best_at_cut); kept in last.pt for --resume.
        self.best_before_cut: dict[str, Any] | None = None
        self.code_commits = [git_commit()]  # the code that trained this run, one entry per change across resumes
        if checkpoint is not None:
            self._restore(checkpoint)
        elif load_state is not None:
            loaded = self.trainer.load_weights(load_state)
            self._say(f"loaded weights ({', '.join(loaded)}) from {resolve_model(load_from)}, saved at {checkpoint_position(load_state)}")
        if dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            cfgio.dump(config, self.run_dir / "config.yaml")
        self.sampler = ResumableSampler(len(self.splits.train), config.experiment.seed, True, dist.rank, dist.world_size)
        self.loader = build_loader(self.splits.train, config.train.batch_size, shuffle=False,
                                   num_workers=config.data.num_workers, seed=config.experiment.seed,
                                   drop_last=True, sampler=self.sampler)
        self.logger = TensorBoardLogger(self.run_dir, self.pos.global_step, enabled=dist.is_main)

    # -- start ---------------------------------------------------------------------------------

    @staticmethod
    def _load_from(spec: str, device: torch.device) -> dict[str, Any]:
        """--load-from PATH, or `bundled` for weights/chromafill.pt (trainers/bundled.py)."""
        path = resolve_model(spec)
        with bundled_errors(path):
            return load_checkpoint(path, device)

    def _build_datasets(self) -> DataSplits:
        """Rank 0 checks the files and writes the group-split cache; the other ranks wait for it
        and only read the cache (two writers of one file would race)."""
        if not self.dist.is_main:
            barrier(self.dist)
        splits = build_datasets(self.config.data, self.config.experiment.seed, write_cache=self.dist.is_main)
        if self.dist.is_main:
            barrier(self.dist)
        return splits

    def _resume_checkpoint(self, resume: str | None) -> dict[str, Any] | None:
        if resume is None:
            return None
        path = self.run_dir / LAST if resume == "auto" else Path(resume)
        if resume == "auto" and not path.exists():
            self._say(f"--resume auto: no {path} yet, starting a new run")
            return None
        try:
            checkpoint = load_checkpoint(path, self.device)
        except CorruptCheckpointError as err:  # only damage falls back; any other failure stops as itself
            found = previous_good_checkpoint(path.parent, self.device)
            if found is None:
                raise
            fallback, checkpoint = found
            if resume != "auto":  # an explicit path: offer the previous good one, do not swap silently
                raise ChromaFillError(f"{err}; the newest good checkpoint beside it is {fallback} (--resume {fallback})") from None
            self._say(f"warning: {path} is damaged; resuming from {fallback} instead")
        self._check_model_matches(checkpoint, path)
        return checkpoint

    def _check_model_matches(self, checkpoint: dict[str, Any], path: Path) -> None:
        saved = config_from_dict(checkpoint["config"])
        for section in ("model", "loss"):
            key = first_difference(cfgio.to_dict(getattr(saved, section)), cfgio.to_dict(getattr(self.config, section)))
            if key is not None:
                raise ChromaFillError(f"{path}: the checkpoint was trained with a different {section} config: "
                                      f"'{section}.{key}' differs; resume with the run's own config.yaml")

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        self.trainer.load_state_dict(checkpoint["trainer"])
        self.pos = Position(checkpoint["epoch"], checkpoint["step_in_epoch"], checkpoint["global_step"],
                            float(checkpoint.get("train_seconds", 0.0)))
        self.selection.recent = list(checkpoint.get("recent_scores", []))[-self.selection.window:]
        self.selection.best = checkpoint["best_score"]
        self.best_before_cut = _to_cpu(checkpoint.get("best_before_cut"))
        earlier, current = list(checkpoint.get("code_commits") or [NOT_RECORDED]), self.code_commits[-1]
        self.code_commits = earlier if earlier[-1] == current else [*earlier, current]
        restore_rng(checkpoint["rng"])
        self._say(f"resumed at epoch {self.pos.epoch + 1}, step {self.pos.global_step}")

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> int:
        train = self.config.train
        if self._budget_spent_before_start():
            return 0
        with GracefulStop() as stop:
            try:
                while self.pos.epoch < train.epochs:
                    ended = self._train_epoch(stop)
                    if ended is EpochEnd.SIGNAL:
                        return self._stopped(stop)
                    if ended is EpochEnd.OUT_OF_TIME:
                        self._end_cut_epoch()
                        break
                    out_of_time = self._decide_stop(stop)[1]
                    self._end_epoch(final=self.pos.epoch + 1 >= train.epochs or out_of_time)
                    if out_of_time and self.pos.epoch < train.epochs:
                        self._say(f"train.max_minutes={train.max_minutes} reached after epoch {self.pos.epoch}; stopping. "
                                  f"Continue with --resume auto and a larger train.max_minutes (it starts epoch {self.pos.epoch + 1})")
                        break
            except NonFiniteError:
                self._save(LAST)
                raise
            finally:
                self.logger.close()
        part = f" and {self.pos.step_in_epoch} steps of epoch {self.pos.epoch + 1}" if self.pos.step_in_epoch else ""
        self._say(f"done: {self.pos.epoch} epochs{part}; {self._best_description()}; outputs in {self.run_dir}")
        return 0

    def _best_description(self) -> str:
        """What best.pt holds, read back from the file: where in training, and its scores."""
        path = self.run_dir / BEST
        if not self.dist.is_main or not path.is_file():
            return "no best.pt"
        try:
            best = load_checkpoint(path)
        except ChromaFillError as err:
            return f"best.pt unreadable ({err})"
        scores = best.get("scores") or {}
        text = f"best.pt: weights of {checkpoint_position(best)}"
        if "score" in scores:
            text += f", {_score_text(scores)}"
        if best.get("select_score") is not None and self.config.train.validation.select_window > 1:
            text += f", mean of the last {self.config.train.validation.select_window} validations {best['select_score']:.4f}"
        return text

    def _train_epoch(self, stop: GracefulStop) -> EpochEnd:
        """One epoch from `pos.step_in_epoch`, or until a signal or the time budget cuts it short."""
        train = self.config.train
        self.clock.start(self.pos.train_seconds)  # the time since the last step (validation) is not training
        self.trainer.on_epoch_start(self.pos.epoch)  # e.g. a pretrained encoder frozen for its first epochs
        self.sampler.set_epoch(self.pos.epoch, self.pos.step_in_epoch * train.batch_size)
        steps_total = len(self.sampler) // train.batch_size + self.pos.step_in_epoch
        progress = EpochProgress(self.pos.epoch + 1, train.epochs, steps_total, self.pos.step_in_epoch, self.dist.is_main)
        tick = time.perf_counter()
        stop_flags = lambda: self._stop_flags(stop)  # noqa: E731
        try:
            for batch in self.loader:
                # The position counts the step being taken: the stop flags, asked inside it, read it.
                self.pos.step_in_epoch += 1
                self.pos.global_step += 1
                result = self.trainer.train_step(batch, stop_flags)
                elapsed, tick = time.perf_counter() - tick, time.perf_counter()
                images_per_s = train.batch_size * self.dist.world_size / max(elapsed, 1e-9)
                progress.update(result.scalars, images_per_s)
                if self.pos.global_step % train.log_every_steps == 0:
                    self._log_step(result.scalars, images_per_s)
                vote = result.vote  # agreed in the step's one collective, with rank 0's training seconds
                interrupted, out_of_time, self.pos.train_seconds = vote.interrupted, vote.out_of_time, vote.train_seconds
                self.trainer.follow_training_time(self.pos.train_seconds)
                if interrupted:
                    self._save(LAST)
                    return EpochEnd.SIGNAL
                if out_of_time and self.pos.step_in_epoch < steps_total:
                    return EpochEnd.OUT_OF_TIME
                if train.checkpoint.every_steps and self.pos.global_step % train.checkpoint.every_steps == 0:
                    self._save(LAST)
        finally:
            progress.close()
        return EpochEnd.COMPLETE

    def _stop_flags(self, stop: GracefulStop) -> tuple[bool, bool, float]:
        """(a signal arrived, the time budget is spent, training seconds) on this rank, asked inside
        each step; the step's vote keeps rank 0's budget decision and seconds for every rank."""
        seconds = self.clock.read()
        return stop.requested, self._out_of_time(seconds), seconds

    def _decide_stop(self, stop: GracefulStop) -> tuple[bool, bool]:
        """(a signal arrived, the time budget is spent), agreed by all ranks in one collective, which
        also gives every rank rank 0's training seconds; used between epochs (inside one, each
        step's vote carries the same)."""
        interrupted, out_of_time, self.pos.train_seconds = stop_decisions(
            stop.requested, *self._stop_flags(stop)[1:], self.dist, self.device)
        return interrupted, out_of_time

    def _log_step(self, scalars: dict[str, float], images_per_s: float) -> None:
        values = mean_scalars(scalars, self.trainer.scalar_names(), self.dist, self.device)
        values.update(self.trainer.learning_rates())
        values["throughput/img_per_s"] = images_per_s
        values["train/nonfinite_total"] = float(self.trainer.nonfinite_total)
        self.logger.scalars(values, self.pos.global_step)

    def _end_epoch(self, final: bool) -> None:
        """Validation, schedulers, best.pt and checkpoints, then test predictions (always after the
        final epoch): last.pt is written before the test split is predicted, so a failure there (or
        a kill during a long prediction) does not lose the epoch."""
        self.pos.epoch += 1
        self.pos.step_in_epoch = 0
        scores = self._validate(final)
        # Only rank 0 validates; every rank's plateau schedule must step with the same score.
        score = broadcast_score(scores.get("score"), self.dist, self.device)
        step_scheduler(self.trainer.sched_g, score)
        if self.trainer.sched_d is not None:
            step_scheduler(self.trainer.sched_d, score)
        if self.dist.is_main:
            self._update_best(scores)
            self._save(LAST)
            if self.config.train.checkpoint.keep_last:
                self._save(epoch_checkpoint_name(self.pos.epoch))
                rotate_epoch_checkpoints(self.run_dir, self.config.train.checkpoint.keep_last)
            self._summary(scores)
        self._predict_test(final)
        barrier(self.dist)

    def _end_cut_epoch(self) -> None:
        """`train.max_minutes` ran out inside an epoch: score and predict the weights as they are,
        but save last.pt *inside* the epoch, so --resume auto trains the rest of it (the same
        samples a straight run sees) instead of skipping them. The schedule steps only at the end
        of a whole epoch, no epoch_NNN.pt is written for a part of one, and the cut's score does
        not enter the selection window (see _update_best_at_cut)."""
        scores = self._validate(final=True)
        if self.dist.is_main:
            self._update_best_at_cut(scores)
            self._summary(scores)
        self._predict_test(final=True)
        self._say(f"train.max_minutes={self.config.train.max_minutes} reached inside epoch {self.pos.epoch + 1} at step "
                  f"{self.pos.step_in_epoch}; {self.run_dir / LAST} saved there, so --resume auto with a larger "
                  "train.max_minutes continues the epoch from the next step")
        barrier(self.dist)

    def _update_best(self, scores: dict[str, float]) -> None:
        """After a whole epoch, by the rule of trainers/selection.py: best.pt follows the latest
        weights before the first validation and until the window is full, then moves to them unless
        the best window beats theirs by more than the latest standard error. Written before last.pt:
        a kill in between must not leave a last.pt whose selection state claims weights best.pt
        lacks. The window lives in last.pt, so a resume keeps it."""
        move, select = self._selection_decision(scores, self.selection.add)
        if move:
            self._save_best(scores, select)
        elif self.best_before_cut is not None:  # a cut moved best.pt; the whole-epoch choice stands
            save_checkpoint(self.run_dir / BEST, self.best_before_cut)
        self.best_before_cut = None

    def _update_best_at_cut(self, scores: dict[str, float]) -> None:
        """Weights cut inside an epoch compete for best.pt as the next whole epoch would (`preview`),
        but their score is not recorded: the resumed run's window is an uninterrupted run's. When
        they take best.pt, the whole-epoch best.pt is kept inside last.pt (`best_before_cut`,
        written first), so the resumed run's next whole-epoch decision can put it back and selects
        exactly as a run that was never cut."""
        move, select = self._selection_decision(scores, self.selection.preview)
        if not move:
            if self.best_before_cut is not None:
                save_checkpoint(self.run_dir / BEST, self.best_before_cut)
                self.best_before_cut = None
            self._save(LAST)
            return
        if self.best_before_cut is None:
            self.best_before_cut = self._read_best()
        self._save(LAST)
        self._save_best(scores, select)

    def _selection_decision(self, scores: dict[str, float],
                            decide: Callable[[float, float], tuple[bool, float]]) -> tuple[bool, float | None]:
        """(best.pt moves to the current weights, their selection score) by `decide` (Selection.add
        or .preview); without a score, best.pt follows the latest weights until the first validation."""
        score = scores.get("score")
        if score is None:
            return not self.selection.validated, None
        move, select = decide(score, scores.get("score_sem", math.nan))
        if self.config.train.validation.select_window > 1:
            self.logger.scalars({"val/select_score": select}, self.pos.global_step)
        return move, select

    def _read_best(self) -> dict[str, Any] | None:
        path = self.run_dir / BEST
        if not path.is_file():
            return None  # no whole epoch yet: the next one's decision always writes best.pt
        try:
            return load_checkpoint(path)
        except ChromaFillError as err:
            self._say(f"warning: {err}; best.pt now holds the cut weights, and a resumed run cannot restore the previous ones")
            return None

    def _validate(self, final: bool) -> dict[str, float]:
        cfg = self.config.train.validation
        if not (self.dist.is_main and self.splits.val is not None and cfg.every_epochs
                and (self.pos.epoch % cfg.every_epochs == 0 or final)):
            return {}
        val = self.splits.val
        loader = build_whole_image_loader(val, cfg.batch_size, [val.sample_size(i) for i in range(len(val))])
        with rng_untouched():
            scores, grid = validate(self.trainer.inference_generator(), loader, self.device, self.trainer.autocast,
                                cfg.max_images, cfg.num_visuals)
        self.logger.scalars({f"val/{k}": v for k, v in scores.items()}, self.pos.global_step)
        if grid is not None:
            self.logger.image("val/samples", grid, self.pos.global_step)
            write_samples_png(grid, self.run_dir / SAMPLES_PNG)
        return scores

    def _predict_test(self, final: bool) -> None:
        cfg = self.config.train.test
        if not (self.dist.is_main and cfg.enabled and self.splits.test is not None
                and (self.pos.epoch % cfg.every_epochs == 0 or final)):
            return
        folder = self.run_dir / "predictions" / self._epoch_tag()
        with rng_untouched():
            names = predict_split(self.trainer.inference_generator(), self._mask_net(), self.splits.test, folder,
                                  self.device, self.trainer.autocast, mask_source=cfg.mask_source)
        write_submission_zip(folder, names, self.run_dir / "submissions" / f"{self._epoch_tag()}.zip")

    def _mask_net(self) -> torch.nn.Module | None:
        net = self.trainer.mask_net
        return None if net is None else unwrap(net)

    def _epoch_tag(self) -> str:
        """epoch_003 after a whole epoch; epoch_004_step_000123 for weights cut inside epoch 4."""
        if self.pos.step_in_epoch == 0:
            return f"epoch_{self.pos.epoch:03d}"
        return f"epoch_{self.pos.epoch + 1:03d}_step_{self.pos.global_step:06d}"

    # -- files and messages --------------------------------------------------------------------

    def _payload(self) -> dict[str, Any]:
        return {
            "config": cfgio.to_dict(self.config),
            "epoch": self.pos.epoch,
            "step_in_epoch": self.pos.step_in_epoch,
            "global_step": self.pos.global_step,
            "best_score": self.selection.best,
            "recent_scores": self.selection.recent,
            "best_before_cut": self.best_before_cut,
            "train_seconds": self.pos.train_seconds,
            "code_commits": self.code_commits,
            "trainer": self.trainer.state_dict(),
            "rng": capture_rng(),
        }

    def _save(self, name: str) -> None:
        if self.dist.is_main:
            save_checkpoint(self.run_dir / name, self._payload())

    def _save_best(self, scores: dict[str, float], select_score: float | None) -> None:
        """best.pt holds weights only (no optimizer state), the inference generator first, and where
        they were saved: completed epochs, the step inside the next one (weights cut by
        train.max_minutes) and the global step."""
        state = self.trainer.state_dict()
        payload = {"config": cfgio.to_dict(self.config), "epoch": self.pos.epoch, "step_in_epoch": self.pos.step_in_epoch,
                   "global_step": self.pos.global_step, "scores": scores, "select_score": select_score,
                   "code_commits": self.code_commits, "trainer": {k: state[k] for k in ("generator", "ema", "mask_net", "discriminator")}}
        save_checkpoint(self.run_dir / BEST, payload)

    def _summary(self, scores: dict[str, float]) -> None:
        terms = _score_text(scores) if "score" in scores else "no validation"
        lr = self.trainer.learning_rates()["lr/g"]
        epoch = f"{self.pos.epoch}" if not self.pos.step_in_epoch else f"{self.pos.epoch + 1} (cut at step {self.pos.step_in_epoch})"
        self._say(f"epoch {epoch}/{self.config.train.epochs} step {self.pos.global_step} lr {lr:.2e} | {terms}")

    def _stopped(self, stop: GracefulStop) -> int:
        self._say(f"stopped by {stop.signal_name} at epoch {self.pos.epoch + 1} step {self.pos.global_step}; "
                  f"{self.run_dir / LAST} saved. Resume with: python train.py --config {self.run_dir / 'config.yaml'} --resume auto")
        return EXIT_STOPPED.get(stop.signal_name or "", 1)

    def _out_of_time(self, train_seconds: float) -> bool:
        budget = self.config.train.max_minutes
        return bool(budget) and train_seconds >= budget * 60

    def _budget_spent_before_start(self) -> bool:
        """A resumed run whose checkpoint already used train.max_minutes trains nothing (the same
        answer on every rank: they all loaded the same seconds)."""
        budget = self.config.train.max_minutes
        if not budget or self.pos.train_seconds < budget * 60:
            return False
        self._say(f"train.max_minutes={budget} already spent: {self.run_dir / LAST} holds {self.pos.train_seconds / 60:.1f} "
                  "minutes of training; raise train.max_minutes to train longer")
        self.logger.close()
        return True

    def _say(self, message: str) -> None:
        if self.dist.is_main:
            print(message, file=sys.stderr, flush=True)


def _score_text(scores: dict[str, float]) -> str:
    """'val/score 0.6120 ± 0.0110 (ssim_full=... )': the score with its standard error over the
    validation images, which says how much of a difference between two runs is noise."""
    sem = scores.get("score_sem", math.nan)
    terms = " ".join(f"{k}={v:.4f}" for k, v in scores.items() if k not in ("score", "score_sem"))
    return f"val/score {scores['score']:.4f} ± {sem:.4f} ({terms})"


def _to_cpu(tree: Any) -> Any:
    """A checkpoint tree with its tensors on the CPU (best.pt held in memory for a later write)."""
    if isinstance(tree, torch.Tensor):
        return tree.cpu()
    if isinstance(tree, dict):
        return {k: _to_cpu(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_to_cpu(v) for v in tree)
    return tree

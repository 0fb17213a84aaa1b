"""The pix2pix step: discriminator update(s), then the generator update with D frozen.

`GANTrainer` owns the networks, their optimizers, schedulers, the AMP scaler and the EMA copy,
and knows how to put all of it into (and back out of) a checkpoint. The epoch loop, validation
and files live in `trainers/loop.py`.
"""

from __future__ import annotations

import contextlib
import gc
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.nn.utils import parametrize
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from losses.combined import DiscriminatorLoss, GeneratorLoss
from models.build import build_discriminator, build_generator, build_mask_net
from models.depthwise_precision import keep_depthwise_fp32
from trainers.checkpoint import generator_weights
from trainers.config import Config
from trainers.distributed import DistInfo, StepVote, step_vote
from trainers.optimizers import build_adam
from trainers.schedule import TrainingTimeLR, build_scheduler, load_scheduler_state
from utils.errors import ChromaFillError, first_line
from utils.runtime import effective_amp


def set_requires_grad(net: nn.Module | None, flag: bool) -> None:
    """pix2pix: freeze D during the generator step so its weights get no gradient."""
    if net is not None:
        for p in net.parameters():
            p.requires_grad_(flag)


def unwrap(net: nn.Module) -> nn.Module:
    return net.module if isinstance(net, DDP) else net


@dataclass
class StepResult:
    """What one training step reports: for logging, and the stop decisions all ranks agreed on."""

    finite: bool
    scalars: dict[str, float] = field(default_factory=dict)
    vote: StepVote = field(default_factory=StepVote)


def _no_stop() -> tuple[bool, bool]:
    return False, False


class GANTrainer:
    def __init__(self, config: Config, device: torch.device, dist: DistInfo = DistInfo()) -> None:
        self.config = config
        self.device = device
        self.dist = dist
        train = config.train
        self.amp = effective_amp(train.amp, device, warn=dist.is_main)  # what train.amp runs as on this device
        self.memory_format = torch.channels_last if train.channels_last else torch.contiguous_format
        # A generator whose encoder is frozen for its first epochs leaves those weights without
        # gradients, which DDP must be told to expect (until on_epoch_start unfreezes it).
        frozen_epochs = getattr(config.model.generator, "encoder_frozen_epochs", 0)
        self.generator = self._prepare(self._with_precision_policy(build_generator(config.model)), find_unused=frozen_epochs > 0)
        self.g_loss = GeneratorLoss(config.loss, config.model.generator).to(device)
        self.d_loss = DiscriminatorLoss(config.loss).to(device)
        self.discriminator = self._prepare(build_discriminator(config.model)) if self.g_loss.needs_discriminator else None
        mask_net = build_mask_net(config.model)
        self.mask_net = self._prepare(mask_net) if mask_net is not None else None
        self.ema = self._build_ema()
        g_params = generator_param_groups(unwrap(self.generator), train.optim.lr_g)
        if self.mask_net is not None:  # in the first group: checkpoints keep their one-group optimizer state
            g_params[0]["params"] = list(g_params[0]["params"]) + list(self.mask_net.parameters())
        self.opt_g = self._adam(g_params, train.optim.lr_g)
        self.opt_d = self._adam(self.discriminator.parameters(), train.optim.lr_d) if self.discriminator else None
        self.sched_g = build_scheduler(self.opt_g, train)
        self.sched_d = build_scheduler(self.opt_d, train) if self.opt_d else None
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp == "fp16")
        self.nonfinite_streak = 0
        self.nonfinite_total = 0

    # -- construction ------------------------------------------------------------------------

    def _with_precision_policy(self, generator: nn.Module) -> nn.Module:
        """The generator with its depthwise convolutions kept in fp32 under CPU bf16 autocast (train.depthwise_fp32);
        before DDP and the EMA copy, which both keep the switched classes."""
        train = self.config.train
        if train.depthwise_fp32 and self.amp == "bf16" and self.device.type == "cpu":
            keep_depthwise_fp32(generator)
        return generator

    def _prepare(self, net: nn.Module, find_unused: bool = False) -> nn.Module:
        net = net.to(self.device, memory_format=self.memory_format)
        if self.dist.enabled:
            if self.config.train.sync_batchnorm:
                net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
            net = self._ddp(net, find_unused)
        return net

    def _ddp(self, net: nn.Module, find_unused: bool) -> DDP:
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DDP(net, device_ids=ids, find_unused_parameters=find_unused)

    def _build_ema(self) -> AveragedModel | None:
        if not self.config.train.ema.enabled:
            return None
        decay = self.config.train.ema.decay
        ema = AveragedModel(unwrap(self.generator), multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        return ema.eval()

    def _adam(self, params: Any, lr: float) -> torch.optim.Optimizer:
        optim = self.config.train.optim
        return build_adam(params, lr, optim.betas, optim.weight_decay, self.device)

    # -- the step ----------------------------------------------------------------------------

    def autocast(self) -> contextlib.AbstractContextManager:
        amp = self.amp
        if amp == "off":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if amp == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def to_device(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        move = lambda t: t.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)  # noqa: E731
        return move(batch["input"]), move(batch["target"]), move(batch["mask"])

    def train_step(self, batch: dict[str, Any], stop_flags: Callable[[], tuple] = _no_stop) -> StepResult:
        """One pix2pix step. `stop_flags()` -> (a signal arrived, the time budget is spent) on this
        rank, optionally with this rank's training seconds (shared from rank 0 as `vote.train_seconds`): asked inside the step and agreed by all ranks in the step's one collective
        (`step_vote`), which also decides whether every rank's losses are finite."""
        gray, target, mask = self.to_device(batch)
        self.generator.train()
        chroma_logits = None
        with self.autocast():
            if self.g_loss.needs_chroma_logits:
                fake, chroma_logits = self.generator(gray, mask, with_logits=True)
            else:
                fake = self.generator(gray, mask)
            fake = fake.float()
        scalars: dict[str, float] = {}
        d_stepped, finite = True, True
        if self.discriminator is not None:
            d_stepped, finite = self._discriminator_steps(gray, target, mask, fake, scalars)
        total = terms = None
        if d_stepped:  # the same on every rank (see _update)
            total, terms = self._generator_objective(gray, target, mask, fake, batch, chroma_logits)
            finite = finite and bool(torch.isfinite(total).all())
        flags = stop_flags()  # (signal, out of time[, rank 0's training seconds])
        vote = step_vote(finite, flags[0], flags[1], self.dist, self.device, *flags[2:])
        if not (d_stepped and vote.finite):
            return self._skip(scalars, vote)
        assert total is not None and terms is not None
        scalars.update({f"loss/g_{k}": float(v) for k, v in terms.items()})
        scalars["loss/g_total"] = float(total.detach())
        norm = self._update(total, self.opt_g, self.generator, self.mask_net)
        if norm is None:
            return self._skip(scalars, vote)
        scalars["grad_norm/g"] = norm
        self.scaler.update()
        if self.ema is not None:
            self.ema.update_parameters(unwrap(self.generator))
        self.nonfinite_streak = 0
        return StepResult(True, scalars, vote)

    def _discriminator_steps(self, gray: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, fake: torch.Tensor,
                             scalars: dict[str, float]) -> tuple[bool, bool]:
        """(D stepped every time, D's losses were finite on this rank).

        Every rank runs D's backward pass whatever its loss, so no collective is needed first:
        DDP's gradient all-reduce carries a NaN from any rank to all of them, and `_update` then
        skips the step on every rank alike. A non-finite loss with finite gradients goes into the
        step's vote instead.
        """
        assert self.discriminator is not None and self.opt_d is not None
        set_requires_grad(self.discriminator, True)
        finite = True
        for _ in range(self.config.train.d_steps_per_g):
            # cached(): a spectral-normalised D computes each normalised weight (power iteration and
            # division) once for both forwards, which then also see the same D.
            with self.autocast(), parametrize.cached():
                d_real = self.discriminator(gray, target, mask)
                d_fake = self.discriminator(gray, fake.detach(), mask)
            loss, terms = self.d_loss(_float(d_real), _float(d_fake))
            finite = finite and bool(torch.isfinite(loss).all())
            norm = self._update(loss, self.opt_d, self.discriminator)
            if norm is None:
                set_requires_grad(self.discriminator, False)
                return False, finite
            scalars["grad_norm/d"] = norm
        scalars.update({f"loss/d_{k}": float(v) for k, v in terms.items()})
        scalars["loss/d_total"] = float(loss.detach())
        scalars["d/real_mean"] = float(torch.stack([s[-1].detach().float().mean() for s in d_real]).mean())
        scalars["d/fake_mean"] = float(torch.stack([s[-1].detach().float().mean() for s in d_fake]).mean())
        set_requires_grad(self.discriminator, False)
        return True, finite

    def _generator_objective(self, gray: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                             fake: torch.Tensor, batch: dict[str, Any],
                             chroma_logits: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        d_fake = d_real = None
        if self.discriminator is not None:
            # The unwrapped D: under DDP its frozen parameters must not wait for gradient buckets.
            disc = unwrap(self.discriminator)
            with self.autocast(), parametrize.cached():
                d_fake = _float(disc(gray, fake, mask))
                if self.g_loss.needs_real_features:
                    with torch.no_grad():
                        d_real = _float(disc(gray, target, mask))
        total, terms = self.g_loss(fake, target, mask, d_fake=d_fake, d_real=d_real, chroma_logits=chroma_logits)
        if self.mask_net is not None:
            raw = batch.get("raw_input", batch["input"]).to(self.device, non_blocking=True)
            with self.autocast():
                logits = self.mask_net(raw).float()
            loss = mask_net_loss(logits, mask) * self.config.train.mask_net_weight
            terms = {**terms, "mask_net": loss.detach()}
            total = total + loss
        return total, terms

    def _update(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, *nets: nn.Module | None) -> float | None:
        """Backward, optional clipping, step; returns the gradient norm before clipping (None: step skipped)."""
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(optimizer)
        params = [p for net in nets if net is not None for p in net.parameters() if p.grad is not None]
        norm = gradient_norm(params, self.config.train.grad_clip)
        # The norm is the same on every rank without asking them: DDP's all-reduce left identical
        # gradients everywhere, so every rank takes this branch alike (no collective needed).
        if not self.scaler.is_enabled() and not bool(torch.isfinite(norm)):
            # A finite loss can still have NaN/inf gradients (bf16 overflow, a bad op): stepping would
            # turn every weight into NaN. fp16's GradScaler skips such steps itself; do the same here.
            optimizer.zero_grad(set_to_none=True)
            return None
        self.scaler.step(optimizer)
        if optimizer is self.opt_d:
            self.scaler.update()
        return float(norm)

    def scalar_names(self) -> list[str]:
        """Every scalar a step can report, fixed by the config: the layout of the one collective
        that averages them over ranks for logging."""
        names = [f"loss/g_{term}" for term, weight in self.g_loss.weights.items() if weight > 0]
        names += ["loss/g_total", "grad_norm/g"] + (["loss/g_mask_net"] if self.mask_net is not None else [])
        if self.discriminator is not None:
            names += ["loss/d_real", "loss/d_fake", "loss/d_total", "d/real_mean", "d/fake_mean", "grad_norm/d"]
        return names

    def _skip(self, scalars: dict[str, float], vote: StepVote) -> StepResult:
        """A non-finite loss: no update; under fp16 the loss scale backs off as for an overflow."""
        self.nonfinite_streak += 1
        self.nonfinite_total += 1
        if self.scaler.is_enabled():
            self.scaler.update(self.scaler.get_scale() * self.scaler.get_backoff_factor())
        if self.nonfinite_streak >= self.config.train.max_nonfinite_steps:
            raise NonFiniteError(self.nonfinite_streak)
        return StepResult(False, scalars, vote)

    # -- inference weights -------------------------------------------------------------------

    def inference_generator(self) -> nn.Module:
        """The weights used for validation, test and best.pt: the EMA copy when enabled."""
        return self.ema.module if self.ema is not None else unwrap(self.generator)

    # -- state -------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": unwrap(self.generator).state_dict(),
            "discriminator": unwrap(self.discriminator).state_dict() if self.discriminator else None,
            "mask_net": unwrap(self.mask_net).state_dict() if self.mask_net else None,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict() if self.opt_d else None,
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict() if self.sched_d else None,
            "scaler": self.scaler.state_dict(),
            "nonfinite_total": self.nonfinite_total,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        unwrap(self.generator).load_state_dict(state["generator"])
        for name, net in (("discriminator", self.discriminator), ("mask_net", self.mask_net)):
            if net is not None and state.get(name) is not None:
                unwrap(net).load_state_dict(state[name])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        if self.opt_d is not None and state.get("opt_d") is not None:
            self.opt_d.load_state_dict(state["opt_d"])
        load_scheduler_state(self.sched_g, state["sched_g"])
        if self.sched_d is not None and state.get("sched_d") is not None:
            load_scheduler_state(self.sched_d, state["sched_d"])
        self.scaler.load_state_dict(state["scaler"])
        self.nonfinite_total = int(state.get("nonfinite_total", 0))

    def load_weights(self, checkpoint: dict[str, Any]) -> list[str]:
        """Fine-tuning start: network weights only (G, and D / mask net when present).

        The generator starts from the checkpoint's inference weights: the EMA copy when it has
        one (what validation scored and best.pt was chosen by), else the raw weights. Returns
        what loaded, e.g. ["generator (EMA weights)", "discriminator"].
        """
        state = checkpoint.get("trainer") or {}
        if state.get("generator") is None:
            raise ChromaFillError("--load-from: the checkpoint holds no generator weights")
        g_weights, is_ema = generator_weights(checkpoint, use_ema=True)
        sources = (("generator", self.generator, g_weights), ("discriminator", self.discriminator, state.get("discriminator")),
                   ("mask_net", self.mask_net, state.get("mask_net")))
        loaded = []
        for name, net, weights in sources:
            if net is None or weights is None:
                continue
            try:
                unwrap(net).load_state_dict(weights)
            except RuntimeError as err:
                raise ChromaFillError(f"--load-from: the {name} weights do not fit this model config: {first_line(err)}") from None
            loaded.append(f"{name} ({'EMA' if is_ema else 'raw'} weights)" if name == "generator" else name)
        if self.ema is not None:
            self.ema.module.load_state_dict(unwrap(self.generator).state_dict())
        return loaded

    def on_epoch_start(self, epoch: int) -> None:
        """Before the epoch that follows `epoch` completed ones (also right after a resume): a
        pretrained generator freezes or unfreezes its encoder (model.generator.encoder_frozen_epochs)."""
        start_epoch = getattr(unwrap(self.generator), "start_epoch", None)
        if callable(start_epoch):
            start_epoch(epoch)
            self._rewrap_generator()

    def _rewrap_generator(self) -> None:
        """Under DDP, search for unused parameters only while the encoder is frozen.

        The search walks the autograd graph after every forward pass; once the encoder trains,
        every parameter gets a gradient and the walk is wasted, so the generator is wrapped anew
        (every rank reaches this at the same epoch: DDP's constructor is a collective). The old
        wrapper is collected first, so its gradient hooks are gone before the next backward.
        """
        if not isinstance(self.generator, DDP):
            return
        frozen = bool(getattr(unwrap(self.generator), "encoder_frozen", False))
        if self.generator.find_unused_parameters == frozen:
            return
        module = unwrap(self.generator)
        self.generator = module
        gc.collect()
        self.generator = self._ddp(module, find_unused=frozen)

    def follow_training_time(self, train_seconds: float) -> None:
        """After each step: a time-following schedule (cosine_time) sets the lr of the next step."""
        for scheduler in (self.sched_g, self.sched_d):
            if isinstance(scheduler, TrainingTimeLR):
                scheduler.follow(train_seconds)

    def learning_rates(self) -> dict[str, float]:
        rates = {"lr/g": self.opt_g.param_groups[0]["lr"]}
        if self.opt_d is not None:
            rates["lr/d"] = self.opt_d.param_groups[0]["lr"]
        return rates

    def networks(self) -> Iterator[nn.Module]:
        yield from (n for n in (self.generator, self.discriminator, self.mask_net) if n is not None)


class NonFiniteError(ChromaFillError):
    def __init__(self, streak: int) -> None:
        super().__init__(f"{streak} non-finite losses in a row (train.max_nonfinite_steps); lower the learning rate or use train.amp=off")


def gradient_norm(params: list[nn.Parameter], clip: float) -> torch.Tensor:
    """The total L2 norm of the gradients, measured before clipping them to `clip` (0: no clipping).
    Without clipping only the norm is taken: clip_grad_norm_ would still multiply every gradient
    by 1.0, a full pass over the weights (~7 ms per step on the default generator, 2-core CPU)."""
    if clip > 0:
        return torch.nn.utils.clip_grad_norm_(params, clip, foreach=True)
    total_norm = getattr(torch.nn.utils, "get_total_norm", None)  # torch >= 2.6
    if total_norm is None:
        return torch.nn.utils.clip_grad_norm_(params, math.inf, foreach=True)
    return total_norm([p.grad for p in params], foreach=True)


def generator_param_groups(generator: nn.Module, lr: float) -> list[dict[str, Any]]:
    """Adam parameter groups of the generator: its own `optimizer_groups` (a pretrained encoder at
    its own learning rate) when it has them, else one group at `lr`."""
    groups = getattr(generator, "optimizer_groups", None)
    return groups(lr) if callable(groups) else [{"params": list(generator.parameters()), "lr": lr}]


def mask_net_loss(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """BCE plus soft Dice: the hole is 1-13 % of the pixels, and BCE alone first learns "no hole
    anywhere"; the Dice term rewards overlap directly, whatever the class balance."""
    bce = F.binary_cross_entropy_with_logits(logits, mask)
    prob = torch.sigmoid(logits)
    overlap = (prob * mask).sum(dim=(1, 2, 3))
    dice = 1 - (2 * overlap + 1) / (prob.sum(dim=(1, 2, 3)) + mask.sum(dim=(1, 2, 3)) + 1)
    return bce + dice.mean()


def _float(outputs: list[list[torch.Tensor]]) -> list[list[torch.Tensor]]:
    """Discriminator outputs in fp32 so the losses are computed outside autocast precision."""
    return [[t.float() for t in scale] for scale in outputs]

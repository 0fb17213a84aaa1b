"""The pix2pix step: discriminator update(s), then the generator update with D frozen.

`GANTrainer` owns the networks, their optimizers, schedulers, the AMP scaler and the EMA copy,
and knows how to put all of it into (and back out of) a checkpoint. The epoch loop, validation
and files live in `trainers/loop.py`.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from losses.combined import DiscriminatorLoss, GeneratorLoss
from models.build import build_discriminator, build_generator, build_mask_net
from trainers.checkpoint import generator_weights
from trainers.config import Config
from trainers.distributed import DistInfo, all_ranks
from trainers.optimizers import build_adam
from trainers.schedule import TrainingTimeLR, build_scheduler, load_scheduler_state
from utils.errors import ChromaFillError


def set_requires_grad(net: nn.Module | None, flag: bool) -> None:
    """pix2pix: freeze D during the generator step so its weights get no gradient."""
    if net is not None:
        for p in net.parameters():
            p.requires_grad_(flag)


def unwrap(net: nn.Module) -> nn.Module:
    return net.module if isinstance(net, DDP) else net


@dataclass
class StepResult:
    """What one training step reports for logging."""

    finite: bool
    scalars: dict[str, float] = field(default_factory=dict)


class GANTrainer:
    def __init__(self, config: Config, device: torch.device, dist: DistInfo = DistInfo()) -> None:
        self.config = config
        self.device = device
        self.dist = dist
        train = config.train
        self.memory_format = torch.channels_last if train.channels_last else torch.contiguous_format
        # A generator whose encoder is frozen for its first epochs leaves those weights without
        # gradients, which DDP must be told to expect.
        frozen_epochs = getattr(config.model.generator, "encoder_frozen_epochs", 0)
        self.generator = self._prepare(build_generator(config.model), find_unused=frozen_epochs > 0)
        chroma_bins = config.model.generator.chroma_bins if config.model.generator.head == "chroma_bins" else None
        self.g_loss = GeneratorLoss(config.loss, chroma_bins).to(device)
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
        self.scaler = torch.amp.GradScaler(device.type, enabled=train.amp == "fp16")
        self.nonfinite_streak = 0
        self.nonfinite_total = 0

    # -- construction ------------------------------------------------------------------------

    def _prepare(self, net: nn.Module, find_unused: bool = False) -> nn.Module:
        net = net.to(self.device, memory_format=self.memory_format)
        if self.dist.enabled:
            if self.config.train.sync_batchnorm:
                net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
            ids = [self.device.index] if self.device.type == "cuda" else None
            net = DDP(net, device_ids=ids, find_unused_parameters=find_unused)
        return net

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
        amp = self.config.train.amp
        if amp == "off":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if amp == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def to_device(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        move = lambda t: t.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)  # noqa: E731
        return move(batch["input"]), move(batch["target"]), move(batch["mask"])

    def train_step(self, batch: dict[str, Any]) -> StepResult:
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
        if self.discriminator is not None:
            if not self._discriminator_steps(gray, target, fake, scalars):
                return self._skip(scalars)
        total, terms = self._generator_objective(gray, target, mask, fake, batch, chroma_logits)
        if not self._finite_everywhere(total):
            return self._skip(scalars)
        scalars.update({f"loss/g_{k}": float(v) for k, v in terms.items()})
        scalars["loss/g_total"] = float(total.detach())
        norm = self._update(total, self.opt_g, self.generator, self.mask_net)
        if norm is None:
            return self._skip(scalars)
        scalars["grad_norm/g"] = norm
        self.scaler.update()
        if self.ema is not None:
            self.ema.update_parameters(unwrap(self.generator))
        self.nonfinite_streak = 0
        return StepResult(True, scalars)

    def _discriminator_steps(self, gray: torch.Tensor, target: torch.Tensor, fake: torch.Tensor,
                             scalars: dict[str, float]) -> bool:
        assert self.discriminator is not None and self.opt_d is not None
        set_requires_grad(self.discriminator, True)
        for _ in range(self.config.train.d_steps_per_g):
            with self.autocast():
                d_real = self.discriminator(gray, target)
                d_fake = self.discriminator(gray, fake.detach())
            loss, terms = self.d_loss(_float(d_real), _float(d_fake))
            if not self._finite_everywhere(loss):
                set_requires_grad(self.discriminator, False)
                return False
            norm = self._update(loss, self.opt_d, self.discriminator)
            if norm is None:
                set_requires_grad(self.discriminator, False)
                return False
            scalars["grad_norm/d"] = norm
        scalars.update({f"loss/d_{k}": float(v) for k, v in terms.items()})
        scalars["loss/d_total"] = float(loss.detach())
        scalars["d/real_mean"] = float(torch.stack([s[-1].detach().float().mean() for s in d_real]).mean())
        scalars["d/fake_mean"] = float(torch.stack([s[-1].detach().float().mean() for s in d_fake]).mean())
        set_requires_grad(self.discriminator, False)
        return True

    def _generator_objective(self, gray: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                             fake: torch.Tensor, batch: dict[str, Any],
                             chroma_logits: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        d_fake = d_real = None
        if self.discriminator is not None:
            # The unwrapped D: under DDP its frozen parameters must not wait for gradient buckets.
            disc = unwrap(self.discriminator)
            with self.autocast():
                d_fake = _float(disc(gray, fake))
                if self.g_loss.needs_real_features:
                    with torch.no_grad():
                        d_real = _float(disc(gray, target))
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
        if not self.scaler.is_enabled() and not self._finite_everywhere(norm):
            # A finite loss can still have NaN/inf gradients (bf16 overflow, a bad op): stepping would
            # turn every weight into NaN. fp16's GradScaler skips such steps itself; do the same here.
            optimizer.zero_grad(set_to_none=True)
            return None
        self.scaler.step(optimizer)
        if optimizer is self.opt_d:
            self.scaler.update()
        return float(norm)

    def _finite_everywhere(self, value: torch.Tensor) -> bool:
        """Whether `value` is finite on every rank: all ranks skip a step together or none does
        (under DDP a rank that skips backward alone hangs the others), so the non-finite counts and
        the weights stay the same on every rank."""
        return all_ranks(bool(torch.isfinite(value).all()), self.dist, self.device)

    def scalar_names(self) -> list[str]:
        """Every scalar a step can report, fixed by the config: the layout of the one collective
        that averages them over ranks for logging."""
        names = [f"loss/g_{term}" for term, weight in self.g_loss.weights.items() if weight > 0]
        names += ["loss/g_total", "grad_norm/g"] + (["loss/g_mask_net"] if self.mask_net is not None else [])
        if self.discriminator is not None:
            names += ["loss/d_real", "loss/d_fake", "loss/d_total", "d/real_mean", "d/fake_mean", "grad_norm/d"]
        return names

    def _skip(self, scalars: dict[str, float]) -> StepResult:
        """A non-finite loss: no update; under fp16 the loss scale backs off as for an overflow."""
        self.nonfinite_streak += 1
        self.nonfinite_total += 1
        if self.scaler.is_enabled():
            self.scaler.update(self.scaler.get_scale() * self.scaler.get_backoff_factor())
        if self.nonfinite_streak >= self.config.train.max_nonfinite_steps:
            raise NonFiniteError(self.nonfinite_streak)
        return StepResult(False, scalars)

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
                raise ChromaFillError(f"--load-from: the {name} weights do not fit this model config: {str(err).splitlines()[0]}") from None
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

"""One training loop for every model: device choice, seeding, bf16 autocast on CUDA, checkpoints, early stopping."""

from __future__ import annotations

import copy
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from models.settings import Settings

Arrays = Mapping[str, np.ndarray]
"""Column name -> array with one row per sample (numpy arrays or memory maps; sliced per batch)."""


@dataclass(frozen=True)
class TrainSettings(Settings):
    """How to fit a model; `patience` epochs without a better validation score stop training."""

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    patience: int = 5
    seed: int = 13
    device: str = "auto"
    threads: int | None = None
    progress: bool = True
    clip_norm: float | None = None  # clip the gradients' L2 norm to this (paper 002: 2)
    decay_at: tuple[int, ...] = ()  # after each of these epochs the learning rate is multiplied by decay_factor
    decay_factor: float = 0.1
    validate_every: int | None = None  # also validate every this many steps inside an epoch (paper 002)

    def learning_rate_at(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (1-based) under the step decay."""
        return self.learning_rate * self.decay_factor ** sum(epoch > milestone for milestone in self.decay_at)

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


@dataclass
class EpochReport:
    """One epoch: its training loss, validation score and speed."""

    epoch: int
    train_loss: float
    validation_score: float
    seconds: float
    samples_per_second: float


@dataclass
class FitResult:
    """The best model's weights (already loaded into the model) and the history of every epoch."""

    best_epoch: int
    best_score: float
    history: list[EpochReport] = field(default_factory=list)
    device: str = "cpu"
    stopped_early: bool = False

    def as_dict(self) -> dict[str, Any]:
        """A JSON-shaped dict (the registry's `metrics.fit`)."""
        return {**asdict(self), "history": [asdict(report) for report in self.history]}


def select_device(preference: str = "auto") -> torch.device:
    """CUDA when present (or asked for), else the CPU; asking for CUDA without one is an error."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA device is visible; use --device cpu or auto")
    return torch.device(preference)


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def to_batch(arrays: Arrays, index: np.ndarray, device: torch.device) -> dict[str, torch.Tensor]:
    """Rows `index` of every array as tensors on the device (memory maps are read only for these rows)."""
    ordered = np.sort(index)
    return {name: torch.as_tensor(np.ascontiguousarray(array[ordered])).to(device) for name, array in arrays.items()}


def row_count(arrays: Arrays) -> int:
    """The arrays' common number of rows (an error when they differ)."""
    counts = {len(array) for array in arrays.values()}
    if len(counts) != 1:
        raise ValueError(f"every array needs the same number of rows, got {sorted(counts)}")
    return counts.pop()


def autocast(device: torch.device) -> torch.autocast:
    """bf16 mixed precision on CUDA; a no-op on the CPU."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def fit(
    model: nn.Module,
    train: Arrays,
    loss_fn: Callable[[nn.Module, dict[str, torch.Tensor]], torch.Tensor],
    validation_score: Callable[[nn.Module], float],
    settings: TrainSettings,
    save_checkpoint: Callable[[dict[str, Any]], None] | None = None,
    resume_from: dict[str, Any] | None = None,
    description: str = "training",
) -> FitResult:
    """Trains `model` in place and leaves it holding the weights of its best validation epoch.

    `validation_score(model)` is higher-is-better. `save_checkpoint` receives the whole state after every epoch;
    passing that state back as `resume_from` continues exactly where it stopped.
    """
    device = select_device(settings.device)
    if device.type == "cpu":
        torch.set_num_threads(settings.threads or max(1, os.cpu_count() or 1))
    seed_everything(settings.seed)
    model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = OPTIMIZERS[settings.optimizer](trainable, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    samples = row_count(train)
    result = FitResult(best_epoch=0, best_score=float("-inf"), device=str(device))
    best_weights = copy.deepcopy(model.state_dict())
    start_epoch, epochs_without_gain = 1, 0
    if resume_from is not None and not _fits(model, resume_from["model"]):
        tqdm.write(f"{description}: the checkpoint does not fit this model (settings or code changed); "
                   "training from the start")
        resume_from = None
    if resume_from is not None:
        model.load_state_dict(resume_from["model"])
        optimizer.load_state_dict(resume_from["optimizer"])
        best_weights = resume_from["best_model"]
        result.best_epoch, result.best_score = resume_from["best_epoch"], resume_from["best_score"]
        result.history = [EpochReport(**report) for report in resume_from["history"]]
        start_epoch, epochs_without_gain = resume_from["epoch"] + 1, resume_from["epochs_without_gain"]
        if epochs_without_gain >= settings.patience:
            start_epoch = settings.epochs + 1
            result.stopped_early = True

    for epoch in range(start_epoch, settings.epochs + 1):
        started = time.perf_counter()
        # The order of an epoch depends on the seed and the epoch only, so a resumed run sees the same batches.
        order = np.random.default_rng((settings.seed, epoch)).permutation(samples)
        torch.manual_seed(settings.seed * 100_003 + epoch)
        for group in optimizer.param_groups:  # from the settings, so a resumed run gets the same rate
            group["lr"] = settings.learning_rate_at(epoch)
        model.train()
        improved = False

        def keep_if_better(score: float, epoch: int = epoch) -> None:
            nonlocal best_weights, improved
            if score > result.best_score:
                result.best_score, result.best_epoch, improved = score, epoch, True
                best_weights = copy.deepcopy(model.state_dict())

        total, batches = 0.0, range(0, samples, settings.batch_size)
        bar = tqdm(batches, desc=f"{description} epoch {epoch}", leave=False,
                   disable=None if settings.progress else True)
        for begin in bar:
            batch = to_batch(train, order[begin : begin + settings.batch_size], device)
            optimizer.zero_grad(set_to_none=True)
            with autocast(device):
                loss = loss_fn(model, batch)
            loss.backward()
            if settings.clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(trainable, settings.clip_norm)
            optimizer.step()
            total += float(loss.detach()) * len(batch[next(iter(batch))])
            bar.set_postfix(loss=f"{total / min(samples, begin + settings.batch_size):.4f}")
            step = begin // settings.batch_size + 1
            if settings.validate_every and step % settings.validate_every == 0 and step < len(batches):
                model.eval()
                with torch.no_grad():
                    keep_if_better(float(validation_score(model)))
                model.train()
        model.eval()
        with torch.no_grad():
            score = float(validation_score(model))
        seconds = time.perf_counter() - started
        result.history.append(EpochReport(epoch, total / samples, score, seconds, samples / seconds))
        keep_if_better(score)
        epochs_without_gain = 0 if improved else epochs_without_gain + 1
        if settings.progress:
            tqdm.write(f"{description}: epoch {epoch} loss {total / samples:.4f} validation {score:.4f}")
        if save_checkpoint is not None:
            save_checkpoint(
                {
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "best_model": best_weights,
                    "best_epoch": result.best_epoch,
                    "best_score": result.best_score,
                    "epochs_without_gain": epochs_without_gain,
                    "history": [asdict(report) for report in result.history],
                }
            )
        if epochs_without_gain >= settings.patience:
            result.stopped_early = True
            break
    model.load_state_dict(best_weights)
    model.eval()
    return result


def _fits(model: nn.Module, weights: dict[str, torch.Tensor]) -> bool:
    """Whether saved weights have exactly the model's parameter names and shapes."""
    own = model.state_dict()
    return own.keys() == weights.keys() and all(own[k].shape == weights[k].shape for k in own)


@torch.no_grad()
def predict(
    model: nn.Module,
    arrays: Arrays,
    batch_size: int = 256,
    device: str | torch.device = "auto",
    forward: Callable[[nn.Module, dict[str, torch.Tensor]], torch.Tensor] | None = None,
) -> np.ndarray:
    """The model's outputs for every row, in row order, as float32 (batches streamed through the model)."""
    device = select_device(device) if isinstance(device, str) else device
    model.to(device).eval()
    outputs = []
    for begin in range(0, row_count(arrays), batch_size):
        batch = to_batch(arrays, np.arange(begin, min(begin + batch_size, row_count(arrays))), device)
        with autocast(device):
            output = forward(model, batch) if forward is not None else model(batch)
        outputs.append(output.float().cpu().numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0,), dtype=np.float32)

"""``composer-app train``: fit an RNN-RBM to piano rolls with CD-k, checkpointing every epoch.

Batches: every epoch each sequence is cut into windows of ``window_steps`` frames at a random
phase (the RNN state restarts at ``u_0 = 0`` in each window, as in the tutorial's 100-frame
minibatches); windows are shuffled and ``batch_size`` of them are padded to a common length
with a mask, so padding contributes nothing. The CD-k Gibbs chains of all frames of a batch
run together (see :mod:`composer_app.ml.rnnrbm`).

Validation after every epoch picks the best model and drives early stopping and the learning-rate
decay. Two measures: ``acc`` (default), the expected frame accuracy of a short Gibbs sample per
frame started at silence, as generation samples; ``ll``, the log-likelihood per step of the
first ``valid_sequences`` validation tunes by a quick AIS (few temperatures, so it flatters every
model a little, but the same seed each epoch makes epochs comparable), for runs that aim at
the paper's LL.

Files in ``--out``: ``config.json`` + ``weights.safetensors`` (the best model by the validation
measure, loadable with :func:`~composer_app.ml.checkpoint.load_checkpoint`) and
``resume.safetensors`` (model, optimizer and RNG states plus the position in the run, one
atomic file) from which ``--resume`` continues bit-exactly.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shlex
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from composer_app.ml.checkpoint import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    CheckpointError,
    atomic_write_bytes,
    check_sizes,
    check_state,
    load_checkpoint,
    read_config,
    save_checkpoint,
    tensors_from_bytes,
    tensors_to_bytes,
)
from composer_app.ml.data import (
    ESTIMATED_KEY_NORMALIZATION,
    DataError,
    count_frames,
    load_data_file,
    load_midi_folder,
    mean_pitch,
    transpose_sequences,
)
from composer_app.ml.options import finite_number, whole_number
from composer_app.ml.rnnrbm import MAX_STEP_BEATS, ConfigError, RnnRbm, RnnRbmConfig

RESUME_NAME = "resume.safetensors"
RUN_FILES = (CONFIG_NAME, WEIGHTS_NAME, RESUME_NAME)  # a folder holding any of these holds a run

MAX_COUNT = 100_000  # the largest size or count an option takes (units, windows, steps, epochs)
MAX_THREADS = 256  # more threads than any CPU offers; far more crash torch
MAX_SHIFT = 127  # semitones: a larger transposition leaves the MIDI range
MAX_PARAMETERS = 1_000_000_000  # 4 GB of float32 weights, 16 GB with gradients and Adam's moments

# Ranges of the numeric settings, checked on the command line and in TrainSettings (which a
# resume file also goes through): whole numbers low..high ...
_INT_RANGES: dict[str, tuple[int, int]] = {
    "epochs": (1, MAX_COUNT),
    "decay_patience": (1, MAX_COUNT),
    "patience": (1, MAX_COUNT),
    "batch_size": (1, MAX_COUNT),
    "window_steps": (1, MAX_COUNT),
    "cd_steps": (1, MAX_COUNT),
    "valid_gibbs_steps": (1, MAX_COUNT),
    "valid_sequences": (0, MAX_COUNT),
    "valid_ais_temperatures": (1, MAX_COUNT),
    "valid_ais_chains": (1, 1000),
    "seed": (0, 2**63 - 1),
    "threads": (1, MAX_THREADS),
    "stop_after_batches": (0, 2**63 - 1),
}
# ... and finite numbers low..high (low itself excluded where the flag says so).
_FLOAT_RANGES: dict[str, tuple[float, float, bool]] = {
    "lr": (0.0, 10.0, True),
    "lr_decay": (0.0, 1.0, True),  # 1: no decay
    "min_lr": (0.0, 10.0, False),
    "clip_norm": (0.0, 1e6, False),  # 0: no clipping
    "weight_decay": (0.0, 10.0, False),
    "max_minutes": (0.0, 1e7, False),  # 0: no limit
}


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite cost or gradient, a bad resume file, bad data)."""


@dataclass
class TrainSettings:
    """Every setting of a training run (stored in the checkpoint's ``training`` field)."""

    optimizer: str = "adam"  # "adam" or "sgd" (plain SGD, lr 0.001 in the reference)
    lr: float = 1e-3
    lr_decay: float = 0.5  # multiply lr by this after `decay_patience` epochs without progress
    decay_patience: int = 5
    min_lr: float = 1e-5
    epochs: int = 200
    patience: int = 20  # early stopping: epochs without a better validation accuracy
    batch_size: int = 64  # windows per batch
    window_steps: int = 100
    cd_steps: int = 15
    clip_norm: float = 10.0  # max L2 norm of the whole gradient; 0 = no clipping
    transpose: list[int] = field(default_factory=lambda: [0])
    valid_gibbs_steps: int = 10
    valid_measure: str = "acc"  # "acc": sampled frame accuracy; "ll": quick-AIS log-likelihood
    valid_sequences: int = 0  # validate on the first N validation tunes (0: all)
    valid_ais_temperatures: int = 100  # for valid_measure "ll" (fixed seed)
    valid_ais_chains: int = 2  # AIS chains per frame for valid_measure "ll"
    # Decoupled weight decay (AdamW; plain L2 for SGD) on the five weight matrices, not the
    # biases: w <- w - lr * weight_decay * w each update. 0 = none (the paper).
    weight_decay: float = 0.0
    seed: int = 0
    threads: int = 2
    chain_start: str = "data"  # where CD chains start: "data" (the paper) or "silence"
    init_from: str = ""  # a checkpoint folder whose weights start the run (fine-tuning)
    max_minutes: float = 0.0  # stop (as finished) after the epoch that passes this; 0 = no limit
    stop_after_batches: int = 0  # testing aid: stop as if interrupted after this many batches

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "sgd"):
            raise TrainingError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        for name, (low, high) in _INT_RANGES.items():
            value = getattr(self, name)
            if not _is_int(value) or not low <= value <= high:
                raise TrainingError(f"{name} must be a whole number in {low}..{high}, got {value!r}")
        for name, (low, high, low_open) in _FLOAT_RANGES.items():
            value = getattr(self, name)
            if not _is_number(value) or not _in_range(float(value), low, high, low_open):
                raise TrainingError(
                    f"{name} must be a number {_range_text(low, high, low_open)}, got {value!r}"
                )
        if self.valid_measure not in ("acc", "ll"):
            raise TrainingError(f"valid_measure must be 'acc' or 'll', got {self.valid_measure!r}")
        if self.chain_start not in ("data", "silence"):
            raise TrainingError(f"chain_start must be 'data' or 'silence', got {self.chain_start!r}")
        if (
            not isinstance(self.transpose, list)
            or not self.transpose
            or not all(_is_int(x) and abs(x) <= MAX_SHIFT for x in self.transpose)
        ):
            raise TrainingError(
                f"transpose must be a list of shifts in -{MAX_SHIFT}..{MAX_SHIFT}, got {self.transpose!r}"
            )
        if not isinstance(self.init_from, str):
            raise TrainingError(f"init_from must be a folder name, got {self.init_from!r}")


# The run state a resume file holds besides the tensors; from the fifth on, Trainer attributes.
_RESUME_KEYS = (
    "config", "settings", "param_groups", "opt_scalars",
    "epoch", "batch", "epoch_rng_state", "epoch_cost_sum", "epoch_frames", "best_accuracy",
    "best_epoch", "bad_epochs", "stale_epochs", "history", "train_time_s", "finished",
)  # fmt: skip


def _same_kind(saved: object, want: object) -> bool:
    """Whether an optimizer hyperparameter read back has the kind of the one this torch uses."""
    if want is None or isinstance(want, bool):
        return saved is None or isinstance(saved, bool)
    if isinstance(want, int | float):
        return _is_number(saved)
    if isinstance(want, list | tuple):
        return (
            isinstance(saved, list | tuple)
            and len(saved) == len(want)
            and all(_is_number(x) for x in saved)
        )
    return True


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _in_range(value: float, low: float, high: float, low_open: bool) -> bool:
    return (low < value if low_open else low <= value) and value <= high


def _range_text(low: float, high: float, low_open: bool) -> str:
    return f"{'>' if low_open else '>='} {low:g} and <= {high:g}"


@dataclass
class EpochResult:
    """What one epoch did. Units: cost and LL in nats per frame; accuracy 0..1; time in seconds.

    ``valid_accuracy`` is the validation score: a frame accuracy (measure ``acc``) or a
    log-likelihood per step (measure ``ll``), higher is better either way. ``time_s`` is the
    training time of the epoch's batches (all of them, across a ``--resume``), so
    ``frames / time_s`` is the frames/s the batch bar shows; ``valid_time_s`` is the validation
    after them. (A history written before ``valid_time_s`` was kept has none, and its
    ``time_s`` includes the validation.)
    """

    epoch: int
    train_cost: float
    valid_accuracy: float
    lr: float
    frames: int
    time_s: float
    valid_time_s: float = 0.0


def make_windows(
    sequences: Sequence[np.ndarray], window_steps: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Cut sequences into windows of at most ``window_steps`` frames at a random phase.

    Shapes: ``(T, P)`` in; windows ``(<= window_steps, P)`` out, views of the input.
    """
    windows = []
    for seq in sequences:
        n = len(seq)
        if n == 0:
            continue
        phase = int(rng.integers(0, window_steps)) if n > window_steps else 0
        starts = [0] if phase == 0 else [0, phase]
        starts += list(range(phase + window_steps if phase else window_steps, n, window_steps))
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else n
            windows.append(seq[start:end])
    return windows


def pad_batch(windows: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack windows into a zero-padded batch with a mask.

    Shapes: returns ``v (B, T_max, P)`` float32 and ``mask (B, T_max)`` float32 (1 = real frame).
    """
    t_max = max(len(w) for w in windows)
    v = np.zeros((len(windows), t_max, windows[0].shape[1]), dtype=np.float32)
    mask = np.zeros((len(windows), t_max), dtype=np.float32)
    for i, w in enumerate(windows):
        v[i, : len(w)] = w
        mask[i, : len(w)] = 1.0
    return torch.from_numpy(v), torch.from_numpy(mask)


def frame_accuracy(
    model: RnnRbm,
    sequences: Sequence[np.ndarray],
    gibbs_steps: int,
    generator: torch.Generator | None = None,
    batch_size: int = 256,
    chain_start: str = "silence",
) -> float:
    """Cheap frame accuracy ``sum TP / sum (TP + FP + FN)`` (Bay et al. 2009).

    Each frame is predicted from the true history by a ``gibbs_steps`` Gibbs chain of its
    conditional RBM started at the all-off frame (``chain_start="silence"``) or at the true
    previous frame (``"previous"``), and TP, FP, FN are the expected counts of that sample
    (the last half-step in expectation): one chain per frame, the measure of
    :mod:`composer_app.ml.evaluate` with fewer steps and samples.
    """
    tp = fp = fn = 0.0
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = [sequences[i] for i in order[start : start + batch_size] if len(sequences[i])]
            if not chunk:
                continue
            v, mask = pad_batch(chunk)
            bv_t, bh_t = model.recurrence(v)
            real = mask.bool()
            start_frames = None
            if chain_start == "previous":
                start_frames = torch.cat([torch.zeros_like(v[:, :1]), v[:, :-1]], dim=1)[real]
            p = model.predict_probabilities(
                bv_t[real], bh_t[real], gibbs_steps, generator=generator, start=start_frames
            )
            truth = v[real]
            tp += float((p * truth).sum())  # E[sample on and truth on]
            fp += float((p * (1 - truth)).sum())
            fn += float(((1 - p) * truth).sum())
    total = tp + fp + fn
    return tp / total if total else 1.0


def validation_log_likelihood(
    model: RnnRbm,
    sequences: Sequence[np.ndarray],
    n_temperatures: int,
    seed: int = 0,
    n_chains: int = 2,
) -> float:
    """Quick LL per step (nats) of ``sequences``: AIS with ``n_temperatures`` x ``n_chains``.

    Too few temperatures bias log Z low and so flatter the result; with the same ``seed``
    every epoch the estimates of successive epochs are comparable, which is what early
    stopping needs. :mod:`composer_app.ml.evaluate` reports the careful figure.
    """
    from composer_app.ml.evaluate import frame_biases, log_likelihood

    biases = frame_biases(model, [s for s in sequences if len(s)])
    result = log_likelihood(
        model.W.detach(), biases, n_temperatures=n_temperatures, n_chains=n_chains, n_runs=1,
        seed=seed,
    )  # fmt: skip
    return result.mean


def _read_resume_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise CheckpointError(f"nothing to resume: missing file {path}") from exc
    except OSError as exc:  # a folder in its place, no permission
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from exc


class Trainer:
    """One training run: model, optimizer, RNG streams and the position in the run."""

    def __init__(
        self,
        config: RnnRbmConfig,
        settings: TrainSettings,
        train: Sequence[np.ndarray],
        valid: Sequence[np.ndarray],
        load_start: bool = True,
    ) -> None:
        """``load_start``: load ``settings.init_from``'s weights (False when a resume file
        brings the weights: the starting model may be gone by then)."""
        self.settings = settings
        self.config = config
        self.train = list(train)
        self.valid = list(valid)
        if settings.valid_sequences:
            self.valid = self.valid[: settings.valid_sequences]
        torch.set_num_threads(settings.threads)
        self.torch_rng = torch.Generator().manual_seed(settings.seed)
        start = None
        if settings.init_from and load_start:  # first: it checks sizes before building
            _, start = load_checkpoint(settings.init_from)
        if config.n_params > MAX_PARAMETERS:
            raise TrainingError(
                f"a model of {config.n_params:,} parameters (n_hidden {config.n_hidden}, "
                f"n_recurrent {config.n_recurrent}) is too large; at most {MAX_PARAMETERS:,}"
            )
        try:
            self.model = RnnRbm(config, generator=self.torch_rng)
        except (RuntimeError, MemoryError) as exc:  # allocation failed
            raise TrainingError(
                f"cannot build a model of {config.n_params:,} parameters: {exc}"
            ) from exc
        if start is not None:
            check_state(self.model, start.state_dict(), settings.init_from)
            self.model.load_state_dict(start.state_dict())
        weights = [p for name, p in self.model.named_parameters() if name.startswith("W")]
        biases = [p for name, p in self.model.named_parameters() if not name.startswith("W")]
        groups = [
            {"params": weights, "weight_decay": settings.weight_decay},
            {"params": biases, "weight_decay": 0.0},
        ]
        if settings.optimizer == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.AdamW(groups, lr=settings.lr)
        else:
            self.optimizer = torch.optim.SGD(groups, lr=settings.lr)
        self.np_rng = np.random.Generator(np.random.PCG64(settings.seed))
        self.epoch = 0  # epochs completed
        self.batch = 0  # batches completed within the current epoch
        self.epoch_rng_state: dict[str, Any] = self.np_rng.bit_generator.state
        self.epoch_cost_sum = 0.0
        self.epoch_frames = 0
        self.epoch_time_s = 0.0  # training time of the current epoch's batches so far
        self.best_accuracy = -math.inf  # best validation score so far (acc or LL)
        self.best_epoch = 0
        self.bad_epochs = 0
        self.stale_epochs = 0  # since the last lr decay or improvement
        self.history: list[dict[str, Any]] = []
        self.train_time_s = 0.0
        self.stop_requested = False
        self.finished = False
        self.data_digest = ""  # of the data the run began with (see data_digest); "" unknown

    # --- state ---------------------------------------------------------------------------

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def state_bytes(self) -> bytes:
        """The whole run as one safetensors file (tensors + JSON metadata)."""
        tensors: dict[str, torch.Tensor] = {
            f"model.{k}": v for k, v in self.model.state_dict().items()
        }
        opt_state = self.optimizer.state_dict()
        opt_scalars: dict[str, dict[str, Any]] = {}
        for index, entry in opt_state["state"].items():
            for key, value in entry.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"opt.{index}.{key}"] = value
                else:
                    opt_scalars.setdefault(str(index), {})[key] = value
        tensors["rng.torch"] = self.torch_rng.get_state()
        meta = {
            "config": self.config.to_dict(),
            "settings": asdict(self.settings),
            "param_groups": opt_state["param_groups"],
            "opt_scalars": opt_scalars,
            "epoch": self.epoch,
            "batch": self.batch,
            "epoch_rng_state": self.epoch_rng_state,
            "epoch_cost_sum": self.epoch_cost_sum,
            "epoch_frames": self.epoch_frames,
            "epoch_time_s": self.epoch_time_s,
            "best_accuracy": self.best_accuracy,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "stale_epochs": self.stale_epochs,
            "history": self.history,
            "train_time_s": self.train_time_s,
            "finished": self.finished,
            "data_digest": self.data_digest,
        }
        return tensors_to_bytes(tensors, {"state": json.dumps(meta)})

    def save_resume(self, directory: Path) -> None:
        """Write ``resume.safetensors`` atomically; raises :class:`CheckpointError` if it fails.

        A failed write (a full disk, no permission) leaves no partial file and keeps the
        resume file written before it.
        """
        path = directory / RESUME_NAME
        data = self.state_bytes()
        try:
            atomic_write_bytes(path, data)
        except OSError as exc:
            raise CheckpointError(
                f"cannot write {path}: {exc.strerror or exc}; the file there before (if any) "
                "is unchanged"
            ) from exc

    @classmethod
    def from_resume(
        cls,
        directory: Path,
        train: Sequence[np.ndarray],
        valid: Sequence[np.ndarray],
        settings_override: dict[str, Any] | None = None,
    ) -> Trainer:
        """Rebuild a run from ``resume.safetensors``; raises :class:`CheckpointError`.

        Every part of the state is checked (keys, types, sizes before anything is allocated,
        optimizer and RNG states), so a damaged or edited file is named, not run.
        """
        path = directory / RESUME_NAME
        data = _read_resume_bytes(path)
        tensors = tensors_from_bytes(data, str(path))
        meta = cls.resume_state(directory)
        try:
            return cls._restore(path, tensors, meta, train, valid, settings_override or {})
        except CheckpointError:
            raise
        except (TrainingError, ConfigError) as exc:
            raise CheckpointError(f"{path}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - an edited state can fail anywhere
            raise CheckpointError(
                f"{path} holds a damaged run state: {type(exc).__name__}: {exc}"
            ) from exc

    @staticmethod
    def resume_state(directory: Path) -> Any:
        """The run state saved in ``directory``'s resume file (its JSON: settings, config,
        counters), unchecked; raises :class:`CheckpointError` if there is none to read."""
        path = directory / RESUME_NAME
        _read_resume_bytes(path)  # the clear messages for a missing or unreadable file
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                return json.loads(handle.metadata()["state"])
        except Exception as exc:  # noqa: BLE001 - any problem with the header
            raise CheckpointError(f"{path} has no readable run state: {exc}") from exc

    @classmethod
    def _restore(
        cls,
        path: Path,
        tensors: dict[str, torch.Tensor],
        meta: Any,
        train: Sequence[np.ndarray],
        valid: Sequence[np.ndarray],
        settings_override: dict[str, Any],
    ) -> Trainer:
        """The body of :meth:`from_resume`, once the file is parsed."""

        def bad(what: str) -> CheckpointError:
            return CheckpointError(f"{path}: {what}; the run state is damaged or was edited")

        if not isinstance(meta, dict):
            raise bad("the run state is not a JSON object")
        missing = [key for key in _RESUME_KEYS if key not in meta]
        if missing:
            raise bad(f"the run state lacks {', '.join(missing)}")
        config = RnnRbmConfig.from_dict(meta["config"])
        if not isinstance(meta["settings"], dict):
            raise bad("'settings' is not a JSON object")
        unknown = sorted(set(meta["settings"]) - {f.name for f in fields(TrainSettings)})
        if unknown:
            raise bad(f"unknown setting(s) {', '.join(map(repr, unknown))}")
        settings = TrainSettings(**{**meta["settings"], **settings_override})
        unexpected = sorted(
            key for key in tensors
            if not (key.startswith(("model.", "opt.")) or key == "rng.torch")
        )  # fmt: skip
        if unexpected:
            raise bad(f"unexpected tensor(s) {', '.join(unexpected)}")
        model_tensors = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        check_sizes(config, model_tensors, str(path))  # before the model is built
        trainer = cls(config, settings, train, valid, load_start=False)
        check_state(trainer.model, model_tensors, str(path))
        trainer.model.load_state_dict(model_tensors, strict=True)
        trainer._restore_optimizer(tensors, meta, bad)
        rng = tensors.get("rng.torch")
        want = trainer.torch_rng.get_state()
        if rng is None or rng.dtype != want.dtype or rng.shape != want.shape:
            raise bad("the tensor 'rng.torch' is missing or is not a torch RNG state")
        trainer.torch_rng.set_state(rng)
        for name in ("epoch", "batch", "epoch_frames", "best_epoch", "bad_epochs", "stale_epochs"):
            if not _is_int(meta[name]) or not 0 <= meta[name] < 2**63:
                raise bad(f"{name!r} is {meta[name]!r}, not a whole number >= 0")
        for name in ("epoch_cost_sum", "train_time_s"):
            if not _is_number(meta[name]):
                raise bad(f"{name!r} is {meta[name]!r}, not a finite number")
        # a resume file written before the epoch's time was kept has none: 0, so the epoch
        # it stopped in counts only the time trained after the resume
        epoch_time_s = meta.get("epoch_time_s", 0.0)
        if not _is_number(epoch_time_s) or epoch_time_s < 0:
            raise bad(f"'epoch_time_s' is {epoch_time_s!r}, not a number of seconds >= 0")
        best = meta["best_accuracy"]
        if not isinstance(best, int | float) or isinstance(best, bool) or math.isnan(best):
            raise bad(f"'best_accuracy' is {best!r}, not a number")
        if not isinstance(meta["finished"], bool):
            raise bad(f"'finished' is {meta['finished']!r}, not true or false")
        history = meta["history"]
        if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
            raise bad("'history' is not a list of epochs")
        if not isinstance(meta["epoch_rng_state"], dict):
            raise bad("'epoch_rng_state' is not a JSON object")
        try:  # _epoch_batches sets it again before drawing anything
            trainer.np_rng.bit_generator.state = meta["epoch_rng_state"]
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise bad(f"'epoch_rng_state' is not a PCG64 state ({exc})") from exc
        for name in _RESUME_KEYS[4:]:
            setattr(trainer, name, meta[name])
        trainer.epoch_time_s = float(epoch_time_s)
        for group in trainer.optimizer.param_groups:
            group["lr"] = meta["param_groups"][0]["lr"]
        return trainer

    def _restore_optimizer(
        self,
        tensors: dict[str, torch.Tensor],
        meta: dict[str, Any],
        bad: Callable[[str], CheckpointError],
    ) -> None:
        """Load the optimizer's hyperparameters and state after checking them against it."""
        fresh = self.optimizer.state_dict()["param_groups"]
        groups = meta["param_groups"]
        if isinstance(groups, list) and len(groups) == 1 and len(fresh) == 2:
            raise CheckpointError(
                f"{RESUME_NAME} in this folder was written by an older version of the app (one "
                "optimizer group, before weight decay of the weights only); it cannot be "
                "resumed: start a new run with --init-from this folder's model instead"
            )
        if not isinstance(groups, list) or len(groups) != len(fresh):
            raise bad(f"'param_groups' does not describe this {self.settings.optimizer} optimizer")
        index_to_param: dict[int, torch.nn.Parameter] = {}
        for saved, want, group in zip(groups, fresh, self.optimizer.param_groups, strict=True):
            if not isinstance(saved, dict) or saved.get("params") != want["params"]:
                raise bad(f"'param_groups' does not describe this {self.settings.optimizer} optimizer")
            for key, value in want.items():
                if key != "params" and key in saved and not _same_kind(saved[key], value):
                    raise bad(f"the optimizer setting {key!r} is {saved[key]!r}")
            index_to_param.update(zip(want["params"], group["params"], strict=True))
        lr = groups[0].get("lr")
        if not _is_number(lr) or not lr > 0:
            raise bad(f"the learning rate is {lr!r}, not a positive number")
        state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if not key.startswith("opt."):
                continue
            _, index_text, name = (key.split(".", 2) + ["", ""])[:3]
            index = int(index_text) if index_text.isdigit() else -1
            if index not in index_to_param:
                raise bad(f"the tensor {key!r} belongs to no parameter")
            param = index_to_param[index]
            if name == "step":
                ok = value.numel() == 1 and value.is_floating_point() and float(value) >= 0
            else:
                ok = value.shape == param.shape and value.dtype == param.dtype
            if not ok:
                raise bad(f"the optimizer tensor {key!r} does not fit its parameter")
            if not bool(torch.isfinite(value).all()):
                raise bad(f"the optimizer tensor {key!r} holds NaN or infinity")
            state.setdefault(index, {})[name] = value
        scalars = meta["opt_scalars"]
        if not isinstance(scalars, dict):
            raise bad("'opt_scalars' is not a JSON object")
        for index_text, entry in scalars.items():
            index = int(index_text) if index_text.isdigit() else -1
            if index not in index_to_param or not isinstance(entry, dict):
                raise bad(f"'opt_scalars' entry {index_text!r} belongs to no parameter")
            for name, value in entry.items():
                if name in state.get(index, {}) or not (value is None or _is_number(value)):
                    raise bad(f"'opt_scalars' entry {index_text!r} has a bad {name!r}")
            state.setdefault(index, {}).update(entry)
        if self.settings.optimizer == "adam":  # AdamW reads all three once a state exists
            needed = {"step", "exp_avg", "exp_avg_sq"}
            if any(g.get("amsgrad") for g in groups):
                needed.add("max_exp_avg_sq")
            for index, entry in state.items():
                if not needed <= set(entry):
                    raise bad(f"the optimizer state of parameter {index} lacks "
                              f"{', '.join(sorted(needed - set(entry)))}")  # fmt: skip
        self.optimizer.load_state_dict({"state": state, "param_groups": groups})

    # --- the loop -------------------------------------------------------------------------

    def _epoch_batches(self) -> list[list[np.ndarray]]:
        self.np_rng.bit_generator.state = self.epoch_rng_state
        windows = make_windows(self.train, self.settings.window_steps, self.np_rng)
        order = self.np_rng.permutation(len(windows))
        size = self.settings.batch_size
        return [[windows[i] for i in order[s : s + size]] for s in range(0, len(order), size)]

    def train_step(self, v: torch.Tensor, mask: torch.Tensor) -> float:
        """One CD-k update; raises :class:`TrainingError` on a non-finite cost or gradient."""
        self.optimizer.zero_grad(set_to_none=True)
        cost = self.model.cost(
            v, mask, self.settings.cd_steps, generator=self.torch_rng,
            chain_start=self.settings.chain_start,
        )  # fmt: skip
        value = float(cost.detach())
        where = f"epoch {self.epoch + 1}, batch {self.batch + 1}"
        if not math.isfinite(value):
            raise TrainingError(f"non-finite cost ({value}) at {where}; no checkpoint written")
        cost.backward()
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
        if not math.isfinite(norm):
            raise TrainingError(f"non-finite gradient at {where}; no checkpoint written")
        if self.settings.clip_norm > 0 and norm > self.settings.clip_norm:
            for g in grads:
                g.mul_(self.settings.clip_norm / norm)
        self.optimizer.step()
        return value

    def run(
        self,
        out_dir: Path,
        progress: Progress | None = None,
    ) -> list[EpochResult]:
        """Train until ``epochs``, early stopping or a stop request; checkpoints every epoch."""
        results: list[EpochResult] = []
        s = self.settings
        batches_this_call = 0
        t_call = time.perf_counter()
        while not self.finished and self.epoch < s.epochs:
            batches = self._epoch_batches()
            measured = self._measured_epoch_s()
            for index in range(self.batch, len(batches)):
                # training time: batching and the update, kept across a resume like the
                # frames, so frames/s of the bar and of the epoch line are one measure
                t0 = time.perf_counter()
                v, mask = pad_batch(batches[index])
                value = self.train_step(v, mask)
                took_s = time.perf_counter() - t0
                self.train_time_s += took_s
                self.epoch_time_s += took_s
                n = int(mask.sum())
                self.epoch_cost_sum += value * n
                self.epoch_frames += n
                self.batch = index + 1
                batches_this_call += 1
                if progress is not None:
                    eta_s, eta_of = self._eta(len(batches), time.perf_counter() - t_call, measured)
                    progress.batch(
                        self.epoch + 1, s.epochs, self.batch, len(batches),
                        self.epoch_frames / max(self.epoch_time_s, 1e-9),
                        self.epoch_cost_sum / self.epoch_frames, self.best_accuracy, eta_s, eta_of,
                    )  # fmt: skip
                if self.stop_requested or (
                    s.stop_after_batches and batches_this_call >= s.stop_after_batches
                ):
                    self.save_resume(out_dir)
                    return results
            # end of epoch: validate, keep the best, decay lr, maybe stop early
            t_valid = time.perf_counter()
            if s.valid_measure == "ll":
                accuracy = validation_log_likelihood(
                    self.model, self.valid, s.valid_ais_temperatures, seed=s.seed,
                    n_chains=s.valid_ais_chains,
                )  # fmt: skip
            else:
                accuracy = frame_accuracy(
                    self.model, self.valid, s.valid_gibbs_steps, self.torch_rng,
                    chain_start=self.config.chain_start,
                )  # fmt: skip
            valid_time_s = time.perf_counter() - t_valid
            self.epoch += 1
            result = EpochResult(
                self.epoch, self.epoch_cost_sum / max(self.epoch_frames, 1), accuracy, self.lr,
                self.epoch_frames, self.epoch_time_s, valid_time_s,
            )  # fmt: skip
            results.append(result)
            self.history.append(asdict(result))
            if accuracy > self.best_accuracy:
                self.best_accuracy, self.best_epoch = accuracy, self.epoch
                self.bad_epochs = self.stale_epochs = 0
                self._save_best(out_dir)
            else:
                self.bad_epochs += 1
                self.stale_epochs += 1
                if self.stale_epochs >= s.decay_patience and s.lr_decay < 1:
                    for group in self.optimizer.param_groups:
                        group["lr"] = max(group["lr"] * s.lr_decay, min(s.min_lr, group["lr"]))
                    self.stale_epochs = 0
                if self.bad_epochs >= s.patience:
                    self.finished = True
            if self.epoch >= s.epochs:
                self.finished = True
            if s.max_minutes and time.perf_counter() - t_call >= 60.0 * s.max_minutes:
                self.finished = True
            self.batch = 0
            self.epoch_cost_sum, self.epoch_frames, self.epoch_time_s = 0.0, 0, 0.0
            self.epoch_rng_state = self.np_rng.bit_generator.state
            self.save_resume(out_dir)
            if progress is not None:
                progress.epoch(result, self.best_accuracy, self.best_epoch)
            if self.stop_requested:
                return results
        return results

    def _measured_epoch_s(self) -> tuple[float, float] | None:
        """The mean time of the epochs done (validation included) and of their validation,
        from the history; None before an epoch is done. Units: seconds."""
        measured = [h for h in self.history if _is_number(h.get("time_s"))]
        if not measured:
            return None
        valid = [h["valid_time_s"] for h in measured if _is_number(h.get("valid_time_s"))]
        # an entry without valid_time_s (an older run's) timed its validation in time_s
        epoch_s = sum(h["time_s"] + h.get("valid_time_s", 0.0) for h in measured) / len(measured)
        return epoch_s, sum(valid) / len(valid) if valid else 0.0

    def _eta(
        self, batches: int, call_s: float, measured: tuple[float, float] | None
    ) -> tuple[float, str]:
        """The time left and what it covers, at a batch of an epoch of ``batches`` batches,
        ``call_s`` into this call of :meth:`run` (from which ``--max-minutes`` counts), with
        the ``measured`` epoch and validation times (:meth:`_measured_epoch_s`).

        Until an epoch has been measured the estimate covers this epoch's batches only:
        ``"epoch"``. After, the rest of the run: this epoch's batches and validation plus each
        later epoch as long as the measured ones, up to the epoch that passes ``max_minutes``:
        ``"run"``, or ``"run_at_most"`` where early stopping can end it sooner. Units: seconds.
        """
        s = self.settings
        train_left_s = self.epoch_time_s / max(self.batch, 1) * (batches - self.batch)
        if measured is None:
            return train_left_s, "epoch"
        epoch_s, valid_s = measured
        limit_left_s = 60.0 * s.max_minutes - call_s if s.max_minutes else None
        eta_s = run_eta_s(train_left_s + valid_s, epoch_s, s.epochs - self.epoch - 1, limit_left_s)
        # early stopping ends the run after patience - bad_epochs epochs without progress
        early = s.patience - self.bad_epochs < s.epochs - self.epoch
        return eta_s, "run_at_most" if early else "run"

    def _save_best(self, out_dir: Path) -> None:
        training = dict(asdict(self.settings))
        s = self.settings
        tunes = f"the first {s.valid_sequences}" if s.valid_sequences else "all"
        if s.valid_measure == "ll":
            measure = {
                "valid_log_likelihood": round(self.best_accuracy, 6),
                "valid_method": f"LL per step of {tunes} validation tunes, AIS with "
                f"{s.valid_ais_temperatures} temperatures x {s.valid_ais_chains} chains "
                f"(seed {s.seed})",
            }
        else:
            measure = {
                "valid_frame_accuracy": round(self.best_accuracy, 6),
                "valid_accuracy_method": f"expected TP/FP/FN of one {s.valid_gibbs_steps}"
                "-step Gibbs sample per frame, started at the "
                + ("true previous" if self.config.chain_start == "previous" else "all-off")
                + f" frame ({tunes} validation tunes)",
            }
        training.pop("valid_frame_accuracy", None)
        training.pop("valid_accuracy_method", None)
        training.update(
            best_epoch=self.best_epoch,
            **measure,
            train_time_s=round(self.train_time_s, 1),
            train_frames_per_epoch=count_frames(self.train),
        )
        training.pop("stop_after_batches", None)
        self.config.training = {**self.config.training, **training}
        save_checkpoint(out_dir, self.config, self.model)


class Progress:
    """A progress line on ``stream``: redrawn in place on a terminal, plain lines otherwise."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0

    def batch(
        self, epoch: int, epochs: int, batch: int, batches: int, frames_per_s: float,
        cost: float, best_accuracy: float, eta_s: float, eta_of: str = "epoch",
    ) -> None:  # fmt: skip
        """Report progress inside an epoch (redrawn at most 5 times a second on a TTY).

        ``eta_s`` covers what ``eta_of`` says (see :meth:`Trainer._eta`): ``"epoch"`` (this
        epoch's batches), ``"run"`` or ``"run_at_most"``. Units: ``frames_per_s`` training
        frames per second of training time; ``eta_s`` seconds.
        """
        if not self.tty:
            return
        now = time.monotonic()
        if now - self._last < 0.2 and batch < batches:
            return
        self._last = now
        acc = _score(best_accuracy) if math.isfinite(best_accuracy) else "-"
        line = (
            f"epoch {epoch}/{epochs} batch {batch}/{batches} {frames_per_s:,.0f} frames/s "
            f"cost {cost:.3f} best valid {acc} {_ETA_LABELS[eta_of]} {_duration_text(eta_s)}"
        )
        self.stream.write("\r" + line[:150].ljust(100))
        self.stream.flush()

    def epoch(self, result: EpochResult, best_accuracy: float, best_epoch: int) -> None:
        """Report a finished epoch on its own line: frames/s of its training time (as the
        batch bar), then that time and the validation's."""
        if self.tty:
            self.stream.write("\r")
        self.stream.write(
            f"epoch {result.epoch}: cost {result.train_cost:.4f} valid "
            f"{_score(result.valid_accuracy)} (best {_score(best_accuracy)} @ {best_epoch}) "
            f"lr {result.lr:.2g} {result.frames / max(result.time_s, 1e-9):,.0f} frames/s "
            f"{result.time_s:.1f} s + valid {result.valid_time_s:.1f} s\n"
        )
        self.stream.flush()


_ETA_LABELS = {"epoch": "epoch ETA", "run": "run ETA", "run_at_most": "run ETA at most"}


def run_eta_s(
    this_epoch_s: float, epoch_s: float, epochs_after: int, limit_left_s: float | None = None
) -> float:
    """The time until a run ends: ``this_epoch_s`` left of this epoch (validation included),
    then ``epochs_after`` epochs of ``epoch_s`` each; with ``limit_left_s`` left of
    ``--max-minutes`` the run ends after the first epoch that passes the limit.

    Units: seconds. E.g. 2 s left, epochs of 3 s, 10 more: 2 + 10 * 3 = 32 s; with 10 s left
    of the limit, 3 more epochs pass it (2 + 3 * 3 = 11 >= 10): 11 s.
    """
    later = epochs_after
    if limit_left_s is not None and epoch_s > 0:
        over_s = limit_left_s - this_epoch_s
        later = 0 if over_s <= 0 else min(epochs_after, math.ceil(over_s / epoch_s))
    return this_epoch_s + max(later, 0) * epoch_s


def _duration_text(seconds: float) -> str:
    """A duration for the progress bar: ``"42 s"``, ``"3 min 05 s"``, ``"2 h 07 min"``."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _score(value: float) -> str:
    """A validation score as text: an accuracy in 0..1 as a percentage, an LL in nats."""
    return f"acc {value:.2%}" if value >= 0 else f"LL {value:.4f}"


# --- command line ----------------------------------------------------------------------------


def _parse_transpose(text: str) -> list[int]:
    """``"0"``, ``"-3,0,2"`` or ``"-5..6"`` -> a list of semitone shifts, each within ±127."""
    try:
        if ".." in text:
            low, high = (int(x) for x in text.split(".."))
            if low > high:
                raise argparse.ArgumentTypeError(
                    f"the range {text!r} is empty (write the lower shift first, e.g. -5..5)"
                )
            ends = [low, high]
        else:
            ends = [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad transposition list {text!r}") from exc
    if not ends:
        raise argparse.ArgumentTypeError("no shift given (0: no transposition)")
    far = [x for x in ends if abs(x) > MAX_SHIFT]
    if far:
        raise argparse.ArgumentTypeError(
            f"a shift of {far[0]} semitones leaves the MIDI range; shifts must be in "
            f"-{MAX_SHIFT}..{MAX_SHIFT}"
        )
    return list(range(ends[0], ends[1] + 1)) if ".." in text else ends


def _int_option(name: str) -> Callable[[str], int]:
    return whole_number(*_INT_RANGES[name])


def _float_option(name: str) -> Callable[[str], float]:
    return finite_number(*_FLOAT_RANGES[name])


_EPILOG = (
    "Exit status: 0 when the run finished; 1 when training failed (a non-finite cost or "
    "gradient); 2 for bad options, data, checkpoints or --out, or a file that could not be "
    "written (nothing is left half-written); 130 when stopped by Ctrl+C (continue with --resume)."
)


class _StoreGiven(argparse.Action):
    """Store an option's value and note in ``given_options`` that the command line gave it
    (a resumed run tells an option left out, which keeps the run's own value, from one given)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        namespace.given_options = {*getattr(namespace, "given_options", ()), self.dest}


# On --resume: options a run may change as it goes on (how long and on how many threads it
# trains), by argument name -> TrainSettings field; every other training option is the run's
# own, and giving it with another value is refused.
_RESUME_CHANGEABLE = {"epochs": "epochs", "patience": "patience", "max_minutes": "max_minutes",
                      "threads": "threads"}  # fmt: skip
# argument name -> where a run keeps it: ("settings" | "config", field)
_RESUME_FIXED: dict[str, tuple[str, str]] = {
    "optimizer": ("settings", "optimizer"), "lr": ("settings", "lr"),
    "lr_decay": ("settings", "lr_decay"), "decay_patience": ("settings", "decay_patience"),
    "batch_size": ("settings", "batch_size"), "window": ("settings", "window_steps"),
    "cd_steps": ("settings", "cd_steps"), "clip": ("settings", "clip_norm"),
    "transpose": ("settings", "transpose"), "valid_gibbs": ("settings", "valid_gibbs_steps"),
    "valid_measure": ("settings", "valid_measure"),
    "valid_sequences": ("settings", "valid_sequences"),
    "valid_ais_temperatures": ("settings", "valid_ais_temperatures"),
    "valid_ais_chains": ("settings", "valid_ais_chains"),
    "weight_decay": ("settings", "weight_decay"), "chain_start": ("settings", "chain_start"),
    "init_from": ("settings", "init_from"), "seed": ("settings", "seed"),
    "hidden": ("config", "n_hidden"), "recurrent": ("config", "n_recurrent"),
    "step_beats": ("config", "step_beats"),
}  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``composer-app train``."""
    d = TrainSettings()
    parser.epilog = _EPILOG
    # every option that takes a value records that it was given (see _StoreGiven)
    parser.register("action", None, _StoreGiven)
    count = whole_number(1, MAX_COUNT)
    parser.add_argument("--data", required=True, type=Path,
                        help="benchmark .json.gz, a paper .pickle, or a folder of MIDI files")
    parser.add_argument("--out", required=True, type=Path,
                        help="checkpoint folder: new or empty (hidden files aside), unless "
                        "--resume or --force")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out with its own settings and data (other "
                        "data or other values of its options are refused, except --epochs, "
                        "--patience, --max-minutes and --threads)")
    parser.add_argument("--force", action="store_true",
                        help="start a new run in an --out folder that already holds a run, a "
                        "model or other files: its config.json, weights.safetensors and "
                        "resume.safetensors are deleted when the new run starts; other files "
                        "are left alone")
    parser.add_argument("--epochs", type=_int_option("epochs"), default=d.epochs)
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default=d.optimizer)
    parser.add_argument("--lr", type=_float_option("lr"), default=d.lr)
    parser.add_argument("--lr-decay", type=_float_option("lr_decay"), default=d.lr_decay,
                        help="multiply lr by this after --decay-patience bad epochs (1: never)")
    parser.add_argument("--decay-patience", type=_int_option("decay_patience"),
                        default=d.decay_patience)
    parser.add_argument("--patience", type=_int_option("patience"), default=d.patience,
                        help="early stopping")
    parser.add_argument("--batch-size", type=_int_option("batch_size"), default=d.batch_size,
                        help="windows per batch")
    parser.add_argument("--window", type=_int_option("window_steps"), default=d.window_steps,
                        help="frames per window")
    parser.add_argument("--cd-steps", type=_int_option("cd_steps"), default=d.cd_steps)
    parser.add_argument("--clip", type=_float_option("clip_norm"), default=d.clip_norm,
                        help="gradient norm clip (0: none)")
    parser.add_argument("--hidden", type=count, default=150)
    parser.add_argument("--recurrent", type=count, default=100)
    parser.add_argument("--step-beats", type=finite_number(0.0, MAX_STEP_BEATS, low_open=True),
                        default=None,
                        help="frame length in beats. A MIDI folder is sampled at this step. A "
                        "benchmark .json.gz or .pickle file carries no resolution and is not "
                        "resampled: this declares the step its frames were sampled at (default, "
                        "guessed from the file name: 1.0 if it contains 'jsb', for JSB Chorales, "
                        "else 0.5, for Nottingham, MuseData and Piano-midi.de)")
    parser.add_argument("--transpose", type=_parse_transpose, default=d.transpose,
                        help="augmentation shifts, e.g. -5..6 (default 0: none)")
    parser.add_argument("--normalize-key", action="store_true",
                        help="MIDI folders: transpose every piece to C major / C minor")
    parser.add_argument("--valid-gibbs", type=_int_option("valid_gibbs_steps"),
                        default=d.valid_gibbs_steps)
    parser.add_argument("--valid-measure", choices=("acc", "ll"), default=d.valid_measure,
                        help="validation score: sampled frame accuracy, or LL by a quick AIS")
    parser.add_argument("--valid-sequences", type=_int_option("valid_sequences"),
                        default=d.valid_sequences,
                        help="validate on the first N validation tunes (0: all)")
    parser.add_argument("--valid-ais-temperatures", type=_int_option("valid_ais_temperatures"),
                        default=d.valid_ais_temperatures, help="AIS temperatures for --valid-measure ll")
    parser.add_argument("--valid-ais-chains", type=_int_option("valid_ais_chains"),
                        default=d.valid_ais_chains, help="AIS chains per frame for --valid-measure ll")
    parser.add_argument("--weight-decay", type=_float_option("weight_decay"),
                        default=d.weight_decay,
                        help="decoupled weight decay of the weight matrices (0: none)")
    parser.add_argument("--chain-start", choices=("data", "silence"), default=d.chain_start,
                        help="where CD chains start (data: the paper)")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="start from this checkpoint's weights (and sizes)")
    parser.add_argument("--max-minutes", type=_float_option("max_minutes"), default=0.0,
                        help="stop after the epoch that passes this wall time (0: no limit)")
    parser.add_argument("--seed", type=_int_option("seed"), default=d.seed)
    parser.add_argument("--threads", type=_int_option("threads"), default=d.threads,
                        help=f"CPU threads (1..{MAX_THREADS})")


def load_training_data(
    path: Path,
    step_beats: float,
    read_score: Callable[[Path], Any] | None,
    normalize_key: bool,
    seed: int,
) -> tuple[dict[str, list[np.ndarray]], list[tuple[Path, str]], str]:
    """Splits, skipped MIDI files and the key normalisation the data carry."""
    if path.is_dir():
        if read_score is None:
            raise DataError("reading a MIDI folder needs a MIDI reader (run via composer-app)")
        sequences, skipped = load_midi_folder(
            path, read_score, step_beats, normalize_key=normalize_key
        )
        if len(sequences) < 2:
            raise DataError(f"{path}: fewer than two usable MIDI files")
        order = np.random.Generator(np.random.PCG64(seed)).permutation(len(sequences))
        n_valid = max(1, len(sequences) // 10)
        splits = {
            "train": [sequences[i] for i in order[n_valid:]],
            "valid": [sequences[i] for i in order[:n_valid]],
            "test": [],
        }
        # moved by each piece's estimated key (load_midi_folder), not by a signature: the
        # app moves seeds for such a model the same way (see core.keys.transposition_key)
        return splits, skipped, ESTIMATED_KEY_NORMALIZATION if normalize_key else "none"
    return load_data_file(path), [], "C major/C minor"  # a benchmark file or the paper's pickle


def _step_of(data: Path, given_beats: float | None) -> tuple[float, str]:
    """The frame length of a new run's data and where it comes from: ``"--step-beats"``, or
    a guess from the name (JSB Chorales are sampled every quarter note, the other benchmark
    files every eighth note), which the data themselves cannot tell. Units: beats."""
    if given_beats is not None:
        return given_beats, "--step-beats"
    if "jsb" in data.name.split(".")[0].lower():
        return 1.0, f"guessed from 'jsb' in the name {data.name!r}"
    return 0.5, f"guessed from the name {data.name!r}"


_NOTE_VALUES = {4.0: "a whole note", 2.0: "a half note", 1.0: "a quarter note",
                0.5: "an eighth note", 0.25: "a sixteenth note",
                0.125: "a thirty-second note"}  # fmt: skip


def _step_text(data: Path, step_beats: float, source: str) -> str:
    """The line that tells which frame length a new run uses and why. Units: beats."""
    note = _NOTE_VALUES.get(step_beats)
    frames = f"frames of {step_beats:g} beat{'' if step_beats == 1 else 's'}" + (
        f" ({note})" if note else ""
    )
    if data.is_dir():
        how = "--step-beats" if source == "--step-beats" else (
            f"the default for a folder named {data.name!r}: 1 beat when the name contains "
            "'jsb', else 0.5; --step-beats sets it"
        )  # fmt: skip
        return f"{frames}: the MIDI files are sampled at this step ({how})"
    if source == "--step-beats":
        return (
            f"{frames}, as --step-beats declares: the step {data.name}'s frames were sampled at "
            "(a benchmark file is not resampled; a wrong step makes the model play too fast or "
            "too slow)"
        )
    if step_beats == 1.0:
        return (
            f"{frames}, as the JSB Chorales file is sampled ({source}); give --step-beats 0.5 "
            "if these are Nottingham, MuseData or Piano-midi.de (sampled every eighth note)"
        )
    return (
        f"{frames}, as the Nottingham, MuseData and Piano-midi.de files are sampled ({source}); "
        "give --step-beats 1.0 if these are JSB Chorales (sampled every quarter note)"
    )


def out_problem(out: Path, resume: bool, force: bool) -> str | None:
    """Why ``out`` cannot take a run (checked before any data is read), or None.

    A file, a device or a path under a file is refused; so is a folder that already holds a
    run or a model, or other files (hidden ones, whose names start with ".", aside: a file
    manager's, or a run's own temporary files), unless the run is resumed or ``force`` is given.
    """
    try:
        if out.exists() or out.is_symlink():
            if not out.is_dir():
                return f"--out {out} is not a folder"
            if resume or force:
                return None
            held = [name for name in RUN_FILES if (out / name).exists()]
            if held:
                return (
                    f"--out {out} already holds a run or a model ({', '.join(held)}); continue "
                    "it with --resume, or give --force to start a new run there and overwrite it"
                )
            others = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
            if others:
                more = f" and {len(others) - 3} more" if len(others) > 3 else ""
                shown = ", ".join(others[:3]) + more
                return (
                    f"--out {out} is not empty (it holds {shown}); give a new or empty folder "
                    "for the run, or --force to write the run there beside them (they are left "
                    "alone)"
                )
            return None
        for parent in out.parents:
            if parent.exists():
                return None if parent.is_dir() else f"--out {out}: {parent} is not a folder"
    except OSError as exc:  # a folder above without search permission
        return f"cannot use --out {out}: {exc.strerror or exc}"
    return None


def prepare_out(out: Path, room_bytes: int = 0) -> None:
    """Create ``out`` and check that files can be made in it and that ``room_bytes`` fit
    (written and synced, then removed: an empty probe passes on a full disk, which would
    then be found only at the first checkpoint, an epoch later). Raises OSError if not."""
    out.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=out)
    try:
        chunk = bytes(min(room_bytes, 1 << 20))
        left = room_bytes
        while left > 0:
            left -= os.write(fd, chunk[:left])
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(probe)


def run(args: argparse.Namespace) -> int:
    """Run ``composer-app train``; returns the exit status (see ``_EPILOG``)."""
    out: Path = args.out

    def fail(message: str) -> int:
        print(f"error: {message}", file=sys.stderr)
        return 2

    problem = out_problem(out, args.resume, getattr(args, "force", False))
    if problem:
        return fail(problem)
    name = args.data.name.split(".")[0]
    step_beats, step_source = _step_of(args.data, args.step_beats)
    given = set(getattr(args, "given_options", ()))
    transpose, seed, normalize_key = list(args.transpose), args.seed, args.normalize_key
    state: Any = None
    overrides: dict[str, Any] = {}
    if args.resume:
        # The run goes on with its own settings, and its data are prepared as it began (step,
        # transposition, seed, key normalisation), whatever this command line leaves out.
        try:
            state = Trainer.resume_state(out)
        except CheckpointError as exc:
            return fail(str(exc))
        try:
            saved, saved_config = state["settings"], state["config"]
            step_beats = float(saved_config.get("step_beats", step_beats))
            transpose, seed = list(saved.get("transpose", transpose)), saved.get("seed", seed)
            normalize_key = saved_config.get("key_normalization", "none") != "none"
            overrides = {
                field_name: getattr(args, name)
                for name, field_name in _RESUME_CHANGEABLE.items()
                # --max-minutes given again means that long again, even the same number
                if name in given
                and (getattr(args, name) != saved.get(field_name) or name == "max_minutes")
            }
            changes = [
                f"{_option(name)} {_shown(getattr(args, name))} (the run's: "
                f"{_shown(saved.get(field_name))})"
                for name, field_name in _RESUME_CHANGEABLE.items()
                if field_name in overrides and overrides[field_name] != saved.get(field_name)
            ]
        except (KeyError, TypeError, AttributeError, ValueError):
            changes = []  # a damaged state: Trainer.from_resume below names what is wrong
        if transpose != list(args.transpose) or seed != args.seed:
            changes.append(
                f"the run's own --transpose {','.join(map(str, transpose))}, --seed {seed}"
            )
        if changes:
            print(f"resuming with {', '.join(changes)}", file=sys.stderr)
    try:
        splits, skipped, key_norm = load_training_data(
            args.data, step_beats, getattr(args, "read_score", None), normalize_key, seed
        )
    except DataError as exc:
        return fail(str(exc))
    digest = data_digest(splits)
    began = state.get("data_digest") if isinstance(state, dict) else None
    if isinstance(began, str) and began and began != digest:
        began_config = state.get("config")
        training = began_config.get("training") if isinstance(began_config, dict) else None
        source = training.get("data", "?") if isinstance(training, dict) else "?"
        return fail(
            f"--data {args.data} is not the data this run began with ({source}, as read then): "
            "resume it with those data, or start a new run from this one's model with "
            f"--init-from {out} --out NEW_FOLDER"
        )
    train = splits["train"]
    if not any(np.any(s) for s in train):
        return fail(f"{args.data}: the train split holds no notes; there is nothing to train on")
    if transpose != [0]:
        train = transpose_sequences(train, transpose)
        if not any(np.any(s) for s in train):
            shifts = ",".join(map(str, transpose))
            return fail(
                f"--transpose {shifts} moves every tune's notes off the keyboard; no training "
                "data is left"
            )
    try:
        if args.resume:
            trainer = Trainer.from_resume(out, train, splits["valid"], overrides)
            conflicts = _resume_conflicts(trainer, args, given)  # against the checked state
            if conflicts:
                return fail(
                    f"--resume goes on with the run's own settings, and these differ from "
                    f"them: {'; '.join(conflicts)}. Leave them out, or start a new run from this "
                    f"one's model with --init-from {out} --out NEW_FOLDER"
                )
            if trainer.config.register_pitch is None:  # a run begun before configs had it
                trainer.config.register_pitch = _register_of(splits["train"])
            if overrides.keys() & {"epochs", "patience", "max_minutes"}:
                # a run that had finished goes on if the new limits let it
                limits = trainer.settings
                trainer.finished = (
                    trainer.epoch >= limits.epochs or trainer.bad_epochs >= limits.patience
                )
        else:
            settings = TrainSettings(
                optimizer=args.optimizer, lr=args.lr, lr_decay=args.lr_decay,
                decay_patience=args.decay_patience, epochs=args.epochs, patience=args.patience,
                batch_size=args.batch_size, window_steps=args.window, cd_steps=args.cd_steps,
                clip_norm=args.clip, transpose=list(args.transpose),
                valid_gibbs_steps=args.valid_gibbs, seed=args.seed, threads=args.threads,
                max_minutes=args.max_minutes, chain_start=args.chain_start,
                valid_measure=args.valid_measure, valid_sequences=args.valid_sequences,
                valid_ais_temperatures=args.valid_ais_temperatures,
                valid_ais_chains=args.valid_ais_chains, weight_decay=args.weight_decay,
                init_from=str(args.init_from or ""),
            )  # fmt: skip
            hidden, recurrent = args.hidden, args.recurrent
            if args.init_from is not None:
                start_config = read_config(args.init_from)
                hidden, recurrent = start_config.n_hidden, start_config.n_recurrent
            config = RnnRbmConfig(
                n_hidden=hidden, n_recurrent=recurrent, step_beats=step_beats,
                key_normalization=key_norm, dataset=name, cd_steps=args.cd_steps,
                # Sample where training taught the RBMs to mix: CD chains from the data
                # leave them slow to leave silence, so chains start at the previous frame.
                chain_start="silence" if args.chain_start == "silence" else "previous",
                register_pitch=_register_of(splits["train"]),
                training={
                    "data": str(args.data), "command": _command_line(),
                    "step_beats_source": step_source,
                },
            )  # fmt: skip
            trainer = Trainer(config, settings, train, splits["valid"])
    except (CheckpointError, TrainingError, ValueError) as exc:
        return fail(str(exc))
    trainer.data_digest = digest
    if trainer.finished:
        limits = trainer.settings
        if trainer.epoch >= limits.epochs:
            why = f"it trained its --epochs {limits.epochs}; resume with a larger --epochs"
        elif trainer.bad_epochs >= limits.patience:
            why = (
                f"it stopped early, {trainer.bad_epochs} epochs without a better validation "
                f"score (--patience {limits.patience}); resume with a larger --patience"
            )
        else:
            why = f"it ran for its --max-minutes {limits.max_minutes:g}; resume with --max-minutes"
        print(f"the run in {out} had finished: {why} to train on", file=sys.stderr)
        print(
            f"best valid {_score(trainer.best_accuracy)} at epoch {trainer.best_epoch}; "
            f"model in {out}",
            file=sys.stderr,
        )
        return 0
    if count_frames(trainer.valid) == 0:  # frame_accuracy would score it 100 %
        chosen = trainer.settings.valid_sequences
        which = f"the first {chosen} tunes of the valid split" if chosen else "the valid split"
        return fail(
            f"{args.data}: no validation frames ({which}: {len(trainer.valid)} tunes, 0 frames); "
            "validation picks the best model and stops early, so training needs some"
        )
    try:
        # room for a checkpoint and a resume file, each beside the one it replaces
        prepare_out(out, 2 * (len(trainer.state_bytes()) + 4 * trainer.config.n_params))
        if getattr(args, "force", False) and not args.resume:
            # the old run goes now, not file by file as the new one saves: a new run stopped
            # early must not leave the old model beside its own resume file
            for file_name in RUN_FILES:
                (out / file_name).unlink(missing_ok=True)
    except OSError as exc:
        return fail(f"cannot write in --out {out}: {exc.strerror or exc}")
    if args.resume:
        # "command" stays the run's first; each resume that trains on is added, so the
        # commands that made the model can be given (config.json has them from the next
        # better epoch on, the resume file at once)
        training = trainer.config.training
        resumed = training.get("resumed")
        resumed = list(resumed) if isinstance(resumed, list) else []
        resumed.append(
            {"command": _command_line(), "epoch": trainer.epoch + 1, "batch": trainer.batch + 1}
        )
        trainer.config.training = {**training, "resumed": resumed}
    else:  # a new run's step: given, or guessed from the name (a resumed run keeps its own)
        print(_step_text(args.data, step_beats, step_source), file=sys.stderr)
    print(
        f"training on {len(train)} sequences ({count_frames(train)} frames), validating on "
        f"{len(trainer.valid)}; {trainer.config.n_params} parameters; writing to {out}",
        file=sys.stderr,
    )
    previous_handler = None
    if threading_is_main():
        def _on_sigint(_signum: int, _frame: object) -> None:
            trainer.stop_requested = True
            print("\nstopping after this batch (Ctrl+C again to abort)", file=sys.stderr)
            signal.signal(signal.SIGINT, signal.default_int_handler)

        previous_handler = signal.signal(signal.SIGINT, _on_sigint)
    status = 0
    try:
        trainer.run(out, Progress())
    except TrainingError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        status = 1
    except CheckpointError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        # a file that could not be written is status 2, as everywhere in the app; a model
        # that cannot be saved (non-finite weights) is a failed run
        status = 2 if isinstance(exc.__cause__, OSError) else 1
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if status != 0:
        return status
    if trainer.stop_requested and not trainer.finished:
        print(f"stopped; continue with --resume --out {out}", file=sys.stderr)
        return 130
    print(
        f"best valid {_score(trainer.best_accuracy)} at epoch "
        f"{trainer.best_epoch}; model in {out}",
        file=sys.stderr,
    )
    return status


def _resume_conflicts(trainer: Trainer, args: argparse.Namespace, given: set[str]) -> list[str]:
    """The options this command line gives that a resumed run cannot take: each named with
    the run's own value, e.g. ``--lr 0.01 (the run's: 0.001)``."""
    conflicts = []
    for name, (where, field_name) in _RESUME_FIXED.items():
        if name not in given:
            continue
        if name in ("hidden", "recurrent") and trainer.settings.init_from:
            continue  # a run from --init-from takes its sizes from that model, not these
        value = getattr(args, name)
        own = getattr(trainer.settings if where == "settings" else trainer.config, field_name)
        if name == "init_from":
            value = str(value or "")
        if value != own:
            conflicts.append(f"{_option(name)} {_shown(value)} (the run's: {_shown(own)})")
    if args.normalize_key and trainer.config.key_normalization == "none":
        conflicts.append("--normalize-key (the run did not normalize keys)")
    return conflicts


def _option(name: str) -> str:
    """The command-line option of an argument name: ``valid_gibbs`` -> ``--valid-gibbs``."""
    return "--" + name.replace("_", "-")


def _shown(value: Any) -> str:
    """An option's value as the command line writes it."""
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) if value != "" else "(none)"


def data_digest(splits: dict[str, list[np.ndarray]]) -> str:
    """A fingerprint of the train and valid splits as read (before augmentation), so that a
    resumed run can tell other data from its own. Shapes: each sequence ``(T, P)``."""
    digest = hashlib.sha256()
    for name in ("train", "valid"):
        sequences = splits.get(name, [])
        digest.update(f"{name}:{len(sequences)};".encode())
        for seq in sequences:
            roll = np.asarray(seq) != 0
            digest.update(f"{roll.shape};".encode())
            digest.update(np.packbits(roll).tobytes())
    return digest.hexdigest()


def _register_of(sequences: list[np.ndarray]) -> float | None:
    """The training music's mean pitch (before augmentation), to 0.01 of a semitone."""
    pitch = mean_pitch(sequences)
    return None if pitch is None else round(pitch, 2)


def _command_line() -> str:
    """The command that started this run, for the model card."""
    argv = sys.argv[1:]
    if argv[:1] == ["train"]:
        return shlex.join(["composer-app", *argv])
    return shlex.join(["python", "-m", "composer_app.ml.train", *argv])


def threading_is_main() -> bool:
    """Whether this is the main thread (only it may install signal handlers)."""
    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":  # python -m composer_app.ml.train: no Qt or MIDI imported
    _parser = argparse.ArgumentParser(prog="python -m composer_app.ml.train")
    add_arguments(_parser)
    raise SystemExit(run(_parser.parse_args()))

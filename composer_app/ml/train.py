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
import json
import math
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from composer_app.ml.checkpoint import (
    CheckpointError,
    atomic_write_bytes,
    check_state,
    load_checkpoint,
    read_config,
    save_checkpoint,
    tensors_from_bytes,
    tensors_to_bytes,
)
from composer_app.ml.data import (
    DataError,
    count_frames,
    load_benchmark,
    load_midi_folder,
    load_pickle_safely,
    mean_pitch,
    transpose_sequences,
)
from composer_app.ml.rnnrbm import RnnRbm, RnnRbmConfig

RESUME_NAME = "resume.safetensors"


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
        for name in ("epochs", "batch_size", "window_steps", "cd_steps", "threads"):
            if int(getattr(self, name)) < 1:
                raise TrainingError(f"{name} must be at least 1")
        if not self.lr > 0:
            raise TrainingError("lr must be positive")
        if self.valid_measure not in ("acc", "ll"):
            raise TrainingError(f"valid_measure must be 'acc' or 'll', got {self.valid_measure!r}")
        if self.valid_sequences < 0 or self.valid_ais_temperatures < 1:
            raise TrainingError("valid_sequences must be >= 0 and valid_ais_temperatures >= 1")
        if self.valid_ais_chains < 1:
            raise TrainingError("valid_ais_chains must be at least 1")
        if not self.weight_decay >= 0:
            raise TrainingError("weight_decay must be >= 0")


@dataclass
class EpochResult:
    """What one epoch did. Units: cost and LL in nats per frame; accuracy 0..1; time in seconds.

    ``valid_accuracy`` is the validation score: a frame accuracy (measure ``acc``) or a
    log-likelihood per step (measure ``ll``), higher is better either way.
    """

    epoch: int
    train_cost: float
    valid_accuracy: float
    lr: float
    frames: int
    time_s: float


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


class Trainer:
    """One training run: model, optimizer, RNG streams and the position in the run."""

    def __init__(
        self,
        config: RnnRbmConfig,
        settings: TrainSettings,
        train: Sequence[np.ndarray],
        valid: Sequence[np.ndarray],
    ) -> None:
        self.settings = settings
        self.config = config
        self.train = list(train)
        self.valid = list(valid)
        if settings.valid_sequences:
            self.valid = self.valid[: settings.valid_sequences]
        torch.set_num_threads(settings.threads)
        self.torch_rng = torch.Generator().manual_seed(settings.seed)
        self.model = RnnRbm(config, generator=self.torch_rng)
        if settings.init_from:
            _, start = load_checkpoint(settings.init_from)
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
        self.best_accuracy = -math.inf  # best validation score so far (acc or LL)
        self.best_epoch = 0
        self.bad_epochs = 0
        self.stale_epochs = 0  # since the last lr decay or improvement
        self.history: list[dict[str, Any]] = []
        self.train_time_s = 0.0
        self.stop_requested = False
        self.finished = False

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
            "best_accuracy": self.best_accuracy,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "stale_epochs": self.stale_epochs,
            "history": self.history,
            "train_time_s": self.train_time_s,
            "finished": self.finished,
        }
        return tensors_to_bytes(tensors, {"state": json.dumps(meta)})

    def save_resume(self, directory: Path) -> None:
        """Write ``resume.safetensors`` atomically."""
        atomic_write_bytes(directory / RESUME_NAME, self.state_bytes())

    @classmethod
    def from_resume(
        cls,
        directory: Path,
        train: Sequence[np.ndarray],
        valid: Sequence[np.ndarray],
        settings_override: dict[str, Any] | None = None,
    ) -> Trainer:
        """Rebuild a run from ``resume.safetensors``; raises :class:`CheckpointError`."""
        path = directory / RESUME_NAME
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise CheckpointError(f"nothing to resume: missing file {path}") from exc
        tensors = tensors_from_bytes(data, str(path))
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                meta = json.loads(handle.metadata()["state"])
        except Exception as exc:  # noqa: BLE001 - any problem with the header
            raise CheckpointError(f"{path} has no readable run state: {exc}") from exc
        config = RnnRbmConfig.from_dict(meta["config"])
        settings_dict = dict(meta["settings"])
        settings_dict.update(settings_override or {})
        trainer = cls(config, TrainSettings(**settings_dict), train, valid)
        model_tensors = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        check_state(trainer.model, model_tensors, str(path))
        trainer.model.load_state_dict(model_tensors, strict=True)
        opt_state: dict[str, Any] = {"state": {}, "param_groups": meta["param_groups"]}
        for key, value in tensors.items():
            if key.startswith("opt."):
                _, index, name = key.split(".", 2)
                opt_state["state"].setdefault(int(index), {})[name] = value
        for index, scalars in meta["opt_scalars"].items():
            opt_state["state"].setdefault(int(index), {}).update(scalars)
        trainer.optimizer.load_state_dict(opt_state)
        trainer.torch_rng.set_state(tensors["rng.torch"])
        for name in (
            "epoch", "batch", "epoch_rng_state", "epoch_cost_sum", "epoch_frames",
            "best_accuracy", "best_epoch", "bad_epochs", "stale_epochs", "history",
            "train_time_s", "finished",
        ):  # fmt: skip
            setattr(trainer, name, meta[name])
        for group in trainer.optimizer.param_groups:
            group["lr"] = meta["param_groups"][0]["lr"]
        return trainer

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
            t_epoch = time.perf_counter()
            frames_run = 0
            first_batch = self.batch
            for index in range(first_batch, len(batches)):
                v, mask = pad_batch(batches[index])
                t0 = time.perf_counter()
                value = self.train_step(v, mask)
                self.train_time_s += time.perf_counter() - t0
                n = int(mask.sum())
                self.epoch_cost_sum += value * n
                self.epoch_frames += n
                frames_run += n
                self.batch = index + 1
                batches_this_call += 1
                if progress is not None:
                    elapsed = time.perf_counter() - t_epoch
                    per_batch_s = elapsed / (index + 1 - first_batch)
                    progress.batch(
                        self.epoch + 1, s.epochs, self.batch, len(batches),
                        frames_run / max(elapsed, 1e-9), self.epoch_cost_sum / self.epoch_frames,
                        self.best_accuracy, per_batch_s * (len(batches) - index - 1),
                    )  # fmt: skip
                if self.stop_requested or (
                    s.stop_after_batches and batches_this_call >= s.stop_after_batches
                ):
                    self.save_resume(out_dir)
                    return results
            # end of epoch: validate, keep the best, decay lr, maybe stop early
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
            self.epoch += 1
            result = EpochResult(
                self.epoch, self.epoch_cost_sum / max(self.epoch_frames, 1), accuracy, self.lr,
                self.epoch_frames, time.perf_counter() - t_epoch,
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
            self.epoch_cost_sum, self.epoch_frames = 0.0, 0
            self.epoch_rng_state = self.np_rng.bit_generator.state
            self.save_resume(out_dir)
            if progress is not None:
                progress.epoch(result, self.best_accuracy, self.best_epoch)
            if self.stop_requested:
                return results
        return results

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
        cost: float, best_accuracy: float, eta_s: float,
    ) -> None:  # fmt: skip
        """Report progress inside an epoch (redrawn at most 5 times a second on a TTY)."""
        if not self.tty:
            return
        now = time.monotonic()
        if now - self._last < 0.2 and batch < batches:
            return
        self._last = now
        acc = _score(best_accuracy) if math.isfinite(best_accuracy) else "-"
        line = (
            f"epoch {epoch}/{epochs} batch {batch}/{batches} {frames_per_s:,.0f} frames/s "
            f"cost {cost:.3f} best valid {acc} ETA {eta_s:.0f} s"
        )
        self.stream.write("\r" + line[:150].ljust(100))
        self.stream.flush()

    def epoch(self, result: EpochResult, best_accuracy: float, best_epoch: int) -> None:
        """Report a finished epoch on its own line."""
        if self.tty:
            self.stream.write("\r")
        self.stream.write(
            f"epoch {result.epoch}: cost {result.train_cost:.4f} valid "
            f"{_score(result.valid_accuracy)} (best {_score(best_accuracy)} @ {best_epoch}) "
            f"lr {result.lr:.2g} {result.frames / max(result.time_s, 1e-9):,.0f} frames/s "
            f"{result.time_s:.1f} s\n"
        )
        self.stream.flush()


def _score(value: float) -> str:
    """A validation score as text: an accuracy in 0..1 as a percentage, an LL in nats."""
    return f"acc {value:.2%}" if value >= 0 else f"LL {value:.4f}"


# --- command line ----------------------------------------------------------------------------


def _parse_transpose(text: str) -> list[int]:
    """``"0"``, ``"-3,0,2"`` or ``"-5..6"`` -> a list of semitone shifts."""
    try:
        if ".." in text:
            low, high = (int(x) for x in text.split(".."))
            return list(range(low, high + 1))
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad transposition list {text!r}") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``composer-app train``."""
    d = TrainSettings()
    parser.add_argument("--data", required=True, type=Path,
                        help="benchmark .json.gz, a paper .pickle, or a folder of MIDI files")
    parser.add_argument("--out", required=True, type=Path, help="checkpoint folder")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--epochs", type=int, default=d.epochs)
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default=d.optimizer)
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--lr-decay", type=float, default=d.lr_decay)
    parser.add_argument("--decay-patience", type=int, default=d.decay_patience)
    parser.add_argument("--patience", type=int, default=d.patience, help="early stopping")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help="windows per batch")
    parser.add_argument("--window", type=int, default=d.window_steps, help="frames per window")
    parser.add_argument("--cd-steps", type=int, default=d.cd_steps)
    parser.add_argument("--clip", type=float, default=d.clip_norm, help="gradient norm clip")
    parser.add_argument("--hidden", type=int, default=150)
    parser.add_argument("--recurrent", type=int, default=100)
    parser.add_argument("--step-beats", type=float, default=None,
                        help="frame length in beats (default 1.0 for JSB, else 0.5)")
    parser.add_argument("--transpose", type=_parse_transpose, default=d.transpose,
                        help="augmentation shifts, e.g. -5..6 (default 0: none)")
    parser.add_argument("--normalize-key", action="store_true",
                        help="MIDI folders: transpose every piece to C major / C minor")
    parser.add_argument("--valid-gibbs", type=int, default=d.valid_gibbs_steps)
    parser.add_argument("--valid-measure", choices=("acc", "ll"), default=d.valid_measure,
                        help="validation score: sampled frame accuracy, or LL by a quick AIS")
    parser.add_argument("--valid-sequences", type=int, default=d.valid_sequences,
                        help="validate on the first N validation tunes (0: all)")
    parser.add_argument("--valid-ais-temperatures", type=int,
                        default=d.valid_ais_temperatures, help="AIS temperatures for --valid-measure ll")
    parser.add_argument("--valid-ais-chains", type=int, default=d.valid_ais_chains,
                        help="AIS chains per frame for --valid-measure ll")
    parser.add_argument("--weight-decay", type=float, default=d.weight_decay,
                        help="decoupled weight decay of the weight matrices (0: none)")
    parser.add_argument("--chain-start", choices=("data", "silence"), default=d.chain_start,
                        help="where CD chains start (data: the paper)")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="start from this checkpoint's weights (and sizes)")
    parser.add_argument("--max-minutes", type=float, default=0.0,
                        help="stop after the epoch that passes this wall time (0: no limit)")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--threads", type=int, default=d.threads)


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
        return splits, skipped, "C major/C minor" if normalize_key else "none"
    if path.suffix in (".pickle", ".pkl"):
        return load_pickle_safely(path), [], "C major/C minor"
    return load_benchmark(path), [], "C major/C minor"


def run(args: argparse.Namespace) -> int:
    """Run ``composer-app train``; returns the exit status."""
    out: Path = args.out
    name = args.data.name.split(".")[0]
    step_beats = args.step_beats or (1.0 if "jsb" in name.lower() else 0.5)
    try:
        splits, skipped, key_norm = load_training_data(
            args.data, step_beats, getattr(args, "read_score", None), args.normalize_key, args.seed
        )
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    train = splits["train"]
    if args.transpose != [0]:
        train = transpose_sequences(train, args.transpose)
    try:
        if args.resume:
            trainer = Trainer.from_resume(out, train, splits["valid"])
            if trainer.config.register_pitch is None:  # a run begun before configs had it
                trainer.config.register_pitch = _register_of(splits["train"])
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
                training={"data": str(args.data), "command": _command_line()},
            )  # fmt: skip
            trainer = Trainer(config, settings, train, splits["valid"])
            out.mkdir(parents=True, exist_ok=True)
    except (CheckpointError, TrainingError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
        status = 1
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if trainer.stop_requested and not trainer.finished:
        print(f"stopped; continue with --resume --out {out}", file=sys.stderr)
        return 130
    if status == 0:
        print(
            f"best valid {_score(trainer.best_accuracy)} at epoch "
            f"{trainer.best_epoch}; model in {out}",
            file=sys.stderr,
        )
    return status


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

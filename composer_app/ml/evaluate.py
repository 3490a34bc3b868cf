"""``composer-app evaluate MODEL --data FILE --split test``: frame accuracy and log-likelihood.

Both measures follow Boulanger-Lewandowski, Bengio & Vincent (2012), section 6:

* **ACC**, the frame-level accuracy of Bay et al. (2009): ``TP / (TP + FP + FN)``, counts
  summed over every frame of the split. Each frame's prediction is a sample of the model
  given the *true* history (teacher forcing), so the counts are expectations over model
  samples: every frame is sampled ``acc_samples`` times (independent Gibbs chains of
  ``gibbs_steps`` block-Gibbs steps each, started where the model's generation starts them:
  the all-off frame, or the true previous frame for a model whose ``chain_start`` is
  ``"previous"``) and TP, FP, FN are averaged over the samples.
* **Thresholded ACC**, for comparison only: the same chains give each note's probability;
  predicting the notes of probability >= 0.5 is one deterministic guess per frame, whose ACC
  is not bounded by the model's uncertainty as the expectation over samples is.
* **LL**, the log-likelihood per time step in nats: for each frame
  ``log p(v_t | v_<t) = -F_t(v_t) - log Z_t`` with ``F_t`` the free energy of that frame's
  conditional RBM (exact) and ``log Z_t`` its partition function estimated by annealed
  importance sampling (:mod:`composer_app.ml.ais`). The figure is the total over the split
  divided by its number of frames, repeated over ``ais_runs`` independent AIS runs and
  reported as mean and spread. AIS that anneals too fast underestimates ``log Z`` and so
  flatters LL: check that doubling ``--ais-temperatures`` leaves the figure unchanged.
* **LL by reverse AIS** (``--reverse-ais``), from the other side: chains started at each
  true frame and annealed back to the independent units (RAISE, Burda, Grosse &
  Salakhutdinov 2015) give an estimate that is conservative for the annealing process,
  where forward AIS flatters. For a model that fits its data the true LL then lies between
  the two; either way, when they meet the annealing has converged.
* **ACC by AIS weights**, a cross-check of ACC that no sampler's mixing can bias: the AIS
  chains of the LL, weighted by their importance weights, are samples of each frame's own
  conditional RBM, so ``sum_c w_c E[counts | h_c] / sum_c w_c`` estimates the expected
  TP, FP, FN under the model itself (consistent as chains and temperatures grow).

The recurrence under teacher forcing gives every frame's ``bv_t``, ``bh_t`` at once, so
both measures run batched over all frames (times samples or chains) in torch.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import stat
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from composer_app.ml.ais import (
    AisError,
    ais_log_weights,
    free_energy,
    linear_schedule,
    log_partition_base,
    reverse_ais_log_weights,
)
from composer_app.ml.options import whole_number

# float32 uniforms are multiples of 2**-24 in [0, 1); half a step more puts them in (0, 1).
_HALF_ULP = np.float32(2.0**-25)

# Sequences per recurrence batch: padded to the longest of the batch, so sort by length.
_SEQUENCES_PER_BATCH = 32
# Rows (frames x samples) per Gibbs batch of the accuracy.
_ACC_CHUNK_ROWS = 2048


@dataclass(frozen=True)
class FrameBiases:
    """Every frame of a split with its conditional RBM's biases under teacher forcing.

    Shapes: ``frames (N, P)`` float32 0/1, ``bv (N, P)``, ``bh (N, H)`` float32; N is the
    total number of frames of all sequences. ``previous (N, P)``: the frame before each
    frame in its sequence (all-off before a sequence's first frame).
    """

    frames: Tensor
    bv: Tensor
    bh: Tensor
    previous: Tensor | None = None

    @property
    def n_frames(self) -> int:
        """N."""
        return int(self.frames.shape[0])


@dataclass(frozen=True)
class AccuracyResult:
    """Expected counts of Bay et al.'s measure, summed over frames, averaged over samples."""

    accuracy: float
    true_positives: float
    false_positives: float
    false_negatives: float
    n_frames: int
    n_samples: int
    gibbs_steps: int
    seconds: float
    chain_start: str = "silence"
    # ACC of one deterministic prediction per frame: the notes whose probability, the mean
    # over the samples of p(v_i = 1 | h) at the chains' last step, is at least one half
    thresholded_accuracy: float = float("nan")


@dataclass(frozen=True)
class LogLikelihoodResult:
    """Mean log-likelihood per frame (nats) of each AIS run, with its mean and spread."""

    per_run: list[float]
    n_frames: int
    n_temperatures: int
    n_chains: int
    seconds: float
    mean_free_energy: float = 0.0
    mean_log_partition: list[float] = field(default_factory=list)
    # expected ACC under the model by the AIS chains' importance weights, per run
    accuracy_per_run: list[float] = field(default_factory=list)
    # the conservative LL of each run by reverse AIS (empty when not asked for)
    reverse_per_run: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        """Mean over the runs."""
        return float(np.mean(self.per_run))

    @property
    def std(self) -> float:
        """Standard deviation over the runs (ddof = 1; 0 for a single run)."""
        return float(np.std(self.per_run, ddof=1)) if len(self.per_run) > 1 else 0.0

    @property
    def reverse_mean(self) -> float:
        """Mean of the reverse-AIS runs (nan when there are none)."""
        return float(np.mean(self.reverse_per_run)) if self.reverse_per_run else math.nan

    @property
    def reverse_std(self) -> float:
        """Standard deviation of the reverse-AIS runs (ddof = 1; 0 for a single run)."""
        runs = self.reverse_per_run
        return float(np.std(runs, ddof=1)) if len(runs) > 1 else 0.0


def frame_biases(model: Any, sequences: Sequence[np.ndarray]) -> FrameBiases:
    """Run the recurrence over each true sequence and gather every frame's RBM biases.

    ``model`` is an :class:`~composer_app.ml.rnnrbm.RnnRbm` (``recurrence(v (B, T, P))``).
    Shapes: sequences ``(T_i, P)`` bool; see :class:`FrameBiases`.
    """
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    frames: list[Tensor] = [torch.empty(0)] * len(sequences)
    bvs: list[Tensor] = [torch.empty(0)] * len(sequences)
    bhs: list[Tensor] = [torch.empty(0)] * len(sequences)
    with torch.no_grad():
        for start in range(0, len(order), _SEQUENCES_PER_BATCH):
            batch = order[start : start + _SEQUENCES_PER_BATCH]
            longest = max(len(sequences[i]) for i in batch)
            v = torch.zeros(len(batch), longest, sequences[batch[0]].shape[1])
            for row, i in enumerate(batch):
                v[row, : len(sequences[i])] = torch.from_numpy(sequences[i].astype(np.float32))
            # Padding lies after each sequence's end; the causal recurrence never lets it
            # reach a real frame, and the padded rows are dropped below.
            bv_t, bh_t = model.recurrence(v)
            for row, i in enumerate(batch):
                n = len(sequences[i])
                frames[i], bvs[i], bhs[i] = v[row, :n], bv_t[row, :n], bh_t[row, :n]
    # Keep the split's order so results do not depend on the batching.
    previous = [
        torch.cat([torch.zeros_like(f[:1]), f[:-1]]) if len(f) else f for f in frames
    ]
    return FrameBiases(
        frames=torch.cat(frames).contiguous(),
        bv=torch.cat(bvs).float().contiguous(),
        bh=torch.cat(bhs).float().contiguous(),
        previous=torch.cat(previous).contiguous(),
    )


def accuracy_counts(predicted: Tensor, truth: Tensor) -> tuple[float, float, float]:
    """``(TP, FP, FN)`` summed over all frames. Shapes: ``(..., P)`` 0/1 each."""
    predicted = predicted.bool()
    truth = truth.bool()
    tp = float((predicted & truth).sum())
    fp = float((predicted & ~truth).sum())
    fn = float((~predicted & truth).sum())
    return tp, fp, fn


def frame_accuracy(tp: float, fp: float, fn: float) -> float:
    """Bay et al. (2009): ``TP / (TP + FP + FN)``; 1 when there is nothing to find or miss."""
    denominator = tp + fp + fn
    return 1.0 if denominator == 0 else tp / denominator


def expected_accuracy(
    W: Tensor,
    biases: FrameBiases,
    *,
    n_samples: int = 20,
    gibbs_steps: int = 25,
    rng: np.random.Generator | int | None = None,
    chain_start: str = "silence",
) -> AccuracyResult:
    """ACC with TP, FP, FN averaged over ``n_samples`` Gibbs samples of every frame.

    Each sample is an independent chain of ``gibbs_steps`` block-Gibbs steps (v -> h -> v)
    in the frame's conditional RBM, started from the all-off frame (``chain_start``
    ``"silence"``) or from the true frame before (``"previous"``, as the generation of a
    model with that setting does). ``rng`` (numpy Generator or seed) draws the uniforms.
    The same chains also give each note's probability (the mean over the samples of
    ``p(v_i = 1 | h)`` at their last step); predicting the notes of probability >= 0.5 gives
    ``thresholded_accuracy``, a deterministic prediction, *not* an expectation over samples.
    Shapes: ``W (P, H)``.
    """
    if n_samples < 1 or gibbs_steps < 1:
        raise ValueError("accuracy needs at least one sample and one Gibbs step")
    if chain_start not in ("silence", "previous"):
        raise ValueError(f"chain_start must be 'silence' or 'previous', got {chain_start!r}")
    if chain_start == "previous" and biases.previous is None:
        raise ValueError("chain_start 'previous' needs the previous frames (see frame_biases)")
    started = time.perf_counter()
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    W = W.detach().float().contiguous()
    WT = W.T.contiguous()
    n_visible, n_hidden = W.shape
    tp = fp = fn = 0.0
    th_tp = th_fp = th_fn = 0.0
    frames_per_chunk = max(1, _ACC_CHUNK_ROWS // n_samples)
    rows = frames_per_chunk * n_samples
    # Preallocated buffers; numpy's PCG64 fills the uniforms, torch sees the same memory.
    noise_h_np = np.empty((rows, n_hidden), dtype=np.float32)
    noise_v_np = np.empty((rows, n_visible), dtype=np.float32)
    noise_h_all, noise_v_all = torch.from_numpy(noise_h_np), torch.from_numpy(noise_v_np)
    a_all, x_all = torch.empty(rows, n_hidden), torch.empty(rows, n_visible)
    h_all, v_all = torch.empty(rows, n_hidden), torch.empty(rows, n_visible)
    with torch.no_grad():
        for start in range(0, biases.n_frames, frames_per_chunk):
            stop = min(start + frames_per_chunk, biases.n_frames)
            n = (stop - start) * n_samples
            bv = biases.bv[start:stop].repeat_interleave(n_samples, dim=0)
            bh = biases.bh[start:stop].repeat_interleave(n_samples, dim=0)
            noise_h, noise_v = noise_h_all[:n], noise_v_all[:n]
            a, x, h, v = a_all[:n], x_all[:n], h_all[:n], v_all[:n]
            if chain_start == "previous":
                assert biases.previous is not None
                v.copy_(biases.previous[start:stop].repeat_interleave(n_samples, dim=0))
            else:
                v.zero_()
            for _ in range(gibbs_steps):
                # h_j on when u < p(h_j = 1 | v) = sigmoid(bh_t + v W), then v likewise.
                torch.addmm(bh, v, W, out=a)
                rng.random(out=noise_h_np[:n], dtype=np.float32)
                # u in [0, 1) -> (0, 1): a u of exactly 0 would switch on a unit of
                # probability ~0, one of 1 - 2**-24 could never fail a unit of probability 1
                noise_h_np[:n] += _HALF_ULP
                torch.lt(noise_h, a.sigmoid_(), out=h)
                torch.addmm(bv, h, WT, out=x)
                rng.random(out=noise_v_np[:n], dtype=np.float32)
                noise_v_np[:n] += _HALF_ULP
                torch.lt(noise_v, x.sigmoid_(), out=v)
            truth = biases.frames[start:stop].repeat_interleave(n_samples, dim=0)
            c_tp, c_fp, c_fn = accuracy_counts(v, truth)
            tp, fp, fn = tp + c_tp, fp + c_fp, fn + c_fn
            # x holds p(v = 1 | h) of the last step: average it over each frame's samples
            marginals = x.view(stop - start, n_samples, n_visible).mean(dim=1)
            c_tp, c_fp, c_fn = accuracy_counts(marginals >= 0.5, biases.frames[start:stop])
            th_tp, th_fp, th_fn = th_tp + c_tp, th_fp + c_fp, th_fn + c_fn
    tp, fp, fn = tp / n_samples, fp / n_samples, fn / n_samples
    return AccuracyResult(
        accuracy=frame_accuracy(tp, fp, fn),
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        n_frames=biases.n_frames,
        n_samples=n_samples,
        gibbs_steps=gibbs_steps,
        seconds=time.perf_counter() - started,
        chain_start=chain_start,
        thresholded_accuracy=frame_accuracy(th_tp, th_fp, th_fn),
    )


def log_likelihood(
    W: Tensor,
    biases: FrameBiases,
    *,
    n_temperatures: int = 400,
    n_chains: int = 16,
    n_runs: int = 2,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    reverse: bool = False,
) -> LogLikelihoodResult:
    """Mean ``log p(v_t | history)`` per frame in nats, ``-F_t(v_t) - log Z_t``, per AIS run.

    Each run estimates every frame's ``log Z_t`` with fresh chains (seed ``seed + run``),
    and from the same weighted chains the model's expected frame accuracy (see the module
    docstring). With ``reverse``, each run also anneals the same number of chains back from
    every true frame (reverse AIS), whose LL is conservative where forward AIS's flatters.
    Shapes: ``W (P, H)``.
    """
    if n_runs < 1:
        raise ValueError(f"at least one AIS run is needed, got {n_runs}")
    started = time.perf_counter()
    W = W.detach().float()
    with torch.no_grad():
        # Exact part: the free energy of each true frame in its own RBM (float64 sums).
        neg_free = -free_energy(
            biases.frames.double(), W.double(), biases.bv.double(), biases.bh.double()
        )
        log_z0 = log_partition_base(biases.bv, biases.bh)  # exact, beta = 0
    per_run: list[float] = []
    mean_log_z: list[float] = []
    accuracy_per_run: list[float] = []
    reverse_per_run: list[float] = []
    means = torch.empty(biases.n_frames, n_chains, biases.frames.shape[1])
    truth = biases.frames[:, None, :]
    for run in range(n_runs):
        log_w = ais_log_weights(
            W,
            biases.bv,
            biases.bh,
            betas=linear_schedule(n_temperatures),
            n_chains=n_chains,
            rng=np.random.default_rng([seed, run]),
            visible_means=means,
        )
        log_z = log_z0 + torch.logsumexp(log_w, dim=1) - math.log(n_chains)
        per_run.append(float((neg_free - log_z).mean()))
        mean_log_z.append(float(log_z.mean()))
        # self-normalised importance weights of each frame's chains: (N, C, 1)
        weights = torch.softmax(log_w, dim=1).float()[:, :, None]
        tp = float((weights * means * truth).sum())
        fp = float((weights * means * (1 - truth)).sum())
        fn = float((weights * (1 - means) * truth).sum())
        accuracy_per_run.append(frame_accuracy(tp, fp, fn))
        if progress is not None:
            progress(
                f"AIS run {run + 1}/{n_runs}: LL {per_run[-1]:.4f} nats/step, ACC by AIS "
                f"weights {100 * accuracy_per_run[-1]:.2f}% ({time.perf_counter() - started:.0f} s)"
            )
        if reverse:
            neg_s = reverse_ais_log_weights(
                W,
                biases.bv,
                biases.bh,
                biases.frames,
                betas=linear_schedule(n_temperatures),
                n_chains=n_chains,
                rng=np.random.default_rng([seed, run, 1]),
            )
            # log Z from the data's side: log Z_0 - log mean_c exp(-S_c), biased high
            log_z_high = log_z0 - torch.logsumexp(neg_s, dim=1) + math.log(n_chains)
            reverse_per_run.append(float((neg_free - log_z_high).mean()))
            if progress is not None:
                progress(
                    f"reverse AIS run {run + 1}/{n_runs}: LL {reverse_per_run[-1]:.4f} "
                    f"nats/step (conservative) ({time.perf_counter() - started:.0f} s)"
                )
    return LogLikelihoodResult(
        per_run=per_run,
        n_frames=biases.n_frames,
        n_temperatures=n_temperatures,
        n_chains=n_chains,
        seconds=time.perf_counter() - started,
        mean_free_energy=float(-neg_free.mean()),
        mean_log_partition=mean_log_z,
        accuracy_per_run=accuracy_per_run,
        reverse_per_run=reverse_per_run,
    )


# ------------------------------------------------------------------------------ command


# Upper bounds of the numeric options: far above any useful setting, low enough that the
# buffers they size (samples or chains x frames x units) and the thread pool stay possible.
MAX_SAMPLES = 10_000
MAX_STEPS = 100_000
MAX_RUNS = 1_000
MAX_THREADS = 256


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``composer-app evaluate``."""
    parser.add_argument("model", help="checkpoint folder, or the name of a shipped model")
    parser.add_argument(
        "--data", required=True, type=Path,
        help="benchmark .json.gz, or the paper's .pickle, holding the --split (not a MIDI "
        "folder: train keeps no test part of one)",
    )
    parser.add_argument("--split", choices=("train", "valid", "test"), default="test")
    parser.add_argument(
        "--acc-samples", type=whole_number(1, MAX_SAMPLES), default=20, help="Gibbs samples per frame"
    )
    parser.add_argument(
        "--gibbs-steps", type=whole_number(1, MAX_STEPS), default=25, help="Gibbs steps per sample"
    )
    parser.add_argument(
        "--chain-start",
        choices=("silence", "previous"),
        default=None,
        help="where each sample's chain starts (default: the model's own setting)",
    )
    parser.add_argument(
        "--ais-temperatures", type=whole_number(1, MAX_STEPS), default=400, help="AIS temperatures"
    )
    parser.add_argument(
        "--ais-chains", type=whole_number(1, MAX_SAMPLES), default=16, help="AIS chains per frame"
    )
    parser.add_argument(
        "--ais-runs", type=whole_number(1, MAX_RUNS), default=2, help="independent AIS runs"
    )
    parser.add_argument(
        "--reverse-ais",
        action="store_true",
        help="also a conservative LL by reverse AIS (as many chains and temperatures; "
        "doubles the time of the LL)",
    )
    parser.add_argument("--no-acc", action="store_true", help="skip the accuracy")
    parser.add_argument("--no-ll", action="store_true", help="skip the log-likelihood")
    parser.add_argument(
        "--max-sequences", type=whole_number(1), default=None, help="first N sequences"
    )
    parser.add_argument("--seed", type=whole_number(0), default=0)
    parser.add_argument(
        "--threads", type=whole_number(1, MAX_THREADS), default=None, help="torch threads"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write results here")


def bracket_verdict(reverse_ll: float, forward_ll: float) -> str:
    """What a reverse- and a forward-AIS LL of the same frames say together (one sentence).

    Forward AIS flatters in expectation (its ``log Z`` is biased low). Reverse AIS is
    conservative for the annealing process, which is the RBM only in the limit of many
    temperatures: on frames the RBM finds less likely than its less-annealed neighbours do,
    it can come out above forward AIS. Only when the two meet has the annealing converged.
    """
    gap = forward_ll - reverse_ll
    if gap >= 0:
        return (
            f"Forward AIS flatters; reverse AIS lies below it, as a conservative estimate "
            f"should: up to their noise the LL lies between {reverse_ll:.4f} and "
            f"{forward_ll:.4f} (a gap of {gap:.4f}; over 0.01 means more temperatures are "
            f"needed)"
        )
    return (
        f"Reverse AIS came out {-gap:.4f} above forward AIS: on these frames it is not "
        f"conservative (it bounds the annealing process, not yet the RBM), so only forward "
        f"AIS's bound holds, LL <= {forward_ll:.4f}; more temperatures are needed"
    )


def resolve_model_dir(model: str, shipped_dir: Callable[[str], Path] | None) -> Path:
    """A folder as given, else a shipped model's folder (``shipped_dir`` knows where)."""
    path = Path(model)
    if path.is_dir():
        return path
    if shipped_dir is not None and not any(sep in model for sep in ("/", "\\")):
        return shipped_dir(model)
    return path


_MEMORY_HINT = (
    "not enough memory for this evaluation; use fewer --acc-samples or --ais-chains, or "
    "fewer sequences with --max-sequences"
)


def _out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a failed allocation (numpy's MemoryError or torch's RuntimeError)."""
    return isinstance(exc, MemoryError) or "can't allocate memory" in str(exc)


def json_target_problem(path: Path) -> str | None:
    """Why the results file cannot be written at ``path`` (one phrase), or None if it can.

    The target must be a regular file or not exist yet (a device or a pipe is refused, never
    replaced), and its nearest existing folder must be a folder the user may write in.
    """
    target = Path(os.path.realpath(path))
    target_error: OSError | None = None
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        pass
    except OSError as exc:  # a path under a file, a folder without search permission
        target_error = exc
    else:
        if stat.S_ISDIR(mode):
            return "it is a folder"
        if not stat.S_ISREG(mode):
            return "it is not a regular file (a device, pipe or socket)"
    folder = target.parent
    while True:
        try:
            mode = os.stat(folder).st_mode
        except FileNotFoundError:
            if folder.parent == folder:
                return f"{folder} does not exist"
            folder = folder.parent  # created on writing, like any missing folder above it
            continue
        except OSError as exc:
            return f"{folder}: {exc.strerror or exc}"
        break
    if not stat.S_ISDIR(mode):
        return f"{folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"no permission to write in {folder}"
    if target_error is not None:
        return target_error.strerror or str(target_error)
    return None


def run(args: argparse.Namespace) -> int:
    """Evaluate a model on a split; prints ACC and LL. Returns the exit status."""
    from composer_app.ml.checkpoint import (
        CheckpointError,
        atomic_write_bytes,
        load_checkpoint,
    )
    from composer_app.ml.data import DataError, load_data_file

    def fail(message: str) -> int:
        print(f"composer-app evaluate: {message}", file=sys.stderr)
        return 2

    # The parser checks these too; a caller that builds its own Namespace gets the same.
    for name, low, high in (
        ("acc_samples", 1, MAX_SAMPLES),
        ("gibbs_steps", 1, MAX_STEPS),
        ("ais_temperatures", 1, MAX_STEPS),
        ("ais_chains", 1, MAX_SAMPLES),
        ("ais_runs", 1, MAX_RUNS),
        ("max_sequences", 1, None),
        ("seed", 0, None),
        ("threads", 1, MAX_THREADS),
    ):
        value = getattr(args, name)
        if value is None and name in ("max_sequences", "threads"):
            continue
        if value < low:
            return fail(f"--{name.replace('_', '-')} must be at least {low}, got {value}")
        if high is not None and value > high:
            return fail(f"--{name.replace('_', '-')} must be at most {high}, got {value}")
    if args.json is not None:
        # checked now, not after an evaluation that can take hours
        problem = json_target_problem(args.json)
        if problem is not None:
            return fail(f"cannot write the results to {args.json}: {problem}")
    if args.data.is_dir():
        # train splits a MIDI folder into train and valid only (see load_training_data)
        return fail(
            f"{args.data} is a folder: evaluate reads a benchmark .json.gz or the paper's "
            f".pickle with a {args.split!r} split; a run trained on a MIDI folder has no "
            "test split to evaluate on (train keeps none of its files aside for testing)"
        )
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    model_dir = resolve_model_dir(args.model, getattr(args, "shipped_model_dir", None))
    try:
        config, model = load_checkpoint(model_dir)
    except CheckpointError as exc:
        return fail(f"cannot load the model {args.model!r}: {exc}")
    try:
        sequences = load_data_file(args.data)[args.split]
    except DataError as exc:
        return fail(str(exc))
    if args.max_sequences is not None:
        sequences = sequences[: args.max_sequences]
    sequences = [s for s in sequences if len(s)]
    if not sequences:
        return fail(f"split {args.split!r} of {args.data} has no frames")
    if sequences[0].shape[1] != config.n_visible:
        return fail(
            f"{args.data} has {sequences[0].shape[1]} pitches per frame, the model "
            f"{config.n_visible}"
        )
    biases = frame_biases(model, sequences)
    print(
        f"model {model_dir} on {args.data} [{args.split}]: "
        f"{len(sequences)} sequences, {biases.n_frames} frames"
    )
    results: dict[str, Any] = {
        "model": str(model_dir),
        "data": str(args.data),
        "split": args.split,
        "sequences": len(sequences),
        "frames": biases.n_frames,
        "torch_threads": torch.get_num_threads(),
    }
    W = model.W.detach()
    if not args.no_acc:
        try:
            acc = expected_accuracy(
                W,
                biases,
                n_samples=args.acc_samples,
                gibbs_steps=args.gibbs_steps,
                rng=np.random.default_rng(args.seed),
                chain_start=args.chain_start or config.chain_start,
            )
        except (MemoryError, RuntimeError) as exc:
            if not _out_of_memory(exc):
                raise
            return fail(_MEMORY_HINT)
        print(
            f"ACC {100 * acc.accuracy:.2f}%  (expected TP {acc.true_positives:.1f}, "
            f"FP {acc.false_positives:.1f}, FN {acc.false_negatives:.1f}; "
            f"{acc.n_samples} samples/frame x {acc.gibbs_steps} Gibbs steps from the "
            f"{'previous frame' if acc.chain_start == 'previous' else 'all-off frame'}; "
            f"{acc.seconds:.1f} s)"
        )
        print(
            f"ACC of a deterministic prediction, the notes of probability >= 0.5 by the "
            f"same chains: {100 * acc.thresholded_accuracy:.2f}% (not an expectation over "
            f"samples)"
        )
        results["accuracy"] = asdict(acc)
    if not args.no_ll:
        try:
            ll = log_likelihood(
                W,
                biases,
                n_temperatures=args.ais_temperatures,
                n_chains=args.ais_chains,
                n_runs=args.ais_runs,
                seed=args.seed,
                progress=print,
                reverse=args.reverse_ais,
            )
        except AisError as exc:
            return fail(str(exc))
        except (MemoryError, RuntimeError) as exc:
            if not _out_of_memory(exc):
                raise
            return fail(_MEMORY_HINT)
        if not all(math.isfinite(x) for x in ll.per_run + ll.reverse_per_run):
            return fail("the log-likelihood is not finite (the model's weights overflow)")
        print(
            f"LL {ll.mean:.4f} +- {ll.std:.4f} nats/step  (mean +- std over {len(ll.per_run)} "
            f"AIS runs of {ll.n_chains} chains x {ll.n_temperatures} temperatures; "
            f"{ll.seconds:.1f} s)"
        )
        print(
            f"ACC of the model's own distribution by AIS weights "
            f"{100 * float(np.mean(ll.accuracy_per_run)):.2f}% (a check on the sampled ACC)"
        )
        if ll.reverse_per_run:
            print(
                f"LL by reverse AIS {ll.reverse_mean:.4f} +- {ll.reverse_std:.4f} nats/step "
                f"(chains annealed back from each true frame)"
            )
            print(bracket_verdict(ll.reverse_mean, ll.mean))
        results["log_likelihood"] = {
            **asdict(ll),
            "mean": ll.mean,
            "std": ll.std,
            "reverse_mean": ll.reverse_mean if ll.reverse_per_run else None,
            "reverse_std": ll.reverse_std if ll.reverse_per_run else None,
        }
    if args.json is not None:
        # atomic: a full disk leaves the previous results file whole and no partial one
        text = json.dumps(results, indent=2) + "\n"
        problem = json_target_problem(args.json)
        if problem is not None:
            return fail(f"cannot write the results to {args.json}: {problem}")
        try:
            atomic_write_bytes(os.path.realpath(args.json), text.encode("utf-8"))
        except OSError as exc:
            return fail(f"cannot write the results to {args.json}: {exc.strerror or exc}")
    return 0

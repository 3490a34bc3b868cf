"""Training throughput of the RNN-RBM (frames per second) and the share of the matmul peak it reaches.

Runs the real training step (:meth:`Trainer.train_step`: recurrence, CD-k Gibbs chains of all
frames at once, back-propagation, Adam) on Nottingham windows (random rolls of the same
density when the shared data are absent), at the default size 88-150-100 and CD-15, for a few
batch sizes. In the same run it measures a large float32 matmul, so the fraction of the
machine's peak can be stated. Usage::

    python benchmarks/train_throughput.py [--threads 2] [--seconds 6] [--batch-sizes 16 32 64 128]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from composer_app.ml.data import load_benchmark  # noqa: E402
from composer_app.ml.rnnrbm import RnnRbmConfig  # noqa: E402
from composer_app.ml.train import Trainer, TrainSettings, pad_batch  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nottingham.json.gz"


def matmul_peak_gflops(threads: int, seconds: float = 2.0, n: int = 2048) -> float:
    """Best float32 GFLOP/s of an ``n x n @ n x n`` matmul over about ``seconds``."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best, start = 0.0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def flops_per_frame(config: RnnRbmConfig, k: int) -> float:
    """Multiply-add count x 2 of one training frame (matmuls only).

    Gibbs: k steps of two P x H matmuls; free energies of v and v*: P x H each, x3 for the
    backward pass; recurrence: v Wvu, u Wuu, u Wuv, u Wuh, x3 for forward + backward.
    """
    p, h, r = config.n_visible, config.n_hidden, config.n_recurrent
    gibbs = k * 2 * (2 * p * h)
    free_energy = 3 * 2 * (2 * p * h)
    recurrence = 3 * 2 * (p * r + r * r + r * p + r * h)
    return float(gibbs + free_energy + recurrence)


def sequences() -> tuple[list[np.ndarray], str]:
    if DATA.exists():
        return load_benchmark(DATA)["train"], "Nottingham train split"
    rng = np.random.default_rng(0)
    return [rng.random((400, 88)) < 0.045 for _ in range(100)], "random rolls (data absent)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0, help="per batch size")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--cd-steps", type=int, default=15)
    args = parser.parse_args()

    load = os.getloadavg()
    data, source = sequences()
    config = RnnRbmConfig()
    peak = matmul_peak_gflops(args.threads)
    per_frame = flops_per_frame(config, args.cd_steps)
    print(f"torch {torch.__version__}, {args.threads} threads, data: {source}")
    print(f"model 88-{config.n_hidden}-{config.n_recurrent}, CD-{args.cd_steps}, "
          f"window {args.window}; {per_frame / 1e6:.2f} MFLOP per frame")
    print(f"matmul peak (2048^3 float32): {peak:.1f} GFLOP/s; load average before the run "
          f"{load[0]:.2f} (other processes share these cores)")
    print(f"{'batch':>6} {'frames/batch':>13} {'frames/s':>10} {'GFLOP/s':>8} {'of peak':>8}")
    for batch_size in args.batch_sizes:
        settings = TrainSettings(
            batch_size=batch_size, window_steps=args.window, cd_steps=args.cd_steps,
            threads=args.threads, seed=0,
        )  # fmt: skip
        trainer = Trainer(config, settings, data, [])
        batches = [pad_batch(b) for b in trainer._epoch_batches()[:50]]
        trainer.train_step(*batches[0])  # warm-up
        frames, start, i = 0, time.perf_counter(), 0
        while time.perf_counter() - start < args.seconds:
            v, mask = batches[i % len(batches)]
            trainer.train_step(v, mask)
            frames += int(mask.sum())
            i += 1
        rate = frames / (time.perf_counter() - start)
        gflops = rate * per_frame / 1e9
        print(f"{batch_size:>6} {frames // i:>13} {rate:>10,.0f} {gflops:>8.1f} {gflops / peak:>8.1%}")


if __name__ == "__main__":
    main()

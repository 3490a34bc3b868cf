"""Time one generation step of the RNN-RBM at k = 25 Gibbs steps, on one core.

Prints ms/step (mean, median, p99 over >= 2000 steps) of :class:`FrameGenerator`, free, free
with silent steps drawn again (``min_notes=1``, the app's default), with constraints
(scale mask, clamped melody, polyphony cap) and by the annealed sampler (the default
model's: ``--annealed-steps`` temperatures x 8 chains), and of a same-run baseline:
a straightforward torch implementation of the same step (sigmoid + bernoulli per half-step,
then the recurrence). Uses the shipped Nottingham model when present, else random weights of
the trained model's scale.

Run: ``.venv/bin/python benchmarks/generate_step.py [--steps 3000] [--model DIR]``
"""

from __future__ import annotations

import os

# One core, set before numpy and torch load their thread pools.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from composer_app.ml.generate import (  # noqa: E402
    DEFAULT_ANNEAL_CHAINS,
    FrameGenerator,
    RnnRbmParameters,
)
from composer_app.paths import model_dir, shared_data_dir  # noqa: E402


def load_parameters(path: Path | None) -> tuple[RnnRbmParameters, str, str]:
    """The shipped model's parameters and chain start, or random ones when there is none."""
    folder = path or model_dir()
    if (folder / "config.json").is_file():
        from composer_app.ml.checkpoint import load_checkpoint

        config, model = load_checkpoint(folder)
        return RnnRbmParameters.from_model(model), f"checkpoint {folder}", config.chain_start
    rng = np.random.default_rng(0)
    p, h, r = 88, 150, 100
    prm = RnnRbmParameters(
        W=rng.normal(0, 0.3, (p, h)),
        bv=np.full(p, -4.0),
        bh=rng.normal(0, 0.5, h),
        Wuh=rng.normal(0, 0.1, (r, h)),
        Wuv=rng.normal(0, 0.1, (r, p)),
        Wvu=rng.normal(0, 0.1, (p, r)),
        Wuu=rng.normal(0, 0.1, (r, r)),
        bu=np.zeros(r),
    )
    return prm, "random weights (no checkpoint found)", "silence"


def seed_roll() -> np.ndarray:
    """The first 32 frames of a Nottingham test tune, or a C major arpeggio."""
    path = shared_data_dir() / "nottingham.json.gz"
    if path.is_file():
        from composer_app.ml.data import load_benchmark

        return load_benchmark(path)["test"][0][:32]
    roll = np.zeros((32, 88), dtype=bool)
    for t in range(32):
        roll[t, [39, 43, 46][t % 3]] = True
    return roll


def time_steps(step, n_steps: int, warmup: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Wall and CPU seconds of each of ``n_steps`` calls of ``step`` after a warm-up.

    The CPU time (this thread's) leaves out the time the scheduler gave to other processes,
    which on a shared machine is most of the wall-clock tail.
    """
    for _ in range(warmup):
        step()
    wall = np.empty(n_steps)
    cpu = np.empty(n_steps)
    clock, cpu_clock = time.perf_counter, time.thread_time
    for i in range(n_steps):
        start, cpu_start = clock(), cpu_clock()
        step()
        cpu[i] = cpu_clock() - cpu_start
        wall[i] = clock() - start
    return wall, cpu


class TorchBaseline:
    """The same step written plainly in torch: bernoulli(sigmoid(.)) per half-step."""

    def __init__(self, prm: RnnRbmParameters, roll: np.ndarray, k: int, seed: int) -> None:
        t = {
            n: torch.from_numpy(getattr(prm, n))
            for n in ("W", "bv", "bh", "Wuh", "Wuv", "Wvu", "Wuu", "bu")
        }
        self.t, self.k = t, k
        self.g = torch.Generator().manual_seed(seed)
        self.u = torch.zeros(prm.n_recurrent)
        for frame in torch.from_numpy(roll.astype(np.float32)):
            self.u = torch.tanh(t["bu"] + self.u @ t["Wuu"] + frame @ t["Wvu"])

    @torch.no_grad()
    def step(self) -> np.ndarray:
        t = self.t
        bv_t = t["bv"] + self.u @ t["Wuv"]
        bh_t = t["bh"] + self.u @ t["Wuh"]
        v = torch.zeros_like(bv_t)
        for _ in range(self.k):
            h = torch.bernoulli(torch.sigmoid(v @ t["W"] + bh_t), generator=self.g)
            v = torch.bernoulli(torch.sigmoid(h @ t["W"].T + bv_t), generator=self.g)
        self.u = torch.tanh(t["bu"] + self.u @ t["Wuu"] + v @ t["Wvu"])
        return v.numpy() > 0.5


def summary(name: str, times: tuple[np.ndarray, np.ndarray]) -> str:
    wall, cpu = times[0] * 1e3, times[1] * 1e3
    return (
        f"{name}\n    wall: mean {wall.mean():.3f} ms  median {np.median(wall):.3f} ms  "
        f"p99 {np.percentile(wall, 99):.3f} ms\n"
        f"    cpu:  mean {cpu.mean():.3f} ms  median {np.median(cpu):.3f} ms  "
        f"p99 {np.percentile(cpu, 99):.3f} ms  ({len(wall)} steps)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--gibbs-steps", type=int, default=25)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--annealed-steps", type=int, default=100,
                        help="temperatures of the annealed sampler's timing")
    args = parser.parse_args()
    torch.set_num_threads(1)
    prm, source, chain_start = load_parameters(args.model)
    roll = seed_roll()
    k = args.gibbs_steps
    print(
        f"{platform.processor() or platform.machine()}, numpy {np.__version__}, "
        f"torch {torch.__version__}, one thread; {source}; k = {k}; chains start at "
        f"{chain_start}"
    )

    start = time.perf_counter()
    gen = FrameGenerator(prm, roll, gibbs_steps=k, rng=0, chain_start=chain_start)
    next(gen)
    first_ms = (time.perf_counter() - start) * 1e3
    print(f"start-up: build, condition on {len(roll)} seed frames, first frame: {first_ms:.2f} ms")
    free = time_steps(lambda: next(gen), args.steps)
    print(summary("FrameGenerator (numpy), free", free))

    # As the app samples by default: a step with no note at all is drawn again.
    gen = FrameGenerator(prm, roll, gibbs_steps=k, rng=0, chain_start=chain_start, min_notes=1)
    redraws: list[int] = []
    sounding = time_steps(lambda: redraws.append(next(gen).redraws), args.steps)
    print(summary("FrameGenerator, free, silent steps drawn again (min_notes=1)", sounding))
    print(f"    redraws: {np.mean(np.array(redraws) > 0):.2%} of the steps, {max(redraws)} at most")

    allowed = np.zeros(88, dtype=bool)
    allowed[[(p - 21) for p in range(21, 109) if p % 12 in (0, 2, 4, 5, 7, 9, 11)]] = True
    gen = FrameGenerator(
        prm, roll, gibbs_steps=k, rng=0, allowed_pitches=allowed, max_polyphony=4,
        chain_start=chain_start,
    )  # fmt: skip
    melody = np.zeros((args.steps + 200, 88), dtype=bool)
    melody[np.arange(len(melody)), 39 + 2 * (np.arange(len(melody)) % 4)] = True
    gen.clamp(melody, melody)
    constrained = time_steps(lambda: next(gen), args.steps)
    print(summary("FrameGenerator, C major mask + melody + cap 4", constrained))

    # The annealed sampler (RnnRbmConfig.sampler "annealed", the default model's): one Gibbs
    # sweep per temperature for each chain, so about temperatures x chains / k times the work.
    temps, chains = args.annealed_steps, DEFAULT_ANNEAL_CHAINS
    gen = FrameGenerator(prm, roll, gibbs_steps=temps, rng=0, sampler="annealed", min_notes=1)
    annealed = time_steps(lambda: next(gen), max(200, args.steps // 10), warmup=10)
    print(summary(f"FrameGenerator, annealed: {temps} temperatures x {chains} chains", annealed))

    baseline = TorchBaseline(prm, roll, k, seed=0)
    base = time_steps(baseline.step, args.steps)
    print(summary("torch baseline (same step, plain)", base))
    print(
        f"speed-up over the torch baseline: {base[1].mean() / free[1].mean():.1f}x "
        f"(mean CPU time), {np.median(base[0]) / np.median(free[0]):.1f}x (median wall)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

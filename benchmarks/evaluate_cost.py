"""How many AIS temperatures and chains the log-likelihood needs, and what they cost.

For a sample of frames of a split, every frame's conditional RBM gets ``--chains`` AIS chains
at each number of temperatures in ``--temperatures``. Printed per setting: the mean LL per
frame from the first 1, 2, 5, 16, 64 chains (as many as there are; the log of a mean of few
weights is biased low, so LL is biased high), the mean over frames of the spread (std) of
``log w`` across chains, and the CPU cost per frame x chain x temperature. The Jensen bias of
an estimate from C chains is about ``var(log w) / (2 C)`` while the chains sample each RBM
well; for a sharp, many-moded RBM it falls more slowly, and more chains help more than more
temperatures.

With ``--reverse``, the same frames also get as many *reverse* AIS chains (started at the
true frame and annealed back; conservative for the annealing process where forward AIS
flatters): for frames the model fits, the true LL lies between the two figures, and where
they meet the annealing has converged. The run then says how far the ``--protocol`` setting
(``evaluate``'s default 400 temperatures) lies above the midpoint of the bracket at the
largest K (above forward AIS there, a lower bound of its bias, when reverse AIS came out
above it), with the standard error of that difference over the frames: the bias of the
protocol's figure on the whole split.

Run: ``.venv/bin/python benchmarks/evaluate_cost.py MODEL --frames 1000``
(MODEL: a shipped model's name or a checkpoint folder)
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from composer_app import paths  # noqa: E402
from composer_app.ml.ais import (  # noqa: E402
    ais_log_weights,
    free_energy,
    linear_schedule,
    log_partition_base,
    reverse_ais_log_weights,
)
from composer_app.ml.checkpoint import load_checkpoint  # noqa: E402
from composer_app.ml.data import load_benchmark  # noqa: E402
from composer_app.ml.evaluate import (  # noqa: E402
    FrameBiases,
    bracket_verdict,
    frame_biases,
    resolve_model_dir,
)
from composer_app.paths import shared_data_dir  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a shipped model's name or a checkpoint folder")
    parser.add_argument("--data", type=Path, default=shared_data_dir() / "nottingham.json.gz")
    parser.add_argument("--split", default="test")
    parser.add_argument("--frames", type=int, default=1000, help="frames sampled from the split")
    parser.add_argument("--chains", type=int, default=16)
    parser.add_argument("--temperatures", type=int, nargs="+", default=[50, 100, 200, 400, 800])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reverse", action="store_true", help="also run reverse AIS")
    parser.add_argument(
        "--protocol", type=int, default=400, help="K whose bias --reverse estimates"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model_dir = resolve_model_dir(args.model, paths.model_dir)
    config, model = load_checkpoint(model_dir)
    sequences = load_benchmark(args.data)[args.split]
    every = frame_biases(model, sequences)
    pick = np.sort(np.random.default_rng(args.seed).choice(every.n_frames, args.frames, False))
    biases = FrameBiases(every.frames[pick], every.bv[pick], every.bh[pick])
    W = model.W.detach()
    with torch.no_grad():
        v = biases.frames.double()
        bv, bh = biases.bv.double(), biases.bh.double()
        neg_free = -free_energy(v, W.double(), bv, bh)
        log_z0 = log_partition_base(bv, bh)
    print(
        f"{model_dir} (H = {config.n_hidden}) on {args.frames} random frames of "
        f"{args.data.name} [{args.split}] ({every.n_frames} frames), {args.chains} chains, "
        f"torch threads {torch.get_num_threads()}"
    )
    counts = [c for c in (1, 2, 5, 16, 64) if c < args.chains] + [args.chains]
    header = "    K " + "".join(f"{f'LL({c} ch)':>11}" for c in counts)
    if args.reverse:
        header += f"{f'reverse({args.chains})':>13}{'gap':>9}"
    print(header + "  std(log w)  us/(frame*chain*K)")
    per_frame: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}
    for k in args.temperatures:
        start = time.process_time()
        log_w = ais_log_weights(
            W,
            biases.bv,
            biases.bh,
            betas=linear_schedule(k),
            n_chains=args.chains,
            rng=np.random.default_rng([args.seed, k]),
        )
        cpu_s = time.process_time() - start

        def ll(chains: int, log_w: torch.Tensor = log_w) -> float:
            log_z = log_z0 + torch.logsumexp(log_w[:, :chains], 1) - math.log(chains)
            return float((neg_free - log_z).mean())

        spread = float(log_w.std(dim=1).mean())
        cost_us = cpu_s / (args.frames * args.chains * k) * 1e6
        forward = neg_free - (log_z0 + torch.logsumexp(log_w, 1) - math.log(args.chains))
        reverse = None
        row = f"{k:5d} " + "".join(f"{ll(c):11.4f}" for c in counts)
        if args.reverse:
            neg_s = reverse_ais_log_weights(
                W,
                biases.bv,
                biases.bh,
                biases.frames,
                betas=linear_schedule(k),
                n_chains=args.chains,
                rng=np.random.default_rng([args.seed, k, 1]),
            )
            reverse = neg_free - (log_z0 - torch.logsumexp(neg_s, 1) + math.log(args.chains))
            gap = float(forward.mean() - reverse.mean())
            row += f"{float(reverse.mean()):13.4f}{gap:9.4f}"
        per_frame[k] = (forward, reverse)
        print(row + f"  {spread:10.4f} {cost_us:10.2f}", flush=True)
    if args.reverse:
        top = max(args.temperatures)
        forward, reverse = per_frame[top]
        assert reverse is not None
        low, high = float(reverse.mean()), float(forward.mean())
        print(f"at K = {top}: {bracket_verdict(low, high)}")
        if args.protocol in per_frame:
            # the reference: the midpoint of a closed bracket; forward AIS's own figure (an
            # upper bound, so the bias is at least this) when reverse AIS crossed above it
            reference = (forward + reverse) / 2 if low <= high else forward
            difference = per_frame[args.protocol][0] - reference
            mean = float(difference.mean())
            error = float(difference.std()) / math.sqrt(len(difference))
            what = (
                f"above the midpoint (+- {(high - low) / 2:.4f} more while the bracket is open)"
                if low <= high
                else f"above forward AIS at K = {top}: its bias is at least that"
            )
            print(
                f"forward AIS at K = {args.protocol} lies {mean:.4f} +- {error:.4f} (standard "
                f"error over the frames) {what}; subtract it from a whole split's figure at "
                f"K = {args.protocol}, {args.chains} chains, to remove its bias"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How many AIS temperatures and chains the log-likelihood needs, and what they cost.

For a sample of frames of a split, every frame's conditional RBM gets ``--chains`` AIS chains
at each number of temperatures in ``--temperatures``. Printed per setting: the mean LL per
frame from the first 1, 2, 5, 16, 64 chains (as many as there are; the log of a mean of few
weights is biased low, so LL is biased high), the mean over frames of the spread (std) of
``log w`` across chains, and the CPU cost per frame x chain x temperature. The Jensen bias of
an estimate from C chains is about ``var(log w) / (2 C)`` while the chains sample each RBM
well; for a sharp, many-moded RBM it falls more slowly, and more chains help more than more
temperatures.

Run: ``.venv/bin/python benchmarks/evaluate_cost.py MODEL_DIR --frames 1000``
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

from composer_app.ml.ais import ais_log_weights, linear_schedule  # noqa: E402
from composer_app.ml.checkpoint import load_checkpoint  # noqa: E402
from composer_app.ml.data import load_benchmark  # noqa: E402
from composer_app.ml.evaluate import FrameBiases, frame_biases  # noqa: E402
from composer_app.paths import shared_data_dir  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path, default=shared_data_dir() / "nottingham.json.gz")
    parser.add_argument("--split", default="test")
    parser.add_argument("--frames", type=int, default=1000, help="frames sampled from the split")
    parser.add_argument("--chains", type=int, default=16)
    parser.add_argument("--temperatures", type=int, nargs="+", default=[50, 100, 200, 400, 800])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config, model = load_checkpoint(args.model)
    sequences = load_benchmark(args.data)[args.split]
    every = frame_biases(model, sequences)
    pick = np.sort(np.random.default_rng(args.seed).choice(every.n_frames, args.frames, False))
    biases = FrameBiases(every.frames[pick], every.bv[pick], every.bh[pick])
    W = model.W.detach()
    with torch.no_grad():
        v = biases.frames.double()
        bv, bh = biases.bv.double(), biases.bh.double()
        neg_free = (v * bv).sum(1) + torch.nn.functional.softplus(v @ W.double() + bh).sum(1)
        log_z0 = torch.nn.functional.softplus(bv).sum(1) + torch.nn.functional.softplus(bh).sum(1)
    print(
        f"{args.model} (H = {config.n_hidden}) on {args.frames} random frames of "
        f"{args.data.name} [{args.split}] ({every.n_frames} frames), {args.chains} chains, "
        f"torch threads {torch.get_num_threads()}"
    )
    counts = [c for c in (1, 2, 5, 16, 64) if c < args.chains] + [args.chains]
    print("    K " + "".join(f"{f'LL({c} ch)':>11}" for c in counts) + "  std(log w)  us/(frame*chain*K)")
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
        print(
            f"{k:5d} " + "".join(f"{ll(c):11.4f}" for c in counts) + f"  {spread:10.4f} "
            f"{cost_us:10.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

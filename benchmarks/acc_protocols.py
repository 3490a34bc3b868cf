"""Frame accuracy (ACC) of a model under several prediction protocols, on one split.

The paper's ACC (Bay et al.'s ``TP / (TP + FP + FN)``) depends on how a frame's prediction
is made. This prints, per model, on the Nottingham test split by default:

* ``copy previous``: no model, the true previous frame as the prediction (the baseline);
* ``sampled, from silence`` / ``sampled, from previous``: the expectation over ``--samples``
  Gibbs samples of ``--gibbs-steps`` steps each, chains started at the all-off frame or at
  the true previous frame (what ``composer-app evaluate`` reports, with the model's setting);
* ``thresholded``: the notes whose probability (by the same chains, the model's own start)
  is at least 0.5, one deterministic prediction per frame;
* ``from the true frame, k = 15``: chains started at the frame being predicted, as a CD-15
  chain in training starts. **This leaks the answer** and is not a prediction; it is printed
  because short chains from the data are what a training loop's sampler produces, and its
  figure can be compared with a published ACC.

Run: ``.venv/bin/python benchmarks/acc_protocols.py [--models nottingham_ll nottingham]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from composer_app import paths  # noqa: E402
from composer_app.ml.checkpoint import load_checkpoint  # noqa: E402
from composer_app.ml.data import load_benchmark  # noqa: E402
from composer_app.ml.evaluate import (  # noqa: E402
    FrameBiases,
    accuracy_counts,
    expected_accuracy,
    frame_accuracy,
    frame_biases,
    resolve_model_dir,
)


def show(label: str, accuracy: float, note: str = "") -> None:
    """One line of the table: the protocol and its ACC in percent."""
    print(f"  {label:<36}{100 * accuracy:6.2f}%{note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["nottingham_ll", "nottingham"])
    parser.add_argument("--data", type=Path, default=None, help="default: shared Nottingham")
    parser.add_argument("--split", default="test")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--gibbs-steps", type=int, default=25)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = args.data or paths.shared_data_dir() / "nottingham.json.gz"
    if not data.is_file():
        print(f"no benchmark data at {data}; pass --data", file=sys.stderr)
        return 2
    sequences = [s for s in load_benchmark(data)[args.split] if len(s)]
    for name in args.models:
        config, model = load_checkpoint(resolve_model_dir(name, paths.model_dir))
        biases = frame_biases(model, sequences)
        assert biases.previous is not None
        W = model.W.detach()
        started = time.perf_counter()
        print(
            f"{name} on {data.name} [{args.split}], {biases.n_frames} frames, "
            f"{args.samples} samples x {args.gibbs_steps} Gibbs steps"
        )
        copy = frame_accuracy(*accuracy_counts(biases.previous, biases.frames))
        show("copy previous (baseline)", copy)
        own = None
        for start in ("silence", "previous"):
            result = expected_accuracy(
                W,
                biases,
                n_samples=args.samples,
                gibbs_steps=args.gibbs_steps,
                rng=0,
                chain_start=start,
            )
            mark = "  (the model's setting)" if start == config.chain_start else ""
            show(f"sampled, from {start}", result.accuracy, mark)
            if start == config.chain_start:
                own = result
        assert own is not None
        show("thresholded (p >= 0.5)", own.thresholded_accuracy)
        leak = FrameBiases(frames=biases.frames, bv=biases.bv, bh=biases.bh, previous=biases.frames)
        leaked = expected_accuracy(
            W, leak, n_samples=args.samples, gibbs_steps=15, rng=0, chain_start="previous"
        )
        show("from the true frame, k = 15 (leak)", leaked.accuracy)
        print(f"  ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

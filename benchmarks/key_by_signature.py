"""Which key should a seed be moved into C by: its key signature, or the key estimated from it?

The benchmark data the models learnt were moved to C major / C minor before training. This
asks which of three rules the shipped model agrees with, on the Nottingham MIDI tunes (whose
key signatures are their ABC files' keys): each tune's first ``--bars`` bars are the seed;
the key is taken from

* ``estimate``: the Krumhansl-Schmuckler estimate of the seed (the app before 2026-12-07);
* ``signature``: the tune's first key signature;
* ``app``: what the app does now (:func:`composer_app.core.keys.transposition_key`: the
  signature's major key or relative minor, as the notes say, where the seed's notes fit its
  scale at least as well as their estimated key's, else the estimate);

then the whole tune is moved by that key (and by whole octaves to the model's register, as a
continuation is) and the model's log-likelihood per step of it is estimated by AIS. Only the
tunes where the rules do not all agree are scored (elsewhere they give the same number).
Higher is better: the rule the model "hears" the tunes best under is the one its training
data were moved by. The tunes are the corpus's, training tunes among them (the MIDI files do
not map onto the data's splits). ``--signature-offset N`` gives every tune a wrong signature,
N sharps from its own (-1: a tune in D marked G), to see what a wrong one costs; ``--margin``
sets :data:`~composer_app.core.keys.SIGNATURE_FIT_MARGIN`.

Run: ``.venv/bin/python benchmarks/key_by_signature.py [--model nottingham_ll] [--bars 4]
[--signature-offset 0] [--margin 0] [--temperatures 100 --chains 8] [--threads 2]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from composer_app import paths  # noqa: E402
from composer_app.core import keys  # noqa: E402
from composer_app.core.keys import Key, estimate_key, transposition_key  # noqa: E402
from composer_app.core.pianoroll import notes_to_roll  # noqa: E402
from composer_app.core.score import KeySignature  # noqa: E402
from composer_app.midi.files import read_mid  # noqa: E402
from composer_app.ml.checkpoint import load_checkpoint  # noqa: E402
from composer_app.ml.evaluate import frame_biases, log_likelihood, resolve_model_dir  # noqa: E402

RULES = ("estimate", "signature", "app")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nottingham_ll")
    parser.add_argument("--bars", type=int, default=4, help="seed length in bars")
    parser.add_argument("--temperatures", type=int, default=100)
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--signature-offset", type=int, default=0)
    parser.add_argument("--margin", type=float, default=keys.SIGNATURE_FIT_MARGIN)
    args = parser.parse_args()
    keys.SIGNATURE_FIT_MARGIN = args.margin
    torch.set_num_threads(args.threads)
    corpus = paths.shared_data_dir() / "nottingham_midi" / "MIDI"
    files = sorted(corpus.glob("*.mid"))
    if not files:
        print(f"no Nottingham MIDI files in {corpus}", file=sys.stderr)
        return 2
    config, model = load_checkpoint(resolve_model_dir(args.model, paths.model_dir))
    register = config.register_pitch or 62.5
    rolls: dict[str, list[np.ndarray]] = {rule: [] for rule in RULES}
    counts = {"tunes": 0, "the rules differ": 0, "app took the signature's tonic": 0}
    for path in files:
        score = read_mid(path)
        if not score.key_signatures:
            continue
        counts["tunes"] += 1
        first = score.key_signatures[0]
        sharps = (first.sharps + args.signature_offset + 7) % 15 - 7  # (wrapped into -7..7)
        signature = KeySignature(first.tick, sharps, first.minor)
        seed = [n for n in score.notes if n.start_tick < score.bar_start(args.bars + 1)]
        estimated = estimate_key(seed)
        in_force = score.key_signature_at(score.bar_start(args.bars + 1) - 1)
        if args.signature_offset:
            in_force = signature
        chosen = transposition_key(seed, in_force)
        if estimated is None or chosen is None:
            continue
        tonics = {"estimate": estimated.tonic, "signature": signature.tonic,
                  "app": chosen.tonic}
        if len(set(tonics.values())) == 1:
            continue
        counts["the rules differ"] += 1
        counts["app took the signature's tonic"] += chosen.tonic == signature.tonic
        mean = float(np.mean([n.pitch for n in seed]))
        for rule, tonic in tonics.items():
            shift = Key(tonic).semitones_to_c()
            shift += 12 * round((register - mean - shift) / 12)
            rolls[rule].append(notes_to_roll(
                list(score.notes), score.ppq // 2, start_tick=0, end_tick=score.end_tick,
                pitch_low=config.pitch_low - shift, pitch_high=config.pitch_high - shift,
            ).roll)  # fmt: skip
    print(f"model {args.model}, seeds of {args.bars} bars, signature offset "
          f"{args.signature_offset}, margin {args.margin:g}; " + ", ".join(
        f"{name}: {value}" for name, value in counts.items()))
    for rule in RULES:
        started = time.perf_counter()
        result = log_likelihood(
            model.W.detach(), frame_biases(model, rolls[rule]),
            n_temperatures=args.temperatures, n_chains=args.chains, n_runs=1,
        )  # fmt: skip
        print(f"  {rule:<10} LL {result.mean:8.4f} nats/step over {result.n_frames} frames "
              f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

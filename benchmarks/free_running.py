"""How often a model thins out to silence when it continues real tunes freely.

Continues the first ``--bars`` bars of ``--tunes`` Nottingham MIDI tunes (a fixed random
choice from ``../shared/data/nottingham_midi/MIDI``, when present) and of the example seeds
in ``resources/seeds`` for ``--steps`` steps with random seeds 0 .. ``--seeds`` - 1, through
the app's own engine (:class:`composer_app.ml.continuation.Continuation`, default settings:
each model samples as its config says),
and prints per model: the fraction of silent steps (``--allow-rests`` lets them stand, as
the app does only when asked), the fraction of continuations silent for
a fifth of their steps or more, the silent fraction in their second halves, the mean
notes per step, and how much it drones: the fraction of steps that repeat the step before
exactly, the mean longest run of identical steps and the new notes per step (notes that
start; a sampler that mixes slowly holds chords and melody notes too long). ``--rest-bars N`` puts N silent bars
between the seed and the continuation (a melody that stops, then the user continues). The
first model named is the baseline
(the app's default by default); the same droning figures of the Nottingham test tunes
(windows of ``--steps`` frames) are the reference from the data.

Run: ``.venv/bin/python benchmarks/free_running.py [--models nottingham_ll nottingham]``
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from composer_app import paths  # noqa: E402
from composer_app.midi.files import read_mid  # noqa: E402
from composer_app.ml.continuation import (  # noqa: E402
    Continuation,
    ContinuationSettings,
    load_model,
)
from composer_app.ml.data import DataError, load_benchmark  # noqa: E402
from composer_app.ml.evaluate import resolve_model_dir  # noqa: E402


def repeats(frames: np.ndarray) -> tuple[float, int]:
    """Fraction of steps equal to the step before, and the longest run of equal steps.

    Shapes: ``frames (T, P)`` 0/1, ``T >= 2``.
    """
    same = np.all(frames[1:] == frames[:-1], axis=1)
    longest = run = 1
    for equal in same:
        run = run + 1 if equal else 1
        longest = max(longest, run)
    return float(same.mean()), longest


def onsets(frames: np.ndarray) -> float:
    """New notes per step: units that turn on from one step to the next, per step.

    Shapes: ``frames (T, P)`` 0/1, ``T >= 2``.
    """
    on = frames.astype(np.int8)
    return float((np.diff(on, axis=0) == 1).sum() / (len(frames) - 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["nottingham_ll", "nottingham"])
    parser.add_argument("--tunes", type=int, default=25)
    parser.add_argument("--bars", type=int, default=4)
    parser.add_argument(
        "--rest-bars",
        type=int,
        default=0,
        help="bars of silence after the seed's bars, before the continuation starts",
    )
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument(
        "--gibbs-steps", type=int, default=None, help="default: each model's own sampling steps"
    )
    parser.add_argument(
        "--sampler",
        choices=("gibbs", "annealed"),
        default=None,
        help="sample every model this way (default: as its config says)",
    )
    parser.add_argument(
        "--allow-rests",
        action="store_true",
        help="let silent steps stand (the app draws them again by default)",
    )
    args = parser.parse_args()
    folder = paths.shared_data_dir() / "nottingham_midi" / "MIDI"
    files = sorted(folder.glob("*.mid")) if folder.is_dir() else []
    random.Random(0).shuffle(files)
    files = files[: args.tunes] + sorted(paths.resource_path("seeds").glob("*.mid"))
    models = {
        name: load_model(str(resolve_model_dir(name, paths.model_dir)), name)
        for name in args.models
    }
    if args.sampler:
        models = {
            name: replace(model, config=replace(model.config, sampler=args.sampler))
            for name, model in models.items()
        }
    stats: dict[str, list[tuple[float, ...]]] = {name: [] for name in models}
    started = time.perf_counter()
    for path in files:
        tune = read_mid(path)
        bar = tune.time_signature_at(0).bar_ticks(tune.ppq)
        seed = [n for n in tune.notes if n.start_tick < args.bars * bar]
        if not seed:
            continue
        start = max(n.end_tick for n in seed)
        if args.rest_bars:
            start = -(-start // bar) * bar + args.rest_bars * bar  # whole bars of rest
        for name, model in models.items():
            for random_seed in range(args.seeds):
                settings = ContinuationSettings(
                    n_steps=args.steps,
                    random_seed=random_seed,
                    gibbs_steps=args.gibbs_steps,
                    allow_rests=args.allow_rests,
                )
                continuation = Continuation(model, seed, tune.ppq, start, settings)
                frames = np.array([step.frame for step in continuation]).astype(bool)
                notes = frames.sum(axis=1)
                half = len(notes) // 2
                stats[name].append(
                    (
                        float(np.mean(notes == 0)),
                        float(notes.mean()),
                        float(np.mean(notes[half:] == 0)),
                        *repeats(frames),
                        onsets(frames),
                    )
                )
    steps = args.gibbs_steps or "each model's own"
    print(
        f"{len(files)} tunes x {args.seeds} random seeds, first {args.bars} bars as the seed"
        f"{f' then {args.rest_bars} bars of rest' if args.rest_bars else ''}, "
        f"{args.steps} steps each, {steps} sampling steps, "
        f"{'silent steps allowed' if args.allow_rests else 'silent steps drawn again'}"
        f"{f', every model sampled by {args.sampler}' if args.sampler else ''} "
        f"({time.perf_counter() - started:.0f} s)"
    )
    print(
        "model              silent steps  >=20% silent  silent, 2nd half  notes/step  "
        "repeats  longest run  new notes/step"
    )
    for name, rows in stats.items():
        a = np.array(rows)
        print(
            f"{name:18s} {a[:, 0].mean():12.3f} {np.mean(a[:, 0] >= 0.2):13.2f} "
            f"{a[:, 2].mean():17.3f} {a[:, 1].mean():11.2f} {a[:, 3].mean():8.3f} "
            f"{a[:, 4].mean():12.1f} {a[:, 5].mean():15.3f}"
        )
    try:
        tunes = load_benchmark(paths.shared_data_dir() / "nottingham.json.gz")["test"]
    except (DataError, OSError):
        return 0
    # the data's own droning: windows of the same length after the same start, when long enough
    skip = args.bars * 8  # 4/4 bars of eighth-note frames, the usual Nottingham bar
    windows = [t[skip : skip + args.steps] for t in tunes if len(t) >= skip + args.steps]
    data = np.array([(*repeats(w.astype(bool)), onsets(w)) for w in windows])
    silent = np.array([np.mean(w.sum(axis=1) == 0) for w in windows])
    notes = np.array([w.sum(axis=1).mean() for w in windows])
    print(
        f"{'data (test tunes)':18s} {silent.mean():12.3f} {np.mean(silent >= 0.2):13.2f} "
        f"{'':17s} {notes.mean():11.2f} "
        f"{data[:, 0].mean():8.3f} {data[:, 1].mean():12.1f} {data[:, 2].mean():15.3f}"
        f"   ({len(windows)} windows)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

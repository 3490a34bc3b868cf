"""Time Quantize on large scores against moving the same notes (the baseline, same run).

Quantize (Q) snaps each note's start and length to the grid of its own bar; a transpose
makes as many new notes with no grid arithmetic, so the ratio is what the grid costs. The
notes are random, over the whole score, at 1,024 PPQ (the Nottingham files') on a grid of
3/16 (768 ticks), so that most of them move.

Run: ``.venv/bin/python benchmarks/quantize_scale.py [--sizes 10000 100000]``
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.edit_while_playing import best_of  # noqa: E402
from composer_app.core.note import Note  # noqa: E402
from composer_app.core.score import Score  # noqa: E402
from composer_app.gui.pianoroll.geometry import bar_at, quantized  # noqa: E402


def make_score(n_notes: int) -> Score:
    rng = random.Random(0)
    score = Score(ppq=1024)
    score.add_many(
        Note(rng.randrange(0, n_notes * 300), rng.randrange(40, 90), rng.randrange(50, 2000))
        for _ in range(n_notes)
    )
    return score


def quantize_all(score: Score, step: int) -> list[Note]:
    """What the editor's Quantize does: one bar lookup per bar, the notes in start order."""
    moved = []
    bar = (0, 0)
    for note in score.notes:
        if not bar[0] <= note.start_tick < bar[1]:
            bar = bar_at(score, note.start_tick)
        moved.append(quantized(note, step, bar))
    return moved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {platform.machine()}; best of {args.runs}")
    print(f"{'notes':>8} {'transpose (baseline)':>21} {'quantize':>10} {'ratio':>6}")
    for n in args.sizes:
        score = make_score(n)
        transpose_s = best_of(args.runs, lambda s=score: [x.moved(0, 1) for x in s.notes])
        quantize_s = best_of(args.runs, lambda s=score: quantize_all(s, 768))
        print(f"{n:>8} {transpose_s * 1000:>18.0f} ms {quantize_s * 1000:>7.0f} ms "
              f"{quantize_s / transpose_s:>6.2f}")


if __name__ == "__main__":
    main()

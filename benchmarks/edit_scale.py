"""Time whole-score edits of a large score: transpose all, undo, delete all.

Prints, for each size, the core edit (``ReplaceNotes.apply``) against a same-run baseline,
the one-by-one removal that ``Score`` used before 2026-12-07 (a binary search and a
``del list[i]`` per note: quadratic), and the edit through ``ScoreDocument.push`` and its undo
(what the Up and Del keys and Ctrl+Z do, without drawing).

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/edit_scale.py [--sizes 20000 100000]``
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtWidgets import QApplication  # noqa: E402

from composer_app.core.edits import move_notes, remove_notes  # noqa: E402
from composer_app.core.note import Note  # noqa: E402
from composer_app.core.score import Score, ScoreError  # noqa: E402
from composer_app.gui.document import ScoreDocument  # noqa: E402


def make_score(n_notes: int) -> Score:
    """``n_notes`` eighth notes, four voices, over pitches 36-95."""
    score = Score()
    score.add_many(Note((i // 4) * 240, 36 + (i * 7) % 60, 240, velocity=80)
                   for i in range(n_notes))
    return score


def one_by_one_replace(score: Score, removed: tuple[Note, ...], added: tuple[Note, ...]) -> None:
    """The baseline: each note removed by its own search and ``del`` (as before)."""
    done: list[Note] = []
    try:
        for note in removed:
            score.remove(note)
            done.append(note)
    except ScoreError:
        score.add_many(done)
        raise
    score.add_many(added)


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 250_000])
    args = parser.parse_args()
    QApplication.instance() or QApplication([])
    print(f"Python {platform.python_version()}, {platform.machine()}")
    print(f"{'notes':>8} {'baseline apply':>15} {'apply':>8} {'push (Up)':>10} "
          f"{'undo':>8} {'delete all':>11}")
    for n in args.sizes:
        print(measure(n))


def measure(n: int) -> str:
    """One size's figures, as a line of the table."""
    score = make_score(n)
    edit = move_notes(score.notes, 0, 1, "Transpose")
    baseline = timed(lambda: one_by_one_replace(score, edit.removed, edit.added))
    one_by_one_replace(score, edit.added, edit.removed)  # back
    apply = timed(lambda: edit.apply(score))
    edit.revert(score)
    document = ScoreDocument(score)
    document.set_selection(score.notes)
    push = timed(lambda: document.push(move_notes(sorted(document.selection), 0, 1)))
    undo = timed(document.undo_stack.undo)
    delete = timed(lambda: document.push(remove_notes(score.notes)))
    assert len(document.score) == 0
    return (f"{n:>8} {baseline:>14.3f}s {apply:>7.3f}s {push:>9.3f}s {undo:>7.3f}s "
            f"{delete:>10.3f}s")

if __name__ == "__main__":
    main()

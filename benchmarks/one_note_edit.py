"""Time a one-note edit of a large score, and the queries every edit and repaint make.

A note drawn and undone through ``ScoreDocument.push`` (what a Draw click and Ctrl+Z do,
without drawing), ``Score.end_tick`` (asked after every edit) and ``Score.notes_in_range``
over the last bars (what hover, the Erase tool and the velocity lane ask), against the
baseline of the same run: ``Score.notes``, one C-level copy of the note list, which any
pass over the whole score costs at least.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/one_note_edit.py``
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtWidgets import QApplication  # noqa: E402

from composer_app.core.edits import add_notes  # noqa: E402
from composer_app.core.note import Note  # noqa: E402
from composer_app.core.score import Score  # noqa: E402
from composer_app.gui.document import ScoreDocument  # noqa: E402


def best_ms(action, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        action()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000


def main() -> None:
    _app = QApplication.instance() or QApplication([])
    print(f"Python {platform.python_version()}, {platform.machine()}; best of 5, ms")
    print(f"{'notes':>8} {'baseline (copy)':>16} {'draw + undo':>12} {'end_tick':>9} "
          f"{'notes_in_range':>15}")
    for n in (10_000, 100_000):
        score = Score()
        score.add_many(Note(i * 120, 40 + i % 40, 240) for i in range(n))
        document = ScoreDocument(score)
        end = score.end_tick

        def draw_and_undo(doc: ScoreDocument = document, tick: int = end // 2 + 7) -> None:
            doc.push(add_notes([Note(tick, 100, 240)]))
            doc.undo_stack.undo()

        print(f"{n:>8} {best_ms(lambda s=score: s.notes):>16.2f} {best_ms(draw_and_undo):>12.2f} "
              f"{best_ms(lambda s=score: s.end_tick):>9.2f} "
              f"{best_ms(lambda s=score, e=end: s.notes_in_range(e - 7680, e)):>15.2f}")


if __name__ == "__main__":
    main()

"""Time dragging 20,000 selected notes of a 100,000-note score with the Select tool.

The real editor offscreen (1600x900) and real mouse events: the median time of a mouse move
(the event and the repaint it causes) over 8 moves of 9 px, and of the release, which makes
the moved notes and pushes the edit. The baseline in the same run is a repaint of the same
view with nothing being dragged.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/drag_scale.py``
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from composer_app.core.note import Note  # noqa: E402
from composer_app.core.score import Score  # noqa: E402
from composer_app.gui.document import ScoreDocument  # noqa: E402
from composer_app.gui.pianoroll.editor import PianoRollEditor  # noqa: E402


def main() -> None:
    app = QApplication.instance() or QApplication([])
    score = Score()
    score.add_many(Note(i * 60, 40 + (i * 7) % 40, 240) for i in range(100_000))
    editor = PianoRollEditor(ScoreDocument(score))
    editor.resize(1600, 900)
    editor.show()
    app.processEvents()
    view = editor.view
    view.set_tool("select")
    notes = score.notes[40_000:60_000]
    editor.document.set_selection(notes)
    anchor = notes[0]
    geo = view.geometry
    view.set_geometry(replace(geo, pixels_per_tick=0.1, scroll_x_px=anchor.start_tick * 0.1 - 100,
                              scroll_y_px=(127 - anchor.pitch - 20) * geo.row_height_px))
    app.processEvents()
    geo = view.geometry
    x = int(geo.tick_to_x(anchor.start_tick + 30))
    y = int(geo.pitch_to_y(anchor.pitch) + geo.row_height_px / 2)

    repaints = []
    for _ in range(8):
        view._scene_cache_key = None  # the notes drawn afresh, as after a move
        t0 = time.perf_counter()
        view.repaint()
        repaints.append(time.perf_counter() - t0)
    QTest.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    moves = []
    for k in range(1, 9):
        t0 = time.perf_counter()
        QTest.mouseMove(view, QPoint(x + 9 * k, y))
        app.processEvents()
        view.repaint()
        moves.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(x + 72, y))
    app.processEvents()
    release_s = time.perf_counter() - t0
    print(f"Python {platform.python_version()}; 100,000 notes, 20,000 selected and dragged")
    print(f"repaint, nothing dragged (baseline): median {statistics.median(repaints) * 1000:.1f} ms")
    print(f"mouse move while dragging:           median {statistics.median(moves) * 1000:.1f} ms")
    print(f"release (the edit pushed):           {release_s * 1000:.0f} ms")


if __name__ == "__main__":
    main()

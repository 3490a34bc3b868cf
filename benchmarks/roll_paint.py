"""Time to paint one frame of the piano roll with 10,000 notes at 1600x900 (offscreen).

Each case renders the roll view into a 1600x900 QImage ``--frames`` times and prints the
median and 95th percentile in milliseconds. At the default zoom (about 8 bars visible):

- ``playhead moving`` -- only the playhead moved since the last frame (playback): the cached
  scene (grid + notes) is copied and the line drawn.
- ``scrolling`` -- the view scrolls 7 px before every frame, so the grid and the notes are
  painted afresh each time (the full cost of a frame; the headline figure).
- ``scrolling, every note selected`` -- the same after Select All (the selected notes on
  screen are found among those visible, however large the selection).
- ``no caches, all notes`` -- the same-run baseline: caches off and every note of the score
  handed to the painter (what a naive paintEvent does).

With zoom to fit (all 10,000 notes visible, the worst case for note painting):

- ``playhead moving``, ``after an edit`` (the scene is rebuilt every frame, the grid kept),
  and ``no caches`` (its baseline).

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/roll_paint.py``
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import PySide6  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from composer_app.core.note import Note  # noqa: E402
from composer_app.core.score import Score  # noqa: E402
from composer_app.gui.document import ScoreDocument  # noqa: E402
from composer_app.gui.pianoroll.geometry import RollGeometry  # noqa: E402
from composer_app.gui.pianoroll.view import PianoRollView  # noqa: E402

WIDTH_PX, HEIGHT_PX = 1600, 900


def make_score(note_count: int, seed: int = 0) -> Score:
    """``note_count`` notes over 200 bars of 4/4 (about 50 per bar), a fifth of them generated."""
    rng = random.Random(seed)
    score = Score()
    bars = 200
    notes = [
        Note(rng.randrange(bars * 16) * 120, rng.randrange(36, 97), rng.choice((120, 240, 480, 960)),
             rng.randrange(20, 128), generated=rng.random() < 0.2)
        for _ in range(note_count)
    ]
    score.add_many(notes)
    return score


def time_frames(view: PianoRollView, image: QImage, frames: int, *, scroll_px: float = 0.0,
                playhead: bool = False, invalidate_scene: bool = False) -> list[float]:
    """Render ``frames`` frames; return each frame's time in milliseconds.

    Before each timed frame the view optionally scrolls, moves its playhead by 10 ticks, or
    forgets its cached scene; only the rendering is timed.
    """
    times_ms = []
    for _ in range(5):  # warm up caches and code paths
        view.render(image)
    for _ in range(frames):
        if scroll_px:
            geo = view.geometry
            view.set_geometry(replace(geo, scroll_x_px=geo.scroll_x_px + scroll_px))
        if playhead:
            start, end = view.geometry.visible_tick_range()
            view.set_playhead_tick(start + (view.playhead_tick + 10 - start) % (end - start))
        if invalidate_scene:
            view._scene_cache_key = None
        start_s = time.perf_counter()
        view.render(image)
        times_ms.append((time.perf_counter() - start_s) * 1000)
    return times_ms


def summarize(name: str, times_ms: list[float]) -> tuple[float, float]:
    """Print and return the median and 95th percentile of frame times."""
    ordered = sorted(times_ms)
    median = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    print(f"{name:<34} median {median:7.2f} ms   p95 {p95:7.2f} ms   ({len(ordered)} frames)")
    return median, p95


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=10_000)
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args(argv)

    app = QApplication.instance() or QApplication([])
    score = make_score(args.notes)
    view = PianoRollView(ScoreDocument(score))
    view.resize(WIDTH_PX, HEIGHT_PX)
    view.show()
    app.processEvents()
    image = QImage(WIDTH_PX, HEIGHT_PX, QImage.Format.Format_ARGB32_Premultiplied)
    # Default zoom, scrolled to bar 101 around middle C.
    default = RollGeometry(pixels_per_tick=0.1, row_height_px=12.0, scroll_x_px=100 * 1920 * 0.1,
                           scroll_y_px=(127 - 90) * 12.0, width_px=WIDTH_PX, height_px=HEIGHT_PX)
    view.set_geometry(default)
    start, end = view.geometry.visible_tick_range()
    low, high = view.geometry.visible_pitch_range()
    visible = len(score.notes_in_range(start, end, low, high))
    print(f"{len(score)} notes, {WIDTH_PX}x{HEIGHT_PX} px, {visible} visible at the default zoom; "
          f"PySide6 {PySide6.__version__}, Python {sys.version.split()[0]}")

    results = {}
    frames = args.frames
    results["steady"] = summarize("playhead moving", time_frames(view, image, frames, playhead=True))
    results["scroll"] = summarize("scrolling (full repaint)",
                                  time_frames(view, image, frames, scroll_px=7.0))
    view.set_geometry(default)
    view.document.set_selection(score.notes)  # Ctrl+A: the selected style on every note
    results["scroll_all"] = summarize("scrolling, every note selected",
                                      time_frames(view, image, frames, scroll_px=7.0))
    view.document.set_selection(())
    view.set_geometry(default)
    view.use_caches, view.cull_notes = False, False
    results["baseline"] = summarize("no caches, all notes", time_frames(view, image, frames))
    view.use_caches, view.cull_notes = True, True
    view.set_geometry(default.fitted(0, score.end_tick, 36, 96))
    print("zoom to fit: all notes visible")
    results["fit_steady"] = summarize("playhead moving",
                                      time_frames(view, image, frames, playhead=True))
    results["fit_edit"] = summarize("after an edit (notes repainted)",
                                    time_frames(view, image, frames, invalidate_scene=True))
    view.use_caches, view.cull_notes = False, False
    results["fit_baseline"] = summarize("no caches", time_frames(view, image, frames))
    speedup = results["baseline"][0] / results["scroll"][0]
    verdict = "met" if results["scroll"][1] <= 16 else "NOT met"
    print(f"default zoom: full repaint {speedup:.1f}x faster than the baseline (medians); "
          f"target <= 16 ms {verdict} (p95 {results['scroll'][1]:.2f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

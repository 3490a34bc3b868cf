"""Render the main window offscreen with a real melody and save docs/screenshot.png.

Usage: ``QT_QPA_PLATFORM=offscreen python docs/make_screenshot.py [output.png]``, and
``... docs/make_screenshot.py --continuation [output.png]`` for a continuation in progress
with the default shipped model (docs/screenshot_continuation.png).

The melody is a Nottingham folk tune from ``../shared/data/nottingham_midi/MIDI/`` when that
folder exists, else a short tune built here. Settings and autosaves go to a temporary folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from composer_app.core.note import Note  # noqa: E402
from composer_app.core.score import Score, TempoChange  # noqa: E402
from composer_app.gui.main_window import MainWindow  # noqa: E402
from composer_app.midi.files import write_mid  # noqa: E402
from composer_app.midi.ports import PortListing  # noqa: E402
from composer_app.paths import DEFAULT_MODEL_NAME, shared_data_dir  # noqa: E402

TUNE = "ashover1.mid"
WIDTH_PX, HEIGHT_PX = 1400, 850


def built_melody() -> Score:
    """A C-major tune over I-IV-V-I (melody plus a chord on each bar)."""
    score = Score(tempo_map=[TempoChange.from_bpm(0, 110)])
    melody = [64, 62, 60, 62, 64, 64, 64, 62, 62, 62, 64, 67, 67, 64, 62, 60]
    score.add_many(Note(i * 480, p, 480, 96) for i, p in enumerate(melody))
    for bar, chord in enumerate([(48, 52, 55), (53, 57, 60), (55, 59, 62), (48, 52, 55)]):
        score.add_many(Note(bar * 1920, p, 1920, 70) for p in chord)
    return score


def grab_and_save(app: QApplication, window: MainWindow, out: Path, source: str = "") -> int:
    """Let the window settle, save a picture of it to ``out`` and close it. Exit status."""
    for _ in range(5):
        app.processEvents()
    image = window.grab().toImage()
    window.shutdown()
    window.close()
    if not image.save(str(out)):
        print(f"could not write {out}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({image.width()}x{image.height()}){source}")
    return 0


def continuation_shot(out: Path) -> int:
    """The first bars of a melody as the seed, a continuation half generated, heat map on."""
    import time

    from composer_app.midi.files import read_mid

    tune = shared_data_dir() / "nottingham_midi" / "MIDI" / TUNE  # melody and chords
    with tempfile.TemporaryDirectory() as tmp:
        app = QApplication.instance() or QApplication([])
        window = MainWindow(
            settings=QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat),
            autosave_dir=Path(tmp) / "autosave",
            list_ports=lambda: PortListing([], "No MIDI system here (offscreen screenshot)"),
            preload_model=False,
        )
        window.resize(WIDTH_PX, HEIGHT_PX)
        window.show()
        loaded: list[str] = []
        window.continuation.model_loaded.connect(loaded.append)
        window.continuation.load_model(DEFAULT_MODEL_NAME)
        deadline = time.monotonic() + 60
        while not loaded and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        if not loaded:
            print("the shipped model did not load", file=sys.stderr)
            return 1
        source = read_mid(tune) if tune.is_file() else built_melody()
        bar = source.time_signature_at(0).bar_ticks(source.ppq)
        seed = source.copy()
        seed.clear()
        seed.add_many(n for n in source.notes if n.start_tick < 6 * bar)
        path = Path(tmp) / "seed.mid"
        write_mid(seed, path)
        window.open_file(str(path), ask_to_save=False)
        panel = window.continuation.panel
        panel.set_length(8, "bars")
        panel.heat_map_check.setChecked(True)
        panel.seed_spin.setValue(7)
        window.set_playhead(float(seed.end_tick))
        window.continuation.start()
        # wait until the playhead is a few bars into the continuation
        target = seed.end_tick + 3 * bar
        while window.playhead_tick < target and time.monotonic() < deadline + 60:
            app.processEvents()
            time.sleep(0.005)
        return grab_and_save(app, window, out)


def main(argv: list[str]) -> int:
    if len(argv) > 1 and argv[1] == "--continuation":
        out = Path(argv[2]) if len(argv) > 2 else ROOT / "docs" / "screenshot_continuation.png"
        return continuation_shot(out)
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "screenshot.png"
    tune = shared_data_dir() / "nottingham_midi" / "MIDI" / TUNE
    with tempfile.TemporaryDirectory() as tmp:
        if not tune.is_file():
            tune = Path(tmp) / "melody.mid"
            write_mid(built_melody(), tune)
        app = QApplication.instance() or QApplication(argv[:1])
        window = MainWindow(
            settings=QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat),
            autosave_dir=Path(tmp) / "autosave",
            list_ports=lambda: PortListing([], "No MIDI system here (offscreen screenshot)"),
        )
        window.resize(WIDTH_PX, HEIGHT_PX)
        window.show()
        if not window.open_file(str(tune), ask_to_save=False):
            return 1
        app.processEvents()
        window.editor.zoom_to_fit()
        notes = window.document.score.notes
        window.document.set_selection(notes[4:8])  # show a selection too
        window.set_playhead(float(notes[len(notes) // 3].start_tick))
        return grab_and_save(app, window, out, f" from {tune.name}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

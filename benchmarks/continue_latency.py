"""Press Continue -> first generated note heard; generation speed; GUI frame gaps.

With the shipped model (or ``--model DIR``), in the real main window (offscreen), a private
JACK server (dummy backend, 64-frame periods) and a second JACK client that timestamps what it
receives:

* **press-to-first-note latency**: from triggering Continue to the arrival of the first
  generated note-on, minus that note's musical offset from the continuation's start (so a
  silent first step does not count as latency);
* **generation speed**: steps per second of the engine alone (no pacing, k = 25), the same
  ``Continuation`` the worker runs;
* **GUI responsiveness while generating**: the longest gap between 5-ms timer ticks of the
  GUI's event loop during a live continuation (a frame longer than 50 ms would show).

Usage: ``.venv/bin/python benchmarks/continue_latency.py [--runs 10] [--model DIR]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import rtmidi  # noqa: E402

from composer_app import paths  # noqa: E402
from composer_app.core.note import Note  # noqa: E402
from composer_app.core.score import Score  # noqa: E402
from tests.jack_server import JackServer  # noqa: E402


def seed_score() -> Score:
    tune = paths.shared_data_dir() / "nottingham_midi" / "MIDI" / "melody" / "ashover1.mid"
    if tune.is_file():
        from composer_app.midi.files import read_mid

        return read_mid(tune)
    score = Score()
    pitches = [62, 66, 69, 74, 73, 71, 69, 66, 67, 69, 71, 69, 66, 64, 62, 62]
    score.add_many(Note(i * 240, p, 240, 90) for i, p in enumerate(pitches))
    return score


class StampingReceiver:
    """A JACK MIDI input polled by a thread that stamps each message with time.monotonic()."""

    def __init__(self) -> None:
        self.midi_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="bench_rx", queue_size_limit=4096)
        self.midi_in.open_virtual_port("in")
        self.events: list[tuple[float, list[int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            event = self.midi_in.get_message()
            if event is None:
                time.sleep(0.0005)
                continue
            self.events.append((time.monotonic(), event[0]))

    def first_note_on_after(self, t0: float) -> tuple[float, int] | None:
        for stamp, message in self.events:
            if stamp >= t0 and message[0] & 0xF0 == 0x90 and message[2] > 0:
                return stamp, message[1]
        return None

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.midi_in.close_port()
        self.midi_in.delete()


def engine_steps_per_s(model_dir: str, n_steps: int) -> float:
    from composer_app.ml.continuation import Continuation, ContinuationSettings, load_model

    model = load_model(model_dir)
    score = seed_score()
    cont = Continuation(model, score.notes, score.ppq, score.end_tick,
                        ContinuationSettings(n_steps=n_steps, random_seed=0))
    t0 = time.perf_counter()
    for _ in cont:
        pass
    return n_steps / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(paths.model_dir()))
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from composer_app.gui.main_window import MainWindow
    from composer_app.midi.files import write_mid
    from composer_app.midi.ports import PortListing, open_output

    print(f"engine alone: {engine_steps_per_s(args.model, 2000):,.0f} steps/s at k = 25")

    with JackServer() as server:
        os.environ.update(server.env)
        receiver = StampingReceiver()
        app = QApplication.instance() or QApplication([])
        tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"continue_latency_{os.getpid()}"
        tmp.mkdir(exist_ok=True)
        window = MainWindow(settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat),
                            autosave_dir=tmp / "autosave",
                            list_ports=lambda: PortListing([], "benchmark"), preload_model=False)
        window.show()
        loaded: list[str] = []
        window.continuation.model_loaded.connect(loaded.append)
        window.continuation.load_model(args.model)
        while not loaded:
            app.processEvents()
            time.sleep(0.01)
        window.playback.set_port(open_output("bench_rx:in", api="jack"))
        seed = seed_score()
        write_mid(seed, tmp / "seed.mid")
        window.open_file(str(tmp / "seed.mid"), ask_to_save=False)
        window.continuation.panel.set_length(16, "steps")

        # the event loop's longest gap while a continuation runs (5-ms timer)
        gaps: list[float] = []
        clock = QElapsedTimer()
        clock.start()
        last = [clock.nsecsElapsed()]

        def tick() -> None:
            now = clock.nsecsElapsed()
            if window.continuation.is_running or window.playback.is_playing:
                gaps.append((now - last[0]) / 1e6)
            last[0] = now

        timer = QTimer()
        timer.timeout.connect(tick)
        timer.start(5)

        latencies_ms: list[float] = []
        tempo = window.document.score.tempo_at(seed.end_tick)
        for run in range(args.runs):
            window.set_playhead(seed.end_tick)
            window.continuation.panel.seed_spin.setValue(run + 1)
            finished: list[bool] = []
            window.continuation.finished.connect(finished.append)
            t0 = time.monotonic()
            window.continuation.continue_action.trigger()
            deadline = t0 + 30
            while (not finished or window.playback.is_playing) and time.monotonic() < deadline:
                app.processEvents()
                time.sleep(0.001)
            window.continuation.finished.disconnect(finished.append)
            first = receiver.first_note_on_after(t0)
            notes = sorted(window.document.generated_notes)
            if first is None or not notes:
                print(f"run {run + 1}: no note generated")
            else:
                offset_ticks = notes[0].start_tick - window.continuation._start_tick
                offset_s = offset_ticks * tempo.us_per_quarter / 1e6 / seed.ppq
                latencies_ms.append((first[0] - t0 - offset_s) * 1000)
            window.continuation.discard()
        timer.stop()
        window.shutdown()
        receiver.close()

    if latencies_ms:
        print(f"press-to-first-note latency over {len(latencies_ms)} runs: "
              f"median {statistics.median(latencies_ms):.1f} ms, "
              f"max {max(latencies_ms):.1f} ms (target <= 300 ms)")
    if gaps:
        print(f"GUI event-loop gaps during live continuations: p50 {statistics.median(gaps):.1f} ms, "
              f"max {max(gaps):.1f} ms over {len(gaps)} ticks (target: no frame > 50 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

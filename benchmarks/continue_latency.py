"""Press Continue -> first generated note heard; generation speed; GUI frame gaps.

With the shipped model (or ``--model DIR``), in the real main window (offscreen), a private
JACK server (dummy backend, 64-frame periods) and a second JACK client that timestamps what it
receives:

* **press-to-first-note latency**: from triggering Continue to the arrival of the first
  generated note-on, minus that note's musical offset from the continuation's start (so a
  silent first step does not count as latency);
* **generation speed**: steps per second of the engine alone (no pacing, the model's own
  sampler and steps), the same ``Continuation`` the worker runs;
* **GUI responsiveness while generating**: the longest gap between 5-ms timer ticks of the
  GUI's event loop during a live continuation (a frame longer than 50 ms would show);
* **MIDI timing during a live continuation**: the lateness of each generated note-on at the
  receiver against the time the player scheduled it (``Player.time_of_tick``), with the GUI,
  the generation worker and the player all in the app's process.

The receiver runs in its own process (``receiver_main`` of ``benchmarks/midi_timing.py``) and
stamps arrivals with the system-wide monotonic clock.

Usage: ``.venv/bin/python benchmarks/continue_latency.py [--runs 10] [--model DIR]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import multiprocessing as mp  # noqa: E402

from composer_app import paths  # noqa: E402
from composer_app.core.note import Note  # noqa: E402
from composer_app.core.score import Score  # noqa: E402
from tests.jack_server import JackServer  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from midi_timing import RECEIVER_CLIENT, receiver_main  # noqa: E402


def seed_score() -> Score:
    tune = paths.shared_data_dir() / "nottingham_midi" / "MIDI" / "melody" / "ashover1.mid"
    if tune.is_file():
        from composer_app.midi.files import read_mid

        return read_mid(tune)
    score = Score()
    pitches = [62, 66, 69, 74, 73, 71, 69, 66, 67, 69, 71, 69, 66, 64, 62, 62]
    score.add_many(Note(i * 240, p, 240, 90) for i, p in enumerate(pitches))
    return score


class ProcessReceiver:
    """A JACK MIDI input in its own process; ``collect`` returns (time, message) arrivals."""

    def __init__(self) -> None:
        context = mp.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=receiver_main, args=(child,), daemon=True)
        self._process.start()
        if self._conn.recv() != "ready":
            raise RuntimeError("the receiver did not start")
        self.port_name = f"{RECEIVER_CLIENT}:in"

    def collect(self) -> list[tuple[float, tuple[int, ...]]]:
        self._conn.send("collect")
        return self._conn.recv()

    def close(self) -> None:
        self._conn.send("quit")
        self._process.join(5)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def engine_steps_per_s(model_dir: str, n_steps: int) -> tuple[float, str]:
    """Steps per second of a whole continuation, and how the model samples."""
    from composer_app.ml.continuation import Continuation, ContinuationSettings, load_model

    model = load_model(model_dir)
    how = f"{model.config.sampler}, {model.config.sampling_steps} steps"
    score = seed_score()
    cont = Continuation(model, score.notes, score.ppq, score.end_tick,
                        ContinuationSettings(n_steps=n_steps, random_seed=0))
    t0 = time.perf_counter()
    for _ in cont:
        pass
    return n_steps / (time.perf_counter() - t0), how


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(paths.model_dir()))
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--thread-player", action="store_true",
                        help="play from a thread of the app's process (default: the app's own "
                             "choice, the player in its own process)")
    parser.add_argument("--verbose", action="store_true", help="print each run")
    args = parser.parse_args()

    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from composer_app.gui.main_window import MainWindow
    from composer_app.midi.files import write_mid
    from composer_app.midi.ports import PortListing, PortSpec
    from composer_app.workers.playback import thread_player_factory

    rate, how = engine_steps_per_s(args.model, 2000)
    print(f"engine alone: {rate:,.0f} steps/s ({how})")

    with JackServer() as server:
        os.environ.update(server.env)
        receiver = ProcessReceiver()
        app = QApplication.instance() or QApplication([])
        tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"continue_latency_{os.getpid()}"
        tmp.mkdir(exist_ok=True)
        window = MainWindow(settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat),
                            autosave_dir=tmp / "autosave",
                            list_ports=lambda: PortListing([], "benchmark"), preload_model=False,
                            player_factory=thread_player_factory if args.thread_player else None)
        window.show()
        loaded: list[str] = []
        window.continuation.model_loaded.connect(loaded.append)
        window.continuation.load_model(args.model)
        while not loaded:
            app.processEvents()
            time.sleep(0.01)
        window.playback.set_port(PortSpec(name=receiver.port_name, api="jack"))
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
        lateness_ms: list[float] = []
        n_lost = 0
        tempo = window.document.score.tempo_at(seed.end_tick)
        for run in range(args.runs):
            window.set_playhead(seed.end_tick)
            window.continuation.panel.seed_spin.setValue(run + 1)
            finished: list[bool] = []
            window.continuation.finished.connect(finished.append)
            receiver.collect()  # forget anything earlier
            player = window.playback.player
            scheduled: dict[int, float] = {}
            t0 = time.monotonic()
            window.continuation.continue_action.trigger()
            deadline = t0 + 30
            while (not finished or window.playback.is_playing) and time.monotonic() < deadline:
                app.processEvents()
                if finished and not scheduled and window.playback.is_playing:
                    # every step exists now, so the stream's timeline is final
                    for n in window.document.generated_notes:
                        when = player.time_of_tick(n.start_tick)
                        if when is not None:
                            scheduled[n.start_tick] = when
                time.sleep(0.001)
            window.continuation.finished.disconnect(finished.append)
            arrivals = [(t, m) for t, m in receiver.collect()
                        if m[0] & 0xF0 == 0x90 and m[2] > 0]
            notes = sorted(window.document.generated_notes)
            if not arrivals or not notes:
                print(f"run {run + 1}: no note generated")
            else:
                offset_ticks = notes[0].start_tick - window.continuation._start_tick
                offset_s = offset_ticks * tempo.us_per_quarter / 1e6 / seed.ppq
                latencies_ms.append((arrivals[0][0] - t0 - offset_s) * 1000)
                # arrivals in order match the notes in (start, pitch) order within a step
                pending = {(n.start_tick, n.pitch) for n in notes}
                for stamp, message in arrivals:
                    match = min((k for k in pending if k[1] == message[1]), default=None)
                    if match is None or match[0] not in scheduled:
                        continue
                    pending.discard(match)
                    lateness_ms.append((stamp - scheduled[match[0]]) * 1000)
                n_lost += len(pending)
                if args.verbose:
                    print(f"run {run + 1}: first note {latencies_ms[-1]:.1f} ms, "
                          f"worst lateness {max(lateness_ms[-len(notes):], default=0):.2f} ms")
            window.continuation.discard()
        timer.stop()
        window.shutdown()
        receiver.close()

    if latencies_ms:
        print(f"press-to-first-note latency over {len(latencies_ms)} runs: "
              f"median {statistics.median(latencies_ms):.1f} ms, "
              f"max {max(latencies_ms):.1f} ms (target <= 300 ms)")
    if lateness_ms:
        print(f"MIDI lateness of generated notes during live continuations: "
              f"p50 {percentile(lateness_ms, 0.5):.2f} ms, p99 {percentile(lateness_ms, 0.99):.2f} ms, "
              f"max {max(lateness_ms):.2f} ms over {len(lateness_ms)} notes, {n_lost} not received "
              f"(target p50 <= 1 ms, p99 <= 3 ms)")
    if gaps:
        print(f"GUI event-loop gaps during live continuations: p50 {statistics.median(gaps):.1f} ms, "
              f"max {max(gaps):.1f} ms over {len(gaps)} ticks (target: no frame > 50 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

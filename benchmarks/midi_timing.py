"""How late does live MIDI arrive? Sixteenth notes at 120 BPM through a JACK loopback.

A private JACK server (dummy backend, 48 kHz, 64-frame periods = 1.33 ms) is started. A
receiver in its own, otherwise idle process records each message with ``time.monotonic()``
(the system-wide monotonic clock) in its rtmidi JACK callback. The player sends the notes
through rtmidi's JACK API; each arrival is compared with the time the player scheduled it.

Modes (each plays the same notes; ``--modes`` picks them):

* ``baseline``: the player thread alone in the process.
* ``loaded``: a second thread computes in pure Python without pause (as a generator would).
* ``loaded-switch=<ms>``: the same, with ``sys.setswitchinterval`` lowered to <ms>.
* ``process``: the player in its own process (multiprocessing), the load in this one.
* ``process-player``: the same through :class:`ProcessPlayer`, the class the app can use
  (its sends are not timed; only arrivals).

Usage: ``python benchmarks/midi_timing.py`` (2 minutes per mode) or ``--seconds 30``.
Prints, per mode: events, dropped, lateness of the player's sends and of the arrivals
(p50, p99, max, in ms).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import sys
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from composer_app.core.note import Note  # noqa: E402
from composer_app.core.score import Score  # noqa: E402

RECEIVER_CLIENT = "bench_rx"
SIXTEENTH_TICKS = 120  # PPQ 480


def build_score(seconds: float, tempo_bpm: float) -> Score:
    """Back-to-back sixteenth notes for ``seconds``; pitches walk over two octaves."""
    score = Score()
    score.set_tempo_bpm(tempo_bpm)
    sixteenth_s = 60.0 / tempo_bpm / 4
    count = int(seconds / sixteenth_s)
    # (pitch, velocity) names each note uniquely (24 x 127 = 3048 notes, 6 min of sixteenths)
    score.add_many(
        Note(i * SIXTEENTH_TICKS, 48 + (i * 7) % 24, SIXTEENTH_TICKS, 1 + (i // 24) % 127)
        for i in range(count)
    )
    return score


def expected_events(score: Score) -> list[tuple[int, tuple[int, int, int]]]:
    """(tick, message) in the order the player sends them: at one tick, note-offs first."""
    events = []
    for note in score.notes:
        events.append((note.start_tick, 1, (0x90, note.pitch, note.velocity)))
        events.append((note.end_tick, 0, (0x80, note.pitch, 0)))
    events.sort(key=lambda e: (e[0], e[1]))
    return [(tick, message) for tick, _, message in events]


# ---- the receiver process -----------------------------------------------------------------
def receiver_main(conn: Connection) -> None:
    """Record (monotonic time, message) for each arrival until told to stop."""
    import rtmidi

    arrivals: list[tuple[float, tuple[int, ...]]] = []
    clock = time.monotonic

    def on_message(event: tuple[list[int], float], _data: object = None) -> None:
        arrivals.append((clock(), tuple(event[0])))

    midi_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=RECEIVER_CLIENT)
    midi_in.set_callback(on_message)
    midi_in.open_virtual_port("in")
    conn.send("ready")
    while True:
        command = conn.recv()
        if command == "collect":
            conn.send(arrivals[:])
            arrivals.clear()
        elif command == "quit":
            break
    midi_in.cancel_callback()
    midi_in.close_port()


# ---- load -------------------------------------------------------------------------------------
class PythonLoad:
    """A thread that computes in pure Python without pause, holding the interpreter lock."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.iterations = 0
        self._elapsed_s = 0.0

    @property
    def rate_per_s(self) -> float:
        """Iterations per second: what the player's timing costs the computation."""
        return self.iterations / self._elapsed_s if self._elapsed_s else math.nan

    def _run(self) -> None:
        state = [0.0] * 64
        start_s = time.monotonic()
        while not self._stop.is_set():
            for i in range(64):  # a toy recurrent update, all bytecode
                state[i] = (state[i - 1] * 0.5 + i) % 97.0
            self.iterations += 1
        self._elapsed_s = time.monotonic() - start_s

    def __enter__(self) -> PythonLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ---- the player, here or in a process ------------------------------------------------------
class TimedPort:
    """Wraps a port and records when each send returned (the player's own lateness)."""

    def __init__(self, port: object) -> None:
        self.port = port
        self.sent_at: list[float] = []

    def send(self, message: Sequence[int]) -> None:
        self.port.send(message)  # type: ignore[attr-defined]
        self.sent_at.append(time.monotonic())


def play_once(seconds: float, tempo_bpm: float, priority: int | None) -> dict[str, object]:
    """Play the score through JACK in this process; return the schedule and what was sent."""
    from composer_app.midi.player import Player
    from composer_app.midi.ports import open_output

    score = build_score(seconds, tempo_bpm)
    port = TimedPort(open_output(f"{RECEIVER_CLIENT}:in", api="jack"))
    finished = threading.Event()
    # the benchmark sets the switch interval per mode; the player must not change it
    player = Player(
        port, on_finished=finished.set, realtime_priority=priority, switch_interval_s=None
    )
    try:
        time.sleep(0.2)  # let JACK connect the ports before the first note
        player.play(score)
        schedule = [player.time_of_tick(tick) for tick, _ in expected_events(score)]
        finished.wait(seconds + 30)
        stats = player.stats
    finally:
        player.close()
        port.port.close()
    note_sends = port.sent_at[: stats.sent]
    return {
        "schedule": schedule,
        "sent_at": note_sends,
        "dropped": stats.dropped_late,
        "realtime": player.realtime_granted,
    }


def play_with_process_player(
    seconds: float, tempo_bpm: float, priority: int | None
) -> dict[str, object]:
    """Play through :class:`ProcessPlayer` (the app's design); only arrivals are timed."""
    from composer_app.midi.player import ProcessPlayer
    from composer_app.midi.ports import PortSpec

    score = build_score(seconds, tempo_bpm)
    finished = threading.Event()
    player = ProcessPlayer(on_finished=finished.set, realtime_priority=priority)
    try:
        player.set_port(PortSpec(name=f"{RECEIVER_CLIENT}:in", api="jack"))
        time.sleep(0.2)  # let JACK connect the ports before the first note
        player.play(score)
        start_s = player.time_of_tick(0)
        s_per_tick = 60.0 / tempo_bpm / score.ppq  # one tempo throughout
        schedule = [start_s + tick * s_per_tick for tick, _ in expected_events(score)]
        finished.wait(seconds + 30)
        stats = player.stats
        realtime = player.realtime_granted
    finally:
        player.close()
    return {
        "schedule": schedule,
        "sent_at": [],
        "dropped": stats.dropped_late,
        "realtime": realtime,
    }


def player_process_main(
    conn: Connection, seconds: float, tempo_bpm: float, priority: int | None
) -> None:
    conn.send(play_once(seconds, tempo_bpm, priority))


def run_mode(
    mode: str, seconds: float, tempo_bpm: float, receiver: Connection, priority: int | None
) -> dict[str, float | int | str]:
    """Play once in ``mode`` and measure send and arrival lateness."""
    saved_interval = sys.getswitchinterval()
    loaded = mode != "baseline"
    if mode.startswith("loaded-switch="):
        sys.setswitchinterval(float(mode.split("=", 1)[1]) / 1000)
    load = PythonLoad() if loaded else None
    try:
        if load is not None:
            load.__enter__()
        if mode == "process":
            parent, child = mp.get_context("spawn").Pipe()
            proc = mp.get_context("spawn").Process(
                target=player_process_main, args=(child, seconds, tempo_bpm, priority)
            )
            proc.start()
            result = parent.recv()
            proc.join()
        elif mode == "process-player":
            result = play_with_process_player(seconds, tempo_bpm, priority)
        else:
            result = play_once(seconds, tempo_bpm, priority)
    finally:
        if load is not None:
            load.__exit__()
        sys.setswitchinterval(saved_interval)
    time.sleep(0.1)
    receiver.send("collect")
    arrivals = receiver.recv()

    score = build_score(seconds, tempo_bpm)
    expected = expected_events(score)
    schedule = np.array(result["schedule"], dtype=float)
    notes = [(t, m) for t, m in arrivals if m[0] & 0xF0 in (0x80, 0x90)]
    # A note-on is found by its (pitch, velocity), which is unique; a note-off by its pitch
    # and the nearest scheduled time (offs of one pitch lie 3 s apart). Expected events left
    # without an arrival were dropped by the player (a late note-on and its note-off) or lost.
    on_index = {message: k for k, (_, message) in enumerate(expected) if message[0] == 0x90}
    off_ticks: dict[int, list[int]] = {}
    for k, (_, message) in enumerate(expected):
        if message[0] == 0x80:
            off_ticks.setdefault(message[1], []).append(k)
    off_times = {p: schedule[np.array(ks)] for p, ks in off_ticks.items()}
    arrive_late: list[float] = []
    used: set[int] = set()
    for t, message in notes:
        if message[0] == 0x90:
            k = on_index.get(message)
        elif message[1] in off_times:
            nearest = int(np.argmin(np.abs(off_times[message[1]] - t)))
            k = off_ticks[message[1]][nearest]
        else:
            k = None
        if k is None or k in used:
            continue
        used.add(k)
        arrive_late.append(t - schedule[k])
    matched = len(arrive_late)
    send_late = np.array(result["sent_at"]) - schedule[: len(result["sent_at"])]
    arrive = np.array(arrive_late) * 1000
    timed = result["dropped"] == 0 and len(send_late) > 0
    send = send_late * 1000 if timed else np.array([np.nan])
    return {
        "mode": mode,
        "events": len(expected),
        "received": matched,
        "lost": len(expected) - 2 * int(result["dropped"]) - matched,
        "realtime": "yes" if result["realtime"] else "no",
        "dropped": int(result["dropped"]),
        "send_p50": float(np.percentile(send, 50)) if timed else math.nan,
        "send_p99": float(np.percentile(send, 99)) if timed else math.nan,
        "send_max": float(np.max(send)) if timed else math.nan,
        "p50": float(np.percentile(arrive, 50)),
        "p99": float(np.percentile(arrive, 99)),
        "max": float(np.max(arrive)),
        "load_rate": load.rate_per_s if load is not None else math.nan,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="music per mode (120)")
    parser.add_argument("--tempo-bpm", type=float, default=120.0)
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="run JACK with -R and ask SCHED_FIFO (priority 60) for the player thread",
    )
    parser.add_argument("--period", type=int, default=64, help="JACK period in frames (64)")
    parser.add_argument(
        "--modes",
        default="baseline,loaded,loaded-switch=1,loaded-switch=0.5,process,process-player",
        help="comma-separated: baseline, loaded, loaded-switch=<ms>, process, process-player",
    )
    args = parser.parse_args(argv)

    from tests.jack_server import JackServer, jackd_path

    if jackd_path() is None:
        print("jackd is not installed (apt-get install jackd2)", file=sys.stderr)
        return 1
    server = JackServer(
        name=f"composer-bench-{os.getpid()}", period_frames=args.period, realtime=args.realtime
    )
    priority = 60 if args.realtime else None
    server.start()
    os.environ.update(server.env)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    receiver = ctx.Process(target=receiver_main, args=(child,))
    receiver.start()
    try:
        assert parent.recv() == "ready"
        print(
            f"# {args.seconds:g} s of sixteenths at {args.tempo_bpm:g} BPM per mode; "
            f"JACK dummy {server.sample_rate_hz} Hz, {server.period_frames}-frame period "
            f"({1000 * server.period_frames / server.sample_rate_hz:.2f} ms); "
            f"{os.cpu_count()} CPUs; default switch interval {sys.getswitchinterval() * 1000:g} ms; "
            f"JACK {'realtime (-R)' if args.realtime else '--no-realtime'}"
        )
        header = (
            f"{'mode':<20} {'rt':>3} {'events':>6} {'recv':>6} {'lost':>4} {'drop':>4} "
            f"{'send p50':>9} {'p99':>7} {'max':>7} {'arrive p50':>11} {'p99':>7} {'max':>7} "
            f"{'load it/s':>10}"
        )
        print(header + "   (lateness in ms)")
        for mode in args.modes.split(","):
            r = run_mode(mode.strip(), args.seconds, args.tempo_bpm, parent, priority)
            print(
                f"{r['mode']:<20} {r['realtime']:>3} {r['events']:>6} {r['received']:>6} "
                f"{r['lost']:>4} {r['dropped']:>4} "
                f"{r['send_p50']:>9.3f} {r['send_p99']:>7.3f} {r['send_max']:>7.3f} "
                f"{r['p50']:>11.3f} {r['p99']:>7.3f} {r['max']:>7.3f} {r['load_rate']:>10.0f}",
                flush=True,
            )
    finally:
        parent.send("quit")
        receiver.join(10)
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

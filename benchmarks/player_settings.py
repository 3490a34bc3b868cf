"""How long the player holds its lock (so that no note can go out) while it schedules a
score of 100,000 notes with many channel settings (controller changes, pitch bends, program
changes): at Play, a seek, a loop's wrap and an edit while playing (``update_notes``).

The clock is frozen, so nothing is sent while the scheduling is timed; each figure is the
median of 5. Play's whole call is timed, then the part of it under the lock (from the
start, and from the middle). A baseline without settings is measured in the same run. Since 2026-12-07
settings are scheduled in the window ahead of the playhead and what is in force is found by
bisection (they were all scheduled at once, and the chase scanned them from the start).

Usage: ``.venv/bin/python benchmarks/player_settings.py``
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from composer_app.core.note import Note  # noqa: E402
from composer_app.core.score import ControlChange, PitchBend, ProgramChange, Score  # noqa: E402
from composer_app.midi.player import Player, _Prepared  # noqa: E402


class NullPort:
    """An output that counts what it is sent."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, message: object) -> None:
        self.sent += 1


def dense_score(n_cc: int = 0, n_bend: int = 0, n_prog: int = 0) -> Score:
    """100,000 notes, four to an eighth, and settings spread evenly over the song."""
    score = Score(ppq=480)
    score.add_many(Note((i // 4) * 240, 48 + (i % 4) * 5, 240, 90) for i in range(100_000))
    end = 25_000 * 240
    if n_cc:
        step = max(1, end // n_cc)
        score.control_changes = [ControlChange(i * step, 0, 64, 127 * (i % 2)) for i in range(n_cc)]
    if n_bend:
        step = max(1, end // n_bend)
        score.pitch_bends = [PitchBend(i * step, 1, 8192 + 100 * (i % 2)) for i in range(n_bend)]
    if n_prog:
        step = max(1, end // n_prog)
        score.program_changes = [ProgramChange(i * step, 2, i % 2) for i in range(n_prog)]
    return score


def median_s(action: Callable[[], object], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def lock_times_s(score: Score) -> tuple[float, ...]:
    """Play from the start (the whole call, then the part under the lock: the score is
    prepared before it is taken), Play from the middle, a seek, a loop's wrap, an edit."""
    frozen = 0.0
    player = Player(NullPort(), clock=lambda: frozen, sleep=lambda s: time.sleep(0.001))
    middle = score.end_tick // 2
    prepared = _Prepared.of(score)

    def wrap() -> None:  # what a loop's wrap does on the player's thread, under the lock
        with player._lock:
            player._rebuild(middle)

    def play_locked(start: int) -> None:  # what Play does once it holds the lock
        with player._lock:
            player._end_sounding_locked()
            player._load(score, prepared, start, stream=None)

    try:
        return (
            median_s(lambda: player.play(score, 0)),
            median_s(lambda: play_locked(0)),
            median_s(lambda: play_locked(middle)),
            median_s(lambda: player.seek(middle)),
            median_s(wrap),
            median_s(lambda: player.update_notes(score)),
        )
    finally:
        player.close()


def main() -> int:
    print(f"{'settings':34s} {'Play':>9s} {'locked':>9s} {'mid':>9s} {'seek':>9s} {'wrap':>9s} "
          f"{'edit':>9s}")
    for label, sizes in (
        ("none (baseline)", {}),
        ("65,536 pedal changes", {"n_cc": 65_536}),
        ("65,536 each of three kinds", {"n_cc": 65_536, "n_bend": 65_536, "n_prog": 65_536}),
    ):
        figures = lock_times_s(dense_score(**sizes))
        print(f"{label:34s} " + " ".join(f"{s * 1e3:7.1f}ms" for s in figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

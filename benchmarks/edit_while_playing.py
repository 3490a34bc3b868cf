"""Time an edit heard while playing (``Player.update_notes``) against a restart of playback.

For each score size, playback runs from the middle of the score; the edit hands the player
the whole edited score, as the window does after every edit while playing. The baseline in
the same run is the first ``play()`` from the same tick: scheduling the score afresh, which
is what an edit would cost if it restarted playback; ``play() again`` is Play pressed again
after an edit (the process player then sends only what changed). The thread player's time is how long the
player's lock is held (its sends wait that long); the process player's is what the window
waits on its own thread: finding the notes the edit changed, sending them across the pipe
and the player's process applying them (its ``play()`` pickles the whole score).

The last column times a jump of the playhead (``seek``) a bar back: the rescheduling a loop's
wrap does too, on the player's thread, while the note due at the wrap waits.

Run: ``.venv/bin/python benchmarks/edit_while_playing.py [--sizes 1000 10000 100000]``
"""

from __future__ import annotations

import argparse
import itertools
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from composer_app.core.note import Note  # noqa: E402
from composer_app.core.score import Score  # noqa: E402
from composer_app.midi.player import Player, ProcessPlayer  # noqa: E402


def make_score(n_notes: int) -> Score:
    """``n_notes`` notes a sixteenth apart, each an eighth long, over pitches 40-79."""
    score = Score()
    score.add_many(Note(i * 120, 40 + i % 40, 240) for i in range(n_notes))
    return score


def best_of(runs: int, action) -> float:
    """The fastest of ``runs`` calls of ``action``. Units: seconds."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        action()
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(kind: str, score: Score, runs: int) -> tuple[float, float, float, float]:
    """(the first play from the middle, a play there again after an edit, update_notes
    there, a jump back a bar there: what a loop's wrap reschedules too), the first once, the
    others best of ``runs``. Units: seconds."""
    player = Player(None) if kind == "thread" else ProcessPlayer()
    middle = score.end_tick // 2
    edited = score.copy()
    edited.remove(edited.notes[len(edited) // 2 + 10])  # a note ahead of the playhead
    edits = itertools.cycle([edited, score])  # each call an edit: the note gone, then back
    try:
        _ = player.is_playing  # a process player has started and answers
        first_s = best_of(1, lambda: player.play(score, middle))
        again_s = best_of(runs, lambda: player.play(next(edits), middle))
        update_s = best_of(runs, lambda: player.update_notes(next(edits)))
        seek_s = best_of(runs, lambda: player.seek(middle - 4 * score.ppq))
    finally:
        player.close()
    return first_s, again_s, update_s, seek_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {platform.machine()}; best of {args.runs}")
    print(f"{'notes':>8} {'player':>8} {'first play() baseline':>22} {'play() again':>13} "
          f"{'update_notes':>13} {'ratio':>6} {'seek':>10}")
    for n in args.sizes:
        score = make_score(n)
        for kind in ("thread", "process"):
            first_s, again_s, update_s, seek_s = measure(kind, score, args.runs)
            ratio = update_s / first_s if first_s else float("nan")
            print(f"{n:>8} {kind:>8} {first_s * 1000:>19.1f} ms {again_s * 1000:>10.1f} ms "
                  f"{update_s * 1000:>10.1f} ms {ratio:>6.2f} {seek_s * 1000:>7.1f} ms")


if __name__ == "__main__":
    main()

"""Score <-> binary piano roll at a fixed step, with an account of what the conversion loses.

A roll is a ``(T, P)`` bool array, time first; column ``k`` is MIDI pitch ``pitch_low + k``.
The default range ``[21, 109)`` is the 88 piano keys, as in the RNN-RBM benchmark data.

What the roll cannot hold, and how it is counted in :class:`RollLosses`:

* ``out_of_range``: notes whose pitch lies outside ``[pitch_low, pitch_high)`` are dropped.
* ``off_grid``: notes whose start or end is not on a step boundary are rounded to the
  nearest step (a note never shrinks below one step).
* ``merged``: a note that starts while (or exactly when) another note of the same pitch
  is still active in the roll is merged into it, since consecutive active frames of one
  pitch read back as one held note (the rule of the reference RNN-RBM code). Re-struck
  notes are therefore lost.
* Velocity and channel are not in the roll; :func:`roll_to_notes` gives every note one velocity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from composer_app.core.note import Note
from composer_app.core.score import Score

PIANO_PITCH_LOW = 21
PIANO_PITCH_HIGH = 109  # exclusive: 88 keys, MIDI 21-108


@dataclass(frozen=True)
class RollLosses:
    """What a score -> roll conversion dropped or changed (counts of notes)."""

    out_of_range: int = 0
    off_grid: int = 0
    merged: int = 0

    @property
    def total(self) -> int:
        """Notes affected in any way."""
        return self.out_of_range + self.off_grid + self.merged


@dataclass(frozen=True)
class RollConversion:
    """A roll with its losses. Shapes: ``roll`` is ``(T, pitch_high - pitch_low)`` bool."""

    roll: np.ndarray
    losses: RollLosses
    step_ticks: int
    start_tick: int
    pitch_low: int = PIANO_PITCH_LOW


def notes_to_roll(
    notes: Iterable[Note],
    step_ticks: int,
    *,
    start_tick: int = 0,
    end_tick: int | None = None,
    pitch_low: int = PIANO_PITCH_LOW,
    pitch_high: int = PIANO_PITCH_HIGH,
) -> RollConversion:
    """Sample notes into a roll of one row per ``step_ticks``, from ``start_tick`` to ``end_tick``.

    Shapes: returns ``(T, pitch_high - pitch_low)`` with ``T = ceil((end - start) / step)``.
    Units: ticks. Notes partly before ``start_tick`` are cut at it; ``end_tick`` defaults to
    the end of the last note, and then ``T`` grows by a step where a short note in the last
    partial step rounds past it (so no note is lost).
    """
    if step_ticks <= 0:
        raise ValueError(f"step_ticks must be positive, got {step_ticks}")
    notes = sorted(notes)
    if end_tick is None:
        end_tick = max((n.end_tick for n in notes), default=start_tick)
        # A short note in the last partial step can round to the step after it; make room
        # for it rather than lose it silently.
        n_steps = max(
            [max(0, -(-(end_tick - start_tick) // step_ticks))]
            + [
                max(
                    _round_half_up(n.start_tick - start_tick, step_ticks) + 1,
                    _round_half_up(n.end_tick - start_tick, step_ticks),
                )
                for n in notes
                if pitch_low <= n.pitch < pitch_high and n.end_tick > start_tick
            ]
        )
    else:
        n_steps = max(0, -(-(end_tick - start_tick) // step_ticks))
    roll = np.zeros((n_steps, pitch_high - pitch_low), dtype=bool)
    out_of_range = off_grid = merged = 0
    for note in notes:
        if not pitch_low <= note.pitch < pitch_high:
            out_of_range += 1
            continue
        rel_start = note.start_tick - start_tick
        rel_end = note.end_tick - start_tick
        if rel_end <= 0 or rel_start >= end_tick - start_tick:
            continue
        if rel_start % step_ticks or rel_end % step_ticks:
            off_grid += 1
        # a note starting before the end is kept, in the last step at the latest (rounded
        # half up, one in that step's second half would fall past the end, in neither the
        # roll nor what follows it: a continuation's seed lost its last short note)
        first = min(max(0, _round_half_up(rel_start, step_ticks)), n_steps - 1)
        last = max(first + 1, _round_half_up(rel_end, step_ticks))  # never shorter than a step
        last = min(last, n_steps)
        if first < 0:  # no steps at all
            continue
        col = note.pitch - pitch_low
        # Active in the frame before (or in any frame it covers): it reads back as one note.
        if roll[first:last, col].any() or (first > 0 and roll[first - 1, col]):
            merged += 1
        roll[first:last, col] = True
    return RollConversion(
        roll=roll,
        losses=RollLosses(out_of_range, off_grid, merged),
        step_ticks=step_ticks,
        start_tick=start_tick,
        pitch_low=pitch_low,
    )


def score_to_roll(
    score: Score,
    step_ticks: int,
    *,
    start_tick: int = 0,
    end_tick: int | None = None,
    pitch_low: int = PIANO_PITCH_LOW,
    pitch_high: int = PIANO_PITCH_HIGH,
) -> RollConversion:
    """:func:`notes_to_roll` over all notes of ``score``."""
    return notes_to_roll(
        score.notes,
        step_ticks,
        start_tick=start_tick,
        end_tick=end_tick,
        pitch_low=pitch_low,
        pitch_high=pitch_high,
    )


def roll_to_notes(
    roll: np.ndarray,
    step_ticks: int,
    *,
    start_tick: int = 0,
    pitch_low: int = PIANO_PITCH_LOW,
    velocity: int = 100,
    generated: bool = False,
    channel: int = 0,
    track: int = 0,
) -> list[Note]:
    """Turn a roll back into notes: each run of consecutive active frames of a pitch is one note.

    Shapes: ``roll`` is ``(T, P)``, truthy where a pitch sounds. Units: ticks. Every note gets
    ``velocity``, MIDI ``channel`` (0-15) and ``track`` (``Note.track``).
    """
    roll = np.asarray(roll, dtype=bool)
    if roll.ndim != 2:
        raise ValueError(f"a roll must be 2-D (T, P), got shape {roll.shape}")
    n_steps = roll.shape[0]
    padded = np.zeros((n_steps + 2, roll.shape[1]), dtype=np.int8)
    padded[1:-1] = roll
    # +1 where a run starts, -1 just after it ends
    edges = np.diff(padded, axis=0)
    notes: list[Note] = []
    for col in np.flatnonzero(roll.any(axis=0)):
        starts = np.flatnonzero(edges[:, col] == 1)
        ends = np.flatnonzero(edges[:, col] == -1)
        for first, stop in zip(starts, ends, strict=True):
            notes.append(
                Note(
                    start_tick=start_tick + int(first) * step_ticks,
                    pitch=pitch_low + int(col),
                    duration_ticks=int(stop - first) * step_ticks,
                    velocity=velocity,
                    channel=channel,
                    generated=generated,
                    track=track,
                )
            )
    notes.sort()
    return notes


def _round_half_up(ticks: int, step_ticks: int) -> int:
    return (ticks + step_ticks // 2) // step_ticks

"""Edit operations on a :class:`Score`, each with ``apply`` and ``revert``.

The GUI wraps each operation in one undo command, so one user gesture is one operation.
Every operation is a value: it records what it changes, so ``revert`` restores the score
exactly, and ``apply`` after ``revert`` redoes it. An ``apply`` or ``revert`` that fails (a
note to remove is not in the score) raises :class:`ScoreError` and leaves the score as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from composer_app.core.note import Note
from composer_app.core.score import (
    KeySignature,
    Score,
    ScoreError,
    TempoChange,
    TimeSignature,
    key_changes,
)

_Change = TypeVar("_Change", TempoChange, TimeSignature)


class EditOperation(Protocol):
    """Something that changes a score and can change it back."""

    label: str

    def apply(self, score: Score) -> None: ...

    def revert(self, score: Score) -> None: ...


@dataclass(frozen=True)
class ReplaceNotes:
    """Remove ``removed`` and add ``added`` (covers add, delete, move, resize, velocity)."""

    removed: tuple[Note, ...] = ()
    added: tuple[Note, ...] = ()
    label: str = "Edit notes"

    def apply(self, score: Score) -> None:
        _replace(score, self.removed, self.added)

    def revert(self, score: Score) -> None:
        _replace(score, self.added, self.removed)


def _replace(score: Score, removed: Sequence[Note], added: Sequence[Note]) -> None:
    """Remove then add; if a note to remove is missing, raise with the score unchanged."""
    score.remove_many(removed)
    score.add_many(added)


def add_notes(notes: Iterable[Note], label: str = "Add notes") -> ReplaceNotes:
    """An operation that adds ``notes``."""
    return ReplaceNotes(removed=(), added=tuple(notes), label=label)


def remove_notes(notes: Iterable[Note], label: str = "Delete notes") -> ReplaceNotes:
    """An operation that removes ``notes`` (each must be in the score)."""
    return ReplaceNotes(removed=tuple(notes), added=(), label=label)


def move_notes(
    notes: Sequence[Note], delta_ticks: int, delta_pitch: int, label: str = "Move notes"
) -> ReplaceNotes:
    """An operation that shifts ``notes`` in time (ticks) and pitch (semitones)."""
    return ReplaceNotes(
        removed=tuple(notes),
        added=tuple(n.moved(delta_ticks, delta_pitch) for n in notes),
        label=label,
    )


def resize_notes(notes: Sequence[Note], delta_ticks: int, label: str = "Resize notes") -> ReplaceNotes:
    """An operation that lengthens (or shortens, never below one tick) ``notes``."""
    return ReplaceNotes(
        removed=tuple(notes),
        added=tuple(n.with_duration(n.duration_ticks + delta_ticks) for n in notes),
        label=label,
    )


def accept_generated(notes: Sequence[Note], label: str = "Accept continuation") -> ReplaceNotes:
    """An operation that turns generated notes into ordinary ones."""
    return ReplaceNotes(
        removed=tuple(notes), added=tuple(n.accepted() for n in notes), label=label
    )


@dataclass(frozen=True)
class SetTempoMap:
    """Replace the whole tempo map (e.g. a new BPM)."""

    old: tuple[TempoChange, ...]
    new: tuple[TempoChange, ...]
    label: str = "Change tempo"

    def apply(self, score: Score) -> None:
        score.tempo_map = list(self.new)

    def revert(self, score: Score) -> None:
        score.tempo_map = list(self.old)


@dataclass(frozen=True)
class SetTimeSignatures:
    """Replace the meter."""

    old: tuple[TimeSignature, ...]
    new: tuple[TimeSignature, ...]
    label: str = "Change time signature"

    def apply(self, score: Score) -> None:
        score.time_signatures = list(self.new)

    def revert(self, score: Score) -> None:
        score.time_signatures = list(self.old)


def set_meter_at(score: Score, tick: int, numerator: int, denominator: int) -> SetTimeSignatures:
    """The edit that puts a time signature of ``numerator``/``denominator`` at ``tick`` (a bar
    line), replacing one there. A change that repeats the meter already in force on its bar
    lines is left out (at ``tick``, and a later one it makes redundant), so the map holds
    only real changes. Every other change stays where it is, even one that now starts a bar
    early (it keeps the later bar lines where the music has them; the ruler shows it, and
    :func:`remove_meter_at` takes it away).
    Notes keep their ticks. Raises :class:`ScoreError` for a meter the score cannot hold."""
    new = TimeSignature(int(tick), int(numerator), int(denominator))
    kept = [s for s in score.time_signatures if s.tick != new.tick]
    label = f"Time signature {numerator}/{denominator}"
    return SetTimeSignatures(
        tuple(score.time_signatures), _without_repeats(sorted([*kept, new]), score.ppq), label
    )


def remove_meter_at(score: Score, tick: int) -> SetTimeSignatures:
    """The edit that removes the time signature change at ``tick`` (not the first one): the
    meter before it goes on."""
    if tick <= 0 or all(s.tick != tick for s in score.time_signatures):
        raise ScoreError(f"no time signature change at tick {tick} to remove")
    kept = [s for s in score.time_signatures if s.tick != tick]
    return SetTimeSignatures(
        tuple(score.time_signatures), _without_repeats(kept, score.ppq), "Remove time signature"
    )


@dataclass(frozen=True)
class SetKeySignatures:
    """Replace the key signatures."""

    old: tuple[KeySignature, ...]
    new: tuple[KeySignature, ...]
    label: str = "Change key signature"

    def apply(self, score: Score) -> None:
        score.key_signatures = list(self.new)

    def revert(self, score: Score) -> None:
        score.key_signatures = list(self.old)


def set_key_at(score: Score, tick: int, sharps: int, minor: bool) -> SetKeySignatures:
    """The edit that puts the key signature of ``sharps`` sharps (negative: flats), major or
    ``minor``, at ``tick`` (a bar line), replacing one there. A key signature that restates
    the key in force before it is no change and is left out (this one, or a later one that it
    makes a restatement). Raises :class:`ScoreError` for an impossible signature."""
    new = KeySignature(int(tick), int(sharps), bool(minor))
    keys = sorted([*(k for k in score.key_signatures if k.tick != new.tick), new])
    return SetKeySignatures(
        tuple(score.key_signatures), tuple(key_changes(keys)), f"Key signature {new.name}"
    )


def remove_key_at(score: Score, tick: int) -> SetKeySignatures:
    """The edit that removes the key signature at ``tick`` (the first one too: a score may
    have none); the key before it, if any, goes on (and a later one that now restates it is
    left out)."""
    if all(k.tick != tick for k in score.key_signatures):
        raise ScoreError(f"no key signature at tick {tick} to remove")
    kept = [k for k in score.key_signatures if k.tick != tick]
    return SetKeySignatures(
        tuple(score.key_signatures), tuple(key_changes(kept)), "Remove key signature"
    )


def set_tempo_at(score: Score, tick: int, tempo_bpm: float) -> SetTempoMap:
    """The edit that makes the tempo ``tempo_bpm`` from ``tick`` on (until the next change),
    replacing a change at that tick; one that repeats the tempo in force is left out.
    Raises :class:`ScoreError` for a tempo out of range."""
    change = TempoChange.from_bpm(int(tick), tempo_bpm)
    kept = [t for t in score.tempo_map if t.tick != change.tick]
    return SetTempoMap(
        tuple(score.tempo_map),
        _without_repeats(sorted([*kept, change]), score.ppq),
        f"Tempo change {change.tempo_bpm:g} BPM",
    )


def remove_tempo_at(score: Score, tick: int) -> SetTempoMap:
    """The edit that removes the tempo change at ``tick`` (not the first one)."""
    if tick <= 0 or all(t.tick != tick for t in score.tempo_map):
        raise ScoreError(f"no tempo change at tick {tick} to remove")
    kept = [t for t in score.tempo_map if t.tick != tick]
    return SetTempoMap(
        tuple(score.tempo_map), _without_repeats(kept, score.ppq), "Remove tempo change"
    )


def _without_repeats(changes: Sequence[_Change], ppq: int) -> tuple[_Change, ...]:
    """``changes`` (sorted by tick, the first at 0) without those that change nothing: a
    tempo equal to the one before, a meter equal to the one before on one of its bar lines
    (off them, a repeated meter starts the bars afresh, so it stays)."""
    kept: list[_Change] = []
    for change in changes:
        if kept and _repeats(kept[-1], change, ppq):
            continue
        kept.append(change)
    return tuple(kept)


def _repeats(before: _Change, change: _Change, ppq: int) -> bool:
    if isinstance(before, TempoChange) and isinstance(change, TempoChange):
        return before.us_per_quarter == change.us_per_quarter
    if isinstance(before, TimeSignature) and isinstance(change, TimeSignature):
        bar_ticks = before.bar_ticks(ppq)
        return (before.numerator, before.denominator) == (change.numerator, change.denominator) \
            and bar_ticks > 0 and (change.tick - before.tick) % bar_ticks == 0
    return False


@dataclass(frozen=True)
class CompositeEdit:
    """Several operations as one undo step (applied in order, reverted in reverse)."""

    operations: tuple[EditOperation, ...] = field(default_factory=tuple)
    label: str = "Edit"

    def apply(self, score: Score) -> None:
        """Apply every operation; if one fails, revert those already applied and re-raise."""
        _run_all(score, [(op.apply, op.revert) for op in self.operations])

    def revert(self, score: Score) -> None:
        """Revert every operation in reverse; on failure, re-apply those already reverted."""
        _run_all(score, [(op.revert, op.apply) for op in reversed(self.operations)])


def _run_all(
    score: Score, steps: Sequence[tuple[Callable[[Score], None], Callable[[Score], None]]]
) -> None:
    undo: list[Callable[[Score], None]] = []
    try:
        for do, undo_step in steps:
            do(score)
            undo.append(undo_step)
    except Exception:
        for undo_step in reversed(undo):
            undo_step(score)
        raise

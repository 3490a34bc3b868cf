"""Edit operations on a :class:`Score`, each with ``apply`` and ``revert``.

The GUI wraps each operation in one undo command, so one user gesture is one operation.
Every operation is a value: it records what it changes, so ``revert`` restores the score
exactly, and ``apply`` after ``revert`` redoes it. An ``apply`` or ``revert`` that fails (a
note to remove is not in the score) raises :class:`ScoreError` and leaves the score as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from composer_app.core.note import Note
from composer_app.core.score import Score, TempoChange, TimeSignature


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

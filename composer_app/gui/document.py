"""The open score as the GUI sees it: the score, its undo stack, the selection and the file.

Every edit goes through :meth:`ScoreDocument.push`, which wraps one core edit operation
(:mod:`composer_app.core.edits`) in one undo command, so one user gesture is one undo step.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from composer_app.core.edits import (
    CompositeEdit,
    EditOperation,
    ReplaceNotes,
    SetTempoMap,
    add_notes,
)
from composer_app.core.note import Note
from composer_app.core.score import Score


def _added_and_removed(op: EditOperation) -> tuple[tuple[Note, ...], tuple[Note, ...]]:
    """The notes an operation adds and removes (empty for tempo and meter changes)."""
    if isinstance(op, ReplaceNotes):
        return op.added, op.removed
    if isinstance(op, CompositeEdit):
        added: list[Note] = []
        removed: list[Note] = []
        for sub in op.operations:
            sub_added, sub_removed = _added_and_removed(sub)
            added.extend(sub_added)
            removed.extend(sub_removed)
        # A note added by one step and removed by a later one is not "added" overall.
        removed_set = set(removed)
        added_set = set(added)
        return (
            tuple(n for n in added if n not in removed_set),
            tuple(n for n in removed if n not in added_set),
        )
    return (), ()


# Tempo edits this close together (seconds) are one undo step: a burst of arrow clicks or a
# turn of the wheel in the tempo box.
TEMPO_MERGE_WINDOW_S = 1.0
_TEMPO_COMMAND_ID = 1


def _starting_tempo_only(op: SetTempoMap) -> bool:
    """Whether ``op`` changes only the starting tempo (the transport's tempo box does): only
    such edits merge; a tempo change later in the song is a step of its own."""
    return len(op.old) == len(op.new) and op.old[1:] == op.new[1:]


class _EditCommand(QUndoCommand):
    """One edit operation as one undo step: redo applies it, undo reverts it."""

    def __init__(self, document: ScoreDocument, op: EditOperation,
                 select_added: bool = True) -> None:
        super().__init__(op.label)
        self._document = document
        self._op = op
        self._select_added = select_added
        self._last_push_s = time.monotonic()
        # the selection as the edit found it, which its undo gives back
        self._selection_before = document.selection
        self._chosen_before = document.selection_is_chosen

    def id(self) -> int:  # noqa: A003 (Qt override)
        """Tempo edits may merge (see :meth:`mergeWith`); others never."""
        return _TEMPO_COMMAND_ID if isinstance(self._op, SetTempoMap) else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 (Qt override)
        """Take an edit of the starting tempo pushed within ``TEMPO_MERGE_WINDOW_S`` of this
        one into it: one step from the first tempo to the last (none at all if they are the
        same)."""
        if not (
            isinstance(other, _EditCommand)
            and isinstance(self._op, SetTempoMap)
            and isinstance(other._op, SetTempoMap)
            and _starting_tempo_only(self._op)
            and _starting_tempo_only(other._op)
            and other._last_push_s - self._last_push_s <= TEMPO_MERGE_WINDOW_S
        ):
            return False
        old, new = self._op.old, other._op.new
        label = f"Tempo {old[0].tempo_bpm:g} → {new[0].tempo_bpm:g} BPM"
        self._op = SetTempoMap(old, new, label=label)
        self.setText(label)
        self._last_push_s = other._last_push_s
        self.setObsolete(old == new)  # back where it began: the stack drops the step
        return True

    def redo(self) -> None:
        self._op.apply(self._document.score)
        added, removed = _added_and_removed(self._op)
        if not self._select_added:
            # the selection stays as the edit found it, less what the edit took away
            self._document._after_edit(())
            return
        # Notes the user chose and then moved, transposed, quantized ... stay chosen; notes an
        # edit put in of its own (drawn, pasted, duplicated, accepted) are selected, not chosen.
        edited_chosen = (
            self._chosen_before and bool(removed) and set(removed) <= self._selection_before
        )
        self._document._after_edit(added, chosen=edited_chosen)

    def undo(self) -> None:
        self._op.revert(self._document.score)
        _added, removed = _added_and_removed(self._op)
        before = self._document.score.present(self._selection_before)
        if before or not removed or not self._select_added:
            # back to the selection the edit found (a Duplicate undone: its originals)
            self._document._after_edit(before, chosen=self._chosen_before)
        else:
            self._document._after_edit(removed, chosen=False)


class ScoreDocument(QObject):
    """The score being edited, with undo, selection and dirty state.

    Signals: ``changed()`` after notes, tempo or meter changed; ``selection_changed()``;
    ``dirty_changed(bool)`` when the document becomes modified or clean.
    The selection is a frozenset of :class:`Note` values that are in the score.
    """

    changed = Signal()
    selection_changed = Signal()
    dirty_changed = Signal(bool)

    def __init__(self, score: Score | None = None, file_path: str | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.score: Score = score if score is not None else Score()
        self.file_path: str | None = file_path
        self.undo_stack = QUndoStack(self)
        self._selection: frozenset[Note] = frozenset()
        # whether the user chose the selection (a click, a rubber band, Select All), rather
        # than an edit leaving what it added selected: only a chosen one is a seed region
        self._selection_chosen = False
        self._edit_count = 0  # edits, undos, redos and replaced scores so far
        self.undo_stack.cleanChanged.connect(self._on_undo_stack_clean_changed)

    # ---- editing ---------------------------------------------------------------------
    def push(self, op: EditOperation, select_added: bool = True) -> None:
        """Apply ``op`` to the score as one undo step (and select the notes it added, unless
        ``select_added`` is False; its redo does the same).

        An operation that removes a note missing from the score raises
        :class:`composer_app.core.score.ScoreError` before anything changes.
        """
        self._check_applicable(op)
        self.undo_stack.push(_EditCommand(self, op, select_added))

    @property
    def edit_state(self) -> int:
        """Changes with every edit, undo, redo and replaced score (already when ``changed``
        is emitted for it), but not with a pending continuation: a mouse gesture begun in
        one state must not push its edit in another (the notes it holds may be gone)."""
        return self._edit_count

    def _check_applicable(self, op: EditOperation) -> None:
        """Refuse an operation that would fail half-way (so the score is never left torn)."""
        _added, removed = _added_and_removed(op)
        self.score.check_removable(removed)  # raises ScoreError naming the missing note

    def _after_edit(self, touched: Iterable[Note], chosen: bool = False) -> None:
        """Emit ``changed`` and select what the edit just put into the score (``chosen``:
        whether that selection counts as the user's choice, see :attr:`selection_is_chosen`)."""
        self._edit_count += 1
        self.changed.emit()
        touched = frozenset(self.score.present(touched))
        if touched:
            self.set_selection(touched, chosen=chosen)
        else:
            self.set_selection(self._selection, chosen=self._selection_chosen)

    # ---- generated notes (a pending continuation) -----------------------------------
    @property
    def generated_notes(self) -> list[Note]:
        """The notes the model proposed and the user has not accepted (``generated=True``)."""
        return [n for n in self.score.notes if n.generated]

    def saved_score(self) -> Score:
        """What Save and autosave write: a copy of the score without the pending
        (generated, not accepted) notes."""
        copy = self.score.copy()
        for note in self.generated_notes:
            copy.remove(note)
        return copy

    def set_generated_notes(self, notes: Iterable[Note]) -> None:
        """Show ``notes`` as the pending continuation, replacing the previous one.

        Not an undo step: a pending continuation is a proposal; :meth:`accept_generated`
        makes it part of the score as one undo step, and replacing it with nothing discards it.
        """
        old = self.generated_notes
        new = [n if n.generated else replace(n, generated=True) for n in notes]
        if old == sorted(new):
            return
        for note in old:
            self.score.remove(note)
        self.score.add_many(new)
        self.set_selection(
            (n for n in self._selection if n in self.score), chosen=self._selection_chosen
        )
        self.changed.emit()

    def accept_generated(self, label: str = "Accept continuation") -> int:
        """Make the pending continuation ordinary notes, as ONE undo step. Returns the count.

        Undo removes the whole continuation.
        """
        pending = self.generated_notes
        if not pending:
            return 0
        for note in pending:
            self.score.remove(note)
        self.push(add_notes([n.accepted() for n in pending], label=label))
        return len(pending)

    # ---- selection -------------------------------------------------------------------
    @property
    def selection(self) -> frozenset[Note]:
        """The selected notes (each is in the score)."""
        return self._selection

    def set_selection(self, notes: Iterable[Note], chosen: bool = True) -> None:
        """Select exactly ``notes`` (notes not in the score, and generated notes, which only
        Accept and Discard change, are ignored). ``chosen``: the user picked them (the
        default: tools, Select All); an edit that selects what it added passes False."""
        new = frozenset(self.score.present(n for n in notes if not n.generated))
        self._selection_chosen = bool(new) and chosen
        if new != self._selection:
            self._selection = new
            self.selection_changed.emit()

    @property
    def selection_is_chosen(self) -> bool:
        """Whether the user chose the selection (with a click, a rubber band, Select All, or
        by editing notes so chosen), rather than an edit leaving the notes it added selected
        (a drawn note, a paste, a duplicate, an accepted continuation). Continue takes only
        a chosen selection as its seed region."""
        return self._selection_chosen

    # ---- file state ------------------------------------------------------------------
    def replace_score(self, score: Score, file_path: str | None = None) -> None:
        """Start over with ``score`` (new or opened file): empty undo history, clean."""
        self.score = score
        self.file_path = file_path
        self._edit_count += 1
        self._selection = frozenset()
        self._selection_chosen = False
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self.changed.emit()
        self.selection_changed.emit()
        self.dirty_changed.emit(False)

    @property
    def is_dirty(self) -> bool:
        """True when the score differs from the last save or open."""
        return not self.undo_stack.isClean()

    def mark_clean(self) -> None:
        """Record that the score was just saved."""
        self.undo_stack.setClean()

    def _on_undo_stack_clean_changed(self, clean: bool) -> None:
        self.dirty_changed.emit(not clean)

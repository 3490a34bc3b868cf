"""ScoreDocument: one undo step per edit, selection follows edits, dirty state."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from composer_app.core.edits import (  # noqa: E402
    CompositeEdit,
    SetTempoMap,
    add_notes,
    move_notes,
    remove_notes,
)
from composer_app.core.note import Note  # noqa: E402
from composer_app.core.score import Score, ScoreError, TempoChange  # noqa: E402
from composer_app.gui.document import ScoreDocument  # noqa: E402

A = Note(0, 60, 480)
B = Note(480, 64, 480)


@pytest.fixture
def document(qtbot):
    score = Score()
    score.add_many([A, B])
    return ScoreDocument(score, "/tmp/song.mid")


def test_document_push_is_one_undo_step_and_selects_added(document, qtbot):
    with qtbot.waitSignal(document.changed):
        document.push(move_notes([A, B], 960, 2))
    moved = {A.moved(960, 2), B.moved(960, 2)}
    assert set(document.score.notes) == moved
    assert document.undo_stack.count() == 1
    assert document.selection == moved
    document.undo_stack.undo()
    assert set(document.score.notes) == {A, B}
    # undo selects what came back
    assert document.selection == {A, B}
    document.undo_stack.redo()
    assert set(document.score.notes) == moved


def test_document_removed_notes_leave_the_selection(document):
    document.set_selection([A, B])
    document.push(remove_notes([A]))
    assert document.selection == {B}


def test_document_set_selection_ignores_foreign_notes(document, qtbot):
    with qtbot.waitSignal(document.selection_changed):
        document.set_selection([A, Note(5, 5, 5)])
    assert document.selection == {A}


def test_document_refuses_an_edit_that_cannot_apply(document):
    missing = Note(9999, 70, 10)
    with pytest.raises(ScoreError, match="no such note"):
        document.push(remove_notes([A, missing]))
    # nothing was half-applied and no undo step was recorded
    assert set(document.score.notes) == {A, B}
    assert document.undo_stack.count() == 0


def test_document_composite_and_tempo_edits(document):
    old = tuple(document.score.tempo_map)
    document.push(CompositeEdit((add_notes([Note(960, 67, 240)]),
                                 SetTempoMap(old, (TempoChange.from_bpm(0, 90),))), "Both"))
    assert document.undo_stack.count() == 1
    assert document.score.initial_tempo_bpm == pytest.approx(90)
    assert document.selection == {Note(960, 67, 240)}
    document.undo_stack.undo()
    assert document.score.initial_tempo_bpm == pytest.approx(120)
    assert len(document.score) == 2


def test_document_dirty_state(document, qtbot):
    assert not document.is_dirty
    with qtbot.waitSignal(document.dirty_changed) as blocker:
        document.push(add_notes([Note(960, 67, 240)]))
    assert blocker.args == [True]
    assert document.is_dirty
    document.mark_clean()
    assert not document.is_dirty
    document.undo_stack.undo()
    assert document.is_dirty  # undoing past the save point modifies the document again


def test_document_replace_score_starts_clean(document, qtbot):
    document.push(add_notes([Note(960, 67, 240)]))
    new = Score()
    with qtbot.waitSignal(document.changed):
        document.replace_score(new, None)
    assert document.score is new
    assert document.file_path is None
    assert document.undo_stack.count() == 0
    assert not document.is_dirty
    assert document.selection == frozenset()


def test_document_tells_a_chosen_selection_from_one_an_edit_left(document):
    # Drawing, pasting, duplicating select what they add, but the user did not choose it:
    # Continue must not take the last drawn note as its seed region.
    drawn = Note(960, 67, 480)
    document.push(add_notes([drawn]))
    assert document.selection == {drawn} and not document.selection_is_chosen
    document.set_selection([A, B])  # a rubber band, a click, Select All
    assert document.selection_is_chosen
    document.push(move_notes([A, B], 0, 2))  # the chosen notes, transposed: still chosen
    assert document.selection == {A.moved(0, 2), B.moved(0, 2)}
    assert document.selection_is_chosen
    document.push(add_notes([A.moved(1920, 2)], "Duplicate"))  # a copy: selected, not chosen
    assert not document.selection_is_chosen
    document.undo_stack.undo()  # back to the chosen originals the Duplicate copied
    assert document.selection == {A.moved(0, 2), B.moved(0, 2)}
    assert document.selection_is_chosen
    document.set_selection(())
    assert not document.selection_is_chosen


def test_document_undo_of_an_edit_gives_back_the_selection_it_found(document):
    # A right click deletes B while A is selected: undo restores B, and A stays selected.
    document.set_selection([A])
    document.push(remove_notes([B]))
    assert document.selection == {A}
    document.undo_stack.undo()
    assert set(document.score.notes) == {A, B} and document.selection == {A}
    # with nothing selected before, the notes an undo restores are selected, as before
    document.set_selection(())
    document.push(remove_notes([A]))
    document.undo_stack.undo()
    assert document.selection == {A} and not document.selection_is_chosen


def test_document_a_pending_continuation_redraws_the_roll(document, qtbot):
    # The roll redraws its notes on ``changed``: a live take's notes were not drawn without it.
    pending = [Note(960, 67, 480)]
    with qtbot.waitSignal(document.changed, timeout=1000):
        document.set_generated_notes(pending)
    with qtbot.waitSignal(document.changed, timeout=1000):
        document.set_generated_notes([])


def test_document_tempo_edits_merge_only_within_the_window(document, monkeypatch):
    from composer_app.gui import document as document_module

    clock = {"s": 100.0}
    monkeypatch.setattr(document_module.time, "monotonic", lambda: clock["s"])
    tempos = [TempoChange.from_bpm(0, bpm) for bpm in (120, 121, 122, 130)]
    document.push(SetTempoMap((tempos[0],), (tempos[1],)))
    clock["s"] += document_module.TEMPO_MERGE_WINDOW_S / 2
    document.push(SetTempoMap((tempos[1],), (tempos[2],)))  # the same burst of clicks
    assert document.undo_stack.count() == 1
    clock["s"] += 120.0  # two minutes later: a step of its own
    document.push(SetTempoMap((tempos[2],), (tempos[3],)))
    assert document.undo_stack.count() == 2
    document.undo_stack.undo()
    assert document.score.tempo_map == [tempos[2]]


def test_document_replaced_score_is_a_new_edit_state(document):
    # a drag begun before a file was opened (a drop, a recovery) must not push into it
    before = document.edit_state
    document.replace_score(Score())
    assert document.edit_state != before


def test_document_a_tempo_change_later_in_the_song_is_a_step_of_its_own(document):
    # The tempo box's edits of the starting tempo merge; a change at bar 3 pushed a moment
    # later merged with them under the label "Tempo 120 → 120 BPM".
    from composer_app.core.edits import set_tempo_at

    start = TempoChange.from_bpm(0, 120)
    document.push(SetTempoMap((start,), (TempoChange.from_bpm(0, 121),)))
    document.push(set_tempo_at(document.score, 3840, 90))
    assert document.undo_stack.count() == 2
    assert document.undo_stack.undoText() == "Tempo change 90 BPM"
    document.undo_stack.undo()
    assert [round(t.tempo_bpm) for t in document.score.tempo_map] == [121]

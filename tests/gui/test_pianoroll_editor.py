"""The piano-roll editor driven by real mouse, wheel and key events on real widgets (offscreen).

Positions come from the Qt-free geometry. The view is set to 1 px = 8 ticks and 10 px rows so
that every tick used here (a multiple of 8) sits exactly on a pixel.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QWheelEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from composer_app.core.edits import add_notes  # noqa: E402
from composer_app.core.note import Note  # noqa: E402
from composer_app.core.score import Score, TimeSignature  # noqa: E402
from composer_app.gui.document import ScoreDocument  # noqa: E402
from composer_app.gui.pianoroll.editor import PianoRollEditor  # noqa: E402

LEFT = Qt.MouseButton.LeftButton
NO_MOD = Qt.KeyboardModifier.NoModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
CTRL = Qt.KeyboardModifier.ControlModifier
ALT = Qt.KeyboardModifier.AltModifier
TOP_PITCH = 80  # the row at the top of the view


def make_editor(qtbot, notes=(), score: Score | None = None, grid_ticks: int = 120,
                triplet: bool = False) -> PianoRollEditor:
    """An editor on ``score`` (an empty 4/4 one by default) with ``notes`` added; the grid
    1/16 at 480 PPQ unless ``grid_ticks`` says otherwise; 1 px = 8 ticks, 10 px rows."""
    score = Score() if score is None else score
    score.add_many(notes)
    editor = PianoRollEditor(ScoreDocument(score))
    qtbot.addWidget(editor)
    editor.resize(1000, 700)
    editor.show()
    qtbot.waitExposed(editor)
    editor.set_grid(grid_ticks, triplet)
    geo = editor.view.geometry
    editor.view.set_geometry(replace(geo, pixels_per_tick=0.125, row_height_px=10.0,
                                     scroll_x_px=0.0, scroll_y_px=(127 - TOP_PITCH) * 10.0))
    editor.view.setFocus()
    return editor


def at(editor: PianoRollEditor, tick: int, pitch: int) -> QPoint:
    """The pixel in the middle of ``pitch``'s row at ``tick``."""
    geo = editor.view.geometry
    return QPoint(round(geo.tick_to_x(tick)), round(geo.pitch_to_y(pitch) + 5))


def drag(widget, points: list[QPoint], modifier=NO_MOD) -> None:
    """Press at the first point, move through the rest, release at the last."""
    QTest.mousePress(widget, LEFT, modifier, points[0])
    for point in points[1:]:
        QTest.mouseMove(widget, point)
    QTest.mouseRelease(widget, LEFT, modifier, points[-1])


def click(widget, point: QPoint, modifier=NO_MOD) -> None:
    QTest.mousePress(widget, LEFT, modifier, point)
    QTest.mouseRelease(widget, LEFT, modifier, point)


def assert_undo_redo(editor: PianoRollEditor, before, after) -> None:
    """One undo step turns ``after`` back into ``before``; redo restores ``after``."""
    stack = editor.document.undo_stack
    assert set(editor.document.score.notes) == set(after)
    assert stack.count() == 1
    stack.undo()
    assert set(editor.document.score.notes) == set(before)
    stack.redo()
    assert set(editor.document.score.notes) == set(after)


# ---- draw ------------------------------------------------------------------------------------
def test_editor_draw_click_adds_a_grid_note_and_sounds_it(qtbot):
    editor = make_editor(qtbot)
    with qtbot.waitSignal(editor.note_preview_requested) as preview:
        click(editor.view, at(editor, 1000, 64))
    # 1000 snaps down to 960 on the 120-tick grid; one grid step long
    assert_undo_redo(editor, [], [Note(960, 64, 120)])
    assert preview.args == [64, 100, 0, 960]  # (its instrument: the one at its start)
    assert editor.document.selection == {Note(960, 64, 120)}


def test_editor_draw_puts_a_note_in_the_part_it_is_drawn_among(qtbot):
    # a file's tune on channel 4, its chords in a second track of that channel: a drawn note
    # went on channel 1 (another instrument on a multitimbral synth, and another track on save)
    tune = [Note(0, 72, 480, 90, channel=3, track=0), Note(480, 74, 480, 90, channel=3, track=0)]
    chords = [Note(0, 48 + i, 960, 70, channel=3, track=1) for i in (0, 4, 7)]
    editor = make_editor(qtbot, tune + chords)

    def draw(tick: int, pitch: int) -> tuple[int, int, list]:
        with qtbot.waitSignal(editor.note_preview_requested) as preview:
            click(editor.view, at(editor, tick, pitch))
        [drawn] = [n for n in editor.document.score.notes if (n.start_tick, n.pitch) == (tick, pitch)]
        return drawn.channel, drawn.track, preview.args

    assert draw(960, 76) == (3, 0, [76, 100, 3, 960])  # among the tune: the tune's track
    assert draw(960, 50) == (3, 1, [50, 100, 3, 960])  # among the chords: theirs
    # bars away from any note: the part most notes are in (the chords: 4 notes of 6 now)
    assert draw(480 * 4 * 8, 64)[:2] == (3, 1)
    # the keyboard's keys sound in that part too
    with qtbot.waitSignal(editor.note_preview_requested) as preview:
        editor._on_keyboard_note_preview_requested(60, 100)
    assert preview.args == [60, 100, 3, -1]  # (-1: at the playhead)


def test_editor_draw_drag_sets_the_length(qtbot):
    editor = make_editor(qtbot)
    drag(editor.view, [at(editor, 1000, 64), at(editor, 1200, 64), at(editor, 1496, 64)])
    # end 1496 rounds up to the grid line 1560: 1560 - 960 = 600 ticks
    assert_undo_redo(editor, [], [Note(960, 64, 600)])


def test_editor_alt_disables_snap(qtbot):
    editor = make_editor(qtbot)
    click(editor.view, at(editor, 1000, 64), ALT)
    assert editor.document.score.notes == (Note(1000, 64, 120),)


def test_editor_triplet_grid_snaps_to_thirds(qtbot):
    editor = make_editor(qtbot)
    editor.set_grid(240, triplet=True)  # eighth triplets: 160 ticks
    click(editor.view, at(editor, 1000, 64))
    assert editor.snap_step_ticks == 160
    assert editor.document.score.notes == (Note(960, 64, 160),)


# ---- select ----------------------------------------------------------------------------------
def test_editor_select_click_shift_ctrl_and_empty(qtbot):
    a, b, c = Note(0, 60, 240), Note(480, 62, 240), Note(960, 64, 240)
    editor = make_editor(qtbot, [a, b, c])
    editor.set_tool("select")
    doc = editor.document
    click(editor.view, at(editor, 80, 60))
    assert doc.selection == {a}
    click(editor.view, at(editor, 560, 62), SHIFT)
    assert doc.selection == {a, b}
    click(editor.view, at(editor, 1040, 64), CTRL)
    assert doc.selection == {a, b, c}
    click(editor.view, at(editor, 560, 62), CTRL)
    assert doc.selection == {a, c}
    click(editor.view, at(editor, 3000, 70))
    assert doc.selection == frozenset()
    assert doc.undo_stack.count() == 0


def test_editor_rubber_band_selects_and_shift_adds(qtbot):
    a, b, c = Note(0, 60, 240), Note(480, 62, 240), Note(1920, 64, 240)
    editor = make_editor(qtbot, [a, b, c])
    editor.set_tool("select")
    drag(editor.view, [at(editor, 8, 66), at(editor, 400, 62), at(editor, 800, 59)])
    assert editor.document.selection == {a, b}
    drag(editor.view, [at(editor, 1800, 66), at(editor, 2400, 63)], SHIFT)
    assert editor.document.selection == {a, b, c}
    drag(editor.view, [at(editor, 400, 66), at(editor, 800, 61)], CTRL)
    assert editor.document.selection == {a, c}


def test_editor_select_all_and_escape(qtbot):
    notes = [Note(0, 60, 240), Note(480, 62, 240)]
    editor = make_editor(qtbot, notes)
    QTest.keyClick(editor.view, Qt.Key.Key_A, CTRL)
    assert editor.document.selection == set(notes)
    QTest.keyClick(editor.view, Qt.Key.Key_Escape)
    assert editor.document.selection == frozenset()


# ---- move and resize -------------------------------------------------------------------------
def test_editor_drag_moves_selection_as_one_step(qtbot):
    a, b = Note(960, 60, 240), Note(1440, 64, 240)
    editor = make_editor(qtbot, [a, b])
    editor.set_tool("select")
    editor.document.set_selection([a, b])
    previews = []
    editor.note_preview_requested.connect(lambda p, _v, _c, _t: previews.append(p))
    points = [at(editor, 1000, 60)] + [at(editor, 1000 + 40 * i, 60 + i // 2) for i in range(1, 7)]
    QTest.mousePress(editor.view, LEFT, NO_MOD, points[0])
    for point in points[1:]:
        QTest.mouseMove(editor.view, point)
    # mid-drag: the score is untouched, the view shows ghosts at the new place
    assert set(editor.document.score.notes) == {a, b}
    assert editor.document.undo_stack.count() == 0
    assert set(editor.view.overlay.ghosts) == {Note(1200, 63, 240), Note(1680, 67, 240)}
    QTest.mouseRelease(editor.view, LEFT, NO_MOD, points[-1])
    # +240 ticks (anchor 960 + 240 on the grid) and +3 semitones, in ONE undo step
    assert_undo_redo(editor, [a, b], [Note(1200, 63, 240), Note(1680, 67, 240)])
    assert 63 in previews


def test_editor_escape_cancels_a_drag(qtbot):
    a = Note(960, 60, 240)
    editor = make_editor(qtbot, [a])
    QTest.mousePress(editor.view, LEFT, NO_MOD, at(editor, 1000, 60))
    QTest.mouseMove(editor.view, at(editor, 1240, 60))
    QTest.mouseMove(editor.view, at(editor, 1480, 62))
    assert editor.view.overlay is not None
    QTest.keyClick(editor.view, Qt.Key.Key_Escape)
    QTest.mouseRelease(editor.view, LEFT, NO_MOD, at(editor, 1480, 62))
    assert editor.document.score.notes == (a,)
    assert editor.document.undo_stack.count() == 0
    assert editor.view.overlay is None
    assert editor.document.selection == {a}  # the selection survives a cancelled drag


def test_editor_undo_during_a_drag_cancels_it(qtbot):
    # Ctrl+Z with the button still down: the drag's note is gone, so its release must not
    # push a move of it (it raised ScoreError out of mouseReleaseEvent), and nothing is lost.
    a = Note(960, 60, 240)
    editor = make_editor(qtbot, [])
    editor.document.push(add_notes([a], "Draw note"))
    editor.set_tool("select")
    QTest.mousePress(editor.view, LEFT, NO_MOD, at(editor, 1000, 60))
    QTest.mouseMove(editor.view, at(editor, 1240, 60))
    QTest.mouseMove(editor.view, at(editor, 1480, 62))
    assert editor.view.overlay is not None
    editor.document.undo_stack.undo()  # what Ctrl+Z does mid-drag
    assert editor.view.overlay is None and not editor.view.gesture_in_progress
    QTest.mouseRelease(editor.view, LEFT, NO_MOD, at(editor, 1480, 62))
    assert editor.document.score.notes == ()
    editor.document.undo_stack.redo()  # the undone note comes back where it was
    assert editor.document.score.notes == (a,)
    assert editor.document.undo_stack.count() == 1


def test_editor_a_pending_continuation_does_not_cancel_a_drag(qtbot):
    # the live continuation updates the document during a drag; the drag goes on
    a = Note(960, 60, 240)
    editor = make_editor(qtbot, [a])
    editor.set_tool("select")
    QTest.mousePress(editor.view, LEFT, NO_MOD, at(editor, 1000, 60))
    QTest.mouseMove(editor.view, at(editor, 1240, 60))
    editor.document.set_generated_notes([Note(1920, 67, 240, generated=True)])
    QTest.mouseMove(editor.view, at(editor, 1480, 62))
    QTest.mouseRelease(editor.view, LEFT, NO_MOD, at(editor, 1480, 62))
    assert Note(1440, 62, 240) in editor.document.score.notes
    assert a not in editor.document.score.notes


def test_editor_undo_during_a_velocity_drag_cancels_it(qtbot):
    a = Note(0, 60, 240, 100)
    editor = make_editor(qtbot, [])
    editor.document.push(add_notes([a], "Draw note"))
    lane = editor.velocity_lane
    x = round(editor.view.geometry.tick_to_x(0)) + 2
    QTest.mousePress(lane, LEFT, NO_MOD, QPoint(x, round(lane.bar_top_y(127))))
    editor.document.undo_stack.undo()
    QTest.mouseRelease(lane, LEFT, NO_MOD, QPoint(x, round(lane.bar_top_y(20))))
    assert editor.document.score.notes == ()
    editor.document.undo_stack.redo()
    assert editor.document.score.notes == (a,) and editor.document.undo_stack.count() == 1


def test_editor_draw_tool_moves_existing_notes_too(qtbot):
    a = Note(960, 60, 240)
    editor = make_editor(qtbot, [a])
    drag(editor.view, [at(editor, 1000, 60), at(editor, 1240, 60)])
    assert_undo_redo(editor, [a], [Note(1200, 60, 240)])


def test_editor_move_with_alt_leaves_the_grid(qtbot):
    a = Note(960, 60, 240)
    editor = make_editor(qtbot, [a])
    editor.set_tool("select")
    drag(editor.view, [at(editor, 1000, 60), at(editor, 1040, 60), at(editor, 1104, 60)], ALT)
    # raw +104 ticks, no snapping
    assert editor.document.score.notes == (Note(1064, 60, 240),)


def test_editor_arrow_keys_transpose_and_nudge(qtbot):
    a = Note(960, 60, 240)
    editor = make_editor(qtbot, [a])
    editor.document.set_selection([a])
    stack = editor.document.undo_stack
    QTest.keyClick(editor.view, Qt.Key.Key_Up)
    assert editor.document.score.notes == (Note(960, 61, 240),)
    QTest.keyClick(editor.view, Qt.Key.Key_Up, SHIFT)
    assert editor.document.score.notes == (Note(960, 73, 240),)
    QTest.keyClick(editor.view, Qt.Key.Key_Right)
    assert editor.document.score.notes == (Note(1080, 73, 240),)
    QTest.keyClick(editor.view, Qt.Key.Key_Left)
    QTest.keyClick(editor.view, Qt.Key.Key_Left)
    assert editor.document.score.notes == (Note(840, 73, 240),)
    QTest.keyClick(editor.view, Qt.Key.Key_Down)
    assert editor.document.score.notes == (Note(840, 72, 240),)
    assert stack.count() == 6  # one step per key press
    for _ in range(6):
        stack.undo()
    assert editor.document.score.notes == (a,)


def test_editor_resize_from_right_edge_with_cursor_hint(qtbot):
    a = Note(960, 60, 240)  # x 120..150
    editor = make_editor(qtbot, [a])
    editor.set_tool("select")
    edge = at(editor, 1192, 60)  # 1 px inside the right end
    QTest.mouseMove(editor.view, edge)
    assert editor.view.cursor().shape() == Qt.CursorShape.SizeHorCursor
    QTest.mouseMove(editor.view, at(editor, 1000, 60))
    assert editor.view.cursor().shape() == Qt.CursorShape.SizeAllCursor
    drag(editor.view, [edge, at(editor, 1400, 60), at(editor, 1552, 60)])
    # end 1200 + (1552 - 1192) = 1560, on the grid: 600 ticks
    assert_undo_redo(editor, [a], [Note(960, 60, 600)])


def test_editor_click_on_a_right_edge_selects_without_resizing(qtbot):
    a = Note(960, 60, 100)  # ends off the grid at 1060: x 120..132.5
    editor = make_editor(qtbot, [a])
    edge = at(editor, 1056, 60)  # x 132, in the edge zone
    for tool in ("select", "draw"):
        editor.set_tool(tool)
        editor.deselect()
        QTest.mouseMove(editor.view, at(editor, 2000, 60))
        QTest.mouseMove(editor.view, edge)
        assert editor.view.cursor().shape() == Qt.CursorShape.SizeHorCursor
        click(editor.view, edge)
        assert editor.document.selection == {a}
        # a wobble of 1 px (under the 3 px drag threshold) is still a click
        drag(editor.view, [edge, edge + QPoint(1, 0)])
        # the end would have snapped to the grid line 1080 had the click resized the note
        assert editor.document.score.notes == (a,)
        assert editor.document.undo_stack.count() == 0
        assert not editor.document.undo_stack.canUndo()


# ---- erase -----------------------------------------------------------------------------------
def test_editor_erase_tool_drag_is_one_step(qtbot):
    notes = [Note(t, 60, 120) for t in (0, 240, 480, 960)]
    editor = make_editor(qtbot, notes)
    with qtbot.waitSignal(editor.tool_changed) as changed:
        editor.set_tool("erase")
    assert changed.args == ["erase"]
    drag(editor.view, [at(editor, 16, 60)] + [at(editor, t, 60) for t in range(40, 640, 40)])
    assert_undo_redo(editor, notes, [Note(960, 60, 120)])


def test_editor_erase_removes_identical_stacked_copies_at_once(qtbot):
    twice, other = Note(240, 60, 120), Note(960, 60, 120)
    editor = make_editor(qtbot, [twice, twice, other])  # pasted twice at one place
    editor.set_tool("erase")
    click(editor.view, at(editor, 280, 60))
    assert editor.document.score.notes == (other,)
    editor.document.undo_stack.undo()  # one step brings both copies back
    assert editor.document.score.notes == (twice, twice, other)


def test_editor_delete_and_backspace_remove_the_selection(qtbot):
    a, b = Note(0, 60, 240), Note(480, 62, 240)
    editor = make_editor(qtbot, [a, b])
    editor.document.set_selection([a])
    QTest.keyClick(editor.view, Qt.Key.Key_Delete)
    assert editor.document.score.notes == (b,)
    editor.document.set_selection([b])
    QTest.keyClick(editor.view, Qt.Key.Key_Backspace)
    assert editor.document.score.notes == ()
    assert editor.document.undo_stack.count() == 2


def test_editor_edits_identical_stacked_copies_together(qtbot):
    # Pasted twice at one place, two identical notes look like one and are selected as one:
    # Delete, the arrows, a drag, a right click and the velocity lane left a hidden copy
    # behind (still sounding at the old place).
    twice, other = Note(240, 60, 120, 90), Note(960, 64, 120, 90)
    editor = make_editor(qtbot, [twice, twice, other])
    document = editor.document
    editor.view.setFocus()

    def everything(key) -> tuple:
        document.set_selection(document.score.notes)
        QTest.keyClick(editor.view, key)
        return document.score.notes

    assert everything(Qt.Key.Key_Up) == tuple(sorted([twice.moved(0, 1)] * 2
                                                     + [other.moved(0, 1)]))
    document.undo_stack.undo()
    assert everything(Qt.Key.Key_Delete) == ()
    document.undo_stack.undo()
    editor.set_tool("select")
    editor.deselect()
    drag(editor.view, [at(editor, 280, 60), at(editor, 300, 62), at(editor, 280, 62)])
    assert document.score.notes == tuple(sorted([twice.moved(0, 2)] * 2 + [other]))
    document.undo_stack.undo()
    QTest.mouseClick(editor.view, Qt.MouseButton.RightButton, NO_MOD, at(editor, 280, 60))
    assert document.score.notes == (other,)
    document.undo_stack.undo()
    assert document.score.notes == (twice, twice, other)
    lane = editor.velocity_lane
    x = round(editor.view.geometry.tick_to_x(240)) + 2
    document.set_selection([twice])
    drag(lane, [QPoint(x, round(lane.bar_top_y(30)))])
    assert [n.velocity for n in document.score.notes] == [30, 30, 90]


def test_editor_right_click_deletes_a_note(qtbot):
    a = Note(0, 60, 240)
    editor = make_editor(qtbot, [a])
    QTest.mouseClick(editor.view, Qt.MouseButton.RightButton, NO_MOD, at(editor, 80, 60))
    assert_undo_redo(editor, [a], [])


def test_editor_right_click_leaves_a_pending_continuation_alone(qtbot):
    a = Note(0, 60, 240)
    pending = Note(960, 64, 240, generated=True)
    editor = make_editor(qtbot, [a])
    editor.document.set_generated_notes([pending])
    QTest.mouseClick(editor.view, Qt.MouseButton.RightButton, NO_MOD, at(editor, 1000, 64))
    # the proposal is kept or dropped as a whole (Accept, Discard), not note by note
    assert set(editor.document.score.notes) == {a, pending}
    assert editor.document.undo_stack.count() == 0
    QTest.mouseClick(editor.view, Qt.MouseButton.RightButton, NO_MOD, at(editor, 80, 60))
    assert editor.document.score.notes == (pending,)  # the user's note still goes


def test_editor_ctrl_drag_copies_and_the_draw_length_outlives_a_tool_switch(qtbot):
    a = Note(960, 60, 480)
    editor = make_editor(qtbot, [a])
    editor.set_tool("select")
    drag(editor.view, [at(editor, 1100, 60), at(editor, 1600, 60), at(editor, 2020, 60)], CTRL)
    assert set(editor.document.score.notes) == {a, a.moved(960, 0)}
    assert editor.document.undo_stack.undoText() == "Copy notes"
    # a note drawn a half note long; a click after a visit to another tool draws one as long
    editor.set_tool("draw")
    drag(editor.view, [at(editor, 0, 72), at(editor, 500, 72), at(editor, 900, 72)])
    editor.set_tool("select")
    editor.set_tool("draw")
    click(editor.view, at(editor, 3000, 74))
    assert Note(3000, 74, 960) in editor.document.score.notes
    # a change of grid (here there and back) makes a click draw one cell again
    editor.set_grid(60)
    editor.set_grid(120)
    click(editor.view, at(editor, 4800, 76))
    assert Note(4800, 76, 120) in editor.document.score.notes
    # so does a file of another resolution (a length in the old ticks means nothing there)
    drag(editor.view, [at(editor, 0, 72), at(editor, 500, 72), at(editor, 900, 72)])
    editor.document.replace_score(Score(ppq=1024))
    assert editor.grid_ticks == 256  # the same 1/16
    click(editor.view, at(editor, 1024, 74))
    assert editor.document.score.notes == (Note(1024, 74, 256),)


def test_editor_a_note_drawn_then_lengthened_is_still_no_chosen_selection(qtbot):
    # Continue takes only a selection the user chose as its seed: drawing a note and then
    # dragging its edge (the usual next gesture) made it one.
    editor = make_editor(qtbot)
    click(editor.view, at(editor, 960, 64))
    assert editor.document.selection and not editor.document.selection_is_chosen
    drag(editor.view, [at(editor, 960 + 120 - 8, 64), at(editor, 1300, 64), at(editor, 1440, 64)])
    assert editor.document.score.notes == (Note(960, 64, 480),)
    assert not editor.document.selection_is_chosen
    click(editor.view, at(editor, 1200, 64))  # a click on it chooses it
    assert editor.document.selection_is_chosen


# ---- commands --------------------------------------------------------------------------------
def test_editor_quantize_selection(qtbot):
    a, b = Note(130, 60, 100), Note(470, 62, 250)
    editor = make_editor(qtbot, [a, b])
    editor.select_all()
    editor.quantize_selection()
    # 130 -> 120 (len 100 -> 120); 470 -> 480 (len 250 -> 240)
    assert_undo_redo(editor, [a, b], [Note(120, 60, 120), Note(480, 62, 240)])


def test_editor_quantize_to_triplets_at_1024_ppq_keeps_notes_on_the_beat(qtbot):
    # Every Nottingham file has 1024 ticks a quarter, which 3 does not divide.
    on_beats = [Note(i * 1024, 60 + i, 512) for i in range(4)]
    late = Note(4096 + 1365 + 3, 70, 340)  # 3 ticks after the 4th triplet eighth of bar 2
    editor = make_editor(qtbot, [*on_beats, late], score=Score(ppq=1024), grid_ticks=512,
                         triplet=True)
    editor.select_all()
    editor.quantize_selection()
    notes = editor.document.score.notes
    assert [n.start_tick for n in notes] == [0, 1024, 2048, 3072, 4096 + 1365]
    # 512 ticks are 1.5 triplet eighths: two of them (683 ticks, to the line after next)
    assert [n.end_tick for n in notes[:4]] == [683, 1024 + 683, 2048 + 683, 3072 + 683]


def test_editor_paste_twice_puts_the_second_copy_after_the_first(qtbot):
    a, b = Note(0, 60, 240), Note(240, 64, 200)
    editor = make_editor(qtbot, [a, b])
    editor.select_all()
    QTest.keyClick(editor.view, Qt.Key.Key_C, CTRL)
    moved_to: list[int] = []
    editor.playhead_requested.connect(moved_to.append)
    editor.set_playhead_tick(960)
    QTest.keyClick(editor.view, Qt.Key.Key_V, CTRL)
    QTest.keyClick(editor.view, Qt.Key.Key_V, CTRL)
    # the clip is 440 ticks long: the playhead goes to the 1/16 line at or after its end
    assert moved_to == [1440, 1920] and editor.view.playhead_tick == 1920
    starts = sorted(n.start_tick for n in editor.document.score.notes)
    assert starts == [0, 240, 960, 1200, 1440, 1680]  # no copy stacked on another


def test_editor_quantize_with_nothing_selected_quantizes_every_note(qtbot):
    a, b = Note(130, 60, 100), Note(470, 62, 250)
    editor = make_editor(qtbot, [a, b])
    editor.deselect()
    editor.quantize_selection()  # Q in the window
    assert editor.document.selection == frozenset()  # not the whole song for the next key
    assert_undo_redo(editor, [a, b], [Note(120, 60, 120), Note(480, 62, 240)])
    assert editor.document.selection == frozenset()  # nor after Redo
    editor.document.undo_stack.undo()
    assert editor.document.selection == frozenset()  # nor after Undo


def test_editor_copy_paste_at_playhead_and_duplicate(qtbot):
    a, b = Note(0, 60, 240), Note(240, 64, 240)
    editor = make_editor(qtbot, [a, b])
    editor.select_all()
    QTest.keyClick(editor.view, Qt.Key.Key_C, CTRL)
    editor.set_playhead_tick(1930)  # snapped down to 1920 on the grid
    QTest.keyClick(editor.view, Qt.Key.Key_V, CTRL)
    pasted = {Note(1920, 60, 240), Note(2160, 64, 240)}
    assert set(editor.document.score.notes) == {a, b} | pasted
    assert editor.document.selection == pasted
    QTest.keyClick(editor.view, Qt.Key.Key_D, CTRL)
    # span 1920..2400 = 480 ticks: the copy starts right after, at 2400
    duplicated = {Note(2400, 60, 240), Note(2640, 64, 240)}
    assert set(editor.document.score.notes) == {a, b} | pasted | duplicated
    assert editor.document.undo_stack.count() == 2
    editor.document.undo_stack.undo()
    editor.document.undo_stack.undo()
    assert set(editor.document.score.notes) == {a, b}


def test_editor_cut_removes_and_keeps_for_paste(qtbot):
    a = Note(480, 60, 240)
    editor = make_editor(qtbot, [a])
    editor.select_all()
    QTest.keyClick(editor.view, Qt.Key.Key_X, CTRL)
    assert editor.document.score.notes == ()
    editor.paste(960)
    assert editor.document.score.notes == (Note(960, 60, 240),)


def test_editor_paste_into_a_score_of_another_ppq_keeps_the_note_values(qtbot):
    # at 480 PPQ: two quarters, an eighth and a one-tick note
    notes = [Note(0, 60, 480), Note(480, 62, 480), Note(960, 64, 240), Note(1203, 65, 1)]
    editor = make_editor(qtbot, notes)
    QTest.keyClick(editor.view, Qt.Key.Key_A, CTRL)
    QTest.keyClick(editor.view, Qt.Key.Key_C, CTRL)
    editor.document.replace_score(Score(ppq=96))  # File > Open of a 96-PPQ file
    editor.paste(192)  # Edit > Paste at the playhead, beat 3
    # ticks * 96 / 480: quarters of 96, an eighth of 48; 1203 -> 240.6 -> 241; the one-tick
    # note would round to 0 ticks and stays 1 tick long
    assert set(editor.document.score.notes) == {
        Note(192, 60, 96), Note(288, 62, 96), Note(384, 64, 48), Note(192 + 241, 65, 1)}
    editor.document.replace_score(Score(ppq=960))
    editor.set_playhead_tick(0)
    QTest.keyClick(editor.view, Qt.Key.Key_V, CTRL)
    # copied at 480 PPQ, pasted at 960: every time doubles
    assert set(editor.document.score.notes) == {
        Note(0, 60, 960), Note(960, 62, 960), Note(1920, 64, 480), Note(2406, 65, 2)}


# ---- velocity lane ---------------------------------------------------------------------------
def test_editor_velocity_drag_is_one_step(qtbot):
    a, b, c = Note(0, 60, 240, 100), Note(480, 62, 240, 100), Note(960, 64, 240, 100)
    editor = make_editor(qtbot, [a, b, c])
    lane = editor.velocity_lane
    top = round(lane.bar_top_y(127))
    half = round(lane.bar_top_y(64))
    x = [round(editor.view.geometry.tick_to_x(t)) + 2 for t in (0, 480, 960)]
    drag(lane, [QPoint(x[0], top), QPoint(x[1], half), QPoint(x[1] + 20, half)])
    velocities = {n.pitch: n.velocity for n in editor.document.score.notes}
    assert velocities[60] == 127
    assert velocities[62] == lane.velocity_at_y(half)
    assert abs(velocities[62] - 64) <= 1
    assert velocities[64] == 100  # never crossed
    assert editor.document.undo_stack.count() == 1
    editor.document.undo_stack.undo()
    assert set(editor.document.score.notes) == {a, b, c}


def test_editor_velocity_drag_only_touches_the_selection(qtbot):
    a, b = Note(0, 60, 240, 100), Note(0, 64, 240, 100)  # bars at the same x
    editor = make_editor(qtbot, [a, b])
    editor.document.set_selection([b])
    lane = editor.velocity_lane
    point = QPoint(round(editor.view.geometry.tick_to_x(0)) + 2, round(lane.bar_top_y(20)))
    click(lane, point)
    assert set(editor.document.score.notes) == {a, b.with_velocity(lane.velocity_at_y(point.y()))}


def test_editor_velocity_fast_stroke_sets_every_bar_it_passes(qtbot):
    notes = [Note(t, 60 + i, 120, 100) for i, t in enumerate(range(0, 1920, 240))]  # 30 px apart
    editor = make_editor(qtbot, notes)
    lane = editor.velocity_lane
    xs = [round(editor.view.geometry.tick_to_x(n.start_tick)) + 2 for n in notes]
    top, low = round(lane.bar_top_y(127)), round(lane.bar_top_y(20))
    # one quick flick from the first bar to the last: a single move event
    drag(lane, [QPoint(xs[0], top), QPoint(xs[-1], low)])
    velocities = [v for _p, v in sorted((n.pitch, n.velocity) for n in editor.document.score.notes)]
    assert velocities[0] == 127 and velocities[-1] == lane.velocity_at_y(low)
    # the bars in between follow the line from 127 down to about 20
    assert all(v1 > v2 for v1, v2 in zip(velocities, velocities[1:], strict=False))
    assert editor.document.undo_stack.count() == 1
    # a level flick sets every bar to the same velocity
    y = round(lane.bar_top_y(50))
    drag(lane, [QPoint(xs[-1], y), QPoint(xs[0], y)])
    assert {n.velocity for n in editor.document.score.notes} == {lane.velocity_at_y(y)}
    assert editor.document.undo_stack.count() == 2


# ---- zoom, scroll, fit -----------------------------------------------------------------------
def wheel(widget, pos: QPoint, delta_y: int, modifiers) -> None:
    event = QWheelEvent(QPointF(pos), QPointF(widget.mapToGlobal(pos)), QPoint(0, 0),
                        QPoint(0, delta_y), Qt.MouseButton.NoButton, modifiers,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_editor_ctrl_wheel_zooms_around_the_mouse(qtbot):
    editor = make_editor(qtbot)
    editor.view.set_geometry(replace(editor.view.geometry, scroll_x_px=400.0))
    pos = QPoint(300, 200)
    tick_before = editor.view.geometry.x_to_tick(pos.x())
    wheel(editor.view, pos, 120, CTRL)
    geo = editor.view.geometry
    assert geo.pixels_per_tick == pytest.approx(0.125 * 1.25)
    assert geo.x_to_tick(pos.x()) == pytest.approx(tick_before)
    pitch_before = geo.y_to_pitch(pos.y())
    rows_before = (pos.y() + geo.scroll_y_px) / geo.row_height_px
    wheel(editor.view, pos, 120, CTRL | SHIFT)
    geo = editor.view.geometry
    assert geo.row_height_px == pytest.approx(12.5)
    assert (pos.y() + geo.scroll_y_px) / geo.row_height_px == pytest.approx(rows_before)
    assert geo.y_to_pitch(pos.y()) == pitch_before


def test_editor_wheel_scrolls_and_scrollbars_follow(qtbot):
    editor = make_editor(qtbot)
    y0 = editor.view.geometry.scroll_y_px
    wheel(editor.view, QPoint(300, 200), -120, NO_MOD)
    assert editor.view.geometry.scroll_y_px == y0 + 40
    assert editor._vbar.value() == round(y0 + 40)
    wheel(editor.view, QPoint(300, 200), -120, SHIFT)
    assert editor.view.geometry.scroll_x_px == 80
    editor._hbar.setValue(200)
    assert editor.view.geometry.scroll_x_px == 200


def test_editor_ctrl_wheel_on_ruler_zooms_time(qtbot):
    editor = make_editor(qtbot)
    editor.view.set_geometry(replace(editor.view.geometry, scroll_x_px=400.0))
    pos = QPoint(200, 10)
    tick_before = editor.view.geometry.x_to_tick(pos.x())
    wheel(editor.ruler, pos, -120, CTRL)
    geo = editor.view.geometry
    assert geo.pixels_per_tick == pytest.approx(0.125 / 1.25)
    assert geo.x_to_tick(pos.x()) == pytest.approx(tick_before)


def test_editor_scrolling_stops_after_the_content(qtbot):
    editor = make_editor(qtbot, [Note(0, 60, 480)])
    # content: the score (480 ticks) + 4 bars, at least 16 bars = 30720 ticks = 3840 px
    for _ in range(200):
        wheel(editor.view, QPoint(300, 200), -120, SHIFT)
    geo = editor.view.geometry
    assert geo.scroll_x_px == 16 * 1920 * 0.125 - geo.width_px
    assert editor._hbar.maximum() == round(geo.scroll_x_px)


def test_editor_zoom_to_fit_shows_every_note(qtbot):
    notes = [Note(0, 40, 480), Note(30_000, 90, 480)]
    editor = make_editor(qtbot, notes)
    editor.zoom_to_fit()
    geo = editor.view.geometry
    start, end = geo.visible_tick_range()
    low, high = geo.visible_pitch_range()
    assert start <= 0 and end >= 30_480
    assert low <= 40 and high > 90


def test_editor_zoom_to_fit_shows_an_hour_long_song(qtbot):
    # At 1,024 PPQ (every Nottingham file) the zoom stopped at 8 px a bar: Zoom to fit
    # showed the first 7-12 % of a half-hour file, and there was no overview of it.
    score = Score(ppq=1024)
    bar = 4 * 1024
    notes = [Note(0, 60, 1024), Note(1800 * bar, 72, 1024)]  # an hour at 120 BPM
    editor = make_editor(qtbot, notes, score=score)
    editor.zoom_to_fit()
    start, end = editor.view.geometry.visible_tick_range()
    assert start <= 0 and end >= 1800 * bar + 1024


def test_editor_follow_playhead(qtbot):
    editor = make_editor(qtbot)
    far = 20_000  # x 2500, beyond the ~940 px view
    editor.follow_playhead = False
    editor.set_playhead_tick(far)
    assert editor.view.geometry.scroll_x_px == 0
    editor.follow_playhead = True
    editor.set_playhead_tick(far)
    assert 0 <= editor.view.geometry.tick_to_x(far) <= editor.view.width()


def test_editor_click_below_the_lowest_key_does_nothing(qtbot):
    low = Note(0, 0, 1920)  # pitch 0, x 0..240
    editor = make_editor(qtbot, [low])
    geo = editor.view.geometry
    # rows at their 3 px minimum: the 128 rows (384 px) end well above the view's bottom
    editor.view.set_geometry(replace(geo, row_height_px=3.0, scroll_y_px=0.0))
    rows_end = editor.view.geometry.content_height_px
    assert rows_end == 384 and editor.view.height() > rows_end + 40
    below = QPoint(100, round(rows_end) + 30)
    for tool in ("draw", "select", "erase"):
        editor.set_tool(tool)
        click(editor.view, below)
        QTest.mouseClick(editor.view, Qt.MouseButton.RightButton, NO_MOD, below)
    assert editor.document.score.notes == (low,)  # no C-1 drawn, the pitch-0 note kept
    assert editor.document.undo_stack.count() == 0
    with qtbot.waitSignal(editor.view.hover_pitch_changed) as hover:
        QTest.mouseMove(editor.view, QPoint(100, round(rows_end) - 1))  # pitch 0's row
    assert hover.args == [0]
    with qtbot.waitSignal(editor.view.hover_pitch_changed) as hover:
        QTest.mouseMove(editor.view, below)
    assert hover.args == [-1]  # no key to light
    with qtbot.assertNotEmitted(editor.keyboard.note_preview_requested):
        click(editor.keyboard, QPoint(20, below.y()))
    with qtbot.waitSignal(editor.keyboard.note_preview_requested) as preview:
        click(editor.keyboard, QPoint(20, round(rows_end) - 1))
    assert preview.args == [0, 100]


# ---- keyboard and ruler ----------------------------------------------------------------------
def test_editor_keyboard_click_sounds_the_key(qtbot):
    editor = make_editor(qtbot)
    y = round(editor.view.geometry.pitch_to_y(67) + 5)
    with qtbot.waitSignal(editor.note_preview_requested) as preview:
        click(editor.keyboard, QPoint(20, y))
    assert preview.args == [67, 100, 0, -1]


def test_editor_previews_sound_in_the_part_of_the_note(qtbot):
    # A file's part on channel 4 (say, a flute on a multitimbral synth): grabbing, moving or
    # transposing one of its notes sounded it on channel 0, another instrument; a key click
    # sounds in the part most notes are in.
    flute = [Note(0, 72, 480, 80, channel=4), Note(480, 74, 480, 80, channel=4)]
    editor = make_editor(qtbot, [*flute, Note(0, 48, 960, 70, channel=1)])
    with qtbot.waitSignal(editor.note_preview_requested) as preview:
        click(editor.view, at(editor, 100, 72))  # the Draw tool grabs the note it hits
    assert preview.args == [72, 80, 4, 0]
    editor.view.set_selection([flute[1]])
    with qtbot.waitSignal(editor.note_preview_requested) as preview:
        QTest.keyClick(editor.view, Qt.Key.Key_Up)
    assert preview.args == [75, 80, 4, 480]
    y = round(editor.view.geometry.pitch_to_y(67) + 5)
    with qtbot.waitSignal(editor.note_preview_requested) as preview:
        click(editor.keyboard, QPoint(20, y))
    assert preview.args == [67, 100, 4, -1]  # two notes on channel 4, one on channel 1


def test_editor_keyboard_lights_the_row_under_the_pointer(qtbot):
    editor = make_editor(qtbot)
    y = round(editor.view.geometry.pitch_to_y(64) + 5)  # E4, a white key
    before = editor.keyboard.grab().toImage().pixelColor(50, y)
    QTest.mouseMove(editor.view, QPoint(300, y))
    after = editor.keyboard.grab().toImage().pixelColor(50, y)
    assert before.saturation() < 20
    assert after.blue() > after.red() + 20


def test_editor_ruler_click_requests_the_playhead(qtbot):
    editor = make_editor(qtbot)
    with qtbot.waitSignal(editor.playhead_requested) as request:
        click(editor.ruler, QPoint(round(editor.view.geometry.tick_to_x(1000)), 10))
    assert request.args == [960]  # nearest 1/16 line
    assert editor.playhead_tick == 960
    drag(editor.ruler, [QPoint(15, 10), QPoint(60, 10), QPoint(240, 10)])
    # 15 px = 120 ticks; 240 px = 1920 ticks
    assert editor.region() == (120, 1920)
    with qtbot.waitSignal(editor.region_changed):
        QTest.mouseClick(editor.ruler, Qt.MouseButton.RightButton, NO_MOD, QPoint(100, 10))
    assert editor.region() is None


def test_editor_ruler_numbers_bars_from_the_meter(qtbot):
    score = Score(time_signatures=[TimeSignature(0, 3, 4), TimeSignature(2880, 4, 4)])
    editor = make_editor(qtbot)
    editor.document.replace_score(score)
    # 3/4 bars of 1440 ticks until 2880, then 4/4 bars of 1920
    assert score.bar_starts(7000) == [0, 1440, 2880, 4800, 6720]
    image = editor.ruler.grab().toImage()
    dark_columns = {x for x in range(image.width())
                    for y in (image.height() - 3,) if QColor(image.pixel(x, y)).value() < 120}
    for tick in (1440, 2880, 4800):
        assert round(editor.view.geometry.tick_to_x(tick)) in dark_columns


def test_editor_keeps_the_musical_grid_for_another_ppq(qtbot):
    editor = make_editor(qtbot)  # 1/16 = 120 ticks at 480 PPQ
    editor.document.replace_score(Score(ppq=96))
    assert editor.grid_ticks == 24  # still a 1/16 at 96 PPQ
    click(editor.view, at(editor, 100, 64))
    assert editor.document.score.notes == (Note(96, 64, 24),)


def test_editor_unknown_tool_is_refused(qtbot):
    editor = make_editor(qtbot)
    with pytest.raises(ValueError, match="unknown tool"):
        editor.set_tool("pencil")
    assert editor.tool_name == "draw"


def test_editor_probabilities_shape_is_checked(qtbot):
    editor = make_editor(qtbot)
    with pytest.raises(ValueError, match=r"\(n, 88\)"):
        editor.set_probabilities(0, 120, np.zeros((4, 12)))
    with pytest.raises(ValueError, match="step_ticks must be positive"):
        editor.set_probabilities(0, 0, np.zeros((4, 88)))
    # NaN from a diverged model shows as nothing rather than garbage
    editor.set_probabilities(0, 120, np.full((4, 88), np.nan))
    assert editor.view.grab().toImage().pixelColor(5, 5).saturation() < 30

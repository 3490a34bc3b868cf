"""The snapping grid restarts at every bar line: real mouse and key events on the editor.

Two meters where a bar is not a whole number of grid steps long:
- a one-beat pickup (1/4) and then 4/4, with the 1/2 grid (960 ticks): bars at 0, 480, 2400,
  4320; counted from tick 0 the grid lines would be 960, 1920, 2880 and miss every downbeat;
- 3/4 with the quarter-triplet grid (320 ticks): bars of 1440 ticks, 4.5 steps each.
The view is set to 1 px = 8 ticks and 10 px rows, as in test_pianoroll_editor.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtGui import QColor, QImage  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from composer_app.core.note import Note  # noqa: E402
from composer_app.core.score import Score, TimeSignature  # noqa: E402
from composer_app.gui.pianoroll.editor import PianoRollEditor  # noqa: E402
from composer_app.gui.pianoroll.view import STEP_LINE, WHITE_ROW  # noqa: E402
from tests.gui.test_pianoroll_editor import at, click, drag  # noqa: E402
from tests.gui.test_pianoroll_editor import make_editor as make_any_editor  # noqa: E402

CTRL = Qt.KeyboardModifier.ControlModifier


def pickup_score() -> Score:
    """A one-beat pickup bar, then 4/4: bars start at 0, 480, 2400, 4320, ..."""
    return Score(time_signatures=[TimeSignature(0, 1, 4), TimeSignature(480, 4, 4)])


def waltz_score() -> Score:
    """3/4 throughout: bars of 3 * 480 = 1440 ticks."""
    return Score(time_signatures=[TimeSignature(0, 3, 4)])


def make_editor(qtbot, score: Score, grid_ticks: int, triplet: bool = False,
                notes=()) -> PianoRollEditor:
    return make_any_editor(qtbot, notes, score=score, grid_ticks=grid_ticks, triplet=triplet)


# ---- drawing ---------------------------------------------------------------------------------
def test_grid_draw_click_on_a_downbeat_after_a_pickup_lands_on_it(qtbot):
    editor = make_editor(qtbot, pickup_score(), 960)  # the 1/2 grid
    click(editor.view, at(editor, 480 + 16, 64))  # 2 px into bar 2
    click(editor.view, at(editor, 2400 + 16, 62))  # 2 px into bar 3
    click(editor.view, at(editor, 2400 + 960 + 16, 60))  # 2 px past bar 3's middle
    # counted from each bar line: 480, 2400 and 2400 + 960; one step (960 ticks) long
    assert set(editor.document.score.notes) == {
        Note(480, 64, 960), Note(2400, 62, 960), Note(3360, 60, 960)}


def test_grid_draw_in_three_four_with_quarter_triplets(qtbot):
    editor = make_editor(qtbot, waltz_score(), 480, triplet=True)
    assert editor.snap_step_ticks == 320
    click(editor.view, at(editor, 1440 + 16, 64))  # just after bar 2's downbeat
    click(editor.view, at(editor, 1440 + 320 + 16, 62))  # just after its second triplet
    assert set(editor.document.score.notes) == {Note(1440, 64, 320), Note(1760, 62, 320)}


def test_grid_draw_drag_end_stops_at_the_bar_line(qtbot):
    editor = make_editor(qtbot, waltz_score(), 480, triplet=True)
    drag(editor.view, [at(editor, 648, 64), at(editor, 1000, 64), at(editor, 1400, 64)])
    # bar 1 has lines at 0, 320, ..., 1280 and ends at 1440: the end 1400 rounds up to the
    # bar line, not to 5 * 320 = 1600; 1440 - 640 = 800 ticks
    assert editor.document.score.notes == (Note(640, 64, 800),)


def test_grid_draw_click_in_a_bars_last_short_cell_stops_at_the_bar_line(qtbot):
    editor = make_editor(qtbot, waltz_score(), 480, triplet=True)
    # bar 1's last line is 1280; the bar ends 160 ticks later: a note of one cell, not of
    # one step (320), which would cross the bar line
    click(editor.view, at(editor, 1280 + 16, 64))
    assert editor.document.score.notes == (Note(1280, 64, 160),)


# ---- moving and resizing ---------------------------------------------------------------------
def test_grid_move_drag_snaps_to_the_next_downbeat(qtbot):
    a = Note(960, 60, 320)
    editor = make_editor(qtbot, waltz_score(), 480, triplet=True, notes=[a])
    editor.set_tool("select")
    drag(editor.view, [at(editor, 1000, 60), at(editor, 1200, 60), at(editor, 1464, 60)])
    # start 960 + 464 = 1424: 144 past the last line of bar 1 (1280), 16 before bar 2 (1440)
    assert editor.document.score.notes == (Note(1440, 60, 320),)
    assert editor.document.undo_stack.count() == 1


def test_grid_resize_drag_ends_on_a_bar_line(qtbot):
    a = Note(960, 60, 320)  # ends at 1280, x 120..160
    editor = make_editor(qtbot, waltz_score(), 480, triplet=True, notes=[a])
    editor.set_tool("select")
    edge = at(editor, 1272, 60)  # 1 px inside the right end
    drag(editor.view, [edge, at(editor, 1350, 60), at(editor, 1272 + 144, 60)])
    # end 1280 + 144 = 1424 is nearest the bar line 1440 (the next triplet line would be 1600)
    assert editor.document.score.notes == (Note(960, 60, 480),)


# ---- quantize, ruler, paste ------------------------------------------------------------------
def test_grid_quantize_keeps_downbeats_and_moves_notes_onto_them(qtbot):
    on_downbeat = Note(2400, 72, 960)  # bar 3's downbeat
    before_bar_4 = Note(4300, 74, 960)  # 20 ticks before bar 4 (4320)
    editor = make_editor(qtbot, pickup_score(), 960, notes=[on_downbeat, before_bar_4])
    QTest.keyClick(editor.view, Qt.Key.Key_A, CTRL)
    editor.quantize_selection()
    # bar 3 [2400, 4320) has lines at 2400 and 3360; 4300 is nearest the bar line 4320
    assert set(editor.document.score.notes) == {on_downbeat, Note(4320, 74, 960)}


def test_grid_ruler_click_snaps_to_the_lines_of_its_bar(qtbot):
    editor = make_editor(qtbot, pickup_score(), 960)
    x = round(editor.view.geometry.tick_to_x(2400))
    with qtbot.waitSignal(editor.playhead_requested) as request:
        click(editor.ruler, QPoint(x, 10))
    assert request.args == [2400]  # bar 3's line itself
    assert editor.playhead_tick == 2400
    with qtbot.waitSignal(editor.playhead_requested) as request:
        click(editor.ruler, QPoint(round(editor.view.geometry.tick_to_x(1000)), 10))
    # bar 2 [480, 2400) has lines at 480 and 1440: 1000 is 520 from one and 440 from the other
    assert request.args == [1440]


def test_grid_paste_at_the_playhead_snaps_down_to_its_bars_grid(qtbot):
    a = Note(0, 60, 320)
    editor = make_editor(qtbot, waltz_score(), 480, triplet=True, notes=[a])
    QTest.keyClick(editor.view, Qt.Key.Key_A, CTRL)
    QTest.keyClick(editor.view, Qt.Key.Key_C, CTRL)
    editor.set_playhead_tick(1500)  # in bar 2 [1440, 2880), 60 ticks after its downbeat
    QTest.keyClick(editor.view, Qt.Key.Key_V, CTRL)
    assert set(editor.document.score.notes) == {a, Note(1440, 60, 320)}


def test_grid_duplicate_lands_on_the_next_bar_line(qtbot):
    bar_1 = [Note(0, 60, 480), Note(480, 62, 480), Note(960, 64, 480)]
    editor = make_editor(qtbot, waltz_score(), 480, triplet=True, notes=bar_1)
    QTest.keyClick(editor.view, Qt.Key.Key_A, CTRL)
    QTest.keyClick(editor.view, Qt.Key.Key_D, CTRL)
    # the selection's span, 1440, rounded up on a grid counted from 0 was 1600
    assert [n.start_tick for n in editor.document.score.notes] == [0, 480, 960, 1440, 1920, 2400]
    # a phrase off the grid keeps its place against it: its line before -> the line after
    editor = make_editor(qtbot, pickup_score(), 960, notes=[Note(500, 60, 400)])
    QTest.keyClick(editor.view, Qt.Key.Key_A, CTRL)
    QTest.keyClick(editor.view, Qt.Key.Key_D, CTRL)
    assert [n.start_tick for n in editor.document.score.notes] == [500, 1460]


def test_grid_nudge_moves_from_line_to_line_of_each_bar(qtbot):
    a = Note(960, 60, 320)
    editor = make_editor(qtbot, waltz_score(), 480, triplet=True, notes=[a])
    QTest.keyClick(editor.view, Qt.Key.Key_A, CTRL)
    starts = []
    for _ in range(3):
        QTest.keyClick(editor.view, Qt.Key.Key_Right)
        starts.append(editor.document.score.notes[0].start_tick)
    # bar 1's lines 960 -> 1280, then its end (bar 2's downbeat) 1440, then 1440 + 320
    assert starts == [1280, 1440, 1760]
    for _ in range(3):
        QTest.keyClick(editor.view, Qt.Key.Key_Left)
    assert editor.document.score.notes[0].start_tick == 960
    assert editor.document.undo_stack.count() == 6


# ---- grid lines ------------------------------------------------------------------------------
def grid_column(image: QImage, editor: PianoRollEditor, tick: int) -> QColor:
    """The colour at ``tick`` in the middle of a white key's row (E4), where only vertical
    grid lines are drawn."""
    geo = editor.view.geometry
    return QColor(image.pixel(round(geo.tick_to_x(tick)), round(geo.pitch_to_y(64) + 5)))


def test_grid_lines_restart_at_every_bar(qtbot):
    editor = make_editor(qtbot, waltz_score(), 480, triplet=True)
    image = editor.view.grab().toImage()
    # bar 2 starts at 1440: triplet lines at 1760, 2080 and 2720 (1920 and 2400 are beats)
    for tick in (1760, 2080, 2720, 2880 + 320):
        assert grid_column(image, editor, tick) == STEP_LINE, tick
    # the multiples of 320 counted from tick 0 that are off bar 2's grid
    for tick in (1600, 2240, 2560):
        assert grid_column(image, editor, tick) == WHITE_ROW, tick


def test_grid_lines_in_four_four_fall_on_every_step(qtbot):
    editor = make_editor(qtbot, Score(), 120)  # 4/4 at 480 PPQ, the 1/16 grid
    image = editor.view.grab().toImage()
    end_tick = editor.view.geometry.visible_tick_range()[1]
    for tick in range(120, end_tick - 120, 120):
        if tick % 480:  # not a beat: a grid line of its own colour
            assert grid_column(image, editor, tick) == STEP_LINE, tick
        assert grid_column(image, editor, tick + 56) == WHITE_ROW, tick + 56  # between lines

"""The editing tools as Qt-free strategy objects, driven through a plain in-memory host.

The host applies pushed operations to a real Score and records them, so each test sees both
the resulting score and how many undo steps a gesture produced.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from composer_app.core.edits import EditOperation
from composer_app.core.note import Note
from composer_app.core.score import Score
from composer_app.gui.pianoroll.geometry import RollGeometry
from composer_app.gui.pianoroll.tools import (
    DrawTool,
    EraseTool,
    Modifiers,
    Overlay,
    SelectTool,
    duplicate_offset,
    make_clip,
    make_tool,
    placed,
    shift_delta,
    transpose_delta,
)

# 1 px = 8 ticks; rows 10 px; pitch 127 at y 0 (no scroll) -> pitch p row at (127 - p) * 10
GEO = RollGeometry(pixels_per_tick=0.125, row_height_px=10.0, width_px=1000, height_px=1280)
NONE = Modifiers()
ALT = Modifiers(alt=True)


class PlainHost:
    """A ToolHost over a real Score that records pushed operations."""

    def __init__(self, notes: Iterable[Note] = (), step_ticks: int = 120) -> None:
        self.geometry = GEO
        self.score = Score()
        self.score.add_many(notes)
        self.selection: frozenset[Note] = frozenset()
        self.snap_step_ticks = step_ticks
        self.pushed: list[EditOperation] = []
        self.previews: list[tuple[int, int]] = []
        self.preview_channels: list[int] = []
        self.preview_ticks: list[int] = []  # where each previewed note starts
        self.overlay: Overlay | None = None
        self.cursor = "arrow"

    def set_selection(self, notes: Iterable[Note]) -> None:
        self.selection = frozenset(notes)

    def push(self, op: EditOperation) -> None:
        op.apply(self.score)
        self.pushed.append(op)

    def preview_note(self, pitch: int, velocity: int, channel: int = 0, tick: int = -1) -> None:
        self.previews.append((pitch, velocity))
        self.preview_channels.append(channel)
        self.preview_ticks.append(tick)

    def set_overlay(self, overlay: Overlay | None) -> None:
        self.overlay = overlay

    def set_cursor(self, shape: str) -> None:
        self.cursor = shape


def xy(tick: float, pitch: int) -> tuple[float, float]:
    """Centre of the row of ``pitch`` at ``tick``."""
    return GEO.tick_to_x(tick), GEO.pitch_to_y(pitch) + 5


def test_draw_tool_click_adds_one_grid_step_at_the_snapped_start():
    host = PlainHost()
    tool = DrawTool()
    tool.press(host, *xy(1000, 64), NONE)
    tool.release(host, *xy(1000, 64), NONE)
    # 1000 snaps down to 960 on a 120-tick grid
    assert host.score.notes == (Note(960, 64, 120),)
    assert len(host.pushed) == 1
    assert host.previews == [(64, 100)]


def test_draw_tool_drag_sets_length_in_one_push():
    host = PlainHost()
    tool = DrawTool()
    tool.press(host, *xy(1000, 64), NONE)
    for tick in (1100, 1300, 1500):
        tool.move(host, *xy(tick, 64), NONE)
        assert host.score.notes == ()  # nothing changes until the gesture ends
    tool.release(host, *xy(1500, 64), NONE)
    # end 1500 rounds up to 1560: length 1560 - 960
    assert host.score.notes == (Note(960, 64, 600),)
    assert len(host.pushed) == 1


def test_draw_tool_alt_places_freely():
    host = PlainHost()
    tool = DrawTool()
    tool.press(host, *xy(1008, 64), ALT)
    tool.release(host, *xy(1008, 64), ALT)
    assert host.score.notes[0].start_tick == 1008


def test_select_tool_drag_moves_the_selection_once():
    a, b = Note(960, 60, 240), Note(1440, 64, 240)
    host = PlainHost([a, b])
    host.selection = frozenset({a, b})
    tool = SelectTool()
    tool.press(host, *xy(1000, 60), NONE)
    tool.move(host, *xy(1100, 61), NONE)
    tool.move(host, *xy(1250, 62), NONE)
    assert host.overlay is not None and set(host.overlay.hidden) == {a, b}
    tool.release(host, *xy(1250, 62), NONE)
    # raw +250 ticks: anchor start 960 + 250 = 1210 -> nearest grid line 1200: +240; +2 semitones
    assert host.score.notes == (Note(1200, 62, 240), Note(1680, 66, 240))
    assert len(host.pushed) == 1
    assert host.overlay is None
    # the grabbed note sounds, then each new pitch it is dragged to
    assert host.previews == [(60, 100), (61, 100), (62, 100)]
    assert host.preview_channels == [0, 0, 0]


def test_select_tool_drag_shows_ghosts_in_view_only_and_moves_every_note():
    # 8,000 ticks are in view (1,000 px at 1/8 px a tick). A 20k-note selection made 20k
    # ghost notes on every mouse move (177 ms a move), though a few hundred could be seen.
    near = [Note(i * 240, 60, 240) for i in range(20)]  # 0-4800
    far = [Note(100_000 + i * 240, 62, 240) for i in range(1000)]  # far out of view
    host = PlainHost([*near, *far])
    host.selection = frozenset(near + far)
    tool = SelectTool()
    tool.press(host, *xy(100, 60), NONE)
    tool.move(host, *xy(100 + 480, 61), NONE)
    assert host.overlay is not None
    assert set(host.overlay.ghosts) == {n.moved(480, 1) for n in near}  # in view only
    assert host.overlay.hidden == frozenset(near + far)
    tool.release(host, *xy(100 + 480, 61), NONE)
    assert set(host.score.notes) == {n.moved(480, 1) for n in near + far}  # all moved


def test_select_tool_drag_previews_in_the_grabbed_notes_channel():
    a = Note(960, 60, 240, channel=3)
    host = PlainHost([a])
    tool = SelectTool()
    tool.press(host, *xy(1000, 60), NONE)
    tool.move(host, *xy(1000, 61), NONE)
    tool.move(host, *xy(1000 + 480, 62), NONE)
    tool.release(host, *xy(1000 + 480, 62), NONE)
    assert host.previews == [(60, 100), (61, 100), (62, 100)]
    assert host.preview_channels == [3, 3, 3]
    # each with the instrument where the note is (the part's instrument may change there)
    assert host.preview_ticks == [960, 960, 1440]


def test_select_tool_move_stops_at_tick_zero_keeping_the_shape():
    a, b = Note(120, 60, 120), Note(480, 62, 120)
    host = PlainHost([a, b])
    tool = SelectTool()
    tool.press(host, *xy(480 + 10, 62), NONE)  # press b: selects b alone
    tool.release(host, *xy(480 + 10, 62), NONE)
    host.selection = frozenset({a, b})
    tool.press(host, *xy(490, 62), NONE)
    tool.release(host, *xy(0, 62), NONE)
    # a can only move back 120 ticks, so the group moves -120
    assert host.score.notes == (Note(0, 60, 120), Note(360, 62, 120))


def test_select_tool_click_without_drag_changes_nothing():
    a = Note(960, 60, 240)
    host = PlainHost([a])
    tool = SelectTool()
    tool.press(host, *xy(1000, 60), NONE)
    tool.release(host, *xy(1000, 60), NONE)
    assert host.selection == {a}
    assert host.pushed == []


def test_select_tool_click_in_a_selection_keeps_it_for_a_drag_but_not_a_click():
    a, b = Note(960, 60, 240), Note(1440, 64, 240)
    host = PlainHost([a, b])
    host.selection = frozenset({a, b})
    tool = SelectTool()
    tool.press(host, *xy(1000, 60), NONE)
    assert host.selection == {a, b}  # still both: the press may start a group drag
    tool.release(host, *xy(1000, 60), NONE)
    assert host.selection == {a}  # a plain click selects just the clicked note
    assert host.pushed == []


def test_select_tool_resize_from_right_edge():
    a = Note(960, 60, 240)  # ends at x (1200 / 8) = 150 px
    host = PlainHost([a])
    tool = SelectTool()
    tool.press(host, GEO.tick_to_x(1199), GEO.pitch_to_y(60) + 5, NONE)
    tool.release(host, *xy(1199 + 330, 60), NONE)
    # end 1200 + 330 = 1530 -> nearest grid line 1560
    assert host.score.notes == (Note(960, 60, 600),)
    assert len(host.pushed) == 1


def test_select_tool_resize_never_below_one_step():
    a = Note(960, 60, 240)
    host = PlainHost([a])
    tool = SelectTool()
    tool.press(host, GEO.tick_to_x(1199), GEO.pitch_to_y(60) + 5, NONE)
    tool.release(host, *xy(0, 60), NONE)
    assert host.score.notes == (Note(960, 60, 120),)


def test_select_tool_rubber_band_modes():
    a, b, c = Note(0, 60, 120), Note(480, 60, 120), Note(2400, 60, 120)
    host = PlainHost([a, b, c])
    tool = SelectTool()

    def band(t0: int, t1: int, mods: Modifiers) -> None:
        tool.press(host, *xy(t0, 61), mods)
        tool.move(host, *xy(t1, 59), mods)
        tool.release(host, *xy(t1, 59), mods)

    band(0, 700, NONE)
    assert host.selection == {a, b}
    band(2300, 2600, Modifiers(shift=True))
    assert host.selection == {a, b, c}
    band(400, 700, Modifiers(ctrl=True))
    assert host.selection == {a, c}
    band(1000, 1100, NONE)  # empty space: clears
    assert host.selection == frozenset()
    assert host.pushed == []


def test_erase_tool_stroke_is_one_push():
    notes = [Note(t, 60, 120) for t in (0, 240, 480, 960)]
    host = PlainHost(notes)
    tool = EraseTool()
    tool.press(host, *xy(10, 60), NONE)
    for tick in range(10, 600, 40):
        tool.move(host, *xy(tick, 60), NONE)
    tool.release(host, *xy(600, 60), NONE)
    assert host.score.notes == (Note(960, 60, 120),)
    assert len(host.pushed) == 1


def test_erase_tool_fast_stroke_erases_everything_it_crosses():
    # four short notes on a diagonal; the pointer jumps from the first to past the last
    notes = [Note(480 * i, 60 + i, 120) for i in range(4)]
    host = PlainHost(notes + [Note(0, 70, 120)])
    tool = EraseTool()
    tool.press(host, *xy(8, 60), NONE)
    tool.release(host, *xy(480 * 3 + 8, 63), NONE)
    assert host.score.notes == (Note(0, 70, 120),)
    assert len(host.pushed) == 1


def test_make_tool_rejects_unknown_names():
    assert make_tool("erase").name == "erase"
    with pytest.raises(ValueError, match="unknown tool 'lasso'"):
        make_tool("lasso")


def test_clip_round_trip_and_placement():
    notes = [Note(1000, 60, 100, generated=True), Note(1200, 64, 300)]
    clip = make_clip(notes)
    assert clip.span_ticks == 500  # 1000 .. 1500
    assert placed(clip, 4000) == (Note(4000, 60, 100), Note(4200, 64, 300))


def test_clip_placed_in_a_score_of_another_ppq_is_rescaled():
    clip = make_clip([Note(1000, 60, 480), Note(1002, 62, 3), Note(1003, 64, 1)], ppq=480)
    assert clip.ppq == 480
    # relative starts 0, 2, 3 and lengths 480, 3, 1, times 96 / 480 rounded half up:
    # starts 0, 0.4 -> 0, 0.6 -> 1; lengths 96, 0.6 -> 1, 0.2 -> 0 -> kept at 1 tick
    assert placed(clip, 100, ppq=96) == (Note(100, 60, 96), Note(100, 62, 1), Note(101, 64, 1))
    # the same resolution (or none given) places the ticks as they are
    assert placed(clip, 100, ppq=480) == placed(clip, 100) == (
        Note(100, 60, 480), Note(102, 62, 3), Note(103, 64, 1))
    # 96 -> 480: every time five times longer
    up = make_clip([Note(0, 60, 24), Note(12, 62, 1)], ppq=96)
    assert placed(up, 0, ppq=480) == (Note(0, 60, 120), Note(60, 62, 5))


def test_selection_deltas_are_clamped():
    notes = [Note(100, 120, 10), Note(300, 5, 10)]
    assert transpose_delta(notes, 12) == 7
    assert transpose_delta(notes, -12) == -5
    assert shift_delta(notes, -500) == -100
    # span 100..310 = 210 ticks -> rounded up to the 120 grid: 240
    assert duplicate_offset(notes, 120) == 240


CTRL = Modifiers(ctrl=True)


def test_ctrl_drag_copies_the_selection_and_ctrl_click_still_toggles():
    a, b = Note(960, 60, 480), Note(1440, 64, 480)
    host = PlainHost([a, b])
    host.selection = frozenset({a})
    tool = SelectTool()
    # Ctrl+drag b by two beats: a and b are copied, the originals stay where they were
    tool.press(host, *xy(1700, 64), CTRL)
    tool.move(host, *xy(2200, 64), CTRL)
    assert host.overlay is not None and host.overlay.hidden == frozenset()  # both still seen
    tool.release(host, *xy(2660, 64), CTRL)
    assert set(host.score.notes) == {a, b, a.moved(960, 0), b.moved(960, 0)}
    assert len(host.pushed) == 1 and host.pushed[0].label == "Copy notes"
    # a Ctrl+click without a drag takes a selected note out of the selection, copies nothing
    host.selection = frozenset({a, b})
    tool.press(host, *xy(1700, 64), CTRL)
    tool.release(host, *xy(1700, 64), CTRL)
    assert host.selection == {a} and len(host.pushed) == 1


def test_dragging_a_notes_left_edge_moves_its_start_and_keeps_its_end():
    a, b = Note(960, 60, 960), Note(1920, 64, 960)  # 120 px wide each
    host = PlainHost([a, b])
    host.selection = frozenset({a, b})
    tool = SelectTool()
    press_x, y = GEO.tick_to_x(960) + 1, xy(960, 60)[1]  # 1 px into a: its left edge
    assert GEO.hit_test([a], press_x, y).part.value == "left_edge"
    tool.hover(host, press_x, y, NONE)
    assert host.cursor == "resize"
    tool.press(host, press_x, y, NONE)
    tool.move(host, GEO.tick_to_x(960 - 250), y, NONE)
    tool.release(host, GEO.tick_to_x(960 - 250), y, NONE)
    # -250 ticks snaps to -240: both starts move back, their ends stay
    assert host.score.notes == (Note(720, 60, 1200), Note(1680, 64, 1200))
    assert len(host.pushed) == 1
    # dragging past the end stops a grid step short of it (as the right edge stops a step
    # after the start), on the grid
    host.selection = frozenset(host.score.notes)
    tool.press(host, GEO.tick_to_x(720) + 1, y, NONE)
    tool.release(host, GEO.tick_to_x(4000), y, NONE)
    assert [n.duration_ticks for n in host.score.notes] == [120, 120]
    assert [n.end_tick for n in host.score.notes] == [1920, 2880]
    # Ctrl+click on a selected note's edge takes it out of the selection, as on its body
    host.selection = frozenset(host.score.notes)
    first = host.score.notes[0]
    tool.press(host, GEO.tick_to_x(first.start_tick) + 1, y, CTRL)
    tool.release(host, GEO.tick_to_x(first.start_tick) + 1, y, CTRL)
    assert first not in host.selection and len(host.pushed) == 2


def test_draw_tool_click_draws_the_length_last_drawn_or_resized():
    host = PlainHost()
    tool = DrawTool()
    tool.press(host, *xy(0, 64), NONE)
    tool.release(host, *xy(450, 64), NONE)  # dragged to a dotted quarter: 480
    tool.press(host, *xy(1000, 66), NONE)
    tool.release(host, *xy(1000, 66), NONE)  # a click: as long as the last one
    assert host.score.notes[-1] == Note(960, 66, 480)
    # resizing a note with the Draw tool sets the length too
    tool.press(host, GEO.tick_to_x(960 + 480) - 1, xy(0, 66)[1], NONE)  # its right edge
    tool.release(host, GEO.tick_to_x(960 + 240), xy(0, 66)[1], NONE)
    tool.press(host, *xy(2000, 67), NONE)
    tool.release(host, *xy(2000, 67), NONE)
    assert host.score.notes[-1] == Note(1920, 67, 240)
    # so does a note's left edge
    tool.press(host, GEO.tick_to_x(1920) + 1, xy(0, 67)[1], NONE)
    tool.release(host, GEO.tick_to_x(1920 - 360), xy(0, 67)[1], NONE)
    assert host.score.notes[-1] == Note(1560, 67, 600)
    tool.press(host, *xy(2640, 69), NONE)
    tool.release(host, *xy(2640, 69), NONE)
    assert Note(2640, 69, 600) in host.score.notes
    # Alt only frees the start from the grid: the length is still the last one
    tool.press(host, *xy(2701, 70), ALT)
    tool.release(host, *xy(2701, 70), ALT)
    assert Note(2701, 70, 600) in host.score.notes
    # after a change of grid (even one changed back), a click draws one cell again
    tool.grid_changed()
    tool.press(host, *xy(3000, 68), NONE)
    tool.release(host, *xy(3000, 68), NONE)
    assert host.score.notes[-1] == Note(3000, 68, 120)


def test_draw_tool_a_slip_zoomed_far_out_is_a_click():
    # Zoomed out to an hour on screen, 4 px are 7.5 bars: a click whose pointer slipped drew
    # a note bars long, and every later click drew that length, at any zoom.
    from dataclasses import replace

    host = PlainHost()
    host.geometry = replace(GEO, pixels_per_tick=0.0003)  # a 16th (120 ticks) is 0.04 px
    tool = DrawTool()
    geo = host.geometry
    x, y = geo.tick_to_x(96_000), geo.pitch_to_y(60) + 5
    tool.press(host, x, y, NONE)
    tool.move(host, x + 5, y, NONE)
    tool.release(host, x + 5, y, NONE)
    assert [n.duration_ticks for n in host.score.notes] == [120]  # one cell, as a click
    tool.press(host, x + 200, y, NONE)
    tool.release(host, x + 200, y, NONE)
    assert [n.duration_ticks for n in host.score.notes] == [120, 120]  # nothing remembered
    tool.press(host, x + 400, y, NONE)
    tool.move(host, x + 420, y, NONE)  # a real drag: 20 px
    tool.release(host, x + 420, y, NONE)
    assert host.score.notes[-1].duration_ticks > 60_000

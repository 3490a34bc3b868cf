"""Qt-free geometry of the piano roll: transforms, zoom, snapping, hit tests."""

from __future__ import annotations

import pytest

from composer_app.core.note import Note, pitch_name
from composer_app.core.score import Score, TimeSignature
from composer_app.gui.pianoroll.geometry import (
    Grid,
    HitPart,
    RollGeometry,
    bar_at,
    follow_scroll_x,
    grid_lines_in_bar,
    height_to_velocity,
    is_black_key,
    quantized,
    snap_ceil,
    snap_floor,
    snap_nearest,
    velocity_to_height,
)

GEO = RollGeometry(pixels_per_tick=0.125, row_height_px=10.0, scroll_x_px=100.0,
                   scroll_y_px=500.0, width_px=800, height_px=400)


def test_geometry_tick_and_x_are_inverse():
    # x = tick * 0.125 - 100: tick 1600 -> 100 px
    assert GEO.tick_to_x(1600) == 100.0
    assert GEO.x_to_tick(100.0) == 1600.0
    assert GEO.x_to_tick(GEO.tick_to_x(1234)) == pytest.approx(1234)


def test_geometry_pitch_rows_run_top_down():
    # row of pitch p starts at (127 - p) * 10 - 500: pitch 77 -> 0 px, pitch 76 -> 10 px
    assert GEO.pitch_to_y(77) == 0.0
    assert GEO.pitch_to_y(76) == 10.0
    assert GEO.y_to_pitch(0.0) == 77
    assert GEO.y_to_pitch(9.9) == 77
    assert GEO.y_to_pitch(10.0) == 76
    # far outside the content the pitch clamps to the MIDI range
    assert GEO.y_to_pitch(-10_000) == 127
    assert GEO.y_to_pitch(10_000) == 0


def test_geometry_visible_ranges_cover_the_widget():
    start, end = GEO.visible_tick_range()
    # x 0..800 -> ticks 800..7200
    assert start == 800 and end >= 7200
    low, high = GEO.visible_pitch_range()
    # y 0..399 -> rows 50..89 -> pitches 77 down to 38
    assert (low, high) == (38, 78)


def test_geometry_note_rect():
    x, y, w, h = GEO.note_rect(Note(1600, 76, 480))
    assert (x, y, w, h) == (100.0, 10.0, 60.0, 10.0)


def test_geometry_zoom_x_keeps_tick_under_anchor():
    anchor_x = 333.0
    tick_before = GEO.x_to_tick(anchor_x)
    zoomed = GEO.zoomed_x(2.0, anchor_x)
    assert zoomed.pixels_per_tick == 0.25
    assert zoomed.x_to_tick(anchor_x) == pytest.approx(tick_before)


def test_geometry_zoom_y_keeps_pitch_position_under_anchor():
    anchor_y = 123.0
    content_y_rows = (anchor_y + GEO.scroll_y_px) / GEO.row_height_px
    zoomed = GEO.zoomed_y(1.5, anchor_y)
    assert zoomed.row_height_px == 15.0
    assert (anchor_y + zoomed.scroll_y_px) / zoomed.row_height_px == pytest.approx(content_y_rows)


def test_geometry_zoom_is_clamped():
    assert GEO.zoomed_x(1e9, 0).pixels_per_tick == 2.0
    assert GEO.zoomed_y(1e-9, 0).row_height_px == 3.0


def test_geometry_fitted_shows_the_requested_span():
    fitted = GEO.fitted(960, 960 + 8000, 60, 72)
    start, end = fitted.visible_tick_range()
    low, high = fitted.visible_pitch_range()
    assert start <= 960 and end >= 8960
    assert low <= 60 and high > 72
    # 8000 ticks fill 800 px
    assert fitted.pixels_per_tick == pytest.approx(0.1)


def test_geometry_scroll_is_clamped_to_content():
    geo = GEO.scrolled_to(-50, 1e9, content_width_px=1000)
    assert geo.scroll_x_px == 0
    assert geo.scroll_y_px == 128 * 10 - 400
    assert GEO.scrolled_to(5000, 0, content_width_px=1000).scroll_x_px == 200


def test_geometry_hit_test_body_and_right_edge():
    note = Note(1600, 76, 480)  # x 100..160, y 10..20
    assert GEO.hit_test([note], 120, 15).part is HitPart.BODY
    assert GEO.hit_test([note], 158, 15).part is HitPart.RIGHT_EDGE
    assert GEO.hit_test([note], 170, 15) is None
    assert GEO.hit_test([note], 120, 25) is None  # the row below


def test_geometry_hit_test_short_note_keeps_a_body():
    short = Note(1600, 76, 48)  # 6 px wide: the edge zone shrinks to 2 px
    assert GEO.hit_test([short], 101, 15).part is HitPart.BODY
    assert GEO.hit_test([short], 105.5, 15).part is HitPart.RIGHT_EDGE


def test_geometry_hit_test_prefers_the_last_note():
    under = Note(1600, 76, 480)
    over = Note(1700, 76, 480)
    assert GEO.hit_test([under, over], 140, 15).note == over


def test_geometry_nothing_is_hit_below_the_lowest_row():
    # 128 rows of 3 px = 384 px in a 600 px view: pitch 0's row is y 381..384
    geo = RollGeometry(pixels_per_tick=0.125, row_height_px=3.0, width_px=800, height_px=600)
    low = Note(0, 0, 1920)
    assert not geo.is_below_rows(383.9)
    assert geo.hit_test([low], 100, 382).note == low
    assert geo.is_below_rows(384)
    assert geo.hit_test([low], 100, 450) is None  # y_to_pitch would clamp this to pitch 0


def test_geometry_notes_in_rect():
    a = Note(1600, 76, 480)  # x 100..160, y 10..20
    b = Note(3200, 70, 480)  # x 300..360, y 70..80
    assert GEO.notes_in_rect([a, b], 90, 5, 200, 30) == [a]
    assert GEO.notes_in_rect([a, b], 350, 75, 90, 5) == [a, b]  # corners in any order
    assert GEO.notes_in_rect([a, b], 170, 30, 290, 60) == []


def test_grid_straight_and_triplet_steps():
    assert Grid.from_fraction(16, 480).step_ticks == 120
    assert Grid.from_fraction(1, 480).step_ticks == 1920
    assert Grid.from_fraction(32, 480).step_ticks == 60
    # triplet eighths: three in the space of two eighths, 480 / 3 = 160
    assert Grid.from_fraction(8, 480, triplet=True).step_ticks == 160
    assert Grid.from_fraction(32, 480, triplet=True).step_ticks == 40
    with pytest.raises(ValueError, match="at least one tick"):
        Grid(0)


def test_snap_functions():
    assert snap_floor(239.9, 120) == 120
    assert snap_nearest(179, 120) == 120
    assert snap_nearest(180, 120) == 240
    assert snap_ceil(121, 120) == 240
    assert snap_ceil(240, 120) == 240
    assert snap_floor(170, 160) == 160  # triplet grid


def test_bar_at_follows_the_meter_map():
    # a one-beat pickup, 4/4 from 480, and 3/4 from 2880 (cutting the 4/4 bar at 2400 short)
    score = Score(time_signatures=[TimeSignature(0, 1, 4), TimeSignature(480, 4, 4),
                                   TimeSignature(2880, 3, 4)])
    assert score.bar_starts(5000) == [0, 480, 2400, 2880, 4320]
    assert bar_at(score, 0) == (0, 480)
    assert bar_at(score, 479.9) == (0, 480)
    assert bar_at(score, 480) == (480, 2400)
    assert bar_at(score, 2500) == (2400, 2880)  # ends at the meter change
    assert bar_at(score, 4400) == (4320, 5760)
    assert bar_at(score, -10) == (-480, 0)  # before the start: the first meter continued


def test_snap_functions_count_from_the_bar_start():
    bar = (1440, 2880)  # a 3/4 bar, 4.5 quarter triplets (320 ticks) long
    assert snap_floor(1500, 320, bar) == 1440
    assert snap_floor(2870, 320, bar) == 2720  # 1440 + 4 * 320, the last line in the bar
    assert snap_nearest(1590, 320, bar) == 1440
    assert snap_nearest(1600, 320, bar) == 1760  # half way rounds up
    # the next downbeat is a line: 2870 is 150 after 2720 and 10 before 2880
    assert snap_nearest(2870, 320, bar) == 2880
    assert snap_nearest(2790, 320, bar) == 2720
    assert snap_ceil(2730, 320, bar) == 2880  # not 3040
    assert snap_ceil(1760, 320, bar) == 1760
    assert list(grid_lines_in_bar(bar, 320, 1500, 10_000)) == [1440, 1760, 2080, 2400, 2720]
    assert list(grid_lines_in_bar(bar, 320, 2100, 2500)) == [2080, 2400]


def test_snap_in_whole_bars_is_the_same_as_from_tick_zero():
    # 4/4 at 480 PPQ: every grid that divides the bar gives the lines it gave from tick 0
    score = Score()
    for step in (60, 120, 160, 240, 320, 480, 960, 1920):
        for tick in [t / 4 for t in range(0, 4 * 8000, 29)]:
            bar = bar_at(score, tick)
            assert snap_floor(tick, step, bar) == snap_floor(tick, step)
            assert snap_nearest(tick, step, bar) == snap_nearest(tick, step)
            assert snap_ceil(tick, step, bar) == snap_ceil(tick, step)


def test_quantized_snaps_the_start_to_the_grid_of_its_bar():
    bar = (480, 2400)  # a 4/4 bar after a one-beat pickup
    # on the 1/2 grid (960) the lines are 480 and 1440, not 0 and 960
    assert quantized(Note(480, 60, 960), 960, bar).start_tick == 480
    assert quantized(Note(2300, 60, 900), 960, bar) == Note(2400, 60, 960)


def test_triplet_lines_fall_on_the_beats_where_3_does_not_divide_the_division():
    # 1024 PPQ (every Nottingham file): an 1/8 triplet is 1024/3 ticks. Rounded to 341 and
    # multiplied, the 6th line of a bar fell at 2046, two ticks before the third beat.
    step = Grid.from_fraction(8, 1024, triplet=True).step_ticks
    bar = (4096, 8192)  # the second 4/4 bar
    lines = list(grid_lines_in_bar(bar, step, 0, 10_000))
    assert len(lines) == 12 and lines[::3] == [4096, 5120, 6144, 7168]
    assert lines[:4] == [4096, 4437, 4779, 5120]  # a third of a beat each, to the tick
    assert all(snap_floor(t, step, bar) == t and snap_ceil(t, step, bar) == t for t in lines)
    assert snap_nearest(6143.6, step, bar) == 6144 and snap_floor(6143, step, bar) == 5803
    assert snap_ceil(8000, step, bar) == 8192  # the next downbeat
    # on-beat notes stay on the beat; one 2 ticks early goes to it; a note a triplet eighth
    # long ends on the next line
    assert quantized(Note(6144, 60, 1024), step, bar) == Note(6144, 60, 1024)
    assert quantized(Note(6142, 60, 340), step, bar) == Note(6142 + 2, 60, 341)
    assert quantized(Note(4437, 60, 350), step, bar) == Note(4437, 60, 4779 - 4437)
    # a 1/16 triplet at 1024 PPQ too, and straight grids as before
    sixteenth = Grid.from_fraction(16, 1024, triplet=True).step_ticks
    assert list(grid_lines_in_bar((0, 4096), sixteenth, 0, 4096))[::6] == [0, 1024, 2048, 3072]
    assert Grid.from_fraction(8, 480, triplet=True).step_ticks == 160  # whole: an int


def test_quantized_moves_start_and_length_to_grid():
    note = Note(130, 60, 100, 90, generated=True)
    q = quantized(note, 120)
    assert (q.start_tick, q.duration_ticks) == (120, 120)
    assert (q.pitch, q.velocity, q.generated) == (60, 90, True)
    # a tiny note becomes one grid step long rather than vanishing
    assert quantized(Note(0, 60, 10), 120).duration_ticks == 120


def test_follow_scroll_pages_when_playhead_leaves_view():
    geo = RollGeometry(pixels_per_tick=0.1, width_px=1000)
    assert follow_scroll_x(geo, 5000) is None  # x 500, inside
    # tick 20000 -> x 2000, outside: scroll so it sits 10 % in = 2000 - 100
    assert follow_scroll_x(geo, 20000) == 1900
    scrolled = RollGeometry(pixels_per_tick=0.1, width_px=1000, scroll_x_px=3000)
    assert follow_scroll_x(scrolled, 0) == 0.0


def test_velocity_lane_mapping_round_trips():
    assert velocity_to_height(127, 100) == 100
    assert height_to_velocity(0, 100) == 127
    assert height_to_velocity(100, 100) == 1
    assert height_to_velocity(50, 100) == 64  # 127 * 0.5 = 63.5 -> 64
    for velocity in (1, 40, 100, 127):
        assert height_to_velocity(100 - velocity_to_height(velocity, 100), 100) == velocity


def test_pitch_names_and_black_keys():
    assert pitch_name(60) == "C4"
    assert pitch_name(21) == "A0"
    assert pitch_name(61) == "C#4"
    assert [p for p in range(60, 72) if is_black_key(p)] == [61, 63, 66, 68, 70]


def test_bar_stride_thins_bars_to_the_spacing_asked():
    from composer_app.gui.pianoroll.geometry import bar_stride

    bars = [0, 1920, 3840, 4800, 6720]  # 4/4 bars and one 2/4 bar (the shortest: 960)
    assert bar_stride(bars, 0.01, 4) == 1  # 9.6 px
    assert bar_stride(bars, 0.001, 4) == 8  # 0.96 px: every 8th bar, 7.7 px apart
    assert bar_stride(bars[:1], 0.001, 4) == 1  # one bar: nothing to thin

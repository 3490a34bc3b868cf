"""The roll paints both kinds of notes, selection, velocity shade, heat map and playhead."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
from PySide6.QtGui import QColor, QImage  # noqa: E402

from composer_app.core.note import Note  # noqa: E402
from composer_app.core.score import Score  # noqa: E402
from composer_app.gui.document import ScoreDocument  # noqa: E402
from composer_app.gui.pianoroll.editor import PianoRollEditor  # noqa: E402

USER = Note(480, 72, 960, 120)
GENERATED = Note(1920, 72, 960, 120, generated=True)
QUIET = Note(480, 68, 960, 10)
SELECTED = Note(1920, 68, 960, 120)


def shown_editor(qtbot, score: Score) -> PianoRollEditor:
    """An editor on ``score``, 900x600 and shown."""
    editor = PianoRollEditor(ScoreDocument(score))
    qtbot.addWidget(editor)
    editor.resize(900, 600)
    editor.show()
    qtbot.waitExposed(editor)
    return editor


def make_editor(qtbot) -> PianoRollEditor:
    score = Score()
    score.add_many([USER, GENERATED, QUIET, SELECTED])
    editor = shown_editor(qtbot, score)
    geo = editor.view.geometry
    editor.view.set_geometry(replace(geo, pixels_per_tick=0.125, row_height_px=12.0,
                                     scroll_x_px=0.0, scroll_y_px=(127 - 80) * 12.0))
    return editor


def pixel(image: QImage, editor: PianoRollEditor, tick: int, pitch: int,
          dy: float = 6) -> QColor:
    geo = editor.view.geometry
    return QColor(image.pixel(round(geo.tick_to_x(tick)), round(geo.pitch_to_y(pitch) + dy)))


def test_view_paints_user_and_generated_notes_in_their_colours(qtbot):
    editor = make_editor(qtbot)
    image = editor.view.grab().toImage()
    user = pixel(image, editor, USER.start_tick + 480, USER.pitch)
    generated = pixel(image, editor, GENERATED.start_tick + 480, GENERATED.pitch)
    background = pixel(image, editor, 5000, 72)
    assert user.blue() > user.red() + 60  # blue
    assert generated.red() > generated.blue() + 60  # amber
    assert background.saturation() < 30
    # quiet notes are paler (less saturated) than loud ones
    quiet = pixel(image, editor, QUIET.start_tick + 480, QUIET.pitch)
    assert quiet.saturation() < user.saturation() - 50


def test_view_outlines_selected_notes(qtbot):
    editor = make_editor(qtbot)
    before = pixel(editor.view.grab().toImage(), editor, SELECTED.start_tick + 480,
                   SELECTED.pitch, dy=0.5)
    editor.document.set_selection([SELECTED])
    after = pixel(editor.view.grab().toImage(), editor, SELECTED.start_tick + 480,
                  SELECTED.pitch, dy=0.5)
    assert before.red() < 150
    assert after.red() > 200 and after.green() < 120  # the red selection border


def test_view_paints_heat_map_cells(qtbot):
    editor = make_editor(qtbot)
    probabilities = np.zeros((8, 88), dtype=np.float32)
    probabilities[3, 76 - 21] = 1.0  # step 3 (ticks 4000 + 360..480), pitch 76
    editor.set_probabilities(4000, 120, probabilities)
    image = editor.view.grab().toImage()
    hot = pixel(image, editor, 4000 + 3 * 120 + 60, 76)
    cold = pixel(image, editor, 4000 + 5 * 120 + 60, 76)
    assert hot.red() > hot.blue() + 60  # orange tint
    assert cold.saturation() < 30
    editor.set_probabilities(0, 120, None)
    cleared = pixel(editor.view.grab().toImage(), editor, 4000 + 3 * 120 + 60, 76)
    assert cleared.saturation() < 30


def test_view_paints_the_playhead_and_region(qtbot):
    editor = make_editor(qtbot)
    editor.set_playhead_tick(4800)  # x 600
    editor.set_region(3200, 4000)  # x 400..500
    image = editor.view.grab().toImage()
    line = QColor(image.pixel(600, 50))
    assert line.red() > 180 and line.green() < 80
    region = pixel(image, editor, 3600, 79)
    outside = pixel(image, editor, 4400, 79)
    assert region.blue() > region.red() + 20  # blue tint
    assert outside.saturation() < 30
    ruler = editor.ruler.grab().toImage()
    assert QColor(ruler.pixel(600, 20)).red() > 180


def test_view_grid_cache_matches_uncached_paint(qtbot):
    editor = make_editor(qtbot)
    cached = editor.view.grab().toImage()
    editor.view.use_caches = False
    editor.view.cull_notes = False
    uncached = editor.view.grab().toImage()
    assert cached == uncached


def test_view_paints_thousands_of_visible_notes_as_one_image(qtbot):
    from composer_app.gui.pianoroll.view import DENSE_NOTE_COUNT, note_fill

    # 1000 user notes on pitch 60 and 1000 generated on pitch 70, 100 ticks apart
    user = [Note(100 * i, 60, 60, 120) for i in range(1000)]
    generated = [Note(100 * i, 70, 60, 120, generated=True) for i in range(1000)]
    score = Score()
    score.add_many(user + generated)
    editor = shown_editor(qtbot, score)
    editor.zoom_to_fit()
    view = editor.view
    assert len(view._visible_indices()) > DENSE_NOTE_COUNT
    image = view.grab().toImage()
    geo = view.geometry
    # note 500 of each kind: x from 50000 * ppt; sample its middle column (inside 60 ticks)
    x = int(geo.tick_to_x(50_000 + 30))
    user_px = QColor(image.pixel(x, round(geo.pitch_to_y(60) + geo.row_height_px / 2)))
    generated_px = QColor(image.pixel(x, round(geo.pitch_to_y(70) + geo.row_height_px / 2)))
    gap_px = QColor(image.pixel(x, round(geo.pitch_to_y(65) + geo.row_height_px / 2)))
    assert user_px.rgb() in (note_fill(120, False).rgb(), note_fill(120, False).darker(170).rgb())
    assert generated_px.red() > generated_px.blue() + 60
    assert gap_px.saturation() < 30


def test_view_dense_paint_shows_the_selection_and_thins_bar_lines(qtbot):
    # Zoomed far out: the selected notes were drawn one by one over the raster (0.2 s a frame
    # with 20k selected), and a line at every bar, 0.5 px apart, greyed the whole roll.
    from composer_app.gui.pianoroll.view import BAR_LINE, DENSE_NOTE_COUNT, note_fill

    notes = [Note(960 * i, 60 + i % 2, 480, 120) for i in range(2 * DENSE_NOTE_COUNT)]
    score = Score()
    score.add_many(notes)
    editor = shown_editor(qtbot, score)
    editor.document.set_selection(n for n in notes if n.pitch == 61)
    editor.zoom_to_fit()
    view = editor.view
    geo = view.geometry
    assert len(view._visible_indices()) > DENSE_NOTE_COUNT
    assert 1920 * geo.pixels_per_tick < 1  # bars less than a pixel apart
    image = view.grab().toImage()
    x = int(geo.tick_to_x(960 * 1001 + 240))  # inside note 1001 (pitch 61, selected)
    selected_px = QColor(image.pixel(x, round(geo.pitch_to_y(61) + geo.row_height_px / 2)))
    plain_px = QColor(image.pixel(x, round(geo.pitch_to_y(60) + geo.row_height_px / 2)))
    assert selected_px.rgb() in (note_fill(120, False, True).rgb(),
                                 note_fill(120, False, True).darker(170).rgb())
    assert plain_px.rgb() in (note_fill(120, False).rgb(), note_fill(120, False).darker(170).rgb())
    low, high = geo.visible_pitch_range()
    empty = next(p for p in range(low, high) if p not in (60, 61))
    row_y = round(geo.pitch_to_y(empty) + geo.row_height_px / 2)  # an empty key row
    grey = sum(QColor(image.pixel(x, row_y)).rgb() == BAR_LINE.rgb() for x in range(view.width()))
    assert 0 < grey < view.width() // 4


def test_velocity_lane_bars_are_as_tall_as_the_velocity(qtbot):
    editor = make_editor(qtbot)
    lane = editor.velocity_lane
    image = lane.grab().toImage()
    x = round(editor.view.geometry.tick_to_x(GENERATED.start_tick)) + 2
    # velocity 120: the bar reaches bar_top_y(120); just above it is background
    inside = QColor(image.pixel(x, round(lane.bar_top_y(120)) + 2))
    above = QColor(image.pixel(x, round(lane.bar_top_y(120)) - 3))
    assert inside.red() > inside.blue() + 60  # a generated (amber) bar
    assert above.saturation() < 30
    # QUIET (velocity 10) and USER (120) share a start: the lane shows the taller bar's top
    x_user = round(editor.view.geometry.tick_to_x(USER.start_tick)) + 2
    assert QColor(image.pixel(x_user, round(lane.bar_top_y(120)) + 2)).saturation() > 60


def test_velocity_lane_repaints_for_the_time_axis_only(qtbot):
    # Its bars follow the time axis: a vertical scroll repainted every bar (22 ms a frame at
    # 100,000 notes zoomed out), for nothing.
    from dataclasses import replace

    editor = make_editor(qtbot)
    lane = editor.velocity_lane
    updates: list[int] = []
    lane.update = lambda *args: updates.append(1)  # type: ignore[method-assign]
    view = editor.view
    geo = view.geometry
    view.set_geometry(replace(geo, scroll_y_px=geo.scroll_y_px + 3 * geo.row_height_px))
    assert updates == []
    geo = view.geometry
    view.set_geometry(replace(geo, scroll_x_px=geo.scroll_x_px + 40))
    assert updates == [1]
    geo = view.geometry
    view.set_geometry(replace(geo, pixels_per_tick=geo.pixels_per_tick * 2))
    assert updates == [1, 1]


def test_velocity_lane_zoomed_far_out_draws_the_loudest_bar_of_each_column(qtbot):
    # More notes on screen than DENSE_BAR_COUNT: one bar per pixel column, the loudest note
    # starting under it (drawn note by note, 100,000 of them took 0.4 s a frame)
    from composer_app.gui.pianoroll.velocity_lane import DENSE_BAR_COUNT

    score = Score()
    quiet = [Note(i * 120, 60, 120, 20) for i in range(DENSE_BAR_COUNT + 500)]
    loud = Note(1000 * 120, 64, 120, 127)  # under the same column as quiet note 1000
    score.add_many([*quiet, loud])
    editor = shown_editor(qtbot, score)
    editor.zoom_to_fit()
    lane = editor.velocity_lane
    image = lane.grab().toImage()
    geo = editor.view.geometry
    x_loud = int(geo.tick_to_x(loud.start_tick))
    x_quiet = int(geo.tick_to_x(500 * 120))
    just_under = lambda velocity: round(lane.bar_top_y(velocity)) + 2  # noqa: E731
    # the loud note's column reaches velocity 127; a quiet column only 20
    assert QColor(image.pixel(x_loud, just_under(127))).saturation() > 60
    assert QColor(image.pixel(x_quiet, just_under(127))).saturation() < 30
    assert QColor(image.pixel(x_quiet, just_under(20))).saturation() > 60
    start, end = geo.visible_tick_range()
    assert lane._dense_batches(start, end) is not None  # drawn a column at a time
    # a selected quiet note shows over the loud unselected one of its column (it was hidden)
    editor.document.set_selection([quiet[1000]])
    image = lane.grab().toImage()
    from composer_app.gui.pianoroll.view import SELECTED_BORDER, note_fill

    selected = (note_fill(20, False, True).rgb(), SELECTED_BORDER.rgb())  # (1 px: its outline)
    assert QColor(image.pixel(x_loud, just_under(20))).rgb() in selected
    # a click on a column sets the notes of that column only, not 11 columns of them
    editor.document.set_selection(())
    hit = lane.notes_at_x(x_loud + 0.5)
    assert loud in hit and all(int(geo.tick_to_x(n.start_tick)) == x_loud for n in hit)


def test_ruler_writes_the_key_signature_where_it_changes(qtbot):
    from composer_app.core.score import KeySignature, TempoChange, TimeSignature
    from composer_app.gui.pianoroll.ruler import change_labels

    score = Score(
        tempo_map=[TempoChange(0, 500_000), TempoChange(3840, 400_000)],
        time_signatures=[TimeSignature(0, 3, 4)],
        # a key restated at bar 3 (one per track in many files) changes nothing
        key_signatures=[KeySignature(0, 1), KeySignature(2880, 1), KeySignature(5760, -3, True)],
    )
    assert change_labels(score) == {
        0: ["3/4", "G major"],
        3840: ["\u2669=150"],
        5760: ["C minor"],
    }
    # painted: the ruler over bar 5 (tick 5760, x 720) differs with and without the change
    score.add(Note(0, 60, 480))
    editor = shown_editor(qtbot, score)
    geo = editor.view.geometry
    editor.view.set_geometry(replace(geo, pixels_per_tick=0.125, scroll_x_px=0.0))
    x = round(editor.view.geometry.tick_to_x(5760))
    band = (x + 12, 0, 70, 26)  # right of the bar number "5"
    with_key = editor.ruler.grab().toImage().copy(*band)
    score.key_signatures = score.key_signatures[:2]
    editor.ruler.update()
    without_key = editor.ruler.grab().toImage().copy(*band)
    assert with_key != without_key
    inks = [QColor(with_key.pixel(i, j)) for i in range(70) for j in range(26)]
    assert any(c.blue() > c.red() + 60 for c in inks)  # written in the change colour


def test_ruler_writes_the_files_markers_at_their_ticks(qtbot):
    # a file's markers ("Verse", "Chorus") were read and dropped: nothing showed where the
    # song's sections begin
    from composer_app.core.score import TextEvent, TimeSignature
    from composer_app.gui.pianoroll.ruler import marker_labels

    utf8 = "Refr\u00e3o".encode().decode("latin-1")  # as read from a UTF-8 file
    score = Score(
        time_signatures=[TimeSignature(0, 4, 4)],
        texts=[TextEvent(0, 6, "Intro"), TextEvent(3840, 6, utf8), TextEvent(4080, 7, "cue"),
               TextEvent(4080, 5, "la", (0, 0)),  # a lyric is no marker
               TextEvent(4320, 6, "  ")],  # nor is an empty one
    )
    assert marker_labels(score) == {0: ["Intro"], 3840: ["Refr\u00e3o"], 4080: ["cue"]}
    score.add(Note(0, 60, 480))
    editor = shown_editor(qtbot, score)
    geo = editor.view.geometry
    editor.view.set_geometry(replace(geo, pixels_per_tick=0.125, scroll_x_px=0.0))
    x = round(editor.view.geometry.tick_to_x(3840))
    band = (x + 12, 0, 40, 26)  # right of the bar number "3"
    with_marker = editor.ruler.grab().toImage().copy(*band)
    inks = [QColor(with_marker.pixel(i, j)) for i in range(40) for j in range(26)]
    assert any(c.red() > c.blue() + 80 for c in inks)  # written in the marker colour
    score.texts = []
    editor.ruler.update()
    assert editor.ruler.grab().toImage().copy(*band) != with_marker


def test_ruler_writes_every_marker_and_cuts_a_long_one_short(qtbot, monkeypatch):
    # The ruler left out whichever label came later where two met: a marker one tick before
    # a bar line (behind the bar's number) or on a bar zoomed out, never showed; a long one
    # hid the next five bar numbers; a line break reached the painter.
    from PySide6.QtGui import QPainter

    from composer_app.core.score import TextEvent, TimeSignature
    from composer_app.gui.pianoroll import ruler

    drawn: list[tuple[int, str]] = []

    class RecordingPainter(QPainter):
        def drawText(self, *args):  # noqa: N802 (Qt's name)
            if len(args) == 2:
                drawn.append((round(args[0].x()), args[1]))
            return super().drawText(*args)

    monkeypatch.setattr(ruler, "QPainter", RecordingPainter)

    def written(texts: list, pixels_per_bar: float) -> list[tuple[int, str]]:
        score = Score(time_signatures=[TimeSignature(0, 4, 4)], texts=texts)
        score.add(Note(0, 60, 1920 * 16))
        editor = shown_editor(qtbot, score)
        geo = editor.view.geometry
        editor.view.set_geometry(replace(geo, pixels_per_tick=pixels_per_bar / 1920,
                                         scroll_x_px=0.0))
        drawn.clear()
        editor.ruler.grab()
        return sorted(drawn)

    labels = written([TextEvent(2 * 1920 - 1, 6, "Pickup")], 30)
    assert "Pickup" in [text for _x, text in labels]
    labels = written([TextEvent(1920, 6, "B")], 4)  # bar 2 has no line nor number
    assert {"1", "4/4", "B"} <= {text for _x, text in labels}  # (it hid bar 1's)
    for pixels_per_bar in (8, 14):  # zoomed to fit a song: the meter's label reaches bar 2
        labels = written([TextEvent(1920, 6, "Verse")], pixels_per_bar)
        assert {"1", "4/4", "Verse"} <= {text for _x, text in labels}  # moved right of it
    long = "Chorus - full band enters, modulate to D major"
    labels = written([TextEvent(0, 6, long), TextEvent(1920 * 4, 6, "Verse\nsecond line")], 60)
    texts = [text for _x, text in labels]
    [cut] = [text for text in texts if text.startswith("Chorus")]
    assert cut.endswith("\u2026") and len(cut) < len(long)
    assert "Verse second line" in texts
    # bar 1's number and meter, the marker cut short (at MAX_LABEL_PX); bar 5's number and its
    # marker; then the numbers of the bars after it (the cut marker hid bars 2 to 6, the
    # marker at bar 5 hides 6 and 7)
    assert texts == ["1", "4/4", cut, "5", "Verse second line",
                     *(str(bar) for bar in range(8, 15))]

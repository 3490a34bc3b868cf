"""The transport bar: position formatting and the tempo field."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QAction  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QMainWindow  # noqa: E402

from composer_app.core.score import (  # noqa: E402
    MAX_TEMPO_BPM,
    MIN_TEMPO_BPM,
    Score,
    ScoreError,
    TempoChange,
    TimeSignature,
)
from composer_app.gui.transport import (  # noqa: E402
    TransportBar,
    format_bar_beat_tick,
    format_clock,
)
from composer_app.midi.files import read_mid, write_mid  # noqa: E402


@pytest.mark.parametrize(
    ("tick", "expected"),
    [
        (0, "1.1.000"),
        (479, "1.1.479"),
        (480, "1.2.000"),  # one quarter = one beat in 4/4
        (1920, "2.1.000"),  # a 4/4 bar is 4 * 480 ticks
        (1920 + 2 * 480 + 10, "2.3.010"),
        (-5, "1.1.000"),
    ],
)
def test_format_bar_beat_tick_in_4_4(tick: int, expected: str) -> None:
    assert format_bar_beat_tick(tick, Score()) == expected


def test_format_bar_beat_tick_counts_eighths_in_6_8() -> None:
    score = Score(time_signatures=[TimeSignature(0, 6, 8)])
    # a 6/8 bar is 6 eighths of 240 ticks = 1440 ticks; a beat is one eighth
    assert format_bar_beat_tick(1440 + 5 * 240 + 7, score) == "2.6.007"


def test_format_bar_beat_tick_follows_meter_change() -> None:
    score = Score(time_signatures=[TimeSignature(0, 4, 4), TimeSignature(3840, 3, 4)])
    # two 4/4 bars (2 * 1920 = 3840 ticks), then 3/4 bars of 1440 ticks
    assert format_bar_beat_tick(3840, score) == "3.1.000"
    assert format_bar_beat_tick(3840 + 1440 + 480, score) == "4.2.000"


def test_format_clock_follows_tempo_map() -> None:
    score = Score(tempo_map=[TempoChange.from_bpm(0, 120), TempoChange.from_bpm(1920, 60)])
    # 4 beats at 120 BPM = 2 s, then 4 beats at 60 BPM = 4 s more
    assert format_clock(1920, score) == "0:02.0"
    assert format_clock(3840, score) == "0:06.0"
    assert format_clock(1920 + 480 * 60, score) == "1:02.0"  # 60 beats at 60 BPM = 60 s


@pytest.fixture
def bar(qtbot):
    host = QMainWindow()
    actions = [QAction(name, host) for name in ("play", "home", "follow", "panic")]
    transport = TransportBar(*actions, parent=host)
    host.addToolBar(transport)
    qtbot.addWidget(host)
    host.show()
    qtbot.waitExposed(host)
    yield transport  # the host window stays alive (and owns the bar) until the test ends


def type_tempo(bar: TransportBar, text: str) -> None:
    bar.tempo_spin.setFocus()
    bar.tempo_spin.selectAll()
    QTest.keyClicks(bar.tempo_spin, text)
    QTest.keyClick(bar.tempo_spin, Qt.Key.Key_Return)


def test_transport_reports_a_typed_tempo_once(bar: TransportBar) -> None:
    edits: list[float] = []
    bar.tempo_edited.connect(edits.append)
    type_tempo(bar, "96.5")
    type_tempo(bar, "96.5")  # the same value again is no edit
    assert edits == [96.5]


def test_transport_set_tempo_is_not_an_edit(bar: TransportBar) -> None:
    edits: list[float] = []
    bar.tempo_edited.connect(edits.append)
    bar.set_tempo_bpm(72.0)
    assert bar.tempo_spin.value() == 72.0
    type_tempo(bar, "72")
    assert edits == []


def test_transport_clamped_file_tempo_is_no_edit_until_the_user_changes_it(
    qtbot, bar: TransportBar
) -> None:
    # A file at 1500 BPM shows as the box's maximum; clicking into the box and out again
    # (focus out finishes editing) must not turn that into a tempo edit.
    edits: list[float] = []
    bar.tempo_edited.connect(edits.append)
    bar.set_tempo_bpm(1500.0)
    assert bar.tempo_spin.value() == MAX_TEMPO_BPM
    bar.tempo_spin.setFocus()
    qtbot.waitUntil(bar.tempo_spin.hasFocus, timeout=2000)
    bar.tempo_spin.clearFocus()
    bar.tempo_spin.editingFinished.emit()  # what focus-out emits, whatever the platform
    assert edits == []
    type_tempo(bar, "999")  # a change the user makes is an edit, even back to the maximum
    type_tempo(bar, "1000")
    assert edits == [999.0, 1000.0]


def test_transport_tempo_box_goes_no_slower_than_a_midi_file_can_hold(
    bar: TransportBar, tmp_path
) -> None:
    # The slowest tempo a file can hold is 0xFFFFFF microseconds per quarter (3.58 BPM): a
    # slower tempo typed in would make every save (and autosave) fail.
    edits: list[float] = []
    bar.tempo_edited.connect(edits.append)
    bar.tempo_spin.setValue(2.0)  # as the arrow keys or wheel would, past the minimum
    bar.tempo_spin.editingFinished.emit()
    assert edits == [MIN_TEMPO_BPM]  # clamped to the box's minimum
    path = tmp_path / "slow.mid"
    write_mid(Score(tempo_map=[TempoChange.from_bpm(0, edits[0])]), path)
    assert read_mid(path).initial_tempo_bpm == pytest.approx(MIN_TEMPO_BPM)
    with pytest.raises(ScoreError):
        TempoChange.from_bpm(0, 3.5)


def test_transport_shows_position(bar: TransportBar) -> None:
    bar.set_position(1920 + 480, Score())
    # bar 2 beat 2; 5 beats at 120 BPM = 2.5 s
    assert bar.position_label.text() == "2.2.000   0:02.5"


def test_transport_position_of_a_score_whose_beat_is_shorter_than_a_tick() -> None:
    # 1 tick a quarter in 6/8: an eighth is half a tick (it divided by zero)
    from composer_app.core.score import TimeSignature
    from composer_app.gui.transport import format_bar_beat_tick

    score = Score(ppq=1, time_signatures=[TimeSignature(0, 6, 8)])
    assert format_bar_beat_tick(5, score) == "2.3.000"

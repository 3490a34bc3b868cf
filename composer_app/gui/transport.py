"""The transport bar: play/stop, return to start, tempo, position, follow, panic."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDoubleSpinBox, QLabel, QToolBar, QWidget

from composer_app.core.score import MAX_TEMPO_BPM, MIN_TEMPO_BPM, Score
from composer_app.core.timing import ticks_to_seconds


def format_bar_beat_tick(tick: float, score: Score) -> str:
    """``bar.beat.tick`` (bar and beat from 1) of a position, following meter changes.

    Units: ``tick`` in ticks; a beat is one note of the time signature's denominator.
    """
    tick = max(0, int(tick))
    bar_index = 0
    signatures = score.time_signatures
    for i, sig in enumerate(signatures):
        bar_ticks = max(1, sig.bar_ticks(score.ppq))  # (a bar shorter than a tick: one)
        next_tick = signatures[i + 1].tick if i + 1 < len(signatures) else None
        if next_tick is not None and tick >= next_tick:
            # whole (or a last partial) bars of this section: a change starts a new bar
            bar_index += -(-(next_tick - sig.tick) // bar_ticks)
            continue
        offset = tick - sig.tick
        beat_ticks = max(1, score.ppq * 4 // sig.denominator)
        bars, in_bar = divmod(offset, bar_ticks)
        beat, in_beat = divmod(in_bar, beat_ticks)
        return f"{bar_index + bars + 1}.{beat + 1}.{in_beat:03d}"
    return "1.1.000"  # unreachable: a score always has a meter at tick 0


def format_clock(tick: float, score: Score) -> str:
    """``m:ss.t`` elapsed at a position through the tempo map. Units: ticks in."""
    seconds = ticks_to_seconds(max(0, int(tick)), score.tempo_map, score.ppq)
    minutes, rest_s = divmod(seconds, 60.0)
    return f"{int(minutes)}:{rest_s:04.1f}"


class TransportBar(QToolBar):
    """Buttons for the window's transport actions plus the tempo and position fields.

    Signals: ``tempo_edited(float)`` when the user commits a new tempo (BPM); the window turns
    it into an undoable edit.
    """

    tempo_edited = Signal(float)

    def __init__(
        self,
        play_action: QAction,
        home_action: QAction,
        follow_action: QAction,
        panic_action: QAction,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Transport", parent)
        self.setObjectName("transport_bar")
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addAction(home_action)
        self.addAction(play_action)
        self.addSeparator()
        self.addWidget(QLabel(" Tempo "))
        self.tempo_spin = QDoubleSpinBox()
        self.tempo_spin.setObjectName("tempo_spin")
        self.tempo_spin.setRange(MIN_TEMPO_BPM, MAX_TEMPO_BPM)
        self.tempo_spin.setDecimals(1)
        self.tempo_spin.setSuffix(" BPM")
        self.tempo_spin.setKeyboardTracking(False)
        self.tempo_spin.setValue(120.0)
        self.tempo_spin.setToolTip(
            "Tempo in quarter notes per minute (arrows or wheel apply at once; type and press "
            "Enter)"
        )
        # Without keyboard tracking, valueChanged fires for each arrow step, wheel turn or
        # Page key, and for typed text once it is committed (Enter, or the focus leaving).
        self.tempo_spin.valueChanged.connect(self._on_tempo_spin_value_changed)
        self.addWidget(self.tempo_spin)
        self.addSeparator()
        self.position_label = QLabel()
        self.position_label.setObjectName("position_label")
        self.position_label.setToolTip("Playhead: bar.beat.tick   minutes:seconds")
        self.position_label.setMinimumWidth(170)
        font = self.position_label.font()
        font.setFamily("monospace")
        font.setStyleHint(font.StyleHint.Monospace)
        self.position_label.setFont(font)
        self.addWidget(self.position_label)
        self.addSeparator()
        self.addAction(follow_action)
        self.addAction(panic_action)
        self._shown_tempo_bpm = 120.0  # the document's tempo (the box may show it clamped)
        self.set_position(0, Score())

    def set_tempo_bpm(self, tempo_bpm: float) -> None:
        """Show ``tempo_bpm`` without reporting it as an edit.

        A file's tempo outside the box's range (MIDI allows up to 60,000,000 BPM) shows at
        the nearest end, and stays the document's tempo until the user changes the box.
        """
        self._shown_tempo_bpm = round(float(tempo_bpm), 1)
        blocked = self.tempo_spin.blockSignals(True)
        self.tempo_spin.setValue(self._shown_tempo_bpm)
        self.tempo_spin.blockSignals(blocked)

    def commit_typed_tempo(self) -> None:
        """Apply a tempo typed in the box and not yet entered (Enter, or the focus leaving),
        as every command that uses the tempo must first: Save, Play, Continue, Quit."""
        self.tempo_spin.interpretText()

    def set_position(self, tick: float, score: Score) -> None:
        """Show the playhead at ``tick`` (ticks) as bar.beat.tick and clock time."""
        self.position_label.setText(
            f"{format_bar_beat_tick(tick, score)}   {format_clock(tick, score)}"
        )

    def _on_tempo_spin_value_changed(self, value: float) -> None:
        # Programmatic changes have signals blocked: this is the user's change, applied at
        # once (a value the box only shows clamped, never changed, is no edit).
        value = round(value, 1)
        if value != self._shown_tempo_bpm:
            self._shown_tempo_bpm = value
            self.tempo_edited.emit(value)

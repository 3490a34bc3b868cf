"""The piano-roll editor: keyboard, ruler, roll, scrollbars and velocity lane in one widget."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QGridLayout, QLabel, QScrollBar, QWidget

from composer_app.core.edits import ReplaceNotes, add_notes, remove_notes
from composer_app.core.note import Note, main_part
from composer_app.gui.document import ScoreDocument
from composer_app.gui.pianoroll.geometry import (
    Grid,
    Step,
    bar_at,
    follow_scroll_x,
    next_grid_line,
    previous_grid_line,
    quantized,
    snap_ceil,
    snap_floor,
)
from composer_app.gui.pianoroll.keyboard import PianoKeyboard
from composer_app.gui.pianoroll.ruler import BarRuler
from composer_app.gui.pianoroll.tools import (
    Clip,
    duplicate_offset,
    make_clip,
    placed,
    shift_delta,
    transpose_delta,
)
from composer_app.gui.pianoroll.velocity_lane import VelocityLane
from composer_app.gui.pianoroll.view import PianoRollView

ZOOM_STEP = 1.25
EMPTY_FIT_PITCHES = (48, 84)  # C3-C6 when there is nothing to fit


class PianoRollEditor(QWidget):
    """The composite piano-roll editor for one :class:`ScoreDocument`.

    Signals: ``note_preview_requested(pitch, velocity, channel, tick)`` (key clicks, on the
    channel most of the notes use, tick -1: at the playhead; drawn and moved notes, on their
    own, at their start tick, whose instrument they sound with),
    ``playhead_requested(tick)`` (ruler clicks), ``tool_changed(str)``,
    ``region_changed()`` (the ruler range). Units: ticks throughout.
    """

    note_preview_requested = Signal(int, int, int, int)
    playhead_requested = Signal(int)
    tool_changed = Signal(str)
    region_changed = Signal()

    def __init__(self, document: ScoreDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self._clip = Clip()
        self._follow_playhead = True
        # set by the window while it plays: a paste then leaves the playhead to playback
        self.playback_running = False
        self.view = PianoRollView(document, self)
        self.keyboard = PianoKeyboard(self.view, self)
        self.ruler = BarRuler(self.view, self)
        self.velocity_lane = VelocityLane(self.view, self)
        self._hbar = QScrollBar(Qt.Orientation.Horizontal, self)
        self._vbar = QScrollBar(Qt.Orientation.Vertical, self)
        lane_label = QLabel("Vel", self)
        lane_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.ruler, 0, 1)
        layout.addWidget(self.keyboard, 1, 0)
        layout.addWidget(self.view, 1, 1)
        layout.addWidget(self._vbar, 1, 2)
        layout.addWidget(self._hbar, 2, 1)
        layout.addWidget(lane_label, 3, 0)
        layout.addWidget(self.velocity_lane, 3, 1)
        layout.setRowStretch(1, 1)
        layout.setColumnStretch(1, 1)

        self.view.note_preview_requested.connect(self.note_preview_requested)
        self.keyboard.note_preview_requested.connect(self._on_keyboard_note_preview_requested)
        self.view.tool_changed.connect(self.tool_changed)
        self.ruler.playhead_requested.connect(self._on_ruler_playhead_requested)
        self.ruler.region_requested.connect(self._on_ruler_region_requested)
        self.ruler.region_clear_requested.connect(self.clear_region)
        self.view.geometry_changed.connect(self._on_view_geometry_changed)
        document.changed.connect(self.ruler.update)  # bars and meter and tempo labels
        self._hbar.valueChanged.connect(self._on_hbar_value_changed)
        self._vbar.valueChanged.connect(self._on_vbar_value_changed)
        self.view.installEventFilter(self)
        self.setFocusProxy(self.view)
        # Start around middle C rather than at the top of the 128 rows.
        geo = self.view.geometry
        self.view.set_geometry(replace(geo, scroll_y_px=(127 - 84) * geo.row_height_px))

    # ---- tools, grid, zoom -------------------------------------------------------------
    def set_tool(self, name: str) -> None:
        """Use the tool called ``name``: "draw", "select" or "erase"."""
        self.view.set_tool(name)

    @property
    def tool_name(self) -> str:
        """The current tool's name."""
        return self.view.tool.name

    def set_grid(self, ticks: int, triplet: bool = False) -> None:
        """Snap to a grid of ``ticks`` per straight division (triplet: two thirds of it)."""
        self.view.set_grid(Grid(ticks, triplet))

    @property
    def grid_ticks(self) -> int:
        """The straight grid division as set by :meth:`set_grid`. Units: ticks."""
        return self.view.grid.ticks

    @property
    def grid_triplet(self) -> bool:
        """Whether the grid is in triplets."""
        return self.view.grid.triplet

    @property
    def snap_step_ticks(self) -> Step:
        """The actual snapping step (two thirds of ``grid_ticks`` for triplets). Units: ticks."""
        return self.view.snap_step_ticks

    def zoom_horizontal(self, factor: float) -> None:
        """Zoom the time axis by ``factor`` around the middle of the view."""
        geo = self.view.geometry
        self.view.set_geometry(geo.zoomed_x(factor, geo.width_px / 2))

    def zoom_vertical(self, factor: float) -> None:
        """Zoom the pitch axis by ``factor`` around the middle of the view."""
        geo = self.view.geometry
        self.view.set_geometry(geo.zoomed_y(factor, geo.height_px / 2))

    def zoom_to_fit(self) -> None:
        """Show every note (or a few empty bars around middle C when there are none)."""
        score = self.document.score
        notes = score.notes
        bar = score.time_signatures[0].bar_ticks(score.ppq)
        if notes:
            start = min(n.start_tick for n in notes)
            end = max(n.end_tick for n in notes)
            low = min(n.pitch for n in notes)
            high = max(n.pitch for n in notes)
        else:
            start, end = 0, 4 * bar
            low, high = EMPTY_FIT_PITCHES
        self.view.set_geometry(self.view.geometry.fitted(start, end, low, high))

    # ---- playhead and region -----------------------------------------------------------
    def set_playhead_tick(self, tick: float) -> None:
        """Move the playhead; with ``follow_playhead`` the view pages to keep it visible."""
        self.view.set_playhead_tick(tick)
        if self._follow_playhead:
            scroll = follow_scroll_x(self.view.geometry, tick)
            if scroll is not None:
                geo = self.view.geometry
                self.view.set_geometry(replace(geo, scroll_x_px=scroll))
        self.ruler.update()

    @property
    def playhead_tick(self) -> float:
        """Where the playhead is. Units: ticks."""
        return self.view.playhead_tick

    @property
    def follow_playhead(self) -> bool:
        """Whether the view keeps the playhead in sight while it moves."""
        return self._follow_playhead

    @follow_playhead.setter
    def follow_playhead(self, follow: bool) -> None:
        self._follow_playhead = bool(follow)

    def set_region(self, start_tick: int, end_tick: int) -> None:
        """Select the time range ``[start_tick, end_tick)``."""
        if end_tick <= start_tick:
            raise ValueError(f"a region must end after it starts, got {start_tick}-{end_tick}")
        self.view.set_region((int(start_tick), int(end_tick)))
        self.ruler.update()
        self.region_changed.emit()

    def clear_region(self) -> None:
        """Forget the selected time range."""
        self.view.set_region(None)
        self.ruler.update()
        self.region_changed.emit()

    def region(self) -> tuple[int, int] | None:
        """The selected time range ``(start_tick, end_tick)`` or None."""
        return self.view.region

    def set_probabilities(self, start_tick: int, step_ticks: int,
                          probabilities: np.ndarray | None) -> None:
        """Show a faint heat map of per-step pitch probabilities (None clears it).

        Shapes: ``(n, 88)``, column j for MIDI pitch 21 + j. Units: ticks.
        """
        self.view.set_probabilities(start_tick, step_ticks, probabilities)

    # ---- selection commands -------------------------------------------------------------
    def _selected(self) -> list[Note]:
        """The selected notes, identical copies stacked on one another included."""
        return self.document.score.copies_of(self.document.selection)

    def select_all(self) -> None:
        """Select every note."""
        self.document.set_selection(self.document.score.notes)

    def deselect(self) -> None:
        """Select nothing."""
        self.document.set_selection(())

    def delete_selection(self) -> None:
        """Delete the selected notes (one undo step)."""
        notes = self._selected()
        if notes:
            self.document.push(remove_notes(notes, "Delete notes"))

    def copy(self) -> None:
        """Copy the selected notes to the editor's clipboard."""
        notes = self._selected()
        if notes:
            self._clip = make_clip(notes, self.document.score.ppq)

    def cut(self) -> None:
        """Copy the selection, then delete it."""
        notes = self._selected()
        if notes:
            self._clip = make_clip(notes, self.document.score.ppq)
            self.document.push(remove_notes(notes, "Cut"))

    def paste(self, at_tick: int | None = None) -> None:
        """Paste the clipboard at ``at_tick`` (the playhead, snapped down to the grid, if None).

        Units: ticks. A clip copied from a score of another resolution is rescaled to this
        score's ticks per quarter note. Pasted at the playhead when not playing, the playhead
        then moves to the grid line at or after the pasted notes' end
        (``playhead_requested``), so pasting again puts the next copy after this one, not on
        it; while playing it is playback's.
        """
        if not self._clip.notes:
            return
        score = self.document.score
        at_playhead = at_tick is None
        if at_tick is None:
            playhead = int(self.playhead_tick)
            at_tick = snap_floor(playhead, self.snap_step_ticks, bar_at(score, playhead))
        notes = placed(self._clip, at_tick, score.ppq)
        self.document.push(add_notes(notes, "Paste"))
        if at_playhead and not self.playback_running:
            end = max(n.end_tick for n in notes)
            after = snap_ceil(end, self.snap_step_ticks, bar_at(score, end))
            self.set_playhead_tick(after)
            self.playhead_requested.emit(after)

    def has_clipboard(self) -> bool:
        """Whether there is something to paste."""
        return bool(self._clip.notes)

    def duplicate(self) -> None:
        """Copy the selection to right after itself (its span rounded up to the grid)."""
        notes = self._selected()
        if notes:
            offset = duplicate_offset(notes, self.snap_step_ticks, self.document.score)
            self.document.push(add_notes([replace(n.moved(offset, 0), generated=False)
                                          for n in notes], "Duplicate"))

    def _on_keyboard_note_preview_requested(self, pitch: int, velocity: int) -> None:
        # a key belongs to no note: it sounds in the part a drawn note would go in
        channel, _track = main_part(self.document.score.notes)
        self.note_preview_requested.emit(pitch, velocity, channel, -1)

    def quantize_selection(self) -> None:
        """Move the selected notes' starts and lengths to the grid (one undo step); with
        nothing selected, every note (as other piano rolls do)."""
        selected = self._selected()
        notes = selected or [n for n in self.document.score.notes if not n.generated]
        step = self.snap_step_ticks
        score = self.document.score
        # Each start snaps to the grid of its own bar, so downbeats stay on the grid (the
        # notes come in start order: a bar is looked up once for all the notes it holds).
        moved = []
        bar = (0, 0)
        for note in notes:
            if not bar[0] <= note.start_tick < bar[1]:
                bar = bar_at(score, note.start_tick)
            moved.append(quantized(note, step, bar))
        if moved != notes:
            # with nothing selected, nothing is afterwards (nor after a redo): not the whole
            # song for the next arrow key
            self.document.push(ReplaceNotes(tuple(notes), tuple(moved), "Quantize"),
                               select_added=bool(selected))

    def transpose_selection(self, semitones: int) -> None:
        """Move the selection up or down (stopping at the ends of the MIDI range)."""
        notes = self._selected()
        delta = transpose_delta(notes, semitones)
        if delta:
            moved = tuple(n.moved(0, delta) for n in notes)
            self.document.push(ReplaceNotes(tuple(notes), moved, "Transpose"))
            first = moved[0]
            self.note_preview_requested.emit(first.pitch, first.velocity, first.channel,
                                             first.start_tick)

    def nudge_selection(self, grid_steps: int) -> None:
        """Move the selection ``grid_steps`` grid lines later (negative: earlier), its first
        note from line to line of the grid of each bar, the others along (never before
        tick 0)."""
        notes = self._selected()
        if not notes:
            return
        score, step = self.document.score, self.snap_step_ticks
        first = tick = min(n.start_tick for n in notes)
        for _ in range(abs(grid_steps)):
            if grid_steps > 0:
                tick = next_grid_line(score, tick, step)
            elif tick > 0:
                tick = max(0, previous_grid_line(score, tick, step))
        delta = shift_delta(notes, tick - first)
        if delta:
            self.document.push(ReplaceNotes(tuple(notes), tuple(n.moved(delta, 0) for n in notes),
                                            "Nudge notes"))

    # ---- keys ------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if watched is self.view and event.type() == QEvent.Type.KeyPress:
            return self._on_view_key_pressed(event)  # type: ignore[arg-type]
        return super().eventFilter(watched, event)

    def _on_view_key_pressed(self, event: QKeyEvent) -> bool:
        key = event.key()
        mods = event.modifiers()
        shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        K = Qt.Key
        if key == K.Key_Escape:
            if self.view.gesture_in_progress:
                self.view.cancel_gesture()
            else:
                self.deselect()
        elif key in (K.Key_Delete, K.Key_Backspace):
            self.delete_selection()
        elif key in (K.Key_Up, K.Key_Down):
            semitones = 12 if shift else 1
            self.transpose_selection(semitones if key == K.Key_Up else -semitones)
        elif key in (K.Key_Left, K.Key_Right):
            self.nudge_selection(1 if key == K.Key_Right else -1)
        elif ctrl and key == K.Key_A:
            self.select_all()
        elif ctrl and key == K.Key_C:
            self.copy()
        elif ctrl and key == K.Key_X:
            self.cut()
        elif ctrl and key == K.Key_V:
            self.paste()
        elif ctrl and key == K.Key_D:
            self.duplicate()
        else:
            return False
        return True

    # ---- scrollbars --------------------------------------------------------------------
    def _on_view_geometry_changed(self) -> None:
        geo = self.view.geometry
        for bar, value, maximum, page in (
            (self._hbar, geo.scroll_x_px, self.view.content_width_px() - geo.width_px,
             geo.width_px),
            (self._vbar, geo.scroll_y_px, geo.content_height_px - geo.height_px, geo.height_px),
        ):
            bar.blockSignals(True)
            bar.setRange(0, max(0, round(maximum)))
            bar.setPageStep(max(1, round(page)))
            bar.setSingleStep(20)
            bar.setValue(round(value))
            bar.blockSignals(False)
        self.keyboard.update()
        self.ruler.update()  # (the velocity lane repaints itself when the time axis moves)

    def _on_hbar_value_changed(self, value: int) -> None:
        geo = self.view.geometry
        self.view.set_geometry(replace(geo, scroll_x_px=float(value)))

    def _on_vbar_value_changed(self, value: int) -> None:
        geo = self.view.geometry
        self.view.set_geometry(replace(geo, scroll_y_px=float(value)))

    def _on_ruler_playhead_requested(self, tick: int) -> None:
        # Move the line at once (the window may also seek its player and echo the position).
        self.view.set_playhead_tick(tick)
        self.ruler.update()
        self.playhead_requested.emit(tick)

    def _on_ruler_region_requested(self, start_tick: int, end_tick: int) -> None:
        self.set_region(start_tick, end_tick)

"""The velocity lane under the roll: one bar per note; dragging paints new velocities."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QWheelEvent
from PySide6.QtWidgets import QWidget

from composer_app.core.edits import ReplaceNotes
from composer_app.core.note import Note
from composer_app.gui.pianoroll.geometry import height_to_velocity, velocity_to_height
from composer_app.gui.pianoroll.view import (
    SELECTED_BORDER,
    VELOCITY_BUCKETS,
    PianoRollView,
    note_fill,
)

LANE_HEIGHT_PX = 80
BAR_WIDTH_PX = 5.0
BAR_GRAB_PX = 3.0
# More bars than this on screen (zoomed far out): one bar per pixel column, the loudest of
# the notes starting there (each note in Python took 0.4 s for 100,000 notes).
DENSE_BAR_COUNT = 2000


class VelocityLane(QWidget):
    """Velocity bars aligned with the roll's time axis.

    Pressing and dragging sets the velocity of every bar the pointer crosses to the pointer's
    height (only selected notes when there is a selection); the whole drag is one undo step.
    The stroke is followed as a straight line between pointer events, so a fast drag sets
    every bar it passes, each to the line's height at the bar.
    """

    def __init__(self, view: PianoRollView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._view = view
        self._pending: dict[Note, int] | None = None
        self._pending_state = 0  # the document's edit_state when the drag began
        self._last = (0.0, 0.0)  # the stroke's previous pointer position (x, y) in px
        self.setFixedHeight(LANE_HEIGHT_PX)
        # the time axis the bars are drawn for: (pixels per tick, horizontal scroll)
        self._time_axis = (view.geometry.pixels_per_tick, view.geometry.scroll_x_px)
        view.geometry_changed.connect(self._on_view_geometry_changed)
        view.document.changed.connect(self._on_document_changed)
        view.document.selection_changed.connect(self.update)

    def _on_view_geometry_changed(self) -> None:
        # the bars follow the time axis only: a vertical scroll or a pitch zoom moves none
        geo = self._view.geometry
        axis = (geo.pixels_per_tick, geo.scroll_x_px)
        if axis != self._time_axis:
            self._time_axis = axis
            self.update()

    def _bar_height_px(self) -> float:
        return self.height() - 4.0

    def _candidates(self) -> list[Note]:
        geo = self._view.geometry
        start, end = geo.visible_tick_range()
        # generated (pending) notes are not editable until accepted
        notes = [n for n in self._view.score.notes_in_range(start, end) if not n.generated]
        selection = self._view.selection
        return [n for n in notes if n in selection] if selection else notes

    def notes_at_x(self, x_px: float) -> list[Note]:
        """Notes whose velocity bar is under ``x_px``."""
        return self.notes_between(x_px, x_px)

    def notes_between(self, x0_px: float, x1_px: float) -> list[Note]:
        """Notes whose velocity bar (give or take ``BAR_GRAB_PX``) meets the span from
        ``x0_px`` to ``x1_px`` (in either order). Units: px."""
        geo = self._view.geometry
        left, right = min(x0_px, x1_px), max(x0_px, x1_px)
        hits = []
        if self._is_dense():
            # zoomed far out each bar is a pixel column: a click takes that column only
            first, last = math.floor(left), math.floor(right)
            for note in self._candidates():
                if first <= math.floor(geo.tick_to_x(note.start_tick)) <= last:
                    hits.append(note)
            return hits
        for note in self._candidates():
            x = geo.tick_to_x(note.start_tick)
            if x - BAR_GRAB_PX <= right and left <= x + BAR_WIDTH_PX + BAR_GRAB_PX:
                hits.append(note)
        return hits

    def _is_dense(self) -> bool:
        """Whether so many notes start on screen that each pixel column is one bar."""
        geo = self._view.geometry
        start, end = geo.visible_tick_range()
        notes = self._view.note_arrays(geo.x_to_tick(-BAR_WIDTH_PX), end)[0]
        return len(notes) > DENSE_BAR_COUNT

    def bar_top_y(self, velocity: int) -> float:
        """The y of the top of a bar for ``velocity``."""
        return self.height() - velocity_to_height(velocity, self._bar_height_px())

    def velocity_at_y(self, y_px: float) -> int:
        """The velocity a pointer at ``y_px`` sets."""
        return height_to_velocity(y_px - (self.height() - self._bar_height_px()),
                                  self._bar_height_px())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(246, 246, 248))
        geo = self._view.geometry
        start, end = geo.visible_tick_range()
        selection = self._view.selection
        pending = self._pending or {}
        painter.setPen(QColor(210, 210, 216))
        for velocity in (32, 64, 96, 127):
            y = round(self.bar_top_y(velocity)) + 0.5
            painter.drawLine(0, int(y), self.width(), int(y))
        # Bars batched by colour (kind x velocity shade x selected): one draw call per batch.
        batches: dict[tuple[bool, int, bool], list[QRectF]] = {}
        height = self.height()
        dense = self._dense_batches(start, end) if not pending else None
        if dense is not None:
            batches = dense
        for note in self._view.score.notes_in_range(start, end) if dense is None else ():
            velocity = pending.get(note, note.velocity)
            top = self.bar_top_y(velocity)
            key = (note.generated, velocity * VELOCITY_BUCKETS // 128, note in selection)
            rect = QRectF(geo.tick_to_x(note.start_tick), top, BAR_WIDTH_PX, height - top)
            batches.setdefault(key, []).append(rect)
        # selected bars last, over the others in their column (then generated over user)
        for (generated, bucket, selected), rects in sorted(
            batches.items(), key=lambda batch: (batch[0][2], batch[0][0], batch[0][1])
        ):
            painter.setPen(QPen(SELECTED_BORDER, 1) if selected else Qt.PenStyle.NoPen)
            painter.setBrush(note_fill(bucket * 128 // VELOCITY_BUCKETS + 1, generated, selected))
            painter.drawRects(rects)
        painter.setPen(QColor(150, 150, 160))
        painter.drawLine(0, 0, self.width(), 0)
        painter.end()

    def _dense_batches(self, start: float, end: float) -> dict[
            tuple[bool, int, bool], list[QRectF]] | None:
        """The bars as one per pixel column (the loudest note starting under it, user notes
        first, then generated, then selected ones over them), or None when few enough notes
        start on screen to draw each."""
        geo = self._view.geometry
        first_tick = geo.x_to_tick(-BAR_WIDTH_PX)
        notes, starts, velocities, generated = self._view.note_arrays(first_tick, end)
        if len(notes) <= DENSE_BAR_COUNT:
            return None
        width = self.width()
        columns = np.floor(starts * geo.pixels_per_tick - geo.scroll_x_px).astype(np.int64)
        inside = (columns >= 0) & (columns < width)
        selection = self._view.selection
        selected = (np.fromiter((n in selection for n in notes), dtype=bool, count=len(notes))
                    if selection else np.zeros(len(notes), dtype=bool))
        batches: dict[tuple[bool, int, bool], list[QRectF]] = {}
        height = self.height()
        for kind_generated, kind_selected in ((False, False), (True, False), (False, True)):
            mask = inside & (generated == kind_generated) & (selected == kind_selected)
            loudest = np.zeros(width, dtype=np.int64)
            np.maximum.at(loudest, columns[mask], velocities[mask])
            for x in np.flatnonzero(loudest).tolist():
                velocity = int(loudest[x])
                top = self.bar_top_y(velocity)
                key = (kind_generated, velocity * VELOCITY_BUCKETS // 128, kind_selected)
                batches.setdefault(key, []).append(QRectF(x, top, 1.0, height - top))
        return batches

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt override)
        # Same time axis as the roll: Ctrl+wheel zooms it, Shift+wheel scrolls it.
        self._view.wheelEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton:
            self._pending = {}
            self._pending_state = self._view.document.edit_state
            self._last = (event.position().x(), event.position().y())
            self._stroke_to(event.position().x(), event.position().y())

    def _on_document_changed(self) -> None:
        if self._pending is not None and self._view.document.edit_state != self._pending_state:
            self._pending = None  # undo (or another edit) mid-drag: its notes are stale
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if self._pending is not None:
            self._stroke_to(event.position().x(), event.position().y())

    def _stroke_to(self, x_px: float, y_px: float) -> None:
        """Paint the stroke's line from the previous pointer position to ``(x_px, y_px)``."""
        assert self._pending is not None
        geo = self._view.geometry
        x0, y0 = self._last
        for note in self.notes_between(x0, x_px):
            # The line's height where it passes the bar's x (the note's start), clamped to
            # the segment for bars only reached through the grab margin: y0 + (y - y0) * t.
            bar_x = min(max(x0, x_px), max(min(x0, x_px), geo.tick_to_x(note.start_tick)))
            t = (bar_x - x0) / (x_px - x0) if x_px != x0 else 1.0
            self._pending[note] = self.velocity_at_y(y0 + (y_px - y0) * t)
        self._last = (x_px, y_px)
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() != Qt.MouseButton.LeftButton or self._pending is None:
            return
        self._stroke_to(event.position().x(), event.position().y())
        pending, self._pending = self._pending, None
        changed = {n: v for n, v in pending.items() if v != n.velocity}
        if changed:
            # identical copies stacked on one another share their bar, and change together
            removed = tuple(self._view.score.copies_of(changed))
            self._view.push(ReplaceNotes(removed, tuple(n.with_velocity(changed[n])
                                                        for n in removed), "Change velocity"))
        self.update()

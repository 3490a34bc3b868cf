"""The piano keyboard at the left of the roll: rows line up with the roll, a click sounds."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QWheelEvent
from PySide6.QtWidgets import QWidget

from composer_app.core.note import pitch_name
from composer_app.gui.pianoroll.geometry import is_black_key
from composer_app.gui.pianoroll.view import PianoRollView

KEYBOARD_WIDTH_PX = 60
PREVIEW_VELOCITY = 100


class PianoKeyboard(QWidget):
    """Vertical keyboard sharing the roll's pitch axis; C keys are labelled (C4 = 60).

    Signals: ``note_preview_requested(pitch, velocity)`` when a key is clicked.
    """

    note_preview_requested = Signal(int, int)

    def __init__(self, view: PianoRollView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._view = view
        self._pressed_pitch: int | None = None
        self._hover_pitch = -1
        self.setFixedWidth(KEYBOARD_WIDTH_PX)
        view.geometry_changed.connect(self.update)
        view.hover_pitch_changed.connect(self._on_view_hover_pitch_changed)

    def _on_view_hover_pitch_changed(self, pitch: int) -> None:
        # Light up the key of the row under the pointer in the roll.
        self._hover_pitch = pitch
        self.update()

    def pitch_at(self, y_px: float) -> int | None:
        """The key under ``y_px`` (the roll's pitch axis); None below the lowest key."""
        geo = self._view.geometry
        return None if geo.is_below_rows(y_px) else geo.y_to_pitch(y_px)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        geo = self._view.geometry
        width = self.width()
        painter.fillRect(self.rect(), QColor(255, 255, 255))
        low, high = geo.visible_pitch_range()
        row_h = geo.row_height_px
        font = painter.font()
        font.setPointSizeF(max(5.0, min(8.0, row_h * 0.7)))
        painter.setFont(font)
        for pitch in range(low, high):
            y = geo.pitch_to_y(pitch)
            rect = QRectF(0, y, width, row_h)
            if pitch == self._pressed_pitch:
                painter.fillRect(rect, QColor(120, 170, 255))
            elif is_black_key(pitch):
                black = QColor(90, 110, 160) if pitch == self._hover_pitch else QColor(40, 40, 45)
                painter.fillRect(QRectF(0, y, width * 0.62, row_h), black)
            elif pitch == self._hover_pitch:
                painter.fillRect(rect, QColor(205, 220, 250))
            painter.setPen(QColor(150, 150, 160) if pitch % 12 in (0, 5) else QColor(215, 215, 220))
            painter.drawLine(0, round(y + row_h), width, round(y + row_h))
            if pitch % 12 == 0 and row_h >= 5:
                painter.setPen(QColor(60, 60, 70))
                painter.drawText(rect.adjusted(0, 0, -3, 0),
                                 int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                                 pitch_name(pitch))
        painter.setPen(QColor(140, 140, 150))
        painter.drawLine(width - 1, 0, width - 1, self.height())
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton:
            self._pressed_pitch = self.pitch_at(event.position().y())
            if self._pressed_pitch is not None:
                self.note_preview_requested.emit(self._pressed_pitch, PREVIEW_VELOCITY)
            self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        # Gliding over the keys plays each new key, as on a real keyboard widget.
        if self._pressed_pitch is not None:
            pitch = self.pitch_at(event.position().y())
            if pitch is not None and pitch != self._pressed_pitch:
                self._pressed_pitch = pitch
                self.note_preview_requested.emit(pitch, PREVIEW_VELOCITY)
                self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        self._pressed_pitch = None
        self.update()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt override)
        self._view.wheelEvent(event)

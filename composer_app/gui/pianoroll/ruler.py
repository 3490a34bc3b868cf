"""The bar/beat ruler above the roll: bar numbers from the meter; click sets the playhead."""

from __future__ import annotations

import bisect
import math
from operator import attrgetter

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget

from composer_app.core.score import CUE_POINT, MARKER, Score, readable_text
from composer_app.gui.pianoroll.geometry import (
    BAR_LINE_MIN_PX,
    bar_at,
    bar_stride,
    snap_nearest,
)
from composer_app.gui.pianoroll.tools import DRAG_THRESHOLD_PX
from composer_app.gui.pianoroll.view import PLAYHEAD, REGION_FILL, PianoRollView

RULER_HEIGHT_PX = 26
CHANGE_LABEL = QColor(40, 90, 170)  # time signature, tempo and key changes
MARKER_LABEL = QColor(170, 90, 20)  # a file's markers and cue points
LABEL_GAP_PX = 4
MAX_LABEL_PX = 160  # a longer marker is cut short (with an ellipsis)
MIN_MARKER_PX = 28  # a marker is cut short to no less (the next label moves right instead)
MAX_LABEL_SHIFT_PX = 60  # how far a label is moved right of its tick to make room
_TEXT_TICK = attrgetter("tick")


def change_labels(score: Score) -> dict[int, list[str]]:
    """What the ruler writes where the music changes (tick -> texts): the meter at its bar
    (the first one too), the tempo after the start (the transport shows the first), and the
    file's key signature, the first one and each change."""
    changes: dict[int, list[str]] = {}
    for sig in score.time_signatures:
        changes.setdefault(sig.tick, []).append(f"{sig.numerator}/{sig.denominator}")
    for before, tempo in zip(score.tempo_map, score.tempo_map[1:], strict=False):
        if tempo.us_per_quarter != before.us_per_quarter:  # (a repeat changes nothing)
            changes.setdefault(tempo.tick, []).append(f"\u2669={tempo.tempo_bpm:g}")
    previous_key = None
    for key in score.key_signatures:
        if key.name != previous_key:  # (a restatement changes nothing)
            changes.setdefault(key.tick, []).append(key.name)
        previous_key = key.name
    return changes


def marker_labels(
    score: Score, start_tick: int = 0, end_tick: float = math.inf
) -> dict[int, list[str]]:
    """The file's markers and cue points ("Verse", "Chorus", ...) in ``[start_tick,
    end_tick]`` by tick, as a person reads them (see :func:`readable_text`), in the score's
    order. Units: ticks."""
    texts = score.texts  # (sorted by tick: only the range is looked at)
    first = bisect.bisect_left(texts, start_tick, key=_TEXT_TICK)
    stop = bisect.bisect_right(texts, end_tick, key=_TEXT_TICK)
    markers: dict[int, list[str]] = {}
    for text in texts[first:stop]:
        if text.kind in (MARKER, CUE_POINT):
            shown = readable_text(text.text).strip()
            if shown:
                markers.setdefault(text.tick, []).append(shown)
    return markers


class BarRuler(QWidget):
    """Bar numbers (from the score's time signatures), beat ticks, each time signature, tempo
    and key change (in blue, at its tick) and the file's markers (in orange) over the roll.

    A click sets the playhead (``playhead_requested(tick)``, snapped to the grid unless Alt
    is held); a drag selects a time range (``region_requested(start_tick, end_tick)``); a right
    click clears it (``region_clear_requested()``).
    """

    playhead_requested = Signal(int)
    region_requested = Signal(int, int)
    region_clear_requested = Signal()

    def __init__(self, view: PianoRollView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._view = view
        self._press_x: float | None = None
        self._dragging = False
        self.setFixedHeight(RULER_HEIGHT_PX)
        view.geometry_changed.connect(self.update)

    def tick_at(self, x_px: float, alt: bool = False) -> int:
        """The tick under ``x_px``, snapped to the grid of its bar unless ``alt``. Units: ticks."""
        tick = self._view.geometry.x_to_tick(x_px)
        if alt:
            return max(0, round(tick))
        bar = bar_at(self._view.score, tick)
        return max(0, snap_nearest(tick, self._view.snap_step_ticks, bar))

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        geo = self._view.geometry
        height = self.height()
        painter.fillRect(self.rect(), QColor(236, 236, 240))
        score = self._view.score
        start, end = geo.visible_tick_range()
        region = self._view.region
        if region is not None:
            x0, x1 = geo.tick_to_x(region[0]), geo.tick_to_x(region[1])
            painter.fillRect(QRectF(x0, 0, x1 - x0, height), REGION_FILL.darker(150))
        painter.setPen(QColor(150, 150, 160))
        for tick in self._view.beat_ticks_in(start, end):
            x = round(geo.tick_to_x(tick)) + 0.5
            painter.drawLine(QPointF(x, height * 0.7), QPointF(x, height))
        bars = score.bar_starts(end + 1)
        # A line at every bar and a label at every bar, or at every 2nd/4th/... when they
        # crowd together (zoomed far out).
        line_every = bar_stride(bars, geo.pixels_per_tick, BAR_LINE_MIN_PX)
        every = max(line_every, bar_stride(bars, geo.pixels_per_tick, 28))
        # tick -> what is written there: the changes (in blue), then the markers
        notes: dict[int, list[tuple[str, QColor]]] = {}
        for tick, texts in change_labels(score).items():
            notes.setdefault(tick, []).append((" ".join(texts), CHANGE_LABEL))
        for tick, texts in marker_labels(score, start - score.ppq * 64, end).items():
            notes.setdefault(tick, []).extend((text, MARKER_LABEL) for text in texts)
        metrics = painter.fontMetrics()
        # changes and markers: (tick, x, text, colour), in the order they are written
        labels: list[tuple[int, float, str, QColor]] = []
        numbers: list[tuple[float, str]] = []  # bar numbers, written where they leave room

        def add_labels(x: float, tick: int) -> None:  # the labels at tick, from x on
            for text, colour in notes[tick]:
                labels.append((tick, x, text, colour))
                x += metrics.horizontalAdvance(text) + LABEL_GAP_PX

        lined: set[int] = set()  # the bars with a line
        bar_lines: list[QLineF] = []
        first = max(0, bisect.bisect_left(bars, start - score.ppq * 64))
        for number, tick in enumerate(bars[first:], start=first + 1):
            x = round(geo.tick_to_x(tick)) + 0.5
            if (number - 1) % line_every == 0:
                bar_lines.append(QLineF(x, height * 0.35, x, height))
                lined.add(tick)
            text_x = x + 3
            if (number - 1) % every == 0:
                numbers.append((text_x, str(number)))
                text_x += metrics.horizontalAdvance(str(number)) + LABEL_GAP_PX
            if tick in notes:
                add_labels(text_x, tick)
        painter.setPen(QColor(60, 60, 70))
        painter.drawLines(bar_lines)
        on_bars = set(bars[first:])
        for tick, at_tick in notes.items():
            if start <= tick <= end and tick not in lined:  # (a tempo on a beat; zoomed out)
                x = round(geo.tick_to_x(tick)) + 0.5
                painter.setPen(at_tick[0][1])
                painter.drawLine(QPointF(x, height * 0.6), QPointF(x, height))
                if tick not in on_bars:
                    add_labels(x + 3, tick)
        # The changes and markers first, in time: one that would overlap the one before is
        # moved right after it (left out if that is more than MAX_LABEL_SHIFT_PX from its
        # tick), and a marker runs at most to the next label (a long one is cut short with an
        # ellipsis); then the bar numbers wherever they leave room.
        baseline = height * 0.55
        written: list[tuple[float, float]] = []  # (left, right) of each, left to right
        labels.sort(key=lambda label: label[0])  # (stable: at one tick, as added)
        for i, (_tick, x, text, colour) in enumerate(labels):
            if written and x < written[-1][1]:
                if written[-1][1] - x > MAX_LABEL_SHIFT_PX:
                    continue
                x = written[-1][1]
            room = math.inf if colour == CHANGE_LABEL else MAX_LABEL_PX
            # (to the next one's place, unless that is so close that the next one moves)
            if i + 1 < len(labels) and colour == MARKER_LABEL and \
                    labels[i + 1][1] - LABEL_GAP_PX - x >= MIN_MARKER_PX:
                room = min(room, labels[i + 1][1] - LABEL_GAP_PX - x)
            if metrics.horizontalAdvance(text) > room:
                text = metrics.elidedText(text, Qt.TextElideMode.ElideRight, max(0, int(room)))
                if not text:
                    continue
            painter.setPen(colour)
            painter.drawText(QPointF(x, baseline), text)
            written.append((x, x + metrics.horizontalAdvance(text) + LABEL_GAP_PX))
        lefts = [left for left, _right in written]
        painter.setPen(QColor(60, 60, 70))
        right = -math.inf
        for x, text in numbers:
            x_end = x + metrics.horizontalAdvance(text) + LABEL_GAP_PX
            under = bisect.bisect_left(lefts, x_end) - 1  # the last label starting before its end
            if x < right or (under >= 0 and written[under][1] > x):
                continue
            painter.drawText(QPointF(x, baseline), text)
            right = x_end
        x = geo.tick_to_x(self._view.playhead_tick)
        painter.setPen(QPen(PLAYHEAD, 2))
        painter.drawLine(QPointF(x, 0), QPointF(x, height))
        painter.setBrush(PLAYHEAD)
        painter.drawPolygon(QPolygonF([QPointF(x - 5, 0), QPointF(x + 5, 0), QPointF(x, 7)]))
        painter.setPen(QColor(150, 150, 160))
        painter.drawLine(0, height - 1, self.width(), height - 1)
        painter.end()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt override)
        # Same time axis as the roll: Ctrl+wheel zooms it, Shift+wheel scrolls it.
        self._view.wheelEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton:
            self._press_x = event.position().x()
            self._dragging = False
        elif event.button() == Qt.MouseButton.RightButton:
            self.region_clear_requested.emit()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if self._press_x is None:
            return
        x = event.position().x()
        alt = bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
        if abs(x - self._press_x) >= DRAG_THRESHOLD_PX:
            self._dragging = True
        if self._dragging:
            a, b = sorted((self.tick_at(self._press_x, alt), self.tick_at(x, alt)))
            if b > a:
                self.region_requested.emit(a, b)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() != Qt.MouseButton.LeftButton or self._press_x is None:
            return
        if not self._dragging:
            alt = bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
            self.playhead_requested.emit(self.tick_at(event.position().x(), alt))
        self._press_x = None
        self._dragging = False

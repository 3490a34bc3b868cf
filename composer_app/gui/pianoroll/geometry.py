"""Qt-free geometry of the piano roll: ticks <-> x, pitches <-> y, zoom, snapping, hit tests.

Coordinates are widget pixels with the origin at the roll's top-left corner. The content is
``tick * pixels_per_tick`` wide and 128 rows (MIDI pitches 127 at the top down to 0) tall;
``scroll_x_px`` / ``scroll_y_px`` say which part of it shows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from fractions import Fraction

from composer_app.core.note import MIDI_PITCH_MAX, Note
from composer_app.core.score import Score

PITCH_COUNT = MIDI_PITCH_MAX + 1
MIN_PIXELS_PER_TICK = 0.0001
MAX_PIXELS_PER_TICK = 2.0
MIN_ROW_HEIGHT_PX = 3.0
MAX_ROW_HEIGHT_PX = 48.0
RESIZE_EDGE_PX = 6.0

BLACK_KEY_CLASSES = frozenset({1, 3, 6, 8, 10})


def is_black_key(pitch: int) -> bool:
    """True for the pitches played on black piano keys (C#, D#, F#, G#, A#)."""
    return pitch % 12 in BLACK_KEY_CLASSES


# ---- grid and snapping -------------------------------------------------------------------
# A grid step in ticks: whole, or a triplet's exact two thirds of a division that 3 does not
# divide (1/8 triplet at 1024 PPQ = 1024/3 ticks). Grid line n of a bar is then its start
# plus n steps rounded to the nearest tick, so lines never drift from the beats (a step
# rounded first and multiplied after put the 6th 1/8 triplet at 2046 instead of the beat,
# 2048).
Step = int | Fraction


@dataclass(frozen=True)
class Grid:
    """A snapping grid: ``ticks`` per straight division, optionally as triplets.

    Units: ticks. A triplet grid divides the same span into 3 instead of 2, so its step is
    two thirds of the straight one (1/8 at 480 PPQ = 240 ticks; 1/8 triplet = 160 ticks; at
    1024 PPQ, 1024/3 ticks, see :data:`Step`).
    """

    ticks: int
    triplet: bool = False

    def __post_init__(self) -> None:
        if self.ticks <= 0:
            raise ValueError(f"grid must be at least one tick, got {self.ticks}")

    @property
    def step_ticks(self) -> Step:
        """The distance between grid lines: an int, or an exact Fraction for a triplet of a
        division that 3 does not divide. Units: ticks."""
        if not self.triplet:
            return self.ticks
        step = Fraction(self.ticks * 2, 3)
        return int(step) if step.denominator == 1 else max(Fraction(1), step)

    @staticmethod
    def from_fraction(denominator: int, ppq: int, triplet: bool = False) -> Grid:
        """The grid of 1/``denominator`` notes (1 = a whole note) at ``ppq`` ticks per quarter."""
        return Grid(max(1, ppq * 4 // denominator), triplet)


GRID_DENOMINATORS = (1, 2, 4, 8, 16, 32)
BAR_LINE_MIN_PX = 4.0  # bar lines closer than this (zoomed far out) are thinned


def bar_stride(bar_ticks: Sequence[int], pixels_per_tick: float, min_px: float) -> int:
    """Every how many bars a line (or label) is drawn so that they are ``min_px`` or more
    apart: 1, 2, 4, 8 ... (counted from bar 1). ``bar_ticks``: the bars' starts, sorted; the
    shortest bar decides. Units: ticks, px per tick, px."""
    shortest = min((b - a for a, b in zip(bar_ticks, bar_ticks[1:], strict=False)), default=0)
    if shortest <= 0 or pixels_per_tick <= 0:
        return 1
    stride = 1
    while shortest * pixels_per_tick * stride < min_px:
        stride *= 2
    return stride


def bar_at(score: Score, tick: float) -> tuple[int, int]:
    """The bar containing ``tick`` as ``(start_tick, end_tick)``. Units: ticks.

    Bars are counted as :meth:`Score.bar_starts` counts them: each time signature starts a
    new bar, so a bar cut short by a meter change ends at that change. Ticks before 0 fall in
    the first meter's bars continued backwards.
    """
    t = math.floor(tick)
    sig = score.time_signature_at(t)
    bar_ticks = max(1, sig.bar_ticks(score.ppq))  # a bar shorter than a tick counts as one
    start = sig.tick + (t - sig.tick) // bar_ticks * bar_ticks
    next_sig = next((s.tick for s in score.time_signatures if s.tick > t), None)
    end = start + bar_ticks if next_sig is None else min(start + bar_ticks, next_sig)
    return start, end


def _line(origin: int, index: int, step: Step) -> int:
    """Grid line ``index`` counted from ``origin``. Units: ticks."""
    if isinstance(step, int):
        return origin + index * step
    return origin + round(index * step)  # thirds of a tick: never a tie to round


def _index_at_or_before(tick: float, step: Step, origin: int) -> int:
    """The index of the last grid line (from ``origin``) at or before ``tick``."""
    if isinstance(step, int):
        return math.floor((tick - origin) / step)
    index = math.floor(Fraction(tick - origin) / step)
    # lines are rounded to whole ticks, so the exact quotient can be one off either way
    while _line(origin, index, step) > tick:
        index -= 1
    while _line(origin, index + 1, step) <= tick:
        index += 1
    return index


def snap_floor(tick: float, step_ticks: Step, bar: tuple[int, int] | None = None) -> int:
    """The grid line at or before ``tick``. Units: ticks.

    Grid lines run every ``step_ticks`` from the start of ``bar`` (``(start_tick, end_tick)``
    containing ``tick``, see :func:`bar_at`), or from tick 0 when ``bar`` is None.
    """
    origin = 0 if bar is None else bar[0]
    return _line(origin, _index_at_or_before(tick, step_ticks, origin), step_ticks)


def _line_after(below: int, step_ticks: Step, bar: tuple[int, int] | None) -> int:
    """The grid line after the line ``below``: one step on, but never past the next
    downbeat (``bar[1]``)."""
    origin = 0 if bar is None else bar[0]
    above = _line(origin, _index_at_or_before(below, step_ticks, origin) + 1, step_ticks)
    return above if bar is None else min(above, bar[1])


def snap_nearest(tick: float, step_ticks: Step, bar: tuple[int, int] | None = None) -> int:
    """The grid line nearest to ``tick`` (halves round up). Units: ticks.

    With ``bar``, the next bar's downbeat (``bar[1]``) is a grid line too, even where the bar
    is not a whole number of steps long.
    """
    below = snap_floor(tick, step_ticks, bar)
    above = _line_after(below, step_ticks, bar)
    return above if tick - below >= above - tick else below


def snap_ceil(tick: float, step_ticks: Step, bar: tuple[int, int] | None = None) -> int:
    """The grid line at or after ``tick`` (with ``bar``, at most its end). Units: ticks."""
    below = snap_floor(tick, step_ticks, bar)
    if below == tick:
        return below
    return _line_after(below, step_ticks, bar)


def quantized(note: Note, step_ticks: Step, bar: tuple[int, int] | None = None) -> Note:
    """``note`` with start and length moved to the nearest grid lines (length >= one step).

    ``bar`` is the bar containing the note's start (see :func:`bar_at`): its start is moved
    to the nearest line of that bar's grid. The length is a span, rounded to whole steps (at
    least one), so that it ends on a line of the same grid.
    """
    start = max(0, snap_nearest(note.start_tick, step_ticks, bar))
    if isinstance(step_ticks, int):  # whole ticks: integers only (a fifth of the time)
        steps = max(1, (2 * note.duration_ticks + step_ticks) // (2 * step_ticks))
    else:
        steps = max(1, math.floor(Fraction(note.duration_ticks) / step_ticks + Fraction(1, 2)))
    # the lines counted from the start's own bar (from the start itself where it snapped to
    # the next downbeat, or without a bar)
    origin = bar[0] if bar is not None and start < bar[1] else start
    index = _index_at_or_before(start, step_ticks, origin)
    duration = _line(origin, index + steps, step_ticks) - start
    if start == note.start_tick and duration == note.duration_ticks:
        return note  # already on the grid
    return replace(note, start_tick=start, duration_ticks=duration)


def next_grid_line(score: Score, tick: int, step_ticks: Step) -> int:
    """The first grid line after ``tick`` (the grid of its bar, the next downbeat included).
    Units: ticks."""
    after = int(tick) + 1
    return snap_ceil(after, step_ticks, bar_at(score, after))


def previous_grid_line(score: Score, tick: int, step_ticks: Step) -> int:
    """The last grid line before ``tick`` (the grid of its bar; a downbeat's is the last line
    of the bar before). Units: ticks."""
    before = int(tick) - 1
    return snap_floor(before, step_ticks, bar_at(score, before))


def grid_lines_in_bar(bar: tuple[int, int], step_ticks: Step, start_tick: int,
                      end_tick: int) -> Sequence[int]:
    """The grid lines of ``bar`` from the last one at or before ``start_tick`` up to
    ``end_tick`` (inclusive) and before the bar's end. Units: ticks."""
    bar_start, bar_end = bar
    stop = min(bar_end, end_tick + 1)
    if isinstance(step_ticks, int):
        first = max(bar_start, snap_floor(start_tick, step_ticks, bar))
        return range(first, stop, step_ticks)
    index = max(0, _index_at_or_before(start_tick, step_ticks, bar_start))
    lines = []
    while (tick := _line(bar_start, index, step_ticks)) < stop:
        lines.append(tick)
        index += 1
    return lines


# ---- the view transform ------------------------------------------------------------------
class HitPart(Enum):
    """Which part of a note the pointer is over."""

    BODY = "body"
    RIGHT_EDGE = "right_edge"
    LEFT_EDGE = "left_edge"


@dataclass(frozen=True)
class Hit:
    """A note under the pointer and the part of it that was hit."""

    note: Note
    part: HitPart


@dataclass(frozen=True)
class RollGeometry:
    """Where ticks and pitches land in the roll widget.

    Units: ``pixels_per_tick`` px/tick; ``row_height_px`` px per semitone; scroll offsets,
    ``width_px`` and ``height_px`` in pixels.
    """

    pixels_per_tick: float = 0.1
    row_height_px: float = 12.0
    scroll_x_px: float = 0.0
    scroll_y_px: float = 0.0
    width_px: int = 800
    height_px: int = 600

    # ---- transforms ------------------------------------------------------------------
    def tick_to_x(self, tick: float) -> float:
        """The x of a tick. Units: ticks -> px."""
        return tick * self.pixels_per_tick - self.scroll_x_px

    def x_to_tick(self, x_px: float) -> float:
        """The (fractional) tick at x. Units: px -> ticks."""
        return (x_px + self.scroll_x_px) / self.pixels_per_tick

    def pitch_to_y(self, pitch: int) -> float:
        """The top edge of a pitch's row. Units: MIDI pitch -> px."""
        return (MIDI_PITCH_MAX - pitch) * self.row_height_px - self.scroll_y_px

    def y_to_pitch(self, y_px: float) -> int:
        """The pitch whose row contains y, clamped to 0-127."""
        row = math.floor((y_px + self.scroll_y_px) / self.row_height_px)
        return min(MIDI_PITCH_MAX, max(0, MIDI_PITCH_MAX - row))

    def is_below_rows(self, y_px: float) -> bool:
        """Whether y lies in the blank strip under the lowest row (pitch 0).

        The strip shows when the 128 rows are shorter than the widget (zoomed far out); no
        pitch is there, so a click there must not land on pitch 0.
        """
        return y_px >= self.content_height_px - self.scroll_y_px

    def note_rect(self, note: Note) -> tuple[float, float, float, float]:
        """The note's rectangle as ``(x, y, width, height)``. Units: px."""
        x = self.tick_to_x(note.start_tick)
        return (x, self.pitch_to_y(note.pitch),
                note.duration_ticks * self.pixels_per_tick, self.row_height_px)

    # ---- extents ---------------------------------------------------------------------
    @property
    def content_height_px(self) -> float:
        """Height of all 128 rows. Units: px."""
        return PITCH_COUNT * self.row_height_px

    def visible_tick_range(self) -> tuple[int, int]:
        """Ticks ``[start, end)`` covering the visible width (rounded outwards)."""
        start = math.floor(self.x_to_tick(0))
        end = math.ceil(self.x_to_tick(self.width_px)) + 1
        return max(0, start), max(0, end)

    def visible_pitch_range(self) -> tuple[int, int]:
        """Pitches ``[low, high)`` with a row at least partly visible."""
        high = self.y_to_pitch(0) + 1
        low = self.y_to_pitch(self.height_px - 1)
        return low, high

    def scrolled_to(self, scroll_x_px: float, scroll_y_px: float,
                    content_width_px: float | None = None) -> RollGeometry:
        """The same zoom scrolled elsewhere (clamped to the content)."""
        max_y = max(0.0, self.content_height_px - self.height_px)
        x = max(0.0, scroll_x_px)
        if content_width_px is not None:
            x = min(x, max(0.0, content_width_px - self.width_px))
        return replace(self, scroll_x_px=x, scroll_y_px=min(max_y, max(0.0, scroll_y_px)))

    def resized(self, width_px: int, height_px: int) -> RollGeometry:
        """The same view in a widget of another size (vertical scroll kept in range)."""
        return replace(self, width_px=width_px, height_px=height_px).scrolled_to(
            self.scroll_x_px, self.scroll_y_px)

    # ---- zoom ------------------------------------------------------------------------
    def zoomed_x(self, factor: float, anchor_x_px: float) -> RollGeometry:
        """Horizontal zoom by ``factor`` keeping the tick under ``anchor_x_px`` in place."""
        anchor_tick = self.x_to_tick(anchor_x_px)
        ppt = min(MAX_PIXELS_PER_TICK, max(MIN_PIXELS_PER_TICK, self.pixels_per_tick * factor))
        scroll = max(0.0, anchor_tick * ppt - anchor_x_px)
        return replace(self, pixels_per_tick=ppt, scroll_x_px=scroll)

    def zoomed_y(self, factor: float, anchor_y_px: float) -> RollGeometry:
        """Vertical zoom by ``factor`` keeping the pitch position under ``anchor_y_px`` in place."""
        anchor_row = (anchor_y_px + self.scroll_y_px) / self.row_height_px
        row_h = min(MAX_ROW_HEIGHT_PX, max(MIN_ROW_HEIGHT_PX, self.row_height_px * factor))
        zoomed = replace(self, row_height_px=row_h)
        return zoomed.scrolled_to(self.scroll_x_px, anchor_row * row_h - anchor_y_px)

    def fitted(self, start_tick: int, end_tick: int, pitch_low: int, pitch_high: int,
               margin_rows: int = 2) -> RollGeometry:
        """Zoom and scroll so ticks ``[start, end)`` and pitches ``[low, high]`` fill the view."""
        span_ticks = max(1, end_tick - start_tick)
        ppt = min(MAX_PIXELS_PER_TICK,
                  max(MIN_PIXELS_PER_TICK, self.width_px / span_ticks))
        rows = max(1, pitch_high - pitch_low + 1 + 2 * margin_rows)
        row_h = min(MAX_ROW_HEIGHT_PX, max(MIN_ROW_HEIGHT_PX, self.height_px / rows))
        fitted = replace(self, pixels_per_tick=ppt, row_height_px=row_h)
        top_pitch = min(MIDI_PITCH_MAX, pitch_high + margin_rows)
        return fitted.scrolled_to(start_tick * ppt, (MIDI_PITCH_MAX - top_pitch) * row_h)

    # ---- hit testing -----------------------------------------------------------------
    def hit_test(self, notes: Iterable[Note], x_px: float, y_px: float,
                 edge_px: float = RESIZE_EDGE_PX) -> Hit | None:
        """The note under ``(x, y)`` and whether the pointer is on its right or left edge.

        The topmost (latest drawn, i.e. last in ``notes``) note wins. The right edge zone is
        ``edge_px`` wide but never more than a third of a short note; the left edge zone is
        half as wide, and only a note wider than four right zones has one (a short note is
        grabbed by its body or its right edge). Nothing is hit in the blank strip under the lowest row.
        """
        if self.is_below_rows(y_px):
            return None
        pitch = self.y_to_pitch(y_px)
        found: Hit | None = None
        for note in notes:
            if note.pitch != pitch:
                continue
            x, _y, w, _h = self.note_rect(note)
            if x <= x_px <= x + max(w, 2.0):
                edge = min(edge_px, max(w, 2.0) / 3)
                if x_px >= x + max(w, 2.0) - edge:
                    part = HitPart.RIGHT_EDGE
                elif w > 4 * edge_px and x_px <= x + edge_px / 2:
                    part = HitPart.LEFT_EDGE
                else:
                    part = HitPart.BODY
                found = Hit(note, part)
        return found

    def notes_in_rect(self, notes: Iterable[Note], x0_px: float, y0_px: float,
                      x1_px: float, y1_px: float) -> list[Note]:
        """Notes whose rectangle meets the rectangle spanned by two corners."""
        left, right = min(x0_px, x1_px), max(x0_px, x1_px)
        top, bottom = min(y0_px, y1_px), max(y0_px, y1_px)
        hits = []
        for note in notes:
            x, y, w, h = self.note_rect(note)
            if x <= right and x + w >= left and y <= bottom and y + h >= top:
                hits.append(note)
        return hits


def follow_scroll_x(geometry: RollGeometry, playhead_tick: float,
                    lead_fraction: float = 0.1) -> float | None:
    """Where to scroll so the playhead stays in view, or None when it is already in view.

    When the playhead leaves the visible width (or enters its last 5 %), the view pages so the
    playhead sits ``lead_fraction`` of the width from the left edge.
    """
    x = geometry.tick_to_x(playhead_tick)
    if 0 <= x <= geometry.width_px * 0.95:
        return None
    return max(0.0, playhead_tick * geometry.pixels_per_tick - geometry.width_px * lead_fraction)


def velocity_to_height(velocity: int, lane_height_px: float) -> float:
    """Bar height for a velocity in a lane. Units: velocity 1-127 -> px."""
    return lane_height_px * velocity / 127


def height_to_velocity(y_px: float, lane_height_px: float) -> int:
    """The velocity for a pointer at ``y_px`` in a lane (top = 127, bottom = 1)."""
    if lane_height_px <= 0:
        return 1
    return min(127, max(1, round(127 * (lane_height_px - y_px) / lane_height_px)))

"""Editing tools of the piano roll as strategy objects (Qt-free).

The roll view forwards pointer events (widget pixels plus :class:`Modifiers`) to the current
tool. A tool never changes the score while a gesture is in progress: it shows what would
happen through an :class:`Overlay` (ghost notes, hidden originals, a rubber band) and pushes
exactly one edit operation when the gesture ends, so one gesture is one undo step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol

from composer_app.core.edits import EditOperation, ReplaceNotes, add_notes, remove_notes
from composer_app.core.note import MIDI_PITCH_MAX, Note, main_part, part_near
from composer_app.core.score import DEFAULT_PPQ, Score
from composer_app.gui.pianoroll.geometry import (
    HitPart,
    RollGeometry,
    Step,
    bar_at,
    next_grid_line,
    snap_ceil,
    snap_floor,
    snap_nearest,
)

DRAG_THRESHOLD_PX = 3.0
SLIP_PX = 8.0  # a Draw drag shorter than this is a click where the grid is too fine to see


@dataclass(frozen=True)
class Modifiers:
    """Keyboard modifiers held during a pointer event."""

    shift: bool = False
    ctrl: bool = False
    alt: bool = False


@dataclass(frozen=True)
class Overlay:
    """What a gesture in progress shows instead of the score.

    ``hidden`` notes are not drawn; ``ghosts`` are drawn as if selected; ``band`` is a
    rubber band rectangle ``(x0, y0, x1, y1)`` in pixels.
    """

    hidden: frozenset[Note] = frozenset()
    ghosts: tuple[Note, ...] = ()
    band: tuple[float, float, float, float] | None = None


class ToolHost(Protocol):
    """What a tool may use: the view's geometry, the score, selection, undo and sound."""

    @property
    def geometry(self) -> RollGeometry: ...

    @property
    def score(self) -> Score: ...

    @property
    def selection(self) -> frozenset[Note]: ...

    @property
    def snap_step_ticks(self) -> Step: ...

    def set_selection(self, notes: Iterable[Note]) -> None: ...

    def push(self, op: EditOperation) -> None: ...

    def preview_note(self, pitch: int, velocity: int, channel: int = 0, tick: int = -1) -> None:
        ...

    def set_overlay(self, overlay: Overlay | None) -> None: ...

    def set_cursor(self, shape: str) -> None: ...


def visible_notes(host: ToolHost) -> list[Note]:
    """The user's notes inside the visible area (what a hit test needs to look at).

    Generated (pending) notes are not editable: they are a proposal, kept or dropped as a
    whole by Accept or Discard, and outside the undo history until then.
    """
    start, end = host.geometry.visible_tick_range()
    low, high = host.geometry.visible_pitch_range()
    return [n for n in host.score.notes_in_range(start, end, low, high) if not n.generated]


def _step(host: ToolHost, mods: Modifiers) -> Step:
    """The snapping step: the grid, or one tick while Alt is held."""
    return 1 if mods.alt else host.snap_step_ticks


# ---- move and resize (shared by the select and draw tools) -------------------------------
@dataclass
class _MoveDrag:
    """Dragging the selected notes by the body of ``anchor``."""

    anchor: Note
    notes: tuple[Note, ...]
    press_x: float
    press_y: float
    started: bool = False
    delta_ticks: int = 0
    delta_pitch: int = 0
    # A plain click (no drag) on a note of a larger selection selects just that note.
    collapse_on_click: bool = False
    # Ctrl held: the drag copies the notes (the originals stay); a plain click on a note that
    # was selected takes it out of the selection (Ctrl+click toggles).
    copy: bool = False
    deselect_on_click: bool = False
    # (earliest start, lowest pitch, highest pitch, the notes hidden while dragging), worked
    # out at the first move, not at every one (a 20k-note selection)
    _group: tuple[int, int, int, frozenset[Note]] | None = None

    def update(self, host: ToolHost, x: float, y: float, mods: Modifiers) -> None:
        if not self.started and abs(x - self.press_x) + abs(y - self.press_y) < DRAG_THRESHOLD_PX:
            return
        self.started = True
        if self._group is None:
            self._group = (
                min(n.start_tick for n in self.notes),
                min(n.pitch for n in self.notes),
                max(n.pitch for n in self.notes),
                frozenset() if self.copy else frozenset(self.notes),
            )
        earliest, lowest, highest, hidden = self._group
        geo = host.geometry
        raw_ticks = geo.x_to_tick(x) - geo.x_to_tick(self.press_x)
        # Snap the anchor's new start to the grid, not the raw distance, so off-grid notes
        # land on the grid (as DAWs do); Alt moves freely.
        target = self.anchor.start_tick + raw_ticks
        new_start = snap_nearest(target, _step(host, mods), bar_at(host.score, target))
        delta_ticks = new_start - self.anchor.start_tick
        delta_pitch = geo.y_to_pitch(y) - geo.y_to_pitch(self.press_y)
        # Keep the whole group's shape: clamp the deltas so no note leaves the legal range.
        delta_ticks = max(delta_ticks, -earliest)
        delta_pitch = max(-lowest, min(MIDI_PITCH_MAX - highest, delta_pitch))
        if delta_pitch != self.delta_pitch:
            host.preview_note(self.anchor.pitch + delta_pitch, self.anchor.velocity,
                              self.anchor.channel, self.anchor.start_tick + delta_ticks)
        self.delta_ticks, self.delta_pitch = delta_ticks, delta_pitch
        # the ghosts are only those that land in view (the moved notes are made on release)
        start, end = geo.visible_tick_range()
        ghosts = tuple(n.moved(delta_ticks, delta_pitch) for n in self.notes
                       if n.start_tick + delta_ticks < end and n.end_tick + delta_ticks > start)
        host.set_overlay(Overlay(hidden=hidden, ghosts=ghosts))

    def moved(self) -> tuple[Note, ...]:
        return tuple(n.moved(self.delta_ticks, self.delta_pitch) for n in self.notes)

    def finish(self, host: ToolHost) -> None:
        host.set_overlay(None)
        if self.started and (self.delta_ticks or self.delta_pitch):
            if self.copy:
                host.push(add_notes(self.moved(), "Copy notes"))
            else:
                host.push(ReplaceNotes(self.notes, self.moved(), "Move notes"))
        elif not self.started and self.deselect_on_click:
            host.set_selection(host.selection - {self.anchor})
        elif not self.started and self.collapse_on_click:
            host.set_selection({self.anchor})
        elif not self.started:
            host.set_selection(host.selection)  # a click on a note chooses it (a seed region)


@dataclass
class _ResizeDrag:
    """Dragging the right edge of ``anchor``; every selected note changes by the same amount.

    As with a move, nothing changes until the pointer has moved ``DRAG_THRESHOLD_PX``: a plain
    click on the edge only selects (it would otherwise snap an off-grid end to the grid).
    """

    anchor: Note
    notes: tuple[Note, ...]
    press_x: float
    press_y: float
    started: bool = False
    delta_ticks: int = 0

    def update(self, host: ToolHost, x: float, y: float, mods: Modifiers) -> None:
        if not self.started and abs(x - self.press_x) + abs(y - self.press_y) < DRAG_THRESHOLD_PX:
            return
        self.started = True
        geo = host.geometry
        moved_ticks = geo.x_to_tick(x) - geo.x_to_tick(self.press_x)
        self.delta_ticks = self._delta(host, moved_ticks, _step(host, mods))
        host.set_overlay(Overlay(hidden=frozenset(self.notes), ghosts=self.resized()))

    def _delta(self, host: ToolHost, moved_ticks: float, step: Step) -> int:
        """How far every end moves: the anchor's end to the nearest grid line, at least a
        grid step after its start; no note shorter than one tick."""
        raw_end = self.anchor.end_tick + moved_ticks
        new_end = max(self.anchor.start_tick + math.ceil(step),
                      snap_nearest(raw_end, step, bar_at(host.score, raw_end)))
        return max(new_end - self.anchor.end_tick, 1 - min(n.duration_ticks for n in self.notes))

    def resized(self) -> tuple[Note, ...]:
        return tuple(self._resize(n) for n in self.notes)

    def resized_anchor(self) -> Note:
        """The pressed note as the drag leaves it."""
        return self._resize(self.anchor)

    def _resize(self, note: Note) -> Note:
        return note.with_duration(note.duration_ticks + self.delta_ticks)

    def finish(self, host: ToolHost) -> None:
        host.set_overlay(None)
        if self.started and self.delta_ticks:
            host.push(ReplaceNotes(self.notes, self.resized(), "Resize notes"))


class _LeftResizeDrag(_ResizeDrag):
    """Dragging the left edge of ``anchor``: every selected note's start moves by the same
    amount and its end stays (as in every DAW's roll)."""

    def _delta(self, host: ToolHost, moved_ticks: float, step: Step) -> int:
        """How far every start moves: the anchor's start to the nearest grid line, at most a
        grid step before its end; no note before tick 0 or shorter than one tick."""
        raw_start = self.anchor.start_tick + moved_ticks
        new_start = min(self.anchor.end_tick - math.ceil(step),
                        snap_nearest(raw_start, step, bar_at(host.score, raw_start)))
        delta = max(new_start - self.anchor.start_tick, -min(n.start_tick for n in self.notes))
        return min(delta, min(n.duration_ticks for n in self.notes) - 1)

    def _resize(self, note: Note) -> Note:
        return note.moved(self.delta_ticks, 0).with_duration(note.duration_ticks - self.delta_ticks)


def _start_note_drag(host: ToolHost, note: Note, part: HitPart, x: float, y: float,
                     mods: Modifiers) -> _MoveDrag | _ResizeDrag:
    """Select as a DAW does on pressing a note, then begin moving or resizing the selection.

    Ctrl+drag copies the selection (the note pressed joins it); a Ctrl+click without a drag
    toggles the note in the selection."""
    selection = host.selection
    collapse = not (mods.ctrl or mods.shift) and note in selection and len(selection) > 1
    deselect = False
    if mods.ctrl:
        deselect = note in selection  # decided on release: a drag copies it instead
        selection = selection | {note}
    elif mods.shift:
        selection = selection | {note}
    elif note not in selection:
        selection = frozenset({note})
    if selection != host.selection:
        # (pressing a note already selected, to drag it, is no new choice: the note just
        # drawn stays a note an edit selected, not a seed region the user chose)
        host.set_selection(selection)
    notes = tuple(host.score.copies_of(selection))  # identical stacked copies go along
    if part is HitPart.RIGHT_EDGE and not mods.ctrl:
        return _ResizeDrag(note, notes, x, y)
    if part is HitPart.LEFT_EDGE and not mods.ctrl:
        return _LeftResizeDrag(note, notes, x, y)
    # grabbing a note sounds it (in its own part), as in MidiEditor
    host.preview_note(note.pitch, note.velocity, note.channel, note.start_tick)
    return _MoveDrag(note, notes, x, y, collapse_on_click=collapse, copy=mods.ctrl,
                     deselect_on_click=deselect)


class Tool:
    """A pointer strategy. Subclasses override the event methods they care about."""

    name = "tool"

    def press(self, host: ToolHost, x: float, y: float, mods: Modifiers) -> None:
        """Left button pressed at ``(x, y)``."""

    def move(self, host: ToolHost, x: float, y: float, mods: Modifiers) -> None:
        """Pointer moved with the left button held."""

    def release(self, host: ToolHost, x: float, y: float, mods: Modifiers) -> None:
        """Left button released."""

    def hover(self, host: ToolHost, x: float, y: float, mods: Modifiers) -> None:
        """Pointer moved with no button held: choose the cursor."""
        hit = host.geometry.hit_test(visible_notes(host), x, y)
        if hit is None:
            host.set_cursor(self.idle_cursor)
        else:
            edges = (HitPart.RIGHT_EDGE, HitPart.LEFT_EDGE)
            host.set_cursor("resize" if hit.part in edges else "move")

    def cancel(self, host: ToolHost) -> None:
        """Abandon a gesture in progress (Escape, focus loss)."""
        host.set_overlay(None)

    def grid_changed(self) -> None:
        """The snapping grid changed (the Draw tool forgets its last length)."""

    idle_cursor = "arrow"


@dataclass
class _BandDrag:
    """A rubber band from a press on empty space."""

    x0: float
    y0: float
    base: frozenset[Note]
    mods: Modifiers
    x1: float = 0.0
    y1: float = 0.0

    def update(self, host: ToolHost, x: float, y: float) -> None:
        self.x1, self.y1 = x, y
        host.set_overlay(Overlay(band=(self.x0, self.y0, x, y)))
        host.set_selection(self.selection(host))

    def selection(self, host: ToolHost) -> frozenset[Note]:
        inside = frozenset(host.geometry.notes_in_rect(
            visible_notes(host), self.x0, self.y0, self.x1, self.y1))
        if self.mods.ctrl:
            return self.base ^ inside
        if self.mods.shift:
            return self.base | inside
        return inside


class SelectTool(Tool):
    """Click selects (Shift adds, Ctrl toggles), drag on empty space draws a rubber band,
    drag a note body moves the selection, drag a right edge resizes it."""

    name = "select"

    def __init__(self) -> None:
        self._drag: _MoveDrag | _ResizeDrag | _BandDrag | None = None

    def press(self, host: ToolHost, x: float, y: float, mods: Modifiers) -> None:
        hit = host.geometry.hit_test(visible_notes(host), x, y)
        if hit is not None:
            self._drag = _start_note_drag(host, hit.note, hit.part, x, y, mods)
            return
        base = host.selection if (mods.shift or mods.ctrl) else frozenset()
        self._drag = _BandDrag(x, y, base, mods, x, y)
        host.set_selection(base)

    def move(self, host: ToolHost, x: float, y: float, mods: Modifiers) -> None:
        if isinstance(self._drag, _BandDrag):
            self._drag.update(host, x, y)
        elif self._drag is not None:
            self._drag.update(host, x, y, mods)

    def release(self, host: ToolHost, x: float, y: float, mods: Modifiers) -> None:
        drag, self._drag = self._drag, None
        if isinstance(drag, _BandDrag):
            drag.update(host, x, y)
            host.set_overlay(None)
        elif drag is not None:
            drag.update(host, x, y, mods)
            drag.finish(host)

    def cancel(self, host: ToolHost) -> None:
        self._drag = None
        host.set_overlay(None)


@dataclass
class _NewNoteDrag:
    """A note being drawn: pressed at ``start_tick``; dragging right sets its length."""

    note: Note
    press_tick: float
    cell_ticks: int  # the shortest it may be: the grid cell it was drawn in (ticks)
    clicked: Note | None = None  # the note a click (no drag) draws

    def __post_init__(self) -> None:
        if self.clicked is None:
            self.clicked = self.note


def _part_for_new_note(score: Score, tick: int, pitch: int) -> tuple[int, int]:
    """The ``(channel, track)`` a note drawn at ``tick`` and ``pitch`` goes in: that of the
    note nearest in pitch within a bar either side (a melody note drawn among the melody goes
    in the melody's track, not the chords'), else the part most notes are in."""
    bar_ticks = score.time_signature_at(tick).bar_ticks(score.ppq)
    near = score.notes_in_range(max(0, tick - bar_ticks), tick + bar_ticks)
    return part_near(near, tick, pitch) or main_part(score.notes)


class DrawTool(Tool):
    """Click on empty space adds a note at the snapped position, as long as the last note
    drawn or resized with this tool (one grid cell long at first, and after the grid
    changes); dragging sets its length. Pressing an existing note moves or resizes it, as
    in the select tool."""

    name = "draw"
    idle_cursor = "draw"

    def __init__(self, velocity: int = 100) -> None:
        self.velocity = velocity
        self._drag: _MoveDrag | _ResizeDrag | _NewNoteDrag | None = None
        # the length a click draws, once a note was drawn or resized (None: one grid cell)
        self._last_length: int | None = None

    def press(self, host: ToolHost, x: float, y: float, mods: Modifiers) -> None:
        geo = host.geometry
        hit = geo.hit_test(visible_notes(host), x, y)
        if hit is not None:
            self._drag = _start_note_drag(host, hit.note, hit.part, x, y, mods)
            return
        step = host.snap_step_ticks
        tick = geo.x_to_tick(x)
        start = max(0, round(tick) if mods.alt
                    else snap_floor(tick, step, bar_at(host.score, tick)))
        # one grid cell long: up to the next line, which may be a bar line nearer than a step
        cell = math.ceil(step) if mods.alt else next_grid_line(host.score, start, step) - start
        length = cell
        if self._last_length is not None:
            length = self._last_length  # the length last drawn or resized on this grid
        pitch = geo.y_to_pitch(y)
        channel, track = _part_for_new_note(host.score, start, pitch)
        note = Note(start, pitch, length, self.velocity, channel, track=track)
        self._drag = _NewNoteDrag(note, tick, cell)
        host.set_overlay(Overlay(ghosts=(note,)))
        host.preview_note(note.pitch, note.velocity, note.channel, note.start_tick)

    def move(self, host: ToolHost, x: float, y: float, mods: Modifiers) -> None:
        if isinstance(self._drag, _NewNoteDrag):
            note = self._drag.note
            step = host.snap_step_ticks
            end_tick = host.geometry.x_to_tick(x)
            end = round(end_tick) if mods.alt \
                else snap_ceil(end_tick, step, bar_at(host.score, end_tick))
            shortest = 1 if mods.alt else self._drag.cell_ticks
            self._drag.note = note.with_duration(max(end - note.start_tick, shortest))
            host.set_overlay(Overlay(ghosts=(self._drag.note,)))
        elif self._drag is not None:
            self._drag.update(host, x, y, mods)

    def release(self, host: ToolHost, x: float, y: float, mods: Modifiers) -> None:
        drag, self._drag = self._drag, None
        if isinstance(drag, _NewNoteDrag):
            ppt = host.geometry.pixels_per_tick
            # zoomed so far out that the grid is not drawn (cells under 5 px), a slip of a few
            # pixels is bars long: it takes a longer drag to set the length
            threshold = DRAG_THRESHOLD_PX if drag.cell_ticks * ppt >= 5 else SLIP_PX
            if abs(host.geometry.x_to_tick(x) - drag.press_tick) * ppt >= threshold:
                self._drag = drag
                self.move(host, x, y, mods)
                self._drag = None
                self._last_length = drag.note.duration_ticks
            else:
                assert drag.clicked is not None
                drag.note = drag.clicked  # a click, though the pointer moved a little
            host.set_overlay(None)
            host.push(add_notes([drag.note], "Draw note"))
        elif drag is not None:
            drag.update(host, x, y, mods)
            drag.finish(host)
            if isinstance(drag, _ResizeDrag) and drag.started and drag.delta_ticks:
                self._last_length = drag.resized_anchor().duration_ticks

    def grid_changed(self) -> None:
        self._last_length = None  # a click draws one cell of the new grid

    def cancel(self, host: ToolHost) -> None:
        self._drag = None
        host.set_overlay(None)


class EraseTool(Tool):
    """Click or drag over notes to delete them; the whole stroke is one undo step.

    The stroke is followed in steps of at most ``STROKE_STEP_PX`` between pointer events, so
    a fast drag still erases every note it crosses.
    """

    name = "erase"
    idle_cursor = "erase"
    STROKE_STEP_PX = 2.0

    def __init__(self) -> None:
        self._erased: list[Note] | None = None
        self._last: tuple[float, float] = (0.0, 0.0)

    def press(self, host: ToolHost, x: float, y: float, mods: Modifiers) -> None:
        self._erased = []
        self._last = (x, y)
        self._erase_at(host, x, y)

    def move(self, host: ToolHost, x: float, y: float, mods: Modifiers) -> None:
        if self._erased is None:
            return
        x0, y0 = self._last
        steps = max(1, int(max(abs(x - x0), abs(y - y0)) / self.STROKE_STEP_PX))
        for i in range(1, steps + 1):
            self._erase_at(host, x0 + (x - x0) * i / steps, y0 + (y - y0) * i / steps)
        self._last = (x, y)

    def _erase_at(self, host: ToolHost, x: float, y: float) -> None:
        assert self._erased is not None
        hidden = set(self._erased)
        remaining = [n for n in visible_notes(host) if n not in hidden]
        hit = host.geometry.hit_test(remaining, x, y, edge_px=0.0)
        if hit is not None:
            # identical copies stacked on one another (pasted twice) look like one note and
            # are hidden as one: erase them all, or one would come back on release
            self._erased.extend(n for n in remaining if n == hit.note)
            host.set_overlay(Overlay(hidden=frozenset(self._erased)))

    def release(self, host: ToolHost, x: float, y: float, mods: Modifiers) -> None:
        if self._erased is None:
            return
        self.move(host, x, y, mods)
        erased, self._erased = self._erased, None
        host.set_overlay(None)
        if erased:
            host.push(remove_notes(erased, "Erase notes"))

    def hover(self, host: ToolHost, x: float, y: float, mods: Modifiers) -> None:
        host.set_cursor(self.idle_cursor)

    def cancel(self, host: ToolHost) -> None:
        self._erased = None
        host.set_overlay(None)


TOOL_NAMES = ("draw", "select", "erase")


def make_tool(name: str) -> Tool:
    """The tool called ``name`` (one of :data:`TOOL_NAMES`); ValueError otherwise."""
    tools = {"draw": DrawTool, "select": SelectTool, "erase": EraseTool}
    if name not in tools:
        raise ValueError(f"unknown tool {name!r}; expected one of {', '.join(TOOL_NAMES)}")
    return tools[name]()


# ---- selection edits (keyboard and menu commands) ----------------------------------------
@dataclass(frozen=True)
class Clip:
    """Copied notes, stored relative to the earliest start.

    Units: ticks at ``ppq`` ticks per quarter note (the copied score's resolution).
    """

    notes: tuple[Note, ...] = field(default_factory=tuple)
    span_ticks: int = 0
    ppq: int = DEFAULT_PPQ


def make_clip(notes: Iterable[Note], ppq: int = DEFAULT_PPQ) -> Clip:
    """A clip of ``notes`` with starts relative to the earliest one (generated flag kept off).

    Units: ticks; ``ppq`` is the resolution of the score the notes come from.
    """
    notes = sorted(notes)
    if not notes:
        return Clip(ppq=ppq)
    origin = min(n.start_tick for n in notes)
    span = max(n.end_tick for n in notes) - origin
    return Clip(tuple(replace(n, start_tick=n.start_tick - origin, generated=False)
                      for n in notes), span, ppq)


def _rescaled_ticks(ticks: int, to_ppq: int, from_ppq: int) -> int:
    """``ticks`` at ``from_ppq`` expressed at ``to_ppq``, rounded half up. Units: ticks."""
    # Integer arithmetic: ticks * to / from, plus half a tick before flooring.
    return (2 * ticks * to_ppq + from_ppq) // (2 * from_ppq)


def placed(clip: Clip, at_tick: int, ppq: int | None = None) -> tuple[Note, ...]:
    """The clip's notes starting at ``at_tick`` in a score of ``ppq`` ticks per quarter.

    Units: ticks. When ``ppq`` differs from the clip's, starts and lengths are rescaled by
    ``ppq / clip.ppq`` so the music keeps its note values (each note stays >= 1 tick long);
    None means the clip's own resolution.
    """
    at_tick = max(0, at_tick)
    if ppq is None or ppq == clip.ppq:
        return tuple(n.moved(at_tick, 0) for n in clip.notes)
    return tuple(replace(n, start_tick=at_tick + _rescaled_ticks(n.start_tick, ppq, clip.ppq),
                         duration_ticks=max(1, _rescaled_ticks(n.duration_ticks, ppq, clip.ppq)))
                 for n in clip.notes)


def transpose_delta(notes: Iterable[Note], semitones: int) -> int:
    """``semitones`` reduced so that no note leaves MIDI 0-127."""
    notes = list(notes)
    if not notes:
        return 0
    low = min(n.pitch for n in notes)
    high = max(n.pitch for n in notes)
    return max(-low, min(MIDI_PITCH_MAX - high, semitones))


def shift_delta(notes: Iterable[Note], delta_ticks: int) -> int:
    """``delta_ticks`` reduced so that no note starts before tick 0."""
    notes = list(notes)
    if not notes:
        return 0
    return max(-min(n.start_tick for n in notes), delta_ticks)


def duplicate_offset(notes: Iterable[Note], step_ticks: Step, score: Score | None = None) -> int:
    """How far a duplicate goes: from the grid line at or before the selection's start to the
    one at or after its end, so the copy follows it on the grid and keeps each note's place
    against it. With ``score``, the grid of each bar (see :func:`bar_at`); without, lines from
    tick 0. At least one step. Units: ticks."""
    notes = list(notes)
    if not notes:
        return 0
    start = min(n.start_tick for n in notes)
    end = max(n.end_tick for n in notes)
    if score is None:
        return max(math.ceil(step_ticks), snap_ceil(end - start, step_ticks))
    anchor = snap_floor(start, step_ticks, bar_at(score, start))
    return snap_ceil(end, step_ticks, bar_at(score, end)) - anchor  # > 0: end > start

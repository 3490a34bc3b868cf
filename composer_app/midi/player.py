"""A real-time MIDI player: one dedicated thread sends a score, or a growing stream, on time.

Design (after Frescobaldi's pure player with a thin Qt adapter):

* Public methods only change state under one lock and wake the thread through a condition
  variable; the thread sends every scheduled message and calls the callbacks. Stopping,
  seeking and panicking silence synchronously (under the same lock) so that, when they
  return, nothing sounds.
* Events live in a heap keyed by ``(tick, kind: note-off before note-on, arrival order)`` and are
  turned into monotonic times through the tempo map and an *anchor* ``(time_s, tick)``.
  Re-anchoring makes tempo edits, seeks and stream stalls cheap. Only the notes starting
  within ``SCHEDULE_AHEAD_BEATS`` of the playhead are in the heap; the thread tops it up as
  the playhead moves, so a jump, a loop's wrap or an edit reschedules a window, not the
  whole score (found through an index of the notes by start).
* The thread sleeps on the condition variable until shortly before the next event, then
  spins until it is due (``spin_s``; by default 1.5 interpreter switch intervals, within
  0.3-2 ms). Waking costs one wait for the interpreter lock, up to one switch interval when
  another thread computes in Python; spinning while holding the lock hides that wait.
* Sounding notes are counted per ``(channel, pitch)``: a second note-on of a sounding pitch
  re-strikes it (note-off, then note-on) and only the last matching note-off ends it, so
  overlapping notes of one pitch can never leave it hanging.
* A note-on more than ``late_drop_s`` late is dropped (with its note-off) and counted, rather
  than sent in a burst; note-offs are never dropped.
* A score's system-exclusive messages and channel settings (controllers such as the sustain
  pedal, pitch bends, channel pressure, program changes, key pressure) are scheduled like
  notes, in the window ahead of the playhead, as more kinds of event: at one tick after the
  note-offs, system-exclusive messages (a reset first), controllers, bends and pressure,
  programs, then the note-ons and the keys' pressure, each kind in the order the score
  holds it. Playing, seeking or looping to a tick first sends the settings in force just
  before it on each channel (found per setting by bisection, not by a scan), a parameter
  set by data entry (the pitch-bend range) whole, and puts back to its General MIDI default
  whatever this player set that is not (a pedal held, a bend, a bend range, a pressure, an
  instrument of another song); a system-exclusive message or a key's pressure is sent in
  its turn only, never chased, and a reset makes the player forget what it had set. A stop,
  an error or the end lets go of pedals, bends and pressure. A live continuation plays
  them as Play of its take would, up to the end of its frames.
* :class:`ProcessPlayer` runs a :class:`Player` in a process of its own, so that no thread of
  the app's process (a generator computing in Python) can hold the interpreter lock when a
  note is due; docs/benchmarks/midi.md has the measurements behind it.

Units: ticks in the score's PPQ; times in seconds of the injected monotonic clock.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import functools
import heapq
import logging
import math
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any, NamedTuple, Protocol

import numpy as np

from composer_app.core.note import Note
from composer_app.core.score import (
    PARAMETER_CONTROLLERS,
    PITCH_BEND_CENTRE,
    RESETS,
    Score,
    ScoreError,
    TempoChange,
    system_exclusive_name,
)
from composer_app.midi.ports import PortError, PortSpec, SafeOutputPort

log = logging.getLogger(__name__)

NOTE_OFF = 0x80
NOTE_ON = 0x90
POLY_PRESSURE = 0xA0
CONTROL_CHANGE = 0xB0
PROGRAM_CHANGE = 0xC0
CHANNEL_PRESSURE = 0xD0
PITCH_BEND = 0xE0
CC_SUSTAIN = 64
CC_ALL_SOUND_OFF = 120
CC_ALL_NOTES_OFF = 123
MIDI_CHANNELS = 16

POSITION_INTERVAL_S = 1 / 60  # on_position is called at most this often
LATE_DROP_S = 0.100  # note-ons later than this are dropped, not sent in a burst
SWITCH_INTERVAL_S = 0.001  # the interpreter switch interval a player asks for (default 5 ms)
SPIN_MIN_S = 0.0003  # busy-wait at least the last fraction of a millisecond before an event
SPIN_MAX_S = 0.002  # ... and at most this long
_EPSILON_S = 1e-9  # "due" tolerance: float sums of waits may fall short by an ulp

# sort order at one instant: note-offs first, then controllers and bends (a bank select before
# its program), program changes (the instrument the notes struck there are played with), then
# note-ons
# _SYSEX: a system-exclusive message (before the settings at its tick: a reset first); _KEY:
# a key's pressure (after the note-on it presses)
_OFF, _SYSEX, _CONTROL, _PROGRAM, _ON, _KEY = 0, 1, 2, 3, 4, 5
# The longest system-exclusive message sent: a reset or a synth's setting; a longer one (a
# bulk dump of a synth's memory) would overflow a MIDI system's buffer
MAX_SENT_SYSEX_BYTES = 1024
_BEND = 128  # a _CONTROL event's "controller" for a pitch bend (its value 0-16383)
_PRESSURE = 129  # a _CONTROL event's "controller" for channel pressure (aftertouch, 0-127)
# What a controller this player set goes back to where a song has none in force: General MIDI's
# defaults (bank 0, no modulation, volume 100, balance and pan centred, expression full,
# pedals up, sound controllers centred, reverb 40, chorus 0). Others are left as they are (no
# known default), and so is the program where the song gives none: piano (0) only where this
# player set another.
_CONTROL_DEFAULTS = {
    0: 0, 32: 0, 1: 0, 7: 100, 8: 64, 10: 64, 11: 127,
    **dict.fromkeys(range(64, 70), 0), **dict.fromkeys(range(71, 80), 64), 91: 40, 93: 0,
    _PRESSURE: 0,
}  # fmt: skip
_RELEASED_CONTROLLERS = range(64, 70)  # pedals (sustain, portamento, sostenuto, soft, ...)
# Notes are scheduled this many beats ahead of the playhead, topped up as it moves, so that a
# jump, a loop wrap or an edit reschedules a window of the score, not all of it.
SCHEDULE_AHEAD_BEATS = 16


class _NoteIndex(NamedTuple):
    """A score's notes (sorted by start) with what finds the ones sounding at a tick."""

    notes: tuple[Note, ...]
    starts: list[int]  # each note's start tick
    max_duration: int  # the longest note: none that starts earlier sounds still. Units: ticks

    @staticmethod
    def of(notes: tuple[Note, ...]) -> _NoteIndex:
        return _NoteIndex(
            notes,
            [n.start_tick for n in notes],
            max((n.duration_ticks for n in notes), default=0),
        )

    def first_sounding_at(self, tick: float) -> int:
        """The index of the first note that may still sound at ``tick`` (none before it)."""
        return bisect.bisect_right(self.starts, tick - self.max_duration)

    def first_starting_at(self, tick: float) -> int:
        """The index of the first note starting at or after ``tick``."""
        return bisect.bisect_left(self.starts, tick)


def _silence_messages(sounding: Iterable[tuple[int, int]]) -> list[list[int]]:
    """A note-off per sounding (channel, pitch), then sustain off, all-notes-off and
    all-sound-off on each of the 16 channels."""
    messages = [[NOTE_OFF | channel, pitch, 0] for channel, pitch in sounding]
    for channel in range(MIDI_CHANNELS):
        messages += [
            [CONTROL_CHANGE | channel, CC_SUSTAIN, 0],
            [CONTROL_CHANGE | channel, CC_ALL_NOTES_OFF, 0],
            [CONTROL_CHANGE | channel, CC_ALL_SOUND_OFF, 0],
        ]
    return messages


class OutputPort(Protocol):
    """What the player sends through (``composer_app.midi.ports.SafeOutputPort``)."""

    def send(self, message: Sequence[int]) -> None: ...


@dataclass(frozen=True)
class PlayerStats:
    """Counts since the player was built.

    Units: ``max_lateness_s`` in seconds (the latest sent event, against its scheduled time).
    """

    sent: int = 0
    dropped_late: int = 0
    max_lateness_s: float = 0.0


def _sound(note: Note) -> tuple[int, int, int, int, int]:
    """What a note sounds like: start, pitch, length, velocity, channel (not whether it was
    generated)."""
    return (note.start_tick, note.pitch, note.duration_ticks, note.velocity, note.channel)


class _ParameterTracker:
    """Which (N)RPN parameter a channel's data entry goes to, as a synth follows it: CC101
    and CC100 select a registered parameter (RPN 0 is the pitch-bend range), CC99 and CC98 a
    non-registered one, CC6 and CC38 set the selected one's value (127/127 selects none)."""

    def __init__(self) -> None:
        self.selected: dict[int, list[int]] = {}  # channel -> [registered?, msb, lsb]

    def entry(self, channel: int, controller: int, value: int) -> tuple[int, int, int] | None:
        """Follow one controller change: the parameter ``(registered, msb, lsb)`` a data
        entry (CC6, CC38) sets, or None (another controller, or no parameter selected)."""
        selected = self.selected.setdefault(channel, [1, 127, 127])
        if controller in (101, 100, 99, 98):
            registered = int(controller >= 100)
            if selected[0] != registered:  # the other kind: a fresh selection
                selected[:] = [registered, 127, 127]
            selected[1 if controller in (101, 99) else 2] = value
            return None
        if controller in (6, 38) and (selected[1], selected[2]) != (127, 127):
            return (selected[0], selected[1], selected[2])
        return None


# Where a song sets none, what a registered parameter this player set goes back to: the
# pitch-bend range 2 semitones, fine and coarse tuning centred (General MIDI's defaults)
_PARAMETER_DEFAULTS = {(1, 0, 0): (2, 0), (1, 0, 1): (64, 0), (1, 0, 2): (64, 0)}
_PARAMETER = 6  # a _Settings key's kind (no event's): an (N)RPN parameter's value, set by data entry


class _Settings(NamedTuple):
    """A score's system-exclusive messages and channel settings (controller changes, pitch
    bends, channel pressure, program changes, key pressure) in the order they are sent: by
    tick, and at one tick as the file gave them (a parameter number before its data entry),
    system-exclusive messages first (a reset before what it resets), then controllers, bends
    and pressure before programs (a bank select before its program), a key's pressure last
    (after the note-on it presses). ``events`` are ``(tick, kind, channel, number, value)``
    (see :class:`_Event`; a system-exclusive message's ``number`` its place in
    ``messages``); ``ticks`` their ticks, for bisection; ``by_key`` each setting's (``(kind,
    channel, number)``; for an (N)RPN parameter ``(_PARAMETER, channel, (registered, msb,
    lsb))``) ticks and places in ``events``, which find what is in force at a tick without a
    scan (a system-exclusive message is in force nowhere: it is sent in its turn, never
    chased); ``parameters`` the value (msb, lsb or None) each data entry leaves its
    parameter at; ``messages`` the system-exclusive messages sent: whole ones (0xF0 to
    0xF7, no status byte between) of at most :data:`MAX_SENT_SYSEX_BYTES` (a packet of one
    split in time, a corrupt one or a bulk dump is saved, not sent)."""

    events: tuple[tuple[int, int, int, int, int], ...]
    ticks: list[int]
    by_key: dict[tuple, tuple[list[int], list[int]]]
    parameters: dict[int, tuple[int, int | None]]
    messages: tuple[tuple[int, ...], ...]

    @staticmethod
    def of(score: Score) -> _Settings:
        sent = [m for m in score.system_exclusive  # (a status byte inside: corrupt, not sent)
                if m.data[0] == 0xF0 and m.data[-1] == 0xF7 and len(m.data) <= MAX_SENT_SYSEX_BYTES
                and max(m.data[1:-1], default=0) < 0x80]
        messages = tuple(tuple(m.data) for m in sent)
        ordered = [(m.tick, 0, 0, index, 0) for index, m in enumerate(sent)]
        ordered += [(c.tick, 1, c.channel, c.controller, c.value) for c in score.control_changes]
        ordered += [(b.tick, 2, b.channel, _BEND, b.value) for b in score.pitch_bends]
        ordered += [(p.tick, 2, p.channel, _PRESSURE, p.value) for p in score.channel_pressures]
        ordered += [(p.tick, 3, p.channel, p.program, 0) for p in score.program_changes]
        ordered += [(k.tick, 4, k.channel, k.pitch, k.value) for k in score.key_pressures]
        ordered.sort(key=lambda setting: (setting[0], setting[1]))  # stable: file order
        kinds = (_SYSEX, _CONTROL, _CONTROL, _PROGRAM, _KEY)
        events = tuple(
            (tick, kinds[group], channel, number, value)
            for tick, group, channel, number, value in ordered
        )
        by_key: dict[tuple, tuple[list[int], list[int]]] = {}
        tracker = _ParameterTracker()
        values: dict[tuple[int, tuple[int, int, int]], list] = {}  # its [msb, lsb] so far
        parameters: dict[int, tuple[int, int | None]] = {}
        for position, (tick, kind, channel, number, value) in enumerate(events):
            if kind == _SYSEX:
                continue  # (never chased)
            key: tuple = (kind, channel, 0 if kind == _PROGRAM else number)
            if kind == _CONTROL and number < _BEND:
                parameter = tracker.entry(channel, number, value)
                if parameter is not None:
                    now = values.setdefault((channel, parameter), [0, None])
                    now[0 if number == 6 else 1] = value
                    parameters[position] = (now[0], now[1])
                    key = (_PARAMETER, channel, parameter)
            ticks, positions = by_key.setdefault(key, ([], []))
            ticks.append(tick)
            positions.append(position)
        return _Settings(events, [e[0] for e in events], by_key, parameters, messages)

    def in_force(self, tick: float, at_tick_too: bool = False) -> list[tuple[int, tuple]]:
        """The places in ``events`` (with their keys) of the settings in force just before
        ``tick`` (the last of each before it; with ``at_tick_too``, at or before it), in the
        order they were set."""
        find = bisect.bisect_right if at_tick_too else bisect.bisect_left
        found = []
        for key, (ticks, positions) in self.by_key.items():
            i = find(ticks, tick) - 1
            if i >= 0:
                found.append((positions[i], key))
        found.sort()
        return found


class _Prepared(NamedTuple):
    """What playing a score needs, made before the player's lock is taken: its notes' index,
    its settings, the end of its last note."""

    index: _NoteIndex
    settings: _Settings
    last_end: int

    @staticmethod
    def of(score: Score) -> _Prepared:
        notes = score.notes
        return _Prepared(
            _NoteIndex.of(notes), _Settings.of(score), max((n.end_tick for n in notes), default=0)
        )


class _Event(NamedTuple):
    """A scheduled note-on, note-off, controller change, pitch bend or channel pressure
    (``_CONTROL``: its controller, ``_BEND`` or ``_PRESSURE``, in ``pitch`` and its value in
    ``velocity``), program change (its program in ``pitch``), key pressure (``_KEY``: its
    key in ``pitch``, its value in ``velocity``) or system-exclusive message (``_SYSEX``: its
    place in the settings' ``messages`` in ``pitch``); events order as tuples (tick, kind,
    seq, ...): at one tick note-offs (kind 0) come first, then system-exclusive messages,
    controllers, program changes, note-ons and key pressures, ties in arrival order. A named tuple, not a frozen
    dataclass: a long score schedules hundreds of thousands of them at once."""

    tick: int
    kind: int  # _OFF, _SYSEX, _CONTROL, _PROGRAM, _ON or _KEY
    seq: int  # arrival order: ties keep it
    channel: int
    pitch: int
    velocity: int
    pair: int  # shared by a note-on and its note-off


@dataclass(order=True, frozen=True, slots=True)
class _TimedOff:
    """A preview note's end, due at a clock time rather than a tick."""

    time_s: float
    seq: int
    channel: int
    pitch: int
    pair: int


class _Timeline:
    """Ticks <-> seconds from tick 0 through a tempo map (piecewise linear).

    Units: ticks; seconds.
    """

    def __init__(self, tempo_map: Sequence[TempoChange], ppq: int) -> None:
        changes = sorted(tempo_map) or [TempoChange(0, 500_000)]
        if changes[0].tick != 0:
            changes.insert(0, TempoChange(0, changes[0].us_per_quarter))
        self._ticks = [c.tick for c in changes]
        self._s_per_tick = [c.us_per_quarter / (1e6 * ppq) for c in changes]
        self._start_s = [0.0]
        for i in range(1, len(changes)):
            span = self._ticks[i] - self._ticks[i - 1]
            self._start_s.append(self._start_s[-1] + span * self._s_per_tick[i - 1])

    def seconds(self, tick: float) -> float:
        """Seconds from tick 0 to ``tick``."""
        i = max(0, bisect.bisect_right(self._ticks, tick) - 1)
        return self._start_s[i] + (tick - self._ticks[i]) * self._s_per_tick[i]

    def tick_at(self, seconds: float) -> float:
        """The (fractional) tick reached after ``seconds`` from tick 0."""
        i = max(0, bisect.bisect_right(self._start_s, seconds) - 1)
        return self._ticks[i] + (seconds - self._start_s[i]) / self._s_per_tick[i]


@dataclass
class _Stream:
    """Frames appended to a growing sequence, and which pitches are held at its end."""

    start_tick: int
    step_ticks: int
    pitch_low: int
    velocity: int
    channel: int
    frames: list[np.ndarray]
    n_frames: int = 0
    width: int | None = None
    ended: bool = False
    held: dict[int, tuple[int, int]] | None = None  # pitch -> (pair, tick of its note-on)

    @property
    def end_tick(self) -> int:
        """Where the appended frames end. Units: ticks."""
        return self.start_tick + self.n_frames * self.step_ticks


class Player:
    """Plays scores and growing streams through one output port on a dedicated thread.

    Callbacks run on the player's thread, never under its lock (they may call the player):
    ``on_position(tick)`` at most 60 times a second while playing; ``on_error(message)`` when
    the port fails (playback stops); ``on_finished()`` when playback reaches the end (not on
    :meth:`stop`). The caller owns the port: the player never closes it.

    ``clock`` and ``sleep`` may be replaced (tests use a fake clock whose sleep advances it);
    with the defaults, waits are interruptible so commands take effect at once.
    ``switch_interval_s`` lowers the interpreter's switch interval (for the whole process) to
    at most this, so that a thread computing in pure Python delays the player's thread by at
    most about that long; ``None`` leaves it alone.
    ``realtime_priority`` (1-99, Linux) asks for the SCHED_FIFO class for the player's thread,
    so a busy machine delays it less; where that is not permitted the thread runs as usual
    (``realtime_granted`` tells which).
    """

    def __init__(
        self,
        port: OutputPort | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_position: Callable[[float], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        late_drop_s: float = LATE_DROP_S,
        spin_s: float | None = None,
        realtime_priority: int | None = None,
        switch_interval_s: float | None = SWITCH_INTERVAL_S,
    ) -> None:
        if switch_interval_s is not None and sys.getswitchinterval() > switch_interval_s:
            # process-wide: another thread computing in Python then holds the interpreter
            # lock for at most this long when the player wakes (docs/benchmarks/midi.md)
            sys.setswitchinterval(switch_interval_s)
        self._port = port
        self._clock = clock
        self._sleep = sleep
        self._on_position = on_position
        self._on_error = on_error
        self._on_finished = on_finished
        self._late_drop_s = late_drop_s
        self._spin_s = spin_s
        # Real time: sleep on the condition variable (a command wakes it). Injected time: the
        # injected sleep is the only way time passes.
        self._real_time = clock is time.monotonic and sleep is time.sleep

        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closing = False
        self._closed = False

        self._playing = False
        self._position_tick = 0.0  # when not playing, or while stalled
        self._stalled = False
        self._ppq = 480
        self._timeline = _Timeline([], self._ppq)
        self._anchor_time_s = 0.0
        self._anchor_tick = 0.0
        self._snapshot = _NoteIndex((), [], 0)
        # the snapshot's channel settings; the first not yet scheduled; and the end of its last
        # note (none is sent at or after it: it would keep the playback going past the music)
        self._settings = _Settings((), [], {}, {}, ())
        self._next_setting = 0
        self._last_end = 0
        self._next_note = 0  # the snapshot's notes before this one are scheduled (or over)
        self._pair_notes: dict[int, Note] = {}  # the snapshot's note of each scheduled pair
        self._loop: tuple[int, int] | None = None  # (start, end) ticks, see set_loop
        self._looping = False  # the playback under way goes back at the loop's end
        self._stream: _Stream | None = None
        self._events: list[_Event] = []
        self._last_event_tick = 0
        self._timed_offs: list[_TimedOff] = []
        self._dropped_pairs: set[int] = set()  # note-ons dropped late: skip their note-offs
        self._cancelled_pairs: set[int] = set()  # note-ons that must not sound at all
        self._sounding: dict[tuple[int, int], int] = {}
        self._seq = 0
        self._pair = 0
        self._last_position_s = -math.inf
        # (pitch, velocity, duration_s, channel, program or None)
        self._pending_previews: list[tuple[int, int, float, int, int | None]] = []
        self._programs_sent: dict[int, int] = {}  # channel -> the last program sent on it
        # (channel, controller, _BEND or _PRESSURE) -> the value last sent (what a chase may put back),
        # and of each (N)RPN parameter, (channel, (registered, msb, lsb)) -> (msb, lsb)
        self._controls_sent: dict[tuple[int, int], int] = {}
        self._parameters_sent: dict[tuple[int, tuple[int, int, int]], tuple] = {}
        self._parameter_tracker = _ParameterTracker()  # what the synth has selected
        self._pending_callbacks: list[Callable[[], None]] = []
        self._stats = PlayerStats()
        self._realtime_priority = realtime_priority
        self.realtime_granted = False

        self._thread = threading.Thread(target=self._run, name="midi-player", daemon=False)
        self._thread.start()

    # ---- state ------------------------------------------------------------------------
    @property
    def is_playing(self) -> bool:
        """Whether a score or stream is playing (also while a stream waits for frames)."""
        with self._lock:
            return self._playing

    @property
    def position_tick(self) -> float:
        """The playhead. Units: ticks (fractional while playing)."""
        with self._lock:
            return self._current_tick(self._clock())

    @property
    def stats(self) -> PlayerStats:
        """Messages sent, note-ons dropped for lateness, and the worst lateness of a send."""
        with self._lock:
            return self._stats

    @property
    def port(self) -> OutputPort | None:
        """The port in use, or ``None`` (silent playback)."""
        with self._lock:
            return self._port

    def time_of_tick(self, tick: float) -> float | None:
        """When ``tick`` is (or was) due on the player's clock, or ``None`` when not playing.

        Units: ticks in, seconds of the player's clock out.
        """
        with self._lock:
            if not self._playing:
                return None
            return self._time_of(tick)

    # ---- commands ---------------------------------------------------------------------
    def set_port(self, port: OutputPort | None) -> None:
        """Send through ``port`` from now on (``None``: silent). The old port is silenced first."""
        with self._wake:
            self._check_open()
            if port is self._port:
                return
            self._silence_locked(report_failure=False)  # a dead old port must not stop playback
            self._port = port
            self._programs_sent.clear()  # another synth: it has had none of them
            self._controls_sent.clear()
            self._parameters_sent.clear()
            self._parameter_tracker = _ParameterTracker()
            if self._playing:  # it gets what is in force now, before the notes to come
                self._push_chase(self._current_tick(self._clock()), at_tick_too=True)
            self._wake.notify()

    def play(self, score: Score, start_tick: int = 0) -> None:
        """Play a snapshot of ``score`` (notes and tempo map) from ``start_tick``.

        Notes already sounding at ``start_tick`` start there. Units: ticks.
        """
        prepared = _Prepared.of(score)  # outside the lock: what plays now need not wait
        with self._wake:
            self._check_open()
            self._end_sounding_locked()
            self._load(score, prepared, max(0, int(start_tick)), stream=None)
            self._wake.notify()

    def start_stream(
        self,
        score: Score,
        start_tick: int,
        step_ticks: int,
        pitch_low: int = 21,
        velocity: int = 90,
        channel: int = 0,
    ) -> None:
        """Play ``score``'s notes from ``start_tick`` plus the frames given to :meth:`append_frames`.

        Frame ``i`` covers ``[start_tick + i * step_ticks, + step_ticks)``; column ``k`` is
        MIDI pitch ``pitch_low + k``. The playhead waits at the end of the appended frames
        until more arrive or :meth:`end_stream` is called. Units: ticks.
        """
        if step_ticks <= 0:
            raise ValueError(f"step_ticks must be positive, got {step_ticks}")
        if not 0 <= pitch_low <= 127:
            raise ValueError(f"pitch_low must be 0-127, got {pitch_low}")
        if not 1 <= velocity <= 127:
            raise ValueError(f"velocity must be 1-127, got {velocity}")
        if not 0 <= channel < MIDI_CHANNELS:
            raise ValueError(f"channel must be 0-15, got {channel}")
        start_tick = max(0, int(start_tick))
        stream = _Stream(start_tick, int(step_ticks), pitch_low, velocity, channel, [], held={})
        prepared = _Prepared.of(score)
        with self._wake:
            self._check_open()
            self._end_sounding_locked()
            self._load(score, prepared, start_tick, stream=stream)
            self._wake.notify()

    def append_frames(self, frames: np.ndarray) -> None:
        """Append frames to the stream started by :meth:`start_stream`.

        Shapes: ``frames`` is ``(n, P)`` (bool or 0/1), or ``(P,)`` for one frame; ``P`` stays
        the same for the whole stream and ``pitch_low + P <= 128``.
        """
        rows = np.asarray(frames)
        if rows.ndim == 1:
            rows = rows[None, :]
        if rows.ndim != 2:
            raise ValueError(f"frames must be (n, P), got shape {rows.shape}")
        rows = rows.astype(bool, copy=True)
        with self._wake:
            self._check_open()
            stream = self._stream
            if stream is None or stream.ended:
                raise RuntimeError("append_frames needs a stream: call start_stream first")
            if stream.width is None:
                if stream.pitch_low + rows.shape[1] > 128:
                    raise ValueError(
                        f"{rows.shape[1]} pitches from {stream.pitch_low} go past MIDI pitch 127"
                    )
                stream.width = rows.shape[1]
            elif rows.shape[1] != stream.width:
                raise ValueError(f"frames must have {stream.width} pitches, got {rows.shape[1]}")
            if len(rows) == 0:
                return
            first_new = stream.n_frames
            stream.frames.append(rows)
            stream.n_frames += len(rows)
            if self._playing:
                self._push_stream_rows(stream, rows, first_new, from_tick=stream.start_tick)
                self._resume_if_stalled()
            self._wake.notify()

    def end_stream(self) -> None:
        """No more frames: held pitches end where the frames end, and playback plays out."""
        with self._wake:
            self._check_open()
            stream = self._stream
            if stream is None or stream.ended:
                return
            stream.ended = True
            if self._playing:
                self._end_held(stream)
                self._resume_if_stalled()
            self._wake.notify()

    def stream_frames_played(self) -> int:
        """How many appended frames the playhead has reached (0 without a stream)."""
        with self._lock:
            stream = self._stream
            if stream is None:
                return 0
            reached = (self._current_tick(self._clock()) - stream.start_tick) / stream.step_ticks
            return int(min(stream.n_frames, max(0.0, math.floor(reached + 1e-9))))

    @property
    def stream_frames_appended(self) -> int:
        """How many frames the current stream holds (0 without a stream)."""
        with self._lock:
            return 0 if self._stream is None else self._stream.n_frames

    def set_loop(self, start_tick: int | None, end_tick: int | None = None) -> None:
        """Play ``[start_tick, end_tick)`` over and over (``None``: no loop), as a DAW's
        cycle does: playback that starts before the loop's end goes back to its start each
        time it gets there (notes sounding then end); playback that starts after it plays
        on. A stream (a live take) never loops. Takes effect at once. Units: ticks."""
        if start_tick is not None:
            if end_tick is None or not 0 <= start_tick < end_tick:
                raise ValueError(f"a loop needs 0 <= start < end, got {start_tick}, {end_tick}")
        with self._wake:
            self._check_open()
            self._loop = None if start_tick is None else (int(start_tick), int(end_tick))
            self._looping = self._loop_applies(self._current_tick(self._clock()))
            self._wake.notify()

    def _loop_applies(self, tick: float) -> bool:
        return (
            self._playing and self._loop is not None and self._stream is None
            and tick < self._loop[1]
        )

    def _loop_end(self) -> float:
        """Where the playback under way goes back to the loop's start (inf: nowhere)."""
        return float(self._loop[1]) if self._looping and self._loop is not None else math.inf

    def _wrap(self, wrap_s: float) -> None:
        """Back to the loop's start, at ``wrap_s`` on the clock: what sounds ends first."""
        assert self._loop is not None
        start = self._loop[0]
        # the score's notes end here; a key click's preview keeps its own length
        previews = {(off.channel, off.pitch) for off in self._timed_offs}
        for key in sorted(self._sounding):
            self._sounding[key] = 1  # one left: a preview's (its own off comes later) or none
            if key not in previews and not self._note_off(*key):
                return
        if not self._release():
            return
        self._rebuild(start)
        self._reanchor(wrap_s, float(start))
        self._report_position(wrap_s, force=True)

    def update_notes(self, score: Score) -> None:
        """Play ``score``'s notes from here on instead of the snapshot :meth:`play` took (an
        edit while playing, heard as it is made).

        A note sounding now that the edit removed (or moved, or changed) ends now; one it
        kept sounds on to its end, not struck again. Notes still to come are played as the
        new score has them, and a note added under the playhead is not struck in the middle.
        The tempo map is :meth:`set_tempo_map`'s. Nothing happens when not playing, while a
        stream plays (its notes are the continuation's), or for a score of another
        resolution (that is a new :meth:`play`).
        """
        index = _NoteIndex.of(score.notes)  # outside the lock: the sends need not wait
        notes = index.notes
        with self._wake:
            self._check_open()
            if not self._playing or self._stream is not None or score.ppq != self._ppq:
                return
            now_tick = self._current_tick(self._clock())
            pending_on = {e.pair for e in self._events if e.kind == _ON}
            pending_off = {e.pair for e in self._events if e.kind == _OFF}
            # only the notes near the playhead are looked at: those sounding across it and
            # those due within the schedule's window
            first = index.first_sounding_at(now_tick)
            ahead = index.first_starting_at(self._schedule_limit(now_tick))
            near = notes[first:ahead]
            # Notes are matched by how they sound, not by identity: Accept turns a generated
            # note into an ordinary one, which sounds the same and must sound on.
            across = collections.Counter(  # the edited notes sounding across the playhead
                _sound(n) for n in near if n.start_tick <= now_tick < n.end_tick
            )
            kept: list[Note] = []
            due_soon: collections.Counter[tuple[int, ...]] = collections.Counter()
            for pair, note in self._pair_notes.items():
                if pair in pending_on:  # not struck yet: to be played if the edit keeps it
                    due_soon[_sound(note)] += 1
                elif pair in pending_off and pair not in self._dropped_pairs:  # sounding
                    key = _sound(note)
                    if across[key] > 0:
                        across[key] -= 1
                        kept.append(note)
                    elif not self._note_off(note.channel, note.pitch):
                        return  # the port failed: playback has stopped
            upcoming = []
            for note in near:
                if note.start_tick > now_tick:
                    upcoming.append(note)
                elif note.end_tick > now_tick:
                    key = _sound(note)
                    if across[key] <= 0:
                        continue  # sounding on (kept above)
                    across[key] -= 1
                    if due_soon[key] > 0:  # about to be struck (it may be a moment late)
                        due_soon[key] -= 1
                        upcoming.append(note)
                    elif note.start_tick == now_tick:  # due this very moment
                        upcoming.append(note)
            self._snapshot = index
            self._next_note = ahead  # the rest is scheduled as the playhead gets near
            last_end = max((n.end_tick for n in notes), default=0)
            # the settings scheduled and not yet sent stay, up to the edited song's end (it
            # may end sooner now; one already due goes whatever the edit)
            pending = [
                e for e in self._events
                if e.kind in (_SYSEX, _CONTROL, _PROGRAM, _KEY)
                and (e.tick < last_end or e.tick <= now_tick)
            ]
            self._events = pending
            # those dropped (past the edited song's end) are scheduled again if it grows back
            # (an undo): from the first of them on
            self._next_setting = min(self._next_setting, bisect.bisect_left(
                self._settings.ticks, max(last_end, math.floor(now_tick) + 1)))
            self._pair_notes = {}
            self._dropped_pairs.clear()
            self._cancelled_pairs.clear()
            # the playhead stays where it is if nothing is left to play (see _finish)
            self._last_event_tick = max(self._last_event_tick, int(now_tick))
            for note in kept:  # sounding on, not struck again: only its end is scheduled
                pair = self._next_pair()
                self._pair_notes[pair] = note
                self._seq += 1
                self._events.append(
                    _Event(note.end_tick, _OFF, self._seq, note.channel, note.pitch, 0, pair)
                )
            self._push_notes(upcoming, 0)
            # the settings not scheduled yet follow up to the edited song's end (it may end
            # later now: those the old end held back come too)
            self._last_end = last_end
            self._push_settings(self._schedule_limit(now_tick))
            self._wake.notify()

    def set_tempo_map(self, tempo_map: Sequence[TempoChange]) -> None:
        """Follow a new tempo map from the current position on (a tempo edit while playing)."""
        with self._wake:
            self._check_open()
            now = self._clock()
            tick = self._current_tick(now)
            self._timeline = _Timeline(list(tempo_map), self._ppq)
            self._reanchor(now, tick)
            self._wake.notify()

    def stop(self) -> None:
        """Stop playing; every sounding note is ended. The playhead stays where it stopped."""
        with self._wake:
            if self._closed:
                return
            self._position_tick = self._current_tick(self._clock())
            self._halt_locked()
            self._silence_locked()
            self._wake.notify()

    def seek(self, tick: float) -> None:
        """Move the playhead to ``tick``; sounding notes end and, when playing, resume there.

        A jump, not a panic: only the notes sounding get a note-off (no all-sound-off, which
        would cut release and reverb tails, on channels the song may not even use). In an
        unfinished stream the playhead cannot pass the appended frames. Units: ticks.
        """
        with self._wake:
            self._check_open()
            tick = max(0.0, float(tick))
            self._end_sounding_locked()
            if not self._playing:
                self._position_tick = tick
                return
            stream = self._stream
            if stream is not None and not stream.ended:
                tick = min(tick, float(stream.end_tick))
            self._rebuild(int(math.floor(tick)))
            self._looping = self._loop_applies(tick)
            self._stalled = False
            self._reanchor(self._clock(), tick)
            self._wake.notify()

    def panic(self) -> None:
        """End every sounding note now, then sustain off, all-notes-off and all-sound-off."""
        with self._wake:
            if self._closed:
                return
            self._silence_locked()

    def preview_note(
        self, pitch: int, velocity: int = 100, duration_s: float = 0.25, channel: int = 0,
        program: int | None = None,
    ) -> None:
        """Sound one note now (a piano key click) for ``duration_s`` seconds, on the player's
        thread; with ``program`` (0-127, its part's instrument), that program is sent first
        unless it is the last one this player sent on the channel (without, piano where this
        player set another)."""
        Note(0, pitch, 1, velocity, channel)  # validates pitch, velocity and channel
        if duration_s <= 0:
            raise ValueError(f"duration_s must be positive, got {duration_s}")
        if program is not None and not 0 <= program <= 127:
            raise ValueError(f"program must be 0-127, got {program}")
        with self._wake:
            self._check_open()
            self._pending_previews.append((pitch, velocity, float(duration_s), channel, program))
            self._wake.notify()

    def close(self) -> None:
        """Stop, silence and join the thread. Safe to call twice; the port stays open."""
        with self._wake:
            if self._closed:
                return
            self._position_tick = self._current_tick(self._clock())
            self._halt_locked()
            self._silence_locked()
            self._closing = True
            self._closed = True
            self._wake.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self) -> Player:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- building the schedule (lock held) --------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the player is closed")

    def _load(
        self, score: Score, prepared: _Prepared, start_tick: int, stream: _Stream | None
    ) -> None:
        self._ppq = score.ppq
        self._timeline = _Timeline(score.tempo_map, score.ppq)
        self._snapshot, self._settings, self._last_end = prepared
        self._stream = stream
        self._playing = True
        self._stalled = False
        self._rebuild(start_tick)
        self._looping = self._loop_applies(start_tick)
        self._last_position_s = -math.inf
        self._reanchor(self._clock(), float(start_tick))

    def _next_pair(self) -> int:
        self._pair += 1
        return self._pair

    def _push(
        self, tick: int, kind: int, channel: int, pitch: int, velocity: int, pair: int
    ) -> None:
        self._seq += 1
        heapq.heappush(self._events, _Event(tick, kind, self._seq, channel, pitch, velocity, pair))

    def _rebuild(self, from_tick: int) -> None:
        """Schedule everything that sounds at or after ``from_tick``. Units: ticks."""
        self._events = []
        self._pair_notes = {}
        self._last_event_tick = from_tick
        self._dropped_pairs.clear()
        self._cancelled_pairs.clear()
        index = self._snapshot
        first = index.first_sounding_at(from_tick)
        self._next_note = index.first_starting_at(self._schedule_limit(from_tick))
        self._push_notes(index.notes[first : self._next_note], from_tick)
        self._push_chase(from_tick)
        self._next_setting = bisect.bisect_left(self._settings.ticks, from_tick)
        self._push_settings(self._schedule_limit(from_tick))
        stream = self._stream
        if stream is not None:
            stream.held = {}
            if stream.n_frames:
                rows = np.concatenate(stream.frames)
                stream.frames = [rows]
                self._push_stream_rows(stream, rows, 0, from_tick=from_tick, fresh=True)
            if stream.ended:
                self._end_held(stream)

    def _push_chase(self, at_tick: float, at_tick_too: bool = False) -> None:
        """Schedule, at ``at_tick``, the settings in force just before it on each channel (a
        synth keeps the last it got, which may be another part's or song's; those at the tick
        itself are scheduled in their turn) in the order they were set, and the default of
        each setting this player has sent that is not in force there (an instrument of the
        song before: piano). A parameter set by data entry (the pitch-bend range) is sent
        whole: its number, its value, then none selected."""
        settings = self._settings
        at = int(math.floor(at_tick))
        chased: list[_Event] = []
        in_force: set[tuple] = set()
        touched: set[int] = set()  # channels whose parameter selection the chase changes
        selections: dict[int, list[_Event]] = {}  # the song's own selection there, per channel

        def parameter(channel: int, param: tuple[int, int, int], msb: int, lsb: int | None) -> None:
            registered, number_msb, number_lsb = param
            chased.append(_Event(at, _CONTROL, 0, channel, 101 if registered else 99, number_msb, 0))
            chased.append(_Event(at, _CONTROL, 0, channel, 100 if registered else 98, number_lsb, 0))
            chased.append(_Event(at, _CONTROL, 0, channel, 6, msb, 0))
            if lsb is not None:
                chased.append(_Event(at, _CONTROL, 0, channel, 38, lsb, 0))
            touched.add(channel)

        for position, key in settings.in_force(at_tick, at_tick_too=at_tick_too):
            _tick, kind, channel, number, value = settings.events[position]
            if key[0] == _PARAMETER:
                in_force.add(key)
                parameter(channel, key[2], *settings.parameters[position])
                continue
            if kind == _CONTROL and number in (98, 99, 100, 101):  # put back after the values
                selections.setdefault(channel, []).append(
                    _Event(at, _CONTROL, 0, channel, number, value, 0)
                )
                continue
            if kind == _KEY or (kind == _CONTROL and number in PARAMETER_CONTROLLERS):
                continue  # (a key's pressure presses a note sounding: none is yet)
            in_force.add(key)
            chased.append(_Event(at, kind, 0, channel, number, value, 0))
        # (a setting the song gives at the tick itself is no default's to put back)
        in_force.update(key for _position, key in settings.in_force(at_tick, at_tick_too=True))
        for channel, program in self._programs_sent.items():
            if program != 0 and (_PROGRAM, channel, 0) not in in_force:
                chased.append(_Event(at, _PROGRAM, 0, channel, 0, 0, 0))
        for (channel, number), sent in sorted(self._controls_sent.items()):
            default = PITCH_BEND_CENTRE if number == _BEND else _CONTROL_DEFAULTS.get(number)
            if default is not None and sent != default and (_CONTROL, channel, number) not in in_force:
                chased.append(_Event(at, _CONTROL, 0, channel, number, default, 0))
        for (channel, param), sent in sorted(self._parameters_sent.items()):
            default = _PARAMETER_DEFAULTS.get(param)
            if default is not None and sent != default and (_PARAMETER, channel, param) not in in_force:
                parameter(channel, param, *default)
        # then the selection the song has there (a later data entry may rely on it), or none
        for channel in sorted(touched | selections.keys()):
            if channel in touched:
                chased.append(_Event(at, _CONTROL, 0, channel, 101, 127, 0))
                chased.append(_Event(at, _CONTROL, 0, channel, 100, 127, 0))
            chased += selections.get(channel, ())
        self._push_events(chased)

    def _push_settings(self, limit: int) -> None:
        """Schedule the settings not yet scheduled that come before ``limit`` (the window
        ahead of the playhead) and the end of the music: the snapshot's last note's end, or
        for a live continuation the end of its frames so far if later (it plays the song's
        settings in its span, as the take will once accepted)."""
        settings = self._settings
        first = self._next_setting
        end = self._last_end
        if self._stream is not None:
            end = max(end, self._stream.end_tick)
        stop = bisect.bisect_left(settings.ticks, min(limit, end), lo=first)
        if stop > first:
            self._push_events([
                _Event(tick, kind, 0, channel, number, value, 0)
                for tick, kind, channel, number, value in settings.events[first:stop]
            ])
            self._next_setting = stop

    def _push_events(self, events: list[_Event]) -> None:
        """Add ``events`` to the schedule, in this order at one tick and kind (one heapify)."""
        if not events:
            return
        seq = self._seq
        self._events.extend(event._replace(seq=seq + 1 + i) for i, event in enumerate(events))
        self._seq = seq + len(events)
        heapq.heapify(self._events)

    def _schedule_limit(self, tick: float) -> int:
        """Notes starting before this tick are scheduled when the playhead is at ``tick``."""
        return int(tick) + 1 + SCHEDULE_AHEAD_BEATS * self._ppq

    def _top_up(self, now_tick: float) -> None:
        """Schedule the snapshot's next notes: those starting within the window ahead of the
        playhead, and always those starting before the next event already scheduled (so the
        thread never sleeps past a note not yet scheduled)."""
        limit = self._schedule_limit(now_tick)
        settings = self._settings.ticks
        if self._next_setting < len(settings):
            next_tick = settings[self._next_setting]
            if next_tick < limit or not self._events or next_tick < self._events[0].tick:
                self._push_settings(max(limit, self._schedule_limit(next_tick)))
        index = self._snapshot
        n = len(index.notes)
        if self._next_note >= n:
            return
        first_start = index.starts[self._next_note]
        if first_start >= limit and self._events and self._events[0].tick < first_start:
            return  # the common case: nothing to add
        stop = index.first_starting_at(max(limit, self._schedule_limit(first_start)))
        self._push_notes(index.notes[self._next_note : stop], int(first_start))
        self._next_note = stop

    def _push_notes(self, notes: Iterable[Note], from_tick: int) -> None:
        """Schedule each note that lasts past ``from_tick`` (struck there at the latest): all
        appended, then one heapify (linear) instead of a heap push each."""
        events = self._events
        pair_notes = self._pair_notes
        pair, seq = self._pair, self._seq
        for note in notes:
            end = note.end_tick
            if end <= from_tick:
                continue
            pair += 1
            pair_notes[pair] = note
            start = note.start_tick if note.start_tick > from_tick else from_tick
            events.append(_Event(start, _ON, seq + 1, note.channel, note.pitch, note.velocity, pair))
            events.append(_Event(end, _OFF, seq + 2, note.channel, note.pitch, 0, pair))
            seq += 2
        self._pair, self._seq = pair, seq
        heapq.heapify(events)

    def _push_stream_rows(
        self,
        stream: _Stream,
        rows: np.ndarray,
        first_index: int,
        from_tick: int,
        fresh: bool = False,
    ) -> None:
        """Turn frames ``first_index ...`` into note-ons/offs; held pitches carry over.

        Shapes: ``rows`` is ``(n, P)`` bool. A pitch active in consecutive frames is one note;
        one that began before ``from_tick`` sounds from ``from_tick`` (if it lasts past it).
        """
        assert stream.held is not None
        previous = np.zeros(rows.shape[1], dtype=bool)
        if not fresh:
            for pitch in stream.held:
                previous[pitch - stream.pitch_low] = True
        # +1 where a pitch starts, -1 where it stops, comparing each frame with the one before
        changes = np.diff(np.vstack([previous[None, :], rows]).astype(np.int8), axis=0)
        rows_changed, columns_changed = np.nonzero(changes)
        for row, column in zip(rows_changed.tolist(), columns_changed.tolist(), strict=True):
            tick = stream.start_tick + (first_index + row) * stream.step_ticks
            pitch = stream.pitch_low + column
            if changes[row, column] > 0:
                pair = self._next_pair()
                on_tick = max(tick, from_tick)
                stream.held[pitch] = (pair, on_tick)
                self._push(on_tick, _ON, stream.channel, pitch, stream.velocity, pair)
            else:
                pair, on_tick = stream.held.pop(pitch)
                if tick <= on_tick:  # it ended before it was due to sound: never start it
                    self._cancelled_pairs.add(pair)
                else:
                    self._push(tick, _OFF, stream.channel, pitch, 0, pair)

    def _end_held(self, stream: _Stream) -> None:
        """End the pitches held at the end of the frames, where the frames end."""
        assert stream.held is not None
        for pitch, (pair, on_tick) in sorted(stream.held.items()):
            if stream.end_tick <= on_tick:
                self._cancelled_pairs.add(pair)
            else:
                self._push(stream.end_tick, _OFF, stream.channel, pitch, 0, pair)
        stream.held.clear()

    # ---- time (lock held) ---------------------------------------------------------------
    def _time_of(self, tick: float) -> float:
        return (
            self._anchor_time_s
            + self._timeline.seconds(tick)
            - self._timeline.seconds(self._anchor_tick)
        )

    def _reanchor(self, now: float, tick: float) -> None:
        self._anchor_time_s = now
        self._anchor_tick = tick
        self._position_tick = tick

    def _horizon_tick(self) -> float:
        """Events at or past this tick must wait for more frames."""
        stream = self._stream
        if stream is None or stream.ended:
            return math.inf
        return float(stream.end_tick)

    def _current_tick(self, now: float) -> float:
        if not self._playing or self._stalled:
            return self._position_tick
        elapsed = self._timeline.seconds(self._anchor_tick) + (now - self._anchor_time_s)
        return min(
            max(self._anchor_tick, self._timeline.tick_at(elapsed)),
            self._horizon_tick(),
            self._loop_end(),
        )

    def _resume_if_stalled(self) -> None:
        if self._stalled and self._position_tick < self._horizon_tick():
            self._stalled = False
            self._reanchor(self._clock(), self._position_tick)

    # ---- sending (lock held) -------------------------------------------------------------
    def _send_control(self, channel: int, number: int, value: int) -> bool:
        """Send a controller change (or, for ``_BEND``, a pitch bend; for ``_PRESSURE``, a
        channel pressure), and remember it."""
        if number == _BEND:
            message = [PITCH_BEND | channel, value & 0x7F, value >> 7]
        elif number == _PRESSURE:
            message = [CHANNEL_PRESSURE | channel, value]
        else:
            message = [CONTROL_CHANGE | channel, number, value]
        if not self._send(message):
            return False
        if number in PARAMETER_CONTROLLERS:
            param = self._parameter_tracker.entry(channel, number, value)
            if param is not None:
                msb, lsb = self._parameters_sent.get((channel, param), (0, None))
                self._parameters_sent[channel, param] = (
                    (value, lsb) if number == 6 else (msb, value)
                )
        else:
            self._controls_sent[channel, number] = value
        return True

    def _release_messages(self) -> list[list[int]]:
        """What lets go of the pedals held, the bends made and the pressure put on by this
        player (at a stop, an error, the end, a seek or a loop's wrap), forgetting them."""
        messages = []
        for (channel, number), value in sorted(self._controls_sent.items()):
            if number == _BEND and value != PITCH_BEND_CENTRE:
                messages.append([PITCH_BEND | channel, PITCH_BEND_CENTRE & 0x7F,
                                 PITCH_BEND_CENTRE >> 7])
                self._controls_sent[channel, number] = PITCH_BEND_CENTRE
            elif number == _PRESSURE and value:
                messages.append([CHANNEL_PRESSURE | channel, 0])
                self._controls_sent[channel, number] = 0
            elif number in _RELEASED_CONTROLLERS and value:
                messages.append([CONTROL_CHANGE | channel, number, 0])
                self._controls_sent[channel, number] = 0
        return messages

    def _release(self) -> bool:
        """Send :meth:`_release_messages`; False if the port failed."""
        return all(self._send(message) for message in self._release_messages())

    def _send_program(self, channel: int, program: int) -> bool:
        """Send a program change, and remember it (a preview need not send it again)."""
        if not self._send([PROGRAM_CHANGE | channel, program]):
            return False
        self._programs_sent[channel] = program
        return True

    def _send(self, message: list[int]) -> bool:
        """Send one message; on failure stop playback and queue ``on_error``. False if it failed."""
        port = self._port
        if port is None:
            return True
        try:
            port.send(message)
        except Exception as exc:
            self._fail(port, exc)
            return False
        self._stats = replace(self._stats, sent=self._stats.sent + 1)
        return True

    def _note_on(self, channel: int, pitch: int, velocity: int) -> bool:
        key = (channel, pitch)
        count = self._sounding.get(key, 0)
        if count and not self._send([NOTE_OFF | channel, pitch, 0]):  # re-strike
            return False
        self._sounding[key] = count + 1
        return self._send([NOTE_ON | channel, pitch, velocity])

    def _note_off(self, channel: int, pitch: int) -> bool:
        key = (channel, pitch)
        count = self._sounding.get(key, 0)
        if count == 0:
            return True
        if count > 1:
            self._sounding[key] = count - 1
            return True
        del self._sounding[key]
        return self._send([NOTE_OFF | channel, pitch, 0])

    def _silence_locked(self, report_failure: bool = True) -> None:
        """Note-off for each sounding note, then sustain/notes/sound off on every channel."""
        sounding = sorted(self._sounding)
        self._sounding.clear()
        self._timed_offs.clear()
        port = self._port
        if port is None:
            return
        for message in self._release_messages() + _silence_messages(sounding):
            try:
                port.send(message)
            except Exception as exc:
                if report_failure:
                    self._fail(port, exc)
                return
            self._stats = replace(self._stats, sent=self._stats.sent + 1)

    def _end_sounding_locked(self) -> None:
        """A note-off for each sounding note, and the pedals and bends let go (before playing
        something new)."""
        for channel, pitch in sorted(self._sounding):
            self._sounding[(channel, pitch)] = 1
            if not self._note_off(channel, pitch):
                return
        self._timed_offs.clear()
        self._release()

    def _halt_locked(self) -> None:
        self._playing = False
        self._stalled = False
        self._events = []
        self._pair_notes = {}
        self._dropped_pairs.clear()
        self._cancelled_pairs.clear()

    def _fail(self, port: OutputPort | None, exc: Exception) -> None:
        """The port (or the player itself) failed: stop, try to silence it once, and report."""
        was_playing = self._playing
        if was_playing:
            try:
                self._position_tick = self._current_tick(self._clock())
            except Exception:  # noqa: BLE001 - the fault may be in the timeline itself
                self._position_tick = self._anchor_tick
        self._halt_locked()
        sounding = sorted(self._sounding)
        self._sounding.clear()
        self._timed_offs.clear()
        self._pending_previews.clear()
        # best effort (the failure may have been momentary): the same silence as stop(), and
        # the pedals and bends let go
        messages = self._release_messages() + _silence_messages(sounding)
        for message in messages if port is not None else ():
            try:
                port.send(message)
            except Exception:
                break
        message = str(exc) or exc.__class__.__name__
        if "MIDI" not in message:
            message = f"MIDI output failed: {message}"
        if was_playing:
            message += " (playback stopped)"
        if self._on_error is not None:
            callback = self._on_error
            self._pending_callbacks.append(lambda: callback(message))
        self._wake.notify()

    # ---- the thread ----------------------------------------------------------------------
    def _raise_priority(self) -> None:
        """Best effort: SCHED_FIFO for this thread (Linux applies it to the calling thread)."""
        if self._realtime_priority is None or not hasattr(os, "sched_setscheduler"):
            return
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self._realtime_priority))
        except (OSError, ValueError) as exc:
            log.info("real-time priority not granted to the MIDI player: %s", exc)
            return
        self.realtime_granted = True

    def _run(self) -> None:
        self._raise_priority()
        while True:
            with self._wake:
                while True:
                    if self._closing and not self._pending_callbacks:
                        return
                    now = self._clock()
                    try:
                        wait_s, precise = self._service(now)
                    except Exception as exc:  # a fault here must not end the thread mid-note
                        log.exception("the MIDI player failed")
                        self._fail(
                            self._port,
                            RuntimeError(f"The MIDI player failed ({type(exc).__name__}: {exc})"),
                        )
                        continue  # stopped and silenced: serve the next command
                    if self._pending_callbacks:
                        callbacks, self._pending_callbacks = self._pending_callbacks, []
                        break
                    if wait_s is None:
                        self._wake.wait()
                        continue
                    if self._real_time and not precise:
                        self._wake.wait(wait_s)  # a position report: no precision needed
                        continue
                    spin_s = self._spin_window_s()
                    if self._real_time and wait_s > spin_s:
                        self._wake.wait(wait_s - spin_s)
                        continue
                    callbacks = []
                    break
            for callback in callbacks:
                try:
                    callback()
                except Exception:
                    log.exception("a player callback raised")
            if not callbacks:
                self._wait_precisely(now, wait_s or 0.0)

    def _spin_window_s(self) -> float:
        """How long before an event the thread stops sleeping and spins. Units: seconds."""
        if self._spin_s is not None:
            return self._spin_s
        # waking costs one wait for the interpreter lock (about one switch interval when a
        # thread computes in Python); 1.5 intervals leave half of one to spare
        return min(SPIN_MAX_S, max(SPIN_MIN_S, 1.5 * sys.getswitchinterval()))

    def _wait_precisely(self, now: float, wait_s: float) -> None:
        """Wait until ``now + wait_s``: spin on real time (holding the interpreter lock)."""
        if not self._real_time:
            self._sleep(wait_s)
            return
        due = now + wait_s
        while self._clock() < due:
            pass

    def _service(self, now: float) -> tuple[float | None, bool]:
        """Send what is due at ``now``; return (seconds until the next thing, whether it is an event).

        ``None`` means nothing is scheduled: wait for a command.
        """
        self._send_previews(now)
        next_s: float | None = None
        precise = False
        if self._timed_offs:
            next_s = self._timed_offs[0].time_s - now
            precise = True
        if not self._playing:
            return next_s, precise
        self._top_up(self._current_tick(now))
        horizon = self._horizon_tick()  # a stream's end so far
        loop_end = self._loop_end()
        while self._events and self._events[0].tick < min(horizon, loop_end):
            event = self._events[0]
            due_s = self._time_of(event.tick)
            if due_s > now + _EPSILON_S:
                break
            heapq.heappop(self._events)
            if not self._dispatch(event, now - due_s):
                return None, False  # the port failed; playback has stopped
        if not self._playing:
            return next_s, precise
        self._top_up(self._current_tick(now))  # the events sent may have emptied the heap
        if self._events and self._events[0].tick < min(horizon, loop_end):
            until_event = self._time_of(self._events[0].tick) - now
            if next_s is None or until_event < next_s:
                next_s, precise = until_event, True
        elif loop_end < math.inf:  # nothing more before the loop's end: go back there
            wrap_s = self._time_of(loop_end)
            if wrap_s <= now + _EPSILON_S:
                self._wrap(wrap_s)
                return 0.0, True
            if next_s is None or wrap_s - now < next_s:
                next_s, precise = wrap_s - now, True
        elif horizon == math.inf:
            self._finish()
            return next_s, precise
        else:  # waiting for frames: stall at the horizon once the playhead gets there
            until_horizon = self._time_of(horizon) - now
            if until_horizon <= 0:
                if not self._stalled:
                    self._stalled = True
                    self._position_tick = horizon
                    self._report_position(now, force=True)
                return next_s, precise
            if next_s is None or until_horizon < next_s:
                next_s, precise = until_horizon, True
        if not self._stalled:
            self._report_position(now)
            until_report = self._last_position_s + POSITION_INTERVAL_S - now
            if self._on_position is not None and (next_s is None or until_report < next_s):
                next_s, precise = until_report, False
        return (None if next_s is None else max(0.0, next_s)), precise

    def _dispatch(self, event: _Event, lateness_s: float) -> bool:
        self._last_event_tick = event.tick
        if event.kind == _PROGRAM:  # never dropped late: the notes after it need it
            return self._send_program(event.channel, event.pitch)
        if event.kind == _CONTROL:
            return self._send_control(event.channel, event.pitch, event.velocity)
        if event.kind == _SYSEX:  # never dropped late: the settings after it rely on it
            message = self._settings.messages[event.pitch]
            if not self._send(list(message)):
                return False
            if system_exclusive_name(message) in RESETS:  # the synth is at its defaults
                self._programs_sent.clear()
                self._controls_sent.clear()
                self._parameters_sent.clear()
                self._parameter_tracker = _ParameterTracker()
            return True
        if event.kind == _KEY:  # (its note may have been dropped late: harmless)
            return self._send([POLY_PRESSURE | event.channel, event.pitch, event.velocity])
        if event.kind == _ON:
            if event.pair in self._cancelled_pairs:
                self._cancelled_pairs.discard(event.pair)
                return True
            if lateness_s > self._late_drop_s:
                self._dropped_pairs.add(event.pair)
                self._stats = replace(self._stats, dropped_late=self._stats.dropped_late + 1)
                return True
            sent = self._note_on(event.channel, event.pitch, event.velocity)
        else:
            if event.pair in self._dropped_pairs:
                self._dropped_pairs.discard(event.pair)
                return True
            sent = self._note_off(event.channel, event.pitch)
        if sent and self._port is not None:
            self._stats = replace(
                self._stats, max_lateness_s=max(self._stats.max_lateness_s, lateness_s)
            )
        return sent

    def _send_previews(self, now: float) -> None:
        while self._pending_previews:
            pitch, velocity, duration_s, channel, program = self._pending_previews.pop(0)
            if program is None and self._programs_sent.get(channel, 0) != 0:
                program = 0  # none in force: not another song's instrument, but piano
            if program is not None and self._programs_sent.get(channel) != program:
                if not self._send_program(channel, program):
                    return
            pair = self._next_pair()
            if not self._note_on(channel, pitch, velocity):
                return
            self._seq += 1
            heapq.heappush(
                self._timed_offs, _TimedOff(now + duration_s, self._seq, channel, pitch, pair)
            )
        while self._timed_offs and self._timed_offs[0].time_s <= now + _EPSILON_S:
            off = heapq.heappop(self._timed_offs)
            if not self._note_off(off.channel, off.pitch):
                return

    def _report_position(self, now: float, force: bool = False) -> None:
        if self._on_position is None:
            return
        if not force and now - self._last_position_s < POSITION_INTERVAL_S - _EPSILON_S:
            return
        self._last_position_s = now
        tick = self._current_tick(now)
        callback = self._on_position
        self._pending_callbacks.append(lambda: callback(tick))

    def _finish(self) -> None:
        """The end is reached: report the final position, then ``on_finished``."""
        # the playhead ends exactly at the last event (the clock is a little past it by now)
        end_tick = max(self._anchor_tick, float(self._last_event_tick))
        self._release()  # a pedal held or a bend made to the end lets go there
        self._halt_locked()
        self._position_tick = end_tick
        if self._on_position is not None:
            callback = self._on_position
            self._pending_callbacks.append(lambda: callback(end_tick))
        if self._on_finished is not None:
            self._pending_callbacks.append(self._on_finished)


# ---- the player in its own process -----------------------------------------------------------
_PROCESS_COMMANDS = frozenset(
    {
        "play", "start_stream", "append_frames", "end_stream", "stream_frames_played",
        "update_notes", "set_loop", "set_tempo_map", "stop", "seek", "panic", "preview_note", "time_of_tick",
        "is_playing", "position_tick", "stats", "stream_frames_appended",
    }
)  # fmt: skip
_PROPERTIES = frozenset({"is_playing", "position_tick", "stats", "stream_frames_appended"})
_ERRORS: dict[str, type[Exception]] = {
    "PortError": PortError,
    "ValueError": ValueError,
    "RuntimeError": RuntimeError,
    "NoteError": ValueError,
}


def _serve_player(commands: Connection, events: Connection, realtime_priority: int | None) -> None:
    """The player process: run a :class:`Player`, obey ``commands``, report on ``events``.

    Ctrl+C in the terminal reaches the whole process group: the app decides what it means
    (close the window, asking about unsaved work) and closes this process, so it is ignored
    here rather than killing the player mid-note with a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    send_lock = threading.Lock()

    def emit(*item: object) -> None:
        with send_lock:
            try:
                events.send(item)
            except (BrokenPipeError, OSError):
                pass  # the parent is gone; the command loop ends on EOF

    player = Player(
        None,
        on_position=lambda tick: emit("position", tick),
        on_error=lambda message: emit("error", message),
        on_finished=lambda: emit("finished"),
        realtime_priority=realtime_priority,
    )
    port: SafeOutputPort | None = None
    # the score the player was last given here (this process's own copy): an edit while
    # playing arrives as the notes it removes and adds, and is applied to it
    score_now: Score | None = None
    try:
        while True:
            try:
                name, args = commands.recv()
            except (EOFError, OSError):
                break
            if name == "close":
                break
            after_reply: Callable[[], None] | None = None
            try:
                if name == "set_port":
                    spec: PortSpec | None = args[0]
                    new_port = spec.open() if spec is not None else None
                    player.set_port(new_port)
                    if port is not None:
                        port.close()
                    port, result = new_port, None
                elif name == "realtime_granted":
                    result = player.realtime_granted
                elif name == "update_notes_diff":
                    ppq, removed, added = args
                    score_now = _score_edited(score_now, ppq, removed, added)
                    # the caller waits for the reply, not for the player to reschedule
                    after_reply, result = functools.partial(player.update_notes, score_now), None
                elif name == "play_diff":
                    ppq, removed, added, tempo_map, settings, start_tick = args
                    edited = _score_edited(score_now, ppq, removed, added)
                    edited.tempo_map = list(tempo_map)
                    for name, values in zip(_SETTING_FIELDS, settings, strict=True):
                        setattr(edited, name, list(values))
                    score_now = None  # if the player refuses it, nothing is current
                    result = player.play(edited, start_tick)
                    score_now = edited
                elif name in _PROPERTIES:
                    result = getattr(player, name)
                elif name in _PROCESS_COMMANDS:
                    if name in ("play", "start_stream", "update_notes"):
                        score_now = None  # if the player refuses it, nothing is current
                    result = getattr(player, name)(*args)
                    if name in ("play", "start_stream", "update_notes"):
                        score_now = args[0]
                else:
                    raise RuntimeError(f"unknown player command {name!r}")
                commands.send(("ok", result))
            except Exception as exc:
                commands.send(("raise", type(exc).__name__, str(exc)))
            if after_reply is not None:
                try:
                    after_reply()
                except Exception as exc:  # noqa: BLE001 - the caller has had its reply
                    log.exception("the player failed to apply an edit")
                    emit("error", f"The MIDI player failed to apply an edit: {exc}")
    finally:
        player.close()
        if port is not None:
            port.close()
        with contextlib.suppress(BrokenPipeError, OSError):
            commands.send(("ok", None))


def _difference(
    old: tuple[Note, ...], old_set: set[Note], new: tuple[Note, ...]
) -> tuple[tuple[Note, ...], tuple[Note, ...], set[Note]]:
    """(the notes of ``old`` not in ``new``, those of ``new`` not in ``old``, ``new``'s set),
    identical copies counted; ``old_set`` is ``old``'s set. Sets, not counters, unless a
    note is stacked on its copy: a fifth of the time (26 ms against 124 at 100,000 notes)."""
    new_set = set(new)
    if len(new_set) == len(new) and len(old_set) == len(old):
        return tuple(sorted(old_set - new_set)), tuple(sorted(new_set - old_set)), new_set
    old_counts, new_counts = collections.Counter(old), collections.Counter(new)
    removed = tuple(sorted((old_counts - new_counts).elements()))
    return removed, tuple(sorted((new_counts - old_counts).elements())), new_set


# What a score sends besides its notes and tempo: crossed to the player's process whole with
# a difference of notes (another song's may differ)
_SETTING_FIELDS = ("program_changes", "control_changes", "pitch_bends", "channel_pressures",
                   "key_pressures", "system_exclusive")


def _settings_of(score: Score) -> tuple[list, ...]:
    """A score's :data:`_SETTING_FIELDS`, in that order."""
    return tuple(list(getattr(score, name)) for name in _SETTING_FIELDS)


def _score_edited(score: Score | None, ppq: int, removed: Sequence[Note],
                  added: Sequence[Note]) -> Score:
    """``score`` less ``removed`` plus ``added`` (in place); ValueError, naming the problem,
    when it is not the score the difference was taken from."""
    if score is None or score.ppq != ppq:
        raise ValueError("the player's copy of the score is out of step (no score, or "
                         "another resolution)")
    try:
        score.check_removable(removed)
    except ScoreError as exc:
        raise ValueError(f"the player's copy of the score is out of step: {exc}") from None
    score.remove_many(removed)
    score.add_many(added)
    return score


class ProcessPlayer:
    """The :class:`Player` in a process of its own, so no thread here can delay its sends.

    Python threads share one interpreter lock: a thread computing in pure Python (a
    generator) delays the player's thread by up to a switch interval. In its own process the
    player keeps time whatever this process does (see docs/benchmarks/midi.md).

    Same methods and callbacks as :class:`Player` (callbacks run on a listener thread of this
    process), except that ports cannot cross processes: :meth:`set_port` takes a
    :class:`~composer_app.midi.ports.PortSpec` that the player's process opens. Commands are
    synchronous; errors raised there (PortError, ValueError, RuntimeError) are raised here.
    :meth:`update_notes` sends only the notes an edit removed and added, and returns once
    the process holds them, while its player reschedules.
    """

    def __init__(
        self,
        port: PortSpec | None = None,
        *,
        on_position: Callable[[float], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        realtime_priority: int | None = None,
        start_timeout_s: float = 60.0,
    ) -> None:
        self._on_position = on_position
        self._on_error = on_error
        self._on_finished = on_finished
        self._lock = threading.Lock()
        self._closed = False
        # the notes the player's process holds (ppq, notes; their set once needed), so that
        # an edit while playing sends what it changed, not the whole score
        self._sent: tuple[int, tuple[Note, ...]] | None = None
        self._sent_set: set[Note] | None = None
        context = mp.get_context("spawn")  # a fresh interpreter: no copied threads or locks
        self._commands, child_commands = context.Pipe()
        events_in, events_out = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_serve_player,
            args=(child_commands, events_out, realtime_priority),
            name="midi-player",
            daemon=True,
        )
        self._process.start()
        child_commands.close()
        events_out.close()
        self._events = events_in
        # daemon: a player nobody closed must not keep the interpreter from exiting (close()
        # still joins it; the child process is a daemon too)
        self._listener = threading.Thread(
            target=self._listen, name="midi-player-events", daemon=True
        )
        self._listener.start()
        self._start_timeout_s = start_timeout_s
        if port is not None:
            self.set_port(port)

    def _listen(self) -> None:
        while True:
            try:
                item = self._events.recv()
            except (EOFError, OSError):
                if not self._closed and self._on_error is not None:
                    self._on_error("The MIDI player process ended unexpectedly; restart playback")
                return
            kind = item[0]
            try:
                if kind == "position" and self._on_position is not None:
                    self._on_position(item[1])
                elif kind == "error" and self._on_error is not None:
                    self._on_error(item[1])
                elif kind == "finished" and self._on_finished is not None:
                    self._on_finished()
            except Exception:
                log.exception("a player callback raised")

    def _call(self, name: str, *args: object) -> Any:
        with self._lock:
            if self._closed:
                raise RuntimeError("the player is closed")
            try:
                self._commands.send((name, args))
                if not self._commands.poll(self._start_timeout_s):
                    raise RuntimeError("the MIDI player process does not answer")
                reply = self._commands.recv()
            except (EOFError, OSError) as exc:
                raise RuntimeError("the MIDI player process has ended") from exc
        if reply[0] == "raise":
            raise _ERRORS.get(reply[1], RuntimeError)(reply[2])
        return reply[1]

    # state
    @property
    def is_playing(self) -> bool:
        """Whether a score or stream is playing."""
        return bool(self._call("is_playing"))

    @property
    def position_tick(self) -> float:
        """The playhead. Units: ticks."""
        return float(self._call("position_tick"))

    @property
    def stats(self) -> PlayerStats:
        """The player's counts (see :class:`PlayerStats`)."""
        return self._call("stats")

    @property
    def realtime_granted(self) -> bool:
        """Whether the player's thread got SCHED_FIFO."""
        return bool(self._call("realtime_granted"))

    @property
    def stream_frames_appended(self) -> int:
        """How many frames the current stream holds."""
        return int(self._call("stream_frames_appended"))

    def time_of_tick(self, tick: float) -> float | None:
        """As :meth:`Player.time_of_tick` (the monotonic clock is shared by processes)."""
        return self._call("time_of_tick", tick)

    # commands
    def set_port(self, port: PortSpec | None) -> None:
        """Open ``port`` in the player's process and send there (``None``: silent)."""
        if port is not None and not isinstance(port, PortSpec):
            raise TypeError(
                f"ProcessPlayer.set_port takes a PortSpec (ports cannot cross processes), "
                f"got {type(port).__name__}"
            )
        self._call("set_port", port)

    def play(self, score: Score, start_tick: int = 0) -> None:
        """As :meth:`Player.play`. A score the process holds already (played before, then
        edited) crosses as the notes changed since."""
        self._send_score(
            "play", score, (start_tick,),
            (list(score.tempo_map), _settings_of(score), start_tick),
        )

    def _forget_sent(self) -> None:
        """Forget what the process holds (before a call that replaces it)."""
        self._sent, self._sent_set = None, None

    def start_stream(
        self,
        score: Score,
        start_tick: int,
        step_ticks: int,
        pitch_low: int = 21,
        velocity: int = 90,
        channel: int = 0,
    ) -> None:
        """As :meth:`Player.start_stream`."""
        self._forget_sent()
        self._call("start_stream", score, start_tick, step_ticks, pitch_low, velocity, channel)
        self._sent = (score.ppq, score.notes)

    def append_frames(self, frames: np.ndarray) -> None:
        """As :meth:`Player.append_frames`. Shapes: ``(n, P)`` or ``(P,)``."""
        self._call("append_frames", np.asarray(frames))

    def end_stream(self) -> None:
        """As :meth:`Player.end_stream`."""
        self._call("end_stream")

    def stream_frames_played(self) -> int:
        """As :meth:`Player.stream_frames_played`."""
        return int(self._call("stream_frames_played"))

    def set_loop(self, start_tick: int | None, end_tick: int | None = None) -> None:
        """As :meth:`Player.set_loop`."""
        self._call("set_loop", start_tick, end_tick)

    def update_notes(self, score: Score) -> None:
        """As :meth:`Player.update_notes`. Only the notes the edit removed and added cross to
        the player's process (the whole score when it holds another one)."""
        self._send_score("update_notes", score, (), (), skip_unchanged=True)

    def _send_score(
        self, command: str, score: Score, args: tuple[object, ...],
        diff_args: tuple[object, ...], skip_unchanged: bool = False,
    ) -> None:
        """Run ``command`` (play, update_notes) on ``score`` and ``args`` in the player's
        process: as ``command + "_diff"`` with the notes removed and added since the score it
        holds, then ``diff_args``, if it holds one of this resolution (a large score pickles
        slowly: 0.65 s at 100,000 notes), else with the whole score. ``skip_unchanged``:
        nothing to do for the same notes."""
        notes = score.notes
        if self._sent is not None and self._sent[0] == score.ppq:
            old_notes = self._sent[1]
            old_set = self._sent_set if self._sent_set is not None else set(old_notes)
            removed, added, new_set = _difference(old_notes, old_set, notes)
            if skip_unchanged and not removed and not added:
                self._sent_set = new_set
                return  # the same notes: nothing to hear differently
            self._forget_sent()
            try:
                self._call(f"{command}_diff", score.ppq, removed, added, *diff_args)
            except ValueError:  # out of step: hand over the whole score
                log.debug("player's score out of step; sending it whole", exc_info=True)
            else:
                self._sent, self._sent_set = (score.ppq, notes), new_set
                return
        self._forget_sent()
        self._call(command, score, *args)
        self._sent = (score.ppq, notes)

    def set_tempo_map(self, tempo_map: Sequence[TempoChange]) -> None:
        """As :meth:`Player.set_tempo_map`."""
        self._call("set_tempo_map", list(tempo_map))

    def _call_if_alive(self, name: str) -> None:
        """A command that must not fail the caller when the player's process has ended."""
        if self._closed:
            return
        try:
            self._call(name)
        except RuntimeError:
            # the pipe reports the end before the child is reaped: give it a moment
            self._process.join(0.5)
            if self._process.is_alive():
                raise

    def stop(self) -> None:
        """As :meth:`Player.stop`."""
        self._call_if_alive("stop")

    def seek(self, tick: float) -> None:
        """As :meth:`Player.seek`."""
        self._call("seek", tick)

    def panic(self) -> None:
        """As :meth:`Player.panic`."""
        self._call_if_alive("panic")

    def preview_note(
        self, pitch: int, velocity: int = 100, duration_s: float = 0.25, channel: int = 0,
        program: int | None = None,
    ) -> None:
        """As :meth:`Player.preview_note`."""
        self._call("preview_note", pitch, velocity, duration_s, channel, program)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop and silence in the player's process, close its port, end it. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(EOFError, OSError):
                self._commands.send(("close", ()))
                if self._commands.poll(timeout_s):
                    self._commands.recv()
        self._process.join(timeout_s)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout_s)
        if threading.current_thread() is not self._listener:
            self._listener.join(timeout_s)
        self._commands.close()

    def __enter__(self) -> ProcessPlayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

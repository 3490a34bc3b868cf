"""A score: notes kept sorted, a tempo map and a meter, and what a file gives besides (key
signatures, program and controller changes, pitch bends, aftertouch, the title and track
names, texts such as lyrics and markers, system-exclusive messages), all in integer ticks."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter

from composer_app.core.note import Note

DEFAULT_PPQ = 480
DEFAULT_TEMPO_US_PER_QUARTER = 500_000  # 120 BPM
# The slowest tempo a MIDI file can hold is 0xFFFFFF microseconds per quarter (3.58 BPM).
MIN_TEMPO_BPM = 4.0
MAX_TEMPO_BPM = 1000.0
_TICK = attrgetter("tick")  # of a TempoChange, ProgramChange, ControlChange, PitchBend, ...
_TICK_CHANNEL = attrgetter("tick", "channel")  # of a ProgramChange, ControlChange, ...
# Up to this many notes, removals and lookups go one by one (a binary search each); beyond,
# in one pass over the score.
_ONE_BY_ONE_REMOVALS = 64


class ScoreError(ValueError):
    """An impossible score edit (a missing note, a bad tempo or meter)."""


@dataclass(frozen=True, order=True, slots=True)
class TempoChange:
    """From ``tick`` on, a quarter note lasts ``us_per_quarter`` microseconds.

    Units: ``tick`` in ticks; ``us_per_quarter`` in microseconds (as stored in MIDI files).
    """

    tick: int
    us_per_quarter: int

    def __post_init__(self) -> None:
        if self.tick < 0:
            raise ScoreError(f"tempo change at a negative tick ({self.tick})")
        if self.us_per_quarter <= 0:
            raise ScoreError(f"tempo must be positive, got {self.us_per_quarter} us per quarter")

    @property
    def tempo_bpm(self) -> float:
        """Quarter notes per minute."""
        return 60_000_000 / self.us_per_quarter

    @staticmethod
    def from_bpm(tick: int, tempo_bpm: float) -> TempoChange:
        """A tempo change given in quarter notes per minute."""
        if not MIN_TEMPO_BPM <= tempo_bpm <= MAX_TEMPO_BPM:
            raise ScoreError(f"tempo must be {MIN_TEMPO_BPM:g}-{MAX_TEMPO_BPM:g} BPM, got {tempo_bpm}")
        return TempoChange(tick, round(60_000_000 / tempo_bpm))


@dataclass(frozen=True, order=True, slots=True)
class TimeSignature:
    """From ``tick`` on, bars hold ``numerator`` notes of value 1/``denominator``."""

    tick: int
    numerator: int = 4
    denominator: int = 4

    def __post_init__(self) -> None:
        if self.tick < 0:
            raise ScoreError(f"time signature at a negative tick ({self.tick})")
        if not 1 <= self.numerator <= 255:
            raise ScoreError(f"time signature numerator must be 1-255, got {self.numerator}")
        if self.denominator not in (1, 2, 4, 8, 16, 32, 64):
            raise ScoreError(f"time signature denominator must be a power of two, got {self.denominator}")

    def bar_ticks(self, ppq: int) -> int:
        """Length of one bar. Units: ticks."""
        return self.numerator * ppq * 4 // self.denominator


# Key names by the number of sharps (negative: flats), -7..7.
_MAJOR_KEY_NAMES = ("C\u266d", "G\u266d", "D\u266d", "A\u266d", "E\u266d", "B\u266d", "F",
                    "C", "G", "D", "A", "E", "B", "F\u266f", "C\u266f")
_MINOR_KEY_NAMES = ("A\u266d", "E\u266d", "B\u266d", "F", "C", "G", "D",
                    "A", "E", "B", "F\u266f", "C\u266f", "G\u266f", "D\u266f", "A\u266f")


@dataclass(frozen=True, order=True, slots=True)
class KeySignature:
    """From ``tick`` on, the music is written with ``sharps`` sharps (negative: flats), in a
    major key or, with ``minor``, its relative minor: a MIDI file's key signature, kept so
    that saving gives it back (notation software spells the notes by it).

    Units: ``tick`` in ticks; ``sharps`` from -7 (seven flats) to 7.
    """

    tick: int
    sharps: int = 0
    minor: bool = False

    def __post_init__(self) -> None:
        if self.tick < 0:
            raise ScoreError(f"key signature at a negative tick ({self.tick})")
        if not -7 <= self.sharps <= 7:
            raise ScoreError(f"a key signature holds -7 to 7 sharps, got {self.sharps}")

    @property
    def tonic(self) -> int:
        """The key's tonic as a pitch class (0 = C): each sharp a fifth up, the relative
        minor a minor third below its major."""
        return (7 * self.sharps + (9 if self.minor else 0)) % 12

    @property
    def name(self) -> str:
        """E.g. "G major", "B\u266d major", "F\u266f minor"."""
        names = _MINOR_KEY_NAMES if self.minor else _MAJOR_KEY_NAMES
        return f"{names[self.sharps + 7]} {'minor' if self.minor else 'major'}"

    @staticmethod
    def of_key(tick: int, tonic: int, minor: bool) -> KeySignature:
        """The key signature of the key on pitch class ``tonic`` (0 = C), with at most six
        sharps or five flats (F\u266f major, not G\u266d; D\u266d major, not C\u266f)."""
        major_tonic = (tonic + 3) % 12 if minor else tonic % 12
        sharps = 7 * major_tonic % 12  # each sharp a fifth up: 7 * 7 = 1 (mod 12)
        return KeySignature(tick, sharps - 12 if sharps > 6 else sharps, minor)


def key_changes(keys: Iterable[KeySignature]) -> list[KeySignature]:
    """``keys`` in time order, less those that restate the key in force: a file states its
    key in every track, and a track may restate it a bar after another changes it; a
    restatement left in would become a change after an edit of the one before it."""
    kept: list[KeySignature] = []
    for key in sorted(keys):
        if not kept or (kept[-1].sharps, kept[-1].minor) != (key.sharps, key.minor):
            kept.append(key)
    return kept


@dataclass(frozen=True, order=True, slots=True)
class ProgramChange:
    """From ``tick`` on, MIDI ``channel`` plays instrument ``program``: a MIDI file's program
    change, kept so that playing and saving give each part its instrument.

    Units: ``tick`` in ticks; ``channel`` 0-15; ``program`` 0-127 as sent (General MIDI's
    instrument 1, the grand piano, is 0; 41, the violin, is 40).
    """

    tick: int
    channel: int
    program: int

    def __post_init__(self) -> None:
        if self.tick < 0:
            raise ScoreError(f"program change at a negative tick ({self.tick})")
        if not 0 <= self.channel <= 15:
            raise ScoreError(f"a program change's channel must be 0-15, got {self.channel}")
        if not 0 <= self.program <= 127:
            raise ScoreError(f"a program must be 0-127, got {self.program}")


def program_changes(changes: Iterable[ProgramChange]) -> list[ProgramChange]:
    """``changes`` in time order (at one tick as given), less those that restate the program in force on their
    channel (a file may restate it at every section)."""
    kept: list[ProgramChange] = []
    in_force: dict[int, int] = {}  # channel -> program
    for change in sorted(changes, key=_TICK):
        if in_force.get(change.channel) != change.program:
            in_force[change.channel] = change.program
            kept.append(change)
    return kept


@dataclass(frozen=True, order=True, slots=True)
class ControlChange:
    """From ``tick`` on, MIDI ``channel``'s ``controller`` is at ``value``: a MIDI file's
    controller (the sustain pedal, 64; volume, 7; pan, 10; bank select, 0 and 32; ...), kept
    so that playing and saving give each part its pedalling and mix.

    Units: ``tick`` in ticks; ``channel`` 0-15; ``controller`` 0-119 (120-127 are channel
    mode messages, such as all notes off, not settings); ``value`` 0-127.
    """

    tick: int
    channel: int
    controller: int
    value: int

    def __post_init__(self) -> None:
        if self.tick < 0:
            raise ScoreError(f"controller change at a negative tick ({self.tick})")
        if not 0 <= self.channel <= 15:
            raise ScoreError(f"a controller change's channel must be 0-15, got {self.channel}")
        if not 0 <= self.controller <= 119:
            raise ScoreError(f"a controller must be 0-119, got {self.controller}")
        if not 0 <= self.value <= 127:
            raise ScoreError(f"a controller's value must be 0-127, got {self.value}")


PITCH_BEND_CENTRE = 8192  # no bend: where every channel starts


@dataclass(frozen=True, order=True, slots=True)
class PitchBend:
    """From ``tick`` on, MIDI ``channel`` is bent to ``value``: a MIDI file's pitch bend, kept
    so that playing and saving bend its notes as it does.

    Units: ``tick`` in ticks; ``channel`` 0-15; ``value`` 0-16383, 8192 the centre (the
    synth's bend range, often 2 semitones, says how far the ends reach).
    """

    tick: int
    channel: int
    value: int

    def __post_init__(self) -> None:
        if self.tick < 0:
            raise ScoreError(f"pitch bend at a negative tick ({self.tick})")
        if not 0 <= self.channel <= 15:
            raise ScoreError(f"a pitch bend's channel must be 0-15, got {self.channel}")
        if not 0 <= self.value <= 16383:
            raise ScoreError(f"a pitch bend must be 0-16383, got {self.value}")


@dataclass(frozen=True, order=True, slots=True)
class ChannelPressure:
    """From ``tick`` on, MIDI ``channel`` is pressed at ``value``: a MIDI file's channel
    pressure (a keyboard's aftertouch, one value for all its keys; a synth often maps it to
    vibrato or loudness), kept so that playing and saving press as the player did.

    Units: ``tick`` in ticks; ``channel`` 0-15; ``value`` 0-127 (0: none, where every channel
    starts).
    """

    tick: int
    channel: int
    value: int

    def __post_init__(self) -> None:
        if self.tick < 0:
            raise ScoreError(f"channel pressure at a negative tick ({self.tick})")
        if not 0 <= self.channel <= 15:
            raise ScoreError(f"a channel pressure's channel must be 0-15, got {self.channel}")
        if not 0 <= self.value <= 127:
            raise ScoreError(f"a channel pressure must be 0-127, got {self.value}")


@dataclass(frozen=True, order=True, slots=True)
class KeyPressure:
    """At ``tick``, the key ``pitch`` of MIDI ``channel``, sounding, is pressed at ``value``: a
    MIDI file's polyphonic aftertouch, kept so that playing and saving give it back.

    Units: ``tick`` in ticks; ``channel`` 0-15; ``pitch`` 0-127; ``value`` 0-127.
    """

    tick: int
    channel: int
    pitch: int
    value: int

    def __post_init__(self) -> None:
        if self.tick < 0:
            raise ScoreError(f"key pressure at a negative tick ({self.tick})")
        if not 0 <= self.channel <= 15:
            raise ScoreError(f"a key pressure's channel must be 0-15, got {self.channel}")
        if not 0 <= self.pitch <= 127:
            raise ScoreError(f"a key pressure's pitch must be 0-127, got {self.pitch}")
        if not 0 <= self.value <= 127:
            raise ScoreError(f"a key pressure must be 0-127, got {self.value}")


# Data entry, its increment and decrement, and the (N)RPN parameter numbers they set (the
# pitch-bend range is RPN 0): a sequence (the same value twice may select or set two
# parameters), never merged as a restatement, and never sent alone
PARAMETER_CONTROLLERS = frozenset((6, 38, 96, 97, 98, 99, 100, 101))


def control_changes(changes: Iterable[ControlChange]) -> list[ControlChange]:
    """``changes`` in time order (at one tick as given: a parameter number before its data
    entry, a pedal up before a pedal down), less those that restate the value in force of
    their channel's controller (a data entry, which sets whichever parameter is selected, is
    never one)."""
    kept: list[ControlChange] = []
    in_force: dict[tuple[int, int], int] = {}  # (channel, controller) -> value
    for change in sorted(changes, key=_TICK):
        key = (change.channel, change.controller)
        if change.controller in PARAMETER_CONTROLLERS or in_force.get(key) != change.value:
            in_force[key] = change.value
            kept.append(change)
    return kept


def channel_pressures(pressures: Iterable[ChannelPressure]) -> list[ChannelPressure]:
    """``pressures`` in time order, less those that leave their channel's pressure as it was
    (a channel starts at none, 0)."""
    kept: list[ChannelPressure] = []
    in_force: dict[int, int] = {}  # channel -> value
    for pressure in sorted(pressures, key=_TICK):
        if in_force.get(pressure.channel, 0) != pressure.value:
            in_force[pressure.channel] = pressure.value
            kept.append(pressure)
    return kept


def pitch_bends(bends: Iterable[PitchBend]) -> list[PitchBend]:
    """``bends`` in time order, less those that leave their channel's bend as it was (a
    channel starts at the centre: a centred bend before any other, as many writers put at a
    track's start, is none)."""
    kept: list[PitchBend] = []
    in_force: dict[int, int] = {}  # channel -> value
    for bend in sorted(bends, key=_TICK):
        if in_force.get(bend.channel, PITCH_BEND_CENTRE) != bend.value:
            in_force[bend.channel] = bend.value
            kept.append(bend)
    return kept


# A MIDI file's kinds of text (its meta event types; 3, a track's name, is kept apart as
# Score.title and Score.track_names): what ``info`` calls them
TEXT_KINDS = {
    1: "text", 2: "copyright", 4: "instrument name", 5: "lyric", 6: "marker", 7: "cue point",
    8: "program name", 9: "device name",
    **{kind: f"text (type {kind})" for kind in range(10, 16)},  # reserved for text
}
LYRIC = 5
MARKER = 6
CUE_POINT = 7


def readable_text(text: str) -> str:
    """A file's text (a name, a lyric, a marker) as a person should read it: read as Latin-1
    (so that a save writes the very bytes back), it is shown as UTF-8 where its bytes are
    UTF-8 (as most programs write texts today), else as read; a line break or another
    control character (an escape sequence) is shown as a space."""
    if not text.isascii():
        try:
            text = text.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else " " for c in text)


@dataclass(frozen=True, slots=True)
class TextEvent:
    """At ``tick``, a MIDI file's text of ``kind`` (a lyric syllable, a rehearsal marker, a
    copyright notice, ...: a key of :data:`TEXT_KINDS`), kept so that a save gives it back.

    ``part``: the ``(channel, Note.track)`` of the part whose track held it (a lyric in the
    melody's track), or None for the song's own (its first track's, or a track's that holds
    no notes or several channels' notes). Units: ``tick`` in ticks; ``text`` as read (Latin-1,
    so that a save writes the very bytes back).
    """

    tick: int
    kind: int
    text: str
    part: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.tick < 0:
            raise ScoreError(f"text event at a negative tick ({self.tick})")
        if self.kind not in TEXT_KINDS:
            raise ScoreError(f"a text event's kind must be one of {sorted(TEXT_KINDS)}, got {self.kind}")
        if not self.text:  # (a file's empty one is a writer's filler, not kept)
            raise ScoreError("a text event must hold some text")


def _text_order(text: TextEvent) -> tuple[int, tuple[int, int]]:
    """Where ``text`` goes among a score's texts: by tick; at one tick the song's, then each
    part's by channel and track (the order of the tracks a save writes them in)."""
    return text.tick, text.part or (-1, -1)


@dataclass(frozen=True, slots=True)
class SystemExclusive:
    """At ``tick``, a system-exclusive message of a MIDI file (a General MIDI, GS or XG reset,
    a synth's own setting), kept so that a save gives it back.

    ``data``: the event as a file stores it, less its length: 0xF0 and the message's bytes
    (0xF7 ends a whole message), or 0xF7 and a packet of a message split in time or an escape.
    Units: ``tick`` in ticks.
    """

    tick: int
    data: bytes

    def __post_init__(self) -> None:
        if self.tick < 0:
            raise ScoreError(f"system-exclusive message at a negative tick ({self.tick})")
        if not self.data or self.data[0] not in (0xF0, 0xF7):
            raise ScoreError("a system-exclusive message must start with 0xF0 or 0xF7")

    @property
    def name(self) -> str:
        """The name of a well-known message (see :func:`system_exclusive_name`), or ""."""
        return system_exclusive_name(self.data)


_GENERAL_MIDI = {1: "General MIDI on", 2: "General MIDI off", 3: "General MIDI 2 on"}
# The messages that put a whole synth back to its defaults (every program piano, ...)
RESETS = frozenset(("General MIDI on", "General MIDI 2 on", "GS reset", "XG on"))


def system_exclusive_name(data: bytes | tuple[int, ...]) -> str:
    """The name of a well-known system-exclusive message (General MIDI on or off, to any
    device; a Roland GS reset; a Yamaha XG on), or ""; ``data`` as stored, 0xF0 first."""
    data = bytes(data)
    if data[:1] != b"\xf0":
        return ""  # (a packet of a message split in time)
    if data[1:2] == b"\x7e" and data[3:4] == b"\x09":  # universal non-real-time: GM
        return _GENERAL_MIDI.get(data[4] if len(data) > 4 else 0, "")
    if data[1:2] == b"\x41" and data[3:5] == b"\x42\x12" and data[5:8] == b"\x40\x00\x7f":
        return "GS reset"
    if (data[1:2] == b"\x43" and len(data) > 2 and data[2] & 0xF0 == 0x10
            and data[3:7] == b"\x4c\x00\x00\x7e"):
        return "XG on"
    return ""


@dataclass
class Score:
    """Notes (sorted by start then pitch), a tempo map, time signatures, and the file's key
    signatures, program changes, controller changes, pitch bends, channel and key pressure
    (aftertouch), title, track names, texts and system-exclusive messages (none unless a file
    gave them; edits leave them where they are).

    Units: every time is an integer tick; ``ppq`` ticks make a quarter note.
    The tempo map and the meter always hold an entry at tick 0.
    """

    ppq: int = DEFAULT_PPQ
    tempo_map: list[TempoChange] = field(
        default_factory=lambda: [TempoChange(0, DEFAULT_TEMPO_US_PER_QUARTER)]
    )
    time_signatures: list[TimeSignature] = field(default_factory=lambda: [TimeSignature(0, 4, 4)])
    key_signatures: list[KeySignature] = field(default_factory=list)
    program_changes: list[ProgramChange] = field(default_factory=list)
    control_changes: list[ControlChange] = field(default_factory=list)
    pitch_bends: list[PitchBend] = field(default_factory=list)
    channel_pressures: list[ChannelPressure] = field(default_factory=list)
    key_pressures: list[KeyPressure] = field(default_factory=list)
    # A file's names: the song's (its first track's) and each part's, by (channel, Note.track)
    title: str = ""
    track_names: dict[tuple[int, int], str] = field(default_factory=dict)
    # A file's texts (lyrics, markers, ...) in time order (at one tick the song's first, then
    # each part's by channel and track, as a save writes them; each as given) and its
    # system-exclusive messages in time order (at one tick as given)
    texts: list[TextEvent] = field(default_factory=list)
    system_exclusive: list[SystemExclusive] = field(default_factory=list)
    _notes: list[Note] = field(default_factory=list, repr=False)
    # The closing rest: how long the song goes on after its last note ends, as its file said
    # (its end of track). Counted from the last note, so it follows it through edits (delete
    # the last bars and the rest comes after the new last note). Units: ticks.
    closing_rest_ticks: int = 0
    # (end of the last note, longest duration), kept through one-note edits, else recounted
    # when next asked (None); see _extent
    _extent_cache: tuple[int, int] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.ppq <= 0:
            raise ScoreError(f"ppq must be positive, got {self.ppq}")
        if self.closing_rest_ticks < 0:
            raise ScoreError(f"closing_rest_ticks must be >= 0, got {self.closing_rest_ticks}")
        self.tempo_map = sorted(self.tempo_map) or [TempoChange(0, DEFAULT_TEMPO_US_PER_QUARTER)]
        if self.tempo_map[0].tick != 0:
            self.tempo_map.insert(0, TempoChange(0, self.tempo_map[0].us_per_quarter))
        self.time_signatures = sorted(self.time_signatures) or [TimeSignature(0)]
        if self.time_signatures[0].tick != 0:
            first = self.time_signatures[0]
            self.time_signatures.insert(0, TimeSignature(0, first.numerator, first.denominator))
        self.key_signatures = sorted(self.key_signatures)
        # in time order; at one tick by channel (a save writes each channel's in its own
        # track, so reading it back gives this order) and on one channel as given (the order
        # a synth gets them in)
        self.program_changes = sorted(self.program_changes, key=_TICK_CHANNEL)
        self.control_changes = sorted(self.control_changes, key=_TICK_CHANNEL)
        self.pitch_bends = sorted(self.pitch_bends, key=_TICK_CHANNEL)
        self.channel_pressures = sorted(self.channel_pressures, key=_TICK_CHANNEL)
        self.key_pressures = sorted(self.key_pressures, key=_TICK_CHANNEL)
        self.texts = sorted(self.texts, key=_text_order)
        self.system_exclusive = sorted(self.system_exclusive, key=_TICK)
        self._notes = sorted(self._notes)

    # ---- notes -------------------------------------------------------------------------
    @property
    def notes(self) -> tuple[Note, ...]:
        """All notes, sorted by start tick then pitch (a snapshot)."""
        return tuple(self._notes)

    def __len__(self) -> int:
        return len(self._notes)

    def __iter__(self) -> Iterator[Note]:
        return iter(tuple(self._notes))

    def __contains__(self, note: object) -> bool:
        if not isinstance(note, Note):
            return False
        i = bisect.bisect_left(self._notes, note)
        return i < len(self._notes) and self._notes[i] == note

    def add(self, note: Note) -> None:
        """Insert one note in order (duplicates are allowed and kept)."""
        bisect.insort(self._notes, note)
        self._extended(note)

    def add_many(self, notes: Iterable[Note]) -> None:
        """Insert many notes at once (a few by binary search, many by one sort: re-sorting
        100,000 notes to add one took 18 ms)."""
        notes = list(notes)
        if len(notes) <= _ONE_BY_ONE_REMOVALS:
            for note in notes:
                self.add(note)
            return
        self._notes.extend(notes)
        self._notes.sort()
        self._extent_cache = None

    def _extended(self, note: Note) -> None:
        """Keep the known extent through the addition of ``note``."""
        if self._extent_cache is not None:
            end, longest = self._extent_cache
            self._extent_cache = (max(end, note.end_tick), max(longest, note.duration_ticks))

    def _extent(self) -> tuple[int, int]:
        """(where the last note ends, the longest note's duration); (0, 0) without notes.
        Units: ticks."""
        if self._extent_cache is None:
            self._extent_cache = (
                max((n.end_tick for n in self._notes), default=0),
                max((n.duration_ticks for n in self._notes), default=0),
            )
        return self._extent_cache

    def remove(self, note: Note) -> None:
        """Remove one note equal to ``note``; :class:`ScoreError` if there is none."""
        i = bisect.bisect_left(self._notes, note)
        if i >= len(self._notes) or self._notes[i] != note:
            raise ScoreError(f"no such note in the score: {note}")
        del self._notes[i]
        cache = self._extent_cache
        if cache is not None and (note.end_tick >= cache[0] or note.duration_ticks >= cache[1]):
            self._extent_cache = None  # it may have been the last or the longest

    def remove_many(self, notes: Iterable[Note]) -> None:
        """Remove one note equal to each of ``notes`` (equal notes counted as many times as
        they are given), all or none: :class:`ScoreError`, the score unchanged, if one is
        missing. One pass over the score for many notes (removing them one by one moves the
        list's tail each time: 15 s for 250,000 notes)."""
        notes = list(notes)
        if len(notes) <= _ONE_BY_ONE_REMOVALS:
            done: list[Note] = []
            try:
                for note in notes:
                    self.remove(note)
                    done.append(note)
            except ScoreError:
                self.add_many(done)  # notes are values: re-adding restores the score exactly
                raise
            return
        wanted = Counter(notes)
        kept: list[Note] = []
        for note in self._notes:
            left = wanted.get(note, 0)
            if left:
                wanted[note] = left - 1
            else:
                kept.append(note)
        missing = next((n for n, left in wanted.items() if left > 0), None)
        if missing is not None:
            raise ScoreError(f"no such note in the score: {missing}")
        self._notes = kept
        self._extent_cache = None

    def check_removable(self, notes: Iterable[Note]) -> None:
        """:class:`ScoreError` naming a note of ``notes`` that :meth:`remove_many` would
        not find (equal notes counted); nothing changes either way."""
        wanted = Counter(notes)
        if len(wanted) <= _ONE_BY_ONE_REMOVALS:
            for note, count in wanted.items():
                i = bisect.bisect_left(self._notes, note)
                if self._notes[i : i + count] != [note] * count:
                    raise ScoreError(f"no such note in the score: {note}")
            return
        available = Counter(n for n in self._notes if n in wanted)
        for note, count in wanted.items():
            if available[note] < count:
                raise ScoreError(f"no such note in the score: {note}")

    def present(self, notes: Iterable[Note]) -> list[Note]:
        """Those of ``notes`` that are in the score (in their order): one lookup each, or
        for many notes one pass over the score."""
        notes = list(notes)
        if len(notes) <= _ONE_BY_ONE_REMOVALS:
            return [n for n in notes if n in self]
        held = set(self._notes)
        return [n for n in notes if n in held]

    def copies_of(self, notes: Iterable[Note]) -> list[Note]:
        """Every note of the score equal to one of ``notes``, in score order: identical notes
        stacked on one another (pasted twice) look like one note, are selected as one and
        so are edited together."""
        wanted = set(notes)
        if len(wanted) > _ONE_BY_ONE_REMOVALS:
            return [n for n in self._notes if n in wanted]
        found: list[Note] = []
        for note in sorted(wanted):
            i = bisect.bisect_left(self._notes, note)
            while i < len(self._notes) and self._notes[i] == note:
                found.append(self._notes[i])
                i += 1
        return found

    def move(self, note: Note, delta_ticks: int = 0, delta_pitch: int = 0) -> Note:
        """Replace ``note`` by a shifted copy and return the copy."""
        moved = note.moved(delta_ticks, delta_pitch)
        self.remove(note)
        self.add(moved)
        return moved

    def resize(self, note: Note, duration_ticks: int) -> Note:
        """Replace ``note`` by a copy of another length and return the copy."""
        resized = note.with_duration(duration_ticks)
        self.remove(note)
        self.add(resized)
        return resized

    def clear(self) -> None:
        """Remove every note."""
        self._notes.clear()
        self._extent_cache = None

    def notes_in_range(
        self,
        start_tick: int,
        end_tick: int,
        pitch_low: int = 0,
        pitch_high: int = 128,
    ) -> list[Note]:
        """Notes that sound at some point of ``[start_tick, end_tick)`` with pitch in ``[pitch_low, pitch_high)``.

        Units: ticks; pitches as MIDI numbers.
        """
        # Notes are sorted by start: none starting at or after end_tick can overlap, nor any
        # starting a longest note's length or more before start_tick. A probe is the smallest
        # possible note at its tick (every other field at its minimum), so bisect_left lands
        # on the first note starting there.
        stop = bisect.bisect_left(self._notes, Note(max(0, end_tick), 0, 1, velocity=1))
        earliest = max(0, start_tick - self._extent()[1])
        first = bisect.bisect_left(self._notes, Note(earliest, 0, 1, velocity=1), 0, stop)
        return [
            n
            for n in self._notes[first:stop]
            if n.end_tick > start_tick and pitch_low <= n.pitch < pitch_high
        ]

    def notes_at(self, tick: int, pitch: int) -> list[Note]:
        """Notes of ``pitch`` sounding at ``tick``."""
        return self.notes_in_range(tick, tick + 1, pitch, pitch + 1)

    @property
    def end_tick(self) -> int:
        """The tick at which the last note ends (0 for an empty score)."""
        return self._extent()[0]

    @property
    def length_tick(self) -> int:
        """Where the song ends: its last note's end plus its closing rest (see
        ``closing_rest_ticks``); 0 without notes. Units: ticks."""
        end = self.end_tick
        return end + self.closing_rest_ticks if self._notes else 0

    # ---- tempo and meter ---------------------------------------------------------------
    def tempo_at(self, tick: int) -> TempoChange:
        """The tempo in force at ``tick``."""
        i = bisect.bisect_right([t.tick for t in self.tempo_map], tick) - 1
        return self.tempo_map[max(0, i)]

    def set_tempo_bpm(self, tempo_bpm: float, tick: int = 0) -> None:
        """Set the tempo from ``tick`` on (replacing a change at that very tick)."""
        change = TempoChange.from_bpm(tick, tempo_bpm)
        self.tempo_map = sorted([t for t in self.tempo_map if t.tick != tick] + [change])

    @property
    def initial_tempo_bpm(self) -> float:
        """The tempo at tick 0, in quarter notes per minute."""
        return self.tempo_map[0].tempo_bpm

    def time_signature_at(self, tick: int) -> TimeSignature:
        """The time signature in force at ``tick``."""
        i = bisect.bisect_right([t.tick for t in self.time_signatures], tick) - 1
        return self.time_signatures[max(0, i)]

    def key_signature_at(self, tick: int) -> KeySignature | None:
        """The key signature in force at ``tick``, or None before the first one (a file
        without one there is read in C major by notation software) and in a score without."""
        i = bisect.bisect_right([k.tick for k in self.key_signatures], tick) - 1
        return self.key_signatures[i] if i >= 0 else None

    def programs_at(self, tick: int) -> dict[int, int]:
        """The program in force at ``tick`` on each channel that has had one: channel ->
        program (what a player sends before playing from ``tick``)."""
        programs: dict[int, int] = {}
        for change in self.program_changes:
            if change.tick > tick:
                break
            programs[change.channel] = change.program
        return programs

    def bar_starts(self, end_tick: int) -> list[int]:
        """Ticks at which bars start, from 0 up to (excluding) ``end_tick``."""
        starts: list[int] = []
        signatures = self.time_signatures
        for i, sig in enumerate(signatures):
            section_end = signatures[i + 1].tick if i + 1 < len(signatures) else end_tick
            step = sig.bar_ticks(self.ppq)
            tick = sig.tick
            while tick < min(section_end, end_tick):
                starts.append(tick)
                tick += step
        return starts

    def bar_start(self, bar: int) -> int:
        """The tick at which bar ``bar`` (counted from 1) starts, as :meth:`bar_starts`
        counts bars (a meter change starts a new bar). Units: ticks.

        Raises :class:`ScoreError` for ``bar < 1`` or a meter whose bars are shorter than a
        tick at this resolution (they cannot be counted).
        """
        if bar < 1:
            raise ScoreError(f"bars count from 1, got {bar}")
        remaining = bar - 1  # bars to skip
        signatures = self.time_signatures
        for i, sig in enumerate(signatures):
            step = sig.bar_ticks(self.ppq)
            if step <= 0:
                raise ScoreError(
                    f"a {sig.numerator}/{sig.denominator} bar is shorter than a tick at "
                    f"{self.ppq} ticks per quarter"
                )
            if i + 1 == len(signatures):
                return sig.tick + remaining * step
            in_section = -(-(signatures[i + 1].tick - sig.tick) // step)
            if remaining < in_section:
                return sig.tick + remaining * step
            remaining -= in_section
        raise AssertionError("unreachable: a score has at least one time signature")

    def bar_start_at(self, tick: int) -> int:
        """The tick at which the bar holding ``tick`` starts (bars as :meth:`bar_starts`
        counts them; ticks before 0 count as in the first bar). Units: ticks."""
        sig = self.time_signature_at(tick)
        step = sig.bar_ticks(self.ppq)
        if step <= 0 or tick <= sig.tick:
            return sig.tick if tick >= sig.tick else 0
        return sig.tick + (int(tick) - sig.tick) // step * step

    def bars_later(self, tick: int, bars: int) -> int:
        """The tick ``bars`` bars after ``tick``, at the same place in its bar, with each bar
        as long as the meter in force makes it (a meter change starts a new bar; a place
        past the end of a shorter bar is that bar's end). Units: ticks.

        Raises :class:`ScoreError` as :meth:`bar_start` does.
        """
        if bars < 0:
            raise ScoreError(f"bars must be >= 0, got {bars}")
        tick = max(0, int(tick))
        bar_tick = self.bar_start_at(tick)
        number = len(self.bar_starts(bar_tick + 1))  # counted from 1
        target = self.bar_start(number + bars)
        return min(target + (tick - bar_tick), self.bar_start(number + bars + 1))

    def copy(self) -> Score:
        """An independent copy (notes are immutable, so a shallow copy of the lists)."""
        return Score(
            ppq=self.ppq,
            tempo_map=list(self.tempo_map),
            time_signatures=list(self.time_signatures),
            key_signatures=list(self.key_signatures),
            program_changes=list(self.program_changes),
            control_changes=list(self.control_changes),
            pitch_bends=list(self.pitch_bends),
            channel_pressures=list(self.channel_pressures),
            key_pressures=list(self.key_pressures),
            title=self.title,
            track_names=dict(self.track_names),
            texts=list(self.texts),
            system_exclusive=list(self.system_exclusive),
            _notes=list(self._notes),
            closing_rest_ticks=self.closing_rest_ticks,
        )

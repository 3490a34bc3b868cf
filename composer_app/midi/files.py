"""Standard MIDI files in and out: ``read_mid(path) -> Score`` and ``write_mid(score, path)``.

Reading uses a small chunk-level parser of our own rather than mido's, so that every way a
file can be broken ends in one documented error, :class:`MidiFileError`, naming the file and
the reason. Writing serializes the whole file in memory and replaces the target atomically.

Rules of import (each change is counted in the :class:`ImportReport`):

* Formats 0 and 1 are read; format 2 (independent sequences) and anything else is refused.
  A RIFF ``RMID`` wrapper is unwrapped. Unknown chunks are skipped.
* Times stay in the file's own ticks: ``Score.ppq`` is the file's ticks per quarter note, so
  nothing is rounded. An SMPTE time division (``fps`` frames of ``tpf`` ticks per second) is
  converted exactly into a metrical one: ``ppq = nominal_fps * tpf`` ticks per quarter and one
  tempo of ``1e6 * nominal_fps / real_fps`` microseconds per quarter (one second per quarter,
  1.001 s for 29.97 drop-frame); the file's own tempo events are then ignored (and counted),
  since SMPTE time does not follow them.
* A resolution that cannot hold a sixteenth note exactly (ticks per quarter not a multiple of
  4, or under 24) is raised: every tick (notes, tempo changes, time signatures) is multiplied
  by the smallest whole factor that makes the PPQ a multiple of 4 and at least 96, so times in
  beats and seconds stay exactly the same (counted). Without this, a model step (an eighth or
  a sixteenth note) would be rounded to whole ticks and a continuation would run at the wrong
  speed (at PPQ 1, half speed). A PPQ that the factor would push past what a MIDI file holds
  (32767; only odd PPQs above 8191) is kept: a tick is then too short for the rounding to
  matter.
* Before the first tempo event the tempo is 120 BPM, and before the first time signature the
  meter is 4/4, as the MIDI standard says. Of several tempo (or meter) events at one tick,
  the last one read wins. A time signature whose note value is shorter than a 64th (e.g.
  3/128) cannot be held by the score: it is skipped and counted, and the meter before it goes
  on. Key signatures are kept where the key changes (the same key stated again, as each
  track states it, is one); of different ones at one tick (a transposing part's key in a
  later track) the first read is kept and the others are counted; one the standard does not
  allow (more than 7 sharps or flats, a mode other than major or minor) is skipped and
  counted.
* Program changes (each part's instrument) are kept, less those that restate the program in
  force on their channel; of several on one channel at one tick the last read wins. The drum
  channel's (its drum kit: the drums are dropped) and any past :data:`MAX_TEMPO_CHANGES` are
  skipped and counted.
* Notes: a note-on with velocity 0 is a note-off. Every channel except drums becomes notes,
  and each note keeps its channel in ``Note.channel``. Drums (channel 10, index 9) are
  dropped and counted. A note-off ends the note of its pitch and channel sounding in its
  track; a note-on while that pitch sounds cuts the sounding note there (counted as an
  overlap resolved). The cut note's own note-off may still come: a note-off followed by
  another of the pitch before its next note-on is taken as that late note-off, and the new
  note goes on to the next one (a legato overlap, ``on, on, off, off``, keeps both notes
  whole); a lone note-off ends the sounding note (a doubled note-on, ``on, on, off``).
  A note-off with nothing sounding is ignored (counted). A note never
  turned off is closed at the end of the song, the end of its longest track, as other MIDI
  software sounds it (counted); one struck at that very end has no length and is dropped
  (counted apart). Notes of zero length are dropped (counted).
  Notes outside the 88 piano keys (MIDI 21-108) are kept in the score and counted, because
  the piano roll will drop them.
* Controller changes (the sustain pedal, volume, ...), pitch bends and channel pressure
  (aftertouch; a channel starts at none) are kept like program changes, at one tick by
  channel and on one channel in file order: less those that restate the value in force (a data entry, which sets whichever
  parameter is selected, never does; a channel's bend starts centred, so the centred bend
  many writers put at the start of a track is none), the drum channel's and any past 65,536
  of each (restatements counted) skipped and counted. Key pressure (polyphonic aftertouch)
  is kept as given, less the drum channel's and any past 65,536 (counted). Channel mode
  messages (120-127) are not settings: all sound off, reset all controllers and all notes off (commands a player sends
  itself) are dropped uncounted, the others (local control, omni, mono, poly) counted.
* Texts (lyrics, markers, cue points, copyright, text, instrument, program and device names:
  ``Score.texts``) and system-exclusive messages (``Score.system_exclusive``, each as stored,
  a message split in packets too) are kept, at most 65,536 of each (the rest counted). A text
  in a track with notes of one channel belongs to that part (a lyric in the melody's track);
  any other, and every copyright, marker and cue point, is the song's.
* Events that do not fit a score (other meta events: sequencer-specific data, channel and
  port prefixes, ...) are skipped and counted by kind (meta events without content are not
  counted). Meta events the score uses (tempo, time signature)
  must have their standard length; a wrong length is an error. :meth:`ImportReport.dropped_content_lines` names what a save
  over the file would therefore lose.
* Tracks: each note keeps which of its channel's tracks it came from (``Note.track``), so
  tracks that share a channel (a tune's melody and its chords) are saved apart again. A
  track's name is kept as its part's (``Score.track_names``, by channel and track) where the
  track holds notes of one channel; a format-0 file's, or a first track's without notes, as
  the song's title (``Score.title``); any other is counted as a meta event skipped.

Limits that keep import time and memory bounded: files over :data:`MAX_FILE_BYTES` are
refused before they are read, a song may hold at most :data:`MAX_NOTES` notes and
:data:`MAX_TEMPO_CHANGES` tempo (and as many meter) changes at distinct ticks, and nothing it
keeps may lie past :data:`MAX_LENGTH_QUARTERS` quarter notes (a corrupt delta time could
otherwise make a song years long, and a piano roll of it would not fit in memory). The
limits count quarter notes, not ticks, so raising the resolution cannot break them.

Writing always produces format 1: track 0 holds tempo, meter and key signatures, then one track
per channel and ``Note.track``, by channel (a track whose notes overlap on one pitch gets extra
tracks, named :data:`OVERLAP_TRACK_NAME` so that reading the file back folds them into their
track and gives the very same notes, tracks included); a channel's controller changes, pitch
bends, channel pressure and program changes go in its first track, after the note-offs and
before the note-ons of their tick, in that order and each in the order the score holds it
(a parameter number before its data entry), a key's pressure after the note-ons. The song's
texts and the system-exclusive messages go in track 0, a part's texts in its track (track 0
when the part has no notes left), each first at its tick. A setting, text or message past
the song's end (its notes deleted) is saved at the end (of the settings, the last of each),
so that the song does not read back longer; unless the closing rest is the longest kept: the
file's end lay further off, and it stays where it is. A score whose tracks would need more
tracks than a file holds is saved one track per channel (and overlap layer). A file that
would pass :data:`MAX_FILE_BYTES` is written with each note-off a note-on of velocity 0 (a
byte shorter under running status). A score beyond the reader's limits of notes, tempo,
meter and key changes, length or size is refused before anything is written, so every saved
file opens again; one holding more texts, system-exclusive messages, program, controller or
pressure changes than the reader keeps (only a score made in code can) is saved whole, and
reading it back counts what it leaves out.
"""

from __future__ import annotations

import errno
import heapq
import os
import secrets
import stat
import time
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from operator import attrgetter
from pathlib import Path

import numpy as np

from composer_app.core.note import Note
from composer_app.core.pianoroll import PIANO_PITCH_HIGH, PIANO_PITCH_LOW
from composer_app.core.score import (
    DEFAULT_TEMPO_US_PER_QUARTER,
    PITCH_BEND_CENTRE,
    TEXT_KINDS,
    ChannelPressure,
    ControlChange,
    KeyPressure,
    KeySignature,
    PitchBend,
    ProgramChange,
    Score,
    SystemExclusive,
    TempoChange,
    TextEvent,
    TimeSignature,
    channel_pressures,
    control_changes,
    key_changes,
    pitch_bends,
    program_changes,
)

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_NOTES = 250_000  # a dense piano piece has ~30,000
# each of tempo, time-signature, key-signature, program and controller changes and pitch bends
MAX_TEMPO_CHANGES = 65_536
MAX_LENGTH_QUARTERS = 65_536  # 9 h at 120 BPM; an eighth-note roll of it is 131072 x 88
DRUM_CHANNEL = 9  # "channel 10" counted from one
# All sound off, reset all controllers, all notes off: commands to the synth, which a player
# sends itself where it needs them, not music a save would lose (read, and not counted)
_SILENCING_CONTROLLERS = frozenset((120, 121, 123))
# The name of a track a save adds for notes that overlap on one pitch in their track (a MIDI
# file cannot tell two such notes apart in one track); reading it back folds it into the track
# before it on its channel.
OVERLAP_TRACK_NAME = b"Composer: overlapping notes"

_SMPTE_FPS = {24: (24, 24.0), 25: (25, 25.0), 29: (30, 29.97), 30: (30, 30.0)}
_MAX_VLQ = 0x0FFF_FFFF
_MAX_PPQ = 0x7FFF  # the header's division holds 15 bits of ticks per quarter
_CHANNEL_OF = attrgetter("channel")  # of a Note
_MAX_METER_POWER = 6  # TimeSignature's finest note value is 1/64 = 1/2**6
_MAX_US_PER_QUARTER = 0xFF_FFFF
# A pitch bend's tick is held up to this (one past the length limit is dropped, counted), so
# that it packs in 64 bits with 18 bits of channel and value: a corrupt file's delta times may
# add up to 2**49 (1.5 million bends 2**28 ticks apart in 10 MB). A channel pressure's (11
# bits) always fits.
_LATE_TICK = 1 << 40
_VALUES_AT_ONCE = 1 << 20  # bends or pressures looked at in one array (see _channel_values_kept)
# The order of events at one tick in a saved track: its name first, then texts and
# system-exclusive messages (in the score's order), then note-offs (0), settings, note-ons
_NAME_ORDER = -(1 << 62)
_SONG_TEXT_KINDS = frozenset((2, 6, 7))  # copyright, marker, cue point: the song's
_TEXT_ORDER = -(1 << 61)


class MidiFileError(ValueError):
    """A MIDI file that cannot be read or saved.

    ``path`` is the file, ``reason`` says what is wrong in words a musician can act on.
    The message reads ``Cannot read 'name.mid': <reason>`` (``Cannot save`` when writing).
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, action: str = "read") -> None:
        self.path = Path(path)
        self.reason = reason
        self.action = action
        super().__init__(f"Cannot {action} '{self.path.name}': {reason}")

    def __reduce__(self):  # keep it picklable across processes
        return (type(self), (self.path, self.reason, self.action))


_DROPPED_CONTENT_LABELS = {
    "drum_notes_dropped": "drum notes dropped (channel 10)",
    "controller_events_skipped": (
        "controller events skipped (the drum channel's, channel mode messages such as local "
        "control or mono mode, or past the 65,536 kept)"
    ),
    "program_changes_skipped": (
        "program (instrument) changes skipped (the drum channel's, or past the 65,536 kept)"
    ),
    "other_channel_events_skipped": (
        "aftertouch, channel pressure and pitch bend events skipped (the drum channel's, or "
        "past the 65,536 kept of each or the length limit)"
    ),
    "sysex_messages_skipped": (
        "system-exclusive messages skipped (past the 65,536 kept, or past the length limit)"
    ),
    "meta_events_skipped": (
        "meta events skipped (sequencer-specific data, channel or port prefixes, sequence "
        "numbers, SMPTE offsets, the name of a track with no notes or several channels, "
        "texts past the 65,536 kept or the length limit, ...)"
    ),
    "unknown_chunks_skipped": "unknown chunks skipped",
    "time_signatures_skipped": "time signatures finer than 1/64 skipped (e.g. 3/128)",
    "key_signatures_skipped": (
        "key signatures the standard does not allow skipped (more than 7 sharps or flats, or a "
        "mode other than major or minor)"
    ),
    "key_signatures_dropped": (
        "key signatures of other tracks dropped (a part in another key at the same point, as a "
        "transposing instrument's: the first track's is kept)"
    ),
    "zero_length_notes_dropped": (
        "zero-length notes dropped (or notes doubled in unison on one channel, merged)"
    ),
    "unterminated_notes_dropped": (
        "notes never turned off, struck at the very end of the song (dropped)"
    ),
    "trailing_bytes_ignored": (
        "bytes after the last track the header declares ignored (they may hold a track)"
    ),
    "riff_chunks_dropped": (
        "RIFF (RMID) chunks dropped (title, copyright, sound bank; saved as a plain MIDI file)"
    ),
}

_REPAIR_LABELS = {
    "unterminated_notes_closed": "notes never turned off, closed at the end of the song",
    "overlapping_notes_resolved": (
        "same-pitch notes struck again while sounding (each cut at the re-strike)"
    ),
    "stray_note_offs_ignored": "note-offs without a sounding note ignored",
}


@dataclass
class ImportReport:
    """What reading a file dropped or changed, with the file's own layout.

    Units: counts of notes, events, chunks or bytes as named.
    """

    file_format: int = 1
    ppq: int = 0  # ticks per quarter of the resulting score
    resolution_raised_from: int = 0  # the PPQ before it was raised (file's or SMPTE's; 0: kept)
    smpte: bool = False  # the file used an SMPTE time division (converted, see module doc)
    riff_unwrapped: bool = False
    riff_chunks_dropped: int = 0  # chunks of an RMID file beside its MIDI data (INFO, DLS)
    track_count: int = 0
    note_count: int = 0
    drum_notes_dropped: int = 0
    unterminated_notes_closed: int = 0  # closed at the end of the song
    unterminated_notes_dropped: int = 0  # struck at the song's very end: no length to keep
    overlapping_notes_resolved: int = 0
    stray_note_offs_ignored: int = 0
    zero_length_notes_dropped: int = 0
    out_of_piano_range: int = 0  # kept in the score, but not in an 88-key roll
    smpte_tempo_events_ignored: int = 0
    unknown_chunks_skipped: int = 0
    trailing_bytes_ignored: int = 0
    controller_events_skipped: int = 0  # the drums', mode messages, past the cap or the end
    program_changes_skipped: int = 0
    other_channel_events_skipped: int = 0  # aftertouch, channel pressure, bends not kept
    sysex_messages_skipped: int = 0  # past the cap or the length limit
    meta_events_skipped: int = 0  # with content: sequencer data, prefixes, names not kept, ...
    time_signatures_skipped: int = 0  # a note value the score cannot hold (3/128)
    key_signatures_skipped: int = 0  # values the standard does not allow (9 sharps, mode 2)
    key_signatures_dropped: int = 0  # another key than the one kept at the same tick

    @property
    def changed_anything(self) -> bool:
        """Whether import dropped, closed, resolved or skipped anything."""
        return bool(self.change_lines())

    def dropped_content_lines(self) -> list[str]:
        """One line per kind of content of the file that the score does not hold, so that
        saving the score over the file would lose it (empty when there is none): drum
        notes, controllers, program changes, other channel events, system-exclusive
        messages and texts past the cap, other meta events with content, unknown chunks, time signatures the score
        cannot hold, notes of no
        length (a unison doubling on one channel reads so) or struck at the song's very end,
        bytes after the tracks the header declares, and an RMID file's other chunks. Repairs
        (notes closed, overlaps cut), a raised resolution and notes outside the piano's keys
        (kept) are not among them: see :meth:`repair_lines`."""
        return [
            f"{getattr(self, name)} {label}"
            for name, label in _DROPPED_CONTENT_LABELS.items()
            if getattr(self, name)
        ]

    def repair_lines(self) -> list[str]:
        """One line per kind of note that import repaired (closed, cut at a re-strike, a
        note-off without a note ignored): the notes read differ from what a lenient player
        might play, though nothing a save drops is among them."""
        return [
            f"{getattr(self, name)} {label}"
            for name, label in _REPAIR_LABELS.items()
            if getattr(self, name)
        ]

    def change_lines(self) -> list[str]:
        """One human-readable line per non-zero change (empty when the import was exact)."""
        labels = {
            **_DROPPED_CONTENT_LABELS,
            **_REPAIR_LABELS,
            "out_of_piano_range": "notes outside the 88 piano keys (kept; not in the roll)",
            "smpte_tempo_events_ignored": "tempo events ignored (SMPTE timing)",
        }
        lines = [
            f"{getattr(self, name)} {label}"
            for name, label in labels.items()
            if getattr(self, name)
        ]
        if self.riff_unwrapped:
            lines.append("RIFF (RMID) wrapper removed")
        if self.smpte:
            lines.append(f"SMPTE time division converted to {self.ppq} ticks per quarter")
        elif self.resolution_raised_from:
            lines.append(
                f"resolution raised from {self.resolution_raised_from} to {self.ppq} ticks "
                "per quarter (timing unchanged)"
            )
        return lines

    def as_dict(self) -> dict[str, int | bool]:
        """Every field by name (for logs and tests)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


# ---- reading -----------------------------------------------------------------------------
def read_mid(path: str | os.PathLike[str]) -> Score:
    """Read a type 0 or type 1 MIDI file into a :class:`Score` (see the module doc for rules).

    Raises :class:`MidiFileError` and nothing else for any unreadable or malformed file.
    """
    return read_mid_report(path)[0]


def read_mid_report(path: str | os.PathLike[str]) -> tuple[Score, ImportReport]:
    """Like :func:`read_mid`, and also say what import dropped or changed."""
    data = _read_bytes(path)
    return parse_mid_bytes(data, path)


def parse_mid_bytes(
    data: bytes, path: str | os.PathLike[str] = "<memory>"
) -> tuple[Score, ImportReport]:
    """Parse the bytes of a MIDI file; ``path`` only names the file in errors.

    Raises :class:`MidiFileError` and nothing else.
    """
    if len(data) > MAX_FILE_BYTES:
        raise MidiFileError(path, _too_big_reason(len(data)))
    try:
        return _parse(bytes(data))
    except _Malformed as exc:
        raise MidiFileError(path, str(exc)) from None
    except Exception as exc:
        # Whatever slips past the checks above (a parser bug) must still surface as the
        # documented error, naming the file; the cause stays chained for debugging.
        raise MidiFileError(path, f"malformed data ({type(exc).__name__}: {exc})") from exc


def _too_big_reason(n_bytes: int) -> str:
    return (
        f"the file is {n_bytes / 1_048_576:.1f} MB; "
        f"files over {MAX_FILE_BYTES // 1_048_576} MB are refused"
    )


def _read_bytes(path: str | os.PathLike[str]) -> bytes:
    try:
        # stat before open: opening a FIFO or a device could block for ever
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise MidiFileError(path, "it is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise MidiFileError(path, "it is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise MidiFileError(path, _too_big_reason(info.st_size))
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise MidiFileError(path, _too_big_reason(size))
            # read(n) reserves n bytes up front, so ask for the size we saw (plus one byte
            # to notice a file that grew meanwhile), never for the limit
            data = f.read(size + 1)
            if len(data) > size:
                data += f.read(MAX_FILE_BYTES + 1 - len(data))
    except MidiFileError:
        raise
    except FileNotFoundError:
        raise MidiFileError(path, "no such file") from None
    except IsADirectoryError:
        raise MidiFileError(path, "it is a folder, not a file") from None
    except PermissionError:
        raise MidiFileError(path, "permission denied") from None
    except OSError as exc:
        raise MidiFileError(path, exc.strerror or str(exc)) from None
    if len(data) > MAX_FILE_BYTES:
        raise MidiFileError(path, _too_big_reason(len(data)))
    return data


class _Malformed(Exception):
    """Internal: a reason the bytes are not a readable MIDI file."""


def _unwrap_riff(data: bytes) -> tuple[bytes, int]:
    """(the SMF inside a RIFF ``RMID`` file (its ``data`` chunk), how many other chunks the
    file holds: an INFO list with title and copyright, a DLS sound bank ...)."""
    if len(data) < 12 or data[8:12] != b"RMID":
        raise _Malformed("a RIFF file that is not RIFF MIDI (RMID)")
    pos = 12
    smf: bytes | None = None
    others = 0
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if chunk_id == b"data" and smf is None:
            if pos + 8 + size > len(data):
                raise _Malformed("the RMID data chunk runs past the end of the file")
            smf = data[pos + 8 : pos + 8 + size]
        else:
            others += 1
        pos += 8 + size + (size & 1)  # RIFF chunks are padded to an even length
    if smf is None:
        raise _Malformed("a RIFF MIDI (RMID) file without a data chunk")
    return smf, others


def _parse(data: bytes) -> tuple[Score, ImportReport]:
    report = ImportReport()
    if not data:
        raise _Malformed("the file is empty")
    if data[:4] == b"RIFF":
        data, report.riff_chunks_dropped = _unwrap_riff(data)
        report.riff_unwrapped = True
    if data[:4] != b"MThd":
        if len(data) < 4 and b"MThd".startswith(data):
            raise _Malformed(f"the header is truncated ({len(data)} bytes of at least 14)")
        raise _Malformed("not a MIDI file (it does not start with 'MThd')")
    if len(data) < 14:
        raise _Malformed(f"the header is truncated ({len(data)} bytes of at least 14)")
    header_len = int.from_bytes(data[4:8], "big")
    if header_len < 6:
        raise _Malformed(f"the header chunk is {header_len} bytes long; it must be at least 6")
    if 8 + header_len > len(data):
        raise _Malformed(f"the header chunk claims {header_len} bytes but the file ends first")
    file_format = int.from_bytes(data[8:10], "big")
    declared_tracks = int.from_bytes(data[10:12], "big")
    division = int.from_bytes(data[12:14], "big")
    if file_format == 2:
        raise _Malformed(
            "MIDI format 2 (independent sequences) is not supported; use format 0 or 1"
        )
    if file_format not in (0, 1):
        raise _Malformed(f"unknown MIDI format {file_format}; only formats 0 and 1 are read")
    if declared_tracks == 0:
        raise _Malformed("the header declares no tracks")
    report.file_format = file_format

    # Time division: ticks per quarter, or SMPTE frames per second x ticks per frame.
    fixed_tempo: int | None = None
    if division & 0x8000:
        fps_code = 256 - (division >> 8)  # the high byte is a negative two's-complement number
        ticks_per_frame = division & 0xFF
        if fps_code not in _SMPTE_FPS:
            raise _Malformed(
                f"SMPTE time division with {fps_code} frames per second (24, 25, 29 or 30 expected)"
            )
        if ticks_per_frame == 0:
            raise _Malformed("SMPTE time division with 0 ticks per frame")
        nominal_fps, real_fps = _SMPTE_FPS[fps_code]
        ppq = nominal_fps * ticks_per_frame
        fixed_tempo = round(1_000_000 * nominal_fps / real_fps)
        report.smpte = True
    else:
        ppq = division
        if ppq == 0:
            raise _Malformed("the time division is 0 ticks per quarter note")
    notes: list[Note] = []
    tempos: dict[int, int] = {}
    meters: dict[int, tuple[int, int]] = {}
    keys: dict[int, tuple[int, bool]] = {}  # tick -> (sharps, minor)
    programs: dict[int, int] = {}  # tick << 4 | channel -> program
    controls: list[int] = []  # ((tick << 4 | channel) << 7 | controller) << 7 | value
    # pitch bends and channel pressures in file order, each packed in one int (see
    # _channel_values_kept): 10 MB of them as tuples took 600 MB
    bends = array("q")
    pressures = array("q")
    key_pressures: list[tuple[int, int, int, int]] = []  # (tick, channel, pitch, value)
    layers: set[int] = set()  # tracks this app wrote for notes overlapping on one pitch
    names: dict[int, bytes] = {}  # track number -> its name
    texts: list[tuple[int, int, int, bytes]] = []  # (track number, tick, kind, text) in file order
    system_exclusive: list[tuple[int, bytes]] = []  # (tick, message) in file order
    runs: list[tuple[int, int, int]] = []  # (track number, first, stop): its notes in `notes`
    # notes never turned off: (track number, its end tick, channel << 7 | pitch, start, velocity)
    unreleased: list[tuple[int, int, int, int, int]] = []
    song_end = 0  # the end of the longest track. Units: ticks
    pos = 8 + header_len
    n_tracks = 0
    while n_tracks < declared_tracks:
        if pos + 8 > len(data):
            found = "only 1 track" if n_tracks == 1 else f"only {n_tracks} tracks"
            raise _Malformed(
                f"the header declares {declared_tracks} tracks but the file holds {found}"
            )
        chunk_id = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "big")
        body_start = pos + 8
        body_end = body_start + length
        if body_end > len(data):
            what = f"track {n_tracks + 1}" if chunk_id == b"MTrk" else f"chunk {chunk_id!r}"
            raise _Malformed(
                f"{what} claims {length} bytes but only {len(data) - body_start} remain "
                "(the file is truncated or the length is corrupt)"
            )
        if chunk_id == b"MTrk":
            n_tracks += 1
            first = len(notes)
            track_end, sounding = _parse_track(
                data[body_start:body_end],
                n_tracks,
                notes,
                tempos,
                meters,
                keys,
                programs,
                controls,
                layers,
                names,
                bends,
                pressures,
                key_pressures,
                texts,
                system_exclusive,
                report,
                MAX_NOTES - len(unreleased),  # notes waiting to be closed count too
            )
            if len(notes) > first:
                runs.append((n_tracks, first, len(notes)))
            for key, (start, velocity) in sounding.items():
                unreleased.append((n_tracks, track_end, key, start, velocity))
            song_end = max(song_end, track_end)
        else:
            report.unknown_chunks_skipped += 1
        pos = body_end
    report.trailing_bytes_ignored = len(data) - pos
    report.track_count = n_tracks
    bends_kept = _bends_kept(bends, report)
    pressures_kept = _pressures_kept(pressures, report)

    # Notes never turned off sound on to the end of the song, as other MIDI software plays
    # them. An end past the length limit comes from a corrupt delta time on some track's end:
    # then each such note ends with its own track instead, as the file's notes never go there.
    close_at_song_end = song_end <= MAX_LENGTH_QUARTERS * ppq
    closed = dropped = 0
    for track_no, track_end, key, start, velocity in unreleased:
        end_tick = song_end if close_at_song_end else track_end
        if end_tick > start:
            first = len(notes)
            notes.append(Note(start, key & 0x7F, end_tick - start, velocity, key >> 7))
            if runs and runs[-1][0] == track_no and runs[-1][2] == first:
                runs[-1] = (track_no, runs[-1][1], first + 1)
            else:
                runs.append((track_no, first, first + 1))
            closed += 1
        else:
            dropped += 1
    report.unterminated_notes_closed = closed
    report.unterminated_notes_dropped = dropped

    if fixed_tempo is not None:
        report.smpte_tempo_events_ignored = len(tempos)
        tempos = {0: fixed_tempo}
    tempos.setdefault(0, DEFAULT_TEMPO_US_PER_QUARTER)
    meters.setdefault(0, (4, 4))
    _keep_tracks_apart(notes, runs, layers)
    parts_of = _track_parts(notes, runs)
    title, track_names = _named_parts(names, parts_of, file_format, report)
    last_note_end = max((n.end_tick for n in notes), default=0)
    # a key signature past the length limit (after a corrupt delta time) is dropped, not a
    # reason to refuse the song (it was read as a skipped meta event before keys were kept)
    too_late = [tick for tick in keys if tick > MAX_LENGTH_QUARTERS * ppq]
    for tick in too_late:
        del keys[tick]
    report.key_signatures_skipped += len(too_late)
    too_late = [at for at in programs if at >> 4 > MAX_LENGTH_QUARTERS * ppq]
    for at in too_late:
        del programs[at]
    report.program_changes_skipped += len(too_late)
    in_time = [c for c in controls if c >> 18 <= MAX_LENGTH_QUARTERS * ppq]
    report.controller_events_skipped += len(controls) - len(in_time)
    controls = in_time
    in_time_texts = [t for t in texts if t[1] <= MAX_LENGTH_QUARTERS * ppq]
    report.meta_events_skipped += len(texts) - len(in_time_texts)
    texts = in_time_texts
    in_time_sysex = [m for m in system_exclusive if m[0] <= MAX_LENGTH_QUARTERS * ppq]
    report.sysex_messages_skipped += len(system_exclusive) - len(in_time_sysex)
    system_exclusive = in_time_sysex
    too_late_pressures = sum(1 for p in pressures_kept if p.tick > MAX_LENGTH_QUARTERS * ppq)
    in_time_keys = [p for p in key_pressures if p[0] <= MAX_LENGTH_QUARTERS * ppq]
    if too_late_pressures or len(in_time_keys) < len(key_pressures):
        pressures_kept = [p for p in pressures_kept if p.tick <= MAX_LENGTH_QUARTERS * ppq]
        report.other_channel_events_skipped += (
            too_late_pressures + len(key_pressures) - len(in_time_keys)
        )
        key_pressures = in_time_keys
    too_late_bends = sum(1 for bend in bends_kept if bend.tick > MAX_LENGTH_QUARTERS * ppq)
    if too_late_bends:
        bends_kept = [bend for bend in bends_kept if bend.tick <= MAX_LENGTH_QUARTERS * ppq]
        report.other_channel_events_skipped += too_late_bends
    last_tick = max(max(tempos), max(meters), max(keys, default=0), last_note_end)
    too_big = _limit_reason(ppq, len(notes), len(tempos), len(meters), last_tick)
    if too_big is not None:
        if last_tick > MAX_LENGTH_QUARTERS * ppq:
            too_big += " (probably a corrupt delta time)"
        raise _Malformed(too_big)

    # a song without notes has no closing rest; an end past the limit is a corrupt delta time
    factor = _resolution_factor(ppq)
    closing_rest = (  # (at the score's resolution: a bar may not be whole ticks of the file's)
        _closing_rest(song_end * factor, last_note_end * factor, meters, ppq * factor, factor)
        if notes and close_at_song_end else 0
    )
    if factor > 1:
        # every time scales alike and a quarter keeps its microseconds: seconds are unchanged
        report.resolution_raised_from = ppq
        ppq *= factor
        notes = [
            Note(n.start_tick * factor, n.pitch, n.duration_ticks * factor, n.velocity,
                 n.channel, track=n.track)
            for n in notes
        ]
        tempos = {tick * factor: us for tick, us in tempos.items()}
        meters = {tick * factor: meter for tick, meter in meters.items()}
        keys = {tick * factor: key for tick, key in keys.items()}
        programs = {(at >> 4) * factor << 4 | at & 0x0F: p for at, p in programs.items()}
        controls = [(c >> 18) * factor << 18 | c & 0x3FFFF for c in controls]
        bends_kept = [PitchBend(b.tick * factor, b.channel, b.value) for b in bends_kept]
        pressures_kept = [
            ChannelPressure(p.tick * factor, p.channel, p.value) for p in pressures_kept
        ]
        key_pressures = [(tick * factor, *rest) for tick, *rest in key_pressures]
        texts = [(track_no, tick * factor, kind, raw) for track_no, tick, kind, raw in texts]
        system_exclusive = [(tick * factor, message) for tick, message in system_exclusive]
    report.ppq = ppq
    score = Score(
        ppq=ppq,
        tempo_map=[TempoChange(t, us) for t, us in sorted(tempos.items())],
        time_signatures=[TimeSignature(t, num, den) for t, (num, den) in sorted(meters.items())],
        key_signatures=key_changes(KeySignature(t, *key) for t, key in keys.items()),
        program_changes=program_changes(
            ProgramChange(at >> 4, at & 0x0F, p) for at, p in programs.items()
        ),
        control_changes=control_changes(
            ControlChange(c >> 18, c >> 14 & 0x0F, c >> 7 & 0x7F, c & 0x7F) for c in controls
        ),
        pitch_bends=bends_kept,
        channel_pressures=pressures_kept,
        key_pressures=[KeyPressure(*p) for p in key_pressures],
        title=title,
        track_names=track_names,
        texts=[
            TextEvent(tick, kind, raw.decode("latin-1"),
                      _text_part(kind, parts_of.get(track_no, set()), file_format))
            for track_no, tick, kind, raw in texts
        ],
        system_exclusive=[SystemExclusive(tick, message) for tick, message in system_exclusive],
        _notes=notes,
        closing_rest_ticks=closing_rest,
    )
    report.note_count = len(notes)
    report.out_of_piano_range = sum(
        1 for n in notes if not PIANO_PITCH_LOW <= n.pitch < PIANO_PITCH_HIGH
    )
    return score, report


# The longest closing rest kept, in bars of the meter at the last note's end: a song's last
# bar or a bar or two of silence; an end of track further off is a writer's habit (or a
# corrupt delta time), not part of the music, and would only make the song longer on every
# save after an edit moves its last note.
MAX_CLOSING_REST_BARS = 4


def _closing_rest(
    song_end: int, last_note_end: int, meters: dict[int, tuple[int, int]], ppq: int,
    factor: int = 1,
) -> int:
    """The closing rest kept from a file: from its last note's end to its end of track, at
    most ``MAX_CLOSING_REST_BARS`` bars of the meter in force there (as
    :func:`_longest_closing_rest` counts them). Units: ticks of ``ppq`` (the score's),
    ``meters`` tick -> (numerator, denominator) in ticks of ``ppq // factor`` (the file's)."""
    rest = song_end - last_note_end
    if rest <= 0:
        return 0
    numerator, denominator = meters[max(t for t in meters if t * factor <= last_note_end)]
    bar_ticks = max(1, numerator * 4 * ppq // denominator)
    return min(rest, MAX_CLOSING_REST_BARS * bar_ticks)


def _longest_closing_rest(score: Score) -> int:
    """The longest closing rest :func:`_closing_rest` keeps after ``score``'s last note:
    :data:`MAX_CLOSING_REST_BARS` bars of the meter there. Units: ticks."""
    meter = score.time_signature_at(score.end_tick)
    return MAX_CLOSING_REST_BARS * max(1, meter.numerator * 4 * score.ppq // meter.denominator)


def _resolution_factor(ppq: int) -> int:
    """The smallest whole factor that makes ``ppq`` a multiple of 4 and at least 96.

    1 when ``ppq`` already holds a sixteenth note exactly (a multiple of 4, at least 24), or
    when the raised PPQ would not fit a MIDI file's header (then a tick is so short that
    rounding a step to whole ticks changes nothing audible).
    """
    if ppq % 4 == 0 and ppq >= 24:
        return 1
    factor = 1
    while (ppq * factor) % 4 or ppq * factor < 96:
        factor += 1
    return factor if ppq * factor <= _MAX_PPQ else 1


def _limit_reason(
    ppq: int, n_notes: int, n_tempo_changes: int, n_meter_changes: int, last_tick: int
) -> str | None:
    """Why a song is beyond what :func:`read_mid` accepts, or None when it is within.

    The one check of the limits, shared by reading and saving, so that every saved file can
    be opened again. Units: ``last_tick`` (the latest tick of anything kept) in ticks of
    ``ppq``; the length limit counts quarter notes, so it does not depend on the resolution.
    """
    if n_notes > MAX_NOTES:
        return f"the song holds {n_notes} notes, more than the {MAX_NOTES} allowed"
    if n_tempo_changes > MAX_TEMPO_CHANGES:
        return (
            f"the song holds {n_tempo_changes} tempo changes, more than the "
            f"{MAX_TEMPO_CHANGES} allowed"
        )
    if n_meter_changes > MAX_TEMPO_CHANGES:
        return (
            f"the song holds {n_meter_changes} time signature changes, more than the "
            f"{MAX_TEMPO_CHANGES} allowed"
        )
    if last_tick > MAX_LENGTH_QUARTERS * ppq:
        quarters = -(-last_tick // ppq)  # rounded up: a note into quarter 65537 needs it all
        return (
            f"the song would last {quarters} quarter notes, more than the "
            f"{MAX_LENGTH_QUARTERS} allowed"
        )
    return None


def _keep_tracks_apart(
    notes: list[Note], runs: list[tuple[int, int, int]], layers: set[int]
) -> None:
    """Number the file's tracks that hold notes on one channel, in file order, and give each
    note its track's number (``Note.track``), so that a save writes them apart again: the
    first track on a channel is 0 (every note's default), the next 1, and so on. A track this
    app wrote for overlapping notes (its number in ``layers``) belongs to the track before it
    on its channel, so a save read back gives every note its track again.

    ``notes`` are the notes in the order read, given their tracks in place; ``runs`` says
    which track (``(track number, first, stop)``) each stretch of them came from. Nothing is
    changed (after one pass over the notes) where each channel has one track.
    """
    if len(runs) < 2:
        return
    tracks_on: dict[int, set[int]] = {}  # channel -> the file tracks with notes on it
    for track_no, first, stop in runs:
        for channel in set(map(_CHANNEL_OF, notes[first:stop])):
            tracks_on.setdefault(channel, set()).add(track_no)
    number: dict[tuple[int, int], int] = {}  # (channel, file track) -> its track on the channel
    for channel, on in tracks_on.items():
        ordinal = -1
        for track_no in sorted(on):
            if track_no not in layers or ordinal < 0:  # (a layer first on its channel: 0)
                ordinal += 1
            if ordinal:
                number[channel, track_no] = ordinal
    if not number:
        return
    set_field = object.__setattr__  # the notes are new and no one else's yet: set in place
    for track_no, first, stop in runs:
        for n in notes[first:stop]:
            track = number.get((n.channel, track_no))
            if track:
                set_field(n, "track", track)


def _track_parts(
    notes: list[Note], runs: list[tuple[int, int, int]]
) -> dict[int, set[tuple[int, int]]]:
    """Each file track's parts: the ``(channel, Note.track)`` of its notes (tracks numbered
    by :func:`_keep_tracks_apart` already), by track number; a track without notes is not
    listed. ``runs`` as for :func:`_keep_tracks_apart`."""
    parts_of: dict[int, set[tuple[int, int]]] = {}
    for track_no, first, stop in runs:
        parts_of.setdefault(track_no, set()).update((n.channel, n.track) for n in notes[first:stop])
    return parts_of


def _text_part(
    kind: int, track_parts: set[tuple[int, int]], file_format: int
) -> tuple[int, int] | None:
    """The part a text of ``kind`` in a track with notes of ``track_parts`` belongs to: that
    track's part where it holds notes of one channel (a lyric in the melody's track), else
    None, the song's (a format-0 file's, or a track's of no notes, as the first track often
    is, or of several channels). A copyright, a marker or a cue point is always the song's:
    the standard puts them in the first track."""
    if (kind in _SONG_TEXT_KINDS or file_format == 0
            or len({channel for channel, _track in track_parts}) != 1):
        return None
    return min(track_parts)


def _named_parts(
    names: dict[int, bytes],
    parts_of: dict[int, set[tuple[int, int]]],
    file_format: int,
    report: ImportReport,
) -> tuple[str, dict[tuple[int, int], str]]:
    """The song's title and each part's name (``(channel, Note.track) -> name``) from the
    file's track names (``track number -> bytes``, read as Latin-1 so that a save gives the
    very bytes back): a format-0 file's, or a first track's without notes, is the title; a
    track with notes on one channel names that part (its notes' ``Note.track``, as
    :func:`_keep_tracks_apart` gave them; ``parts_of`` from :func:`_track_parts`). Any
    other (a track of several channels, or of none after the first) is counted as a meta
    event skipped."""
    title = ""
    parts: dict[tuple[int, int], str] = {}
    if not names:
        return title, parts
    for track_no, raw in sorted(names.items()):
        name = raw.decode("latin-1")
        track_parts = parts_of.get(track_no, set())
        if file_format == 0 or (track_no == 1 and not track_parts):
            title = name
        elif len({channel for channel, _track in track_parts}) == 1:
            parts[min(track_parts)] = name
        else:
            report.meta_events_skipped += 1
    return title, parts


def _parse_track(
    trk: bytes,
    track_no: int,
    notes: list[Note],
    tempos: dict[int, int],
    meters: dict[int, tuple[int, int]],
    keys: dict[int, tuple[int, bool]],
    programs: dict[int, int],
    controls: list[int],
    layers: set[int],
    names: dict[int, bytes],
    bends: array,
    pressures: array,
    key_pressures: list[tuple[int, int, int, int]],
    texts: list[tuple[int, int, int, bytes]],
    system_exclusive: list[tuple[int, bytes]],
    report: ImportReport,
    max_notes: int,
) -> tuple[int, dict[int, tuple[int, int]]]:
    """Append the notes, tempos, meters, key signatures, program changes (``tick << 4 |
    channel -> program``), controller changes (``((tick << 4 | channel) << 7 | controller) << 7
    | value``, in file order), pitch bends and channel pressure (each ``(tick << 4 | channel)
    << bits | value``, bits 14 or 7, a bend's tick at most :data:`_LATE_TICK`: see
    :func:`_channel_values_kept`; counted by the caller), key pressure (``(tick, channel, pitch, value)``), texts (``(track number, tick, kind, bytes)``) and system-exclusive messages (``(tick,
    bytes)``, the status byte first) of one track chunk body; add its number to ``layers`` if
    it is a track this app wrote for notes that overlap on one pitch (named
    :data:`OVERLAP_TRACK_NAME`), and its name to ``names`` (its first track name event's
    bytes) otherwise. Units: ticks.

    Returns the track's end tick and the notes still sounding there (``channel << 7 | pitch``
    -> (start tick, velocity)), which the caller closes at the end of the song. Refuses a
    song of more than ``max_notes`` notes (those of earlier tracks included).
    """
    sounding: dict[int, tuple[int, int]] = {}  # channel << 7 | pitch -> (start tick, velocity)
    # key -> its note events in file order, each ``tick << 7 | velocity`` (0: a note-off), to
    # pair again the pitches struck while sounding (see _paired_restruck)
    by_key: dict[int, array] = {}
    restruck: set[int] = set()
    append = notes.append
    append_pressure, append_bend, late_tick = pressures.append, bends.append, _LATE_TICK
    first_note = len(notes)
    tick = 0
    i = 0
    end = len(trk)
    status = 0
    drums = overlaps = strays = zero_length = 0
    sysex = metas = 0
    skipped = [0] * 16  # channel events skipped, by the status byte's high nibble
    max_programs = max_kept = MAX_TEMPO_CHANGES
    try:
        # The hot loop of import: plain local ints and early exits for the common cases.
        while i < end:
            # delta time: a variable-length quantity of at most 4 bytes (mostly just one)
            b = trk[i]
            i += 1
            if b < 0x80:
                tick += b
            else:
                value = b & 0x7F
                for _ in range(3):
                    b = trk[i]
                    i += 1
                    value = (value << 7) | (b & 0x7F)
                    if b < 0x80:
                        break
                else:
                    raise _Malformed(
                        f"track {track_no}: a delta time longer than 4 bytes at byte {i - 4}"
                    )
                tick += value
            b = trk[i]
            if b < 0x80:  # running status: the previous channel status byte repeats
                if not status:
                    raise _Malformed(
                        f"track {track_no}: running status with no previous status byte at byte {i}"
                    )
            elif b < 0xF0:
                status = b
                i += 1
            else:
                # meta and sysex events; they leave the running status alone (lenient, as
                # many writers rely on it)
                i += 1
                if b == 0xFF:
                    meta_type = trk[i]
                    length = trk[i + 1]
                    i += 2
                    if length > 127:
                        length, i = _read_vlq(trk, i - 1, track_no)
                    if i + length > end:
                        raise _Malformed(
                            f"track {track_no}: a meta event runs past the end of the track"
                        )
                    if meta_type == 0x2F:  # end of track
                        break
                    if meta_type == 0x51:
                        _tempo_event(trk, i, length, tick, track_no, tempos)
                    elif meta_type == 0x58:
                        _meter_event(trk, i, length, tick, track_no, meters, report)
                    elif meta_type == 0x59:
                        _key_event(trk, i, length, tick, keys, report)
                    elif meta_type == 0x03 and trk[i : i + length] == OVERLAP_TRACK_NAME:
                        layers.add(track_no)  # the name this app gives its overlap tracks
                    elif meta_type == 0x03 and length and track_no not in names:
                        names[track_no] = trk[i : i + length]  # kept or counted by the caller
                    elif (length and meta_type in TEXT_KINDS
                          and len(texts) < max_kept):  # lyrics, markers, ...
                        texts.append((track_no, tick, meta_type, trk[i : i + length]))
                    elif length:  # an empty one (a writer's filler) holds nothing to lose
                        metas += 1
                    i += length
                elif b == 0xF0 or b == 0xF7:  # sysex, or its continuation/escape
                    length = trk[i]
                    i += 1
                    if length > 127:
                        length, i = _read_vlq(trk, i - 1, track_no)
                    if i + length > end:
                        raise _Malformed(
                            f"track {track_no}: a system-exclusive message runs past the end "
                            "of the track"
                        )
                    if len(system_exclusive) < max_kept:
                        system_exclusive.append((tick, bytes((b,)) + trk[i : i + length]))
                    else:
                        sysex += 1
                    i += length
                else:
                    raise _Malformed(
                        f"track {track_no}: undefined status byte 0x{b:02X} at byte {i - 1}"
                    )
                continue
            kind = status >> 4
            if kind == 9 or kind == 8:
                pitch = trk[i]
                velocity = trk[i + 1]
                i += 2
                if pitch > 127 or velocity > 127:
                    raise _Malformed(f"track {track_no}: a data byte above 127 at byte {i - 2}")
                strike = kind == 9 and velocity > 0  # a note-on of velocity 0 is a note-off
                channel = status & 0x0F
                if channel == DRUM_CHANNEL:
                    drums += strike
                    continue
                key = channel << 7 | pitch
                events = by_key.get(key)
                if events is None:
                    by_key[key] = events = array("q")
                events.append(tick << 7 | velocity if strike else tick << 7)
                # read one by one: a note-off ends the sounding note, a strike cuts it
                held = sounding.pop(key, None)
                if held is not None:
                    start = held[0]
                    if tick > start:
                        append(Note(start, pitch, tick - start, held[1], channel))
                    else:
                        zero_length += 1
                    if strike:
                        overlaps += 1
                        restruck.add(key)
                elif not strike:
                    strays += 1
                if strike:
                    sounding[key] = (tick, velocity)
                    if len(notes) + len(sounding) > max_notes:
                        raise _Malformed(f"the song holds more than {MAX_NOTES} notes")
            elif kind == 12:  # program change: one data byte
                value = trk[i]
                if value > 127:
                    raise _Malformed(f"track {track_no}: a data byte above 127 at byte {i}")
                i += 1
                at = tick << 4 | status & 0x0F  # (tick, channel) as one int: cheap
                # (not the drum kit, 0xC9: the drums are dropped)
                if status != 0xC9 and (len(programs) < max_programs or at in programs):
                    programs[at] = value
                else:
                    skipped[12] += 1
            elif kind == 13:  # channel pressure: one data byte, kept or counted by the caller
                value = trk[i]
                if value > 127:
                    raise _Malformed(f"track {track_no}: a data byte above 127 at byte {i}")
                i += 1
                append_pressure((tick << 4 | status & 0x0F) << 7 | value)
            else:  # aftertouch, controller, pitch bend: two data bytes
                number = trk[i]
                value = trk[i + 1]
                if number > 127 or value > 127:
                    raise _Malformed(f"track {track_no}: a data byte above 127 at byte {i}")
                i += 2
                if kind == 11:
                    # kept in file order as one int (restatements are merged once every
                    # track is read: another track may change the value between two); not
                    # the drums' (dropped, 0xB9) nor a channel mode message (120-127)
                    if number < 120 and status != 0xB9 and len(controls) < max_kept:
                        controls.append(((tick << 4 | status & 0x0F) << 7 | number) << 7 | value)
                        continue
                    if number not in _SILENCING_CONTROLLERS:
                        skipped[11] += 1
                elif kind == 14:  # kept or counted once every track is read
                    late = tick if tick < late_tick else late_tick
                    append_bend((late << 4 | status & 0x0F) << 14 | value << 7 | number)
                elif status != 0xA9 and len(key_pressures) < max_kept:  # (not the drums')
                    key_pressures.append((tick, status & 0x0F, number, value))
                else:
                    skipped[kind] += 1
    except IndexError:
        raise _Malformed(f"track {track_no} ends in the middle of an event") from None
    # A pitch struck while sounding is read again with the note-offs it may still owe in
    # mind (a legato overlap keeps both notes whole; see _paired_restruck).
    if restruck:
        track_notes = notes[first_note:]
        del notes[first_note:]
        notes.extend(n for n in track_notes if n.channel << 7 | n.pitch not in restruck)
        for key in restruck:
            events = by_key[key]
            paired = _paired_restruck(events, key >> 7, key & 0x7F)
            notes.extend(paired.notes)
            if paired.left_sounding is None:
                sounding.pop(key, None)
            else:
                sounding[key] = paired.left_sounding
            # its counts replace those of reading it one by one
            seq_overlaps, seq_strays, seq_zero_length = _one_by_one_counts(events)
            overlaps += paired.overlaps - seq_overlaps
            strays += paired.strays - seq_strays
            zero_length += paired.zero_length - seq_zero_length
    report.drum_notes_dropped += drums
    report.overlapping_notes_resolved += overlaps
    report.stray_note_offs_ignored += strays
    report.zero_length_notes_dropped += zero_length
    report.controller_events_skipped += skipped[11]
    report.program_changes_skipped += skipped[12]
    report.other_channel_events_skipped += skipped[10] + skipped[13]
    report.sysex_messages_skipped += sysex
    report.meta_events_skipped += metas
    return tick, sounding


@dataclass
class _PairedNotes:
    """The notes of one pitch of one track, and what pairing them took (see
    :func:`_paired_restruck`)."""

    notes: list[Note]
    overlaps: int = 0  # notes cut where the pitch was struck again while sounding
    strays: int = 0  # note-offs with nothing to end
    zero_length: int = 0  # notes dropped for having no length
    left_sounding: tuple[int, int] | None = None  # (start tick, velocity): never turned off


def _paired_restruck(events: array, channel: int, pitch: int) -> _PairedNotes:
    """The notes of one pitch of one channel of one track that was struck while sounding.

    ``events`` in file order, each ``tick << 7 | velocity`` (velocity 0: a note-off). A strike
    while the pitch sounds cuts the sounding note there; the note it cut may still have its
    note-off to come. A note-off then belongs to a cut note, and the sounding note goes on,
    only when another note-off of the pitch follows it before the next strike (a legato
    overlap, ``on on off off``: the second off ends the second note), or when it falls on the
    tick the sounding note was struck (repeated notes written note-on first, each new
    note-on just before the old note-off at the same tick); otherwise it ends the
    sounding note (a doubled note-on, ``on on off``, whose cut note's off never comes) and
    nothing is owed any more. So one glitch never changes how the rest of the track reads.
    """
    n = len(events)
    offs_ahead = [0] * (n + 1)  # offs_ahead[i]: note-offs in a row from event i on
    for i in range(n - 1, -1, -1):
        offs_ahead[i] = 0 if events[i] & 0x7F else offs_ahead[i + 1] + 1
    result = _PairedNotes([])
    held: tuple[int, int] | None = None  # the sounding note: (start tick, velocity)
    owed = 0  # notes cut by a strike whose note-off has not come
    for i, event in enumerate(events):
        tick, velocity = event >> 7, event & 0x7F
        if velocity == 0 and held is None:
            result.strays += 1
            continue
        if velocity == 0 and owed and (offs_ahead[i] >= 2 or tick == held[0]):
            # a cut note's off: the sounding note goes on to a later one (an off at the very
            # tick the sounding note was struck is the cut note's too: repeated notes written
            # note-on first, ``on on off on off ... off``)
            owed -= 1
            continue
        if held is not None:
            start, held_velocity = held
            if tick > start:
                result.notes.append(Note(start, pitch, tick - start, held_velocity, channel))
            else:
                result.zero_length += 1
        if velocity:
            if held is not None:
                result.overlaps += 1
                owed += 1
            held = (tick, velocity)
        else:
            held, owed = None, 0
    result.left_sounding = held
    return result


def _one_by_one_counts(events: array) -> tuple[int, int, int]:
    """(overlaps, stray note-offs, zero-length notes) of reading ``events`` (as in
    :func:`_paired_restruck`) one by one, as :func:`_parse_track` does."""
    held = -1  # the sounding note's start tick (-1: none)
    overlaps = strays = zero_length = 0
    for event in events:
        tick, strike = event >> 7, event & 0x7F
        if held >= 0:
            zero_length += tick <= held
            if strike:
                overlaps += 1
            held = tick if strike else -1
        elif strike:
            held = tick
        else:
            strays += 1
    return overlaps, strays, zero_length


def _read_vlq(trk: bytes, i: int, track_no: int) -> tuple[int, int]:
    """A variable-length quantity at ``i``: (value, index after it)."""
    value = 0
    for _ in range(4):
        b = trk[i]
        i += 1
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            return value, i
    raise _Malformed(f"track {track_no}: a length longer than 4 bytes at byte {i - 4}")


def _tempo_event(
    trk: bytes, i: int, length: int, tick: int, track_no: int, tempos: dict[int, int]
) -> None:
    if length != 3:
        raise _Malformed(
            f"track {track_no}: a tempo event of {length} bytes (3 expected) at tick {tick}"
        )
    us_per_quarter = int.from_bytes(trk[i : i + 3], "big")
    if us_per_quarter == 0:
        raise _Malformed(
            f"track {track_no}: a tempo of 0 microseconds per quarter note at tick {tick}"
        )
    if len(tempos) >= MAX_TEMPO_CHANGES and tick not in tempos:
        raise _Malformed(f"the song holds more than {MAX_TEMPO_CHANGES} tempo changes")
    tempos[tick] = us_per_quarter


def _meter_event(
    trk: bytes,
    i: int,
    length: int,
    tick: int,
    track_no: int,
    meters: dict[int, tuple[int, int]],
    report: ImportReport,
) -> None:
    if length != 4:
        raise _Malformed(
            f"track {track_no}: a time signature event of {length} bytes (4 expected) at tick {tick}"
        )
    numerator, power = trk[i], trk[i + 1]
    if numerator == 0:
        shown = f"0/2^{power}" if power > _MAX_METER_POWER else f"0/{2**power}"
        raise _Malformed(f"track {track_no}: an impossible time signature {shown} at tick {tick}")
    if power > _MAX_METER_POWER:
        # a real meter (3/128), but a score's time signatures end at 1/64: the meter before
        # it goes on (counted, so saving over the file asks first)
        report.time_signatures_skipped += 1
        return
    if len(meters) >= MAX_TEMPO_CHANGES and tick not in meters:
        raise _Malformed(f"the song holds more than {MAX_TEMPO_CHANGES} time signature changes")
    meters[tick] = (numerator, 2**power)


def _key_event(
    trk: bytes,
    i: int,
    length: int,
    tick: int,
    keys: dict[int, tuple[int, bool]],
    report: ImportReport,
) -> None:
    """Keep a key signature meta event: sharps as a signed byte, then 0 major / 1 minor
    (bytes after those two are ignored, as other readers do; an empty event holds nothing).
    One the standard does not allow is counted as skipped. Of different keys at one tick (a
    transposing part's in a later track), the first read is kept and the others counted."""
    if length == 0:
        return
    if length < 2:
        report.key_signatures_skipped += 1
        return
    sharps = trk[i] - 256 if trk[i] > 127 else trk[i]
    mode = trk[i + 1]
    if not -7 <= sharps <= 7 or mode > 1:
        report.key_signatures_skipped += 1
        return
    held = keys.get(tick)
    if held is not None:
        report.key_signatures_dropped += held != (sharps, bool(mode))
        return
    if len(keys) >= MAX_TEMPO_CHANGES:
        raise _Malformed(f"the song holds more than {MAX_TEMPO_CHANGES} key signature changes")
    keys[tick] = (sharps, bool(mode))


def _bends_kept(bends: array, report: ImportReport) -> list[PitchBend]:
    """The song's pitch bends (packed, in file order: see :func:`_channel_values_kept`) the
    score keeps (a channel starts centred: a centred bend before any other is none)."""
    kept = _channel_values_kept(bends, 14, PITCH_BEND_CENTRE, report)
    return pitch_bends(PitchBend(tick, channel, value) for (tick, channel), value in kept.items())


def _pressures_kept(pressures: array, report: ImportReport) -> list[ChannelPressure]:
    """The song's channel pressures (packed, in file order: see
    :func:`_channel_values_kept`) the score keeps (a channel starts at none, 0)."""
    kept = _channel_values_kept(pressures, 7, 0, report)
    return channel_pressures(
        ChannelPressure(tick, channel, value) for (tick, channel), value in kept.items()
    )


def _channel_values_kept(
    changes: array, value_bits: int, start_value: int, report: ImportReport
) -> dict[tuple[int, int], int]:
    """Of a song's changes of one value per channel (pitch bends, channel pressure: each
    ``(tick << 4 | channel) << value_bits | value``, in file order), those the score keeps:
    those that change their channel's value (``start_value`` before any), in time order
    across the tracks (of several at one tick on a channel the last read), at most
    :data:`MAX_TEMPO_CHANGES` ticks and channels, as ``(tick, channel) -> value``. The drum
    channel's that change it (the drums are dropped) and any past that many are counted in
    ``report``.

    10 MB of them is five million: they are looked at in arrays, a million at a time (as
    tuples they took 600 MB)."""
    if not changes:
        return {}
    packed = np.frombuffer(changes, dtype=np.int64)
    ticks = packed >> (value_bits + 4)
    if len(packed) > 1 and not bool((ticks[1:] >= ticks[:-1]).all()):  # several tracks
        packed = packed[np.argsort(ticks, kind="stable")]  # (at one tick, file order)
    del ticks
    mask = (1 << value_bits) - 1
    in_force = [start_value] * 16  # by channel
    kept: dict[int, int] = {}  # tick << 4 | channel -> its last value, in the order met
    skipped = 0
    for begin in range(0, len(packed), _VALUES_AT_ONCE):
        chunk = packed[begin : begin + _VALUES_AT_ONCE]
        channels = (chunk >> value_bits) & 0x0F
        values = chunk & mask
        changed = np.empty(len(chunk), dtype=bool)
        for channel in np.unique(channels).tolist():
            on = np.flatnonzero(channels == channel)
            own = values[on]
            before = np.empty_like(own)  # the value in force before each
            before[0] = in_force[channel]
            before[1:] = own[:-1]
            changed[on] = own != before
            in_force[channel] = int(own[-1])
        drums = changed & (channels == DRUM_CHANNEL)
        skipped += int(drums.sum())
        chunk = chunk[changed & ~drums]
        if not len(chunk):
            continue
        keys = chunk >> value_bits
        unique, first, counts = np.unique(keys, return_index=True, return_counts=True)
        last = len(keys) - 1 - np.unique(keys[::-1], return_index=True)[1]
        met = np.argsort(first, kind="stable")  # the keys in the order met
        if len(kept) >= MAX_TEMPO_CHANGES:  # full: only a key met before takes a new value
            known = np.fromiter(kept, dtype=np.int64, count=len(kept))
            again = np.isin(unique, known[known >> 4 >= int(unique[0]) >> 4])
            for i in np.flatnonzero(again).tolist():
                kept[int(unique[i])] = int(chunk[last[i]]) & mask
            skipped += int(counts[~again].sum())
            continue
        for n, i in enumerate(met.tolist()):
            key = int(unique[i])
            if key in kept or len(kept) < MAX_TEMPO_CHANGES:
                kept[key] = int(chunk[last[i]]) & mask
            else:  # full now: the rest of this chunk's keys
                rest = met[n:]
                again = np.isin(unique[rest], np.fromiter(kept, dtype=np.int64, count=len(kept)))
                for j in rest[again].tolist():
                    kept[int(unique[j])] = int(chunk[last[j]]) & mask
                skipped += int(counts[rest[~again]].sum())
                break
    report.other_channel_events_skipped += skipped
    return {(key >> 4, key & 0x0F): value for key, value in kept.items()}


# ---- writing -----------------------------------------------------------------------------
def _metronome_clocks(numerator: int, denominator: int) -> int:
    """A time signature's metronome click in MIDI clocks (24 a quarter note), as sequencers
    write it: a click on each beat, the dotted beat of a compound meter (6/8, 9/8, 12/16:
    36 clocks for 6/8), else the note value of the denominator (24 for 3/4, 12 for 7/8)."""
    compound = denominator >= 8 and numerator > 3 and numerator % 3 == 0
    return max(1, 96 * (3 if compound else 1) // denominator)


def mid_bytes(score: Score, path: str | os.PathLike[str] = "<memory>") -> bytes:
    """The bytes of a format-1 MIDI file holding ``score`` (see the module doc for layout).

    Raises :class:`MidiFileError` (action "save") when the score cannot be stored in a MIDI
    file (a PPQ or tempo out of the format's range), or when :func:`read_mid` would refuse the
    file (too many notes, tempo or meter changes, too long, or over :data:`MAX_FILE_BYTES`
    even with each note-off written as a note-on of velocity 0, which running status makes a
    byte shorter: see the module doc).
    """
    data = _mid_bytes(score, path, compact=False)
    if len(data) > MAX_FILE_BYTES:  # (a file near the limit holding a big sysex dump)
        data = _mid_bytes(score, path, compact=True)
        if len(data) > MAX_FILE_BYTES:
            raise MidiFileError(
                path,
                f"the file would be {len(data) / 1_048_576:.1f} MB, and files over "
                f"{MAX_FILE_BYTES // 1_048_576} MB cannot be opened again",
                "save",
            )
    return data


def _mid_bytes(score: Score, path: str | os.PathLike[str], compact: bool) -> bytes:
    """:func:`mid_bytes`, each note-off a note-on of velocity 0 if ``compact``."""
    if not 1 <= score.ppq <= _MAX_PPQ:
        raise MidiFileError(
            path, f"{score.ppq} ticks per quarter does not fit a MIDI file (1-{_MAX_PPQ})", "save"
        )
    last_tick = max(  # the closing rest is not counted: it gives way at the limit
        max(t.tick for t in score.tempo_map),
        max(s.tick for s in score.time_signatures),
        max((k.tick for k in score.key_signatures), default=0),
        score.end_tick,
    )
    too_big = _limit_reason(
        score.ppq, len(score), len(score.tempo_map), len(score.time_signatures), last_tick
    )
    if too_big is not None:
        raise MidiFileError(path, f"{too_big}, so the saved file could not be opened again", "save")
    conductor: list[tuple[int, int, bytes]] = []
    for sig in score.time_signatures:
        power = sig.denominator.bit_length() - 1
        clocks = _metronome_clocks(sig.numerator, sig.denominator)
        conductor.append((sig.tick, 0, bytes((0xFF, 0x58, 4, sig.numerator, power, clocks, 8))))
    if len(score.key_signatures) > MAX_TEMPO_CHANGES:
        raise MidiFileError(
            path,
            f"the song holds more than {MAX_TEMPO_CHANGES} key signature changes, so the saved "
            "file could not be opened again",
            "save",
        )
    for key in score.key_signatures:
        conductor.append((key.tick, 2, bytes((0xFF, 0x59, 2, key.sharps & 0xFF, int(key.minor)))))
    for change in score.tempo_map:
        if change.us_per_quarter > _MAX_US_PER_QUARTER:
            raise MidiFileError(
                path, f"a tempo of {change.tempo_bpm:.3g} BPM is too slow for a MIDI file", "save"
            )
        conductor.append(
            (change.tick, 1, b"\xff\x51\x03" + change.us_per_quarter.to_bytes(3, "big"))
        )
    # the conductor track ends where the song does (keeping a closing rest, within the limit)
    song_end = min(score.length_tick, max(last_tick, MAX_LENGTH_QUARTERS * score.ppq))
    if score.title:
        conductor.append((0, _NAME_ORDER, _track_name_event(score.title)))
    # a channel's controllers, bends, program changes and pressures go in its first track (one
    # of their own if it has no notes); at one tick after the note-offs, before the note-ons
    # (a key's pressure after them), in the order the score holds them (a parameter number
    # before its data entry), controllers (a bank select) before the program. One past the
    # song's end would make it longer when read back: the last of each past it is put at the
    # end instead; but where the closing rest is the longest kept, the file's end lay further
    # off (as a later marker says): what lies past the end reads back where it is.
    end = score.length_tick if len(score) else None
    if end is not None and score.closing_rest_ticks >= _longest_closing_rest(score):
        end = None
    settings: dict[int, list[tuple[int, int, bytes]]] = {}  # channel -> (tick, order, event)
    past_end: dict[tuple[int, int, int], bytes] = {}  # (kind, channel, number) -> the last
    order = 1
    for kind, channel, number, tick, event in _setting_events(score):
        if end is not None and tick > end:
            past_end.pop((kind, channel, number), None)  # (the later one goes last)
            past_end[kind, channel, number] = event
            continue
        settings.setdefault(channel, []).append((tick, order, event))
        order += 1
    for (_kind, channel, _number), event in past_end.items():
        settings.setdefault(channel, []).append((end or 0, order, event))
        order += 1
    note_on_order = order
    # a key's pressure after the note-on it presses, at one tick (one past the end at the end)
    for order, key in enumerate(score.key_pressures, start=note_on_order + 1):
        tick = key.tick if end is None else min(key.tick, end)
        settings.setdefault(key.channel, []).append(
            (tick, order, bytes((0xA0 | key.channel, key.pitch, key.value)))
        )
    lanes = _note_lanes(score.notes, path, extra_channels=settings)
    # a part's texts go in its track, the song's (and those of a part without notes) and the
    # system-exclusive messages in the first; first at their tick, in the score's order
    parts = {(channel, track) for (channel, track, layer), lane in lanes if lane and not layer}
    texts: dict[tuple[int, int] | None, list[tuple[int, int, bytes]]] = {}
    for order, text in enumerate(score.texts, start=_TEXT_ORDER):
        tick = text.tick if end is None else min(text.tick, end)
        part = text.part if text.part in parts else None
        texts.setdefault(part, []).append((tick, order, _text_event(text.kind, text.text)))
    conductor += texts.pop(None, ())
    for order, message in enumerate(score.system_exclusive, start=_TEXT_ORDER + len(score.texts)):
        tick = message.tick if end is None else min(message.tick, end)
        conductor.append((tick, order, message.data[:1] + _vlq(len(message.data) - 1) + message.data[1:]))
    tracks = [_track_bytes(sorted(conductor), end_tick=song_end)]
    for (channel, track, layer), lane in lanes:
        events: list[tuple[int, int, bytes]] = []
        if layer:  # named, so that reading it back folds it into its track
            events.append(
                (0, _NAME_ORDER, b"\xff\x03" + _vlq(len(OVERLAP_TRACK_NAME)) + OVERLAP_TRACK_NAME)
            )
        elif lane:  # (a part with notes)
            if (channel, track) in score.track_names:
                events.append((0, _NAME_ORDER, _track_name_event(score.track_names[channel, track])))
            events += texts.pop((channel, track), ())
        off_status, off_velocity = (0x90, 0) if compact else (0x80, 0x40)
        for n in lane:
            events.append((n.end_tick, 0, bytes((off_status | n.channel, n.pitch, off_velocity))))
            events.append(
                (n.start_tick, note_on_order, bytes((0x90 | n.channel, n.pitch, n.velocity)))
            )
        events += settings.pop(channel, ())
        events.sort()  # at one tick: note-offs, controllers and bends, the program, note-ons,
        # key pressures
        tracks.append(_track_bytes(events))
    header = b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big")
    header += len(tracks).to_bytes(2, "big") + score.ppq.to_bytes(2, "big")
    return header + b"".join(tracks)


def _setting_events(score: Score) -> Iterator[tuple[int, int, int, int, bytes]]:
    """``score``'s controller changes, pitch bends, channel pressures, then program changes
    (in the order the player sends them at one tick), each as ``(kind, channel, number, tick,
    event bytes)`` (kind 0, 1, 3, 2; number the controller, or 0)."""
    for c in score.control_changes:
        yield 0, c.channel, c.controller, c.tick, bytes((0xB0 | c.channel, c.controller, c.value))
    for b in score.pitch_bends:
        yield 1, b.channel, 0, b.tick, bytes((0xE0 | b.channel, b.value & 0x7F, b.value >> 7))
    for c in score.channel_pressures:
        yield 3, c.channel, 0, c.tick, bytes((0xD0 | c.channel, c.value))
    for p in score.program_changes:
        yield 2, p.channel, 0, p.tick, bytes((0xC0 | p.channel, p.program))


def _track_name_event(name: str) -> bytes:
    """A track name meta event of ``name`` in Latin-1, as it was read (a name with other
    characters, typed in another program's file, is written in UTF-8)."""
    return _text_event(0x03, name)


def _text_event(kind: int, text: str) -> bytes:
    """A text meta event of ``kind`` (a track name, a lyric, a marker, ...) holding ``text``
    in Latin-1, as it was read (a text with other characters is written in UTF-8)."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        raw = text.encode("utf-8")
    return b"\xff" + bytes((kind,)) + _vlq(len(raw)) + raw


def _note_lanes(
    notes: Iterable[Note], path: str | os.PathLike[str], extra_channels: Iterable[int] = ()
) -> list[tuple[tuple[int, int, int], list[Note]]]:
    """Split notes into tracks: one per channel and ``Note.track``, plus one per extra layer of
    same-pitch overlap (see :func:`_note_lane_keys`), in the order of those three, each with
    its ``(channel, track, layer)``; and an empty one for each of ``extra_channels`` without
    notes."""
    lanes: dict[tuple[int, int, int], list[Note]] = {}  # (channel, track, layer) -> notes
    for n, lane in _note_lane_keys(notes):
        if lane not in lanes:
            if len(lanes) >= 0xFFFF - 1:  # one track is the conductor
                # as many tracks as a file holds (a file of 65,535 one-note tracks on one
                # channel): each channel's tracks saved as one, with their overlap layers
                lanes = {}
                for n, lane in _note_lane_keys(notes, by_track=False):
                    if lane not in lanes:
                        if len(lanes) >= 0xFFFF - 1:
                            raise MidiFileError(
                                path, "the score needs more than 65535 tracks", "save"
                            )
                        lanes[lane] = []
                    lanes[lane].append(n)
                break
            lanes[lane] = []
        lanes[lane].append(n)
    with_notes = {channel for channel, _track, _layer in lanes}
    for channel in extra_channels:
        if channel not in with_notes:
            if len(lanes) >= 0xFFFF - 1:
                raise MidiFileError(path, "the score needs more than 65535 tracks", "save")
            lanes[channel, 0, 0] = []
    return [(k, lanes[k]) for k in sorted(lanes)]


def _note_lane_keys(
    notes: Iterable[Note], by_track: bool = True
) -> Iterator[tuple[Note, tuple[int, int, int]]]:
    """Each note (sorted by start) with the output track it is written to: ``(channel, track,
    layer)`` (track 0 for every note unless ``by_track``).

    Within a lane no two notes of one pitch overlap, so reading the file back pairs every
    note-off with the right note-on. Each note takes the lowest layer of its channel and
    track that is free on its pitch (heaps keep this O(n log n) even for pathological
    overlap).
    """
    heappush, heappop = heapq.heappush, heapq.heappop
    # (track << 4 | channel) << 7 | pitch -> (busy [(end, layer)], free layers below `used`,
    # [layers used])
    keys: dict[int, tuple[list[tuple[int, int]], list[int], list[int]]] = {}
    for n in notes:
        channel = n.channel
        start = n.start_tick
        track = n.track if by_track else 0
        key = (track << 4 | channel) << 7 | n.pitch
        state = keys.get(key)
        if state is None:  # the first note of its key: layer 0
            keys[key] = ([(start + n.duration_ticks, 0)], [], [1])
            yield n, (channel, track, 0)
            continue
        ends, spare, used = state
        while ends and ends[0][0] <= start:
            heappush(spare, heappop(ends)[1])
        if spare:
            layer = heappop(spare)
        else:
            layer = used[0]
            used[0] = layer + 1
        heappush(ends, (start + n.duration_ticks, layer))
        yield n, (channel, track, layer)


def _track_bytes(events: list[tuple[int, int, bytes]], end_tick: int = 0) -> bytes:
    """An ``MTrk`` chunk of (tick, order, message) events, sorted, with running status; its
    end of track at ``end_tick`` or at the last event, whichever is later."""
    out = bytearray()
    last_tick = 0
    running = 0
    end_of_track = (max(end_tick, events[-1][0] if events else 0), 0, b"\xff\x2f\x00")
    for tick, _order, message in [*events, end_of_track]:
        delta = tick - last_tick
        while delta > _MAX_VLQ:
            # a delta time holds 28 bits; bridge a longer gap with empty text events
            out += _vlq(_MAX_VLQ) + b"\xff\x01\x00"
            delta -= _MAX_VLQ
            running = 0  # a meta event cancels running status (SMF 1.0)
        out += _vlq(delta)
        last_tick = tick
        if message[0] < 0xF0 and message[0] == running:
            out += message[1:]
        else:
            out += message
            running = message[0] if message[0] < 0xF0 else 0
    return b"MTrk" + len(out).to_bytes(4, "big") + bytes(out)


def _vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def is_read_only(path: str | os.PathLike[str], status: os.stat_result | None = None) -> bool:
    """Whether :func:`write_mid` refuses to replace the file at ``path`` as read-only: no
    write permission, or no write bit in its mode (root may write whatever the mode, but the
    file says no). ``status``: its ``os.stat``, if already known."""
    status = os.stat(path) if status is None else status
    return not status.st_mode & 0o222 or not os.access(path, os.W_OK)


def write_mid(score: Score, path: str | os.PathLike[str]) -> None:
    """Save ``score`` as a format-1 MIDI file, atomically.

    The file is serialized in memory, written to a temporary file in the same folder, flushed
    to disk and then renamed over ``path``; an existing ``path`` that is not a regular file (a
    folder, a device, a pipe) is refused, never replaced. If anything fails, the previous file at ``path`` is
    left byte-identical and no temporary file remains; the failure is a
    :class:`MidiFileError` naming the file and the reason (e.g. "No space left on device").
    """
    data = mid_bytes(score, path)
    # saving through a symbolic link updates the file it points to, not the link
    target = Path(os.path.realpath(path))
    folder = target.parent
    try:
        old = os.stat(target)
    except OSError:
        old = None  # no such file yet (or unreadable: the write below says why)
    if old is not None and not stat.S_ISREG(old.st_mode):
        # renaming over it would replace a device or a pipe (/dev/null, a FIFO) with a file
        reason = (
            "it is a folder, not a file" if stat.S_ISDIR(old.st_mode) else "it is not a regular file"
        )
        raise MidiFileError(path, reason, "save")
    if old is not None and is_read_only(target, old):
        # the rename needs only the folder's permission: a file made read-only is kept so
        raise MidiFileError(path, "the file is read-only (permission denied)", "save")
    tmp = folder / f".{_short_name(target.name)}.composer-{secrets.token_hex(4)}.tmp"
    fd = -1
    stage = "create"  # what was being done when it failed: create, write, replace
    try:
        # 0o666 and the umask, as an ordinary new file would get; keep an existing file's mode
        # and group (and owner, where allowed)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        stage = "write"
        if old is not None:
            _keep_owner(fd, old)
            os.chmod(tmp, old.st_mode & 0o7777)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            if written <= 0:
                raise OSError(errno.EIO, "the disk accepted no data")
            view = view[written:]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        stage = "replace"
        os.replace(tmp, target)
    except OSError as exc:
        _discard(fd, tmp)
        if isinstance(exc, IsADirectoryError):
            reason = "it is a folder, not a file"
        elif isinstance(exc, PermissionError) and old is not None and stage == "create":
            # the temporary file could not be made beside it: the folder is the obstacle
            reason = "the folder does not allow new files (permission denied); save it elsewhere"
        elif isinstance(exc, PermissionError) and stage == "replace":
            # a folder with the sticky bit (as /tmp): only its owner may replace the file
            reason = ("the folder lets only the file's owner replace it (permission denied); "
                      "save it elsewhere")
        elif isinstance(exc, PermissionError):
            reason = "permission denied"
        elif isinstance(exc, FileNotFoundError):
            reason = "the folder does not exist"
        else:
            reason = exc.strerror or str(exc)
        raise MidiFileError(path, reason, "save") from exc
    except BaseException:
        _discard(fd, tmp)
        raise
    _fsync_folder(folder)
    _remove_stale_temporaries(folder, target.name)


# A temporary file older than this, left beside a file by a save that was killed, is removed by
# the next save of that file. Units: seconds.
STALE_TEMPORARY_S = 600.0


def _short_name(name: str, limit_bytes: int = 100) -> str:
    """``name`` cut to at most ``limit_bytes`` bytes in the file system's encoding: a
    temporary file is named after the file it replaces (so a left-over one says whose it
    is) and must stay within the name limit (255 bytes on most file systems)."""
    while len(os.fsencode(name)) > limit_bytes:
        name = name[:-1]
    return name


def _keep_owner(fd: int, old: os.stat_result) -> None:
    """Give the open temporary file ``old``'s group (and owner, which only root may), so a
    save keeps a file shared with a group in reach; nothing if it is not allowed."""
    if not hasattr(os, "fchown"):
        return
    uid = old.st_uid if os.geteuid() == 0 else -1
    try:
        os.fchown(fd, uid, old.st_gid)
    except OSError:
        pass  # not a member of that group: the file gets the saver's, as a new file would


def _remove_stale_temporaries(folder: Path, name: str) -> None:
    """Remove temporary files of ``name``'s earlier saves that were killed before their
    rename (older than :data:`STALE_TEMPORARY_S`, so never one of a save still running)."""
    prefix = f".{_short_name(name)}.composer-"
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        token = entry.name[len(prefix):-len(".tmp")]
        if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")
                and len(token) == 8 and all(c in "0123456789abcdef" for c in token)):
            continue  # not one of this file's (``secrets.token_hex(4)``)
        try:
            if entry.is_file(follow_symlinks=False) and (
                now - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMPORARY_S
            ):
                os.unlink(entry.path)
        except OSError:
            pass


def _discard(fd: int, tmp: Path) -> None:
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable where the platform allows it (not on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

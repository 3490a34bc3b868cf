"""One note of a score, in integer ticks, and where a note made here goes (its channel and
track: :func:`main_part`, :func:`part_near`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace

MIDI_PITCH_MIN = 0
MIDI_PITCH_MAX = 127
MAX_TRACK = 0xFFFE  # a MIDI file holds at most 65535 tracks; a score's first is the conductor


_PITCH_CLASS_SHARPS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def pitch_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI number, with C4 = 60: ``pitch_name(61) == "C#4"``."""
    return f"{_PITCH_CLASS_SHARPS[pitch % 12]}{pitch // 12 - 1}"


class NoteError(ValueError):
    """A note with an impossible field (pitch, velocity, duration, channel or track)."""


@dataclass(frozen=True, order=True, slots=True)
class Note:
    """One note: where it starts, how long it lasts, how hard it is struck.

    Units: ``start_tick`` and ``duration_ticks`` in ticks of the owning score's PPQ;
    ``pitch`` a MIDI note number (60 = middle C); ``velocity`` 1-127; ``channel`` 0-15.
    ``generated`` marks notes the model proposed and the user has not yet accepted.
    ``track`` says which of its channel's tracks a save puts the note in (0: the channel's
    first), so that a file's tracks that share a channel (a tune's melody and its chords) are
    saved apart as they were read. A melody's note and a chord's note alike but for their
    tracks (a unison of the two parts) are two notes.

    The field order is the sort order: by start, then pitch.
    """

    start_tick: int
    pitch: int
    duration_ticks: int
    velocity: int = 100
    channel: int = 0
    generated: bool = False
    track: int = 0

    def __post_init__(self) -> None:
        if not (  # the common case, plain ints, checked at once (import makes 250,000 notes)
            type(self.start_tick) is int and type(self.pitch) is int
            and type(self.duration_ticks) is int and type(self.velocity) is int
            and type(self.channel) is int and type(self.track) is int
        ):
            self._take_integers()
        if not MIDI_PITCH_MIN <= self.pitch <= MIDI_PITCH_MAX:
            raise NoteError(f"pitch must be 0-127, got {self.pitch}")
        if not 1 <= self.velocity <= 127:
            raise NoteError(f"velocity must be 1-127, got {self.velocity}")
        if self.duration_ticks <= 0:
            raise NoteError(f"duration_ticks must be > 0, got {self.duration_ticks}")
        if self.start_tick < 0:
            raise NoteError(f"start_tick must be >= 0, got {self.start_tick}")
        if not 0 <= self.channel <= 15:
            raise NoteError(f"channel must be 0-15, got {self.channel}")
        if not 0 <= self.track <= MAX_TRACK:
            raise NoteError(f"track must be 0-{MAX_TRACK}, got {self.track}")

    def _take_integers(self) -> None:
        """Store integer-valued fields (numpy integers) as plain ints; refuse anything else."""
        for name in ("start_tick", "pitch", "duration_ticks", "velocity", "channel", "track"):
            value = getattr(self, name)
            if isinstance(value, bool):  # True == 1, but a flag is no tick, pitch or velocity
                raise NoteError(f"{name} must be an integer, got {value!r}")
            if not isinstance(value, int):
                # numpy integers are welcome but stored as plain ints
                try:
                    as_int = int(value)
                except (TypeError, ValueError):
                    raise NoteError(f"{name} must be an integer, got {value!r}") from None
                if as_int != value:
                    raise NoteError(f"{name} must be an integer, got {value!r}")
                object.__setattr__(self, name, as_int)

    @property
    def end_tick(self) -> int:
        """The tick at which the note stops sounding (exclusive). Units: ticks."""
        return self.start_tick + self.duration_ticks

    def moved(self, delta_ticks: int = 0, delta_pitch: int = 0) -> Note:
        """A copy shifted in time and pitch (clamped so it stays valid)."""
        return replace(
            self,
            start_tick=max(0, self.start_tick + delta_ticks),
            pitch=min(MIDI_PITCH_MAX, max(MIDI_PITCH_MIN, self.pitch + delta_pitch)),
        )

    def with_duration(self, duration_ticks: int) -> Note:
        """A copy with another length (at least one tick)."""
        return replace(self, duration_ticks=max(1, int(duration_ticks)))

    def with_velocity(self, velocity: int) -> Note:
        """A copy with another velocity, clamped to 1-127."""
        return replace(self, velocity=min(127, max(1, int(velocity))))

    def accepted(self) -> Note:
        """A copy that is an ordinary (user) note."""
        return replace(self, generated=False)


def main_part(notes: Iterable[Note]) -> tuple[int, int]:
    """The part a note made here goes in: the ``(channel, track)`` that most of the user's
    notes (those not ``generated``) are in, the lowest of equals; ``(0, 0)`` without any."""
    counts = Counter((n.channel, n.track) for n in notes if not n.generated)
    if not counts:
        return 0, 0
    return min(counts, key=lambda part: (-counts[part], part))


def part_near(notes: Iterable[Note], tick: int, pitch: int) -> tuple[int, int] | None:
    """The ``(channel, track)`` of the user's note (not ``generated``) nearest to ``pitch``
    among ``notes``, of equals the nearest in time to ``tick`` (0 while it sounds there),
    then the lowest part: where a note drawn at ``tick`` and ``pitch`` belongs (a melody note
    drawn among the melody's notes, not in the chords' track). None without any."""
    best: tuple[int, int, int, int] | None = None
    for n in notes:
        if n.generated:
            continue
        if n.start_tick <= tick < n.end_tick:
            gap = 0
        else:
            gap = min(abs(n.start_tick - tick), abs(n.end_tick - tick))
        key = (abs(n.pitch - pitch), gap, n.channel, n.track)
        if best is None or key < best:
            best = key
    return None if best is None else (best[2], best[3])

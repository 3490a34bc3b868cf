"""One note of a score, in integer ticks."""

from __future__ import annotations

from dataclasses import dataclass, replace

MIDI_PITCH_MIN = 0
MIDI_PITCH_MAX = 127


_PITCH_CLASS_SHARPS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def pitch_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI number, with C4 = 60: ``pitch_name(61) == "C#4"``."""
    return f"{_PITCH_CLASS_SHARPS[pitch % 12]}{pitch // 12 - 1}"


class NoteError(ValueError):
    """A note with an impossible field (pitch, velocity, duration or channel)."""


@dataclass(frozen=True, order=True, slots=True)
class Note:
    """One note: where it starts, how long it lasts, how hard it is struck.

    Units: ``start_tick`` and ``duration_ticks`` in ticks of the owning score's PPQ;
    ``pitch`` a MIDI note number (60 = middle C); ``velocity`` 1-127; ``channel`` 0-15.
    ``generated`` marks notes the model proposed and the user has not yet accepted.

    The field order is the sort order: by start, then pitch.
    """

    start_tick: int
    pitch: int
    duration_ticks: int
    velocity: int = 100
    channel: int = 0
    generated: bool = False

    def __post_init__(self) -> None:
        for name in ("start_tick", "pitch", "duration_ticks", "velocity", "channel"):
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

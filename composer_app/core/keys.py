"""Keys and scales: estimate a melody's key, transpose to C, and build allowed-pitch masks.

The benchmark data of the RNN-RBM were transposed to C major or C minor (each piece by its
own mode), so a seed is moved into C before the model hears it and the continuation is
moved back. The key is estimated with the Krumhansl-Schmuckler method: the correlation of
the duration-weighted pitch-class histogram with the Krumhansl-Kessler key profiles.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from composer_app.core.note import Note
from composer_app.core.score import KeySignature

PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

# Scale name -> semitones above the tonic.
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "natural minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic minor": (0, 2, 3, 5, 7, 8, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "major pentatonic": (0, 2, 4, 7, 9),
    "minor pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
    "chromatic": tuple(range(12)),
}


@dataclass(frozen=True)
class Key:
    """A key: ``tonic`` pitch class (0 = C) and ``mode`` ("major" or "minor")."""

    tonic: int
    mode: str = "major"

    def __post_init__(self) -> None:
        if not 0 <= self.tonic < 12:
            raise ValueError(f"tonic must be a pitch class 0-11, got {self.tonic}")
        if self.mode not in ("major", "minor"):
            raise ValueError(f"mode must be 'major' or 'minor', got {self.mode!r}")

    @property
    def name(self) -> str:
        """E.g. "D major", "Bb minor"."""
        return f"{PITCH_CLASS_NAMES[self.tonic]} {self.mode}"

    def semitones_to_c(self) -> int:
        """The smallest shift (-6..+5 semitones) that moves this key's tonic to C."""
        return ((-self.tonic + 6) % 12) - 6


def pitch_class_histogram(notes: Iterable[Note]) -> np.ndarray:
    """Total duration per pitch class. Shapes: ``(12,)``. Units: ticks."""
    histogram = np.zeros(12)
    for note in notes:
        histogram[note.pitch % 12] += note.duration_ticks
    return histogram


def estimate_key(notes: Iterable[Note]) -> Key | None:
    """The most likely key of ``notes``, or None when there is nothing to judge by (no notes,
    or every pitch class held equally long, as in a chromatic scale).

    The tonic is the Krumhansl-Schmuckler estimate's. Its mode too, unless the music says
    otherwise plainly: the profiles weigh the tonic and the fifth far above the third, so a
    piece whose tonic chords are open fifths (A-E) can come out in the wrong mode; a third
    (then a sixth) of one mode heard where the other's is never heard decides
    (see :func:`_mode_by_degrees`).
    """
    histogram = pitch_class_histogram(notes)
    if histogram.sum() <= 0 or np.ptp(histogram) == 0:
        return None  # (a flat histogram correlates with nothing: every r would be NaN)
    best: tuple[float, Key] | None = None
    for tonic in range(12):
        for mode, profile in (("major", _MAJOR_PROFILE), ("minor", _MINOR_PROFILE)):
            # profile rotated so that its tonic lies on pitch class `tonic`
            rotated = np.roll(profile, tonic)
            r = float(np.corrcoef(histogram, rotated)[0, 1])
            if best is None or r > best[0]:
                best = (r, Key(tonic, mode))
    assert best is not None
    key = best[1]
    mode = _mode_by_degrees(histogram, key.tonic)
    return Key(key.tonic, mode) if mode else key


def _mode_by_degrees(histogram: np.ndarray, tonic: int) -> str | None:
    """"major" or "minor" when the music above ``tonic`` shows one mode's third (or, with no
    third at all, its sixth) and never the other's; None when both or neither are heard.

    Shapes: ``histogram (12,)``, time per pitch class. The seventh decides nothing: minor
    music raises it as often as not (harmonic minor).
    """
    for major, minor in ((4, 3), (9, 8)):  # thirds, then sixths, in semitones above the tonic
        major_heard = histogram[(tonic + major) % 12] > 0
        minor_heard = histogram[(tonic + minor) % 12] > 0
        if major_heard != minor_heard:
            return "major" if major_heard else "minor"
        if major_heard:  # both thirds heard: the profiles judge
            return None
    return None


# How much less of a seed (a share of its notes' time) may lie in its key signature's scale
# than in its estimated key's for the signature still to be taken (see transposition_key).
SIGNATURE_FIT_MARGIN = 0.0


def signature_key(signature: KeySignature) -> Key:
    """The key a key signature names: its major key, or its relative minor."""
    return Key(signature.tonic, "minor" if signature.minor else "major")


def transposition_key(notes: Iterable[Note], signature: KeySignature | None = None) -> Key | None:
    """The key whose tonic a seed is moved to C by (into C major, or C minor by its mode), as
    the benchmark data were moved: by their key signatures, not by an estimate (a tune in D
    mixolydian with one sharp was heard in C as G major is). The key signature in force (the
    file's, or one set with Edit ▸ Key Signature) is taken when the seed's notes from its tick
    on lie in its scale at least as much as in the key estimated from them (less
    :data:`SIGNATURE_FIT_MARGIN`). A C major signature at the very start is not taken: many
    programs write one whatever the key (a change to C major later is a signature like any
    other). Else, and without a signature, the key estimated from the whole seed
    (:func:`estimate_key`). With no notes to judge by (a continuation from silence), the
    signature's own key. None when nothing tells.

    The key the music is in, which messages name and "Seed's key" scales are on, stays the
    estimated one: this key only moves the notes for the model (on the Nottingham tunes whose
    4-bar seeds' estimate and signature differ, the model scored the tunes better moved by
    it: ``benchmarks/key_by_signature.py``).
    """
    notes = list(notes)
    estimated = estimate_key(notes)
    if signature is None or (signature.tick == 0 and signature.sharps == 0 and not signature.minor):
        # (a C major signature at the start is what many programs write whatever the key)
        return estimated
    declared = signature_key(signature)
    if not notes:
        return declared  # no notes to judge by (a continuation from silence): it says
    since = [n for n in notes if n.start_tick >= signature.tick] or notes
    estimated_since = estimate_key(since)
    if estimated_since is None:  # (every pitch class alike: nothing to weigh it against)
        return estimated
    histogram = pitch_class_histogram(since)
    if (
        _scale_share(histogram, declared)
        >= _scale_share(histogram, estimated_since) - SIGNATURE_FIT_MARGIN
    ):
        return declared
    return estimated


def _scale_share(histogram: np.ndarray, key: Key) -> float:
    """The share of ``histogram`` (time per pitch class, shape ``(12,)``) in ``key``'s scale:
    major, or natural minor with the raised seventh of harmonic minor."""
    degrees = set(SCALES["major" if key.mode == "major" else "natural minor"])
    if key.mode == "minor":
        degrees.add(11)
    classes = [(key.tonic + d) % 12 for d in degrees]
    return float(histogram[classes].sum() / histogram.sum())


def transpose_roll(roll: np.ndarray, semitones: int) -> np.ndarray:
    """Shift a ``(T, P)`` (or ``(P,)``) roll along pitch; what falls off the edges is dropped.

    Shapes: same as ``roll``. Units: semitones (positive = up).
    """
    out = np.zeros_like(roll)
    if semitones == 0:
        out[...] = roll
    elif semitones > 0:
        out[..., semitones:] = roll[..., :-semitones]
    else:
        out[..., :semitones] = roll[..., -semitones:]
    return out


def scale_mask(
    tonic: int,
    scale: str,
    *,
    pitch_low: int = 21,
    pitch_high: int = 109,
    range_low: int | None = None,
    range_high: int | None = None,
) -> np.ndarray:
    """Which pitches of ``[pitch_low, pitch_high)`` belong to the scale and lie in the range.

    Shapes: ``(pitch_high - pitch_low,)`` bool. ``range_low``/``range_high`` are inclusive
    MIDI pitches (None = no limit).
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    pitches = np.arange(pitch_low, pitch_high)
    in_scale = np.isin((pitches - tonic) % 12, SCALES[scale])
    low = pitch_low if range_low is None else range_low
    high = pitch_high - 1 if range_high is None else range_high
    return in_scale & (pitches >= low) & (pitches <= high)

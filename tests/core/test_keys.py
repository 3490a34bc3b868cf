"""Key estimation, transposition to C and scale masks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from composer_app.core.keys import (
    Key,
    estimate_key,
    scale_mask,
    transpose_roll,
    transposition_key,
)
from composer_app.core.note import Note
from composer_app.core.score import KeySignature


def _melody(pitches: list[int]) -> list[Note]:
    return [Note(i * 480, p, 480) for i, p in enumerate(pitches)]


def test_estimate_key_finds_d_major_scale() -> None:
    # D major scale up and down, ending on the tonic
    notes = _melody([62, 64, 66, 67, 69, 71, 73, 74, 73, 71, 69, 67, 66, 64, 62])
    assert estimate_key(notes) == Key(2, "major")


def test_estimate_key_finds_a_minor_arpeggio_melody() -> None:
    notes = _melody([57, 60, 64, 69, 67, 65, 64, 62, 60, 59, 57, 64, 57])
    assert estimate_key(notes) == Key(9, "minor")


def test_estimate_key_is_transposition_invariant() -> None:
    tune = [60, 62, 64, 65, 67, 65, 64, 62, 60, 67, 60]
    for shift in range(12):
        assert estimate_key(_melody([p + shift for p in tune])) == Key(shift % 12, "major")


def test_estimate_key_of_nothing_is_none() -> None:
    assert estimate_key([]) is None


def test_estimate_key_of_a_chromatic_scale_is_none_without_warnings() -> None:
    # every pitch class as long as every other: no key to find (and no NaN correlations)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert estimate_key(_melody(list(range(60, 72)))) is None
        assert estimate_key(_melody(list(range(60, 84)))) is None


def _open_fifths_tune(third: int) -> list[Note]:
    """Tonic chords of open fifths (A-E-A, long), a dominant with its leading tone, and a
    melody whose only third above A is ``third`` semitones (3: C, 4: C#), heard briefly."""
    notes = []
    for bar in range(4):
        t = bar * 1440
        if bar != 2:  # A2 E3 A3
            notes += [Note(t, 45, 1440), Note(t, 52, 1440), Note(t, 57, 1440)]
        else:  # E2 B2 G#3
            notes += [Note(t, 40, 1440), Note(t, 47, 1440), Note(t, 56, 1440)]
    melody = [(69, 960), (69 + third, 480), (71, 960), (69, 480), (68, 960), (71, 480),
              (76, 1440)]  # fmt: skip
    t = 0
    for pitch, length in melody:
        notes.append(Note(t, pitch, length))
        t += length
    return notes


def test_estimate_key_takes_the_mode_from_the_third_over_open_fifths() -> None:
    # The profiles alone call both A major: the tonic and fifth outweigh a short third.
    assert estimate_key(_open_fifths_tune(3)) == Key(9, "minor")
    assert estimate_key(_open_fifths_tune(4)) == Key(9, "major")
    # with no third at all, the sixth decides: F (minor) against F# (major)
    no_third = [n for n in _open_fifths_tune(3) if n.pitch != 72]
    assert estimate_key(no_third + [Note(5760, 65, 240)]) == Key(9, "minor")
    assert estimate_key(no_third + [Note(5760, 66, 240)]) == Key(9, "major")


def test_key_semitones_to_c_takes_the_short_way() -> None:
    # D -> C is 2 down, G -> C is 5 up, F# -> C is 6 down (the tie goes down)
    assert Key(2).semitones_to_c() == -2
    assert Key(7).semitones_to_c() == 5
    assert Key(6).semitones_to_c() == -6
    assert Key(0, "minor").semitones_to_c() == 0


def test_transpose_roll_shifts_and_drops_edges() -> None:
    roll = np.zeros((2, 88), dtype=bool)
    roll[0, 0] = roll[0, 87] = roll[1, 40] = True
    up = transpose_roll(roll, 3)
    # column 0 -> 3, column 87 falls off the top, 40 -> 43
    assert np.flatnonzero(up[0]).tolist() == [3]
    assert np.flatnonzero(up[1]).tolist() == [43]
    assert np.array_equal(transpose_roll(up, -3)[1], roll[1])


def test_scale_mask_c_major_in_range() -> None:
    mask = scale_mask(0, "major", range_low=60, range_high=72)
    allowed = (np.flatnonzero(mask) + 21).tolist()
    assert allowed == [60, 62, 64, 65, 67, 69, 71, 72]


def test_scale_mask_unknown_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scale"):
        scale_mask(0, "lydian dominant flat 13")


# ---- the key a seed is moved by ---------------------------------------------------------
def _melody(pitches: list[int], start_tick: int = 0) -> list[Note]:
    return [Note(start_tick + i * 240, p, 240) for i, p in enumerate(pitches)]


D_MIXOLYDIAN = [62, 66, 69, 72, 74, 72, 69, 66, 62, 64, 66, 67, 69, 72, 69, 62]
E_MINOR = [64, 67, 71, 76, 74, 72, 71, 67, 66, 64, 71, 64]


def test_transposition_key_takes_the_key_signature_where_the_notes_fit_it() -> None:
    # a tune in D mixolydian with one sharp: the estimate says D major (its C is natural);
    # it is moved as G major, as the training data were moved by their signatures
    notes = _melody(D_MIXOLYDIAN)
    assert estimate_key(notes) == Key(2, "major")
    assert transposition_key(notes, KeySignature(0, 1)) == Key(7, "major")
    assert transposition_key(notes, None) == Key(2, "major")
    # E minor written as E minor: moved by E (into C minor)
    assert transposition_key(_melody(E_MINOR), KeySignature(0, 1, minor=True)) == Key(4, "minor")
    # A minor under C major, many programs' default signature whatever the key: A minor,
    # as the notes say; a change to C major later in the piece is a signature like any other
    a_minor = _melody([57, 60, 64, 69, 67, 65, 64, 62, 60, 59, 57])
    assert transposition_key(a_minor, KeySignature(0, 0)) == Key(9, "minor")
    c_later = _melody([60, 64, 67, 72, 71, 67, 65, 64, 62, 60], 3840)
    assert transposition_key(_melody(D_MIXOLYDIAN) + c_later, KeySignature(3840, 0)) == Key(0)


def test_transposition_key_keeps_the_estimate_where_the_signature_does_not_fit() -> None:
    # E major notes under one sharp: G# and D# are far off it
    e_major = _melody([64, 68, 71, 76, 75, 73, 71, 68, 66, 64])
    assert transposition_key(e_major, KeySignature(0, 1)) == Key(4, "major")
    # a neighbouring key's signature (a D major tune marked G: its C# is off it)
    d_major = _melody([62, 66, 69, 74, 73, 71, 69, 66, 64, 61, 62, 69])
    assert transposition_key(d_major, KeySignature(0, 1)) == Key(2, "major")
    # E major after B-flat major bars under a stray one-sharp signature from where E begins:
    # judged against those notes' own key (E major), not the whole seed's
    b_flat = _melody([58, 62, 65, 70, 69, 67, 65, 63, 62, 60, 58, 62], 0)
    e_after = _melody([64, 68, 71, 76, 75, 73, 71, 68, 66, 64, 68, 71], 2880)
    assert transposition_key(b_flat + e_after, KeySignature(2880, 1)) != Key(7, "major")
    # no notes to judge by (a continuation from silence): the signature says
    assert transposition_key([], KeySignature(0, 2)) == Key(2, "major")
    assert transposition_key([], KeySignature(0, 0, minor=True)) == Key(9, "minor")
    assert transposition_key([], None) is None


def test_transposition_key_judges_a_modulating_seed_from_its_last_signature_on() -> None:
    # C major for two bars, then E-flat major: the estimate over the whole seed is neither;
    # a key signature set where E-flat begins moves the seed by E-flat
    c_major = _melody([60, 64, 67, 72, 71, 67, 65, 64, 62, 60, 64, 67, 72, 67, 64, 60])
    e_flat = _melody([63, 67, 70, 75, 74, 70, 68, 67, 65, 63, 67, 70, 75, 70, 67, 63], 3840)
    assert transposition_key(c_major + e_flat, KeySignature(3840, -3)) == Key(3, "major")


def test_transposition_key_does_not_take_a_c_major_signature_at_the_start() -> None:
    # F major with no B-flat yet fits C's scale as well as F's: a C major signature at the
    # start (a default) would move it as C major; the estimate moves it as F
    f_major = _melody([65, 69, 72, 77, 76, 72, 69, 65, 67, 69, 65, 60])
    estimated = estimate_key(f_major)
    assert transposition_key(f_major, KeySignature(0, 0)) == estimated
    # notes spread evenly over all twelve pitch classes since a signature tell nothing: the
    # whole seed's estimate, not the signature
    chromatic = _melody(list(range(60, 72)), 3840)
    g_major = _melody([67, 71, 74, 79, 78, 74, 71, 67, 69, 71, 72, 74])
    assert transposition_key(g_major + chromatic, KeySignature(3840, 3)) == estimate_key(
        g_major + chromatic
    )

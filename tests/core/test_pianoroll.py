"""Score <-> piano roll: shapes, counted losses and the round trip."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from composer_app.core.note import Note
from composer_app.core.pianoroll import (
    PIANO_PITCH_HIGH,
    PIANO_PITCH_LOW,
    RollLosses,
    notes_to_roll,
    roll_to_notes,
    score_to_roll,
)
from composer_app.core.score import Score

STEP = 240  # an eighth note at 480 PPQ


def test_notes_to_roll_shape_and_columns() -> None:
    conversion = notes_to_roll([Note(0, 21, 480), Note(480, 108, 240)], STEP)
    # 720 ticks / 240 = 3 steps; 88 keys
    assert conversion.roll.shape == (3, 88) and conversion.roll.dtype == bool
    assert conversion.roll[:, 0].tolist() == [True, True, False]  # A0 is column 0
    assert conversion.roll[:, 87].tolist() == [False, False, True]  # C8 is column 87
    assert conversion.roll.sum() == 3
    assert conversion.losses == RollLosses(0, 0, 0)
    assert (conversion.step_ticks, conversion.start_tick, conversion.pitch_low) == (STEP, 0, 21)


def test_notes_to_roll_empty_and_bad_step() -> None:
    assert notes_to_roll([], STEP).roll.shape == (0, PIANO_PITCH_HIGH - PIANO_PITCH_LOW)
    with pytest.raises(ValueError, match="step_ticks must be positive"):
        notes_to_roll([Note(0, 60, 10)], 0)


def test_notes_to_roll_counts_out_of_range_notes_and_drops_them() -> None:
    conversion = notes_to_roll([Note(0, 20, 240), Note(0, 109, 240), Note(0, 60, 240)], STEP)
    assert conversion.losses.out_of_range == 2
    assert conversion.roll.sum() == 1


def test_notes_to_roll_rounds_off_grid_notes_and_counts_them() -> None:
    # 100-340 ticks: start rounds to step 0 (100/240 < 0.5), end to step 1 (340/240 = 1.42)
    conversion = notes_to_roll([Note(100, 60, 240)], STEP)
    assert conversion.losses.off_grid == 1
    assert roll_to_notes(conversion.roll, STEP) == [Note(0, 60, 240)]


def test_notes_to_roll_half_step_rounds_up() -> None:
    # starts at 120 = half a step: rounds up to step 1; ends at 600 = 2.5 steps: rounds to 3
    conversion = notes_to_roll([Note(120, 60, 480)], STEP)
    assert roll_to_notes(conversion.roll, STEP) == [Note(240, 60, 480)]


def test_notes_to_roll_very_short_note_keeps_one_step() -> None:
    conversion = notes_to_roll([Note(0, 60, 10)], STEP)
    assert roll_to_notes(conversion.roll, STEP) == [Note(0, 60, 240)]
    assert conversion.losses.off_grid == 1


def test_notes_to_roll_short_last_note_is_not_lost() -> None:
    # 200-230 sits in the last partial step and rounds to step 1: the roll grows to hold it
    conversion = notes_to_roll([Note(0, 60, 130), Note(200, 62, 30)], STEP)
    assert conversion.roll.shape[0] == 2
    assert roll_to_notes(conversion.roll, STEP) == [Note(0, 60, 240), Note(240, 62, 240)]


def test_notes_to_roll_short_last_note_is_not_lost_before_a_given_end() -> None:
    # a sixteenth in the second half of the window's last eighth: rounded half up it fell
    # past the end and was dropped, so a continuation's seed lost its last note (it is in
    # neither the seed, which ends there, nor the continuation)
    conversion = notes_to_roll([Note(0, 60, 120), Note(360, 62, 120)], STEP, end_tick=480)
    assert conversion.roll.shape[0] == 2
    assert roll_to_notes(conversion.roll, STEP) == [Note(0, 60, 240), Note(240, 62, 240)]
    # a note starting at the end (or after it) is still outside
    assert not notes_to_roll([Note(480, 62, 120)], STEP, end_tick=480).roll.any()
    assert notes_to_roll([Note(0, 62, 120)], STEP, end_tick=0).roll.shape[0] == 0


def test_notes_to_roll_counts_merged_restrikes() -> None:
    notes = [
        Note(0, 60, 480),
        Note(480, 60, 240),  # struck again right after: one run of three steps
        Note(0, 64, 960),
        Note(240, 64, 240),  # inside the long E4
        Note(0, 67, 240),
        Note(480, 67, 240),  # one step of rest in between: stays separate
    ]
    conversion = notes_to_roll(notes, STEP)
    assert conversion.losses.merged == 2
    assert roll_to_notes(conversion.roll, STEP) == [
        Note(0, 60, 720),
        Note(0, 64, 960),
        Note(0, 67, 240),
        Note(480, 67, 240),
    ]


def test_notes_to_roll_window_cuts_notes() -> None:
    notes = [Note(0, 60, 960), Note(1920, 62, 240)]
    conversion = notes_to_roll(notes, STEP, start_tick=480, end_tick=960)
    # only the part 480-960 of C4 is inside; D4 lies after the window
    assert conversion.roll.shape == (2, 88)
    assert roll_to_notes(conversion.roll, STEP, start_tick=480) == [Note(480, 60, 480)]


def test_notes_to_roll_drops_a_note_that_ends_at_the_window_start() -> None:
    # A note that has ended by the window's start does not sound in it: a seed or clamp
    # cut from there must not hear a note that stopped just before.
    # C4 sounds 0-240 and the window is 240-960: 3 steps, all silent.
    conversion = notes_to_roll([Note(0, 60, 240)], STEP, start_tick=240, end_tick=960)
    assert conversion.roll.shape == (3, 88)
    assert not conversion.roll.any()
    # one tick longer (0-241) and it is in the window, rounded to a step
    assert notes_to_roll([Note(0, 60, 241)], STEP, start_tick=240, end_tick=960).roll.any()


def test_score_to_roll_uses_every_note_and_custom_range() -> None:
    score = Score(_notes=[Note(0, 60, 240), Note(0, 72, 240)])
    conversion = score_to_roll(score, STEP, pitch_low=60, pitch_high=72)
    assert conversion.roll.shape == (1, 12)
    assert conversion.losses.out_of_range == 1  # 72 is outside [60, 72)
    assert conversion.pitch_low == 60


def test_roll_to_notes_options_and_validation() -> None:
    roll = np.zeros((4, 3), dtype=np.uint8)
    roll[1:3, 2] = 1
    roll[3, 0] = 1
    notes = roll_to_notes(roll, 100, start_tick=1000, pitch_low=40, velocity=70, generated=True)
    assert notes == [
        Note(1100, 42, 200, 70, generated=True),
        Note(1300, 40, 100, 70, generated=True),
    ]
    with pytest.raises(ValueError, match="2-D"):
        roll_to_notes(np.zeros(5), 100)


def test_roll_losses_total() -> None:
    assert RollLosses(1, 2, 3).total == 6


# ---- properties --------------------------------------------------------------------------
@st.composite
def grid_melodies(draw) -> list[Note]:
    """On-grid notes of 88-key pitches with at least one step of rest between same pitches."""
    notes = []
    for pitch in draw(st.sets(st.integers(PIANO_PITCH_LOW, PIANO_PITCH_HIGH - 1), max_size=6)):
        step = draw(st.integers(0, 3))
        for _ in range(draw(st.integers(1, 4))):
            length = draw(st.integers(1, 4))
            notes.append(Note(step * STEP, pitch, length * STEP))
            step += length + draw(st.integers(1, 3))
    return sorted(notes)


@settings(max_examples=150, deadline=None)
@given(grid_melodies())
def test_roll_round_trip_is_exact_for_grid_notes(notes: list[Note]) -> None:
    score = Score(_notes=notes)
    conversion = score_to_roll(score, STEP)
    assert conversion.losses == RollLosses(0, 0, 0)
    assert roll_to_notes(conversion.roll, STEP) == list(score.notes)


@st.composite
def any_notes(draw) -> list[Note]:
    return draw(
        st.lists(
            st.builds(
                Note,
                start_tick=st.integers(0, 4000),
                pitch=st.integers(0, 127),
                duration_ticks=st.integers(1, 1500),
                velocity=st.integers(1, 127),
            ),
            max_size=30,
        )
    )


@settings(max_examples=200, deadline=None)
@given(any_notes())
def test_roll_losses_account_for_every_note(notes: list[Note]) -> None:
    conversion = notes_to_roll(notes, STEP)
    losses = conversion.losses
    in_range = [n for n in notes if PIANO_PITCH_LOW <= n.pitch < PIANO_PITCH_HIGH]
    assert losses.out_of_range == len(notes) - len(in_range)
    # every in-range note reads back as its own note unless it was counted as merged
    assert len(roll_to_notes(conversion.roll, STEP)) == len(in_range) - losses.merged
    # and an unchanged note is one that was on the grid
    on_grid = [n for n in in_range if n.start_tick % STEP == 0 and n.end_tick % STEP == 0]
    assert losses.off_grid == len(in_range) - len(on_grid)

"""Note: validation, ordering and the copy helpers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from composer_app.core.note import Note, NoteError, main_part, part_near


def test_note_defaults_and_end_tick() -> None:
    note = Note(480, 60, 240)
    assert (note.velocity, note.channel, note.generated) == (100, 0, False)
    assert note.end_tick == 720  # 480 + 240


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pitch": -1}, "pitch must be 0-127, got -1"),
        ({"pitch": 128}, "pitch must be 0-127, got 128"),
        ({"velocity": 0}, "velocity must be 1-127, got 0"),
        ({"velocity": 128}, "velocity must be 1-127, got 128"),
        ({"duration_ticks": 0}, "duration_ticks must be > 0, got 0"),
        ({"duration_ticks": -5}, "duration_ticks must be > 0, got -5"),
        ({"start_tick": -1}, "start_tick must be >= 0, got -1"),
        ({"channel": 16}, "channel must be 0-15, got 16"),
        ({"channel": -1}, "channel must be 0-15, got -1"),
        ({"track": -1}, "track must be 0-65534, got -1"),
        ({"track": 65535}, "track must be 0-65534, got 65535"),
        ({"track": 1.5}, "track must be an integer, got 1.5"),
        ({"pitch": 60.5}, "pitch must be an integer, got 60.5"),
        ({"start_tick": "10"}, "start_tick must be an integer, got '10'"),
        ({"velocity": None}, "velocity must be an integer, got None"),
        ({"duration_ticks": True}, "duration_ticks must be an integer, got True"),
    ],
)
def test_note_rejects_impossible_fields(kwargs: dict, message: str) -> None:
    fields = {"start_tick": 0, "pitch": 60, "duration_ticks": 10} | kwargs
    with pytest.raises(NoteError) as caught:
        Note(**fields)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_note_accepts_edge_values() -> None:
    low = Note(0, 0, 1, velocity=1, channel=0)
    high = Note(10**9, 127, 10**9, velocity=127, channel=15)
    assert (low.pitch, high.pitch, high.channel) == (0, 127, 15)


def test_note_stores_numpy_integers_as_plain_ints() -> None:
    note = Note(np.int64(10), np.uint8(60), np.int32(5), np.int16(90))
    assert type(note.start_tick) is int and type(note.pitch) is int
    assert type(note.velocity) is int and note == Note(10, 60, 5, 90)


def test_note_is_frozen() -> None:
    note = Note(0, 60, 10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        note.pitch = 61  # type: ignore[misc]


def test_note_sorts_by_start_then_pitch() -> None:
    notes = [Note(10, 50, 5), Note(0, 70, 5), Note(0, 60, 99), Note(10, 40, 1)]
    assert sorted(notes) == [Note(0, 60, 99), Note(0, 70, 5), Note(10, 40, 1), Note(10, 50, 5)]


def test_note_moved_shifts_and_clamps() -> None:
    note = Note(100, 60, 10, 80, channel=3, generated=True)
    assert note.moved(50, 2) == Note(150, 62, 10, 80, channel=3, generated=True)
    assert note.moved(-500, 0).start_tick == 0  # never before the start
    assert note.moved(0, 100).pitch == 127
    assert note.moved(0, -100).pitch == 0


def test_note_with_duration_and_velocity_clamp() -> None:
    note = Note(0, 60, 10, 80)
    assert note.with_duration(30).duration_ticks == 30
    assert note.with_duration(0).duration_ticks == 1  # at least one tick
    assert note.with_velocity(200).velocity == 127
    assert note.with_velocity(-3).velocity == 1
    assert note.with_velocity(64) == Note(0, 60, 10, 64)


def test_note_accepted_clears_generated_only() -> None:
    proposal = Note(0, 60, 10, 70, channel=2, generated=True)
    assert proposal.accepted() == Note(0, 60, 10, 70, channel=2, generated=False)


def test_note_track_is_kept_by_every_copy_and_sorts_last() -> None:
    chord = Note(0, 48, 960, 70, channel=2, track=1)
    assert chord.track == 1 and Note(0, 48, 960).track == 0
    # the copies an edit makes keep the track (a moved chord stays in the chords' track)
    copies = (chord.moved(480, 2), chord.with_duration(5), chord.with_velocity(9),
              dataclasses.replace(chord, generated=True).accepted())
    assert [c.track for c in copies] == [1, 1, 1, 1]
    # the melody's C3 and the chords' C3 struck together (a unison of two parts) are two
    # notes: a set, a selection or a removal keeps them apart; the track sorts last
    melody = Note(0, 48, 960, 70, channel=2, track=0)
    assert chord != melody and len({chord, melody}) == 2
    assert sorted([chord, melody]) == [melody, chord]
    assert sorted([chord, Note(0, 49, 1)]) == [chord, Note(0, 49, 1)]


def test_main_part_is_the_channel_and_track_most_user_notes_are_in() -> None:
    assert main_part([]) == (0, 0)
    tune = [Note(i, 72, 1, channel=3) for i in range(2)]
    chords = [Note(0, p, 9, channel=3, track=1) for p in (48, 52, 55)]
    assert main_part(tune + chords) == (3, 1)
    # proposals do not count; of equals the lowest channel, then track
    proposals = [Note(i, 60, 1, generated=True) for i in range(9)]
    assert main_part(tune + proposals) == (3, 0)
    assert main_part(tune + chords[:2]) == (3, 0)
    assert main_part(proposals) == (0, 0)


def test_part_near_is_the_part_of_the_nearest_user_note_in_pitch_then_time() -> None:
    melody = [Note(0, 72, 480), Note(480, 76, 480)]
    chords = [Note(0, 48, 960, track=1), Note(0, 55, 960, track=1)]
    bass = [Note(960, 40, 960, channel=2)]
    notes = melody + chords + bass
    assert part_near([], 0, 60) is None
    assert part_near(notes, 240, 74) == (0, 0)
    assert part_near(notes, 240, 52) == (0, 1)
    assert part_near(notes, 960, 41) == (2, 0)
    # equally near in pitch: the one sounding at the tick, then the nearer in time
    tie = [Note(0, 60, 480, track=1), Note(1920, 64, 480)]
    assert part_near(tie, 240, 62) == (0, 1)
    assert part_near(tie, 1800, 62) == (0, 0)
    # the model's proposals are no part to draw in
    assert part_near([Note(0, 62, 480, channel=5, generated=True)], 0, 62) is None

"""Score: sorted notes, queries, edits, tempo map and meter."""

from __future__ import annotations

import pytest

from composer_app.core.note import Note
from composer_app.core.score import (
    ChannelPressure,
    KeyPressure,
    KeySignature,
    ProgramChange,
    Score,
    ScoreError,
    SystemExclusive,
    TempoChange,
    TextEvent,
    TimeSignature,
    channel_pressures,
    program_changes,
)


def _score(*notes: Note) -> Score:
    score = Score()
    score.add_many(notes)
    return score


def test_score_defaults_480_ppq_120_bpm_four_four() -> None:
    score = Score()
    assert score.ppq == 480
    assert score.tempo_map == [TempoChange(0, 500_000)]
    assert score.initial_tempo_bpm == 120.0
    assert score.time_signatures == [TimeSignature(0, 4, 4)]
    assert len(score) == 0 and score.end_tick == 0


def test_score_keeps_notes_sorted_whatever_the_insertion_order() -> None:
    score = Score()
    for note in (Note(960, 60, 10), Note(0, 72, 10), Note(0, 48, 10), Note(480, 60, 10)):
        score.add(note)
    assert [(n.start_tick, n.pitch) for n in score.notes] == [
        (0, 48),
        (0, 72),
        (480, 60),
        (960, 60),
    ]
    score.add_many([Note(240, 50, 10), Note(0, 30, 10)])
    assert [n.start_tick for n in score] == [0, 0, 0, 240, 480, 960]
    assert Score(_notes=[Note(5, 1, 1), Note(1, 1, 1)]).notes == (Note(1, 1, 1), Note(5, 1, 1))


def test_score_notes_is_a_snapshot() -> None:
    score = _score(Note(0, 60, 10))
    snapshot = score.notes
    score.add(Note(10, 62, 10))
    assert snapshot == (Note(0, 60, 10),)


def test_score_keeps_duplicates_and_removes_one_at_a_time() -> None:
    note = Note(0, 60, 10)
    score = _score(note, note)
    assert len(score) == 2
    score.remove(note)
    assert score.notes == (note,) and note in score
    score.remove(note)
    assert note not in score
    with pytest.raises(ScoreError, match="no such note"):
        score.remove(note)


@pytest.mark.parametrize("count", [3, 500])  # one by one, and in one pass over the score
def test_score_remove_many_removes_a_multiset_all_or_none(count: int) -> None:
    notes = [Note(i * 10, 60 + i % 12, 10) for i in range(count)]
    twice = notes[1]
    score = _score(*notes, twice)  # `twice` is in the score two times
    before = score.notes
    # equal notes count: removing `twice` three times fails, leaving the score as it was
    for attempt in ([twice, twice, twice], [*notes[2:], Note(1, 1, 1)]):
        with pytest.raises(ScoreError, match="no such note"):
            score.check_removable(attempt)
        with pytest.raises(ScoreError, match="no such note"):
            score.remove_many(attempt)
        assert score.notes == before
    score.check_removable([twice, twice])
    score.remove_many([twice, *notes[2:], twice])
    assert score.notes == (notes[0],)
    assert score.present([notes[0], twice, notes[0]]) == [notes[0], notes[0]]


def test_score_present_keeps_the_order_given_in_both_ways() -> None:
    notes = [Note(i, 40 + i % 30, 5) for i in range(300)]
    score = _score(*notes[::2])
    for asked in (notes[:10], notes):  # binary searches, and one set of the score
        assert score.present(reversed(asked)) == [n for n in reversed(asked) if n in score]


def test_score_contains_compares_every_field() -> None:
    score = _score(Note(0, 60, 10, 90))
    assert Note(0, 60, 10, 90) in score
    assert Note(0, 60, 10, 91) not in score
    assert Note(0, 60, 10, 90, generated=True) not in score
    assert "not a note" not in score


def test_score_move_and_resize_replace_the_note() -> None:
    note = Note(480, 60, 240)
    score = _score(note, Note(0, 50, 10))
    moved = score.move(note, delta_ticks=-480, delta_pitch=12)
    assert moved == Note(0, 72, 240)
    assert score.notes == (Note(0, 50, 10), Note(0, 72, 240))
    resized = score.resize(moved, 960)
    assert score.notes == (Note(0, 50, 10), resized) and resized.duration_ticks == 960
    with pytest.raises(ScoreError):
        score.move(note, 1)  # the original is gone


def test_score_notes_in_range_finds_sounding_notes() -> None:
    long = Note(0, 60, 1000)  # sounds over the whole window
    inside = Note(500, 64, 10)
    ends_at_start = Note(0, 62, 400)  # [0, 400) ends where the window begins
    starts_at_end = Note(600, 65, 10)  # starts where the window ends
    high = Note(450, 90, 10)
    score = _score(long, inside, ends_at_start, starts_at_end, high)
    assert score.notes_in_range(400, 600) == [long, high, inside]
    assert score.notes_in_range(400, 600, pitch_low=61, pitch_high=90) == [inside]
    assert score.notes_at(999, 60) == [long] and score.notes_at(1000, 60) == []


def test_score_notes_in_range_excludes_any_note_starting_at_the_end() -> None:
    # the search stops at the first note starting at end_tick, whatever its other fields
    quiet = Note(100, 0, 1, velocity=1)
    score = _score(Note(0, 0, 50), quiet)
    assert score.notes_in_range(0, 100) == [Note(0, 0, 50)]
    assert score.notes_in_range(0, 101) == [Note(0, 0, 50), quiet]


def test_score_end_tick_is_the_latest_note_end() -> None:
    score = _score(Note(0, 60, 5000), Note(4000, 62, 10))
    assert score.end_tick == 5000  # the long early note ends last


def test_score_clear_and_copy_are_independent() -> None:
    score = _score(Note(0, 60, 10))
    score.set_tempo_bpm(90)
    twin = score.copy()
    score.clear()
    score.set_tempo_bpm(140)
    assert twin.notes == (Note(0, 60, 10),)
    assert twin.initial_tempo_bpm == pytest.approx(90)
    assert len(score) == 0


def test_pressures_are_checked_merged_and_copied() -> None:
    with pytest.raises(ScoreError, match="0-127"):
        ChannelPressure(0, 0, 128)
    with pytest.raises(ScoreError, match="pitch"):
        KeyPressure(0, 0, 128, 10)
    with pytest.raises(ScoreError, match="0-15"):
        KeyPressure(0, 16, 60, 10)
    # a channel starts at none: a 0 before any other, or a value restated, changes nothing
    merged = channel_pressures([ChannelPressure(0, 0, 0), ChannelPressure(10, 0, 40),
                                ChannelPressure(20, 0, 40), ChannelPressure(20, 1, 40),
                                ChannelPressure(30, 0, 0)])
    assert [(p.tick, p.channel, p.value) for p in merged] == [(10, 0, 40), (20, 1, 40), (30, 0, 0)]
    score = Score(channel_pressures=merged, key_pressures=[KeyPressure(5, 0, 60, 9)])
    twin = score.copy()
    score.channel_pressures.clear()
    score.key_pressures.clear()
    assert twin.channel_pressures == merged and len(twin.key_pressures) == 1


def test_texts_and_system_exclusive_messages_are_checked_ordered_and_copied() -> None:
    with pytest.raises(ScoreError, match="kind"):
        TextEvent(0, 3, "a track name is Score.track_names")
    with pytest.raises(ScoreError, match="negative"):
        TextEvent(-1, 5, "la")
    with pytest.raises(ScoreError, match="some text"):
        TextEvent(0, 6, "")  # (a file's empty one is a filler: it would not read back)
    with pytest.raises(ScoreError, match="0xF0 or 0xF7"):
        SystemExclusive(0, b"\x7e\x7f")
    with pytest.raises(ScoreError, match="0xF0 or 0xF7"):
        SystemExclusive(0, b"")
    # at one tick the song's texts come first, then each part's by channel and track; each
    # kind as given
    lyric_b, lyric_a = TextEvent(0, 5, "b", (1, 0)), TextEvent(0, 5, "a", (0, 1))
    marker, later = TextEvent(0, 6, "Intro"), TextEvent(10, 6, "Verse")
    score = Score(texts=[later, lyric_b, lyric_a, marker],
                  system_exclusive=[SystemExclusive(5, b"\xf7\x02"), SystemExclusive(0, b"\xf0\x01")])
    assert score.texts == [marker, lyric_a, lyric_b, later]
    assert [m.tick for m in score.system_exclusive] == [0, 5]
    twin = score.copy()
    assert twin == score
    score.texts.clear()
    score.system_exclusive.clear()
    assert len(twin.texts) == 4 and len(twin.system_exclusive) == 2


def test_score_adds_tick_zero_tempo_and_meter_when_missing() -> None:
    score = Score(tempo_map=[TempoChange(960, 400_000)], time_signatures=[TimeSignature(480, 3, 4)])
    assert score.tempo_map == [TempoChange(0, 400_000), TempoChange(960, 400_000)]
    assert score.time_signatures[0] == TimeSignature(0, 3, 4)
    assert Score(tempo_map=[], time_signatures=[]).tempo_map == [TempoChange(0, 500_000)]


def test_score_tempo_at_and_set_tempo_bpm() -> None:
    score = Score()
    score.set_tempo_bpm(60, tick=960)
    assert score.tempo_at(959).tempo_bpm == 120
    assert score.tempo_at(960).us_per_quarter == 1_000_000  # 60 BPM: one second per quarter
    score.set_tempo_bpm(100, tick=960)  # replaces the change at that tick
    assert [t.tick for t in score.tempo_map] == [0, 960]
    assert score.tempo_at(10**9).us_per_quarter == 600_000


def test_score_set_tempo_bpm_rejects_out_of_range() -> None:
    score = Score()
    with pytest.raises(ScoreError, match="4-1000 BPM"):
        score.set_tempo_bpm(3.9)  # the minimum is 4 BPM: a MIDI file holds no slower than 3.58
    with pytest.raises(ScoreError):
        score.set_tempo_bpm(1001)
    assert score.tempo_map == [TempoChange(0, 500_000)]  # unchanged


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Score(ppq=0), "ppq must be positive"),
        (lambda: TempoChange(-1, 500_000), "negative tick"),
        (lambda: TempoChange(0, 0), "tempo must be positive"),
        (lambda: TimeSignature(0, 0, 4), "numerator must be 1-255"),
        (lambda: TimeSignature(0, 3, 3), "power of two"),
        (lambda: TimeSignature(-5, 3, 4), "negative tick"),
    ],
)
def test_score_parts_reject_impossible_values(build, message: str) -> None:
    with pytest.raises(ScoreError, match=message):
        build()


def test_tempo_change_bpm_conversions() -> None:
    assert TempoChange(0, 500_000).tempo_bpm == 120.0
    assert TempoChange.from_bpm(0, 90).us_per_quarter == 666_667  # 60e6 / 90 rounded
    assert TempoChange.from_bpm(0, 90).tempo_bpm == pytest.approx(90, rel=1e-6)


def test_time_signature_bar_ticks() -> None:
    assert TimeSignature(0, 4, 4).bar_ticks(480) == 1920
    assert TimeSignature(0, 3, 4).bar_ticks(480) == 1440
    assert TimeSignature(0, 6, 8).bar_ticks(480) == 1440  # six eighths = three quarters
    assert TimeSignature(0, 7, 16).bar_ticks(96) == 168  # 7 x 96 x 4 / 16


def test_score_time_signature_at_and_bar_starts_across_a_meter_change() -> None:
    score = Score(time_signatures=[TimeSignature(0, 4, 4), TimeSignature(3840, 3, 4)])
    assert score.time_signature_at(3839) == TimeSignature(0, 4, 4)
    assert score.time_signature_at(3840) == TimeSignature(3840, 3, 4)
    # two 4/4 bars (1920 each), then 3/4 bars of 1440 up to 7000
    assert score.bar_starts(7000) == [0, 1920, 3840, 5280, 6720]
    assert score.bar_starts(0) == []


def test_score_bar_start_counts_bars_as_bar_starts_does() -> None:
    # 4/4, a 3/4 change in the middle of bar 3 (a short bar), then 7/8
    score = Score(time_signatures=[TimeSignature(0, 4, 4), TimeSignature(4800, 3, 4),
                                   TimeSignature(4800 + 5 * 1440, 7, 8)])
    listed = score.bar_starts(40_000)
    assert listed[:4] == [0, 1920, 3840, 4800]  # bar 3 is cut short by the change
    assert [score.bar_start(n) for n in range(1, len(listed) + 1)] == listed
    # past the last change, bars go on forever without listing them
    last = score.time_signatures[-1]
    assert score.bar_start(10**6) == last.tick + (10**6 - 9) * last.bar_ticks(480)  # 8 before
    with pytest.raises(ScoreError, match="count from 1"):
        score.bar_start(0)
    with pytest.raises(ScoreError, match="shorter than a tick"):
        Score(ppq=8, time_signatures=[TimeSignature(0, 1, 64)]).bar_start(2)


def test_score_bar_start_at_and_bars_later_follow_meter_changes() -> None:
    # a pickup bar of one eighth (1/8), three bars of 4/4, then 3/4
    score = Score(time_signatures=[TimeSignature(0, 1, 8), TimeSignature(240, 4, 4),
                                   TimeSignature(240 + 3 * 1920, 3, 4)])
    assert [score.bar_start_at(t) for t in (0, 239, 240, 2159, 2160, 6000, 6001)] == [
        0, 0, 240, 240, 2160, 6000, 6000]  # fmt: skip
    # four bars from bar 2's downbeat: bars 2-4 (4/4) and bar 5 (3/4) -> bar 6's downbeat
    assert score.bars_later(240, 4) == 6000 + 1440
    # from a beat inside a bar: the same beat, that many bars on (each bar its own length)
    assert score.bars_later(240 + 480, 1) == 2160 + 480
    assert score.bars_later(4080 + 480, 1) == 6000 + 480  # into the 3/4 bar
    # the last beat of a 4/4 bar, one bar on in 3/4, is that shorter bar's end
    assert score.bars_later(4080 + 1440 + 100, 1) == 6000 + 1440
    assert score.bars_later(240, 0) == 240
    with pytest.raises(ScoreError, match=">= 0"):
        score.bars_later(0, -1)


def test_score_end_and_range_queries_stay_right_through_every_kind_of_edit() -> None:
    # The last note's end and the longest duration are kept through one-note edits (and
    # recounted after others); the range query starts a longest note before its start.
    # Checked against a plain scan of the notes after each of 600 random edits.
    import random

    rng = random.Random(5)
    score = Score()

    def random_note() -> Note:
        return Note(rng.randrange(0, 4000), rng.randrange(40, 50), rng.choice([1, 30, 480, 3000]))

    for step in range(600):
        kind = rng.random()
        notes = list(score.notes)
        if kind < 0.4 or not notes:
            score.add(random_note())
        elif kind < 0.55:
            score.add_many(random_note() for _ in range(rng.choice([2, 70])))  # few, many
        elif kind < 0.8:
            score.remove(rng.choice(notes))
        elif kind < 0.95:
            score.remove_many(rng.sample(notes, min(len(notes), rng.choice([2, 70]))))
        elif kind < 0.97:
            score.clear()
        else:
            score = score.copy()
        notes = list(score.notes)
        assert notes == sorted(notes)
        assert score.end_tick == max((n.end_tick for n in notes), default=0), step
        start = rng.randrange(0, 5000)
        end = start + rng.choice([1, 100, 2000])
        expected = [n for n in notes if n.start_tick < end and n.end_tick > start]
        assert score.notes_in_range(start, end) == expected, step


# ---- key signatures -----------------------------------------------------------------------
def test_key_signature_names_tonic_and_validation() -> None:
    assert KeySignature(0, 0).name == "C major" and KeySignature(0, 0, True).name == "A minor"
    assert KeySignature(0, 1).tonic == 7 and KeySignature(0, 1, True).tonic == 4  # G, E
    assert KeySignature(0, -2).name == "B\u266d major" and KeySignature(0, -2).tonic == 10
    assert KeySignature(0, 6, True).name == "D\u266f minor" and KeySignature(0, 6, True).tonic == 3
    assert KeySignature(0, -7).name == "C\u266d major" and KeySignature(0, -7).tonic == 11
    assert KeySignature(0, 7).name == "C\u266f major" and KeySignature(0, 7).tonic == 1
    with pytest.raises(ScoreError, match="-7 to 7 sharps"):
        KeySignature(0, 8)
    with pytest.raises(ScoreError, match="negative tick"):
        KeySignature(-1, 0)


def test_score_keeps_its_key_signatures_sorted_through_copies() -> None:
    assert Score().key_signatures == [] and Score().key_signature_at(100) is None
    score = Score(key_signatures=[KeySignature(960, -3, True), KeySignature(0, 1)])
    assert [k.tick for k in score.key_signatures] == [0, 960]
    assert score.key_signature_at(0).name == "G major"
    assert score.key_signature_at(959).name == "G major"
    assert score.key_signature_at(960).name == "C minor"
    late = Score(key_signatures=[KeySignature(480, 2)])
    assert late.key_signature_at(0) is None  # before the first one: none (C major elsewhere)
    assert late.key_signature_at(480).name == "D major"
    copy = score.copy()
    assert copy.key_signatures == score.key_signatures
    copy.key_signatures.append(KeySignature(1920, 0))
    assert len(score.key_signatures) == 2  # an independent list


def test_program_changes_validate_merge_restatements_and_chase() -> None:
    for args, message in (((-1, 0, 0), "negative tick"), ((0, 16, 0), "channel must be 0-15"),
                          ((0, 0, 128), "program must be 0-127")):
        with pytest.raises(ScoreError, match=message):
            ProgramChange(*args)
    violin, bass = ProgramChange(0, 0, 40), ProgramChange(0, 2, 32)
    again = ProgramChange(960, 0, 40)  # the violin restated at a section: no change
    cello = ProgramChange(1920, 0, 42)
    # in time order; at one tick as given
    assert program_changes([cello, again, violin, bass]) == [violin, bass, cello]
    assert program_changes([cello, again, bass, violin]) == [bass, violin, cello]
    score = Score(program_changes=[cello, violin, bass])
    assert score.program_changes == [violin, bass, cello]
    assert score.programs_at(0) == {0: 40, 2: 32}
    assert score.programs_at(1919) == {0: 40, 2: 32}
    assert score.programs_at(1920) == {0: 42, 2: 32}
    assert Score().programs_at(0) == {}
    copy = score.copy()
    assert copy.program_changes == score.program_changes
    copy.program_changes.clear()
    assert score.program_changes == [violin, bass, cello]  # independent

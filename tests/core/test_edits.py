"""Edit operations: apply changes the score, revert restores it exactly, failures change nothing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from composer_app.core.edits import (
    CompositeEdit,
    ReplaceNotes,
    SetTempoMap,
    SetTimeSignatures,
    accept_generated,
    add_notes,
    move_notes,
    remove_notes,
    resize_notes,
)
from composer_app.core.note import Note
from composer_app.core.score import Score, ScoreError, TempoChange, TimeSignature


def _state(score: Score) -> tuple:
    return (score.ppq, score.notes, tuple(score.tempo_map), tuple(score.time_signatures))


def _score() -> Score:
    return Score(
        tempo_map=[TempoChange(0, 500_000), TempoChange(1920, 600_000)],
        time_signatures=[TimeSignature(0, 4, 4)],
        _notes=[Note(0, 60, 480), Note(0, 64, 480), Note(480, 67, 240), Note(480, 67, 240)],
    )


def test_add_notes_apply_and_revert() -> None:
    score = _score()
    before = _state(score)
    op = add_notes([Note(960, 72, 480), Note(0, 48, 1920)])
    op.apply(score)
    assert Note(960, 72, 480) in score and Note(0, 48, 1920) in score and len(score) == 6
    op.revert(score)
    assert _state(score) == before
    assert op.label == "Add notes"


def test_remove_notes_takes_one_of_two_duplicates() -> None:
    score = _score()
    before = _state(score)
    op = remove_notes([Note(480, 67, 240)])
    op.apply(score)
    assert score.notes.count(Note(480, 67, 240)) == 1
    op.revert(score)
    assert _state(score) == before


def test_move_notes_shifts_time_and_pitch() -> None:
    score = _score()
    before = _state(score)
    op = move_notes([Note(0, 60, 480), Note(0, 64, 480)], delta_ticks=240, delta_pitch=-12)
    op.apply(score)
    assert score.notes[:2] == (Note(240, 48, 480), Note(240, 52, 480))
    op.revert(score)
    assert _state(score) == before


def test_resize_notes_never_below_one_tick() -> None:
    score = _score()
    op = resize_notes([Note(0, 60, 480)], delta_ticks=-1000)
    op.apply(score)
    assert Note(0, 60, 1) in score
    op.revert(score)
    assert Note(0, 60, 480) in score and Note(0, 60, 1) not in score


def test_accept_generated_is_one_undoable_step() -> None:
    proposal = [Note(960, 62, 240, generated=True), Note(1200, 64, 240, generated=True)]
    score = _score()
    score.add_many(proposal)
    before = _state(score)
    op = accept_generated(proposal)
    op.apply(score)
    assert not any(n.generated for n in score.notes)
    assert Note(960, 62, 240) in score
    op.revert(score)
    assert _state(score) == before


def test_set_tempo_map_and_time_signatures_revert_exactly() -> None:
    score = _score()
    before = _state(score)
    tempo = SetTempoMap(old=tuple(score.tempo_map), new=(TempoChange(0, 1_000_000),))
    meter = SetTimeSignatures(
        old=tuple(score.time_signatures), new=(TimeSignature(0, 3, 4), TimeSignature(1440, 6, 8))
    )
    tempo.apply(score)
    meter.apply(score)
    assert score.initial_tempo_bpm == 60
    assert score.time_signature_at(1440) == TimeSignature(1440, 6, 8)
    meter.revert(score)
    tempo.revert(score)
    assert _state(score) == before


def test_composite_edit_applies_in_order_and_reverts_in_reverse() -> None:
    score = _score()
    before = _state(score)
    added = Note(960, 72, 240)
    # the second step moves the note the first step added: order matters both ways
    op = CompositeEdit(
        operations=(add_notes([added]), move_notes([added], 240, 1)), label="Add and move"
    )
    op.apply(score)
    assert Note(1200, 73, 240) in score and added not in score
    op.revert(score)
    assert _state(score) == before


def test_replace_notes_failed_apply_leaves_the_score_unchanged() -> None:
    score = _score()
    before = _state(score)
    # the first note exists, the second does not: nothing may be removed
    op = ReplaceNotes(removed=(Note(0, 60, 480), Note(5, 5, 5)), added=(Note(0, 61, 480),))
    with pytest.raises(ScoreError, match="no such note"):
        op.apply(score)
    assert _state(score) == before


def test_replace_notes_failed_revert_leaves_the_score_unchanged() -> None:
    score = _score()
    op = add_notes([Note(960, 72, 240), Note(1200, 74, 240)])
    op.apply(score)
    score.remove(Note(1200, 74, 240))  # changed behind the operation's back
    after_tamper = _state(score)
    with pytest.raises(ScoreError):
        op.revert(score)
    assert _state(score) == after_tamper


def test_composite_edit_failure_rolls_back_earlier_steps() -> None:
    score = _score()
    before = _state(score)
    op = CompositeEdit(
        operations=(add_notes([Note(960, 72, 240)]), remove_notes([Note(9, 9, 9)])),
    )
    with pytest.raises(ScoreError):
        op.apply(score)
    assert _state(score) == before


notes_strategy = st.builds(
    Note,
    start_tick=st.integers(0, 2000),
    pitch=st.integers(0, 127),
    duration_ticks=st.integers(1, 1000),
    velocity=st.integers(1, 127),
    channel=st.integers(0, 15),
    generated=st.booleans(),
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(notes_strategy, max_size=20),
    st.data(),
    st.integers(-500, 500),
    st.integers(-20, 20),
)
def test_edits_revert_restores_any_score_exactly(notes, data, delta_ticks, delta_pitch) -> None:
    score = Score(_notes=notes)
    before = _state(score)
    chosen = data.draw(st.lists(st.sampled_from(notes), unique_by=id)) if notes else []
    ops = [
        move_notes(chosen, delta_ticks, delta_pitch),
        resize_notes(chosen, delta_ticks),
        remove_notes(chosen),
        accept_generated(chosen),
        add_notes(data.draw(st.lists(notes_strategy, max_size=5))),
    ]
    for op in ops:
        op.apply(score)
        op.revert(score)
        assert _state(score) == before
        # and redo after undo gives the same result as the first apply
        op.apply(score)
        once = _state(score)
        op.revert(score)
        op.apply(score)
        assert _state(score) == once
        op.revert(score)


def test_set_meter_at_a_bar_and_remove_it_again() -> None:
    from composer_app.core.edits import remove_meter_at, set_meter_at

    score = Score()  # 4/4 at 480 PPQ: a bar is 1,920 ticks
    op = set_meter_at(score, 3840, 3, 4)  # bar 3 on in 3/4
    op.apply(score)
    assert score.time_signatures == [TimeSignature(0, 4, 4), TimeSignature(3840, 3, 4)]
    assert score.bar_starts(3840 + 3 * 1440) == [0, 1920, 3840, 5280, 6720]
    op.revert(score)
    assert score.time_signatures == [TimeSignature(0, 4, 4)]
    # a meter equal to the one in force, on its bar lines, is no change at all
    assert set_meter_at(score, 3840, 4, 4).new == (TimeSignature(0, 4, 4),)
    # the first meter can be replaced, not removed
    set_meter_at(score, 0, 6, 8).apply(score)
    assert score.time_signatures == [TimeSignature(0, 6, 8)]
    with pytest.raises(ScoreError):
        remove_meter_at(score, 0)


def test_meter_edits_leave_every_other_change_where_it_is() -> None:
    from composer_app.core.edits import remove_meter_at, set_meter_at

    score = Score()
    # 4/4, bar 2 in 3/4 (at 1920), back to 4/4 at bar 3 (3360)
    score.time_signatures = [TimeSignature(0, 4, 4), TimeSignature(1920, 3, 4),
                             TimeSignature(3360, 4, 4)]  # fmt: skip
    # bar 2 set back to 4/4 (or its 3/4 removed): the 4/4 at 3360 stays, off 4/4's bar lines
    # from 0, so the bars after it stay where the music has them (bar 2 is short until the
    # user removes that change too)
    for op in (remove_meter_at(score, 1920), set_meter_at(score, 1920, 4, 4)):
        assert op.new == (TimeSignature(0, 4, 4), TimeSignature(3360, 4, 4))
    remove_meter_at(score, 1920).apply(score)
    remove_meter_at(score, 3360).apply(score)
    assert score.time_signatures == [TimeSignature(0, 4, 4)]
    # a waltz section further on is not touched by a change before it
    score.time_signatures = [TimeSignature(0, 4, 4), TimeSignature(8 * 1920, 3, 4)]
    assert set_meter_at(score, 4 * 1920, 3, 4).new == (
        TimeSignature(0, 4, 4), TimeSignature(4 * 1920, 3, 4), TimeSignature(8 * 1920, 3, 4)
    )


def test_set_tempo_at_and_remove_it() -> None:
    from composer_app.core.edits import remove_tempo_at, set_tempo_at

    score = Score()  # 120 BPM
    op = set_tempo_at(score, 960, 90)
    op.apply(score)
    assert [round(t.tempo_bpm, 3) for t in score.tempo_map] == [120, 90]
    assert score.tempo_map[1].tick == 960 and op.label == "Tempo change 90 BPM"
    assert set_tempo_at(score, 1920, 90).new == tuple(score.tempo_map)  # already 90 there
    remove_tempo_at(score, 960).apply(score)
    assert len(score.tempo_map) == 1
    with pytest.raises(ScoreError):
        remove_tempo_at(score, 960)
    with pytest.raises(ScoreError):
        set_tempo_at(score, 960, 5000)


def test_set_and_remove_key_signatures() -> None:
    from composer_app.core.edits import remove_key_at, set_key_at
    from composer_app.core.score import KeySignature

    score = Score()
    op = set_key_at(score, 0, 1, False)
    op.apply(score)
    assert score.key_signatures == [KeySignature(0, 1)] and op.label == "Key signature G major"
    # restating the key in force changes nothing
    assert set_key_at(score, 1920, 1, False).new == (KeySignature(0, 1),)
    set_key_at(score, 3840, -3, True).apply(score)  # C minor from bar 3
    # G major at bar 3 again: the later restatement goes with it
    op = set_key_at(score, 1920, -3, True)
    assert op.new == (KeySignature(0, 1), KeySignature(1920, -3, True))
    op.apply(score)
    op.revert(score)
    assert score.key_signatures == [KeySignature(0, 1), KeySignature(3840, -3, True)]
    # a later change that the edit makes a restatement goes with it
    score.key_signatures = [KeySignature(0, 1), KeySignature(1920, 3), KeySignature(3840, 2)]
    assert set_key_at(score, 1920, 2, False).new == (KeySignature(0, 1), KeySignature(1920, 2))
    score.key_signatures = [KeySignature(0, 1), KeySignature(1920, 3), KeySignature(3840, 1)]
    assert remove_key_at(score, 1920).new == (KeySignature(0, 1),)
    remove = remove_key_at(score, 0)
    remove.apply(score)
    assert score.key_signatures == [KeySignature(1920, 3), KeySignature(3840, 1)]
    remove.revert(score)
    with pytest.raises(ScoreError, match="no key signature at tick 100"):
        remove_key_at(score, 100)
    with pytest.raises(ScoreError, match="-7 to 7"):
        set_key_at(score, 0, 9, False)


def test_key_signature_of_a_key_spells_it_with_few_accidentals() -> None:
    from composer_app.core.score import KeySignature

    names = [KeySignature.of_key(0, tonic, False).name for tonic in range(12)]
    assert names[1] == "D\u266d major" and names[6] == "F\u266f major" and names[10] == "B\u266d major"
    assert KeySignature.of_key(0, 4, True) == KeySignature(0, 1, True)  # E minor: one sharp
    assert KeySignature.of_key(0, 2, True) == KeySignature(0, -1, True)  # D minor: one flat
    for tonic in range(12):
        for minor in (False, True):
            key = KeySignature.of_key(0, tonic, minor)
            assert key.tonic == tonic and key.minor == minor and -5 <= key.sharps <= 6

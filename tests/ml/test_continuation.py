"""The continuation engine: quantized seed, key transposition there and back, constraints."""

from __future__ import annotations

import numpy as np
import pytest

from composer_app.core.note import Note
from composer_app.ml.continuation import (
    Continuation,
    ContinuationSettings,
    LoadedModel,
    allowed_pitch_mask,
    no_pitch_allowed_reason,
)
from composer_app.ml.generate import GenerationError, RnnRbmParameters
from composer_app.ml.rnnrbm import RnnRbmConfig

PPQ = 480
EIGHTH = PPQ // 2


def _fixed_model(loud_pitches: list[int], key_normalization: str = "C major/C minor") -> LoadedModel:
    """A model with no memory whose RBM always plays ``loud_pitches`` (MIDI) and nothing else.

    W = 0 and the recurrent weights are 0, so every frame is independent Bernoulli with
    p = sigmoid(bv): +12 gives p ~ 0.999994, -12 gives p ~ 6e-6.
    """
    p, h, r = 88, 4, 3
    bv = np.full(p, -12.0, dtype=np.float32)
    for pitch in loud_pitches:
        bv[pitch - 21] = 12.0
    params = RnnRbmParameters(
        W=np.zeros((p, h)), bv=bv, bh=np.zeros(h), Wuh=np.zeros((r, h)), Wuv=np.zeros((r, p)),
        Wvu=np.zeros((p, r)), Wuu=np.zeros((r, r)), bu=np.zeros(r),
    )
    config = RnnRbmConfig(n_hidden=h, n_recurrent=r, key_normalization=key_normalization)
    return LoadedModel("fixed", config, params)


def _d_major_seed() -> list[Note]:
    # D major scale in eighth notes: D E F# G A B C# D
    return [Note(i * EIGHTH, p, EIGHTH) for i, p in enumerate([62, 64, 66, 67, 69, 71, 73, 74])]


def _pitches(notes: list[Note]) -> set[int]:
    return {n.pitch for n in notes}


def test_continuation_transposes_model_output_back_to_the_seed_key() -> None:
    # The model only ever plays C4 (60) and G4 (67) "in C"; the seed is in D major, so the
    # continuation must come out 2 semitones up: D4 (62) and A4 (69).
    model = _fixed_model([60, 67])
    cont = Continuation(model, _d_major_seed(), PPQ, start_tick=8 * EIGHTH,
                        settings=ContinuationSettings(n_steps=4))
    assert cont.key is not None and cont.key.name == "D major"
    assert cont.shift == -2
    steps = list(cont)
    assert [s.start_tick for s in steps] == [8 * EIGHTH + i * EIGHTH for i in range(4)]
    notes = cont.generated_notes()
    assert _pitches(notes) == {62, 69}
    # consecutive active frames are one held note: 4 steps of D4 = one note of 4 eighths
    assert [n.duration_ticks for n in notes] == [4 * EIGHTH, 4 * EIGHTH]
    assert all(n.generated for n in notes)


def test_continuation_moves_the_seed_by_its_key_signature_where_the_notes_fit() -> None:
    # D mixolydian under one sharp: moved by G major (as the training tunes were), so the
    # model's C and G come out as G and D; without the signature, by D major: D and A
    from composer_app.core.score import KeySignature

    mixolydian = [Note(i * EIGHTH, p, EIGHTH)
                  for i, p in enumerate([62, 66, 69, 72, 74, 72, 69, 66, 62, 64, 66, 67])]
    model = _fixed_model([60, 67])
    start = len(mixolydian) * EIGHTH
    by_signature = Continuation(model, mixolydian, PPQ, start_tick=start,
                                settings=ContinuationSettings(n_steps=2),
                                key_signature=KeySignature(0, 1))
    # the music is in D (what messages name), moved for the model as G major
    assert by_signature.key is not None and by_signature.key.name == "D major"
    list(by_signature)
    assert {p % 12 for p in _pitches(by_signature.generated_notes())} == {7, 2}
    estimated = Continuation(model, mixolydian, PPQ, start_tick=start,
                             settings=ContinuationSettings(n_steps=2))
    assert estimated.key is not None and estimated.key.name == "D major"
    list(estimated)
    assert {p % 12 for p in _pitches(estimated.generated_notes())} == {2, 9}


def test_continuation_without_key_normalization_does_not_transpose() -> None:
    model = _fixed_model([60], key_normalization="none")
    cont = Continuation(model, _d_major_seed(), PPQ, start_tick=8 * EIGHTH,
                        settings=ContinuationSettings(n_steps=2))
    list(cont)
    assert _pitches(cont.generated_notes()) == {60}


def test_continuation_start_is_rounded_up_to_the_model_step() -> None:
    model = _fixed_model([60])
    cont = Continuation(model, _d_major_seed(), PPQ, start_tick=8 * EIGHTH + 10,
                        settings=ContinuationSettings(n_steps=1))
    # 1930 ticks rounds up to the next eighth: 9 * 240 = 2160
    assert cont.start_tick == 9 * EIGHTH


def test_continuation_scale_and_range_constraints_hold() -> None:
    # The model wants every pitch of the octave C4..B4 in C; in D (shift back +2) that is
    # 62..73. Allow only D major pitches between 64 and 70 inclusive: E, F#, G, A.
    model = _fixed_model(list(range(60, 72)))
    settings = ContinuationSettings(n_steps=3, key_tonic=2, scale="major", range_low=64,
                                    range_high=70)
    cont = Continuation(model, _d_major_seed(), PPQ, start_tick=8 * EIGHTH, settings=settings)
    list(cont)
    assert _pitches(cont.generated_notes()) == {64, 66, 67, 69}


def test_continuation_polyphony_cap_holds() -> None:
    model = _fixed_model(list(range(60, 72)))
    cont = Continuation(model, [], PPQ, start_tick=0,
                        settings=ContinuationSettings(n_steps=5, max_polyphony=3))
    for step in cont:
        assert step.frame.sum() <= 3


def test_continuation_polyphony_cap_counts_a_users_later_note_like_a_held_one() -> None:
    # Max 2 notes a step. The user's E4 held over the start (steps 0-1) and their G4 that
    # starts later (steps 2-3) both sound with what the model adds: the model (which always
    # plays C4, D4 and A4) may add one note beside either, never two.
    model = _fixed_model([60, 62, 69], key_normalization="none")
    user = [Note(0, 60, 2 * EIGHTH), Note(2 * EIGHTH, 64, 4 * EIGHTH),
            Note(6 * EIGHTH, 67, 2 * EIGHTH)]  # fmt: skip
    settings = ContinuationSettings(n_steps=6, max_polyphony=2)
    cont = Continuation(model, user, PPQ, start_tick=4 * EIGHTH, settings=settings)
    frames = [step.frame for step in cont]
    assert [int(f.sum()) for f in frames] == [1, 1, 1, 1, 2, 2]


def test_continuation_accompany_keeps_clamped_notes_out_of_the_output() -> None:
    # The user's melody in the target region (E4 held 2 steps) is clamped on; the model
    # (which always plays C4 and E4; no key normalization) adds only C4 around it.
    model = _fixed_model([60, 64], key_normalization="none")
    seed = [Note(0, 60, EIGHTH), Note(EIGHTH, 64, EIGHTH), Note(2 * EIGHTH, 67, EIGHTH)]
    melody = Note(4 * EIGHTH, 64, 2 * EIGHTH)
    settings = ContinuationSettings(n_steps=2, accompany=True)
    cont = Continuation(model, [*seed, melody], PPQ, start_tick=4 * EIGHTH, settings=settings)
    assert cont.clamped[:, 64 - 21].tolist() == [True, True]
    list(cont)
    assert _pitches(cont.generated_notes()) == {60}


def test_continuation_accompany_keeps_the_harmony_below_the_melody() -> None:
    # The model always plays C4, G4 and C5. Under a melody on E4 (steps 0-1), then G4 with
    # an off-grid tail into step 3, then nothing (step 4): what sounds above the melody's top
    # note is a second tune over it, which the folk tunes the models learned never have.
    model = _fixed_model([60, 67, 72], key_normalization="none")
    melody = [Note(0, 64, 2 * EIGHTH), Note(2 * EIGHTH, 67, EIGHTH + EIGHTH // 2)]
    below = ContinuationSettings(n_steps=5, accompany=True)
    cont = Continuation(model, melody, PPQ, start_tick=0, settings=below)
    frames = [sorted(int(p) + 21 for p in step.frame.nonzero()[0]) for step in cont]
    # under E4: C4 only; under G4 (and its tail): C4 (G4 is the melody's own); then free
    assert frames == [[60], [60], [60], [60], [60, 67, 72]]
    anywhere = ContinuationSettings(n_steps=5, accompany=True, harmony_below=False)
    cont = Continuation(model, melody, PPQ, start_tick=0, settings=anywhere)
    frames = [sorted(int(p) + 21 for p in step.frame.nonzero()[0]) for step in cont]
    assert frames == [[60, 67, 72], [60, 67, 72], [60, 72], [60, 72], [60, 67, 72]]


def _overlaps_of_one_pitch(user: list[Note], generated: list[Note]) -> list[tuple[Note, Note]]:
    return [
        (u, g) for u in user for g in generated
        if u.pitch == g.pitch and g.start_tick < u.end_tick and u.start_tick < g.end_tick
    ]  # fmt: skip


def test_continuation_accompany_never_doubles_a_melody_note_off_the_grid() -> None:
    # The model always plays E4 and G4. The melody's E4 sounds from half-way through step 0
    # to half-way through step 2, and its G4 from half-way through step 3 into step 4:
    # rounded into steps 1-2 and 4 for the clamp, they also sound in steps 0 and 3, where
    # the model must not strike E4 or G4 again.
    model = _fixed_model([64, 67], key_normalization="none")
    sixteenth = EIGHTH // 2
    start = 4 * EIGHTH
    melody = [Note(start + sixteenth, 64, 2 * EIGHTH), Note(start + 3 * EIGHTH + sixteenth, 67, EIGHTH)]
    settings = ContinuationSettings(n_steps=6, accompany=True)
    cont = Continuation(model, [Note(0, 60, start), *melody], PPQ, start, settings=settings)
    list(cont)
    generated = cont.generated_notes()
    assert generated and _overlaps_of_one_pitch(melody, generated) == []
    assert cont.clamped[:, 64 - 21].tolist() == [False, True, True, False, False, False]
    assert cont.occupied[:, 64 - 21].tolist() == [True, False, False, False, False, False]
    assert cont.occupied[:, 67 - 21].tolist() == [False, False, False, True, False, False]
    # and where the melody is silent, the model still plays its pitches
    assert {(n.pitch, n.start_tick) for n in generated} >= {(64, start + 3 * EIGHTH)}


def test_continuation_hears_a_note_held_over_its_start_and_does_not_strike_it_again() -> None:
    # The seed ends on a D4 held three steps past where the continuation starts (the
    # playhead clicked inside it). The model, which always plays D4 and A4, must leave D4
    # to the held note while it sounds, and hears it as going on (clamped on).
    model = _fixed_model([62, 69], key_normalization="none")
    held = Note(2 * EIGHTH, 62, 5 * EIGHTH)
    seed = [Note(0, 60, 2 * EIGHTH), held]
    start = 4 * EIGHTH
    cont = Continuation(model, seed, PPQ, start, settings=ContinuationSettings(n_steps=6))
    assert cont.clamped[:, 62 - 21].tolist() == [True, True, True, False, False, False]
    list(cont)
    generated = cont.generated_notes()
    assert _overlaps_of_one_pitch([held], generated) == []
    assert (62, start + 3 * EIGHTH) in {(n.pitch, n.start_tick) for n in generated}


def test_continuation_counts_its_steps_from_the_bar_line() -> None:
    # After a pickup of one eighth (bar 2 starts at tick 240), a model of quarter-note steps
    # must step on the beats of bar 2, not on multiples of a quarter from tick 0.
    model = _fixed_model([60], key_normalization="none")
    model.config.step_beats = 1.0
    seed = [Note(0, 55, EIGHTH), Note(EIGHTH, 60, PPQ), Note(EIGHTH + PPQ, 62, PPQ)]
    cont = Continuation(model, seed, PPQ, start_tick=EIGHTH + 2 * PPQ - 10,
                        settings=ContinuationSettings(n_steps=3), grid_origin_tick=EIGHTH)
    assert cont.start_tick == EIGHTH + 2 * PPQ  # rounded up to a beat of bar 2
    assert [s.start_tick for s in cont] == [EIGHTH + k * PPQ for k in (2, 3, 4)]
    assert (cont.seed_start_tick - EIGHTH) % PPQ == 0


def test_continuation_goes_on_in_the_seeds_channel() -> None:
    model = _fixed_model([60, 64], key_normalization="none")
    seed = [Note(i * EIGHTH, 60 + i, EIGHTH, channel=4) for i in range(4)] + [
        Note(0, 48, 4 * EIGHTH, channel=2)
    ]
    cont = Continuation(model, seed, PPQ, 4 * EIGHTH, settings=ContinuationSettings(n_steps=2))
    list(cont)
    assert cont.generated_notes() and {n.channel for n in cont.generated_notes()} == {4}
    # and in the track of that channel most of them are in (a tune's melody, of a file whose
    # chords share its channel), so a save puts the take there, as a drawn note would go
    seed = [Note(i * EIGHTH, 60 + i, EIGHTH, channel=4, track=1) for i in range(3)] + [
        Note(3 * EIGHTH, 63, EIGHTH, channel=4), Note(0, 48, 4 * EIGHTH, channel=2)
    ]
    cont = Continuation(model, seed, PPQ, 4 * EIGHTH, settings=ContinuationSettings(n_steps=2))
    list(cont)
    assert {(n.channel, n.track) for n in cont.generated_notes()} == {(4, 1)}


def test_continuation_same_random_seed_gives_same_notes() -> None:
    rng = np.random.default_rng(5)
    p, h, r = 88, 20, 10
    params = RnnRbmParameters(
        W=rng.normal(0, 0.5, (p, h)), bv=rng.normal(-2, 1, p), bh=rng.normal(0, 1, h),
        Wuh=rng.normal(0, 0.3, (r, h)), Wuv=rng.normal(0, 0.3, (r, p)),
        Wvu=rng.normal(0, 0.3, (p, r)), Wuu=rng.normal(0, 0.3, (r, r)), bu=np.zeros(r),
    )
    model = LoadedModel("random", RnnRbmConfig(n_hidden=h, n_recurrent=r), params)

    def run(seed_value: int) -> list[Note]:
        cont = Continuation(model, _d_major_seed(), PPQ, start_tick=8 * EIGHTH,
                            settings=ContinuationSettings(n_steps=16, random_seed=seed_value))
        list(cont)
        return cont.generated_notes()

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_continuation_settings_reject_nonsense() -> None:
    with pytest.raises(GenerationError, match="at least one step"):
        ContinuationSettings(n_steps=0)
    with pytest.raises(GenerationError, match="pitch range is empty"):
        ContinuationSettings(range_low=80, range_high=60)


def test_estimate_register_is_the_mean_pitch_the_model_plays() -> None:
    from composer_app.ml.continuation import estimate_register

    model = _fixed_model([60, 67])
    # it always plays C4 and G4: mean (60 + 67) / 2 = 63.5
    assert estimate_register(model.params, 21) == pytest.approx(63.5, abs=0.01)
    assert estimate_register(_fixed_model([]).params, 21) is None


def test_load_model_takes_the_register_from_the_config_else_samples_it(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from composer_app.ml import continuation
    from composer_app.ml.checkpoint import save_checkpoint
    from composer_app.ml.rnnrbm import RnnRbm

    config = RnnRbmConfig(n_hidden=6, n_recurrent=5, register_pitch=70.25)
    model = RnnRbm(config, generator=torch.Generator().manual_seed(0))
    save_checkpoint(tmp_path / "placed", config, model)
    save_checkpoint(tmp_path / "older", RnnRbmConfig(n_hidden=6, n_recurrent=5), model)
    sampled: list[str] = []

    def estimate(params: RnnRbmParameters, pitch_low: int, **kwargs: object) -> float:
        sampled.append(str(kwargs["sampler"]))
        return 58.5

    monkeypatch.setattr(continuation, "estimate_register", estimate)
    # the training music's register, as the config states it: nothing sampled at load
    assert continuation.load_model(str(tmp_path / "placed")).register_pitch == 70.25
    assert sampled == []
    # a checkpoint from before configs carried it: the model is sampled as it samples
    assert continuation.load_model(str(tmp_path / "older")).register_pitch == 58.5
    assert sampled == ["gibbs"]


def test_continuation_moves_the_seed_into_the_model_register_and_back() -> None:
    from dataclasses import replace

    from composer_app.ml.continuation import estimate_register

    model = _fixed_model([60, 67])
    model = replace(model, register_pitch=estimate_register(model.params, 21))
    # a C-major seed two octaves below the model's register (mean 274 / 7 = 39.1)
    seed = [Note(i * EIGHTH, p, EIGHTH) for i, p in enumerate([36, 38, 40, 41, 43, 40, 36])]
    cont = Continuation(model, seed, PPQ, start_tick=7 * EIGHTH,
                        settings=ContinuationSettings(n_steps=2))
    # key C (0) plus two octaves up: (63.5 - 39.1) / 12 = 2.03 -> 2 octaves
    assert cont.shift == 24
    list(cont)
    # the model's C4 and G4 come back two octaves down, in the seed's register
    assert _pitches(cont.generated_notes()) == {36, 43}


def _seed_roll_heard(monkeypatch: pytest.MonkeyPatch, cont_args: dict) -> tuple[Continuation, dict]:
    """Build a Continuation and capture what its FrameGenerator was given."""
    from composer_app.ml import continuation as module

    heard: dict = {}
    real = module.FrameGenerator

    class Recording(real):  # type: ignore[misc, valid-type]
        def __init__(self, params, seed_roll=None, **kwargs):
            heard["seed_roll"] = None if seed_roll is None else seed_roll.copy()
            super().__init__(params, seed_roll, **kwargs)

        def clamp(self, held, on, others=None):
            heard["held"], heard["on"] = held.copy(), on.copy()
            super().clamp(held, on, others)

    monkeypatch.setattr(module, "FrameGenerator", Recording)
    return Continuation(**cont_args), heard


def test_a_seed_above_the_piano_is_heard_after_the_octave_shift(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dataclasses import replace

    # A line at MIDI 110-122 (above the 88 keys; no key normalization): the register shift
    # brings it four octaves down, into the model's range; the model must hear all 8 notes, in order.
    model = replace(_fixed_model([60, 67], key_normalization="none"), register_pitch=66.0)
    pitches = [110, 112, 115, 117, 119, 120, 122, 120]  # mean 116.9: 4 octaves above 66
    seed = [Note(i * EIGHTH, p, EIGHTH) for i, p in enumerate(pitches)]
    cont, heard = _seed_roll_heard(monkeypatch, dict(
        model=model, notes=seed, ppq=PPQ, start_tick=8 * EIGHTH,
        settings=ContinuationSettings(n_steps=2),
    ))  # fmt: skip
    assert cont.shift == -48
    roll = heard["seed_roll"]
    assert roll.shape == (8, 88)
    assert [int(np.flatnonzero(row)[0]) + 21 for row in roll] == [p - 48 for p in pitches]
    # and the continuation comes back up, where it fits the piano (the model's G4 -> G8
    # would be 115: out of the 88 keys, so only C8 = 108)
    list(cont)
    assert _pitches(cont.generated_notes()) == {108}


def test_an_accompanied_melody_above_the_piano_is_clamped_after_the_shift(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dataclasses import replace

    model = replace(_fixed_model([60, 67], key_normalization="none"), register_pitch=66.0)
    seed = [Note(i * EIGHTH, p, EIGHTH) for i, p in enumerate([108, 112, 115, 117])]
    melody = Note(4 * EIGHTH, 112, 2 * EIGHTH)  # E8: beyond the top key, held 2 steps
    cont, heard = _seed_roll_heard(monkeypatch, dict(
        model=model, notes=[*seed, melody], ppq=PPQ, start_tick=4 * EIGHTH,
        settings=ContinuationSettings(n_steps=2, accompany=True),
    ))  # fmt: skip
    assert cont.shift == -48
    assert heard["on"][:, 112 - 48 - 21].tolist() == [True, True]
    assert heard["on"].sum() == 2


def test_continuation_accompany_clamps_a_transposed_melody_on_where_the_model_hears_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dataclasses import replace

    # Accompany harmonises the melody the model hears: in D major with the seed also moved
    # an octave, the melody must be clamped on at its pitches moved by the same shift, in
    # every step it sounds, and nothing else clamped on (clamped at the user's pitches, the
    # model would hear the melody's cells off and harmonise silence).
    model = replace(_fixed_model([60, 67]), register_pitch=80.0)
    start = 8 * EIGHTH
    melody = [Note(start, 66, 2 * EIGHTH), Note(start + 2 * EIGHTH, 69, EIGHTH),
              Note(start + 3 * EIGHTH, 74, 2 * EIGHTH)]  # fmt: skip
    cont, heard = _seed_roll_heard(monkeypatch, dict(
        model=model, notes=[*_d_major_seed(), *melody], ppq=PPQ, start_tick=start,
        settings=ContinuationSettings(n_steps=6, accompany=True),
    ))  # fmt: skip
    # D major: -2 into C; mean pitch (8 * 68.25 + 2 * 66 + 69 + 2 * 74) / 13 = 68.85, so
    # (80 - 68.85 + 2) / 12 = 1.10 -> one octave up: shift -2 + 12 = +10
    assert cont.key is not None and cont.key.name == "D major"
    assert cont.shift == 10
    expected = np.zeros((6, 88), dtype=bool)
    expected[0:2, 66 + 10 - 21] = True
    expected[2, 69 + 10 - 21] = True
    expected[3:5, 74 + 10 - 21] = True
    np.testing.assert_array_equal(heard["held"] & heard["on"], expected)
    # in the user's key the same cells are the melody's, kept out of the output
    assert cont.clamped.sum() == 5
    assert cont.clamped[0:2, 66 - 21].all() and cont.clamped[3:5, 74 - 21].all()


def test_continuation_holds_a_pitch_off_for_the_whole_step_a_users_note_ends_in() -> None:
    # No generated note sounds a pitch while a user's note of that pitch sounds. The
    # user's E4 sounds 1.5 steps, from step 1 to half-way through step 2; the model, which
    # always plays E4, must leave E4 alone in steps 1 and 2 (step 2 too, or its E4 would
    # start at 2 * 240 while the user's goes on to 2.5 * 240).
    model = _fixed_model([64], key_normalization="none")
    start = 4 * EIGHTH
    user = Note(start + EIGHTH, 64, EIGHTH + EIGHTH // 2)
    cont = Continuation(model, [Note(0, 60, start), user], PPQ, start,
                        settings=ContinuationSettings(n_steps=5))
    assert cont.occupied[:, 64 - 21].tolist() == [False, True, True, False, False]
    assert not cont.clamped.any()  # it starts inside the region: heard off, not held on
    list(cont)
    generated = cont.generated_notes()
    assert _overlaps_of_one_pitch([user], generated) == []
    # around it the model still plays its E4: in step 0 and again from step 3
    assert {(n.pitch, n.start_tick) for n in generated} == {(64, start), (64, start + 3 * EIGHTH)}


def test_continuation_pitch_range_includes_both_ends_without_a_scale() -> None:
    # "range_low/range_high inclusive": with no scale, the top and bottom notes the user
    # allows sound, and the ones just outside do not. The model plays every pitch 59-73.
    model = _fixed_model(list(range(59, 74)), key_normalization="none")
    settings = ContinuationSettings(n_steps=2, scale=None, range_low=60, range_high=72)
    cont = Continuation(model, [], PPQ, 0, settings=settings)
    allowed = cont.allowed_pitches
    assert allowed[60 - 21] and allowed[72 - 21]
    assert not allowed[59 - 21] and not allowed[73 - 21]
    assert allowed.sum() == 13  # 60..72
    list(cont)
    assert _pitches(cont.generated_notes()) == set(range(60, 73))


def test_continuation_register_shift_rounds_to_the_nearest_octave() -> None:
    from dataclasses import replace

    # The seed moves into the model's register (66) by the nearest whole number of octaves
    # and the continuation comes back by the same: the model's C4 (60) returns at 60 - shift.
    model = replace(_fixed_model([60], key_normalization="none"), register_pitch=66.0)
    cases = [
        ([56, 60], 12),  # mean 58: 8 / 12 = 0.67 -> one octave up
        ([72, 74], -12),  # mean 73: -7 / 12 = -0.58 -> one octave down
        ([60, 62], 0),  # mean 61: 5 / 12 = 0.42 -> stays
    ]
    for pitches, shift in cases:
        seed = [Note(i * EIGHTH, p, EIGHTH) for i, p in enumerate(pitches)]
        cont = Continuation(model, seed, PPQ, 2 * EIGHTH, settings=ContinuationSettings(n_steps=2))
        assert cont.shift == shift, pitches
        list(cont)
        assert _pitches(cont.generated_notes()) == {60 - shift}, pitches


def test_continuation_plays_at_the_seeds_median_velocity() -> None:
    # Generated notes are as loud as the seed's typical note: velocities 40, 120, 60 have
    # median 60 (not the loudest, 120, nor the mean, 73).
    model = _fixed_model([60], key_normalization="none")
    seed = [Note(0, 60, EIGHTH, 40), Note(EIGHTH, 62, EIGHTH, 120), Note(2 * EIGHTH, 64, EIGHTH, 60)]
    cont = Continuation(model, seed, PPQ, 3 * EIGHTH, settings=ContinuationSettings(n_steps=2))
    assert cont.velocity == 60
    list(cont)
    notes = cont.generated_notes()
    assert notes and {n.velocity for n in notes} == {60}


def test_continuation_accompany_without_a_seed_plays_in_the_melodys_channel() -> None:
    # Accompanying a melody from its first note (nothing before it to continue), the
    # harmony goes in the melody's part: channel 3, not channel 0; and as softly as the
    # melody (velocity 40), not at 90.
    model = _fixed_model([60], key_normalization="none")
    melody = [Note(0, 67, 2 * EIGHTH, 40, channel=3), Note(2 * EIGHTH, 69, 2 * EIGHTH, 40, channel=3)]
    cont = Continuation(model, melody, PPQ, 0,
                        settings=ContinuationSettings(n_steps=4, accompany=True))
    assert cont.channel == 3 and cont.velocity == 40
    list(cont)
    notes = cont.generated_notes()
    assert notes and {(n.channel, n.velocity) for n in notes} == {(3, 40)}


def test_continuation_with_a_polyphony_of_zero_generates_silence() -> None:
    # max_polyphony=0 through the library API: no note may sound, so every step is empty
    # (not an error because rests are then the only thing to draw).
    model = _fixed_model([60, 64], key_normalization="none")
    cont = Continuation(model, [Note(0, 62, 2 * EIGHTH)], PPQ, 2 * EIGHTH,
                        settings=ContinuationSettings(n_steps=3, max_polyphony=0))
    steps = list(cont)
    assert len(steps) == 3 and not any(step.frame.any() for step in steps)
    assert cont.generated_notes() == []


def test_allowed_pitch_mask_is_range_and_scale_within_the_models_pitches() -> None:
    # C major between 61 and 65 (C#4..F4): D, E, F
    settings = ContinuationSettings(key_tonic=0, scale="major", range_low=61, range_high=65)
    mask = allowed_pitch_mask(settings, 21, 109)
    assert mask.shape == (88,)
    assert (np.flatnonzero(mask) + 21).tolist() == [62, 64, 65]
    # without a key the seed's tonic is used: D major between 61 and 65 is C#, D, E
    seed_key = ContinuationSettings(scale="major", range_low=61, range_high=65)
    assert (np.flatnonzero(allowed_pitch_mask(seed_key, 21, 109, 2)) + 21).tolist() == [61, 62, 64]
    # the continuation uses this very mask (the seed below is in D major)
    cont = Continuation(_fixed_model([60]), _d_major_seed(), PPQ, 8 * EIGHTH, settings=seed_key)
    assert cont.key is not None and cont.key.tonic == 2
    assert np.array_equal(cont.allowed_pitches, allowed_pitch_mask(seed_key, 21, 109, 2))
    assert cont.no_pitch_allowed_reason() is None


@pytest.mark.parametrize(
    ("settings", "seed_tonic", "reason"),
    [
        (ContinuationSettings(range_low=0, range_high=20), None,
         "no pitch is allowed: the range 0-20 lies below the model's range 21-108 (A0-C8)"),
        (ContinuationSettings(range_low=109, range_high=127, key_tonic=0, scale="major"), None,
         "no pitch is allowed: the range 109-127 lies above the model's range 21-108 (A0-C8)"),
        (ContinuationSettings(range_low=61, range_high=61, key_tonic=0, scale="major"), None,
         "no note of C major lies in 61-61 (C#4)"),
        (ContinuationSettings(range_low=60, range_high=60, scale="major"), 2,
         "no note of D major (the seed's key) lies in 60-60 (C4)"),
        (ContinuationSettings(range_low=61, range_high=61, scale="major"), None,
         "no note of C major (on C: no key to go by) lies in 61-61 (C#4)"),
        # F# major has no A: of 0-21 only A0 (21) is a piano key
        (ContinuationSettings(range_low=0, range_high=21, key_tonic=6, scale="major"), None,
         "no note of F# major lies in 21-21 (A0), the part of the range 0-21 within the "
         "model's range 21-108 (A0-C8)"),
    ],
)
def test_no_pitch_allowed_reason_says_why_nothing_may_sound(
    settings: ContinuationSettings, seed_tonic: int | None, reason: str
) -> None:
    assert not allowed_pitch_mask(settings, 21, 109, seed_tonic).any()
    assert no_pitch_allowed_reason(settings, 21, 109, seed_tonic) == reason


def test_continuation_names_the_users_range_as_the_caller_does() -> None:
    settings = ContinuationSettings(n_steps=2, range_low=0, range_high=20)
    cont = Continuation(_fixed_model([60]), [], PPQ, 0, settings=settings)
    assert cont.no_pitch_allowed_reason("--low 0 --high 20") == (
        "no pitch is allowed: --low 0 --high 20 lies below the model's range 21-108 (A0-C8)"
    )
    # C major from 61 to 63 holds D: something may sound
    assert no_pitch_allowed_reason(
        ContinuationSettings(key_tonic=0, scale="major", range_low=61, range_high=63), 21, 109
    ) is None


def test_continuation_of_a_model_trained_on_estimated_keys_moves_by_the_estimate() -> None:
    # a model trained on a MIDI folder with --normalize-key had each piece moved by its
    # estimated key: a seed is moved the same way, whatever its key signature says
    from composer_app.core.score import KeySignature
    from composer_app.ml.data import ESTIMATED_KEY_NORMALIZATION

    mixolydian = [Note(i * EIGHTH, p, EIGHTH)
                  for i, p in enumerate([62, 66, 69, 72, 74, 72, 69, 66, 62, 64, 66, 67])]
    model = _fixed_model([60, 67], key_normalization=ESTIMATED_KEY_NORMALIZATION)
    cont = Continuation(model, mixolydian, PPQ, start_tick=len(mixolydian) * EIGHTH,
                        settings=ContinuationSettings(n_steps=2), key_signature=KeySignature(0, 1))
    list(cont)
    assert {p % 12 for p in _pitches(cont.generated_notes())} == {2, 9}  # moved by D


def test_continuation_from_silence_takes_its_key_from_the_key_signature() -> None:
    # An empty score under D major, scale "major" on the seed's key: the notes were moved
    # into D but the scale stayed on C, so F# and C# were masked away
    from composer_app.core.score import KeySignature

    model = _fixed_model([60, 64])  # C4 and E4 "in C": D4 and F#4 in D
    cont = Continuation(model, [], PPQ, start_tick=0,
                        settings=ContinuationSettings(n_steps=2, scale="major"),
                        key_signature=KeySignature(0, 2))
    assert cont.key is not None and cont.key.name == "D major"
    list(cont)
    assert {n.pitch % 12 for n in cont.generated_notes()} == {2, 6}

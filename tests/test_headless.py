"""``composer-app generate``: a real seed file in, a real .mid out, through the shared engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from composer_app import paths
from composer_app.cli import main
from composer_app.core.note import Note
from composer_app.core.score import Score, TimeSignature
from composer_app.midi.files import read_mid, write_mid
from composer_app.ml.checkpoint import save_checkpoint
from composer_app.ml.rnnrbm import RnnRbm, RnnRbmConfig

EIGHTH = 240


def _tiny_checkpoint(directory: Path) -> Path:
    """A small random RNN-RBM whose visible biases make a few notes likely per step."""
    config = RnnRbmConfig(n_hidden=16, n_recurrent=8, dataset="test")
    model = RnnRbm(config, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.bv.fill_(-6.0)
        model.bv[60 - 21] = 4.0  # C4 nearly always on (in C)
        model.bv[67 - 21] = 2.0  # G4 often
    save_checkpoint(directory, config, model)
    return directory


def _seed_file(path: Path) -> Score:
    score = Score()
    score.set_tempo_bpm(96.0)
    # D major, eight eighth notes: one bar of 4/4
    for i, pitch in enumerate([62, 64, 66, 67, 69, 71, 73, 74]):
        score.add(Note(i * EIGHTH, pitch, EIGHTH, velocity=80))
    write_mid(score, path)
    return score


def test_headless_generate_writes_seed_and_continuation(tmp_path: Path) -> None:
    model_dir = _tiny_checkpoint(tmp_path / "model")
    seed = _seed_file(tmp_path / "seed.mid")
    out = tmp_path / "out.mid"
    status = main(["generate", "--seed", str(tmp_path / "seed.mid"), "--bars", "2",
                   "--model", str(model_dir), "--seed-value", "3", "-o", str(out)])
    assert status == 0
    result = read_mid(out)
    # the seed is intact: every seed note is still there, unchanged
    seed_notes = {(n.start_tick, n.pitch, n.duration_ticks) for n in seed.notes}
    result_notes = {(n.start_tick, n.pitch, n.duration_ticks) for n in result.notes}
    assert seed_notes <= result_notes
    generated = [n for n in result.notes if n.start_tick >= seed.end_tick]
    assert generated, "the continuation is empty"
    # 2 bars of 4/4 = 16 eighth-note steps right after the seed (which ends at 1920)
    assert all(1920 <= n.start_tick < 1920 + 16 * EIGHTH for n in generated)
    # the model's C4 "in C" comes out as D4 in the seed's key (D major): shift back +2
    assert 62 in {n.pitch for n in generated}
    assert round(result.initial_tempo_bpm) == 96


def test_headless_generate_same_seed_value_same_notes(tmp_path: Path) -> None:
    model_dir = _tiny_checkpoint(tmp_path / "model")
    _seed_file(tmp_path / "seed.mid")
    outs = []
    for name in ("a.mid", "b.mid"):
        assert main(["generate", "--seed", str(tmp_path / "seed.mid"), "--steps", "12",
                     "--model", str(model_dir), "--seed-value", "9", "-o",
                     str(tmp_path / name)]) == 0
        outs.append(read_mid(tmp_path / name).notes)
    assert outs[0] == outs[1]


def test_headless_generate_bad_seed_file_is_a_clear_error(tmp_path: Path, capsys) -> None:
    model_dir = _tiny_checkpoint(tmp_path / "model")
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"this is not midi")
    status = main(["generate", "--seed", str(bad), "--model", str(model_dir), "-o",
                   str(tmp_path / "out.mid")])
    err = capsys.readouterr().err
    assert status == 2
    assert "bad.mid" in err and "Traceback" not in err
    assert not (tmp_path / "out.mid").exists()


def test_headless_generate_bad_model_is_a_clear_error(tmp_path: Path, capsys) -> None:
    _seed_file(tmp_path / "seed.mid")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    status = main(["generate", "--seed", str(tmp_path / "seed.mid"), "--model", str(broken),
                   "-o", str(tmp_path / "out.mid")])
    err = capsys.readouterr().err
    assert status == 2
    assert "cannot load the model" in err
    assert not (tmp_path / "out.mid").exists()


@pytest.mark.skipif(
    not (paths.model_dir() / "config.json").is_file(), reason="the shipped model is not built yet"
)
def test_headless_generate_with_the_shipped_model(tmp_path: Path) -> None:
    seed = _seed_file(tmp_path / "seed.mid")
    out = tmp_path / "out.mid"
    assert main(["generate", "--seed", str(tmp_path / "seed.mid"), "--bars", "4", "-o",
                 str(out), "--key", "D", "--scale", "major"]) == 0
    result = read_mid(out)
    generated = [n for n in result.notes if n.start_tick >= seed.end_tick]
    assert generated
    d_major = {2, 4, 6, 7, 9, 11, 1}
    assert all(n.pitch % 12 in d_major for n in generated)


def test_headless_generate_steps_on_the_beats_after_a_pickup_in_the_seeds_channel(
    tmp_path: Path, capsys
) -> None:
    # A pickup of one sixteenth (a 1/16 bar), then a bar of 4/4 in eighths, all on channel 4:
    # the continuation starts on bar 3's downbeat (tick 2040), steps on its eighths, and goes
    # on in channel 4 (it was written on channel 1 and after the next eighth from tick 0).
    model_dir = _tiny_checkpoint(tmp_path / "model")
    score = Score(time_signatures=[TimeSignature(0, 1, 16), TimeSignature(120, 4, 4)])
    score.add(Note(0, 60, 120, channel=4))
    for i, pitch in enumerate([62, 64, 66, 67, 69, 71, 73, 74]):
        score.add(Note(120 + i * EIGHTH, pitch, EIGHTH, channel=4))
    write_mid(score, tmp_path / "pickup.mid")
    out = tmp_path / "out.mid"
    assert main(["generate", "--seed", str(tmp_path / "pickup.mid"), "--bars", "1",
                 "--model", str(model_dir), "-o", str(out)]) == 0
    assert "8 steps of 240 ticks from tick 2040" in capsys.readouterr().out
    generated = [n for n in read_mid(out).notes if n.start_tick >= 2040]
    assert generated
    assert all((n.start_tick - 2040) % EIGHTH == 0 and n.end_tick <= 2040 + 1920 for n in generated)
    assert {n.channel for n in generated} == {4}


def test_headless_generate_bars_follow_a_meter_change(tmp_path: Path, capsys) -> None:
    # a bar of 4/4 of seed; 3/4 from bar 3: two bars from bar 2 are 4/4 + 3/4 = 14 eighths
    model_dir = _tiny_checkpoint(tmp_path / "model")
    score = _seed_file(tmp_path / "seed.mid")
    score.time_signatures = [TimeSignature(0, 4, 4), TimeSignature(3840, 3, 4)]
    write_mid(score, tmp_path / "seed.mid")
    out = tmp_path / "out.mid"
    assert main(["generate", "--seed", str(tmp_path / "seed.mid"), "--bars", "2",
                 "--model", str(model_dir), "-o", str(out)]) == 0
    assert "14 steps of 240 ticks from tick 1920" in capsys.readouterr().out
    assert max(n.end_tick for n in read_mid(out).notes) <= 3840 + 1440


@pytest.mark.parametrize("flag", ["--bars", "--steps", "--max-notes"])
def test_headless_generate_refuses_zero_lengths_and_caps(tmp_path: Path, capsys, flag) -> None:
    model_dir = _tiny_checkpoint(tmp_path / "model")
    _seed_file(tmp_path / "seed.mid")
    status = main(["generate", "--seed", str(tmp_path / "seed.mid"), "--model", str(model_dir),
                   flag, "0", "-o", str(tmp_path / "out.mid")])
    assert status == 2
    assert f"{flag} must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "out.mid").exists()


def test_headless_generate_draws_silent_steps_again_unless_rests_are_allowed(
    tmp_path: Path,
) -> None:
    # A model that is silent on most steps: only C4 may sound, with p = sigmoid(-0.5) = 0.38
    # (silent after 21 draws: 0.62^21 = 4e-5).
    config = RnnRbmConfig(n_hidden=16, n_recurrent=8, dataset="test")
    model = RnnRbm(config, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.bv.fill_(-12.0)
        model.bv[60 - 21] = -0.5
    save_checkpoint(tmp_path / "model", config, model)
    seed = _seed_file(tmp_path / "seed.mid")

    def sounding_steps(*extra: str) -> set[int]:
        out = tmp_path / "out.mid"
        assert main(["generate", "--seed", str(tmp_path / "seed.mid"), "--steps", "32",
                     "--model", str(tmp_path / "model"), "-o", str(out), "--force",
                     *extra]) == 0
        steps = set()
        for n in read_mid(out).notes:
            if n.start_tick >= seed.end_tick:
                first = (n.start_tick - seed.end_tick) // EIGHTH
                steps.update(range(first, first + n.duration_ticks // EIGHTH))
        return steps

    assert sounding_steps() == set(range(32))
    assert len(sounding_steps("--allow-rests")) < 24


def _long_meter_seed(path: Path, numerator: int) -> Score:
    # eight quarter notes: the first of the long bars, far from full
    score = Score(time_signatures=[TimeSignature(0, numerator, 4)])
    score.add_many([Note(i * 480, 60 + i % 5, 480) for i in range(8)])
    write_mid(score, path)
    return score


@pytest.mark.parametrize("numerator", [32, 64])
def test_headless_generate_start_bar_in_a_meter_longer_than_16_quarters(
    tmp_path: Path, numerator: int
) -> None:
    model_dir = _tiny_checkpoint(tmp_path / "model")
    seed = _long_meter_seed(tmp_path / "seed.mid", numerator)
    out = tmp_path / "out.mid"
    status = main(["generate", "--seed", str(tmp_path / "seed.mid"), "--start-bar", "2",
                   "--steps", "4", "--model", str(model_dir), "-o", str(out)])
    assert status == 0
    seed_notes = set(seed.notes)
    generated = [n for n in read_mid(out).notes if n not in seed_notes]
    assert generated
    # bar 2 starts after one bar of numerator quarters: 64 * 480 = 30720; 4 steps of 240 ticks
    bar_2 = numerator * 480
    assert all(bar_2 <= n.start_tick < bar_2 + 4 * EIGHTH for n in generated)


def test_headless_generate_start_bar_after_the_seed_leaves_bars_of_rest(tmp_path: Path) -> None:
    model_dir = _tiny_checkpoint(tmp_path / "model")
    seed = _long_meter_seed(tmp_path / "seed.mid", 32)  # the seed lies in bar 1
    out = tmp_path / "out.mid"
    status = main(["generate", "--seed", str(tmp_path / "seed.mid"), "--start-bar", "5",
                   "--steps", "4", "--model", str(model_dir), "-o", str(out)])
    assert status == 0
    generated = [n for n in read_mid(out).notes if n not in set(seed.notes)]
    bar_5 = 4 * 32 * 480  # four bars of 32 quarters
    assert generated and all(bar_5 <= n.start_tick < bar_5 + 4 * EIGHTH for n in generated)


def test_headless_generate_start_bar_after_a_very_long_bar_later_in_the_song(
    tmp_path: Path,
) -> None:
    # 100 bars of 4/4, then one bar of 255 whole notes: bar 65 is early in the song, although
    # 65 of the longest bars would not fit in any song
    model_dir = _tiny_checkpoint(tmp_path / "model")
    bar = 4 * 480
    seed = Score(time_signatures=[TimeSignature(0, 4, 4), TimeSignature(100 * bar, 255, 1)])
    seed.add_many([Note(i * 480, 60 + i % 5, 480) for i in range(8)])
    write_mid(seed, tmp_path / "seed.mid")
    out = tmp_path / "out.mid"
    status = main(["generate", "--seed", str(tmp_path / "seed.mid"), "--start-bar", "65",
                   "--steps", "4", "--model", str(model_dir), "-o", str(out)])
    assert status == 0
    generated = [n for n in read_mid(out).notes if n not in set(seed.notes)]
    assert generated and all(64 * bar <= n.start_tick < 64 * bar + 4 * EIGHTH
                             for n in generated)


@pytest.mark.parametrize("ppq", [1, 8, 25])
def test_headless_generate_continues_a_low_resolution_file_at_the_right_speed(
    tmp_path: Path, capsys, ppq: int
) -> None:
    # At 1 tick per quarter an eighth-note step was rounded to a whole quarter (half speed);
    # the file is read at a resolution that holds a sixteenth, its timing unchanged.
    model_dir = _tiny_checkpoint(tmp_path / "model")
    seed = Score(ppq=ppq)
    seed.add_many([Note(i * ppq, 60 + i % 5, ppq) for i in range(8)])  # 8 quarter notes
    write_mid(seed, tmp_path / "seed.mid")
    out = tmp_path / "out.mid"
    assert main(["generate", "--seed", str(tmp_path / "seed.mid"), "--steps", "8",
                 "--model", str(model_dir), "-o", str(out)]) == 0
    result = read_mid(out)
    assert result.ppq % 4 == 0 and result.ppq >= 96
    eighth = result.ppq // 2
    assert f"8 steps of {eighth} ticks from tick {8 * result.ppq}" in capsys.readouterr().out
    generated = [n for n in result.notes if n.start_tick >= 8 * result.ppq]
    assert generated and max(n.end_tick for n in generated) <= 12 * result.ppq  # 8 eighths


@pytest.mark.parametrize(
    ("meter", "ppq", "args", "message"),
    [
        # bar 10,000 of 32/4 lies 1.28 million quarter notes in (and far after the seed)
        ((32, 4), 480, ["--start-bar", "10000", "--steps", "4"], "more than 8 bars after"),
        # the start is within the limit (a meter change there: the song goes on to it), the
        # end 12 quarter notes past it
        ((4, 4), 480, ["--start-bar", "16384", "--steps", "32"], "would end at quarter note 65548"),
        ((4, 4), 480, ["--steps", "1000000"], "would end at quarter note"),
    ],
    ids=["start-past-any-song", "end-past-any-song", "steps-past-any-song"],
)
def test_headless_generate_past_the_longest_song_is_a_clear_error(
    tmp_path: Path, capsys, meter: tuple[int, int], ppq: int, args: list[str], message: str
) -> None:
    model_dir = _tiny_checkpoint(tmp_path / "model")
    seed = Score(ppq=ppq, time_signatures=[TimeSignature(0, *meter),
                                           TimeSignature(16383 * 4 * ppq, *meter)])
    seed.add_many([Note(i * ppq, 60 + i % 5, ppq) for i in range(8)])
    write_mid(seed, tmp_path / "seed.mid")
    status = main(["generate", "--seed", str(tmp_path / "seed.mid"), *args,
                   "--model", str(model_dir), "-o", str(tmp_path / "out.mid")])
    err = capsys.readouterr().err
    assert status == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out.mid").exists()


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"n_hidden": 10**12}, "'n_hidden' (1000000000000)"),  # W alone would need 352 TB
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),  # json.loads: RecursionError
    ],
    ids=["absurd-size", "deeply-nested"],
)
def test_headless_generate_corrupt_model_is_a_clear_error(
    tmp_path: Path, capsys, document: dict | str, reason: str
) -> None:
    model_dir = _tiny_checkpoint(tmp_path / "model")
    _seed_file(tmp_path / "seed.mid")
    config_path = model_dir / "config.json"
    if isinstance(document, dict):
        config_path.write_text(json.dumps({**json.loads(config_path.read_text()), **document}))
    else:
        config_path.write_text(document)
    status = main(["generate", "--seed", str(tmp_path / "seed.mid"), "--model", str(model_dir),
                   "-o", str(tmp_path / "out.mid")])
    err = capsys.readouterr().err
    assert status == 2
    assert "cannot load the model" in err and reason in err and "Traceback" not in err
    assert not (tmp_path / "out.mid").exists()


def test_headless_generate_unexpected_model_error_is_a_clear_error(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = _tiny_checkpoint(tmp_path / "model")
    _seed_file(tmp_path / "seed.mid")

    def load_model(directory: str, name: str | None = None) -> None:
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr("composer_app.ml.continuation.load_model", load_model)
    status = main(["generate", "--seed", str(tmp_path / "seed.mid"), "--model", str(model_dir),
                   "-o", str(tmp_path / "out.mid")])
    err = capsys.readouterr().err
    assert status == 2
    assert "cannot load the model" in err and "can't allocate memory" in err
    assert not (tmp_path / "out.mid").exists()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--seed-value", "-1", "must be at least 0, got -1"),
        ("--gibbs-steps", "99999999999999999999", "must be at most 10000"),
        ("--gibbs-steps", "0", "must be at least 1, got 0"),
        ("--temperature", "inf", "must be a finite number, got 'inf'"),
        ("--temperature", "nan", "must be a finite number, got 'nan'"),
        ("--temperature", "-0.5", "must be at least 0, got -0.5"),
    ],
)
def test_headless_generate_refuses_numbers_out_of_range_when_parsing(
    tmp_path: Path, capsys, flag: str, value: str, message: str
) -> None:
    model_dir = _tiny_checkpoint(tmp_path / "model")
    _seed_file(tmp_path / "seed.mid")
    with pytest.raises(SystemExit) as stopped:
        main(["generate", "--seed", str(tmp_path / "seed.mid"), "--model", str(model_dir),
              "-o", str(tmp_path / "out.mid"), flag, value])
    assert stopped.value.code == 2
    assert f"argument {flag}: {message}" in capsys.readouterr().err
    assert not (tmp_path / "out.mid").exists()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("seed_value", -1, "the random seed must be >= 0, got -1"),
        ("gibbs_steps", 10**20, "gibbs_steps must be between 1 and 10000"),
        ("temperature", float("inf"), "temperature must be a finite number >= 0, got inf"),
    ],
)
def test_headless_generate_run_refuses_bad_numbers_the_parser_did_not_see(
    tmp_path: Path, capsys, name: str, value: object, message: str
) -> None:
    # a caller that builds its own arguments gets the generator's own check: a message, status 2
    from composer_app.cli import build_parser
    from composer_app.headless import run

    model_dir = _tiny_checkpoint(tmp_path / "model")
    _seed_file(tmp_path / "seed.mid")
    args = build_parser("generate").parse_args(
        ["generate", "--seed", str(tmp_path / "seed.mid"), "--model", str(model_dir),
         "-o", str(tmp_path / "out.mid"), "--steps", "2"]
    )
    setattr(args, name, value)
    assert run(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.mid").exists()


def test_headless_generate_never_replaces_a_file_unless_forced(tmp_path: Path, capsys) -> None:
    # `-o` naming the seed, or any file that exists, is refused: the seed below held a drum
    # note, which the continuation's file would not keep (its program change is kept)
    import mido

    model_dir = _tiny_checkpoint(tmp_path / "model")
    seed = tmp_path / "seed.mid"
    _seed_file(seed)
    with_drums = mido.MidiFile(seed)
    with_drums.tracks[-1].insert(1, mido.Message("program_change", program=40, time=0))
    with_drums.tracks[-1].insert(2, mido.Message("note_on", channel=9, note=36, time=0))
    with_drums.tracks[-1].insert(3, mido.Message("note_off", channel=9, note=36, time=60))
    with_drums.save(seed)
    original = seed.read_bytes()
    other = tmp_path / "other.mid"
    other.write_bytes(b"precious")
    for target, what in ((seed, "the seed itself"), (other, "a file")):
        status = main(["generate", "--seed", str(seed), "--model", str(model_dir),
                       "--steps", "4", "-o", str(target)])
        assert status == 2
        assert f"{target} is {what} that exists; give --force" in capsys.readouterr().err
    assert seed.read_bytes() == original and other.read_bytes() == b"precious"
    # with --force it is replaced, and the summary names what the new file does not hold
    assert main(["generate", "--seed", str(seed), "--model", str(model_dir), "--steps", "4",
                 "-o", str(seed), "--force"]) == 0
    out = capsys.readouterr().out
    assert f"not kept from {seed}: 1 drum notes" in out and "program" not in out
    assert len(read_mid(seed).notes) > 8
    assert [(p.channel, p.program) for p in read_mid(seed).program_changes] == [(0, 40)]


def test_headless_generate_adds_the_midi_suffix_as_save_as_does(tmp_path: Path, capsys) -> None:
    model_dir = _tiny_checkpoint(tmp_path / "model")
    _seed_file(tmp_path / "seed.mid")
    for name, written in (("take", "take.mid"), ("take.v2", "take.v2.mid"),
                          ("TAKE.MIDI", "TAKE.MIDI")):
        assert main(["generate", "--seed", str(tmp_path / "seed.mid"), "--model",
                     str(model_dir), "--steps", "4", "-o", str(tmp_path / name)]) == 0
        assert f"wrote {tmp_path / written}:" in capsys.readouterr().out
        assert read_mid(tmp_path / written).notes


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--low", "-5"], "argument --low: must be at least 0, got -5"),
        (["--high", "500"], "argument --high: must be at most 127, got 500"),
        (["--low", "100", "--high", "90"],
         "the pitch range is empty: --low 100 is above --high 90"),
        (["--start-bar", "9999"],
         "--start-bar 9999 is more than 8 bars after the seed, which ends in bar 1"),
        (["--model", "nottingam"], "no model 'nottingam': not a folder, nor a shipped model"),
    ],
)
def test_headless_generate_refuses_pitches_bars_and_models_it_cannot_use(
    tmp_path: Path, capsys, arguments: list[str], message: str
) -> None:
    model_dir = _tiny_checkpoint(tmp_path / "model")
    _seed_file(tmp_path / "seed.mid")
    command = ["generate", "--seed", str(tmp_path / "seed.mid"), "--model", str(model_dir),
               "--steps", "4", "-o", str(tmp_path / "out.mid"), *arguments]
    try:
        status = main(command)
    except SystemExit as stopped:  # refused by the parser
        status = stopped.code
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.mid").exists()
    # a start up to 8 bars after the seed's last bar is fine: bars of rest before it
    if arguments[0] == "--start-bar":
        assert main([*command[:-2], "--start-bar", "9"]) == 0


def test_headless_generate_accompany_without_a_start_bar_accompanies_the_whole_file(
    tmp_path: Path, capsys
) -> None:
    # it started after the file's end, where there is nothing to hold: a plain continuation
    model_dir = _tiny_checkpoint(tmp_path / "model")
    seed = _seed_file(tmp_path / "seed.mid")  # one bar of eighth notes, velocity 80
    out = tmp_path / "out.mid"
    assert main(["generate", "--seed", str(tmp_path / "seed.mid"), "--accompany",
                 "--model", str(model_dir), "--seed-value", "3", "-o", str(out)]) == 0
    assert "8 steps of 240 ticks from tick 0" in capsys.readouterr().out
    result = read_mid(out)
    generated = [n for n in result.notes if n not in set(seed.notes)]
    assert generated, "nothing accompanies the melody"
    assert all(n.start_tick < seed.end_tick for n in generated)  # under the melody
    assert {n.velocity for n in generated} == {80}  # as loud as the melody it accompanies
    assert set(seed.notes) <= set(result.notes)


def test_headless_generate_accompany_keeps_below_the_melody_unless_told(
    tmp_path: Path, capsys
) -> None:
    # the tiny model nearly always plays C4 (and often G4): under a melody on A3, above
    # which both lie, nothing sounds unless --harmony-anywhere lets it
    model_dir = _tiny_checkpoint(tmp_path / "model")
    melody = Score()
    melody.add_many(Note(i * 480, 57, 480, 80) for i in range(8))  # A3 in quarter notes
    write_mid(melody, tmp_path / "low.mid")
    for extra, above in (([], False), (["--harmony-anywhere"], True)):
        out = tmp_path / f"out{len(extra)}.mid"
        assert main(["generate", "--seed", str(tmp_path / "low.mid"), "--accompany",
                     "--key", "C", "--model", str(model_dir), "--seed-value", "1",
                     "--allow-rests", "-o", str(out), *extra]) == 0
        generated = [n for n in read_mid(out).notes if n.pitch != 57]
        assert any(n.pitch > 57 for n in generated) is above, generated


def test_headless_generate_checks_the_output_before_loading_the_model(
    tmp_path: Path, capsys
) -> None:
    # the model named does not exist: every output problem below is found before it is
    # looked for, not after a generation that can take minutes
    _seed_file(tmp_path / "seed.mid")
    (tmp_path / "afile").write_text("keep me\n")
    (tmp_path / "out.mid").mkdir()  # a folder named like the output
    (tmp_path / "ro.mid").write_bytes(b"old")
    (tmp_path / "ro.mid").chmod(0o444)  # the save refuses it (root too): found first
    missing = tmp_path / "no" / "such"
    cases = [
        (missing / "out.mid", [], f"the folder {missing} does not exist"),
        (tmp_path / "afile" / "out.mid", [], f"{tmp_path / 'afile'} is not a folder"),
        (tmp_path / "out.mid", [], "it is a folder, not a file"),
        (tmp_path / "out.mid", ["--force"], "it is a folder, not a file"),
        (tmp_path / "ro.mid", ["--force"], "the file is read-only (permission denied)"),
    ]
    for target, extra, problem in cases:
        status = main(["generate", "--seed", str(tmp_path / "seed.mid"), "--model",
                       str(tmp_path / "no-model"), "--steps", "4", "-o", str(target), *extra])
        assert status == 2
        assert capsys.readouterr().err == (
            f"composer-app generate: cannot write {target}: {problem}\n"
        )
    assert not missing.parent.exists() and (tmp_path / "out.mid").is_dir()
    assert (tmp_path / "afile").read_text() == "keep me\n"


def test_headless_generate_names_the_whole_output_path_when_saving_fails(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a failure only the save itself can meet (a full disk): the message names the full
    # path, not only 'out.mid' as the file error's own message does
    import composer_app.midi.files as files

    def full_disk(score: Score, path: object) -> None:
        raise files.MidiFileError(path, "No space left on device", "save")

    monkeypatch.setattr(files, "write_mid", full_disk)
    model_dir = _tiny_checkpoint(tmp_path / "model")
    _seed_file(tmp_path / "seed.mid")
    out = tmp_path / "out.mid"
    status = main(["generate", "--seed", str(tmp_path / "seed.mid"), "--model", str(model_dir),
                   "--steps", "4", "-o", str(out)])
    assert status == 2
    assert capsys.readouterr().err == (
        f"composer-app generate: cannot write {out}: No space left on device\n"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--low", "0", "--high", "20"],
         "no pitch is allowed: --low 0 --high 20 lies below the model's range 21-108 (A0-C8)"),
        (["--low", "109", "--high", "127"],
         "no pitch is allowed: --low 109 --high 127 lies above the model's range 21-108 (A0-C8)"),
        (["--key", "C", "--scale", "major", "--low", "61", "--high", "61"],
         "no note of C major lies in 61-61 (C#4)"),
        # without --key the scale is on the seed's key (D major here), which has no C
        (["--scale", "major", "--low", "60", "--high", "60"],
         "no note of D major (the seed's key) lies in 60-60 (C4)"),
    ],
)
def test_headless_generate_refuses_constraints_that_leave_no_pitch(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, arguments: list[str], message: str
) -> None:
    from composer_app.ml.continuation import Continuation

    def no_sampling(self: object) -> None:
        raise AssertionError("a step was generated")

    model_dir = _tiny_checkpoint(tmp_path / "model")
    _seed_file(tmp_path / "seed.mid")
    command = ["generate", "--seed", str(tmp_path / "seed.mid"), "--model", str(model_dir),
               "--steps", "4", "-o", str(tmp_path / "out.mid")]
    with monkeypatch.context() as patched:
        patched.setattr(Continuation, "next_step", no_sampling)
        status = main([*command, *arguments])
    assert status == 2
    assert capsys.readouterr().err == f"composer-app generate: {message}\n"
    assert not (tmp_path / "out.mid").exists()
    # one pitch that the scale holds (D4, 62) is enough
    assert main([*command, *arguments[:-4], "--low", "62", "--high", "62"]) == 0


def test_headless_generate_moves_the_seed_by_the_files_key_signature(
    tmp_path: Path, capsys
) -> None:
    # A tune in D mixolydian, written with one sharp: the estimate alone says D major, but
    # the tunes the model learnt were moved to C by their signatures (here G major); the
    # saved file keeps the signature too.
    from composer_app.core.score import KeySignature

    model_dir = _tiny_checkpoint(tmp_path / "model")
    score = Score(key_signatures=[KeySignature(0, 1)])
    for i, pitch in enumerate([62, 66, 69, 72, 74, 72, 69, 66, 62, 64, 66, 67, 69, 72, 69, 62]):
        score.add(Note(i * EIGHTH, pitch, EIGHTH))
    write_mid(score, tmp_path / "seed.mid")
    out = tmp_path / "out.mid"
    assert main(["generate", "--seed", str(tmp_path / "seed.mid"), "--model", str(model_dir),
                 "--steps", "8", "--seed-value", "3", "-o", str(out)]) == 0
    assert "(seed key D major, model " in capsys.readouterr().out  # what the music is in
    result = read_mid(out)
    assert result.key_signatures == [KeySignature(0, 1)]
    # the model's C4 "in C" comes out as G: the notes were moved as G major
    assert any(n.pitch % 12 == 7 for n in result.notes if n.start_tick >= 16 * EIGHTH)

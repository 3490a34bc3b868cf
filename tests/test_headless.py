"""``composer-app generate``: a real seed file in, a real .mid out, through the shared engine."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from composer_app import paths
from composer_app.cli import main
from composer_app.core.note import Note
from composer_app.core.score import Score
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
                     "--model", str(tmp_path / "model"), "-o", str(out), *extra]) == 0
        steps = set()
        for n in read_mid(out).notes:
            if n.start_tick >= seed.end_tick:
                first = (n.start_tick - seed.end_tick) // EIGHTH
                steps.update(range(first, first + n.duration_ticks // EIGHTH))
        return steps

    assert sounding_steps() == set(range(32))
    assert len(sounding_steps("--allow-rests")) < 24

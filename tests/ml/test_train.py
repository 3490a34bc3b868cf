"""Tests of the training loop: windows, resume, interruption, non-finite stops, the command."""

from __future__ import annotations

import argparse
import gzip
import io
import itertools
import json
import math
import os
import shutil
import signal
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from composer_app.ml.checkpoint import load_checkpoint
from composer_app.ml.rnnrbm import RnnRbm, RnnRbmConfig
from composer_app.ml.train import (
    RESUME_NAME,
    Progress,
    Trainer,
    TrainingError,
    TrainSettings,
    add_arguments,
    frame_accuracy,
    make_windows,
    pad_batch,
    run,
    run_eta_s,
)


def tiny_config() -> RnnRbmConfig:
    return RnnRbmConfig(
        n_visible=8, n_hidden=6, n_recurrent=5, pitch_low=60, pitch_high=68, cd_steps=2
    )


def toy_sequences(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((int(rng.integers(5, 30)), 8)) < 0.3 for _ in range(count)]


def tiny_settings(**overrides: object) -> TrainSettings:
    values: dict[str, object] = dict(
        epochs=3, batch_size=4, window_steps=10, cd_steps=2, seed=3, valid_gibbs_steps=2,
        threads=1, decay_patience=1,
    )  # fmt: skip
    values.update(overrides)
    return TrainSettings(**values)  # type: ignore[arg-type]


def test_make_windows_covers_every_frame_once() -> None:
    sequences = toy_sequences(6, seed=0)
    windows = make_windows(sequences, 7, np.random.default_rng(1))
    assert all(1 <= len(w) <= 7 for w in windows)
    # the windows of each sequence, in order, rebuild it exactly
    assert np.array_equal(np.concatenate(windows), np.concatenate(sequences))


def test_pad_batch_masks_the_padding() -> None:
    v, mask = pad_batch([np.ones((3, 8), dtype=bool), np.ones((1, 8), dtype=bool)])
    assert v.shape == (2, 3, 8)
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert float(v[1, 1:].sum()) == 0.0


def test_train_resume_ends_with_the_same_parameters_as_an_uninterrupted_run(
    tmp_path: Path,
) -> None:
    train, valid = toy_sequences(12, seed=1), toy_sequences(3, seed=2)
    whole = Trainer(tiny_config(), tiny_settings(), train, valid)
    whole.run(tmp_path / "whole")
    per_epoch = len(Trainer(tiny_config(), tiny_settings(), train, valid)._epoch_batches())
    assert per_epoch >= 3
    # the same run, stopped mid-epoch twice and resumed from disk each time
    first_stop = per_epoch + 1  # one batch into epoch 2
    part = Trainer(tiny_config(), tiny_settings(stop_after_batches=first_stop), train, valid)
    part.run(tmp_path / "part")
    assert (part.epoch, part.batch) == (1, 1)
    part = Trainer.from_resume(tmp_path / "part", train, valid, {"stop_after_batches": 1})
    part.run(tmp_path / "part")
    assert (part.epoch, part.batch) == (1, 2) and not part.finished
    part = Trainer.from_resume(tmp_path / "part", train, valid, {"stop_after_batches": 0})
    part.run(tmp_path / "part")
    assert part.finished and part.epoch == whole.epoch == 3
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(part.model.state_dict()[name], tensor), name
    def without_times(history: list[dict[str, object]]) -> list[dict[str, object]]:
        return [{k: v for k, v in h.items() if k not in ("time_s", "valid_time_s")}
                for h in history]  # fmt: skip

    assert without_times(part.history) == without_times(whole.history)
    # the best checkpoints agree too
    _, best_whole = load_checkpoint(tmp_path / "whole")
    _, best_part = load_checkpoint(tmp_path / "part")
    for name, tensor in best_whole.state_dict().items():
        assert torch.equal(best_part.state_dict()[name], tensor), name


def test_train_sgd_resume_is_also_exact(tmp_path: Path) -> None:
    train, valid = toy_sequences(8, seed=4), toy_sequences(2, seed=5)
    settings = {"optimizer": "sgd", "lr": 0.01, "epochs": 2}
    whole = Trainer(tiny_config(), tiny_settings(**settings), train, valid)
    whole.run(tmp_path / "whole")
    part = Trainer(tiny_config(), tiny_settings(**settings, stop_after_batches=3), train, valid)
    part.run(tmp_path / "part")
    part = Trainer.from_resume(tmp_path / "part", train, valid, {"stop_after_batches": 0})
    part.run(tmp_path / "part")
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(part.model.state_dict()[name], tensor), name


def test_train_non_finite_cost_stops_naming_epoch_and_batch(tmp_path: Path) -> None:
    train, valid = toy_sequences(8, seed=6), toy_sequences(2, seed=7)
    trainer = Trainer(tiny_config(), tiny_settings(epochs=1), train, valid)
    trainer.run(tmp_path)
    good = (tmp_path / "weights.safetensors").read_bytes()
    good_resume = (tmp_path / RESUME_NAME).read_bytes()
    trainer.settings.epochs = 2
    trainer.finished = False
    with torch.no_grad():
        trainer.model.W[0, 0] = float("inf")  # makes the free energy, hence the cost, infinite
    with pytest.raises(TrainingError, match=r"non-finite cost .* at epoch 2, batch 1"):
        trainer.run(tmp_path)
    # nothing non-finite reached the disk: both files are the last good ones
    assert (tmp_path / "weights.safetensors").read_bytes() == good
    assert (tmp_path / RESUME_NAME).read_bytes() == good_resume
    load_checkpoint(tmp_path)


def test_train_non_finite_gradient_stops(tmp_path: Path) -> None:
    train, valid = toy_sequences(4, seed=8), toy_sequences(2, seed=9)
    trainer = Trainer(tiny_config(), tiny_settings(epochs=1), train, valid)
    original = trainer.model.cost

    def cost_with_nan_gradient(*args: object, **kwargs: object) -> torch.Tensor:
        value = original(*args, **kwargs)  # type: ignore[arg-type]
        # finite value, NaN gradient: sqrt'(0) * 0 -> inf * 0 = NaN
        return value + torch.sqrt(trainer.model.bu.sum() * 0) * 0

    trainer.model.cost = cost_with_nan_gradient  # type: ignore[method-assign]
    with pytest.raises(TrainingError, match=r"non-finite gradient at epoch 1, batch 1"):
        trainer.run(tmp_path)
    assert not (tmp_path / "weights.safetensors").exists()


def test_train_early_stopping_and_lr_decay(tmp_path: Path) -> None:
    train = toy_sequences(6, seed=10)
    # patience 2: the run stops 2 epochs after the best epoch, long before 50
    trainer = Trainer(tiny_config(), tiny_settings(epochs=50, patience=2, lr=1e-4), train, train)
    results = trainer.run(tmp_path)
    assert trainer.finished
    assert len(results) == trainer.best_epoch + 2 < 50
    assert results[-1].lr < results[0].lr  # decay_patience 1 halves lr on each bad epoch


def _write_benchmark(path: Path) -> Path:
    rng = np.random.default_rng(11)

    def seqs(n: int) -> list[list[list[int]]]:
        return [
            [sorted(60 + int(p) for p in np.flatnonzero(rng.random(8) < 0.3)) for _ in range(20)]
            for _ in range(n)
        ]

    document = {"train": seqs(6), "valid": seqs(2), "test": seqs(2)}
    path.write_bytes(gzip.compress(json.dumps(document).encode()))
    return path


def _args(data: Path, out: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(
        ["--data", str(data), "--out", str(out), "--hidden", "6", "--recurrent", "5",
         "--batch-size", "4", "--window", "10", "--cd-steps", "2", "--threads", "1", *extra]
    )  # fmt: skip


def test_train_command_writes_a_loadable_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write_benchmark(tmp_path / "toy_set.json.gz")
    assert run(_args(data, tmp_path / "out", "--epochs", "2", "--transpose=0..2")) == 0
    config, model = load_checkpoint(tmp_path / "out")
    assert config.n_hidden == 6 and config.dataset == "toy_set"
    assert config.step_beats == 0.5 and config.key_normalization == "C major/C minor"
    assert config.training["optimizer"] == "adam" and config.training["best_epoch"] >= 1
    # trained with CD chains from the data: generation starts its chains at the frame before
    assert config.chain_start == "previous"
    assert "true previous frame" in config.training["valid_accuracy_method"]
    # the register the app moves seeds into: the training tunes' mean pitch, counted here
    # before the augmentation (shifted 0 to 2 semitones up, its mean pitch is 1 higher)
    train = json.loads(gzip.decompress(data.read_bytes()))["train"]
    pitches = [p for tune in train for frame in tune for p in frame]
    assert config.register_pitch == pytest.approx(sum(pitches) / len(pitches), abs=0.005)
    err = capsys.readouterr().err
    assert "epoch 1:" in err and "epoch 2:" in err and "best valid acc" in err


def _ctrl_c_after_batch(monkeypatch: pytest.MonkeyPatch, batch: int) -> Callable[..., float]:
    """Make training send itself a real Ctrl+C (SIGINT, delivered to the command's handler)
    after its ``batch``-th batch. Returns the real ``Trainer.train_step``, to put back."""
    original = Trainer.train_step
    calls = {"n": 0}

    def step_then_interrupt(self: Trainer, v: torch.Tensor, mask: torch.Tensor) -> float:
        calls["n"] += 1
        value = original(self, v, mask)
        if calls["n"] == batch:
            os.kill(os.getpid(), signal.SIGINT)
        return value

    monkeypatch.setattr(Trainer, "train_step", step_then_interrupt)
    return original


def test_train_command_ctrl_c_stops_after_a_checkpoint_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write_benchmark(tmp_path / "toy.json.gz")
    _ctrl_c_after_batch(monkeypatch, 1)
    assert run(_args(data, tmp_path / "out", "--epochs", "2")) == 130
    assert "continue with --resume" in capsys.readouterr().err
    assert (tmp_path / "out" / RESUME_NAME).exists()
    # the handler was removed again: Python's default one is back
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # as if the run had begun before configs carried the register: resuming fills it in
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    resume = tmp_path / "out" / RESUME_NAME
    with safe_open(str(resume), framework="pt") as handle:
        metadata = handle.metadata()
    state = json.loads(metadata["state"])
    registered = state["config"].pop("register_pitch")
    save_file(load_file(str(resume)), str(resume), metadata={**metadata, "state": json.dumps(state)})
    assert run(_args(data, tmp_path / "out", "--resume")) == 0
    config, _ = load_checkpoint(tmp_path / "out")
    assert config.register_pitch == registered is not None


def test_train_command_resume_prepares_the_data_as_the_run_began(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # "continue with --resume --out X" leaves --transpose and --seed out: the resumed run
    # must still train on the transposed tunes, or it trains on other data than it began with
    data = _write_benchmark(tmp_path / "toy.json.gz")
    begun = ("--epochs", "2", "--transpose=-1..1", "--seed", "3")
    assert run(_args(data, tmp_path / "whole", *begun)) == 0
    original = _ctrl_c_after_batch(monkeypatch, 2)
    assert run(_args(data, tmp_path / "parts", *begun)) == 130
    monkeypatch.setattr(Trainer, "train_step", original)
    capsys.readouterr()
    assert run(_args(data, tmp_path / "parts", "--resume")) == 0
    err = capsys.readouterr().err
    assert "resuming with the run's own --transpose -1,0,1, --seed 3" in err
    assert "training on 18 sequences" in err  # 6 tunes x 3 shifts
    _, whole = load_checkpoint(tmp_path / "whole")
    _, parts = load_checkpoint(tmp_path / "parts")
    for name, tensor in whole.state_dict().items():
        assert torch.equal(tensor, parts.state_dict()[name]), name


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(folder)[1].state_dict()


def test_train_command_resume_refuses_other_settings_and_takes_longer_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write_benchmark(tmp_path / "toy.json.gz")
    assert run(_args(data, tmp_path / "whole", "--epochs", "2")) == 0
    out = tmp_path / "run"
    assert run(_args(data, out, "--epochs", "1")) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    # a finished run: nothing to train, and the way on named
    assert run(_args(data, out, "--resume")) == 0
    assert "had finished: it trained its --epochs 1; resume with a larger --epochs" in (
        capsys.readouterr().err
    )
    # settings that change the training are the run's own: giving others is refused, by name
    assert run(_args(data, out, "--resume", "--epochs", "2", "--lr", "0.01", "--window", "7")) == 2
    err = capsys.readouterr().err
    assert "--lr 0.01 (the run's: 0.001); --window 7 (the run's: 10)" in err
    assert f"--init-from {out}" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # the same values given again are no conflict; a larger --epochs trains on, and ends
    # where a run of two epochs from the start ends
    assert run(_args(data, out, "--resume", "--epochs", "2", "--lr", "0.001")) == 0
    assert "resuming with --epochs 2 (the run's: 1)" in capsys.readouterr().err
    whole, resumed = _weights(tmp_path / "whole"), _weights(out)
    for name, tensor in whole.items():
        assert torch.equal(tensor, resumed[name]), name
    assert load_checkpoint(out)[0].training["epochs"] == 2


def test_train_command_resume_goes_on_after_early_stopping_with_a_larger_patience(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write_benchmark(tmp_path / "toy.json.gz")
    out = tmp_path / "run"
    # patience 1: the run stops at its first epoch without a better validation score
    assert run(_args(data, out, "--epochs", "30", "--patience", "1")) == 0
    state = Trainer.resume_state(out)
    assert state["finished"] and state["epoch"] < 30 and state["bad_epochs"] == 1
    capsys.readouterr()
    assert run(_args(data, out, "--resume")) == 0
    assert "stopped early" in capsys.readouterr().err
    assert Trainer.resume_state(out)["epoch"] == state["epoch"]
    assert run(_args(data, out, "--resume", "--patience", "3")) == 0
    assert Trainer.resume_state(out)["epoch"] > state["epoch"]


def test_train_command_resume_refuses_other_data_than_the_run_began_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write_benchmark(tmp_path / "toy.json.gz")
    other = tmp_path / "other.json.gz"
    document = json.loads(gzip.decompress(data.read_bytes()))
    document["train"][0][0] = [61]  # one frame differs
    other.write_bytes(gzip.compress(json.dumps(document).encode()))
    out = tmp_path / "run"
    assert run(_args(data, out, "--epochs", "1")) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert run(_args(other, out, "--resume", "--epochs", "2")) == 2
    err = capsys.readouterr().err
    assert f"--data {other} is not the data this run began with ({data}" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # the same data under another name are the same data
    copy = tmp_path / "copy.json.gz"
    copy.write_bytes(data.read_bytes())
    assert run(_args(copy, out, "--resume", "--epochs", "2")) == 0
    # a resume file from before runs recorded their data resumes on any data
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    resume = out / RESUME_NAME
    with safe_open(str(resume), framework="pt") as handle:
        metadata = handle.metadata()
    state = json.loads(metadata["state"])
    del state["data_digest"]
    save_file(load_file(str(resume)), str(resume), metadata={**metadata, "state": json.dumps(state)})
    assert run(_args(other, out, "--resume", "--epochs", "3")) == 0


def test_train_command_resumes_a_fine_tune_whose_starting_model_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _write_benchmark(tmp_path / "toy.json.gz")
    # the starting model has 7 hidden units; the fine-tune's command line says --hidden 6,
    # which a run from --init-from ignores: resuming with that same command line is no conflict
    assert run(_args(data, tmp_path / "start", "--epochs", "1", "--hidden", "7")) == 0
    original = _ctrl_c_after_batch(monkeypatch, 1)
    begun = ("--epochs", "2", "--init-from", str(tmp_path / "start"))
    assert run(_args(data, tmp_path / "tune", *begun)) == 130
    monkeypatch.setattr(Trainer, "train_step", original)
    assert run(_args(data, tmp_path / "whole", *begun)) == 0
    shutil.rmtree(tmp_path / "start")  # the resume file holds every weight it needs
    assert run(_args(data, tmp_path / "tune", "--resume")) == 0
    whole, resumed = _weights(tmp_path / "whole"), _weights(tmp_path / "tune")
    for name, tensor in whole.items():
        assert torch.equal(tensor, resumed[name]), name


def test_train_command_reports_bad_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.json.gz").write_bytes(b"nonsense")
    assert run(_args(tmp_path / "bad.json.gz", tmp_path / "out")) == 2
    assert "not valid" in capsys.readouterr().err
    assert run(_args(tmp_path / "none.json.gz", tmp_path / "out", "--resume")) == 2


def test_progress_draws_in_place_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    Progress(stream).batch(1, 10, 3, 3, 12345.0, -0.5, 0.7, 4.0)
    text = stream.getvalue()
    assert text.startswith("\r") and "epoch 1/10" in text and "12,345 frames/s" in text
    assert "epoch ETA 4 s" in text and "best valid acc 70.00%" in text
    # the ETA says what it covers: the rest of the run, at most that where early stopping
    # can end it sooner; 3725 s = 1 h 02 min 05 s
    cases = [(65.0, "run", "run ETA 1 min 05 s"),
             (3725.0, "run_at_most", "run ETA at most 1 h 02 min")]  # fmt: skip
    for eta_s, eta_of, shown in cases:
        stream = Tty()
        Progress(stream).batch(2, 10, 1, 3, 12345.0, -0.5, 0.7, eta_s, eta_of)
        assert shown in stream.getvalue()
    plain = io.StringIO()
    Progress(plain).batch(1, 10, 3, 3, 12345.0, -0.5, 0.7, 4.0)
    assert plain.getvalue() == ""  # not a terminal: only whole-epoch lines


def test_train_init_from_starts_at_a_checkpoints_weights(tmp_path: Path) -> None:
    train = toy_sequences(4, seed=12)
    first = Trainer(tiny_config(), tiny_settings(epochs=1), train, train)
    first.run(tmp_path / "first")
    _, saved = load_checkpoint(tmp_path / "first")
    second = Trainer(
        tiny_config(), tiny_settings(init_from=str(tmp_path / "first"), seed=99), train, train
    )
    for name, tensor in saved.state_dict().items():
        assert torch.equal(second.model.state_dict()[name], tensor), name


def test_train_chains_from_silence_lower_the_exact_negative_log_likelihood(
    tmp_path: Path,
) -> None:
    # toy frames: 8 pitches on with probability 0.3 each, so the best NLL is the entropy
    # 8 * H(0.3) = 8 * 0.611 = 4.89 nats/frame, and the untrained model gives 8 ln 2 = 5.55
    train = toy_sequences(6, seed=13)
    settings = tiny_settings(epochs=10, chain_start="silence", lr=0.02)
    trainer = Trainer(tiny_config(), settings, train, train)
    v, mask = pad_batch(train)
    frames = torch.tensor(list(itertools.product([0.0, 1.0], repeat=8)))  # all 256 frames

    def nll_per_frame() -> float:
        with torch.no_grad():
            bv_t, bh_t = trainer.model.recurrence(v)
            log_z = torch.logsumexp(-trainer.model.free_energy(frames[:, None, None], bv_t, bh_t), 0)
            nll = trainer.model.free_energy(v, bv_t, bh_t) + log_z
            return float((nll * mask).sum() / mask.sum())

    before = nll_per_frame()
    trainer.run(tmp_path)
    assert before == pytest.approx(8 * math.log(2), abs=0.02)  # small random init
    assert nll_per_frame() < before - 0.3
    with pytest.raises(ValueError, match="chain_start"):
        trainer.model.cost(v, mask, 1, chain_start="noise")


def test_train_validation_by_log_likelihood_picks_the_best_epoch_by_exact_ll(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, valid = toy_sequences(8, seed=14), toy_sequences(3, seed=15)
    settings = tiny_settings(
        epochs=6, lr=0.02, valid_measure="ll", valid_sequences=2, valid_ais_temperatures=200
    )
    trainer = Trainer(tiny_config(), settings, train, valid)
    assert len(trainer.valid) == 2  # only the first valid_sequences tunes
    results = trainer.run(tmp_path)
    frames = torch.tensor(list(itertools.product([0.0, 1.0], repeat=8)))  # all 256 frames

    def exact_ll(model: torch.nn.Module) -> float:
        v, mask = pad_batch(valid[:2])
        with torch.no_grad():
            bv_t, bh_t = model.recurrence(v)
            log_z = torch.logsumexp(-model.free_energy(frames[:, None, None], bv_t, bh_t), 0)
            ll = -model.free_energy(v, bv_t, bh_t) - log_z
        return float((ll * mask).sum() / mask.sum())

    # each epoch's score is the AIS estimate of the validation LL (8 units: AIS is close)
    assert exact_ll(trainer.model) == pytest.approx(results[-1].valid_accuracy, abs=0.02)
    best = max(results, key=lambda r: r.valid_accuracy)
    assert trainer.best_epoch == best.epoch
    config, saved = load_checkpoint(tmp_path)
    assert config.training["valid_log_likelihood"] == pytest.approx(best.valid_accuracy, abs=1e-5)
    assert "valid_frame_accuracy" not in config.training
    assert "200 temperatures" in config.training["valid_method"]
    assert exact_ll(saved) == pytest.approx(best.valid_accuracy, abs=0.02)
    # the command line takes the measure too, and prints LL in nats
    data = _write_benchmark(tmp_path / "toy.json.gz")
    assert run(_args(data, tmp_path / "cli", "--epochs", "1", "--valid-measure", "ll")) == 0
    assert "valid LL -" in capsys.readouterr().err
    with pytest.raises(TrainingError, match="valid_measure"):
        tiny_settings(valid_measure="f1")


def test_train_command_chains_from_silence_sample_from_silence(tmp_path: Path) -> None:
    data = _write_benchmark(tmp_path / "toy.json.gz")
    assert run(_args(data, tmp_path / "out", "--epochs", "1", "--chain-start", "silence")) == 0
    config, _ = load_checkpoint(tmp_path / "out")
    assert config.chain_start == "silence"
    assert "all-off frame" in config.training["valid_accuracy_method"]


def test_frame_accuracy_chains_can_start_at_the_true_previous_frame() -> None:
    # A bistable RBM (hidden unit 0 holds pitches 0 and 1 on, all-off holds itself) and no
    # recurrence; every tune holds pitches 0 and 1 for 10 frames.
    model = RnnRbm(RnnRbmConfig(n_visible=4, n_hidden=2, n_recurrent=1, pitch_low=60,
                                pitch_high=64))  # fmt: skip
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        model.W[[0, 1], 0] = 20.0
        model.bv.fill_(-10.0)
        model.bh.fill_(-15.0)
    tunes = [np.tile([True, True, False, False], (10, 1)) for _ in range(3)]
    g = torch.Generator().manual_seed(0)
    assert frame_accuracy(model, tunes, 3, g) == pytest.approx(0.0, abs=1e-3)
    # from the previous frame every frame but each tune's first is right: 18 of 20 notes
    # found in 9 of 10 frames, nothing extra
    previous = frame_accuracy(model, tunes, 3, g, chain_start="previous")
    assert previous == pytest.approx(0.9, abs=1e-3)


def test_train_weight_decay_shrinks_the_weights_and_leaves_the_biases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    train = toy_sequences(4, seed=16)
    trainer = Trainer(tiny_config(), tiny_settings(lr=0.1, weight_decay=0.5), train, train)
    with torch.no_grad():
        for param in trainer.model.parameters():
            param.fill_(1.0)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    def flat_cost(v: torch.Tensor, mask: torch.Tensor, *args: object, **kwargs: object):
        # a cost whose gradient is zero: only the decay moves anything
        return sum(0.0 * p.sum() for p in trainer.model.parameters())

    monkeypatch.setattr(trainer.model, "cost", flat_cost)
    v, mask = pad_batch(train)
    trainer.train_step(v, mask)
    for name, value in trainer.model.state_dict().items():
        if name.startswith("W"):  # w <- w - lr * weight_decay * w
            assert torch.allclose(value, before[name] * (1 - 0.1 * 0.5)), name
        else:
            assert torch.equal(value, before[name]), name
    with pytest.raises(TrainingError, match="weight_decay"):
        tiny_settings(weight_decay=-1.0)


# --- the command's checks of its input and output (each bad input: a message, status 2) ---


def _stop_after_first_batch(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Make every run stop after its first batch, as after a Ctrl+C; counts the batches."""
    original = Trainer.train_step
    calls = {"n": 0}

    def step_then_stop(self: Trainer, v: torch.Tensor, mask: torch.Tensor) -> float:
        calls["n"] += 1
        value = original(self, v, mask)
        self.stop_requested = True
        return value

    monkeypatch.setattr(Trainer, "train_step", step_then_stop)
    return calls


def _count_batches(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    original = Trainer.train_step
    calls = {"n": 0}

    def counted(self: Trainer, v: torch.Tensor, mask: torch.Tensor) -> float:
        calls["n"] += 1
        return original(self, v, mask)

    monkeypatch.setattr(Trainer, "train_step", counted)
    return calls


@pytest.mark.parametrize("case", ["file", "under_a_file", "device"])
def test_train_command_refuses_an_unusable_out_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    data = _write_benchmark(tmp_path / "toy.json.gz")
    (tmp_path / "afile").write_text("the user's file")
    out = {"file": tmp_path / "afile", "under_a_file": tmp_path / "afile" / "run",
           "device": Path(os.devnull)}[case]  # fmt: skip
    batches = _count_batches(monkeypatch)
    assert run(_args(data, out, "--epochs", "1")) == 2
    assert "error:" in capsys.readouterr().err and batches["n"] == 0
    assert (tmp_path / "afile").read_text() == "the user's file"


def test_train_command_refuses_an_unwritable_out_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tempfile

    data = _write_benchmark(tmp_path / "toy.json.gz")
    out = tmp_path / "rootonly"
    out.mkdir()
    original = tempfile.mkstemp

    def no_permission(*args: object, **kwargs: object) -> tuple[int, str]:
        if Path(str(kwargs.get("dir"))) == out:  # as a folder the user may not write in
            raise PermissionError(13, "Permission denied")
        return original(*args, **kwargs)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(tempfile, "mkstemp", no_permission)
    batches = _count_batches(monkeypatch)
    assert run(_args(data, out, "--epochs", "1")) == 2
    err = capsys.readouterr().err
    assert "cannot write in --out" in err and "Permission denied" in err
    assert batches["n"] == 0  # refused before a whole epoch of training, not after


def test_train_command_keeps_an_existing_run_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write_benchmark(tmp_path / "toy.json.gz")
    out = tmp_path / "run"
    out.mkdir()  # an existing empty folder is fine
    assert run(_args(data, out, "--epochs", "1")) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == {"config.json", "weights.safetensors", RESUME_NAME}
    capsys.readouterr()
    assert run(_args(data, out, "--epochs", "1", "--seed", "5")) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume" in err and "--force" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing lost
    # a folder holding only the resume file of an interrupted run is a run too
    (out / "config.json").unlink()
    (out / "weights.safetensors").unlink()
    assert run(_args(data, out, "--epochs", "1", "--seed", "5")) == 2
    assert (out / RESUME_NAME).read_bytes() == before[RESUME_NAME]
    assert run(_args(data, out, "--epochs", "1", "--seed", "5", "--force")) == 0
    assert (out / RESUME_NAME).read_bytes() != before[RESUME_NAME]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert "--force" in parser.format_help() and "Exit status" in parser.format_help()


def test_train_command_force_removes_the_old_model_before_the_new_run_saves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A forced run stopped before its first epoch ends must not leave the old model's
    # config.json and weights beside its own resume file (evaluate would score the old one).
    data = _write_benchmark(tmp_path / "toy.json.gz")
    out = tmp_path / "run"
    assert run(_args(data, out, "--epochs", "1")) == 0
    original = _ctrl_c_after_batch(monkeypatch, 1)
    assert run(_args(data, out, "--epochs", "1", "--force", "--hidden", "7")) == 130
    assert sorted(p.name for p in out.iterdir()) == [RESUME_NAME]
    monkeypatch.setattr(Trainer, "train_step", original)
    assert run(_args(data, out, "--resume", "--hidden", "7")) == 0
    config, _ = load_checkpoint(out)
    assert config.n_hidden == 7  # the new run's model, not the old one


def test_train_command_names_a_resume_file_of_the_older_one_group_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    data = _write_benchmark(tmp_path / "toy.json.gz")
    out = tmp_path / "run"
    assert run(_args(data, out, "--epochs", "1")) == 0
    resume = out / RESUME_NAME
    with safe_open(str(resume), framework="pt") as handle:
        metadata = handle.metadata()
    state = json.loads(metadata["state"])
    assert len(state["param_groups"]) == 2
    first, second = state["param_groups"]
    # before weight decay of the weights only, one group held every parameter
    state["param_groups"] = [{**first, "params": first["params"] + second["params"]}]
    save_file(load_file(str(resume)), str(resume), metadata={**metadata, "state": json.dumps(state)})
    capsys.readouterr()
    assert run(_args(data, out, "--resume")) == 2
    err = capsys.readouterr().err
    assert "written by an older version of the app" in err and "--init-from" in err
    assert "damaged" not in err


@pytest.mark.parametrize("when", ["ctrl_c", "epoch_end"])
def test_train_command_reports_a_full_disk_and_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], when: str
) -> None:
    import errno

    data = _write_benchmark(tmp_path / "toy.json.gz")
    out = tmp_path / "run"
    kept = b""
    if when == "ctrl_c":  # an interrupted run, resumed and interrupted again on a full disk
        with monkeypatch.context() as m:
            _stop_after_first_batch(m)
            assert run(_args(data, out, "--epochs", "2")) == 130
        kept = (out / RESUME_NAME).read_bytes()
        _stop_after_first_batch(monkeypatch)

    real_fsync, synced = os.fsync, []

    def disk_full(fd: int) -> None:
        synced.append(fd)
        if len(synced) == 1:  # the room probe before training passes; the disk fills later
            return real_fsync(fd)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    capsys.readouterr()
    extra = ("--resume",) if when == "ctrl_c" else ("--epochs", "1")
    assert run(_args(data, out, *extra)) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "continue with --resume" not in err
    # no temporary or half-written file; the resume file written before is unchanged
    names = sorted(p.name for p in out.iterdir())
    if when == "ctrl_c":
        assert names == [RESUME_NAME] and (out / RESUME_NAME).read_bytes() == kept
    else:
        assert names == []


def test_train_command_finds_a_full_disk_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An empty probe file can be made on a full disk; the checkpoint could not, an epoch
    # (minutes) later. The probe writes as much as a checkpoint and a resume file take.
    import errno

    from composer_app.ml import train as train_module

    data = _write_benchmark(tmp_path / "toy.json.gz")
    out = tmp_path / "run"
    steps: list[int] = []
    real_step = train_module.Trainer.train_step
    monkeypatch.setattr(
        train_module.Trainer, "train_step",
        lambda self, *a: steps.append(1) or real_step(self, *a),
    )  # fmt: skip

    def disk_full(_fd: int, _data) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full)
    capsys.readouterr()
    assert run(_args(data, out, "--epochs", "1")) == 2
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert f"cannot write in --out {out}: No space left on device" in err
    assert steps == []  # not one batch trained for nothing
    assert sorted(p.name for p in out.iterdir()) == []


def _tamper(out: Path, change: str) -> None:
    """Edit the resume file in ``out`` the way a damaged or hand-edited one could be."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    path = out / RESUME_NAME
    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    state = json.loads(metadata["state"])
    if change == "resume_is_dir":
        path.unlink()
        path.mkdir()
        return
    edits = {
        "no_rng": lambda: tensors.pop("rng.torch"),
        "rng_short": lambda: tensors.update({"rng.torch": tensors["rng.torch"][:100].clone()}),
        "nokey_epoch": lambda: state.pop("epoch"),
        "epoch_str": lambda: state.update(epoch="1"),
        "settings_extra": lambda: state["settings"].update(bogus=1),
        "settings_clip_str": lambda: state["settings"].update(clip_norm="x"),
        "rngstate_bad": lambda: state.update(epoch_rng_state={"bit_generator": "PCG64", "state": 5}),
        "opt_shape": lambda: tensors.update({"opt.0.exp_avg": torch.zeros(3)}),
        "lr_str": lambda: state["param_groups"][0].update(lr="fast"),
        "history_str": lambda: state.update(history="none"),
        "config_huge": lambda: state["config"].update(n_hidden=10**12),
        "epoch_time_neg": lambda: state.update(epoch_time_s=-1.0),
    }
    edits[change]()
    save_file(tensors, str(path), metadata={**metadata, "state": json.dumps(state)})


@pytest.mark.parametrize(
    "change",
    ["no_rng", "rng_short", "nokey_epoch", "epoch_str", "settings_extra", "settings_clip_str",
     "rngstate_bad", "opt_shape", "lr_str", "history_str", "config_huge", "resume_is_dir",
     "epoch_time_neg"],
)  # fmt: skip
def test_train_command_resume_names_a_damaged_run_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], change: str
) -> None:
    data = _write_benchmark(tmp_path / "toy.json.gz")
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        _stop_after_first_batch(m)
        assert run(_args(data, out, "--epochs", "2")) == 130  # stopped in epoch 1
    _tamper(out, change)
    capsys.readouterr()
    batches = _count_batches(monkeypatch)
    assert run(_args(data, out, "--resume")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and RESUME_NAME in err
    assert batches["n"] == 0  # refused while loading, not halfway through the loop


def test_train_command_init_from_names_an_absurd_size_before_building(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write_benchmark(tmp_path / "toy.json.gz")
    assert run(_args(data, tmp_path / "first", "--epochs", "1")) == 0
    config_path = tmp_path / "first" / "config.json"
    document = json.loads(config_path.read_text())
    document["n_hidden"] = 10**12  # 10**12 x 88 float32 weights: 352 TB
    config_path.write_text(json.dumps(document))
    capsys.readouterr()
    assert run(_args(data, tmp_path / "second", "--init-from", str(tmp_path / "first"))) == 2
    err = capsys.readouterr().err
    assert "'n_hidden'" in err and "weights.safetensors" in err
    assert not (tmp_path / "second").exists()


def test_trainer_refuses_a_model_too_large_before_allocating_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import composer_app.ml.train as train_module

    monkeypatch.setattr(train_module, "MAX_PARAMETERS", 100)  # the tiny model has 8*6+... > 100
    train = toy_sequences(2, seed=17)
    with pytest.raises(TrainingError, match="too large"):
        Trainer(tiny_config(), tiny_settings(), train, train)


def _write_splits(path: Path, train: list[list[list[int]]], valid: list[list[list[int]]]) -> Path:
    document = {"train": train, "valid": valid, "test": []}
    path.write_bytes(gzip.compress(json.dumps(document).encode()))
    return path


@pytest.mark.parametrize("case", ["no_train", "empty_tunes", "transposed_off", "no_valid",
                                  "empty_valid_tunes"])  # fmt: skip
def test_train_command_refuses_data_with_nothing_to_train_or_validate_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    tune = [[60, 64], [62], [64, 67], [65]] * 5  # 20 frames
    splits = {
        "no_train": ([], [tune]),
        "empty_tunes": ([[], []], [tune]),
        "transposed_off": ([tune, tune], [tune]),
        "no_valid": ([tune, tune], []),
        "empty_valid_tunes": ([tune, tune], [[]]),
    }[case]
    data = _write_splits(tmp_path / "toy.json.gz", *splits)
    # +80 semitones moves MIDI 60..67 above the 88 keys: every tune would be dropped
    extra = ("--transpose", "80") if case == "transposed_off" else ()
    batches = _count_batches(monkeypatch)
    assert run(_args(data, tmp_path / "out", "--epochs", "1", *extra)) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "100.00%" not in err and batches["n"] == 0
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--lr", "nan"), ("--lr", "inf"), ("--lr", "1e308"), ("--lr", "-1"),
        ("--lr-decay", "nan"), ("--lr-decay", "inf"), ("--lr-decay", "-1"), ("--lr-decay", "2"),
        ("--clip", "nan"), ("--clip", "inf"), ("--clip", "-1"),
        ("--weight-decay", "nan"), ("--weight-decay", "inf"), ("--weight-decay", "-1"),
        ("--max-minutes", "nan"), ("--max-minutes", "-1"),
        ("--step-beats", "0"), ("--step-beats", "nan"), ("--step-beats", "-1"),
        ("--valid-gibbs", "0"), ("--valid-gibbs", "-3"),
        ("--patience", "0"), ("--patience", "-5"), ("--decay-patience", "-1"),
        ("--threads", "100000"), ("--threads", "0"),
        ("--hidden", "99999999999"), ("--recurrent", "100001"), ("--batch-size", "100001"),
        ("--window", "0"), ("--epochs", "0"), ("--seed", "-1"), ("--valid-sequences", "-1"),
        ("--valid-ais-chains", "0"), ("--transpose", "5..-5"), ("--transpose", "1000"),
        ("--transpose", "-200..0"), ("--transpose", ","),
    ],
)  # fmt: skip
def test_train_options_are_checked_when_parsed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _args(tmp_path / "toy.json.gz", tmp_path / "out", f"{option}={value}")
    assert exit_info.value.code == 2
    assert f"argument {option}:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "setting",
    [{"patience": 0}, {"decay_patience": -1}, {"threads": 100000}, {"lr": math.inf},
     {"lr_decay": math.inf}, {"clip_norm": -1.0}, {"max_minutes": math.nan},
     {"valid_gibbs_steps": 0}, {"epochs": "3"}, {"transpose": []}, {"chain_start": "noise"}],
)  # fmt: skip
def test_train_settings_refuse_values_outside_their_range(setting: dict[str, object]) -> None:
    with pytest.raises(TrainingError, match=next(iter(setting))):
        tiny_settings(**setting)


# --- what the command tells: frame length, speed, ETA, --out, the commands of a run ---------


@pytest.mark.parametrize(
    ("file_name", "extra", "said"),
    [
        ("chorales.json.gz", (),
         "frames of 0.5 beats (an eighth note), as the Nottingham, MuseData and Piano-midi.de "
         "files are sampled (guessed from the name 'chorales.json.gz'); give --step-beats 1.0 "
         "if these are JSB Chorales (sampled every quarter note)"),
        ("jsb_small.json.gz", (),
         "frames of 1 beat (a quarter note), as the JSB Chorales file is sampled (guessed from "
         "'jsb' in the name 'jsb_small.json.gz'); give --step-beats 0.5 if these are Nottingham"),
        ("jsb_small.json.gz", ("--step-beats", "0.25"),
         "frames of 0.25 beats (a sixteenth note), as --step-beats declares: the step "
         "jsb_small.json.gz's frames were sampled at (a benchmark file is not resampled"),
    ],
)  # fmt: skip
def test_train_command_says_which_frame_length_it_uses_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], file_name: str, extra: tuple[str, ...],
    said: str,
) -> None:  # fmt: skip
    # A benchmark file carries no resolution: the step is guessed from its name, or declared
    # by --step-beats, and generation plays one frame per step, so the user must see it.
    data = _write_benchmark(tmp_path / file_name)
    out = tmp_path / "out"
    assert run(_args(data, out, "--epochs", "1", *extra)) == 0
    err = capsys.readouterr().err
    assert err.startswith(said)  # the first line, before the training
    config, _ = load_checkpoint(out)
    assert config.step_beats == (0.25 if extra else 1.0 if "jsb" in file_name else 0.5)
    source = config.training["step_beats_source"]
    assert source == ("--step-beats" if extra else said.split("(")[2].split(")")[0])
    # a resumed run keeps its own step: nothing is guessed again
    assert run(_args(data, out, "--resume", "--epochs", "2")) == 0
    assert "frames of" not in capsys.readouterr().err


def test_train_step_beats_help_and_midi_folder_line_say_what_the_step_does(
    tmp_path: Path,
) -> None:
    from composer_app.ml.train import _step_text

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    help_text = " ".join(parser.format_help().split())
    assert "is not resampled: this declares the step its frames were sampled at" in help_text
    assert "A MIDI folder is sampled at this step" in help_text
    assert _step_text(tmp_path, 0.25, "--step-beats") == (
        "frames of 0.25 beats (a sixteenth note): the MIDI files are sampled at this step "
        "(--step-beats)"
    )


class _FakeClock:
    """``time`` for the train module: ``perf_counter`` moves only when a test says (1 s per
    batch, 0.5 s per validation), so times and speeds are exact."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from composer_app.ml import train as train_module

        self.now_s = 0.0
        monkeypatch.setattr(
            train_module, "time",
            types.SimpleNamespace(perf_counter=lambda: self.now_s, monotonic=time.monotonic),
        )  # fmt: skip
        step, accuracy = Trainer.train_step, train_module.frame_accuracy

        def timed_step(trainer: Trainer, v: torch.Tensor, mask: torch.Tensor) -> float:
            self.now_s += 1.0
            return step(trainer, v, mask)

        def timed_accuracy(*args: object, **kwargs: object) -> float:
            self.now_s += 0.5
            return accuracy(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Trainer, "train_step", timed_step)
        monkeypatch.setattr(train_module, "frame_accuracy", timed_accuracy)


class _RecordedProgress(Progress):
    """Keeps every batch report (epoch, batch, batches in the epoch, frames/s, ETA, what the
    ETA covers) and writes the epoch lines to a string."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.batches: list[tuple[int, int, int, float, float, str]] = []

    def batch(
        self, epoch: int, epochs: int, batch: int, batches: int, frames_per_s: float,
        cost: float, best_accuracy: float, eta_s: float, eta_of: str = "epoch",
    ) -> None:  # fmt: skip
        self.batches.append((epoch, batch, batches, frames_per_s, eta_s, eta_of))


def test_train_epoch_time_and_speed_cover_the_whole_epoch_across_a_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    _FakeClock(monkeypatch)
    train, valid = toy_sequences(12, seed=1), toy_sequences(3, seed=2)
    n = len(Trainer(tiny_config(), tiny_settings(), train, valid)._epoch_batches())
    assert n >= 3
    whole = Trainer(tiny_config(), tiny_settings(epochs=1), train, valid)
    progress = _RecordedProgress()
    [result] = whole.run(tmp_path / "whole", progress)
    # n batches of 1 s each, then 0.5 s of validation, which frames/s leaves out
    assert (result.time_s, result.valid_time_s) == (n, 0.5)
    speed = f"{result.frames / n:,.0f} frames/s {n:.1f} s + valid 0.5 s"
    assert speed in progress.stream.getvalue()  # type: ignore[attr-defined]
    assert progress.batches[-1][3] == result.frames / n  # the bar's last speed: the same
    # stopped one batch before the epoch ends, then resumed: the epoch took as long
    part = Trainer(tiny_config(), tiny_settings(epochs=1, stop_after_batches=n - 1), train, valid)
    part.run(tmp_path / "part")
    assert Trainer.resume_state(tmp_path / "part")["epoch_time_s"] == n - 1
    part = Trainer.from_resume(tmp_path / "part", train, valid, {"stop_after_batches": 0})
    progress = _RecordedProgress()
    part.run(tmp_path / "part", progress)
    assert part.history[0]["time_s"] == n and part.history[0]["frames"] == result.frames
    assert speed in progress.stream.getvalue()  # type: ignore[attr-defined]
    assert progress.batches == [(1, n, n, result.frames / n, 0.0, "epoch")]
    # a resume file from before the epoch's time was kept: resumed, that time counts as 0
    part = Trainer(tiny_config(), tiny_settings(epochs=1, stop_after_batches=n - 1), train, valid)
    part.run(tmp_path / "old")
    resume = tmp_path / "old" / RESUME_NAME
    with safe_open(str(resume), framework="pt") as handle:
        metadata = handle.metadata()
    state = json.loads(metadata["state"])
    del state["epoch_time_s"]
    save_file(load_file(str(resume)), str(resume), metadata={**metadata, "state": json.dumps(state)})
    part = Trainer.from_resume(tmp_path / "old", train, valid, {"stop_after_batches": 0})
    assert part.epoch_time_s == 0.0
    part.run(tmp_path / "old")
    assert part.history[0]["time_s"] == 1.0  # the one batch timed after the resume


def test_train_eta_covers_the_rest_of_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _FakeClock(monkeypatch)
    train, valid = toy_sequences(12, seed=1), toy_sequences(3, seed=2)

    def etas(out: str, **settings: object) -> dict[tuple[int, int], tuple[float, str]]:
        progress = _RecordedProgress()
        Trainer(tiny_config(), tiny_settings(**settings), train, valid).run(
            tmp_path / out, progress
        )
        for epoch, _, batches, *_ in progress.batches:
            n[epoch] = batches
        return {(epoch, batch): (eta_s, eta_of)
                for epoch, batch, _, _, eta_s, eta_of in progress.batches}  # fmt: skip

    # epoch e has n[e] batches of 1 s (the random windows vary), then 0.5 s of validation
    n: dict[int, int] = {}
    eta = etas("three", epochs=3, patience=20)
    # in epoch 1 no whole epoch is measured yet: the ETA is this epoch's batches, and says so
    assert eta[1, 1] == (n[1] - 1, "epoch")
    # epoch 2, batch 1: its n[2] - 1 batches and validation, then epoch 3 as long as epoch 1
    assert eta[2, 1] == ((n[2] - 1) + 0.5 + (n[1] + 0.5), "run")
    assert eta[3, 1] == ((n[3] - 1) + 0.5, "run")  # the last epoch: its own rest only
    # patience 1: the run can stop after epoch 2, so the ETA is an upper bound
    assert etas("patient", epochs=3, patience=1)[2, 1][1] == "run_at_most"
    # --max-minutes that epoch 3 passes (0.5 s into its batches): the run ends after epoch 3,
    # not after 10 epochs; at epoch 2, batch 1 that is epoch 2's rest and one epoch away
    limit_s = (n[1] + 0.5) + (n[2] + 0.5) + 0.5
    eta = etas("limited", epochs=10, patience=20, max_minutes=limit_s / 60)
    assert eta[2, 1] == (pytest.approx((n[2] - 1) + 0.5 + (n[1] + 0.5)), "run")
    assert max(epoch for epoch, _ in eta) == 3


def test_run_eta_adds_the_later_epochs_up_to_the_time_limit() -> None:
    assert run_eta_s(2.0, 3.0, 10) == 2 + 10 * 3
    # 10 s left of --max-minutes: after this epoch (2 s), 3 epochs of 3 s pass it
    assert run_eta_s(2.0, 3.0, 10, limit_left_s=10.0) == 2 + 3 * 3
    assert run_eta_s(2.0, 3.0, 10, limit_left_s=1.0) == 2  # the limit passes in this epoch
    assert run_eta_s(2.0, 3.0, 2, limit_left_s=100.0) == 2 + 2 * 3  # the epochs end first


def test_train_command_refuses_an_out_folder_holding_other_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write_benchmark(tmp_path / "toy.json.gz")
    out = tmp_path / "project"
    out.mkdir()
    for name in ("notes.txt", "a.mid", "b.mid", "data.json.gz"):
        (out / name).write_text("the user's")
    (out / "sub").mkdir()
    before = sorted(p.name for p in out.iterdir())
    batches = _count_batches(monkeypatch)
    assert run(_args(data, out, "--epochs", "1")) == 2
    err = capsys.readouterr().err
    assert f"--out {out} is not empty (it holds a.mid, b.mid, data.json.gz and 2 more)" in err
    assert "--force" in err and batches["n"] == 0
    assert sorted(p.name for p in out.iterdir()) == before
    # --force writes the run beside them and leaves them alone
    assert run(_args(data, out, "--epochs", "1", "--force")) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*before, "config.json", "weights.safetensors", RESUME_NAME]
    )
    assert (out / "notes.txt").read_text() == "the user's"
    # hidden files (a file manager's, a run's temporary files) do not count
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / ".DS_Store").write_text("")
    assert run(_args(data, hidden, "--epochs", "1")) == 0
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert "other files are left alone" in " ".join(parser.format_help().split())


def test_train_command_records_each_resume_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _write_benchmark(tmp_path / "toy.json.gz")
    out = tmp_path / "run"

    def train(*extra: str) -> int:
        argv = ["--data", str(data), "--out", str(out), *extra]
        monkeypatch.setattr(sys, "argv", ["composer-app", "train", *argv])
        return run(_args(data, out, *extra))

    with monkeypatch.context() as m:
        _stop_after_first_batch(m)
        assert train("--epochs", "1") == 130  # stopped after batch 1 of epoch 1
    assert train("--resume") == 0
    assert train("--resume") == 0  # finished: nothing trained, nothing recorded
    assert train("--resume", "--epochs", "2") == 0
    first = f"composer-app train --data {data} --out {out}"
    resumed = [
        {"command": f"{first} --resume", "epoch": 1, "batch": 2},
        {"command": f"{first} --resume --epochs 2", "epoch": 2, "batch": 1},
    ]
    training = Trainer.resume_state(out)["config"]["training"]
    assert training["command"] == f"{first} --epochs 1"  # the run's first command
    assert training["resumed"] == resumed
    # config.json got them with its last better epoch (epoch 1 is always the best so far)
    config, _ = load_checkpoint(out)
    assert config.training["command"] == f"{first} --epochs 1"
    assert config.training["resumed"] == resumed[: 2 if config.training["best_epoch"] == 2 else 1]


def test_train_reads_the_papers_pickle_whatever_the_case_of_its_suffix(tmp_path: Path) -> None:
    # evaluate read Nottingham.PICKLE; train sent it to the JSON reader and refused it
    import pickle

    from composer_app.ml.train import load_training_data

    sequence = [[60, 64], [62], [64, 67], [65]] * 4
    path = tmp_path / "Nottingham.PICKLE"
    path.write_bytes(pickle.dumps({"train": [sequence] * 2, "valid": [sequence],
                                   "test": [sequence]}, protocol=2))
    splits, skipped, normalization = load_training_data(path, 0.5, None, False, 0)
    assert len(splits["train"]) == 2 and splits["train"][0].shape[0] == 16
    assert skipped == [] and normalization == "C major/C minor"


def test_train_load_training_data_says_a_midi_folder_was_moved_by_estimated_keys(
    tmp_path: Path,
) -> None:
    # its pieces are moved into C by their estimated keys, the benchmark data by their key
    # signatures: the config says which, so that generation moves seeds the same way
    from composer_app.core.note import Note
    from composer_app.core.score import Score
    from composer_app.midi.files import read_mid, write_mid
    from composer_app.ml.data import ESTIMATED_KEY_NORMALIZATION
    from composer_app.ml.train import load_training_data

    for i in range(3):
        score = Score()
        score.add_many(Note(j * 240, 62 + (j * 2) % 12, 240) for j in range(16))
        write_mid(score, tmp_path / f"tune{i}.mid")
    _splits, _skipped, normalization = load_training_data(tmp_path, 0.5, read_mid, True, 0)
    assert normalization == ESTIMATED_KEY_NORMALIZATION
    assert load_training_data(tmp_path, 0.5, read_mid, False, 0)[2] == "none"

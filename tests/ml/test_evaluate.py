"""Tests of the evaluation measures (ACC, LL) and the ``evaluate`` command."""

from __future__ import annotations

import errno
import gzip
import itertools
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from composer_app import cli
from composer_app.ml.ais import ais_log_weights, linear_schedule, log_partition_exact
from composer_app.ml.checkpoint import save_checkpoint
from composer_app.ml.evaluate import (
    FrameBiases,
    accuracy_counts,
    bracket_verdict,
    expected_accuracy,
    frame_accuracy,
    frame_biases,
    log_likelihood,
)
from composer_app.ml.generate import FrameGenerator, RnnRbmParameters
from composer_app.ml.rnnrbm import RnnRbm, RnnRbmConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_model(seed: int = 0, scale: float = 0.5) -> tuple[RnnRbmConfig, RnnRbm]:
    """An 88-pitch model with 8 hidden units (so log Z is exact by enumerating h)."""
    config = RnnRbmConfig(n_hidden=8, n_recurrent=6, dataset="test")
    model = RnnRbm(config, generator=torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=g) * scale)
        model.bv -= 3.0  # sparse frames, as in music
    return config, model


def random_rolls(lengths: list[int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    rolls = []
    for n in lengths:
        roll = np.zeros((n, 88), dtype=bool)
        roll[:, 40:52] = rng.random((n, 12)) < 0.3
        rolls.append(roll)
    return rolls


def exact_log_likelihood(model: RnnRbm, biases: FrameBiases) -> float:
    """Mean over frames of -F_t(v_t) - log Z_t with log Z_t by enumerating the 2^8 h states."""
    W = model.W.detach().double()
    bv, bh, v = biases.bv.double(), biases.bh.double(), biases.frames.double()
    neg_free = (v * bv).sum(1) + torch.nn.functional.softplus(v @ W + bh).sum(1)
    return float((neg_free - log_partition_exact(W, bv, bh)).mean())


def test_accuracy_of_perfect_predictor_is_one() -> None:
    truth = torch.from_numpy(random_rolls([50])[0])
    tp, fp, fn = accuracy_counts(truth, truth)
    assert tp == truth.sum().item() > 0 and fp == 0 and fn == 0
    assert frame_accuracy(tp, fp, fn) == 1.0


def test_accuracy_formula_on_hand_made_frames() -> None:
    truth = torch.zeros(3, 88, dtype=torch.bool)
    predicted = torch.zeros(3, 88, dtype=torch.bool)
    truth[0, [10, 20]] = True  # frame 0: truth {10, 20}, predicted {10}: TP 1, FN 1
    predicted[0, 10] = True
    truth[1, 30] = True  # frame 1: truth {30}, predicted {31, 32}: FP 2, FN 1
    predicted[1, [31, 32]] = True
    truth[2, [40, 41, 42]] = True  # frame 2: truth {40, 41, 42} = predicted: TP 3
    predicted[2, [40, 41, 42]] = True
    tp, fp, fn = accuracy_counts(predicted, truth)
    # Summed over frames: TP = 1 + 0 + 3 = 4, FP = 0 + 2 + 0 = 2, FN = 1 + 1 + 0 = 2.
    assert (tp, fp, fn) == (4.0, 2.0, 2.0)
    # ACC = 4 / (4 + 2 + 2) = 0.5
    assert frame_accuracy(tp, fp, fn) == 0.5
    # Nothing to find and nothing predicted counts as right.
    assert frame_accuracy(0.0, 0.0, 0.0) == 1.0


def test_expected_accuracy_averages_counts_over_samples() -> None:
    # W = 0: units are independent coins. Unit 0 sounds with p = sigmoid(0) = 0.5 and is in
    # every true frame; unit 1 (p = sigmoid(-log 3) = 0.25) never is; the rest never sound.
    # Per frame: E[TP] = 0.5, E[FN] = 0.5, E[FP] = 0.25 -> ACC = 0.5 / 1.25 = 0.4.
    n_frames = 2000
    frames = torch.zeros(n_frames, 88)
    frames[:, 0] = 1.0
    bv = torch.full((n_frames, 88), -40.0)
    bv[:, 0] = 0.0
    bv[:, 1] = -float(np.log(3.0))
    biases = FrameBiases(frames=frames, bv=bv, bh=torch.zeros(n_frames, 4))
    result = expected_accuracy(
        torch.zeros(88, 4),
        biases,
        n_samples=20,
        gibbs_steps=2,
        rng=0,
    )
    assert result.true_positives / n_frames == pytest.approx(0.5, abs=0.01)
    assert result.false_positives / n_frames == pytest.approx(0.25, abs=0.01)
    assert result.false_negatives / n_frames == pytest.approx(0.5, abs=0.01)
    assert result.accuracy == pytest.approx(0.4, abs=0.01)


def test_thresholded_accuracy_predicts_the_notes_of_probability_one_half_or_more() -> None:
    # W = 0: independent units, p(v_i = 1 | h) = sigmoid(bv_i) whatever h is. Every true
    # frame holds units 0 and 1. Unit 0 (p 0.6) is predicted and right: TP; unit 1 (p 0.4)
    # is not predicted: FN; unit 2 (p 0.7) is predicted and wrong: FP -> ACC 1/3.
    n_frames = 1000
    frames = torch.zeros(n_frames, 88)
    frames[:, [0, 1]] = 1.0
    bv = torch.full((n_frames, 88), -40.0)
    bv[:, 0] = float(np.log(0.6 / 0.4))
    bv[:, 1] = float(np.log(0.4 / 0.6))
    bv[:, 2] = float(np.log(0.7 / 0.3))
    biases = FrameBiases(frames=frames, bv=bv, bh=torch.zeros(n_frames, 4))
    result = expected_accuracy(torch.zeros(88, 4), biases, n_samples=20, gibbs_steps=2, rng=0)
    assert result.thresholded_accuracy == pytest.approx(1 / 3)
    # sampled, per frame: E[TP] = 0.6 + 0.4, E[FN] = 0.4 + 0.6, E[FP] = 0.7
    assert result.accuracy == pytest.approx(1.0 / 2.7, abs=0.01)


def test_expected_accuracy_of_confident_true_model_is_one() -> None:
    truth = torch.from_numpy(random_rolls([300], seed=3)[0]).float()
    # Biases of +-20 on the true notes: every Gibbs sample reproduces the frame.
    biases = FrameBiases(frames=truth, bv=(truth * 2 - 1) * 20.0, bh=torch.zeros(300, 5))
    result = expected_accuracy(torch.zeros(88, 5), biases, n_samples=20, gibbs_steps=3)
    assert result.accuracy == 1.0
    assert result.thresholded_accuracy == 1.0


def test_expected_accuracy_chains_can_start_at_the_true_previous_frame() -> None:
    # A bistable RBM: hidden unit 0 holds pitches 0 and 1 on, hidden unit 1 pitches 2 and 3;
    # all-off is stable too (every switch has p ~ e^-10). A chain from the true previous
    # frame stays in its mode; one from silence stays silent.
    W = torch.zeros(88, 2)
    W[[0, 1], 0] = 20.0
    W[[2, 3], 1] = 20.0
    rows = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]).float()
    frames = torch.zeros(4, 88)
    frames[:, :4] = rows
    previous = torch.zeros(4, 88)
    previous[1:] = frames[:-1]  # frames 1 and 3 repeat the frame before; 0 and 2 do not
    biases = FrameBiases(
        frames=frames, bv=torch.full((4, 88), -10.0), bh=torch.full((4, 2), -30.0),
        previous=previous,
    )  # fmt: skip
    silence = expected_accuracy(W, biases, n_samples=20, gibbs_steps=5, rng=0)
    assert silence.chain_start == "silence" and silence.accuracy == 0.0
    result = expected_accuracy(W, biases, n_samples=20, gibbs_steps=5, rng=0, chain_start="previous")
    # frame 0 starts all-off (predicts nothing), frame 1 right, frame 2 starts in the wrong
    # mode (2 FP, 2 FN), frame 3 right: TP 4, FP 2, FN 4
    assert (result.true_positives, result.false_positives, result.false_negatives) == (4, 2, 4)
    assert result.accuracy == pytest.approx(0.4) and result.chain_start == "previous"
    with pytest.raises(ValueError, match="chain_start"):
        expected_accuracy(W, biases, chain_start="noise")
    with pytest.raises(ValueError, match="previous frames"):
        expected_accuracy(W, FrameBiases(frames, biases.bv, biases.bh), chain_start="previous")


def test_frame_biases_match_step_by_step_recurrence() -> None:
    _, model = tiny_model()
    rolls = random_rolls([7, 3, 12])
    biases = frame_biases(model, rolls)
    assert biases.n_frames == 22
    params = RnnRbmParameters.from_model(model)
    row = 0
    for roll in rolls:  # the split's order is kept
        start = row
        gen = FrameGenerator(params)
        for frame in roll:
            bv_t, bh_t = gen.conditional_biases
            np.testing.assert_allclose(biases.bv[row].numpy(), bv_t, atol=1e-5)
            np.testing.assert_allclose(biases.bh[row].numpy(), bh_t, atol=1e-5)
            np.testing.assert_array_equal(biases.frames[row].numpy(), frame)
            before = roll[row - start - 1] if row > start else np.zeros(88, dtype=bool)
            np.testing.assert_array_equal(biases.previous[row].numpy(), before)
            gen.advance(frame)
            row += 1


def test_log_likelihood_matches_exact_on_tiny_model() -> None:
    _, model = tiny_model()
    biases = frame_biases(model, random_rolls([40, 25], seed=1))
    exact = exact_log_likelihood(model, biases)
    result = log_likelihood(model.W, biases, n_temperatures=300, n_chains=20, n_runs=2)
    assert len(result.per_run) == 2 and result.n_frames == 65
    assert result.mean == pytest.approx(exact, abs=0.02)
    assert result.std < 0.02
    assert exact < -1.0  # a real, not a trivial, likelihood
    assert result.reverse_per_run == []  # only when asked for
    # the same weighted chains give the model's own expected accuracy
    expected = exact_expected_accuracy(model, biases)
    assert len(result.accuracy_per_run) == 2
    assert expected > 0.01  # random frames under a sparse model: low, but not nothing
    for accuracy in result.accuracy_per_run:
        assert accuracy == pytest.approx(expected, rel=0.05)


def test_reverse_ais_bounds_the_log_likelihood_from_below() -> None:
    # Frames drawn from each frame's own conditional RBM (exactly, by enumerating h): on
    # the model's own samples reverse AIS is conservative in expectation.
    _, model = tiny_model(seed=3)
    teacher = frame_biases(model, random_rolls([40, 25], seed=2))
    W = model.W.detach().double()
    states = torch.tensor(list(itertools.product([0.0, 1.0], repeat=W.shape[1])), dtype=W.dtype)
    x = teacher.bv.double()[:, None, :] + (states @ W.T)[None]  # (N, 2^H, P)
    log_p_h = states @ teacher.bh.double().T + torch.nn.functional.softplus(x).sum(-1).T
    g = torch.Generator().manual_seed(4)
    h_index = torch.multinomial(torch.softmax(log_p_h, dim=0).T, 1, generator=g)[:, 0]
    p_v = torch.sigmoid(x[torch.arange(len(h_index)), h_index])
    frames = (torch.rand(p_v.shape, generator=g, dtype=p_v.dtype) < p_v).float()
    biases = FrameBiases(frames=frames, bv=teacher.bv, bh=teacher.bh)
    exact = exact_log_likelihood(model, biases)
    fine = log_likelihood(model.W, biases, n_temperatures=300, n_chains=20, n_runs=2, reverse=True)
    assert len(fine.reverse_per_run) == 2
    assert fine.reverse_mean == pytest.approx(exact, abs=0.02)
    assert fine.mean == pytest.approx(exact, abs=0.02)
    # too few temperatures: forward AIS flatters, reverse AIS is conservative
    coarse = log_likelihood(model.W, biases, n_temperatures=3, n_chains=2, n_runs=1, reverse=True)
    assert coarse.mean > exact + 0.05
    assert coarse.reverse_mean < exact - 0.05


def test_bracket_verdict_says_which_bound_holds() -> None:
    inside = bracket_verdict(-2.31, -2.30)
    assert "lies between -2.3100 and -2.3000" in inside and "0.0100" in inside
    crossed = bracket_verdict(-2.60, -2.70)
    assert "not conservative" in crossed and "LL <= -2.7000" in crossed and "0.1000" in crossed


def test_accuracy_by_ais_weights_corrects_chains_that_did_not_anneal() -> None:
    # Strong weights and a single temperature (plain importance sampling from the
    # independent units): the chains' final states are far from the RBMs' distributions,
    # and only their importance weights (many chains) correct that.
    g = torch.Generator().manual_seed(5)
    W = torch.randn(88, 6, generator=g) * 1.5
    W[12:] = 0.0  # 12 active pitches, the rest off (bias -30)
    n = 4
    bv = torch.full((n, 88), -30.0)
    bv[:, :12] = torch.randn(n, 12, generator=g) - 1.0
    bh = torch.randn(n, 6, generator=g)
    frames = torch.zeros(n, 88)
    frames[:, :12] = (torch.rand(n, 12, generator=g) < 0.4).float()
    biases = FrameBiases(frames=frames, bv=bv, bh=bh)
    model = RnnRbm(RnnRbmConfig(n_hidden=6, n_recurrent=2))
    with torch.no_grad():
        model.W.copy_(W)
    expected = exact_expected_accuracy(model, biases)
    result = log_likelihood(W, biases, n_temperatures=1, n_chains=4000, n_runs=1, seed=1)
    assert result.accuracy_per_run[0] == pytest.approx(expected, abs=0.01)
    # without the weights, the same chains' final states miss by far more
    means = torch.empty(n, 4000, 88)
    ais_log_weights(W, bv, bh, betas=linear_schedule(1), n_chains=4000, rng=1, visible_means=means)
    unweighted = frame_accuracy(
        float((means * frames[:, None]).sum()),
        float((means * (1 - frames[:, None])).sum()),
        float(((1 - means) * frames[:, None]).sum()),
    )
    assert abs(unweighted - expected) > 0.05


def exact_expected_accuracy(model: RnnRbm, biases: FrameBiases) -> float:
    """TP / (TP + FP + FN) of the counts expected under each frame's RBM, by enumerating h.

    p(h) is proportional to exp(h.bh + sum_i softplus(bv_i + (W h)_i)); given h the visible
    units are independent with p(v_i = 1 | h) = sigmoid(bv_i + (W h)_i).
    """
    W = model.W.detach().double()
    states = torch.tensor(list(itertools.product([0.0, 1.0], repeat=W.shape[1])), dtype=W.dtype)
    bv, bh, truth = biases.bv.double(), biases.bh.double(), biases.frames.double()
    x = bv[:, None, :] + (states @ W.T)[None]  # (N, 2^H, P)
    log_p = states @ bh.T + torch.nn.functional.softplus(x).sum(-1).T  # (2^H, N)
    p_h = torch.softmax(log_p, dim=0).T[:, :, None]  # (N, 2^H, 1)
    p_v = torch.sigmoid(x)
    tp = float((p_h * p_v * truth[:, None]).sum())
    fp = float((p_h * p_v * (1 - truth[:, None])).sum())
    fn = float((p_h * (1 - p_v) * truth[:, None]).sum())
    return tp / (tp + fp + fn)


def write_benchmark(path: Path, splits: dict[str, list[np.ndarray]]) -> None:
    document = {
        split: [[[21 + int(k) for k in np.flatnonzero(frame)] for frame in roll] for roll in rolls]
        for split, rolls in splits.items()
    }
    path.write_bytes(gzip.compress(json.dumps(document).encode()))


def test_evaluate_command_on_tiny_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config, model = tiny_model(seed=2)
    save_checkpoint(tmp_path / "model", config, model)
    test_rolls = random_rolls([30, 20], seed=5)
    data = tmp_path / "tiny.json.gz"
    write_benchmark(
        data, {"train": random_rolls([5]), "valid": random_rolls([5]), "test": test_rolls}
    )
    out = tmp_path / "results.json"
    status = cli.main(
        [
            "evaluate",
            str(tmp_path / "model"),
            "--data",
            str(data),
            "--split",
            "test",
            "--acc-samples",
            "20",
            "--gibbs-steps",
            "5",
            "--ais-temperatures",
            "300",
            "--ais-chains",
            "20",
            "--ais-runs",
            "3",
            "--json",
            str(out),
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "ACC" in printed and "LL" in printed and "50 frames" in printed
    assert "deterministic prediction" in printed
    results = json.loads(out.read_text())
    assert results["frames"] == 50
    assert 0.0 < results["accuracy"]["accuracy"] < 1.0
    assert 0.0 < results["accuracy"]["thresholded_accuracy"] <= 1.0
    assert results["accuracy"]["n_samples"] == 20 and results["accuracy"]["gibbs_steps"] == 5
    assert results["accuracy"]["chain_start"] == "silence"  # the model's setting
    assert "from the all-off frame" in printed
    ll = results["log_likelihood"]
    assert len(ll["per_run"]) == 3
    exact = exact_log_likelihood(model, frame_biases(model, test_rolls))
    assert ll["mean"] == pytest.approx(exact, abs=0.03)
    assert ll["reverse_mean"] is None  # reverse AIS only with --reverse-ais


def test_evaluate_command_brackets_ll_with_reverse_ais(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config, model = tiny_model(seed=4)
    save_checkpoint(tmp_path / "model", config, model)
    test_rolls = random_rolls([30], seed=6)
    data = tmp_path / "tiny.json.gz"
    write_benchmark(data, {"train": [], "valid": [], "test": test_rolls})
    out = tmp_path / "results.json"
    arguments = ["evaluate", str(tmp_path / "model"), "--data", str(data), "--no-acc"]
    arguments += ["--ais-temperatures", "200", "--ais-chains", "10", "--ais-runs", "2"]
    status = cli.main([*arguments, "--reverse-ais", "--json", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "LL by reverse AIS" in printed
    assert ("lies between" in printed) != ("not conservative" in printed)  # one verdict
    ll = json.loads(out.read_text())["log_likelihood"]
    assert len(ll["reverse_per_run"]) == 2
    exact = exact_log_likelihood(model, frame_biases(model, test_rolls))
    assert ll["reverse_mean"] == pytest.approx(exact, abs=0.03)


def test_evaluate_command_reports_bad_model_and_data(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "tiny.json.gz"
    write_benchmark(data, {"train": [], "valid": [], "test": random_rolls([4])})
    status = cli.main(["evaluate", str(tmp_path / "nowhere"), "--data", str(data)])
    assert status == 2
    assert "cannot load the model" in capsys.readouterr().err
    config, model = tiny_model()
    save_checkpoint(tmp_path / "model", config, model)
    status = cli.main(["evaluate", str(tmp_path / "model"), "--data", str(tmp_path / "none.gz")])
    assert status == 2
    assert "none.gz" in capsys.readouterr().err
    status = cli.main(
        ["evaluate", str(tmp_path / "model"), "--data", str(data), "--split", "valid"]
    )
    assert status == 2
    assert "has no frames" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:  # refused by the parser
        cli.main(["evaluate", str(tmp_path / "model"), "--data", str(data), "--ais-chains", "0"])
    assert stopped.value.code == 2
    assert "--ais-chains: must be at least 1, got 0" in capsys.readouterr().err


def test_resolve_model_dir_prefers_folder_then_shipped_name(tmp_path: Path) -> None:
    from composer_app.ml.evaluate import resolve_model_dir

    def shipped(name: str) -> Path:
        return tmp_path / "models" / name

    folder = tmp_path / "mine"
    folder.mkdir()
    assert resolve_model_dir(str(folder), shipped) == folder
    assert resolve_model_dir("nottingham", shipped) == tmp_path / "models" / "nottingham"
    # A path that is not a folder stays a path (and fails to load with its own name).
    assert resolve_model_dir("runs/missing", shipped) == Path("runs/missing")
    assert resolve_model_dir("nottingham", None) == Path("nottingham")


def test_evaluate_command_samples_from_where_the_model_starts_its_chains(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config, model = tiny_model(seed=4)
    config.chain_start = "previous"
    save_checkpoint(tmp_path / "model", config, model)
    data = tmp_path / "tiny.json.gz"
    write_benchmark(data, {"train": [], "valid": [], "test": random_rolls([30], seed=6)})
    args = ["evaluate", str(tmp_path / "model"), "--data", str(data), "--no-ll", "--json"]
    assert cli.main([*args, str(tmp_path / "a.json")]) == 0
    assert "from the previous frame" in capsys.readouterr().out
    assert json.loads((tmp_path / "a.json").read_text())["accuracy"]["chain_start"] == "previous"
    assert cli.main([*args, str(tmp_path / "b.json"), "--chain-start", "silence"]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["accuracy"]["chain_start"] == "silence"


def _tiny_evaluation(tmp_path: Path) -> list[str]:
    """Arguments of a quick evaluation of a tiny model on one short sequence."""
    config, model = tiny_model()
    save_checkpoint(tmp_path / "model", config, model)
    data = tmp_path / "tiny.json.gz"
    write_benchmark(data, {"train": [], "valid": [], "test": random_rolls([6, 4])})
    return ["evaluate", str(tmp_path / "model"), "--data", str(data), "--acc-samples", "1",
            "--gibbs-steps", "1", "--ais-temperatures", "2", "--ais-chains", "2",
            "--ais-runs", "1"]


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--threads", "0", "must be at least 1, got 0"),
        ("--threads", "-1", "must be at least 1, got -1"),
        ("--threads", "257", "must be at most 256"),  # 100000 crashed torch
        ("--seed", "-1", "must be at least 0, got -1"),
        ("--ais-chains", "99999999999", "must be at most"),
        ("--acc-samples", "99999999999", "must be at most"),
        ("--ais-temperatures", "99999999999", "must be at most"),
        ("--max-sequences", "-2", "must be at least 1, got -2"),
        ("--max-sequences", "0", "must be at least 1, got 0"),
        ("--threads", "two", "expected a whole number"),
    ],
)
def test_evaluate_command_refuses_numbers_out_of_range_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture, flag: str, value: str, message: str
) -> None:
    arguments = _tiny_evaluation(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        cli.main([*arguments, flag, value])
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    assert f"argument {flag}: {message}" in captured.err
    assert "frames" not in captured.out  # nothing was evaluated


@pytest.mark.parametrize("case", ["folder", "under a file", "device"])
def test_evaluate_command_checks_the_json_target_before_evaluating(
    tmp_path: Path, capsys: pytest.CaptureFixture, case: str
) -> None:
    arguments = _tiny_evaluation(tmp_path)
    (tmp_path / "afile").write_text("keep me\n")
    (tmp_path / "results").mkdir()
    target = {
        "folder": tmp_path / "results",
        "under a file": tmp_path / "afile" / "x.json",
        "device": Path(os.devnull),
    }[case]
    status = cli.main([*arguments, "--json", str(target)])
    captured = capsys.readouterr()
    assert status == 2
    assert f"cannot write the results to {target}" in captured.err
    assert "frames" not in captured.out  # refused before the model was even loaded
    assert (tmp_path / "afile").read_text() == "keep me\n"
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)  # the device is still a device


def test_evaluate_command_refuses_a_json_folder_it_may_not_write_in(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    arguments = _tiny_evaluation(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    real_access = os.access

    def access(path: object, mode: int, **kwargs: object) -> bool:
        # root may write anywhere: answer for the locked folder as for any other user
        if Path(os.fspath(path)) == locked and mode & os.W_OK:  # type: ignore[arg-type]
            return False
        return real_access(path, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)
    status = cli.main([*arguments, "--json", str(locked / "sub" / "x.json")])
    captured = capsys.readouterr()
    assert status == 2
    assert f"no permission to write in {locked}" in captured.err
    assert "frames" not in captured.out


def test_evaluate_command_keeps_the_previous_json_when_the_disk_is_full(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    arguments = _tiny_evaluation(tmp_path)
    folder = tmp_path / "out"
    folder.mkdir()
    previous = folder / "results.json"
    previous.write_text('{"previous": "results the user wanted to keep"}\n')

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)
    status = cli.main([*arguments, "--json", str(previous)])
    captured = capsys.readouterr()
    assert status == 2
    assert "frames" in captured.out  # this failure comes only at the end
    assert f"cannot write the results to {previous}: No space left on device" in captured.err
    assert previous.read_text() == '{"previous": "results the user wanted to keep"}\n'
    assert sorted(p.name for p in folder.iterdir()) == ["results.json"]  # no temp file left


def test_evaluate_command_reports_running_out_of_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from composer_app.ml import evaluate

    def no_memory(*args: object, **kwargs: object) -> None:
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate")

    monkeypatch.setattr(evaluate, "log_likelihood", no_memory)
    status = cli.main([*_tiny_evaluation(tmp_path), "--no-acc"])
    assert status == 2
    assert "not enough memory" in capsys.readouterr().err


def test_evaluate_command_reads_the_papers_pickle_as_train_does(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import pickle

    config, model = tiny_model(seed=3)
    save_checkpoint(tmp_path / "model", config, model)
    splits = {"train": [], "valid": [], "test": random_rolls([12, 8], seed=7)}
    write_benchmark(tmp_path / "tiny.json.gz", splits)
    # the same splits as the paper pickled them: lists of frames, each a list of MIDI pitches
    document = json.loads(gzip.decompress((tmp_path / "tiny.json.gz").read_bytes()))
    (tmp_path / "tiny.pickle").write_bytes(pickle.dumps(document, protocol=2))
    printed = {}
    for name in ("tiny.json.gz", "tiny.pickle"):
        status = cli.main(["evaluate", str(tmp_path / "model"), "--data", str(tmp_path / name),
                           "--no-ll", "--acc-samples", "2", "--gibbs-steps", "2"])
        assert status == 0, capsys.readouterr().err
        printed[name] = capsys.readouterr().out.splitlines()
    assert "20 frames" in printed["tiny.pickle"][0]  # 12 + 8
    assert printed["tiny.pickle"][1:] == printed["tiny.json.gz"][1:]  # the same ACC

    class Exploit:  # a pickle that would run code: refused by the restricted unpickler
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (eval, (f"open({str(tmp_path / 'ran')!r}, 'w').close()",))

    (tmp_path / "evil.pickle").write_bytes(
        pickle.dumps({"train": [], "valid": [], "test": [Exploit()]})
    )
    status = cli.main(["evaluate", str(tmp_path / "model"), "--data",
                       str(tmp_path / "evil.pickle"), "--no-ll"])
    assert status == 2
    assert "refusing to load builtins.eval" in capsys.readouterr().err
    assert not (tmp_path / "ran").exists()


def test_evaluate_command_refuses_a_midi_folder_saying_what_it_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "tunes"
    folder.mkdir()
    (folder / "a.mid").write_bytes(b"MThd")
    # refused before the model is looked for: this one does not even exist
    status = cli.main(["evaluate", str(tmp_path / "nowhere"), "--data", str(folder)])
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    assert captured.err == (
        f"composer-app evaluate: {folder} is a folder: evaluate reads a benchmark .json.gz or "
        "the paper's .pickle with a 'test' split; a run trained on a MIDI folder has no test "
        "split to evaluate on (train keeps none of its files aside for testing)\n"
    )

"""Tests of the step-by-step RNN-RBM sampler (numpy only, no Qt)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from composer_app.ml.generate import (
    COOLING_STEPS,
    HOPELESS_EXPECTED_NOTES,
    MAX_REDRAWS,
    FrameGenerator,
    GeneratedFrame,
    GenerationError,
    RnnRbmParameters,
)


def random_parameters(
    n_visible: int = 88,
    n_hidden: int = 150,
    n_recurrent: int = 100,
    *,
    scale: float = 0.01,
    bv: float = 0.0,
    seed: int = 0,
) -> RnnRbmParameters:
    """Parameters drawn as at initialisation: weights ~ N(0, scale^2), given visible bias."""
    rng = np.random.default_rng(seed)
    p, h, r = n_visible, n_hidden, n_recurrent
    return RnnRbmParameters(
        W=rng.normal(0, scale, (p, h)),
        bv=np.full(p, bv),
        bh=rng.normal(0, scale, h),
        Wuh=rng.normal(0, scale, (r, h)),
        Wuv=rng.normal(0, scale, (r, p)),
        Wvu=rng.normal(0, scale, (p, r)),
        Wuu=rng.normal(0, scale, (r, r)),
        bu=rng.normal(0, scale, r),
    )


def reference_biases(prm: RnnRbmParameters, roll: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """bv_t, bh_t after ``roll``, by the paper's eqs. 9-11 written out in float64."""
    u = np.zeros(prm.n_recurrent)
    for v in roll.astype(np.float64):
        u = np.tanh(prm.bu + u @ prm.Wuu + v @ prm.Wvu)
    return prm.bv + u @ prm.Wuv, prm.bh + u @ prm.Wuh


def exact_marginals(
    W: np.ndarray,
    bv: np.ndarray,
    bh: np.ndarray,
    temperature: float = 1.0,
    clamp: dict[int, bool] | None = None,
) -> np.ndarray:
    """p(v_i = 1) of an RBM at a temperature, by enumerating all 2^P visible states.

    The hidden units are summed out: log p*(v) = (v.bv + sum_j softplus(bh_j + (vW)_j)) at
    T = 1; at temperature T every energy is divided by T. States that disagree with
    ``clamp`` (unit -> value) are left out, which gives the conditional given them.
    """
    p = W.shape[0]
    states = np.array(list(itertools.product([0, 1], repeat=p)), dtype=np.float64)
    if clamp:
        keep = np.all([states[:, i] == float(val) for i, val in clamp.items()], axis=0)
        states = states[keep]
    log_p = states @ bv / temperature + np.logaddexp(0, (bh + states @ W) / temperature).sum(1)
    weights = np.exp(log_p - log_p.max())
    weights /= weights.sum()
    return weights @ states


def test_parameters_from_state_dict_checks_shapes() -> None:
    prm = random_parameters(8, 6, 5)
    state = {name: getattr(prm, name) for name in ("W", "bv", "bh", "Wuh", "Wuv", "Wvu")}
    with pytest.raises(GenerationError, match="Wuu"):
        RnnRbmParameters.from_state_dict(state)
    state.update(Wuu=prm.Wuu, bu=prm.bu, Wvu=prm.Wvu.T)
    with pytest.raises(
        GenerationError, match=r"parameter Wvu has shape \(5, 8\), expected \(8, 5\)"
    ):
        RnnRbmParameters.from_state_dict(state)


def test_parameters_from_model_reads_torch_tensors() -> None:
    torch = pytest.importorskip("torch")
    prm = random_parameters(8, 6, 5)
    module = torch.nn.Module()
    for name in ("W", "bv", "bh", "Wuh", "Wuv", "Wvu", "Wuu", "bu"):
        module.register_parameter(name, torch.nn.Parameter(torch.from_numpy(getattr(prm, name))))
    copied = RnnRbmParameters.from_model(module)
    assert copied.W.dtype == np.float32
    np.testing.assert_array_equal(copied.Wuv, prm.Wuv)


def test_frame_generator_same_seed_same_frames() -> None:
    prm = random_parameters(scale=0.3, bv=-2.0)
    seed_roll = np.random.default_rng(5).random((12, 88)) < 0.05
    runs = []
    for _ in range(2):
        gen = FrameGenerator(prm, seed_roll, rng=42)
        runs.append(np.array([next(gen).frame for _ in range(50)]))
    other = FrameGenerator(prm, seed_roll, rng=43)
    third = np.array([next(other).frame for _ in range(50)])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert runs[0].sum() > 0  # the test means something only if notes sound
    assert not np.array_equal(runs[0], third)


def test_frame_generator_yields_step_indices_and_probabilities() -> None:
    prm = random_parameters(scale=0.3, bv=-2.0)
    gen = FrameGenerator(prm, np.zeros((4, 88), dtype=bool), rng=0)
    frames = list(itertools.islice(gen, 3))
    assert [f.step_index for f in frames] == [0, 1, 2]
    assert all(isinstance(f, GeneratedFrame) for f in frames)
    assert frames[0].frame.dtype == bool and frames[0].frame.shape == (88,)
    probs = frames[0].probabilities
    assert probs.dtype == np.float32 and probs.shape == (88,)
    assert np.all((probs >= 0) & (probs <= 1))


def test_frame_generator_matches_exact_marginals_of_tiny_model() -> None:
    # 8 visible, 6 hidden: the conditional RBM after a seed can be enumerated (2^8 states).
    prm = random_parameters(8, 6, 5, scale=1.0, seed=3)
    seed_roll = np.random.default_rng(1).random((5, 8)) < 0.4
    bv_t, bh_t = reference_biases(prm, seed_roll)
    gen = FrameGenerator(prm, seed_roll, gibbs_steps=50, rng=7)
    gen_bv, gen_bh = gen.conditional_biases
    np.testing.assert_allclose(gen_bv, bv_t, atol=1e-5)
    np.testing.assert_allclose(gen_bh, bh_t, atol=1e-5)
    n = 20000
    frames = np.array([gen.sample().frame for _ in range(n)])
    expected = exact_marginals(prm.W.astype(np.float64), bv_t, bh_t)
    # Standard error of a frequency: sqrt(p(1-p)/n) <= sqrt(0.25/20000) = 0.0035; 0.02 is
    # about 5.7 of them, while a sampler that ignores W or the history is off by far more.
    np.testing.assert_allclose(frames.mean(0), expected, atol=0.02)
    assert np.abs(expected - 1 / (1 + np.exp(-bv_t))).max() > 0.1  # W matters here
    assert gen.step_index == 0  # sample() leaves the history alone


def test_frame_generator_matches_exact_marginals_at_temperature_and_with_clamps() -> None:
    prm = random_parameters(8, 6, 5, scale=2.0, seed=6)
    seed_roll = np.random.default_rng(2).random((3, 8)) < 0.4
    bv_t, bh_t = reference_biases(prm, seed_roll)
    gen = FrameGenerator(prm, seed_roll, gibbs_steps=50, temperature=2.0, rng=8)
    n = 20000
    mask = np.zeros((1, 8), dtype=bool)
    mask[0, [0, 1]] = True
    values = np.zeros((1, 8), dtype=bool)
    values[0, 0] = True  # unit 0 held on, unit 1 held off
    gen.clamp(mask, values)
    frames = np.array([gen.sample().frame for _ in range(n)])
    W = prm.W.astype(np.float64)
    expected = exact_marginals(W, bv_t, bh_t, temperature=2.0, clamp={0: True, 1: False})
    np.testing.assert_allclose(frames.mean(0), expected, atol=0.02)
    unclamped = exact_marginals(W, bv_t, bh_t, temperature=2.0)
    assert np.abs(expected[2:] - unclamped[2:]).max() > 0.06  # the clamp shifts the others


def test_frame_generator_clamped_units_never_change() -> None:
    # A clamp holds the user's notes exactly as given for its steps, and no longer.
    prm = random_parameters(scale=0.5, bv=-1.0, seed=2)
    rng = np.random.default_rng(0)
    n_clamped_steps = 60
    mask = rng.random((n_clamped_steps, 88)) < 0.3
    values = rng.random((n_clamped_steps, 88)) < 0.5
    chosen = 40  # held off in every clamped step, the last one included
    mask[:, chosen], values[:, chosen] = True, False
    gen = FrameGenerator(prm, np.zeros((2, 88), dtype=bool), rng=1)
    gen.clamp(mask, values)
    frames = np.array([next(gen).frame for _ in range(n_clamped_steps + 40)])
    clamped = frames[:n_clamped_steps]
    np.testing.assert_array_equal(clamped[mask], values[mask])
    # Held units are on and off alike; unheld units stay free.
    assert values[mask].any() and not values[mask].all()
    assert clamped[~mask].any()
    # Nothing is held beyond the clamped steps: the unit held off in all 60 sounds after.
    assert not clamped[:, chosen].any()
    assert frames[n_clamped_steps:, chosen].any()


def test_frame_generator_clamp_after_yield_applies_to_next_frame() -> None:
    prm = random_parameters(scale=0.05, bv=-8.0)
    gen = FrameGenerator(prm, np.zeros((2, 88), dtype=bool), rng=0)
    next(gen)  # frame 0 yielded, not yet committed
    mask = np.zeros((1, 88), dtype=bool)
    mask[0, 40] = True
    gen.clamp(mask, mask.copy())
    assert next(gen).frame[40]  # frame 1 holds the clamp
    assert not any(next(gen).frame[40] for _ in range(20))  # bv = -8: p(on) ~ 0.0003


def test_frame_generator_masked_pitches_never_sound() -> None:
    # bv = +3: every unit wants to sound (p ~ 0.95), so the mask is what silences them.
    prm = random_parameters(scale=0.5, bv=3.0, seed=1)
    allowed = np.zeros(88, dtype=bool)
    allowed[np.arange(88) % 12 == 0] = True  # the C's only
    gen = FrameGenerator(prm, np.ones((4, 88), dtype=bool), allowed_pitches=allowed, rng=3)
    frames = np.array([next(gen).frame for _ in range(1000)])
    assert not frames[:, ~allowed].any()
    assert frames[:, allowed].mean() > 0.5
    probs = gen.sample().probabilities
    assert np.all(probs[~allowed] == 0.0)


def test_frame_generator_clamped_on_note_overrides_mask() -> None:
    prm = random_parameters(scale=0.5, bv=-1.0, seed=1)
    allowed = np.zeros(88, dtype=bool)
    allowed[:40] = True
    mask = np.zeros((5, 88), dtype=bool)
    mask[:, 60] = True  # a melody note outside the allowed pitches
    gen = FrameGenerator(prm, None, allowed_pitches=allowed, rng=3)
    gen.clamp(mask, mask.copy())
    frames = np.array([next(gen).frame for _ in range(5)])
    assert frames[:, 60].all()
    assert not frames[:, 40:60].any() and not frames[:, 61:].any()


def test_frame_generator_polyphony_cap_keeps_most_probable() -> None:
    # Graded visible biases: unit i's chance of sounding rises with i.
    prm = random_parameters(scale=0.1, bv=0.0, seed=5)
    prm = RnnRbmParameters(**{**prm.__dict__, "bv": np.linspace(-2.0, 4.0, 88)})
    gen = FrameGenerator(prm, None, max_polyphony=4, rng=9)
    for _ in range(300):
        generated = next(gen)
        assert generated.frame.sum() <= 4
    uncapped = FrameGenerator(prm, None, rng=9).sample()
    capped = FrameGenerator(prm, None, max_polyphony=4, rng=9).sample()
    assert uncapped.frame.sum() > 4  # the same draw before the cap
    kept = np.flatnonzero(capped.frame)
    dropped = np.flatnonzero(uncapped.frame & ~capped.frame)
    assert len(kept) == 4
    assert set(kept) <= set(np.flatnonzero(uncapped.frame))
    assert capped.probabilities[kept].min() >= capped.probabilities[dropped].max()


@pytest.mark.parametrize("cap", [1, 2, 3])
def test_frame_generator_polyphony_cap_drops_a_single_extra_note(cap: int) -> None:
    # "Max notes / step" holds when the model draws just one note too many, its most
    # common over-draw. W = 0 and no recurrence: every unit is independent with
    # p = sigmoid(bv): cap + 1 units at bv = +20 (p ~ 1 - 2e-9) and the rest at -20
    # (p ~ 2e-9), so each draw has exactly cap + 1 notes and the cap must drop one.
    prm = random_parameters(scale=0.0, bv=-20.0)
    loud = [10, 30, 50, 70][: cap + 1]
    bv = prm.bv.copy()
    bv[loud] = 20.0
    prm = RnnRbmParameters(**{**prm.__dict__, "bv": bv})
    assert FrameGenerator(prm, None, rng=4).sample().frame.sum() == cap + 1  # uncapped
    gen = FrameGenerator(prm, None, max_polyphony=cap, rng=4)
    frames = np.array([next(gen).frame for _ in range(20)])
    assert frames.sum(axis=1).tolist() == [cap] * 20
    assert not frames[:, np.setdiff1d(np.arange(88), loud)].any()


def test_frame_generator_polyphony_cap_always_keeps_clamped_notes() -> None:
    prm = random_parameters(scale=0.1, bv=3.0, seed=5)
    mask = np.zeros((10, 88), dtype=bool)
    mask[:, [10, 20, 30]] = True
    gen = FrameGenerator(prm, None, max_polyphony=2, rng=1)
    gen.clamp(mask, mask.copy())
    for _ in range(10):
        frame = next(gen).frame
        # Three clamped-on notes exceed the cap of 2; they are all kept and nothing else.
        assert set(np.flatnonzero(frame)) == {10, 20, 30}
    mask1 = np.zeros((10, 88), dtype=bool)
    mask1[:, 10] = True
    gen.clamp(mask1, mask1.copy())
    for _ in range(10):
        frame = next(gen).frame
        assert frame[10] and frame.sum() == 2


def test_frame_generator_counts_notes_sounding_beside_the_frame() -> None:
    # Every unit wants to sound (bv = 3). In steps 0 and 1, two and four other notes sound
    # beside the frame (a user's, held off for the model): the cap of 3 leaves room for one
    # model note, then for none; from step 2 on, for three again.
    prm = random_parameters(scale=0.1, bv=3.0, seed=5)
    mask = np.zeros((2, 88), dtype=bool)
    mask[:, [40, 44]] = True
    gen = FrameGenerator(prm, None, max_polyphony=3, rng=1)
    gen.clamp(mask, np.zeros_like(mask), others=[2, 4])
    sizes = [int(next(gen).frame.sum()) for _ in range(3)]
    assert sizes == [1, 0, 3]
    # min_notes is met by the notes beside the frame: no redraw for a step they fill
    quiet = RnnRbmParameters(**{**prm.__dict__, "bv": np.full(88, -30.0, dtype=np.float32)})
    quiet = RnnRbmParameters(**{**quiet.__dict__, "W": np.zeros_like(prm.W)})
    gen = FrameGenerator(quiet, None, min_notes=1, rng=1)
    gen.clamp(np.zeros((1, 88), dtype=bool), np.zeros((1, 88), dtype=bool), others=[1])
    assert next(gen).redraws == 0
    with pytest.raises(GenerationError, match="others"):
        gen.clamp(mask, mask, others=[1])


def _shipped_parameters(name: str) -> tuple[Any, RnnRbmParameters]:
    """The config and generator parameters of a shipped model (in the repository)."""
    from composer_app import paths
    from composer_app.ml.checkpoint import load_checkpoint

    folder = paths.model_dir(name)
    if not (folder / "config.json").is_file():
        pytest.skip(f"the shipped model {name} is not in models/")
    config, model = load_checkpoint(folder)
    return config, RnnRbmParameters.from_model(model)


def _free_energy(frame: np.ndarray, prm: RnnRbmParameters, bv: np.ndarray,
                 bh: np.ndarray) -> float:
    """F(v) of the step's RBM in float64: lower is more probable."""
    v = frame.astype(np.float64)
    return float(-(v @ bv) - np.logaddexp(0.0, bh + v @ prm.W.astype(np.float64)).sum())


@pytest.mark.parametrize("name", ["nottingham", "nottingham_ll"])
def test_frame_generator_low_temperature_draws_frames_at_least_as_probable(name) -> None:
    # Below 1, temperature keeps to the model's more probable frames ("safer"). Run cold from
    # silence, the chain could not leave it: the Nottingham model's first frame after a
    # C-major seed was *less* probable at T = 0 than at T = 1 (mean F -302.2 against
    # -310.7, silence -300.7), and nottingham_ll's Gibbs chain at T = 0 less than silence.
    config, prm = _shipped_parameters(name)
    seed = np.zeros((16, 88), dtype=bool)
    for t in range(16):
        seed[t, [48 - 21, 64 - 21, 67 - 21, 72 + (t % 4) * 2 - 21]] = True
    settings = dict(gibbs_steps=config.sampling_steps, chain_start=config.chain_start,
                    sampler=config.sampler)
    bv, bh = (b.astype(np.float64) for b in FrameGenerator(prm, seed).conditional_biases)

    def mean_free_energy(temperature: float) -> float:
        gen = FrameGenerator(prm, seed, temperature=temperature, rng=3, **settings)
        return float(np.mean([_free_energy(gen.sample().frame, prm, bv, bh)
                              for _ in range(16)]))

    at_one = mean_free_energy(1.0)
    silence = _free_energy(np.zeros(88), prm, bv, bh)
    for temperature in (0.0, 0.1):
        cold = mean_free_energy(temperature)
        assert cold <= at_one + 1.0, (temperature, cold, at_one)
        assert cold < silence - 1.0, (temperature, cold, silence)


def test_frame_generator_cools_from_temperature_one_below_it() -> None:
    prm = random_parameters(scale=0.5, bv=-1.0, seed=6)
    seed_roll = np.random.default_rng(0).random((8, 88)) < 0.1

    def disagreement(temperature: float, seed: int) -> float:
        # 100 draws of the same step: the fraction of units that differ from the first draw.
        gen = FrameGenerator(prm, seed_roll, temperature=temperature, rng=seed)
        frames = np.array([gen.sample().frame for _ in range(100)])
        return float((frames != frames[0]).mean())

    # low temperatures settle on few frames; temperature 1 wanders
    assert disagreement(0.0, 1) < disagreement(1.0, 1) / 2
    assert disagreement(0.01, 1) < disagreement(1.0, 1) / 2
    # the same seed gives the same frames at any temperature
    for temperature in (0.0, 0.3):
        a, b = (np.array([d.frame for d in itertools.islice(
            FrameGenerator(prm, seed_roll, temperature=temperature, rng=4), 20)])
            for _ in range(2))
        np.testing.assert_array_equal(a, b)
    # the chain: 25 steps at temperature 1, then COOLING_STEPS down to the temperature
    temperatures = FrameGenerator(prm, None, temperature=0.1)._chain_temperatures()
    assert len(temperatures) == 25 + COOLING_STEPS
    assert np.all(temperatures[:25] == 1.0) and np.isclose(temperatures[-1], 0.1)
    assert np.all(np.diff(temperatures) <= 0)
    assert FrameGenerator(prm, None, temperature=0.0)._chain_temperatures()[-1] == 0.0
    assert np.all(FrameGenerator(prm, None, temperature=2.0)._chain_temperatures() == 2.0)


def test_frame_generator_polyphony_cap_ranks_notes_beyond_saturated_probabilities() -> None:
    # Six notes certain to sound, their log-odds rising with pitch (20 ... 80): at T = 0.5
    # every probability is 1.0 in float32, and the cap kept the lowest three pitches.
    logits = np.full(88, -30.0)
    loud = [10, 20, 30, 40, 50, 60]
    logits[loud] = [20.0, 22.0, 24.0, 40.0, 60.0, 80.0]
    prm = _independent_units(logits)
    for temperature in (1.0, 0.5, 0.0):
        drawn = next(FrameGenerator(prm, None, temperature=temperature, max_polyphony=3,
                                    gibbs_steps=2, rng=0))
        assert list(np.flatnonzero(drawn.frame)) == [40, 50, 60], temperature
    # exact ties are broken at random, not always towards the lowest pitch
    tied = np.full(88, -30.0)
    tied[loud] = 50.0
    kept = {int(np.flatnonzero(d.frame)[0]) for d in itertools.islice(
        FrameGenerator(_independent_units(tied), None, max_polyphony=1, gibbs_steps=2, rng=0),
        60)}
    assert kept == set(loud)


def test_min_notes_judges_a_hopeless_draw_at_temperature_one() -> None:
    # At temperature 0.1 every note of a silent draw has a probability near 0 (sigmoid(-60)),
    # so the draw looked hopeless and was never redrawn, though at temperature 1 it expects
    # 88 * sigmoid(-6) = 0.2 notes. Redraws are tried (here in vain: the model's mode is
    # silence); a draw that expects nothing at temperature 1 still is not redrawn.
    gen = FrameGenerator(_independent_units(np.full(88, -6.0)), None, min_notes=1,
                         temperature=0.1, rng=0)
    assert next(gen).redraws == MAX_REDRAWS
    drawn = next(FrameGenerator(_independent_units(np.full(88, -16.0)), None, min_notes=1,
                                temperature=0.1, rng=0))
    assert not drawn.frame.any() and drawn.redraws == 0


def test_frame_generator_send_replaces_last_frame_in_history() -> None:
    prm = random_parameters(scale=0.5, bv=-1.0, seed=7)
    seed_roll = np.random.default_rng(0).random((6, 88)) < 0.1
    chosen = np.zeros(88, dtype=bool)
    chosen[[39, 43, 46]] = True  # the caller's chord instead of the model's frame 0
    gen = FrameGenerator(prm, seed_roll, rng=0)
    first = next(gen)
    assert not np.array_equal(first.frame, chosen)
    second = gen.send(chosen)
    assert second.step_index == 1
    # The history is now seed + chosen: same next-step biases as a fresh generator's.
    fresh = FrameGenerator(prm, np.vstack([seed_roll, chosen]), rng=0)
    for got, expected in zip(gen.conditional_biases, fresh.conditional_biases, strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_frame_generator_advance_commits_caller_frame() -> None:
    prm = random_parameters(scale=0.5, bv=-1.0, seed=7)
    chosen = np.zeros(88, dtype=bool)
    chosen[50] = True
    gen = FrameGenerator(prm, None, rng=0)
    gen.advance(chosen)
    assert gen.step_index == 1
    assert next(gen).step_index == 1
    fresh = FrameGenerator(prm, chosen[None, :], rng=0)
    np.testing.assert_allclose(gen.hidden_state, fresh.hidden_state, atol=1e-6)


def test_frame_generator_rejects_bad_input() -> None:
    prm = random_parameters(8, 6, 5)
    with pytest.raises(GenerationError, match="seed roll must be"):
        FrameGenerator(prm, np.zeros((3, 9), dtype=bool))
    with pytest.raises(GenerationError, match="temperature"):
        FrameGenerator(prm, temperature=-1.0)
    with pytest.raises(GenerationError, match="gibbs_steps"):
        FrameGenerator(prm, gibbs_steps=0)
    gen = FrameGenerator(prm)
    with pytest.raises(GenerationError, match="allowed_pitches"):
        gen.set_allowed_pitches(np.ones(7, dtype=bool))
    with pytest.raises(GenerationError, match="clamp values"):
        gen.clamp(np.zeros((2, 8), dtype=bool), np.zeros((3, 8), dtype=bool))
    with pytest.raises(GenerationError, match="frame must be bool"):
        gen.send(np.zeros(8, dtype=np.int64))
    with pytest.raises(RuntimeError, match="stop"):
        gen.throw(RuntimeError("stop"))


@pytest.fixture
def one_torch_thread():
    """Tiny tensors: one torch thread spares the OpenMP hand-offs that dominate them."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(before)


def test_frame_generator_continues_pattern_learned_by_tiny_model(one_torch_thread) -> None:
    torch = one_torch_thread
    from composer_app.ml.rnnrbm import RnnRbm, RnnRbmConfig

    torch.manual_seed(0)
    config = RnnRbmConfig(
        n_visible=12, n_hidden=16, n_recurrent=16, pitch_low=60, pitch_high=72, cd_steps=5
    )
    model = RnnRbm(config, generator=torch.Generator().manual_seed(0))
    pattern = np.zeros((4, 12), dtype=bool)  # a 4-step cycle of chords: C E G, D F, E G B, F A
    for t, notes in enumerate([(0, 4, 7), (2, 5), (4, 7, 11), (5, 9)]):
        pattern[t, list(notes)] = True
    untrained = FrameGenerator(RnnRbmParameters.from_model(model), np.tile(pattern, (2, 1)), rng=0)
    # Training data: the cycle in its 4 phases, 32 steps each.
    rolls = np.stack([np.roll(np.tile(pattern, (8, 1)), -s, axis=0) for s in range(4)])
    v = torch.from_numpy(rolls.astype(np.float32))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(1)
    for _ in range(200):
        optimizer.zero_grad()
        model.cost(v, torch.ones(v.shape[:2]), generator=g).backward()
        optimizer.step()
    gen = FrameGenerator(RnnRbmParameters.from_model(model), np.tile(pattern, (2, 1)), rng=0)
    expected = np.tile(pattern, (4, 1))  # the seed ends after a full cycle: the next is step 0
    generated = np.array([next(gen).frame for _ in range(16)])
    before = np.array([next(untrained).frame for _ in range(16)])
    assert (generated == expected).all(1).mean() >= 0.9  # whole frames right
    assert (before == expected).all(1).mean() < 0.2


def bistable_parameters() -> RnnRbmParameters:
    """4 pitches, 2 hidden units: {0, 1} and {2, 3} each hold themselves on, nothing turns on.

    Hidden unit 0 listens to pitches 0 and 1 and drives them (weights +20, visible biases
    -10, hidden -15), hidden unit 1 likewise for pitches 2 and 3; no recurrence. A chain that
    starts with pitch 0 or 1 on stays with both on; one that starts all-off stays off (a
    switch has p ~ e^-5 or less).
    """
    W = np.zeros((4, 2))
    W[[0, 1], 0] = 20.0
    W[[2, 3], 1] = 20.0
    return RnnRbmParameters(
        W=W, bv=np.full(4, -10.0), bh=np.full(2, -15.0), Wuh=np.zeros((1, 2)),
        Wuv=np.zeros((1, 4)), Wvu=np.zeros((4, 1)), Wuu=np.zeros((1, 1)), bu=np.zeros(1),
    )  # fmt: skip


def test_frame_generator_chain_can_start_at_the_previous_frame() -> None:
    prm = bistable_parameters()
    seed = np.array([[False, False, True, True], [True, True, False, False]])
    from_silence = FrameGenerator(prm, seed, rng=0)
    assert from_silence.chain_start == "silence"
    assert not next(from_silence).frame.any()  # the all-off start never leaves silence
    gen = FrameGenerator(prm, seed, rng=0, chain_start="previous")
    # the chain starts at the seed's last frame and the mode holds, step after step
    frames = [next(gen).frame.tolist() for _ in range(5)]
    assert frames == [[True, True, False, False]] * 5
    # a frame the caller puts into the history becomes the next chain's start
    assert gen.send(np.array([False, False, True, True])).frame.tolist() == [
        False, False, True, True,
    ]  # fmt: skip
    # masked pitches start off and never sound; clamped units start at their values
    masked = FrameGenerator(
        prm, seed, rng=0, chain_start="previous",
        allowed_pitches=np.array([True, False, True, True]),
    )  # fmt: skip
    assert next(masked).frame.tolist() == [True, False, False, False]
    clamped = FrameGenerator(prm, seed, rng=0, chain_start="previous")
    clamped.clamp(np.array([[True, True, True, False]]), np.array([[False, False, True, False]]))
    assert next(clamped).frame.tolist() == [False, False, True, True]
    with pytest.raises(GenerationError, match="chain_start"):
        FrameGenerator(prm, seed, chain_start="noise")


def _independent_units(bv: np.ndarray, n_hidden: int = 3, n_recurrent: int = 2) -> RnnRbmParameters:
    """An RNN-RBM with W = 0 and no memory: units are independent Bernoulli(sigmoid(bv)),
    so a single Gibbs step samples the RBM exactly."""
    p, h, r = len(bv), n_hidden, n_recurrent
    return RnnRbmParameters(
        W=np.zeros((p, h)), bv=bv, bh=np.zeros(h), Wuh=np.zeros((r, h)), Wuv=np.zeros((r, p)),
        Wvu=np.zeros((p, r)), Wuu=np.zeros((r, r)), bu=np.zeros(r),
    )


def test_min_notes_samples_the_distribution_given_a_sounding_step() -> None:
    # Four independent units with p = sigmoid(-2) = 0.119: the step is silent with
    # probability q = (1 - p)^4 = 0.60. Given that it is not, each unit sounds with
    # p / (1 - q) = 0.297, one note alone with 4 p (1 - p)^3 / (1 - q) = 0.814, and a draw
    # needs q / (1 - q) = 1.50 redraws on average.
    p = 1.0 / (1.0 + np.exp(2.0))
    q = (1.0 - p) ** 4
    gen = FrameGenerator(_independent_units(np.full(4, -2.0)), None, gibbs_steps=1,
                         min_notes=1, rng=11)
    draws = [gen.sample() for _ in range(20000)]
    frames = np.array([d.frame for d in draws])
    redraws = np.array([d.redraws for d in draws])
    # silent only after MAX_REDRAWS silent redraws (chance 0.6^21 = 2e-5 a step)
    silent = ~frames.any(axis=1)
    assert (redraws[silent] == MAX_REDRAWS).all() and silent.sum() <= 3
    n = len(frames)

    def close(observed: float, expected: float) -> bool:
        return abs(observed - expected) < 4.0 * np.sqrt(expected * (1 - expected) / n)

    for unit in range(4):
        assert close(frames[:, unit].mean(), p / (1 - q))
    assert close(np.mean(frames.sum(axis=1) == 1), 4 * p * (1 - p) ** 3 / (1 - q))
    assert abs(redraws.mean() - q / (1 - q)) < 0.1
    # Without the constraint the same units are silent 60 % of the time.
    plain = FrameGenerator(_independent_units(np.full(4, -2.0)), None, gibbs_steps=1, rng=11)
    silent = np.mean([not plain.sample().frame.any() for _ in range(5000)])
    assert abs(silent - q) < 0.03


def test_min_notes_gives_up_when_nothing_may_sound() -> None:
    prm = _independent_units(np.full(88, -6.0))
    # every pitch masked: one draw, silent, no endless loop
    gen = FrameGenerator(prm, None, min_notes=1, allowed_pitches=np.zeros(88, dtype=bool), rng=0)
    drawn = next(gen)
    assert not drawn.frame.any() and drawn.redraws == 0
    # the silent draw stands after MAX_REDRAWS tries (p(sound) = 88 * 0.0025 per draw: bv -12)
    hopeless = FrameGenerator(_independent_units(np.full(88, -12.0)), None, min_notes=1, rng=0)
    drawn = next(hopeless)
    assert not drawn.frame.any() and drawn.redraws == MAX_REDRAWS
    # a draw that expects almost no note (88 * sigmoid(-16) = 1e-5 < HOPELESS_EXPECTED_NOTES)
    # is not redrawn at all: 20 more draws would only cost time
    drawn = next(FrameGenerator(_independent_units(np.full(88, -16.0)), None, min_notes=1, rng=0))
    assert not drawn.frame.any() and drawn.redraws == 0
    assert drawn.probabilities.sum() < HOPELESS_EXPECTED_NOTES


def test_min_notes_counts_clamped_notes_and_checks_its_settings() -> None:
    prm = _independent_units(np.full(88, -12.0))
    gen = FrameGenerator(prm, None, min_notes=1, rng=0)
    mask = np.zeros((3, 88), dtype=bool)
    mask[:, 40] = True
    gen.clamp(mask, mask.copy())
    for _ in range(3):
        drawn = next(gen)
        assert np.flatnonzero(drawn.frame).tolist() == [40] and drawn.redraws == 0
    with pytest.raises(GenerationError, match="min_notes must be >= 0"):
        FrameGenerator(prm, None, min_notes=-1)
    with pytest.raises(GenerationError, match="more than max_polyphony"):
        FrameGenerator(prm, None, min_notes=3, max_polyphony=2)


def test_min_notes_keeps_a_real_trained_model_sounding() -> None:
    # The shipped default model, with its own chain start, after two bars of silence (a
    # score whose melody starts late): unconstrained it falls silent on many steps; with
    # min_notes=1 every step sounds, for a handful of redraws.
    from composer_app import paths
    from composer_app.ml.checkpoint import load_checkpoint

    folder = paths.model_dir()
    if not (folder / "config.json").is_file():
        pytest.skip("the shipped model is not built yet")
    config, model = load_checkpoint(folder)
    prm = RnnRbmParameters.from_model(model)

    def run(min_notes: int) -> list[GeneratedFrame]:
        gen = FrameGenerator(prm, np.zeros((16, 88), dtype=bool), min_notes=min_notes, rng=0,
                             chain_start=config.chain_start)
        return [next(gen) for _ in range(64)]

    plain = np.array([d.frame.any() for d in run(0)])
    assert (~plain).sum() >= 8
    constrained = run(1)
    assert all(d.frame.any() for d in constrained)
    assert 0 < sum(d.redraws for d in constrained) < 64 * MAX_REDRAWS


def _bistable(n_recurrent: int = 2) -> RnnRbmParameters:
    """8 visible, 2 hidden units, no memory: hidden unit 0 holds units 0-3 on and 4-7 off,
    hidden unit 1 the other way round. The two modes are equally likely (0.49 each), and a
    Gibbs chain started in one practically never reaches the other (it would have to pass
    through h = 0)."""
    W = np.full((8, 2), -6.0)
    W[:4, 0] = W[4:, 1] = 6.0
    r = n_recurrent
    return RnnRbmParameters(
        W=W, bv=np.full(8, -2.0), bh=np.full(2, -12.0), Wuh=np.zeros((r, 2)),
        Wuv=np.zeros((r, 8)), Wvu=np.zeros((8, r)), Wuu=np.zeros((r, r)), bu=np.zeros(r),
    )


def test_annealed_sampler_matches_exact_marginals_where_gibbs_chains_stick() -> None:
    prm = _bistable()
    expected = exact_marginals(prm.W.astype(np.float64), prm.bv.astype(np.float64),
                               prm.bh.astype(np.float64))
    mode_a = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    gibbs = FrameGenerator(prm, mode_a[None], gibbs_steps=25, chain_start="previous", rng=0)
    stuck = np.array([gibbs.sample().frame for _ in range(2000)])
    assert stuck[:, :4].mean() > 0.9 and stuck[:, 4:].mean() < 0.2  # never leaves mode A
    # 64 chains: with 16 the resampling's bias (about 0.045 on the probabilities) sat just
    # inside the tolerances below, so a change of random stream could cross them
    annealed = FrameGenerator(prm, mode_a[None], gibbs_steps=50, sampler="annealed",
                              anneal_chains=64, rng=1)
    draws = [annealed.sample() for _ in range(3000)]
    frames = np.array([d.frame for d in draws])
    # both modes, as often as the RBM has them (standard error <= 0.009; 0.05 is 5.5 of them)
    np.testing.assert_allclose(frames.mean(0), expected, atol=0.05)
    states = np.array(list(itertools.product([0, 1], repeat=8)), dtype=np.float64)
    log_p = states @ prm.bv + np.logaddexp(0, prm.bh + states @ prm.W).sum(1)
    p_states = np.exp(log_p - log_p.max())
    p_states /= p_states.sum()
    # each whole mode as often as the RBM has it (0.45; units drawn independently with the
    # right marginals would give 0.004); the chains resampled leave a bias of a few hundredths
    for mode in (mode_a, ~mode_a):
        exact = p_states[(states == mode).all(1)].sum()
        assert exact > 0.4 and abs((frames == mode).all(1).mean() - exact) < 0.08
    # its probabilities are the RBM's own marginals, whatever the frame before was
    np.testing.assert_allclose(np.mean([d.probabilities for d in draws], 0), expected, atol=0.05)


def test_annealed_sampler_honours_temperature_clamps_mask_and_seed() -> None:
    prm = random_parameters(8, 6, 5, scale=2.0, seed=6)
    seed_roll = np.random.default_rng(2).random((3, 8)) < 0.4
    bv_t, bh_t = reference_biases(prm, seed_roll)
    mask = np.zeros((1, 8), dtype=bool)
    mask[0, [0, 1]] = True
    values = np.zeros((1, 8), dtype=bool)
    values[0, 0] = True  # unit 0 held on, unit 1 held off
    allowed = np.ones(8, dtype=bool)
    allowed[7] = False
    gen = FrameGenerator(prm, seed_roll, gibbs_steps=50, temperature=2.0, sampler="annealed",
                         anneal_chains=8, allowed_pitches=allowed, rng=8)
    gen.clamp(mask, values)
    frames = np.array([gen.sample().frame for _ in range(3000)])
    assert frames[:, 0].all() and not frames[:, 1].any() and not frames[:, 7].any()
    # pitch 7 masked off is the RBM conditioned on v_7 = 0 as well
    expected = exact_marginals(prm.W.astype(np.float64), bv_t, bh_t, temperature=2.0,
                               clamp={0: True, 1: False, 7: False})
    np.testing.assert_allclose(frames.mean(0), expected, atol=0.05)
    probs = gen.sample().probabilities  # the clamps' values, 0 where masked, the RBM elsewhere
    assert (probs[0], probs[1], probs[7]) == (1.0, 0.0, 0.0)
    np.testing.assert_allclose(probs, expected, atol=0.15)  # one step's 8-chain estimate
    again = FrameGenerator(prm, seed_roll, gibbs_steps=50, temperature=2.0, sampler="annealed",
                           anneal_chains=8, allowed_pitches=allowed, rng=8)
    again.clamp(mask, values)
    np.testing.assert_array_equal(np.array([again.sample().frame for _ in range(200)]),
                                  frames[:200])  # the same seed, the same frames
    # a temperature too small to anneal at (1 / T overflows) hands over to the Gibbs chain
    tiny = FrameGenerator(prm, seed_roll, temperature=1e-40, sampler="annealed", rng=0).sample()
    assert np.isfinite(tiny.probabilities).all()
    # nothing left to draw: every pitch masked, or every pitch clamped
    silent = FrameGenerator(prm, seed_roll, sampler="annealed", min_notes=1, rng=0,
                            allowed_pitches=np.zeros(8, dtype=bool)).sample()
    assert not silent.frame.any() and not silent.probabilities.any() and silent.redraws == 0
    held = FrameGenerator(prm, seed_roll, sampler="annealed", rng=0)
    held.clamp(np.ones((1, 8), dtype=bool), np.arange(8)[None] % 3 == 0)
    step = held.sample()
    np.testing.assert_array_equal(step.frame, np.arange(8) % 3 == 0)
    np.testing.assert_array_equal(step.probabilities, (np.arange(8) % 3 == 0).astype(np.float32))
    with pytest.raises(GenerationError, match="sampler must be one of gibbs, annealed"):
        FrameGenerator(prm, None, sampler="exact")
    with pytest.raises(GenerationError, match="anneal_chains"):
        FrameGenerator(prm, None, sampler="annealed", anneal_chains=0)


@pytest.mark.parametrize("temperatures", [1, 2, 3])
def test_annealed_sampler_with_many_chains_is_exact_even_on_a_short_schedule(
    temperatures: int,
) -> None:
    # Resampling one of many importance-weighted chains draws the RBM itself however short
    # the anneal: a wrong start, schedule, transition or final p(v | h) shows at k = 1-3,
    # where 50 temperatures would hide it inside the tolerances.
    prm = random_parameters(8, 6, 5, scale=2.0, seed=6)
    seed_roll = np.random.default_rng(2).random((3, 8)) < 0.4
    bv_t, bh_t = reference_biases(prm, seed_roll)
    gen = FrameGenerator(prm, seed_roll, gibbs_steps=temperatures, sampler="annealed",
                         anneal_chains=512, rng=0)
    draws = [gen.sample() for _ in range(1500)]
    expected = exact_marginals(prm.W.astype(np.float64), bv_t, bh_t)
    np.testing.assert_allclose(np.mean([d.probabilities for d in draws], 0), expected, atol=0.02)
    np.testing.assert_allclose(np.mean([d.frame for d in draws], 0), expected, atol=0.05)


@pytest.mark.parametrize("block_rows", [1, 3, 7])
def test_annealed_draw_makes_the_same_frames_whatever_its_threshold_block(
    block_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The thresholds are drawn a block of temperatures at a time to bound memory; the blocks
    # take the same uniforms from the stream as one draw of all of them, so any block size
    # (dividing the 20 temperatures or not) must give the same frames and probabilities.
    import composer_app.ml.generate as generate_module

    prm = random_parameters(8, 6, 5, scale=2.0, seed=6)
    seed_roll = np.random.default_rng(2).random((3, 8)) < 0.4

    def run() -> list:
        gen = FrameGenerator(prm, seed_roll, gibbs_steps=20, sampler="annealed", rng=3)
        return [gen.sample() for _ in range(30)]

    whole = run()  # the default block holds all 20 temperatures
    monkeypatch.setattr(generate_module, "_ANNEAL_BLOCK_ROWS", block_rows)
    for a, b in zip(whole, run(), strict=True):
        np.testing.assert_array_equal(a.frame, b.frame)
        np.testing.assert_array_equal(a.probabilities, b.probabilities)
    assert len({d.frame.tobytes() for d in whole}) > 5  # the frames do vary


def test_softplus_matches_logaddexp_far_into_both_tails() -> None:
    from composer_app.ml.generate import _softplus

    x = np.linspace(-120, 120, 100001, dtype=np.float32)
    np.testing.assert_allclose(_softplus(x, np.empty_like(x)),
                               np.logaddexp(0, x.astype(np.float64)), atol=1e-5, rtol=1e-6)
    assert _softplus(np.empty(0, dtype=np.float32), np.empty(0, dtype=np.float32)).size == 0


def test_annealed_sampler_redraws_silent_steps_too() -> None:
    # independent units, p = sigmoid(-2) each: silent 60 % of the time unless drawn again
    gen = FrameGenerator(_independent_units(np.full(4, -2.0)), None, gibbs_steps=5,
                         sampler="annealed", min_notes=1, rng=4)
    draws = [gen.sample() for _ in range(2000)]
    assert all(d.frame.any() for d in draws if d.redraws < MAX_REDRAWS)
    assert np.mean([d.redraws for d in draws]) > 1.0

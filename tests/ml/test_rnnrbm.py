"""Tests of the RNN-RBM model: equations, gradient, masking, learning (tiny configs, CPU)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from composer_app.ml.rnnrbm import ConfigError, RnnRbm, RnnRbmConfig
from composer_app.ml.train import Trainer, TrainSettings, frame_accuracy

PARAMETER_SHAPES = {
    "W": (6, 5),
    "bv": (6,),
    "bh": (5,),
    "Wuh": (4, 5),
    "Wuv": (4, 6),
    "Wvu": (6, 4),
    "Wuu": (4, 4),
    "bu": (4,),
}


def tiny_config(**overrides: object) -> RnnRbmConfig:
    """6 visible units (MIDI 60-65), 5 hidden, 4 recurrent."""
    values: dict[str, object] = dict(
        n_visible=6, n_hidden=5, n_recurrent=4, pitch_low=60, pitch_high=66, cd_steps=3
    )
    values.update(overrides)
    return RnnRbmConfig(**values)  # type: ignore[arg-type]


def randomized_model(seed: int = 0, scale: float = 0.5, dtype: torch.dtype = torch.float64) -> RnnRbm:
    """A tiny model with sizeable random parameters, so every path carries gradient."""
    model = RnnRbm(tiny_config()).to(dtype)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=dtype) * scale)
    return model


def random_batch(
    batch: int, steps: int, seed: int, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, steps, 6, generator=g) < 0.4).to(dtype)


def exact_nll(model: RnnRbm, v: torch.Tensor) -> float:
    """Exact negative log-likelihood (nats) by enumerating all 2^6 visible frames.

    -log P(v_t | history) = F(v_t) + log Z_t with log Z_t = logsumexp_v(-F(v)).
    """
    all_frames = torch.tensor(list(itertools.product([0.0, 1.0], repeat=6)), dtype=v.dtype)
    with torch.no_grad():
        bv_t, bh_t = model.recurrence(v)
        energies = model.free_energy(
            all_frames[:, None, None, :], bv_t[None], bh_t[None]
        )  # (64, B, T)
        log_z = torch.logsumexp(-energies, dim=0)
        return float((model.free_energy(v, bv_t, bh_t) + log_z).sum())


def test_rnnrbm_parameters_have_paper_names_shapes_and_init() -> None:
    model = RnnRbm(tiny_config(), generator=torch.Generator().manual_seed(0))
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert shapes == PARAMETER_SHAPES
    for name in ("bv", "bh", "bu"):
        assert not getattr(model, name).any()  # biases start at 0
    big = RnnRbm(RnnRbmConfig(), generator=torch.Generator().manual_seed(0))
    # 88*150 samples of N(0, 0.01^2): the sample std lies within 2% of 0.01
    assert abs(float(big.W.detach().std()) - 0.01) < 0.0002
    # the recurrent matrices are N(0, 0.0001^2)
    for name in ("Wuh", "Wuv", "Wvu", "Wuu"):
        assert abs(float(getattr(big, name).detach().std()) - 0.0001) < 0.00001


def test_rnnrbm_recurrence_follows_the_paper_equations() -> None:
    model = randomized_model(seed=1)
    v = random_batch(2, 5, seed=2)
    bv_t, bh_t = model.recurrence(v)
    p = {name: t.detach().numpy() for name, t in model.named_parameters()}
    for b in range(2):
        u = np.zeros(4)  # u_0 = 0
        for t in range(5):
            # eq. (10), (11): biases from u_{t-1}
            np.testing.assert_allclose(bv_t[b, t].detach().numpy(), p["bv"] + u @ p["Wuv"])
            np.testing.assert_allclose(bh_t[b, t].detach().numpy(), p["bh"] + u @ p["Wuh"])
            # eq. (12): u_t = tanh(bu + u_{t-1} Wuu + v_t Wvu)
            u = np.tanh(p["bu"] + u @ p["Wuu"] + v[b, t].numpy() @ p["Wvu"])


def test_rnnrbm_free_energy_matches_its_definition_by_summing_hiddens() -> None:
    model = randomized_model(seed=3)
    v = random_batch(1, 1, seed=4)[0, 0]
    bv, bh = model.bv.detach(), model.bh.detach()
    # F(v) = -log sum_h exp(-E(v, h)), E(v, h) = -v.bv - h.bh - v W h
    hs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=5)), dtype=v.dtype)
    energies = -(v @ bv) - hs @ bh - (v @ model.W.detach()) @ hs.T
    expected = -torch.logsumexp(-energies, dim=0)
    assert float(model.free_energy(v, bv, bh).detach()) == pytest.approx(float(expected), abs=1e-10)


def test_rnnrbm_cost_gradient_matches_finite_differences() -> None:
    model = randomized_model(seed=5)
    v = random_batch(2, 6, seed=6)
    mask = torch.ones(2, 6, dtype=torch.float64)
    mask[1, 4:] = 0.0  # one padded tail, to include the mask in the check
    v_negative = random_batch(2, 6, seed=7)  # the Gibbs sample v*, held fixed
    model.zero_grad()
    model.cost(v, mask, v_negative=v_negative).backward()
    eps = 1e-6
    for name, param in model.named_parameters():
        numeric = torch.zeros_like(param)
        with torch.no_grad():
            for index in np.ndindex(*param.shape):
                old = float(param[index])
                param[index] = old + eps
                plus = float(model.cost(v, mask, v_negative=v_negative))
                param[index] = old - eps
                minus = float(model.cost(v, mask, v_negative=v_negative))
                param[index] = old
                numeric[index] = (plus - minus) / (2 * eps)  # central difference, error O(eps^2)
        assert param.grad is not None
        assert float(param.grad.abs().max()) > 1e-4, f"{name} receives no gradient"
        torch.testing.assert_close(param.grad, numeric, rtol=1e-5, atol=1e-7, msg=name)


def test_rnnrbm_padding_contributes_nothing() -> None:
    model = randomized_model(seed=8)
    a = random_batch(1, 7, seed=9)[0]
    b = random_batch(1, 4, seed=10)[0]
    neg_a = random_batch(1, 7, seed=11)[0]
    neg_b = random_batch(1, 4, seed=12)[0]
    mask = torch.tensor([[1.0] * 7, [1.0] * 4 + [0.0] * 3], dtype=torch.float64)

    def grads_and_cost(pad: torch.Tensor, pad_neg: torch.Tensor) -> tuple[float, list[torch.Tensor]]:
        v = torch.stack([a, torch.cat([b, pad])])
        v_neg = torch.stack([neg_a, torch.cat([neg_b, pad_neg])])
        model.zero_grad()
        cost = model.cost(v, mask, v_negative=v_neg)
        cost.backward()
        return float(cost.detach()), [p.grad.clone() for p in model.parameters()]  # type: ignore[union-attr]

    cost_zero, grads_zero = grads_and_cost(torch.zeros(3, 6, dtype=torch.float64),
                                           torch.zeros(3, 6, dtype=torch.float64))
    cost_junk, grads_junk = grads_and_cost(torch.ones(3, 6, dtype=torch.float64),
                                           random_batch(1, 3, seed=13)[0])
    assert cost_zero == cost_junk
    for g0, g1 in zip(grads_zero, grads_junk, strict=True):
        assert torch.equal(g0, g1)
    # and it is the frame-weighted mean of the two sequences' own costs: (7*c_a + 4*c_b) / 11
    c_a = float(model.cost(a[None], torch.ones(1, 7, dtype=torch.float64), v_negative=neg_a[None]).detach())
    c_b = float(model.cost(b[None], torch.ones(1, 4, dtype=torch.float64), v_negative=neg_b[None]).detach())
    assert cost_zero == pytest.approx((7 * c_a + 4 * c_b) / 11, rel=1e-12)


def test_rnnrbm_one_update_lowers_the_exact_negative_log_likelihood() -> None:
    torch.manual_seed(0)
    model = randomized_model(seed=14, scale=0.3)
    # a toy sequence: an alternating pair of chords, repeated
    pattern = torch.tensor([[1, 0, 1, 0, 0, 1], [0, 1, 0, 1, 1, 0]], dtype=torch.float64)
    v = pattern.repeat(6, 1)[None]  # (1, 12, 6)
    mask = torch.ones(1, 12, dtype=torch.float64)
    before = exact_nll(model, v)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    # CD-25 gives a good gradient estimate on 6 units; average a few chains for less noise
    g = torch.Generator().manual_seed(15)
    cost = sum(model.cost(v, mask, 25, generator=g) for _ in range(8)) / 8
    cost.backward()
    optimizer.step()
    after = exact_nll(model, v)
    assert after < before - 0.1


def test_rnnrbm_learns_a_periodic_pattern_to_95_percent_frame_accuracy() -> None:
    # A 4-step cycle of chords over 12 pitches; each sequence starts at a random phase, so the
    # model must read the phase from the history.
    cycle = np.zeros((4, 12), dtype=bool)
    for t, chord in enumerate(([0, 4, 7], [2, 5, 9], [4, 7, 11], [5, 9])):
        cycle[t, chord] = True
    rng = np.random.default_rng(0)
    sequences = [np.roll(np.tile(cycle, (16, 1)), -int(rng.integers(4)), axis=0) for _ in range(12)]
    config = RnnRbmConfig(
        n_visible=12, n_hidden=16, n_recurrent=16, pitch_low=60, pitch_high=72, cd_steps=5
    )
    settings = TrainSettings(
        lr=0.03, epochs=100, batch_size=12, window_steps=64, cd_steps=5, seed=0, threads=1
    )
    trainer = Trainer(config, settings, sequences, sequences)
    for _ in range(100):  # 100 Adam updates on the whole set
        batch = trainer._epoch_batches()[0]
        v = torch.from_numpy(np.stack(batch).astype(np.float32))
        trainer.train_step(v, torch.ones(v.shape[:2]))
    accuracy = frame_accuracy(trainer.model, sequences, gibbs_steps=5)
    # sampled predictions (expected counts); only frame 0 (1/64 of the frames) lacks the
    # history that tells the phase
    assert accuracy >= 0.95


def test_rnnrbm_config_round_trips_and_rejects_bad_fields() -> None:
    config = RnnRbmConfig(dataset="nottingham", training={"lr": 0.001})
    assert RnnRbmConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="format_version"):
        RnnRbmConfig.from_dict({**config.to_dict(), "format_version": 2})
    with pytest.raises(ConfigError, match="'colour'"):
        RnnRbmConfig.from_dict({**config.to_dict(), "colour": "red"})
    with pytest.raises(ConfigError, match="n_hidden"):
        RnnRbmConfig.from_dict({**config.to_dict(), "n_hidden": "150"})
    with pytest.raises(ConfigError, match="n_visible"):
        RnnRbmConfig.from_dict({**config.to_dict(), "pitch_low": 30})  # 109 - 30 != 88
    with pytest.raises(ConfigError, match="step_beats"):
        RnnRbmConfig.from_dict({**config.to_dict(), "step_beats": 0})
    # a damaged step loaded, and Continue then counted bar lines for ever on the GUI thread
    with pytest.raises(ConfigError, match="'step_beats' must be a number of beats above 0 and "
                       "at most 64, got 1e"):
        RnnRbmConfig.from_dict({**config.to_dict(), "step_beats": 1e300})
    assert RnnRbmConfig.from_dict({**config.to_dict(), "step_beats": 64}).step_beats == 64.0
    assert config.chain_start == "silence"  # configs written before the field load as before
    legacy = {k: v for k, v in config.to_dict().items() if k != "chain_start"}
    assert RnnRbmConfig.from_dict(legacy).chain_start == "silence"
    previous = RnnRbmConfig(chain_start="previous")
    assert RnnRbmConfig.from_dict(previous.to_dict()).chain_start == "previous"
    with pytest.raises(ConfigError, match="chain_start"):
        RnnRbmConfig.from_dict({**config.to_dict(), "chain_start": "noise"})
    # the sampler fields: configs written before them load as Gibbs with 25 steps
    legacy = {k: v for k, v in config.to_dict().items() if k not in ("sampler", "sampling_steps")}
    assert (RnnRbmConfig.from_dict(legacy).sampler, RnnRbmConfig.from_dict(legacy).sampling_steps) == (
        "gibbs", 25)
    annealed = RnnRbmConfig(sampler="annealed", sampling_steps=100)
    assert RnnRbmConfig.from_dict(annealed.to_dict()) == annealed
    # more steps than the generator takes: refused when the model loads, not at its first step
    assert RnnRbmConfig(sampling_steps=10_000).sampling_steps == 10_000
    with pytest.raises(ConfigError, match="'sampling_steps' must be at most 10000"):
        RnnRbmConfig.from_dict({**config.to_dict(), "sampling_steps": 10_001})
    with pytest.raises(ConfigError, match="'sampler' must be one of gibbs, annealed"):
        RnnRbmConfig.from_dict({**config.to_dict(), "sampler": "exact"})
    with pytest.raises(ConfigError, match="sampling_steps"):
        RnnRbmConfig.from_dict({**config.to_dict(), "sampling_steps": 0})
    # the register: configs written before it load without one (the app then estimates it)
    legacy = {k: v for k, v in config.to_dict().items() if k != "register_pitch"}
    assert RnnRbmConfig.from_dict(legacy).register_pitch is None
    placed = RnnRbmConfig(register_pitch=62.49)
    assert RnnRbmConfig.from_dict(placed.to_dict()).register_pitch == 62.49
    assert RnnRbmConfig(register_pitch=60).register_pitch == 60.0  # an int is a pitch too
    for bad in (20.9, 109, "C4", True, float("nan")):
        with pytest.raises(ConfigError, match=r"'register_pitch' must be null or a pitch in \[21, 109\)"):
            RnnRbmConfig.from_dict({**config.to_dict(), "register_pitch": bad})

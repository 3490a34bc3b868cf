"""Tests of the exact and AIS partition functions of batched RBMs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from composer_app.ml.ais import (
    AisError,
    ais_log_partition,
    free_energy,
    linear_schedule,
    log_partition_exact,
    reverse_ais_log_partition,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small_rbms(n_rbms: int, n_visible: int, n_hidden: int, *, scale: float, seed: int = 0):
    """Random RBMs sharing W, one bias row each (float64)."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(n_visible, n_hidden, generator=g, dtype=torch.float64) * scale
    bv = torch.randn(n_rbms, n_visible, generator=g, dtype=torch.float64) - 1.0
    bh = torch.randn(n_rbms, n_hidden, generator=g, dtype=torch.float64) * 0.5
    return W, bv, bh


def brute_force_log_z(W: torch.Tensor, bv: torch.Tensor, bh: torch.Tensor) -> float:
    """log sum over every (v, h) of exp(v.bv + h.bh + v W h): the definition, nothing summed out."""
    p, h = W.shape
    vs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=p)), dtype=torch.float64)
    hs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=h)), dtype=torch.float64)
    energies = (vs @ bv)[:, None] + (hs @ bh)[None, :] + vs @ W @ hs.T
    return float(torch.logsumexp(energies.flatten(), 0))


def test_log_partition_exact_matches_definition() -> None:
    W, bv, bh = small_rbms(3, 5, 4, scale=1.0)
    exact = log_partition_exact(W, bv, bh)
    for i in range(3):
        assert exact[i].item() == pytest.approx(brute_force_log_z(W, bv[i], bh[i]), abs=1e-9)
    # Enumerating the smaller layer (hidden here: 4 < 6) gives the same numbers.
    W6, bv6, bh6 = small_rbms(2, 6, 4, scale=1.0, seed=1)
    exact6 = log_partition_exact(W6, bv6, bh6)
    swapped = log_partition_exact(W6.T.contiguous(), bh6, bv6)
    torch.testing.assert_close(exact6, swapped)
    assert exact6[0].item() == pytest.approx(brute_force_log_z(W6, bv6[0], bh6[0]), abs=1e-9)


def test_free_energy_sums_out_hidden_units() -> None:
    W, bv, bh = small_rbms(1, 4, 3, scale=1.0)
    v = torch.tensor([[1.0, 0.0, 1.0, 1.0]], dtype=torch.float64)
    hs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)), dtype=torch.float64)
    # -F(v) = log sum_h exp(v.bv + h.bh + v W h)
    expected = torch.logsumexp((v @ bv[0]) + hs @ bh[0] + (v @ W @ hs.T)[0], 0)
    assert -free_energy(v, W, bv, bh).item() == pytest.approx(expected.item(), abs=1e-12)


def test_ais_log_partition_matches_enumeration_on_12_by_10_rbm() -> None:
    # 12 visible, 10 hidden: exact log Z sums 2^12 visible states with h summed out.
    W, bv, bh = small_rbms(8, 12, 10, scale=1.0, seed=2)
    exact = log_partition_exact(W, bv, bh)
    estimate = ais_log_partition(W, bv, bh, n_temperatures=1000, n_chains=200, rng=0)
    assert estimate.dtype == torch.float64
    assert (estimate - exact).abs().max().item() < 0.05
    # The coupling matters: the beta = 0 value alone is far off.
    log_z0 = torch.nn.functional.softplus(bv).sum(1) + torch.nn.functional.softplus(bh).sum(1)
    assert (exact - log_z0).abs().mean().item() > 1.0


def test_ais_log_partition_too_few_temperatures_underestimates() -> None:
    # Jensen: E[log mean w] <= log Z, and the gap grows as the annealing gets coarser.
    W, bv, bh = small_rbms(64, 12, 10, scale=1.0, seed=3)
    exact = log_partition_exact(W, bv, bh)
    g = np.random.default_rng(1)
    coarse = ais_log_partition(W, bv, bh, n_temperatures=2, n_chains=2, rng=g)
    fine = ais_log_partition(W, bv, bh, n_temperatures=500, n_chains=50, rng=g)
    coarse_bias = (coarse - exact).mean().item()
    fine_bias = (fine - exact).mean().item()
    assert coarse_bias < -0.1
    assert abs(fine_bias) < 0.02


def test_ais_log_partition_same_generator_seed_same_estimate() -> None:
    W, bv, bh = small_rbms(5, 12, 10, scale=1.0, seed=4)
    runs = [ais_log_partition(W, bv, bh, n_temperatures=50, n_chains=4, rng=9) for _ in range(2)]
    torch.testing.assert_close(runs[0], runs[1])


def test_ais_log_partition_chunks_do_not_change_result() -> None:
    W, bv, bh = small_rbms(7, 12, 10, scale=1.0, seed=5)
    exact = log_partition_exact(W, bv, bh)
    g = np.random.default_rng(3)
    # 7 RBMs x 40 chains in chunks of 3 RBMs: the last chunk is partial.
    chunked = ais_log_partition(W, bv, bh, n_temperatures=400, n_chains=40, rng=g, chunk_rows=120)
    assert (chunked - exact).abs().max().item() < 0.1


def test_linear_schedule_and_bad_arguments() -> None:
    torch.testing.assert_close(linear_schedule(4), torch.tensor([0.25, 0.5, 0.75, 1.0]).double())
    W, bv, bh = small_rbms(2, 3, 2, scale=1.0)
    with pytest.raises(AisError, match="at least one temperature"):
        linear_schedule(0)
    with pytest.raises(AisError, match="at least one chain"):
        ais_log_partition(W, bv, bh, n_temperatures=5, n_chains=0)
    with pytest.raises(AisError, match="ending at 1"):
        ais_log_partition(W, bv, bh, n_temperatures=2, n_chains=1, betas=torch.tensor([0.5]))
    with pytest.raises(AisError, match="W must be"):
        ais_log_partition(W.T, bv, bh, n_temperatures=5, n_chains=1)
    with pytest.raises(AisError, match="at most 20 units"):
        log_partition_exact(torch.zeros(21, 21), torch.zeros(1, 21), torch.zeros(1, 21))
    assert math.isfinite(ais_log_partition(W, bv, bh, n_temperatures=3, n_chains=2)[0].item())


def samples_of_each_rbm(W: torch.Tensor, bv: torch.Tensor, bh: torch.Tensor, seed: int) -> torch.Tensor:
    """One exact sample v of each RBM, by enumerating its 2^P visible states. -> (N, P)."""
    n_rbms, n_visible = bv.shape
    states = torch.tensor(list(itertools.product([0.0, 1.0], repeat=n_visible)), dtype=W.dtype)
    neg_free = torch.stack([-free_energy(states, W, bv[i], bh[i]) for i in range(n_rbms)])
    g = torch.Generator().manual_seed(seed)
    return states[torch.multinomial(torch.softmax(neg_free, dim=1), 1, generator=g)[:, 0]]


def test_reverse_ais_matches_enumeration_and_brackets_log_z_with_forward_ais() -> None:
    W, bv, bh = small_rbms(64, 12, 10, scale=1.5, seed=6)
    v = samples_of_each_rbm(W, bv, bh, seed=7)
    exact = log_partition_exact(W, bv, bh)
    g = np.random.default_rng(4)
    fine = reverse_ais_log_partition(W, bv, bh, v, n_temperatures=1000, n_chains=50, rng=g)
    assert fine.dtype == torch.float64 and fine.shape == (64,)
    assert abs((fine - exact).mean().item()) < 0.01
    # Coarse annealing: forward AIS underestimates log Z (flattering LL), reverse AIS
    # overestimates it (conservative LL); the exact value lies between, on average.
    coarse_forward = ais_log_partition(W, bv, bh, n_temperatures=5, n_chains=2, rng=g)
    coarse_reverse = reverse_ais_log_partition(W, bv, bh, v, n_temperatures=5, n_chains=2, rng=g)
    assert (coarse_forward - exact).mean().item() < -0.1
    assert (coarse_reverse - exact).mean().item() > 0.1


def test_reverse_ais_seeded_and_checks_its_visible_states() -> None:
    W, bv, bh = small_rbms(5, 12, 10, scale=1.0, seed=8)
    v = samples_of_each_rbm(W, bv, bh, seed=9)
    runs = [
        reverse_ais_log_partition(W, bv, bh, v, n_temperatures=50, n_chains=4, rng=3, chunk_rows=8)
        for _ in range(2)
    ]
    torch.testing.assert_close(runs[0], runs[1])
    with pytest.raises(AisError, match="v must be"):
        reverse_ais_log_partition(W, bv, bh, v[:, :3], n_temperatures=5, n_chains=2)
    with pytest.raises(AisError, match="at least one chain"):
        reverse_ais_log_partition(W, bv, bh, v, n_temperatures=5, n_chains=0)

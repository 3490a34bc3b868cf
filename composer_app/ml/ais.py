"""Partition functions of binary RBMs: exact by enumeration, estimated by AIS, batched.

The RNN-RBM gives every frame its own conditional RBM (weights ``W`` shared, biases
``bv_t``, ``bh_t`` per frame), so a frame's log-likelihood ``log p(v_t | history) =
-F_t(v_t) - log Z_t`` needs one partition function per frame. These functions take a batch
of RBMs that share ``W``: biases are ``(N, P)`` and ``(N, H)``, one row per RBM.

Energy: ``E(v, h) = -v.bv - h.bh - v W h``. Summing out one layer gives a free energy:
``F(v) = -v.bv - sum_j softplus(bh_j + (v W)_j)`` and, symmetrically,
``F(h) = -h.bh - sum_i softplus(bv_i + (W h)_i)``.

Annealed importance sampling (Neal 2001; for RBMs Salakhutdinov & Murray 2008) runs chains
through the RBMs with weights ``beta * W`` for ``0 = beta_0 < ... < beta_K = 1``. At
``beta = 0`` the units are independent and ``log Z_0 = sum_i softplus(bv_i) + sum_j
softplus(bh_j)`` exactly. The chains here live on the hidden units with the visible ones
summed out, ``log p*_beta(h) = h.bh + sum_i softplus(bv_i + beta (W h)_i)``: the softplus
terms then run over the 88 visible units instead of the 150 hidden ones. The weight of a
chain is ``prod_k p*_{beta_k}(h_{k-1}) / p*_{beta_{k-1}}(h_{k-1})``, whose mean over chains
is an unbiased estimate of ``Z / Z_0``; its log is biased low when there are too few
temperatures or chains (Jensen), which would flatter a log-likelihood.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional

# Rows of chains processed at once: big enough for efficient matmuls, small enough for the
# working set of the elementwise steps to stay in cache.
DEFAULT_CHUNK_ROWS = 1024


class AisError(ValueError):
    """Bad arguments to the partition-function estimators."""


def free_energy(v: Tensor, W: Tensor, bv: Tensor, bh: Tensor) -> Tensor:
    """``F(v) = -v.bv - sum_j softplus(bh_j + (v W)_j)`` (hidden units summed out).

    Shapes: ``v (N, P)``, ``W (P, H)``, ``bv (N, P)`` or ``(P,)``, ``bh (N, H)`` or ``(H,)``
    -> ``(N,)``. Units: nats.
    """
    return -(v * bv).sum(-1) - functional.softplus(v @ W + bh).sum(-1)


def log_partition_exact(W: Tensor, bv: Tensor, bh: Tensor) -> Tensor:
    """``log Z`` of each RBM by enumerating the smaller layer (at most 20 units), float64.

    ``log Z = logsumexp_v (-F(v))`` over all ``2^P`` visible states (or the symmetric sum
    over hidden states when that layer is smaller).

    Shapes: ``W (P, H)``, ``bv (N, P)``, ``bh (N, H)`` -> ``(N,)``. Units: nats.
    """
    W, bv, bh = (x.to(torch.float64) for x in (W, bv, bh))
    if W.shape[1] < W.shape[0]:  # enumerate the hidden layer instead: swap the roles
        W, bv, bh = W.T, bh, bv
    n_units = W.shape[0]
    if n_units > 20:
        raise AisError(f"exact enumeration needs a layer of at most 20 units, got {n_units}")
    states = torch.tensor(list(itertools.product([0.0, 1.0], repeat=n_units)), dtype=W.dtype)
    # -F(v) for every state (rows) and every RBM (columns): (2^P, N).
    neg_free = states @ bv.T + functional.softplus((states @ W)[:, None, :] + bh[None]).sum(-1)
    return torch.logsumexp(neg_free, dim=0)


def log_partition_base(bv: Tensor, bh: Tensor) -> Tensor:
    """Exact ``log Z_0`` of the ``beta = 0`` RBMs, whose units are independent, float64.

    ``sum_i softplus(bv_i) + sum_j softplus(bh_j)``. Shapes: ``(N, P)``, ``(N, H)`` -> ``(N,)``.
    """
    return functional.softplus(bv.detach().double()).sum(-1) + functional.softplus(
        bh.detach().double()
    ).sum(-1)


def linear_schedule(n_temperatures: int) -> Tensor:
    """``beta_1..beta_K`` evenly spaced in ``(0, 1]`` (``beta_0 = 0`` is implied). Shapes: ``(K,)``."""
    if n_temperatures < 1:
        raise AisError(f"AIS needs at least one temperature, got {n_temperatures}")
    return torch.arange(1, n_temperatures + 1, dtype=torch.float64) / n_temperatures


def ais_log_weights(
    W: Tensor,
    bv: Tensor,
    bh: Tensor,
    *,
    betas: Tensor,
    n_chains: int,
    rng: np.random.Generator | int | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    visible_means: Tensor | None = None,
) -> Tensor:
    """Log importance weights ``log w`` of ``n_chains`` AIS chains per RBM (float64).

    ``mean_c w`` estimates ``Z / Z_0``; the spread of ``log w`` over chains measures how
    well the schedule ``betas`` anneals (a zero spread would be exact). The chains' final
    hidden states ``h_c`` with weights ``w_c`` are also importance samples of each RBM, so
    ``sum_c w_c f(h_c) / sum_c w_c`` estimates an expectation under it: when
    ``visible_means (N, n_chains, P)`` is given, it is filled with ``p(v = 1 | h_c)``.
    Shapes: ``W (P, H)``, ``bv (N, P)``, ``bh (N, H)``, ``betas (K,)`` -> ``(N, n_chains)``.
    """
    _check_arguments(W, bv, bh, betas, n_chains)
    return _in_chunks(_ais_chunk, W, bv, bh, betas, n_chains, rng, chunk_rows, visible_means)


def ais_log_partition(
    W: Tensor,
    bv: Tensor,
    bh: Tensor,
    *,
    n_temperatures: int,
    n_chains: int,
    rng: np.random.Generator | int | None = None,
    betas: Tensor | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Tensor:
    """AIS estimate of ``log Z`` for a batch of RBMs that share ``W``.

    ``log Z = log Z_0 + log mean_c w_c`` with ``n_chains`` chains per RBM and
    ``n_temperatures`` intermediate distributions (linearly spaced ``beta`` unless ``betas``
    is given). The chains run in float32; log-weights accumulate in float64. ``rng`` (a
    numpy Generator or seed) draws every uniform: the same seed gives the same estimate.

    Shapes: ``W (P, H)``, ``bv (N, P)``, ``bh (N, H)`` -> ``(N,)`` float64. Units: nats.
    """
    if betas is None:
        betas = linear_schedule(n_temperatures)
    log_w = ais_log_weights(
        W, bv, bh, betas=betas, n_chains=n_chains, rng=rng, chunk_rows=chunk_rows
    )
    return log_partition_base(bv, bh) + torch.logsumexp(log_w, dim=1) - math.log(n_chains)


def reverse_ais_log_weights(
    W: Tensor,
    bv: Tensor,
    bh: Tensor,
    v: Tensor,
    *,
    betas: Tensor,
    n_chains: int,
    rng: np.random.Generator | int | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Tensor:
    """Log weights ``-S_c`` of ``n_chains`` *reverse* AIS chains per RBM, started at ``v``.

    Reverse annealing (RAISE; Burda, Grosse & Salakhutdinov 2015) runs the AIS chain
    backwards: ``h_K ~ p(h | v)`` in the target RBM, then one Gibbs transition at each
    ``beta_k`` from ``beta_K = 1`` down to ``beta_1``, each leaving ``p_{beta_k}`` invariant
    (``h_{k-1}`` from ``h_k``). With ``S_c = sum_k log p*_{beta_k}(h_{k-1}) - log
    p*_{beta_{k-1}}(h_{k-1})`` along the chain, ``exp(-F(v) - log Z_0 - S_c)`` is an unbiased
    estimate of ``p_ann(v)``, the probability of ``v`` under the forward annealing run seen
    as a generative model (``p_ann`` tends to the RBM as the temperatures grow). So
    ``log Z_0 - log mean_c exp(-S_c)`` is an estimate of ``log Z`` seen from ``v``, and the
    log-likelihood it gives is a stochastic lower bound of ``log p_ann(v)`` (Jensen again,
    the other way round). That is conservative for the RBM on average over the RBM's own
    samples, and for data the RBM fits; for a ``v`` that a less annealed, smoother
    distribution finds likelier than the RBM does, ``p_ann(v)`` exceeds ``p(v)`` until there
    are enough temperatures. Forward AIS flatters in every case; when the two estimates
    meet, the annealing has converged.

    Shapes: ``W (P, H)``, ``bv (N, P)``, ``bh (N, H)``, ``v (N, P)`` 0/1, ``betas (K,)`` ->
    ``(N, n_chains)`` float64.
    """
    _check_arguments(W, bv, bh, betas, n_chains)
    if v.shape != bv.shape:
        raise AisError(f"v must be {tuple(bv.shape)} like bv, got {tuple(v.shape)}")
    v32 = v.detach().to(torch.float32)
    return _in_chunks(_reverse_ais_chunk, W, bv, bh, betas, n_chains, rng, chunk_rows, v32)


def reverse_ais_log_partition(
    W: Tensor,
    bv: Tensor,
    bh: Tensor,
    v: Tensor,
    *,
    n_temperatures: int,
    n_chains: int,
    rng: np.random.Generator | int | None = None,
    betas: Tensor | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Tensor:
    """Reverse-AIS estimate of ``log Z`` seen from the visible state ``v``.

    ``log Z_0 - log mean_c exp(-S_c)`` (see :func:`reverse_ais_log_weights`): with it,
    ``-F(v) - log Z`` is a conservative log-likelihood of ``v`` (for the annealing process),
    the counterpart of :func:`ais_log_partition`'s flattering one; with enough temperatures
    both meet.
    Shapes: ``W (P, H)``, ``bv (N, P)``, ``bh (N, H)``, ``v (N, P)`` -> ``(N,)`` float64.
    """
    if betas is None:
        betas = linear_schedule(n_temperatures)
    log_w = reverse_ais_log_weights(
        W, bv, bh, v, betas=betas, n_chains=n_chains, rng=rng, chunk_rows=chunk_rows
    )
    return log_partition_base(bv, bh) - torch.logsumexp(log_w, dim=1) + math.log(n_chains)


def _in_chunks(
    chunk: Callable[..., Tensor],
    W: Tensor,
    bv: Tensor,
    bh: Tensor,
    betas: Tensor,
    n_chains: int,
    rng: np.random.Generator | int | None,
    chunk_rows: int,
    per_rbm: Tensor | None,
) -> Tensor:
    """Run ``chunk(WT, W, bv, bh, beta_list, n_chains, rng, per_rbm)`` over row-bounded chunks.

    Each call gets a chunk's rows of ``bv``, ``bh`` (float32) and of ``per_rbm`` (a view, or
    None), ``beta_list = [0, *betas]`` and ``W`` in float32 with its transpose, and returns
    those RBMs' ``(rows, n_chains)`` log-weights. -> ``(N, n_chains)`` float64.
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    W32 = W.detach().to(torch.float32).contiguous()
    WT = W32.T.contiguous()
    beta_list = [0.0, *betas.to(torch.float64).tolist()]
    n_rbms = bv.shape[0]
    result = torch.empty(n_rbms, n_chains, dtype=torch.float64)
    rbms_per_chunk = max(1, chunk_rows // n_chains)
    with torch.no_grad():
        for start in range(0, n_rbms, rbms_per_chunk):
            rows = slice(start, min(start + rbms_per_chunk, n_rbms))
            result[rows] = chunk(
                WT,
                W32,
                bv[rows].detach().to(torch.float32),
                bh[rows].detach().to(torch.float32),
                beta_list,
                n_chains,
                rng,
                None if per_rbm is None else per_rbm[rows],
            )
    return result


def _check_arguments(W: Tensor, bv: Tensor, bh: Tensor, betas: Tensor, n_chains: int) -> None:
    if n_chains < 1:
        raise AisError(f"AIS needs at least one chain, got {n_chains}")
    betas = betas.to(torch.float64)
    if betas.ndim != 1 or len(betas) < 1 or float(betas[-1]) != 1.0 or bool((betas <= 0).any()):
        raise AisError("the AIS schedule must be increasing positive betas ending at 1")
    if bool((betas[1:] <= betas[:-1]).any()):
        raise AisError("the AIS schedule must be strictly increasing")
    if bv.ndim != 2 or bh.ndim != 2 or bh.shape[0] != bv.shape[0]:
        raise AisError(
            f"biases must be (N, P) and (N, H), got {tuple(bv.shape)}, {tuple(bh.shape)}"
        )
    if W.shape != (bv.shape[1], bh.shape[1]):
        raise AisError(f"W must be {(bv.shape[1], bh.shape[1])}, got {tuple(W.shape)}")


class _Chains:
    """Buffers of ``n_chains`` chains per RBM for one chunk, one row per (RBM, chain).

    Rows are RBM-major, so a row's biases are each RBM's repeated ``n_chains`` times. The
    uniforms come from numpy's PCG64 (float32), several times faster than torch's CPU
    generator, and torch sees the same memory.
    """

    def __init__(self, W: Tensor, bv: Tensor, bh: Tensor, n_chains: int) -> None:
        n_hidden, n_visible = bh.shape[1], bv.shape[1]
        self.W = W
        self.bv_rows = bv.repeat_interleave(n_chains, dim=0)
        self.bh_rows = bh.repeat_interleave(n_chains, dim=0)
        rows = self.bv_rows.shape[0]
        self.noise_h_np = np.empty((rows, n_hidden), dtype=np.float32)
        self.noise_v_np = np.empty((rows, n_visible), dtype=np.float32)
        self.noise_h = torch.from_numpy(self.noise_h_np)
        self.noise_v = torch.from_numpy(self.noise_v_np)
        self.b = torch.empty(rows, n_visible)  # W h
        self.x = torch.empty(rows, n_visible)
        self.x_prev = torch.empty(rows, n_visible)
        self.a = torch.empty(rows, n_hidden)
        self.v = torch.empty(rows, n_visible)
        self.h = torch.empty(rows, n_hidden)
        self.rows = rows

    def draw_hidden(self, rng: np.random.Generator, a: Tensor) -> None:
        """``h`` on where its uniform falls below ``sigmoid(a)`` (``a`` is overwritten)."""
        rng.random(out=self.noise_h_np, dtype=np.float32)
        torch.lt(self.noise_h, a.sigmoid_(), out=self.h)

    def gibbs_transition(self, rng: np.random.Generator, x: Tensor, beta: float) -> None:
        """One sweep that leaves ``p_beta`` invariant, given ``x = bv + beta W h``: v | h, then
        h | v, each unit on when its uniform falls below its probability (``x`` is overwritten).
        """
        rng.random(out=self.noise_v_np, dtype=np.float32)
        torch.lt(self.noise_v, x.sigmoid_(), out=self.v)
        torch.addmm(self.bh_rows, self.v, self.W, alpha=beta, out=self.a)
        self.draw_hidden(rng, self.a)


def _ais_chunk(
    WT: Tensor,
    W: Tensor,
    bv: Tensor,
    bh: Tensor,
    beta_list: list[float],
    n_chains: int,
    rng: np.random.Generator,
    visible_means: Tensor | None = None,
) -> Tensor:
    """Log importance weights of ``n_chains`` AIS chains per RBM. Shapes: -> ``(n, n_chains)``.

    ``visible_means (n, n_chains, P)``, when given, receives ``p(v = 1 | h)`` of each chain's
    final hidden state in the target RBM (``beta = 1``).
    """
    n, n_visible = bv.shape
    c = _Chains(W, bv, bh, n_chains)
    # h_0 from the beta = 0 distribution: independent units with p = sigmoid(bh).
    c.draw_hidden(rng, c.bh_rows.clone())
    log_w = torch.zeros(c.rows, dtype=torch.float64)
    last = len(beta_list) - 1
    for k in range(1, last + 1):
        beta_prev, beta = beta_list[k - 1], beta_list[k]
        torch.mm(c.h, WT, out=c.b)  # (W h) for every chain, shared by both terms and the move
        torch.add(c.bv_rows, c.b, alpha=beta_prev, out=c.x_prev)
        torch.add(c.bv_rows, c.b, alpha=beta, out=c.x)
        # log p*_{beta_k}(h_{k-1}) - log p*_{beta_{k-1}}(h_{k-1}); the h.bh terms cancel.
        log_w += (functional.softplus(c.x) - functional.softplus(c.x_prev)).sum(-1)
        if k == last:
            if visible_means is not None:  # x = bv + W h at beta = 1
                visible_means.copy_(c.x.sigmoid_().view(n, n_chains, n_visible))
            break
        c.gibbs_transition(rng, c.x, beta)
    return log_w.view(n, n_chains)


def _reverse_ais_chunk(
    WT: Tensor,
    W: Tensor,
    bv: Tensor,
    bh: Tensor,
    beta_list: list[float],
    n_chains: int,
    rng: np.random.Generator,
    v_start: Tensor,
) -> Tensor:
    """``-S_c`` of ``n_chains`` reverse chains per RBM started at ``v_start (n, P)``.

    Shapes: -> ``(n, n_chains)``.
    """
    n = bv.shape[0]
    c = _Chains(W, bv, bh, n_chains)
    # h_K ~ p(h | v) in the target RBM (beta = 1): the chain's state given the data.
    torch.addmm(c.bh_rows, v_start.repeat_interleave(n_chains, dim=0), W, out=c.a)
    c.draw_hidden(rng, c.a)
    torch.mm(c.h, WT, out=c.b)
    x, x_prev = c.x, c.x_prev
    torch.add(c.bv_rows, c.b, out=x)  # bv + beta_K W h_K with beta_K = 1
    neg_s = torch.zeros(c.rows, dtype=torch.float64)
    for k in range(len(beta_list) - 1, 0, -1):
        beta, beta_prev = beta_list[k], beta_list[k - 1]
        # Gibbs transition at beta_k (x = bv + beta_k W h_k): h_k -> v -> h_{k-1}
        c.gibbs_transition(rng, x, beta)
        torch.mm(c.h, WT, out=c.b)
        torch.add(c.bv_rows, c.b, alpha=beta, out=x)
        torch.add(c.bv_rows, c.b, alpha=beta_prev, out=x_prev)
        # -(log p*_{beta_k}(h_{k-1}) - log p*_{beta_{k-1}}(h_{k-1})); the h.bh terms cancel
        neg_s -= (functional.softplus(x) - functional.softplus(x_prev)).sum(-1)
        x, x_prev = x_prev, x  # the next transition is at beta_{k-1}
    return neg_s.view(n, n_chains)

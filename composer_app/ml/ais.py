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

import torch
from torch import Tensor
from torch.nn import functional

# Rows of chains processed at once: big enough for efficient matmuls, small enough for the
# working set of the elementwise steps to stay in cache.
DEFAULT_CHUNK_ROWS = 4096


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


def linear_schedule(n_temperatures: int) -> Tensor:
    """``beta_1..beta_K`` evenly spaced in ``(0, 1]`` (``beta_0 = 0`` is implied). Shapes: ``(K,)``."""
    if n_temperatures < 1:
        raise AisError(f"AIS needs at least one temperature, got {n_temperatures}")
    return torch.arange(1, n_temperatures + 1, dtype=torch.float64) / n_temperatures


def ais_log_partition(
    W: Tensor,
    bv: Tensor,
    bh: Tensor,
    *,
    n_temperatures: int,
    n_chains: int,
    generator: torch.Generator | None = None,
    betas: Tensor | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Tensor:
    """AIS estimate of ``log Z`` for a batch of RBMs that share ``W``.

    ``log Z = log Z_0 + log mean_c w_c`` with ``n_chains`` chains per RBM and
    ``n_temperatures`` intermediate distributions (linearly spaced ``beta`` unless ``betas``
    is given). The chains run in float32; log-weights accumulate in float64.

    Shapes: ``W (P, H)``, ``bv (N, P)``, ``bh (N, H)`` -> ``(N,)`` float64. Units: nats.
    """
    if n_chains < 1:
        raise AisError(f"AIS needs at least one chain, got {n_chains}")
    if betas is None:
        betas = linear_schedule(n_temperatures)
    betas = betas.to(torch.float64)
    if betas.ndim != 1 or len(betas) < 1 or float(betas[-1]) != 1.0 or bool((betas <= 0).any()):
        raise AisError("the AIS schedule must be increasing positive betas ending at 1")
    if bool((betas[1:] <= betas[:-1]).any()):
        raise AisError("the AIS schedule must be strictly increasing")
    n_rbms = bv.shape[0]
    if bv.ndim != 2 or bh.ndim != 2 or bh.shape[0] != n_rbms:
        raise AisError(
            f"biases must be (N, P) and (N, H), got {tuple(bv.shape)}, {tuple(bh.shape)}"
        )
    if W.shape != (bv.shape[1], bh.shape[1]):
        raise AisError(f"W must be {(bv.shape[1], bh.shape[1])}, got {tuple(W.shape)}")
    W32 = W.detach().to(torch.float32)
    WT = W32.T.contiguous()
    result = torch.empty(n_rbms, dtype=torch.float64)
    rbms_per_chunk = max(1, chunk_rows // n_chains)
    beta_list = [0.0, *betas.tolist()]
    with torch.no_grad():
        for start in range(0, n_rbms, rbms_per_chunk):
            stop = min(start + rbms_per_chunk, n_rbms)
            bv_c = bv[start:stop].detach().to(torch.float32)
            bh_c = bh[start:stop].detach().to(torch.float32)
            # exact log Z_0 of the independent units (beta = 0)
            log_z0 = functional.softplus(bv_c.double()).sum(-1) + functional.softplus(
                bh_c.double()
            ).sum(-1)
            log_w = _ais_chunk(WT, W32, bv_c, bh_c, beta_list, n_chains, generator)
            log_mean_w = torch.logsumexp(log_w, dim=1) - math.log(n_chains)
            result[start:stop] = log_z0 + log_mean_w
    return result


def _ais_chunk(
    WT: Tensor,
    W: Tensor,
    bv: Tensor,
    bh: Tensor,
    beta_list: list[float],
    n_chains: int,
    generator: torch.Generator | None,
) -> Tensor:
    """Log importance weights of ``n_chains`` AIS chains per RBM. Shapes: -> ``(n, n_chains)``."""
    n, n_hidden = bh.shape
    # One row per (RBM, chain): RBM-major so a row's biases are repeated n_chains times.
    bv_rows = bv.repeat_interleave(n_chains, dim=0)
    bh_rows = bh.repeat_interleave(n_chains, dim=0)
    rows = bv_rows.shape[0]
    noise_h = torch.empty(rows, n_hidden)
    noise_v = torch.empty(rows, bv.shape[1])
    # h_0 from the beta = 0 distribution: independent units with p = sigmoid(bh).
    torch.rand(noise_h.shape, generator=generator, out=noise_h)
    h = (noise_h < torch.sigmoid(bh_rows)).to(torch.float32)
    log_w = torch.zeros(rows, dtype=torch.float64)
    last = len(beta_list) - 1
    for k in range(1, last + 1):
        beta_prev, beta = beta_list[k - 1], beta_list[k]
        b = h @ WT  # (W h) for every chain, shared by both terms and the transition
        x_prev = torch.add(bv_rows, b, alpha=beta_prev)
        x = torch.add(bv_rows, b, alpha=beta)
        # log p*_{beta_k}(h_{k-1}) - log p*_{beta_{k-1}}(h_{k-1}); the h.bh terms cancel.
        log_w += (functional.softplus(x) - functional.softplus(x_prev)).sum(-1).double()
        if k == last:
            break
        # Gibbs transition that leaves p_{beta_k} invariant: v | h, then h | v.
        torch.rand(noise_v.shape, generator=generator, out=noise_v)
        v = (noise_v < torch.sigmoid(x)).to(torch.float32)
        a = torch.addmm(bh_rows, v, W, alpha=beta)
        torch.rand(noise_h.shape, generator=generator, out=noise_h)
        h = (noise_h < torch.sigmoid(a)).to(torch.float32)
    return log_w.view(n, n_chains)

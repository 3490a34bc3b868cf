"""The RNN-RBM of Boulanger-Lewandowski, Bengio & Vincent (ICML 2012), the whole model in one file.

A sequence of binary piano-roll frames ``v_1..v_T`` is modelled as a chain of RBMs whose biases
depend on a deterministic RNN state ``u_{t-1}`` that summarises the history (paper, section 3):

* eq. (10)/(11): ``bh_t = bh + u_{t-1} Wuh`` and ``bv_t = bv + u_{t-1} Wuv``
* eq. (12):      ``u_t = tanh(bu + u_{t-1} Wuu + v_t Wvu)``, with ``u_0 = 0``

Row vectors are used throughout, as in the deeplearning.net tutorial, so ``W`` is
``(n_visible, n_hidden)`` and a frame's hidden pre-activation is ``v @ W + bh_t``.

Training follows section 3 of the paper: the log-likelihood gradient of each frame's RBM is
estimated by contrastive divergence (CD-k), expressed as the free-energy difference
``F(v_t) - F(v*_t)`` with the negative sample ``v*_t`` held constant; back-propagating it
through ``bv_t`` and ``bh_t`` into the RNN gives the gradient of eq. (13)-(15) for every
parameter. Since each frame's Gibbs chain needs only that frame's biases (which come from
the teacher-forced recurrence), the chains of all ``B*T`` frames run at once as big matmuls;
only the recurrence itself is sequential over time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional

from composer_app.ml.generate import MAX_GIBBS_STEPS, SAMPLERS

FORMAT_VERSION = 1
# Where a frame's sampling chain starts (see RnnRbmConfig.chain_start).
CHAIN_STARTS = ("silence", "previous")
# The longest frame a model may have, in quarter-note beats (16 bars of 4/4; the benchmarks'
# are half a beat or one beat). ``composer-app train --step-beats`` takes up to this too.
MAX_STEP_BEATS = 64.0


class ConfigError(ValueError):
    """A model configuration is malformed; the message names the field."""


@dataclass
class RnnRbmConfig:
    """Architecture, piano-roll layout and provenance of one RNN-RBM.

    Units: ``step_beats`` is the length of one frame in quarter-note beats (0.5 = an eighth
    note, the resolution of the 2012 benchmarks except JSB Chorales, which uses 1.0).
    Pitches are MIDI numbers; frames cover ``[pitch_low, pitch_high)``.
    """

    n_visible: int = 88
    n_hidden: int = 150
    n_recurrent: int = 100
    pitch_low: int = 21
    pitch_high: int = 109
    step_beats: float = 0.5
    key_normalization: str = "C major/C minor"
    dataset: str = ""
    cd_steps: int = 15
    # Where generation and the accuracy start each frame's Gibbs chain: "silence" (the
    # all-off frame, as in the tutorial) or "previous" (the frame before, which suits a model
    # trained with CD chains started at the data: its RBMs mix slowly away from the data).
    chain_start: str = "silence"
    # How generation (the app, ``generate``, the register estimate) draws each frame: "gibbs"
    # (a chain of ``sampling_steps`` block-Gibbs steps from ``chain_start``) or "annealed"
    # (annealed importance sampling over ``sampling_steps`` temperatures, one chain resampled
    # by its weight: close to the RBM's own distribution, for models whose Gibbs chains mix
    # slowly). ``sampling_steps`` is what the app uses unless the user sets another number.
    sampler: str = "gibbs"
    sampling_steps: int = 25
    # The mean MIDI pitch of the training music (every sounding key of every frame): the
    # register the app moves a seed into by whole octaves. None (checkpoints written before
    # it existed): the app estimates it at load by sampling the model.
    register_pitch: float | None = None
    training: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        for name in ("n_visible", "n_hidden", "n_recurrent", "cd_steps", "sampling_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"config field {name!r} must be a positive integer, got {value!r}")
        if self.sampling_steps > MAX_GIBBS_STEPS:  # the generator would refuse it at once
            raise ConfigError(
                f"config field 'sampling_steps' must be at most {MAX_GIBBS_STEPS}, "
                f"got {self.sampling_steps}"
            )
        for name in ("pitch_low", "pitch_high"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 128:
                raise ConfigError(f"config field {name!r} must be an integer 0..128, got {value!r}")
        if self.pitch_high - self.pitch_low != self.n_visible:
            raise ConfigError(
                f"config field 'n_visible' ({self.n_visible}) must equal pitch_high - pitch_low "
                f"({self.pitch_high} - {self.pitch_low} = {self.pitch_high - self.pitch_low})"
            )
        if (
            not isinstance(self.step_beats, int | float)
            or isinstance(self.step_beats, bool)
            or not math.isfinite(self.step_beats)
            or not 0 < self.step_beats <= MAX_STEP_BEATS
        ):
            # (a damaged step of 1e300 beats loaded, and Continue then counted bar lines for
            # ever to place it)
            raise ConfigError(
                f"config field 'step_beats' must be a number of beats above 0 and at most "
                f"{MAX_STEP_BEATS:g}, got {self.step_beats!r}"
            )
        self.step_beats = float(self.step_beats)
        for name in ("key_normalization", "dataset"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"config field {name!r} must be a string")
        if self.chain_start not in CHAIN_STARTS:
            raise ConfigError(
                f"config field 'chain_start' must be one of {', '.join(CHAIN_STARTS)}, got "
                f"{self.chain_start!r}"
            )
        if self.sampler not in SAMPLERS:
            raise ConfigError(
                f"config field 'sampler' must be one of {', '.join(SAMPLERS)}, got "
                f"{self.sampler!r}"
            )
        if self.register_pitch is not None:
            value = self.register_pitch
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not self.pitch_low <= value < self.pitch_high
            ):
                raise ConfigError(
                    f"config field 'register_pitch' must be null or a pitch in "
                    f"[{self.pitch_low}, {self.pitch_high}), got {value!r}"
                )
            self.register_pitch = float(value)
        if not isinstance(self.training, dict):
            raise ConfigError("config field 'training' must be a JSON object")
        if not isinstance(self.format_version, int) or isinstance(self.format_version, bool):
            raise ConfigError("config field 'format_version' must be an integer")
        if self.format_version != FORMAT_VERSION:
            raise ConfigError(
                f"config field 'format_version' is {self.format_version}; this program reads "
                f"version {FORMAT_VERSION} only (a newer program may have written it)"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RnnRbmConfig:
        """Build a config from :meth:`to_dict` output; raises :class:`ConfigError` naming the field."""
        if not isinstance(data, dict):
            raise ConfigError(f"a model config must be a JSON object, got {type(data).__name__}")
        version = data.get("format_version")
        if version is None:
            raise ConfigError("config field 'format_version' is missing")
        if not isinstance(version, int) or version != FORMAT_VERSION:
            raise ConfigError(
                f"config field 'format_version' is {version!r}; this program reads version "
                f"{FORMAT_VERSION} only (a newer program may have written it)"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(map(repr, unknown))}")
        try:
            return cls(**data)
        except TypeError as exc:  # pragma: no cover - all fields have defaults
            raise ConfigError(str(exc)) from exc

    @property
    def n_params(self) -> int:
        """Number of scalar parameters of the model this config builds."""
        v, h, r = self.n_visible, self.n_hidden, self.n_recurrent
        return v * h + v + h + r * h + r * v + v * r + r * r + r


class RnnRbm(nn.Module):
    """The RNN-RBM; parameter names and shapes follow the paper and the tutorial.

    Shapes: ``W (P, H)``, ``bv (P)``, ``bh (H)``, ``Wuh (R, H)``, ``Wuv (R, P)``,
    ``Wvu (P, R)``, ``Wuu (R, R)``, ``bu (R)`` with ``P = n_visible``, ``H = n_hidden``,
    ``R = n_recurrent``.
    """

    def __init__(self, config: RnnRbmConfig, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        p, h, r = config.n_visible, config.n_hidden, config.n_recurrent

        def normal(shape: tuple[int, ...], std: float) -> nn.Parameter:
            return nn.Parameter(torch.randn(shape, generator=generator) * std)

        # Initial values of the tutorial: small Gaussian weights, zero biases.
        self.W = normal((p, h), 0.01)
        self.bv = nn.Parameter(torch.zeros(p))
        self.bh = nn.Parameter(torch.zeros(h))
        self.Wuh = normal((r, h), 0.0001)
        self.Wuv = normal((r, p), 0.0001)
        self.Wvu = normal((p, r), 0.0001)
        self.Wuu = normal((r, r), 0.0001)
        self.bu = nn.Parameter(torch.zeros(r))

    # --- the RNN ---------------------------------------------------------------------------

    def hidden_states(self, v: Tensor) -> Tensor:
        """The RNN states ``u_{t-1}`` that precede each frame (teacher forcing).

        Shapes: ``v (B, T, P)`` -> ``(B, T, R)``; row ``t`` holds ``u_{t-1}``, row 0 is ``u_0 = 0``.
        """
        batch, steps, _ = v.shape
        # The input term of eq. (12) for every frame at once: bu + v_t Wvu.
        drive = torch.matmul(v, self.Wvu) + self.bu  # (B, T, R)
        u_prev = v.new_zeros(batch, self.config.n_recurrent)  # u_0 = 0
        states = []
        for t in range(steps):
            states.append(u_prev)  # u_{t-1}, which conditions frame t
            # eq. (12): u_t = tanh(bu + u_{t-1} Wuu + v_t Wvu)
            u_prev = torch.tanh(drive[:, t] + u_prev @ self.Wuu)
        return torch.stack(states, dim=1)

    def biases_from_states(self, u_prev: Tensor) -> tuple[Tensor, Tensor]:
        """Conditional RBM biases from the preceding RNN states.

        Shapes: ``u_prev (..., R)`` -> ``bv_t (..., P)``, ``bh_t (..., H)``.
        """
        bv_t = self.bv + u_prev @ self.Wuv  # eq. (11): bv_t = bv + u_{t-1} Wuv
        bh_t = self.bh + u_prev @ self.Wuh  # eq. (10): bh_t = bh + u_{t-1} Wuh
        return bv_t, bh_t

    def recurrence(self, v: Tensor) -> tuple[Tensor, Tensor]:
        """Biases of each frame's conditional RBM given the true history.

        Shapes: ``v (B, T, P)`` float -> ``bv_t (B, T, P)``, ``bh_t (B, T, H)``.
        """
        return self.biases_from_states(self.hidden_states(v))

    def step_state(self, v_t: Tensor, u_prev: Tensor) -> Tensor:
        """One step of eq. (12) for generation. Shapes: ``v_t (B, P)``, ``u_prev (B, R)`` -> ``(B, R)``."""
        return torch.tanh(self.bu + u_prev @ self.Wuu + v_t @ self.Wvu)

    # --- the RBM -----------------------------------------------------------------------------

    def free_energy(self, v: Tensor, bv_t: Tensor, bh_t: Tensor) -> Tensor:
        """RBM free energy ``F(v) = -v.bv_t - sum_j softplus(bh_t_j + (v W)_j)`` per frame.

        Shapes: ``v (..., P)``, ``bv_t (..., P)``, ``bh_t (..., H)`` -> ``(...)``. Units: nats.
        """
        visible_term = (v * bv_t).sum(-1)  # v . bv_t
        # Summing the hidden units out of exp(-E(v, h)) gives one softplus per hidden unit.
        hidden_term = functional.softplus(v @ self.W + bh_t).sum(-1)
        return -visible_term - hidden_term

    def gibbs(
        self,
        v: Tensor,
        bv_t: Tensor,
        bh_t: Tensor,
        k: int,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``k`` steps of block Gibbs sampling v -> h -> v, started at ``v``, without gradient.

        Shapes: ``v (..., P)``, ``bv_t (..., P)``, ``bh_t (..., H)`` -> the final visible
        sample ``(..., P)``, same dtype as ``v``. The biases have ``v``'s leading shape or none.
        """
        with torch.no_grad():
            w = self.W.detach()
            shape = v.shape
            v = v.reshape(-1, shape[-1])
            bv_flat = bv_t.detach().reshape(-1, shape[-1]).expand(v.shape[0], -1)
            bh_flat = bh_t.detach().reshape(-1, bh_t.shape[-1]).expand(v.shape[0], -1)
            for _ in range(k):
                # P(h_j = 1 | v) = sigmoid(bh_t_j + (v W)_j); h_j = 1 where uniform < P
                p_h = torch.sigmoid(torch.addmm(bh_flat, v, w))
                h = torch.empty_like(p_h).uniform_(generator=generator).lt_(p_h)
                # P(v_i = 1 | h) = sigmoid(bv_t_i + (h W^T)_i); sampled the same way
                p_v = torch.sigmoid(torch.addmm(bv_flat, h, w.t()))
                v = torch.empty_like(p_v).uniform_(generator=generator).lt_(p_v)
            v = v.reshape(shape)
        return v

    def cost(
        self,
        v: Tensor,
        mask: Tensor,
        k: int | None = None,
        *,
        v_negative: Tensor | None = None,
        generator: torch.Generator | None = None,
        chain_start: str = "data",
    ) -> Tensor:
        """CD-k training cost: the mean over unmasked frames of ``F(v_t) - F(v*_t)``.

        Its gradient w.r.t. every parameter is the CD-k estimate of the negative
        log-likelihood gradient of eq. (13)-(15), back-propagated through the recurrence.
        ``v*`` is the end of a ``k``-step Gibbs chain started at the data (or ``v_negative``
        when given, e.g. to check gradients with a fixed sample) and is held constant.
        ``chain_start="silence"`` starts the chain at the all-off frame instead, the start
        that generation and the accuracy measure use: the gradient then also lowers the free
        energy of the data relative to where short chains from silence end up (a variant of
        CD, not the paper's).

        Shapes: ``v (B, T, P)`` float 0/1, ``mask (B, T)`` (1 = a real frame, 0 = padding).
        Units: nats per frame.
        """
        k = self.config.cd_steps if k is None else k
        bv_t, bh_t = self.recurrence(v)
        if v_negative is None:
            if chain_start not in ("data", "silence"):
                raise ValueError(f"chain_start must be 'data' or 'silence', got {chain_start!r}")
            start = v if chain_start == "data" else torch.zeros_like(v)
            v_negative = self.gibbs(start, bv_t, bh_t, k, generator=generator)
        v_negative = v_negative.detach()  # held constant: CD ignores the chain's dependence
        weights = mask.to(v.dtype)
        # Free-energy difference per frame; its gradient is <dE/dθ>_data - <dE/dθ>_model.
        difference = self.free_energy(v, bv_t, bh_t) - self.free_energy(v_negative, bv_t, bh_t)
        # Padded frames have weight 0; later frames never influence earlier ones (causal RNN).
        return (difference * weights).sum() / weights.sum().clamp_min(1.0)

    def predict_probabilities(
        self,
        bv_t: Tensor,
        bh_t: Tensor,
        k: int,
        *,
        generator: torch.Generator | None = None,
        start: Tensor | None = None,
    ) -> Tensor:
        """Probabilities of each pitch in a ``k``-step Gibbs sample of each frame's RBM.

        The chain starts from the all-off frame, or from ``start (N, P)`` when given (e.g.
        the previous frames); the last half-step is kept in expectation, ``P(v | h)``, so the
        result is the probability that the ``k``-th sample has each pitch on, given the
        chain's last hidden state.
        Shapes: ``bv_t (N, P)``, ``bh_t (N, H)`` -> ``(N, P)`` in [0, 1].
        """
        with torch.no_grad():
            v = torch.zeros_like(bv_t) if start is None else start.to(bv_t.dtype)
            v = self.gibbs(v, bv_t, bh_t, max(k - 1, 0), generator=generator)
            p_h = torch.sigmoid(torch.addmm(bh_t, v, self.W))
            h = torch.empty_like(p_h).uniform_(generator=generator).lt_(p_h)
            return torch.sigmoid(torch.addmm(bv_t, h, self.W.t()))

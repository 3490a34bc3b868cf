"""Step-by-step sampling from a trained RNN-RBM, with constraints, as a plain generator.

The RNN-RBM (Boulanger-Lewandowski, Bengio & Vincent 2012) is an RBM whose biases depend on
the history through an RNN. Row-vector convention, as in :mod:`composer_app.ml.rnnrbm`:

    bv_t = bv + u_{t-1} @ Wuv            (eq. 9)
    bh_t = bh + u_{t-1} @ Wuh            (eq. 10)
    u_t  = tanh(bu + u_{t-1} @ Wuu + v_t @ Wvu)    (eq. 11), u_0 = 0

Frame ``v_t`` is drawn by block Gibbs sampling in the conditional RBM with weights ``W`` and
biases ``(bv_t, bh_t)``, starting from the all-off frame as the reference implementation
does (or from the frame before), or, with ``sampler="annealed"``, by annealed importance
sampling with one chain resampled by its weight, which comes close to an exact draw of the
RBM where short Gibbs chains mix too slowly. :class:`FrameGenerator` is stateful: it conditions on a seed roll, then yields one
:class:`GeneratedFrame` per step, so a live caller pulls frames one by one and may put its
own frame into the history instead (``send(frame)``).

Speed (per step at ``k = 25`` Gibbs steps, one core; ``benchmarks/generate_step.py``): the
chain is numpy float32 with preallocated buffers, all the step's uniforms are drawn in one
call, and ``sigmoid(x / T) > u`` is tested as ``x > T * logit(u)`` with the biases folded
into the thresholds, so each Gibbs half-step is one small matrix-vector product and one
comparison. Clamps and the pitch mask are folded into the visible biases as +-inf, so they
cost nothing inside the chain. There is no compile step.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

PARAMETER_NAMES = ("W", "bv", "bh", "Wuh", "Wuv", "Wvu", "Wuu", "bu")

# How often a frame with fewer than ``min_notes`` notes is redrawn before it stands, and the
# expected number of free notes of a draw (its returned probabilities summed) below which a
# redraw is not tried: silent draws of the Nottingham models after two bars of rest expect
# 0.007-0.5 notes, draws in a pitch range they never play (MIDI 21-26) about 1e-6.
MAX_REDRAWS = 20
HOPELESS_EXPECTED_NOTES = 1e-4

# How a frame is drawn from its step's RBM (see FrameGenerator): a k-step block-Gibbs chain,
# or annealed importance sampling from independent units, one chain resampled by its weight.
SAMPLERS = ("gibbs", "annealed")
# The most sampling steps per frame: each step holds a (hidden + visible) float32 row of
# thresholds, so 10 000 steps of a 150 + 88 unit model take about 19 MB.
MAX_GIBBS_STEPS = 10_000
DEFAULT_ANNEAL_CHAINS = 8
# Below temperature 1, a frame is first drawn at temperature 1 (a Gibbs chain's steps, or
# the annealed draw), then cooled to the temperature in this many more Gibbs steps
# (geometrically, to no lower than MIN_COOLING_TEMPERATURE; the last two at 0 for
# temperature 0). A chain run cold from its start cannot leave the frame it starts at: at
# temperature 0 the shipped Nottingham model's first frames came out *less* probable than at
# 1 (mean free energy -302.2 against -310.7 nats, silence -300.7), half its steps silent, and
# the annealed sampler's few chains drew 1 nat less probable frames at 0.1; cooled, they are
# as probable as at 1 or more (runs of tests/ml/test_generate.py check it on both models).
COOLING_STEPS = 10
MIN_COOLING_TEMPERATURE = 1e-3

# float32 uniforms from Generator.random are multiples of 2**-24 in [0, 1); adding half a
# step makes them symmetric in (0, 1) so logit(u) is always finite.
_HALF_ULP = np.float32(2.0**-25)

# The annealed draw makes its thresholds this many temperatures at a time (8 chains of the
# default 88-256 RBM: 1.4 MB, and a scratch array as large).
_ANNEAL_BLOCK_ROWS = 128


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, float32 in, float32 out, without overflow warnings."""
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


# softplus(x) = log(1 + exp(x)) is computed as log1p(exp(min(x, c))) + max(x - c, 0): past c
# the two differ by log1p(exp(-c)) < 1e-13, and exp stays finite in float32.
_SOFTPLUS_LINEAR = np.float32(30.0)


def _softplus(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``log(1 + exp(x))`` into ``out`` (float32): numpy's vectorised exp and log1p, several
    times faster than ``np.logaddexp(0, x)`` on float32. Shapes: ``out`` like ``x``."""
    np.minimum(x, _SOFTPLUS_LINEAR, out=out)
    np.exp(out, out=out)
    np.log1p(out, out=out)
    if x.size and x.max() > _SOFTPLUS_LINEAR:
        out += np.maximum(x - _SOFTPLUS_LINEAR, 0.0)
    return out


def _logit_uniforms(
    rng: np.random.Generator, out: np.ndarray, tmp: np.ndarray | None = None
) -> np.ndarray:
    """Fill ``out`` with ``logit(u)`` of fresh float32 uniforms ``u``, made symmetric in
    (0, 1) so that all are finite: ``sigmoid(x) > u`` exactly when ``x > logit(u)``.
    ``tmp``: a scratch buffer like ``out`` (allocated when not given). Returns ``out``.
    """
    if tmp is None:
        tmp = np.empty_like(out)
    rng.random(out=out, dtype=np.float32)
    np.subtract(1.0, out, out=tmp)  # exact: 1 - u >= 2**-24
    np.subtract(tmp, _HALF_ULP, out=tmp)  # 1 - u' > 0, u' = u + 2**-25
    np.add(out, _HALF_ULP, out=out)  # u' > 0 (may round up near 1; harmless)
    np.divide(out, tmp, out=out)
    return np.log(out, out=out)


class GenerationError(ValueError):
    """Bad input to the generator: wrong shapes, an unknown parameter, a bad setting."""


@dataclass(frozen=True)
class RnnRbmParameters:
    """The eight RNN-RBM arrays as contiguous numpy float32 (the generator's copy).

    Shapes: ``W (P, H)``, ``bv (P,)``, ``bh (H,)``, ``Wuh (R, H)``, ``Wuv (R, P)``,
    ``Wvu (P, R)``, ``Wuu (R, R)``, ``bu (R,)``; P visible units (pitches), H hidden,
    R recurrent.
    """

    W: np.ndarray
    bv: np.ndarray
    bh: np.ndarray
    Wuh: np.ndarray
    Wuv: np.ndarray
    Wvu: np.ndarray
    Wuu: np.ndarray
    bu: np.ndarray

    def __post_init__(self) -> None:
        for name in PARAMETER_NAMES:
            object.__setattr__(
                self, name, np.ascontiguousarray(getattr(self, name), dtype=np.float32)
            )
        p, h = self.W.shape if self.W.ndim == 2 else (-1, -1)
        r = self.bu.shape[0] if self.bu.ndim == 1 else -1
        expected = {
            "W": (p, h),
            "bv": (p,),
            "bh": (h,),
            "Wuh": (r, h),
            "Wuv": (r, p),
            "Wvu": (p, r),
            "Wuu": (r, r),
            "bu": (r,),
        }
        for name, shape in expected.items():
            actual = getattr(self, name).shape
            if actual != shape or min(shape) <= 0:
                raise GenerationError(
                    f"parameter {name} has shape {actual}, expected {shape} "
                    f"(from W {self.W.shape} and bu {self.bu.shape})"
                )

    @property
    def n_visible(self) -> int:
        """P, the number of pitches."""
        return int(self.W.shape[0])

    @property
    def n_hidden(self) -> int:
        """H, the number of RBM hidden units."""
        return int(self.W.shape[1])

    @property
    def n_recurrent(self) -> int:
        """R, the number of RNN units."""
        return int(self.bu.shape[0])

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> RnnRbmParameters:
        """From a mapping of the eight names to arrays or tensors (a ``state_dict()``)."""
        missing = [n for n in PARAMETER_NAMES if n not in state]
        if missing:
            raise GenerationError(f"parameters missing: {', '.join(missing)}")
        arrays = {}
        for name in PARAMETER_NAMES:
            value = state[name]
            if hasattr(value, "detach"):  # a torch tensor; ml may use torch, this keeps it lazy
                value = value.detach().to("cpu").numpy()
            arrays[name] = np.asarray(value)
        return cls(**arrays)

    @classmethod
    def from_model(cls, model: Any) -> RnnRbmParameters:
        """From an :class:`~composer_app.ml.rnnrbm.RnnRbm` (any module with the 8 parameters)."""
        return cls.from_state_dict(dict(model.state_dict()))


@dataclass(frozen=True)
class GeneratedFrame:
    """One generated step.

    Shapes: ``frame (P,)`` bool, ``probabilities (P,)`` float32.

    ``probabilities`` is the mean-field ``p(v_i = 1 | h)`` of the last Gibbs step, at the
    generator's temperature, given the hidden state that the returned frame was drawn from
    (before the polyphony cap); with the annealed sampler at temperature 1 or above, the
    importance-weighted mean of it over the chains (the model's own note probabilities). Masked pitches read 0, clamped
    ones their clamped value.
    ``step_index`` counts steps after the seed, from 0. ``redraws``: how many times the
    frame was drawn again for having fewer than ``min_notes`` notes.
    """

    step_index: int
    frame: np.ndarray
    probabilities: np.ndarray
    redraws: int = 0


class FrameGenerator(Generator[GeneratedFrame, np.ndarray | None, None]):
    """Stateful RNN-RBM sampler: condition on a seed, then yield one frame per step.

    Protocol (that of a Python generator):

    * ``next(gen)`` puts the frame yielded last (if any) into the history and yields the
      next step's frame.
    * ``gen.send(frame)`` puts ``frame`` (the caller's choice, ``(P,)`` bool) into the
      history *instead of* the frame yielded last, then yields the next step's frame;
      ``send(None)`` is ``next``. Before the first frame was yielded, ``frame`` becomes the
      first step after the seed.
    * :meth:`sample` draws the next step's frame without touching the history; :meth:`advance`
      puts a frame into the history (discarding a frame yielded and not yet committed).

    Constraints:

    * ``allowed_pitches (P,)`` bool: pitches outside it never sound.
    * :meth:`clamp` ``(mask (N, P), values (N, P))``: for the next N steps, units under
      ``mask`` are held at ``values`` during the whole Gibbs chain (so the other units are
      sampled *given* them: "accompany my melody"). A clamped-on note sounds even outside
      the allowed pitches.
    * ``max_polyphony``: when a sample has more notes, the most probable are kept (ranked by
      their log-odds, which do not saturate as probabilities do at low temperature; exact
      ties broken at random); clamped-on notes count towards it and are always kept, and so
      do the notes :meth:`clamp` is told sound beside the frame (``others``).
    * ``min_notes``: a sample with fewer sounding notes (clamped-on ones and ``others``
      included) is redrawn, the chain restarting where it started with fresh random numbers,
      up to :data:`MAX_REDRAWS` times; then the last draw stands. ``min_notes=1`` samples the
      chain's distribution given that the step is not silent (the benchmark tunes almost
      never fall silent; a model that gives silence too much mass would thin out). No
      redraw is tried when fewer units than ``min_notes`` may sound at all, or when the draw
      expects almost no note: its probabilities *at temperature 1* sum below
      :data:`HOPELESS_EXPECTED_NOTES` (at a low temperature every silent draw would look
      hopeless).

    ``sampler``: ``"gibbs"`` draws each frame with a ``gibbs_steps``-step block-Gibbs chain;
    ``"annealed"`` anneals ``anneal_chains`` chains from independent units to the step's RBM
    over ``gibbs_steps`` temperatures and keeps one by its importance weight (see
    :meth:`_annealed_draw`; about ``anneal_chains`` times the work of a Gibbs chain of that
    length; below temperature 1 the frame it draws at 1 is then cooled, see below).

    ``chain_start``: each frame's Gibbs chain starts at the all-off frame (``"silence"``) or
    at the frame before it in the history (``"previous"``; all-off before the first frame),
    with masked pitches off and clamped units at their values either way.

    ``temperature`` divides the RBM energies: below 1 the frames keep to the model's more
    probable notes, above 1 they wander. Below 1 a Gibbs chain runs its ``gibbs_steps`` at
    temperature 1, then cools to the temperature in :data:`COOLING_STEPS` more steps
    (simulated annealing; ``0`` ends with greedy steps, each unit at its more probable
    value), so that it reaches the probable frames instead of staying where it started; the
    annealed sampler below 1 draws at temperature 1 and cools from that frame. ``rng`` is a
    ``numpy.random.Generator`` or an int seed: the same seed gives the same frames.

    Shapes: ``seed_roll (T, P)`` bool, time first.
    """

    def __init__(
        self,
        params: RnnRbmParameters,
        seed_roll: np.ndarray | None = None,
        *,
        gibbs_steps: int = 25,
        temperature: float = 1.0,
        rng: np.random.Generator | int | None = None,
        allowed_pitches: np.ndarray | None = None,
        max_polyphony: int | None = None,
        chain_start: str = "silence",
        min_notes: int = 0,
        sampler: str = "gibbs",
        anneal_chains: int = DEFAULT_ANNEAL_CHAINS,
    ) -> None:
        if chain_start not in ("silence", "previous"):
            raise GenerationError(
                f"chain_start must be 'silence' or 'previous', got {chain_start!r}"
            )
        if sampler not in SAMPLERS:
            raise GenerationError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
        if anneal_chains < 1:
            raise GenerationError(f"anneal_chains must be at least 1, got {anneal_chains}")
        if not 1 <= gibbs_steps <= MAX_GIBBS_STEPS:
            raise GenerationError(
                f"gibbs_steps must be between 1 and {MAX_GIBBS_STEPS}, got {gibbs_steps}"
            )
        if not np.isfinite(temperature) or temperature < 0:
            raise GenerationError(
                f"temperature must be a finite number >= 0, got {temperature}"
            )
        if isinstance(rng, int | np.integer) and rng < 0:  # numpy's seeds are >= 0
            raise GenerationError(f"the random seed must be >= 0, got {rng}")
        if max_polyphony is not None and max_polyphony < 0:
            raise GenerationError(f"max_polyphony must be >= 0, got {max_polyphony}")
        if min_notes < 0:
            raise GenerationError(f"min_notes must be >= 0, got {min_notes}")
        if max_polyphony is not None and min_notes > max_polyphony:
            raise GenerationError(
                f"min_notes ({min_notes}) is more than max_polyphony ({max_polyphony})"
            )
        self.params = params
        self.gibbs_steps = int(gibbs_steps)
        self.temperature = float(temperature)
        self.max_polyphony = max_polyphony
        self.min_notes = int(min_notes)
        self.chain_start = chain_start
        self.sampler = sampler
        self.anneal_chains = int(anneal_chains)
        self._rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        p, h = params.n_visible, params.n_hidden
        self._p, self._h = p, h
        # Bias lookup for the +-inf folding of mask and clamps (see _effective_biases).
        self._mask_bias = np.zeros(p, dtype=np.float32)
        self.set_allowed_pitches(allowed_pitches)
        # Clamp rows still to come: lists of (mask (P,), values (P,)).
        self._clamp_masks: list[np.ndarray] = []
        self._clamp_values: list[np.ndarray] = []
        # Notes sounding beside the model's frame in those steps (see clamp's ``others``).
        self._clamp_others: list[int] = []
        # Recurrence: Wu_cat maps u to [bh_t | bv_t] in one product.
        self._Wu_cat = np.ascontiguousarray(np.concatenate([params.Wuh, params.Wuv], axis=1))
        self._b_cat = np.concatenate([params.bh, params.bv]).astype(np.float32)
        self._WT = np.ascontiguousarray(params.W.T)
        self._u = np.zeros(params.n_recurrent, dtype=np.float32)
        self._last = np.zeros(p, dtype=np.float32)  # the last frame of the history
        self._biases = self._b_cat.copy()  # [bh_t | bv_t] for the next step
        # Preallocated chain buffers: thresholds for every Gibbs step (and the cooling steps
        # below temperature 1), in [hidden | visible], and each step's temperature.
        self._temperatures = self._chain_temperatures()
        k = len(self._temperatures)
        self._thr = np.empty((k, h + p), dtype=np.float32)
        self._tmp = np.empty((k, h + p), dtype=np.float32)
        self._thr_h = [self._thr[i, :h] for i in range(k)]
        self._thr_v = [self._thr[i, h:] for i in range(k)]
        self._eff = np.empty(h + p, dtype=np.float32)
        self._v = np.empty(p, dtype=np.float32)
        self._hs = np.empty(h, dtype=np.float32)
        self._hx = np.empty(h, dtype=np.float32)
        self._vx = np.empty(p, dtype=np.float32)
        # the log-odds at temperature 1 of each note in the last draw (ranks the notes for
        # the polyphony cap; tells a hopeless draw at any temperature)
        self._log_odds = np.zeros(p, dtype=np.float32)
        self._step_index = 0
        self._pending: np.ndarray | None = None
        if seed_roll is not None:
            self.condition(seed_roll)

    def _chain_temperatures(self) -> np.ndarray:
        """The temperature of each step of a Gibbs chain: ``gibbs_steps`` at the
        temperature, or below 1, at 1 and then :data:`COOLING_STEPS` cooling to it.
        Shapes: ``(gibbs_steps [+ COOLING_STEPS],)`` float32."""
        temp, k = self.temperature, self.gibbs_steps
        if temp >= 1.0:
            return np.full(k, temp, dtype=np.float32)
        cooling = np.geomspace(1.0, max(temp, MIN_COOLING_TEMPERATURE), COOLING_STEPS + 1)[1:]
        if temp == 0.0:
            cooling[-2:] = 0.0  # greedy at the end: each unit at its more probable value
        return np.concatenate([np.ones(k), cooling]).astype(np.float32)

    # ----------------------------------------------------------------- settings and state
    @property
    def step_index(self) -> int:
        """Index of the next frame to be committed (0 = first step after the seed)."""
        return self._step_index

    @property
    def hidden_state(self) -> np.ndarray:
        """A copy of the RNN state ``u`` after the committed history. Shapes: ``(R,)``."""
        return self._u.copy()

    @property
    def conditional_biases(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of ``(bv_t, bh_t)`` of the next step's RBM. Shapes: ``(P,)``, ``(H,)``."""
        return self._biases[self._h :].copy(), self._biases[: self._h].copy()

    def set_allowed_pitches(self, allowed_pitches: np.ndarray | None) -> None:
        """Restrict the pitches that may sound (``None``: all). Shapes: ``(P,)`` bool."""
        if allowed_pitches is None:
            self._mask_bias[:] = 0.0
            return
        allowed = np.asarray(allowed_pitches)
        if allowed.shape != (self._p,) or allowed.dtype != bool:
            raise GenerationError(
                f"allowed_pitches must be a ({self._p},) bool array, got "
                f"{allowed.shape} {allowed.dtype}"
            )
        self._mask_bias[:] = np.where(allowed, 0.0, -np.inf)

    def clamp(
        self, mask: np.ndarray, values: np.ndarray, others: np.ndarray | None = None
    ) -> None:
        """Hold units at given values for the next N steps (replacing earlier clamps).

        Shapes: ``mask (N, P)`` bool (which units are held), ``values (N, P)`` bool. Row 0
        applies to the next frame to be sampled (the one after any frame yielded and not yet
        committed). Nothing is clamped beyond row N - 1. ``others (N,)`` int, optional: how
        many notes sound in each step beside the model's frame (a user's notes the model is
        kept off); they count towards ``max_polyphony`` and ``min_notes`` as clamped-on
        notes do.
        """
        mask = np.asarray(mask)
        values = np.asarray(values)
        others_list = [0] * len(mask) if others is None else [int(n) for n in others]
        if len(others_list) != len(mask) or min(others_list, default=0) < 0:
            raise GenerationError(
                f"clamp others must be {len(mask)} counts >= 0, got {others_list}"
            )
        if mask.ndim != 2 or mask.shape[1] != self._p or mask.dtype != bool:
            raise GenerationError(f"clamp mask must be (N, {self._p}) bool, got {mask.shape}")
        if values.shape != mask.shape or values.dtype != bool:
            raise GenerationError(
                f"clamp values must be bool with the mask's shape {mask.shape}, got "
                f"{values.shape} {values.dtype}"
            )
        self._clamp_masks = [row.copy() for row in mask]
        self._clamp_values = [row.copy() for row in values]
        self._clamp_others = others_list
        if self._pending is not None:
            # The pending frame occupies the step before row 0; keep row 0 for the next one.
            self._clamp_masks.insert(0, np.zeros(self._p, dtype=bool))
            self._clamp_values.insert(0, np.zeros(self._p, dtype=bool))
            self._clamp_others.insert(0, 0)

    def condition(self, roll: np.ndarray) -> None:
        """Run the recurrence over ``roll`` (added to the history). Shapes: ``(T, P)`` bool."""
        roll = np.asarray(roll)
        if roll.ndim != 2 or roll.shape[1] != self._p:
            raise GenerationError(f"seed roll must be (T, {self._p}), got {roll.shape}")
        self._commit_pending()
        prm = self.params
        for frame in roll.astype(np.float32):
            self._u = np.tanh(prm.bu + self._u @ prm.Wuu + frame @ prm.Wvu)
        if len(roll):
            self._last[:] = roll[-1]
        self._biases = self._b_cat + self._u @ self._Wu_cat

    # ----------------------------------------------------------------- sampling
    def sample(self) -> GeneratedFrame:
        """Draw the next step's frame given the committed history; the history is unchanged.

        Shapes: ``frame (P,)`` bool, ``probabilities (P,)`` float32.
        """
        h = self._h
        eff = self._effective_biases()  # [bh_t | bv_t with +-inf for clamps and mask]
        if self.sampler != "annealed":
            draw = self._gibbs_draw
        elif self.temperature >= 1.0:
            draw = self._annealed_draw
        else:
            draw = self._annealed_then_cooled_draw
        probabilities = draw(eff)
        redraws = 0
        others = self._clamp_others[0] if self._clamp_others else 0
        if self.min_notes > others:
            free = np.isfinite(eff[h:])
            can_sound = int(np.count_nonzero(eff[h:] > -np.inf)) + others
            while (
                np.count_nonzero(self._v) + others < self.min_notes
                and redraws < MAX_REDRAWS
                and can_sound >= self.min_notes
                # hopeless: the draw expects (almost) no free note at temperature 1, e.g. a
                # pitch range the model never plays; 20 more draws would only cost time
                and float(_sigmoid(self._log_odds[free]).sum()) >= HOPELESS_EXPECTED_NOTES
            ):
                probabilities = draw(eff)
                redraws += 1
        frame = self._v > 0.5
        if self.max_polyphony is not None:
            frame = self._cap_polyphony(frame, eff[h:], others)
        return GeneratedFrame(self._step_index, frame, probabilities, redraws)

    def advance(self, frame: np.ndarray) -> None:
        """Put ``frame`` into the history as the next step (discarding a pending frame).

        Shapes: ``frame (P,)`` bool.
        """
        frame = np.asarray(frame)
        if frame.shape != (self._p,):
            raise GenerationError(f"frame must have shape ({self._p},), got {frame.shape}")
        if frame.dtype != bool:
            raise GenerationError(f"frame must be bool, got {frame.dtype}")
        self._pending = None
        self._commit(frame)

    # ----------------------------------------------------------------- generator protocol
    def send(self, value: np.ndarray | None) -> GeneratedFrame:
        """Commit ``value`` (or, if None, the frame yielded last) and yield the next frame."""
        if value is None:
            self._commit_pending()
        else:
            self.advance(value)
        generated = self.sample()
        self._pending = generated.frame
        return generated

    def throw(self, typ: Any = None, val: Any = None, tb: Any = None) -> GeneratedFrame:
        """Raise the given exception here (generator protocol); this generator never catches."""
        if isinstance(typ, BaseException):
            raise typ
        raise typ(val) if val is not None else typ()

    # ----------------------------------------------------------------- internals
    def _commit_pending(self) -> None:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            self._commit(frame)

    def _commit(self, frame: np.ndarray) -> None:
        """Eq. 11 then eqs. 9-10: update u with the frame, then the next step's biases."""
        prm = self.params
        u = self._u @ prm.Wuu
        u += prm.bu
        u += frame.astype(np.float32) @ prm.Wvu
        self._last[:] = frame
        self._u = np.tanh(u, out=u)
        self._biases = self._b_cat + self._u @ self._Wu_cat
        self._step_index += 1
        if self._clamp_masks:
            del self._clamp_masks[0]
            del self._clamp_values[0]
            del self._clamp_others[0]

    def _gibbs_draw(self, eff: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
        """One block-Gibbs chain in the step's RBM (``gibbs_steps`` steps, and the cooling
        steps below temperature 1); leaves the sample in ``self._v`` and returns the
        mean-field ``p(v = 1 | h)`` of its last step, at the temperature. ``start``: a
        frame of the RBM at temperature 1 to start at, instead of ``chain_start``'s; the
        chain then runs only its cooling steps.

        Shapes: ``eff (H + P,)`` the effective ``[bh_t | bv_t]``, ``start (P,)`` ->
        ``(P,)`` float32.
        """
        h, temps = self._h, self._temperatures
        first = 0 if start is None else len(temps) - COOLING_STEPS
        thr = self._thr[first:]
        # Threshold of each unit at each Gibbs step: sigmoid((x + b) / T) > u  <=>
        # x > T * logit(u) - b, with logit(u) = log(u / (1 - u)); at T = 0, x > -b: each
        # unit takes its more probable value (ties: off).
        _logit_uniforms(self._rng, thr, self._tmp[first:])
        if self.temperature != 1.0:
            np.multiply(thr, temps[first:, None], out=thr)
        np.subtract(thr, eff, out=thr)
        v, hs, hx, vx, W, WT = self._v, self._hs, self._hx, self._vx, self.params.W, self._WT
        if start is not None or self.chain_start == "previous":
            # the chain starts at the given frame or the frame before...
            np.copyto(v, self._last if start is None else start)
            v[np.isneginf(eff[h:])] = 0.0  # ...with masked and clamped-off units off
            v[np.isposinf(eff[h:])] = 1.0  # and clamped-on units on
        else:
            np.isposinf(eff[h:], out=v)  # chain starts all-off, clamped-on units on
        thr_h, thr_v = self._thr_h, self._thr_v
        for i in range(first, len(temps)):
            np.dot(v, W, out=hx)
            np.greater(hx, thr_h[i], out=hs)
            np.dot(hs, WT, out=vx)
            np.greater(vx, thr_v[i], out=v)
        np.add(vx, eff[h:], out=self._log_odds)  # x + b: the log-odds at temperature 1
        return self._probabilities(vx, eff[h:])

    def _annealed_then_cooled_draw(self, eff: np.ndarray) -> np.ndarray:
        """Below temperature 1 with the annealed sampler: an annealed draw at temperature 1,
        then the cooling steps of a Gibbs chain from that frame, which take it to a probable
        frame near where the RBM puts its mass (annealed straight to a low temperature, its
        few chains' importance weights degenerate). Returns what :meth:`_gibbs_draw`
        returns."""
        self._annealed_draw(eff, temperature=1.0)
        return self._gibbs_draw(eff, start=self._v.copy())

    def _annealed_draw(self, eff: np.ndarray, temperature: float | None = None) -> np.ndarray:
        """Annealed importance sampling of the step's RBM; leaves the sample in ``self._v``.

        ``anneal_chains`` chains start with the hidden units drawn from their biases alone
        (``beta = 0``: visible and hidden units independent) and anneal to the RBM in
        ``gibbs_steps`` equal steps of ``beta`` (each one Gibbs sweep at ``beta``, as in
        :func:`composer_app.ml.ais.ais_log_weights`). One chain is then drawn with
        probability proportional to its importance weight, and the frame from ``p(v | h)``
        of its last hidden state: sampling-importance-resampling, which approaches an exact
        draw of the RBM as temperatures and chains grow, wherever the frame before was.
        Clamped-on units feed the hidden layer as a bias; masked and clamped-off units stay
        off. Returns the weighted mean over the chains of ``p(v = 1 | h)``, the model's own
        note probabilities at this step (clamped units at their values, masked ones 0).

        ``temperature``: the RBM's (default: the generator's).

        Shapes: ``eff (H + P,)`` the effective ``[bh_t | bv_t]`` -> ``(P,)`` float32.
        """
        h, rng = self._h, self._rng
        bv_eff = eff[h:]
        inv_t = np.float32(1.0 / (self.temperature if temperature is None else temperature))
        free = np.isfinite(bv_eff)
        on = np.isposinf(bv_eff)
        W = self.params.W
        w_free = np.ascontiguousarray(W[free] * inv_t)  # (F, H)
        w_free_t = np.ascontiguousarray(w_free.T)  # (H, F)
        bv = bv_eff[free] * inv_t
        bh = (eff[:h] + W[on].sum(axis=0)) * inv_t
        chains, k, n_free = self.anneal_chains, self.gibbs_steps, len(bv)
        # The draw's uniforms as thresholds: a unit with input x is on when sigmoid(x) > u,
        # i.e. x > logit(u). Row 0's hidden part starts the chains; row i (1 <= i < k) holds
        # the transition at beta_i, visible units then hidden ones, the hidden thresholds
        # less bh so that the transition compares beta_i (v W) alone. Drawn a block of rows
        # at a time (the same stream as all at once), so memory stays small at any k.
        block = np.empty((min(k, _ANNEAL_BLOCK_ROWS), chains, n_free + h), dtype=np.float32)
        scratch = np.empty_like(block)

        def thresholds(start: int) -> tuple[np.ndarray, np.ndarray]:
            """Rows ``start, start + 1, ...`` (a block's worth), visible and hidden parts."""
            rows = min(len(block), k - start)
            thr = _logit_uniforms(rng, block[:rows], scratch[:rows])
            thr[:, :, n_free:] -= bh
            return thr[:, :, :n_free], thr[:, :, n_free:]

        thr_v, thr_h = thresholds(0)
        hs = np.greater(0.0, thr_h[0]).astype(np.float32)  # p = sigmoid(bh): beta = 0
        wh = hs @ w_free_t  # (W h) of every chain
        va = np.empty((chains, n_free), dtype=np.float32)
        a = np.empty((chains, h), dtype=np.float32)
        # x at beta_(i-1) and beta_i for every chain, and their softplus
        x = np.empty((2, chains, n_free), dtype=np.float32)
        sp = np.empty_like(x)
        pair = np.empty((2, 1, 1), dtype=np.float32)
        log_w = np.zeros(chains)
        for i in range(1, k + 1):
            pair[0], pair[1] = (i - 1) / k, i / k
            np.multiply(wh, pair, out=x)
            x += bv
            _softplus(x, out=sp)
            # log p*_beta_i(h) - log p*_beta_(i-1)(h) at the chain's h; the h.bh terms cancel
            log_w += (sp[1] - sp[0]).sum(axis=1)
            if i == k:
                break
            # the transition that leaves p_beta_i invariant: v | h, then h | v
            row = i % len(block)
            if row == 0:
                thr_v, thr_h = thresholds(i)
            np.greater(x[1], thr_v[row], out=va)
            np.dot(va, w_free, out=a)
            a *= pair[1, 0, 0]
            np.greater(a, thr_h[row], out=hs)
            np.dot(hs, w_free_t, out=wh)
        p_chains = np.exp(x[1] - sp[1])  # p(v = 1 | h) of each chain at beta = 1: sigmoid(x)
        weights = np.exp(log_w - log_w.max())
        weights /= weights.sum()
        # the notes' log-odds at temperature 1: the chains' weighted mean (clamped ones +-inf)
        self._log_odds[:] = bv_eff
        self._log_odds[free] = weights.astype(np.float32) @ x[1] / inv_t
        chosen = min(int(np.searchsorted(np.cumsum(weights), rng.random())), chains - 1)
        v_free = rng.random(n_free, dtype=np.float32) < p_chains[chosen]
        self._v[:] = on
        self._v[free] = v_free
        probabilities = on.astype(np.float32)
        probabilities[free] = weights.astype(np.float32) @ p_chains
        return probabilities

    def _effective_biases(self) -> np.ndarray:
        """``[bh_t | bv_t]`` with masked pitches at -inf, clamped-on +inf, clamped-off -inf."""
        eff = self._eff
        np.copyto(eff, self._biases)
        eff[self._h :] += self._mask_bias
        if self._clamp_masks:
            mask, values = self._clamp_masks[0], self._clamp_values[0]
            eff[self._h :][mask] = np.where(values[mask], np.inf, -np.inf)
        return eff

    def _probabilities(self, vx: np.ndarray, bv_eff: np.ndarray) -> np.ndarray:
        """Mean-field ``p(v = 1 | h)`` of the last Gibbs step at the temperature."""
        x = vx + bv_eff
        if self.temperature == 0.0:
            return (x > 0).astype(np.float32)
        with np.errstate(over="ignore"):
            return (1.0 / (1.0 + np.exp(-x / np.float32(self.temperature)))).astype(np.float32)

    def _cap_polyphony(self, frame: np.ndarray, bv_eff: np.ndarray, others: int = 0) -> np.ndarray:
        """Keep the ``max_polyphony`` most probable notes of ``frame``, less the ``others``
        sounding beside it: clamped-on notes first, then by their log-odds (probabilities
        saturate at 1 in float32 at low temperature, and would rank by pitch), exact ties in
        random order."""
        cap = max(0, int(self.max_polyphony or 0) - others)
        if np.count_nonzero(frame) <= cap:
            return frame
        clamped_on = np.isposinf(bv_eff)
        group = np.where(frame, np.where(clamped_on, 2, 1), 0)  # clamped, sounding, silent
        log_odds = np.where(clamped_on | ~frame, 0.0, self._log_odds)
        # the last key sorts first: by group, then log-odds, then a random tie-breaker
        order = np.lexsort((self._rng.random(len(frame)), log_odds, group))
        keep = max(cap, int(np.count_nonzero(clamped_on & frame)))
        capped = np.zeros_like(frame)
        capped[order[len(order) - keep :]] = True
        return capped & frame

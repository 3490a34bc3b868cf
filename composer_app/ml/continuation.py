"""Continue a score with the RNN-RBM: seed preparation, key handling, constraints, and notes out.

This is the engine that the GUI's generation worker and the headless ``generate`` command
share. It is Qt-free and MIDI-free: notes in, frames and notes out.

The model was trained on rolls sampled every ``config.step_beats`` quarter notes and
transposed to C major or C minor. So the seed is quantized to that step, its key is
estimated and it is transposed into C; every generated frame is transposed back, so a seed
in D gets a continuation in D. The seed is also moved by whole octaves into the register the
model knows (a tune whose chords sit an octave below the training data's would otherwise be
out of its experience), and the continuation moved back, so the music stays where the user
wrote it. Constraints the user gives (key and scale, range, clamped notes) are stated in the
user's key and moved into the model's key the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from composer_app.core.keys import (
    PITCH_CLASS_NAMES,
    Key,
    estimate_key,
    scale_mask,
    signature_key,
    transpose_roll,
    transposition_key,
)
from composer_app.core.note import Note, pitch_name
from composer_app.core.pianoroll import notes_to_roll, roll_to_notes
from composer_app.core.score import KeySignature
from composer_app.ml.data import ESTIMATED_KEY_NORMALIZATION
from composer_app.ml.generate import FrameGenerator, GenerationError, RnnRbmParameters

if TYPE_CHECKING:  # torch is imported only when a model is loaded, not at app start
    from composer_app.ml.rnnrbm import RnnRbmConfig


@dataclass(frozen=True)
class ContinuationSettings:
    """What the user asks of a continuation.

    Units: ``n_steps`` in model steps; pitches as MIDI numbers (``range_low``/``range_high``
    inclusive); ``key_tonic`` a pitch class (0 = C). ``scale`` None lets every pitch sound.
    ``gibbs_steps`` is the sampler's length per step: Gibbs steps for a model that samples by
    Gibbs chains, annealing temperatures for one that anneals (``RnnRbmConfig.sampler``).
    """

    n_steps: int = 64
    gibbs_steps: int | None = None  # None: the model's own (config.sampling_steps)
    temperature: float = 1.0
    random_seed: int | None = 0
    key_tonic: int | None = None  # None: the seed's estimated key
    scale: str | None = None
    range_low: int = 21
    range_high: int = 108
    max_polyphony: int | None = None
    accompany: bool = False
    # accompanying: nothing above the top note of the user's sounding in a step (the tunes the
    # models learned keep their chords under the melody; free, they add a second tune above)
    harmony_below: bool = True
    allow_rests: bool = False  # False: a step with no note at all is drawn again

    def __post_init__(self) -> None:
        if self.n_steps < 1:
            raise GenerationError(f"the length must be at least one step, got {self.n_steps}")
        if self.gibbs_steps is not None and self.gibbs_steps < 1:
            raise GenerationError(f"gibbs_steps must be at least 1, got {self.gibbs_steps}")
        if self.range_low > self.range_high:
            raise GenerationError(
                f"the pitch range is empty ({self.range_low} > {self.range_high})"
            )


def allowed_pitch_mask(
    settings: ContinuationSettings,
    pitch_low: int,
    pitch_high: int,
    seed_tonic: int | None = None,
) -> np.ndarray:
    """The pitches of the model's ``[pitch_low, pitch_high)`` that the settings let sound, in
    the user's key: those in ``range_low..range_high`` and, with a scale, in that scale on
    ``key_tonic`` (None: on ``seed_tonic``, the seed's estimated key's, else on C).

    Shapes: ``(pitch_high - pitch_low,)`` bool. Units: MIDI pitches, ``pitch_high`` exclusive.
    """
    if settings.scale is None:
        pitches = np.arange(pitch_low, pitch_high)
        return (pitches >= settings.range_low) & (pitches <= settings.range_high)
    tonic = settings.key_tonic if settings.key_tonic is not None else (seed_tonic or 0)
    return scale_mask(
        tonic,
        settings.scale,
        pitch_low=pitch_low,
        pitch_high=pitch_high,
        range_low=settings.range_low,
        range_high=settings.range_high,
    )


def no_pitch_allowed_reason(
    settings: ContinuationSettings,
    pitch_low: int,
    pitch_high: int,
    seed_tonic: int | None = None,
    range_text: str | None = None,
) -> str | None:
    """Why the settings let no pitch of the model's ``[pitch_low, pitch_high)`` sound (one
    line), or None when :func:`allowed_pitch_mask` allows some. ``range_text`` names the
    user's range as the caller's interface does (default ``"the range 0-20"``).

    Units: MIDI pitches, ``pitch_high`` exclusive.
    """
    if allowed_pitch_mask(settings, pitch_low, pitch_high, seed_tonic).any():
        return None
    low, high = settings.range_low, settings.range_high
    range_text = range_text or f"the range {low}-{high}"
    model_range = f"the model's range {_pitch_span(pitch_low, pitch_high - 1)}"
    if high < pitch_low:
        return f"no pitch is allowed: {range_text} lies below {model_range}"
    if low >= pitch_high:
        return f"no pitch is allowed: {range_text} lies above {model_range}"
    # the range meets the model's, so the scale is what leaves nothing
    tonic = settings.key_tonic if settings.key_tonic is not None else (seed_tonic or 0)
    scale = f"{PITCH_CLASS_NAMES[tonic]} {settings.scale}"
    if settings.key_tonic is None:
        scale += " (the seed's key)" if seed_tonic is not None else " (on C: no key to go by)"
    inside = _pitch_span(max(low, pitch_low), min(high, pitch_high - 1))
    clipped = low < pitch_low or high >= pitch_high
    return f"no note of {scale} lies in {inside}" + (
        f", the part of {range_text} within {model_range}" if clipped else ""
    )


def _pitch_span(low: int, high: int) -> str:
    """``"61-61 (C#4)"``, ``"21-108 (A0-C8)"``: MIDI numbers, then scientific names (C4 = 60)."""
    names = pitch_name(low) if low == high else f"{pitch_name(low)}-{pitch_name(high)}"
    return f"{low}-{high} ({names})"


@dataclass(frozen=True)
class ContinuationStep:
    """One generated step, in the user's key.

    Shapes: ``frame (P,)`` bool (generated notes only; clamped user notes are not in it),
    ``probabilities (P,)`` float32. Units: ``start_tick`` in ticks.
    """

    step_index: int
    start_tick: int
    frame: np.ndarray
    probabilities: np.ndarray


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to generate: its config and numpy parameters.

    ``register_pitch`` is the mean MIDI pitch of the model's training music (its config's
    ``register_pitch``), or for a checkpoint without it, of the model's own free-running
    music (see :func:`estimate_register`); None leaves octaves alone.
    """

    name: str
    config: RnnRbmConfig
    params: RnnRbmParameters
    register_pitch: float | None = None


def estimate_register(
    params: RnnRbmParameters,
    pitch_low: int,
    n_steps: int = 256,
    chain_start: str = "silence",
    sampler: str = "gibbs",
    sampling_steps: int = 25,
    runs: int = 8,
) -> float | None:
    """The mean pitch of what the model plays unprompted, sampled as the model samples (its
    chain start, sampler and steps): ``runs`` runs of ``n_steps // runs`` steps from
    random seeds 0, 1, ... (so repeatable). One long run wanders: single runs of 64 steps of
    the Nottingham models ranged over 55-77. The fallback for checkpoints whose config has
    no ``register_pitch``: a noisy one for an annealing model (``nottingham_ll``'s 8-run
    estimates from eight sets of random streams ranged over 63.1-69.2 MIDI, standard
    deviation 1.9, against its training music's 62.49), steadier for a Gibbs one
    (``nottingham``: 61.2-63.0).

    Units: MIDI pitch. None when the model plays nothing.
    """
    counts = np.zeros(params.n_visible)
    for seed in range(runs):
        generator = FrameGenerator(
            params,
            None,
            rng=seed,
            chain_start=chain_start,
            sampler=sampler,
            gibbs_steps=sampling_steps,
        )
        for _ in range(max(1, n_steps // runs)):
            counts += next(generator).frame
    if counts.sum() == 0:
        return None
    return float((counts * np.arange(pitch_low, pitch_low + len(counts))).sum() / counts.sum())


def _mean_pitch(notes: Sequence[Note]) -> float | None:
    """Duration-weighted mean pitch. Units: MIDI pitch."""
    total = sum(n.duration_ticks for n in notes)
    return sum(n.pitch * n.duration_ticks for n in notes) / total if total else None


def load_model(directory: str, name: str | None = None) -> LoadedModel:
    """Load a checkpoint folder for generation. Raises ``CheckpointError`` if it is bad."""
    from pathlib import Path

    from composer_app.ml.checkpoint import load_checkpoint

    config, model = load_checkpoint(directory)
    params = RnnRbmParameters.from_model(model)
    register = config.register_pitch
    if register is None:  # a checkpoint from before configs carried it: sample the model
        register = estimate_register(
            params,
            config.pitch_low,
            chain_start=config.chain_start,
            sampler=config.sampler,
            # a rough estimate does: annealing over 25 temperatures takes a quarter of the
            # time of 100
            sampling_steps=min(config.sampling_steps, 25)
            if config.sampler == "annealed"
            else config.sampling_steps,
        )
    return LoadedModel(
        name=name or Path(directory).name, config=config, params=params, register_pitch=register
    )


def step_ticks_for(config: RnnRbmConfig, ppq: int) -> int:
    """Length of one model step in the score's ticks (an eighth note = ppq // 2)."""
    return max(1, round(config.step_beats * ppq))


def plan_start(config: RnnRbmConfig, ppq: int, tick: int, grid_origin_tick: int = 0) -> int:
    """Where a continuation asked for at ``tick`` starts: the next boundary of the model's
    steps counted from ``grid_origin_tick`` (the bar line before ``tick``, so that steps fall
    on the beats after a pickup bar or an odd meter). Units: ticks."""
    step = step_ticks_for(config, ppq)
    origin = int(grid_origin_tick)
    return origin + -(-(int(tick) - origin) // step) * step


def seed_notes(notes: Sequence[Note], seed_start_tick: int, start_tick: int) -> list[Note]:
    """The user's (not generated) notes that sound in ``[seed_start_tick, start_tick)``."""
    return [
        n
        for n in notes
        if not n.generated and n.end_tick > seed_start_tick and n.start_tick < start_tick
    ]


def _above_top(sounding: np.ndarray) -> np.ndarray:
    """The cells above the highest sounding pitch of each step (none in a step where nothing
    sounds). Shapes: ``(T, P)`` bool in and out."""
    n_pitches = sounding.shape[1]
    highest = n_pitches - 1 - np.argmax(sounding[:, ::-1], axis=1)  # of each step's sounding
    top = np.where(sounding.any(axis=1), highest, n_pitches)  # nothing sounds: nothing above
    return np.arange(n_pitches)[None, :] > top[:, None]


def seed_velocity(seed: Sequence[Note], targets: Sequence[Note] = ()) -> int:
    """The velocity generated notes get: the median of the seed's, else of the target notes'
    in accompany mode (a soft melody gets a soft accompaniment), else 90."""
    notes = seed or targets
    return int(np.median([n.velocity for n in notes])) if notes else 90


def variation_seed(random_seed: int | None, variation: int) -> int | None:
    """The random seed of variation ``variation`` (0, 1, ...) of a continuation asked for with
    ``random_seed``: the seed itself for the first (what ``generate`` and a single run give),
    a seed drawn from both numbers for the others, so that the variations of seed 4 are not
    those of seeds 5, 6, ... (None: fresh randomness)."""
    if random_seed is None or variation == 0:
        return random_seed
    sequence = np.random.SeedSequence([int(random_seed), int(variation)])
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> 1)  # a non-negative int64


def seed_part(seed: Sequence[Note], targets: Sequence[Note] = ()) -> tuple[int, int]:
    """The MIDI channel (0-15) and track (``Note.track``) generated notes get: the channel most
    of the seed's notes use and, of its tracks, the one most of them are in (the lowest on a
    tie); else the target notes' in accompany mode; else (0, 0). So a continuation goes on in
    the part it continues, and is saved in its track."""
    notes = seed or targets
    if not notes:
        return 0, 0
    channel = int(np.argmax(np.bincount([n.channel for n in notes], minlength=16)))
    tracks = Counter(n.track for n in notes if n.channel == channel)
    return channel, min(tracks, key=lambda track: (-tracks[track], track))


@dataclass
class Continuation:
    """One continuation in progress: iterate it to get one :class:`ContinuationStep` per step.

    ``notes`` is everything the seed and the clamps are read from (the user's score);
    generation starts at ``start_tick`` (rounded up to the model's step, counted from
    ``grid_origin_tick``: the bar line at or before it); the seed is the part of ``notes`` in
    ``[seed_start_tick, start_tick)``. The user's notes in the target region
    ``[start_tick, start_tick + n_steps * step)`` stay as they are: in accompany mode all of
    them are clamped on and the model fills in around them; otherwise only those still
    sounding at the start (held over it), which the model hears go on. No generated note
    sounds a pitch while a user's note of that pitch sounds (:attr:`occupied`).
    """

    model: LoadedModel
    notes: Sequence[Note]
    ppq: int
    start_tick: int
    settings: ContinuationSettings = field(default_factory=ContinuationSettings)
    seed_start_tick: int = 0
    grid_origin_tick: int = 0
    # the key signature in force at the seed's end (the file's, or the user's): the key the
    # seed is moved into C by when its notes fit it (see core.keys.transposition_key)
    key_signature: KeySignature | None = None

    def __post_init__(self) -> None:
        config = self.model.config
        self.pitch_low = config.pitch_low
        self.n_pitches = config.pitch_high - config.pitch_low
        self.step_ticks = step_ticks_for(config, self.ppq)
        origin = int(self.grid_origin_tick)
        self.start_tick = plan_start(config, self.ppq, self.start_tick, origin)
        self.seed_start_tick = min(
            origin + (int(self.seed_start_tick) - origin) // self.step_ticks * self.step_ticks,
            self.start_tick,
        )
        user_notes = [n for n in self.notes if not n.generated]
        seed = seed_notes(user_notes, self.seed_start_tick, self.start_tick)
        end_tick = self.start_tick + self.settings.n_steps * self.step_ticks
        target_notes = seed_notes(user_notes, self.start_tick, end_tick)
        held_notes = [n for n in target_notes if n.start_tick < self.start_tick]
        self.channel, self.track = seed_part(
            seed, target_notes if self.settings.accompany else ()
        )
        heard = seed + (target_notes if self.settings.accompany else [])
        # the key the music is in (messages, "Seed's key" scales): the notes', or with none
        # to judge by (a continuation from silence), the key signature's ...
        self.key: Key | None = estimate_key(heard) or (
            signature_key(self.key_signature) if self.key_signature else None
        )
        # ... and the one it is moved into the training key (C major / C minor) by, if the
        # model was trained so: the key signature's where the notes fit it, as the training
        # data were moved
        normalized = config.key_normalization.lower() not in ("", "none")
        by_signature = config.key_normalization != ESTIMATED_KEY_NORMALIZATION
        moved_by = (
            (transposition_key(heard, self.key_signature) if by_signature else self.key)
            if normalized else None
        )
        self.shift = moved_by.semitones_to_c() if moved_by else 0
        seed_mean = _mean_pitch(heard)
        if self.model.register_pitch is not None and seed_mean is not None:
            # whole octaves only: the key and every interval stay as they are
            self.shift += 12 * round((self.model.register_pitch - seed_mean - self.shift) / 12)
        # The rolls the model hears are cut from the notes already moved into its key and
        # register, so a note above or below its pitch range that the shift brings into it
        # is heard (cutting first and shifting the roll after would drop it).
        model_low, model_high = self.pitch_low - self.shift, config.pitch_high - self.shift
        seed_roll = notes_to_roll(
            seed,
            self.step_ticks,
            start_tick=self.seed_start_tick,
            end_tick=self.start_tick,
            pitch_low=model_low,
            pitch_high=model_high,
        ).roll
        self.velocity = seed_velocity(seed, target_notes if self.settings.accompany else ())
        self.allowed_pitches = self._allowed_pitches()
        self._generator = FrameGenerator(
            self.model.params,
            seed_roll,
            gibbs_steps=self.settings.gibbs_steps or config.sampling_steps,
            temperature=self.settings.temperature,
            rng=self.settings.random_seed,
            allowed_pitches=transpose_roll(self.allowed_pitches, self.shift),
            max_polyphony=self.settings.max_polyphony,
            chain_start=config.chain_start,
            sampler=config.sampler,
            min_notes=0 if self.settings.allow_rests or self.settings.max_polyphony == 0 else 1,
        )
        # Clamped on: what the model hears of the user's notes in the target region.
        clamped_notes = target_notes if self.settings.accompany else held_notes
        clamped = notes_to_roll(
            clamped_notes,
            self.step_ticks,
            start_tick=self.start_tick,
            end_tick=end_tick,
            pitch_low=model_low,
            pitch_high=model_high,
        ).roll
        # Held off: a pitch in every step where a user's note of it sounds at all (the clamp
        # above rounds a note off the grid into one step; it may sound in the next too).
        occupied = self._occupied(target_notes, end_tick, model_low) & ~clamped
        above = (
            _above_top(clamped | occupied)
            if self.settings.accompany and self.settings.harmony_below
            else np.zeros_like(clamped)
        )
        if clamped.any() or occupied.any():
            # the user's notes held off still sound: they count towards the notes per step;
            # over the melody accompanied, nothing sounds
            self._generator.clamp(clamped | occupied | above, clamped, occupied.sum(axis=1))
        # the same in the user's key, where generated frames are masked by them
        self.clamped = transpose_roll(clamped, -self.shift)
        self.occupied = transpose_roll(occupied, -self.shift)
        self.frames: list[np.ndarray] = []

    def _occupied(self, notes: Sequence[Note], end_tick: int, pitch_low: int) -> np.ndarray:
        """Where ``notes`` sound: ``(n_steps, P)`` bool over the pitches ``pitch_low`` up, a
        cell set when a note of that pitch sounds for any part of that step."""
        occupied = np.zeros((self.settings.n_steps, self.n_pitches), dtype=bool)
        for note in notes:
            column = note.pitch - pitch_low
            if not 0 <= column < self.n_pitches:
                continue
            first = (max(note.start_tick, self.start_tick) - self.start_tick) // self.step_ticks
            stop = -(-(min(note.end_tick, end_tick) - self.start_tick) // self.step_ticks)
            occupied[first:stop, column] = True
        return occupied

    def _allowed_pitches(self) -> np.ndarray:
        """Pitches that may sound, in the user's key. Shapes: ``(P,)`` bool."""
        return allowed_pitch_mask(
            self.settings,
            self.pitch_low,
            self.pitch_low + self.n_pitches,
            self.key.tonic if self.key else None,
        )

    def no_pitch_allowed_reason(self, range_text: str | None = None) -> str | None:
        """Why no pitch may sound under these settings (see :func:`no_pitch_allowed_reason`),
        or None: the check to make before iterating."""
        return no_pitch_allowed_reason(
            self.settings,
            self.pitch_low,
            self.pitch_low + self.n_pitches,
            self.key.tonic if self.key else None,
            range_text,
        )

    def __iter__(self) -> Iterator[ContinuationStep]:
        for _ in range(len(self.frames), self.settings.n_steps):
            yield self.next_step()

    def next_step(self) -> ContinuationStep:
        """Generate the next step. Raises StopIteration after ``n_steps``."""
        index = len(self.frames)
        if index >= self.settings.n_steps:
            raise StopIteration
        generated = next(self._generator)
        # the user's notes are theirs: neither drawn again nor doubled
        frame = transpose_roll(generated.frame, -self.shift) & ~(
            self.clamped[index] | self.occupied[index]
        )
        probabilities = transpose_roll(generated.probabilities, -self.shift)
        self.frames.append(frame)
        return ContinuationStep(
            step_index=index,
            start_tick=self.start_tick + index * self.step_ticks,
            frame=frame,
            probabilities=probabilities,
        )

    @property
    def end_tick(self) -> int:
        """Where the requested continuation ends. Units: ticks."""
        return self.start_tick + self.settings.n_steps * self.step_ticks

    def generated_notes(self, frames: Sequence[np.ndarray] | None = None) -> list[Note]:
        """The generated frames so far as notes (``generated=True``), in the user's key."""
        frames = self.frames if frames is None else list(frames)
        if not frames:
            return []
        return roll_to_notes(
            np.stack(frames),
            self.step_ticks,
            start_tick=self.start_tick,
            pitch_low=self.pitch_low,
            velocity=self.velocity,
            generated=True,
            channel=self.channel,
            track=self.track,
        )

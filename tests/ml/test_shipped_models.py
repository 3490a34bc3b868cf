"""Every shipped model loads, has its card, and continues a melody through the real engine."""

from __future__ import annotations

import numpy as np
import pytest

from composer_app import paths
from composer_app.midi.files import read_mid
from composer_app.ml.continuation import Continuation, ContinuationSettings, load_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.skipif(not paths.shipped_model_names(), reason="no shipped models in models/")
@pytest.mark.parametrize("name", paths.shipped_model_names())
def test_shipped_model_loads_has_its_card_and_continues_a_melody(name: str) -> None:
    folder = paths.model_dir(name)
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert card.splitlines()[0].startswith(f"# RNN-RBM — {name}")
    model = load_model(str(folder), name)
    assert model.config.dataset and name.startswith(model.config.dataset)
    assert model.config.key_normalization == "C major/C minor"
    # the first four bars of the example seed shipped in resources/seeds (melody and chords)
    tune = read_mid(paths.resource_path("seeds", "morning_reel_D.mid"))
    bar = tune.time_signature_at(0).bar_ticks(tune.ppq)
    seed = [n for n in tune.notes if n.start_tick < 4 * bar]
    start = 4 * bar
    steps = 32
    continuation = Continuation(
        model, seed, tune.ppq, start, ContinuationSettings(n_steps=steps, random_seed=3)
    )
    notes_per_step = [int(step.frame.sum()) for step in continuation]
    assert len(notes_per_step) == steps
    # the model plays: notes on most steps, never an implausible cluster
    assert sum(n > 0 for n in notes_per_step) >= steps // 2, notes_per_step
    assert max(notes_per_step) <= 12, notes_per_step
    # the notes it wrote start at or after the continuation's start, on the model's grid
    generated = continuation.generated_notes()
    assert generated and all(n.start_tick >= start for n in generated)
    step_ticks = round(model.config.step_beats * tune.ppq)
    assert all((n.start_tick - start) % step_ticks == 0 for n in generated)
    assert np.isfinite(model.register_pitch or 60.0)


@pytest.mark.skipif(not paths.shipped_model_names(), reason="no shipped models in models/")
@pytest.mark.parametrize("name", paths.shipped_model_names())
def test_shipped_model_register_is_its_training_music_mean_pitch(name: str) -> None:
    from composer_app.ml.data import load_benchmark, mean_pitch

    model = load_model(str(paths.model_dir(name)), name)
    data = paths.shared_data_dir() / f"{model.config.dataset}.json.gz"
    if not data.is_file():
        pytest.skip(f"{data} is absent (the shared benchmark data are not beside the project)")
    expected = mean_pitch(load_benchmark(data)["train"])
    assert model.register_pitch == model.config.register_pitch
    assert model.register_pitch == pytest.approx(expected, abs=0.005)


@pytest.mark.skipif(
    not (paths.model_dir() / "config.json").is_file(), reason="the default model is not shipped"
)
def test_default_model_samples_as_its_config_says_and_lively() -> None:
    # The default model anneals (its Gibbs chains from the previous frame mix slowly and hold
    # chords too long). Continuing the example seed at four random seeds, annealing starts
    # more new notes per step than a 25-step Gibbs chain of the same model does.
    from dataclasses import replace

    model = load_model(str(paths.model_dir()), paths.DEFAULT_MODEL_NAME)
    assert (model.config.sampler, model.config.sampling_steps) == ("annealed", 100)
    tune = read_mid(paths.resource_path("seeds", "morning_reel_D.mid"))
    bar = tune.time_signature_at(0).bar_ticks(tune.ppq)
    seed = [n for n in tune.notes if n.start_tick < 4 * bar]

    def new_notes_per_step(loaded) -> float:
        starts = 0
        for random_seed in range(4):
            settings = ContinuationSettings(n_steps=32, random_seed=random_seed)
            frames = np.array([s.frame for s in Continuation(loaded, seed, tune.ppq, 4 * bar,
                                                             settings)]).astype(np.int8)
            starts += int((np.diff(frames, axis=0) == 1).sum())
        return starts / (4 * 31)

    gibbs = replace(model, config=replace(model.config, sampler="gibbs", sampling_steps=25))
    annealed, chained = new_notes_per_step(model), new_notes_per_step(gibbs)
    assert annealed > chained + 0.1, (annealed, chained)


@pytest.mark.skipif(
    not (paths.model_dir() / "config.json").is_file(), reason="the default model is not shipped"
)
def test_the_a_minor_example_seed_is_continued_as_a_minor() -> None:
    # Its A chords are open fifths and its only third above A is C: the key profiles alone
    # call it A major, which the app then showed ("Generating in A major") and used as the
    # tonic's mode. (The model's move into C, the shift, is the same for both modes.)
    model = load_model(str(paths.model_dir()), paths.DEFAULT_MODEL_NAME)
    tune = read_mid(paths.resource_path("seeds", "evening_waltz_Am.mid"))
    settings = ContinuationSettings(n_steps=8, random_seed=0)
    continuation = Continuation(model, tune.notes, tune.ppq, tune.end_tick, settings)
    assert continuation.key is not None and continuation.key.name == "A minor"
    assert continuation.shift % 12 == 3  # A -> C
    # and the model goes on in A minor: its old version (open fifths, two Cs) went on in A
    # major for half the random seeds (all six with `nottingham`); over six, the minor third
    # C now sounds far longer than the major third C# (37,920 ticks against 10,560)
    minor = major = 0
    for seed in range(6):
        settings = ContinuationSettings(n_steps=48, random_seed=seed)
        continuation = Continuation(model, tune.notes, tune.ppq, tune.end_tick, settings)
        list(continuation)
        notes = continuation.generated_notes()
        minor += sum(n.duration_ticks for n in notes if n.pitch % 12 == 0)
        major += sum(n.duration_ticks for n in notes if n.pitch % 12 == 1)
    assert minor > 2 * major, (minor, major)

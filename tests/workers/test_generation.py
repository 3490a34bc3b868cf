"""GenerationWorker on a real QThread: steps arrive as numpy rows, Stop is quick, variations."""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import replace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from composer_app.core.note import Note
from composer_app.core.score import Score
from composer_app.ml.checkpoint import save_checkpoint
from composer_app.ml.continuation import ContinuationSettings
from composer_app.ml.rnnrbm import RnnRbm, RnnRbmConfig
from composer_app.workers import generation as generation_module
from composer_app.workers.generation import (
    WORKER_NICENESS,
    GenerationRequest,
    GenerationThread,
)

EIGHTH = 240


class _ClockPlayer:
    """A stand-in player whose playhead runs at a chosen speed; records the stream."""

    def __init__(self, ticks_per_s: float) -> None:
        self.ticks_per_s = ticks_per_s
        self.frames: list[np.ndarray] = []
        self.stream_start: int | None = None
        self.ended = False
        self._t0 = 0.0
        self._lock = threading.Lock()

    def start_stream(self, score, start_tick, step_ticks, pitch_low=21, velocity=90, channel=0):
        self.stream_start = start_tick
        self._t0 = time.monotonic()

    def append_frames(self, frames: np.ndarray) -> None:
        with self._lock:
            self.frames.extend(np.asarray(frames))

    def end_stream(self) -> None:
        self.ended = True

    @property
    def is_playing(self) -> bool:
        return True

    @property
    def position_tick(self) -> float:
        return (self.stream_start or 0) + (time.monotonic() - self._t0) * self.ticks_per_s


def _checkpoint(tmp_path) -> str:
    config = RnnRbmConfig(n_hidden=16, n_recurrent=8)
    model = RnnRbm(config, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.bv.fill_(-3.0)
    save_checkpoint(tmp_path / "m", config, model)
    return str(tmp_path / "m")


def _request(n_steps: int, n_variations: int = 1) -> GenerationRequest:
    notes = tuple(Note(i * EIGHTH, p, EIGHTH) for i, p in enumerate([60, 62, 64, 65, 67]))
    return GenerationRequest(
        notes=notes, ppq=480, start_tick=5 * EIGHTH,
        settings=ContinuationSettings(n_steps=n_steps, random_seed=4),
        n_variations=n_variations, stream=True, lookahead_bars=1.0,
    )


def _loaded(qtbot, tmp_path, player) -> GenerationThread:
    if player is not None:  # the GUI starts the stream before it asks for the run
        player.start_stream(Score(), 5 * EIGHTH, EIGHTH)
    gen = GenerationThread(player)
    with qtbot.waitSignal(gen.worker.model_loaded, timeout=20000):
        gen.request_load(_checkpoint(tmp_path), "tiny")
    return gen


def test_generation_worker_streams_every_step_to_the_player(qtbot, tmp_path) -> None:
    player = _ClockPlayer(ticks_per_s=1e7)  # a playhead far ahead: no waiting
    gen = _loaded(qtbot, tmp_path, player)
    steps: list[tuple[int, int]] = []
    gen.worker.step_generated.connect(lambda v, i, frame, probs: steps.append((v, i)))
    try:
        with qtbot.waitSignal(gen.worker.finished, timeout=20000) as finished:
            gen.request_run(_request(24))
        assert finished.args == [True]
        assert steps == [(0, i) for i in range(24)]
        assert len(player.frames) == 24 and player.ended
        assert player.stream_start == 5 * EIGHTH
        assert all(f.shape == (88,) and f.dtype == bool for f in player.frames)
    finally:
        gen.shutdown()


@pytest.mark.skipif(not hasattr(os, "getpriority") or not sys.platform.startswith("linux"),
                    reason="per-thread nice values are Linux's")
def test_generation_worker_runs_at_a_lower_priority_than_the_gui(
    qtbot, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker's thread is niced (the GUI's and the player's are not), so a burst of
    # generation cannot starve the sound server or the event loop. Threads inherit the nice
    # value of the thread that starts them, so the target is set above this test's own (pytest
    # may itself run niced): the worker can only reach it by lowering its own priority.
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    if base >= 19:
        pytest.skip("the tests run at the lowest priority already (nice 19)")
    target = min(19, max(WORKER_NICENESS, base + 1))
    monkeypatch.setattr(generation_module, "WORKER_NICENESS", target)
    player = _ClockPlayer(ticks_per_s=1e7)
    gen = _loaded(qtbot, tmp_path, player)
    seen: list[int] = []
    gen.worker.continuation_started.connect(
        lambda *a: seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())),
        type=Qt.ConnectionType.DirectConnection,  # runs on the worker's thread
    )
    try:
        with qtbot.waitSignal(gen.worker.finished, timeout=20000):
            gen.request_run(_request(4))
        assert seen == [target]
        # the calling (GUI) thread keeps its priority
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
    finally:
        gen.shutdown()


def test_generation_worker_stays_ahead_of_the_playhead_and_stops_within_a_step(
    qtbot, tmp_path
) -> None:
    # A playhead moving at 960 ticks/s (120 BPM at 480 PPQ) and a one-bar lookahead
    # (1920 ticks = 8 eighth steps): the worker may run at most ~8 steps ahead.
    player = _ClockPlayer(ticks_per_s=960)
    gen = _loaded(qtbot, tmp_path, player)
    results: list[bool] = []
    gen.worker.finished.connect(results.append)
    try:
        gen.request_run(_request(400))
        qtbot.waitUntil(lambda: len(player.frames) >= 9, timeout=10000)
        time.sleep(0.3)
        # after ~0.3 s the playhead moved ~288 ticks (~1 step): still ~9-10 steps generated
        assert len(player.frames) <= 12
        stop_at = len(player.frames)
        gen.worker.request_stop()
        qtbot.waitUntil(lambda: results == [False], timeout=5000)
        assert len(player.frames) <= stop_at + 1
        assert player.ended
    finally:
        gen.shutdown()
    assert not gen.thread.isRunning()


def test_generation_worker_variations_differ_and_first_is_live(qtbot, tmp_path) -> None:
    player = _ClockPlayer(ticks_per_s=1e7)
    gen = _loaded(qtbot, tmp_path, player)
    variations: dict[int, list[Note]] = {}
    gen.worker.variation_finished.connect(lambda i, notes: variations.__setitem__(i, notes))
    try:
        with qtbot.waitSignal(gen.worker.finished, timeout=20000):
            gen.request_run(_request(32, n_variations=3))
        assert sorted(variations) == [0, 1, 2]
        assert len(player.frames) == 32  # only the first variation is streamed
        assert variations[0] != variations[1]
        assert all(n.generated for notes in variations.values() for n in notes)
        # the next random seed gives new music, not the variations already heard (variation
        # k of seed 4 was the first of seed 4 + k)
        later = {}
        gen.worker.variation_finished.disconnect()
        gen.worker.variation_finished.connect(lambda i, notes: later.__setitem__(i, notes))
        with qtbot.waitSignal(gen.worker.finished, timeout=20000):
            gen.request_run(replace(_request(32, n_variations=2), settings=ContinuationSettings(
                n_steps=32, random_seed=5)))
        assert later[0] not in (variations[1], variations[2])
        assert later[1] not in (variations[1], variations[2])
    finally:
        gen.shutdown()


def test_generation_worker_bad_checkpoint_keeps_current_model(qtbot, tmp_path) -> None:
    gen = _loaded(qtbot, tmp_path, None)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "weights.safetensors").write_bytes(b"\x00" * 10)
    try:
        with qtbot.waitSignal(gen.worker.model_failed, timeout=5000) as failed:
            gen.request_load(str(broken), "broken")
        assert "broken" in failed.args[0]
        assert gen.worker.has_model
    finally:
        gen.shutdown()


def test_generation_worker_unexpected_load_error_is_reported(qtbot, tmp_path, monkeypatch) -> None:
    gen = _loaded(qtbot, tmp_path, None)

    def load_model(directory: str, name: str | None = None) -> None:
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory")

    # not a CheckpointError or OSError: the slot must still answer, or the dock waits for ever
    monkeypatch.setattr("composer_app.ml.continuation.load_model", load_model)
    try:
        with qtbot.waitSignal(gen.worker.model_failed, timeout=5000) as failed:
            gen.request_load(_checkpoint(tmp_path), "odd")
        assert "'odd'" in failed.args[0] and "can't allocate memory" in failed.args[0]
        assert gen.worker.has_model
    finally:
        gen.shutdown()


def test_generation_worker_stop_before_the_run_begins_still_holds(
    qtbot, tmp_path, monkeypatch
) -> None:
    # Escape pressed while the worker's thread is still busy (here: loading another model)
    # must stop the run it has not begun yet; the run used to clear the stop as it began.
    player = _ClockPlayer(ticks_per_s=1e7)
    gen = _loaded(qtbot, tmp_path, player)
    from composer_app.ml import continuation as continuation_module

    real_load = continuation_module.load_model

    def slow_load(directory: str, name: str | None = None):
        time.sleep(0.5)
        return real_load(directory, name=name)

    monkeypatch.setattr(continuation_module, "load_model", slow_load)
    steps: list[int] = []
    gen.worker.step_generated.connect(lambda v, i, frame, probs: steps.append(i))
    try:
        gen.request_load(_checkpoint(tmp_path), "slow")  # the thread is busy for 0.5 s
        with qtbot.waitSignal(gen.worker.finished, timeout=20000) as finished:
            gen.request_run(_request(64))
            gen.worker.request_stop()  # before the worker has begun the run
        assert finished.args == [False] and steps == []
        # and the next run is not stopped by that old request
        with qtbot.waitSignal(gen.worker.finished, timeout=20000) as finished:
            gen.request_run(_request(8))
        assert finished.args == [True] and len(steps) == 8
    finally:
        gen.shutdown()

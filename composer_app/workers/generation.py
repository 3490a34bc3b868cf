"""The background worker that owns the model and runs continuations step by step.

It lives on its own ``QThread``. The GUI asks it to load a model (ahead of time, so that
pressing Continue does not wait for torch) and to run a continuation; the worker emits each
generated step as numpy rows (never tensors). When a live player is given, the worker also
streams each frame straight to the player (whose methods are thread-safe), staying a few
steps ahead of the playhead, so a note sounds as soon as it exists and generation keeps
ahead of playback. ``request_stop`` is thread-safe and takes effect within one step.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from composer_app.core.note import Note

# The generation thread's nice value (Linux; see _lower_this_threads_priority).
WORKER_NICENESS = 10


@dataclass(frozen=True)
class GenerationRequest:
    """Everything one press of Continue needs.

    Units: ticks. ``notes`` are the user's notes (seed and, in accompany mode, the clamped
    melody). ``settings`` is a :class:`~composer_app.ml.continuation.ContinuationSettings`.
    With ``stream`` the caller has started a stream on the worker's player at the
    continuation's start tick (see :func:`~composer_app.ml.continuation.plan_start`), and the
    worker appends the first variation's frames to it and ends it.
    """

    notes: tuple[Note, ...]
    ppq: int
    start_tick: int
    settings: Any
    seed_start_tick: int = 0
    grid_origin_tick: int = 0  # where the model's steps are counted from (a bar line)
    key_signature: Any = None  # the score's KeySignature in force at the seed's end, or None
    n_variations: int = 1
    stream: bool = False
    lookahead_bars: float = 2.0
    meta: dict[str, Any] = field(default_factory=dict)


class GenerationWorker(QObject):
    """Loads a model and runs continuations; see the module docstring.

    Signals: ``model_loaded(str, object)`` name and config; ``model_failed(str)`` a readable
    reason (the current model stays); ``continuation_started(int, int, str)`` start tick,
    step ticks and the seed's key; ``step_generated(int, int, object, object)`` variation,
    step index, frame ``(P,)`` bool and probabilities ``(P,)`` float32 in the user's key;
    ``variation_finished(int, object)`` variation index and its list of generated Notes;
    ``finished(bool)`` True when every step was generated, False when stopped;
    ``failed(str)`` a readable reason.
    """

    model_loaded = Signal(str, object)
    model_failed = Signal(str)
    continuation_started = Signal(int, int, str)
    step_generated = Signal(int, int, object, object)
    variation_finished = Signal(int, object)
    finished = Signal(bool)
    failed = Signal(str)

    def __init__(self, player: Any = None) -> None:
        super().__init__()
        self._player = player
        self._model: Any = None
        # Runs are numbered as they are requested; a stop applies to every run requested
        # before it, so a stop that comes before the worker has begun the run still holds.
        self._requested = 0  # the number of the last run requested
        self._stopped_through = 0  # runs numbered up to this one are to stop
        self._busy = threading.Event()

    # ---- thread-safe controls -------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the running continuation, and any requested and not yet begun, to stop
        (within one step). Any thread."""
        self._stopped_through = self._requested

    def number_run(self) -> int:
        """Number a run about to be requested (the thread that requests runs calls this)."""
        self._requested += 1
        return self._requested

    def _stop_requested(self, number: int) -> bool:
        return number <= self._stopped_through

    @property
    def is_busy(self) -> bool:
        """Whether a continuation is running."""
        return self._busy.is_set()

    @property
    def has_model(self) -> bool:
        """Whether a model is loaded."""
        return self._model is not None

    def set_player(self, player: Any) -> None:
        """The player to stream to (None: generate silently, draw only)."""
        self._player = player

    # ---- slots, run on the worker's thread -------------------------------------------
    @Slot(str, str)
    def load_model(self, directory: str, name: str) -> None:
        """Load a checkpoint; on failure the current model stays and ``model_failed`` says why."""
        try:
            from composer_app.ml.checkpoint import CheckpointError
            from composer_app.ml.continuation import load_model
        except Exception as exc:  # torch missing or broken: say so, never crash the app
            self.model_failed.emit(f"The model engine could not start: {exc}")
            return
        try:
            model = load_model(directory, name=name)
        except CheckpointError as exc:
            self.model_failed.emit(f"Cannot load the model '{name}': {exc}")
            return
        except OSError as exc:
            self.model_failed.emit(f"Cannot read the model '{name}': {exc}")
            return
        except Exception as exc:  # a bug must not leave the GUI waiting for ever; report it
            self.model_failed.emit(f"Cannot load the model '{name}': {type(exc).__name__}: {exc}")
            return
        self._model = model
        self.model_loaded.emit(name, model.config)

    @Slot(object, int)
    def run(self, request: GenerationRequest, number: int = 0) -> None:
        """Generate ``request.n_variations`` continuations; the first one live.

        ``number``: the run's number from :meth:`number_run` (0: number it now); a stop
        requested after that numbering ends the run, even before it begins.
        """
        _lower_this_threads_priority()
        if number <= 0:
            number = self.number_run()
        self._busy.set()
        completed = False
        try:
            completed = self._run(request, number)
        except Exception as exc:  # a bug must not kill the thread silently; report it
            self.failed.emit(f"Generation failed: {type(exc).__name__}: {exc}")
        finally:
            self._busy.clear()
            self.finished.emit(completed)

    def _run(self, request: GenerationRequest, number: int) -> bool:
        from composer_app.ml.continuation import Continuation, variation_seed
        from composer_app.ml.generate import GenerationError

        if self._model is None:
            self.failed.emit("No model is loaded yet.")
            return False
        player = self._player
        for variation in range(max(1, request.n_variations)):
            if self._stop_requested(number):
                return False
            settings = replace(
                request.settings,
                random_seed=variation_seed(request.settings.random_seed, variation),
            )
            try:
                continuation = Continuation(
                    self._model,
                    request.notes,
                    request.ppq,
                    request.start_tick,
                    settings,
                    seed_start_tick=request.seed_start_tick,
                    grid_origin_tick=request.grid_origin_tick,
                    key_signature=request.key_signature,
                )
            except GenerationError as exc:
                self.failed.emit(str(exc))
                return False
            live = variation == 0
            if live:
                key = continuation.key.name if continuation.key else ""
                self.continuation_started.emit(
                    continuation.start_tick, continuation.step_ticks, key
                )
            streaming = live and player is not None and request.stream
            lookahead_ticks = request.lookahead_bars * 4 * request.ppq
            try:
                for step in continuation:
                    if self._stop_requested(number):
                        return False
                    if streaming:
                        try:
                            player.append_frames(step.frame[np.newaxis, :])
                        except RuntimeError:
                            streaming = False  # playback was stopped or replaced: draw only
                    if live:
                        self.step_generated.emit(
                            variation, step.step_index, step.frame, step.probabilities
                        )
                    if streaming:
                        # Stay ahead of the playhead by the lookahead, no further: the
                        # drawn notes lead the sound by a bar or two and Stop is immediate.
                        try:
                            while (
                                step.start_tick - player.position_tick > lookahead_ticks
                                and not self._stop_requested(number)
                                and player.is_playing
                            ):
                                time.sleep(0.005)
                        except RuntimeError:
                            # the player was closed (Reconnect MIDI Output replaced it): the
                            # run goes on drawing, unheard
                            streaming = False
            finally:
                if streaming:
                    try:
                        player.end_stream()
                    except RuntimeError:
                        pass  # the player was closed meanwhile (quitting)
            self.variation_finished.emit(variation, continuation.generated_notes())
        return True


def _lower_this_threads_priority(niceness: int | None = None) -> None:
    """Make the calling thread yield the CPU to the GUI, the MIDI player and the sound server.

    Generation is background work and bursty (it runs up to the lookahead as fast as it can;
    an annealing model's step is about 5 ms of arithmetic); on a loaded machine it should
    not take the CPU from the event loop or a synth. On Linux the nice value is per thread;
    elsewhere, or when it cannot be changed, nothing happens. ``niceness``: the nice value
    to reach (default ``WORKER_NICENESS``, read at call time); a thread already nicer stays.
    """
    if niceness is None:
        niceness = WORKER_NICENESS
    if not sys.platform.startswith("linux"):
        return  # elsewhere setpriority takes a process id, not a thread's
    try:
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
            os.setpriority(os.PRIO_PROCESS, tid, niceness)
    except (AttributeError, OSError):
        pass


class _Dispatcher(QObject):
    """Lives on the caller's thread; its signals reach the worker's slots queued."""

    load_requested = Signal(str, str)
    run_requested = Signal(object, int)


class GenerationThread:
    """Owns the worker and its QThread; ``shutdown`` stops and joins them.

    ``request_load`` and ``request_run`` hand work to the worker's thread and return at once.
    """

    def __init__(self, player: Any = None) -> None:
        self.thread = QThread()
        self.thread.setObjectName("GenerationThread")
        self.worker = GenerationWorker(player)
        self.worker.moveToThread(self.thread)
        self._dispatcher = _Dispatcher()
        self._dispatcher.load_requested.connect(self.worker.load_model)
        self._dispatcher.run_requested.connect(self.worker.run)
        self.thread.start()

    def request_load(self, directory: str, name: str) -> None:
        """Load a model on the worker's thread (``model_loaded``/``model_failed`` follow)."""
        self._dispatcher.load_requested.emit(directory, name)

    def request_run(self, request: GenerationRequest) -> None:
        """Start a continuation on the worker's thread."""
        self.worker.request_stop()  # a previous run, if any, ends at its next step
        self._dispatcher.run_requested.emit(request, self.worker.number_run())

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Stop any continuation, end the thread's event loop and wait for it."""
        self.worker.request_stop()
        self.thread.quit()
        if not self.thread.wait(timeout_ms):
            # A model load cannot be interrupted (importing torch takes seconds): wait it out
            # rather than destroy a running thread, which aborts the process.
            self.thread.wait()

"""Live continuation in the window: Continue, Stop, variations, Accept and Discard.

The controller joins the Continue dock, the generation worker (on its own thread), the
player and the document. The worker generates; the player sounds each step; this class
draws each step as pending (generated) notes, one model step at a time, on the GUI thread.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from composer_app import paths
from composer_app.core.keys import PITCH_CLASS_NAMES, estimate_key, signature_key
from composer_app.core.note import Note, pitch_name
from composer_app.core.pianoroll import roll_to_notes
from composer_app.core.score import ScoreError
from composer_app.gui.continuation_panel import ContinuationPanel
from composer_app.gui.preferences import OUTPUT_CHECK_DELAY_MS, readable_path
from composer_app.ml.continuation import (
    no_pitch_allowed_reason,
    plan_start,
    seed_notes,
    seed_part,
    seed_velocity,
    step_ticks_for,
)
from composer_app.workers.generation import GenerationRequest, GenerationThread

if TYPE_CHECKING:
    from composer_app.gui.document import ScoreDocument
    from composer_app.gui.pianoroll.editor import PianoRollEditor
    from composer_app.workers.playback import PlaybackController


class ContinuationController(QObject):
    """Runs continuations for a window. See the module docstring.

    Signals: ``status_reported(str)`` a line for the status bar; ``running_changed(bool)``;
    ``model_loaded(str)`` a model is ready (its name); ``finished(bool)`` a run ended
    (True: every step generated; False: stopped).
    """

    status_reported = Signal(str)
    running_changed = Signal(bool)
    model_loaded = Signal(str)
    finished = Signal(bool)

    def __init__(
        self,
        window: QMainWindow,
        document: ScoreDocument,
        editor: PianoRollEditor,
        playback: PlaybackController,
        settings: QSettings,
    ) -> None:
        super().__init__(window)
        self._window = window
        self._document = document
        self._editor = editor
        self._playback = playback
        self._settings = settings
        self.panel = ContinuationPanel(
            paths.shipped_model_names(), window, default_model=paths.DEFAULT_MODEL_NAME
        )
        self.panel.load_settings(settings)
        self._generation = GenerationThread(playback.player)
        worker = self._generation.worker
        self._model_name = ""
        self._model_config: Any = None
        self._loads_pending = 0  # model loads asked of the worker and not yet answered
        self._requested_model = ""  # the last model asked for (a shipped name or a folder)
        self._running = False
        self._start_tick = 0
        self._step_ticks = 0
        self._take_end_tick = 0  # where the last run's take ends (ticks)
        # an accepted take still sounding: (start, end) ticks; Continue goes on after it
        self._accepted_sounding: tuple[int, int] | None = None
        # where the pending take's own playback (one that began at or before its end) left
        # the playhead (ticks), until the user moves it; and where the last playback began
        self._played_to: int | None = None
        self._played_from: int | None = None
        self._scale_chosen: tuple[int | None, str | None] = (None, None)  # (key, scale) asked
        self._heat_pitch_low = 21  # the lowest MIDI pitch of the probabilities' columns
        self._velocity = 90
        self._channel = 0  # MIDI channel of the generated notes (the seed's)
        self._track = 0  # and their track on it (Note.track: the seed's)
        self._over_notes = False  # the run plays over user notes it does not hear
        self._kept_before = ""  # the status's note that Continue kept the take before
        self._output_gone = False  # the output in use was no longer listed at the start
        self._frames: list[np.ndarray] = []
        self._probabilities: list[np.ndarray] = []
        self._variations: dict[int, list[Note]] = {}
        self._current_variation = 0
        self._key_name = ""
        self._closed = False
        self._abandoned = False  # the running continuation belongs to a closed document

        self.continue_action = QAction("&Continue", window)
        self.continue_action.setObjectName("continue")
        self.continue_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.continue_action.setStatusTip("Let the model continue from the playhead or the region")
        self.stop_action = QAction("&Stop Generating", window)
        self.stop_action.setObjectName("stop_generating")
        self.stop_action.setStatusTip("Stop the continuation and its sound (Escape)")
        # Enabled only while generating or the take sounds (it plays on for up to two bars
        # after its last step is made), so Escape otherwise still deselects in the roll.
        self.stop_action.setShortcut(QKeySequence("Esc"))
        self.accept_action = QAction("&Accept Continuation", window)
        self.accept_action.setObjectName("accept_continuation")
        self.accept_action.setShortcuts(
            [QKeySequence("Ctrl+Shift+Return"), QKeySequence("Ctrl+Shift+Enter")]
        )
        self.discard_action = QAction("&Discard Continuation", window)
        self.discard_action.setObjectName("discard_continuation")
        self.discard_action.setShortcut(QKeySequence("Ctrl+Shift+Backspace"))
        for action in (self.continue_action, self.stop_action, self.accept_action,
                       self.discard_action):
            window.addAction(action)

        self.continue_action.triggered.connect(self.start)
        self.stop_action.triggered.connect(self.stop)
        self.accept_action.triggered.connect(self.accept)
        self.discard_action.triggered.connect(self.discard)
        self.panel.continue_requested.connect(self.start)
        self.panel.stop_requested.connect(self.stop)
        self.panel.accept_requested.connect(self.accept)
        self.panel.discard_requested.connect(self.discard)
        self.panel.variation_selected.connect(self.select_variation)
        self.panel.model_selected.connect(self._on_panel_model_selected)
        self.panel.open_checkpoint_requested.connect(self._on_panel_open_checkpoint_requested)
        self.panel.heat_map_toggled.connect(lambda _on: self._show_heat_map())
        playback.player_replaced.connect(worker.set_player)
        playback.playing_changed.connect(self._on_playback_playing_changed)
        editor.playhead_requested.connect(self._on_editor_playhead_requested)
        worker.model_loaded.connect(self._on_worker_model_loaded)
        worker.model_failed.connect(self._on_worker_model_failed)
        worker.continuation_started.connect(self._on_worker_continuation_started)
        worker.step_generated.connect(self._on_worker_step_generated)
        worker.variation_finished.connect(self._on_worker_variation_finished)
        worker.finished.connect(self._on_worker_finished)
        worker.failed.connect(self._on_worker_failed)
        self._update_state()

    # ---- model ---------------------------------------------------------------------------
    def load_initial_model(self) -> None:
        """Load the chosen (or default) model in the background, before it is needed."""
        name = self.panel.current_model
        if not name:
            self.panel.set_status("No model is installed in models/.")
            return
        self.load_model(name)

    def load_model(self, name_or_dir: str) -> None:
        """Load a shipped model by name, or a checkpoint folder, on the worker's thread."""
        if self._running:
            self.stop()
        directory = name_or_dir if os.path.isdir(name_or_dir) else str(paths.model_dir(name_or_dir))
        self.panel.set_status(f"Loading model {os.path.basename(name_or_dir)}…")
        self._requested_model = name_or_dir
        self._loads_pending += 1
        self._update_state()  # no Continue until it has loaded (or failed)
        self._generation.request_load(directory, name_or_dir)

    @property
    def model_ready(self) -> bool:
        """Whether a model is loaded and no other is being loaded (Continue must not start
        with one model's settings while the worker switches to another's)."""
        return self._model_config is not None and self._loads_pending == 0

    @property
    def is_running(self) -> bool:
        """Whether a continuation is being generated."""
        return self._running

    @property
    def has_pending(self) -> bool:
        """Whether generated notes wait for Accept or Discard."""
        return bool(self._document.generated_notes)

    # ---- the user's commands --------------------------------------------------------------
    def start(self) -> None:
        """Continue from the playhead (or the region): generate, draw and sound it live."""
        if self._running or self._closed:
            return
        if not self.model_ready:
            self._report("The model is still loading; try again in a moment.")
            return
        self._window.transport.commit_typed_tempo()  # type: ignore[attr-defined]
        self._output_gone = False  # known once _check_output has looked
        # where the user put the playhead (or the region), before a pending continuation goes
        region = self._region()
        playhead = int(self._window.playhead_tick)  # type: ignore[attr-defined]
        # The user put the playhead at or after a pending take's end (the ruler, End, ...):
        # the take is kept and the next goes on after it, hearing it. Where the take's own
        # playback left it (at its end, or past it when it played the user's later notes
        # on), Continue again is another take from where this one began.
        left_by_playback = self._played_to == playhead
        go_on_after = (
            self.has_pending and region is None and playhead >= self._take_end_tick
            and not left_by_playback
        )
        self._played_to = None
        if self.has_pending and not go_on_after and (
            self._start_tick <= playhead <= self._take_end_tick
            or (left_by_playback and playhead > self._take_end_tick)
        ):
            # the take's own playback left the playhead in it (at its end, once heard; past
            # it, when it played the user's later notes on): Continue again is another take
            # from where this one began, not after it
            playhead = self._start_tick
        accepted = self._accepted_sounding
        if accepted is not None and self._playback.is_streaming and (
            accepted[0] <= playhead < accepted[1]
        ):
            # accepted while it still sounded: its playback has the playhead in it; the
            # next take goes on after it (the guide: Accept leaves the playhead at its end)
            playhead = accepted[1]
        self._accepted_sounding = None
        problem = self._no_pitch_problem(region, playhead, go_on_after)
        if problem is not None:  # before anything changes: the pending take stays
            self._report(problem)
            return
        kept = 0
        if go_on_after:
            kept = self._document.accept_generated()  # an undo step of its own
            self._clear_pending_state()
        self._discard(return_playhead=False)
        document, score = self._document, self._document.score
        settings = self.panel.settings()
        config = self._model_config
        step_ticks = step_ticks_for(config, score.ppq)
        if settings.accompany:
            # The region (or the bars after the playhead) is the target; before it, the seed.
            start_request = region[0] if region else playhead
            end_tick = region[1] if region else None
            seed_start = 0
        else:
            # The region is the seed; without one, everything before the playhead (or the
            # whole score when the playhead is at the start).
            if region:
                seed_start, start_request = region
            else:
                seed_start = 0
                start_request = playhead if playhead > 0 else score.end_tick
            end_tick = None
        # the model's steps are counted from the bar line, so they fall on its beats
        grid_origin = score.bar_start_at(start_request)
        start_tick = plan_start(config, score.ppq, start_request, grid_origin)
        count, unit = self.panel.length
        if end_tick is not None and end_tick > start_tick:
            n_steps = max(1, -(-(end_tick - start_tick) // step_ticks))
        elif unit == "steps":
            n_steps = count
        else:  # bars of the meters in force, however they change
            try:
                end = score.bars_later(start_tick, count)
            except ScoreError:  # bars shorter than a tick cannot be counted: the bar's length
                end = start_tick + count * score.time_signature_at(start_tick).bar_ticks(score.ppq)
            n_steps = max(1, -(-(end - start_tick) // step_ticks))
        settings = replace(settings, n_steps=n_steps)
        self._scale_chosen = (settings.key_tonic, settings.scale)
        user_notes = tuple(n for n in score.notes if not n.generated)
        self._start_tick, self._step_ticks = start_tick, step_ticks
        self._take_end_tick = start_tick + n_steps * step_ticks
        self._heat_pitch_low = config.pitch_low
        seed = seed_notes(user_notes, seed_start, start_tick)
        targets = seed_notes(user_notes, start_tick, start_tick + n_steps * step_ticks)
        self._velocity = seed_velocity(seed, targets if settings.accompany else ())
        self._channel, self._track = seed_part(seed, targets if settings.accompany else ())
        # your notes after the start, which the model does not hear unless it accompanies them
        self._over_notes = not settings.accompany and any(
            n.start_tick >= start_tick for n in targets
        )
        self._frames, self._probabilities, self._variations = [], [], {}
        self._current_variation = 0
        self.panel.set_variations(0)
        # The player plays the user's notes from the start tick (the melody in accompany
        # mode) together with the frames the worker appends.
        # (the song, with each part's instrument, pedal, mix and expression and the synth's
        # setup, less its notes)
        along = score.copy()
        along.clear()
        along.add_many(n for n in user_notes if n.end_tick > start_tick)
        self._playback.stop()
        self._playback.start_stream(
            along, start_tick, step_ticks, pitch_low=config.pitch_low, velocity=self._velocity,
            channel=self._channel,
        )
        request = GenerationRequest(
            notes=user_notes,
            ppq=score.ppq,
            start_tick=start_tick,
            settings=settings,
            seed_start_tick=seed_start,
            grid_origin_tick=grid_origin,
            key_signature=score.key_signature_at(max(0, start_tick - 1)),
            n_variations=self.panel.n_variations,
            stream=True,
        )
        self._set_running(True)
        silent = self._silent_reason()
        self._kept_before = (
            f" The take before it is kept ({kept} note{'s' if kept != 1 else ''}; Undo "
            f"removes {'them' if kept != 1 else 'it'})." if kept else ""
        )
        self._report(
            (f"Generating silently ({silent})…" if silent else "Generating…") + self._kept_before
        )
        document.set_selection(())
        self._generation.request_run(request)
        QTimer.singleShot(OUTPUT_CHECK_DELAY_MS, self._check_output)

    def _check_output(self) -> None:
        """Just after a run starts: a synth that quit is not heard; the run's messages say
        so from now on."""
        self._output_gone = not self._window.check_midi_output()  # type: ignore[attr-defined]
        if self._output_gone and self._running:
            self._report(f"Generating silently ({self._silent_reason()})…")

    def _silent_reason(self) -> str:
        """Why the run is not heard (for its messages), or "" when it is."""
        if self._playback.port is None:
            return "no MIDI output; choose one in Preferences"
        if self._output_gone:
            return ("the MIDI output is gone: start the synth again, then Transport ▸ "
                    "Reconnect MIDI Output")
        return ""

    def _no_pitch_problem(
        self, region: tuple[int, int] | None, playhead: int, keep_take: bool
    ) -> str | None:
        """Why the dock's pitch range, scale and key let no note of the model sound (then
        a run would only draw silence), or None. A scale on the seed's key is judged on the
        key the run will find: of the seed it will hear (the region, or what lies before the
        playhead; the melody too when accompanying; a pending take it keeps).

        Units: ticks."""
        settings, config = self.panel.settings(), self._model_config
        seed_tonic = None
        if settings.scale is not None and settings.key_tonic is None:
            score = self._document.score
            notes = [n.accepted() if n.generated else n for n in score.notes
                     if keep_take or not n.generated]
            if settings.accompany:
                # the seed and the melody the run will accompany, up to the length asked
                start = region[0] if region else playhead
                if region:
                    end = region[1]
                else:
                    count, unit = self.panel.length
                    step = step_ticks_for(config, score.ppq)
                    try:
                        end = score.bars_later(start, count) if unit == "bars" else 0
                    except ScoreError:
                        end = 0
                    end = max(end, start + count * step)
                seed = seed_notes(notes, 0, end)
            elif region:
                start = region[1]
                seed = seed_notes(notes, region[0], start)
            else:
                start = playhead if playhead > 0 else max((n.end_tick for n in notes), default=0)
                seed = seed_notes(notes, 0, start)
            # the key "Seed's key" scales are on: the notes', else the key signature's
            signature = score.key_signature_at(max(0, start - 1))
            key = estimate_key(seed) or (
                signature_key(signature) if signature is not None else None
            )
            seed_tonic = key.tonic if key else None
        low, high = settings.range_low, settings.range_high
        reason = no_pitch_allowed_reason(
            settings, config.pitch_low, config.pitch_high, seed_tonic,
            f"the pitch range {pitch_name(low)}\u2013{pitch_name(high)}",
        )  # fmt: skip
        if reason is None:
            return None
        reason = reason.removeprefix("no pitch is allowed: ")
        return f"Nothing to generate: {reason}. Widen the pitch range, or choose another scale or key."

    def stop(self) -> None:
        """Stop generating and sounding at once; what was generated stays pending."""
        self._generation.worker.request_stop()
        self._playback.stop()
        self._playback.panic()

    def accept(self) -> None:
        """Keep the pending continuation as ordinary notes (one undo step)."""
        if self._running:
            return
        take_end = max((n.end_tick for n in self._document.generated_notes), default=None)
        count = self._document.accept_generated()
        self._clear_pending_state()
        if count:
            # the next Continue goes on after the accepted take, not over it again: the
            # region it came from is done with, and the playhead waits at its end
            self._editor.clear_region()
            if take_end is not None and not self._playback.is_playing:
                self._window.set_playhead(take_end)  # type: ignore[attr-defined]
            elif take_end is not None and self._playback.is_streaming:
                # it plays on to its end; a Continue before then goes on from there
                self._accepted_sounding = (self._start_tick, take_end)
            self._report(
                f"Accepted {count} generated note{'s' if count != 1 else ''} "
                f"(Undo removes {'them' if count != 1 else 'it'})."
            )

    def discard(self) -> None:
        """Remove the pending continuation and return the playhead to where it began."""
        self._discard(return_playhead=True)

    def _discard(self, return_playhead: bool) -> None:
        if self._running:
            return
        had = bool(self._document.generated_notes)
        self._document.set_generated_notes([])
        self._clear_pending_state()
        if had:
            self._playback.stop()
            if return_playhead:
                # back to where the continuation began, so Continue tries again from there
                self._window.set_playhead(self._start_tick)  # type: ignore[attr-defined]
            self._report("Continuation discarded.")

    def select_variation(self, index: int) -> None:
        """Show and play variation ``index`` (0-based) of the last run."""
        notes = self._variations.get(index)
        if notes is None or self._running:
            return
        self._current_variation = index
        self._document.set_generated_notes(notes)
        self._show_heat_map()
        score = self._document.score
        self._playback.stop()
        self._playback.play(score, self._start_tick)
        self._report(f"Variation {index + 1} of {len(self._variations)}")

    def abandon(self) -> None:
        """Stop and forget any continuation (a new or opened document).

        A run still ending on the worker's thread may have steps in flight: they are ignored
        until its ``finished`` arrives, so nothing of it reaches the next document.
        """
        if self._running:
            self._abandoned = True
        self.stop()
        self._clear_pending_state()
        self._editor.set_probabilities(0, 1, None)

    def shutdown(self) -> None:
        """Stop the worker and join its thread; keep the panel's settings."""
        if self._closed:
            return
        self._closed = True
        self.panel.save_settings(self._settings)
        self._generation.worker.request_stop()
        self._generation.shutdown()

    def save_settings(self) -> None:
        """Keep the panel's settings now."""
        self.panel.save_settings(self._settings)

    # ---- worker -> GUI ------------------------------------------------------------------
    def _on_worker_model_loaded(self, name: str, config: Any) -> None:
        self._loads_pending = max(0, self._loads_pending - 1)
        self._model_name, self._model_config = name, config
        self.panel.set_current_model(name)
        self.panel.set_model_sampling(config.sampler, config.sampling_steps)
        beats = config.step_beats
        step = {0.25: "sixteenth", 0.5: "eighth", 1.0: "quarter"}.get(beats, f"{beats:g}-beat")
        self.panel.set_status(
            f"Model {os.path.basename(name)} ready ({config.dataset or 'custom data'}, "
            f"{step}-note steps)."
        )
        self._update_state()
        self.model_loaded.emit(name)

    def _on_worker_model_failed(self, message: str) -> None:
        self._loads_pending = max(0, self._loads_pending - 1)
        self._update_state()  # the model before it is still there
        default = paths.DEFAULT_MODEL_NAME
        fall_back = (
            not self._model_name
            and self._loads_pending == 0
            and self._requested_model != default
            and default in paths.shipped_model_names()
        )
        if self._model_name:
            self.panel.set_current_model(self._model_name)
            self.panel.set_status(f"Still using {os.path.basename(self._model_name)}.")
        elif not fall_back:
            self.panel.set_status("No model loaded.")
        if fall_back:
            # e.g. a remembered checkpoint folder that no longer loads: rather than no model
            # at every start, the shipped default (the chooser then shows and keeps it)
            message += f"\n\nThe default model, {default}, is being loaded instead."
        QMessageBox.warning(self._window, "Cannot load the model", readable_path(message))
        if fall_back:
            self.load_model(default)

    def _on_worker_continuation_started(self, start_tick: int, step_ticks: int, key: str) -> None:
        if self._abandoned:
            return
        tonic, scale = self._scale_chosen
        if scale is not None and key:
            # the notes keep to the chosen scale: name it (on the seed's tonic unless a key
            # was chosen), not the seed's estimated key
            name = PITCH_CLASS_NAMES[tonic] if tonic is not None else key.split()[0]
            key = f"{name} {scale}"
        self._key_name = key
        silent = self._silent_reason()
        silently = f", silently ({silent})" if silent else ""
        over = (
            " It plays over your notes after the start; Accompany would fit around them."
            if self._over_notes else ""
        )
        self._report(
            (f"Generating in {key}{silently}…" if key
             else f"Generating from silence: the seed has no notes to continue{silently}…")
            + over + self._kept_before
        )

    def _on_worker_step_generated(self, variation: int, index: int, frame: Any,
                                  probabilities: Any) -> None:
        if variation != 0 or not self._running or self._abandoned:
            return
        self._frames.append(np.asarray(frame, dtype=bool))
        self._probabilities.append(np.asarray(probabilities, dtype=np.float32))
        self._document.set_generated_notes(self._frames_as_notes())
        self._show_heat_map()

    def _on_worker_variation_finished(self, variation: int, notes: Any) -> None:
        if not self._abandoned:
            self._variations[variation] = list(notes)

    def _on_worker_finished(self, completed: bool) -> None:
        self._set_running(False)
        if self._abandoned:
            self._abandoned = False
            self._clear_pending_state()
            return
        if self._variations.get(0) is not None:
            self._document.set_generated_notes(self._variations[0])
        count = len(self._variations)
        self.panel.set_variations(count)
        done = "Done" if completed else "Stopped"
        pending = len(self._document.generated_notes)
        if pending:
            self._report(
                f"{done}: {pending} generated note{'s' if pending != 1 else ''}"
                + (f" in {self._key_name}" if self._key_name else "")
                + (f", {count} variations" if count > 1 else "")
                + ((" (it plays" if pending == 1 else " (they play")
                   + " over your notes after the start)" if self._over_notes else "")
                + (". Accept keeps them, Discard removes them." if pending != 1
                   else ". Accept keeps it, Discard removes it.")
            )
        elif any(self._variations.values()):
            self._report(f"{done}: the first variation has no notes; pick another in the list.")
        elif not completed:
            self._report("Stopped before the model played a note.")
        else:
            self._report(
                f"{done}: the model played no note here (the pitch range, scale or maximum "
                "of notes per step may leave it nothing it plays); try other settings."
            )
        self._update_state()
        self.finished.emit(completed)

    def _on_worker_failed(self, message: str) -> None:
        if self._abandoned:
            return
        self._playback.stop()
        QMessageBox.warning(self._window, "Continuation failed", message)

    # ---- panel -> controller ---------------------------------------------------------------
    def _on_panel_model_selected(self, name: str) -> None:
        self.load_model(name)

    def _on_panel_open_checkpoint_requested(self) -> None:
        directory = QFileDialog.getExistingDirectory(
            self._window, "Open checkpoint folder (config.json + weights.safetensors)"
        )
        if directory:
            self.load_model(directory)

    # ---- helpers -----------------------------------------------------------------------------
    def _region(self) -> tuple[int, int] | None:
        """The ruler region, else the span of the notes the user selected, else None (notes
        an edit left selected, such as the last one drawn, are no region)."""
        region = self._editor.region()
        if region is not None:
            return region
        selection = self._document.selection
        if selection and self._document.selection_is_chosen:
            return min(n.start_tick for n in selection), max(n.end_tick for n in selection)
        return None

    def _frames_as_notes(self) -> list[Note]:
        return roll_to_notes(
            np.stack(self._frames),
            self._step_ticks,
            start_tick=self._start_tick,
            pitch_low=self._model_config.pitch_low,
            velocity=self._velocity,
            generated=True,
            channel=self._channel,
            track=self._track,
        )

    def _show_heat_map(self) -> None:
        # the probabilities are the live (first) variation's: shown while it is generated and
        # while it waits for Accept or Discard, not over another variation
        shown = self._running or (self.has_pending and self._current_variation == 0)
        if self.panel.heat_map_check.isChecked() and self._probabilities and shown:
            # the view draws the 88 keys (MIDI 21-108); a model of another range is placed in it
            probabilities = np.stack(self._probabilities)
            keys = np.zeros((len(probabilities), 88), dtype=np.float32)
            low = self._heat_pitch_low  # the range of the model that drew them
            first, stop = max(low, 21), min(low + probabilities.shape[1], 109)
            if first < stop:
                keys[:, first - 21 : stop - 21] = probabilities[:, first - low : stop - low]
            self._editor.set_probabilities(self._start_tick, self._step_ticks, keys)
        else:
            self._editor.set_probabilities(0, 1, None)

    def _clear_pending_state(self) -> None:
        self._variations = {}
        self._frames, self._probabilities = [], []
        self.panel.set_variations(0)
        self._show_heat_map()
        self._update_state()

    def _set_running(self, running: bool) -> None:
        if running != self._running:
            self._running = running
            self.running_changed.emit(running)
        if not running:
            QTimer.singleShot(0, self._show_heat_map)
        self._update_state()

    def _on_playback_playing_changed(self, playing: bool) -> None:
        playhead = int(self._window.playhead_tick)  # type: ignore[attr-defined]
        if playing:
            self._played_from = self._playback.started_from_tick
        else:
            self._accepted_sounding = None  # played out or stopped: the playhead says where
            # (a playback begun after the take, which never played it, is the user's doing)
            began = self._played_from
            self._played_to = (
                playhead if began is not None and began <= self._take_end_tick else None
            )
        self._update_state()

    def _on_editor_playhead_requested(self, _tick: int) -> None:
        self.user_moved_playhead()

    def user_moved_playhead(self) -> None:
        """The user put the playhead somewhere (the ruler, Home, End), while playing too:
        that is where the next Continue goes on from, not where a playback leaves it."""
        self._accepted_sounding = None
        self._played_to = self._played_from = None

    def _update_state(self) -> None:
        pending = bool(self._document.generated_notes)
        self.panel.set_state(running=self._running, pending=pending, model_ready=self.model_ready)
        self.continue_action.setEnabled(self.model_ready and not self._running)
        self.stop_action.setEnabled(self._running or self._playback.is_streaming)
        self.accept_action.setEnabled(pending and not self._running)
        self.discard_action.setEnabled(pending and not self._running)

    def _report(self, message: str) -> None:
        self.panel.set_status(message)
        self.status_reported.emit(message)


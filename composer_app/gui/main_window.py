"""The main window: the piano-roll editor with menus, transport, files, autosave and playback."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QKeyEvent
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QWidget,
)

from composer_app import paths
from composer_app.core.edits import (
    SetTempoMap,
    remove_key_at,
    remove_meter_at,
    remove_tempo_at,
    set_key_at,
    set_meter_at,
    set_tempo_at,
)
from composer_app.core.keys import estimate_key
from composer_app.core.score import KeySignature, Score, ScoreError, TempoChange
from composer_app.gui.actions import (
    DEFAULT_GRID_DENOMINATOR,
    ControlKeysFilter,
    build_actions,
    build_edit_toolbar,
    build_menus,
    grid_ticks,
)
from composer_app.gui.autosave import (
    DEFAULT_INTERVAL_MS,
    Autosaver,
    Recovery,
    autosave_directory,
    find_recoveries,
    hold_lock,
)
from composer_app.gui.continuation_controller import ContinuationController
from composer_app.gui.document import ScoreDocument
from composer_app.gui.meter_tempo import DENOMINATORS as METER_DENOMINATORS
from composer_app.gui.meter_tempo import (
    KeySignatureDialog,
    TempoChangeDialog,
    TimeSignatureDialog,
)
from composer_app.gui.pianoroll.editor import PianoRollEditor
from composer_app.gui.pianoroll.geometry import bar_at, snap_floor
from composer_app.gui.preferences import (
    NO_OUTPUT,
    OUTPUT_CHECK_DELAY_MS,
    MidiOutputChoice,
    Preferences,
    PreferencesDialog,
    open_settings,
    readable_path,
)
from composer_app.gui.transport import TransportBar, format_bar_beat_tick
from composer_app.midi import ports
from composer_app.midi.files import MidiFileError, read_mid, read_mid_report, write_mid
from composer_app.workers.playback import PlaybackController, PlayerFactory

APP_NAME = "Composer"
MIDI_FILE_FILTER = "MIDI files (*.mid *.midi);;All files (*)"
MIDI_SUFFIXES = (".mid", ".midi")  # what Save writes
OPEN_FILE_FILTER = "MIDI files (*.mid *.midi *.rmi);;All files (*)"
OPEN_SUFFIXES = (*MIDI_SUFFIXES, ".rmi")  # and what Open and a drop read (RIFF MIDI too)


class MainWindow(QMainWindow):
    """The application window around a :class:`PianoRollEditor`.

    Everything that touches the outside world is injectable for tests: the settings store,
    the autosave folder and interval, the player and the port functions.
    """

    def __init__(
        self,
        file_path: str | None = None,
        *,
        settings: QSettings | None = None,
        autosave_dir: Path | None = None,
        autosave_interval_ms: int = DEFAULT_INTERVAL_MS,
        player_factory: PlayerFactory | None = None,
        list_ports: Callable[[], ports.PortListing] = ports.list_output_ports,
        preload_model: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("main_window")
        self.resize(1280, 800)
        self.setAcceptDrops(True)
        self.prefs = Preferences(settings if settings is not None else open_settings())
        self._list_ports = list_ports
        self._playhead_tick = 0.0
        self._shut_down = False
        self._ending_session = False  # end_session is writing its last autosave
        # The opened file's content that the score does not hold (drums, controllers, ...):
        # (its real path, one line per kind). Saving over that file asks first, whatever
        # name the document has meanwhile, until that file itself has been written.
        self._dropped_content: tuple[str, list[str]] | None = None
        # A crashed session's autosave that was recovered but could not be replaced by one
        # of ours: kept until this session's work is safe (see offer_recovery).
        self._superseded_recovery: Recovery | None = None
        self._superseded_lock: int | None = None  # its lock, held so no launch offers it

        self.document = ScoreDocument()
        self.editor = PianoRollEditor(self.document)
        self.setCentralWidget(self.editor)

        stack = self.document.undo_stack
        self.window_actions = build_actions(
            self, stack.createUndoAction(self, "&Undo"), stack.createRedoAction(self, "&Redo")
        )
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.setObjectName("recent_menu")
        self.recent_menu.aboutToShow.connect(self._rebuild_recent_menu)
        self.examples_menu = QMenu("Open &Example Seed", self)
        self.examples_menu.setObjectName("examples_menu")
        for path in paths.seed_melodies():
            title = path.stem.replace("_", " ").capitalize()
            action = self.examples_menu.addAction(title)
            action.triggered.connect(lambda _checked=False, p=str(path): self.open_example(p))
        self.examples_menu.setEnabled(bool(self.examples_menu.actions()))
        self.menus = build_menus(
            self.menuBar(), self.window_actions, self.recent_menu, self.examples_menu
        )
        self.menus["file"].aboutToShow.connect(self._rebuild_recent_menu)
        self.edit_toolbar = build_edit_toolbar(self, self.window_actions)
        self.addToolBar(self.edit_toolbar)
        a = self.window_actions
        self.transport = TransportBar(a.play, a.home, a.follow, a.panic, self)
        self.transport.insertAction(a.follow, a.loop)
        self.addToolBar(self.transport)
        self.midi_status_label = QLabel()
        self.midi_status_label.setObjectName("midi_status_label")
        self.statusBar().addPermanentWidget(self.midi_status_label)
        # shown while autosave fails (a full disk): a passing message is easily missed, and
        # the work is then not protected against a crash
        self.autosave_status_label = QLabel("Autosave failing")
        self.autosave_status_label.setObjectName("autosave_status_label")
        self.autosave_status_label.setStyleSheet("color: #b00020; font-weight: bold;")
        self.autosave_status_label.hide()
        self.statusBar().addPermanentWidget(self.autosave_status_label)

        self.playback = PlaybackController(player_factory, self)
        self.autosaver = Autosaver(
            autosave_dir if autosave_dir is not None else autosave_directory(),
            self._autosave_snapshot,
            autosave_interval_ms,
            self,
            state=lambda: (self.document.edit_state, self.file_path),
        )
        self.continuation = ContinuationController(
            self, self.document, self.editor, self.playback, self.prefs.settings
        )
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.continuation.panel)
        # plain keys on the dock's controls and the tempo box are theirs, not the editor's
        self._control_keys = ControlKeysFilter(self)
        self._control_keys.watch(self.continuation.panel, self.transport.tempo_spin)
        compose_menu = self.menuBar().addMenu("&Compose")
        compose_menu.addActions([
            self.continuation.continue_action,
            self.continuation.stop_action,
            self.continuation.accept_action,
            self.continuation.discard_action,
        ])
        compose_menu.addSeparator()
        panel_toggle = self.continuation.panel.toggleViewAction()
        panel_toggle.setText("Continue Panel")  # not a second "Continue" beside the command
        compose_menu.addAction(panel_toggle)
        self.menus["compose"] = compose_menu
        self._connect()
        a.follow.setChecked(self.prefs.follow_playhead())
        self.editor.follow_playhead = a.follow.isChecked()
        self._on_grid_changed()
        self._midi_output_in_use = NO_OUTPUT  # what _apply_midi_output last opened (or tried)
        self._midi_output_lost = False  # it was open, and a restarted player lost it
        self._apply_midi_output(self.prefs.midi_output(), at_startup=True)
        self._refresh_from_score()
        self._update_title()
        self.autosaver.start()
        if file_path:
            self.open_file(file_path, ask_to_save=False)
        if preload_model:
            # After the window is up: torch loads on the worker's thread, not at start-up.
            QTimer.singleShot(0, self.continuation.load_initial_model)

    # ---- wiring ---------------------------------------------------------------------------
    def _connect(self) -> None:
        a = self.window_actions
        a.new.triggered.connect(self.new_file)
        a.open.triggered.connect(lambda: self.open_file())
        a.save.triggered.connect(self.save)
        a.save_as.triggered.connect(self.save_as)
        a.preferences.triggered.connect(self.show_preferences)
        a.quit.triggered.connect(self.close)
        a.cut.triggered.connect(self.editor.cut)
        a.copy.triggered.connect(self.editor.copy)
        a.paste.triggered.connect(lambda: self.editor.paste())  # at the playhead, on the grid
        a.duplicate.triggered.connect(self.editor.duplicate)
        a.select_all.triggered.connect(self.editor.select_all)
        a.delete.triggered.connect(self.editor.delete_selection)
        a.quantize.triggered.connect(self.editor.quantize_selection)
        a.zoom_to_fit.triggered.connect(self.editor.zoom_to_fit)
        a.zoom_in.triggered.connect(lambda: self.editor.zoom_horizontal(1.25))
        a.zoom_out.triggered.connect(lambda: self.editor.zoom_horizontal(0.8))
        a.play.triggered.connect(self.toggle_play)
        a.home.triggered.connect(self.return_to_start)
        a.end.triggered.connect(self.go_to_end)
        a.loop.toggled.connect(lambda _on: self._update_loop())
        self.editor.region_changed.connect(self._update_loop)
        a.time_signature.triggered.connect(self.edit_time_signature)
        a.key_signature.triggered.connect(self.edit_key_signature)
        a.tempo_change.triggered.connect(self.edit_tempo_change)
        a.panic.triggered.connect(self.panic)
        a.reconnect.triggered.connect(self.reconnect_midi_output)
        a.follow.toggled.connect(self._on_follow_toggled)
        for name, action in a.tools.items():
            action.triggered.connect(lambda _checked=False, n=name: self.editor.set_tool(n))
        self.editor.tool_changed.connect(self._on_editor_tool_changed)
        for action in a.grids.values():
            action.triggered.connect(self._on_grid_changed)
        a.grid_triplet.toggled.connect(self._on_grid_changed)

        self.editor.note_preview_requested.connect(self._on_editor_note_preview_requested)
        self.editor.playhead_requested.connect(self._on_editor_playhead_requested)
        self.document.changed.connect(self._refresh_from_score)
        self.document.dirty_changed.connect(self._on_document_dirty_changed)
        self.transport.tempo_edited.connect(self.set_tempo_bpm)

        self.playback.position_changed.connect(self._on_playback_position_changed)
        self.playback.playing_changed.connect(self._on_playback_playing_changed)
        self.playback.error_occurred.connect(self._on_playback_error_occurred)
        self.playback.player_replaced.connect(self._on_playback_player_replaced)
        self.autosaver.failed.connect(self._on_autosaver_failed)
        self.autosaver.saved.connect(self._on_autosaver_saved)
        self.continuation.status_reported.connect(
            lambda msg: self.statusBar().showMessage(msg, 10_000)
        )

    # ---- title and state --------------------------------------------------------------------
    @property
    def file_path(self) -> str | None:
        """The document's file, or ``None`` while untitled."""
        return self.document.file_path

    def display_name(self) -> str:
        """The file name shown in the title and dialogs."""
        return readable_path(os.path.basename(self.file_path)) if self.file_path else "Untitled"

    def _update_title(self) -> None:
        mark = "*" if self.document.is_dirty else ""
        self.setWindowTitle(f"{self.display_name()}{mark} - {APP_NAME}")

    def _refresh_from_score(self) -> None:
        score = self.document.score
        if self.playback.is_playing:
            self.playback.set_tempo_map(score.tempo_map)  # a tempo edit (or undo) is heard now
            self.playback.update_notes(score)  # and a note edit (not a live take's stream)
        self._update_loop()  # a loop over the whole song follows its end
        self.transport.set_tempo_bpm(score.initial_tempo_bpm)
        self.transport.set_position(self._playhead_tick, score)
        self._update_title()

    # ---- files ------------------------------------------------------------------------------
    def maybe_save(self) -> bool:
        """Ask Save / Discard / Cancel when there are unsaved changes or a generated
        continuation not yet accepted (Save accepts it first). True: go ahead."""
        self.transport.commit_typed_tempo()  # a tempo typed and not entered is a change too
        pending = self.continuation.has_pending
        if not self.document.is_dirty and not pending:
            return True
        if pending:
            what = "unsaved changes and a" if self.document.is_dirty else "a"
            text = (
                f"“{self.display_name()}” has {what} generated continuation you have not "
                "accepted. Accept it and save?"
            )
        else:
            text = f"“{self.display_name()}” has unsaved changes. Save them first?"
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            text,
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            # (Discard: the caller abandons the continuation; Cancel leaves it running)
            if pending and not self._stop_continuation_run():
                return False
            # the continuation is accepted once the file holding it is written: cancelling
            # the file dialog (or a failed write) leaves it pending, as it was
            return self._save(accept_pending=pending)
        return answer == QMessageBox.StandardButton.Discard

    def _stop_continuation_run(self) -> bool:
        """Stop a run (waiting up to 2 s), so that what it generated waits, complete, for
        Accept. False, with a message, if it did not stop."""
        if self.continuation.is_running:
            self.continuation.stop()
        deadline = time.monotonic() + 2.0
        while self.continuation.is_running and time.monotonic() < deadline:
            QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if self.continuation.is_running:
            self.statusBar().showMessage("The continuation is still stopping; try again.", 5000)
            return False
        return True

    def new_file(self) -> bool:
        """Start an empty 4/4 score at 120 BPM (asking first about unsaved changes)."""
        if not self.maybe_save():
            return False
        self._stop_for_new_document()
        self.document.replace_score(Score(), None)
        self._dropped_content = None
        self._drop_autosaves()
        self._refresh_from_score()
        self.statusBar().showMessage("New score", 3000)
        return True

    def open_file(self, path: str | None = None, ask_to_save: bool = True) -> bool:
        """Open a MIDI file (asking for one when ``path`` is None). True if it was loaded.

        A file that cannot be read gets a dialog naming it and the reason; the current
        document stays as it was (and a file that no longer exists leaves Open Recent). What
        the score cannot hold (drum notes, controllers, program changes, ...) is named in the
        status bar, and saving over the file later asks first.
        """
        if path is None:
            path, _filter = QFileDialog.getOpenFileName(
                self, "Open MIDI file", self.prefs.last_directory(), OPEN_FILE_FILTER
            )
            if not path:
                return False
        path = os.path.abspath(path)
        try:
            score, report = read_mid_report(path)
        except (MidiFileError, OSError, ScoreError) as exc:
            self._show_file_error("Cannot open file", f"Could not open “{path}”.", exc)
            if not os.path.lexists(path) and os.path.isdir(os.path.dirname(path)):
                # gone from a folder that is there (not on a drive that is not mounted)
                self.prefs.remove_recent_file(path)  # the menu is rebuilt when next shown
            return False
        if ask_to_save and not self.maybe_save():
            return False
        self._stop_for_new_document()
        self.document.replace_score(score, path)
        dropped = report.dropped_content_lines()
        self._dropped_content = (os.path.realpath(path), dropped) if dropped else None
        self._drop_autosaves()
        self.prefs.add_recent_file(path)
        self.prefs.set_last_directory(os.path.dirname(path))
        self._refresh_from_score()
        self.editor.zoom_to_fit()
        message = f"Opened {readable_path(os.path.basename(path))} ({len(score)} notes)"
        repaired = report.repair_lines()
        if dropped:
            message += "; not kept: " + "; ".join(dropped)
        if repaired:
            message += "; repaired: " + "; ".join(repaired)
        self.statusBar().showMessage(message, 15_000 if dropped or repaired else 5000)
        return True

    def open_example(self, path: str) -> bool:
        """Open a shipped seed melody as a new, untitled document (Save asks for a name, so
        the example itself is never overwritten). True if it was loaded."""
        try:
            score = read_mid(path)
        except (MidiFileError, OSError) as exc:
            self._show_file_error("Cannot open example", f"Could not open “{path}”.", exc)
            return False
        if not self.maybe_save():
            return False
        self._stop_for_new_document()
        self.document.replace_score(score, None)
        self._dropped_content = None
        self._drop_autosaves()
        self._refresh_from_score()
        self.editor.zoom_to_fit()
        self.set_playhead(float(score.end_tick))  # ready to Continue after the melody
        self.statusBar().showMessage(
            f"Example “{os.path.basename(path)}”: press Continue (Ctrl+Enter) to extend it", 8000
        )
        return True

    def save(self) -> bool:
        """Save to the document's file (asking for one while untitled). True if saved.

        Over an opened file that held what the score does not (drum notes, controllers,
        ...), asks first: replace it and lose them, save under another name, or cancel.
        """
        return self._save(accept_pending=False)

    def _save(self, accept_pending: bool) -> bool:
        """:meth:`save`; with ``accept_pending``, the pending continuation is written as
        ordinary notes and accepted once the file is written."""
        self.transport.commit_typed_tempo()  # the file gets the tempo the box shows
        if not self.file_path:
            return self._save_as(accept_pending)
        answer = self._ask_before_losing_content(self.file_path, offer_save_as=True)
        if answer == QMessageBox.StandardButton.No:
            return self._save_as(accept_pending)
        if answer == QMessageBox.StandardButton.Cancel:
            return False
        return self._write_to(self.file_path, accept_pending)

    def save_as(self) -> bool:
        """Ask for a file name and save (export) there. True if saved.

        A name typed without a MIDI suffix gets ".mid"; if that file exists, asks before
        replacing it (the file dialog asked about the name as typed).
        """
        return self._save_as(accept_pending=False)

    def _save_as(self, accept_pending: bool) -> bool:
        self.transport.commit_typed_tempo()
        suggested = self.file_path or os.path.join(self.prefs.last_directory(), "Untitled.mid")
        if not suggested.lower().endswith(MIDI_SUFFIXES):  # an .rmi is saved as a plain .mid
            suggested = os.path.splitext(suggested)[0] + ".mid"
        path, _filter = QFileDialog.getSaveFileName(
            self, "Save MIDI file", suggested, MIDI_FILE_FILTER
        )
        if not path:
            return False
        if not path.lower().endswith(MIDI_SUFFIXES):
            path += ".mid"
            if (
                os.path.lexists(path)
                and not self._holds_dropped_content(path)  # that question comes next
                and not self._confirm_replace(path)
            ):
                return False
        path = os.path.abspath(path)
        if self._ask_before_losing_content(path) == QMessageBox.StandardButton.Cancel:
            return False
        return self._write_to(path, accept_pending)

    def _confirm_replace(self, path: str) -> bool:
        answer = QMessageBox.question(
            self,
            "Replace file?",
            readable_path(
                f"“{os.path.basename(path)}” already exists in “{os.path.dirname(path)}”. "
                "Replace it?"
            ),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _holds_dropped_content(self, path: str) -> bool:
        """Whether ``path`` (by any name) is the opened file that holds what the score does
        not."""
        return (
            self._dropped_content is not None
            and os.path.realpath(path) == self._dropped_content[0]
        )

    def _ask_before_losing_content(
        self, path: str, offer_save_as: bool = False
    ) -> QMessageBox.StandardButton:
        """Yes when ``path`` may be written: it is not the opened file whose content the
        score does not hold, or the user chose to replace it. Otherwise Cancel, or No: save
        under another name (offered when ``offer_save_as``)."""
        if not self._holds_dropped_content(path):
            return QMessageBox.StandardButton.Yes
        lines = "\n".join(f"  • {line}" for line in self._dropped_content[1])
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel
        hint = ""
        if offer_save_as:
            buttons |= QMessageBox.StandardButton.No
            hint = "\n\nYes replaces it; No saves under another name."
        return QMessageBox.question(
            self,
            "Replace the original file?",
            readable_path(
                f"“{os.path.basename(path)}” holds what Composer does not keep:\n{lines}\n\n"
                f"Saving over it loses them. Replace it anyway?{hint}"
            ),
            buttons,
            QMessageBox.StandardButton.No if offer_save_as else QMessageBox.StandardButton.Cancel,
        )

    def _write_to(self, path: str, accept_pending: bool = False) -> bool:
        """Write the score to ``path``: without the pending continuation, or, with
        ``accept_pending``, with it as ordinary notes, accepted once the file is written."""
        score = self.document.saved_score()  # a pending continuation is not saved
        if accept_pending:
            score.add_many(n.accepted() for n in self.document.generated_notes)
        try:
            write_mid(score, path)
        except (MidiFileError, OSError, ScoreError) as exc:
            self._show_file_error("Cannot save file", f"Could not save “{path}”.", exc)
            return False  # the document stays dirty (and the continuation pending)
        if accept_pending:
            self.continuation.accept()  # one undo step, the score now what the file holds
        self.document.file_path = path
        self.document.mark_clean()
        if self._holds_dropped_content(path):
            self._dropped_content = None  # that file now holds only what the score holds
        self._drop_autosaves()
        self.prefs.add_recent_file(path)
        self.prefs.set_last_directory(os.path.dirname(path))
        self._update_title()
        self.statusBar().showMessage(f"Saved {readable_path(path)}", 5000)
        return True

    def _show_file_error(self, title: str, headline: str, exc: BaseException) -> None:
        if isinstance(exc, MidiFileError):
            reason = exc.reason
        elif isinstance(exc, OSError) and exc.strerror:
            reason = exc.strerror
        else:
            reason = str(exc)
        # (a name that is not UTF-8 shows with a replacement character, not without it)
        QMessageBox.critical(self, title, readable_path(f"{headline}\n\nReason: {reason}"))

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.prefs.recent_files()
        for path in files:
            action = self.recent_menu.addAction(readable_path(os.path.basename(path)))
            action.setStatusTip(readable_path(path))
            action.setToolTip(readable_path(path))
            action.triggered.connect(lambda _checked=False, p=path: self.open_file(p))
        if not files:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list").triggered.connect(
                self.prefs.clear_recent_files
            )

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if self._dropped_midi_path(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        path = self._dropped_midi_path(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        # Open after the drop returns, so a dialog does not run inside the drag loop.
        QTimer.singleShot(0, lambda: self.open_file(path))

    @staticmethod
    def _dropped_midi_path(event: QDragEnterEvent | QDropEvent) -> str | None:
        mime = event.mimeData()
        if not mime.hasUrls():
            return None
        for url in mime.urls():
            if url.isLocalFile() and url.toLocalFile().lower().endswith(OPEN_SUFFIXES):
                return url.toLocalFile()
        return None

    # ---- autosave and recovery --------------------------------------------------------------
    def _drop_autosaves(self) -> None:
        """The work is saved, or the user chose to let it go: no autosave is needed."""
        self.autosaver.discard()
        self._release_superseded_recovery()

    def _release_superseded_recovery(self) -> None:
        if self._superseded_recovery is not None:
            self._superseded_recovery.discard()
            self._superseded_recovery = None
        if self._superseded_lock is not None:
            os.close(self._superseded_lock)
            self._superseded_lock = None

    def _on_autosaver_failed(self, message: str) -> None:
        text = readable_path(message)
        self.statusBar().showMessage(text, 10_000)
        self.autosave_status_label.setToolTip(
            f"{text}\n\nUnsaved work is not protected against a crash until an autosave "
            "works again (each minute) or you save."
        )
        self.autosave_status_label.show()

    def _on_autosaver_saved(self, _path: str) -> None:
        self.autosave_status_label.hide()
        self._release_superseded_recovery()

    def _on_document_dirty_changed(self, dirty: bool) -> None:
        if not dirty:  # saved (or all undone): nothing left for autosave to protect
            self.autosave_status_label.hide()
        self._update_title()

    def _autosave_snapshot(self) -> tuple[Score, str | None, bool]:
        if self._ending_session:
            # the last autosave keeps a pending take too, as accepted (the quit question's
            # Save accepts it): nobody is there to accept or discard it
            pending = self.document.generated_notes
            if pending:
                score = self.document.score.copy()
                score.remove_many(pending)
                score.add_many(n.accepted() for n in pending)
                return score, self.file_path, True
        return self.document.saved_score(), self.file_path, self.document.is_dirty

    def offer_recovery(self) -> bool:
        """If an earlier session crashed and left an autosave, offer to recover it.

        The recovered document is dirty; it remembers the original file (if any) but nothing
        is written there until the user saves. True if a document was recovered.
        """
        recoveries = find_recoveries(self.autosaver.directory)
        if not recoveries:
            return False
        recovery = recoveries[0]
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(recovery.modified_s))
        origin = (
            f" of “{readable_path(os.path.basename(recovery.original_path))}”"
            if recovery.original_path else ""
        )
        others = len(recoveries) - 1
        more = (
            f"\n\n{others} more session{'s' if others > 1 else ''} left unsaved work; "
            f"{'they are' if others > 1 else 'it is'} offered at the next start, one at a time."
            if others else ""
        )
        answer = QMessageBox.question(
            self,
            "Recover unsaved work?",
            f"Composer did not exit cleanly. Recover the unsaved work{origin} autosaved at "
            f"{when}?{more}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Discard,
            QMessageBox.StandardButton.Yes,
        )
        if answer != QMessageBox.StandardButton.Yes:
            recovery.discard()
            return False
        try:
            score = recovery.load()
        except (MidiFileError, OSError) as exc:
            # not deleted: it may be the only copy of the work (another version might read it)
            try:
                where = f" It is kept as “{recovery.set_aside()}”."
            except OSError:
                where = f" It stays as “{recovery.mid_path}”."
            self._show_file_error(
                "Cannot recover", f"The autosaved work could not be read.{where}", exc
            )
            return False
        self._stop_for_new_document()
        self.document.replace_score(score, recovery.original_path)
        self._dropped_content = _dropped_content_of(recovery.original_path)
        self.document.undo_stack.resetClean()  # recovered work is unsaved work
        self._refresh_from_score()
        if self.autosaver.autosave_now():  # our own copy first, then the old one can go
            recovery.discard()
            self.statusBar().showMessage("Recovered unsaved work; save it to keep it", 10_000)
            return True
        # Not protected by an autosave of ours (a full disk?): the old one is the only copy
        # on disk, so it stays, and goes once this session's work is safe (autosaved, saved,
        # or closed by the user's choice).
        self._superseded_recovery = recovery
        # held as its crashed session held it: another launch must not offer (and perhaps
        # discard) what is now this session's only copy on disk
        self._superseded_lock = hold_lock(recovery.lock_path)
        QMessageBox.warning(
            self,
            "Recovered work is not protected",
            readable_path(
                "The unsaved work was recovered, but it could not be autosaved again: "
                f"{self.autosaver.last_error}\n\nThe old autosave stays as "
                f"“{recovery.mid_path}” until this session's work is safe. Save the work "
                "(File ▸ Save As) to keep it."
            ),
        )
        return True

    # ---- tempo ------------------------------------------------------------------------------
    def set_tempo_bpm(self, tempo_bpm: float) -> None:
        """Set the starting tempo (later tempo changes stay) as one undoable edit."""
        score = self.document.score
        old = tuple(score.tempo_map)
        try:
            first = TempoChange.from_bpm(0, tempo_bpm)
        except ScoreError as exc:
            self.statusBar().showMessage(str(exc), 5000)
            self.transport.set_tempo_bpm(score.initial_tempo_bpm)
            return
        if first == old[0]:
            return
        new = (first, *old[1:])
        self.document.push(
            SetTempoMap(old, new, label=f"Tempo {old[0].tempo_bpm:g} → {tempo_bpm:g} BPM")
        )

    # ---- meter and tempo changes ------------------------------------------------------------
    def edit_time_signature(self) -> None:
        """Set (or remove) the meter from the bar at the playhead on, as one undoable edit."""
        score = self.document.score
        tick = score.bar_start_at(int(self._playhead_tick))
        current = score.time_signature_at(tick)
        bar_number = len(score.bar_starts(tick + 1))
        removable = tick > 0 and current.tick == tick
        # only beat values this resolution holds as whole ticks (a 1/64 at 120 PPQ is 7.5)
        whole = tuple(d for d in METER_DENOMINATORS if (score.ppq * 4) % d == 0)
        dialog = TimeSignatureDialog(
            current.numerator, current.denominator, bar_number, removable, self, whole
        )
        if dialog.exec() != TimeSignatureDialog.DialogCode.Accepted:
            return
        try:
            op = (
                remove_meter_at(score, tick) if dialog.remove_requested
                else set_meter_at(score, tick, *dialog.meter())
            )
        except ScoreError as exc:
            self.statusBar().showMessage(str(exc), 8000)
            return
        if op.new != op.old:
            self.document.push(op)

    def edit_key_signature(self) -> None:
        """Set (or remove) the key signature from the bar at the playhead on (or a change
        between that bar line and the playhead, as a file may hold inside a bar), as one
        undoable edit. A score without one gets its first from bar 1, offered in the key its
        notes are in."""
        score = self.document.score
        playhead = int(self._playhead_tick)
        tick = score.bar_start_at(playhead)
        inside = [k.tick for k in score.key_signatures if tick < k.tick <= playhead]
        tick = inside[-1] if inside else tick
        if not score.key_signatures:
            tick = 0  # (bars before a first key at bar 5 would read as C major elsewhere)
        current = score.key_signature_at(tick)
        if current is None:
            key = estimate_key(n for n in score.notes if not n.generated)
            current = (
                KeySignature.of_key(tick, key.tonic, key.mode == "minor") if key
                else KeySignature(tick)
            )
        where = (
            f"bar {len(score.bar_starts(tick + 1))}" if score.bar_start_at(tick) == tick
            else format_bar_beat_tick(tick, score)
        )
        removable = any(k.tick == tick for k in score.key_signatures)
        dialog = KeySignatureDialog(current, where, removable, self)
        if dialog.exec() != KeySignatureDialog.DialogCode.Accepted:
            return
        op = remove_key_at(score, tick) if dialog.remove_requested else set_key_at(
            score, tick, *dialog.key()
        )
        if op.new != op.old:
            self.document.push(op)

    def edit_tempo_change(self) -> None:
        """Set (or remove) the tempo from the grid line at or before the playhead on (or from
        a change between that line and the playhead), as one undoable edit (at the start, it
        is the tempo the transport shows)."""
        self.transport.commit_typed_tempo()
        score = self.document.score
        playhead = int(self._playhead_tick)
        tick = max(0, snap_floor(playhead, self.editor.snap_step_ticks, bar_at(score, playhead)))
        # a change off the grid between that line and the playhead (from a file) is the one
        # the playhead is on: edit or remove it there
        off_grid = [t.tick for t in score.tempo_map if tick < t.tick <= playhead]
        tick = off_grid[-1] if off_grid else tick
        current = score.tempo_at(tick)
        removable = tick > 0 and current.tick == tick
        where = format_bar_beat_tick(tick, score)
        dialog = TempoChangeDialog(current.tempo_bpm, where, removable, self)
        if dialog.exec() != TempoChangeDialog.DialogCode.Accepted:
            return
        if not dialog.remove_requested and not dialog.tempo_changed():
            return  # the tempo as it was (133.333 BPM shown as 133.3 stays 133.333)
        try:
            op = (
                remove_tempo_at(score, tick) if dialog.remove_requested
                else set_tempo_at(score, tick, dialog.tempo_bpm())
            )
        except ScoreError as exc:
            self.statusBar().showMessage(str(exc), 8000)
            return
        if op.new != op.old:
            self.document.push(op)

    # ---- playback ---------------------------------------------------------------------------
    @property
    def playhead_tick(self) -> float:
        """The playhead position. Units: ticks."""
        return self._playhead_tick

    def toggle_play(self) -> None:
        """Play from the playhead, or stop if playing (a live continuation too, as Escape)."""
        if self.continuation.is_running:
            self.continuation.stop()  # the sound and the generation: nothing races on unheard
            return
        if self.playback.is_playing:
            self.playback.stop()
            return
        self.transport.commit_typed_tempo()  # heard at the tempo the box shows
        score = self.document.score
        start_tick = int(self._playhead_tick)
        if start_tick >= score.end_tick:
            start_tick = 0  # at (or past) the end: play from the start
            self.set_playhead(0.0)
        self.playback.play(score, start_tick)
        # after the first notes: listing the ports takes a while (40 ms on JACK)
        QTimer.singleShot(OUTPUT_CHECK_DELAY_MS, self.check_midi_output)

    def check_midi_output(self) -> bool:
        """Whether the output in use, an existing port, is still listed; when it is not (the
        synth quit, or the MIDI system went away), say so and how to get it back, and return
        False. Nothing tells the app when that happens: it is checked just after playback or
        a continuation starts. A virtual port, or none, is always there."""
        choice = self._midi_output_in_use
        if self._shut_down or choice.kind != "port" or self.playback.port is None:
            return True
        listing = self._list_ports()
        wanted = ports.normalize_port_name(choice.name)
        if any(ports.normalize_port_name(name) == wanted for name in listing.names):
            if self.midi_status_label.text().endswith(" (gone)"):
                self.midi_status_label.setText(f"MIDI: {choice.label()}")
            return True
        self.midi_status_label.setText(f"MIDI: {choice.label()} (gone)")
        message = (
            f"The MIDI output {choice.label()} is gone (did the synth quit?): nothing is heard. "
            "Start it again, then choose Transport ▸ Reconnect MIDI Output"
        )
        self.midi_status_label.setToolTip(message)
        self.statusBar().showMessage(message, 15_000)
        return False

    def return_to_start(self) -> None:
        """Move the playhead to the start (while playing too)."""
        if self.playback.is_playing:
            self.playback.seek(0)
        self.set_playhead(0.0)
        self.continuation.user_moved_playhead()

    def loop_range(self) -> tuple[int, int] | None:
        """What Loop plays over and over: the ruler region, else the whole song up to the end
        of its last bar; None when Loop is off or there is nothing to loop. Units: ticks."""
        if not self.window_actions.loop.isChecked():
            return None
        region = self.editor.region()
        if region is not None:
            return region
        score = self.document.score
        end = score.end_tick
        return (0, bar_at(score, end - 1)[1]) if end > 0 else None

    def _update_loop(self) -> None:
        self.playback.set_loop(self.loop_range())

    def go_to_end(self) -> None:
        """Move the playhead to the end of the last note (while playing too)."""
        end = self.document.score.end_tick
        if self.playback.is_playing:
            self.playback.seek(end)
        self.set_playhead(float(end))
        self.continuation.user_moved_playhead()

    def panic(self) -> None:
        """Stop (a live continuation too) and silence every note on every channel."""
        if self.continuation.is_running:
            self.continuation.stop()
        self.playback.stop()
        self.playback.panic()
        self.statusBar().showMessage("All notes off", 3000)

    def _stop_for_new_document(self) -> None:
        self.continuation.abandon()
        if self.playback.is_playing:
            self.playback.stop()
        self.set_playhead(0.0)
        self.editor.clear_region()  # a range of the old document means nothing in the new

    def set_playhead(self, tick: float) -> None:
        """Put the playhead at ``tick`` (ticks) when not playing; the view and clock follow."""
        self._playhead_tick = max(0.0, float(tick))
        self.editor.set_playhead_tick(self._playhead_tick)
        self.transport.set_position(self._playhead_tick, self.document.score)

    def _on_playback_position_changed(self, tick: float) -> None:
        if self.playback.is_playing:
            self.set_playhead(tick)

    def _on_playback_playing_changed(self, playing: bool) -> None:
        self.window_actions.play.setText("Stop" if playing else "Play")
        self.editor.playback_running = playing

    def _on_playback_player_replaced(self, _player: object) -> None:
        if self.playback.port is None and self._midi_output_in_use != NO_OUTPUT:
            # the new player could not open the output again: say so, and let Preferences
            # OK with the same output (which the dialog still offers) try again
            self._midi_output_lost = True
            self.midi_status_label.setText("MIDI: none (silent)")
            self.midi_status_label.setToolTip(
                "The output could not be opened again: Transport ▸ Reconnect MIDI Output")

    def _on_playback_error_occurred(self, message: str) -> None:
        self.statusBar().showMessage(f"MIDI output problem: {message}", 15_000)

    def _on_editor_playhead_requested(self, tick: int) -> None:
        if self.playback.is_playing:
            self.playback.seek(tick)
        self.set_playhead(tick)

    def _on_editor_note_preview_requested(
        self, pitch: int, velocity: int, channel: int, tick: int
    ) -> None:
        # with its part's instrument where the file gives one (as Play would send it): at the
        # note's start (a drawn or moved note), else at the playhead (a key clicked); while
        # the song plays, the one playing (the preview's program change would switch the
        # part playing to another instrument for the rest of the song)
        at = tick if tick >= 0 and not self.playback.is_playing else self.playhead_tick
        program = self.document.score.programs_at(at).get(channel)
        self.playback.preview_note(pitch, velocity, channel, program)

    def _on_follow_toggled(self, follow: bool) -> None:
        self.editor.follow_playhead = follow
        self.prefs.set_follow_playhead(follow)

    # ---- tools and grid ---------------------------------------------------------------------
    def _on_editor_tool_changed(self, name: str) -> None:
        action = self.window_actions.tools.get(name)
        if action is not None and not action.isChecked():
            action.setChecked(True)

    def _on_grid_changed(self) -> None:
        a = self.window_actions
        checked = a.grid_group.checkedAction() if a.grid_group is not None else None
        denominator = int(checked.data()) if checked is not None else DEFAULT_GRID_DENOMINATOR
        triplet = a.grid_triplet.isChecked()
        # the editor takes the straight division and makes triplets of it itself
        self.editor.set_grid(grid_ticks(denominator, self.document.score.ppq), triplet)

    # ---- MIDI output ------------------------------------------------------------------------
    def show_preferences(self) -> None:
        """The Preferences dialog (the port list is scanned as it opens)."""
        # the saved choice, else the one in use (the first port, picked when none was saved)
        current = self.prefs.midi_output() or self._midi_output_in_use
        dialog = PreferencesDialog(current, self, self._list_ports)
        if dialog.exec() == PreferencesDialog.DialogCode.Accepted:
            choice = dialog.choice()
            self.prefs.set_midi_output(choice)
            problem = self.prefs.sync()
            if choice != self._midi_output_in_use or self._midi_output_lost:
                self._apply_midi_output(choice)
            # else the output in use stays open: reopening it would cut the notes sounding,
            # and rename a virtual port its connections are made to ("Composer-01")
            if problem:
                QMessageBox.warning(
                    self,
                    "Preferences not saved",
                    f"The MIDI output is in use now, but the preferences could not be saved: "
                    f"{problem}. The next start will not remember them.",
                )

    def reconnect_midi_output(self) -> None:
        """Open the chosen output again, from a new player (Transport ▸ Reconnect MIDI
        Output): after the MIDI system restarted (a JACK server stopped and started), the old
        connection is dead and nothing says so, and the old player could not open a working
        one. Playback stops. A virtual port is made anew: the message says to connect the
        synth to it again."""
        self.playback.restart_player()
        self._apply_midi_output(self.prefs.midi_output(), reconnected=True)

    def _apply_midi_output(
        self, choice: MidiOutputChoice | None, at_startup: bool = False, reconnected: bool = False
    ) -> None:
        """Open the chosen output and hand it to the player; say in the status bar how it went.

        With no remembered choice, the first listed port is used if there is one.
        """
        reason = ""
        if choice is None:
            listing = self._list_ports()
            reason = listing.reason or ""
            choice = MidiOutputChoice("port", listing.names[0]) if listing.names else NO_OUTPUT
        port = None
        if choice.kind == "virtual":
            port = ports.PortSpec(virtual_name=choice.name)
        elif choice.kind == "port":
            port = ports.PortSpec(name=choice.name)
        try:
            # the player opens it (in its own process, where it plays from)
            self.playback.set_port(port)
        except ports.PortError as exc:
            reason = str(exc)
            choice = NO_OUTPUT
            port = None
            self.playback.set_port(None)
        self._midi_output_in_use = choice  # what opened (None when it failed)
        self._midi_output_lost = False
        if port is None:
            text = "MIDI: none (silent)"
            message = f"No MIDI output: {reason}" if reason else "No MIDI output chosen"
        else:
            text = f"MIDI: {choice.label()}"
            message = f"MIDI output: {choice.label()}"
            if reconnected and choice.kind == "virtual":
                # a new virtual port: nothing is connected to it yet
                message += f" (made anew: connect the synth to “{choice.name}” again)"
        self.midi_status_label.setText(text)
        self.midi_status_label.setToolTip(reason or text)
        self.statusBar().showMessage(message, 0 if at_startup and reason else 8000)

    # ---- quitting ---------------------------------------------------------------------------
    def shutdown(self, keep_autosave: bool = False) -> None:
        """Stop playback, silence, close the player (joining its thread), drop the autosave
        (unless ``keep_autosave``: it holds work the next start offers back)."""
        if self._shut_down:
            return
        self._shut_down = True
        self.autosaver.stop()
        self.continuation.shutdown()  # before the player: the worker streams into it
        self.playback.close()
        if not keep_autosave:
            self._drop_autosaves()
        problem = self.prefs.sync()
        if problem:  # the window is going: the terminal is the one place left to say it
            print(f"Composer: preferences not saved: {problem}", file=sys.stderr)

    def end_session(self) -> bool:
        """The system ends Composer (SIGTERM at shutdown or logout, SIGHUP when its terminal
        closes): nobody can answer a question, so the unsaved work (a pending take too, as
        accepted) is autosaved, where the next start offers it back, and everything stops and
        falls silent without asking. True if there was work to autosave and it was written."""
        if self._shut_down:
            return False
        self.transport.commit_typed_tempo()
        unsaved = self.document.is_dirty or bool(self.document.generated_notes)
        self._ending_session = True
        try:
            saved = self.autosaver.autosave_now(force=True)
        finally:
            self._ending_session = False
        # (an autosave that failed now leaves the last one that worked, a minute old at most)
        self.shutdown(keep_autosave=unsaved)
        return saved

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if not self._shut_down and not self.maybe_save():
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        # Escape stops a continuation, else drops the selection; Shift+Escape is panic.
        if event.key() == Qt.Key.Key_Escape and not event.modifiers():
            if self.continuation.is_running or self.playback.is_streaming:
                self.continuation.stop()  # the take's sound too, generated or not
            else:
                self.editor.deselect()
            event.accept()
            return
        super().keyPressEvent(event)


def _dropped_content_of(path: str | None) -> tuple[str, list[str]] | None:
    """(``path``'s real path, what its file holds that a score does not), or None when it
    holds nothing more, or when there is no such file or it cannot be read (nothing there to
    lose)."""
    if not path:
        return None
    try:
        _score, report = read_mid_report(path)
    except (MidiFileError, OSError, ScoreError):
        return None
    dropped = report.dropped_content_lines()
    return (os.path.realpath(path), dropped) if dropped else None

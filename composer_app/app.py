"""Builds the QApplication and the main window; the only module that imports ``gui``.

Startup stays light: torch is not imported here (the window is on screen before any model
is loaded).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

# How long the hidden --test-play-then-quit flag plays before closing the window.
TEST_PLAY_MS = 500
# How often the event loop lets Python see a Ctrl+C (SIGINT). Units: milliseconds.
INTERRUPT_POLL_MS = 200


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the ``gui`` subcommand."""
    parser.add_argument("file", nargs="?", help="a .mid file to open")
    parser.add_argument(
        "--quit-after-show",
        action="store_true",
        help="quit as soon as the window is shown (used by the tests)",
    )
    # Tests: start playback once shown, then quit while it is still playing.
    parser.add_argument("--test-play-then-quit", action="store_true", help=argparse.SUPPRESS)
    # Tests: once the model is loaded, press Continue, then quit while it generates.
    parser.add_argument("--test-continue-then-quit", action="store_true", help=argparse.SUPPRESS)
    # Tests: once shown, draw notes (unsaved work) and say so on stdout; then run on.
    parser.add_argument("--test-edit", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """Open the main window and run the event loop. Returns the exit status."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from composer_app.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Composer")
    app.setOrganizationName("Composer")
    window = MainWindow()
    window.show()
    if args.file and args.quit_after_show:
        # opened in the event loop, so that the quit below also ends the error dialog of a
        # file that cannot be read (before the loop, the dialog would wait for ever)
        QTimer.singleShot(0, lambda: window.open_file(args.file, ask_to_save=False))
    elif args.file:
        window.open_file(args.file, ask_to_save=False)
    if args.quit_after_show:
        QTimer.singleShot(0, window.close)
        QTimer.singleShot(0, app.quit)
    elif args.test_play_then_quit:
        QTimer.singleShot(0, window.toggle_play)

        def report_and_close() -> None:
            # the test reads this line to know the quit really happened during playback
            print(f"quitting: playing={window.playback.is_playing} "
                  f"tick={window.playhead_tick:.0f}", flush=True)
            window.close()

        QTimer.singleShot(TEST_PLAY_MS, report_and_close)
    elif args.test_continue_then_quit:
        controller = window.continuation
        controller.panel.set_length(64, "bars")

        def continue_then_close(*_loaded: object) -> None:
            controller.start()

            def report_and_close() -> None:
                print(f"quitting: generating={controller.is_running} "
                      f"pending={len(window.document.generated_notes)}", flush=True)
                QTimer.singleShot(200, discard_in_question)  # runs inside the question's loop
                window.close()

            def discard_in_question() -> None:
                # the real question about the unaccepted continuation, answered by its button
                box = QApplication.activeModalWidget()
                if isinstance(box, QMessageBox):
                    print(f"asked: {box.text()}", flush=True)
                    box.button(QMessageBox.StandardButton.Discard).click()

            QTimer.singleShot(TEST_PLAY_MS, report_and_close)

        controller.model_loaded.connect(continue_then_close)
        QTimer.singleShot(60_000, window.close)  # never hang a test if no model loads
    elif args.test_edit:

        def edit() -> None:
            from composer_app.core.edits import add_notes
            from composer_app.core.note import Note

            window.document.push(add_notes([Note(i * 480, 60 + i, 480) for i in range(8)]))
            print(f"edited: {len(window.document.score)} notes", flush=True)

        QTimer.singleShot(0, edit)
    else:
        QTimer.singleShot(0, window.offer_recovery)
    # Ctrl+C in the terminal closes the window as its close button does (asking about
    # unsaved work) instead of raising KeyboardInterrupt in whatever slot runs next. Python
    # runs signal handlers only between its own bytecodes, so a timer lets it in while Qt's
    # loop waits.
    previous_handlers = {
        signal.SIGINT: signal.signal(signal.SIGINT, lambda *_: _close_on_interrupt(window)),
    }
    # SIGTERM (shutdown, logout, kill) and SIGHUP (the terminal closed) ended the process at
    # once, and the work since the last autosave was lost: nobody is there to answer a
    # question, so the work is autosaved for the next start and the app quits.
    for signum in _END_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue  # started with nohup (or the like): the user asked it to stay
        previous_handlers[signum] = signal.signal(
            signum, lambda number, _frame: QTimer.singleShot(0, lambda: _end_session(window, number))
        )
    interrupt_poll = QTimer()
    interrupt_poll.timeout.connect(lambda: None)
    interrupt_poll.start(INTERRUPT_POLL_MS)
    try:
        status = app.exec()
    finally:
        interrupt_poll.stop()
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
    window.shutdown()  # already done by closeEvent unless the loop ended another way
    return status


# The signals that end the session without a person to ask (see _end_session).
_END_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def _end_session(window: QWidget, signum: int) -> None:
    """SIGTERM or SIGHUP: autosave the unsaved work (the next start offers it back),
    silence, and quit without asking. A question left open is not answered (its answer could
    be Discard, of a crashed session's work): the process ends from inside it."""
    import os

    from PySide6.QtWidgets import QApplication

    name = signal.Signals(signum).name
    saved = window.end_session()  # type: ignore[attr-defined]
    kept = " (unsaved work autosaved; the next start offers it back)" if saved else ""
    print(f"{name}: closing Composer{kept}", file=sys.stderr, flush=True)
    if QApplication.activeModalWidget() is not None:
        print(f"{name}: a question was open; it stays unanswered", file=sys.stderr, flush=True)
        os._exit(0)
    window.close()  # shut down already: it asks nothing
    QApplication.quit()


def _close_on_interrupt(window: QWidget) -> None:
    """Ctrl+C: close the window from the event loop (a question already open about unsaved
    work waits for its answer; the second Ctrl+C does not ask it again)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    if QApplication.activeModalWidget() is None:
        print("Ctrl+C: closing Composer", file=sys.stderr, flush=True)
        QTimer.singleShot(0, window.close)


def main(argv: Sequence[str] | None = None) -> int:
    """``main.py``: parse the ``gui`` arguments and run."""
    parser = argparse.ArgumentParser(prog="composer")
    add_arguments(parser)
    return run(parser.parse_args(sys.argv[1:] if argv is None else argv))

"""Builds the QApplication and the main window; the only module that imports ``gui``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the ``gui`` subcommand."""
    parser.add_argument("file", nargs="?", help="a .mid file to open")
    parser.add_argument(
        "--quit-after-show",
        action="store_true",
        help="quit as soon as the window is shown (used by the tests)",
    )


def run(args: argparse.Namespace) -> int:
    """Open the main window and run the event loop. Returns the exit status."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from composer_app.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Composer")
    app.setOrganizationName("Composer")
    window = MainWindow(file_path=args.file)
    window.show()
    if args.quit_after_show:
        QTimer.singleShot(0, window.close)
        QTimer.singleShot(0, app.quit)
    return app.exec()


def main(argv: Sequence[str] | None = None) -> int:
    """``main.py``: parse the ``gui`` arguments and run."""
    parser = argparse.ArgumentParser(prog="composer")
    add_arguments(parser)
    return run(parser.parse_args(sys.argv[1:] if argv is None else argv))

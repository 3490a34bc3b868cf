"""The main window (a first frame; the editor issue fills it in)."""

from __future__ import annotations

from PySide6.QtWidgets import QMainWindow


class MainWindow(QMainWindow):
    """The application window."""

    def __init__(self, file_path: str | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Untitled - Composer")
        self.resize(1280, 800)

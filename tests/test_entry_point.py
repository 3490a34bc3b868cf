"""The real entry points start and stop cleanly (each in its own process, offscreen)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def app_env(tmp_path: Path) -> dict[str, str]:
    """Offscreen Qt, and settings and autosaves in a temporary folder (never the user's)."""
    return {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "COMPOSER_SETTINGS_FILE": str(tmp_path / "settings.ini"),
        "COMPOSER_AUTOSAVE_DIR": str(tmp_path / "autosave"),
    }


def test_entry_point_main_py_shows_window_and_exits_zero(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--quit-after-show"],
        cwd=ROOT, env=app_env(tmp_path), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "autosave").exists() or not any((tmp_path / "autosave").iterdir())


def test_entry_point_quit_after_show_also_quits_with_a_file_it_cannot_open(
    tmp_path: Path,
) -> None:
    # the error dialog about the file waited for an answer, so the test flag hung for ever
    bad = tmp_path / "not-midi.mid"
    bad.write_bytes(b"this is not a MIDI file")
    for path in (bad, tmp_path / "missing.mid"):
        done = subprocess.run(
            [sys.executable, str(ROOT / "main.py"), str(path), "--quit-after-show"],
            cwd=ROOT, env=app_env(tmp_path), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr


def test_entry_point_module_help_exits_zero(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "composer_app", "--help"],
        cwd=ROOT, env=app_env(tmp_path), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "gui" in done.stdout and "usage" in done.stdout


def test_entry_point_does_not_import_torch_at_startup(tmp_path: Path) -> None:
    # Building and showing the window must not pull in torch (seconds of import time); the
    # model (and torch) load afterwards on the generation worker's thread.
    code = (
        "import sys, threading\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from composer_app.gui.main_window import MainWindow\n"
        "w = MainWindow(); w.show()\n"
        "print('shown', 'torch' in sys.modules)\n"
        "main = threading.get_ident()\n"
        "importers = []\n"
        "import builtins\n"
        "real_import = builtins.__import__\n"
        "def spy(name, *a, **k):\n"
        "    if name == 'torch' and 'torch' not in sys.modules:\n"
        "        importers.append(threading.get_ident() == main)\n"
        "    return real_import(name, *a, **k)\n"
        "builtins.__import__ = spy\n"
        "app.processEvents(); w.shutdown()\n"
        "print('imported on the main thread', any(importers))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT, env=app_env(tmp_path), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert "shown False" in lines
    assert "imported on the main thread False" in lines

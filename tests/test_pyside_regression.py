"""PySide6 6.12.0 aborts CPython 3.11 after a few thousand Qt calls that return None.

The crash reads ``Fatal Python error: none_dealloc`` (the refcount of ``None`` is dropped once
too often). The project keeps PySide6 below 6.12 on Python < 3.12; these tests catch a
regression either way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CALLS = 20_000

LOOP = f"""
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QImage, QPainter, QPen
app = QGuiApplication([])
image = QImage(64, 64, QImage.Format.Format_ARGB32)
painter = QPainter(image)
brush, pen = QBrush(QColor(10, 20, 30)), QPen(QColor(200, 100, 0))
for i in range({CALLS} // 2):
    painter.setBrush(brush)  # returns None
    painter.setPen(pen)  # returns None
painter.end()
print("done")
"""


def test_pyside_many_none_returning_calls_do_not_abort() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", LOOP], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )
    assert "none_dealloc" not in done.stderr
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "done"


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="the abort affects Python < 3.12 only")
def test_pyside_version_is_below_6_12_on_python_3_11() -> None:
    import PySide6

    major, minor = (int(part) for part in PySide6.__version__.split(".")[:2])
    assert (major, minor) < (6, 12), f"PySide6 {PySide6.__version__} aborts Python 3.11"

"""GUI tests: Python's cyclic garbage collector runs between tests, not inside them.

A clean clone's suite once died in a segmentation fault with "Garbage-collecting" as the
innermost frame, in the middle of a paint test building notes (fourteenth session; one full
run in about fifteen, not reproduced since). The collector had fired at a random moment and
freed something an earlier test left in a reference cycle; which object was not found. Freeing
a Qt wrapper at the wrong moment (while Qt dispatches into, or paints, the widgets it owns)
is a known hazard of Python Qt bindings. Here each GUI test runs with the automatic collector
off, and after the test, once Qt has deleted what was left to ``deleteLater``, one
collection frees the test's cycles at a quiet moment.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QCoreApplication, QEvent


@pytest.fixture(autouse=True)
def _collect_garbage_between_tests(qapp) -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # (this teardown runs after the test's own fixtures closed their windows)
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        qapp.processEvents()
        gc.collect()
        if was_enabled:
            gc.enable()

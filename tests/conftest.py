"""Session-wide test setup: Qt renders offscreen; a private JACK server for live-MIDI tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before any test module imports Qt: no display is needed anywhere in the suite.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# `tests.jack_server` must import however pytest was started (python -m pytest or pytest).
_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from tests.jack_server import running_jack_server  # noqa: E402


@pytest.fixture(scope="session")
def jack_server() -> Iterator[str]:
    """A private JACK server (dummy backend, 48 kHz, 64-frame periods); yields its name.

    Sets ``JACK_DEFAULT_SERVER`` (and ``JACK_NO_START_SERVER``) for this process, so every
    rtmidi JACK client the test opens reaches this server. Skips where ``jackd`` is missing.
    """
    with running_jack_server() as server:
        yield server.name

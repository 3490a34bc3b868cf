"""Autosave: a copy of unsaved work written every minute to a folder the app owns.

Each running app writes ``session-<pid>-<launch token>.mid`` plus a ``.json`` beside it (the
path of the user's file, if any) into the autosave folder; it never writes over the user's own
file. A clean exit deletes the pair. A pair left by a process that is no longer running means
the app crashed, and the next start offers to recover it. The launch token tells a crashed
session from this one when the new process happens to get the same process id (common in
containers and after a reboot).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, QTimer, Signal

from composer_app.core.score import Score
from composer_app.midi.files import MidiFileError, read_mid, write_mid

# () -> (score, path of the user's file or None, whether there are unsaved changes)
Snapshot = Callable[[], tuple[Score, str | None, bool]]

AUTOSAVE_DIR_ENV = "COMPOSER_AUTOSAVE_DIR"
DEFAULT_INTERVAL_MS = 60_000


def autosave_directory() -> Path:
    """``$COMPOSER_AUTOSAVE_DIR`` if set (tests), else ``<AppDataLocation>/autosave``."""
    override = os.environ.get(AUTOSAVE_DIR_ENV)
    if override:
        return Path(override)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".composer") / "autosave"


# Immutable, one per launch of the app (see the module docstring).
_LAUNCH_TOKEN = uuid.uuid4().hex[:12]


def _session_alive(pid: int, token: str | None) -> bool:
    if pid == os.getpid():
        return token == _LAUNCH_TOKEN  # same id, another launch: that one crashed
    return _process_alive(pid)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Recovery:
    """An autosave left behind by a session that did not exit cleanly."""

    mid_path: Path
    info_path: Path
    original_path: str | None

    def load(self) -> Score:
        """Read the autosaved score. Raises :class:`MidiFileError` if it is unreadable."""
        return read_mid(self.mid_path)

    def discard(self) -> None:
        """Delete the autosave files."""
        for path in (self.mid_path, self.info_path):
            path.unlink(missing_ok=True)

    def set_aside(self) -> Path:
        """Keep an autosave that cannot be read (it may be the only copy of the work) under a
        name that is no longer offered: ``unreadable-session-....mid`` beside it. Returns the
        new path. Raises :class:`OSError` if it cannot be renamed."""
        kept = self.mid_path.with_name(f"unreadable-{self.mid_path.name}")
        os.replace(self.mid_path, kept)
        self.info_path.unlink(missing_ok=True)
        return kept


def find_recoveries(directory: Path) -> list[Recovery]:
    """Autosaves in ``directory`` whose process is gone, newest first."""
    if not directory.is_dir():
        return []
    found: list[tuple[float, Recovery]] = []
    for mid_path in directory.glob("session-*.mid"):
        pid_text, _sep, token = mid_path.stem.removeprefix("session-").partition("-")
        try:
            pid = int(pid_text)
        except ValueError:
            continue
        if _session_alive(pid, token or None):
            continue
        info_path = mid_path.with_suffix(".json")
        original: str | None = None
        try:
            original = json.loads(info_path.read_text(encoding="utf-8")).get("original_path")
        except (OSError, ValueError, AttributeError):
            original = None
        found.append((mid_path.stat().st_mtime, Recovery(mid_path, info_path, original)))
    return [r for _, r in sorted(found, key=lambda pair: pair[0], reverse=True)]


class Autosaver(QObject):
    """Writes the document's score to the autosave folder on a timer while it is dirty.

    ``snapshot`` returns ``(score, original_path, dirty)``; the autosaver never touches the
    document. Signals: ``saved(str)`` with the autosave path; ``failed(str)`` with a reason.
    """

    saved = Signal(str)
    failed = Signal(str)

    def __init__(
        self,
        directory: Path,
        snapshot: Snapshot,
        interval_ms: int = DEFAULT_INTERVAL_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._directory = Path(directory)
        self._snapshot = snapshot
        self.mid_path = self._directory / f"session-{os.getpid()}-{_LAUNCH_TOKEN}.mid"
        self.info_path = self.mid_path.with_suffix(".json")
        self._timer = QTimer(self)
        self._timer.setInterval(int(interval_ms))
        self._timer.timeout.connect(self.autosave_now)

    @property
    def directory(self) -> Path:
        """The folder the autosaves go to."""
        return self._directory

    @property
    def interval_ms(self) -> int:
        """Time between autosaves. Units: milliseconds."""
        return self._timer.interval()

    def start(self) -> None:
        """Start the timer."""
        self._timer.start()

    def stop(self) -> None:
        """Stop the timer."""
        self._timer.stop()

    def autosave_now(self) -> bool:
        """Write the autosave if the document is dirty, remove it if clean. True if written."""
        score, original_path, dirty = self._snapshot()
        if not dirty:
            self.discard()
            return False
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            write_mid(score, self.mid_path)
            self.info_path.write_text(
                json.dumps({"original_path": original_path}), encoding="utf-8"
            )
        except (OSError, MidiFileError) as exc:
            self.failed.emit(f"Autosave to {self.mid_path} failed: {exc}")
            return False
        self.saved.emit(str(self.mid_path))
        return True

    def discard(self) -> None:
        """Delete this session's autosave (after a save or a clean exit)."""
        for path in (self.mid_path, self.info_path):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass

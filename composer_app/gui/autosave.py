"""Autosave: a copy of unsaved work written every minute to a folder the app owns.

Each running app writes ``session-<pid>-<launch token>.mid`` plus a ``.json`` beside it (the
path of the user's file, if any) into the autosave folder; it never writes over the user's own
file. A clean exit deletes the pair. A pair left by a process that is no longer running means
the app crashed, and the next start offers to recover it. A running session holds an
exclusive lock (``flock``) on ``session-<pid>-<launch token>.lock`` beside them, which the
system lets go when the process dies however it dies; so a leftover whose lock can be taken is
a crash, even when an unrelated program now has the crashed session's process id (common after
a reboot). Without a lock file (an autosave of an older version, or a system without
``flock``) the process id decides, and the launch token tells a crashed session from this one
when the new process happens to get the same id (common in containers).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, QTimer, Signal

try:  # POSIX; elsewhere sessions are told apart by process id alone
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

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


def _session_alive(pid: int, token: str | None, lock_path: Path) -> bool:
    if pid == os.getpid() and token == _LAUNCH_TOKEN:
        return True  # this very session
    if fcntl is not None and lock_path.exists():
        held = _lock_held(lock_path)
        if held is not None:
            return held
    if pid == os.getpid():
        return False  # same id, another launch: that one crashed
    return _process_alive(pid)


def _lock_held(lock_path: Path) -> bool | None:
    """Whether a running session holds ``lock_path``'s lock. A lock file that vanished or
    cannot be opened counts as held: its session is exiting, or is not ours to judge. None
    where the file system has no ``flock``: the lock tells nothing (the process id does)."""
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


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


# A lock another launch is probing (see _lock_held) is busy for a moment: tries, and the
# pause between them. Units: seconds.
LOCK_TRIES = 20
LOCK_RETRY_S = 0.005


def hold_lock(lock_path: Path) -> int | None:
    """Take the session lock at ``lock_path`` (made if missing) and keep it: the returned
    descriptor holds it until closed, or until the process ends however it ends. None where
    it cannot be had (no ``flock`` here, no permission, another holder)."""
    if fcntl is None:
        return None
    for _ in range(LOCK_TRIES):
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            time.sleep(LOCK_RETRY_S)  # held: a launch probing it lets go at once
            continue
        except OSError:  # no flock on this file system: the process id tells instead
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(lock_path)  # (a lock file left would only mislead)
            return None
        try:  # still the file at that name (not one another launch removed meanwhile)?
            if os.stat(lock_path).st_ino == os.fstat(fd).st_ino:
                return fd
        except OSError:
            pass
        os.close(fd)
    return None


@dataclass(frozen=True)
class Recovery:
    """An autosave left behind by a session that did not exit cleanly."""

    mid_path: Path
    info_path: Path
    original_path: str | None
    modified_s: float = 0.0  # when it was last written (seconds since the epoch)

    @property
    def lock_path(self) -> Path:
        """The lock file the crashed session held (it may not exist)."""
        return self.mid_path.with_suffix(".lock")

    def load(self) -> Score:
        """Read the autosaved score. Raises :class:`MidiFileError` if it is unreadable."""
        return read_mid(self.mid_path)

    def discard(self) -> None:
        """Delete the autosave files."""
        for path in (self.mid_path, self.info_path, self.lock_path):
            path.unlink(missing_ok=True)

    def set_aside(self) -> Path:
        """Keep an autosave that cannot be read (it may be the only copy of the work) under a
        name that is no longer offered: ``unreadable-session-....mid`` beside it. Returns the
        new path. Raises :class:`OSError` if it cannot be renamed."""
        kept = self.mid_path.with_name(f"unreadable-{self.mid_path.name}")
        os.replace(self.mid_path, kept)
        self.info_path.unlink(missing_ok=True)
        self.lock_path.unlink(missing_ok=True)
        return kept


def find_recoveries(directory: Path) -> list[Recovery]:
    """Autosaves in ``directory`` whose session is gone, newest first. An entry that vanishes
    or cannot be read meanwhile (another launch recovering it, a dangling link) is skipped;
    a lock file left without its autosave by a crashed session is removed."""
    try:
        mid_paths = list(directory.glob("session-*.mid")) if directory.is_dir() else []
    except OSError:
        return []
    found: list[Recovery] = []
    for mid_path in mid_paths:
        pid_text, _sep, token = mid_path.stem.removeprefix("session-").partition("-")
        try:
            pid = int(pid_text)
        except ValueError:
            continue
        if _session_alive(pid, token or None, mid_path.with_suffix(".lock")):
            continue
        try:
            modified_s = mid_path.stat().st_mtime
        except OSError:
            continue
        info_path = mid_path.with_suffix(".json")
        try:
            original = json.loads(info_path.read_text(encoding="utf-8")).get("original_path")
        except (OSError, ValueError, AttributeError):
            original = None
        if not isinstance(original, str) or not original:
            original = None
        found.append(Recovery(mid_path, info_path, original, modified_s))
    _remove_stale_locks(directory)
    return sorted(found, key=lambda r: r.modified_s, reverse=True)


def _remove_stale_locks(directory: Path) -> None:
    """Delete lock files that no session holds and whose autosave is gone (a session that
    crashed before its first autosave, or a recovered one's)."""
    if fcntl is None:
        return
    try:
        lock_paths = list(directory.glob("session-*.lock")) if directory.is_dir() else []
    except OSError:
        return
    for lock_path in lock_paths:
        if not lock_path.with_suffix(".mid").exists() and _lock_held(lock_path) is not True:
            try:
                lock_path.unlink()
            except OSError:
                pass


class Autosaver(QObject):
    """Writes the document's score to the autosave folder on a timer while it is dirty.

    ``snapshot`` returns ``(score, original_path, dirty)``; the autosaver never touches the
    document. ``state``, if given, returns a value that changes whenever what the snapshot
    would hold does (the document's edit count and file): while it is what it was at the last
    autosave, the timer writes nothing again (a large score takes a visible moment to write).
    Signals: ``saved(str)`` with the autosave path; ``failed(str)`` with a reason.
    """

    saved = Signal(str)
    failed = Signal(str)

    def __init__(
        self,
        directory: Path,
        snapshot: Snapshot,
        interval_ms: int = DEFAULT_INTERVAL_MS,
        parent: QObject | None = None,
        state: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(parent)
        self._directory = Path(directory)
        self._snapshot = snapshot
        self._state = state
        self._written_state: object = None  # the state the autosave on disk was written in
        self.mid_path = self._directory / f"session-{os.getpid()}-{_LAUNCH_TOKEN}.mid"
        self.info_path = self.mid_path.with_suffix(".json")
        self.lock_path = self.mid_path.with_suffix(".lock")
        self._lock_fd: int | None = None  # held while this session has an autosave
        self.last_error: str | None = None  # why the last autosave failed (None: it did not)
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

    def autosave_now(self, force: bool = False) -> bool:
        """Write the autosave if the document is dirty, remove it if clean. True if written
        (False too when the autosave on disk already holds this state of the document, unless
        ``force``: the snapshot may hold more than the state tells, see MainWindow.end_session)."""
        state = self._state() if self._state is not None else None
        if not force and state is not None and state == self._written_state and self.mid_path.exists():
            return False  # nothing changed since it was written
        score, original_path, dirty = self._snapshot()
        if not dirty:
            self.discard()
            return False
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            self._hold_lock()
            write_mid(score, self.mid_path)
            self.info_path.write_text(
                json.dumps({"original_path": original_path}), encoding="utf-8"
            )
        except (OSError, MidiFileError) as exc:
            self.last_error = str(exc)
            self.failed.emit(f"Autosave to {self.mid_path} failed: {exc}")
            return False
        self.last_error = None
        self._written_state = state
        self.saved.emit(str(self.mid_path))
        return True

    def _hold_lock(self) -> None:
        """Take this session's lock (once): a later launch then knows it is alive. Where it
        cannot be taken (another window of this process holds it: it speaks for us too),
        the process id tells instead (see the module docstring)."""
        if self._lock_fd is None:
            self._lock_fd = hold_lock(self.lock_path)

    def discard(self) -> None:
        """Delete this session's autosave (after a save or a clean exit), then its lock."""
        self._written_state = None
        for path in (self.mid_path, self.info_path):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
        if self._lock_fd is not None:
            try:
                self.lock_path.unlink(missing_ok=True)
            except OSError:
                pass
            os.close(self._lock_fd)
            self._lock_fd = None

"""Preferences kept between runs (QSettings) and the Preferences dialog."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from composer_app.midi.ports import PortListing, list_output_ports

SETTINGS_FILE_ENV = "COMPOSER_SETTINGS_FILE"
VIRTUAL_PORT_NAME = "Composer"
MAX_RECENT_FILES = 10

_KEY_OUTPUT_KIND = "midi/output_kind"
_KEY_OUTPUT_NAME = "midi/output_name"
_KEY_RECENT = "files/recent"
_KEY_LAST_DIR = "files/last_dir"
_KEY_FOLLOW = "transport/follow_playhead"


# How long after Play or Continue the output in use is looked for among the ports (listing
# them takes about 40 ms on JACK: not before the first notes). Units: milliseconds.
OUTPUT_CHECK_DELAY_MS = 300


@dataclass(frozen=True)
class MidiOutputChoice:
    """Where playback goes: ``kind`` is "none", "virtual" (a port named ``name`` that other
    programs connect to) or "port" (an existing output called ``name``)."""

    kind: str = "none"
    name: str = ""

    def label(self) -> str:
        """How the choice reads in menus and the status bar."""
        if self.kind == "virtual":
            return f'Virtual port "{self.name}"'
        if self.kind == "port":
            return self.name
        return "None (silent)"


NO_OUTPUT = MidiOutputChoice("none", "")
VIRTUAL_OUTPUT = MidiOutputChoice("virtual", VIRTUAL_PORT_NAME)


def open_settings() -> QSettings:
    """The app's settings: the file named by ``$COMPOSER_SETTINGS_FILE`` (tests) or the
    platform's usual place for the application and organization names."""
    path = os.environ.get(SETTINGS_FILE_ENV)
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings()


# A path whose name is not valid UTF-8 (an old archive's Latin-1 name) reaches Python with
# surrogate escapes, which a settings string cannot hold: it is stored as this prefix and the
# hex of its bytes instead (a stored absolute path starts with "/" or a drive, never this).
_FS_BYTES_PREFIX = "fs-bytes:"


def _to_setting(path: str) -> str:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return _FS_BYTES_PREFIX + os.fsencode(path).hex()
    return path


def _from_setting(value: str) -> str:
    if value.startswith(_FS_BYTES_PREFIX):
        try:
            return os.fsdecode(bytes.fromhex(value.removeprefix(_FS_BYTES_PREFIX)))
        except ValueError:
            return ""
    return value


def readable_path(path: str) -> str:
    """``path`` (or a message naming paths) as text to show: bytes of a name that are not
    UTF-8 become "\ufffd" (Qt would drop them)."""
    # (not os.fsencode: under a locale other than UTF-8 it cannot encode “ ” or ▸)
    return path.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")


class Preferences:
    """Typed access to the settings the app keeps between runs."""

    def __init__(self, settings: QSettings) -> None:
        self._settings = settings

    @property
    def settings(self) -> QSettings:
        """The underlying store."""
        return self._settings

    def midi_output(self) -> MidiOutputChoice | None:
        """The chosen MIDI output, or ``None`` when the user never chose one."""
        kind = self._settings.value(_KEY_OUTPUT_KIND, None)
        if kind not in ("none", "virtual", "port"):
            return None
        name = str(self._settings.value(_KEY_OUTPUT_NAME, "") or "")
        return MidiOutputChoice(str(kind), name)

    def set_midi_output(self, choice: MidiOutputChoice) -> None:
        """Remember the MIDI output."""
        self._settings.setValue(_KEY_OUTPUT_KIND, choice.kind)
        self._settings.setValue(_KEY_OUTPUT_NAME, choice.name)

    def recent_files(self) -> list[str]:
        """Recently opened or saved files, newest first."""
        value = self._settings.value(_KEY_RECENT, [])
        if isinstance(value, str):  # QSettings returns a lone string for a one-item list
            value = [value] if value else []
        if not isinstance(value, list | tuple):
            return []  # a damaged settings file (a number, a size): ignored, as bad values are
        paths = [_from_setting(v) for v in value if isinstance(v, str) and v]
        return [p for p in paths if p]

    def add_recent_file(self, path: str) -> None:
        """Put ``path`` first in the recent files (once), keeping at most ten."""
        path = os.path.abspath(path)
        files = [path] + [p for p in self.recent_files() if p != path]
        self._set_recent(files[:MAX_RECENT_FILES])

    def _set_recent(self, files: list[str]) -> None:
        self._settings.setValue(_KEY_RECENT, [_to_setting(p) for p in files])

    def remove_recent_file(self, path: str) -> None:
        """Forget ``path`` (it could not be opened)."""
        self._set_recent([p for p in self.recent_files() if p != path])

    def clear_recent_files(self) -> None:
        """Forget every recent file."""
        self._settings.setValue(_KEY_RECENT, [])

    def last_directory(self) -> str:
        """The folder of the last file opened or saved ("" if none)."""
        return _from_setting(str(self._settings.value(_KEY_LAST_DIR, "") or ""))

    def set_last_directory(self, folder: str) -> None:
        """Remember the folder for the next file dialog."""
        self._settings.setValue(_KEY_LAST_DIR, _to_setting(folder))

    def follow_playhead(self) -> bool:
        """Whether the view follows the playhead while playing (default on)."""
        value = self._settings.value(_KEY_FOLLOW, True)
        return value not in (False, "false", "0", 0)

    def set_follow_playhead(self, follow: bool) -> None:
        """Remember the follow toggle."""
        self._settings.setValue(_KEY_FOLLOW, bool(follow))

    def sync(self) -> str | None:
        """Write pending changes to disk. Returns why they could not be written (a read-only
        or full disk, a damaged file), or None when they were."""
        self._settings.sync()
        status = self._settings.status()
        if status == QSettings.Status.NoError:
            return None
        where = self._settings.fileName()
        if status == QSettings.Status.AccessError:
            return f"cannot write {where} (no permission, or the disk is full or read-only)"
        return f"{where} is damaged (its format cannot be read)"


class PreferencesDialog(QDialog):
    """Chooses the MIDI output. The port list is scanned each time the dialog is built
    (and on "Rescan"); where no MIDI system exists, the dialog says why."""

    def __init__(
        self,
        current: MidiOutputChoice | None,
        parent: QWidget | None = None,
        list_ports: Callable[[], PortListing] = list_output_ports,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self._list_ports = list_ports
        self._current = current or NO_OUTPUT
        self.output_combo = QComboBox()
        self.output_combo.setMinimumContentsLength(28)
        self.reason_label = QLabel()
        self.reason_label.setWordWrap(True)
        self.rescan_button = QPushButton("Rescan")
        self.rescan_button.clicked.connect(self.rescan)
        form = QFormLayout()
        form.addRow("MIDI output:", self.output_combo)
        form.addRow("", self.rescan_button)
        form.addRow("", self.reason_label)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.rescan()

    def rescan(self) -> None:
        """List the outputs again, keeping the current choice selected when it still exists."""
        keep = self.choice() if self.output_combo.count() else self._current
        listing = self._list_ports()
        self.output_combo.clear()
        self.output_combo.addItem(NO_OUTPUT.label(), NO_OUTPUT)
        self.output_combo.addItem(VIRTUAL_OUTPUT.label(), VIRTUAL_OUTPUT)
        for name in listing.names:
            choice = MidiOutputChoice("port", name)
            self.output_combo.addItem(choice.label(), choice)
        if keep.kind == "port" and keep.name not in listing.names:
            # A remembered port that is unplugged now: show it, so OK does not lose it silently.
            self.output_combo.addItem(f"{keep.name} (not available)", keep)
        for i in range(self.output_combo.count()):
            if self.output_combo.itemData(i) == keep:
                self.output_combo.setCurrentIndex(i)
                break
        if listing.reason:
            self.reason_label.setText(listing.reason)
        elif not listing.names:
            self.reason_label.setText("No MIDI outputs found.")
        else:
            self.reason_label.setText(f"{len(listing.names)} MIDI output(s) found.")

    def choice(self) -> MidiOutputChoice:
        """The output selected in the dialog."""
        data = self.output_combo.currentData()
        return data if isinstance(data, MidiOutputChoice) else NO_OUTPUT

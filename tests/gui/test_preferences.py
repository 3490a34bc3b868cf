"""Preferences: settings kept between runs, the dialog's port list, choosing an output."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from composer_app.gui.main_window import MainWindow  # noqa: E402
from composer_app.gui.preferences import (  # noqa: E402
    MAX_RECENT_FILES,
    NO_OUTPUT,
    VIRTUAL_OUTPUT,
    MidiOutputChoice,
    Preferences,
    PreferencesDialog,
)
from composer_app.midi.ports import PortListing  # noqa: E402

NO_MIDI = PortListing([], "No MIDI system: /dev/snd/seq is missing (test)")


def ini(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def test_preferences_survive_a_restart(tmp_path: Path) -> None:
    prefs = Preferences(ini(tmp_path))
    assert prefs.midi_output() is None  # never chosen
    prefs.set_midi_output(MidiOutputChoice("port", "FLUID Synth"))
    prefs.add_recent_file(str(tmp_path / "a.mid"))
    prefs.set_follow_playhead(False)
    prefs.sync()
    again = Preferences(ini(tmp_path))  # a new settings object reads the file back
    assert again.midi_output() == MidiOutputChoice("port", "FLUID Synth")
    assert again.recent_files() == [str(tmp_path / "a.mid")]  # a one-item list stays a list
    assert again.follow_playhead() is False


def test_preferences_recent_files_newest_first_without_duplicates(tmp_path: Path) -> None:
    prefs = Preferences(ini(tmp_path))
    for i in range(MAX_RECENT_FILES + 3):
        prefs.add_recent_file(f"/music/{i}.mid")
    prefs.add_recent_file("/music/5.mid")
    files = prefs.recent_files()
    assert len(files) == MAX_RECENT_FILES
    # 12 was added last before 5; 5 moves to the front instead of appearing twice
    assert files[:3] == ["/music/5.mid", "/music/12.mid", "/music/11.mid"]
    assert files.count("/music/5.mid") == 1
    prefs.remove_recent_file("/music/5.mid")
    assert "/music/5.mid" not in prefs.recent_files()


def test_a_damaged_recent_files_entry_is_ignored(tmp_path: Path) -> None:
    # A number or a size where the list belongs (a hand-edited or damaged settings file)
    # raised TypeError each time the File menu opened, and in Save As after the file was
    # written (no "Saved" message). It reads as no recent files, and the next one replaces it.
    for i, damaged in enumerate(("@Variant(\\0\\0\\0\\x2\\0\\0\\0\\x5)", "@Size(3 4)")):
        folder = tmp_path / str(i)
        folder.mkdir()
        (folder / "settings.ini").write_text(f"[files]\nrecent={damaged}\n")
        prefs = Preferences(ini(folder))
        assert not isinstance(prefs.settings.value("files/recent"), list | str)  # as damaged
        assert prefs.recent_files() == []
        prefs.add_recent_file(str(tmp_path / "a.mid"))
        assert prefs.recent_files() == [str(tmp_path / "a.mid")]
    # in a list, only the text entries count
    prefs.settings.setValue("files/recent", ["/music/a.mid", 7, "", "/music/b.mid"])
    assert prefs.recent_files() == ["/music/a.mid", "/music/b.mid"]


def test_preferences_dialog_lists_ports_and_selects_current(qtbot) -> None:
    listing = PortListing(["FLUID Synth:Synth input port", "Qsynth"], None)
    dialog = PreferencesDialog(MidiOutputChoice("port", "Qsynth"), None, lambda: listing)
    qtbot.addWidget(dialog)
    labels = [dialog.output_combo.itemText(i) for i in range(dialog.output_combo.count())]
    assert labels == [NO_OUTPUT.label(), VIRTUAL_OUTPUT.label(), *listing.names]
    assert dialog.choice() == MidiOutputChoice("port", "Qsynth")
    assert "2 MIDI output(s)" in dialog.reason_label.text()


def test_preferences_dialog_rescans_and_says_why_there_are_none(qtbot) -> None:
    scans: list[int] = []

    def list_ports() -> PortListing:
        scans.append(1)
        return NO_MIDI if len(scans) == 1 else PortListing(["New Synth"], None)

    dialog = PreferencesDialog(None, None, list_ports)
    qtbot.addWidget(dialog)
    assert dialog.reason_label.text() == NO_MIDI.reason
    assert dialog.choice() == NO_OUTPUT
    dialog.rescan_button.click()  # the synth was started meanwhile
    assert len(scans) == 2
    assert dialog.output_combo.findText("New Synth") == 2


def test_preferences_dialog_keeps_an_unplugged_choice(qtbot) -> None:
    dialog = PreferencesDialog(MidiOutputChoice("port", "Gone"), None, lambda: NO_MIDI)
    qtbot.addWidget(dialog)
    assert dialog.output_combo.currentText() == "Gone (not available)"
    assert dialog.choice() == MidiOutputChoice("port", "Gone")


@pytest.fixture
def make_window(qtbot, tmp_path: Path):
    windows: list[MainWindow] = []

    def make(list_ports=lambda: NO_MIDI) -> MainWindow:
        w = MainWindow(
            settings=ini(tmp_path), autosave_dir=tmp_path / "autosave", list_ports=list_ports
        )
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.shutdown()
        w.close()
        w.deleteLater()


def choose_in_dialog(monkeypatch: pytest.MonkeyPatch, choice: MidiOutputChoice) -> None:
    """Make the Preferences dialog return at once as if the user picked ``choice``."""

    def exec_(dialog: PreferencesDialog) -> int:
        index = next(
            i
            for i in range(dialog.output_combo.count())
            if dialog.output_combo.itemData(i) == choice
        )
        dialog.output_combo.setCurrentIndex(index)
        return PreferencesDialog.DialogCode.Accepted

    monkeypatch.setattr(PreferencesDialog, "exec", exec_)


def test_preferences_unavailable_output_is_kept_and_explained(
    make_window, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # This machine (like CI) has no ALSA sequencer; force ALSA so the failure is certain.
    monkeypatch.setenv("RTMIDI_API", "alsa")
    if os.path.exists("/dev/snd/seq"):
        pytest.skip("an ALSA sequencer exists here; this test needs a machine without one")
    window = make_window()
    choose_in_dialog(monkeypatch, VIRTUAL_OUTPUT)
    window.window_actions.preferences.trigger()
    assert window.prefs.midi_output() == VIRTUAL_OUTPUT  # remembered for when MIDI exists
    assert window.playback.port is None
    assert window.midi_status_label.text() == "MIDI: none (silent)"
    assert "/dev/snd/seq" in window.statusBar().currentMessage()
    assert Preferences(ini(tmp_path)).midi_output() == VIRTUAL_OUTPUT


def test_preferences_virtual_port_on_jack_carries_preview_notes(
    jack_server: str, make_window, monkeypatch: pytest.MonkeyPatch, qtbot
) -> None:
    import rtmidi

    monkeypatch.setenv("RTMIDI_API", "jack")
    window = make_window()
    choose_in_dialog(monkeypatch, VIRTUAL_OUTPUT)
    window.window_actions.preferences.trigger()
    assert window.midi_status_label.text() == 'MIDI: Virtual port "Composer"'
    # A synth stands in: a JACK MIDI input connected to the app's virtual output.
    midi_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="test-synth")
    try:
        names = midi_in.get_ports()
        index = next(i for i, n in enumerate(names) if "Composer" in n)
        midi_in.open_port(index)
        # JACK connects the ports on a later process cycle: preview until a note arrives.
        received: list[list[int]] = []
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and not received:
            window.playback.preview_note(64, 90)
            for _ in range(60):  # up to 0.3 s for the note-on
                message = midi_in.get_message()
                if message and message[0][0] == 0x90:  # skip the off of a half-heard note
                    received.append(message[0])
                    break
                if not message:
                    qtbot.wait(5)
        # its note-off, 0.25 s later (under load a note-on may have come late, after the
        # loop above asked for another preview: then both sound and both end)
        while time.monotonic() < deadline and received[-1:] != [[0x80, 64, 0]]:
            message = midi_in.get_message()
            if message:
                received.append(message[0])
            else:
                qtbot.wait(5)
        # the note (0x90 = note-on, channel 1) and then its note-off (0x80)
        assert received[0] == [0x90, 64, 90] and received[-1] == [0x80, 64, 0]
        assert all(m in ([0x90, 64, 90], [0x80, 64, 0]) for m in received)
    finally:
        midi_in.close_port()
        midi_in.delete()


def test_a_file_name_that_is_not_utf8_survives_open_recent(
    make_window, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Latin-1 name from an old archive: Python sees it with surrogate escapes, which a
    # settings string cannot hold; Open Recent said "no such file" for a file that exists.
    from composer_app.core.note import Note
    from composer_app.core.score import Score
    from composer_app.midi.files import write_mid

    raw = os.fsencode(str(tmp_path)) + b"/Ch\xe9rie.mid"
    path = os.fsdecode(raw)
    score = Score()
    score.add(Note(0, 64, 480))
    write_mid(score, path)
    window = make_window()
    assert window.open_file(path)
    assert window.windowTitle() == "Ch\ufffdrie.mid - Composer"
    window.prefs.set_last_directory(path)  # a folder of such a name is kept the same way
    assert window.prefs.sync() is None
    again = Preferences(ini(tmp_path))  # the next start
    assert again.recent_files() == [path]
    assert again.last_directory() == path
    second = make_window()
    second._rebuild_recent_menu()
    entry = second.recent_menu.actions()[0]
    assert entry.text() == "Ch\ufffdrie.mid"
    errors: list = []
    monkeypatch.setattr(
        "PySide6.QtWidgets.QMessageBox.critical", lambda *a, **k: errors.append(a[2])
    )
    entry.trigger()
    assert errors == [] and [n.pitch for n in second.document.score.notes] == [64]


def test_preferences_that_cannot_be_written_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # the settings file cannot be made under it
    settings = QSettings(str(blocker / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(
        settings=settings, autosave_dir=tmp_path / "autosave", list_ports=lambda: NO_MIDI
    )
    try:
        warnings: list[str] = []
        monkeypatch.setattr(
            "PySide6.QtWidgets.QMessageBox.warning",
            lambda *a, **k: warnings.append(a[2]),
        )
        choose_in_dialog(monkeypatch, NO_OUTPUT)
        window.window_actions.preferences.trigger()
        assert len(warnings) == 1
        assert "could not be saved" in warnings[0] and "settings.ini" in warnings[0]
    finally:
        window.shutdown()
        window.close()
        window.deleteLater()


def test_readable_path_keeps_ordinary_text_under_any_locale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Whole messages go through it. Under an ISO-8859-1 locale the file-system encoding
    # could not encode “ ” or ▸, and Save As over an existing file raised instead of asking.
    import composer_app.gui.preferences as preferences_module
    from composer_app.gui.preferences import readable_path

    monkeypatch.setattr(
        preferences_module.os, "fsencode",
        lambda text: text.encode("latin-1", errors="surrogateescape"),
    )  # fmt: skip
    message = "“caf\udce9.mid” already exists in “/music ▸ é”. Replace it?"
    assert readable_path(message) == "“caf\ufffd.mid” already exists in “/music ▸ é”. Replace it?"

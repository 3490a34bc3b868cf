"""The main window: actions and shortcuts, files, dirty state, tempo, playback, drops.

Real widgets offscreen, real MIDI files on disk, the real player (no port: silent). Modal
dialogs never open: QMessageBox and QFileDialog static methods are replaced by recorders.
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import mido  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox  # noqa: E402

from composer_app.core.edits import add_notes  # noqa: E402
from composer_app.core.note import Note  # noqa: E402
from composer_app.core.score import ProgramChange, Score, TempoChange, TimeSignature  # noqa: E402
from composer_app.gui.main_window import MainWindow  # noqa: E402
from composer_app.gui.preferences import PreferencesDialog  # noqa: E402
from composer_app.midi.files import read_mid, write_mid  # noqa: E402
from composer_app.midi.ports import PortError, PortListing  # noqa: E402
from composer_app.workers.playback import thread_player_factory  # noqa: E402

NO_MIDI = PortListing([], "No MIDI system: /dev/snd/seq is missing (test)")
Btn = QMessageBox.StandardButton


class Dialogs:
    """Stands in for the modal dialogs: records each one and answers from a queue."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, str, str]] = []  # (kind, title, text)
        self.answers: list[object] = []
        self.open_paths: list[str] = []
        self.save_paths: list[str] = []
        self.file_dialogs: list[tuple[object, ...]] = []  # (parent, caption, path, filter)

    def _answer(self, kind: str, title: str, text: str) -> object:
        self.shown.append((kind, title, text))
        assert self.answers, f"unexpected {kind} dialog: {title}: {text}"
        return self.answers.pop(0)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def question(_parent, title, text, *_args, **_kwargs):
            return self._answer("question", title, text)

        def critical(_parent, title, text, *_args, **_kwargs):
            self.shown.append(("critical", title, text))
            return Btn.Ok

        def get_open(*args, **_kwargs):
            self.file_dialogs.append(args)
            assert self.open_paths, "unexpected open-file dialog"
            return self.open_paths.pop(0), ""

        def get_save(*args, **_kwargs):
            self.file_dialogs.append(args)
            assert self.save_paths, "unexpected save-file dialog"
            return self.save_paths.pop(0), ""

        monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
        monkeypatch.setattr(QMessageBox, "critical", staticmethod(critical))
        monkeypatch.setattr(QMessageBox, "warning", staticmethod(critical))
        monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(get_open))
        monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(get_save))

    def kinds(self) -> list[str]:
        return [kind for kind, _title, _text in self.shown]


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> Dialogs:
    d = Dialogs()
    d.install(monkeypatch)
    return d


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, tmp_path: Path, settings: QSettings, dialogs: Dialogs):
    w = MainWindow(
        settings=settings,
        autosave_dir=tmp_path / "autosave",
        list_ports=lambda: NO_MIDI,
        player_factory=thread_player_factory,  # a test hands the player a fake failing port
    )
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=2000)
    yield w
    w.shutdown()  # no unsaved-changes question when the window closes now
    w.close()
    w.deleteLater()


def melody_score(tempo_bpm: float = 100.0, numerator: int = 3) -> Score:
    """Four notes in 3/4 at 100 BPM (a meter and tempo unlike the defaults)."""
    score = Score(
        tempo_map=[TempoChange.from_bpm(0, tempo_bpm)],
        time_signatures=[TimeSignature(0, numerator, 4)],
    )
    score.add_many(
        [
            Note(0, 60, 480, 90),
            Note(480, 64, 480, 80),
            Note(960, 67, 480, 70),
            Note(1440, 72, 960, 100),
        ]
    )
    return score


@pytest.fixture
def melody_file(tmp_path: Path) -> Path:
    path = tmp_path / "melody.mid"
    write_mid(melody_score(), path)
    return path


def make_dirty(window: MainWindow) -> None:
    window.document.push(add_notes([Note(0, 62, 240)]))
    assert window.document.is_dirty


def key(window: MainWindow, sequence: str) -> None:
    """Type one key combination at the window (it reaches the shortcut map)."""
    from PySide6.QtGui import QKeySequence

    combo = QKeySequence(sequence)[0]
    QTest.keyClick(window, combo.key(), combo.keyboardModifiers())


# ---- startup -----------------------------------------------------------------------------
def test_main_window_starts_with_empty_4_4_score_at_120_bpm(window: MainWindow) -> None:
    score = window.document.score
    assert len(score) == 0
    assert score.initial_tempo_bpm == 120.0
    assert (score.time_signatures[0].numerator, score.time_signatures[0].denominator) == (4, 4)
    assert window.windowTitle() == "Untitled - Composer"
    assert window.transport.tempo_spin.value() == 120.0
    assert window.transport.position_label.text().startswith("1.1.000")


def test_main_window_says_why_there_is_no_midi_output(window: MainWindow) -> None:
    assert window.midi_status_label.text() == "MIDI: none (silent)"
    assert "/dev/snd/seq is missing" in window.statusBar().currentMessage()
    assert window.playback.port is None


# ---- shortcuts ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sequence", "action_name"),
    [
        ("Ctrl+N", "new"),
        ("Ctrl+O", "open"),
        ("Ctrl+S", "save"),
        ("Ctrl+Shift+S", "save_as"),
        ("Ctrl+Z", "undo"),
        ("Ctrl+Shift+Z", "redo"),
        ("Ctrl+Y", "redo"),
        ("Ctrl+X", "cut"),
        ("Ctrl+C", "copy"),
        ("Ctrl+V", "paste"),
        ("Ctrl+D", "duplicate"),
        ("Ctrl+A", "select_all"),
        ("Del", "delete"),
        ("Q", "quantize"),
        ("Ctrl+0", "zoom_to_fit"),
        ("Space", "play"),
        ("Home", "home"),
        ("Shift+Esc", "panic"),
        ("Ctrl+,", "preferences"),
    ],
)
def test_main_window_shortcut_triggers_its_action(
    window: MainWindow, dialogs: Dialogs, monkeypatch: pytest.MonkeyPatch, sequence: str,
    action_name: str,
) -> None:
    action = getattr(window.window_actions, action_name)
    fired: list[bool] = []
    action.triggered.connect(lambda *_: fired.append(True))
    make_dirty(window)  # gives undo something to undo; redo is enabled after an undo
    if action_name == "redo":
        window.document.undo_stack.undo()
    # the dialogs some actions open are answered with "cancel"
    dialogs.open_paths.append("")
    dialogs.save_paths.append("")
    dialogs.answers.append(Btn.Cancel)
    monkeypatch.setattr(PreferencesDialog, "exec", lambda self: 0)
    key(window, sequence)
    assert fired == [True]


def test_main_window_plain_keys_on_the_dock_controls_are_theirs(
    qtbot, window: MainWindow
) -> None:
    # The window's one-key shortcuts took them: Space on a check box played, E on the Key
    # list switched to the Erase tool, Backspace on the Scale list deleted the selected notes.
    window.document.push(add_notes([Note(0, 60, 480), Note(480, 62, 480)]))
    window.editor.select_all()
    panel = window.continuation.panel
    panel.show()
    check = panel.accompany_check
    check.setFocus()
    qtbot.waitUntil(check.hasFocus, timeout=2000)
    QTest.keyClick(check, Qt.Key.Key_Space)
    assert check.isChecked() and not window.playback.is_playing
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findData("major"))  # keys need one
    panel.key_combo.setFocus()
    QTest.keyClick(panel.key_combo, Qt.Key.Key_E)
    assert window.editor.tool_name == "draw"
    assert panel.key_combo.currentText().startswith("E")  # the list jumped to E
    panel.scale_combo.setFocus()
    QTest.keyClick(panel.scale_combo, Qt.Key.Key_Backspace)
    assert len(window.document.score.notes) == 2
    # chords stay the window's; and in a number box, which has no use for it, Space plays
    QTest.keyClick(panel.scale_combo, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    window.set_playhead(960)
    panel.scale_combo.setFocus()
    QTest.keyClick(panel.scale_combo, Qt.Key.Key_Home)
    assert window.playhead_tick == 960 and panel.scale_combo.currentIndex() == 0
    spin = window.transport.tempo_spin
    spin.setFocus()
    spin.selectAll()
    QTest.keyClicks(spin, "60")  # typed, not yet entered: it applies before playing
    QTest.keyClick(spin, Qt.Key.Key_Space)
    assert window.playback.is_playing
    assert window.document.score.initial_tempo_bpm == pytest.approx(60.0)
    assert spin.value() == 60.0 and spin.text() == "60.0 BPM"


def test_main_window_tool_keys_select_tools(window: MainWindow) -> None:
    for sequence, tool in [("S", "select"), ("E", "erase"), ("D", "draw"), ("2", "select"),
                           ("3", "erase"), ("1", "draw")]:
        key(window, sequence)
        assert window.window_actions.tools[tool].isChecked(), sequence
        assert window.editor.tool_name == tool, sequence


def test_main_window_grid_menu_sets_editor_grid(window: MainWindow) -> None:
    assert window.editor.snap_step_ticks == 120  # the default 1/16 = 480 * 4 / 16 ticks
    window.window_actions.grids[8].trigger()
    assert window.editor.snap_step_ticks == 240  # an eighth = 480 * 4 / 8 ticks
    key(window, "T")  # triplets on
    assert window.editor.grid_triplet
    assert window.editor.snap_step_ticks == 160  # an eighth triplet = 240 * 2 / 3 ticks
    window.window_actions.grids[4].trigger()
    assert window.editor.snap_step_ticks == 320  # a quarter triplet = 480 * 2 / 3 ticks


def test_main_window_menus_hold_the_actions(window: MainWindow) -> None:
    titles = [m.title().replace("&", "") for m in window.menuBar().findChildren(type(window.recent_menu)) if m.title()]
    for name in ("File", "Edit", "View", "Tools", "Grid", "Transport"):
        assert name in titles
    file_actions = window.menus["file"].actions()
    assert window.window_actions.save_as in file_actions and window.window_actions.quit in file_actions
    assert window.window_actions.undo in window.menus["edit"].actions()
    # no two entries of a menu read alike (the dock's toggle was a second "Continue")
    for name, menu in window.menus.items():
        texts = [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]
        assert len(texts) == len(set(texts)), (name, texts)
    assert "Continue Panel" in [a.text() for a in window.menus["compose"].actions()]


# ---- files -------------------------------------------------------------------------------
def test_main_window_open_loads_file_and_remembers_it(
    window: MainWindow, dialogs: Dialogs, melody_file: Path
) -> None:
    dialogs.open_paths.append(str(melody_file))
    window.window_actions.open.trigger()
    score = window.document.score
    assert [n.pitch for n in score.notes] == [60, 64, 67, 72]
    assert window.windowTitle() == "melody.mid - Composer"
    assert window.transport.tempo_spin.value() == 100.0
    assert window.prefs.recent_files()[0] == str(melody_file)


def test_main_window_import_export_import_keeps_notes_tempo_meter(
    window: MainWindow, dialogs: Dialogs, melody_file: Path, tmp_path: Path
) -> None:
    assert window.open_file(str(melody_file))
    exported = tmp_path / "exported"  # no suffix: Save As adds ".mid"
    dialogs.save_paths.append(str(exported))
    window.window_actions.save_as.trigger()
    again = read_mid(tmp_path / "exported.mid")
    original = melody_score()
    assert [(n.start_tick, n.pitch, n.duration_ticks, n.velocity) for n in again.notes] == [
        (n.start_tick, n.pitch, n.duration_ticks, n.velocity) for n in original.notes
    ]
    assert again.initial_tempo_bpm == pytest.approx(100.0)
    assert (again.time_signatures[0].numerator, again.time_signatures[0].denominator) == (3, 4)
    assert window.file_path == str(tmp_path / "exported.mid")
    assert window.windowTitle() == "exported.mid - Composer"


def test_main_window_malformed_file_shows_reason_and_keeps_document(
    window: MainWindow, dialogs: Dialogs, tmp_path: Path
) -> None:
    make_dirty(window)
    before = window.document.score.notes
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01")  # header cut short
    dialogs.open_paths.append(str(bad))
    window.window_actions.open.trigger()
    assert dialogs.kinds() == ["critical"]
    _kind, _title, text = dialogs.shown[0]
    assert "broken.mid" in text and "truncated" in text
    assert window.document.score.notes == before
    assert window.document.is_dirty and window.file_path is None
    assert window.windowTitle() == "Untitled* - Composer"


def test_main_window_not_a_midi_file_is_refused(
    window: MainWindow, dialogs: Dialogs, tmp_path: Path
) -> None:
    text_file = tmp_path / "notes.mid"
    text_file.write_text("this is not MIDI")
    assert not window.open_file(str(text_file))
    assert "not a MIDI file" in dialogs.shown[0][2]
    assert len(window.document.score) == 0


def test_main_window_title_marks_unsaved_changes(window: MainWindow) -> None:
    assert window.windowTitle() == "Untitled - Composer"
    make_dirty(window)
    assert window.windowTitle() == "Untitled* - Composer"
    key(window, "Ctrl+Z")
    assert window.windowTitle() == "Untitled - Composer"


def test_main_window_save_writes_file_and_clears_mark(
    window: MainWindow, dialogs: Dialogs, tmp_path: Path
) -> None:
    make_dirty(window)
    target = tmp_path / "song.mid"
    dialogs.save_paths.append(str(target))
    key(window, "Ctrl+S")  # untitled: Save asks for a name
    assert [n.pitch for n in read_mid(target).notes] == [62]
    assert window.windowTitle() == "song.mid - Composer"
    make_dirty(window)
    key(window, "Ctrl+S")  # titled: saves in place, no dialog
    assert [n.pitch for n in read_mid(target).notes] == [62, 62]
    assert not window.document.is_dirty


def test_main_window_new_and_open_clear_the_ruler_region(
    window: MainWindow, tmp_path: Path
) -> None:
    # a range dragged on the ruler of one document was kept for the next, where Continue
    # took it as its seed or target
    window.editor.set_region(1920, 3840)
    assert window.new_file()
    assert window.editor.region() is None
    path = tmp_path / "other.mid"
    write_mid(Score(), path)
    window.editor.set_region(960, 1920)
    assert window.open_file(str(path), ask_to_save=False)
    assert window.editor.region() is None


@pytest.mark.parametrize("answer", [Btn.Save, Btn.Discard, Btn.Cancel])
def test_main_window_new_asks_before_discarding(
    window: MainWindow, dialogs: Dialogs, tmp_path: Path, answer: QMessageBox.StandardButton
) -> None:
    make_dirty(window)
    dialogs.answers.append(answer)
    saved = tmp_path / "kept.mid"
    dialogs.save_paths.append(str(saved))
    window.window_actions.new.trigger()
    assert dialogs.kinds() == ["question"]
    if answer == Btn.Cancel:
        assert len(window.document.score) == 1 and window.document.is_dirty
    else:
        assert len(window.document.score) == 0 and not window.document.is_dirty
        assert window.windowTitle() == "Untitled - Composer"
    assert saved.exists() == (answer == Btn.Save)


def test_main_window_new_save_cancelled_keeps_document(
    window: MainWindow, dialogs: Dialogs
) -> None:
    make_dirty(window)
    dialogs.answers.append(Btn.Save)
    dialogs.save_paths.append("")  # the user cancels the file dialog
    assert not window.new_file()
    assert len(window.document.score) == 1 and window.document.is_dirty


@pytest.mark.parametrize("answer", [Btn.Discard, Btn.Cancel])
def test_main_window_open_asks_before_discarding(
    window: MainWindow, dialogs: Dialogs, melody_file: Path, answer: QMessageBox.StandardButton
) -> None:
    make_dirty(window)
    dialogs.answers.append(answer)
    dialogs.open_paths.append(str(melody_file))
    window.window_actions.open.trigger()
    assert len(window.document.score) == (4 if answer == Btn.Discard else 1)


@pytest.mark.parametrize("answer", [Btn.Discard, Btn.Cancel])
def test_main_window_quit_asks_before_discarding(
    window: MainWindow, dialogs: Dialogs, answer: QMessageBox.StandardButton
) -> None:
    make_dirty(window)
    dialogs.answers.append(answer)
    window.window_actions.quit.trigger()
    assert window.isVisible() == (answer == Btn.Cancel)


def test_main_window_failed_save_keeps_dirty_and_says_why(
    window: MainWindow, dialogs: Dialogs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "full-disk.mid"
    write_mid(melody_score(), target)
    before = target.read_bytes()
    assert window.open_file(str(target))
    make_dirty(window)

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", no_space)
    assert not window.save()
    assert dialogs.kinds() == ["critical"]
    assert "full-disk.mid" in dialogs.shown[0][2]
    assert "No space left on device" in dialogs.shown[0][2]
    assert window.document.is_dirty and window.windowTitle() == "full-disk.mid* - Composer"
    assert target.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


def test_main_window_save_into_missing_folder_says_why(
    window: MainWindow, dialogs: Dialogs, tmp_path: Path
) -> None:
    make_dirty(window)
    dialogs.save_paths.append(str(tmp_path / "no-such-folder" / "x.mid"))
    assert not window.save_as()
    assert "folder does not exist" in dialogs.shown[0][2]
    assert window.document.is_dirty and window.file_path is None


def test_main_window_recent_files_menu_opens_file(
    window: MainWindow, dialogs: Dialogs, melody_file: Path
) -> None:
    assert window.open_file(str(melody_file))
    window.new_file()
    window.recent_menu.aboutToShow.emit()
    entries = [a for a in window.recent_menu.actions() if a.text() == "melody.mid"]
    assert len(entries) == 1
    entries[0].trigger()
    assert window.file_path == str(melody_file) and len(window.document.score) == 4


def test_main_window_open_recent_forgets_a_file_that_is_gone(
    window: MainWindow, dialogs: Dialogs, melody_file: Path
) -> None:
    assert window.open_file(str(melody_file))
    window.new_file()
    melody_file.unlink()
    window.recent_menu.aboutToShow.emit()
    [entry] = [a for a in window.recent_menu.actions() if a.text() == "melody.mid"]
    entry.trigger()
    assert dialogs.kinds() == ["critical"] and "no such file" in dialogs.shown[0][2]
    assert str(melody_file) not in window.prefs.recent_files()
    window.recent_menu.aboutToShow.emit()
    assert not [a for a in window.recent_menu.actions() if a.text() == "melody.mid"]


def test_main_window_open_recent_keeps_a_file_whose_folder_is_missing(
    window: MainWindow, dialogs: Dialogs, tmp_path: Path
) -> None:
    # a drive that is not mounted looks the same: the file may come back
    away = tmp_path / "usb" / "melody.mid"
    away.parent.mkdir()
    write_mid(melody_score(), away)
    assert window.open_file(str(away))
    away.unlink()
    away.parent.rmdir()
    assert not window.open_file(str(away))
    assert window.prefs.recent_files()[0] == str(away)


def test_main_window_open_recent_keeps_a_file_that_is_there_but_unreadable(
    window: MainWindow, dialogs: Dialogs, melody_file: Path
) -> None:
    assert window.open_file(str(melody_file))
    melody_file.write_bytes(b"MThd")  # truncated: the user may mend it, so it stays listed
    assert not window.open_file(str(melody_file))
    assert dialogs.kinds() == ["critical"]
    assert window.prefs.recent_files()[0] == str(melody_file)


def _file_with_drums_pedal_and_names(path: Path) -> bytes:
    """A type 1 file (mido) with a melody, drums, a sustain pedal, a program change and
    track names: what a sequencer's song holds besides the notes Composer keeps."""
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    piano = mido.MidiTrack([
        mido.MetaMessage("track_name", name="Piano", time=0),
        mido.Message("program_change", program=4, time=0),
        mido.Message("control_change", control=64, value=127, time=0),
        mido.Message("note_on", note=60, velocity=80, time=0),
        mido.Message("note_off", note=60, time=480),
        mido.Message("control_change", control=64, value=0, time=0),
    ])
    drums = mido.MidiTrack([mido.MetaMessage("track_name", name="Drums", time=0)])
    for _ in range(4):
        drums.append(mido.Message("note_on", note=36, velocity=100, channel=9, time=0))
        drums.append(mido.Message("note_off", note=36, channel=9, time=120))
    mid.tracks.extend([piano, drums])
    mid.save(str(path))
    return path.read_bytes()


@pytest.mark.parametrize("answer", [Btn.Cancel, Btn.No, Btn.Yes])
def test_main_window_save_over_a_file_with_drums_and_controllers_asks_first(
    window: MainWindow, dialogs: Dialogs, tmp_path: Path, answer: QMessageBox.StandardButton
) -> None:
    song = tmp_path / "song.mid"
    original = _file_with_drums_pedal_and_names(song)
    assert window.open_file(str(song))
    # the status bar says at once what the score does not hold
    status = window.statusBar().currentMessage()
    assert "not kept: 4 drum notes dropped" in status and "1 meta events" in status
    make_dirty(window)
    dialogs.answers.append(answer)
    copy = tmp_path / "copy.mid"
    if answer == Btn.No:
        dialogs.save_paths.append(str(copy))
    saved = window.save()
    [(kind, title, text)] = dialogs.shown
    assert kind == "question" and title == "Replace the original file?"
    for lost in ("4 drum notes", "1 meta events"):  # the drums' track name
        assert lost in text
    # the piano's instrument and its pedal are kept
    assert "program" not in text and "controller" not in text
    if answer == Btn.Yes:  # replaced, knowingly; the file now holds what the score holds
        saved_score = read_mid(song)
        assert saved and [n.pitch for n in saved_score.notes] == [60, 62]
        assert [(p.channel, p.program) for p in saved_score.program_changes] == [(0, 4)]
        assert saved_score.track_names == {(0, 0): "Piano"}
        assert [(c.tick, c.controller, c.value) for c in saved_score.control_changes] == [
            (0, 64, 127), (480, 64, 0)
        ]
        make_dirty(window)
        assert window.save() and len(dialogs.shown) == 1  # nothing left to lose: no question
    else:
        assert song.read_bytes() == original  # the original is untouched
        if answer == Btn.No:  # saved under another name instead
            assert saved and window.file_path == str(copy)
            assert [n.pitch for n in read_mid(copy).notes] == [60, 62]
        else:
            assert not saved and window.document.is_dirty


def test_main_window_save_as_onto_the_original_with_drums_asks_too(
    window: MainWindow, dialogs: Dialogs, tmp_path: Path
) -> None:
    song = tmp_path / "song.mid"
    original = _file_with_drums_pedal_and_names(song)
    assert window.open_file(str(song))
    dialogs.save_paths.append(str(song))
    dialogs.answers.append(Btn.Cancel)
    assert not window.save_as()
    assert dialogs.shown[0][1] == "Replace the original file?" and song.read_bytes() == original
    # a file of only what the score holds (this app's own) opens and saves without a question
    plain = tmp_path / "plain.mid"
    write_mid(melody_score(), plain)
    assert window.open_file(str(plain))
    make_dirty(window)
    assert window.save() and len(dialogs.shown) == 1


def test_main_window_saves_over_a_karaoke_file_without_asking_and_keeps_its_texts(
    window: MainWindow, dialogs: Dialogs, tmp_path: Path
) -> None:
    # lyrics, markers, a copyright and a General MIDI reset were not kept: a save over such a
    # file asked first, and a save after the question lost them
    song = tmp_path / "karaoke.mid"
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    conductor = mido.MidiTrack([
        mido.MetaMessage("copyright", text="(c) 2026 Ana"),
        mido.MetaMessage("marker", text="Verse"),
        mido.Message("sysex", data=[0x7E, 0x7F, 0x09, 0x01]),
    ])
    voice = mido.MidiTrack([mido.MetaMessage("track_name", name="Voice")])
    for i, syllable in enumerate(["Twin", "kle ", "twin", "kle"]):
        voice.append(mido.MetaMessage("lyrics", text=syllable))
        voice.append(mido.Message("note_on", note=60 + 7 * (i // 2), velocity=90))
        voice.append(mido.Message("note_off", note=60 + 7 * (i // 2), time=480))
    mid.tracks.extend([conductor, voice])
    mid.save(str(song))
    assert window.open_file(str(song))
    assert "not kept" not in window.statusBar().currentMessage()
    make_dirty(window)
    assert window.save() and dialogs.shown == []  # nothing to lose: no question
    saved = mido.MidiFile(str(song))
    assert [m.text for m in saved.tracks[0] if m.type in ("copyright", "marker")] == [
        "(c) 2026 Ana", "Verse"]
    assert [m.data for m in saved.tracks[0] if m.type == "sysex"] == [(0x7E, 0x7F, 0x09, 0x01)]
    voice_track = next(t for t in saved.tracks if t.name == "Voice")
    assert [m.text for m in voice_track if m.type == "lyrics"] == ["Twin", "kle ", "twin", "kle"]


def _rmid(smf: bytes) -> bytes:
    """``smf`` wrapped as a RIFF MIDI (.rmi) file, with an INFO list naming its title."""
    def chunk(chunk_id: bytes, body: bytes) -> bytes:
        return chunk_id + len(body).to_bytes(4, "little") + body + b"\0" * (len(body) & 1)

    body = b"RMID" + chunk(b"data", smf) + chunk(b"LIST", b"INFO" + chunk(b"INAM", b"Air\0"))
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def test_main_window_opens_an_rmi_file_and_saving_over_it_asks(
    qtbot, window: MainWindow, dialogs: Dialogs, tmp_path: Path, melody_file: Path
) -> None:
    song = tmp_path / "air.rmi"
    original = _rmid(melody_file.read_bytes())
    song.write_bytes(original)
    mime = QMimeData()
    enter, drop = _drag_events(song, mime)
    window.event(enter)
    assert enter.isAccepted()  # a drop takes it
    window.event(drop)
    qtbot.waitUntil(lambda: window.file_path == str(song), timeout=2000)
    assert [n.pitch for n in window.document.score.notes] == [60, 64, 67, 72]
    assert "not kept: 1 RIFF (RMID) chunks dropped" in window.statusBar().currentMessage()
    make_dirty(window)
    dialogs.answers.append(Btn.No)  # not over the original: under another name
    dialogs.save_paths.append(str(tmp_path / "air.mid"))
    assert window.save()
    [(kind, title, text)] = dialogs.shown
    assert title == "Replace the original file?" and "RIFF (RMID) chunks" in text
    assert song.read_bytes() == original
    assert dialogs.file_dialogs[-1][2] == str(tmp_path / "air.mid")  # suggested as a .mid
    dialogs.open_paths.append(str(song))
    assert window.open_file()  # the Open dialog lists .rmi files
    assert "*.rmi" in dialogs.file_dialogs[-1][3]


def test_main_window_says_what_import_repaired_and_guards_an_undeclared_track(
    window: MainWindow, dialogs: Dialogs, tmp_path: Path
) -> None:
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    for pitch in (60, 72):
        mid.tracks.append(mido.MidiTrack([
            mido.Message("note_on", note=pitch, velocity=80, time=0),
            mido.Message("note_on", note=pitch + 2, velocity=80, time=0),  # never turned off
            mido.Message("note_off", note=pitch, time=480),
            mido.Message("note_on", note=pitch + 4, velocity=80, time=0),
            mido.Message("note_off", note=pitch + 4, time=480),
        ]))  # fmt: skip
    song = tmp_path / "song.mid"
    mid.save(str(song))
    data = bytearray(song.read_bytes())
    data[10:12] = (1).to_bytes(2, "big")  # a writer that undercounted its tracks
    song.write_bytes(bytes(data))
    assert window.open_file(str(song))
    status = window.statusBar().currentMessage()
    assert "bytes after the last track the header declares ignored" in status
    assert "repaired: 1 notes never turned off, closed at the end of the song" in status
    make_dirty(window)
    dialogs.answers.append(Btn.Cancel)
    assert not window.save()
    assert "they may hold a track" in dialogs.shown[0][2]
    assert song.read_bytes() == bytes(data)


def test_main_window_the_original_with_drums_is_guarded_by_any_name_until_written(
    window: MainWindow, dialogs: Dialogs, tmp_path: Path
) -> None:
    song = tmp_path / "song.mid"
    original = _file_with_drums_pedal_and_names(song)
    link = tmp_path / "link.mid"
    link.symlink_to(song)
    assert window.open_file(str(link))  # opened through a link...
    make_dirty(window)
    dialogs.save_paths.append(str(song))  # ...saved to the file's real name: still asks
    dialogs.answers.append(Btn.Cancel)
    assert not window.save_as() and song.read_bytes() == original
    # saved elsewhere first (Save, then No): the original stays guarded
    dialogs.answers.append(Btn.No)
    dialogs.save_paths.append(str(tmp_path / "copy.mid"))
    assert window.save() and window.file_path == str(tmp_path / "copy.mid")
    make_dirty(window)
    assert window.save() and len(dialogs.shown) == 2  # the copy is ours: no question
    dialogs.save_paths.append(str(tmp_path / "song"))  # ".mid" is added: ONE question
    dialogs.answers.append(Btn.Cancel)
    assert not window.save_as() and song.read_bytes() == original
    assert [t for _k, t, _x in dialogs.shown] == ["Replace the original file?"] * 3


@pytest.mark.parametrize("answer", [Btn.Yes, Btn.Cancel])
def test_main_window_save_as_asks_before_replacing_the_file_its_suffix_names(
    window: MainWindow, dialogs: Dialogs, tmp_path: Path, answer: QMessageBox.StandardButton
) -> None:
    # The file dialog asked about "take" (no such file); ".mid" is added afterwards, and
    # "take.mid" exists: replacing it needs its own question.
    existing = tmp_path / "take.mid"
    write_mid(melody_score(), existing)
    before = existing.read_bytes()
    make_dirty(window)
    dialogs.save_paths.append(str(tmp_path / "take"))
    dialogs.answers.append(answer)
    saved = window.save_as()
    assert [(k, t) for k, t, _ in dialogs.shown] == [("question", "Replace file?")]
    assert "take.mid" in dialogs.shown[0][2]
    if answer == Btn.Yes:
        assert saved and [n.pitch for n in read_mid(existing).notes] == [62]
    else:
        assert not saved and existing.read_bytes() == before and window.file_path is None


def _drag_events(path: Path, mime: QMimeData) -> tuple[QDragEnterEvent, QDropEvent]:
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier)
    return QDragEnterEvent(QPoint(50, 50), *args), QDropEvent(QPointF(50, 50), *args)


def test_main_window_dropped_file_opens(
    qtbot, window: MainWindow, melody_file: Path
) -> None:
    # QApplication only routes drop events during a real drag (no such thing offscreen), so
    # the events go straight to the window's event handler.
    mime = QMimeData()
    enter, drop = _drag_events(melody_file, mime)
    window.event(enter)
    assert enter.isAccepted()
    window.event(drop)
    qtbot.waitUntil(lambda: window.file_path == str(melody_file), timeout=2000)
    assert len(window.document.score) == 4


def test_main_window_refuses_dropped_non_midi_file(window: MainWindow, tmp_path: Path) -> None:
    other = tmp_path / "picture.png"
    other.write_bytes(b"\x89PNG")
    mime = QMimeData()
    enter, _drop = _drag_events(other, mime)
    window.event(enter)
    assert not enter.isAccepted()


# ---- tempo -------------------------------------------------------------------------------
def test_main_window_tempo_edit_is_undoable(qtbot, window: MainWindow) -> None:
    spin = window.transport.tempo_spin
    spin.setFocus()
    spin.selectAll()
    QTest.keyClicks(spin, "90")
    QTest.keyClick(spin, Qt.Key.Key_Return)
    assert window.document.score.initial_tempo_bpm == pytest.approx(90.0, abs=0.01)
    assert window.windowTitle() == "Untitled* - Composer"
    window.window_actions.undo.trigger()
    assert window.document.score.initial_tempo_bpm == 120.0
    assert spin.value() == 120.0
    window.window_actions.redo.trigger()
    assert spin.value() == 90.0


def test_main_window_tempo_arrows_apply_at_once_and_a_burst_is_one_step(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The box's arrows changed only what it showed: Save wrote the old tempo, and closing
    # asked nothing. Now each click applies, and a burst of them is one undo step.
    from composer_app.gui import document as document_module

    clock = {"s": 100.0}
    monkeypatch.setattr(document_module.time, "monotonic", lambda: clock["s"])
    path = tmp_path / "t.mid"
    write_mid(window.document.score, path)
    assert window.open_file(str(path), ask_to_save=False)
    spin = window.transport.tempo_spin
    spin.setFocus()
    for _ in range(3):
        QTest.keyClick(spin, Qt.Key.Key_Up)
        clock["s"] += 0.3
    assert window.document.score.initial_tempo_bpm == pytest.approx(123.0, abs=0.01)
    assert window.windowTitle() == "t.mid* - Composer"
    assert window.document.undo_stack.count() == 1
    assert window.document.undo_stack.text(0) == "Tempo 120 → 123 BPM"
    window.window_actions.save.trigger()  # the toolbar and Ctrl+S take no focus from the box
    assert read_mid(path).initial_tempo_bpm == pytest.approx(123.0, abs=0.01)
    # a later click is a step of its own; up and back down at once leaves no step at all
    clock["s"] += 5.0
    QTest.keyClick(spin, Qt.Key.Key_Up)
    assert window.document.undo_stack.count() == 2
    clock["s"] += 5.0
    QTest.keyClick(spin, Qt.Key.Key_Down)
    clock["s"] += 0.2
    QTest.keyClick(spin, Qt.Key.Key_Up)
    assert window.document.undo_stack.count() == 2
    window.window_actions.undo.trigger()
    assert window.document.score.initial_tempo_bpm == pytest.approx(123.0, abs=0.01)
    assert spin.value() == 123.0 and window.windowTitle() == "t.mid - Composer"
    window.window_actions.undo.trigger()
    assert window.document.score.initial_tempo_bpm == pytest.approx(120.0, abs=0.01)


def test_main_window_undo_keys_in_a_number_box_undo_the_score(
    qtbot, window: MainWindow
) -> None:
    # After arrow clicks in the tempo box the focus stays there, and the box took Ctrl+Z as
    # its own text undo: the tempo stayed. The undo and redo keys are the window's there,
    # and in the dock's number boxes too.
    window.show()
    qtbot.waitExposed(window)
    spin = window.transport.tempo_spin
    spin.setFocus()
    for _ in range(3):
        QTest.keyClick(spin, Qt.Key.Key_Up)
    assert window.document.score.initial_tempo_bpm == pytest.approx(123.0, abs=0.01)
    QTest.keyClick(spin, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.document.score.initial_tempo_bpm == pytest.approx(120.0, abs=0.01)
    assert spin.value() == 120.0
    QTest.keyClick(
        spin, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert window.document.score.initial_tempo_bpm == pytest.approx(123.0, abs=0.01)
    QTest.keyClick(spin, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(spin, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert window.document.score.initial_tempo_bpm == pytest.approx(123.0, abs=0.01)
    window.document.push(add_notes([Note(0, 60, 480)]))
    length = window.continuation.panel.length_spin
    length.setFocus()
    QTest.keyClick(length, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(window.document.score) == 0
    # the box's other keys stay its own: a digit types into it
    length.lineEdit().selectAll()
    QTest.keyClicks(length, "3")
    assert length.text().startswith("3")


def test_main_window_typed_tempo_applies_before_save_play_and_quit(
    qtbot, window: MainWindow, tmp_path: Path, dialogs: Dialogs
) -> None:
    # A tempo typed in the box and not entered: Ctrl+S wrote the old tempo and said "saved".
    path = tmp_path / "t.mid"
    write_mid(window.document.score, path)
    assert window.open_file(str(path), ask_to_save=False)
    spin = window.transport.tempo_spin
    spin.setFocus()
    spin.lineEdit().selectAll()
    QTest.keyClicks(spin, "90")
    assert window.document.score.initial_tempo_bpm == pytest.approx(120.0)  # not entered
    QTest.keyClick(spin, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert read_mid(path).initial_tempo_bpm == pytest.approx(90.0, abs=0.01)
    assert window.windowTitle() == "t.mid - Composer"
    # Play, too, plays at the tempo typed
    spin.lineEdit().selectAll()
    QTest.keyClicks(spin, "100")
    window.window_actions.play.trigger()
    assert window.document.score.initial_tempo_bpm == pytest.approx(100.0, abs=0.01)
    window.playback.stop()
    # and closing asks about it as the change it is
    spin.lineEdit().selectAll()
    QTest.keyClicks(spin, "110")
    dialogs.answers.append(QMessageBox.StandardButton.Cancel)
    assert not window.maybe_save()
    assert window.document.score.initial_tempo_bpm == pytest.approx(110.0, abs=0.01)


def test_main_window_paste_after_playback_lands_on_the_grid_and_end_goes_to_the_end(
    qtbot, window: MainWindow
) -> None:
    # Playback stops between grid lines; Ctrl+V pasted there (tick 1411 on a 1/16 grid).
    window.document.push(add_notes([Note(0, 60, 240), Note(240, 64, 240)]))
    window.editor.select_all()
    window.window_actions.copy.trigger()
    window.set_playhead(1411.8)  # where a stopped playback left it
    window.window_actions.paste.trigger()
    pasted = sorted(window.document.selection)
    step = window.editor.snap_step_ticks
    assert [n.start_tick for n in pasted] == [1411 // step * step, 1411 // step * step + 240]
    assert window.playhead_tick == pasted[-1].end_tick  # the next paste goes after it
    window.set_playhead(0)
    QTest.keyClick(window.editor.view, Qt.Key.Key_End)
    assert window.playhead_tick == window.document.score.end_tick == pasted[-1].end_tick


def test_main_window_sets_a_time_signature_and_a_tempo_change_at_the_playhead(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dialogs: Dialogs
) -> None:
    # A new score was 4/4 at one tempo for ever: a waltz could not be sketched.
    from composer_app.gui.meter_tempo import TempoChangeDialog, TimeSignatureDialog

    def answer(dialog_class, setup):
        def exec_(dialog) -> int:
            setup(dialog)
            return dialog_class.DialogCode.Accepted
        monkeypatch.setattr(dialog_class, "exec", exec_)

    def three_four(dialog: TimeSignatureDialog) -> None:
        assert dialog.meter() == (4, 4) and dialog.remove_button is None
        dialog.numerator_spin.setValue(3)

    answer(TimeSignatureDialog, three_four)
    window.set_playhead(2 * 1920 + 700)  # in bar 3
    window.window_actions.time_signature.trigger()
    score = window.document.score
    assert score.time_signatures == [TimeSignature(0, 4, 4), TimeSignature(3840, 3, 4)]
    assert window.document.undo_stack.undoText() == "Time signature 3/4"

    answer(TempoChangeDialog, lambda dialog: dialog.tempo_spin.setValue(90))
    window.set_playhead(3840 + 1440 + 500)  # bar 4 (of 3/4), snapped down to the 1/16 grid
    window.window_actions.tempo_change.trigger()
    assert [(t.tick, round(t.tempo_bpm, 1)) for t in score.tempo_map] == [(0, 120.0), (5760, 90.0)]
    # the ruler shows both changes, in their colour, where they are
    from composer_app.gui.pianoroll.ruler import CHANGE_LABEL

    window.editor.zoom_to_fit()
    image = window.editor.ruler.grab().toImage()
    geo = window.editor.view.geometry
    assert CHANGE_LABEL.blue() - CHANGE_LABEL.red() > 60
    for tick in (3840, 5760):
        x = round(geo.tick_to_x(tick))
        pixels = [image.pixelColor(px, py) for px in range(x, x + 40)
                  for py in range(image.height())]
        assert any(p.blue() - p.red() > 60 for p in pixels), tick  # the label's blue
    # saved and read back
    path = tmp_path / "waltz.mid"
    dialogs.save_paths.append(str(path))
    assert window.save_as()
    again = read_mid(path)
    assert again.time_signatures == score.time_signatures and again.tempo_map == score.tempo_map
    # the change at the playhead can be removed again, each as one undo step
    answer(TempoChangeDialog, lambda dialog: dialog.remove_button.click())
    window.window_actions.tempo_change.trigger()
    assert len(score.tempo_map) == 1
    window.document.undo_stack.undo()
    assert len(score.tempo_map) == 2


def test_main_window_sets_and_removes_a_key_signature_at_the_playhead(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dialogs: Dialogs
) -> None:
    # A file's key signatures were kept, but none could be set or changed.
    from composer_app.core.edits import set_key_at
    from composer_app.core.score import KeySignature
    from composer_app.gui.meter_tempo import KeySignatureDialog

    offered: list[tuple[int, bool]] = []

    def answer(setup):
        def exec_(dialog) -> int:
            offered.append(dialog.key())
            setup(dialog)
            return KeySignatureDialog.DialogCode.Accepted
        monkeypatch.setattr(KeySignatureDialog, "exec", exec_)

    def choose(sharps: int, minor: bool):
        def setup(dialog: KeySignatureDialog) -> None:
            combo = dialog.key_combo
            combo.setCurrentIndex(combo.findData((sharps + 7) * 2 + int(minor)))
            assert dialog.key() == (sharps, minor)
        return setup

    # a tune in E minor without a key signature: the dialog offers E minor (1 sharp), from
    # bar 1 whatever bar the playhead is in (bars before a first key read as C elsewhere)
    e_minor = [64, 66, 67, 71, 64, 59, 64, 67, 66, 64]
    window.document.push(add_notes([Note(i * 480, p, 480) for i, p in enumerate(e_minor)]))
    answer(lambda dialog: None)
    window.set_playhead(2 * 1920 + 300)
    window.window_actions.key_signature.trigger()
    score = window.document.score
    assert offered[-1] == (1, True)
    assert score.key_signatures == [KeySignature(0, 1, True)]
    assert window.document.undo_stack.undoText() == "Key signature E minor"
    # a change to G minor (two flats) from bar 3, then the same key again there: no step
    answer(choose(-2, True))
    window.set_playhead(2 * 1920 + 100)
    window.window_actions.key_signature.trigger()
    assert score.key_signatures == [KeySignature(0, 1, True), KeySignature(3840, -2, True)]
    steps = window.document.undo_stack.count()
    window.window_actions.key_signature.trigger()
    assert window.document.undo_stack.count() == steps
    # written to the file, and read back
    path = tmp_path / "keys.mid"
    dialogs.save_paths.append(str(path))
    assert window.save_as()
    assert read_mid(path).key_signatures == score.key_signatures
    # removed again at bar 3, one undo step; the first one can go too
    answer(lambda dialog: dialog.remove_button.click())
    window.window_actions.key_signature.trigger()
    assert score.key_signatures == [KeySignature(0, 1, True)]
    window.set_playhead(0)
    window.window_actions.key_signature.trigger()
    assert score.key_signatures == []
    window.document.undo_stack.undo()
    window.document.undo_stack.undo()
    assert score.key_signatures == [KeySignature(0, 1, True), KeySignature(3840, -2, True)]
    # a change inside a bar (a file's) is the one the playhead finds there, not the bar's
    window.document.push(set_key_at(score, 3840 + 960, 3, False))  # A major at beat 3
    window.set_playhead(3840 + 1000)
    answer(lambda dialog: dialog.remove_button.click())
    window.window_actions.key_signature.trigger()
    assert score.key_signatures == [KeySignature(0, 1, True), KeySignature(3840, -2, True)]


def test_main_window_meter_and_tempo_dialogs_keep_what_they_cannot_show(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    # OK on a dialog left as it opened changed 133.333 BPM to 133.3 (and the file to
    # unsaved), and a 3/64 bar to 3/4. A change off the grid (from a file) could not be
    # found with the playhead on it.
    from composer_app.gui.meter_tempo import TempoChangeDialog, TimeSignatureDialog

    for dialog_class in (TempoChangeDialog, TimeSignatureDialog):
        monkeypatch.setattr(dialog_class, "exec", lambda _d: QDialog.DialogCode.Accepted)
    score = Score(tempo_map=[TempoChange(0, 500_000), TempoChange(1000, 450_000)],
                  time_signatures=[TimeSignature(0, 4, 4), TimeSignature(1920, 3, 64)])
    window.document.replace_score(score, None)
    window.set_playhead(1000)  # on the change at 1000, between the 1/16 lines 960 and 1080
    window.window_actions.tempo_change.trigger()
    window.set_playhead(1920)
    window.window_actions.time_signature.trigger()
    assert window.document.undo_stack.count() == 0 and not window.document.is_dirty
    assert window.document.score.tempo_map[1] == TempoChange(1000, 450_000)
    assert window.document.score.time_signatures[1] == TimeSignature(1920, 3, 64)
    # and the change the playhead is on can be removed there
    monkeypatch.setattr(TempoChangeDialog, "exec",
                        lambda d: d.remove_button.click() or QDialog.DialogCode.Accepted)
    window.set_playhead(1000)
    window.window_actions.tempo_change.trigger()
    assert window.document.score.tempo_map == [TempoChange(0, 500_000)]


def test_main_window_offers_the_beat_values_its_resolution_holds(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a 1/64 at 120 ticks a quarter is 7.5 ticks: its bars would not come out whole
    from composer_app.gui.meter_tempo import TimeSignatureDialog

    offered: list[list[int]] = []

    def exec_(dialog) -> int:
        combo = dialog.denominator_combo
        offered.append([combo.itemData(i) for i in range(combo.count())])
        return QDialog.DialogCode.Rejected

    monkeypatch.setattr(TimeSignatureDialog, "exec", exec_)
    for ppq in (120, 480):
        window.document.replace_score(Score(ppq=ppq), None)
        window.window_actions.time_signature.trigger()
    assert offered == [[1, 2, 4, 8, 16, 32], [1, 2, 4, 8, 16, 32, 64]]


def test_main_window_questions_show_a_name_that_is_not_utf8(
    window: MainWindow, tmp_path: Path, dialogs: Dialogs
) -> None:
    path = os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9.mid")
    write_mid(Score(), path)
    dialogs.answers.append(QMessageBox.StandardButton.Cancel)
    assert not window._confirm_replace(path)
    assert "caf\ufffd.mid" in dialogs.shown[-1][2]


def test_main_window_ruler_shows_no_tempo_change_that_changes_nothing(window: MainWindow) -> None:
    # The tempo box set to a later change's tempo left that change repeating it: no label.
    from composer_app.gui.pianoroll.ruler import CHANGE_LABEL

    score = Score(tempo_map=[TempoChange.from_bpm(0, 90), TempoChange.from_bpm(3840, 90),
                             TempoChange.from_bpm(7680, 100)])  # fmt: skip
    score.add(Note(0, 60, 9600))
    window.document.replace_score(score, None)
    window.editor.zoom_to_fit()
    image = window.editor.ruler.grab().toImage()
    geo = window.editor.view.geometry

    def blue_near(tick: int) -> bool:  # the label's blue, antialiased
        x = round(geo.tick_to_x(tick))
        pixels = [image.pixelColor(px, py) for px in range(x + 1, x + 40)
                  for py in range(image.height())]
        return any(p.blue() - p.red() > 60 for p in pixels)

    assert CHANGE_LABEL.blue() - CHANGE_LABEL.red() > 60
    assert blue_near(7680) and not blue_near(3840)


def test_main_window_tempo_edit_keeps_later_tempo_changes(window: MainWindow) -> None:
    window.document.score.tempo_map.append(TempoChange.from_bpm(1920, 60))
    window.set_tempo_bpm(150)
    assert [round(t.tempo_bpm) for t in window.document.score.tempo_map] == [150, 60]


# ---- playback ----------------------------------------------------------------------------
def test_main_window_play_moves_playhead_and_stop_stops(qtbot, window: MainWindow) -> None:
    score = Score(tempo_map=[TempoChange.from_bpm(0, 240)])
    score.add_many([Note(i * 480, 60 + i, 480) for i in range(8)])  # 8 beats = 2 s at 240 BPM
    window.document.replace_score(score, None)
    key(window, "Space")
    assert window.playback.is_playing and window.window_actions.play.text() == "Stop"
    qtbot.waitUntil(lambda: window.playhead_tick > 240, timeout=3000)
    assert window.editor.playhead_tick == window.playhead_tick
    assert window.transport.position_label.text() != "1.1.000   0:00.0"
    key(window, "Space")
    assert not window.playback.is_playing and window.window_actions.play.text() == "Play"
    stopped_at = window.playhead_tick
    qtbot.wait(100)
    assert window.playhead_tick == stopped_at  # no stray position updates after stop
    key(window, "Home")
    assert window.playhead_tick == 0.0


def test_main_window_edits_while_playing_are_heard(qtbot, window: MainWindow) -> None:
    # Ctrl+A, Delete while it plays: the notes stopped only when the snapshot Play took ran
    # out; now the deleted ones end at once and nothing more is played.
    sent = record_sent(window)
    score = Score(tempo_map=[TempoChange.from_bpm(0, 240)])
    # 60 for a second (at 240 BPM), then one note a second
    score.add_many([Note(i * 1920, 60 + i, 1920) for i in range(4)])
    window.document.replace_score(score, None)
    key(window, "Space")
    qtbot.waitUntil(lambda: window.playhead_tick > 240, timeout=3000)
    key(window, "Ctrl+A")
    key(window, "Delete")
    assert window.document.score.notes == ()
    qtbot.waitUntil(lambda: not window.playback.is_playing, timeout=3000)  # nothing is left
    notes = [m for m in sent if m[0] & 0xF0 in (0x80, 0x90)]
    assert notes == [(0x90, 60, 100), (0x80, 60, 0)]  # 61 (due at 1 s) never sounded


def test_main_window_paste_while_playing_leaves_playback_where_it_is(
    qtbot, window: MainWindow
) -> None:
    # Ctrl+V while playing moved the playhead past the paste, and so playback jumped ahead.
    score = Score(tempo_map=[TempoChange.from_bpm(0, 120)])
    score.add_many([Note(i * 480, 60 + i % 12, 480) for i in range(32)])  # 8 s
    window.document.replace_score(score, None)
    window.editor.select_all()
    window.window_actions.copy.trigger()
    window.editor.deselect()
    key(window, "Space")
    qtbot.waitUntil(lambda: window.playhead_tick > 240, timeout=3000)
    before = window.playhead_tick
    window.window_actions.paste.trigger()
    qtbot.wait(100)
    assert window.playback.is_playing
    assert before < window.playhead_tick < before + 960  # on at its pace, no jump of 8 s
    window.playback.stop()


def test_main_window_loop_plays_the_region_over_and_over(qtbot, window: MainWindow) -> None:
    sent = record_sent(window)
    score = Score(tempo_map=[TempoChange.from_bpm(0, 480)])  # a beat is 1/8 s
    score.add_many([Note(i * 480, 60 + i, 480) for i in range(8)])
    window.document.replace_score(score, None)
    window.editor.set_region(960, 1920)  # beats 3 and 4: pitches 62 and 63
    key(window, "L")
    assert window.window_actions.loop.isChecked() and window.loop_range() == (960, 1920)
    window.set_playhead(960)
    key(window, "Space")
    qtbot.waitUntil(lambda: [m[1] for m in sent if m[0] == 0x90].count(62) >= 3, timeout=5000)
    assert window.playback.is_playing
    assert {m[1] for m in sent if m[0] == 0x90} == {62, 63}  # nothing outside the region
    assert 960 <= window.playhead_tick <= 1920
    # off again: it plays on to the end of the song
    key(window, "L")
    assert window.loop_range() is None
    qtbot.waitUntil(lambda: not window.playback.is_playing, timeout=5000)
    assert 67 in {m[1] for m in sent if m[0] == 0x90}
    # with no region, Loop is the whole song to the end of its last bar
    window.editor.clear_region()
    key(window, "L")
    assert window.loop_range() == (0, 3840)
    key(window, "L")


def test_main_window_playback_ends_by_itself(qtbot, window: MainWindow) -> None:
    score = Score(tempo_map=[TempoChange.from_bpm(0, 600)])
    score.add(Note(0, 60, 240))  # half a beat = 0.05 s at 600 BPM
    window.document.replace_score(score, None)
    window.toggle_play()
    qtbot.waitUntil(lambda: not window.playback.is_playing, timeout=3000)
    assert window.window_actions.play.text() == "Play"


def test_main_window_panic_stops_playback(qtbot, window: MainWindow) -> None:
    score = Score()
    score.add(Note(0, 60, 480 * 16))
    window.document.replace_score(score, None)
    window.toggle_play()
    key(window, "Shift+Esc")
    assert not window.playback.is_playing
    assert "All notes off" in window.statusBar().currentMessage()


# ---- editing through the window's shortcuts (the real editor does the work) --------------
def test_main_window_select_all_duplicate_delete_reach_the_editor(window: MainWindow) -> None:
    window.document.push(add_notes([Note(0, 60, 480), Note(480, 62, 480)]))
    window.editor.setFocus()
    key(window, "Ctrl+A")
    assert len(window.document.selection) == 2
    key(window, "Ctrl+D")  # the two notes again, right after themselves
    assert [(n.start_tick, n.pitch) for n in window.document.score.notes] == [
        (0, 60), (480, 62), (960, 60), (1440, 62)
    ]
    key(window, "Ctrl+A")
    key(window, "Del")
    assert len(window.document.score) == 0
    key(window, "Ctrl+Z")  # one undo step brings all four back
    assert len(window.document.score) == 4


def test_main_window_ruler_click_moves_playhead_and_clock(qtbot, window: MainWindow) -> None:
    x_px = round(window.editor.view.geometry.tick_to_x(1920))  # the start of bar 2
    QTest.mouseClick(window.editor.ruler, Qt.MouseButton.LeftButton, pos=QPoint(x_px, 5))
    assert window.playhead_tick == 1920
    assert window.transport.position_label.text() == "2.1.000   0:02.0"  # 4 beats at 120 BPM
    assert window.editor.playhead_tick == 1920


class FailingPort:
    """An output whose synth has gone away: every send fails."""

    def send(self, _message) -> None:
        raise PortError("Sending to MIDI port 'Synth' failed (device gone)")

    def close(self) -> None:
        pass


class QuietPort:
    """An output that takes every message (a synth that is there)."""

    def send(self, _message) -> None:
        pass

    def close(self) -> None:
        pass


class RecordingPort(QuietPort):
    """An output that keeps every message it is sent (in ``sent``)."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, ...]] = []

    def send(self, message) -> None:
        self.sent.append(tuple(message))


def record_sent(window: MainWindow) -> list[tuple[int, ...]]:
    """Give ``window``'s player a recording output; returns the list it fills."""
    port = RecordingPort()
    window.playback.set_port(port)
    return port.sent


@contextmanager
def window_with_ports(tmp_path: Path, settings: QSettings, names: list[str]):
    """A window started with ``names`` listed as MIDI outputs (and nothing chosen yet)."""
    w = MainWindow(settings=settings, autosave_dir=tmp_path / "autosave",
                   list_ports=lambda: PortListing(names, None),
                   player_factory=thread_player_factory)
    try:
        yield w
    finally:
        w.shutdown()
        w.close()
        w.deleteLater()


def dialog_choices(monkeypatch: pytest.MonkeyPatch, answer: int) -> list[object]:
    """What each Preferences dialog shows selected as it opens; each is answered ``answer``."""
    shown: list[object] = []

    def exec_(dialog: PreferencesDialog) -> int:
        shown.append(dialog.choice())
        return answer

    monkeypatch.setattr(PreferencesDialog, "exec", exec_)
    return shown


def test_main_window_preferences_open_on_the_output_in_use(
    qtbot, tmp_path: Path, settings: QSettings, dialogs: Dialogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # First start with a synth present and no choice saved: the app plays to the first port,
    # but the dialog opened on "None (silent)", so OK with nothing touched silenced it.
    from composer_app.gui.preferences import MidiOutputChoice
    from composer_app.midi import ports

    monkeypatch.setattr(ports.PortSpec, "open", lambda self: QuietPort())
    synth = "Synth:Synth input 128:0"
    with window_with_ports(tmp_path, settings, [synth]) as w:
        assert w.midi_status_label.text() == f"MIDI: {synth}"
        assert w.prefs.midi_output() is None
        shown = dialog_choices(monkeypatch, PreferencesDialog.DialogCode.Accepted)
        w.show_preferences()
        assert shown == [MidiOutputChoice("port", synth)]
        assert w.midi_status_label.text() == f"MIDI: {synth}"
        assert w.prefs.midi_output() == MidiOutputChoice("port", synth)


def test_main_window_preferences_do_not_offer_a_port_that_failed_to_open(
    qtbot, tmp_path: Path, settings: QSettings, dialogs: Dialogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from composer_app.gui.preferences import NO_OUTPUT
    from composer_app.midi import ports

    def fail(self):
        raise PortError("cannot open 'Synth' (busy)")

    monkeypatch.setattr(ports.PortSpec, "open", fail)
    with window_with_ports(tmp_path, settings, ["Synth"]) as w:
        assert w.midi_status_label.text() == "MIDI: none (silent)"
        shown = dialog_choices(monkeypatch, PreferencesDialog.DialogCode.Rejected)
        w.show_preferences()
        assert shown == [NO_OUTPUT]  # what is in use: nothing, not the port that failed


def test_main_window_preferences_ok_unchanged_keeps_the_port_reconnect_reopens_it(
    qtbot, tmp_path: Path, settings: QSettings, dialogs: Dialogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # OK with nothing changed reopened the output: the notes sounding were cut, and a virtual
    # port came back as "Composer-01", away from the synth connected to "Composer".
    from composer_app.gui.preferences import NO_OUTPUT
    from composer_app.midi import ports

    opened: list[RecordingPort] = []

    def open_recording(_spec):
        opened.append(RecordingPort())
        return opened[-1]

    monkeypatch.setattr(ports.PortSpec, "open", open_recording)
    with window_with_ports(tmp_path, settings, ["Synth"]) as w:
        assert len(opened) == 1
        score = Score()
        score.add(Note(0, 48, 480 * 64))
        w.document.replace_score(score, None)
        w.toggle_play()
        qtbot.waitUntil(lambda: (0x90, 48, 100) in opened[0].sent, timeout=3000)
        dialog_choices(monkeypatch, PreferencesDialog.DialogCode.Accepted)
        w.show_preferences()  # OK, the same output chosen
        assert len(opened) == 1 and w.playback.is_playing
        assert opened[0].sent == [(0x90, 48, 100)]  # the bass note sounds on
        # after a restart of the MIDI system the user reconnects on purpose
        w.window_actions.reconnect.trigger()
        assert len(opened) == 2 and w.midi_status_label.text() == "MIDI: Synth"
        assert (0x80, 48, 0) in opened[0].sent  # the old connection was silenced first
        monkeypatch.setattr(PreferencesDialog, "choice", lambda _dialog: NO_OUTPUT)
        w.show_preferences()  # another choice: applied
        assert w.midi_status_label.text() == "MIDI: none (silent)"
        w.playback.stop()


def test_main_window_reconnect_starts_a_new_player_and_asks_to_connect_a_virtual_port(
    qtbot, tmp_path: Path, settings: QSettings, dialogs: Dialogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reconnect after a JACK restart reopened the port in the old player, where nothing
    # reached the new server; and a virtual port made anew has no synth connected to it,
    # which nothing said.
    from composer_app.gui.preferences import MidiOutputChoice, Preferences
    from composer_app.midi import ports

    opened: list[RecordingPort] = []
    closed: list[RecordingPort] = []

    def open_recording(_spec):
        opened.append(RecordingPort())
        opened[-1].close = lambda port=opened[-1]: closed.append(port)
        return opened[-1]

    monkeypatch.setattr(ports.PortSpec, "open", open_recording)
    Preferences(settings).set_midi_output(MidiOutputChoice("virtual", "Composer"))
    with window_with_ports(tmp_path, settings, []) as w:
        first_player = w.playback.player
        messages: list[str] = []
        w.statusBar().messageChanged.connect(messages.append)
        w.window_actions.reconnect.trigger()
        assert w.playback.player is not first_player  # a new player, its port opened anew
        assert len(opened) == 2 and opened[0] in closed and opened[1] not in closed
        assert "(made anew: connect the synth to “Composer” again)" in messages[-1]
        worker = w.continuation._generation.worker  # told on its own thread (queued)
        qtbot.waitUntil(lambda: worker._player is w.playback.player, timeout=3000)


def test_main_window_play_says_when_the_chosen_synth_is_gone(
    qtbot, tmp_path: Path, settings: QSettings, dialogs: Dialogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A synth that quit went unnoticed: playback went on silently and the label still named
    # it. Nothing reports it, so Play (and Continue) look at the port list.
    from composer_app.gui.preferences import OUTPUT_CHECK_DELAY_MS, MidiOutputChoice, Preferences
    from composer_app.midi import ports

    monkeypatch.setattr(ports.PortSpec, "open", lambda _spec: RecordingPort())
    Preferences(settings).set_midi_output(MidiOutputChoice("port", "Synth"))
    listed = ["Synth", "Other"]
    with window_with_ports(tmp_path, settings, listed) as w:
        w.document.push(add_notes([Note(0, 60, 480)]))
        messages: list[str] = []
        w.statusBar().messageChanged.connect(messages.append)
        def play_and_look() -> None:  # the output is looked for just after Play
            w.toggle_play()
            qtbot.wait(OUTPUT_CHECK_DELAY_MS + 100)
            w.playback.stop()

        play_and_look()
        assert w.midi_status_label.text() == "MIDI: Synth" and not any("gone" in m for m in messages)
        listed.remove("Synth")  # the synth quits
        play_and_look()
        assert w.midi_status_label.text() == "MIDI: Synth (gone)"
        assert any(m.startswith("The MIDI output Synth is gone (did the synth quit?)")
                   and "Transport ▸ Reconnect MIDI Output" in m for m in messages)
        listed.append("Synth")  # back (Reconnect, or the same connection working again)
        play_and_look()
        assert w.midi_status_label.text() == "MIDI: Synth"


def test_main_window_says_silent_when_a_restarted_player_cannot_reopen_the_output(
    qtbot, tmp_path: Path, settings: QSettings, dialogs: Dialogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The player's process died and the new one could not open the synth (gone meanwhile):
    # the window went on naming the synth, and Preferences OK (the same output) did nothing.
    from composer_app.midi import ports

    available = {"Synth": True}

    def open_if_there(spec):
        if not available.get(spec.name):
            raise PortError(f"MIDI output {spec.name!r} is not available")
        return QuietPort()

    monkeypatch.setattr(ports.PortSpec, "open", open_if_there)
    from composer_app.gui.preferences import MidiOutputChoice

    synth = MidiOutputChoice("port", "Synth")
    for run, saved in enumerate((synth, None)):  # the user's choice, or the first port
        fresh = QSettings(str(tmp_path / f"settings{run}.ini"), QSettings.Format.IniFormat)
        with window_with_ports(tmp_path, fresh, ["Synth"]) as w:
            if saved is not None:
                w.prefs.set_midi_output(saved)
            assert w.midi_status_label.text() == "MIDI: Synth"
            available["Synth"] = False
            w.playback._replace_dead_player("the MIDI player process has ended")
            assert w.playback.port is None
            assert w.midi_status_label.text() == "MIDI: none (silent)"
            available["Synth"] = True  # the synth is back
            shown = dialog_choices(monkeypatch, PreferencesDialog.DialogCode.Accepted)
            w.show_preferences()  # OK, the same output: it is opened again
            assert shown == [synth]  # offered as before, not "None (silent)"
            assert w.midi_status_label.text() == "MIDI: Synth" and w.playback.port is not None


def test_main_window_port_failure_stops_and_is_reported(qtbot, window: MainWindow) -> None:
    window.playback.set_port(FailingPort())
    score = Score()
    score.add(Note(0, 60, 480 * 8))
    window.document.replace_score(score, None)
    window.toggle_play()
    qtbot.waitUntil(lambda: not window.playback.is_playing, timeout=3000)
    assert "device gone" in window.statusBar().currentMessage()
    assert window.window_actions.play.text() == "Play"


def test_main_window_opens_an_example_seed_untitled(window: MainWindow) -> None:
    from composer_app import paths

    examples = paths.seed_melodies()
    assert examples, "resources/seeds ships example melodies"
    actions = window.examples_menu.actions()
    assert len(actions) == len(examples)
    actions[0].trigger()
    score = window.document.score
    assert len(score) == len(read_mid(examples[0]))
    # untitled: Save asks for a name, the shipped example is never overwritten
    assert window.file_path is None and not window.document.is_dirty
    assert window.playhead_tick == score.end_tick  # ready to continue after the melody


def test_main_window_preview_sounds_on_the_notes_channel(qtbot, window: MainWindow) -> None:
    # a part on channel 4 of a multitimbral synth: its notes previewed on channel 0 sounded
    # another instrument
    sent = record_sent(window)
    note = Note(0, 72, 480, 80, channel=4)
    window.document.push(add_notes([note]))
    window.editor.view.set_selection([note])
    window.editor.transpose_selection(1)
    qtbot.waitUntil(lambda: (0x84, 73, 0) in sent, timeout=3000)  # its note-off, 0.25 s on
    assert sent == [(0x94, 73, 80), (0x84, 73, 0)]
    # with its part's instrument, where the file gives one: the program in force at the
    # note's start, sent before the note (once)
    window.document.score.program_changes = [ProgramChange(0, 4, 40), ProgramChange(960, 4, 42)]
    sent.clear()
    window.editor.transpose_selection(1)
    qtbot.waitUntil(lambda: (0x84, 74, 0) in sent, timeout=3000)
    assert sent == [(0xC4, 40), (0x94, 74, 80), (0x84, 74, 0)]
    # the playhead elsewhere (in the part's next instrument) changes nothing: a note at tick
    # 0 sounded with the instrument at the playhead, not its own
    window.set_playhead(960)
    sent.clear()
    window.editor.transpose_selection(1)
    qtbot.waitUntil(lambda: (0x84, 75, 0) in sent, timeout=3000)
    assert sent == [(0x94, 75, 80), (0x84, 75, 0)]
    # a note in the second instrument's span sounds with it ...
    later = Note(1920, 60, 480, 80, channel=4)
    window.document.push(add_notes([later]))
    window.set_playhead(0)
    window.editor.view.set_selection([later])
    sent.clear()
    window.editor.transpose_selection(1)
    qtbot.waitUntil(lambda: (0x84, 61, 0) in sent, timeout=3000)
    assert sent == [(0xC4, 42), (0x94, 61, 80), (0x84, 61, 0)]
    # ... and a key clicked, which belongs to no note, with the one at the playhead
    sent.clear()
    window.editor.note_preview_requested.emit(64, 90, 4, -1)
    qtbot.waitUntil(lambda: (0x84, 64, 0) in sent, timeout=3000)
    assert sent == [(0xC4, 40), (0x94, 64, 90), (0x84, 64, 0)]


def test_main_window_preview_while_playing_keeps_the_instrument_playing(
    qtbot, window: MainWindow
) -> None:
    # While the song played, a note grabbed in the part's second instrument's span sent
    # that instrument's program change on the channel playing the first, and nothing sent
    # the first back: the part went on with the wrong instrument.
    sent = record_sent(window)
    long = Note(0, 48, 480 * 16, 80, channel=4)  # sounds for 4 s at 120 BPM
    later = Note(1920 * 4, 60, 480, 80, channel=4)
    window.document.push(add_notes([long, later]))
    window.document.score.program_changes = [ProgramChange(0, 4, 40), ProgramChange(7680, 4, 42)]
    window.set_playhead(0)
    window.toggle_play()
    qtbot.waitUntil(lambda: (0x94, 48, 80) in sent, timeout=3000)
    window.editor.view.set_selection([later])
    window.editor.transpose_selection(1)
    qtbot.waitUntil(lambda: (0x84, 61, 0) in sent, timeout=3000)
    window.toggle_play()
    assert (0xC4, 42) not in sent  # the part's instrument playing (40) sounded the preview
    assert sent[:2] == [(0xC4, 40), (0x94, 48, 80)] and (0x94, 61, 80) in sent

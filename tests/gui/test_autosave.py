"""Autosave: written on a timer while dirty, never over the user's file, offered after a crash."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import mido  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from composer_app.core.edits import add_notes  # noqa: E402
from composer_app.core.note import Note  # noqa: E402
from composer_app.core.score import Score, TempoChange  # noqa: E402
from composer_app.gui.autosave import (  # noqa: E402
    AUTOSAVE_DIR_ENV,
    Autosaver,
    autosave_directory,
    find_recoveries,
)
from composer_app.gui.main_window import MainWindow  # noqa: E402
from composer_app.midi.files import read_mid, write_mid  # noqa: E402
from composer_app.midi.ports import PortListing  # noqa: E402

Btn = QMessageBox.StandardButton


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def crash_leftover(autosave: Autosaver, directory: Path) -> Path:
    """Copy this session's autosave as if a process that died had left it behind."""
    pid = dead_pid()
    mid = directory / f"session-{pid}.mid"
    shutil.copy(autosave.mid_path, mid)
    shutil.copy(autosave.info_path, mid.with_suffix(".json"))
    return mid


def crashed_sessions(make_window, tmp_path: Path, count: int = 1) -> list[Path]:
    """``count`` autosaves of one unsaved note, left behind by sessions that died."""
    first = make_window()
    first.document.push(add_notes([Note(0, 60, 480)]))
    assert first.autosaver.autosave_now()
    return [crash_leftover(first.autosaver, tmp_path / "autosave") for _ in range(count)]


def test_autosave_directory_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(AUTOSAVE_DIR_ENV, str(tmp_path / "here"))
    assert autosave_directory() == tmp_path / "here"
    monkeypatch.delenv(AUTOSAVE_DIR_ENV)
    assert autosave_directory().name == "autosave"


def test_autosave_writes_only_while_dirty(tmp_path: Path) -> None:
    score = Score(tempo_map=[TempoChange.from_bpm(0, 90)])
    score.add(Note(0, 60, 480))
    state = {"dirty": True}
    saver = Autosaver(tmp_path / "auto", lambda: (score, "/music/song.mid", state["dirty"]))
    assert saver.interval_ms == 60_000
    assert saver.autosave_now()
    again = read_mid(saver.mid_path)
    assert [n.pitch for n in again.notes] == [60] and again.initial_tempo_bpm == pytest.approx(90)
    assert json.loads(saver.info_path.read_text())["original_path"] == "/music/song.mid"
    state["dirty"] = False  # saved meanwhile: the autosave is no longer needed
    assert not saver.autosave_now()
    assert not saver.mid_path.exists() and not saver.info_path.exists()


def test_autosave_does_not_write_again_what_it_already_holds(tmp_path: Path) -> None:
    # An idle user with unsaved work: a large score was written again every minute, a
    # visible freeze each time (0.3 s at 100,000 notes), with nothing new in it.
    score = Score()
    score.add(Note(0, 60, 480))
    snapshots: list[int] = []
    state = {"edits": 1}

    def snapshot():
        snapshots.append(1)
        return score, None, True

    saver = Autosaver(tmp_path / "auto", snapshot, state=lambda: state["edits"])
    assert saver.autosave_now() and len(snapshots) == 1
    assert not saver.autosave_now() and len(snapshots) == 1  # not even a snapshot taken
    state["edits"] = 2  # an edit
    assert saver.autosave_now() and len(snapshots) == 2
    saver.mid_path.unlink()  # gone (someone tidied the folder): written again
    assert saver.autosave_now() and saver.mid_path.exists()
    saver.discard()  # saved by the user; the next edit's autosave is new
    assert saver.autosave_now() and saver.mid_path.exists()


def test_autosave_failure_is_reported_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")  # the autosave "folder" is a file: mkdir fails
    saver = Autosaver(blocker / "auto", lambda: (Score(), None, True))
    failures: list[str] = []
    saver.failed.connect(failures.append)
    assert not saver.autosave_now()
    assert len(failures) == 1 and "Autosave" in failures[0]


def test_find_recoveries_skips_running_sessions(tmp_path: Path) -> None:
    saver = Autosaver(tmp_path, lambda: (Score(), None, True))
    saver.autosave_now()  # this process is alive: not a crash
    assert find_recoveries(tmp_path) == []
    leftover = crash_leftover(saver, tmp_path)
    found = find_recoveries(tmp_path)
    assert [r.mid_path for r in found] == [leftover]
    assert find_recoveries(tmp_path / "missing") == []


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> list:
    answers: list = []
    shown: list[str] = []

    def question(_parent, title, text, *_args, **_kwargs):
        shown.append(text)
        assert answers, f"unexpected question: {title}: {text}"
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    monkeypatch.setattr(
        QMessageBox, "critical", staticmethod(lambda *a, **k: shown.append(a[2]) or Btn.Ok)
    )
    return [answers, shown]


@pytest.fixture
def make_window(qtbot, tmp_path: Path, dialogs):
    windows: list[MainWindow] = []

    def make(interval_ms: int = 60_000) -> MainWindow:
        w = MainWindow(
            settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
            autosave_dir=tmp_path / "autosave",
            autosave_interval_ms=interval_ms,
            list_ports=lambda: PortListing([], "no MIDI (test)"),
        )
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.shutdown()
        w.close()
        w.deleteLater()


def test_autosave_timer_writes_then_recovery_is_offered_and_loads(
    qtbot, make_window, dialogs, tmp_path: Path
) -> None:
    answers, shown = dialogs
    user_file = tmp_path / "mine.mid"
    write_mid(Score(), user_file)
    user_bytes = user_file.read_bytes()
    first = make_window(interval_ms=50)  # the interval is injectable
    assert first.open_file(str(user_file))
    first.document.push(add_notes([Note(0, 67, 480), Note(480, 69, 480)]))
    qtbot.waitUntil(first.autosaver.mid_path.exists, timeout=3000)
    assert user_file.read_bytes() == user_bytes  # autosave never writes the user's file
    leftover = crash_leftover(first.autosaver, tmp_path / "autosave")

    second = make_window()
    answers.append(Btn.Yes)
    assert second.offer_recovery()
    assert "mine.mid" in shown[0]
    assert [n.pitch for n in second.document.score.notes] == [67, 69]
    assert second.document.is_dirty
    assert second.file_path == str(user_file)  # remembered ...
    assert user_file.read_bytes() == user_bytes  # ... but not written until saved
    assert second.windowTitle() == "mine.mid* - Composer"
    assert not leftover.exists()  # taken over by the second session's own autosave
    assert second.autosaver.mid_path.exists()


def test_recovered_work_of_a_file_with_drums_still_asks_before_saving_over_it(
    make_window, dialogs, tmp_path: Path
) -> None:
    answers, shown = dialogs
    user_file = tmp_path / "band.mid"
    mid = mido.MidiFile(type=0, ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack([
        mido.Message("note_on", note=36, velocity=100, channel=9, time=0),  # a kick drum
        mido.Message("note_on", note=60, velocity=80, time=0),
        mido.Message("note_off", note=60, time=480),
        mido.Message("note_off", note=36, channel=9, time=0),
    ]))
    mid.save(str(user_file))
    user_bytes = user_file.read_bytes()
    first = make_window()
    assert first.open_file(str(user_file))
    first.document.push(add_notes([Note(480, 62, 480)]))
    assert first.autosaver.autosave_now()
    crash_leftover(first.autosaver, tmp_path / "autosave")

    second = make_window()
    answers.extend([Btn.Yes, Btn.Cancel])  # recover it; then do not replace the original
    assert second.offer_recovery()
    assert not second.save()
    assert "1 drum notes dropped" in shown[1] and user_file.read_bytes() == user_bytes


def test_autosave_that_cannot_be_read_is_kept_aside_not_deleted(
    make_window, dialogs, tmp_path: Path
) -> None:
    answers, shown = dialogs
    [leftover] = crashed_sessions(make_window, tmp_path)
    leftover.write_bytes(leftover.read_bytes()[:20])  # truncated (a crash mid-write elsewhere)
    damaged = leftover.read_bytes()
    second = make_window()
    answers.append(Btn.Yes)
    assert not second.offer_recovery()
    kept = leftover.with_name(f"unreadable-{leftover.name}")
    assert kept.read_bytes() == damaged  # the only copy of the work survives
    assert str(kept) in shown[1] and "could not be read" in shown[1]
    assert not second.offer_recovery()  # and it is not offered again at every start


def test_autosave_recovery_declined_deletes_it(make_window, dialogs, tmp_path: Path) -> None:
    answers, _shown = dialogs
    [leftover] = crashed_sessions(make_window, tmp_path)
    second = make_window()
    answers.append(Btn.Discard)
    assert not second.offer_recovery()
    assert not leftover.exists() and len(second.document.score) == 0
    assert not second.offer_recovery()  # nothing left to offer: no dialog


def test_autosave_recovery_says_when_more_sessions_left_work(
    make_window, dialogs, tmp_path: Path
) -> None:
    # Two crashed sessions: one was offered and the other went unmentioned until later.
    answers, shown = dialogs
    leftovers = crashed_sessions(make_window, tmp_path, count=2)
    assert leftovers[0] != leftovers[1]
    second = make_window()
    answers.append(Btn.Yes)
    assert second.offer_recovery()
    assert "1 more session left unsaved work; it is offered at the next start" in shown[-1]
    third = make_window()
    answers.append(Btn.Discard)
    assert not third.offer_recovery()
    assert "more session" not in shown[-1]  # the last one left


def test_autosave_clean_exit_deletes_it(make_window, dialogs) -> None:
    answers, _shown = dialogs
    window = make_window()
    window.show()
    window.document.push(add_notes([Note(0, 60, 480)]))
    assert window.autosaver.autosave_now()
    answers.append(Btn.Discard)
    assert window.close()
    assert not window.autosaver.mid_path.exists()
    assert not window.autosaver.info_path.exists()


def test_autosave_of_the_window_writes_only_after_edits(make_window) -> None:
    window = make_window()
    window.document.push(add_notes([Note(0, 60, 480)]))
    assert window.autosaver.autosave_now()
    assert not window.autosaver.autosave_now()  # nothing new
    window.document.undo_stack.undo()
    window.document.undo_stack.redo()  # the same notes, but edits: written again
    assert window.autosaver.autosave_now()
    window.document.push(add_notes([Note(480, 62, 480)]))
    assert window.autosaver.autosave_now()
    assert [n.pitch for n in read_mid(window.autosaver.mid_path).notes] == [60, 62]


def test_autosave_of_a_crashed_launch_with_our_pid_is_offered_not_hidden(tmp_path: Path) -> None:
    # In a container a new launch often gets the crashed launch's process id: its autosave
    # must still count as a crash leftover (and not be deleted as "ours").
    score = Score()
    score.add(Note(0, 64, 480))
    saver = Autosaver(tmp_path / "auto", lambda: (score, None, True))
    assert saver.autosave_now()
    leftover = tmp_path / "auto" / f"session-{os.getpid()}-0123456789ab.mid"
    shutil.copy(saver.mid_path, leftover)
    shutil.copy(saver.info_path, leftover.with_suffix(".json"))
    found = find_recoveries(tmp_path / "auto")
    assert [r.mid_path for r in found] == [leftover]  # ours (alive) is not offered
    saver.discard()
    assert leftover.exists()  # discarding our own autosave leaves the crashed one alone


_HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("locked", flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="session locks use POSIX flock")
def test_a_session_is_alive_while_it_holds_its_lock_whatever_its_process_id(
    tmp_path: Path,
) -> None:
    saver = Autosaver(tmp_path, lambda: (Score(), None, True))
    assert saver.autosave_now()
    assert saver.lock_path.exists()
    # A crashed session's autosave, named with the id of a process that is alive now (an
    # unrelated program after a reboot): its lock file is free, so it is offered.
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    holder = None
    try:
        crashed = tmp_path / f"session-{unrelated.pid}-0123456789ab.mid"
        shutil.copy(saver.mid_path, crashed)
        crashed.with_suffix(".lock").touch()
        assert [r.mid_path for r in find_recoveries(tmp_path)] == [crashed]
        # A running session whose process id is gone from this view (or reused): its lock
        # is held, so it is not offered; once it dies, the system frees the lock.
        running = tmp_path / f"session-{dead_pid()}-0123456789ac.mid"
        shutil.copy(saver.mid_path, running)
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLD_LOCK, str(running.with_suffix(".lock"))],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert [r.mid_path for r in find_recoveries(tmp_path)] == [crashed]
        holder.kill()
        holder.wait()
        assert {r.mid_path for r in find_recoveries(tmp_path)} == {crashed, running}
    finally:
        unrelated.kill()
        unrelated.wait()
        if holder is not None and holder.poll() is None:
            holder.kill()
            holder.wait()
    # a clean exit lets go of our lock and removes its file
    saver.discard()
    assert not saver.lock_path.exists() and not saver.mid_path.exists()


def test_a_damaged_autosave_folder_still_offers_the_good_autosave(tmp_path: Path) -> None:
    saver = Autosaver(tmp_path / "src", lambda: (Score(), None, True))
    assert saver.autosave_now()
    folder = tmp_path / "auto"
    folder.mkdir()
    good = folder / f"session-{dead_pid()}-0123456789ab.mid"
    shutil.copy(saver.mid_path, good)
    good.with_suffix(".json").write_text(json.dumps({"original_path": ["not", "a", "path"]}))
    dangling = folder / f"session-{dead_pid()}-0123456789ac.mid"
    dangling.symlink_to(folder / "gone.mid")
    found = find_recoveries(folder)
    assert [r.mid_path for r in found] == [good]
    assert found[0].original_path is None  # not a path: ignored, as an unreadable .json is


def test_recovered_work_that_cannot_be_autosaved_keeps_the_old_autosave(
    make_window, dialogs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The disk is full at the start after a crash: the recovered work cannot be autosaved
    # again, so the crashed session's autosave must stay (the only copy on disk) and the
    # user must be told so, not in a status line that the next one replaces.
    answers, shown = dialogs
    [leftover] = crashed_sessions(make_window, tmp_path)
    from composer_app.gui import autosave as autosave_module

    def disk_full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(autosave_module, "write_mid", disk_full)
    warnings: list[str] = []
    monkeypatch.setattr(
        QMessageBox, "warning", staticmethod(lambda *a, **k: warnings.append(a[2]) or Btn.Ok)
    )
    second = make_window()
    answers.append(Btn.Yes)
    assert second.offer_recovery()
    assert [n.pitch for n in second.document.score.notes] == [60]
    assert leftover.exists() and leftover.with_suffix(".json").exists()
    assert len(warnings) == 1
    assert "No space left on device" in warnings[0] and str(leftover) in warnings[0]
    # another launch meanwhile is not offered it (its Discard would delete this session's
    # only copy on disk): this session holds its lock now
    code = (
        "from pathlib import Path; from composer_app.gui.autosave import find_recoveries;"
        f"print([r.mid_path.name for r in find_recoveries(Path({str(leftover.parent)!r}))])"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=60, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == "[]"
    # once this session's own autosave is written, the old one goes
    monkeypatch.setattr(autosave_module, "write_mid", write_mid)
    assert second.autosaver.autosave_now()
    assert not leftover.exists() and second.autosaver.mid_path.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="session locks use POSIX flock")
def test_a_file_system_without_flock_gives_up_the_lock_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only a lock another launch holds for a moment is worth retrying; a file system that
    # refuses flock paused every autosave by 20 tries of 5 ms.
    import errno

    from composer_app.gui import autosave as autosave_module

    calls: list[int] = []

    def no_flock(_fd: int, _op: int) -> None:
        calls.append(1)
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(autosave_module.fcntl, "flock", no_flock)
    assert autosave_module.hold_lock(tmp_path / "session.lock") is None
    assert calls == [1]
    assert not (tmp_path / "session.lock").exists()  # a lock file left would only mislead
    # there, a crashed session's autosave is told by its process id, as without locks
    leftover = tmp_path / f"session-{dead_pid()}-0123456789ab.mid"
    write_mid(Score(), leftover)
    leftover.with_suffix(".lock").touch()  # left by a launch before (no lock in it)
    assert [r.mid_path for r in find_recoveries(tmp_path)] == [leftover]


def test_end_session_autosaves_the_work_and_a_pending_take_and_keeps_it(make_window) -> None:
    # SIGTERM or SIGHUP (see app.py): the work, a pending take with it (as accepted; the quit
    # question's Save accepts it), is autosaved and kept for the next start; nothing asks
    window = make_window()
    window.document.push(add_notes([Note(0, 60, 480)]))
    assert window.autosaver.autosave_now()  # the minute's autosave: the take not yet in it
    window.document.set_generated_notes([Note(480, 64, 480, generated=True)])
    assert window.end_session()
    assert [(n.pitch, n.generated) for n in read_mid(window.autosaver.mid_path).notes] == [
        (60, False), (64, False)
    ]
    assert window.autosaver.mid_path.exists() and window.close()  # closing asks nothing
    assert window.autosaver.mid_path.exists()
    # a clean window leaves nothing behind
    clean = make_window()
    assert not clean.end_session()
    assert not clean.autosaver.mid_path.exists()


def test_a_failing_autosave_stays_in_the_status_bar_until_one_works(
    make_window, tmp_path: Path
) -> None:
    # A full disk showed a ten-second status line each minute, gone at once under any other
    # message: nothing lasting said the work was unprotected.
    (tmp_path / "autosave").write_text("a file where the folder belongs")  # mkdir fails
    window = make_window()
    label = window.autosave_status_label
    assert label.isHidden()
    window.document.push(add_notes([Note(0, 60, 480)]))
    assert not window.autosaver.autosave_now()
    assert not label.isHidden() and "not protected" in label.toolTip()
    window.statusBar().showMessage("something else", 1000)
    assert not label.isHidden()  # a permanent widget: other messages leave it
    (tmp_path / "autosave").unlink()
    assert window.autosaver.autosave_now()
    assert label.isHidden()
    # and saving (the document clean) clears it too
    window.autosaver.discard()
    shutil.rmtree(tmp_path / "autosave")
    (tmp_path / "autosave").write_text("blocked again")
    window.document.push(add_notes([Note(480, 62, 480)]))
    assert not window.autosaver.autosave_now() and not label.isHidden()
    window.document.mark_clean()
    assert label.isHidden()

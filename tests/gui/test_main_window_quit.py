"""Quitting while playing: the real app in a subprocess stops the notes and exits cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from composer_app.core.note import Note
from composer_app.core.score import Score
from composer_app.midi.files import write_mid
from tests.test_entry_point import app_env

ROOT = Path(__file__).resolve().parents[2]


def write_song(path: Path, n_beats: int) -> Path:
    """A .mid of ``n_beats`` quarter notes at 120 BPM."""
    score = Score()
    score.add_many([Note(i * 480, 60 + i % 12, 480) for i in range(n_beats)])
    write_mid(score, path)
    return path


def test_main_window_quit_during_playback_exits_cleanly(tmp_path: Path) -> None:
    song = write_song(tmp_path / "long.mid", 64)  # 32 s at 120 BPM
    env = app_env(tmp_path)
    # --test-play-then-quit: play once shown, close the window 0.5 s later (still playing)
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), str(song), "--test-play-then-quit"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # it was playing when the window closed, 0.5 s in: about 480 ticks at 120 BPM
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("quitting:"))
    assert "playing=True" in line
    assert int(line.rsplit("tick=", 1)[1]) > 0
    assert "QThread: Destroyed while thread is still running" not in done.stderr
    assert "QThread destroyed" not in done.stderr
    assert "Traceback" not in done.stderr


def _children(pid: int) -> list[str]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return path.read_text().split() if path.exists() else []


def test_ctrl_c_in_the_terminal_closes_the_window_without_a_traceback(tmp_path: Path) -> None:
    import signal
    import time

    import pytest

    if not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists():
        pytest.skip("needs Linux /proc to see when the app's player process is up")
    song = write_song(tmp_path / "song.mid", 8)
    env = app_env(tmp_path)
    # its own process group, as a terminal gives it: Ctrl+C reaches the app and its player
    app = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), str(song)], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _children(app.pid) and app.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _children(app.pid), "the player process never started"
        time.sleep(1.5)  # the window is up and the event loop runs
        os.killpg(app.pid, signal.SIGINT)
        _out, err = app.communicate(timeout=30)
    finally:
        if app.poll() is None:
            os.killpg(app.pid, signal.SIGKILL)
            app.wait()
    assert app.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "Ctrl+C: closing Composer" in err


def _wait_for_line(stream, prefix: str, timeout_s: float = 60.0) -> str:
    import select
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _w, _x = select.select([stream], [], [], 0.5)
        if ready:
            line = stream.readline()
            if line.startswith(prefix):
                return line
            if not line:
                break
    raise AssertionError(f"no line starting {prefix!r} within {timeout_s} s")



@contextmanager
def _app_process(tmp_path: Path, *args: str, preexec_fn=None) -> Iterator[subprocess.Popen]:
    """The real app (main.py with ``args``), its settings and autosaves in ``tmp_path``, its
    output piped; killed at the end if it still runs."""
    app = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, env=app_env(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn,
    )  # fmt: skip
    try:
        yield app
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_terminated_with_unsaved_work_autosaves_it_for_the_next_start(
    tmp_path: Path, signame: str
) -> None:
    # Shutdown, logout or a `kill` (SIGTERM), or closing the terminal (SIGHUP), ended the app
    # at once: the work since the last autosave (up to a minute; all of it in a new score)
    # was lost, and the next start had nothing to offer.
    import signal

    from composer_app.gui.autosave import find_recoveries

    with _app_process(tmp_path, "--test-edit") as app:
        assert _wait_for_line(app.stdout, "edited:") == "edited: 8 notes\n"
        app.send_signal(getattr(signal, signame))
        _out, err = app.communicate(timeout=30)
    assert app.returncode == 0, err
    assert "Traceback" not in err
    assert f"{signame}: closing Composer (unsaved work autosaved" in err
    recoveries = find_recoveries(tmp_path / "autosave")
    assert len(recoveries) == 1  # offered at the next start
    assert [(n.start_tick, n.pitch) for n in recoveries[0].load().notes] == [
        (i * 480, 60 + i) for i in range(8)
    ]


def test_terminated_during_the_recovery_question_leaves_it_unanswered(tmp_path: Path) -> None:
    # The question's answer, had the signal closed it, could be Discard: the crashed
    # session's work would be deleted. The process ends from inside the question instead.
    import signal
    import time

    from composer_app.gui.autosave import find_recoveries

    autosave = tmp_path / "autosave"
    autosave.mkdir()
    crashed = autosave / "session-999999-deadbeef0000.mid"
    write_song(crashed, 4)
    with _app_process(tmp_path) as app:
        time.sleep(4)  # the window is up and asks whether to recover
        app.send_signal(signal.SIGTERM)
        _out, err = app.communicate(timeout=30)
    assert app.returncode == 0, err
    assert "SIGTERM: a question was open; it stays unanswered" in err
    assert crashed.exists()
    assert [r.mid_path for r in find_recoveries(autosave)] == [crashed]


def test_under_nohup_a_closed_terminal_leaves_the_app_running(tmp_path: Path) -> None:
    # nohup sets SIGHUP to be ignored before it starts the app: the app's own handler must
    # not take that back (a closed terminal quit it)
    import signal
    import time

    def ignore_sighup() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    with _app_process(tmp_path, "--test-edit", preexec_fn=ignore_sighup) as app:
        assert _wait_for_line(app.stdout, "edited:") == "edited: 8 notes\n"
        app.send_signal(signal.SIGHUP)
        time.sleep(2)
        assert app.poll() is None  # still running
        app.send_signal(signal.SIGTERM)  # (and SIGTERM still ends it, autosaving)
        _out, err = app.communicate(timeout=30)
    assert app.returncode == 0 and "SIGHUP" not in err
    assert "SIGTERM: closing Composer (unsaved work autosaved" in err

"""Quitting while playing: the real app in a subprocess stops the notes and exits cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from composer_app.core.note import Note
from composer_app.core.score import Score
from composer_app.midi.files import write_mid

ROOT = Path(__file__).resolve().parents[2]


def test_main_window_quit_during_playback_exits_cleanly(tmp_path: Path) -> None:
    song = tmp_path / "long.mid"
    score = Score()
    score.add_many([Note(i * 480, 60 + i % 12, 480) for i in range(64)])  # 32 s at 120 BPM
    write_mid(score, song)
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "COMPOSER_SETTINGS_FILE": str(tmp_path / "settings.ini"),
        "COMPOSER_AUTOSAVE_DIR": str(tmp_path / "autosave"),
    }
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

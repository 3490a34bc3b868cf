"""The command line finds shipped models by name and stays light for simple commands."""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from composer_app import paths
from composer_app.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (paths.model_dir() / "config.json").is_file(),
                    reason="the shipped model is not built")
def test_cli_evaluate_finds_a_shipped_model_by_name(tmp_path: Path, capsys) -> None:
    # one 16-step C-major tune: C E G held, then F A C
    tune = [[60, 64, 67]] * 8 + [[65, 69, 72]] * 8
    data = tmp_path / "tiny.json.gz"
    data.write_bytes(gzip.compress(json.dumps({"train": [], "valid": [], "test": [tune]}).encode()))
    status = main(["evaluate", paths.DEFAULT_MODEL_NAME, "--data", str(data), "--split", "test",
                   "--no-ll", "--acc-samples", "2"])
    out = capsys.readouterr().out
    assert status == 0
    assert "16 frames" in out and "ACC" in out


def test_cli_help_and_info_do_not_import_torch(tmp_path: Path) -> None:
    code = ("import sys\nfrom composer_app.cli import build_parser\n"
            "build_parser('info')\nprint('torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


SEED_MID = ROOT / "resources" / "seeds" / "morning_reel_D.mid"


def _composer(
    *arguments: str, buffered: bool = True, **streams: object
) -> subprocess.CompletedProcess:
    """Run the CLI. Buffered, a write error comes only in the flush at exit; unbuffered,
    in the ``print`` itself."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    return subprocess.run([sys.executable, "-m", "composer_app", *arguments], cwd=ROOT,
                          env=env, timeout=60, **streams)  # type: ignore[call-overload]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full to write to")
@pytest.mark.parametrize("buffered", [True, False])
def test_cli_stdout_on_a_full_device_is_one_line_and_status_2(buffered: bool) -> None:
    with open("/dev/full", "w") as full:
        done = _composer("info", str(SEED_MID), buffered=buffered, stdout=full,
                         stderr=subprocess.PIPE, text=True)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert done.stderr.strip() == "composer-app info: cannot write the output: No space left on device"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full to write to")
@pytest.mark.parametrize("buffered", [True, False])
def test_cli_stderr_on_a_full_device_still_exits_with_the_status(buffered: bool) -> None:
    with open("/dev/full", "w") as full:
        done = _composer("info", "/no/such/file.mid", buffered=buffered,
                         stdout=subprocess.PIPE, stderr=full)
    assert done.returncode == 2  # the message could not be written, the status still says so
    assert done.stdout == b""


@pytest.mark.parametrize("buffered", [True, False])
def test_cli_stdout_closed_by_the_reader_exits_quietly(buffered: bool) -> None:
    # the reader closes the pipe before the command writes a byte: every write fails (EPIPE)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = _composer("info", str(SEED_MID), buffered=buffered, stdout=write_end,
                         stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write_end)
    assert done.returncode == 0  # the reader went away: nothing left to report
    assert done.stderr == ""


def test_cli_an_output_error_in_process_is_a_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    class FullStream(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(sys, "stdout", FullStream())
    assert main(["info", str(SEED_MID)]) == 2
    assert "cannot write the output: No space left on device" in capsys.readouterr().err


def test_cli_names_another_system_error_as_itself_not_as_the_output(
    monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import composer_app.midi.info as info

    def out_of_memory(_args: object) -> int:
        raise OSError(errno.ENOMEM, os.strerror(errno.ENOMEM))

    monkeypatch.setattr(info, "run", out_of_memory)
    assert main(["info", str(SEED_MID)]) == 2
    err = capsys.readouterr().err
    assert err == f"composer-app info: system error: {os.strerror(errno.ENOMEM)}\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["trian", "--data", "x.json.gz", "--out", "y"],
         "unknown command 'trian' (did you mean 'train'?)"),
        (["genrate"], "unknown command 'genrate' (did you mean 'generate'?)"),
        (["evalute", "nottingham_ll"], "unknown command 'evalute' (did you mean 'evaluate'?)"),
        (["xyzzy"], "unknown command 'xyzzy' (commands: gui, info, train, evaluate, generate, "
         "ports; or name a MIDI file to open in the editor)"),
    ],
)
def test_cli_names_an_unknown_command_instead_of_opening_it_in_the_editor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, argv: list[str], message: str
) -> None:
    import composer_app.app as app

    def editor(_args: object) -> int:
        raise AssertionError("the editor was started")

    monkeypatch.setattr(app, "run", editor)
    monkeypatch.chdir(tmp_path)  # no file of that name here
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err == f"composer-app: {message}\n" and captured.out == ""


@pytest.mark.parametrize(
    ("argv", "file"),
    [
        ([], None),
        (["--quit-after-show"], None),
        (["missing.mid"], "missing.mid"),
        (["Missing.MIDI", "--quit-after-show"], "Missing.MIDI"),
        (["tune.RMI"], "tune.RMI"),
        (["trian"], "trian"),  # a file of that name exists: it is opened, as before
        (["gui", "genrate"], "genrate"),  # the editor named outright takes any name
    ],
)
def test_cli_a_midi_name_or_an_existing_file_still_opens_the_editor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], file: str | None
) -> None:
    import composer_app.app as app

    opened: list[str | None] = []

    def editor(args: object) -> int:
        opened.append(args.file)  # type: ignore[attr-defined]
        return 0

    monkeypatch.setattr(app, "run", editor)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "trian").write_bytes(b"MThd")
    assert main(argv) == 0
    assert opened == [file]

"""``composer-app info``: through ``cli.main`` and once through a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from composer_app.cli import main
from composer_app.core.note import Note, pitch_name
from composer_app.core.score import (
    ControlChange,
    KeySignature,
    PitchBend,
    ProgramChange,
    Score,
    SystemExclusive,
    TempoChange,
    TextEvent,
    TimeSignature,
)
from composer_app.midi.files import ImportReport, mid_bytes, write_mid
from composer_app.midi.info import describe

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _song(tmp_path: Path) -> Path:
    """3/4 at 100 BPM in E minor, 480 PPQ, with one of each kind of roll loss and a drum
    note."""
    score = Score(
        ppq=480,
        tempo_map=[TempoChange(0, 600_000)],
        time_signatures=[TimeSignature(0, 3, 4)],
        key_signatures=[KeySignature(0, 1, minor=True)],
        # a violin turning viola on channel 1, a flute on channel 2 (numbered from 0)
        program_changes=[ProgramChange(0, 0, 40), ProgramChange(0, 1, 73),
                         ProgramChange(960, 0, 41)],
        # the pedal down and up, a volume, a bend up and back
        control_changes=[ControlChange(0, 0, 64, 127), ControlChange(960, 0, 64, 0),
                         ControlChange(0, 1, 7, 90)],
        pitch_bends=[PitchBend(480, 1, 10000), PitchBend(720, 1, 8192)],
        title="Study",
        track_names={(0, 0): "Violin", (1, 0): "Flute"},
        _notes=[
            Note(0, 60, 480),  # eighth-note frames 0-1
            Note(480, 60, 480),  # frames 2-3, right after: reads back merged
            Note(100, 64, 240),  # starts off the 240-tick grid
            Note(960, 110, 240),  # D8: above the 88 keys
            Note(1440, 67, 720, channel=1),  # ends at 2160
            Note(0, 36, 240, channel=9),  # a drum
        ],
    )
    path = tmp_path / "song.mid"
    path.write_bytes(mid_bytes(score))
    return path


EXPECTED_SONG = """\
File: {path} (format 1, 4 tracks, 480 ticks per quarter)
Notes: 5 on channels 1, 2
Duration: 1.50 bars, 2.70 s (2160 ticks)
Tempo: 100 BPM
Meter: 3/4
Key signature: E minor
Title: Study
Tracks: Violin (channel 1), Flute (channel 2)
Instruments: 41 on channel 1, 74 on channel 2 (then 1 change)
Controller changes: 3 (2 of the sustain pedal); pitch bends: 2
Pitch range: C4 (60) to D8 (110)
Piano roll at one step per eighth note (240 ticks), 88 keys:
  out of range (dropped): 1
  off the grid (rounded): 1
  merged re-strikes (lost): 1
Import changed:
  1 drum notes dropped (channel 10)
  1 notes outside the 88 piano keys (kept; not in the roll)
"""


def test_info_prints_layout_duration_tempo_meter_range_and_losses(tmp_path: Path, capsys) -> None:
    path = _song(tmp_path)
    assert main(["info", str(path)]) == 0
    out, err = capsys.readouterr()
    # 2160 ticks = 4.5 quarters = 1.5 bars of 3/4; 4.5 quarters x 0.6 s = 2.70 s
    # tracks: conductor + channel 1 + channel 2 + the drum channel (dropped on import)
    assert out == EXPECTED_SONG.format(path=path)
    assert err == ""


def test_info_bad_file_prints_one_line_to_stderr_and_exits_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\xff\xff\x01\xe0")
    assert main(["info", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert (
        err
        == "Cannot read 'bad.mid': the header declares 65535 tracks but the file holds only 0 tracks\n"
    )


def test_info_missing_file_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["info", str(tmp_path / "nope.mid")]) == 2
    assert capsys.readouterr().err == "Cannot read 'nope.mid': no such file\n"


def test_info_subprocess_runs_the_real_command(tmp_path: Path) -> None:
    # one real process (start-up is slow: the CLI imports every subcommand's module)
    path = _song(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "composer_app", "info", str(path)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == EXPECTED_SONG.format(path=path)


def test_info_text_file_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "text.mid"
    bad.write_text("not music\n")
    assert main(["info", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "Cannot read 'text.mid': not a MIDI file (it does not start with 'MThd')\n"
    assert "Traceback" not in err


def test_describe_lists_tempo_and_meter_changes(tmp_path: Path) -> None:
    score = Score(
        ppq=96,
        tempo_map=[TempoChange(0, 500_000), TempoChange(384, 400_000)],
        time_signatures=[TimeSignature(0, 4, 4), TimeSignature(384, 6, 8)],
        _notes=[Note(0, 21, 96), Note(384, 108, 288)],
    )
    text = describe(score, ImportReport(track_count=2, ppq=96), name="x.mid")
    assert "Tempo: 120 BPM at tick 0, 150 BPM at tick 384" in text
    assert "Meter: 4/4 at tick 0, 6/8 at tick 384" in text
    assert "Key signature: none in the file" in text
    score.key_signatures = [KeySignature(0, -1), KeySignature(384, 3)]
    text = describe(score, ImportReport(track_count=2, ppq=96), name="x.mid")
    assert "Key signature: F major at tick 0, A major at tick 384" in text
    # 384 ticks = one 4/4 bar, then 288 ticks of a 6/8 bar (288 ticks long) = 2 bars
    # seconds: 4 quarters x 0.5 s + 3 quarters x 0.4 s = 3.2 s
    assert "Duration: 2.00 bars, 3.20 s (672 ticks)" in text
    assert "Pitch range: A0 (21) to C8 (108)" in text
    assert "Import changed: nothing" in text


def test_describe_summarizes_long_tempo_maps() -> None:
    score = Score(tempo_map=[TempoChange(i * 480, 400_000 + 10_000 * i) for i in range(12)])
    text = describe(score, ImportReport())
    # 60e6 / 400000 = 150 BPM, 60e6 / 510000 = 117.647 BPM
    assert "Tempo: 12 changes, 117.647 to 150 BPM" in text
    assert "Pitch range: none (no notes)" in text
    assert "Duration: 0.00 bars, 0.00 s (0 ticks)" in text


def test_info_reads_what_write_mid_saved(tmp_path: Path, capsys) -> None:
    score = Score(ppq=1, _notes=[Note(0, 60, 1), Note(1, 62, 1)])
    write_mid(score, tmp_path / "tiny.mid")
    assert main(["info", str(tmp_path / "tiny.mid")]) == 0
    out = capsys.readouterr().out
    # PPQ 1 cannot hold an eighth note: import raises it to 96 (every tick x 96), so the
    # eighth-note step is 96 / 2 = 48 ticks and lasts exactly an eighth
    assert "(format 1, 2 tracks, 96 ticks per quarter)" in out
    assert "Piano roll at one step per eighth note (48 ticks), 88 keys:" in out
    assert "  resolution raised from 1 to 96 ticks per quarter (timing unchanged)" in out


def test_pitch_name_uses_scientific_octaves() -> None:
    assert [pitch_name(p) for p in (0, 21, 59, 60, 61, 127)] == [
        "C-1",
        "A0",
        "B3",
        "C4",
        "C#4",
        "G9",
    ]


def test_describe_counts_a_closing_rest_in_the_duration() -> None:
    # one bar of notes, the song (its file's end of track) two bars long
    score = Score(_notes=[Note(0, 60, 1920)], closing_rest_ticks=1920)
    text = describe(score, ImportReport())
    assert "Duration: 2.00 bars, 4.00 s (3840 ticks)" in text


def test_info_lists_texts_and_system_exclusive_messages_and_shows_utf8_as_written(
    tmp_path: Path, capsys
) -> None:
    # a name or lyric another program wrote in UTF-8 was shown as Latin-1 ("CafÃ©")
    def utf8(text: str) -> str:  # as read: each byte a Latin-1 character
        return text.encode("utf-8").decode("latin-1")

    score = Score(
        time_signatures=[TimeSignature(0, 3, 4)],
        title=utf8("Valse café"),
        track_names={(0, 0): "M\xe9lodie"},  # Latin-1 bytes: shown as they are
        texts=[TextEvent(0, 2, "\xa9 2026 Ana"), TextEvent(0, 6, "Intro"),
               TextEvent(1440, 6, "Verse"), TextEvent(2880, 6, utf8("Refrão")),
               TextEvent(1440, 5, "Hel", (0, 0)), TextEvent(1680, 5, "lo/", (0, 0)),
               TextEvent(1920, 5, utf8("wörld"), (0, 0)),
               TextEvent(0, 1, "made by hand"), TextEvent(0, 4, "Piano", (0, 0))],
        system_exclusive=[SystemExclusive(0, bytes((0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7))),
                          SystemExclusive(0, bytes((0xF0, 0x43, 0x10, 0x4C, 0x00, 0x00, 0x7E,
                                                    0x00, 0xF7))),
                          SystemExclusive(10, b"\xf0\x41\x10\x42\x12\xf7")],
        _notes=[Note(0, 60, 2880)],
    )
    path = tmp_path / "karaoke.mid"
    path.write_bytes(mid_bytes(score))
    assert main(["info", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[6:13] == [
        "Title: Valse café",
        "Tracks: M\xe9lodie (channel 1)",
        "Copyright: \xa9 2026 Ana",
        "Markers: Intro (bar 1), Verse (bar 2), Refrão (bar 3)",
        'Lyrics: 3 events ("Hello wörld")',
        "Other texts: 1 text, 1 instrument name",
        "System-exclusive messages: 3 (General MIDI on, XG on)",
    ]
    assert "Import changed: nothing" in lines


def test_info_names_karaoke_lyrics_and_escapes_what_a_terminal_cannot_show(
    tmp_path: Path, capsys
) -> None:
    # A Soft Karaoke (.kar) file's lyrics are text events under an "@KMIDI" header: they
    # were counted as "4 text"; a line break in a copyright broke the listing; a character
    # split between two syllables showed as Latin-1; a General MIDI reset to one device was
    # not named; a terminal that is not UTF-8 ended info with a UnicodeEncodeError.
    split = "日".encode()  # three bytes, split over two syllables
    score = Score(
        texts=[TextEvent(0, 1, "@KMIDI KARAOKE FILE"), TextEvent(0, 1, "@TLullaby"),
               TextEvent(0, 2, "line one\nline two\x1b[31m"),
               TextEvent(0, 1, "/Hush"), TextEvent(240, 1, " lit"), TextEvent(480, 1, "tle"),
               TextEvent(720, 5, split[:1].decode("latin-1"), (0, 0)),
               TextEvent(960, 5, split[1:].decode("latin-1"), (0, 0)),
               TextEvent(0, 7, "a"), TextEvent(10, 7, "b")],
        system_exclusive=[SystemExclusive(0, bytes((0xF0, 0x7E, 0x10, 0x09, 0x01, 0xF7))),
                          SystemExclusive(0, bytes((0xF0, 0x41, 0x10, 0x42, 0x12, 0x40, 0x00,
                                                    0x7F, 0x00, 0x41, 0xF7)))],
        _notes=[Note(0, 60, 1920)],
    )
    path = tmp_path / "lullaby.kar"
    path.write_bytes(mid_bytes(score))
    assert main(["info", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "Copyright: line one line two [31m" in lines
    assert 'Lyrics: 5 events ("Hush little日")' in lines
    assert "Other texts: 2 texts, 2 cue points" in lines
    assert "System-exclusive messages: 2 (General MIDI on, GS reset)" in lines
    # a terminal of Latin-1 gets the character escaped, and the rest as it is
    env = {**os.environ, "PYTHONIOENCODING": "latin-1"}
    done = subprocess.run([sys.executable, "-m", "composer_app", "info", str(path)],
                          capture_output=True, env=env, cwd=PROJECT_DIR, timeout=120)
    assert done.returncode == 0, done.stderr
    assert b'Lyrics: 5 events ("Hush little\\u65e5")' in done.stdout

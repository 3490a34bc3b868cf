"""MIDI import time for worst-case files up to the 10 MB limit, and for the Nottingham corpus.

Each case is built in memory, as large as the limit allows, and parsed once with
``parse_mid_bytes`` (the reader behind ``read_mid``). Target: every import within 2 s, in
bounded memory. Prints seconds, the process's peak resident memory so far, and the outcome.

Usage: ``.venv/bin/python benchmarks/midi_import.py``
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from composer_app.midi.files import (  # noqa: E402
    MAX_FILE_BYTES,
    MAX_NOTES,
    MidiFileError,
    parse_mid_bytes,
    read_mid,
)
from composer_app.paths import shared_data_dir  # noqa: E402

LIMIT = MAX_FILE_BYTES - 100


def vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def chunk(chunk_id: bytes, body: bytes) -> bytes:
    return chunk_id + len(body).to_bytes(4, "big") + body


def header(n_tracks: int) -> bytes:
    return chunk(b"MThd", (1).to_bytes(2, "big") + n_tracks.to_bytes(2, "big") + (480).to_bytes(2, "big"))


def filled(unit: bytes, first: bytes = b"") -> bytes:
    """One track of ``first`` then ``unit`` repeated up to the size limit."""
    return header(1) + chunk(b"MTrk", first + unit * ((LIMIT - len(first)) // len(unit)))


def notes_track(n_notes: int) -> bytes:
    """``n_notes`` one-tick notes with running status (on, then on with velocity 0)."""
    body = bytearray(b"\x00\x90")
    for i in range(n_notes):
        pitch = 36 + i % 60
        body += bytes((pitch, 100, 1, pitch, 0, 0))
    return header(1) + chunk(b"MTrk", bytes(body[:-1]))


def cases() -> dict[str, bytes]:
    one_note_track = chunk(b"MTrk", b"\x00\x90\x3c\x40\x60\xff\x2f\x00")
    return {
        f"{MAX_NOTES:,} notes (the cap)": notes_track(MAX_NOTES),
        f"{MAX_NOTES + 400_000:,} notes (refused)": notes_track(MAX_NOTES + 400_000),
        "10 MB of controllers": filled(b"\x00\x07\x64", b"\x00\xb0\x07\x64"),
        "10 MB of program changes": filled(b"\x00\x05", b"\x00\xc0\x05"),
        "10 MB of tempo events": filled(b"\x01\xff\x51\x03\x07\xa1\x20"),
        "10 MB of channel pressure": filled(b"\x01\x10\x01\x11", b"\x00\xd0\x10"),
        "10 MB of key pressure": filled(b"\x00\x3c\x10", b"\x00\xa0\x3c\x10"),
        "10 MB of markers": filled(b"\x00\xff\x06\x01M"),
        "10 MB of empty sysex": filled(b"\x00\xf0\x00"),
        "one 10 MB sysex": header(1) + chunk(
            b"MTrk", b"\x00\xf0" + vlq(LIMIT - 20) + b"\x00" * (LIMIT - 20)
        ),
        "65,535 tracks": header(65535) + one_note_track * 65535,
    }


def main() -> int:
    print(f"{'case':32s} {'MB':>6s} {'seconds':>8s} {'peak RSS MB':>12s}  outcome")
    for name, data in cases().items():
        assert len(data) <= MAX_FILE_BYTES, name
        started = time.perf_counter()
        try:
            score, _report = parse_mid_bytes(data, "case.mid")
            outcome = f"{len(score):,} notes"
        except MidiFileError as exc:
            outcome = f"refused: {exc.reason}"
        seconds = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
        print(f"{name:32s} {len(data) / 1e6:6.2f} {seconds:8.2f} {peak_mb:12.1f}  {outcome[:60]}")
    corpus = shared_data_dir() / "nottingham_midi" / "MIDI"
    if corpus.is_dir():
        files = sorted(corpus.rglob("*.mid"))
        started = time.perf_counter()
        total = sum(len(read_mid(path)) for path in files)
        seconds = time.perf_counter() - started
        print(f"Nottingham corpus: {len(files)} files, {total:,} notes in {seconds:.2f} s "
              f"({seconds / len(files) * 1000:.2f} ms per file)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

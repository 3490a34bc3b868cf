"""Every file of the Nottingham MIDI corpus imports and round-trips (skipped when absent).

The corpus lies in ``../shared/data/nottingham_midi`` (see its README): 3089 files under
``MIDI/``, ``MIDI/melody`` and ``MIDI/chords``. The note-on counts and pitch ranges below are
the figures that README states, counted there by another parser.
"""

from __future__ import annotations

import io
from pathlib import Path

import mido
import pytest

from composer_app.core.note import Note
from composer_app.midi.files import mid_bytes, parse_mid_bytes, read_mid, read_mid_report, write_mid
from composer_app.paths import shared_data_dir
from tests.midi.test_files import mido_notes

CORPUS = shared_data_dir() / "nottingham_midi" / "MIDI"
# folder -> (files, note-ons, lowest pitch, highest pitch), from the data README
EXPECTED = {
    "full": (1034, 356_269, 36, 88),
    "melody": (1034, 196_961, 55, 88),
    "chords": (1021, 159_302, 36, 57),
}

pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"Nottingham MIDI corpus not found at {CORPUS}"
)


def _files() -> dict[str, list[Path]]:
    return {
        "full": sorted(CORPUS.glob("*.mid")),
        "melody": sorted((CORPUS / "melody").glob("*.mid")),
        "chords": sorted((CORPUS / "chords").glob("*.mid")),
    }


def test_nottingham_every_file_imports_and_round_trips() -> None:
    failures: list[str] = []
    for folder, paths in _files().items():
        n_files, note_ons, low, high = EXPECTED[folder]
        assert len(paths) == n_files, folder
        notes_and_dropped = 0
        pitches: set[int] = set()
        for path in paths:
            score, report = read_mid_report(path)
            assert report.file_format == 1 and score.ppq == 1024, path.name
            assert report.drum_notes_dropped == 0 and report.unterminated_notes_closed == 0
            # each note-on becomes one note or is dropped for having no length
            notes_and_dropped += len(score) + report.zero_length_notes_dropped
            pitches.update(n.pitch for n in score.notes)
            again, again_report = parse_mid_bytes(mid_bytes(score, path), path)
            if (
                again.notes != score.notes
                or again.tempo_map != score.tempo_map
                or again.time_signatures != score.time_signatures
                or again.ppq != score.ppq
                or again_report.changed_anything
            ):
                failures.append(f"{folder}/{path.name}")
        assert notes_and_dropped == note_ons, folder
        assert (min(pitches), max(pitches)) == (low, high), folder
    assert failures == []


def _mido_notes(path: Path) -> list[Note]:
    """Notes as mido reads the file (the oracle of test_files, on the file's bytes)."""
    return mido_notes(path.read_bytes())


def test_nottingham_sample_matches_mido_and_survives_a_real_save(tmp_path: Path) -> None:
    sample = [p for paths in _files().values() for p in paths[::97]]
    assert len(sample) >= 30
    for path in sample:
        score = read_mid(path)
        assert list(score.notes) == _mido_notes(path), path.name
        tempos = [m.tempo for m in mido.MidiFile(path).tracks[0] if m.type == "set_tempo"]
        assert [t.us_per_quarter for t in score.tempo_map] == (tempos or [500_000])
        out = tmp_path / path.name
        write_mid(score, out)
        assert read_mid(out).notes == score.notes
        # and mido reads what we wrote as the same notes
        assert _mido_notes(out) == list(score.notes)
        assert mido.MidiFile(file=io.BytesIO(out.read_bytes())).ticks_per_beat == 1024

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
from tests.midi.test_files import mido_notes, mido_notes_of

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
                or again.key_signatures != score.key_signatures
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


def _mido_key_name(key: str) -> str:
    """mido's key ("Bb", "F#m") as KeySignature.name writes it ("B♭ major", "F♯ minor")."""
    minor = key.endswith("m")
    tonic = (key[:-1] if minor else key).replace("b", "\u266d").replace("#", "\u266f")
    return f"{tonic} {'minor' if minor else 'major'}"


def test_nottingham_sample_matches_mido_and_survives_a_real_save(tmp_path: Path) -> None:
    sample = [p for paths in _files().values() for p in paths[::97]]
    assert len(sample) >= 30
    for path in sample:
        score = read_mid(path)
        assert list(score.notes) == _mido_notes(path), path.name
        tempos = [m.tempo for m in mido.MidiFile(path).tracks[0] if m.type == "set_tempo"]
        assert [t.us_per_quarter for t in score.tempo_map] == (tempos or [500_000])
        # the key signatures as mido reads them, one per tick (each track states them)
        keys = {}
        for mido_track in mido.MidiFile(path).tracks:
            tick = 0
            for m in mido_track:
                tick += m.time
                if m.type == "key_signature":
                    keys[tick] = m.key
        assert keys, path.name  # every file of the corpus has one
        changes = [k for i, (_t, k) in enumerate(sorted(keys.items()))
                   if i == 0 or k != sorted(keys.items())[i - 1][1]]  # restatements are none
        assert [_mido_key_name(k) for k in changes] == [
            k.name for k in score.key_signatures
        ], path.name
        out = tmp_path / path.name
        write_mid(score, out)
        assert read_mid(out).notes == score.notes
        assert read_mid(out).key_signatures == score.key_signatures
        # and mido reads what we wrote as the same notes
        assert _mido_notes(out) == list(score.notes)
        assert mido.MidiFile(file=io.BytesIO(out.read_bytes())).ticks_per_beat == 1024


def _onsets_by_track(mid: mido.MidiFile) -> list[list[tuple[int, int]]]:
    """The (tick, pitch) of every note-on of each track that holds notes, sorted."""
    tracks = []
    for trk in mid.tracks:
        tick, onsets = 0, []
        for msg in trk:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity:
                onsets.append((tick, msg.note))
        if onsets:
            tracks.append(sorted(onsets))
    return tracks


def test_nottingham_every_file_pairs_notes_as_mido_and_saves_its_tracks_apart() -> None:
    # Every file, read by mido and paired by the oracle's rules (a re-strike owes the note-off
    # of the note it cut), gives the very notes of the score. The two-part files hold melody and
    # chords as two tracks on one channel: a save writes them as two tracks again (it merged
    # them, and asked first), so a save over the file loses nothing import would name.
    mismatched: list[str] = []
    not_kept: list[str] = []
    would_lose: list[str] = []
    n_files = n_two_part = 0
    for paths in _files().values():
        for path in paths:
            data = path.read_bytes()
            score, report = parse_mid_bytes(data, path)
            mid = mido.MidiFile(file=io.BytesIO(data))
            if list(score.notes) != mido_notes_of(mid):
                mismatched.append(path.name)
            note_tracks = [t for t in mid.tracks if any(m.type == "note_on" for m in t)]
            channels = {m.channel for t in note_tracks for m in t if m.type == "note_on"}
            assert len(channels) == 1, path.name  # the corpus plays everything on channel 1
            if report.dropped_content_lines():
                would_lose.append(path.name)
            elif len(note_tracks) == 2:
                saved = mido.MidiFile(file=io.BytesIO(mid_bytes(score, path)))
                if _onsets_by_track(saved) != _onsets_by_track(mid):
                    not_kept.append(path.name)
            n_files += 1
            n_two_part += len(note_tracks) == 2
    assert n_files == sum(n for n, *_ in EXPECTED.values())
    assert n_two_part == EXPECTED["chords"][0]  # each chord part also lies in a two-part file
    assert mismatched == []
    assert not_kept == []
    # only a file whose unison doublings on one channel read as notes of no length
    assert would_lose == ["reelsd-g28.mid"]


def test_nottingham_jigs311_restruck_note_keeps_its_length() -> None:
    # The audit's real case: G4 (67) struck at 2731 and again at 2901, one tick before the
    # 2731 note's own note-off at 2902; the second note's note-off is at 3072. The second
    # note lasts 3072 - 2901 = 171 ticks (not 1), like its neighbours.
    path = CORPUS / "jigs311.mid"
    score, report = read_mid_report(path)
    g4 = {n.start_tick: n.duration_ticks for n in score.notes if n.pitch == 67}
    assert (g4[2731], g4[2901]) == (2901 - 2731, 3072 - 2901)
    assert min(n.duration_ticks for n in score.notes) > 1
    assert report.overlapping_notes_resolved == 2 and report.stray_note_offs_ignored == 0

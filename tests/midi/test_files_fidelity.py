"""MIDI file fidelity: what a file means is what the score holds, and what a save writes opens
again (the S8 audit's findings: runs/S8/reviewB/REPORT.md, D1, D3, D5, D6, D8, D9 and the
low-PPQ note).

Files are written with mido (an independent writer) wherever it can express the case; an SMPTE
time division, which mido does not write, is built byte by byte. The Nottingham corpus cases
are in test_nottingham_corpus.py.
"""

from __future__ import annotations

import io
from pathlib import Path

import mido
import pytest

from composer_app.core.note import Note
from composer_app.core.score import (
    ControlChange,
    ProgramChange,
    Score,
    SystemExclusive,
    TempoChange,
    TextEvent,
    TimeSignature,
)
from composer_app.core.timing import ticks_to_seconds
from composer_app.midi import files
from composer_app.midi.files import (
    MAX_LENGTH_QUARTERS,
    MAX_NOTES,
    MidiFileError,
    mid_bytes,
    parse_mid_bytes,
    read_mid,
    read_mid_report,
    write_mid,
)
from tests.midi.test_files import mido_bytes, off, on, smf, track, write

RESTRIKE_LINE = "same-pitch notes struck again while sounding (each cut at the re-strike)"


# ---- helpers -----------------------------------------------------------------------------
def note_on(pitch: int, velocity: int = 100, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)


def note_off(pitch: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", note=pitch, velocity=64, channel=channel)


def end_of_track() -> mido.MetaMessage:
    return mido.MetaMessage("end_of_track")


def mido_song(*tracks: list[tuple[int, mido.Message]], ppq: int = 480, file_type: int = 1) -> bytes:
    """The bytes mido writes for ``tracks``, each a list of (absolute tick, message)."""
    mid = mido.MidiFile(type=file_type, ticks_per_beat=ppq)
    for events in tracks:
        trk = mido.MidiTrack()
        last = 0
        for tick, msg in events:
            trk.append(msg.copy(time=tick - last))
            last = tick
        mid.tracks.append(trk)
    return mido_bytes(mid)


def note_tracks(data: bytes) -> list[list[int]]:
    """The pitches of each track that holds notes, as mido reads the file."""
    mid = mido.MidiFile(file=io.BytesIO(data))
    tracks = [[m.note for m in trk if m.type == "note_on" and m.velocity] for trk in mid.tracks]
    return [t for t in tracks if t]


def track_bodies(data: bytes) -> list[bytes]:
    """The bodies of the ``MTrk`` chunks of a file."""
    bodies = []
    pos = 8 + int.from_bytes(data[4:8], "big")
    while pos < len(data):
        length = int.from_bytes(data[pos + 4 : pos + 8], "big")
        bodies.append(data[pos + 8 : pos + 8 + length])
        pos += 8 + length
    return bodies


def strict_events(body: bytes) -> list[tuple[int, bytes]]:
    """(tick, event bytes) of a track, read as SMF 1.0 says: running status may only follow a
    channel event, since a meta or system-exclusive event cancels it. Raises AssertionError
    where a data byte follows a meta/sysex event without a status byte."""
    events = []
    tick = i = 0
    status = 0
    while i < len(body):
        delta = 0
        while True:
            b = body[i]
            i += 1
            delta = delta << 7 | (b & 0x7F)
            if b < 0x80:
                break
        tick += delta
        if body[i] < 0x80:
            assert status, f"running status with no status byte at byte {i}"
            size = 1 if status >> 4 in (0xC, 0xD) else 2
            events.append((tick, bytes((status,)) + body[i : i + size]))
            i += size
        elif body[i] == 0xFF:
            length = body[i + 2]  # every meta event here is short
            events.append((tick, body[i : i + 3 + length]))
            i += 3 + length
            status = 0
        else:
            status = body[i]
            size = 1 if status >> 4 in (0xC, 0xD) else 2
            events.append((tick, body[i : i + 1 + size]))
            i += 1 + size
    return events


# ---- D1: a re-strike before the old note-off -----------------------------------------------
@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # the audit's case: the second C4 struck one tick before the first one's note-off
        (
            [(0, note_on(60, 90)), (480, note_on(60, 80)), (481, note_off(60)),
             (960, note_off(60))],
            [(0, 480, 90), (480, 480, 80)],
        ),
        # struck again halfway through, note-offs in order: 0-240 cut, 240-720 to the last off
        (
            [(0, note_on(60, 90)), (240, note_on(60, 80)), (480, note_off(60)),
             (720, note_off(60))],
            [(0, 240, 90), (240, 480, 80)],
        ),
        # three strikes before any note-off: each cut at the next, the last to the final off
        (
            [(0, note_on(60, 90)), (100, note_on(60, 80)), (200, note_on(60, 70)),
             (300, note_off(60)), (400, note_off(60)), (500, note_off(60))],
            [(0, 100, 90), (100, 100, 80), (200, 300, 70)],
        ),
        # repeated notes written note-on first: each new note-on just before the old note's
        # off at the same tick (a writer sorting ons before offs); three notes, not one
        (
            [(0, note_on(60, 90)), (480, note_on(60, 80)), (480, note_off(60)),
             (960, note_on(60, 70)), (960, note_off(60)), (1440, note_off(60))],
            [(0, 480, 90), (480, 480, 80), (960, 480, 70)],
        ),
    ],
)  # fmt: skip
def test_read_mid_restrike_before_the_old_note_off_holds_the_new_note_to_the_last_off(
    tmp_path: Path, events: list[tuple[int, mido.Message]], expected: list[tuple[int, int, int]]
) -> None:
    score, report = read_mid_report(write(tmp_path, mido_song(events)))
    assert [(n.start_tick, n.duration_ticks, n.velocity) for n in score.notes] == expected
    # the file sounds until its last note-off, and so does the score
    assert score.end_tick == events[-1][0]
    restrikes = len(expected) - 1
    assert report.overlapping_notes_resolved == restrikes
    assert report.stray_note_offs_ignored == 0  # each note-off belonged to a note
    assert report.change_lines() == [f"{restrikes} {RESTRIKE_LINE}"]
    # a save keeps the notes as read
    assert parse_mid_bytes(mid_bytes(score))[0].notes == score.notes


def test_read_mid_a_doubled_note_on_does_not_stretch_the_later_notes_of_its_pitch(
    tmp_path: Path,
) -> None:
    # One note-on doubled (its note-off never comes), then 29 staccato notes of that pitch.
    # Owing the doubled note a note-off swallowed the next one, and every later note came out
    # legato, the last sounding to the song's end. Unequal counts: each off ends its note.
    events = [(0, note_on(62)), (0, note_on(62)), (120, note_off(62))]
    for k in range(1, 30):
        events += [(k * 240, note_on(62)), (k * 240 + 120, note_off(62))]
    score, report = read_mid_report(write(tmp_path, mido_song(events)))
    assert [(n.start_tick, n.duration_ticks) for n in score.notes] == [
        (k * 240, 120) for k in range(30)
    ]
    assert report.unterminated_notes_closed == 0
    # a doubled note-on later on, struck again before its off: cut there, the rest exact
    events = [(0, note_on(62)), (100, note_on(62)), (200, note_off(62)), (300, note_on(62)),
              (400, note_off(62))]  # fmt: skip
    score, report = read_mid_report(write(tmp_path, mido_song(events)))
    assert [(n.start_tick, n.duration_ticks) for n in score.notes] == [(0, 100), (100, 100),
                                                                       (300, 100)]
    assert report.overlapping_notes_resolved == 1 and report.stray_note_offs_ignored == 0
    # a legato overlap and then a note-off too many: the first off is the cut note's, the
    # second ends the new note, the third ends nothing (a stray)
    events = [(0, note_on(62)), (100, note_on(62)), (200, note_off(62)), (300, note_off(62)),
              (400, note_off(62))]  # fmt: skip
    score, report = read_mid_report(write(tmp_path, mido_song(events)))
    assert [(n.start_tick, n.duration_ticks) for n in score.notes] == [(0, 100), (100, 200)]
    assert report.overlapping_notes_resolved == 1
    assert report.stray_note_offs_ignored == 1


def test_read_mid_pairs_each_stretch_of_a_pitch_on_its_own(tmp_path: Path) -> None:
    # A doubled note-on early, a legato overlap later, a doubled note-off later still, all on
    # one pitch of one track: each reads as itself (a rule for the whole track stretched
    # notes across rests or cut the legato note short), and a stray note-off written just
    # before a note-on at the same tick does not swallow that note.
    events = [
        (0, note_on(60)), (0, note_on(60)), (120, note_off(60)),  # doubled on: 0-120
        (240, note_on(60)), (400, note_on(60)), (480, note_off(60)), (880, note_off(60)),
        (960, note_off(60)),  # a note-off too many
        (1200, note_off(60)), (1200, note_on(60)), (1300, note_off(60)),  # stray, then 1200-1300
    ]  # fmt: skip
    score, report = read_mid_report(write(tmp_path, mido_song(events)))
    assert [(n.start_tick, n.duration_ticks) for n in score.notes] == [
        (0, 120), (240, 160), (400, 480), (1200, 100)]  # fmt: skip
    assert report.stray_note_offs_ignored == 2


# ---- D3: a save that read_mid would refuse ------------------------------------------------
def test_write_mid_refuses_more_notes_than_read_mid_opens(tmp_path: Path, monkeypatch) -> None:
    # the audit's case at the real limit: one note more than a file may hold
    path = write(tmp_path, b"old")
    crowded = Score(_notes=[Note(i, 60, 1) for i in range(MAX_NOTES + 1)])
    with pytest.raises(MidiFileError) as caught:
        write_mid(crowded, path)
    assert caught.value.action == "save"
    assert str(caught.value) == (
        f"Cannot save 'song.mid': the song holds {MAX_NOTES + 1} notes, more than the "
        f"{MAX_NOTES} allowed, so the saved file could not be opened again"
    )
    assert path.read_bytes() == b"old"  # nothing written
    assert [p.name for p in tmp_path.iterdir()] == ["song.mid"]
    # with a small limit: exactly the limit saves and opens; one more is refused on save,
    # and the reader does refuse that file (written here by mido)
    monkeypatch.setattr(files, "MAX_NOTES", 4)
    four = Score(_notes=[Note(i * 480, 60 + i, 480) for i in range(4)])
    write_mid(four, tmp_path / "four.mid")
    assert read_mid(tmp_path / "four.mid").notes == four.notes
    five = [(t, m) for i in range(5) for t, m in ((i * 480, note_on(60)), (i * 480 + 240, note_off(60)))]
    with pytest.raises(MidiFileError, match="more than 4 notes"):
        parse_mid_bytes(mido_song(five))
    with pytest.raises(MidiFileError, match="5 notes, more than the 4 allowed"):
        write_mid(Score(_notes=[Note(i * 480, 60, 240) for i in range(5)]), path)
    assert path.read_bytes() == b"old"


def test_write_mid_refuses_a_song_longer_than_read_mid_opens(tmp_path: Path) -> None:
    ppq = 96
    limit_tick = MAX_LENGTH_QUARTERS * ppq
    # a note ending exactly at the limit saves and opens again
    fits = Score(ppq=ppq, _notes=[Note(limit_tick - 48, 60, 48)])
    write_mid(fits, tmp_path / "fits.mid")
    assert read_mid(tmp_path / "fits.mid").end_tick == limit_tick
    path = write(tmp_path, b"old")
    past = limit_tick + 1  # one tick into quarter 65537
    too_long = [
        Score(ppq=ppq, _notes=[Note(limit_tick - 48, 60, 49)]),
        Score(ppq=ppq, tempo_map=[TempoChange(0, 500_000), TempoChange(past, 400_000)]),
        Score(ppq=ppq, time_signatures=[TimeSignature(0), TimeSignature(past, 3, 4)]),
    ]
    for score in too_long:
        with pytest.raises(MidiFileError) as caught:
            write_mid(score, path)
        assert caught.value.reason == (
            f"the song would last {MAX_LENGTH_QUARTERS + 1} quarter notes, more than the "
            f"{MAX_LENGTH_QUARTERS} allowed, so the saved file could not be opened again"
        )
        assert path.read_bytes() == b"old"


def test_write_mid_refuses_more_tempo_or_meter_changes_than_read_mid_opens(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(files, "MAX_TEMPO_CHANGES", 2)
    path = write(tmp_path, b"old")
    tempos = [TempoChange(0, 500_000), TempoChange(480, 400_000), TempoChange(960, 300_000)]
    meters = [TimeSignature(0), TimeSignature(480, 3, 4), TimeSignature(960, 2, 4)]
    with pytest.raises(MidiFileError, match="3 tempo changes, more than the 2 allowed"):
        write_mid(Score(tempo_map=tempos), path)
    with pytest.raises(MidiFileError, match="3 time signature changes, more than the 2 allowed"):
        write_mid(Score(time_signatures=meters), path)
    assert path.read_bytes() == b"old"
    write_mid(Score(tempo_map=tempos[:2], time_signatures=meters[:2]), path)
    assert read_mid(path).tempo_map == tempos[:2]


# ---- D5: tracks that share a channel ---------------------------------------------------------
def test_tracks_that_share_a_channel_are_saved_apart_as_they_were_read(tmp_path: Path) -> None:
    # A save laid notes out by channel, so a tune's melody and chords (two tracks on channel 1,
    # as in 1,021 of the 1,034 Nottingham files) came back as one track, and every save over
    # such a file first asked whether to lose that.
    conductor = [(0, mido.MetaMessage("set_tempo", tempo=500_000))]
    melody = [(0, note_on(72)), (480, note_off(72)), (480, note_on(74)), (960, note_off(74))]
    chords = [(0, note_on(48)), (0, note_on(52)), (960, note_off(48)), (960, note_off(52))]
    bass = [(0, note_on(36, channel=1)), (960, note_off(36, channel=1))]
    data = mido_song(conductor, melody, chords)
    score, report = read_mid_report(write(tmp_path, data))
    assert {n.pitch: n.track for n in score.notes} == {72: 0, 74: 0, 48: 1, 52: 1}
    assert report.dropped_content_lines() == [] and not report.changed_anything
    saved = mid_bytes(score)
    assert note_tracks(saved) == note_tracks(data) == [[72, 74], [48, 52]]
    again = parse_mid_bytes(saved)[0]
    assert again.notes == score.notes
    assert [n.track for n in again.notes] == [n.track for n in score.notes]
    # three tracks on channel 1 and one on channel 2: four tracks again, in the file's order
    later_melody = [(t + 1920, m) for t, m in melody]
    data = mido_song(conductor, melody, chords, later_melody, bass)
    score, report = read_mid_report(write(tmp_path, data))
    assert sorted({(n.channel, n.track) for n in score.notes}) == [(0, 0), (0, 1), (0, 2), (1, 0)]
    assert note_tracks(mid_bytes(score)) == note_tracks(data) == [[72, 74], [48, 52], [72, 74], [36]]
    # an edit keeps a note in its track: chords moved a bar later are still the second track
    chord_notes = [n for n in score.notes if n.track == 1]
    score.remove_many(chord_notes)
    score.add_many(n.moved(1920, 0).with_duration(480).with_velocity(90) for n in chord_notes)
    assert note_tracks(mid_bytes(score)) == note_tracks(data)


def test_a_track_saved_in_overlap_layers_reads_back_as_one_track(tmp_path: Path) -> None:
    # A track whose notes overlap on one pitch is saved as that track plus a layer track (a
    # MIDI file cannot pair two such notes in one track), named so that reading it back folds
    # the layer into its track: every note comes back with its own track, and the chords stay
    # the second track (they became the third, and a drawn note's part changed with them).
    melody = [Note(0, 60, 960), Note(480, 60, 960), Note(480, 64, 480)]
    chords = [Note(0, 48, 1440, track=1), Note(0, 52, 1440, track=1)]
    score = Score(_notes=melody + chords)
    write_mid(score, tmp_path / "layers.mid")
    data = (tmp_path / "layers.mid").read_bytes()
    assert note_tracks(data) == [[60, 64], [60], [48, 52]]
    layer = mido.MidiFile(file=io.BytesIO(data)).tracks[2]
    assert [m.name for m in layer if m.type == "track_name"] == ["Composer: overlapping notes"]
    again, report = read_mid_report(tmp_path / "layers.mid")
    assert again.notes == score.notes and not report.changed_anything  # tracks included
    assert note_tracks(mid_bytes(again)) == note_tracks(data)
    # the same melody written by another program with the second C4 and E4 in a track of
    # their own: that track is kept (a track of the channel like any other)
    first = [(0, note_on(60)), (960, note_off(60))]
    second = [(480, note_on(60)), (480, note_on(64)), (960, note_off(64)), (1440, note_off(60))]
    data = mido_song(first, second)
    score, report = read_mid_report(write(tmp_path, data))
    assert [(n.start_tick, n.pitch, n.track) for n in score.notes] == [
        (0, 60, 0), (480, 60, 1), (480, 64, 1)
    ]
    assert not report.changed_anything
    assert note_tracks(mid_bytes(score)) == note_tracks(data) == [[60], [60, 64]]


# ---- D6: running status after the long-gap filler ------------------------------------------
def test_write_mid_gives_a_status_byte_after_a_long_gap_filler() -> None:
    # At PPQ 30000 a delta time (at most 2^28 - 1 ticks) spans under 8948 quarters. The D4
    # note-off comes 2^28 + 5 ticks after the C4 note-off, so an empty text event bridges the
    # gap; both are note-offs on channel 1 (status 0x80), but a meta event cancels running
    # status, so the second must repeat its status byte.
    score = Score(ppq=30_000, _notes=[Note(0, 60, 10), Note(5, 62, 0x1000_0000 + 10)])
    data = mid_bytes(score)
    body = track_bodies(data)[1]
    assert b"\xff\x01\x00" in body  # the filler
    events = strict_events(body)
    assert [e for _tick, e in events] == [
        bytes((0x90, 60, 100)),
        bytes((0x90, 62, 100)),
        bytes((0x80, 60, 64)),
        b"\xff\x01\x00",
        bytes((0x80, 62, 64)),
        b"\xff\x2f\x00",
    ]
    assert parse_mid_bytes(data)[0].notes == score.notes


# ---- D8: a time signature finer than the score holds -----------------------------------------
def test_read_mid_skips_a_time_signature_finer_than_1_64_and_counts_it(tmp_path: Path) -> None:
    def meter(numerator: int, denominator: int) -> mido.MetaMessage:
        return mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator)

    conductor = [(0, meter(6, 8)), (960, meter(3, 128)), (1920, meter(2, 4)), (2400, meter(5, 512))]
    notes = [(0, note_on(60)), (960, note_off(60)), (960, note_on(62)), (2880, note_off(62))]
    score, report = read_mid_report(write(tmp_path, mido_song(conductor, notes)))
    assert [(n.start_tick, n.pitch, n.duration_ticks) for n in score.notes] == [
        (0, 60, 960),
        (960, 62, 1920),
    ]
    # 6/8 goes on where 3/128 stood; 2/4 is kept and goes on past 5/512
    assert score.time_signatures == [TimeSignature(0, 6, 8), TimeSignature(1920, 2, 4)]
    assert report.time_signatures_skipped == 2
    # a save writes no such meter, so saving over the file asks first
    assert report.dropped_content_lines() == [
        "2 time signatures finer than 1/64 skipped (e.g. 3/128)"
    ]


# ---- D9: a note never released -------------------------------------------------------------
def test_read_mid_note_never_released_sounds_to_the_end_of_the_song(tmp_path: Path) -> None:
    # The notes track ends at 960 with a G4 struck there and never released; the conductor
    # track runs to 1920, the end of the song: G4 sounds from 960 to 1920.
    conductor = [(0, mido.MetaMessage("set_tempo", tempo=500_000)), (1920, end_of_track())]
    notes = [(0, note_on(60)), (960, note_off(60)), (960, note_on(67, 90)), (960, end_of_track())]
    score, report = read_mid_report(write(tmp_path, mido_song(conductor, notes)))
    assert score.notes == (Note(0, 60, 960), Note(960, 67, 960, 90))
    assert report.unterminated_notes_closed == 1 and report.zero_length_notes_dropped == 0
    assert report.change_lines() == ["1 notes never turned off, closed at the end of the song"]
    # in a type 0 file the song ends with its one track
    single = [(0, note_on(64)), (240, note_on(60)), (480, note_off(60)), (960, end_of_track())]
    score, report = read_mid_report(write(tmp_path, mido_song(single, file_type=0)))
    assert score.notes == (Note(0, 64, 960), Note(240, 60, 240))
    assert report.unterminated_notes_closed == 1
    # an end past the length limit is a corrupt delta time on an end of track: a note never
    # released then ends with its own track, and the file still opens
    corrupt_end = smf(
        track((0, b"\xff\x51\x03\x07\xa1\x20"), (0x0FFF_FFFF, b"\xff\x01\x01x")),
        track((0, on(60)), (960, b"\xff\x01\x01x")),
        division=96,
    )
    score, report = read_mid_report(write(tmp_path, corrupt_end))
    assert score.notes == (Note(0, 60, 960),)
    assert report.unterminated_notes_closed == 1


def test_read_mid_note_struck_at_the_very_end_is_reported_as_never_released(
    tmp_path: Path,
) -> None:
    # every track ends at 960, where G4 is struck and never released: no time is left for it
    conductor = [(0, mido.MetaMessage("set_tempo", tempo=500_000)), (960, end_of_track())]
    notes = [(0, note_on(60)), (960, note_off(60)), (960, note_on(67)), (960, end_of_track())]
    score, report = read_mid_report(write(tmp_path, mido_song(conductor, notes)))
    assert score.notes == (Note(0, 60, 960),)
    assert report.unterminated_notes_dropped == 1 and report.zero_length_notes_dropped == 0
    assert report.change_lines() == [
        "1 notes never turned off, struck at the very end of the song (dropped)"
    ]


# ---- a resolution that cannot hold a sixteenth note ----------------------------------------
def _song_at(ppq: int) -> tuple[bytes, list[tuple[float, int]]]:
    """A type 1 file at ``ppq`` (by mido): 3/4 then 6/8, 100 BPM then 80 BPM, notes on whole
    quarters and one on an odd tick; and the (beat, pitch) of each note start."""
    q = ppq
    conductor = [
        (0, mido.MetaMessage("time_signature", numerator=3, denominator=4)),
        (0, mido.MetaMessage("set_tempo", tempo=600_000)),
        (3 * q, mido.MetaMessage("set_tempo", tempo=750_000)),
        (6 * q, mido.MetaMessage("time_signature", numerator=6, denominator=8)),
    ]
    notes = [
        (0, note_on(60)), (q, note_off(60)), (q, note_on(62)), (3 * q, note_off(62)),
        (3 * q + 1, note_on(64)), (7 * q, note_off(64)),
    ]  # fmt: skip
    starts = [(0.0, 60), (1.0, 62), (3 + 1 / q, 64)]
    return mido_song(conductor, notes, ppq=ppq), starts


def _mido_note_seconds(data: bytes) -> list[tuple[float, str, int]]:
    """(seconds, 'on' or 'off', pitch) of every note event, as mido times the file."""
    out = []
    now = 0.0
    for msg in mido.MidiFile(file=io.BytesIO(data)):  # merged tracks, times in seconds
        now += msg.time
        if msg.type in ("note_on", "note_off"):
            out.append((now, "on" if msg.type == "note_on" and msg.velocity else "off", msg.note))
    return sorted(out)


@pytest.mark.parametrize(
    ("file_ppq", "score_ppq"),
    [(1, 96), (3, 96), (20, 100), (25, 100), (30, 120), (50, 100), (8191, 32764)],
)
def test_read_mid_raises_a_resolution_that_cannot_hold_a_sixteenth_keeping_timing(
    tmp_path: Path, file_ppq: int, score_ppq: int
) -> None:
    # e.g. 25 ticks per quarter: a sixteenth would be 6.25 ticks; x4 gives 100, one of 25
    data, starts = _song_at(file_ppq)
    score, report = read_mid_report(write(tmp_path, data))
    assert score.ppq == score_ppq and score.ppq % 4 == 0
    factor = score_ppq // file_ppq
    # beats are unchanged: every tick of the file times the factor
    assert [(n.start_tick / score.ppq, n.pitch) for n in score.notes] == starts
    assert [(t.tick // factor, t.us_per_quarter) for t in score.tempo_map] == [
        (0, 600_000),
        (3 * file_ppq, 750_000),
    ]
    assert [(s.tick / score.ppq, s.numerator, s.denominator) for s in score.time_signatures] == [
        (0.0, 3, 4),
        (6.0, 6, 8),
    ]
    # and so are seconds, as mido times the original file
    seconds = sorted(
        [(ticks_to_seconds(n.start_tick, score.tempo_map, score.ppq), "on", n.pitch) for n in score.notes]
        + [(ticks_to_seconds(n.end_tick, score.tempo_map, score.ppq), "off", n.pitch) for n in score.notes]
    )
    expected = _mido_note_seconds(data)
    assert [(kind, pitch) for _s, kind, pitch in seconds] == [(k, p) for _s, k, p in expected]
    assert [s for s, _k, _p in seconds] == pytest.approx([s for s, _k, _p in expected], abs=1e-9)
    assert report.resolution_raised_from == file_ppq
    assert report.change_lines() == [
        f"resolution raised from {file_ppq} to {score_ppq} ticks per quarter (timing unchanged)"
    ]
    assert report.dropped_content_lines() == []  # nothing is lost
    # saved and opened again: the same score, nothing more to raise
    again, again_report = parse_mid_bytes(mid_bytes(score))
    assert (again.ppq, again.notes, again.tempo_map) == (score.ppq, score.notes, score.tempo_map)
    assert again.time_signatures == score.time_signatures
    assert not again_report.changed_anything


def test_read_mid_raises_the_resolution_only_where_a_sixteenth_does_not_fit(tmp_path: Path) -> None:
    # PPQ: raised when not a multiple of 4 or under 24, to a multiple of 4 of at least 96;
    # kept where the factor would pass 32767 (8193 x 4 = 32772), where a tick is too short
    # for rounding a step to matter
    expected = {
        1: 96, 2: 96, 3: 96, 12: 96, 20: 100, 24: 24, 25: 100, 30: 120, 96: 96, 100: 100,
        480: 480, 1023: 4092, 1024: 1024, 8191: 32764, 8193: 8193, 16382: 32764,
        16386: 16386, 32767: 32767,
    }  # fmt: skip
    got = {}
    for file_ppq in expected:
        data = mido_song([(0, note_on(60)), (file_ppq, note_off(60))], ppq=file_ppq)
        score = read_mid(write(tmp_path, data))
        assert score.notes == (Note(0, 60, score.ppq),)  # one quarter, whatever the PPQ
        got[file_ppq] = score.ppq
    assert got == expected
    # SMPTE: fps x ticks per frame ticks per quarter (one second per quarter), then the same
    # rule: 25 x 1 = 25 -> x4 = 100; 29.97 fps counts 30: 30 x 3 = 90 -> x2 = 180
    smpte_expected = {(24, 1): 24, (25, 1): 100, (25, 4): 100, (25, 40): 1000, (30, 1): 120,
                      (30, 2): 60, (29, 3): 180, (25, 255): 25500, (30, 255): 15300}
    smpte_got = {}
    for fps, ticks_per_frame in smpte_expected:
        division = (256 - fps) << 8 | ticks_per_frame
        data = smf(track((0, on(60)), (ticks_per_frame, off(60))), division=division)
        score = read_mid(write(tmp_path, data))
        smpte_got[fps, ticks_per_frame] = score.ppq
    assert smpte_got == smpte_expected


@pytest.mark.parametrize(
    ("fps", "ticks_per_frame", "ppq"),
    [(25, 1, 100), (30, 1, 120), (29, 1, 120), (25, 3, 300)],
)
def test_read_mid_smpte_resolution_holds_a_sixteenth(
    tmp_path: Path, fps: int, ticks_per_frame: int, ppq: int
) -> None:
    # frames of `ticks_per_frame` ticks: a note from frame 5 to frame 30 lasts 25 frames
    division = (256 - fps) << 8 | ticks_per_frame
    data = smf(
        track((5 * ticks_per_frame, on(60)), (25 * ticks_per_frame, off(60))), division=division
    )
    score, report = read_mid_report(write(tmp_path, data))
    assert score.ppq == ppq and score.ppq % 4 == 0
    (note,) = score.notes
    real_fps = 29.97 if fps == 29 else fps
    start_s = ticks_to_seconds(note.start_tick, score.tempo_map, score.ppq)
    end_s = ticks_to_seconds(note.end_tick, score.tempo_map, score.ppq)
    assert start_s == pytest.approx(5 / real_fps) and end_s == pytest.approx(30 / real_fps)
    assert report.change_lines() == [f"SMPTE time division converted to {ppq} ticks per quarter"]


def test_a_closing_rest_is_kept_through_open_edit_and_save(tmp_path: Path) -> None:
    # Two bars of notes, then a bar of rest: the file (its end of track) lasts 3 bars, 6 s at
    # 120 BPM. A save wrote it 2 bars long (4 s), and `info` said 2 bars (D2).
    conductor = [(0, mido.MetaMessage("set_tempo", tempo=500_000)), (5760, end_of_track())]
    notes = [(0, note_on(60)), (1920, note_off(60)), (1920, note_on(62)), (3840, note_off(62)),
             (3840, end_of_track())]  # fmt: skip
    path = write(tmp_path, mido_song(conductor, notes))
    score = read_mid(path)
    assert (score.end_tick, score.closing_rest_ticks, score.length_tick) == (3840, 1920, 5760)
    out = tmp_path / "saved.mid"
    write_mid(score.copy(), out)
    assert mido.MidiFile(out).length == pytest.approx(6.0)
    assert read_mid(out).length_tick == 5760
    # the rest follows the last note: notes added after it push it on; with the last bar
    # deleted, the song ends a bar of rest after the first (the old end does not stick)
    longer = score.copy()
    longer.add(Note(3840, 64, 480))
    write_mid(longer, out)
    assert mido.MidiFile(out).length == pytest.approx(6.5)
    shorter = score.copy()
    shorter.remove(Note(1920, 62, 1920))
    write_mid(shorter, out)
    assert mido.MidiFile(out).length == pytest.approx(4.0)
    # a song with no closing rest ends with its last note, as before; no notes, no length
    plain = Score()
    plain.add(Note(0, 60, 480))
    write_mid(plain, out)
    assert mido.MidiFile(out).length == pytest.approx(0.5)
    assert read_mid(out).closing_rest_ticks == 0
    empty = score.copy()
    for note in score.notes:
        empty.remove(note)
    assert empty.length_tick == 0


def test_a_far_end_of_track_is_no_closing_rest_and_never_blocks_a_save(tmp_path: Path) -> None:
    # One bar of notes and an end of track 100 bars later (a writer's habit): four bars of it
    # at most are kept, so the song is not 101 bars long, and an edit that moves the last
    # note on never makes a save fail for the length of a rest.
    conductor = [(0, mido.MetaMessage("set_tempo", tempo=500_000)), (100 * 1920, end_of_track())]
    notes = [(0, note_on(60)), (1920, note_off(60)), (1920, end_of_track())]
    score = read_mid(write(tmp_path, mido_song(conductor, notes)))
    assert score.closing_rest_ticks == 4 * 1920
    # a rest reaching past the longest song gives way at the limit instead of failing the save
    near_limit = Score(closing_rest_ticks=4 * 1920)
    near_limit.add(Note(MAX_LENGTH_QUARTERS * 480 - 480, 60, 480))
    out = tmp_path / "long.mid"
    write_mid(near_limit, out)
    assert read_mid(out).length_tick == MAX_LENGTH_QUARTERS * 480
    # an empty file's length is no closing rest: a note drawn into it ends the song
    empty = [(0, mido.MetaMessage("set_tempo", tempo=500_000)), (8 * 1920, end_of_track())]
    blank = read_mid(write(tmp_path, mido_song(empty), "blank.mid"))
    assert blank.closing_rest_ticks == 0
    blank.add(Note(0, 60, 480))
    assert blank.length_tick == 480


# ---- program changes: each part's instrument ----------------------------------------------
def program(number: int, channel: int = 0) -> mido.Message:
    return mido.Message("program_change", program=number, channel=channel)


def programs_by_track(data: bytes) -> list[list[tuple[int, int, int]]]:
    """(tick, channel, program) of each track's program changes, as mido reads the file."""
    mid = mido.MidiFile(file=io.BytesIO(data))
    out = []
    for trk in mid.tracks:
        tick, found = 0, []
        for msg in trk:
            tick += msg.time
            if msg.type == "program_change":
                found.append((tick, msg.channel, msg.program))
        out.append(found)
    return out


def test_program_changes_are_kept_and_saved_before_the_notes_they_play(tmp_path: Path) -> None:
    # They were dropped (and a save over the file asked first): a GM synth then played every
    # part with one instrument.
    violin = [(0, program(40)), (0, note_on(72)), (480, note_off(72)),
              (480, program(40)),  # restated: no change
              (960, program(42)), (960, note_on(67)), (1440, note_off(67))]
    bass = [(0, program(32, channel=1)), (0, note_on(36, channel=1)),
            (1440, note_off(36, channel=1))]
    drums = [(0, program(25, channel=9)), (0, note_on(36, channel=9)),
             (240, note_off(36, channel=9))]
    strings = [(0, program(48, channel=2))]  # a part whose notes are all gone
    data = mido_song(violin, bass, drums, strings)
    score, report = read_mid_report(write(tmp_path, data))
    assert [(p.tick, p.channel, p.program) for p in score.program_changes] == [
        (0, 0, 40), (0, 1, 32), (0, 2, 48), (960, 0, 42)
    ]
    # the drum kit goes with the drums (dropped); nothing else would be lost by a save
    assert report.program_changes_skipped == 1
    saved = mid_bytes(score)
    # each channel's in its first track (the conductor holds none), before the note at its tick
    assert programs_by_track(saved) == [
        [], [(0, 0, 40), (960, 0, 42)], [(0, 1, 32)], [(0, 2, 48)]
    ]
    second = [m for m in mido.MidiFile(file=io.BytesIO(saved)).tracks[1] if not m.is_meta]
    assert [(m.type, m.time) for m in second] == [
        ("program_change", 0), ("note_on", 0), ("note_off", 480),
        ("program_change", 480), ("note_on", 0), ("note_off", 480),
    ]
    again, again_report = parse_mid_bytes(saved)
    assert again.program_changes == score.program_changes and not again_report.changed_anything
    # a resolution raised on reading moves them with the notes
    coarse = mido_song(violin, ppq=12)
    score = read_mid_report(write(tmp_path, coarse))[0]
    factor = score.ppq // 12
    assert [(p.tick, p.program) for p in score.program_changes] == [(0, 40), (960 * factor, 42)]


def test_a_unison_of_two_tracks_stays_two_notes_through_an_edit_and_its_undo() -> None:
    # The melody's C5 and the chords' C5 on one channel were one note to a selection (the
    # track was not compared): transposing the chords' one and undoing put both in track 0.
    from composer_app.core.edits import ReplaceNotes

    melody = [(0, note_on(72, 80)), (480, note_off(72)), (480, note_on(74, 80)), (960, note_off(74))]
    chords = [(0, note_on(72, 80)), (0, note_on(64, 80)), (480, note_off(72)), (480, note_off(64))]
    data = mido_song(melody, chords)
    score = parse_mid_bytes(data)[0]
    before = [(n.pitch, n.track) for n in score.notes]
    assert before == [(64, 1), (72, 0), (72, 1), (74, 0)]
    chords_c5 = next(n for n in score.notes if n.pitch == 72 and n.track == 1)
    assert score.copies_of([chords_c5]) == [chords_c5]  # a selection of it holds it alone
    edit = ReplaceNotes(score.copies_of([chords_c5]), [chords_c5.moved(0, 1)], "Transpose")
    edit.apply(score)
    assert [(n.pitch, n.track) for n in score.notes] == [(64, 1), (72, 0), (73, 1), (74, 0)]
    edit.revert(score)
    assert [(n.pitch, n.track) for n in score.notes] == before
    assert note_tracks(mid_bytes(score)) == [[72, 74], [64, 72]]  # (at one tick by pitch)


def test_a_file_of_more_tracks_than_a_save_can_hold_saves_each_channel_as_one(
    tmp_path: Path,
) -> None:
    # 65,535 one-note tracks on channel 1 and no conductor track: kept apart, they would need
    # one track more than a file holds with the conductor, and the file could not be saved.
    tracks = []
    for k in range(0xFFFF):
        body = files._vlq(20 * k) + b"\x90\x3c\x40\x0a\x80\x3c\x00\x00\xff\x2f\x00"
        tracks.append(b"MTrk" + len(body).to_bytes(4, "big") + body)
    data = (b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big")
            + (0xFFFF).to_bytes(2, "big") + (480).to_bytes(2, "big") + b"".join(tracks))
    score, report = parse_mid_bytes(data)
    assert report.dropped_content_lines() == [] and score.notes[-1].track == 0xFFFE
    saved = mid_bytes(score)
    assert len(track_bodies(saved)) == 2  # the conductor and channel 1's notes
    assert [n.start_tick for n in parse_mid_bytes(saved)[0].notes] == [
        20 * k for k in range(0xFFFF)
    ]


def test_controllers_and_bends_are_kept_and_one_past_the_end_does_not_lengthen_the_song(
    tmp_path: Path,
) -> None:
    # the sustain pedal, a volume and a bend were dropped (a piano piece played and saved
    # without its pedalling); a save over the file asked first
    cc = mido.Message
    piano = [(0, cc("control_change", control=7, value=100)),
             (0, cc("control_change", control=64, value=127)),
             (0, note_on(60)), (480, note_off(60)),
             (480, cc("control_change", control=64, value=0)),
             (480, cc("pitchwheel", pitch=1000)),
             (480, note_on(62)), (960, note_off(62)),
             (960, cc("pitchwheel", pitch=0))]
    score, report = read_mid_report(write(tmp_path, mido_song(piano)))
    assert [(c.tick, c.controller, c.value) for c in score.control_changes] == [
        (0, 7, 100), (0, 64, 127), (480, 64, 0)
    ]
    assert [(b.tick, b.value) for b in score.pitch_bends] == [(480, 9192), (960, 8192)]
    assert not report.changed_anything
    again = parse_mid_bytes(mid_bytes(score))[0]
    assert (again.control_changes, again.pitch_bends) == (score.control_changes,
                                                         score.pitch_bends)
    # the last part's notes deleted: its settings lie past the song's end now; a save puts
    # the last of each at the end, so the song reads back as long as it is
    score.remove_many([n for n in score.notes if n.pitch == 62])
    score.program_changes = [ProgramChange(0, 0, 40), ProgramChange(600, 0, 41),
                             ProgramChange(900, 0, 42)]
    again = parse_mid_bytes(mid_bytes(score))[0]
    assert again.length_tick == score.length_tick == 480
    assert [(p.tick, p.program) for p in again.program_changes] == [(0, 40), (480, 42)]
    assert [(c.tick, c.controller, c.value) for c in again.control_changes] == [
        (0, 7, 100), (0, 64, 127), (480, 64, 0)
    ]
    assert [(b.tick, b.value) for b in again.pitch_bends] == []  # back to the centre: none


def test_settings_past_the_cap_or_the_length_limit_are_skipped_and_counted(
    tmp_path: Path,
) -> None:
    # at most 65,536 controller changes (and as many bends, and program changes) are kept:
    # 10 MB of them would otherwise fill memory; one past the length limit (a corrupt delta
    # time) is dropped rather than making the song hours long
    def song(events: bytes) -> bytes:
        body = events + b"\x00\xff\x2f\x00"
        return (b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big")
                + (1).to_bytes(2, "big") + (480).to_bytes(2, "big") + b"MTrk"
                + len(body).to_bytes(4, "big") + body)

    events = b"".join(
        files._vlq(1) + bytes((0xB0, 1, k & 0x7F)) for k in range(files.MAX_TEMPO_CHANGES + 2)
    )
    score, report = parse_mid_bytes(song(events))
    assert len(score.control_changes) == files.MAX_TEMPO_CHANGES
    assert report.controller_events_skipped == 2
    # past the length limit (after a corrupt delta time): a controller, a program, a bend
    late = files._vlq(0x0FFFFFFF) + b"\xb0\x07\x10" + b"\x00\xc0\x05" + b"\x00\xe0\x00\x50"
    score, report = parse_mid_bytes(song(b"\x00\xb0\x07\x64" + late))
    assert score.control_changes == [ControlChange(0, 0, 7, 100)]
    assert score.program_changes == [] and score.pitch_bends == []
    assert (report.controller_events_skipped, report.program_changes_skipped,
            report.other_channel_events_skipped) == (1, 1, 1)


def test_track_names_and_the_title_are_kept_with_their_parts(tmp_path: Path) -> None:
    # A song's title and its parts' names were dropped (a save over the file asked first):
    # the next program showed "Track 1", "Track 2" where the melody and chords had been.
    def name(text: bytes) -> mido.MetaMessage:
        return mido.MetaMessage("track_name", name=text.decode("latin-1"))

    conductor = [(0, name(b"Caf\xe9 Waltz")), (0, mido.MetaMessage("set_tempo", tempo=500_000))]
    melody = [(0, name(b"Melody")), (0, note_on(72)), (480, note_off(72))]
    chords = [(0, name(b"Chords")), (0, note_on(48)), (480, note_off(48))]
    bass = [(0, name(b"Bass")), (0, note_on(36, channel=1)), (480, note_off(36, channel=1))]
    data = mido_song(conductor, melody, chords, bass)
    score, report = read_mid_report(write(tmp_path, data))
    assert score.title == "Caf\xe9 Waltz"
    assert score.track_names == {(0, 0): "Melody", (0, 1): "Chords", (1, 0): "Bass"}
    assert not report.changed_anything
    saved = mid_bytes(score)
    names = [[m.name for m in trk if m.type == "track_name"]
             for trk in mido.MidiFile(file=io.BytesIO(saved)).tracks]
    assert names == [["Caf\xe9 Waltz"], ["Melody"], ["Chords"], ["Bass"]]
    assert b"Caf\xe9 Waltz" in saved  # the very bytes (Latin-1) back
    again = parse_mid_bytes(saved)[0]
    assert (again.title, again.track_names) == (score.title, score.track_names)
    # a format-0 file's one track name is the song's title
    single = mido_song([(0, name(b"Reel")), (0, note_on(60)), (480, note_off(60))],
                       file_type=0)
    score = read_mid_report(write(tmp_path, single))[0]
    assert (score.title, score.track_names) == ("Reel", {})
    # a name no Latin-1 holds (typed elsewhere) is written in UTF-8
    score.title = "\u30ef\u30eb\u30c4"
    assert "\u30ef\u30eb\u30c4".encode() in mid_bytes(score)


def test_settings_keep_their_order_at_one_tick_and_what_another_track_changed(
    tmp_path: Path,
) -> None:
    # A re-pedal (up, then down, at one tick) read as "down" and then merged away: the pedal
    # never lifted. The pitch-bend range (RPN 0) was reordered by controller number, and a
    # data entry of the value the one before it had was merged away though it set another
    # parameter. A pedal a track puts down again after another track lifted it is no
    # restatement.
    cc = mido.Message

    def control(number: int, value: int, channel: int = 0) -> mido.Message:
        return cc("control_change", control=number, value=value, channel=channel)

    rpn = [control(101, 0), control(100, 0), control(6, 12), control(101, 0), control(100, 1),
           control(6, 12), control(101, 127), control(100, 127)]
    piano = [*((0, m) for m in rpn),
             (0, control(64, 127)), (0, note_on(60)),
             (480, note_off(60)), (480, control(64, 0)), (480, control(64, 127)),
             (480, note_on(62)), (960, note_off(62)), (1200, control(64, 127))]
    other_hand = [(960, control(64, 0)), (960, note_on(48)), (1440, note_off(48))]
    score, report = read_mid_report(write(tmp_path, mido_song(piano, other_hand)))
    assert [(c.tick, c.controller, c.value) for c in score.control_changes] == [
        (0, 101, 0), (0, 100, 0), (0, 6, 12), (0, 101, 0), (0, 100, 1), (0, 6, 12),
        (0, 101, 127), (0, 100, 127), (0, 64, 127), (480, 64, 0), (480, 64, 127),
        (960, 64, 0), (1200, 64, 127),
    ]
    assert report.controller_events_skipped == 0

    def by_channel(changes: list) -> list:  # (a save writes each channel in its own track)
        return sorted(changes, key=lambda c: c.channel)  # stable: in time, as given

    again = parse_mid_bytes(mid_bytes(score))[0]
    assert by_channel(again.control_changes) == by_channel(score.control_changes)
    # a score of settings alone keeps them at their ticks (none is past an end it lacks)
    score.remove_many(score.notes)
    again = parse_mid_bytes(mid_bytes(score))[0]
    assert by_channel(again.control_changes) == by_channel(score.control_changes)


def test_lyrics_markers_texts_and_system_exclusive_messages_are_kept(tmp_path: Path) -> None:
    # A karaoke file's lyrics, a song's markers and copyright and a General MIDI reset were
    # dropped (a save over the file asked first, and a save after asking lost them).
    def meta(kind: str, text: bytes, tick: int = 0) -> tuple[int, mido.MetaMessage]:
        return tick, mido.MetaMessage(kind, text=text.decode("latin-1"))

    gm_reset = mido.Message("sysex", data=[0x7E, 0x7F, 0x09, 0x01])
    conductor = [meta("copyright", b"\xa9 2026 Ana"), meta("marker", b"Verse"), (0, gm_reset),
                 meta("marker", b"Chorus", 960), meta("cue_marker", b"fade", 1440)]
    melody = [meta("lyrics", b"Caf"), (0, note_on(72)), meta("lyrics", b"\xe9", 480),
              (480, note_off(72)), (480, note_on(74)), (960, note_off(74)),
              meta("text", b"end of melody", 960), meta("marker", b"Bridge", 960)]
    chords = [(0, note_on(48, channel=1)), (0, note_on(52, channel=2)),
              meta("lyrics", b"(oo)", 0), (960, note_off(48, channel=1)),
              (960, note_off(52, channel=2))]
    score, report = read_mid_report(write(tmp_path, mido_song(conductor, melody, chords)))
    assert not report.changed_anything  # nothing skipped: a save over the file asks nothing
    assert [(t.tick, t.kind, t.text, t.part) for t in score.texts] == [
        # at one tick, the song's first (as a save writes them), each in the file's order
        (0, 2, "\xa9 2026 Ana", None), (0, 6, "Verse", None),
        (0, 5, "(oo)", None),  # a lyric of a track of two channels is the song's
        (0, 5, "Caf", (0, 0)),  # one of the melody's track is the melody's
        (480, 5, "\xe9", (0, 0)),
        (960, 6, "Chorus", None),
        (960, 6, "Bridge", None),  # a marker is the song's wherever it is
        (960, 1, "end of melody", (0, 0)),
        (1440, 7, "fade", None),
    ]
    assert score.system_exclusive == [SystemExclusive(0, b"\xf0\x7e\x7f\x09\x01\xf7")]
    saved = mid_bytes(score)
    assert b"\xa9 2026 Ana" in saved and b"Caf\xe9" not in saved  # the very bytes, apart
    tracks = mido.MidiFile(file=io.BytesIO(saved)).tracks
    lyrics = [[m.text for m in trk if m.type == "lyrics"] for trk in tracks]
    assert lyrics == [["(oo)"], ["Caf", "\xe9"], [], []]  # the melody's stay in its track
    assert [m.data for m in tracks[0] if m.type == "sysex"] == [(0x7E, 0x7F, 0x09, 0x01)]
    # a lyric is written before the note it goes with
    melody_track = [m.type for m in tracks[1] if m.type in ("lyrics", "note_on")]
    assert melody_track[:2] == ["lyrics", "note_on"]
    again, again_report = parse_mid_bytes(saved)
    assert again == score and not again_report.changed_anything
    # a format-0 file's texts are the song's
    single = mido_song(melody, file_type=0)
    assert {t.part for t in read_mid(write(tmp_path, single)).texts} == {None}


def test_texts_follow_their_part_and_stay_within_the_song(tmp_path: Path) -> None:
    # The melody's notes are deleted: its lyrics are not lost with them, but saved in the
    # first track; a text past the song's end is saved at the end (as a setting is), so the
    # song does not read back longer; a raised resolution moves texts with the notes.
    score = Score()
    score.add_many([Note(0, 60, 480), Note(0, 48, 960, channel=1)])
    score.texts = [TextEvent(0, 5, "la", (0, 0)), TextEvent(480, 6, "Coda"),
                   TextEvent(9600, 1, "after the end", (1, 0))]
    score.system_exclusive = [SystemExclusive(9600, b"\xf0\x43\x10\x4c\x00\x00\x7e\x00\xf7")]
    score.remove(Note(0, 60, 480))
    again = parse_mid_bytes(mid_bytes(score))[0]
    assert again.length_tick == score.length_tick == 960
    assert [(t.tick, t.text, t.part) for t in again.texts] == [
        (0, "la", None), (480, "Coda", None), (960, "after the end", (1, 0))]
    assert [(m.tick, m.data) for m in again.system_exclusive] == [
        (960, b"\xf0\x43\x10\x4c\x00\x00\x7e\x00\xf7")]
    # PPQ 30 cannot hold a sixteenth: every tick is raised by 4, the texts' too
    low = mido_song([(0, note_on(60)), (15, mido.MetaMessage("lyrics", text="hey")),
                     (15, mido.Message("sysex", data=[1, 2])), (30, note_off(60))], ppq=30)
    raised = read_mid(write(tmp_path, low))
    assert raised.ppq == 120
    assert [(t.tick, t.text) for t in raised.texts] == [(60, "hey")]
    assert [m.tick for m in raised.system_exclusive] == [60]


def test_what_lies_far_past_the_last_note_stays_where_it_is_on_a_save(tmp_path: Path) -> None:
    # An "End" marker, a pedal-up and a sysex ten bars after the last note (a drum outro,
    # dropped): the song keeps a closing rest of four bars, and a save moved them to its end
    # (19,200 -> 8,160) though nothing was edited. Its closing rest is the longest kept, so
    # the file's end lay further off: they are saved where they are and read back so.
    conductor = [(19200, mido.MetaMessage("marker", text="End")),
                 (19200, mido.Message("sysex", data=[0x7E, 0x7F, 0x09, 0x01]))]
    melody = [(0, note_on(60)), (480, note_off(60)),
              (19200, mido.Message("control_change", control=64, value=0))]
    score, report = read_mid_report(write(tmp_path, mido_song(conductor, melody)))
    assert score.length_tick == 480 + 4 * 1920  # the longest closing rest kept
    again, again_report = parse_mid_bytes(mid_bytes(score))
    assert again == score and not again_report.changed_anything
    assert [t.tick for t in again.texts] == [m.tick for m in again.system_exclusive] == [19200]
    assert [c.tick for c in again.control_changes] == [19200]
    # a shorter closing rest (the song's end where the file said): what lies past it is
    # saved at the end, so the song does not read back longer
    score.closing_rest_ticks = 960
    again = parse_mid_bytes(mid_bytes(score))[0]
    assert again.length_tick == score.length_tick == 1440
    assert [t.tick for t in again.texts] == [c.tick for c in again.control_changes] == [1440]


@pytest.mark.parametrize("ppq", [1, 3, 2, 480])
def test_what_lies_far_past_the_last_note_stays_at_a_raised_resolution(
    tmp_path: Path, ppq: int
) -> None:
    # At PPQ 1 or 3 in 3/8 (read at 96 ticks a quarter) a bar is not whole ticks of the
    # file's: the reader's longest closing rest (counted in the file's ticks, then raised)
    # fell short of the writer's, which then moved a marker ten bars after the last note
    # (1632 -> 576) on a save with no edits.
    conductor = [(0, mido.MetaMessage("time_signature", numerator=3, denominator=8)),
                 (ppq + 15 * ppq, mido.MetaMessage("marker", text="End"))]
    melody = [(0, note_on(60)), (ppq, note_off(60))]
    score = read_mid(write(tmp_path, mido_song(conductor, melody, ppq=ppq)))
    again, report = parse_mid_bytes(mid_bytes(score))
    assert again == score and not report.changed_anything
    assert [t.tick for t in again.texts] == [16 * score.ppq]  # where the file put it


def test_a_split_system_exclusive_message_and_long_texts_are_written_back_whole() -> None:
    # a message sent in packets (0xF0 without its end, then 0xF7 packets) and a text longer
    # than 127 bytes (a length of two bytes) come back byte for byte
    score = Score()
    score.add(Note(0, 60, 960))
    packets = [SystemExclusive(0, b"\xf0\x43\x12\x00"), SystemExclusive(240, b"\xf7\x43\x12\x00\xf7")]
    score.system_exclusive = list(packets)
    score.texts = [TextEvent(0, 1, "x" * 300)]
    again = parse_mid_bytes(mid_bytes(score))[0]
    assert again.system_exclusive == packets
    assert again.texts == score.texts


def test_texts_and_system_exclusive_past_the_cap_or_the_length_limit_are_skipped_and_counted(
) -> None:
    # at most 65,536 texts (and as many system-exclusive messages) are kept; one past the
    # length limit (a corrupt delta time) is dropped rather than making the song hours long
    def song(events: bytes) -> bytes:
        body = b"\x00\x90\x3c\x40\x83\x60\x80\x3c\x40" + events + b"\x00\xff\x2f\x00"
        return (b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big")
                + (1).to_bytes(2, "big") + (480).to_bytes(2, "big") + b"MTrk"
                + len(body).to_bytes(4, "big") + body)

    n = files.MAX_TEMPO_CHANGES + 2
    score, report = parse_mid_bytes(song(b"\x00\xff\x06\x01M" * n + b"\x00\xf0\x01\xf7" * n))
    assert len(score.texts) == len(score.system_exclusive) == files.MAX_TEMPO_CHANGES
    assert (report.meta_events_skipped, report.sysex_messages_skipped) == (2, 2)
    late = files._vlq(0x0FFFFFFF) + b"\xff\x05\x02la" + b"\x00\xf0\x01\xf7"
    score, report = parse_mid_bytes(song(b"\x00\xff\x05\x02Oh" + late))
    assert [t.text for t in score.texts] == ["Oh"] and score.system_exclusive == []
    assert (report.meta_events_skipped, report.sysex_messages_skipped) == (1, 1)
    assert score.length_tick == 480
    # the same of key and channel pressure
    score, report = parse_mid_bytes(song(b"\x00\xa0\x3c\x01" * n))
    assert len(score.key_pressures) == files.MAX_TEMPO_CHANGES
    assert report.other_channel_events_skipped == 2
    late = files._vlq(0x0FFFFFFF) + b"\xd0\x10" + b"\x00\xa0\x3c\x01"
    score, report = parse_mid_bytes(song(b"\x00\xd0\x20" + late))
    assert [p.value for p in score.channel_pressures] == [0x20] and score.key_pressures == []
    assert report.other_channel_events_skipped == 2


def test_channel_and_key_pressure_are_kept_and_written_back(tmp_path: Path, capsys) -> None:
    # A keyboard's aftertouch (channel pressure) and a key's own pressure were dropped (a save
    # over the file asked first, and a save after asking lost the part's expression).
    def pressure(value: int, channel: int = 0) -> mido.Message:
        return mido.Message("aftertouch", value=value, channel=channel)

    def key(pitch: int, value: int) -> mido.Message:
        return mido.Message("polytouch", note=pitch, value=value)

    lead = [(0, note_on(72)), (0, key(72, 40)), (120, pressure(0)),  # none: as it starts
            (240, pressure(64)), (240, pressure(64)), (360, key(72, 90)), (480, note_off(72)),
            (480, pressure(0))]
    other = [(0, note_on(48, channel=1)), (0, pressure(30, channel=9)),  # (the drums')
             (300, pressure(20, channel=1)), (480, note_off(48, channel=1))]
    score, report = read_mid_report(write(tmp_path, mido_song(lead, other)))
    assert [(p.tick, p.channel, p.value) for p in score.channel_pressures] == [
        (240, 0, 64), (300, 1, 20), (480, 0, 0)]  # restatements merged
    assert [(k.tick, k.pitch, k.value) for k in score.key_pressures] == [(0, 72, 40), (360, 72, 90)]
    assert report.other_channel_events_skipped == 1  # the drum channel's
    saved = mid_bytes(score)
    again, again_report = parse_mid_bytes(saved)
    assert again == score and not again_report.changed_anything
    # a key's pressure comes after the note-on it presses
    first = [m.type for m in mido.MidiFile(file=io.BytesIO(saved)).tracks[1]][:2]
    assert first == ["note_on", "polytouch"]
    path = tmp_path / "again.mid"
    path.write_bytes(saved)
    from composer_app.cli import main

    assert main(["info", str(path)]) == 0
    assert "Aftertouch: 3 channel pressure, 2 key pressure" in capsys.readouterr().out


def test_a_save_that_would_pass_the_size_limit_is_written_compactly_or_refused(
    tmp_path: Path, monkeypatch
) -> None:
    # A file just under the reader's size limit, holding a big sysex dump (now kept) and
    # notes ended by note-ons of velocity 0 under running status, saved over the limit (its
    # note-offs took a byte more each): it could not be opened again. Now a save that would
    # pass the limit writes its note-offs so too; one still over it is refused, naming why.
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 3_000)
    notes = bytearray(b"\x00\x90")
    for k in range(300):
        notes += bytes((40 + k % 40, 100)) + b"\x01" + bytes((40 + k % 40, 0)) + b"\x00"
    notes[-1:] = b"\x00\xff\x2f\x00"
    dump = b"\x43" + bytes(1_000) + b"\xf7"

    def song(dump: bytes) -> bytes:
        def chunk(body: bytes) -> bytes:
            return b"MTrk" + len(body).to_bytes(4, "big") + body

        return (b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big")
                + (2).to_bytes(2, "big") + (96).to_bytes(2, "big")
                + chunk(b"\x00\xf0" + files._vlq(len(dump)) + dump + b"\x00\xff\x2f\x00")
                + chunk(bytes(notes)))

    data = song(dump)
    assert len(data) == 2_845
    score = parse_mid_bytes(data)[0]
    assert len(files._mid_bytes(score, "", compact=False)) == 3_460  # over the limit
    path = tmp_path / "dump.mid"
    write_mid(score, path)
    assert len(path.read_bytes()) == 2_861
    assert read_mid(path) == score
    # a score that no way of writing fits: refused before anything is written
    score.system_exclusive = [SystemExclusive(0, b"\xf0" + bytes(3_000) + b"\xf7")]
    with pytest.raises(MidiFileError, match="cannot be opened again"):
        write_mid(score, tmp_path / "too_big.mid")
    assert not (tmp_path / "too_big.mid").exists()


def test_settings_of_several_channels_at_one_tick_read_back_the_same(tmp_path: Path) -> None:
    # The file's second channel's track came first: at one tick its settings were held
    # before the first channel's, a save wrote them by channel, and the song read back
    # otherwise (unequal, though nothing had changed). At one tick they are held by channel.
    def settings(channel: int) -> list[tuple[int, mido.Message]]:
        return [(100, mido.Message("pitchwheel", pitch=100 + channel, channel=channel)),
                (100, mido.Message("control_change", control=7, value=10 + channel,
                                   channel=channel)),
                (100, mido.Message("program_change", program=10 + channel, channel=channel)),
                (100, mido.Message("aftertouch", value=10 + channel, channel=channel)),
                (100, mido.Message("polytouch", note=60 + 4 * channel, value=9,
                                   channel=channel))]

    second = [(0, note_on(60, channel=1)), *settings(1), (480, note_off(60, channel=1))]
    first = [(0, note_on(64)), *settings(0), (480, note_off(64))]
    score = read_mid(write(tmp_path, mido_song(second, first)))
    for kind in ("program_changes", "control_changes", "pitch_bends", "channel_pressures",
                 "key_pressures"):
        assert [s.channel for s in getattr(score, kind)] == [0, 1], kind
    assert parse_mid_bytes(mid_bytes(score))[0] == score


def test_bends_and_pressures_kept_in_arrays_are_those_of_the_plain_rule(monkeypatch) -> None:
    # 10 MB of channel pressure, read as tuples, took 600 MB: they are now looked at in
    # arrays, a chunk at a time. The rule is the plain one: in time order (file order at one
    # tick), a change of its channel's value is kept (the last at one tick), the drum
    # channel's and any past the cap of ticks and channels counted, restatements not.
    import random
    from array import array
    from operator import itemgetter

    def plain(changes: list, start: int, cap: int) -> tuple[dict, int]:
        in_force: dict[int, int] = {}
        kept: dict[tuple[int, int], int] = {}
        skipped = 0
        for tick, channel, value in sorted(changes, key=itemgetter(0)):
            if value == in_force.get(channel, start):
                continue
            in_force[channel] = value
            if channel == files.DRUM_CHANNEL or (len(kept) >= cap and (tick, channel) not in kept):
                skipped += 1
            else:
                kept[tick, channel] = value
        return kept, skipped

    rng = random.Random(7)
    for _ in range(400):
        cap = rng.choice([1, 2, 5, 100])
        monkeypatch.setattr(files, "MAX_TEMPO_CHANGES", cap)
        monkeypatch.setattr(files, "_VALUES_AT_ONCE", rng.choice([1, 2, 3, 7, 1 << 20]))
        changes = []
        for _track in range(rng.randint(1, 3)):  # each track in time order, one after another
            tick = 0
            for _ in range(rng.randint(0, 25)):
                tick += rng.choice([0, 0, 1, 5])
                changes.append((tick, rng.choice([0, 1, 9]), rng.choice([0, 1, 2])))
        bits, start = rng.choice([(7, 0), (14, 8192)])
        packed = array("q", [(t << 4 | c) << bits | v for t, c, v in changes])
        report = files.ImportReport()
        kept = files._channel_values_kept(packed, bits, start, report)
        assert (kept, report.other_channel_events_skipped) == plain(changes, start, cap), changes

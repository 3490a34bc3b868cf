"""MIDI file import/export: rules, every documented failure, and atomic saving.

Every file here is built in memory: well-formed ones with mido (an independent writer and
reader) or byte by byte where the point is a malformed chunk.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path

import mido
import pytest

from composer_app.core.note import Note
from composer_app.core.pianoroll import score_to_roll
from composer_app.core.score import (
    ChannelPressure,
    ControlChange,
    KeyPressure,
    PitchBend,
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
    MAX_FILE_BYTES,
    MAX_LENGTH_QUARTERS,
    OVERLAP_TRACK_NAME,
    MidiFileError,
    mid_bytes,
    parse_mid_bytes,
    read_mid,
    read_mid_report,
    write_mid,
)


# ---- byte builders -----------------------------------------------------------------------
def vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def chunk(chunk_id: bytes, body: bytes, length: int | None = None) -> bytes:
    return chunk_id + (len(body) if length is None else length).to_bytes(4, "big") + body


def header(file_format: int = 1, n_tracks: int = 1, division: int = 480) -> bytes:
    body = (
        file_format.to_bytes(2, "big") + n_tracks.to_bytes(2, "big") + division.to_bytes(2, "big")
    )
    return chunk(b"MThd", body)


def track(*events: tuple[int, bytes], end: bool = True) -> bytes:
    body = b"".join(vlq(delta) + data for delta, data in events)
    if end:
        body += b"\x00\xff\x2f\x00"
    return chunk(b"MTrk", body)


def smf(*tracks: bytes, file_format: int = 1, division: int = 480) -> bytes:
    return header(file_format, len(tracks), division) + b"".join(tracks)


def on(pitch: int, velocity: int = 100, channel: int = 0) -> bytes:
    return bytes((0x90 | channel, pitch, velocity))


def off(pitch: int, channel: int = 0) -> bytes:
    return bytes((0x80 | channel, pitch, 64))


TEMPO_100_BPM = b"\xff\x51\x03" + (600_000).to_bytes(3, "big")
METER_3_4 = bytes((0xFF, 0x58, 4, 3, 2, 24, 8))

# one quarter note C4 then one quarter D4, at 480 PPQ
SIMPLE = smf(track((0, on(60)), (480, off(60)), (0, on(62)), (480, off(62))))


def write(tmp_path: Path, data: bytes, name: str = "song.mid") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def mido_bytes(mid: mido.MidiFile) -> bytes:
    buffer = io.BytesIO()
    mid.save(file=buffer)
    return buffer.getvalue()


def mido_notes(data: bytes) -> list[Note]:
    """Notes as mido parses ``data``, paired by the reader's documented rule (an oracle): per
    track, channel and pitch, a note-off ends the sounding note and a strike cuts it; after a
    cut, a note-off followed by another note-off of the pitch before its next strike is the
    cut note's late one (the new note goes on). Notes never turned off are left out."""
    return mido_notes_of(mido.MidiFile(file=io.BytesIO(data)))


def mido_notes_of(mid: mido.MidiFile) -> list[Note]:
    """:func:`mido_notes` of a file mido has already read. Each note's track is its file
    track's place among those with notes on its channel (0 the first); a track named
    ``OVERLAP_TRACK_NAME`` (this app's, for overlapping notes) counts as the one before it."""
    notes = []
    tracks_on: dict[int, int] = {}  # channel -> tracks with notes on it so far
    for trk in mid.tracks:
        tick = 0
        events: dict[tuple[int, int], list[tuple[int, int]]] = {}
        layer = any(
            m.type == "track_name" and m.name.encode() == OVERLAP_TRACK_NAME for m in trk
        )
        for msg in trk:
            tick += msg.time
            if msg.type not in ("note_on", "note_off") or msg.channel == 9:
                continue
            velocity = msg.velocity if msg.type == "note_on" else 0
            events.setdefault((msg.channel, msg.note), []).append((tick, velocity))
        track_notes = []
        for (channel, pitch), seq in events.items():
            sounding: tuple[int, int] | None = None
            cut_without_off = 0
            for k, (t, velocity) in enumerate(seq):
                if velocity == 0:
                    if sounding is None:
                        continue
                    next_event = seq[k + 1] if k + 1 < len(seq) else None
                    if cut_without_off and next_event is not None and next_event[1] == 0:
                        cut_without_off -= 1
                        continue
                    if t > sounding[0]:
                        track_notes.append((sounding[0], pitch, t - sounding[0], sounding[1],
                                            channel))
                    sounding, cut_without_off = None, 0
                else:
                    if sounding is not None:
                        if t > sounding[0]:
                            track_notes.append(
                                (sounding[0], pitch, t - sounding[0], sounding[1], channel)
                            )
                        cut_without_off += 1
                    sounding = (t, velocity)
        for channel in sorted({fields[4] for fields in track_notes}):
            if not (layer and channel in tracks_on):
                tracks_on[channel] = tracks_on.get(channel, 0) + 1
        notes += [Note(*fields, track=tracks_on[fields[4]] - 1) for fields in track_notes]
    return sorted(notes)


# ---- reading well-formed files -----------------------------------------------------------
def test_read_mid_type0_from_mido_keeps_notes_tempo_meter_and_channels(tmp_path: Path) -> None:
    mid = mido.MidiFile(type=0, ticks_per_beat=96)
    trk = mido.MidiTrack()
    trk.append(mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0))
    trk.append(mido.MetaMessage("set_tempo", tempo=600_000, time=0))
    trk.append(mido.Message("note_on", note=60, velocity=90, channel=0, time=0))
    trk.append(mido.Message("note_on", note=48, velocity=70, channel=3, time=0))
    trk.append(mido.Message("note_off", note=60, velocity=0, channel=0, time=96))
    trk.append(mido.MetaMessage("set_tempo", tempo=400_000, time=0))
    trk.append(mido.Message("note_off", note=48, channel=3, time=96))
    trk.append(mido.MetaMessage("time_signature", numerator=6, denominator=8, time=0))
    trk.append(mido.Message("note_on", note=72, velocity=50, channel=0, time=0))
    trk.append(mido.Message("note_on", note=72, velocity=0, channel=0, time=48))
    mid.tracks.append(trk)
    score, report = read_mid_report(write(tmp_path, mido_bytes(mid)))
    assert score.ppq == 96
    assert report.file_format == 0 and report.track_count == 1
    assert score.notes == (
        Note(0, 48, 192, 70, channel=3),
        Note(0, 60, 96, 90, channel=0),
        Note(192, 72, 48, 50, channel=0),
    )
    assert score.tempo_map == [TempoChange(0, 600_000), TempoChange(96, 400_000)]
    assert score.time_signatures == [TimeSignature(0, 3, 4), TimeSignature(192, 6, 8)]
    assert not report.changed_anything


def test_read_mid_type1_from_mido_merges_tracks(tmp_path: Path) -> None:
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500_000, time=0)])
    melody = mido.MidiTrack(
        [
            mido.Message("note_on", note=67, velocity=80, time=240),
            mido.Message("note_off", note=67, time=240),
        ]
    )
    bass = mido.MidiTrack(
        [
            mido.Message("note_on", note=36, velocity=60, channel=1, time=0),
            mido.Message("note_off", note=36, channel=1, time=960),
        ]
    )
    mid.tracks.extend([conductor, melody, bass])
    score, report = read_mid_report(write(tmp_path, mido_bytes(mid)))
    assert report.track_count == 3
    assert score.notes == (Note(0, 36, 960, 60, channel=1), Note(240, 67, 240, 80))
    # no time signature in the file: 4/4, as the MIDI standard says
    assert score.time_signatures == [TimeSignature(0, 4, 4)]


def test_read_mid_defaults_to_120_bpm_before_the_first_tempo_event(tmp_path: Path) -> None:
    data = smf(track((960, TEMPO_100_BPM), (0, on(60)), (480, off(60))))
    score = read_mid(write(tmp_path, data))
    assert score.tempo_map == [TempoChange(0, 500_000), TempoChange(960, 600_000)]


def test_read_mid_running_status_and_velocity_zero_note_off(tmp_path: Path) -> None:
    # 0x90 once, then running status; velocity 0 ends the note
    body = (
        vlq(0)
        + b"\x90\x3c\x50"
        + vlq(240)
        + b"\x3c\x00"
        + vlq(0)
        + b"\x3e\x51"
        + vlq(240)
        + b"\x3e\x00"
    )
    data = header() + chunk(b"MTrk", body + b"\x00\xff\x2f\x00")
    score, report = read_mid_report(write(tmp_path, data))
    assert score.notes == (Note(0, 60, 240, 80), Note(240, 62, 240, 81))
    assert report.stray_note_offs_ignored == 0


def test_read_mid_drums_are_dropped_and_counted(tmp_path: Path) -> None:
    data = smf(
        track(
            (0, on(36, channel=9)),
            (0, on(60)),
            (240, off(36, channel=9)),
            (0, on(38, channel=9)),
            (240, off(60)),
            (0, off(38, channel=9)),
        )
    )
    score, report = read_mid_report(write(tmp_path, data))
    assert score.notes == (Note(0, 60, 480),)
    assert report.drum_notes_dropped == 2


def test_read_mid_restrike_ends_the_sounding_note_and_is_counted(tmp_path: Path) -> None:
    # C4 struck at 0 and again at 240 without a note-off between, then note-offs at 480 and
    # 720: the first note is cut at the re-strike, the second sounds to the last note-off
    data = smf(track((0, on(60, 90)), (240, on(60, 70)), (240, off(60)), (240, off(60))))
    score, report = read_mid_report(write(tmp_path, data))
    assert score.notes == (Note(0, 60, 240, 90), Note(240, 60, 480, 70))
    assert report.overlapping_notes_resolved == 1
    assert report.stray_note_offs_ignored == 0  # the off at 480 was the cut note's own


def test_read_mid_restrike_before_the_old_note_off_keeps_both_notes(tmp_path: Path) -> None:
    # Two C4 quarters where the file sends the second note-on before the first note-off,
    # both at tick 480: the off belongs to the first note, the second note still lives.
    data = smf(track((0, on(60)), (480, on(60, 80)), (0, off(60)), (480, off(60))))
    score, report = read_mid_report(write(tmp_path, data))
    assert [(n.start_tick, n.duration_ticks, n.velocity) for n in score.notes] == [
        (0, 480, 100),
        (480, 480, 80),
    ]
    assert report.zero_length_notes_dropped == 0


def test_read_mid_same_pitch_on_two_channels_is_not_an_overlap(tmp_path: Path) -> None:
    data = smf(
        track((0, on(60, channel=0)), (0, on(60, channel=1)), (480, off(60, 0)), (0, off(60, 1)))
    )
    score, report = read_mid_report(write(tmp_path, data))
    assert score.notes == (Note(0, 60, 480, channel=0), Note(0, 60, 480, channel=1))
    assert report.overlapping_notes_resolved == 0


def test_read_mid_unterminated_notes_close_at_end_of_track(tmp_path: Path) -> None:
    # E4 never turned off; the track ends at 240 + 720 = 960
    data = smf(track((0, on(64)), (240, on(60)), (240, off(60)), (480, b"\xff\x01\x01x")))
    score, report = read_mid_report(write(tmp_path, data))
    assert score.notes == (Note(0, 64, 960), Note(240, 60, 240))
    assert report.unterminated_notes_closed == 1


def test_read_mid_zero_length_notes_are_dropped_and_counted(tmp_path: Path) -> None:
    data = smf(track((0, on(60)), (0, off(60)), (0, on(62)), (10, off(62))))
    score, report = read_mid_report(write(tmp_path, data))
    assert score.notes == (Note(0, 62, 10),)
    assert report.zero_length_notes_dropped == 1
    # a save over the file makes it final: the question lists it (a unison doubling on one
    # channel, as in the Nottingham file reelsd-g28, reads so)
    assert report.dropped_content_lines() == [
        "1 zero-length notes dropped (or notes doubled in unison on one channel, merged)"
    ]


def test_read_mid_out_of_piano_range_kept_in_score_dropped_from_roll(tmp_path: Path) -> None:
    # MIDI 20 is below A0 (21) and 109 above C8 (108); 21 and 108 are the edge keys
    data = smf(
        track(
            (0, on(20)), (0, on(21)), (0, on(108)), (0, on(109)),
            (240, off(20)), (0, off(21)), (0, off(108)), (0, off(109)),
        )
    )  # fmt: skip
    score, report = read_mid_report(write(tmp_path, data))
    assert [n.pitch for n in score.notes] == [20, 21, 108, 109]
    assert report.out_of_piano_range == 2
    conversion = score_to_roll(score, 240)
    assert conversion.losses.out_of_range == 2
    assert conversion.roll.sum() == 2


def test_read_mid_skips_drum_and_mode_events_and_other_meta_events(tmp_path: Path) -> None:
    data = smf(
        track(
            (0, b"\xff\x03\x05Piano"),  # track name: its part's (channel 1's) name, kept
            (0, b"\xff\x06\x05Verse"),  # a marker: kept
            (0, b"\xf0\x03\x7e\x7f\xf7"),  # sysex: kept
            (0, b"\xff\x7f\x03\x00\x00\x41"),  # sequencer-specific data
            (0, b"\xb0\x07\x64"),  # controller (volume): kept
            (0, b"\xb9\x07\x64"),  # the drum channel's (the drums are dropped)
            (0, b"\xb0\x7e\x01"),  # a channel mode message (mono mode)
            (0, b"\xb0\x7b\x00"),  # all notes off: a command to the synth, no music
            (0, b"\xc0\x05"),  # program change: kept
            (0, b"\xc9\x10"),  # the drum channel's program change (its kit; drums are dropped)
            (0, b"\xe0\x00\x50"),  # pitch bend (up): kept
            (0, b"\xd0\x10"),  # channel pressure: kept
            (0, b"\xd9\x10"),  # the drum channel's
            (0, on(60)),
            (0, b"\xa0\x3c\x20"),  # poly aftertouch: kept
            (0, b"\xa9\x24\x20"),  # the drum channel's
            (480, off(60)),
        )
    )
    score, report = read_mid_report(write(tmp_path, data))
    assert score.notes == (Note(0, 60, 480),)
    assert score.program_changes == [ProgramChange(0, 0, 5)]
    assert score.track_names == {(0, 0): "Piano"} and score.title == ""
    assert score.control_changes == [ControlChange(0, 0, 7, 100)]
    assert score.pitch_bends == [PitchBend(0, 0, 0x50 << 7)]
    assert score.texts == [TextEvent(0, 6, "Verse")]  # (a marker is the song's)
    assert score.channel_pressures == [ChannelPressure(0, 0, 0x10)]
    assert score.key_pressures == [KeyPressure(0, 0, 60, 0x20)]
    assert score.system_exclusive == [SystemExclusive(0, b"\xf0\x7e\x7f\xf7")]
    # skipped, and counted by kind, so that a save over the file can warn of the loss
    counts = {k: v for k, v in report.as_dict().items() if k.endswith("_skipped")}
    assert counts == {
        "unknown_chunks_skipped": 0,
        "controller_events_skipped": 2,
        "program_changes_skipped": 1,
        "other_channel_events_skipped": 2,
        "sysex_messages_skipped": 0,
        "meta_events_skipped": 1,
        "time_signatures_skipped": 0,
        "key_signatures_skipped": 0,
    }
    assert report.dropped_content_lines() == [
        "2 controller events skipped (the drum channel's, channel mode messages such as local "
        "control or mono mode, or past the 65,536 kept)",
        "1 program (instrument) changes skipped (the drum channel's, or past the 65,536 kept)",
        "2 aftertouch, channel pressure and pitch bend events skipped (the drum channel's, or "
        "past the 65,536 kept of each or the length limit)",
        "1 meta events skipped (sequencer-specific data, channel or port prefixes, sequence "
        "numbers, SMPTE offsets, the name of a track with no notes or several channels, "
        "texts past the 65,536 kept or the length limit, ...)",
    ]
    assert report.change_lines() == report.dropped_content_lines()


def test_read_mid_keeps_the_pitch_bends_that_bend(tmp_path: Path) -> None:
    """A centred bend where the channel is centred changes nothing (many writers start a
    track with one): not kept. A bend away, and the bend back, are; so is a centring after
    another track's bend, in time order. A save writes them back, and its file reads the
    same bends (they were dropped, so a save over the file asked first)."""
    centre, up = b"\x00\x40", b"\x00\x50"
    data = smf(
        track(
            (0, b"\xe0" + centre),  # the channel starts centred: nothing
            (0, on(60)),
            (100, b"\xe0" + up),  # a bend: kept
            (100, b"\xe0" + up),  # the same again: nothing (but see track 3)
            (100, b"\xe0" + centre),  # back: kept
            (180, off(60)),
        ),
        track(
            (0, b"\xe1" + centre),  # another channel, centred: nothing
            (50, b"\xe0" + centre),  # channel 1 before track 1's bend at 100: nothing
            (300, b"\xe0" + centre),  # at 350 after track 1's centring at 300: nothing
        ),
        track(
            # at 150, between track 1's two bends up: kept, and so the second one is
            (150, b"\xe0" + centre),
        ),
        track((0, b"\xe9" + up)),  # the drum channel's: skipped with the drums
    )
    score, report = read_mid_report(write(tmp_path, data))
    assert score.notes == (Note(0, 60, 480),)
    up_value = 0x50 << 7
    assert [(b.tick, b.channel, b.value) for b in score.pitch_bends] == [
        (100, 0, up_value), (150, 0, 8192), (200, 0, up_value), (300, 0, 8192)
    ]
    assert report.other_channel_events_skipped == 1  # the drums'
    again = parse_mid_bytes(mid_bytes(score))[0]
    assert again.pitch_bends == score.pitch_bends
    # a file of centred bends alone loses nothing to a save, and holds no bend
    plain = smf(track((0, b"\xe0" + centre), (0, on(60)), (480, off(60))))
    score, report = read_mid_report(write(tmp_path, plain))
    assert report.dropped_content_lines() == [] and score.pitch_bends == []


def test_a_key_signature_after_a_corrupt_delta_time_is_dropped_not_fatal(tmp_path: Path) -> None:
    # past the length limit it made the whole song too long; before keys were kept it was a
    # skipped meta event and the song opened
    data = smf(track((0, on(60)), (480, off(60)), (0x0FFFFFFF, b"\xff\x59\x02\x00\x00")))
    score, report = read_mid_report(write(tmp_path, data))
    assert score.notes == (Note(0, 60, 480),) and score.key_signatures == []
    assert report.key_signatures_skipped == 1


def test_key_signatures_are_read_and_saved_back(tmp_path: Path) -> None:
    """Key signatures survive open and save (notation software spells notes by them): the
    same one in two tracks is one, as is a restatement of the key in force; a change keeps its
    tick; a longer event is read by its first two bytes (as mido reads it); an impossible one is
    counted apart, and so is a later track's other key at the same tick (a transposing part:
    the first track's is kept); the saved file holds them in its first track."""
    data = smf(
        track(
            (0, b"\xff\x59\x02\x01\x00"),  # G major
            (0, b"\xff\x59\x02\x09\x00"),  # 9 sharps: impossible, skipped
            (0, b"\xff\x59\x00"),  # empty: holds nothing, not counted
            (960, b"\xff\x59\x02\xfd\x01"),  # three flats, minor: C minor
        ),
        track(
            (0, b"\xff\x59\x02\x01\x00"),  # G major again in the notes' track: one
            (0, on(67)),
            (480, b"\xff\x59\x02\xfd\x01"),  # C minor a beat early: a change here ...
            (480, b"\xff\x59\x02\xfd\x01"),  # ... so the first track's at 960 restates it
            (960, off(67)),
            (0, b"\xff\x59\x03\x02\x00\x00"),  # D major, padded: read by its 2 bytes
        ),
        track((0, b"\xff\x59\x02\x03\x00")),  # A major at 0, a transposing part: dropped
    )
    score, report = read_mid_report(write(tmp_path, data))
    assert [(k.tick, k.sharps, k.minor, k.name) for k in score.key_signatures] == [
        (0, 1, False, "G major"),
        (480, -3, True, "C minor"),
        (1920, 2, False, "D major"),
    ]
    assert report.key_signatures_skipped == 1 and report.key_signatures_dropped == 1
    assert report.meta_events_skipped == 0
    assert report.dropped_content_lines() == [
        "1 key signatures the standard does not allow skipped (more than 7 sharps or flats, or "
        "a mode other than major or minor)",
        "1 key signatures of other tracks dropped (a part in another key at the same point, as "
        "a transposing instrument's: the first track's is kept)",
    ]
    out = tmp_path / "saved.mid"
    write_mid(score, out)
    again, again_report = read_mid_report(out)
    assert again.key_signatures == score.key_signatures
    assert again_report.dropped_content_lines() == []
    saved = mido.MidiFile(out)
    assert [m.key for m in saved.tracks[0] if m.type == "key_signature"] == ["G", "Cm", "D"]
    # a raised resolution moves them with everything else
    coarse = smf(track((0, b"\xff\x59\x02\x00\x01"), (3, b"\xff\x59\x02\x02\x00"),
                       (0, on(60)), (3, off(60))), division=3)
    raised = read_mid(write(tmp_path, coarse))
    assert [(k.tick * 3 // raised.ppq, k.name) for k in raised.key_signatures] == [
        (0, "A minor"), (3, "D major")
    ]


def test_read_mid_keeps_running_status_controllers_and_ignores_empty_meta_events(
    tmp_path: Path,
) -> None:
    # a pedal down and, a beat later, up in running status; an empty text event (this app's
    # writer puts one where a delta time is too long for one event) carries nothing
    data = smf(
        track(
            (0, b"\xb0\x40\x7f"),
            (480, b"\x40\x00"),  # running status: the same controller message again
            (0, b"\xff\x01\x00"),
            (0, on(60)),
            (480, off(60)),
        )
    )
    score, report = read_mid_report(write(tmp_path, data))
    assert score.notes == (Note(480, 60, 480),)
    assert score.control_changes == [ControlChange(0, 0, 64, 127), ControlChange(480, 0, 64, 0)]
    assert report.controller_events_skipped == 0 and report.meta_events_skipped == 0
    assert report.dropped_content_lines() == []


def test_read_mid_unwraps_riff_rmid(tmp_path: Path) -> None:
    body = b"RMID" + b"data" + len(SIMPLE).to_bytes(4, "little") + SIMPLE
    if len(SIMPLE) % 2:
        body += b"\x00"
    data = b"RIFF" + len(body).to_bytes(4, "little") + body
    score, report = read_mid_report(write(tmp_path, data))
    assert score.notes == (Note(0, 60, 480), Note(480, 62, 480))
    assert report.riff_unwrapped


def test_read_mid_skips_unknown_chunks(tmp_path: Path) -> None:
    data = header(n_tracks=1) + chunk(b"XFIH", b"\x01\x02\x03") + SIMPLE[14:]
    score, report = read_mid_report(write(tmp_path, data))
    assert len(score) == 2
    assert report.unknown_chunks_skipped == 1


def test_read_mid_smpte_division_converts_to_exact_seconds(tmp_path: Path) -> None:
    # 25 fps x 40 ticks per frame = 1000 ticks per second: a note at tick 500 starts at 0.5 s
    division = (256 - 25) << 8 | 40
    data = smf(track((0, TEMPO_100_BPM), (500, on(60)), (1000, off(60))), division=division)
    score, report = read_mid_report(write(tmp_path, data))
    assert report.smpte and report.smpte_tempo_events_ignored == 1
    (note,) = score.notes
    start_s = ticks_to_seconds(note.start_tick, score.tempo_map, score.ppq)
    end_s = ticks_to_seconds(note.end_tick, score.tempo_map, score.ppq)
    assert start_s == pytest.approx(0.5) and end_s == pytest.approx(1.5)


def test_read_mid_smpte_drop_frame_runs_at_29_97_fps(tmp_path: Path) -> None:
    # 29.97 fps x 10 ticks per frame: 2997 ticks last 10 s
    division = (256 - 29) << 8 | 10
    data = smf(track((0, on(60)), (2997, off(60))), division=division)
    score = read_mid(write(tmp_path, data))
    assert ticks_to_seconds(score.end_tick, score.tempo_map, score.ppq) == pytest.approx(10.0)
    assert all(t.us_per_quarter > 0 for t in score.tempo_map)


def test_read_mid_ignores_bytes_after_the_last_track(tmp_path: Path) -> None:
    score, report = read_mid_report(write(tmp_path, SIMPLE + b"\x00\x00junk"))
    assert len(score) == 2
    assert report.trailing_bytes_ignored == 6


def test_read_mid_length_limit_is_inclusive(tmp_path: Path) -> None:
    # at PPQ 1, the limit is MAX_LENGTH_QUARTERS ticks: a note may end exactly there (the
    # resolution is then raised to 96 ticks per quarter: the limit counts quarters)
    last = MAX_LENGTH_QUARTERS
    fits = smf(track((0, on(60)), (last, off(60))), division=1)
    score = read_mid(write(tmp_path, fits))
    assert score.end_tick == last * score.ppq
    write_mid(score, tmp_path / "saved.mid")  # and it saves and opens again
    assert read_mid(tmp_path / "saved.mid").notes == score.notes
    too_long = smf(track((0, on(60)), (last + 1, off(60))), division=1)
    with pytest.raises(MidiFileError, match="quarter notes"):
        read_mid(write(tmp_path, too_long))


def test_read_mid_huge_delta_on_end_of_track_alone_is_harmless(tmp_path: Path) -> None:
    # a corrupt delta before end-of-track only: no note lies there, so nothing grows
    body = vlq(0) + on(60) + vlq(480) + off(60) + vlq(0x0FFFFFFF) + b"\xff\x2f\x00"
    data = header() + chunk(b"MTrk", body)
    assert read_mid(write(tmp_path, data)).notes == (Note(0, 60, 480),)


# ---- every failure is one MidiFileError ---------------------------------------------------
def _huge_delta() -> bytes:
    # a note-on 2^28 - 1 ticks in: at 96 PPQ that is 2.8 million quarter notes
    return smf(track((0x0FFFFFFF, on(60)), (96, off(60))), division=96)


MALFORMED = {
    "empty": (b"", "empty"),
    "text": (b"Hello, this is a text file, not MIDI\n", "not a MIDI file"),
    "truncated_header": (SIMPLE[:10], "header is truncated"),
    "truncated_magic": (b"MTh", "header is truncated"),
    "short_header_chunk": (chunk(b"MThd", b"\x00\x01\x00\x01") + SIMPLE[14:], "at least 6"),
    "format_2": (smf(track((0, on(60)), (1, off(60))), file_format=2), "format 2"),
    "format_3": (header(3, 1) + SIMPLE[14:], "unknown MIDI format 3"),
    "claims_65535_tracks": (header(1, 65535) + SIMPLE[14:], "declares 65535 tracks but the file holds only 1 track"),
    "no_tracks": (header(1, 0), "no tracks"),
    "division_0": (smf(track((0, on(60)), (1, off(60))), division=0), "0 ticks per quarter"),
    "smpte_bad_fps": (header(1, 1, (256 - 23) << 8 | 4) + SIMPLE[14:], "23 frames per second"),
    "smpte_0_ticks_per_frame": (header(1, 1, (256 - 25) << 8) + SIMPLE[14:], "0 ticks per frame"),
    "track_past_end": (header() + chunk(b"MTrk", b"\x00\x90\x3c\x40", length=4000), "claims 4000 bytes"),
    "unknown_chunk_past_end": (header() + chunk(b"JUNK", b"ab", length=99), "claims 99 bytes"),
    "running_status_first": (header() + chunk(b"MTrk", b"\x00\x3c\x40\x00\xff\x2f\x00"), "running status"),
    "undefined_status_f4": (smf(track((0, b"\xf4\x01\x02"))), "undefined status byte 0xF4"),
    "undefined_status_fd": (smf(track((0, on(60)), (10, b"\xfd"))), "undefined status byte 0xFD"),
    "tempo_0": (smf(track((0, b"\xff\x51\x03\x00\x00\x00"))), "tempo of 0"),
    "tempo_wrong_length": (smf(track((0, b"\xff\x51\x02\x07\xa1"))), "tempo event of 2 bytes"),
    "meter_wrong_length": (smf(track((0, b"\xff\x58\x02\x03\x02"))), "time signature event of 2 bytes"),
    "meter_numerator_0": (smf(track((0, b"\xff\x58\x04\x00\x02\x18\x08"))), "0/4"),
    "meter_numerator_0_over_2_9": (smf(track((0, b"\xff\x58\x04\x00\x09\x18\x08"))), "0/2^9"),
    "meta_past_track_end": (header() + chunk(b"MTrk", b"\x00\xff\x01\x40abc"), "meta event runs past"),
    "sysex_past_track_end": (header() + chunk(b"MTrk", b"\x00\xf0\x40\x01"), "system-exclusive"),
    "event_cut_in_half": (header() + chunk(b"MTrk", b"\x00\x90\x3c"), "middle of an event"),
    "delta_over_4_bytes": (header() + chunk(b"MTrk", b"\x81\x81\x81\x81\x01\x90\x3c\x40"), "longer than 4 bytes"),
    "data_byte_over_127": (smf(track((0, b"\x90\x3c\xc0"))), "data byte above 127"),
    "huge_delta_time": (_huge_delta(), "more than the 65536 allowed"),
    "riff_not_rmid": (b"RIFF\x04\x00\x00\x00WAVEfmt ", "not RIFF MIDI"),
    "riff_without_data": (b"RIFF\x04\x00\x00\x00RMID", "without a data chunk"),
    "riff_data_past_end": (b"RIFF\x10\x00\x00\x00RMIDdata\xff\x00\x00\x00MThd", "past the end"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_read_mid_malformed_raises_midi_file_error_naming_file_and_reason(
    tmp_path: Path, case: str
) -> None:
    data, reason_part = MALFORMED[case]
    path = write(tmp_path, data, name=f"{case}.mid")
    with pytest.raises(MidiFileError) as caught:
        read_mid(path)
    err = caught.value
    assert isinstance(err, ValueError)
    assert err.path == path
    assert reason_part in err.reason
    assert str(err) == f"Cannot read '{case}.mid': {err.reason}"


def test_read_mid_huge_delta_is_refused_without_allocating(tmp_path: Path) -> None:
    import tracemalloc

    path = write(tmp_path, _huge_delta())
    tracemalloc.start()
    try:
        with pytest.raises(MidiFileError):
            read_mid(path)
        _current, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 2^28 ticks would be hundreds of MB as a roll; the refusal costs a few KB
    assert peak_bytes < 1_000_000


def test_read_mid_refuses_too_big_file_before_reading(tmp_path: Path) -> None:
    import tracemalloc

    path = tmp_path / "big.mid"
    with open(path, "wb") as f:
        f.write(SIMPLE)
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    tracemalloc.start()
    try:
        with pytest.raises(MidiFileError) as caught:
            read_mid(path)
        _current, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.reason == "the file is 10.0 MB; files over 10 MB are refused"
    assert peak_bytes < 1_000_000  # the 10 MB were never read into memory


def test_read_mid_accepts_a_file_of_exactly_the_size_limit(tmp_path: Path) -> None:
    path = write(tmp_path, SIMPLE + b"\x00" * (MAX_FILE_BYTES - len(SIMPLE)))
    score, report = read_mid_report(path)
    assert len(score) == 2 and report.trailing_bytes_ignored == MAX_FILE_BYTES - len(SIMPLE)


def test_parse_mid_bytes_refuses_too_many_notes(monkeypatch) -> None:
    monkeypatch.setattr(files, "MAX_NOTES", 3)
    events = []
    for pitch in range(60, 64):
        events += [(0, on(pitch)), (10, off(pitch))]
    with pytest.raises(MidiFileError, match="more than 3 notes"):
        parse_mid_bytes(smf(track(*events)), "many.mid")


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_read_mid_unopenable_paths_raise_midi_file_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "missing.mid" if kind == "missing" else tmp_path
    with pytest.raises(MidiFileError) as caught:
        read_mid(path)
    assert caught.value.reason in ("no such file", "it is a folder, not a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_read_mid_unreadable_file_raises_midi_file_error(tmp_path: Path) -> None:
    path = write(tmp_path, SIMPLE)
    path.chmod(0)
    with pytest.raises(MidiFileError, match="permission denied"):
        read_mid(path)


def test_read_mid_permission_denied_is_named_even_for_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the test above cannot run as root (as here and in CI); the open is refused instead
    path = write(tmp_path, SIMPLE)

    def refuse(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files, "open", refuse, raising=False)
    with pytest.raises(MidiFileError, match="Cannot read 'song.mid': permission denied"):
        read_mid(path)


# ---- writing -----------------------------------------------------------------------------
def _rich_score() -> Score:
    score = Score(
        ppq=480,
        tempo_map=[TempoChange(0, 500_000), TempoChange(1920, 750_000)],
        time_signatures=[TimeSignature(0, 4, 4), TimeSignature(1920, 3, 4)],
    )
    score.add_many(
        [
            Note(0, 60, 480, 90),
            Note(480, 60, 480, 91),  # same pitch, back to back
            Note(0, 48, 1920, 60, channel=2),
            Note(240, 48, 240, 61, channel=2),  # overlaps the long C3 on its channel
            Note(240, 48, 480, 62, channel=2),  # and a third layer
            Note(1921, 108, 7, 127, channel=15),
            Note(3000, 20, 1, 1),
        ]
    )
    return score


def test_write_mid_round_trip_gives_the_same_score(tmp_path: Path) -> None:
    score = _rich_score()
    path = tmp_path / "out.mid"
    write_mid(score, path)
    again, report = read_mid_report(path)
    assert again.notes == score.notes
    assert again.tempo_map == score.tempo_map
    assert again.time_signatures == score.time_signatures
    assert again.ppq == score.ppq
    assert report.overlapping_notes_resolved == 0 and report.file_format == 1


def test_write_mid_gives_each_meter_its_usual_metronome_click(tmp_path: Path) -> None:
    score = Score(time_signatures=[TimeSignature(0, 6, 8), TimeSignature(1440, 3, 4),
                                   TimeSignature(2880, 7, 8), TimeSignature(4560, 12, 16),
                                   TimeSignature(6000, 2, 2)])  # fmt: skip
    write_mid(score, tmp_path / "meters.mid")
    clicks = [
        (m.numerator, m.denominator, m.clocks_per_click, m.notated_32nd_notes_per_beat)
        for m in mido.MidiFile(str(tmp_path / "meters.mid")).tracks[0]
        if m.type == "time_signature"
    ]
    # a dotted quarter (36 clocks) for 6/8, a dotted eighth for 12/16, the beat otherwise
    assert clicks == [(6, 8, 36, 8), (3, 4, 24, 8), (7, 8, 12, 8), (12, 16, 18, 8),
                      (2, 2, 48, 8)]  # fmt: skip


def test_write_mid_is_read_back_by_mido_with_the_same_notes(tmp_path: Path) -> None:
    score = _rich_score()
    path = tmp_path / "out.mid"
    write_mid(score, path)
    data = path.read_bytes()
    mid = mido.MidiFile(file=io.BytesIO(data))
    assert mid.type == 1 and mid.ticks_per_beat == 480
    assert mido_notes(data) == list(score.notes)
    tempos = [m.tempo for m in mid.tracks[0] if m.type == "set_tempo"]
    assert tempos == [500_000, 750_000]
    # mido's clock through the tempo map matches ours: the file lasts as long as the score
    assert mid.length == pytest.approx(ticks_to_seconds(score.end_tick, score.tempo_map, 480))


def test_write_mid_keeps_an_smpte_file_timing(tmp_path: Path) -> None:
    division = (256 - 29) << 8 | 10
    score = read_mid(write(tmp_path, smf(track((0, on(60)), (2997, off(60))), division=division)))
    write_mid(score, tmp_path / "out.mid")
    again = read_mid(tmp_path / "out.mid")
    assert ticks_to_seconds(again.end_tick, again.tempo_map, again.ppq) == pytest.approx(10.0)


def test_write_mid_replaces_an_existing_file_and_keeps_its_mode(tmp_path: Path) -> None:
    path = write(tmp_path, b"old contents")
    path.chmod(0o640)
    write_mid(_rich_score(), path)
    assert read_mid(path).notes == _rich_score().notes
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.mid"]


def test_write_mid_refuses_a_file_of_no_write_permission_even_to_root(tmp_path: Path) -> None:
    # root may write whatever the mode, and saved over a file made read-only (0444)
    path = write(tmp_path, b"old")
    path.chmod(0o444)
    with pytest.raises(MidiFileError, match="the file is read-only"):
        write_mid(_rich_score(), path)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.mid"]
    path.chmod(0o644)  # writable again: saved
    write_mid(_rich_score(), path)
    assert read_mid(path).notes == _rich_score().notes


_PERMISSION_CHECKS = """
import os, sys
from pathlib import Path
from composer_app.core.note import Note
from composer_app.core.score import Score
from composer_app.midi.files import MidiFileError, write_mid

folder = Path(sys.argv[1])
as_root = os.geteuid() == 0
if as_root:
    # a folder with the sticky bit (as /tmp) holding root's file, which anyone may write
    sticky = folder / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    (sticky / "theirs.mid").write_bytes(b"old")
    (sticky / "theirs.mid").chmod(0o666)
    # root writes whatever the mode: become "nobody" (no capabilities left)
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
score = Score()
score.add(Note(0, 60, 480))
protected = folder / "take1.mid"
protected.write_bytes(b"old")
protected.chmod(0o444)  # made read-only by its owner
try:
    write_mid(score, protected)
    print("read-only file: saved")
except MidiFileError as exc:
    print(f"read-only file: {exc}; holds {protected.read_bytes()!r}")
shut = folder / "shut"
shut.mkdir()
shared = shut / "shared.mid"
shared.write_bytes(b"old")
shared.chmod(0o666)  # anyone may write it, but not add files beside it
shut.chmod(0o555)
try:
    write_mid(score, shared)
    print("closed folder: saved")
except MidiFileError as exc:
    print(f"closed folder: {exc}")
if as_root:
    try:
        write_mid(score, folder / "sticky" / "theirs.mid")
        print("sticky folder: saved")
    except MidiFileError as exc:
        print(f"sticky folder: {exc}; holds {(folder / 'sticky' / 'theirs.mid').read_bytes()!r}")
"""


def test_write_mid_refuses_a_read_only_file_and_names_a_closed_folder(tmp_path: Path) -> None:
    # Real permissions, as an ordinary user: root writes whatever the mode, so as root (as
    # here and in CI) the checks run in a process that drops to "nobody" once it has started.
    import shutil
    import subprocess
    import sys
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="composer-perm-"))  # "nobody" can reach /tmp
    try:
        folder.chmod(0o777)
        done = subprocess.run(
            [sys.executable, "-c", _PERMISSION_CHECKS, str(folder)], capture_output=True,
            text=True, timeout=60, cwd=Path(files.__file__).parents[2],
        )
        assert done.returncode == 0, done.stderr
        expected = [
            "read-only file: Cannot save 'take1.mid': the file is read-only (permission "
            "denied); holds b'old'",
            "closed folder: Cannot save 'shared.mid': the folder does not allow new files "
            "(permission denied); save it elsewhere",
        ]
        if os.geteuid() == 0:  # (only root can leave a file of another user there)
            expected.append(
                "sticky folder: Cannot save 'theirs.mid': the folder lets only the file's "
                "owner replace it (permission denied); save it elsewhere; holds b'old'"
            )
        assert done.stdout.splitlines() == expected
    finally:
        if (folder / "shut").exists():
            (folder / "shut").chmod(0o755)
        shutil.rmtree(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file another group here")
def test_write_mid_keeps_the_file_owner_and_group(tmp_path: Path) -> None:
    path = write(tmp_path, b"old")
    os.chown(path, 65534, 100)  # a song of a user's, shared with a group
    write_mid(_rich_score(), path)
    assert (path.stat().st_uid, path.stat().st_gid) == (65534, 100)
    assert read_mid(path).notes == _rich_score().notes


def test_write_mid_removes_stale_temporaries_of_its_file_only(tmp_path: Path) -> None:
    # saves killed before their rename left these; the next save of the same file tidies up
    path = write(tmp_path, b"old")
    stale = tmp_path / ".song.mid.composer-0badf00d.tmp"
    recent = tmp_path / ".song.mid.composer-0000beef.tmp"  # perhaps a save still running
    other = tmp_path / ".other.mid.composer-0badf00d.tmp"
    # a temporary file of "song.mid.composer-x.mid", whose name begins like song.mid's
    longer = tmp_path / ".song.mid.composer-x.mid.composer-0badf00d.tmp"
    for leftover in (stale, recent, other, longer):
        leftover.write_bytes(b"half")
    hour_ago = os.stat(path).st_mtime - 3600
    for old in (stale, other, longer):
        os.utime(old, (hour_ago, hour_ago))
    write_mid(_rich_score(), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [other.name, longer.name, recent.name, "song.mid"]
    )


def test_write_mid_names_its_temporary_file_after_the_file(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path, b"old")
    seen: list[str] = []
    real_fsync = os.fsync

    def look(fd: int) -> None:
        seen.extend(p.name for p in tmp_path.iterdir() if p.name != "song.mid")
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", look)
    write_mid(_rich_score(), path)
    assert len(seen) == 1 and seen[0].startswith(".song.mid.composer-")


def _fail_with_enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("failing", ["fsync", "write", "replace"])
def test_write_mid_failure_leaves_old_file_identical_and_no_temp_file(
    tmp_path: Path, monkeypatch, failing: str
) -> None:
    old = SIMPLE + b"\x00 previous version"
    path = write(tmp_path, old)
    if failing == "write":
        real_write = os.write

        calls: list[int] = []

        def write_half_then_fail(fd: int, data) -> int:
            # the first call writes part of the file, the next one finds the disk full
            calls.append(len(data))
            if len(calls) == 1:
                return real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(files.os, "write", write_half_then_fail)
    else:
        monkeypatch.setattr(files.os, failing, _fail_with_enospc)
    with pytest.raises(MidiFileError) as caught:
        write_mid(_rich_score(), path)
    monkeypatch.undo()
    assert str(caught.value) == "Cannot save 'song.mid': No space left on device"
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["song.mid"]


def test_write_mid_interrupt_mid_save_leaves_no_temp_file(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path, b"old")

    def interrupted(_fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_mid(_rich_score(), path)
    monkeypatch.undo()
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["song.mid"]


def test_write_mid_saves_a_name_as_long_as_the_file_system_allows(tmp_path: Path) -> None:
    # 255 bytes is the limit of a name on most file systems; a temp name made of the target's
    # name plus a suffix would pass it ("File name too long" for a legal name)
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    path = tmp_path / ("L" * (limit - len(".mid")) + ".mid")
    write_mid(_rich_score(), path)
    assert read_mid(path).notes == _rich_score().notes
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_write_mid_into_missing_folder_raises_midi_file_error(tmp_path: Path) -> None:
    with pytest.raises(MidiFileError, match="Cannot save 'x.mid': the folder does not exist"):
        write_mid(_rich_score(), tmp_path / "nowhere" / "x.mid")


def test_write_mid_onto_a_folder_raises_midi_file_error(tmp_path: Path) -> None:
    (tmp_path / "taken.mid").mkdir()
    with pytest.raises(MidiFileError, match="Cannot save 'taken.mid'"):
        write_mid(_rich_score(), tmp_path / "taken.mid")
    assert [p.name for p in tmp_path.iterdir()] == ["taken.mid"]


def test_write_mid_never_replaces_a_pipe_or_a_device(tmp_path: Path) -> None:
    # os.replace would swap a FIFO (or, as root, /dev/null) for a regular file
    fifo = tmp_path / "pipe.mid"
    os.mkfifo(fifo)
    with pytest.raises(MidiFileError, match="Cannot save 'pipe.mid': it is not a regular file"):
        write_mid(_rich_score(), fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    link = tmp_path / "link.mid"  # through a link too
    link.symlink_to(fifo)
    with pytest.raises(MidiFileError, match="not a regular file"):
        write_mid(_rich_score(), link)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.mid", "pipe.mid"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    if os.path.exists("/dev/null"):
        with pytest.raises(MidiFileError, match="not a regular file"):
            write_mid(_rich_score(), "/dev/null")
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize(
    ("score", "reason_part"),
    [
        (Score(ppq=40_000), "40000 ticks per quarter"),
        (Score(tempo_map=[TempoChange(0, 20_000_000)]), "too slow"),
        (Score(_notes=[Note(0, 60, 10)] * 65_535), "more than 65535 tracks"),
    ],
)
def test_write_mid_unstorable_score_raises_before_touching_the_file(
    tmp_path: Path, score: Score, reason_part: str
) -> None:
    path = write(tmp_path, b"old")
    with pytest.raises(MidiFileError, match=reason_part):
        write_mid(score, path)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["song.mid"]


def test_mid_bytes_uses_running_status_and_one_track_per_channel() -> None:
    score = Score(_notes=[Note(0, 60, 10), Note(0, 64, 10), Note(0, 50, 10, channel=1)])
    data = mid_bytes(score)
    mid = mido.MidiFile(file=io.BytesIO(data))
    # conductor + channel 0 + channel 1
    assert len(mid.tracks) == 3
    assert {m.channel for m in mid.tracks[1] if not m.is_meta} == {0}
    assert {m.channel for m in mid.tracks[2] if not m.is_meta} == {1}
    # channel 0: the two note-ons share one status byte, the two note-offs another:
    # on (delta+status+2 = 4) + on (delta+2 = 3) + off 4 + off 3 + end of track 4 = 18 bytes
    second_track = data.index(b"MTrk", 15)
    body_length = int.from_bytes(data[second_track + 4 : second_track + 8], "big")
    assert body_length == 18


def test_write_mid_bridges_gaps_longer_than_a_delta_time(tmp_path: Path) -> None:
    # a delta time holds at most 2^28 - 1 ticks; at PPQ 30000 that is under 9000 quarters
    score = Score(ppq=30_000, _notes=[Note(0, 60, 10), Note(0x1000_0000 + 5, 62, 10)])
    write_mid(score, tmp_path / "gap.mid")
    assert read_mid(tmp_path / "gap.mid").notes == score.notes


def test_write_mid_identical_stacked_notes_each_get_a_track(tmp_path: Path) -> None:
    score = Score(_notes=[Note(0, 60, 480)] * 3 + [Note(0, 60, 480, channel=1)])
    data = mid_bytes(score)
    assert len(mido.MidiFile(file=io.BytesIO(data)).tracks) == 1 + 3 + 1
    assert parse_mid_bytes(data)[0].notes == score.notes


def test_parse_mid_bytes_refuses_too_many_tempo_or_meter_changes(monkeypatch) -> None:
    monkeypatch.setattr(files, "MAX_TEMPO_CHANGES", 2)
    three_tempos = smf(track((0, TEMPO_100_BPM), (10, TEMPO_100_BPM), (10, TEMPO_100_BPM)))
    with pytest.raises(MidiFileError, match="more than 2 tempo changes"):
        parse_mid_bytes(three_tempos)
    three_meters = smf(track((0, METER_3_4), (10, METER_3_4), (10, METER_3_4)))
    with pytest.raises(MidiFileError, match="more than 2 time signature changes"):
        parse_mid_bytes(three_meters)
    # repeated events at one tick replace each other: the last one read wins
    same_tick = smf(track((0, TEMPO_100_BPM), (5, TEMPO_100_BPM), (0, b"\xff\x51\x03\x07\xa1\x20")))
    assert parse_mid_bytes(same_tick)[0].tempo_map == [
        TempoChange(0, 600_000),
        TempoChange(5, 500_000),
    ]


def test_read_mid_long_meta_and_sysex_lengths(tmp_path: Path) -> None:
    # lengths of 200 bytes need two-byte variable-length quantities
    text = b"\xff\x01" + vlq(200) + b"x" * 200
    sysex = b"\xf0" + vlq(200) + b"\x01" * 199 + b"\xf7"
    data = smf(track((0, text), (0, sysex), (0, on(60)), (480, off(60))))
    score = read_mid(write(tmp_path, data))
    assert score.notes == (Note(0, 60, 480),)
    assert [t.text for t in score.texts] == ["x" * 200]
    assert [m.data for m in score.system_exclusive] == [b"\xf0" + b"\x01" * 199 + b"\xf7"]


def test_read_mid_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.mid"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer for ever
    with pytest.raises(MidiFileError, match="not a regular file"):
        read_mid(fifo)


def test_parse_mid_bytes_turns_unexpected_errors_into_midi_file_error(monkeypatch) -> None:
    def broken(*_args, **_kwargs):
        raise TypeError("a bug")

    monkeypatch.setattr(files, "_parse_track", broken)
    with pytest.raises(MidiFileError, match=r"Cannot read 'x.mid': malformed data \(TypeError"):
        parse_mid_bytes(SIMPLE, "x.mid")


def test_write_mid_through_a_symlink_updates_the_target(tmp_path: Path) -> None:
    real = write(tmp_path, b"old", name="real.mid")
    link = tmp_path / "link.mid"
    link.symlink_to(real)
    write_mid(_rich_score(), link)
    assert link.is_symlink()
    assert read_mid(real).notes == _rich_score().notes

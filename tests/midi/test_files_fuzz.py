"""Seeded mutation fuzzing of the MIDI reader: only MidiFileError may escape, nothing hangs.

A few valid files are built in memory (by mido and by our own writer), then mutated by bit
flips, byte overwrites, truncations, insertions, deletions, duplicated slices and corrupted
chunk lengths. Whatever the reader accepts must also be a score our writer can store and read
back unchanged.
"""

from __future__ import annotations

import io
import random
from collections import Counter
from collections.abc import Callable

import mido
import pytest

from composer_app.core.note import Note
from composer_app.core.score import Score, TempoChange, TimeSignature
from composer_app.midi.files import (
    MAX_LENGTH_QUARTERS,
    MidiFileError,
    mid_bytes,
    parse_mid_bytes,
)

N_MUTANTS = 10_000
SEED = 20_261_129


def _mido_type0() -> bytes:
    mid = mido.MidiFile(type=0, ticks_per_beat=96)
    trk = mido.MidiTrack()
    trk.append(mido.MetaMessage("track_name", name="fuzz", time=0))
    trk.append(mido.MetaMessage("time_signature", numerator=6, denominator=8, time=0))
    trk.append(mido.MetaMessage("set_tempo", tempo=450_000, time=0))
    trk.append(mido.Message("sysex", data=[0x7E, 0x7F, 0x09, 0x01], time=0))
    trk.append(mido.Message("program_change", program=5, channel=1, time=0))
    for i, pitch in enumerate((60, 64, 67, 72, 60, 40, 100)):
        trk.append(mido.Message("note_on", note=pitch, velocity=80 + i, channel=i % 3, time=24))
        trk.append(mido.Message("control_change", control=64, value=127, channel=i % 3, time=0))
        trk.append(mido.Message("note_on", note=pitch, velocity=0, channel=i % 3, time=48))
    trk.append(mido.Message("note_on", note=36, velocity=100, channel=9, time=0))
    trk.append(mido.Message("pitchwheel", pitch=300, channel=0, time=10))
    mid.tracks.append(trk)
    buffer = io.BytesIO()
    mid.save(file=buffer)
    return buffer.getvalue()


def _written_type1() -> bytes:
    score = Score(
        ppq=480,
        tempo_map=[TempoChange(0, 500_000), TempoChange(960, 400_000)],
        time_signatures=[TimeSignature(0, 3, 4), TimeSignature(1440, 4, 4)],
    )
    score.add_many(
        [Note(i * 120, 48 + (i * 7) % 40, 240 + i, 30 + i, channel=i % 4) for i in range(24)]
    )
    return mid_bytes(score)


def _rmid(smf: bytes) -> bytes:
    body = b"RMID" + b"data" + len(smf).to_bytes(4, "little") + smf + b"\x00" * (len(smf) % 2)
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def _smpte() -> bytes:
    data = bytearray(_written_type1())
    data[12:14] = ((256 - 25) << 8 | 40).to_bytes(2, "big")
    return bytes(data)


SEEDS = {
    "mido_type0": _mido_type0(),
    "written_type1": _written_type1(),
    "rmid": _rmid(_written_type1()),
    "smpte": _smpte(),
}


def _bit_flips(rng: random.Random, data: bytearray) -> bytearray:
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
    return data


def _overwrite(rng: random.Random, data: bytearray) -> bytearray:
    for _ in range(rng.randint(1, 3)):
        data[rng.randrange(len(data))] = rng.choice(
            (0x00, 0x7F, 0x80, 0xF7, 0xFF, rng.randrange(256))
        )
    return data


def _truncate(rng: random.Random, data: bytearray) -> bytearray:
    return data[: rng.randrange(len(data))]


def _insert(rng: random.Random, data: bytearray) -> bytearray:
    i = rng.randrange(len(data) + 1)
    return data[:i] + bytearray(rng.randrange(256) for _ in range(rng.randint(1, 16))) + data[i:]


def _delete(rng: random.Random, data: bytearray) -> bytearray:
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.randint(1, 16) :]


def _duplicate(rng: random.Random, data: bytearray) -> bytearray:
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.randint(1, 64))
    return data[:j] + data[i:j] + data[j:]


def _corrupt_length(rng: random.Random, data: bytearray) -> bytearray:
    # aim at the length field of a chunk (MThd, MTrk) or at a meta event's length byte
    marks = [i + 4 for i in range(len(data) - 4) if data[i : i + 4] in (b"MThd", b"MTrk")]
    marks += [i + 2 for i in range(len(data) - 2) if data[i] == 0xFF and data[i + 1] < 0x80]
    i = rng.choice(marks)
    value = rng.choice((0, 1, 2, 0x7F, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF, rng.getrandbits(32)))
    data[i : i + 4] = value.to_bytes(4, "big")
    return data


MUTATIONS: dict[str, Callable[[random.Random, bytearray], bytearray]] = {
    "bit_flips": _bit_flips,
    "overwrite": _overwrite,
    "truncate": _truncate,
    "insert": _insert,
    "delete": _delete,
    "duplicate": _duplicate,
    "corrupt_length": _corrupt_length,
}


@pytest.mark.timeout(120)
def test_parse_mid_bytes_fuzzed_files_raise_only_midi_file_error() -> None:
    rng = random.Random(SEED)
    outcomes: Counter[str] = Counter()
    seed_names = sorted(SEEDS)
    for n in range(N_MUTANTS):
        seed_name = seed_names[n % len(seed_names)]
        mutation = rng.choice(sorted(MUTATIONS))
        data = bytes(MUTATIONS[mutation](rng, bytearray(SEEDS[seed_name])))
        try:
            score, report = parse_mid_bytes(data, f"{seed_name}-{mutation}-{n}.mid")
        except MidiFileError as exc:
            # the message always names the file and gives a reason
            assert str(exc).startswith(f"Cannot read '{seed_name}-{mutation}-{n}.mid': ")
            assert exc.reason
            outcomes["refused"] += 1
            continue
        outcomes["accepted"] += 1
        assert report.note_count == len(score)
        assert score.end_tick <= MAX_LENGTH_QUARTERS * score.ppq
        # whatever was accepted can be saved and reads back the same
        again, _ = parse_mid_bytes(mid_bytes(score))
        assert again.notes == score.notes
        assert again.tempo_map == score.tempo_map
        assert again.time_signatures == score.time_signatures
    # the mutations must exercise both sides, or the test proves little
    assert outcomes["refused"] > N_MUTANTS // 10
    assert outcomes["accepted"] > N_MUTANTS // 10
    print(dict(outcomes))


def test_fuzz_seeds_are_valid_files() -> None:
    for name, data in SEEDS.items():
        score, _report = parse_mid_bytes(data, name)
        assert len(score) > 0, name

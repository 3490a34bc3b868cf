"""Tests of the training-data loaders: benchmark JSON, safe pickles, MIDI folders, transposition."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest

from composer_app.core.note import Note
from composer_app.core.score import Score
from composer_app.ml.data import (
    DataError,
    load_benchmark,
    load_midi_folder,
    load_pickle_safely,
    mean_pitch,
    transpose_sequences,
)
from composer_app.paths import shared_data_dir

SPLITS_DOC = {
    "train": [[[60, 64, 67], [], [21, 108]], [[62]]],
    "valid": [[[48, 50]]],
    "test": [],
}


def write_gz(path: Path, obj: object) -> Path:
    path.write_bytes(gzip.compress(json.dumps(obj).encode()))
    return path


def test_load_benchmark_builds_time_first_88_key_rolls(tmp_path: Path) -> None:
    splits = load_benchmark(write_gz(tmp_path / "toy.json.gz", SPLITS_DOC))
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [2, 1, 0]
    first = splits["train"][0]
    assert first.shape == (3, 88) and first.dtype == bool
    # frame 0 holds MIDI 60, 64, 67 -> columns 39, 43, 46 (column = pitch - 21)
    assert np.flatnonzero(first[0]).tolist() == [39, 43, 46]
    assert not first[1].any()
    assert np.flatnonzero(first[2]).tolist() == [0, 87]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"train": [], "valid": []}, "missing split.*test"),
        ({**SPLITS_DOC, "valid": [[[20]]]}, r"valid sequence 0, frame 0: pitch 20 is outside"),
        ({**SPLITS_DOC, "test": [[["C4"]]]}, "not an integer"),
        ([1, 2, 3], "expected a mapping"),
    ],
)
def test_load_benchmark_names_the_problem(tmp_path: Path, document: object, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_benchmark(write_gz(tmp_path / "bad.json.gz", document))


def test_load_benchmark_refuses_a_missing_or_garbled_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        load_benchmark(tmp_path / "absent.json.gz")
    (tmp_path / "garbled.json.gz").write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(DataError, match="not valid"):
        load_benchmark(tmp_path / "garbled.json.gz")



def _gzip_variants() -> dict[str, bytes]:
    good = gzip.compress(json.dumps(SPLITS_DOC).encode())
    crc = bytearray(good)
    crc[-8] ^= 0xFF  # the CRC-32 in the trailer no longer matches
    return {
        # header intact, deflate block type 3 (reserved): zlib.error "invalid block type"
        "corrupt body": good[:10] + b"\xff" * 8 + good[18:],
        "bad checksum": bytes(crc),  # gzip.BadGzipFile
        "cut short": good[: len(good) // 2],  # EOFError
    }


@pytest.mark.parametrize("case", sorted(_gzip_variants()))
def test_load_benchmark_refuses_a_corrupt_gzip(tmp_path: Path, case: str) -> None:
    path = tmp_path / "corrupt.json.gz"
    path.write_bytes(_gzip_variants()[case])
    with pytest.raises(DataError, match="corrupt.json.gz is not valid"):
        load_benchmark(path)


def test_load_benchmark_refuses_a_gzip_bomb_without_filling_the_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracemalloc

    from composer_app.ml import data

    monkeypatch.setattr(data, "MAX_DATA_BYTES", 1 << 20)
    path = tmp_path / "bomb.json.gz"
    path.write_bytes(gzip.compress(b" " * (100 << 20), compresslevel=1))  # 100 MB of spaces
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="bomb.json.gz decompresses to more than"):
            load_benchmark(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # decompression stopped at the limit, not after 100 MB
    # a plain file larger than the limit is refused before it is read
    big = tmp_path / "big.json"
    big.write_bytes(b" " * ((1 << 20) + 1))
    with pytest.raises(DataError, match="big.json is larger than"):
        load_benchmark(big)
    # a benchmark within the limit still loads
    ok = tmp_path / "ok.json.gz"
    ok.write_bytes(gzip.compress(json.dumps(SPLITS_DOC).encode()))
    assert len(load_benchmark(ok)["train"]) == len(SPLITS_DOC["train"])


def test_load_benchmark_refuses_json_nested_too_deeply(tmp_path: Path) -> None:
    # 100000 nested lists: far past the interpreter's recursion limit (1000 by default)
    path = tmp_path / "deep.json.gz"
    path.write_bytes(gzip.compress(b"[" * 100_000 + b"]" * 100_000))
    with pytest.raises(DataError, match="nested too deeply"):
        load_benchmark(path)


@pytest.mark.parametrize("loader", [load_benchmark, load_pickle_safely])
def test_loaders_refuse_a_fifo_without_waiting_for_a_writer(tmp_path: Path, loader) -> None:
    fifo = tmp_path / "data.json.gz"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            loader(fifo)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            outcome.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():  # it waits for a writer: release it, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(timeout=10)
        pytest.fail(f"{loader.__name__} blocked on a FIFO")
    assert isinstance(outcome[0], DataError)
    assert "the pipe gave no data" in str(outcome[0])


def test_load_benchmark_reads_a_pipe_someone_writes_to(tmp_path: Path) -> None:
    # as `--data <(zcat ...)` or /dev/stdin hand it over
    document = {"train": [[[60], [62, 64]]], "valid": [[[60]]], "test": [[[67]]]}
    payload = gzip.compress(json.dumps(document).encode())
    read, write = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(write, payload), os.close(write)))
    writer.start()
    try:
        splits = load_benchmark(f"/dev/fd/{read}")
    finally:
        writer.join(timeout=10)
        os.close(read)
    assert [s.shape for s in splits["train"]] == [(2, 88)]
    assert splits["train"][0][1].sum() == 2


@pytest.mark.skipif(not Path(os.devnull).exists(), reason="no null device")
def test_loaders_refuse_a_device_and_a_folder(tmp_path: Path) -> None:
    for loader in (load_benchmark, load_pickle_safely):
        with pytest.raises(DataError, match="not a regular file or a pipe"):
            loader(os.devnull)
        with pytest.raises(DataError, match="is a folder"):
            loader(tmp_path)

def test_load_benchmark_reads_the_shared_nottingham_splits() -> None:
    path = shared_data_dir() / "nottingham.json.gz"
    if not path.exists():
        pytest.skip(f"shared benchmark data absent ({path})")
    splits = load_benchmark(path)
    # counts and frame totals of shared/data/README.md section 1.4
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [694, 173, 170]
    assert sum(len(s) for s in splits["train"]) == 176561
    pitches = np.flatnonzero(np.any([s.any(axis=0) for s in splits["train"]], axis=0)) + 21
    assert (pitches.min(), pitches.max()) == (31, 93)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_load_pickle_safely_reads_plain_containers(tmp_path: Path, protocol: int) -> None:
    # the paper's layout: splits -> sequences -> frames (tuples/lists/sets of pitches)
    document = {
        "train": [[(60, 64), [67], set(), {21, 108}]],
        "valid": [[frozenset({50})]],
        "test": [],
    }
    path = tmp_path / "paper.pickle"
    path.write_bytes(pickle.dumps(document, protocol=protocol))
    splits = load_pickle_safely(path)
    assert np.flatnonzero(splits["train"][0][0]).tolist() == [39, 43]
    assert np.flatnonzero(splits["train"][0][3]).tolist() == [0, 87]
    assert np.flatnonzero(splits["valid"][0][0]).tolist() == [29]


class _Exploit:
    """Pickles as a call of os.system that would create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


class _EvalExploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (eval, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("exploit", [_Exploit, _EvalExploit])
def test_load_pickle_safely_refuses_globals_without_running_them(
    tmp_path: Path, exploit: type
) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps({"train": [exploit(marker)], "valid": [], "test": []}))
    with pytest.raises(DataError, match=r"refusing to load (posix\.system|builtins\.eval)"):
        load_pickle_safely(path)
    assert not marker.exists()  # the payload never ran
    # the same bytes through the plain unpickler would have run it: the test can fail
    pickle.loads(path.read_bytes())
    assert marker.exists()


def test_load_pickle_safely_names_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.pickle"
    path.write_bytes(pickle.dumps({"train": [[[60]]], "valid": [], "test": []})[:-5])
    with pytest.raises(DataError, match="not a readable pickle"):
        load_pickle_safely(path)


def _read_text_score(path: Path) -> Score:
    """A stand-in MIDI reader: one note per line, 'start_tick pitch duration_ticks'."""
    score = Score()
    for line in path.read_text().splitlines():
        start, pitch, duration = (int(x) for x in line.split())
        score.add(Note(start_tick=start, pitch=pitch, duration_ticks=duration))
    return score


def test_load_midi_folder_converts_readable_files_and_lists_the_rest(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.mid").write_text("0 60 480\n480 64 240\n")  # a quarter then an eighth
    (tmp_path / "sub" / "b.midi").write_text("0 72 960\n")
    (tmp_path / "broken.mid").write_text("not a note\n")
    (tmp_path / "silent.mid").write_text("0 10 480\n")  # below the piano range
    (tmp_path / "notes.txt").write_text("0 60 480\n")  # not a MIDI name: ignored
    sequences, skipped = load_midi_folder(tmp_path, _read_text_score, step_beats=0.5)
    # eighth-note steps (240 ticks at PPQ 480): a.mid -> 3 frames, b.midi -> 4 frames
    assert sorted(len(s) for s in sequences) == [3, 4]
    a = next(s for s in sequences if len(s) == 3)
    assert [np.flatnonzero(f).tolist() for f in a] == [[39], [39], [43]]
    reasons = {p.name: r for p, r in skipped}
    assert set(reasons) == {"broken.mid", "silent.mid"}
    assert "ValueError" in reasons["broken.mid"]
    assert "no notes" in reasons["silent.mid"]


def test_load_midi_folder_can_move_each_piece_to_c(tmp_path: Path) -> None:
    # a D major arpeggio, long tonic: moved down 2 semitones to C major
    (tmp_path / "d.mid").write_text("0 62 1920\n1920 66 480\n2400 69 480\n2880 74 960\n")
    (sequence,), _ = load_midi_folder(tmp_path, _read_text_score, 1.0, normalize_key=True)
    assert np.flatnonzero(sequence[0]).tolist() == [60 - 21]


def test_mean_pitch_weighs_every_sounding_key_of_every_frame(tmp_path: Path) -> None:
    splits = load_benchmark(write_gz(tmp_path / "toy.json.gz", SPLITS_DOC))
    # train: 60, 64, 67, 21, 108 and 62 sound once each (the empty frame counts nothing)
    assert mean_pitch(splits["train"]) == pytest.approx((60 + 64 + 67 + 21 + 108 + 62) / 6)
    held = np.zeros((4, 88), dtype=bool)
    held[:3, 60 - 21] = True  # C4 for three frames, E4 for one: the longer note weighs more
    held[3, 64 - 21] = True
    assert mean_pitch([held]) == pytest.approx(61.0)
    assert mean_pitch([held], pitch_low=0) == pytest.approx(61.0 - 21)
    assert mean_pitch([np.zeros((5, 88), dtype=bool)]) is None
    assert mean_pitch([]) is None


def test_transpose_sequences_shifts_and_never_drops_notes() -> None:
    roll = np.zeros((2, 88), dtype=bool)
    roll[0, 0] = True  # A0, the lowest key
    roll[1, 10] = True
    out = transpose_sequences([roll], [-1, 0, 2])
    # -1 would push A0 off the keyboard: that copy is skipped, the other two are kept
    assert len(out) == 2
    assert np.array_equal(out[0], roll)
    assert np.flatnonzero(out[1][0]).tolist() == [2] and np.flatnonzero(out[1][1]).tolist() == [12]


def test_load_midi_folder_reads_midi_names_in_any_case_and_riff_midi(tmp_path: Path) -> None:
    # real files, read by the app's reader: a tune of one pitch each, named as other
    # programs name them; .rmi is RIFF MIDI (the SMF bytes in an RMID "data" chunk)
    from composer_app.midi.files import read_mid, write_mid

    names = {"a.mid": 60, "b.Mid": 62, "c.MIDI": 64, "d.rmi": 65, "e.RMI": 67, "f.txt": 69,
             "g.mid.bak": 71}
    for name, pitch in names.items():
        score = Score()
        score.add(Note(start_tick=0, pitch=pitch, duration_ticks=480))
        write_mid(score, tmp_path / "tmp.mid")
        data = (tmp_path / "tmp.mid").read_bytes()
        if name.lower().endswith(".rmi"):
            body = b"RMID" + b"data" + len(data).to_bytes(4, "little") + data
            data = b"RIFF" + len(body).to_bytes(4, "little") + body
        (tmp_path / name).write_bytes(data)
    (tmp_path / "tmp.mid").unlink()
    sequences, skipped = load_midi_folder(tmp_path, read_mid, step_beats=0.5)
    assert skipped == []
    # one quarter note = two eighth-note frames of one pitch each; column = pitch - 21
    heard = sorted(int(np.flatnonzero(s[0])[0]) + 21 for s in sequences)
    assert heard == [60, 62, 64, 65, 67]  # .txt and .bak stay ignored

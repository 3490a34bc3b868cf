"""Training data for the RNN-RBM: benchmark piano rolls, MIDI folders and the paper's pickles.

Every loader returns sequences as ``(T, 88)`` bool arrays (time first; column ``k`` is MIDI
pitch ``pitch_low + k``). Untrusted pickles are read only through a restricted unpickler that
refuses every global, so loading one cannot run code.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import stat
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from composer_app.core.keys import estimate_key
from composer_app.core.pianoroll import PIANO_PITCH_HIGH, PIANO_PITCH_LOW, score_to_roll
from composer_app.core.score import Score

SPLITS = ("train", "valid", "test")
# A model's key_normalization when each training piece was moved into C major / C minor by
# its estimated key (a MIDI folder with --normalize-key, see load_midi_folder); the benchmark
# data, "C major/C minor", were moved by their key signatures
ESTIMATED_KEY_NORMALIZATION = "C major/C minor by estimated key"
# the names a MIDI folder's files are read by, matched case-insensitively (``tune.Mid``);
# ``.rmi`` is RIFF MIDI, which the app's reader unwraps as the editor's Open does
MIDI_SUFFIXES = (".mid", ".midi", ".rmi")
# the names of the paper's pickled data (read by :func:`load_pickle_safely`)
PICKLE_SUFFIXES = (".pickle", ".pkl")


class DataError(ValueError):
    """Training data cannot be read; the message names the file and the problem."""


def frames_to_roll(
    frames: Sequence[Iterable[int]],
    *,
    pitch_low: int = PIANO_PITCH_LOW,
    pitch_high: int = PIANO_PITCH_HIGH,
    where: str = "sequence",
) -> np.ndarray:
    """A list of frames (each a collection of MIDI pitches) -> a ``(T, P)`` bool roll.

    Raises :class:`DataError` naming ``where`` and the frame for a pitch outside the range.
    """
    roll = np.zeros((len(frames), pitch_high - pitch_low), dtype=bool)
    for t, frame in enumerate(frames):
        for pitch in frame:
            if isinstance(pitch, bool) or not isinstance(pitch, int | np.integer):
                raise DataError(f"{where}, frame {t}: pitch {pitch!r} is not an integer")
            if not pitch_low <= pitch < pitch_high:
                raise DataError(
                    f"{where}, frame {t}: pitch {pitch} is outside [{pitch_low}, {pitch_high})"
                )
            roll[t, pitch - pitch_low] = True
    return roll


def _splits_from_object(obj: Any, source: str) -> dict[str, list[np.ndarray]]:
    if not isinstance(obj, dict):
        raise DataError(f"{source}: expected a mapping of splits, found {type(obj).__name__}")
    missing = [s for s in SPLITS if s not in obj]
    if missing:
        raise DataError(f"{source}: missing split(s) {', '.join(missing)}")
    result: dict[str, list[np.ndarray]] = {}
    for split in SPLITS:
        sequences = obj[split]
        if not isinstance(sequences, list | tuple):
            raise DataError(f"{source}: split {split!r} is not a list of sequences")
        rolls = []
        for i, seq in enumerate(sequences):
            if not isinstance(seq, list | tuple):
                raise DataError(f"{source}: {split} sequence {i} is not a list of frames")
            for t, frame in enumerate(seq):
                if not isinstance(frame, list | tuple | set | frozenset):
                    raise DataError(f"{source}: {split} sequence {i}, frame {t} is not a list")
            rolls.append(frames_to_roll(seq, where=f"{source}: {split} sequence {i}"))
        result[split] = rolls
    return result


# The most bytes a data file may hold, read from a file or a pipe or decompressed (50 times
# the largest benchmark, MuseData's 4.9 MB of JSON): more is no benchmark, and a gzip bomb
# or an endless pipe must not fill the memory.
MAX_DATA_BYTES = 256 << 20
_MAX_DATA_TEXT = "256 MB"


def _read_data_file(path: Path) -> bytes:
    """The bytes of ``path``: a regular file, or a pipe (``<(zcat ...)``, /dev/stdin).

    The file is opened without blocking and checked with ``fstat`` before any read: a named
    pipe nobody writes to reads as empty at once instead of waiting for a writer for ever,
    and a device such as /dev/zero, which never ends, is refused. Raises :class:`DataError`
    naming the file.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise DataError(f"cannot read {path}: it is a folder, not a data file")
        if stat.S_ISFIFO(mode):
            os.set_blocking(fd, True)  # a writer that is there is waited for, chunk by chunk
            chunks, size = [], 0
            while chunk := os.read(fd, 1 << 20):
                size += len(chunk)
                if size > MAX_DATA_BYTES:
                    raise DataError(f"cannot read {path}: the pipe gave more than {_MAX_DATA_TEXT}")
                chunks.append(chunk)
            if not size:
                raise DataError(f"cannot read {path}: the pipe gave no data (nothing wrote to it)")
            return b"".join(chunks)
        if not stat.S_ISREG(mode):
            raise DataError(f"cannot read {path}: it is not a regular file or a pipe (a device?)")
        if os.fstat(fd).st_size > MAX_DATA_BYTES:
            raise DataError(f"{path} is larger than {_MAX_DATA_TEXT}: too large for a data file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def _decompressed(raw: bytes) -> bytes:
    """The gzip stream ``raw`` decompressed, stopping one byte past ``MAX_DATA_BYTES`` (so a
    bomb costs no more memory than that)."""
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as handle:
        return handle.read(MAX_DATA_BYTES + 1)


def load_benchmark(path: str | Path) -> dict[str, list[np.ndarray]]:
    """Read a benchmark file (gzipped JSON ``{"train": [seq...], "valid": ..., "test": ...}``).

    Shapes: every sequence is ``(T, 88)`` bool, one row per step (MIDI pitches 21..108).
    Raises :class:`DataError` for a missing, unreadable or malformed file.
    """
    path = Path(path)
    raw = _read_data_file(path)
    try:
        text = _decompressed(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is not valid (gzipped) JSON: {exc}") from exc
    if len(text) > MAX_DATA_BYTES:
        raise DataError(f"{path} decompresses to more than {_MAX_DATA_TEXT}: too large for a data file")
    try:
        obj = json.loads(text)
    # BadGzipFile is an OSError; a corrupt deflate stream raises zlib.error, a cut one
    # EOFError; JSON nested deeper than the interpreter's stack raises RecursionError.
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise DataError(f"{path} is not valid (gzipped) JSON: {exc}") from exc
    except RecursionError as exc:
        raise DataError(f"{path} is not valid benchmark JSON: it is nested too deeply") from exc
    return _splits_from_object(obj, str(path))


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain containers and numbers: every global is refused."""

    _ALLOWED = {
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        # the same two under their Python 2 module name, as in the paper's original files
        ("__builtin__", "set"): set,
        ("__builtin__", "frozenset"): frozenset,
    }

    def find_class(self, module: str, name: str) -> Any:
        allowed = self._ALLOWED.get((module, name))
        if allowed is None:
            raise DataError(
                f"refusing to load {module}.{name}: the pickle asks to run code, which a data "
                "file never needs (only lists, tuples, sets, ints, strings and dicts are allowed)"
            )
        return allowed

    def persistent_load(self, pid: Any) -> Any:
        raise DataError("refusing a pickle with persistent references")


def load_pickle_safely(path: str | Path) -> dict[str, list[np.ndarray]]:
    """Read the paper's original ``.pickle`` (splits -> sequences -> frames -> pitches).

    Nothing in the file is executed: a restricted unpickler refuses every global but
    ``builtins.set``/``frozenset``. Shapes: as :func:`load_benchmark`.
    Raises :class:`DataError` naming the file and the refused global or the problem.
    """
    path = Path(path)
    raw = _read_data_file(path)
    try:
        obj = _RestrictedUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - any decoding failure of untrusted bytes
        raise DataError(f"{path} is not a readable pickle: {exc}") from exc
    return _splits_from_object(obj, str(path))


def load_data_file(path: str | Path) -> dict[str, list[np.ndarray]]:
    """Read a data file with splits: the paper's ``.pickle`` (or ``.pkl``, any case) through
    :func:`load_pickle_safely`, anything else as a benchmark file (:func:`load_benchmark`).

    Shapes: as :func:`load_benchmark`. Raises :class:`DataError`.
    """
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return load_pickle_safely(path)
    return load_benchmark(path)


def load_midi_folder(
    folder: str | Path,
    read_score: Callable[[Path], Score],
    step_beats: float,
    *,
    pitch_low: int = PIANO_PITCH_LOW,
    pitch_high: int = PIANO_PITCH_HIGH,
    normalize_key: bool = False,
) -> tuple[list[np.ndarray], list[tuple[Path, str]]]:
    """Piano rolls of every MIDI file below ``folder``; unreadable files are skipped.

    A MIDI file is one named ``*.mid``, ``*.midi`` or ``*.rmi`` in any case; others are ignored.

    ``read_score`` parses one file (injected, since ml never imports midi). With
    ``normalize_key`` each piece is moved to C major / C minor (its estimated key's tonic to C,
    by the smallest shift), as the benchmark data were. Units: ``step_beats`` in quarter notes.
    Returns ``(sequences, skipped)`` with ``skipped`` a list of ``(path, reason)``.
    Shapes: sequences ``(T, pitch_high - pitch_low)`` bool.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder")
    sequences: list[np.ndarray] = []
    skipped: list[tuple[Path, str]] = []
    paths = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES
    )
    for path in paths:
        try:
            score = read_score(path)
            shift = 0
            if normalize_key:
                key = estimate_key(score.notes)
                shift = key.semitones_to_c() if key is not None else 0
            step_ticks = max(1, round(step_beats * score.ppq))
            # transposing every note by `shift` = reading the roll from a range moved by -shift
            roll = score_to_roll(
                score, step_ticks, pitch_low=pitch_low - shift, pitch_high=pitch_high - shift
            ).roll
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
            skipped.append((path, f"{type(exc).__name__}: {exc}"))
            continue
        if len(roll) == 0 or not roll.any():
            skipped.append((path, "no notes in the piano range"))
            continue
        sequences.append(roll)
    return sequences, skipped


def transpose_sequences(
    sequences: Sequence[np.ndarray], semitones: Iterable[int]
) -> list[np.ndarray]:
    """Augment by transposition: every sequence shifted by each of ``semitones``.

    A shift that would push a sounding note off the roll is skipped for that sequence, so
    no note is silently lost. ``0`` in ``semitones`` keeps the original.
    Shapes: ``(T, P)`` in, ``(T, P)`` out.
    """
    result: list[np.ndarray] = []
    shifts = list(semitones)
    for roll in sequences:
        used = np.flatnonzero(roll.any(axis=0))
        for shift in shifts:
            if used.size and (used[0] + shift < 0 or used[-1] + shift >= roll.shape[1]):
                continue
            shifted = np.zeros_like(roll)
            if shift >= 0:
                shifted[:, shift:] = roll[:, : roll.shape[1] - shift]
            else:
                shifted[:, :shift] = roll[:, -shift:]
            result.append(shifted)
    return result


def mean_pitch(sequences: Iterable[np.ndarray], pitch_low: int = PIANO_PITCH_LOW) -> float | None:
    """The mean MIDI pitch of every sounding key of every frame (so weighted by duration):
    the register of the music. None when nothing sounds. Shapes: ``(T, P)`` bool each.
    """
    counts: np.ndarray | None = None
    for roll in sequences:
        column_sums = np.asarray(roll, dtype=bool).sum(axis=0, dtype=np.int64)
        counts = column_sums if counts is None else counts + column_sums
    if counts is None or counts.sum() == 0:
        return None
    pitches = np.arange(pitch_low, pitch_low + len(counts))
    return float((counts * pitches).sum() / counts.sum())


def count_frames(sequences: Iterable[np.ndarray]) -> int:
    """Total number of time steps."""
    return sum(len(s) for s in sequences)

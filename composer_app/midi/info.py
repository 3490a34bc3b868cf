"""``composer-app info FILE.mid``: describe a MIDI file as the app will see it.

Prints the layout (format, tracks, PPQ), the note count, the duration in bars and seconds,
tempo(s), meter(s), key signature(s), the title and track names, instruments, controllers,
texts (copyright, markers, lyrics, ...) and system-exclusive messages, the pitch range, what
the default piano roll (one step per eighth note, 88 keys) would drop or change, and what
import itself dropped or changed. A file that cannot
be read prints one line naming the file and the reason on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys

from composer_app.core.note import pitch_name
from composer_app.core.pianoroll import score_to_roll
from composer_app.core.score import (
    LYRIC,
    MARKER,
    TEXT_KINDS,
    Score,
    TextEvent,
    readable_text,
)
from composer_app.core.timing import ticks_to_seconds
from composer_app.midi.files import ImportReport, MidiFileError, read_mid_report

EXIT_BAD_FILE = 2
MAX_LISTED_CHANGES = 8  # longer tempo, meter or key maps (and lists of markers) are summarized
MAX_LISTED_LYRICS = 32  # the lyrics' first events are quoted, at most so many characters:
MAX_LYRICS_CHARACTERS = 60
_LYRIC_BREAKS = str.maketrans("/\\", "  ")  # (line breaks: readable_text's spaces)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the ``info`` subcommand."""
    parser.add_argument("file", help="a MIDI file (.mid)")


def run(args: argparse.Namespace) -> int:
    """Print the description of ``args.file``; 0 on success, 2 for an unreadable file."""
    try:
        score, report = read_mid_report(args.file)
    except MidiFileError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_FILE
    text = describe(score, report, name=str(args.file))
    # a terminal that cannot show a name's or lyric's characters gets them escaped
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    print(text.encode(encoding, "backslashreplace").decode(encoding))
    return 0


def default_step_ticks(ppq: int) -> int:
    """The default roll step, an eighth note. Units: ticks (at least one)."""
    return max(1, ppq // 2)


def duration_bars(score: Score, end_tick: int) -> float:
    """How many bars ``[0, end_tick)`` spans, the last one counted fractionally."""
    starts = score.bar_starts(end_tick)
    if not starts:
        return 0.0
    last = starts[-1]
    bar_ticks = score.time_signature_at(last).bar_ticks(score.ppq)
    return len(starts) - 1 + (end_tick - last) / bar_ticks


def describe(score: Score, report: ImportReport, name: str = "") -> str:
    """The text ``info`` prints for a score read with :func:`read_mid_report`."""
    lines: list[str] = []
    timing = f"{score.ppq} ticks per quarter" + (" (from SMPTE timing)" if report.smpte else "")
    lines.append(
        f"File: {name} (format {report.file_format}, {report.track_count} "
        f"track{'s' if report.track_count != 1 else ''}, {timing})"
    )
    channels = sorted({n.channel + 1 for n in score.notes})
    on_channels = f" on channel{'s' if len(channels) != 1 else ''} " if channels else ""
    lines.append(f"Notes: {len(score)}{on_channels}{', '.join(map(str, channels))}")
    end_tick = score.length_tick  # a closing rest is part of the song
    seconds = ticks_to_seconds(end_tick, score.tempo_map, score.ppq)
    lines.append(
        f"Duration: {duration_bars(score, end_tick):.2f} bars, {seconds:.2f} s ({end_tick} ticks)"
    )
    lines.append("Tempo: " + _tempo_text(score))
    lines.append("Meter: " + _meter_text(score))
    lines.append("Key signature: " + _key_text(score))
    if score.title:
        lines.append(f"Title: {readable_text(score.title)}")
    if score.track_names:
        lines.append("Tracks: " + ", ".join(
            f"{readable_text(name)} (channel {channel + 1})"
            for (channel, _track), name in sorted(score.track_names.items())
        ))
    lines.extend(_text_lines(score))
    if score.program_changes:
        lines.append("Instruments: " + _program_text(score))
    if score.control_changes or score.pitch_bends:
        pedal = sum(1 for c in score.control_changes if c.controller == 64)
        lines.append(
            f"Controller changes: {len(score.control_changes)}"
            + (f" ({pedal} of the sustain pedal)" if pedal else "")
            + f"; pitch bends: {len(score.pitch_bends)}"
        )
    if score.channel_pressures or score.key_pressures:
        lines.append(f"Aftertouch: {len(score.channel_pressures)} channel pressure, "
                     f"{len(score.key_pressures)} key pressure")
    if len(score):
        low = min(n.pitch for n in score.notes)
        high = max(n.pitch for n in score.notes)
        lines.append(f"Pitch range: {pitch_name(low)} ({low}) to {pitch_name(high)} ({high})")
    else:
        lines.append("Pitch range: none (no notes)")
    step_ticks = default_step_ticks(score.ppq)
    losses = score_to_roll(score, step_ticks).losses
    lines.append(f"Piano roll at one step per eighth note ({step_ticks} ticks), 88 keys:")
    lines.append(f"  out of range (dropped): {losses.out_of_range}")
    lines.append(f"  off the grid (rounded): {losses.off_grid}")
    lines.append(f"  merged re-strikes (lost): {losses.merged}")
    changes = report.change_lines()
    if changes:
        lines.append("Import changed:")
        lines.extend(f"  {line}" for line in changes)
    else:
        lines.append("Import changed: nothing")
    return "\n".join(lines)


# Well-known system-exclusive messages, by their bytes (less the 0xF0 and 0xF7 around them)
def _counted(count: int, name: str) -> str:
    """``count`` of ``name`` ("text", "cue point", "text (type 10)"), plural where it is."""
    if count == 1:
        return f"1 {name}"
    noun, _space, rest = name.partition(" (")
    return f"{count} {noun}s" + (f" ({rest}" if rest else "")


def _text_lines(score: Score) -> list[str]:
    """The lines of the file's texts: its copyright, markers (with their bars), lyrics (a
    Soft Karaoke file's in text events too), other texts, and system-exclusive messages
    (well-known ones named)."""
    lines: list[str] = []
    by_kind: dict[int, list[TextEvent]] = {}
    for text in score.texts:
        by_kind.setdefault(text.kind, []).append(text)
    if any(t.text.startswith("@KMIDI") for t in by_kind.get(1, ())):
        # a .kar file: its lyrics are text events, "@" starting a line of its header
        words = [t for t in by_kind[1] if not t.text.startswith("@")]
        by_kind[1] = [t for t in by_kind[1] if t.text.startswith("@")]
        by_kind[LYRIC] = sorted([*by_kind.get(LYRIC, ()), *words], key=lambda t: t.tick)
    for text in by_kind.pop(2, ()):
        lines.append(f"Copyright: {readable_text(text.text)}")
    markers = by_kind.pop(MARKER, [])
    if markers:
        shown = ", ".join(
            f"{readable_text(m.text)} (bar {len(score.bar_starts(m.tick + 1))})"
            for m in markers[:MAX_LISTED_CHANGES]
        )
        more = len(markers) - MAX_LISTED_CHANGES
        lines.append(f"Markers: {shown}" + (f" and {more} more" if more > 0 else ""))
    lyrics = by_kind.pop(LYRIC, [])
    if lyrics:
        # karaoke files mark a new line or verse with "/", "\\" or a line break; the
        # syllables are read together (a character may be split between two)
        words = " ".join(readable_text("".join(t.text for t in lyrics[:MAX_LISTED_LYRICS]))
                         .translate(_LYRIC_BREAKS).split())
        cut = len(lyrics) > MAX_LISTED_LYRICS or len(words) > MAX_LYRICS_CHARACTERS
        plural = "s" if len(lyrics) != 1 else ""
        lines.append(f'Lyrics: {len(lyrics)} event{plural} ("{words[:MAX_LYRICS_CHARACTERS]}'
                     f'{"..." if cut else ""}")')
    kinds = ", ".join(_counted(len(by_kind[kind]), TEXT_KINDS[kind])
                      for kind in sorted(by_kind) if by_kind[kind])
    if kinds:
        lines.append(f"Other texts: {kinds}")
    if score.system_exclusive:
        names = (m.name for m in score.system_exclusive)
        known = ", ".join(dict.fromkeys(name for name in names if name))
        lines.append(f"System-exclusive messages: {len(score.system_exclusive)}"
                     + (f" ({known})" if known else ""))
    return lines


def _program_text(score: Score) -> str:
    """Each channel's first program, numbered from 1 as General MIDI lists them (program 0,
    the grand piano, is instrument 1), and how many changes follow."""
    first: dict[int, int] = {}
    for change in score.program_changes:
        first.setdefault(change.channel, change.program)
    text = ", ".join(f"{program + 1} on channel {channel + 1}"
                     for channel, program in sorted(first.items()))
    later = len(score.program_changes) - len(first)
    return text + (f" (then {later} change{'s' if later != 1 else ''})" if later else "")


def _tempo_text(score: Score) -> str:
    tempos = score.tempo_map
    if len(tempos) == 1:
        return f"{tempos[0].tempo_bpm:.6g} BPM"
    if len(tempos) > MAX_LISTED_CHANGES:
        bpms = [t.tempo_bpm for t in tempos]
        return f"{len(tempos)} changes, {min(bpms):.6g} to {max(bpms):.6g} BPM"
    return ", ".join(f"{t.tempo_bpm:.6g} BPM at tick {t.tick}" for t in tempos)


def _meter_text(score: Score) -> str:
    sigs = score.time_signatures
    if len(sigs) == 1:
        return f"{sigs[0].numerator}/{sigs[0].denominator}"
    shown = ", ".join(
        f"{s.numerator}/{s.denominator} at tick {s.tick}" for s in sigs[:MAX_LISTED_CHANGES]
    )
    more = f" and {len(sigs) - MAX_LISTED_CHANGES} more" if len(sigs) > MAX_LISTED_CHANGES else ""
    return shown + more


def _key_text(score: Score) -> str:
    keys = score.key_signatures
    if not keys:
        return "none in the file"
    if len(keys) == 1 and keys[0].tick == 0:
        return keys[0].name
    shown = ", ".join(f"{k.name} at tick {k.tick}" for k in keys[:MAX_LISTED_CHANGES])
    more = f" and {len(keys) - MAX_LISTED_CHANGES} more" if len(keys) > MAX_LISTED_CHANGES else ""
    return shown + more

"""Ticks <-> beats <-> seconds through a tempo map, and quantizing to a grid."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from composer_app.core.score import TempoChange


def ticks_to_beats(tick: int, ppq: int) -> float:
    """Quarter-note beats from tick 0. Units: ticks -> quarter notes."""
    return tick / ppq


def beats_to_ticks(beats: float, ppq: int) -> int:
    """Nearest tick to a position in quarter-note beats."""
    return round(beats * ppq)


def ticks_to_seconds(tick: int, tempo_map: Sequence[TempoChange], ppq: int) -> float:
    """Seconds from tick 0 to ``tick`` through the tempo map.

    Units: ticks in, seconds out. ``tempo_map`` is sorted and starts at tick 0.
    """
    time_s = 0.0
    for i, change in enumerate(tempo_map):
        section_end = tempo_map[i + 1].tick if i + 1 < len(tempo_map) else None
        if section_end is not None and section_end < tick:
            time_s += (section_end - change.tick) * change.us_per_quarter / (1e6 * ppq)
            continue
        time_s += (tick - change.tick) * change.us_per_quarter / (1e6 * ppq)
        break
    return time_s


def seconds_to_ticks(time_s: float, tempo_map: Sequence[TempoChange], ppq: int) -> float:
    """Inverse of :func:`ticks_to_seconds` (fractional ticks). Units: seconds -> ticks."""
    elapsed_s = 0.0
    for i, change in enumerate(tempo_map):
        s_per_tick = change.us_per_quarter / (1e6 * ppq)
        if i + 1 < len(tempo_map):
            section_s = (tempo_map[i + 1].tick - change.tick) * s_per_tick
            if elapsed_s + section_s < time_s:
                elapsed_s += section_s
                continue
        return change.tick + (time_s - elapsed_s) / s_per_tick
    return 0.0


def tick_index(tempo_map: Sequence[TempoChange], tick: int) -> int:
    """Index of the tempo change in force at ``tick``."""
    return max(0, bisect.bisect_right([t.tick for t in tempo_map], tick) - 1)


def quantize(tick: int, grid_ticks: int) -> int:
    """The grid line nearest to ``tick`` (halves round up). Units: ticks."""
    if grid_ticks <= 0:
        return tick
    return ((tick + grid_ticks // 2) // grid_ticks) * grid_ticks


def snap_down(tick: int, grid_ticks: int) -> int:
    """The grid line at or before ``tick``. Units: ticks."""
    if grid_ticks <= 0:
        return tick
    return (tick // grid_ticks) * grid_ticks

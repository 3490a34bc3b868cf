"""Ticks <-> beats <-> seconds through a tempo map, and grid snapping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from composer_app.core.score import TempoChange
from composer_app.core.timing import (
    beats_to_ticks,
    quantize,
    seconds_to_ticks,
    snap_down,
    tick_index,
    ticks_to_beats,
    ticks_to_seconds,
)

# 120 BPM for two bars of 4/4 at 480 PPQ, then 60 BPM, then 240 BPM from tick 5760
TEMPO_MAP = [TempoChange(0, 500_000), TempoChange(3840, 1_000_000), TempoChange(5760, 250_000)]


def test_ticks_to_beats_and_back() -> None:
    assert ticks_to_beats(720, 480) == 1.5
    assert beats_to_ticks(1.5, 480) == 720
    assert beats_to_ticks(0.3333, 96) == 32  # 31.9968 rounds to 32


def test_ticks_to_seconds_single_tempo() -> None:
    tempo = [TempoChange(0, 500_000)]
    assert ticks_to_seconds(0, tempo, 480) == 0.0
    assert ticks_to_seconds(480, tempo, 480) == pytest.approx(0.5)  # one quarter at 120 BPM
    assert ticks_to_seconds(96, tempo, 96) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("tick", "expected_s"),
    [
        (1920, 2.0),  # 4 quarters x 0.5 s
        (3840, 4.0),  # exactly at the first change: 8 x 0.5 s
        (4320, 5.0),  # + 1 quarter at 60 BPM
        (5760, 8.0),  # 8 x 0.5 + 4 x 1.0
        (6240, 8.25),  # + 1 quarter at 240 BPM
    ],
)
def test_ticks_to_seconds_through_tempo_changes(tick: int, expected_s: float) -> None:
    assert ticks_to_seconds(tick, TEMPO_MAP, 480) == pytest.approx(expected_s)


@pytest.mark.parametrize(
    ("time_s", "expected_tick"),
    [(0.0, 0), (2.0, 1920), (4.0, 3840), (5.0, 4320), (8.0, 5760), (8.25, 6240)],
)
def test_seconds_to_ticks_through_tempo_changes(time_s: float, expected_tick: int) -> None:
    assert seconds_to_ticks(time_s, TEMPO_MAP, 480) == pytest.approx(expected_tick)


@given(st.integers(min_value=0, max_value=10**7))
def test_seconds_to_ticks_inverts_ticks_to_seconds(tick: int) -> None:
    time_s = ticks_to_seconds(tick, TEMPO_MAP, 480)
    assert seconds_to_ticks(time_s, TEMPO_MAP, 480) == pytest.approx(tick, abs=1e-6)


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**6))
def test_ticks_to_seconds_is_monotonic(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert ticks_to_seconds(low, TEMPO_MAP, 480) <= ticks_to_seconds(high, TEMPO_MAP, 480)


def test_tick_index_finds_the_change_in_force() -> None:
    assert [tick_index(TEMPO_MAP, t) for t in (0, 3839, 3840, 5759, 5760, 10**9)] == [
        0,
        0,
        1,
        1,
        2,
        2,
    ]


def test_quantize_rounds_to_the_nearest_grid_line_halves_up() -> None:
    assert quantize(119, 240) == 0
    assert quantize(120, 240) == 240  # a half step rounds up
    assert quantize(359, 240) == 240
    assert quantize(480, 240) == 480
    assert quantize(77, 0) == 77  # no grid


def test_snap_down_floors_to_the_grid() -> None:
    assert snap_down(239, 240) == 0
    assert snap_down(240, 240) == 240
    assert snap_down(77, 0) == 77


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=10**5))
def test_quantize_lands_on_the_grid_within_half_a_step(tick: int, grid: int) -> None:
    snapped = quantize(tick, grid)
    assert snapped % grid == 0
    assert abs(snapped - tick) <= grid / 2
    assert snap_down(tick, grid) <= tick < snap_down(tick, grid) + grid

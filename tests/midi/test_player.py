"""The real-time player, driven by a fake port and a fake clock whose sleep advances it.

The player's own thread runs as usual; only time is simulated, so every message carries the
exact clock time at which it was sent. At 120 BPM and PPQ 480 one tick lasts 1/960 s:
480 ticks (a quarter) = 0.5 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pytest

from composer_app.core.note import Note
from composer_app.core.score import (
    ChannelPressure,
    ControlChange,
    KeyPressure,
    PitchBend,
    ProgramChange,
    Score,
    SystemExclusive,
    TempoChange,
)
from composer_app.midi.player import (
    CC_ALL_NOTES_OFF,
    CC_ALL_SOUND_OFF,
    CC_SUSTAIN,
    POSITION_INTERVAL_S,
    Player,
)
from composer_app.midi.ports import PortError

ON, OFF = 0x90, 0x80


class FakeClock:
    """Monotonic time that only moves when the player sleeps (or a test moves it)."""

    def __init__(self) -> None:
        self.now_s = 0.0
        self.frozen = False  # while True, the player's sleeps pass no time

    def __call__(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        if self.frozen:
            time.sleep(0.001)
        else:
            self.now_s += max(0.0, seconds)


class FakePort:
    """Records (clock time, message); can fail from the ``fail_after``-th send on."""

    def __init__(self, clock: FakeClock, fail_after: int | None = None) -> None:
        self.clock = clock
        self.sent: list[tuple[float, tuple[int, ...]]] = []
        self.fail_after = fail_after
        self.on_send: Callable[[tuple[int, ...]], None] | None = None

    def send(self, message: Sequence[int]) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise PortError("MIDI port 'fake' is closed; choose an output again")
        self.sent.append((self.clock(), tuple(message)))
        if self.on_send is not None:
            self.on_send(tuple(message))

    def notes(self) -> list[tuple[float, tuple[int, ...]]]:
        """Note-ons and note-offs only (no controller messages)."""
        return [(t, m) for t, m in self.sent if m[0] & 0xF0 in (ON, OFF)]


def panic_messages(sounding: Sequence[tuple[int, int]] = ()) -> list[tuple[int, ...]]:
    """What silencing sends: a note-off per sounding (channel, pitch), then 3 CCs x 16 channels."""
    messages = [(OFF | ch, pitch, 0) for ch, pitch in sounding]
    for ch in range(16):
        messages += [
            (0xB0 | ch, CC_SUSTAIN, 0),
            (0xB0 | ch, CC_ALL_NOTES_OFF, 0),
            (0xB0 | ch, CC_ALL_SOUND_OFF, 0),
        ]
    return messages


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the player"
        time.sleep(0.001)


def assert_times(actual: list[tuple[float, tuple[int, ...]]], expected: list) -> None:
    assert [m for _, m in actual] == [m for _, m in expected]
    for (t_actual, _), (t_expected, _) in zip(actual, expected, strict=True):
        assert t_actual == pytest.approx(t_expected, abs=1e-6)


class Rig:
    """A player on a fake clock and port, with its callbacks recorded."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.clock = FakeClock()
        self.port = FakePort(self.clock, fail_after)
        self.positions: list[tuple[float, float]] = []
        self.errors: list[str] = []
        self.finished = threading.Event()
        self.position_hook: Callable[[float], None] | None = None
        self.player = Player(
            self.port,
            clock=self.clock,
            sleep=self.clock.sleep,
            on_position=self._on_position,
            on_error=self.errors.append,
            on_finished=self.finished.set,
        )

    def _on_position(self, tick: float) -> None:
        self.positions.append((self.clock(), tick))
        if self.position_hook is not None:
            self.position_hook(tick)

    def play_to_end(self, score: Score, start_tick: int = 0) -> None:
        self.player.play(score, start_tick)
        assert self.finished.wait(5.0), "playback did not finish"


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    yield r
    r.player.close()


def score_of(*notes: Note, tempo_map: list[TempoChange] | None = None) -> Score:
    score = Score(tempo_map=tempo_map) if tempo_map else Score()
    score.add_many(notes)
    return score


def test_player_sends_notes_in_order_at_their_times(rig: Rig) -> None:
    rig.play_to_end(score_of(Note(0, 60, 480, 100), Note(480, 64, 240, 80, channel=2)))
    # note 60 ends at tick 480 = 0.5 s, the instant note 64 starts: the off goes first
    assert_times(
        rig.port.sent,
        [
            (0.0, (ON, 60, 100)),
            (0.5, (OFF, 60, 0)),
            (0.5, (ON | 2, 64, 80)),
            (0.75, (OFF | 2, 64, 0)),
        ],
    )
    assert not rig.player.is_playing
    assert rig.player.position_tick == pytest.approx(720)
    assert rig.positions[-1][1] == pytest.approx(720)
    assert rig.player.stats.sent == 4 and rig.player.stats.dropped_late == 0


def test_player_starts_notes_already_sounding_at_start_tick(rig: Rig) -> None:
    score = score_of(Note(0, 60, 960), Note(0, 62, 240), Note(960, 67, 480))
    rig.play_to_end(score, start_tick=480)
    # 62 ended before tick 480; 60 sounds from 480 (t=0) to 960 (t=0.5); 67 from 0.5 to 1.0
    assert_times(
        rig.port.sent,
        [(0.0, (ON, 60, 100)), (0.5, (OFF, 60, 0)), (0.5, (ON, 67, 100)), (1.0, (OFF, 67, 0))],
    )


def test_player_restrikes_a_pitch_that_is_still_sounding(rig: Rig) -> None:
    # a long 60 (ticks 0-960) with a short 60 inside it (480-720)
    rig.play_to_end(score_of(Note(0, 60, 960), Note(480, 60, 240)))
    # the second note-on re-strikes (off, on); the first note-off (720) only lowers the count
    # and the pitch ends with the last note-off at tick 960 = 1.0 s: nothing hangs
    assert_times(
        rig.port.sent,
        [(0.0, (ON, 60, 100)), (0.5, (OFF, 60, 0)), (0.5, (ON, 60, 100)), (1.0, (OFF, 60, 0))],
    )


def test_player_follows_tempo_changes(rig: Rig) -> None:
    tempo = [TempoChange.from_bpm(0, 120), TempoChange.from_bpm(480, 60)]
    rig.play_to_end(
        score_of(Note(0, 60, 480), Note(480, 62, 480), Note(960, 64, 240), tempo_map=tempo)
    )
    # ticks 0-480 at 120 BPM take 0.5 s; from tick 480 on a quarter lasts 1 s
    assert [round(t, 6) for t, m in rig.port.sent if m[0] == ON] == [0.0, 0.5, 1.5]
    # and 64 lasts 240 ticks = half a quarter at 60 BPM = 0.5 s
    assert rig.port.sent[-1] == (pytest.approx(2.0), (OFF, 64, 0))


def test_player_set_tempo_map_rescales_the_rest(rig: Rig) -> None:
    def halve_tempo(tick: float) -> None:
        if tick >= 240 and rig.player.time_of_tick(480) == pytest.approx(0.5):
            rig.player.set_tempo_map([TempoChange.from_bpm(0, 60)])

    rig.position_hook = halve_tempo
    rig.play_to_end(score_of(Note(0, 60, 480)))
    (t_on, on), (t_off, off) = rig.port.sent
    # switched at t1 >= 0.25 s (tick t1 * 960); the remaining 480 - 960 * t1 ticks take twice
    # as long: off at t1 + (480 - 960 * t1) / 480
    t1 = next(t for t, tick in rig.positions if tick >= 240)
    assert off == (OFF, 60, 0) and t_off == pytest.approx(t1 + (480 - 960 * t1) / 480, abs=1e-6)
    assert t_off > 0.5


def test_player_reports_position_at_most_60_times_a_second(rig: Rig) -> None:
    rig.play_to_end(score_of(Note(0, 60, 1920)))  # 2 s
    times = [t for t, _ in rig.positions]
    gaps = np.diff(times[:-1])  # the last report comes with on_finished
    assert len(times) <= 2 * 60 + 2
    assert gaps.min() >= POSITION_INTERVAL_S - 1e-9
    ticks = [tick for _, tick in rig.positions]
    assert ticks == sorted(ticks) and ticks[-1] == pytest.approx(1920)


def test_player_stop_silences_and_does_not_finish(rig: Rig) -> None:
    stopped = threading.Event()

    def stop_at_quarter(tick: float) -> None:
        if tick >= 480 and not stopped.is_set():
            rig.player.stop()
            stopped.set()

    rig.position_hook = stop_at_quarter
    rig.player.play(score_of(Note(0, 60, 1920), Note(0, 64, 960, channel=3), Note(1920, 67, 480)))
    assert stopped.wait(5.0)
    wait_until(lambda: not rig.player.is_playing)
    messages = [m for _, m in rig.port.sent]
    assert messages[:2] == [(ON, 60, 100), (ON | 3, 64, 100)]
    assert messages[2:] == panic_messages([(0, 60), (3, 64)])
    time.sleep(0.05)  # the thread is idle: nothing more is sent, and it did not "finish"
    assert len(rig.port.sent) == len(messages) and not rig.finished.is_set()
    assert 480 <= rig.player.position_tick < 500


def test_player_seek_ends_the_sounding_notes_and_resumes_there(rig: Rig) -> None:
    seeked = threading.Event()

    def seek_once(tick: float) -> None:
        if tick >= 240 and not seeked.is_set():
            seeked.set()
            rig.player.seek(1440)

    rig.position_hook = seek_once
    rig.play_to_end(score_of(Note(0, 60, 480), Note(960, 62, 960), Note(1920, 64, 480)))
    t_seek = next(t for t, tick in rig.positions if tick >= 240)
    notes = rig.port.notes()
    # 60 sounding at the seek is ended; 62 (960-1920) sounds at 1440 and starts
    # there; 64 follows at 1920, (1920 - 1440) / 960 = 0.5 s after the seek
    assert [m for _, m in notes] == [
        (ON, 60, 100), (OFF, 60, 0), (ON, 62, 100), (OFF, 62, 0), (ON, 64, 100), (OFF, 64, 0),
    ]  # fmt: skip
    assert notes[2][0] == pytest.approx(t_seek)
    assert notes[4][0] == pytest.approx(t_seek + 0.5)
    # a jump, not a panic: no controllers (all-sound-off would cut release and reverb tails)
    assert [m for _, m in rig.port.sent] == [m for _, m in notes]


# ---- program changes: each part's instrument ---------------------------------------------
PROGRAM = 0xC0


def programmed_score() -> Score:
    """A violin (41) on channel 1 turning cello (43) at tick 960, a bass (33) on channel 3,
    and a change after the last note that must neither sound nor keep the playback going."""
    score = score_of(Note(0, 60, 480), Note(960, 62, 480), Note(0, 36, 1440, channel=2))
    score.program_changes = [ProgramChange(0, 0, 40), ProgramChange(0, 2, 32),
                             ProgramChange(960, 0, 42), ProgramChange(4800, 0, 0)]
    return score


def test_player_sends_each_parts_program_before_its_notes(rig: Rig) -> None:
    # programs were dropped: a GM synth played every part with the last instrument it was given
    rig.play_to_end(programmed_score())
    assert_times(rig.port.sent, [
        (0.0, (PROGRAM, 40)), (0.0, (PROGRAM | 2, 32)), (0.0, (ON | 2, 36, 100)),
        (0.0, (ON, 60, 100)), (0.5, (OFF, 60, 0)), (1.0, (PROGRAM, 42)), (1.0, (ON, 62, 100)),
        (1.5, (OFF | 2, 36, 0)), (1.5, (OFF, 62, 0)),
    ])  # fmt: skip
    assert rig.player.position_tick == pytest.approx(1440)  # ended with the last note
    # from after the change: the programs in force there go first
    rig.port.sent.clear()
    rig.finished.clear()
    rig.play_to_end(programmed_score(), start_tick=1200)
    assert [m for _, m in rig.port.sent][:2] == [(PROGRAM | 2, 32), (PROGRAM, 42)]  # as set


def test_player_sends_the_programs_again_at_a_loops_wrap_and_through_edits(rig: Rig) -> None:
    score = programmed_score()
    edited = threading.Event()

    def edit_once(tick: float) -> None:
        if tick >= 240 and not edited.is_set():
            edited.set()
            score.add(Note(720, 64, 120))  # an edit while playing reschedules what is to come
            rig.player.update_notes(score)

    rig.position_hook = edit_once
    rig.play_to_end(score)
    sent = [m for _, m in rig.port.sent]
    assert sent.index((PROGRAM, 42)) < sent.index((ON, 62, 100))  # kept through the edit
    assert (ON, 64, 100) in sent
    # a loop's wrap goes back to the instrument in force at its start
    rig.position_hook = None
    rig.port.sent.clear()
    rig.player.set_loop(0, 1440)
    wrapped = threading.Event()
    rig.position_hook = lambda tick: wrapped.set() if rig.clock() >= 1.6 else None
    rig.player.play(score)
    wait_until(wrapped.is_set)
    rig.player.stop()
    at_wrap = [m for t, m in rig.port.sent if t == pytest.approx(1.5)]
    assert (PROGRAM, 40) in at_wrap and (PROGRAM | 2, 32) in at_wrap
    assert at_wrap.index((PROGRAM, 40)) < at_wrap.index((ON, 60, 100))


def test_player_edit_that_shortens_or_lengthens_the_song_moves_its_last_program_change(
    rig: Rig,
) -> None:
    # the change at 960 was kept scheduled when the notes after it were deleted while
    # playing: the playback (and `finished`) went on to it, and sent it after the music
    score = programmed_score()
    edited = threading.Event()

    def delete_the_rest(tick: float) -> None:
        if tick >= 120 and not edited.is_set():
            edited.set()
            score.remove_many([n for n in score.notes if n.end_tick > 480])
            rig.player.update_notes(score)

    rig.position_hook = delete_the_rest
    rig.play_to_end(score)
    assert (PROGRAM, 42) not in [m for _, m in rig.port.sent]
    assert rig.player.position_tick == pytest.approx(480)
    # and one the song reaches again after an edit lengthens it is sent
    score = score_of(Note(0, 60, 480))
    score.program_changes = [ProgramChange(0, 0, 40), ProgramChange(960, 0, 42)]
    rig.port.sent.clear()
    rig.finished.clear()
    edited.clear()

    def add_later(tick: float) -> None:
        if tick >= 120 and not edited.is_set():
            edited.set()
            score.add(Note(960, 62, 480))
            rig.player.update_notes(score)

    rig.position_hook = add_later
    rig.play_to_end(score)
    sent = [m for _, m in rig.port.sent]
    assert sent.index((PROGRAM, 42)) < sent.index((ON, 62, 100))


def test_player_puts_back_what_it_set_where_a_song_sets_nothing(rig: Rig) -> None:
    # Seeking or looping back before a channel's first change kept the later instrument, and
    # a song without program changes played after one with them kept that song's.
    score = score_of(Note(0, 60, 480), Note(960, 62, 480))
    score.program_changes = [ProgramChange(960, 0, 40)]
    rig.play_to_end(score, start_tick=960)
    assert [m for _, m in rig.port.sent][0] == (PROGRAM, 40)
    rig.port.sent.clear()
    rig.finished.clear()
    rig.play_to_end(score)  # from the start, before the change: piano, then the violin
    sent = [m for _, m in rig.port.sent]
    assert sent[:2] == [(PROGRAM, 0), (ON, 60, 100)] and (PROGRAM, 40) in sent
    rig.port.sent.clear()
    rig.finished.clear()
    rig.play_to_end(score_of(Note(0, 64, 480)))  # another song, without instruments
    assert [m for _, m in rig.port.sent] == [(PROGRAM, 0), (ON, 64, 100), (OFF, 64, 0)]
    rig.port.sent.clear()
    rig.finished.clear()
    rig.play_to_end(score_of(Note(0, 64, 480)))  # piano already: nothing more to say
    assert [m for _, m in rig.port.sent] == [(ON, 64, 100), (OFF, 64, 0)]


def sent_until_stopped_at(rig: Rig, score: Score, tick: int) -> list[tuple[int, ...]]:
    """Play ``score`` from the start and stop once the playhead reaches ``tick``; what was
    sent, the stop's messages included (the rig's record is cleared first)."""
    rig.port.sent.clear()
    stopping, stopped = threading.Event(), threading.Event()

    def stop_once(now: float) -> None:
        if now >= tick and not stopping.is_set():
            stopping.set()
            rig.player.stop()
            stopped.set()  # (only now: the stop's messages are sent when stop returns)

    rig.position_hook = stop_once
    rig.player.play(score)
    wait_until(stopped.is_set)
    rig.position_hook = None
    return [m for _, m in rig.port.sent]


def test_player_sends_pedal_and_bends_and_lets_go_of_them(rig: Rig) -> None:
    # a pedal down from the start, up at 960; a bend up at 480, back at 720; a volume
    score = score_of(Note(0, 60, 480), Note(480, 62, 480), Note(960, 64, 480))
    score.control_changes = [ControlChange(0, 0, 7, 90), ControlChange(0, 0, 64, 127),
                             ControlChange(960, 0, 64, 0)]
    score.pitch_bends = [PitchBend(480, 0, 12288), PitchBend(720, 0, 8192)]
    rig.play_to_end(score)
    assert_times([(t, m) for t, m in rig.port.sent if m[0] & 0xF0 != OFF], [
        (0.0, (0xB0, 7, 90)), (0.0, (0xB0, 64, 127)), (0.0, (ON, 60, 100)),
        (0.5, (0xE0, 0, 96)), (0.5, (ON, 62, 100)), (0.75, (0xE0, 0, 64)),
        (1.0, (0xB0, 64, 0)), (1.0, (ON, 64, 100)),
    ])  # fmt: skip
    # from the middle: what is in force there first (the pedal down, the bend up)
    rig.port.sent.clear()
    rig.finished.clear()
    rig.play_to_end(score, start_tick=600)
    assert [m for _, m in rig.port.sent][:3] == [(0xB0, 7, 90), (0xB0, 64, 127), (0xE0, 0, 96)]
    # a stop with the pedal down and the bend up lets go of both (before the usual silence)
    sent = sent_until_stopped_at(rig, score, 600)
    stop_at = sent.index((0xB0, 64, 0))
    assert sent[stop_at:] == [(0xB0, 64, 0), (0xE0, 0, 64), *panic_messages([(0, 62)])]
    # a pedal still down at the end lets go there
    rig.port.sent.clear()
    rig.finished.clear()
    held = score_of(Note(0, 60, 480))
    held.control_changes = [ControlChange(0, 0, 64, 127)]
    rig.play_to_end(held)
    assert [m for _, m in rig.port.sent][-1] == (0xB0, 64, 0)


def test_player_sends_aftertouch_and_lets_go_of_the_pressure(rig: Rig) -> None:
    # A keyboard's aftertouch (channel pressure: its vibrato) and a key's own pressure were
    # dropped on import: the part played without its expression. Channel pressure goes like a
    # bend (chased, and back to none at a stop); a key's pressure after the note-on it
    # presses, at one tick.
    score = score_of(Note(0, 60, 480), Note(480, 62, 480))
    score.channel_pressures = [ChannelPressure(120, 0, 50), ChannelPressure(600, 0, 90)]
    score.key_pressures = [KeyPressure(480, 0, 62, 70)]
    rig.play_to_end(score)
    assert_times([(t, m) for t, m in rig.port.sent if m[0] & 0xF0 != OFF][:5], [
        (0.0, (ON, 60, 100)), (0.125, (0xD0, 50)), (0.5, (ON, 62, 100)),
        (0.5, (0xA0, 62, 70)), (0.625, (0xD0, 90)),
    ])  # fmt: skip
    assert (0xD0, 0) in [m for _, m in rig.port.sent][-20:]  # let go at the end
    # from the middle: the pressure in force there first; a key's pressure is not chased
    # (it presses a note struck before)
    rig.port.sent.clear()
    rig.finished.clear()
    rig.play_to_end(score, start_tick=500)
    sent = [m for _, m in rig.port.sent]
    assert sent[:2] == [(0xD0, 50), (ON, 62, 100)] and (0xA0, 62, 70) not in sent
    # a stop with the pressure on lets go of it (before the usual silence)
    sent = sent_until_stopped_at(rig, score, 700)
    assert sent[sent.index((0xD0, 90)) + 1:] == [(0xD0, 0), *panic_messages([(0, 62)])]


def test_player_sends_system_exclusive_messages_in_their_turn(rig: Rig) -> None:
    # A file's General MIDI reset and a GS part setting were kept but never sent: a GS song
    # played on whatever the synth was set to. Each whole message (up to 1 KB) is sent at its
    # tick, before the settings there (a reset first); it is not chased (Play from the
    # middle sends none before it); a packet of a message split in time, or a bulk dump, is
    # kept in the file but not sent.
    from composer_app.midi.player import MAX_SENT_SYSEX_BYTES

    gm_on = bytes((0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7))
    part = bytes((0xF0, 0x41, 0x10, 0x42, 0x12, 0x40, 0x11, 0x15, 0x02, 0x18, 0xF7))
    dump = b"\xf0\x43" + bytes(MAX_SENT_SYSEX_BYTES) + b"\xf7"
    score = score_of(Note(0, 60, 480), Note(480, 62, 480))
    score.control_changes = [ControlChange(0, 0, 7, 90), ControlChange(480, 0, 7, 80)]
    score.system_exclusive = [SystemExclusive(0, gm_on), SystemExclusive(0, b"\xf0\x43\x12"),
                              SystemExclusive(10, b"\xf7\x00\xf7"), SystemExclusive(20, dump),
                              SystemExclusive(480, part)]
    rig.play_to_end(score)
    assert_times([(t, m) for t, m in rig.port.sent if m[0] & 0xF0 != OFF][:6], [
        (0.0, tuple(gm_on)), (0.0, (0xB0, 7, 90)), (0.0, (ON, 60, 100)),
        (0.5, tuple(part)), (0.5, (0xB0, 7, 80)), (0.5, (ON, 62, 100)),
    ])  # fmt: skip
    assert sum(1 for _, m in rig.port.sent if m[0] == 0xF0) == 2
    rig.port.sent.clear()
    rig.finished.clear()
    rig.play_to_end(score, start_tick=240)  # not chased
    assert [m for _, m in rig.port.sent if m[0] == 0xF0] == [tuple(part)]
    # one with a status byte inside is corrupt (a synth would take it for a note): not sent
    score.system_exclusive = [SystemExclusive(0, bytes((0xF0, 0x43, 0x90, 0x3C, 0x7F, 0xF7)))]
    rig.port.sent.clear()
    rig.finished.clear()
    rig.play_to_end(score)
    assert not [m for _, m in rig.port.sent if m[0] == 0xF0]


def test_player_forgets_what_it_set_once_a_reset_is_sent(rig: Rig) -> None:
    # After a General MIDI reset the synth plays piano again, but the player still took the
    # violin it had sent for in force: a preview with the violin sent no program change and
    # sounded piano.
    gm_on = bytes((0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7))
    score = score_of(Note(0, 60, 480), Note(480, 62, 480))
    score.program_changes = [ProgramChange(0, 0, 40)]
    score.system_exclusive = [SystemExclusive(480, gm_on)]
    rig.play_to_end(score)
    rig.port.sent.clear()
    rig.player.preview_note(64, 90, duration_s=0.1, channel=0, program=40)
    wait_until(lambda: (OFF, 64, 0) in [m for _, m in rig.port.sent])
    assert [m for _, m in rig.port.sent][:2] == [(PROGRAM, 40), (ON, 64, 90)]


# ---- scheduling a window ahead (SCHEDULE_AHEAD_BEATS) ---------------------------------------
def test_player_schedules_a_window_ahead_and_plays_every_note_on_time(rig: Rig) -> None:
    from composer_app.midi.player import SCHEDULE_AHEAD_BEATS

    window = SCHEDULE_AHEAD_BEATS * 480
    # a run of notes over three windows, a rest longer than a window (the schedule runs dry
    # there), a note much longer than a window, and one after it
    notes = [Note(i * 480, 60 + i % 12, 240) for i in range(3 * SCHEDULE_AHEAD_BEATS)]
    late = 3 * window + 2 * window  # two windows of rest
    notes += [Note(late, 72, 5 * window), Note(late + 6 * window, 74, 480)]
    score = score_of(*notes)
    rig.clock.frozen = True
    rig.player.play(score)
    assert len(rig.player._events) == 2 * (SCHEDULE_AHEAD_BEATS + 1)  # a window, not all
    rig.clock.frozen = False
    assert rig.finished.wait(5.0)
    expected = []
    for n in sorted(notes, key=lambda n: n.start_tick):  # 120 BPM: 960 ticks a second
        expected += [(n.start_tick / 960, (ON, n.pitch, 100)), (n.end_tick / 960, (OFF, n.pitch, 0))]
    expected.sort(key=lambda e: (e[0], e[1][0] == ON))
    assert_times(rig.port.notes(), expected)
    assert rig.player.position_tick == pytest.approx(notes[-1].end_tick)


def test_player_jump_strikes_a_long_note_begun_windows_before(rig: Rig) -> None:
    from composer_app.midi.player import SCHEDULE_AHEAD_BEATS

    window = SCHEDULE_AHEAD_BEATS * 480
    long = Note(0, 48, 4 * window)  # a pedal note under four windows of music
    rig.player.play(score_of(long, Note(3 * window, 60, 480)))
    wait_until(lambda: rig.port.notes() != [])
    rig.player.seek(3 * window - 480)  # a beat before the melody note, far into the long note
    assert rig.finished.wait(5.0)
    messages = [m for _, m in rig.port.notes()]
    assert messages == [(ON, 48, 100), (OFF, 48, 0), (ON, 48, 100), (ON, 60, 100),
                        (OFF, 60, 0), (OFF, 48, 0)]  # fmt: skip


def test_player_update_notes_beyond_the_window_is_heard_when_reached(rig: Rig) -> None:
    from composer_app.midi.player import SCHEDULE_AHEAD_BEATS

    far = 3 * SCHEDULE_AHEAD_BEATS * 480  # three windows ahead
    a, b = Note(0, 60, 480), Note(far, 64, 480)
    rig.player.play(score_of(a, b))
    wait_until(lambda: rig.port.notes() != [])
    # b moved up a tone and another note added beside it, both far beyond the window
    rig.player.update_notes(score_of(a, b.moved(0, 2), Note(far + 480, 67, 480)))
    assert rig.finished.wait(5.0)
    assert [m for _, m in rig.port.notes()] == [
        (ON, 60, 100), (OFF, 60, 0), (ON, 66, 100), (OFF, 66, 0), (ON, 67, 100), (OFF, 67, 0),
    ]  # fmt: skip


def test_player_update_notes_plays_an_edit_made_while_playing(rig: Rig) -> None:
    # Playing A (60, 0-960), B (62, 960-1440), C (64, 1440-1920) and K (67, 0-1200), at 480
    # ticks: A deleted, B transposed to 65, K kept, D drawn under the playhead (70, 240-1200)
    # and E added ahead (72 at 1200).
    a, b, c, k = Note(0, 60, 960), Note(960, 62, 480), Note(1440, 64, 480), Note(0, 67, 1200)
    d, e = Note(240, 70, 960), Note(1200, 72, 240)
    edited = score_of(b.moved(0, 3), c, k, d, e)
    updated = threading.Event()

    def edit_once(tick: float) -> None:
        if tick >= 480 and not updated.is_set():
            updated.set()
            rig.player.update_notes(edited)

    rig.position_hook = edit_once
    rig.play_to_end(score_of(a, b, c, k))
    t_edit = next(t for t, tick in rig.positions if tick >= 480)
    # at 120 BPM and 480 PPQ a tick is 1/960 s
    assert_times(rig.port.notes(), [
        (0.0, (ON, 60, 100)), (0.0, (ON, 67, 100)),
        (t_edit, (OFF, 60, 0)),  # A deleted: it ends now; K (kept) sounds on, not re-struck
        (1.0, (ON, 65, 100)),  # B as it is now; D, under the playhead, is not struck
        (1.25, (OFF, 67, 0)), (1.25, (ON, 72, 100)),
        (1.5, (OFF, 65, 0)), (1.5, (OFF, 72, 0)), (1.5, (ON, 64, 100)),
        (2.0, (OFF, 64, 0)),
    ])  # fmt: skip
    # a seek after the edit plays the edited notes (here from the start: D sounds there)
    rig.finished.clear()
    rig.port.sent.clear()
    rig.positions.clear()
    seeked = threading.Event()

    def edit_then_seek(tick: float) -> None:
        if tick >= 240 and not seeked.is_set():
            seeked.set()
            rig.player.update_notes(edited)
            rig.player.seek(0)

    rig.position_hook = edit_then_seek
    rig.play_to_end(score_of(a, b, c, k))
    after_seek = [m for _, m in rig.port.notes()][2:]  # A and K were struck before the edit
    assert [m[1] for m in after_seek if m[0] == ON] == [67, 70, 65, 72, 64]


def test_player_update_notes_keeps_an_accepted_note_sounding(rig: Rig) -> None:
    # Accept while the take plays turns each generated note into an ordinary one: it sounds
    # the same, so it must sound on (it was cut at once).
    from dataclasses import replace

    take = Note(0, 60, 960, generated=True)
    accepted = threading.Event()

    def accept_once(tick: float) -> None:
        if tick >= 240 and not accepted.is_set():
            accepted.set()
            rig.player.update_notes(score_of(replace(take, generated=False)))

    rig.position_hook = accept_once
    rig.play_to_end(score_of(take))
    assert_times(rig.port.notes(), [(0.0, (ON, 60, 100)), (1.0, (OFF, 60, 0))])


def test_player_loop_wrap_leaves_a_key_click_its_length(rig: Rig) -> None:
    rig.player.set_loop(0, 960)  # one second at 120 BPM
    rig.clock.frozen = True
    rig.player.play(score_of(Note(0, 60, 240)))
    wrapped = threading.Event()

    def click_then_stop(tick: float) -> None:
        if 0.9 <= rig.clock() < 1.0 and not wrapped.is_set():
            wrapped.set()
            rig.player.preview_note(72, 90, duration_s=0.25)  # ends at about 1.15 s
        if rig.clock() >= 1.3:
            rig.player.stop()

    rig.position_hook = click_then_stop
    rig.clock.frozen = False
    wait_until(lambda: rig.clock() >= 1.3 and not rig.player.is_playing)
    offs = [t for t, m in rig.port.notes() if m[:2] == (OFF, 72)]
    assert offs and offs[0] >= 1.14  # not cut at the wrap, at 1.0 s


def test_player_update_notes_leaves_a_stream_and_a_stopped_player_alone(rig: Rig) -> None:
    rig.player.update_notes(score_of(Note(0, 60, 480)))  # stopped: nothing to do
    rig.player.start_stream(score_of(Note(0, 62, 480)), 0, 240)
    rig.player.update_notes(score_of(Note(0, 60, 480)))  # a take's stream is its own
    rig.player.append_frames(np.zeros((2, 88), dtype=bool))
    rig.player.end_stream()
    assert rig.finished.wait(5.0)
    assert [m for _, m in rig.port.notes()] == [(ON, 62, 100), (OFF, 62, 0)]


def test_player_loops_a_range_and_ends_what_sounds_at_its_end(rig: Rig) -> None:
    # Loop ticks 480-1440 (0.5-1.5 s at 120 BPM, 480 PPQ). 64 crosses the loop's end and is
    # cut there each time; 65, after the loop, never sounds while it loops.
    a, b, c, d = Note(0, 60, 480), Note(480, 62, 480), Note(960, 64, 960), Note(1440, 65, 480)
    rig.player.set_loop(480, 1440)
    stopped = threading.Event()

    def stop_later(tick: float) -> None:
        if rig.clock() >= 2.6 and not stopped.is_set():
            rig.player.stop()
            stopped.set()  # (after the stop's messages)

    rig.position_hook = stop_later
    rig.player.play(score_of(a, b, c, d))
    wait_until(stopped.is_set)
    notes = rig.port.notes()
    assert_times(notes[:9], [
        (0.0, (ON, 60, 100)), (0.5, (OFF, 60, 0)), (0.5, (ON, 62, 100)),
        (1.0, (OFF, 62, 0)), (1.0, (ON, 64, 100)),
        (1.5, (OFF, 64, 0)), (1.5, (ON, 62, 100)),  # back to 480: 64 ends, 62 again
        (2.0, (OFF, 62, 0)), (2.0, (ON, 64, 100)),
    ])  # fmt: skip
    assert (OFF, 64, 0) in [m for _, m in notes[9:]]  # at the stop or the next wrap
    assert all(m[1] != 65 for _, m in notes)
    assert not rig.finished.is_set()
    # without the loop it plays through to the end
    rig.player.set_loop(None)
    rig.port.sent.clear()
    rig.play_to_end(score_of(a, b, c, d), start_tick=960)
    assert [m[1] for _, m in rig.port.notes() if m[0] == ON] == [64, 65]
    with pytest.raises(ValueError):
        rig.player.set_loop(960, 960)


def test_player_plays_on_from_after_the_loop(rig: Rig) -> None:
    rig.player.set_loop(0, 480)
    rig.play_to_end(score_of(Note(0, 60, 240), Note(960, 62, 240)), start_tick=600)
    assert [m for _, m in rig.port.notes()] == [(ON, 62, 100), (OFF, 62, 0)]


def test_player_close_silences_and_joins_the_thread() -> None:
    r = Rig()
    r.clock.frozen = True
    r.player.preview_note(72, 90, duration_s=10.0)
    wait_until(lambda: len(r.port.sent) == 1)
    r.player.close()
    r.player.close()  # idempotent
    assert not r.player._thread.is_alive()
    assert [m for _, m in r.port.sent] == [(ON, 72, 90), *panic_messages([(0, 72)])]
    with pytest.raises(RuntimeError, match="closed"):
        r.player.play(Score())


def test_player_panic_ends_sounding_notes_now(rig: Rig) -> None:
    rig.clock.frozen = True
    rig.player.preview_note(60, duration_s=5.0, channel=9)
    wait_until(lambda: len(rig.port.sent) == 1)
    rig.player.panic()
    assert [m for _, m in rig.port.sent] == [(ON | 9, 60, 100), *panic_messages([(9, 60)])]


def test_player_preview_note_schedules_its_note_off(rig: Rig) -> None:
    rig.clock.now_s = 3.0
    rig.player.preview_note(61, 70, duration_s=0.25)
    wait_until(lambda: len(rig.port.sent) == 2)
    assert_times(rig.port.sent, [(3.0, (ON, 61, 70)), (3.25, (OFF, 61, 0))])
    with pytest.raises(ValueError, match="pitch"):
        rig.player.preview_note(128)


def test_player_preview_sends_its_parts_program_once(rig: Rig) -> None:
    # a key clicked before the first Play sounded with whatever instrument the synth had
    rig.player.preview_note(61, 70, duration_s=0.25, channel=2, program=40)
    wait_until(lambda: len(rig.port.sent) == 3)
    assert [m for _, m in rig.port.sent] == [(PROGRAM | 2, 40), (ON | 2, 61, 70), (OFF | 2, 61, 0)]
    rig.port.sent.clear()
    rig.player.preview_note(62, 70, duration_s=0.25, channel=2, program=40)  # already there
    wait_until(lambda: len(rig.port.sent) == 2)
    assert [m[0] for _, m in rig.port.sent] == [ON | 2, OFF | 2]
    # what Play sent counts too; a new port (another synth) has had none
    rig.play_to_end(programmed_score())
    rig.port.sent.clear()
    rig.player.preview_note(60, 70, duration_s=0.25, channel=0, program=42)
    wait_until(lambda: len(rig.port.sent) == 2)
    rig.player.set_port(other := FakePort(rig.clock))
    rig.player.preview_note(60, 70, duration_s=0.25, channel=0, program=42)
    wait_until(lambda: len(other.sent) == 3)
    assert other.sent[0][1] == (PROGRAM, 42)
    with pytest.raises(ValueError, match="program"):
        rig.player.preview_note(60, program=128)


def test_player_port_failure_stops_reports_and_recovers() -> None:
    r = Rig(fail_after=2)
    try:
        r.player.play(score_of(Note(0, 60, 480), Note(240, 62, 480), Note(480, 64, 480)))
        wait_until(lambda: bool(r.errors))
        assert not r.player.is_playing and r.player._thread.is_alive()
        assert "closed" in r.errors[0] and "playback stopped" in r.errors[0]
        assert not r.finished.is_set()
        assert [m for _, m in r.port.sent] == [(ON, 60, 100), (ON, 62, 100)]
        # a fresh port: playing again works and ends cleanly
        fresh = FakePort(r.clock)
        r.player.set_port(fresh)
        r.play_to_end(score_of(Note(0, 65, 240)))
        assert [m for _, m in fresh.sent] == [(ON, 65, 100), (OFF, 65, 0)]
    finally:
        r.player.close()


def test_player_drops_late_note_ons_with_their_note_offs(rig: Rig) -> None:
    def stall_after_first(message: tuple[int, ...]) -> None:
        if message == (ON, 60, 100):
            rig.clock.now_s += 0.4  # the thread was held up for 400 ms

    rig.port.on_send = stall_after_first
    rig.play_to_end(score_of(Note(0, 60, 960), Note(240, 62, 240), Note(960, 64, 240)))
    # 62 was due at 0.25 s and would go out at 0.4 s: 150 ms late > 100 ms, so neither its
    # note-on nor its note-off is sent; 60's note-off is never dropped
    assert [m for _, m in rig.port.sent] == [
        (ON, 60, 100),
        (OFF, 60, 0),
        (ON, 64, 100),
        (OFF, 64, 0),
    ]
    assert rig.player.stats.dropped_late == 1


def test_player_end_stream_ends_held_notes_where_the_frames_end(rig: Rig) -> None:
    # The stream is ended while the playhead is still at its start (the generator finished
    # ahead of playback): the last step's notes must still last their whole step. 62 is held
    # through both frames, 64 starts on the last one; a step is 120 ticks = 0.125 s.
    rig.clock.frozen = True  # no time passes until everything is queued
    rig.player.start_stream(Score(), 0, 120, pitch_low=62)
    rig.player.append_frames(np.array([[1, 0, 0], [1, 0, 1]], dtype=bool))
    rig.player.end_stream()
    rig.clock.frozen = False
    assert rig.finished.wait(5.0)
    assert_times(rig.port.notes(), [
        (0.0, (ON, 62, 90)), (0.125, (ON, 64, 90)), (0.25, (OFF, 62, 0)), (0.25, (OFF, 64, 0)),
    ])  # fmt: skip


def test_player_play_again_ends_what_sounds_first(rig: Rig) -> None:
    # play() or start_stream() over a playing score: its sounding note must not hang.
    for start_again in (
        lambda: rig.player.play(score_of(Note(0, 64, 240))),
        lambda: rig.player.start_stream(score_of(Note(0, 64, 240)), 0, 240),
    ):
        rig.port.sent.clear()
        rig.finished.clear()
        rig.clock.frozen = True
        rig.player.play(score_of(Note(0, 60, 4800)))
        wait_until(lambda: bool(rig.port.notes()))
        start_again()
        if rig.player._stream is not None:
            rig.player.end_stream()
        rig.clock.frozen = False
        assert rig.finished.wait(5.0)
        assert [m for _, m in rig.port.notes()] == [
            (ON, 60, 100), (OFF, 60, 0), (ON, 64, 100), (OFF, 64, 0),
        ]  # fmt: skip


def test_player_without_port_runs_silently(rig: Rig) -> None:
    rig.player.set_port(None)
    rig.play_to_end(score_of(Note(0, 60, 480)))
    assert [m for _, m in rig.port.sent] == panic_messages()  # only the silencing of the old port
    assert rig.positions[-1][1] == pytest.approx(480)


def test_player_set_port_silences_the_old_port(rig: Rig) -> None:
    rig.clock.frozen = True
    rig.player.preview_note(60, duration_s=5.0)
    wait_until(lambda: len(rig.port.sent) == 1)
    new = FakePort(rig.clock)
    rig.player.set_port(new)
    assert [m for _, m in rig.port.sent][1:] == panic_messages([(0, 60)])
    assert new.sent == []


# ---- growing streams -----------------------------------------------------------------------
def test_player_stream_merges_frames_and_waits_for_more(rig: Rig) -> None:
    # step 120 ticks = 0.125 s; columns are pitches 60 and 61
    rig.player.start_stream(Score(), start_tick=0, step_ticks=120, pitch_low=60, velocity=90)
    rig.player.append_frames(np.array([[1, 0], [1, 0], [0, 1]], dtype=bool))
    wait_until(lambda: rig.player.stream_frames_played() == 3)
    assert rig.player.position_tick == 360 and rig.player.is_playing
    # 60 held for two frames is one note; 61 may go on, so no note-off for it yet
    assert_times(rig.port.sent, [(0.0, (ON, 60, 90)), (0.25, (OFF, 60, 0)), (0.25, (ON, 61, 90))])

    rig.clock.now_s += 10.0  # a slow generator: the playhead waited at tick 360
    rig.player.append_frames(np.array([[0, 1], [1, 0]]))
    wait_until(lambda: rig.player.stream_frames_played() == 5)
    # resumed at 10.375 s; 61 continues through frame 3 and stops at frame 4 (tick 480)
    assert_times(rig.port.sent[3:], [(10.5, (OFF, 61, 0)), (10.5, (ON, 60, 90))])
    assert not rig.finished.is_set()

    rig.player.end_stream()
    assert rig.finished.wait(5.0)
    assert_times(rig.port.sent[5:], [(10.625, (OFF, 60, 0))])
    assert rig.player.stats.dropped_late == 0


def test_player_stream_plays_score_notes_and_restrikes_first(rig: Rig) -> None:
    # the user's note 60 ends at tick 240, the instant the stream starts 60 again
    score = score_of(Note(0, 60, 240), Note(0, 48, 480))
    rig.player.start_stream(score, start_tick=0, step_ticks=240, pitch_low=60)
    rig.player.append_frames(np.array([[0, 0], [1, 0]]))
    wait_until(lambda: rig.player.stream_frames_played() == 2)
    # 48 (ends at tick 480 = the end of the frames) waits with the playhead
    assert [m for _, m in rig.port.sent] == [
        (ON, 48, 100),
        (ON, 60, 100),
        (OFF, 60, 0),
        (ON, 60, 90),
    ]
    rig.player.end_stream()
    assert rig.finished.wait(5.0)
    assert sorted(m for _, m in rig.port.sent[4:]) == [(OFF, 48, 0), (OFF, 60, 0)]


def test_player_stream_seek_back_rebuilds_held_notes(rig: Rig) -> None:
    rig.player.start_stream(Score(), start_tick=960, step_ticks=120, pitch_low=60)
    rig.player.append_frames(np.array([[1], [1], [1], [0]]))
    wait_until(lambda: rig.player.stream_frames_played() == 4)
    rig.player.seek(1080)  # into the middle of the held 60 (960-1320)
    wait_until(lambda: rig.player.stream_frames_played() == 4 and len(rig.port.notes()) == 4)
    rig.player.end_stream()
    assert rig.finished.wait(5.0)
    notes = [m for _, m in rig.port.notes()]
    assert notes == [(ON, 60, 90), (OFF, 60, 0), (ON, 60, 90), (OFF, 60, 0)]
    # restarted at the seek point: 1080 -> 1320 is 240 ticks = 0.25 s
    assert rig.port.notes()[3][0] - rig.port.notes()[2][0] == pytest.approx(0.25)


def test_player_append_frames_rejects_bad_shapes(rig: Rig) -> None:
    with pytest.raises(RuntimeError, match="start_stream"):
        rig.player.append_frames(np.zeros((1, 88), dtype=bool))
    rig.player.start_stream(Score(), 0, 120)
    rig.player.append_frames(np.zeros((2, 88), dtype=bool))
    with pytest.raises(ValueError, match="88 pitches"):
        rig.player.append_frames(np.zeros((1, 87), dtype=bool))
    with pytest.raises(ValueError, match=r"\(n, P\)"):
        rig.player.append_frames(np.zeros((1, 2, 3), dtype=bool))


def test_player_realtime_priority_falls_back_when_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("composer_app.midi.player.os.sched_setscheduler", refuse, raising=False)
    monkeypatch.setattr("composer_app.midi.player.os.SCHED_FIFO", 1, raising=False)
    monkeypatch.setattr("composer_app.midi.player.os.sched_param", lambda p: p, raising=False)
    clock = FakeClock()
    port = FakePort(clock)
    finished = threading.Event()
    player = Player(
        port, clock=clock, sleep=clock.sleep, on_finished=finished.set, realtime_priority=50
    )
    try:
        player.play(score_of(Note(0, 60, 240)))
        assert finished.wait(5.0)
        assert not player.realtime_granted
        assert [m for _, m in port.sent] == [(ON, 60, 100), (OFF, 60, 0)]
    finally:
        player.close()


# ---- the player in its own process ---------------------------------------------------------
def test_process_player_plays_silently_and_reports_back() -> None:
    from composer_app.midi.player import ProcessPlayer

    finished = threading.Event()
    positions: list[float] = []
    player = ProcessPlayer(on_position=positions.append, on_finished=finished.set)
    try:
        player.play(score_of(Note(0, 60, 96)))  # 0.1 s at 120 BPM
        assert finished.wait(10.0)
        assert not player.is_playing
        assert player.position_tick == pytest.approx(96)
        assert positions and positions[-1] == pytest.approx(96)
        # errors raised in the player's process come back as the same type
        with pytest.raises(RuntimeError, match="start_stream"):
            player.append_frames(np.zeros((1, 88), dtype=bool))
        with pytest.raises(TypeError, match="PortSpec"):
            player.set_port(FakePort(FakeClock()))  # type: ignore[arg-type]
    finally:
        player.close()
        player.close()
    assert not player._process.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        player.play(Score())


def test_process_player_loops_too() -> None:
    from composer_app.midi.player import ProcessPlayer

    positions: list[float] = []
    player = ProcessPlayer(on_position=positions.append)
    try:
        player.set_loop(0, 96)  # 0.1 s at 120 BPM
        player.play(score_of(Note(0, 60, 96), Note(96, 62, 96)))
        time.sleep(0.5)
        assert player.is_playing  # it would have ended after 0.2 s
        assert positions and max(positions) <= 96
        player.stop()
    finally:
        player.close()


def record_commands(player) -> list[str]:
    """The names of the commands ``player`` (a ProcessPlayer) sends its process, from now on."""
    crossed: list[str] = []
    call = player._call

    def recording_call(command: str, *args: object) -> object:
        crossed.append(command)
        return call(command, *args)

    player._call = recording_call
    return crossed


def test_process_player_sends_the_whole_score_when_its_copy_is_out_of_step() -> None:
    from composer_app.midi.player import ProcessPlayer

    finished = threading.Event()
    player = ProcessPlayer(on_finished=finished.set)
    crossed = record_commands(player)
    try:
        player.play(score_of(Note(0, 60, 480)))  # 0.5 s at 120 BPM
        # as if this side had lost track: the difference names a note the process lacks
        player._sent = (480, (Note(0, 61, 480),))
        edited = score_of(Note(0, 60, 480), Note(960, 62, 960))  # a note drawn to 2 s
        player.update_notes(edited)
        assert crossed == ["play", "update_notes_diff", "update_notes"]
        player.update_notes(edited)  # the same notes: nothing to send
        edited.add(Note(480, 64, 240))
        player.update_notes(edited)
        assert crossed[3:] == ["update_notes_diff"]  # in step again
        time.sleep(0.8)
        assert player.is_playing  # the whole score arrived: it plays on past 0.5 s
        assert finished.wait(10.0)
        assert player.position_tick == pytest.approx(1920)
    finally:
        player.close()


def test_process_player_plays_an_edited_score_by_its_differences() -> None:
    from composer_app.midi.player import ProcessPlayer

    finished = threading.Event()
    player = ProcessPlayer(on_finished=finished.set)
    crossed = record_commands(player)
    try:
        score = score_of(Note(0, 60, 96))
        player.play(score)  # the first time: the whole score
        assert finished.wait(10.0)
        finished.clear()
        score.add(Note(96, 62, 96))  # edited, and faster, before Play again
        score.set_tempo_bpm(240)
        player.play(score, 0)
        assert crossed == ["play", "play_diff"]
        # the process plays the edited notes at the new tempo: 192 ticks in 0.1 s (0.2 s at
        # the old one)
        assert player.time_of_tick(192) - player.time_of_tick(0) == pytest.approx(0.1)
        assert finished.wait(10.0)
        assert player.position_tick == pytest.approx(192)
        player._sent = (480, (Note(0, 61, 96),))  # out of step: the whole score again
        player.play(score, 96)
        assert [c for c in crossed[2:] if c.startswith("play")] == ["play_diff", "play"]
        assert finished.wait(10.0)
    finally:
        player.close()


def test_process_player_difference_counts_identical_copies() -> None:
    from composer_app.midi.player import _difference

    a, b, c = Note(0, 60, 480), Note(0, 64, 480), Note(480, 67, 240)
    assert _difference((a, b), {a, b}, (a, c)) == ((b,), (c,), {a, c})
    # a copy stacked on ``a`` deleted, ``c`` added: a set alone would miss the copy
    assert _difference((a, a, b), {a, b}, (a, b, c)) == ((a,), (c,), {a, b, c})
    assert _difference((a, b), {a, b}, (a, a, b)) == ((), (a,), {a, b})


def test_player_lowers_the_switch_interval_only() -> None:
    import sys

    saved = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)  # Python's default
        clock = FakeClock()
        Player(None, clock=clock, sleep=clock.sleep).close()
        assert sys.getswitchinterval() == pytest.approx(0.001)
        sys.setswitchinterval(0.0002)  # already lower: left alone
        Player(None, clock=clock, sleep=clock.sleep, switch_interval_s=0.001).close()
        assert sys.getswitchinterval() == pytest.approx(0.0002)
        sys.setswitchinterval(0.005)
        Player(None, clock=clock, sleep=clock.sleep, switch_interval_s=None).close()
        assert sys.getswitchinterval() == pytest.approx(0.005)
    finally:
        sys.setswitchinterval(saved)


def test_process_player_streams_frames_and_waits_for_more() -> None:
    from composer_app.midi.player import ProcessPlayer

    finished = threading.Event()
    player = ProcessPlayer(on_finished=finished.set)
    try:
        score = Score()
        score.set_tempo_bpm(960)  # a 120-tick step lasts 1/64 s
        player.start_stream(score, start_tick=0, step_ticks=120, pitch_low=60)
        player.append_frames(np.array([[1, 0], [1, 1], [0, 1]], dtype=bool))
        assert player.stream_frames_appended == 3
        wait_until(lambda: player.stream_frames_played() == 3)
        # the playhead waits at the end of the frames (tick 360) for more
        time.sleep(0.1)
        assert player.is_playing and player.position_tick == 360
        assert not finished.is_set()
        player.end_stream()
        assert finished.wait(10.0)
        assert player.position_tick == 360
    finally:
        player.close()


def test_player_error_silences_what_it_can_after_a_momentary_failure() -> None:
    r = Rig()

    class HiccupPort(FakePort):
        """Refuses exactly one message (the 3rd), then works again."""

        def send(self, message: Sequence[int]) -> None:
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls == 3:
                raise PortError("MIDI port 'fake' refused a message")
            super().send(message)

    port = HiccupPort(r.clock)
    r.player.set_port(port)
    try:
        r.player.play(score_of(Note(0, 60, 480), Note(0, 64, 480), Note(240, 67, 480)))
        wait_until(lambda: bool(r.errors))
        # 60 and 64 sounded; 67's note-on failed, but it may have reached the synth, so it is
        # ended too; then the controllers on every channel
        silence = panic_messages([(0, 60), (0, 64), (0, 67)])
        assert [m for _, m in port.sent] == [(ON, 60, 100), (ON, 64, 100), *silence]
        assert "refused" in r.errors[0] and not r.player.is_playing
    finally:
        r.player.close()


def test_player_fault_in_its_thread_stops_silences_reports_and_plays_again() -> None:
    # A fault inside the scheduler ended the player's thread: notes sounded on, the player
    # said it was playing for ever, nothing was reported, and every later Play was silent.
    r = Rig()
    calls = 0
    dispatch = r.player._dispatch

    def faulty(event, lateness_s):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise IndexError("injected fault in the scheduler")
        return dispatch(event, lateness_s)

    r.player._dispatch = faulty  # type: ignore[method-assign]
    try:
        r.player.play(score_of(Note(0, 48, 3840), Note(0, 72, 240), Note(480, 74, 240)))
        wait_until(lambda: bool(r.errors))
        assert r.errors == [
            "The MIDI player failed (IndexError: injected fault in the scheduler) "
            "(playback stopped)"
        ]
        assert not r.player.is_playing
        assert [m for _, m in r.port.sent][:2] == [(ON, 48, 100), (ON, 72, 100)]
        assert panic_messages([(0, 48), (0, 72)]) == [m for _, m in r.port.sent][2:]
        r.port.sent.clear()
        r.play_to_end(score_of(Note(0, 60, 240)))  # the thread lives on
        assert [m for _, m in r.port.sent] == [(ON, 60, 100), (OFF, 60, 0)]
    finally:
        r.player.close()


def test_player_fault_in_its_tempo_timeline_is_caught_too() -> None:
    # the guard's own handler read the playhead through the timeline that had failed: the
    # fault was raised again there and ended the thread as before
    r = Rig()
    try:
        r.clock.frozen = True  # (the fake clock would play it all before the fault is set)
        r.player.play(score_of(Note(0, 48, 3840), Note(480, 60, 240)))
        wait_until(lambda: len(r.port.sent) >= 1)

        def broken(_seconds: float) -> float:
            raise ZeroDivisionError("injected fault in the tempo timeline")

        with r.player._lock:
            r.player._timeline.tick_at = broken  # type: ignore[method-assign]
        r.clock.frozen = False
        wait_until(lambda: bool(r.errors))
        assert "ZeroDivisionError: injected fault in the tempo timeline" in r.errors[0]
        assert not r.player.is_playing and r.player._thread.is_alive()
        assert (OFF, 48, 0) in [m for _, m in r.port.sent]  # silenced
    finally:
        r.player.close()


def test_process_player_reports_its_process_dying() -> None:
    from composer_app.midi.player import ProcessPlayer

    errors: list[str] = []
    died = threading.Event()

    def on_error(message: str) -> None:
        errors.append(message)
        died.set()

    player = ProcessPlayer(on_error=on_error)
    try:
        player._process.kill()  # as if it crashed
        assert died.wait(10.0)
        assert "ended unexpectedly" in errors[0]
        player.stop()  # nothing left to silence: no error for the caller
        player.panic()
        with pytest.raises(RuntimeError, match="ended"):
            player.play(Score())
    finally:
        player.close()


def test_player_keeps_the_order_of_settings_at_one_tick_and_chases_a_parameter_whole(
    rig: Rig,
) -> None:
    # The pitch-bend range (RPN 0: CC101 0, CC100 0, CC6 12, then the null RPN) was sent by
    # controller number, the data entry before its parameter, and put back alone (CC6 0)
    # before the next song, which then bent by nothing.
    rpn = [ControlChange(0, 0, 101, 0), ControlChange(0, 0, 100, 0), ControlChange(0, 0, 6, 12),
           ControlChange(0, 0, 101, 127), ControlChange(0, 0, 100, 127)]
    score = score_of(Note(0, 60, 480), Note(480, 62, 480))
    score.control_changes = rpn + [ControlChange(480, 0, 64, 0), ControlChange(480, 0, 64, 127)]
    rig.play_to_end(score)
    sent = [m for _, m in rig.port.sent]
    assert sent[:5] == [(0xB0, 101, 0), (0xB0, 100, 0), (0xB0, 6, 12), (0xB0, 101, 127),
                        (0xB0, 100, 127)]
    # at one tick a pedal up, then down (a re-pedal), in that order; let go at the end
    assert sent[sent.index((OFF, 60, 0)):] == [
        (OFF, 60, 0), (0xB0, 64, 0), (0xB0, 64, 127), (ON, 62, 100), (OFF, 62, 0), (0xB0, 64, 0)
    ]
    # from the middle: the parameter is set whole (its number, its value, none selected),
    # then the song's own selection there
    rig.port.sent.clear()
    rig.finished.clear()
    rig.play_to_end(score, start_tick=480)
    assert [m for _, m in rig.port.sent][:7] == [
        (0xB0, 101, 0), (0xB0, 100, 0), (0xB0, 6, 12), (0xB0, 101, 127), (0xB0, 100, 127),
        (0xB0, 101, 127), (0xB0, 100, 127),
    ]
    # the next song sets no bend range: it goes back to 2 semitones, whole (a data entry
    # alone, CC6 0, landed on RPN 0 and made the next song's bends bend by nothing)
    rig.port.sent.clear()
    rig.finished.clear()
    rig.play_to_end(score_of(Note(0, 64, 480)))
    assert [m for _, m in rig.port.sent] == [
        (0xB0, 101, 0), (0xB0, 100, 0), (0xB0, 6, 2), (0xB0, 38, 0), (0xB0, 101, 127),
        (0xB0, 100, 127), (ON, 64, 100), (OFF, 64, 0),
    ]


def test_player_an_error_lets_go_of_the_pedal_and_the_bend(rig: Rig) -> None:
    # a momentary failure (the 4th send: after the pedal, the bend and the note-on): the
    # silence that follows let go of the notes but not of the pedal or the bend
    send = rig.port.send
    calls = []

    def fail_once(message: Sequence[int]) -> None:
        calls.append(message)
        if len(calls) == 4:
            raise PortError("MIDI port 'fake' hiccuped")
        send(message)

    rig.port.send = fail_once  # type: ignore[method-assign]
    score = score_of(Note(0, 60, 480), Note(480, 62, 480))
    score.control_changes = [ControlChange(0, 0, 64, 127)]
    score.pitch_bends = [PitchBend(0, 0, 12288)]
    rig.player.play(score)
    wait_until(lambda: rig.errors)
    sent = [m for _, m in rig.port.sent]
    assert sent[:3] == [(0xB0, 64, 127), (0xE0, 0, 96), (ON, 60, 100)]
    assert sent[3:5] == [(0xB0, 64, 0), (0xE0, 0, 64)]  # let go, before the usual silence


def test_player_a_new_port_while_playing_gets_what_is_in_force(rig: Rig) -> None:
    score = programmed_score()
    switched = threading.Event()
    other = FakePort(rig.clock)

    def switch_once(tick: float) -> None:
        if tick >= 240 and not switched.is_set():
            switched.set()
            rig.player.set_port(other)

    rig.position_hook = switch_once
    rig.play_to_end(score)
    sent = [m for _, m in other.sent]
    assert sent[:2] == [(PROGRAM, 40), (PROGRAM | 2, 32)]  # at once, as set


def test_player_a_stream_plays_the_songs_settings_in_its_span_as_play_would() -> None:
    # A live continuation started where the pedal was down held it for the whole take; a
    # first fix sent no pedal at all and none of the settings in its span, so the take sounded
    # otherwise once accepted (Play sends them). Now it sends what Play of the accepted take
    # from its start sends, up to the end of its frames: the pedal down, lifted at 240, the
    # instrument changed at 360; the change at 1200, past the take's end at 600, is not sent.
    score = score_of(Note(0, 60, 480))
    score.control_changes = [ControlChange(0, 0, 64, 127), ControlChange(240, 0, 64, 0),
                             ControlChange(0, 0, 7, 90)]
    score.program_changes = [ProgramChange(0, 0, 40), ProgramChange(360, 0, 41),
                             ProgramChange(1200, 0, 42)]
    frames = np.zeros((2, 88), dtype=bool)  # two steps of 240 ticks from 120: to 600 (0.5 s)
    frames[:, 72 - 21] = True  # C5 held through both

    def sent(start: Callable[[Player], None]) -> list[tuple[float, tuple]]:
        rig = Rig()
        try:
            start(rig.player)
            assert rig.finished.wait(5.0)
        finally:
            rig.player.close()
        return [(round(t, 3), m) for t, m in rig.port.sent]

    def stream(player: Player) -> None:
        player.start_stream(score, 120, 240)
        player.append_frames(frames)
        player.end_stream()

    def play_the_accepted_take(player: Player) -> None:
        take = score.copy()
        take.add(Note(120, 72, 480, 90))  # the frames, as accepting writes them
        take.add(Note(1200, 74, 240))  # (the song goes on after the take)
        player.play(take, 120)

    streamed = sent(stream)
    before_the_end = [(t, m) for t, m in streamed if t < 0.5]
    assert before_the_end == [(t, m) for t, m in sent(play_the_accepted_take) if t < 0.5]
    assert [m for _t, m in before_the_end if m[0] & 0xF0 in (0xB0, 0xC0)] == [
        (0xB0, 64, 127), (0xB0, 7, 90), (PROGRAM, 40), (0xB0, 64, 0), (PROGRAM, 41)]
    assert (PROGRAM, 42) not in [m for _t, m in streamed]


def test_player_an_edit_that_shortens_the_song_and_its_undo_keep_its_settings(rig: Rig) -> None:
    # Deleting the last note while playing dropped the settings scheduled past the new end,
    # and its undo did not bring them back: the instrument change, the pressure and the
    # key's pressure after it were never sent.
    score = score_of(Note(0, 60, 960), Note(960, 62, 960))
    score.program_changes = [ProgramChange(1100, 0, 33)]
    score.channel_pressures = [ChannelPressure(1200, 0, 70)]
    score.key_pressures = [KeyPressure(1300, 0, 62, 55)]
    short = score_of(Note(0, 60, 960))
    step = [0]

    def edit(tick: float) -> None:
        if tick >= 100 and step[0] == 0:
            step[0] = 1
            rig.player.update_notes(short)  # the second note deleted
        elif tick >= 300 and step[0] == 1:
            step[0] = 2
            rig.player.update_notes(score)  # and the deletion undone

    rig.position_hook = edit
    rig.play_to_end(score)
    assert step[0] == 2
    settings = [m for _, m in rig.port.sent if m[0] & 0xF0 in (0xA0, 0xC0, 0xD0)]
    assert settings[:3] == [(PROGRAM, 33), (0xD0, 70), (0xA0, 62, 55)]
    assert settings.count((PROGRAM, 33)) == 1  # once each


def test_player_an_edit_just_after_a_setting_fell_due_still_sends_it() -> None:
    # The edit rescheduled from the playhead on and dropped a pedal-up that was due but not
    # yet sent: it went out only at the song's end (the release), 1.5 s late.
    now = [0.0]
    blocked, gate, finished = threading.Event(), threading.Event(), threading.Event()
    first_long_wait = [True]

    def sleep(seconds: float) -> None:
        if first_long_wait[0] and seconds > 0.5:  # the wait for the pedal-up at 1.0 s
            first_long_wait[0] = False
            blocked.set()
            gate.wait()
            return
        now[0] += max(seconds, 1e-4)

    port = FakePort(lambda: now[0])  # type: ignore[arg-type]
    player = Player(port, clock=lambda: now[0], sleep=sleep, on_finished=finished.set)
    try:
        score = score_of(Note(0, 60, 1920), Note(1920, 62, 480))
        score.control_changes = [ControlChange(0, 0, 64, 127), ControlChange(960, 0, 64, 0)]
        player.play(score)
        assert blocked.wait(5)
        now[0] = 1.001  # the pedal-up (1.0 s) 1 ms overdue, the thread not yet back
        player.update_notes(score)
        gate.set()
        assert finished.wait(5)
    finally:
        player.close()
    pedal = [(round(t, 3), m[2]) for t, m in port.sent if m[:2] == (0xB0, 64)]
    assert pedal[:2] == [(0.0, 127), (1.001, 0)]

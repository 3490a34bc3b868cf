"""Real MIDI ports: the player sends through rtmidi's JACK API to a second JACK client.

A private JACK server (dummy backend, see tests/jack_server.py) is started for the session;
these tests skip where ``jackd`` is not installed.
"""

from __future__ import annotations

import itertools
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pytest
import rtmidi

from composer_app.core.note import Note
from composer_app.core.score import ChannelPressure, KeyPressure, Score, SystemExclusive
from composer_app.midi.player import Player
from composer_app.midi.ports import (
    PortError,
    SafeOutputPort,
    list_output_ports,
    open_output,
    open_virtual_output,
)

JACK = rtmidi.API_UNIX_JACK
_names = itertools.count()


class Receiver:
    """A second JACK client with a MIDI input that records every message it gets.

    rtmidi queues incoming messages on its JACK thread without Python (no callback): a Python
    callback there would need the interpreter lock, and a busy test process could then stall
    the JACK cycle long enough for the server to drop the client.
    """

    def __init__(self) -> None:
        self.client = f"receiver{next(_names)}"
        self.midi_in = rtmidi.MidiIn(JACK, name=self.client, queue_size_limit=4096)
        self._messages: list[tuple[int, ...]] = []

    def open_input(self) -> str:
        """Open a virtual input and return the name outputs see it by."""
        self.midi_in.open_virtual_port("in")
        return f"{self.client}:in"

    @property
    def messages(self) -> list[tuple[int, ...]]:
        while (event := self.midi_in.get_message()) is not None:
            self._messages.append(tuple(event[0]))
        return list(self._messages)

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[tuple[int, ...]]:
        deadline = time.monotonic() + timeout_s
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.02)  # anything extra would arrive within a few JACK periods
        return self.messages

    def close(self) -> None:
        """Close the input (the synth goes away); a second call does nothing."""
        if self.midi_in is None:
            return
        self.midi_in.close_port()
        self.midi_in.delete()
        self.midi_in = None


class RecordingPort:
    """A real port that also remembers what it was asked to send, in order."""

    def __init__(self, port: SafeOutputPort) -> None:
        self.port = port
        self.sent: list[tuple[int, ...]] = []

    def send(self, message: Sequence[int]) -> None:
        self.port.send(message)
        self.sent.append(tuple(message))


def hanging_notes(messages: Sequence[tuple[int, ...]]) -> set[tuple[int, int]]:
    """(channel, pitch) still sounding after ``messages``, as a synth would track them."""
    sounding: set[tuple[int, int]] = set()
    for status, *data in messages:
        kind, channel = status & 0xF0, status & 0x0F
        if kind == 0x90 and data[1] > 0:
            sounding.add((channel, data[0]))
        elif kind == 0x80 or (kind == 0x90 and data[1] == 0):
            sounding.discard((channel, data[0]))
        elif kind == 0xB0 and data[0] in (120, 123):
            sounding = {s for s in sounding if s[0] != channel}
    return sounding


# Attempts at an exact-order JACK delivery. Measured here: about 1 attempt in 12 loses a
# period's MIDI on an idle machine (2 of 24 with retries made errors), and a clean clone's CI
# run once needed all of three, so five keep a flake rare while a player that loses or
# reorders messages still fails every one.
DELIVERY_ATTEMPTS = 5


def assert_within_attempts(receiver: Receiver, attempt: Callable[[Receiver], str]) -> None:
    """Pass if one of ``DELIVERY_ATTEMPTS`` runs of ``attempt`` returns "" (each later run: a
    fresh receiver).

    The dummy JACK server without real-time scheduling now and then loses a period's MIDI on
    this machine (docs/benchmarks/midi.md): a hiccup fails one attempt, a player that loses
    or reorders messages fails all of them. A pass after a failed attempt warns (pytest's
    warnings summary names the failures), so that retries stay visible.
    """
    failures = []
    for index in range(DELIVERY_ATTEMPTS):
        current = receiver if index == 0 else Receiver()
        try:
            failure = attempt(current)
        finally:
            if current is not receiver:
                current.close()
        if not failure:
            if failures:
                warnings.warn(
                    f"JACK delivery passed on attempt {index + 1} of {DELIVERY_ATTEMPTS}; "
                    f"before: {failures}",
                    stacklevel=2,
                )
            return
        failures.append(failure)
    raise AssertionError(f"every attempt failed: {failures}")


@pytest.fixture
def receiver(jack_server: str) -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def make_player() -> Iterator[Callable[..., Player]]:
    players: list[Player] = []

    def make(*args: object, **kwargs: object) -> Player:
        player = Player(*args, **kwargs)  # type: ignore[arg-type]
        players.append(player)
        return player

    yield make
    for player in players:
        player.close()


def test_jack_list_and_open_output_by_name(receiver: Receiver) -> None:
    name = receiver.open_input()
    listing = list_output_ports("jack")
    assert name in listing.names and listing.reason is None
    port = open_output(name, api="jack")
    try:
        assert port.name == name
        port.send([0x90, 60, 100])
        port.send([0x80, 60, 0])
        assert receiver.wait_for(2) == [(0x90, 60, 100), (0x80, 60, 0)]
    finally:
        port.close()
    with pytest.raises(PortError, match="closed"):
        port.send([0x90, 60, 100])


def test_jack_open_output_missing_port_lists_available(receiver: Receiver) -> None:
    name = receiver.open_input()
    with pytest.raises(PortError, match=rf"'No Such Synth' is not available.*'{name}'"):
        open_output("No Such Synth", api="jack")


def test_jack_virtual_output_reaches_a_client_that_connects(receiver: Receiver) -> None:
    port = open_virtual_output("ComposerTest", api="jack")
    try:
        inputs = receiver.midi_in.get_ports()
        index = next(i for i, n in enumerate(inputs) if n.startswith("ComposerTest"))
        receiver.midi_in.open_port(index)
        # JACK makes the connection on a later cycle: send until the first message arrives
        deadline = time.monotonic() + 5.0
        while not receiver.messages and time.monotonic() < deadline:
            port.send([0x91, 64, 90])
            time.sleep(0.02)
        port.send([0x81, 64, 0])
        received = receiver.wait_for(2)
        assert received[0] == (0x91, 64, 90) and received[-1] == (0x81, 64, 0)
    finally:
        port.close()


def _player_attempt(receiver: Receiver, make_player: Callable[..., Player]) -> str:
    """Play 24 sixteenths and chords into ``receiver``; "" if every message arrived right."""
    port = RecordingPort(open_output(receiver.open_input(), api="jack"))
    finished = threading.Event()
    player = make_player(port, on_finished=finished.set)
    score = Score()
    score.set_tempo_bpm(480)  # a sixteenth = 30 ticks = 1/32 s
    # 24 sixteenths: a rising line, every third one a held chord, repeated pitches re-struck
    for i in range(24):
        score.add(Note(i * 120, 60 + i % 5, 120, 64 + i, channel=i % 2))
        if i % 3 == 0:
            score.add(Note(i * 120, 48, 360, 80, channel=1))
    player.play(score)
    assert finished.wait(10.0)
    assert len(score) == 32
    return _delivery_failure(receiver, port, player, expected_note_ons=len(score))


def _delivery_failure(
    receiver: Receiver, port: RecordingPort, player: Player, expected_note_ons: int
) -> str:
    """"" if ``receiver`` got exactly what ``port`` sent, in order, with every expected
    note-on (less those the player dropped for being > 100 ms late, which it counts) and
    nothing left hanging; else what went wrong. Closes the port."""
    received = receiver.wait_for(len(port.sent))
    port.port.close()
    note_ons = sum(1 for m in received if m[0] & 0xF0 == 0x90)
    if received == port.sent and note_ons + player.stats.dropped_late == expected_note_ons:
        if hanging_notes(received) == set():
            return ""
    return f"sent {port.sent}, received {received}, dropped late {player.stats.dropped_late}"


def test_jack_player_delivers_every_message_in_order(
    receiver: Receiver, make_player: Callable[..., Player]
) -> None:
    assert_within_attempts(receiver, lambda r: _player_attempt(r, make_player))


def _stop_attempt(receiver: Receiver, make_player: Callable[..., Player]) -> str:
    port = RecordingPort(open_output(receiver.open_input(), api="jack"))
    player = make_player(port)
    score = Score()
    score.add_many([Note(0, 60, 4800), Note(0, 64, 4800, channel=5), Note(240, 67, 4800)])
    player.play(score)
    deadline = time.monotonic() + 5
    while len(port.sent) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    player.stop()
    # what the player sent: three notes struck, then each ended and every channel silenced
    assert len(port.sent) == 3 + 3 + 48, port.sent
    assert hanging_notes(port.sent[:3]) == {(0, 60), (5, 64), (0, 67)}
    assert hanging_notes(port.sent) == set()
    # ... and all of it arrived, in order
    received = receiver.wait_for(len(port.sent))
    port.port.close()
    return "" if received == port.sent else f"sent {port.sent}, received {received}"


def test_jack_player_stop_leaves_nothing_hanging(
    receiver: Receiver, make_player: Callable[..., Player]
) -> None:
    # (it failed once in the fourteenth session's first run: the dummy server lost one
    # note-on, the hiccup assert_within_attempts is for)
    assert_within_attempts(receiver, lambda r: _stop_attempt(r, make_player))


def _edit_while_playing_attempt(receiver: Receiver, make_player: Callable[..., Player]) -> str:
    port = RecordingPort(open_output(receiver.open_input(), api="jack"))
    finished = threading.Event()
    player = make_player(port, on_finished=finished.set)
    score = Score()
    score.set_tempo_bpm(240)  # 1,920 ticks = 1 s
    score.add_many([Note(0, 60, 1920), Note(0, 64, 1920)])
    player.play(score)
    deadline = time.monotonic() + 5
    while len(port.sent) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    edited = Score()
    edited.set_tempo_bpm(240)
    edited.add_many([Note(0, 64, 1920), Note(960, 67, 480)])  # 60 deleted, 67 drawn ahead
    player.update_notes(edited)
    if not finished.wait(10.0):
        return "playback did not finish"
    notes = [m for m in port.sent if m[0] & 0xF0 in (0x80, 0x90)]
    expected = [(0x90, 60, 100), (0x90, 64, 100), (0x80, 60, 0), (0x90, 67, 100),
                (0x80, 67, 0), (0x80, 64, 0)]  # fmt: skip
    if notes != expected:
        return f"sent {notes}"
    return _delivery_failure(receiver, port, player, expected_note_ons=3)


def test_jack_player_plays_an_edit_made_while_playing(
    receiver: Receiver, make_player: Callable[..., Player]
) -> None:
    # the deleted note ends at once, the kept one sounds on, the new one sounds when due
    assert_within_attempts(receiver, lambda r: _edit_while_playing_attempt(r, make_player))


def _stream_attempt(receiver: Receiver, make_player: Callable[..., Player]) -> str:
    port = RecordingPort(open_output(receiver.open_input(), api="jack"))
    finished = threading.Event()
    player = make_player(port, on_finished=finished.set)
    score = Score()
    score.set_tempo_bpm(240)  # a 120-tick step = 1/16 s
    rng = np.random.default_rng(7)
    frames = rng.random((24, 12)) < 0.3  # 24 steps over one octave from C4
    player.start_stream(score, start_tick=0, step_ticks=120, pitch_low=60)

    def generator() -> None:  # a generator a little slower than real time, in bursts
        for chunk in np.array_split(frames, 6):
            player.append_frames(chunk)
            time.sleep(0.3)
        player.end_stream()

    feeder = threading.Thread(target=generator)
    feeder.start()
    assert finished.wait(15.0)
    feeder.join()
    # one note-on per run of consecutive active frames of a pitch
    runs = int(np.sum(frames[0]) + np.sum(frames[1:] & ~frames[:-1]))
    return _delivery_failure(receiver, port, player, expected_note_ons=runs)


def test_jack_player_plays_a_stream_fed_from_another_thread(
    receiver: Receiver, make_player: Callable[..., Player]
) -> None:
    assert_within_attempts(receiver, lambda r: _stream_attempt(r, make_player))


def test_jack_player_survives_its_port_closing_mid_play(
    receiver: Receiver, make_player: Callable[..., Player]
) -> None:
    first = open_output(receiver.open_input(), api="jack")
    errors: list[str] = []
    got_error = threading.Event()

    def on_error(message: str) -> None:
        errors.append(message)
        got_error.set()

    finished = threading.Event()
    player = make_player(first, on_error=on_error, on_finished=finished.set)
    score = Score()
    score.add_many([Note(i * 60, 60 + i % 12, 60) for i in range(64)])  # 2 s of 32nd notes
    player.play(score)
    time.sleep(0.2)
    first.close()  # the port goes away under the player's feet
    assert got_error.wait(5.0)
    assert "closed" in errors[0] and not player.is_playing
    # choose the output again: playing works
    second = open_output(f"{receiver.client}:in", api="jack")
    player.set_port(second)
    short = Score()
    short.add(Note(0, 72, 120))
    player.play(short)
    assert finished.wait(5.0)
    assert receiver.wait_for(1)[-1] == (0x80, 72, 0)
    second.close()


def test_jack_safe_port_close_racing_sends(receiver: Receiver) -> None:
    name = receiver.open_input()
    failures: list[BaseException] = []
    for _ in range(3):  # each round opens a JACK client, which takes a while
        port = open_output(name, api="jack")

        def sender(port: SafeOutputPort = port) -> None:
            for _ in range(1_000):
                try:
                    port.send([0xB0, 1, 0])
                except PortError:
                    return
                except BaseException as exc:  # noqa: BLE001 - collected for the assert
                    failures.append(exc)
                    return

        thread = threading.Thread(target=sender)
        thread.start()
        time.sleep(0.0005)
        port.close()
        thread.join()
    assert failures == []


def _process_player_attempt(receiver: Receiver) -> str:
    """Play 16 notes through a ProcessPlayer into ``receiver``; "" if all arrived right."""
    from composer_app.midi.player import ProcessPlayer
    from composer_app.midi.ports import PortSpec

    name = receiver.open_input()
    finished = threading.Event()
    errors: list[str] = []
    player = ProcessPlayer(on_finished=finished.set, on_error=errors.append)
    try:
        with pytest.raises(PortError, match="'Nowhere' is not available"):
            player.set_port(PortSpec(name="Nowhere", api="jack"))
        player.set_port(PortSpec(name=name, api="jack"))
        score = Score()
        score.set_tempo_bpm(480)
        score.add_many([Note(i * 120, 60 + i % 7, 120, 70 + i) for i in range(16)])
        player.play(score)
        assert finished.wait(10.0)
        stats = player.stats
    finally:
        player.close()
    received = receiver.wait_for(2 * 16 + 48)
    notes = [m for m in received if m[0] & 0xF0 in (0x80, 0x90)]
    expected = []
    for i in range(16):  # each note ends as the next begins: off first
        expected += [(0x90, 60 + i % 7, 70 + i), (0x80, 60 + i % 7, 0)]
    if notes == expected[: len(notes)] and len(notes) == 32 - 2 * stats.dropped_late:
        if hanging_notes(received) == set() and errors == []:
            return ""
    return f"received {notes}, dropped late {stats.dropped_late}, errors {errors}"


def test_jack_process_player_delivers_every_message_in_order(receiver: Receiver) -> None:
    assert_within_attempts(receiver, _process_player_attempt)


def _process_player_edit_attempt(receiver: Receiver) -> str:
    """Edit twice while a ProcessPlayer plays into ``receiver``; "" if the edits were heard
    and only what they changed crossed to the player's process."""
    from composer_app.midi.player import ProcessPlayer
    from composer_app.midi.ports import PortSpec

    name = receiver.open_input()
    finished = threading.Event()
    player = ProcessPlayer(on_finished=finished.set)
    crossed: list[tuple[str, tuple]] = []
    call = player._call

    def recording_call(command: str, *args: object) -> object:
        crossed.append((command, args))
        return call(command, *args)

    player._call = recording_call  # type: ignore[method-assign]
    try:
        player.set_port(PortSpec(name=name, api="jack"))
        score = Score()
        score.set_tempo_bpm(240)  # 1,920 ticks = 1 s
        score.add_many([Note(0, 60, 1920), Note(0, 64, 1920)])
        player.play(score)
        if receiver.wait_for(2, timeout_s=3.0)[:2] != [(0x90, 60, 100), (0x90, 64, 100)]:
            return "the first notes did not arrive"
        score.remove(Note(0, 60, 1920))
        score.add(Note(960, 67, 480))  # 60 deleted, 67 drawn ahead
        player.update_notes(score)
        score.remove(Note(960, 67, 480))
        score.add(Note(960, 69, 480))  # then 67 moved up to 69
        player.update_notes(score)
        if not finished.wait(10.0):
            return "playback did not finish"
    finally:
        player.close()
    edits = [(c, a) for c, a in crossed if c.startswith("update_notes")]
    if edits != [
        ("update_notes_diff", (480, (Note(0, 60, 1920),), (Note(960, 67, 480),))),
        ("update_notes_diff", (480, (Note(960, 67, 480),), (Note(960, 69, 480),))),
    ]:
        return f"crossed {edits}"
    received = receiver.wait_for(6 + 48)
    notes = [m for m in received if m[0] & 0xF0 in (0x80, 0x90)]
    expected = [(0x90, 60, 100), (0x90, 64, 100), (0x80, 60, 0), (0x90, 69, 100),
                (0x80, 69, 0), (0x80, 64, 0)]  # fmt: skip
    if notes != expected or hanging_notes(received) != set():
        return f"received {notes}"
    return ""


def test_jack_process_player_edits_cross_as_differences(receiver: Receiver) -> None:
    assert_within_attempts(receiver, _process_player_edit_attempt)


def _process_player_aftertouch_attempt(receiver: Receiver) -> str:
    """Play a part through a ProcessPlayer, then play it again with a General MIDI reset,
    channel and key pressure added (they cross with a difference of notes: none); "" if
    the second time the reset came first, the pressure after its note-on, let go of at the
    end."""
    from composer_app.midi.player import ProcessPlayer
    from composer_app.midi.ports import PortSpec

    receiver.midi_in.ignore_types(sysex=False)  # (a MidiIn ignores them unless told)
    name = receiver.open_input()
    finished = threading.Event()
    player = ProcessPlayer(on_finished=finished.set)
    crossed = []
    call = player._call

    def recording_call(command: str, *args: object) -> object:
        crossed.append(command)
        return call(command, *args)

    player._call = recording_call  # type: ignore[method-assign]
    reset = (0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7)
    try:
        player.set_port(PortSpec(name=name, api="jack"))
        score = Score()
        score.set_tempo_bpm(480)
        score.add_many([Note(0, 60, 240), Note(240, 62, 240)])
        for settings in (False, True):
            if settings:  # the same notes: only the settings differ
                score.channel_pressures = [ChannelPressure(120, 0, 50)]
                score.key_pressures = [KeyPressure(240, 0, 62, 70)]
                score.system_exclusive = [SystemExclusive(0, bytes(reset))]
            finished.clear()
            player.play(score)
            if not finished.wait(10.0):
                return "playback did not finish"
    finally:
        player.close()
    if [c for c in crossed if c.startswith("play")] != ["play", "play_diff"]:
        return f"crossed {crossed}"
    plain = [(0x90, 60, 100), (0x80, 60, 0), (0x90, 62, 100), (0x80, 62, 0)]
    pressed = [reset, (0x90, 60, 100), (0xD0, 50), (0x80, 60, 0), (0x90, 62, 100),
               (0xA0, 62, 70), (0x80, 62, 0), (0xD0, 0)]  # fmt: skip
    received = receiver.wait_for(len(plain) + len(pressed) + 2 * 48)
    heard = [m for m in received if m[0] & 0xF0 in (0x80, 0x90, 0xA0, 0xD0, 0xF0)]
    if heard != plain + pressed or hanging_notes(received) != set():
        return f"received {heard}"
    return ""


def test_jack_process_player_plays_aftertouch_and_system_exclusive(receiver: Receiver) -> None:
    assert_within_attempts(receiver, _process_player_aftertouch_attempt)


def _preview_attempt(receiver: Receiver, make_player: Callable[..., Player]) -> str:
    port = RecordingPort(open_output(receiver.open_input(), api="jack"))
    player = make_player(port)
    player.preview_note(67, 90, duration_s=0.1)  # a click on the keyboard
    received = receiver.wait_for(2, timeout_s=3.0)
    port.port.close()
    if received != [(0x90, 67, 90), (0x80, 67, 0)] or received != port.sent:
        return f"sent {port.sent}, received {received}"
    return ""


def test_jack_player_preview_note_sounds_and_ends(
    receiver: Receiver, make_player: Callable[..., Player]
) -> None:
    assert_within_attempts(receiver, lambda r: _preview_attempt(r, make_player))


def _process_close_attempt(receiver: Receiver) -> str:
    """Close a ProcessPlayer while its note sounds: "" if the note ended and close was quick."""
    from composer_app.midi.player import ProcessPlayer
    from composer_app.midi.ports import PortSpec

    name = receiver.open_input()
    player = ProcessPlayer()
    try:
        player.set_port(PortSpec(name=name, api="jack"))
        score = Score()
        score.add(Note(0, 60, 480 * 40))  # 20 s
        player.play(score)
        if (0x90, 60, 100) not in receiver.wait_for(1):
            return f"the note never sounded: {receiver.messages}"
    finally:
        t0 = time.monotonic()
        player.close()  # not stop(): the app's quit path
        close_s = time.monotonic() - t0
    received = receiver.wait_for(1 + 1 + 48)
    if hanging_notes(received) != set() or close_s > 3.0:
        return f"received {received}, close took {close_s:.1f} s"
    return ""


def test_jack_process_player_close_ends_the_sounding_note(receiver: Receiver) -> None:
    # quitting while a note sounds: the player's process silences its port before it ends
    assert_within_attempts(receiver, _process_close_attempt)


def test_jack_ports_command_lists_the_receiver(
    receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from composer_app.midi.ports import run

    name = receiver.open_input()
    assert run(argparse.Namespace(api="jack")) == 0
    assert name in capsys.readouterr().out.splitlines()

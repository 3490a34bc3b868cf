"""PlaybackController: the real player's thread callbacks arrive as signals on the GUI thread."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from contextlib import contextmanager  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QThread  # noqa: E402

from composer_app.core.note import Note  # noqa: E402
from composer_app.core.score import Score, TempoChange  # noqa: E402
from composer_app.midi.ports import PortError  # noqa: E402
from composer_app.workers.playback import PlaybackController, thread_player_factory  # noqa: E402

NOTE_ON, NOTE_OFF = 0x90, 0x80


class RecordingPort:
    """An output port that keeps every message (and can be told to fail)."""

    def __init__(self, fail: bool = False) -> None:
        self.messages: list[list[int]] = []
        self.closed = 0
        self.fail = fail
        self._lock = threading.Lock()

    def send(self, message: Sequence[int]) -> None:
        if self.fail:
            raise PortError("MIDI port 'test' vanished")
        with self._lock:
            self.messages.append(list(message))

    def close(self) -> None:
        self.closed += 1

    def sounding(self) -> set[tuple[int, int]]:
        """(channel, pitch) of note-ons not yet matched by a note-off."""
        on: set[tuple[int, int]] = set()
        with self._lock:
            for status, *data in self.messages:
                kind, channel = status & 0xF0, status & 0x0F
                if kind == NOTE_ON and data[1] > 0:
                    on.add((channel, data[0]))
                elif kind in (NOTE_OFF, NOTE_ON):
                    on.discard((channel, data[0]))
        return on


@contextmanager
def process_controller_on_jack() -> Iterator[tuple[PlaybackController, object, object]]:
    """The app's controller (its player in a process) sending to a receiving JACK client:
    (the controller, the receiver, the port's description). Closes both."""
    from composer_app.midi.ports import PortSpec
    from tests.midi.test_jack_integration import Receiver

    receiver = Receiver()
    controller = PlaybackController()
    try:
        spec = PortSpec(name=receiver.open_input(), api="jack")
        controller.set_port(spec)
        yield controller, receiver, spec
    finally:
        controller.close()
        receiver.close()


def short_score(beats: int = 4, tempo_bpm: float = 600.0) -> Score:
    """``beats`` quarter notes; at 600 BPM one beat lasts 0.1 s."""
    score = Score(tempo_map=[TempoChange.from_bpm(0, tempo_bpm)])
    score.add_many([Note(i * 480, 60 + i, 480) for i in range(beats)])
    return score


@pytest.fixture
def controller(qapp):
    # a player on a thread: these tests hand it fake ports, which cannot cross processes
    c = PlaybackController(thread_player_factory)
    yield c
    c.close()


def player_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "midi-player" and t.is_alive())


def test_playback_positions_arrive_on_gui_thread_then_finished(qtbot, controller) -> None:
    port = RecordingPort()
    controller.set_port(port)
    positions: list[float] = []
    on_gui_thread: list[bool] = []

    def on_position(tick: float) -> None:
        positions.append(tick)
        on_gui_thread.append(QThread.currentThread() is QCoreApplication.instance().thread())

    controller.position_changed.connect(on_position)
    with qtbot.waitSignal(controller.finished, timeout=3000):
        controller.play(short_score(), 0)  # 4 beats at 600 BPM: 0.4 s
        assert controller.is_playing
    qtbot.waitUntil(lambda: not controller.is_playing, timeout=1000)
    assert len(positions) >= 5 and all(on_gui_thread)
    assert positions == sorted(positions)
    assert positions[-1] == pytest.approx(4 * 480, abs=1)  # the end of the last note
    ons = [m[1] for m in port.messages if m[0] & 0xF0 == NOTE_ON and m[2] > 0]
    assert ons == [60, 61, 62, 63]
    assert port.sounding() == set()


def test_playback_stop_ends_every_note(qtbot, controller) -> None:
    port = RecordingPort()
    controller.set_port(port)
    score = Score()
    score.add_many([Note(0, 60, 480 * 16), Note(0, 64, 480 * 16)])  # 8 s chord at 120 BPM
    changes: list[bool] = []
    controller.playing_changed.connect(changes.append)
    controller.play(score, 0)
    qtbot.waitUntil(lambda: port.sounding() == {(0, 60), (0, 64)}, timeout=2000)
    controller.stop()
    assert port.sounding() == set()
    assert changes == [True, False] and not controller.is_playing


def test_playback_port_failure_is_reported(qtbot, controller) -> None:
    controller.set_port(RecordingPort(fail=True))
    with qtbot.waitSignal(controller.error_occurred, timeout=3000) as blocker:
        controller.play(short_score(), 0)
    assert "vanished" in blocker.args[0]
    qtbot.waitUntil(lambda: not controller.is_playing, timeout=1000)


def test_playback_set_port_closes_the_old_port(controller) -> None:
    first, second = RecordingPort(), RecordingPort()
    controller.set_port(first)
    controller.set_port(second)
    assert (first.closed, second.closed) == (1, 0)
    assert controller.port is second


def test_playback_close_silences_closes_port_and_joins_thread(qtbot, qapp) -> None:
    before = player_threads()
    controller = PlaybackController(thread_player_factory)
    assert player_threads() == before + 1
    port = RecordingPort()
    controller.set_port(port)
    score = Score()
    score.add(Note(0, 67, 480 * 16))
    controller.play(score, 0)
    qtbot.waitUntil(lambda: port.sounding() == {(0, 67)}, timeout=2000)
    controller.close()
    controller.close()  # twice is harmless
    assert port.sounding() == set() and port.closed == 1
    assert player_threads() == before
    controller.play(score, 0)  # after close: ignored, no exception
    assert not controller.is_playing


def test_playback_default_player_runs_in_its_own_process(qapp) -> None:
    from composer_app.midi.player import ProcessPlayer

    controller = PlaybackController()
    try:
        # the app's player: in a process of its own, away from the GUI's and the generator's
        # interpreter lock (docs/benchmarks.md)
        assert isinstance(controller.player, ProcessPlayer)
    finally:
        controller.close()


def test_playback_restarts_a_player_process_that_died(qtbot, qapp) -> None:
    controller = PlaybackController()
    errors: list[str] = []
    replaced: list[object] = []
    states: list[bool] = []
    controller.error_occurred.connect(errors.append)
    controller.player_replaced.connect(replaced.append)
    controller.playing_changed.connect(states.append)
    try:
        first = controller.player
        first._process.kill()  # the player's process dies (a crash, an OOM kill)
        first._process.join(5)
        controller.play(short_score(), 0)  # the next command notices, restarts, plays
        qtbot.waitUntil(lambda: bool(replaced), timeout=10_000)
        assert controller.player is not first and replaced == [controller.player]
        assert any("restarted" in e for e in errors)
        assert states[-1] is True  # the retry on the new player started playing
        qtbot.waitUntil(lambda: not controller.is_playing, timeout=10_000)  # it played out
    finally:
        controller.close()


def test_playback_restarted_player_reopens_the_chosen_jack_output(qtbot, qapp, jack_server) -> None:
    # After the player's process died and was restarted, the app went on silently: the
    # output the user chose was not opened again in the new process.
    with process_controller_on_jack() as (controller, receiver, spec):
        first = controller.player
        first._process.kill()
        first._process.join(5)
        controller.play(short_score(beats=2), 0)
        qtbot.waitUntil(lambda: controller.player is not first, timeout=10_000)
        assert controller.port == spec
        qtbot.waitUntil(lambda: not controller.is_playing, timeout=10_000)
        received = receiver.wait_for(48 + 4)  # the restart's silence, then the notes
        assert [m[:2] for m in received if m[0] == NOTE_ON] == [(NOTE_ON, 60), (NOTE_ON, 61)]


def test_playback_a_dead_player_process_is_replaced_at_once_and_its_notes_end(
    qtbot, qapp, jack_server
) -> None:
    # The player's process died while a note sounded: the synth held it until the user
    # pressed Stop or Panic (the process that would have ended it was gone, and the next
    # player knew nothing of it).
    with process_controller_on_jack() as (controller, receiver, _spec):
        score = Score()
        score.add(Note(0, 48, 480 * 32))  # a held bass note, 16 s at 120 BPM
        controller.play(score, 0)
        assert receiver.wait_for(1) == [(NOTE_ON, 48, 100)]
        first = controller.player
        with qtbot.waitSignal(controller.player_replaced, timeout=10_000):
            first._process.kill()  # no command follows: the window just waits
        assert not controller.is_playing
        received = receiver.wait_for(1 + 48)
        assert (0xB0, 123, 0) in received[1:]  # All Notes Off on its channel, among the rest


def test_playback_setting_the_port_in_use_again_keeps_it_open(qtbot, controller) -> None:
    port = RecordingPort()
    controller.set_port(port)
    controller.set_port(port)  # Preferences answered with the output already in use
    assert port.closed == 0
    controller.play(short_score(beats=1), 0)
    qtbot.waitUntil(lambda: not controller.is_playing, timeout=5000)
    assert [m[:2] for m in port.messages if m[0] == NOTE_ON] == [[NOTE_ON, 60]]


def test_playback_a_late_finished_of_the_run_before_does_not_stop_the_next(
    qtbot, controller
) -> None:
    # The player's "finished" reaches the GUI thread queued; when Play was pressed again
    # before it was delivered, it belongs to the run before and must not mark this one done.
    import time

    port = RecordingPort()
    controller.set_port(port)
    controller.play(short_score(beats=1), 0)  # 0.1 s
    time.sleep(0.4)  # it ends; its "finished" waits in the queue (no events processed)
    long = Score()
    long.add_many([Note(0, 60, 480 * 16)])  # 8 s at 120 BPM
    controller.play(long, 0)
    qtbot.wait(100)  # the stale "finished" is delivered now
    assert controller.is_playing
    controller.stop()
    assert not controller.is_playing and port.sounding() == set()


def test_playback_edits_are_not_sent_while_a_live_take_streams(qtbot, qapp) -> None:
    # The window reports every change while playing, and a live take changes the document
    # at every generated step: sending the whole score each time cost 51 ms a step at
    # 10,000 notes, for nothing (the stream plays its own notes).
    calls: list[str] = []

    def counting_factory(**callbacks):
        player = thread_player_factory(**callbacks)
        real = player.update_notes

        def update_notes(score):
            calls.append("update_notes")
            real(score)

        player.update_notes = update_notes
        return player

    controller = PlaybackController(counting_factory)
    try:
        controller.start_stream(short_score(), 0, 240)
        controller.update_notes(short_score(beats=2))
        assert calls == []
        controller.play(short_score(beats=8), 0)
        controller.update_notes(short_score(beats=2))
        assert calls == ["update_notes"]
    finally:
        controller.close()


def test_playback_a_player_that_dies_again_at_once_is_replaced_by_a_thread(qtbot, qapp) -> None:
    # Players whose process cannot run (a broken install, no memory): each replacement's
    # "restarted" message asked the new, dead player whether it played and replaced it again,
    # 149 processes deep until a RecursionError, with as many error messages.
    from composer_app.midi.player import Player

    made: list[object] = []

    class DeadPlayer:
        def __init__(self, **_callbacks) -> None:
            made.append(self)

        def __getattr__(self, name: str):
            def dead(*_args, **_kwargs):
                raise RuntimeError("the MIDI player process has ended")
            return dead

        @property
        def is_playing(self) -> bool:
            raise RuntimeError("the MIDI player process has ended")

        def close(self) -> None:
            pass

    controller = PlaybackController(DeadPlayer)
    errors: list[str] = []
    controller.error_occurred.connect(errors.append)
    try:
        controller._on_player_error("The MIDI player process ended unexpectedly")
        assert len(made) == 2  # the first and one replacement
        assert len(errors) == 2  # the report and "it was restarted"
        controller.play(short_score(), 0)  # dead again at once: a player on a thread
        assert isinstance(controller.player, Player) and len(made) == 2
        assert controller.is_playing
        qtbot.waitUntil(lambda: not controller.is_playing, timeout=10_000)
    finally:
        controller.close()


def test_playback_a_restart_says_a_virtual_port_must_be_connected_again(
    qtbot, qapp, jack_server
) -> None:
    # a virtual port is made anew by the new process: the synth's connection to the old one
    # is gone, and so the new player's silence cannot reach it either
    from composer_app.midi.ports import PortSpec

    controller = PlaybackController()
    errors: list[str] = []
    controller.error_occurred.connect(errors.append)
    try:
        controller.set_port(PortSpec(virtual_name="ComposerTestOut", api="jack"))
        first = controller.player
        with qtbot.waitSignal(controller.player_replaced, timeout=10_000):
            first._process.kill()
        assert any("connect the synth to the virtual port “ComposerTestOut” again" in e
                   for e in errors), errors
        assert controller.port == PortSpec(virtual_name="ComposerTestOut", api="jack")
    finally:
        controller.close()


def test_playback_choosing_an_output_when_player_processes_cannot_run(
    qtbot, qapp, monkeypatch
) -> None:
    # Choosing the output (at start-up, too) found the process dead, replaced it with another
    # dead one and raised: the window did not open. Within 5 s, the thread player that took
    # over was handed the unopened port description and every send failed.
    from composer_app.midi import ports
    from composer_app.midi.player import Player

    class DeadPlayer:
        def __init__(self, **_callbacks) -> None:
            pass

        def __getattr__(self, name: str):
            def dead(*_args, **_kwargs):
                raise RuntimeError("the MIDI player process has ended")
            return dead

        def close(self) -> None:
            pass

    port = RecordingPort()
    monkeypatch.setattr(ports.PortSpec, "open", lambda _spec: port)
    controller = PlaybackController(DeadPlayer)
    try:
        controller.set_port(ports.PortSpec(name="Synth"))  # no exception: a thread plays
        assert isinstance(controller.player, Player) and controller.port is port
        controller.play(short_score(beats=1), 0)
        qtbot.waitUntil(lambda: not controller.is_playing, timeout=10_000)
        assert [m[:2] for m in port.messages if m[0] == NOTE_ON] == [[NOTE_ON, 60]]
    finally:
        controller.close()


def test_playback_a_restart_that_cannot_reopen_the_output_says_why(
    qtbot, qapp, jack_server
) -> None:
    # the reason was emitted, then at once replaced in the status bar by "it was restarted"
    with process_controller_on_jack() as (controller, receiver, _spec):
        errors: list[str] = []
        controller.error_occurred.connect(errors.append)
        receiver.close()  # the synth goes away
        first = controller.player
        with qtbot.waitSignal(controller.player_replaced, timeout=10_000):
            first._process.kill()
        restarted = [e for e in errors if "restarted" in e]
        assert len(restarted) == 1 and "could not be opened again" in restarted[0]
        assert controller.port is None


_SYNTH_PROCESS = """
import signal, sys, time, rtmidi
midi_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=sys.argv[1], queue_size_limit=8192)
midi_in.open_virtual_port("in")
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
print("ready", flush=True)
while not stop:
    event = midi_in.get_message()
    if event is None:
        time.sleep(0.002)
    else:
        print(*event[0], flush=True)
midi_in.close_port()
"""


class SynthProcess:
    """A JACK MIDI input ``<client>:in`` in a process of its own, as a real synth is (one in
    the test's process would share the player's JACK client library and hide its faults)."""

    def __init__(self, client: str) -> None:
        import subprocess
        import sys

        self.name = f"{client}:in"
        self._process = subprocess.Popen(
            [sys.executable, "-c", _SYNTH_PROCESS, client], stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        assert self._process.stdout.readline() == "ready\n"

    def messages(self) -> list[tuple[int, ...]]:
        """Every message received, once the process has ended (see :meth:`close`)."""
        out, _err = self._process.communicate(timeout=10)
        return [tuple(int(b) for b in line.split()) for line in out.splitlines()]

    def close(self) -> list[tuple[int, ...]]:
        if self._process.poll() is None:
            self._process.terminate()
        return self.messages()


# Set in the child process that runs the thread variant of the server-restart test.
_RESTART_CHILD = "COMPOSER_TEST_RESTART_CHILD"


def _run_in_a_child_process(nodeid: str, attempts: int = 3) -> None:
    """Run the test ``nodeid`` in a pytest of its own and pass or fail as it does. A thread
    player keeps its JACK client in the test's process, and the JACK library in it may crash
    (a segmentation fault in its own thread) after the server it was connected to stopped:
    that crash, not the app's, is retried with a warning instead of ending the whole suite."""
    import signal
    import subprocess
    import sys
    import warnings
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, _RESTART_CHILD: "1", "QT_QPA_PLATFORM": "offscreen"}
    crashes = []
    for _attempt in range(attempts):
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", nodeid],
            cwd=root, env=env, capture_output=True, text=True, timeout=180,
        )
        if done.returncode in (-signal.SIGSEGV, 128 + signal.SIGSEGV):
            crashes.append(done.stdout[-300:])
            continue
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        if crashes:
            warnings.warn(
                f"the JACK library crashed in the test's process {len(crashes)} time(s) "
                "after the server restarted; passed on a later attempt", stacklevel=2,
            )
        return
    pytest.fail(f"the JACK library crashed in all {attempts} attempts: {crashes[-1]}")


@pytest.mark.parametrize("player", ["process", "thread"])
def test_playback_restart_player_reaches_a_jack_server_that_restarted(
    qtbot, qapp, player: str, request
) -> None:
    # Transport ▸ Reconnect MIDI Output after the JACK server stopped and started: the
    # status bar said the output was open, but no port reached the new server (closing the
    # dead one in the old player's process took the new one away). A new player does.
    import time

    if player == "thread" and not os.environ.get(_RESTART_CHILD):
        from tests.jack_server import jackd_path

        if jackd_path() is None:
            pytest.skip("jackd is not installed (apt-get install jackd2): no real MIDI ports")
        _run_in_a_child_process(request.node.nodeid)
        return

    from composer_app.midi.ports import PortSpec
    from tests.jack_server import running_jack_server

    with running_jack_server() as server:
        synth = SynthProcess("synth")
        controller = PlaybackController(thread_player_factory if player == "thread" else None)
        try:
            spec = PortSpec(name=synth.name, api="jack")
            controller.set_port(spec)
            server.stop()  # the MIDI system goes away with the synth, and comes back
            synth.close()
            server.start()
            synth = SynthProcess("synth")
            controller.restart_player()
            controller.set_port(spec)
            # played three times: the dummy server, freshly started on a busy machine, may
            # lose a period's MIDI (it lost the first note once in the fourteenth session)
            for _ in range(3):
                controller.play(short_score(beats=2), 0)
                qtbot.waitUntil(lambda: not controller.is_playing, timeout=10_000)
                time.sleep(0.2)
        finally:
            controller.close()
            received = synth.close()
        heard = [m[1] for m in received if m[0] == NOTE_ON]
        # before the fix nothing reached the new server; now every play does, in order
        plays = "".join("a" if pitch == 60 else "b" if pitch == 61 else "?" for pitch in heard)
        assert "ab" in plays and "?" not in plays, heard
        if plays != "ababab":
            import warnings

            warnings.warn(f"JACK lost notes after the server restarted: heard {heard}",
                          stacklevel=1)


def test_playback_a_files_instruments_reach_the_synth_over_jack(
    qtbot, qapp, jack_server, tmp_path
) -> None:
    # A file's program changes and controllers were dropped: a General MIDI synth played its
    # violin and its bass with whatever instrument (and volume) it last had. A real file, read as the app reads it.
    import mido

    from composer_app.core.score import ProgramChange
    from composer_app.midi.files import read_mid

    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=100_000)]))
    for channel, program, pitch in ((0, 40, 72), (1, 32, 36)):  # violin, bass: 0.1 s each
        mid.tracks.append(mido.MidiTrack([
            mido.Message("program_change", channel=channel, program=program, time=0),
            mido.Message("control_change", channel=channel, control=7, value=90 + channel),
            mido.Message("note_on", channel=channel, note=pitch, velocity=90, time=0),
            mido.Message("note_off", channel=channel, note=pitch, velocity=0, time=480),
        ]))
    mid.save(tmp_path / "duo.mid")
    score = read_mid(tmp_path / "duo.mid")

    def programs_then_notes(messages: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
        programs = [m for m in messages if m[0] & 0xF0 in (0xB0, 0xC0)]
        first_on = next(i for i, m in enumerate(messages) if m[0] & 0xF0 == NOTE_ON)
        assert all(messages.index(p) < first_on for p in programs)  # before the notes
        return programs

    with process_controller_on_jack() as (controller, receiver, _spec):
        controller.play(score, 0)
        received = receiver.wait_for(4 + 4)
        assert programs_then_notes(received) == [(0xB0, 7, 90), (0xB1, 7, 91), (0xC0, 40),
                                                 (0xC1, 32)]
        qtbot.waitUntil(lambda: not controller.is_playing, timeout=10_000)
        # another song of this resolution crosses to the player's process as its differences
        # from the last: its instruments and mix cross too (a flute now, the bass's volume
        # back to its default, its instrument to piano)
        other = score.copy()
        other.program_changes = [ProgramChange(0, 0, 73)]
        other.control_changes = other.control_changes[:1]
        controller.play(other, 0)
        later = receiver.wait_for(len(received) + 4 + 4)[len(received):]
        # (what goes back to its default first, then the song's own at that tick)
        assert programs_then_notes(later) == [(0xB1, 7, 100), (0xB0, 7, 90), (0xC1, 0),
                                              (0xC0, 73)]
        qtbot.waitUntil(lambda: not controller.is_playing, timeout=10_000)

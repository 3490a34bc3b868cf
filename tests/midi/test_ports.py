"""Port names, API choice, listing without a MIDI system, and the thread-safe port wrapper."""

from __future__ import annotations

import argparse
import threading

import pytest
import rtmidi

from composer_app.midi import ports
from composer_app.midi.ports import (
    PortError,
    PortListing,
    SafeOutputPort,
    normalize_port_name,
    resolve_api,
)


class RecordingMidiOut:
    """Stands in for rtmidi's MidiOut; using it after close_port is a crash in the real one."""

    def __init__(self) -> None:
        self.messages: list[list[int]] = []
        self.port_closed = False
        self.close_calls = 0

    def send_message(self, message: list[int]) -> None:
        if self.port_closed:
            raise AssertionError("send_message reached a closed MidiOut")
        self.messages.append(message)

    def close_port(self) -> None:
        self.close_calls += 1
        self.port_closed = True


def test_normalize_port_name_drops_alsa_client_port_numbers() -> None:
    assert (
        normalize_port_name("FLUID Synth:Synth input port 128:0") == "FLUID Synth:Synth input port"
    )
    assert normalize_port_name("Midi Through:Midi Through Port-0 14:0") == (
        "Midi Through:Midi Through Port-0"
    )
    # JACK and CoreMIDI names carry no numbers and are left alone
    assert normalize_port_name("fluidsynth:midi_00") == "fluidsynth:midi_00"
    assert normalize_port_name("  IAC Driver Bus 1 ") == "IAC Driver Bus 1"


def test_find_port_matches_across_changed_alsa_numbers() -> None:
    names = ["Midi Through:Midi Through Port-0 14:0", "FLUID Synth:Synth input port 130:0"]
    # saved in preferences last session, when FluidSynth was client 128
    assert ports._find_port(names, "FLUID Synth:Synth input port 128:0") == 1
    assert ports._find_port(names, "Midi Through:Midi Through Port-0 14:0") == 0
    assert ports._find_port(names, "Yamaha") is None


def test_resolve_api_reads_names_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ports.API_ENV_VAR, raising=False)
    assert resolve_api(None) is None
    assert resolve_api("JACK") == rtmidi.API_UNIX_JACK
    assert resolve_api(rtmidi.API_LINUX_ALSA) == rtmidi.API_LINUX_ALSA
    monkeypatch.setenv(ports.API_ENV_VAR, "jack")
    assert resolve_api(None) == rtmidi.API_UNIX_JACK
    with pytest.raises(PortError, match="Unknown MIDI system 'pulse'.*jack"):
        resolve_api("pulse")


def test_list_output_ports_without_alsa_sequencer_gives_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_exists = ports.os.path.exists
    monkeypatch.setattr(ports.sys, "platform", "linux")
    monkeypatch.setattr(
        ports.os.path, "exists", lambda p: False if p == "/dev/snd/seq" else real_exists(p)
    )
    listing = ports.list_output_ports("alsa")
    assert listing.names == []
    assert listing.reason is not None and "/dev/snd/seq is missing" in listing.reason
    with pytest.raises(PortError, match="/dev/snd/seq"):
        ports.open_output("FLUID Synth:Synth input port", api="alsa")


def test_list_output_ports_default_api_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ports.API_ENV_VAR, raising=False)
    listing = ports.list_output_ports()
    # either real outputs, or none with a reason: on this machine and CI, no ALSA sequencer
    assert isinstance(listing, PortListing)
    assert bool(listing.names) != (listing.reason is not None)


def test_ports_command_prints_reason_and_exits_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        ports, "list_output_ports", lambda api=None: PortListing([], "No MIDI system: test")
    )
    assert ports.run(argparse.Namespace(api=None)) == 0
    assert capsys.readouterr().out.strip() == "No MIDI system: test"
    monkeypatch.setattr(
        ports, "list_output_ports", lambda api=None: PortListing(["a:1", "b:2"], None)
    )
    assert ports.run(argparse.Namespace(api=None)) == 0
    assert capsys.readouterr().out.splitlines() == ["a:1", "b:2"]


def test_ports_command_rejects_unknown_api(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    ports.add_arguments(parser)
    assert ports.run(parser.parse_args(["--api", "pulse"])) == 2
    assert "Unknown MIDI system" in capsys.readouterr().err


def test_open_virtual_output_refused_on_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports.sys, "platform", "win32")
    with pytest.raises(PortError, match="not supported on Windows"):
        ports.open_virtual_output()


def test_safe_output_port_sends_until_closed() -> None:
    raw = RecordingMidiOut()
    port = SafeOutputPort(raw, "Synth")
    port.send([0x90, 60, 100])
    port.send((0x80, 60, 0))
    assert raw.messages == [[0x90, 60, 100], [0x80, 60, 0]]
    port.close()
    port.close()  # idempotent
    assert raw.close_calls == 1 and port.closed
    with pytest.raises(PortError, match="'Synth' is closed"):
        port.send([0x90, 60, 100])


def test_safe_output_port_rejects_invalid_bytes() -> None:
    port = SafeOutputPort(RecordingMidiOut(), "Synth")
    with pytest.raises(PortError, match="Invalid MIDI message"):
        port.send([0x90, 300, 100])
    with pytest.raises(PortError, match="Invalid MIDI message"):
        port.send([])


def test_safe_output_port_wraps_backend_failures() -> None:
    class Failing(RecordingMidiOut):
        def send_message(self, message: list[int]) -> None:
            raise rtmidi.SystemError("JACK server gone")

    with pytest.raises(PortError, match="'Synth' failed.*JACK server gone"):
        SafeOutputPort(Failing(), "Synth").send([0x90, 60, 100])


def test_safe_output_port_close_racing_send_never_crashes() -> None:
    # 2 threads x 1,000 rounds: one sends, the other closes; a send that reached the closed
    # MidiOut would raise AssertionError (a crash with the real rtmidi object)
    unexpected: list[BaseException] = []
    for _ in range(1_000):
        raw = RecordingMidiOut()
        port = SafeOutputPort(raw, "Synth")
        start = threading.Barrier(2)

        def sender(port: SafeOutputPort = port, start: threading.Barrier = start) -> None:
            start.wait()
            for _ in range(5):
                try:
                    port.send([0x90, 60, 100])
                except PortError:
                    pass
                except BaseException as exc:  # noqa: BLE001 - collected for the assert
                    unexpected.append(exc)

        thread = threading.Thread(target=sender)
        thread.start()
        start.wait()
        port.close()
        thread.join()
        assert raw.close_calls == 1
    assert unexpected == []

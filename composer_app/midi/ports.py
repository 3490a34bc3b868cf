"""MIDI output ports: list them, open one by name or as a virtual port, send safely.

Everything that can go wrong with a port raises :class:`PortError`, whose message says what
happened and what the musician can do. Where no MIDI system exists at all (no ALSA sequencer,
as in containers and CI), listing does not raise: it returns no names and the reason.

The backend is rtmidi. Its API (ALSA, JACK, CoreMIDI, Windows MM) can be chosen per call
(``api=rtmidi.API_UNIX_JACK`` or ``api="jack"``) or for the whole process with the
``RTMIDI_API`` environment variable (``alsa``, ``jack``, ``core``, ``windows``); by default
rtmidi chooses.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import rtmidi

API_ENV_VAR = "RTMIDI_API"
ALSA_SEQUENCER_DEVICE = "/dev/snd/seq"
CLIENT_NAME = "Composer"

_API_NAMES = {
    "alsa": rtmidi.API_LINUX_ALSA,
    "jack": rtmidi.API_UNIX_JACK,
    "core": rtmidi.API_MACOSX_CORE,
    "coremidi": rtmidi.API_MACOSX_CORE,
    "windows": rtmidi.API_WINDOWS_MM,
    "winmm": rtmidi.API_WINDOWS_MM,
}
# ALSA appends "client:port" numbers, e.g. "FLUID Synth:Synth input port 128:0"; they change
# from one session to the next, so names are compared without them.
_ALSA_NUMBERS = re.compile(r"\s+\d+:\d+$")


class PortError(Exception):
    """A MIDI port could not be listed, opened or used; the message says what to do."""


class RawMidiOut(Protocol):
    """What :class:`SafeOutputPort` needs of the object it wraps (rtmidi's ``MidiOut``)."""

    def send_message(self, message: list[int]) -> None: ...

    def close_port(self) -> None: ...


@dataclass(frozen=True)
class PortListing:
    """Output port names, or no names and the ``reason`` why (``None`` when names were found)."""

    names: list[str] = field(default_factory=list)
    reason: str | None = None


def normalize_port_name(name: str) -> str:
    """``name`` without ALSA's trailing ``client:port`` numbers, stripped of spaces.

    ``"FLUID Synth:Synth input port 128:0"`` -> ``"FLUID Synth:Synth input port"``.
    """
    return _ALSA_NUMBERS.sub("", name.strip()).strip()


def resolve_api(api: int | str | None = None) -> int | None:
    """rtmidi's API constant for ``api`` (a constant or a name); ``None`` lets rtmidi choose.

    With ``api=None`` the ``RTMIDI_API`` environment variable is consulted.
    Raises :class:`PortError` for an unknown name.
    """
    if api is None:
        api = os.environ.get(API_ENV_VAR) or None
        if api is None:
            return None
    if isinstance(api, str):
        key = api.strip().lower()
        if key in ("", "default", "auto"):
            return None
        if key not in _API_NAMES:
            known = ", ".join(sorted(_API_NAMES))
            raise PortError(f"Unknown MIDI system '{api}'; choose one of: {known}")
        return _API_NAMES[key]
    return int(api)


def _missing_system_reason(api: int | None) -> str | None:
    """Why the chosen MIDI system cannot work here, found without touching it (or ``None``).

    Asking rtmidi for ALSA without a sequencer device makes libasound print errors on the
    terminal before rtmidi raises, so that case is detected up front.
    """
    compiled = rtmidi.get_compiled_api()
    if api is not None and api not in compiled:
        return (
            f"No MIDI system: {rtmidi.get_api_display_name(api)} support is not built into rtmidi"
        )
    uses_alsa = api == rtmidi.API_LINUX_ALSA or (
        api is None and compiled and compiled[0] == rtmidi.API_LINUX_ALSA
    )
    if sys.platform.startswith("linux") and uses_alsa and not os.path.exists(ALSA_SEQUENCER_DEVICE):
        return (
            f"No MIDI system: {ALSA_SEQUENCER_DEVICE} is missing (the ALSA sequencer is not "
            "available; load the snd-seq module, or run a JACK server and start Composer with "
            "RTMIDI_API=jack)"
        )
    return None


def _new_midi_out(api: int | None, client_name: str = CLIENT_NAME) -> rtmidi.MidiOut:
    """A fresh rtmidi ``MidiOut``; :class:`PortError` where the MIDI system is unusable."""
    reason = _missing_system_reason(api)
    if reason is not None:
        raise PortError(reason)
    try:
        if api is None:
            return rtmidi.MidiOut(name=client_name)
        return rtmidi.MidiOut(api, name=client_name)
    except Exception as exc:  # rtmidi raises its own SystemError or RuntimeError
        raise PortError(f"No MIDI system: {exc}") from exc


def _port_names(midi_out: rtmidi.MidiOut) -> list[str]:
    return [str(n) for n in midi_out.get_ports()]


def _delete(midi_out: rtmidi.MidiOut) -> None:
    """Free rtmidi's client at once (not when the garbage collector gets to it)."""
    delete = getattr(midi_out, "delete", None)
    if delete is not None:
        delete()


def list_output_ports(api: int | str | None = None) -> PortListing:
    """Names of the MIDI outputs (synths, other programs) that can be opened.

    Never raises: where no MIDI system exists, or it has no outputs, the listing is empty
    and ``reason`` says why.
    """
    try:
        resolved = resolve_api(api)
        midi_out = _new_midi_out(resolved, client_name=f"{CLIENT_NAME} (listing)")
    except PortError as exc:
        return PortListing([], str(exc))
    try:
        names = _port_names(midi_out)
    except Exception as exc:
        return PortListing([], f"Could not list MIDI outputs: {exc}")
    finally:
        _delete(midi_out)
    if not names:
        hint = " (is the JACK server running?)" if resolved == rtmidi.API_UNIX_JACK else ""
        return PortListing(
            [],
            f"No MIDI outputs found{hint}: start a synthesizer (e.g. FluidSynth) "
            "or use the virtual port",
        )
    return PortListing(names, None)


def _find_port(names: Sequence[str], wanted: str) -> int | None:
    """Index of ``wanted`` among ``names``: exact match first, then without ALSA numbers."""
    if wanted in names:
        return list(names).index(wanted)
    key = normalize_port_name(wanted)
    for i, name in enumerate(names):
        if normalize_port_name(name) == key:
            return i
    return None


def open_output(name: str, api: int | str | None = None) -> SafeOutputPort:
    """Open the output called ``name`` (ALSA client:port numbers are ignored when matching).

    Raises :class:`PortError` naming the port and listing those that exist when it is absent.
    """
    # a client name of its own: the virtual port's client is "Composer", and a second one of
    # that name is renamed ("Composer-01") away from what the user connects synths to
    midi_out = _new_midi_out(resolve_api(api), client_name=f"{CLIENT_NAME} out")
    try:
        names = _port_names(midi_out)
        index = _find_port(names, name)
        if index is None:
            available = ", ".join(f"'{n}'" for n in names) if names else "none"
            raise PortError(
                f"MIDI output '{name}' is not available (is the synth running?). "
                f"Available outputs: {available}"
            )
        midi_out.open_port(index, f"{CLIENT_NAME} out")
    except PortError:
        _delete(midi_out)
        raise
    except Exception as exc:
        _delete(midi_out)
        raise PortError(f"Could not open MIDI output '{name}': {exc}") from exc
    return SafeOutputPort(midi_out, normalize_port_name(names[index]))


def open_virtual_output(name: str = CLIENT_NAME, api: int | str | None = None) -> SafeOutputPort:
    """Create a virtual output called ``name`` that synths can connect to.

    Raises :class:`PortError` where virtual ports do not exist (Windows) or creation fails.
    """
    if sys.platform.startswith("win"):
        raise PortError(
            "Virtual MIDI ports are not supported on Windows; install a loopback driver "
            "(e.g. loopMIDI) and choose its port instead"
        )
    midi_out = _new_midi_out(resolve_api(api), client_name=name)
    try:
        midi_out.open_virtual_port(name)
    except Exception as exc:
        _delete(midi_out)
        raise PortError(f"Could not create the virtual MIDI output '{name}': {exc}") from exc
    return SafeOutputPort(midi_out, name)


@dataclass(frozen=True)
class PortSpec:
    """Which output to open, as plain data (it can cross to another process; a port cannot).

    ``name``: an existing output, matched as :func:`open_output` does; or ``virtual_name``:
    a virtual output to create. ``api`` as for :func:`resolve_api`.
    """

    name: str | None = None
    virtual_name: str | None = None
    api: int | str | None = None

    def __post_init__(self) -> None:
        if (self.name is None) == (self.virtual_name is None):
            raise PortError("A port is given either by name or as a virtual port name")

    def open(self) -> SafeOutputPort:
        """Open the port this describes. Raises :class:`PortError`."""
        if self.name is not None:
            return open_output(self.name, api=self.api)
        assert self.virtual_name is not None
        return open_virtual_output(self.virtual_name, api=self.api)


class SafeOutputPort:
    """An output port that many threads may use: one lock, and a ``closed`` flag.

    Owns the wrapped ``MidiOut`` (anything with ``send_message``/``close_port``). Sending after
    :meth:`close` raises :class:`PortError`; a close racing a send never reaches the closed
    rtmidi object, so it cannot crash the process.
    """

    def __init__(self, midi_out: RawMidiOut, name: str) -> None:
        self._midi_out = midi_out
        self._name = name
        self._lock = threading.Lock()
        self._closed = False

    @property
    def name(self) -> str:
        """The port's name (without ALSA numbers)."""
        return self._name

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def send(self, message: Sequence[int]) -> None:
        """Send one MIDI message (status byte first, each byte 0-255).

        Raises :class:`PortError` if the port is closed or the MIDI system refuses the message.
        """
        data = [int(b) for b in message]
        if not data or any(not 0 <= b <= 255 for b in data):
            raise PortError(f"Invalid MIDI message {data!r} for port '{self._name}'")
        with self._lock:
            if self._closed:
                raise PortError(f"MIDI port '{self._name}' is closed; choose an output again")
            try:
                self._midi_out.send_message(data)
            except Exception as exc:
                raise PortError(
                    f"Sending to MIDI port '{self._name}' failed ({exc}); "
                    "check that the synth is still running, then choose the output again"
                ) from exc

    def close(self) -> None:
        """Close the port (idempotent). Later sends raise :class:`PortError`."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            midi_out, self._midi_out = self._midi_out, None  # type: ignore[assignment]
            try:
                midi_out.close_port()
            finally:
                if isinstance(midi_out, rtmidi.MidiOut):
                    _delete(midi_out)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"SafeOutputPort({self._name!r}, {state})"


# ---- composer-app ports ------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``composer-app ports``."""
    parser.add_argument(
        "--api",
        default=None,
        help=f"MIDI system: {', '.join(sorted(_API_NAMES))} (default: ${API_ENV_VAR} or rtmidi's choice)",
    )


def run(args: argparse.Namespace) -> int:
    """List the MIDI outputs, or say why there are none. Exit status 0 either way."""
    api = getattr(args, "api", None)
    try:
        resolve_api(api)
    except PortError as exc:  # an unknown --api name: a usage error
        print(exc, file=sys.stderr)
        return 2
    listing = list_output_ports(api)
    if listing.reason is not None:
        print(listing.reason)
        return 0
    for name in listing.names:
        print(name)
    return 0

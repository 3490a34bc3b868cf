"""A thin Qt adapter around the MIDI player (:mod:`composer_app.midi.player`).

The app plays through a :class:`~composer_app.midi.player.ProcessPlayer` (the player in a
process of its own) and falls back to a :class:`~composer_app.midi.player.Player` on a thread.
Either reports through plain callbacks called on a thread of its own. This adapter re-emits them as Qt signals; because the adapter lives on the GUI thread,
Qt queues each emission to the GUI thread, so slots never run on the player's thread.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal

from composer_app.core.score import Score, TempoChange

log = logging.getLogger(__name__)

# A player process that dies again within this long of its replacement is replaced by a
# player on a thread. Units: seconds.
RESTART_AGAIN_S = 5.0


class PlayerLike(Protocol):
    """What the adapter needs of a player (``composer_app.midi.player.Player`` provides it)."""

    @property
    def is_playing(self) -> bool: ...

    @property
    def position_tick(self) -> float: ...

    def set_port(self, port: Any) -> None: ...

    def play(self, score: Score, start_tick: int = 0) -> None: ...

    def start_stream(
        self, score: Score, start_tick: int, step_ticks: int, pitch_low: int = 21,
        velocity: int = 90, channel: int = 0,
    ) -> None: ...

    def stop(self) -> None: ...

    def seek(self, tick: float) -> None: ...

    def set_tempo_map(self, tempo_map: Sequence[TempoChange]) -> None: ...

    def update_notes(self, score: Score) -> None: ...

    def set_loop(self, start_tick: int | None, end_tick: int | None = None) -> None: ...

    def panic(self) -> None: ...

    def preview_note(
        self, pitch: int, velocity: int = 100, duration_s: float = 0.25, channel: int = 0,
        program: int | None = None,
    ) -> None: ...

    def close(self) -> None: ...


PlayerFactory = Callable[..., PlayerLike]


def thread_player_factory(**callbacks: Callable[..., None]) -> PlayerLike:
    """A player on a thread of this process (:class:`~composer_app.midi.player.Player`)."""
    from composer_app.midi.player import Player

    return Player(None, **callbacks)


def process_player_factory(**callbacks: Callable[..., None]) -> PlayerLike:
    """A player in its own process (:class:`~composer_app.midi.player.ProcessPlayer`)."""
    from composer_app.midi.player import ProcessPlayer

    return ProcessPlayer(None, **callbacks)  # type: ignore[return-value]


def _default_player_factory(**callbacks: Callable[..., None]) -> PlayerLike:
    """The app's player: in its own process, so the GUI and the generator (which share this
    process's interpreter lock) cannot make notes late (docs/benchmarks.md: live MIDI and
    continuation timing); on a thread here if that process cannot start."""
    try:
        return process_player_factory(**callbacks)
    except (OSError, RuntimeError) as exc:
        log.warning("MIDI player process unavailable (%s); playing from a thread", exc)
        return thread_player_factory(**callbacks)


class PlaybackController(QObject):
    """Plays a score through a player and reports progress as signals.

    Signals (always delivered on the GUI thread):
    ``position_changed(float)`` the playhead, in ticks; ``error_occurred(str)`` a readable
    reason (the port failed, ...); ``finished()`` playback reached the end;
    ``playing_changed(bool)`` playback started or ended; ``player_replaced(object)`` the
    player process died and a new player took its place (with the same port).
    """

    position_changed = Signal(float)
    error_occurred = Signal(str)
    finished = Signal()
    playing_changed = Signal(bool)
    player_replaced = Signal(object)

    def __init__(
        self, player_factory: PlayerFactory | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._factory = player_factory or _default_player_factory
        self._player = self._new_player()
        self._port: Any = None
        self._loop: tuple[int, int] | None = None
        self._streaming = False  # what plays is a live take's stream (its notes are its own)
        self._playing = False
        self._closed = False
        self._replacing = False  # a dead player is being replaced (no replacing within it)
        self._on_thread = False  # processes died at once: players run on a thread from now on
        # where the last playback (or stream) began, as asked (the user may move it on while
        # it plays: see seek). Units: ticks
        self.started_from_tick = 0
        self._last_replaced_s = -math.inf  # when (time.monotonic) it last happened
        self.finished.connect(self._on_finished_delivered)
        self.error_occurred.connect(self._on_error_delivered)

    def _new_player(self) -> PlayerLike:
        # The callbacks run on the player's thread; emitting is thread-safe and queued.
        return self._factory(
            on_position=self._on_player_position,
            on_error=self._on_player_error,
            on_finished=self._on_player_finished,
        )

    def _call(self, name: str, *args: Any, **kwargs: Any) -> bool:
        """Call the player; if its process has died, start a new one, say so and try once more.

        Returns whether the call was made.
        """
        for attempt in range(2):
            try:
                getattr(self._player, name)(*args, **kwargs)
                return True
            except RuntimeError as exc:
                if self._closed or attempt:
                    return False
                self._replace_dead_player(str(exc))
        return False

    def _replace_dead_player(self, reason: str) -> None:
        if self._replacing:
            return  # (its own messages reach _stopped_unless_playing: no second replacement)
        self._replacing = True
        try:
            self._replace_dead_player_now(reason)
        finally:
            self._replacing = False

    def _replace_dead_player_now(self, reason: str) -> None:
        old = self._player
        try:
            old.close()
        except Exception:  # already dead: nothing to close cleanly
            log.debug("closing a dead player failed", exc_info=True)
        now = time.monotonic()
        if now - self._last_replaced_s < RESTART_AGAIN_S:
            # its process died again at once: the processes cannot run here; play from a
            # thread of this one rather than start process after process
            log.warning("MIDI player process died again; playing from a thread")
            self._on_thread = True
        self._player = self._next_player()
        self._last_replaced_s = now
        port, self._port = self._port, None
        advice = ""
        if port is not None and not hasattr(port, "send"):  # a PortSpec: reopen it
            try:
                self.set_port(port)
                # what the dead process was playing still sounds on the synth: end it
                self._player.panic()
            except Exception as exc:  # noqa: BLE001 - reported, playback goes on silently
                advice = f", but the MIDI output could not be opened again: {exc}"
            if not advice and getattr(port, "virtual_name", None):
                # a virtual port is made anew: what was connected to the old one is not
                advice = (f"; connect the synth to the virtual port “{port.virtual_name}” again"
                          " (a note it was playing may still sound: Panic, Shift+Esc, then)")
        self._set_playing(False)
        self.error_occurred.emit(f"The MIDI player stopped ({reason}); it was restarted{advice}")
        self.player_replaced.emit(self._player)

    def _next_player(self) -> PlayerLike:
        """A new player to take the place of the one there (its loop set again): from the
        factory, or on a thread once processes have died at once."""
        if self._on_thread:
            player = thread_player_factory(
                on_position=self._on_player_position,
                on_error=self._on_player_error,
                on_finished=self._on_player_finished,
            )
        else:
            player = self._new_player()
        if self._loop is not None:
            try:
                player.set_loop(*self._loop)
            except Exception:  # noqa: BLE001 - a loop lost is no reason to fail the restart
                log.debug("setting the loop on a new player failed", exc_info=True)
        return player

    def restart_player(self) -> None:
        """Stop and close the player with its port, and start a new one, still without a
        port (give it one with :meth:`set_port`): Transport ▸ Reconnect MIDI Output. After the
        MIDI system restarted (a JACK server stopped and started), nothing opened in the old
        player's process reaches the new server (its client library keeps the dead one's
        state, and closing the dead port there also took the new one away); a new process
        starts afresh. A player on a thread closes its old port before a new one opens."""
        old, old_port = self._player, self._port
        self._port = None
        try:
            old.close()
            close_port = getattr(old_port, "close", None)  # (a player on a thread leaves it)
            if close_port is not None:
                close_port()
        except Exception:  # noqa: BLE001 - dead already: nothing to close cleanly
            log.debug("closing the player before a restart failed", exc_info=True)
        self._player = self._next_player()
        self._streaming = False
        self._set_playing(False)
        self.player_replaced.emit(self._player)  # the generation worker streams into it

    # ---- player thread -> signals -----------------------------------------------------
    def _on_player_position(self, tick: float) -> None:
        self.position_changed.emit(float(tick))

    def _on_player_error(self, message: str) -> None:
        self.error_occurred.emit(str(message))

    def _on_player_finished(self) -> None:
        self.finished.emit()

    # ---- GUI thread ---------------------------------------------------------------------
    def _on_finished_delivered(self) -> None:
        # Queued from the player's thread: a Play pressed meanwhile may have started the
        # player again, and this "finished" of the run before must not mark it stopped.
        self._stopped_unless_playing()

    def _on_error_delivered(self, _message: str) -> None:
        self._stopped_unless_playing()

    def _stopped_unless_playing(self) -> None:
        try:
            playing = self._player.is_playing
        except RuntimeError as exc:  # the player's process has ended
            playing = False
            if not self._closed:
                # a new one at once, not at the next command: it silences the synth, where
                # the notes the dead one was playing still sound
                self._replace_dead_player(str(exc))
        if not playing:
            self._set_playing(False)

    def _set_playing(self, playing: bool) -> None:
        if playing != self._playing:
            self._playing = playing
            self.playing_changed.emit(playing)

    @property
    def player(self) -> PlayerLike:
        """The wrapped player."""
        return self._player

    def _player_opens_specs(self) -> bool:
        from composer_app.midi.player import ProcessPlayer

        return isinstance(self._player, ProcessPlayer)

    @property
    def port(self) -> Any:
        """The output port in use, or ``None`` (silent playback)."""
        return self._port

    @property
    def is_playing(self) -> bool:
        """Whether playback is running (as last reported on the GUI thread)."""
        return self._playing

    @property
    def is_streaming(self) -> bool:
        """Whether what plays is a live take's stream (:meth:`start_stream`), which may
        sound on after its generation has ended."""
        return self._playing and self._streaming

    @property
    def position_tick(self) -> float:
        """The player's current position. Units: ticks."""
        try:
            return float(self._player.position_tick)
        except RuntimeError:  # the player's process has ended; the next command restarts it
            return 0.0

    def set_port(self, port: Any) -> None:
        """Send to ``port`` from now on (``None``: play silently); the old port is closed.

        ``port`` is an open port, or a :class:`~composer_app.midi.ports.PortSpec` saying which
        port to open: a player in another process opens it there, one in this process here.
        Raises :class:`~composer_app.midi.ports.PortError` when it cannot be opened.
        """
        from composer_app.midi.ports import PortError, PortSpec

        old = self._port
        spec = port
        for attempt in range(3):
            # a player in this process (the first, or one that replaced a dead process)
            # needs the port opened here
            if isinstance(spec, PortSpec) and not self._player_opens_specs():
                port = spec.open()
            try:
                self._player.set_port(port)
                break
            except RuntimeError as exc:  # the player's process has ended: start a new one
                if port is not spec:
                    port.close()
                if attempt == 2:
                    raise PortError(f"The MIDI player cannot start ({exc})") from exc
                self._port = None
                # (a second death in a row gives a player on a thread of this process)
                self._replace_dead_player(str(exc))
        self._port = port
        if old is not None and old is not port:
            close = getattr(old, "close", None)
            if close is not None:
                close()

    def play(self, score: Score, start_tick: int = 0) -> None:
        """Play a snapshot of ``score`` from ``start_tick`` (ticks)."""
        if self._closed:
            return
        if self._call("play", score.copy(), int(start_tick)):
            self._streaming = False
            self.started_from_tick = int(start_tick)
            self._set_playing(True)

    def start_stream(
        self, score: Score, start_tick: int, step_ticks: int, pitch_low: int = 21,
        velocity: int = 90, channel: int = 0,
    ) -> None:
        """Play ``score`` from ``start_tick`` plus frames appended to the player later
        (by the generation worker, from its thread), on MIDI ``channel``; a frame's column
        ``k`` is MIDI pitch ``pitch_low + k`` (the model's lowest pitch). Units: ticks."""
        if self._closed:
            return
        if self._call(
            "start_stream", score.copy(), int(start_tick), int(step_ticks),
            pitch_low=int(pitch_low), velocity=velocity, channel=channel,
        ):
            self._streaming = True
            self.started_from_tick = int(start_tick)
            self._set_playing(True)

    def stop(self) -> None:
        """Stop playback; every sounding note is ended."""
        if self._closed:
            return
        self._call("stop")
        self._set_playing(False)

    def set_tempo_map(self, tempo_map: Sequence[TempoChange]) -> None:
        """Follow a new tempo map from the current position on (a tempo edit while playing)."""
        if not self._closed and self._playing:
            self._call("set_tempo_map", list(tempo_map))

    def update_notes(self, score: Score) -> None:
        """Play ``score``'s notes from here on (an edit while playing; see
        :meth:`composer_app.midi.player.Player.update_notes`). Not sent while a live take's
        stream plays: the player would ignore it, after the notes of every generated step
        crossed to its process."""
        if not self._closed and self._playing and not self._streaming:
            self._call("update_notes", score)  # players keep its notes, not the score

    def set_loop(self, loop: tuple[int, int] | None) -> None:
        """Loop ``(start_tick, end_tick)`` when playing (``None``: no loop); see
        :meth:`composer_app.midi.player.Player.set_loop`. Kept for a restarted player."""
        if self._closed or loop == self._loop:
            return
        self._loop = loop
        self._call("set_loop", *(loop if loop is not None else (None, None)))

    @property
    def loop(self) -> tuple[int, int] | None:
        """The loop set by :meth:`set_loop`. Units: ticks."""
        return self._loop

    def seek(self, tick: float) -> None:
        """Move the play position (ticks), playing or not."""
        if not self._closed:
            self._call("seek", tick)

    def panic(self) -> None:
        """Silence everything on every channel."""
        if not self._closed:
            self._call("panic")

    def preview_note(
        self, pitch: int, velocity: int = 100, channel: int = 0, program: int | None = None
    ) -> None:
        """Sound one short note (a key click or a drawn note) on MIDI ``channel`` (0-15), with
        ``program`` (its part's instrument; None: whatever the synth has) sent first."""
        if not self._closed:
            self._call("preview_note", pitch, velocity, channel=channel, program=program)

    def close(self) -> None:
        """Stop, silence, close the port and join the player's thread. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._player.stop()
            self._player.panic()
        except RuntimeError:  # the player's process has already ended
            pass
        finally:
            self._player.close()
            port, self._port = self._port, None
            if port is not None and hasattr(port, "close"):
                port.close()
            self._set_playing(False)

"""Start and stop a private JACK server (dummy backend) for tests and benchmarks.

The server gets a unique name so that runs never meet each other or a user's own server;
clients reach it through ``JACK_DEFAULT_SERVER``. The dummy backend needs no sound card and
``--no-realtime`` no privileges, so this works in containers and CI wherever ``jackd`` exists.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class JackServerError(RuntimeError):
    """The JACK server did not start; the message includes its log."""


def jackd_path() -> str | None:
    """Where ``jackd`` is, or ``None`` when it is not installed."""
    return shutil.which("jackd")


class JackServer:
    """A ``jackd -n <name> --no-realtime -d dummy`` process (``-R`` with ``realtime=True``).

    Units: ``sample_rate_hz`` in Hz; ``period_frames`` in frames (64 at 48 kHz = 1.33 ms).
    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        name: str | None = None,
        sample_rate_hz: int = 48_000,
        period_frames: int = 64,
        realtime: bool = False,
    ) -> None:
        self.name = name or f"composer-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.sample_rate_hz = sample_rate_hz
        self.period_frames = period_frames
        self.realtime = realtime  # -R: SCHED_FIFO for the server and its clients' threads
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point JACK clients at this server (and nowhere else)."""
        return {
            "JACK_DEFAULT_SERVER": self.name,
            "JACK_NO_AUDIO_RESERVATION": "1",
            "JACK_NO_START_SERVER": "1",
        }

    def log(self) -> str:
        """What the server printed so far."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(errors="replace")

    def start(self, timeout_s: float = 10.0) -> JackServer:
        """Start the server and wait until clients can connect. Raises :class:`JackServerError`."""
        jackd = jackd_path()
        if jackd is None:
            raise JackServerError("jackd is not installed (apt-get install jackd2)")
        env = {**os.environ, **self.env}
        fd, log_name = tempfile.mkstemp(prefix=f"{self.name}-", suffix=".log")
        os.close(fd)
        self._log_path = Path(log_name)
        command = [
            jackd, "-n", self.name, "-R" if self.realtime else "--no-realtime",
            "-d", "dummy", "-r", str(self.sample_rate_hz), "-p", str(self.period_frames),
        ]  # fmt: skip
        with open(self._log_path, "wb") as log:
            self._process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout_s
        jack_lsp = shutil.which("jack_lsp")
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise JackServerError(
                    f"jackd exited with status {self._process.returncode}:\n{self.log()}"
                )
            if self._is_up(jack_lsp, env):
                return self
            time.sleep(0.05)
        self.stop()
        raise JackServerError(f"jackd did not come up within {timeout_s} s:\n{self.log()}")

    def _wait_for_clients_to_leave(self, deadline: float) -> None:
        jack_lsp = shutil.which("jack_lsp")
        env = {**os.environ, **self.env}
        while jack_lsp is not None and time.monotonic() < deadline:
            done = subprocess.run([jack_lsp], env=env, capture_output=True, timeout=5, check=False)
            ports = done.stdout.decode(errors="replace").split()
            if done.returncode != 0 or all(p.startswith("system:") for p in ports):
                return
            time.sleep(0.05)

    def _is_up(self, jack_lsp: str | None, env: dict[str, str]) -> bool:
        if jack_lsp is not None:
            done = subprocess.run([jack_lsp], env=env, capture_output=True, timeout=5, check=False)
            return done.returncode == 0 and b"system:" in done.stdout
        # without jack_lsp, trust the server's own announcement of its driver
        return "dummy" in self.log().lower() and self._process is not None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the server with SIGINT (its clean shutdown), killing it if it lingers.

        Waits (up to a second) until only the server's own ports are left: a SIGINT that
        arrives while clients that have just closed are being removed can leave jackd hung,
        and the kill then leaves its entry in JACK's shared-memory registry (after eight
        such entries no server starts on the machine: "Too many servers already active").
        """
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            self._wait_for_clients_to_leave(deadline=time.monotonic() + 1.0)
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout_s)
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def __enter__(self) -> JackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def running_jack_server() -> Iterator[JackServer]:
    """A started private :class:`JackServer` with this process's JACK environment pointed at
    it (restored afterwards); skips the test where ``jackd`` is missing. The server may be
    stopped and started again inside (the same name)."""
    import pytest

    if jackd_path() is None:
        pytest.skip("jackd is not installed (apt-get install jackd2): no real MIDI ports to test")
    server = JackServer()
    saved = {key: os.environ.get(key) for key in server.env}
    try:
        server.start()
    except JackServerError as exc:
        pytest.fail(f"could not start a private JACK server: {exc}")
    os.environ.update(server.env)
    try:
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

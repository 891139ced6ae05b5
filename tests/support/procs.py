"""Services as real processes (``faststream run``), for restarts and SIGKILL."""

from __future__ import annotations

import asyncio
import atexit
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from casework.readiness import wait_ready
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free loopback ports."""
    for base in range(21000, 40000, 97):
        try:
            for port in range(base, base + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no free range of ports")


_started: list[ServiceProcess] = []


@atexit.register
def _kill_leftovers() -> None:
    """A test that failed half-way must not leave services running after the session."""
    for process in _started:
        process.kill()


class ServiceProcess:
    """One service under ``faststream run``, its log in a file the test can read."""

    def __init__(self, name: str, settings: Settings, log_dir: Path, *, failpoints: str = "",
                 extra_env: dict[str, str] | None = None) -> None:
        self.name = name
        self.settings = settings
        self.port = free_port()
        self.log_path = log_dir / f"{name}.log"
        self.failpoints = failpoints
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, failpoints: str | None = None) -> None:
        env = os.environ | self.settings.as_environment() | self.extra_env | {
            "CASEWORK_OPS_PORT": str(self.port),
            "CASEWORK_FAILPOINTS": self.failpoints if failpoints is None else failpoints,
            "PYTHONUNBUFFERED": "1",
        }
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faststream", "run", "--factory", f"services.{self.name}.app:create_app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _started.append(self)

    async def ready(self, timeout: float = 60.0) -> None:
        if not await wait_ready(self.port, within=timeout, interval=0.25, check=self._running):
            raise AssertionError(f"{self.name} not ready within {timeout}s:\n{self.log()[-3000:]}")

    def _running(self) -> None:
        if self.proc and self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, nothing is flushed or committed."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self) -> None:
        """SIGTERM without waiting for the exit."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def exited(self) -> int | None:
        return self.proc.poll() if self.proc else None

    async def wait_exit(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while self.exited() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} still running after {timeout}s")
            await asyncio.sleep(0.1)
        return self.exited()  # type: ignore[return-value]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

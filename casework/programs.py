"""The processes ``make run`` starts itself: every service and the local mail sink.

Each runs in its own session (Ctrl-C on the console reaches only ``make run``, which stops
them in order); its output goes in full to its log file and, line by line, to a callback
that shows it on the console.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from casework.readiness import answers_ready
from shared.settings import Settings

# The services' order on the console and their ops ports (from ``ops_base_port`` up); the
# status service serves the dashboard on ``dashboard_port``.
ORDER = ("intake", "referral", "stabilization", "certification", "notify")
LINE_LIMIT = 1024 * 1024

Ready = Callable[[httpx.AsyncClient], Awaitable[bool]]
Show = Callable[[str, str], None]


@dataclass(frozen=True)
class Program:
    name: str
    argv: tuple[str, ...]
    env: dict[str, str]
    ready: Ready  # whether a run of it is ready (its /readyz, or its port answering)


def services(root: Path) -> list[str]:
    found = sorted(p.parent.name for p in (root / "services").glob("*/app.py"))
    return sorted(found, key=lambda s: ORDER.index(s) if s in ORDER else len(ORDER))


def port_of(service: str, settings: Settings) -> int:
    if service == "status":
        return settings.status.dashboard_port
    return settings.run.ops_base_port + (ORDER.index(service) if service in ORDER else 9)


def programs(settings: Settings, root: Path) -> list[Program]:
    found = []
    if (root / "services" / "notify" / "sink.py").exists():
        found.append(Program("mailsink", (sys.executable, "-m", "services.notify.sink"), {},
                             _port_answers(settings.notify.smtp.host, settings.notify.smtp.port)))
    for name in services(root):
        port = port_of(name, settings)
        argv = (sys.executable, "-m", "faststream", "run", "--factory", f"services.{name}.app:create_app")
        env = {"CASEWORK_OPS_PORT": str(port)}
        if name == "status":  # the dashboard reads identities from intake's port, wherever it is
            env["CASEWORK_INTAKE_URL"] = f"http://127.0.0.1:{port_of('intake', settings)}"
        found.append(Program(name, argv, env, _ready_on(port)))
    return found


def _ready_on(port: int) -> Ready:
    async def ready(client: httpx.AsyncClient) -> bool:
        return await answers_ready(client, port)
    return ready


def _port_answers(host: str, port: int) -> Ready:
    async def ready(client: httpx.AsyncClient) -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return ready


class Child:
    """One program, run again each time :meth:`start` is called after the last run ended."""

    def __init__(self, program: Program, log_path: Path, show: Show, *, cwd: Path) -> None:
        self.program = program
        self.log_path = log_path
        self.show = show
        self.cwd = cwd
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def name(self) -> str:
        return self.program.name

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = await asyncio.create_subprocess_exec(
            *self.program.argv, cwd=self.cwd, env=os.environ | {"PYTHONUNBUFFERED": "1"} | self.program.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True, limit=LINE_LIMIT)

    async def finish(self) -> int:
        """Follow this run's output until the process ends; its return code."""
        assert self.proc is not None and self.proc.stdout is not None
        with self.log_path.open("ab") as log:
            while line := await _line_of(self.proc.stdout):
                log.write(line)
                log.flush()
                self.show(self.name, line.decode(errors="replace"))
        return await self.proc.wait()

    async def stop(self, within: float) -> bool:
        """SIGTERM to its process group, SIGKILL after ``within`` seconds; whether it was running."""
        if not self.running:
            return False
        assert self.proc is not None
        self._signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            self._signal(signal.SIGKILL)
            await self.proc.wait()
        return True

    def _signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)


async def _line_of(stream: asyncio.StreamReader) -> bytes:
    """The next line (b"" at the end); a line longer than the limit is left out, and says so."""
    try:
        return await stream.readline()
    except ValueError:
        return b"(a line longer than 1 MiB was left out)\n"

"""Kafka and FerretDB under ``make run``: started by infra/up.sh, stopped by infra/down.sh.

infra/up.sh starts each server detached and records it in a pid file. ``make run`` makes
itself the child subreaper of what it starts (Linux): once the script has exited, a server
it started is its child, so it learns when that server dies and how (exit code or
signal). Where that is not available it notices the pid file's process is gone, how it
ended unknown.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from pymongo.uri_parser import parse_uri

from shared.settings import Settings

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt the orphaned descendants (the servers infra/up.sh leaves running); whether it worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return int(ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Server:
    """One server as infra/up.sh runs it: ``name`` as infra/down.sh knows it."""

    name: str
    pidfile: Path
    log: Path

    def pid(self) -> int | None:
        """The pid of the running server its pid file names (None: not running)."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    async def ended(self, pid: int, *, every: float = 0.25) -> int | None:
        """Wait until the server ``pid`` is gone: its return code (negative: the signal), or None
        when it is not this process's child and so how it ended is unknown."""
        while True:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)  # noqa: ASYNC222 (WNOHANG: never blocks)
                if done:
                    return os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                if not _alive(pid):
                    return None
            await asyncio.sleep(every)


class Infra:
    """The servers of one state directory, on the ports the settings point the services at."""

    def __init__(self, settings: Settings, root: Path) -> None:
        self.root = root
        self.state_dir = root / settings.run.state_dir
        self.kafka = _host_port(settings.kafka_bootstrap.split(",")[0], 9092)
        self.mongo = parse_uri(settings.mongo_uri)["nodelist"][0]
        run, logs = self.state_dir / "run", self.state_dir / "logs"
        self.servers = [Server(name, run / f"{name}.pid", logs / f"{name}.log") for name in ("kafka", "ferretdb")]

    def env(self) -> dict[str, str]:
        """What infra/*.sh need to act on these servers (the controller port comes from the environment)."""
        return os.environ | {"CASEWORK_STATE_DIR": str(self.state_dir), "CASEWORK_KAFKA_PORT": str(self.kafka[1]),
                             "CASEWORK_MONGO_PORT": str(self.mongo[1])}

    async def answering(self) -> bool:
        probe = (sys.executable, str(self.root / "infra" / "probe.py"))
        for kind, (host, port) in (("kafka", self.kafka), ("mongo", self.mongo)):
            admin = self.state_dir / "kafka" / "principals" / "casework-admin.json"
            signed_in = [str(admin)] if kind == "kafka" else []
            done = await asyncio.create_subprocess_exec(*probe, kind, host, str(port), *signed_in,
                                                        stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.DEVNULL)
            if await done.wait() != 0:
                return False
        return True

    def running(self) -> dict[str, int | None]:
        return {server.name: server.pid() for server in self.servers}

    async def up(self) -> bool:
        """infra/up.sh (its lines on the console): whether both servers answer now."""
        return await self._script("up.sh") == 0

    async def down(self, names: list[str]) -> None:
        await self._script("down.sh", *names)

    async def _script(self, script: str, *args: str) -> int:
        done = await asyncio.create_subprocess_exec("bash", str(self.root / "infra" / script), *args,
                                                    cwd=self.root, env=self.env(), stdin=asyncio.subprocess.DEVNULL)
        return await done.wait()


def _host_port(address: str, default: int) -> tuple[str, int]:
    host, _, port = address.strip().rpartition(":")
    return (host, int(port)) if host else (address.strip(), default)


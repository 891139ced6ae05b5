"""``make run``: the whole system in the foreground; what dies is restarted; Ctrl-C stops everything it started.

Starts Kafka and FerretDB (unless already running), the local mail sink, every service as
its own ``faststream run`` process, loads the demo roster, prints where to look, and
follows the services' logs in a compact form. Each process also logs in full to
``.local/logs/<name>.log``. A process that dies is started again after a backoff, and so
is a server this run started (casework.restarts says when, and when to give up). It is a
development run (``CASEWORK_ENVIRONMENT=development`` unless set otherwise): its services use
the development secrets under ``.local/``, on loopback only.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
from rich.console import Console

from casework import runlog
from casework.banner import banner_lines, dashboard_tokens
from casework.infra import Infra, Server, become_subreaper
from casework.programs import Child, programs
from casework.restarts import GiveUp, RestartPolicy, Restarts
from shared import environment
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
console = Console(highlight=False)


class NotReady(RuntimeError):
    """The system could not be started."""


class Supervisor:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.policy = RestartPolicy.from_settings(self.settings)
        self.infra = Infra(self.settings, ROOT)
        self.logs = self.infra.state_dir / "logs"
        self.children = {p.name: Child(p, self.logs / f"{p.name}.log", self.show, cwd=ROOT)
                         for p in programs(self.settings, ROOT)}
        self.colours = {name: runlog.COLOURS[i % len(runlog.COLOURS)] for i, name in enumerate(self.children)}
        self.settled = {name: asyncio.Event() for name in self.children}  # ready once, or given up
        self.repeats = runlog.Repeats()
        self.ours: list[Server] = []  # the servers this run started
        self.servers_down: set[str] = set()
        self.servers_back = asyncio.Event()
        self.servers_back.set()
        self.given_up: list[str] = []
        self.stopping = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.http = httpx.AsyncClient(timeout=2)

    # -- start-up ------------------------------------------------------------------------

    async def infra_up(self) -> None:
        if await self.infra.answering():
            console.print("[dim]Kafka and FerretDB already running[/]")
            return
        subreaper = become_subreaper()
        before = self.infra.running()
        if not await self.infra.up():
            raise NotReady("Kafka and FerretDB could not be started (infra/up.sh above says why)")
        for server, pid in ((s, s.pid()) for s in self.infra.servers if before[s.name] is None):
            if pid is not None:
                self.ours.append(server)
                self.tasks.append(asyncio.create_task(self.keep_server(server, pid)))
        if self.ours and not subreaper:
            console.print("[dim]a server that dies is restarted; how it ended is not known on this system[/]")

    def start_all(self) -> None:
        self.tasks += [asyncio.create_task(self.keep(child)) for child in self.children.values()]

    async def wait_ready(self, timeout: float = 120) -> None:
        try:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in self.settled.values())), timeout)
        except TimeoutError:
            late = ", ".join(n for n, e in self.settled.items() if not e.is_set())
            raise NotReady(f"not ready after {timeout:.0f}s: {late} (see {self._shown(self.logs)}/)") from None

    async def load_demo_data(self) -> None:
        """The demo roster and provider directory, from ``examples/``."""
        for group, name, what in (("roster", "roster.yaml", "roster"), ("providers", "providers.yaml",
                                                                        "provider directory")):
            path = ROOT / "examples" / name
            if not path.exists():
                continue
            done = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "casework", group, "load", str(path), cwd=ROOT,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            _, err = await done.communicate()
            console.print(f"[green]✓[/] demo {what} loaded from examples/{name}" if done.returncode == 0
                          else f"[red]{group} load failed:[/] {err.decode(errors='replace').strip()[-500:]}")

    def banner(self) -> None:
        lines = banner_lines(self.settings, self.policy, mongo=self.infra.mongo, logs=self._shown(self.logs),
                             tokens=dashboard_tokens(self.settings, ROOT), given_up=self.given_up)
        console.rule()
        for line in lines:
            console.print(line, soft_wrap=True)
        console.rule()

    # -- keeping it running --------------------------------------------------------------

    def show(self, name: str, line: str) -> None:
        # While Kafka is being restarted, every client says so many times a second: the
        # line that it died says it once.
        text = runlog.compact(line, hide=("aiokafka",) if "kafka" in self.servers_down else ())
        if text and self.repeats.fresh(name, text, time.monotonic()):
            console.print(f"[{self.colours[name]}]{name:>13}[/] {text}", markup=True, soft_wrap=True)

    async def keep(self, child: Child) -> None:
        """Run the program; each time it dies, start it again after the backoff, or give up."""
        restarts, again = Restarts(self.policy), False
        while not self.stopping.is_set():
            started = time.monotonic()
            await child.start()
            ready = asyncio.create_task(self.announce_ready(child, again))
            how = runlog.describe_exit(await child.finish())
            ready.cancel()
            again = True
            if self.stopping.is_set():
                return
            if self.servers_down:
                down = runlog.titles(sorted(self.servers_down))
                console.print(f"[red]✗ {child.name} died ({how})[/]; it starts again once {down} is back")
                if not await self.until(self.servers_back):
                    return
                continue
            decision = restarts.crashed(started=started, died=time.monotonic())
            if isinstance(decision, GiveUp):
                self.give_up(child.name, how, decision, child.log_path)
                return
            console.print(runlog.restart_line(child.name, how, decision, self.policy), soft_wrap=True)
            if not await self.pause(decision.delay):
                return

    async def announce_ready(self, child: Child, again: bool) -> None:
        while not await child.program.ready(self.http):
            await asyncio.sleep(0.5)
        console.print(f"[green]✓[/] {child.name} ready" + (" again" if again else ""))
        self.settled[child.name].set()

    async def keep_server(self, server: Server, pid: int) -> None:
        """Watch a server this run started; when it dies, run infra/up.sh again after the backoff."""
        restarts, started = Restarts(self.policy), time.monotonic()
        how = runlog.describe_exit(await server.ended(pid))
        while not self.stopping.is_set():
            self.servers_down.add(server.name)
            self.servers_back.clear()
            decision = restarts.crashed(started=started, died=time.monotonic())
            if isinstance(decision, GiveUp):
                self.give_up(server.name, how, decision, server.log)
                return
            console.print(runlog.restart_line(server.name, how, decision, self.policy), soft_wrap=True)
            if not await self.pause(decision.delay):
                return
            started = time.monotonic()
            if await self.infra.up() and (again := server.pid()) is not None:
                self.servers_down.discard(server.name)
                if not self.servers_down:
                    self.servers_back.set()
                console.print(f"[green]✓[/] {server.name} ready again")
                how = runlog.describe_exit(await server.ended(again))
            else:
                how = "infra/up.sh could not start it"

    def give_up(self, name: str, how: str, gave_up: GiveUp, log: Path) -> None:
        self.given_up.append(name)
        if name in self.settled:
            self.settled[name].set()
        for line in runlog.gave_up_lines(name, how, gave_up, self._shown(log), runlog.tail(log)):
            console.print(line, soft_wrap=True)

    async def pause(self, seconds: float) -> bool:
        """Sleep; False when make run is stopping meanwhile."""
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            return True
        return False

    async def until(self, event: asyncio.Event) -> bool:
        """Wait for ``event``; False when make run is stopping first."""
        waits = [asyncio.create_task(event.wait()), asyncio.create_task(self.stopping.wait())]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        return not self.stopping.is_set()

    # -- stopping ------------------------------------------------------------------------

    async def stop_all(self) -> None:
        self.stopping.set()
        running = await asyncio.gather(*(child.stop(20) for child in self.children.values()))
        stopped = [name for name, was in zip(self.children, running, strict=True) if was]
        if self.ours:
            await self.infra.down([s.name for s in self.ours])
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.http.aclose()
        ours = [s.name for s in self.ours]
        left = [s.name for s in self.infra.servers if s.name not in ours]
        console.print(runlog.stopped_line(stopped, ours, left, self.given_up))

    def _shown(self, path: Path) -> str:
        return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


async def start(supervisor: Supervisor) -> None:
    await supervisor.infra_up()
    supervisor.start_all()
    await supervisor.wait_ready()
    await supervisor.load_demo_data()
    supervisor.banner()


def local_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What ``make run`` adds to its own environment, which every process it starts inherits:
    it is a development run on this machine, said explicitly (production is the default,
    shared/environment.py); a ``CASEWORK_ENVIRONMENT`` already set is kept."""
    return {} if "CASEWORK_ENVIRONMENT" in environ else {"CASEWORK_ENVIRONMENT": "development"}


async def main() -> int:
    os.environ.update(local_environment(os.environ))
    try:
        environment.mode(Settings())  # development off loopback: said once here, not by each service
    except environment.UnsafeEnvironment as exc:
        console.print(f"[bold red]{exc}[/]")
        return 1
    supervisor = Supervisor()
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted.set)
    starting = asyncio.create_task(start(supervisor))
    interrupt = asyncio.create_task(interrupted.wait())
    try:
        await asyncio.wait([starting, interrupt], return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()  # a start-up that failed raises here
            await interrupt
        console.print("\n[bold]stopping…[/]")
    except NotReady as exc:
        console.print(f"[bold red]{exc}[/]")
        return 1
    finally:
        starting.cancel()
        interrupt.cancel()
        await supervisor.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

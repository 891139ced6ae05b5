"""``make run``: the whole system in the foreground; Ctrl-C stops everything it started.

Starts Kafka and FerretDB (unless already running), the local mail sink, every service as
its own ``faststream run`` process, loads the demo roster, prints where to look, and
follows the services' logs in a compact form. Each service also logs in full to
``.local/logs/<service>.log``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console

from casework.readiness import answers_ready
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / ".local" / "logs"
COLOURS = ["cyan", "green", "magenta", "yellow", "blue", "bright_red", "bright_cyan"]
# Start-up chatter of the libraries underneath; their warnings and errors still show.
QUIET = ("Received", "Processed", "callback for", "Auto create topics", "Consumer ", "FastStream app",
         "Started server process", "Uvicorn running", "Waiting for", "Application ", "Finished server",
         "Topic ", "Failed fetch offsets", "Marking the coordinator", "Group Coordinator", "Shutting down")
console = Console(highlight=False)


def services() -> list[str]:
    found = sorted(p.parent.name for p in (ROOT / "services").glob("*/app.py"))
    return sorted(found, key=lambda s: own_port(s) or 99999)


def own_port(service: str) -> int | None:
    """The ops port a service has by default, from its settings group: not the group's value,
    which a ``CASEWORK_OPS_PORT`` set for ``make run`` would make the same for every service."""
    group = Settings.model_fields.get(service)
    ops_port = group.annotation.model_fields.get("ops_port") if group and group.annotation else None
    return ops_port.default if ops_port else None


def port_of(service: str, settings: Settings) -> int:
    return settings.status.dashboard_port if service == "status" else own_port(service) or 8090


class Supervisor:
    def __init__(self) -> None:
        self.settings = Settings()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.started_infra = False
        self.stopping = False

    def infra_answering(self) -> bool:
        probe = [sys.executable, str(ROOT / "infra" / "probe.py")]
        return all(subprocess.run([*probe, kind, "127.0.0.1", port], capture_output=True).returncode == 0
                   for kind, port in (("kafka", "9092"), ("mongo", "27017")))

    def infra_up(self) -> None:
        if self.infra_answering():
            console.print("[dim]Kafka and FerretDB already running[/]")
            return
        subprocess.run(["bash", str(ROOT / "infra" / "up.sh")], check=True)
        self.started_infra = True

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        self.procs[name] = subprocess.Popen(
            argv, cwd=ROOT, env=os.environ | {"PYTHONUNBUFFERED": "1"} | env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)

    def start_all(self) -> None:
        if (ROOT / "services" / "notify" / "sink.py").exists():
            self.spawn("mailsink", [sys.executable, "-m", "services.notify.sink"], {})
        for name in services():
            argv = [sys.executable, "-m", "faststream", "run", "--factory", f"services.{name}.app:create_app"]
            self.spawn(name, argv, {"CASEWORK_OPS_PORT": str(port_of(name, self.settings))})

    async def wait_ready(self, timeout: float = 120) -> None:
        pending = set(services())
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while pending and time.monotonic() < deadline:
                for name in sorted(pending):
                    if self.procs[name].poll() is not None:
                        raise SystemExit(f"{name} exited ({self.procs[name].returncode}); see .local/logs/{name}.log")
                    if await answers_ready(client, port_of(name, self.settings)):
                        pending.discard(name)
                        console.print(f"[green]✓[/] {name} ready")
                await asyncio.sleep(0.5)
        if pending:
            raise SystemExit(f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))} (see .local/logs/)")

    def load_roster(self) -> None:
        roster = ROOT / "examples" / "roster.yaml"
        if roster.exists():
            done = subprocess.run([sys.executable, "-m", "casework", "roster", "load", str(roster)],
                                  cwd=ROOT, capture_output=True, text=True)
            console.print("[green]✓[/] demo roster loaded from examples/roster.yaml" if done.returncode == 0
                          else f"[red]roster load failed:[/] {done.stderr.strip()[-500:]}")

    def banner(self) -> None:
        s = self.settings
        tokens = _dashboard_tokens(s)
        lines = [
            "[bold]casework is running[/]",
            f"  Dashboard   {s.status.dashboard_url}" + ("  — sign in with a token:" if tokens else ""),
            *[f"              {name:<15} {token}" for name, token in tokens],
            f"  Mail        {s.notify.outbox_dir}/ (one .eml per message)",
            f"  Servers     Kafka {s.kafka_bootstrap}, FerretDB 127.0.0.1:27017",
            "  Try         .venv/bin/casework publish examples/events/encounter.json",
            "              .venv/bin/casework simulate --encounters 50 --rate 5",
            "              .venv/bin/casework case show <case id>",
            "  Logs        .local/logs/<service>.log",
            "  Health      http://127.0.0.1:808[1-5]/readyz and /metrics",
            "  Stop        Ctrl-C (stops all this command started)",
        ]
        console.rule()
        for line in lines:
            console.print(line, soft_wrap=True)
        console.rule()

    async def follow(self) -> None:
        await asyncio.gather(*(self._follow(name, proc, COLOURS[i % len(COLOURS)])
                               for i, (name, proc) in enumerate(self.procs.items())))

    async def _follow(self, name: str, proc: subprocess.Popen[bytes], colour: str) -> None:
        loop = asyncio.get_running_loop()
        stdout = proc.stdout
        if stdout is None:  # spawned with stdout=PIPE: never
            return
        with (LOGS / f"{name}.log").open("ab") as log:
            while True:
                line = await loop.run_in_executor(None, stdout.readline)
                if not line:
                    break
                log.write(line)
                log.flush()
                text = _compact(line.decode(errors="replace"))
                if text:
                    console.print(f"[{colour}]{name:>13}[/] {text}", markup=True, soft_wrap=True)
        if not self.stopping:
            console.print(f"[red]{name} exited with {proc.poll()}[/] — see .local/logs/{name}.log")

    def stop_all(self) -> None:
        self.stopping = True
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if self.started_infra:
            subprocess.run(["bash", str(ROOT / "infra" / "down.sh")], check=False)
        left = "Kafka and FerretDB stopped too" if self.started_infra else \
            "Kafka and FerretDB left running (started before; `make infra-down` stops them)"
        console.print(f"[bold]stopped[/] {', '.join(self.procs) or 'nothing'}; {left}")


def _dashboard_tokens(settings: Settings) -> list[tuple[str, str]]:
    """The development sign-in tokens the status service generated (none when configured)."""
    path = ROOT / settings.status.dev_dashboard_tokens_path
    if settings.status.dashboard_tokens or not path.exists():
        return []
    try:
        return sorted(json.loads(path.read_text())["tokens"].items())
    except (ValueError, KeyError, TypeError, AttributeError):
        return []


def _compact(line: str) -> str:
    try:
        entry = json.loads(line)
    except ValueError:
        return line.rstrip()
    event = str(entry.pop("event", ""))
    level = entry.pop("level", "info")
    if level == "debug" or event.startswith(QUIET) or "NotLeaderForPartition" in event:
        return ""
    for noise in ("timestamp", "logger", "group_id", "message_id", "topic", "stack", "service", "event_id"):
        entry.pop(noise, None)
    style = {"warning": "yellow", "error": "red", "critical": "red"}.get(level)
    details = " ".join(f"{k}={v}" for k, v in entry.items() if k != "correlation_id")
    text = f"{event} [dim]{details}[/]" if details else event
    return f"[{style}]{text}[/]" if style else text


async def main() -> None:
    supervisor = Supervisor()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        supervisor.infra_up()
        supervisor.start_all()
        follower = asyncio.create_task(supervisor.follow())
        await supervisor.wait_ready()
        supervisor.load_roster()
        supervisor.banner()
        await stop.wait()
        console.print("\n[bold]stopping…[/]")
        follower.cancel()
    finally:
        supervisor.stop_all()


if __name__ == "__main__":
    asyncio.run(main())

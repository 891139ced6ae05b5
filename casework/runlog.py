"""What ``make run`` shows on the console: compact log lines, exits, the tail of a log.

Each process logs in full to its own file; the console gets one short line per entry,
without the start-up chatter of the libraries underneath and without a line the same
process just printed (a broker that went away makes every client say so many times a
second).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

from rich.markup import escape

from casework.restarts import GiveUp, Restart, RestartPolicy, describe_window

COLOURS = ["cyan", "green", "magenta", "yellow", "blue", "bright_red", "bright_cyan"]
# Start-up chatter of the libraries underneath; their warnings and errors still show.
QUIET = ("Received", "Processed", "callback for", "Auto create topics", "Consumer ", "FastStream app",
         "Started server process", "Uvicorn running", "Waiting for", "Application ", "Finished server",
         "Topic ", "Failed fetch offsets", "Marking the coordinator", "Group Coordinator", "Shutting down")
TITLES = {"kafka": "Kafka", "ferretdb": "FerretDB"}
NOISE = ("timestamp", "logger", "group_id", "message_id", "topic", "stack", "service", "event_id")


def compact(line: str, *, hide: tuple[str, ...] = ()) -> str:
    """One log line as the console shows it (rich markup), or ``""`` to leave it out: also
    the lines of the loggers named in ``hide`` (and their children)."""
    try:
        entry = json.loads(line)
    except ValueError:
        return line.rstrip()
    if not isinstance(entry, dict):
        return line.rstrip()
    event = str(entry.pop("event", ""))
    level = entry.pop("level", "info")
    if level == "debug" or event.startswith(QUIET) or "NotLeaderForPartition" in event:
        return ""
    if hide and str(entry.get("logger", "")).split(".")[0] in hide:
        return ""
    for noise in NOISE:
        entry.pop(noise, None)
    style = {"warning": "yellow", "error": "red", "critical": "red"}.get(level)
    details = " ".join(f"{k}={v}" for k, v in entry.items() if k != "correlation_id")
    text = f"{event} [dim]{details}[/]" if details else event
    return f"[{style}]{text}[/]" if style else text


def describe_exit(returncode: int | None) -> str:
    """How a process ended, from its return code (negative: the signal that killed it)."""
    if returncode is None:
        return "exit status unknown"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def tail(path: Path, lines: int = 20, *, max_bytes: int = 64 * 1024) -> list[str]:
    """The last ``lines`` lines of a log file (none when it does not exist)."""
    try:
        with path.open("rb") as log:
            log.seek(0, 2)
            size = log.tell()
            log.seek(max(0, size - max_bytes))
            text = log.read().decode(errors="replace")
    except FileNotFoundError:
        return []
    found = text.splitlines()
    if size > max_bytes:
        found = found[1:]  # the first one is cut
    return found[-lines:]


class Repeats:
    """Whether a line is worth printing: not when the same process printed it within ``seconds``."""

    def __init__(self, seconds: float = 10.0, *, remember: int = 2000) -> None:
        self.seconds = seconds
        self.remember = remember
        self._shown: dict[tuple[str, str], float] = {}

    def fresh(self, name: str, text: str, now: float) -> bool:
        shown = self._shown.get((name, text))
        if shown is not None and now - shown < self.seconds:
            return False
        self._shown[(name, text)] = now
        if len(self._shown) > self.remember:
            self._shown = {key: at for key, at in self._shown.items() if now - at < self.seconds}
        return True


def restart_line(name: str, how: str, restart: Restart, policy: RestartPolicy) -> str:
    """The console line for a process that died and starts again after a backoff."""
    return (f"[red]✗ {name} died ({how})[/]; restarting it in {restart.delay:g} s"
            f" [dim]— crash {restart.crashes}, left stopped at {policy.max_crashes}"
            f" within {describe_window(policy.window)}[/]")


def gave_up_lines(name: str, how: str, gave_up: GiveUp, log: str, last: list[str]) -> list[str]:
    """The report on a process that keeps dying: why it is left stopped, and its log's last lines."""
    lines = [f"[bold red]✗ {name} died again ({how}): {gave_up.crashes} crashes within"
             f" {describe_window(gave_up.window)}, so it is left stopped[/]; the rest keep running.",
             f"  The last lines of {log}:" if last else f"  {log} is empty."]
    lines += [f"  [dim]│[/] {escape(line)}" for line in last]
    lines.append(f"  Fix the cause, then Ctrl-C and `make run` again to start {name}.")
    return lines


def titles(servers: list[str]) -> str:
    """``["kafka", "ferretdb"]`` → ``Kafka and FerretDB``."""
    return " and ".join(TITLES.get(name, name) for name in servers)


def stopped_line(stopped: list[str], ours: list[str], left: list[str], given_up: list[str]) -> str:
    """What Ctrl-C stopped: the processes, the servers this run started, and what it left alone."""
    notes = [f"{titles(ours)} stopped too"] if ours else []
    if left:
        notes.append(f"{titles(left)} left running (started before; `make infra-down` stops them)")
    if given_up:
        notes.append(f"{', '.join(given_up)} had stopped already")
    return f"[bold]stopped[/] {', '.join(stopped) or 'nothing'}; {'; '.join(notes)}"

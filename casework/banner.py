"""The banner ``make run`` prints once everything is up: where to look and what to try."""

from __future__ import annotations

import json
from pathlib import Path

from casework.programs import ORDER
from casework.restarts import RestartPolicy, describe_window
from shared.settings import Settings


def dashboard_tokens(settings: Settings, root: Path) -> list[tuple[str, str]]:
    """The development sign-in tokens the status service generated (none when configured)."""
    path = root / settings.status.dev_dashboard_tokens_path
    if settings.status.dashboard_tokens or not path.exists():
        return []
    try:
        return sorted(json.loads(path.read_text())["tokens"].items())
    except (ValueError, KeyError, TypeError, AttributeError):
        return []


def _clients(settings: Settings) -> str:
    """Where the client kinds' connection files are, beside the principals' (casework/localkafka.py)."""
    assert settings.kafka_credentials_dir is not None
    clients = settings.kafka_credentials_dir.parent / "clients"
    try:
        return str(clients.relative_to(Path.cwd()))
    except ValueError:
        return str(clients)


def banner_lines(settings: Settings, policy: RestartPolicy, *, mongo: tuple[str, int], logs: str,
                 tokens: list[tuple[str, str]], given_up: list[str]) -> list[str]:
    s, p = settings, policy
    first, last = s.run.ops_base_port, s.run.ops_base_port + len(ORDER) - 1
    lines = [
        "[bold]casework is running[/]",
        f"  Dashboard   {s.status.dashboard_url}" + ("  — sign in with a token:" if tokens else ""),
        *[f"              {name:<15} {token}" for name, token in tokens],
        f"  Mail        {s.notify.outbox_dir}/ (one .eml per message)",
        f"  Servers     Kafka {s.kafka_bootstrap}, FerretDB {mongo[0]}:{mongo[1]}",
        *([f"  Clients     Kafka is {s.kafka_security_protocol}: each outside client's connection in "
           f"{_clients(s)}/<kind>.json", "              (agency, specialist_app, provider_system, dashboard_reader, "
           "operator; examples/kafka_client.py)"] if s.kafka_credentials_dir else []),
        "  Try         .venv/bin/casework publish examples/events/encounter.json",
        "              .venv/bin/casework simulate --encounters 50 --rate 5",
        "              .venv/bin/casework case show <case id>",
        f"  Logs        {logs}/<service>.log",
        f"  Health      http://127.0.0.1:{first}/readyz … :{last}/readyz, and /metrics",
        f"  Restarts    what dies, after {p.first_delay:g} s, {p.delay(2):g} s, {p.delay(3):g} s …;"
        f" left stopped after {p.max_crashes} crashes within {describe_window(p.window)}",
        "  Stop        Ctrl-C (stops all this command started)",
    ]
    if given_up:
        lines.append(f"  [red]Stopped     {', '.join(given_up)} (kept dying: see above)[/]")
    return lines

"""``casework status ...`` and ``casework case show``: the status read model and dashboard access.

* ``status rebuild``: a fresh read model from the topics (stop the status service first);
* ``status token``: a new dashboard token and the ``CASEWORK_DASHBOARD_TOKENS`` entry for it;
* ``status dev-tokens``: the development tokens ``make run`` uses (generated once);
* ``case show CASE_ID``: one case's snapshot and timeline, audited like a dashboard view.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from shared import environment
from shared.settings import Settings

console = Console(highlight=False)


def register(app: typer.Typer) -> None:
    status = typer.Typer(help="The case status read model and the dashboard's access.", no_args_is_help=True)
    case = typer.Typer(help="Look at one case (no PII: the status read model has none).", no_args_is_help=True)

    @status.command("rebuild")
    def rebuild(publish: bool = typer.Option(True, help="Publish the rebuilt snapshots on cases.status"),
                force: bool = typer.Option(False, help="Rebuild even if a status service reported in lately")) -> None:
        """Drop the read model and fold every input topic again from the beginning."""
        from services.status.rebuild import ServiceRunning
        from services.status.rebuild import rebuild as run

        try:
            report = asyncio.run(run(Settings(), publish=publish, force=force))
        except (ServiceRunning, TimeoutError) as exc:  # a stalled broker: run it again
            console.print(f"[red]{exc}[/]")
            raise typer.Exit(1) from None
        table = Table("events folded", "skipped", "unreadable", "cases", "identical", "differing", "new", "missing")
        table.add_row(*(str(v) for v in (report.events, report.skipped, report.invalid, report.cases, report.identical,
                                         len(report.differing), len(report.new), len(report.missing))))
        console.print(table)
        for label, ids in (("differing", report.differing), ("missing", report.missing)):
            if ids:
                console.print(f"[yellow]{label}:[/] {', '.join(ids[:20])}{' ...' if len(ids) > 20 else ''}")
        raise typer.Exit(1 if report.differing or report.missing else 0)

    @status.command("token")
    def token(name: str = typer.Option(..., help="Who holds it (shows in the audit log)"),
              role: str = typer.Option(..., help="supervisor, specialist, analyst or auditor"),
              agency: Annotated[list[str] | None, typer.Option(help="An agency in scope (repeat; * for all)")] = None,
              specialist_id: str | None = typer.Option(None, help="A specialist's roster id")) -> None:
        """Print a new token (shown once) and its entry for CASEWORK_DASHBOARD_TOKENS (hash only)."""
        from pydantic import ValidationError

        from services.status.access import Role, new_token

        if role not in set(Role):
            console.print(f"[red]no role {role!r}: one of {', '.join(Role)}[/]")
            raise typer.Exit(2)
        try:
            secret, principal = new_token(name, Role(role), agency or [], specialist_id)
        except ValidationError as exc:
            console.print(f"[red]{exc.errors()[0]['msg']}[/]")
            raise typer.Exit(2) from None
        console.print(f"token (give it to {name}; it is not stored): [bold]{secret}[/]")
        console.print("entry for CASEWORK_DASHBOARD_TOKENS:")
        typer.echo(json.dumps(principal.model_dump(mode="json")))

    @status.command("dev-tokens")
    def dev_tokens(as_json: bool = typer.Option(False, "--json", help="Print them as JSON")) -> None:
        """The development tokens (generated once under .local/); refused in production."""
        from services.status.access import dev_tokens as load

        settings = Settings()
        if environment.production(settings):
            console.print("[red]no development tokens in production[/] (a local run sets "
                          "CASEWORK_ENVIRONMENT=development: production is the default)")
            raise typer.Exit(1)
        data = load(settings)
        if as_json:
            typer.echo(json.dumps(data["tokens"]))
            return
        for principal in data["principals"]:
            scope = principal.get("specialist_id") or ", ".join(principal["agencies"]) or "the trail"
            console.print(f"{principal['role']:<11} {scope:<10} {data['tokens'][principal['name']]}")

    @case.command("show")
    def show(case_id: str) -> None:
        """A case's snapshot and timeline from the read model (logged as ``case viewed``)."""
        detail = asyncio.run(_load(case_id))
        if detail is None:
            console.print(f"[red]no opened case {case_id}[/]")
            raise typer.Exit(1)
        typer.echo(detail["case"].model_dump_json(indent=2))
        table = Table("at", "kind", "what", title="timeline")
        for moment in reversed(detail["timeline"]):
            table.add_row(moment["at"], moment["kind"], moment["text"])
        console.print(table)

    app.add_typer(status, name="status")
    app.add_typer(case, name="case")


async def _load(case_id: str) -> dict | None:
    import getpass

    from services.status import casefile
    from shared.mongo import make_client

    settings = Settings()
    client = make_client(settings)
    try:
        view = await casefile.load(client[settings.database("status")][casefile.COLLECTION], case_id)
    finally:
        await client.close()
    casefile.audit(case_id, viewer=f"cli:{getpass.getuser()}", role="operator", via="cli", allowed=view is not None)
    return casefile.document(view) if view is not None else None

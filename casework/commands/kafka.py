"""``casework kafka acls``: the broker's access control list, as derived from the topic catalogue."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from shared.acls import acls
from shared.settings import Settings


def register(app: typer.Typer) -> None:
    kafka = typer.Typer(help="The broker's principals and ACLs.", no_args_is_help=True)

    @kafka.command("acls")
    def show(as_json: Annotated[bool, typer.Option("--json", help="One JSON object per ACL")] = False) -> None:
        """Print every ACL: principal, operation, resource (topics named with CASEWORK_TOPIC_PREFIX)."""
        rules = acls(Settings().topic_prefix)
        if as_json:
            for rule in rules:
                typer.echo(json.dumps({"principal": f"User:{rule.user}", "operation": rule.operation,
                                       "resource_type": rule.resource, "resource_name": rule.name,
                                       "pattern_type": "prefixed" if rule.prefixed else "literal"}))
            return
        width = max(len(r.user) for r in rules)
        for rule in rules:
            pattern = f"{rule.name}*" if rule.prefixed else rule.name
            typer.echo(f"User:{rule.user:<{width}}  {rule.operation:<15}  {rule.resource}:{pattern}")

    app.add_typer(kafka, name="kafka")

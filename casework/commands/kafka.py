"""``casework kafka acls``: the broker's access control list, as derived from the topic catalogue;
``--apply`` creates it on the broker (as a principal allowed to: the local ``casework-admin``)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from aiokafka.admin import AIOKafkaAdminClient

from shared import authorizer
from shared.acls import Acl, acls
from shared.kafka import connection
from shared.settings import Settings


async def apply(settings: Settings, rules: list[Acl]) -> tuple[int, int]:
    admin = AIOKafkaAdminClient(**connection(settings, "admin"), client_id="casework-acls")
    await admin.start()
    try:
        return await authorizer.converge(admin, rules, settings.topic_prefix)
    finally:
        await admin.close()


def register(app: typer.Typer) -> None:
    kafka = typer.Typer(help="The broker's principals and ACLs.", no_args_is_help=True)

    @kafka.command("acls")
    def show(as_json: Annotated[bool, typer.Option("--json", help="One JSON object per ACL")] = False,
             to_broker: Annotated[bool, typer.Option("--apply", help="Create them on the broker (idempotent)")] = False,
             quiet: Annotated[bool, typer.Option("--quiet", help="With --apply: print one line only")] = False) -> None:
        """Print every ACL: principal, operation, resource (topics named with CASEWORK_TOPIC_PREFIX)."""
        settings = Settings()
        rules = acls(settings.topic_prefix)
        if to_broker:
            try:
                sent, removed = asyncio.run(apply(settings, rules))
            except (authorizer.AclError, ValueError, OSError) as exc:
                typer.echo(f"could not apply the ACLs: {exc}", err=True)
                raise typer.Exit(1) from None
            principals = len({r.principal for r in rules})
            typer.echo(f"kafka: {sent} ACLs applied for {principals} principals, {removed} no longer in the "
                       f"catalogue removed (casework kafka acls lists them)")
            if quiet:
                return
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

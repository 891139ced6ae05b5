"""``casework providers load FILE.yaml``: check a provider directory file, then publish it to
``providers.registered``.

The file is a list of entries (or a mapping whose ``providers`` key holds the list). Each
entry is a ``casework.provider.registered.v1`` payload: ``provider_id``, ``name``,
``kinds`` (``shelter medical legal food clothing childcare safety mental_health
interpretation other``), ``regions`` (``*`` = any), ``languages``, ``email``,
``webhook_url?``, ``accepting`` (default true). ``removed: true`` removes a provider.
A shelter's entry names the organisation, never where the shelter is.
"""

from __future__ import annotations

import typer

from casework.registrations import Entry, Registrations
from shared.contracts.inbound import ProviderRegistered

PROVIDERS = Registrations(ProviderRegistered, id_field="provider_id", list_key="providers",
                          source="casework/providers")


def parse(text: str) -> list[Entry]:
    return PROVIDERS.parse(text)


def register(app: typer.Typer) -> None:
    providers = typer.Typer(help="The directory of support-service providers (shelter, medical, legal, …).",
                            no_args_is_help=True)
    PROVIDERS.command(providers)
    app.add_typer(providers, name="providers")

"""``casework roster load FILE.yaml``: check a roster file, then publish it to ``roster.specialists``.

The file is a list of entries (or a mapping whose ``specialists`` key holds the list).
Each entry is a ``casework.specialist.registered.v1`` payload: ``specialist_id``,
``agency_id``, ``name``, ``email``, ``phone?``, ``webhook_url?``, ``languages``, ``regions``
(``*`` = any), ``role`` (``victim_specialist`` or ``supervisor``), ``on_duty``,
``max_active_cases``. An entry with ``removed: true`` removes the specialist (a null
value on the compacted topic). Every entry is checked before anything is published; a
mistake names the entry and the field, and nothing is sent.
"""

from __future__ import annotations

import typer

from casework.registrations import Entry, Registrations
from casework.registrations import RegistrationError as RosterError
from shared.contracts.inbound import SpecialistRegistered

ROSTER = Registrations(SpecialistRegistered, id_field="specialist_id", list_key="specialists",
                       source="casework/roster")
SOURCE = ROSTER.source
__all__ = ["ROSTER", "Entry", "RosterError", "parse", "register"]


def parse(text: str) -> list[Entry]:
    return ROSTER.parse(text)


def register(app: typer.Typer) -> None:
    roster = typer.Typer(help="The roster of victim specialists and supervisors.", no_args_is_help=True)
    ROSTER.command(roster)
    app.add_typer(roster, name="roster")

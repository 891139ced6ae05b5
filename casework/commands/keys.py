"""``casework keys new``: a fresh AES-256 key for the intake vault's key ring."""

from __future__ import annotations

import typer

from shared.crypto import new_key


def register(app: typer.Typer) -> None:
    keys = typer.Typer(help="The intake vault's key ring.", no_args_is_help=True)

    @keys.command("new")
    def new(key_id: str = typer.Argument(..., help="An id for the key, e.g. 2026-11")) -> None:
        """Print a new key as a CASEWORK_PII_KEYS entry; add it and make it active to rotate."""
        typer.echo(f'"{key_id}": "{new_key()}"')

    app.add_typer(keys, name="keys")

"""``casework keys new|rotate``: the intake vault's key ring.

* ``keys new ID``: a fresh AES-256 key, as a ``CASEWORK_PII_KEYS`` entry;
* ``keys rotate``: every case file sealed under another key sealed again under the active
  one (safe while intake runs, and to repeat), then which keys may leave the ring;
  ``--check`` only counts the case files under each key.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer

from shared.crypto import KeyRing, VaultKeyError, new_key
from shared.settings import Settings

if TYPE_CHECKING:
    from collections import Counter

    from services.intake.rotation import Rotation


async def rotation(settings: Settings, keyring: KeyRing, *, check: bool = False) -> Rotation:
    """Re-seal intake's case files under ``keyring``'s active key (``check``: count them only)."""
    from services.intake.rotation import CASES, Rotation, key_usage, rotate
    from shared.mongo import make_client

    client = make_client(settings)
    try:
        cases = client[settings.database("intake")][CASES]
        if check:
            return Rotation(keyring.active, keyring.key_ids, in_use=await key_usage(cases))
        return await rotate(cases, keyring)
    finally:
        await client.close()


def usage(in_use: Counter[str]) -> str:
    return ", ".join(f"{key_id} {count}" for key_id, count in sorted(in_use.items())) or "no case files"


def summary(report: Rotation, *, check: bool = False) -> list[str]:
    """What a pass did and what follows from it, for the operator (ids and counts, never content)."""
    active = report.active
    lines = [] if check else [
        f"re-sealed under {active}: {sum(report.resealed.values())}"
        + (f" (from {usage(report.resealed)})" if report.resealed else ""),
        f"already under {active}: {report.current}",
        *([f"writes retried after intake changed the case file: {report.conflicts}"] if report.conflicts else []),
        *(f"could not open {doc_id}: {why}" for doc_id, why in sorted(report.unopenable.items())),
        *([f"changed under every attempt, run again: {', '.join(report.busy)}"] if report.busy else []),
    ]
    lines.append(f"case files per key id now: {usage(report.in_use)}")
    if report.still_needed:
        lines.append(f"still sealed under {', '.join(report.still_needed)}: keep "
                     f"{'them' if len(report.still_needed) > 1 else 'it'} in CASEWORK_PII_KEYS"
                     + ("" if check else f" (an intake still sealing with another key than {active}? "
                                         "restart every intake with the new ring, then run this again)"))
    if report.removable:
        lines.append(f"no case file is sealed under {', '.join(report.removable)} any more: once every intake "
                     f"runs with CASEWORK_PII_ACTIVE_KEY_ID={active}, remove "
                     f"{'them' if len(report.removable) > 1 else 'it'} from CASEWORK_PII_KEYS")
    return lines


def register(app: typer.Typer) -> None:
    keys = typer.Typer(help="The intake vault's key ring.", no_args_is_help=True)

    @keys.command("new")
    def new(key_id: str = typer.Argument(..., help="An id for the key, e.g. 2026-11")) -> None:
        """Print a new key as a CASEWORK_PII_KEYS entry; add it and make it active to rotate."""
        typer.echo(f'"{key_id}": "{new_key()}"')

    @keys.command("rotate")
    def rotate(check: bool = typer.Option(False, "--check", help="Only count the case files under each key")) -> None:
        """Seal every case file under an older key again under CASEWORK_PII_ACTIVE_KEY_ID.

        Run it once every intake runs with the ring that holds the new key as the active one
        and the old keys beside it. Safe while intake runs, and to repeat.
        """
        settings = Settings()
        try:
            report = asyncio.run(rotation(settings, KeyRing.from_settings(settings), check=check))
        except VaultKeyError as exc:
            typer.echo(f"the key ring: {exc}", err=True)
            raise typer.Exit(2) from None
        for line in summary(report, check=check):
            typer.echo(line)
        raise typer.Exit(0 if report.complete else 1)

    app.add_typer(keys, name="keys")

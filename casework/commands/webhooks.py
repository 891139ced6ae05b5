"""``casework webhook``: hand a receiver its secret, and check a signed request by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shared.settings import Settings
from shared.webhooks import (
    DEFAULT_TOLERANCE_SECONDS,
    SignatureError,
    recipient_secret,
    signing_key,
    signing_keys,
    verify,
)


def register(app: typer.Typer) -> None:
    webhook = typer.Typer(help="Signed notification webhooks (X-Casework-Signature).", no_args_is_help=True)

    @webhook.command("secret")
    def secret(recipient_id: Annotated[str, typer.Argument(
            help="The receiver's roster specialist_id, or a provider's provider_id")]) -> None:
        """Print the secret a receiver verifies its webhooks with (derived from the signing key).

        During a rotation (CASEWORK_WEBHOOK_PREVIOUS_SIGNING_KEY set) this is the new secret;
        webhooks carry a signature under the previous one too until that key is unset.
        """
        settings = Settings()
        typer.echo(recipient_secret(signing_key(settings), recipient_id))
        if len(signing_keys(settings)) > 1:
            typer.echo("a rotation is under way: webhooks are signed with this secret and the previous one, "
                       "until CASEWORK_WEBHOOK_PREVIOUS_SIGNING_KEY is unset", err=True)

    @webhook.command("verify")
    def check(body: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The raw request body")],
              signature: Annotated[str, typer.Option(help="The X-Casework-Signature header value")],
              secret: Annotated[str, typer.Option(help="The receiver's secret")],
              tolerance: Annotated[float, typer.Option(help="Seconds a timestamp may be off")]
              = DEFAULT_TOLERANCE_SECONDS) -> None:
        """Check a saved request body against its signature header, as a receiver must."""
        try:
            stamped = verify(secret, body.read_bytes(), signature, tolerance=tolerance)
        except SignatureError as exc:
            typer.echo(f"invalid: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"valid: signed at {stamped}")

    app.add_typer(webhook, name="webhook")

"""``casework simulate``: realistic synthetic traffic with a progress bar and a summary."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from casework.simulation import Shares, Simulation
from shared.settings import Settings

console = Console(highlight=False)


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        encounters: int = typer.Option(100, "--encounters", "-n", min=1, help="how many encounters to report"),
        rate: float = typer.Option(5.0, "--rate", "-r", min=0.1, help="encounters per second"),
        accept: float = typer.Option(0.75, min=0, max=1, help="share of referrals accepted"),
        decline: float = typer.Option(0.15, min=0, max=1, help="share declined (the rest are ignored)"),
        minors: float = typer.Option(0.15, min=0, max=1, help="share of minors"),
        interviews: float = typer.Option(0.6, min=0, max=1, help="share of accepted cases with an interview"),
        certifications: float = typer.Option(0.35, min=0, max=1, help="share with a certification request"),
        malformed: float = typer.Option(0.02, min=0, max=1, help="share of broken encounters"),
        services: float = typer.Option(0.5, min=0, max=1, help="share of urgent needs met through a provider"),
        provider_declines: float = typer.Option(0.2, min=0, max=1, help="share of service requests declined"),
        consents: float = typer.Option(0.6, min=0, max=1,
                                       help="share of service requests with a written or electronic consent first"),
        verbal_consents: float = typer.Option(0.1, min=0, max=1, help="share with only a verbal consent"),
        revocations: float = typer.Option(0.07, min=0, max=1, help="share of consents revoked later"),
        seed: int | None = typer.Option(None, help="for a repeatable run"),
        settle: float = typer.Option(10.0, help="seconds to keep watching after the last reaction"),
    ) -> None:
        """Agencies report, specialists accept/decline/ignore, milestones, interviews, certifications,
        service requests with the person's consents."""
        if accept + decline > 1:
            raise typer.BadParameter("--accept plus --decline must be at most 1")
        if consents + verbal_consents > 1:
            raise typer.BadParameter("--consents plus --verbal-consents must be at most 1")
        shares = Shares(accept, decline, minors, interviews, certifications, malformed, services, provider_declines,
                        consents, verbal_consents, revocations)
        simulation = Simulation(Settings(), encounters, rate, shares=shares, seed=seed)
        with Progress(TextColumn("[bold]reporting encounters"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("encounters", total=encounters)
            summary = asyncio.run(simulation.execute(lambda n: bar.update(task, completed=n), settle=settle))
        table = Table(title=f"simulation {simulation.run}", show_header=False)
        for name, value in summary.table():
            table.add_row(name, value)
        console.print(table)

"""``casework``: publish events, load the roster, simulate traffic, inspect and repair.

Each module in :mod:`casework.commands` adds its commands through ``register(app)``.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

from casework import commands

app = typer.Typer(name="casework",
                  help="Operator tools: publish events, load the roster, simulate traffic, inspect and repair.",
                  no_args_is_help=True, add_completion=False, rich_markup_mode="rich")


def _register_commands() -> None:
    for module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{module.name}").register(app)


_register_commands()


def main() -> None:
    app()

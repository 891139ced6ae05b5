"""Development secrets, generated once under ``.local/`` so ``make run`` needs no setup.

Callers refuse to generate anything in production (``shared.environment``), where the real
secret must be set, and refuse a configured secret that is one generated here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def generated_once(path: Path, make: Callable[[], str]) -> str:
    """The secret stored at ``path``, written by ``make()`` (mode 0600) if it is not there yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(make())
        try:
            os.link(tmp, path)  # atomic: a concurrent first start keeps the secret that won
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text()


def generated(path: Path) -> str | None:
    """The development secret at ``path`` if one was generated there (never generates one):
    what production checks its own secrets against."""
    try:
        return path.read_text()
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None


def rewritten(path: Path, text: str) -> None:
    """Replace the secret at ``path`` with ``text``, atomically and still mode 0600."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)

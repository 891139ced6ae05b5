"""Importing any module of the project builds nothing and writes nothing.

Services are built by their ``create_app`` factories, never at import: a test, a tool or
the AsyncAPI generator may import any module without a key ring, a token file or a
broker appearing. Checked in a fresh interpreter, in an empty working directory (where
development secrets would otherwise be written) with no ``CASEWORK_`` settings.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "services", "casework", "bench")


def modules() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__main__":  # ``python -m`` entry points: running is what they are for
                continue
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def test_every_module_imports_without_writing_anything(tmp_path: Path) -> None:
    names = modules()
    assert len(names) > 100, names
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEWORK_")}
    env |= {"PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(tmp_path)}
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run([sys.executable, "-c", script, *names], cwd=work, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in work.rglob("*")) == []
    assert done.stdout == ""

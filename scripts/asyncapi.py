"""Generate (``--write``) or verify (``--check``) the committed AsyncAPI documents.

Each service's document is what ``faststream docs gen`` derives from its subscribers and
publishers, whose payload schemas are the pydantic contracts in ``shared/contracts``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "asyncapi"


def services() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "services").glob("*/app.py"))


def generate(service: str, out: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEWORK_")}
    env["CASEWORK_ENVIRONMENT"] = "development"  # a local build of the app, never served
    env["CASEWORK_DEV_KEYRING_PATH"] = str(Path(tempfile.gettempdir()) / "casework-docs-keyring.json")
    env["CASEWORK_DEV_VAULT_READER_TOKEN_PATH"] = str(Path(tempfile.gettempdir()) / "casework-docs-vault-reader")
    # The broker as every deployment has it (SASL_SSL, SCRAM-SHA-512), whatever this checkout runs.
    env |= {"CASEWORK_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "CASEWORK_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "CASEWORK_KAFKA_SASL_USERNAME": f"casework-{service}", "CASEWORK_KAFKA_SASL_PASSWORD": "documented-only"}
    done = subprocess.run([sys.executable, "-m", "faststream", "docs", "gen", "--factory",
                           f"services.{service}.app:create_app",
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"faststream docs gen failed for {service}:\n{done.stdout}{done.stderr}")
    document = json.loads(out.read_text())
    out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="regenerate docs/asyncapi/")
    parser.add_argument("services", nargs="*", help="only these services")
    args = parser.parse_args()
    DOCS.mkdir(parents=True, exist_ok=True)
    stale = []
    with tempfile.TemporaryDirectory() as tmp:
        for service in args.services or services():
            fresh, committed = Path(tmp) / f"{service}.json", DOCS / f"{service}.json"
            generate(service, fresh)
            if args.write:
                committed.write_text(fresh.read_text())
            elif not committed.exists() or committed.read_text() != fresh.read_text():
                stale.append(service)
    if stale:
        print(f"AsyncAPI out of date for {', '.join(stale)}: run `make docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

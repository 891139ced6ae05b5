"""``casework publish``: a clear error pointing at the field, before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from casework.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_every_example_file_is_a_valid_event() -> None:
    files = sorted(str(p) for p in (ROOT / "examples" / "events").glob("*.json"))
    assert len(files) >= 7
    result = runner.invoke(app, ["publish", "--dry-run", "--case", "case-1", "--referral", "ref-1",
                                 "--encounter", "TX-DPS-2026-1", "--service-request", "sr-1", "--consent", "cs-1",
                                 *files])
    assert result.exit_code == 0, result.output
    assert f"valid: {len(files)} event(s)" in result.output


def test_a_wrong_field_is_named(tmp_path: Path) -> None:
    event = json.loads((ROOT / "examples" / "events" / "encounter.json").read_text())
    event["data"]["person"]["languages"] = []
    event["data"]["urgent_needs"] = ["money"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(event))
    result = runner.invoke(app, ["publish", str(path)])
    assert result.exit_code == 1
    assert "data.person.languages" in result.output and "data.urgent_needs.0" in result.output


def test_unknown_type_and_missing_placeholder_value(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"specversion": "1.0", "type": "casework.nothing.v1"}))
    result = runner.invoke(app, ["publish", str(path)])
    assert result.exit_code == 2 and "casework.encounter.reported.v1" in result.output
    needs_case = ROOT / "examples" / "events" / "interview-requested.json"
    result = runner.invoke(app, ["publish", "--dry-run", str(needs_case)], env={"CASE_ID": ""})
    assert result.exit_code == 2 and "--case" in result.output

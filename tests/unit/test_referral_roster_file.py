"""``casework roster load``: every entry checked, mistakes named by entry and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.cli import app
from casework.commands.roster import RosterError, parse
from shared.contracts.inbound import SpecialistRole

ROOT = Path(__file__).resolve().parents[2]
GOOD = """
- specialist_id: vs-1
  agency_id: tx-vs
  name: Ana
  email: ana@example.org
  languages: [en, es]
  regions: [US-TX, "*"]
  role: victim_specialist
  on_duty: yes
  max_active_cases: 5
- specialist_id: gone-1
  removed: true
"""


def test_the_demo_roster_is_valid_and_has_what_the_demo_needs() -> None:
    entries = parse((ROOT / "examples" / "roster.yaml").read_text())
    people = [p for _, p in entries if p is not None]
    specialists = [p for p in people if p.role == SpecialistRole.VICTIM_SPECIALIST]
    supervisors = [p for p in people if p.role == SpecialistRole.SUPERVISOR]
    assert len(specialists) == 8 and len(supervisors) == 3
    regions = {r for p in specialists for r in p.regions}
    assert {"US-TX", "US-CA", "US-NY", "*"} <= regions
    assert {"en", "es", "zh", "vi", "ar", "fr"} <= {lang for p in specialists for lang in p.languages}


def test_registrations_and_removals() -> None:
    [(sid, payload), (gone, tombstone)] = parse(GOOD)
    assert sid == "vs-1" and payload.on_duty is True and payload.regions == ["US-TX", "*"]
    assert (gone, tombstone) == ("gone-1", None)
    assert parse("specialists:" + GOOD.replace("\n", "\n  "))[0][0] == "vs-1"


@pytest.mark.parametrize(("text", "expected"), [
    (GOOD.replace("max_active_cases: 5", "max_active_cases: '5'"), "entry 1 ('vs-1'): field 'max_active_cases'"),
    (GOOD.replace("regions: [US-TX", "regions: [Texas"), "entry 1 ('vs-1'): field 'regions.0'"),
    (GOOD.replace("role: victim_specialist", "role: boss"), "entry 1 ('vs-1'): field 'role'"),
    (GOOD.replace("  on_duty: yes\n", ""), "entry 1 ('vs-1'): field 'on_duty': Field required"),
    (GOOD.replace("  name: Ana\n", "  name: Ana\n  salary: 1\n"), "entry 1 ('vs-1'): field 'salary'"),
    (GOOD.replace("removed: true", "removed: maybe"), "entry 2 ('gone-1'): field 'removed'"),
    (GOOD.replace("gone-1", "vs-1"), "entry 2 ('vs-1'): specialist_id appears more than once"),
    (GOOD.replace("specialist_id: gone-1", "specialist_id: 'bad id!'"), "entry 2 ('bad id!'): field 'specialist_id'"),
    ("just: [a, mapping]", "expected a list of specialists"),
    ("- [unclosed", "not YAML"),
    ("- 42", "entry 1: expected a mapping"),
])
def test_mistakes_name_the_entry_and_the_field(text: str, expected: str) -> None:
    with pytest.raises(RosterError) as caught:
        parse(text)
    assert any(p.startswith(expected) or expected in p for p in caught.value.problems), caught.value.problems


def test_the_command_publishes_nothing_when_any_entry_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "roster.yaml"
    bad.write_text(GOOD.replace("email: ana@example.org", "email: nope"))
    result = CliRunner().invoke(app, ["roster", "load", str(bad)])
    assert result.exit_code == 1
    assert "nothing published" in result.output and "field 'email'" in result.output
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    checked = CliRunner().invoke(app, ["roster", "load", str(good), "--dry-run"])
    assert checked.exit_code == 0 and "1 registration(s) and 1 removal(s)" in checked.output

"""``casework roster load`` on the real broker: registrations keyed by specialist, removals
as tombstones, and the referral service assigns from what was loaded."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from services.referral.app import bootstrap
from tests.support import referral as r
from tests.support.kafka import Bus

ROOT = Path(__file__).resolve().parents[2]


async def roster_load(settings, path: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "casework"), "roster", "load", str(path), cwd=ROOT,
        env=os.environ | settings.as_environment(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_the_demo_roster_is_published_and_used_and_a_removal_is_a_tombstone(
        settings, bus: Bus, tmp_path: Path) -> None:
    code, out = await roster_load(settings, ROOT / "examples" / "roster.yaml")
    assert code == 0, out
    records = await bus.read("roster.specialists", until=lambda recs: len(recs) >= 11)
    assert len(records) == 11 and all(rec.value and rec.key for rec in records)
    removal = tmp_path / "leave.yaml"
    removal.write_text("- specialist_id: vs-ny-dubois\n  removed: true\n")
    code, out = await roster_load(settings, removal)
    assert code == 0 and "1 removal(s)" in out, out
    records = await bus.read("roster.specialists", until=lambda recs: len(recs) >= 12)
    assert (records[-1].key, records[-1].value) == (b"vs-ny-dubois", None)
    async with bootstrap(settings).app:
        await bus.publish("cases.opened", r.case_opened("case-vi", region="US-NY", languages=["vi"]))
        await bus.publish("cases.opened", r.case_opened("case-fr", region="US-NY", languages=["fr"]))
        events = await bus.events("referrals.events", count=2, where=r.is_kind("assigned"))
    chosen = {e["subject"]: (e["data"]["specialist_id"], e["data"]["language_match"]) for e in events}
    assert chosen["case-vi"] == ("vs-ny-tran", True)
    # the French-speaking New York specialist left: the national one who speaks French takes it
    assert chosen["case-fr"] == ("vs-any-okafor", True)


async def test_a_wrong_file_publishes_nothing(settings, bus: Bus, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "examples" / "roster.yaml").read_text().replace("max_active_cases: 45",
                                                                            "max_active_cases: many"))
    code, out = await roster_load(settings, bad)
    assert code == 1 and "entry 5 ('vs-ca-morales'): field 'max_active_cases'" in out, out
    await bus.ensure("roster.specialists")
    assert await bus.read("roster.specialists", timeout=1) == []

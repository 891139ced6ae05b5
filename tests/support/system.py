"""The whole system as separate processes: six services under ``faststream run`` and the mail sink."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from pathlib import Path

import yaml

from casework.namespace import forget
from shared.settings import (
    DeliverySettings,
    KitSettings,
    NotifySettings,
    ReferralSettings,
    Settings,
    SmtpSettings,
    StabilizationSettings,
    StatusSettings,
)
from tests.support import acls
from tests.support.procs import ROOT, ServiceProcess, free_port

SERVICES = ("intake", "referral", "stabilization", "certification", "notify", "status")


def roster(capacity: int = 1000) -> dict:
    """Victim specialists in every region the tests use, and their supervisors."""
    def person(sid: str, role: str, regions: list[str], languages: list[str], agency: str = "TX-DPS") -> dict:
        return {"specialist_id": sid, "agency_id": agency, "name": f"Test {sid}", "email": f"{sid}@example.org",
                "languages": languages, "regions": regions, "role": role, "on_duty": True,
                "max_active_cases": capacity if role == "victim_specialist" else 0}
    return {"specialists": [
        person("vs-tx-1", "victim_specialist", ["US-TX"], ["en", "es"]),
        person("vs-tx-2", "victim_specialist", ["US-TX"], ["en", "es"]),
        *(person(f"vs-any-{i}", "victim_specialist", ["*"], ["en", "es", "zh", "vi", "ar", "fr", "ht"])
          for i in range(1, 7)),
        person("sup-tx", "supervisor", ["US-TX"], ["en"]),
        person("sup-all", "supervisor", ["*"], ["en"]),
        person("sup-fbi", "supervisor", ["US-FL"], ["en"], agency="FBI-MIA"),
    ]}


class System:
    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.outbox = settings.notify.outbox_dir
        self.services = {name: ServiceProcess(name, settings, self.logs) for name in SERVICES}
        # The dashboard reads an identity from intake's ops port, wherever the test put it.
        self.services["status"].extra_env["CASEWORK_INTAKE_URL"] = f"http://127.0.0.1:{self.services['intake'].port}"
        # The links in the mails (a case, a provider's disclosure) point at that dashboard.
        self.services["notify"].extra_env["CASEWORK_DASHBOARD_URL"] = self.dashboard
        self.sink: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        env = os.environ | self.settings.as_environment()
        self.sink = subprocess.Popen(  # noqa: ASYNC220 - Popen only forks; ServiceProcess does the same
            [sys.executable, "-m", "services.notify.sink"], cwd=ROOT, env=env,
            stdout=(self.logs / "sink.log").open("ab"), stderr=subprocess.STDOUT)
        for process in self.services.values():
            process.start()
        await asyncio.gather(*(p.ready(timeout=120) for p in self.services.values()))

    @property
    def dashboard(self) -> str:
        """The status process's dashboard (it moves with the ops routes under test)."""
        return f"http://127.0.0.1:{self.services['status'].port}"

    def load_roster(self, path: Path, capacity: int = 1000, people: dict | None = None) -> None:
        self.load_registrations("roster", path, people or roster(capacity))

    def load_registrations(self, group: str, path: Path, entries: dict) -> None:
        """``casework roster load`` or ``casework providers load`` of these entries."""
        path.write_text(yaml.safe_dump(entries))
        done = subprocess.run([sys.executable, "-m", "casework", group, "load", str(path)], cwd=ROOT,
                              env=os.environ | self.settings.as_environment(), capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr

    async def restart(self, name: str, *, kill: bool = True, **env: str) -> None:
        process = self.services[name]
        process.kill() if kill else process.stop()
        process.extra_env |= env
        process.start()
        await process.ready(timeout=120)

    def stop(self) -> None:
        for process in self.services.values():
            process.terminate()  # all at once: each may take its graceful timeout to stop
        for process in self.services.values():
            process.stop()
        if self.sink and self.sink.poll() is None:
            self.sink.terminate()
            self.sink.wait(10)

    def mails(self) -> list[EmailMessage]:
        return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
                for p in sorted(self.outbox.glob("*.eml"))]

    def mails_to(self, address: str, subject: str = "") -> list[EmailMessage]:
        return [m for m in self.mails() if str(m["To"]) == address and subject in str(m["Subject"])]

    def repeats_set_aside(self) -> int:
        return len(list((self.outbox / "duplicates").glob("*.eml")))

    def message_ids(self) -> Counter[str]:
        return Counter(str(m["Message-ID"]) for m in self.mails())

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs.glob("*.log"))


def e2e_settings(tmp: Path) -> Settings:
    tag = os.urandom(4).hex()
    return Settings(
        topic_prefix=f"e{tag}.", db_prefix=f"e{tag}_", kit=KitSettings(timer_sweep_seconds=0.5, fetch_max_wait_ms=100),
        referral=ReferralSettings(ack_sla_seconds_urgent=4, ack_sla_seconds_high=4, ack_sla_seconds_normal=4),
        stabilization=StabilizationSettings(min_stabilization_hours=0),
        notify=NotifySettings(smtp=SmtpSettings(port=free_port()), outbox_dir=tmp / "outbox",
                              delivery=DeliverySettings(retry_base_seconds=0.5)),
        status=StatusSettings(dashboard_port=free_port(), dashboard_url="http://127.0.0.1:8080"))


@asynccontextmanager
async def running(settings: Settings, workdir: Path, people: dict | None = None) -> AsyncIterator[System]:
    """Every service started with a roster loaded (the test roster unless ``people``); stopped
    and its topics and databases forgotten afterwards."""
    system = System(settings, workdir)
    with acls.granted(settings.topic_prefix):
        try:
            await system.start()
            system.load_roster(workdir / "roster.yaml", people=people)
            yield system
        finally:
            system.stop()
            await forget(settings)

"""``make run`` restarts what dies, leaves stopped what keeps dying, and stops all it started.

One supervisor, started as ``make run`` starts it (``python -m casework.supervisor``), on
servers of its own: a Kafka and a FerretDB it starts itself on free ports, their data, pid
files and logs in a temporary state directory (the servers the rest of the suite uses are
never touched). certification is armed to fail at every start; the restart policy is
quickened (0.5 s first, left stopped at 3 crashes). The tests run in order on that one run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.procs import ROOT, free_port, free_ports

SERVICES = ("intake", "referral", "stabilization", "certification", "notify")
RUNNING = ("intake", "referral", "stabilization", "notify", "status")


@dataclass
class Run:
    proc: subprocess.Popen[bytes]
    console: Path
    state: Path
    ports: dict[str, int]

    def text(self) -> str:
        return self.console.read_text(errors="replace")

    def wait_for(self, pattern: str, *, within: float, after: int = 0) -> int:
        """Wait until the console shows ``pattern`` (a regex) past offset ``after``: where it ends."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            found = re.compile(pattern, re.MULTILINE).search(self.text(), after)
            if found:
                return found.end()
            assert self.proc.poll() is None, f"make run exited ({self.proc.returncode}):\n{self.text()[-6000:]}"
            time.sleep(0.25)
        raise AssertionError(f"{pattern!r} not on the console within {within}s:\n{self.text()[-6000:]}")

    def ready(self, name: str) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.ports[name]}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, name: str, *, within: float) -> None:
        deadline = time.monotonic() + within
        while not self.ready(name):
            assert time.monotonic() < deadline, f"{name} not ready within {within}s:\n{self.text()[-4000:]}"
            time.sleep(0.25)

    def pid_of(self, service: str) -> int:
        found = [p.pid for p in self.descendants() if f"services.{service}.app:create_app" in " ".join(p.cmdline())]
        assert len(found) == 1, f"{service}: {found}"
        return found[0]

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def server_pid(self, name: str) -> int:
        return int((self.state / "run" / f"{name}.pid").read_text())


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    work = tmp_path_factory.mktemp("run")
    base = free_ports(len(SERVICES))
    ports = {name: base + i for i, name in enumerate(SERVICES)} | {"status": free_port()}
    kafka, controller, mongo, smtp = free_port(), free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEWORK_")} | {
        "CASEWORK_STATE_DIR": str(work / "state"),
        "CASEWORK_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka}", "CASEWORK_KAFKA_CONTROLLER_PORT": str(controller),
        "CASEWORK_MONGO_URI": f"mongodb://127.0.0.1:{mongo}/?directConnection=true",
        "CASEWORK_OPS_BASE_PORT": str(base), "CASEWORK_DASHBOARD_PORT": str(ports["status"]),
        "CASEWORK_DASHBOARD_URL": f"http://127.0.0.1:{ports['status']}",
        "CASEWORK_SMTP_PORT": str(smtp), "CASEWORK_OUTBOX_DIR": str(work / "outbox"),
        "CASEWORK_FAILPOINTS": "start-certification",
        "CASEWORK_RESTART_FIRST_DELAY_SECONDS": "0.5", "CASEWORK_RESTART_MAX_CRASHES": "3",
        "CASEWORK_RESTART_WINDOW_SECONDS": "300",
        "PYTHONUNBUFFERED": "1", "COLUMNS": "200",
    }
    console = work / "console.txt"
    with console.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "casework.supervisor"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    started = Run(proc, console, work / "state", ports)
    seen: set[int] = set()
    try:
        started.wait_for(r"^casework is running", within=150)
        yield started
    finally:
        seen |= {p.pid for p in started.descendants()}
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        for pidfile in (work / "state" / "run").glob("*.pid"):
            seen.add(int(pidfile.read_text()))
        for pid in seen:  # what a failed test may have left: only what this run started
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_service_that_fails_at_every_start_is_reported_and_left_stopped(run: Run) -> None:
    run.wait_for(r"^✗ certification died again \(exit code 1\): 3 crashes within 5 min, so it is left stopped;"
                 r" the rest keep running\.", within=60)
    text = run.text()
    report = text[text.index("✗ certification died again"):]
    assert "The last lines of" in report and "certification.log:" in report
    assert re.search(r"^  │ FailpointError: failpoint start-certification: certification refuses to start$",
                     report, re.MULTILINE), report[:3000]
    assert re.search(r"^  Stopped     certification", text, re.MULTILINE)
    assert [n for n in RUNNING if not run.ready(n)] == []
    assert not run.ready("certification")
    assert not [p for p in run.descendants() if "services.certification.app" in " ".join(p.cmdline())]


def test_a_service_killed_is_restarted_and_ready_again(run: Run) -> None:
    before = run.pid_of("intake")
    mark = len(run.text())
    os.kill(before, signal.SIGKILL)
    end = run.wait_for(r"^✗ intake died \(killed by SIGKILL\); restarting it in 0\.5 s", within=30, after=mark)
    run.wait_for(r"^✓ intake ready again", within=60, after=end)
    assert run.ready("intake")
    assert run.pid_of("intake") != before
    assert [n for n in RUNNING if not run.ready(n)] == []


def test_kafka_killed_is_restarted_when_make_run_started_it(run: Run) -> None:
    before = run.server_pid("kafka")
    mark = len(run.text())
    os.kill(before, signal.SIGKILL)
    end = run.wait_for(r"^✗ kafka died \(killed by SIGKILL\); restarting it in 0\.5 s", within=30, after=mark)
    run.wait_for(r"^✓ kafka ready again", within=90, after=end)
    after = run.server_pid("kafka")
    assert after != before and alive(after) and not alive(before)
    for name in RUNNING:  # the services reconnect by themselves
        run.wait_ready(name, within=60)


def test_ctrl_c_stops_everything_it_started(run: Run) -> None:
    servers = [run.server_pid("kafka"), run.server_pid("ferretdb")]
    children = [p.pid for p in run.descendants()]
    run.proc.send_signal(signal.SIGINT)
    assert run.proc.wait(90) == 0
    last = run.text().strip().splitlines()[-1]
    assert last == ("stopped mailsink, intake, referral, stabilization, notify, status; Kafka and FerretDB "
                    "stopped too; certification had stopped already")
    assert [pid for pid in servers + children if alive(pid)] == []
    assert not list((run.state / "run").glob("*.pid"))

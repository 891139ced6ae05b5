"""What ``make run`` starts and where (casework.programs, casework.infra, casework.banner)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from casework.banner import banner_lines
from casework.infra import Infra, Server
from casework.programs import port_of, programs
from casework.restarts import RestartPolicy
from casework.runlog import stopped_line
from shared.settings import RunSettings, Settings, StatusSettings

ROOT = Path(__file__).resolve().parents[2]


def test_the_ops_ports_count_up_from_the_base_and_status_serves_the_dashboard() -> None:
    settings = Settings(run=RunSettings(ops_base_port=18081), status=StatusSettings(dashboard_port=18080))
    assert [port_of(n, settings) for n in ("intake", "referral", "stabilization", "certification", "notify")] == \
        [18081, 18082, 18083, 18084, 18085]
    assert port_of("status", settings) == 18080
    assert port_of("intake", Settings()) == 8081


def test_the_mail_sink_and_every_service_are_started_each_on_its_port() -> None:
    found = programs(Settings(run=RunSettings(ops_base_port=18081), status=StatusSettings(dashboard_port=18080)), ROOT)
    assert [p.name for p in found] == ["mailsink", "intake", "referral", "stabilization", "certification",
                                       "notify", "status"]
    by_name = {p.name: p for p in found}
    assert by_name["referral"].env == {"CASEWORK_OPS_PORT": "18082"}
    assert by_name["status"].env == {"CASEWORK_OPS_PORT": "18080", "CASEWORK_INTAKE_URL": "http://127.0.0.1:18081"}
    assert by_name["intake"].argv[1:] == ("-m", "faststream", "run", "--factory", "services.intake.app:create_app")
    assert by_name["mailsink"].argv[1:] == ("-m", "services.notify.sink")


def test_the_servers_are_where_the_settings_point_the_services(tmp_path: Path) -> None:
    infra = Infra(Settings(kafka_bootstrap="127.0.0.1:19092", run=RunSettings(state_dir=tmp_path / "state"),
                           mongo_uri="mongodb://127.0.0.1:27018/?directConnection=true"), ROOT)
    env = infra.env()
    assert (env["CASEWORK_KAFKA_PORT"], env["CASEWORK_MONGO_PORT"]) == ("19092", "27018")
    assert env["CASEWORK_STATE_DIR"] == str(tmp_path / "state")
    assert [(s.name, s.pidfile, s.log) for s in infra.servers] == [
        ("kafka", tmp_path / "state/run/kafka.pid", tmp_path / "state/logs/kafka.log"),
        ("ferretdb", tmp_path / "state/run/ferretdb.pid", tmp_path / "state/logs/ferretdb.log")]


def test_a_relative_state_dir_lies_in_the_repository() -> None:
    assert Infra(Settings(), ROOT).state_dir == ROOT / ".local"


def test_a_server_is_known_by_its_pid_file_and_its_end_is_seen(tmp_path: Path) -> None:
    server = Server("kafka", tmp_path / "kafka.pid", tmp_path / "kafka.log")
    assert server.pid() is None
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        server.pidfile.write_text(f"{sleeper.pid}\n")
        assert server.pid() == sleeper.pid
        os.kill(sleeper.pid, signal.SIGKILL)
        assert asyncio.run(asyncio.wait_for(server.ended(sleeper.pid, every=0.05), 10)) == -signal.SIGKILL
    finally:
        sleeper.kill()
        sleeper.wait()
    assert server.pid() is None


def test_the_banner_says_where_to_look_and_what_was_left_stopped() -> None:
    settings = Settings(run=RunSettings(ops_base_port=18081), status=StatusSettings(dashboard_url="http://127.0.0.1:18080"),
                        kafka_bootstrap="127.0.0.1:19092")
    lines = banner_lines(settings, RestartPolicy(), mongo=("127.0.0.1", 27018), logs=".local/logs",
                         tokens=[("dev-analyst", "cw_x")], given_up=["certification"])
    text = "\n".join(lines)
    assert "http://127.0.0.1:18080  — sign in with a token:" in text
    assert "dev-analyst     cw_x" in text
    assert "Kafka 127.0.0.1:19092, FerretDB 127.0.0.1:27018" in text
    assert "http://127.0.0.1:18081/readyz … :18085/readyz" in text
    assert "after 1 s, 2 s, 4 s …; left stopped after 5 crashes within 3 min" in text
    assert lines[-1] == "  [red]Stopped     certification (kept dying: see above)[/]"
    assert "Stopped" not in "\n".join(banner_lines(settings, RestartPolicy(), mongo=("h", 1), logs="l",
                                                    tokens=[], given_up=[]))


def test_the_banner_says_where_outside_clients_find_their_connection(tmp_path) -> None:
    secured = Settings(kafka_security_protocol="SASL_SSL", kafka_credentials_dir=tmp_path / "kafka" / "principals")
    text = "\n".join(banner_lines(secured, RestartPolicy(), mongo=("h", 1), logs="l", tokens=[], given_up=[]))
    clients = tmp_path / "kafka" / "clients"
    assert f"Kafka is SASL_SSL: each outside client's connection in {clients}/<kind>.json" in text
    assert "examples/kafka_client.py" in text
    plain = Settings(environment="production", kafka_security_protocol="PLAINTEXT")
    assert "Clients" not in "\n".join(banner_lines(plain, RestartPolicy(), mongo=("h", 1), logs="l", tokens=[],
                                                    given_up=[]))


def test_ctrl_c_says_what_it_stopped_and_what_it_left_running() -> None:
    assert stopped_line(["intake", "status"], ["kafka", "ferretdb"], [], []) == \
        "[bold]stopped[/] intake, status; Kafka and FerretDB stopped too"
    assert stopped_line(["intake"], [], ["kafka", "ferretdb"], ["notify"]) == (
        "[bold]stopped[/] intake; Kafka and FerretDB left running (started before; `make infra-down` stops them);"
        " notify had stopped already")
    assert stopped_line([], ["kafka"], ["ferretdb"], []) == (
        "[bold]stopped[/] nothing; Kafka stopped too; FerretDB left running (started before; `make infra-down`"
        " stops them)")

"""Waiting for ``/readyz`` (casework.readiness), against a local HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from casework.readiness import wait_ready
from tests.support.procs import free_port


class Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/readyz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ready_port() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


async def test_a_ready_process_is_found_ready(ready_port: int) -> None:
    assert await wait_ready(ready_port, within=5) is True


async def test_nobody_listening_is_not_ready_once_the_time_is_up() -> None:
    assert await wait_ready(free_port(), within=0.5, interval=0.1) is False


async def test_the_check_stops_the_wait() -> None:
    checks: list[int] = []

    def exited() -> None:
        checks.append(1)
        if len(checks) == 2:
            raise RuntimeError("the process exited")
    with pytest.raises(RuntimeError, match="exited"):
        await wait_ready(free_port(), within=30, interval=0.05, check=exited)
    assert len(checks) == 2

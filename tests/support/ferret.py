"""A FerretDB of a test's own (its own port and files), to take away and bring back.

The shared one on 27017 serves every other test; an outage is staged on this one.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support.procs import ROOT, free_port

BINARY = ROOT / ".local" / "bin" / "ferretdb"


class PrivateFerretDB:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self) -> None:
        log = (self.directory / "ferretdb.log").open("ab")
        self.proc = subprocess.Popen([str(BINARY), "-listen-addr", f"127.0.0.1:{self.port}",
                                      "-sqlite-dir", str(self.data)], stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise AssertionError("the private FerretDB did not start")

    def kill(self) -> None:
        """SIGKILL: an outage as abrupt as a crash (SQLite keeps what was committed)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        self.kill()

"""The catalogue's ACLs for one test's topic prefix, on the real broker, for that test alone.

The services a test runs sign in as themselves (``casework-intake`` …) and may do only what
:mod:`shared.acls` allows them on the test's own topics: so the whole suite runs under the
least privilege production has. A test's ACLs are created before it starts and deleted after.

One connection per test process, kept open and signed in as ``casework-admin`` (a plain
socket: the test's event loops come and go, this outlives them), carries a ``CreateAcls``
and a ``DeleteAcls`` per test; both encoded with aiokafka's wire formats, the exchange and
the SCRAM sign-in are infra/probe.py's.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import os
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiokafka.protocol.admin import CreateAclsRequest_v1, DeleteAclsRequest_v1, DescribeAclsRequest_v1

from shared.acls import acls
from shared.authorizer import AclError, binding

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("casework_probe", ROOT / "infra" / "probe.py")
assert _spec and _spec.loader
probe: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe)
ADMIN = Path(os.environ.get("CASEWORK_STATE_DIR") or ROOT / ".local") / "kafka" / "principals" / "casework-admin.json"
ANY, LITERAL = 1, 3  # resource type, operation and permission ANY; the pattern type LITERAL


class AclDesk:
    def __init__(self, connection_file: Path = ADMIN) -> None:
        self.settings = json.loads(connection_file.read_text())
        self.sock: ssl.SSLSocket | None = None
        self.ids = itertools.count(100)

    def _socket(self) -> ssl.SSLSocket:
        if self.sock is None:
            host, port = self.settings["bootstrap_servers"].split(":")
            raw = socket.create_connection((host, int(port)), timeout=30)
            raw.settimeout(30)
            sock = ssl.create_default_context(cafile=self.settings["ssl_cafile"]).wrap_socket(raw, server_hostname=host)
            probe.scram_sha512(sock, self.settings["sasl_username"], self.settings["sasl_password"])
            self.sock = sock
        return self.sock

    def _call(self, request: Any) -> Any:
        for attempt in (1, 2):
            try:
                reader = probe.kafka_call(self._socket(), request.API_KEY, request.API_VERSION, next(self.ids),
                                          request.encode(), False, False)
                return request.RESPONSE_TYPE.decode(reader.data[reader.pos:])
            except OSError:
                self.close()  # the broker restarted (a test may restart it): sign in again
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def grant(self, topic_prefix: str) -> int:
        """The catalogue's ACLs for the topics under ``topic_prefix``; waits until the broker enforces them."""
        rules = acls(topic_prefix)
        response = self._call(CreateAclsRequest_v1([binding(a) for a in rules]))
        failed = [(code, message) for code, message in response.creation_responses if code]
        if failed:
            raise AclError(f"the broker refused {len(failed)} ACL(s): {failed[0]}")
        last = binding(rules[-1])
        describe = DescribeAclsRequest_v1(last[0], last[1], last[2], last[3], None, ANY, ANY)
        deadline = time.monotonic() + 10
        while not self._call(describe).resources:  # the broker applies what the controller committed
            if time.monotonic() > deadline:
                raise AclError("the broker does not enforce the ACLs 10 s after creating them")
            time.sleep(0.01)
        return len(rules)

    def revoke(self, topic_prefix: str) -> None:
        """Every ACL on the topics and groups of ``topic_prefix`` (each a literal or prefixed name)."""
        names = sorted({(a.name, a.prefixed) for a in acls(topic_prefix)})
        self._call(DeleteAclsRequest_v1([(ANY, name, 4 if prefixed else LITERAL, None, None, ANY, ANY)
                                         for name, prefixed in names]))

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


_desk: AclDesk | None = None


@contextlib.contextmanager
def granted(topic_prefix: str) -> Iterator[None]:
    """The catalogue's ACLs for ``topic_prefix`` while the block runs (one desk per test process)."""
    global _desk
    if _desk is None:
        _desk = AclDesk()
    _desk.grant(topic_prefix)
    try:
        yield
    finally:
        _desk.revoke(topic_prefix)
